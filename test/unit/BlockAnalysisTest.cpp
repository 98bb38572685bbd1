//===- BlockAnalysisTest.cpp - tile classes are sound ---------------------===//
//
// A property test of attn-analyze-blocks: for random small shapes, random
// tiles and every library mask (alone and composed), a tile classified empty
// holds no kept pair and a tile classified full holds no masked pair, checked
// by evaluating the mask on every pair of the tile.
//
//===----------------------------------------------------------------------===//

#include "CompileVariant.h"
#include "Reference/RandomInputs.h"
#include "Reference/Reference.h"
#include "Transforms/Passes.h"
#include "dialect/RegionComposition.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"

#include "mlir/Transforms/Passes.h"

#include <catch2/catch.hpp>

#include <random>

using namespace attnc;
using namespace mlir;

namespace {

/// Mask templates; %A, %B and %C become random constants.
const char *kMasks[] = {
    "causal()",
    "sliding_window(%A)",
    "prefix_lm(%A)",
    "chunked(%A)",
    "chunked(%A) && causal()",
    "dilated_window(%A, %B)",
    "document(doc)",
    "document(doc) && causal()",
    "key_padding(len)",
    "neighborhood_1d(%A)",
    "neighborhood_2d(%A, %B, %C)",
    "neighborhood_3d(%A, %B, 1, %C, 1)",
    "block_map(map, %A, %B)",
    "!causal() || kv_idx == q_idx",
    "causal() && !sliding_window(%A)",
    "q_idx - kv_idx >= %B - %A && kv_idx * 2 <= q_idx + %C",
    "(q_idx + kv_idx) % %A == 0 || max(q_idx, kv_idx) < %B",
    "kv_idx >= q_idx - %A ? q_idx / %B == kv_idx / %B : false",
    "h % 2 == 0 ? causal() : kv_idx < %A + b",
};

std::string instantiate(std::string text, std::mt19937_64 &rng) {
  std::uniform_int_distribution<int> dist(1, 12);
  for (const char *hole : {"%A", "%B", "%C"}) {
    size_t at;
    while ((at = text.find(hole)) != std::string::npos)
      text.replace(at, 2, std::to_string(dist(rng)));
  }
  return text;
}

/// Checks the classifier of each mask (its holes filled by `fill`) against
/// the mask pair by pair on random tiles; counts the tiles it decided.
struct Decided {
  int tiles = 0, empty = 0, full = 0;
};
template <typename Fill>
Decided checkTileClasses(llvm::ArrayRef<const char *> masks, int rounds,
                         std::mt19937_64 &rng, Fill fill) {
  Decided counts;
  for (int round = 0; round < rounds; ++round) {
    for (const char *mask : masks) {
      std::string expr = fill(mask, rng);
      std::string source = "attention t(doc: i32[N], len: i32[B], "
                           "map: bool[H, ?, ?]) { mask = " +
                           expr + " }";
      INFO(expr);
      test::CompiledVariant compiled =
          test::compileVariant(source, /*fuse=*/true);
      PassManager pm(compiled.ctx.get());
      pm.addPass(attn::createAttnAnalyzeBlocks());
      // As the pipeline has it: the canonicalizer's folds must keep the
      // classifier sound (a round trip through i32 was folded away once).
      pm.addPass(createCanonicalizerPass());
      REQUIRE(succeeded(pm.run(*compiled.module)));
      attn::VariantOp variant = compiled.variant();
      attn::FlashOp flash = *variant.getBody().getOps<attn::FlashOp>().begin();
      if (!flash.hasMask())
        continue; // folded to "keep everything": no tile to classify
      REQUIRE(flash.hasTileClass());

      std::uniform_int_distribution<int64_t> size(1, 40);
      AttnSizes sizes{2, 2, 1, size(rng), 0, 4, 4};
      sizes.keys =
          std::uniform_int_distribution<int64_t>(1, sizes.queries)(rng);
      RefInputs in = makeRandomInputs(variant, sizes, rng(), /*anySize=*/64);
      for (int t = 0; t < 60; ++t) {
        auto pick = [&](int64_t n) {
          int64_t a = std::uniform_int_distribution<int64_t>(0, n - 1)(rng);
          int64_t len = std::uniform_int_distribution<int64_t>(1, 12)(rng);
          return std::make_pair(a, std::min(n - 1, a + len - 1));
        };
        auto [q0, q1] = pick(sizes.queries);
        auto [k0, k1] = pick(sizes.keys);
        int64_t bb = rng() % sizes.batch, hh = rng() % sizes.heads;
        llvm::Expected<int64_t> cls = evaluateIntRegion(
            variant, in, flash.getTileClass(), {bb, hh, q0, q1, k0, k1});
        if (!cls)
          FAIL(llvm::toString(cls.takeError()));
        bool anyKept = false, anyMasked = false;
        for (int64_t i = q0; i <= q1; ++i)
          for (int64_t j = k0; j <= k1; ++j) {
            llvm::Expected<int64_t> keep =
                evaluateIntRegion(variant, in, flash.getMask(), {bb, hh, i, j});
            if (!keep)
              FAIL(llvm::toString(keep.takeError()));
            (*keep ? anyKept : anyMasked) = true;
          }
        INFO("tile b=" << bb << " h=" << hh << " q " << q0 << ".." << q1
                       << " kv " << k0 << ".." << k1 << " class " << *cls);
        if (*cls == int64_t(attn::TileClass::Empty)) {
          CHECK(!anyKept);
          ++counts.empty;
        } else if (*cls == int64_t(attn::TileClass::Full)) {
          CHECK(!anyMasked);
          ++counts.full;
        } else {
          CHECK(*cls == int64_t(attn::TileClass::Partial));
        }
        ++counts.tiles;
      }
    }
  }
  return counts;
}

} // namespace

TEST_CASE("block analysis: empty tiles keep nothing, full tiles mask nothing",
          "[blocks]") {
  std::mt19937_64 rng(2024);
  Decided counts = checkTileClasses(kMasks, 3, rng, instantiate);
  // The analysis must also be useful: plenty of tiles are decided.
  CHECK(counts.empty > counts.tiles / 10);
  CHECK(counts.full > counts.tiles / 10);
}

/// Masks whose index arithmetic wraps, or leaves i32, at the tiles' bounds:
/// the classifier must stay sound (such tiles become partial).
const char *kEdgeMasks[] = {
    "q_idx + 9223372036854775800 > 0",
    "kv_idx - 9223372036854775807 - %A < q_idx",
    "q_idx * 4611686018427387904 >= kv_idx",
    "(kv_idx + 1) * 3074457345618258603 > q_idx",
    "abs(q_idx - 9223372036854775807 - 1 + kv_idx) > %A",
    "(q_idx - 9223372036854775807 - 1) / (kv_idx - kv_idx - 1) < 0",
    ("(q_idx - 9223372036854775807 - 1) % (kv_idx - 9223372036854775807 - 1) "
     "== 0"),
    "i32(q_idx + 2147483640) > i32(kv_idx)",
    "i32(kv_idx) * 1073741824 >= 0",
    "(q_idx % 2) <= ((-2147483648 - doc[kv_idx]) - q_idx)",
    "q_idx - kv_idx >= %A - 9223372036854775807 - 1",
};

TEST_CASE("block analysis: sound where the index arithmetic wraps",
          "[blocks]") {
  std::mt19937_64 rng(7);
  checkTileClasses(kEdgeMasks, 2, rng, instantiate);
}
