//===- NumericsTest.cpp - every example on the CPU against the reference --===//
//
// Each example, in f32 and bf16, on shapes that are not multiples of the
// tiles, with N = 1, N = M = 1, N != M, GQA, non-contiguous strides and rows
// whose keys are all masked; outputs are poisoned before every run and
// compared with the float64 reference under the dtype's tolerance
// (attnc::getTolerance). The decode family (cpu_decode) runs every example
// at decode shapes: N = 1, 2, 4, 8 against more keys, GQA 1, 4 and 8, tiles
// that split a kv head's packed rows mid-group, on 8 threads, so that items
// fewer than threads split the keys; and on a paged KV cache (both CPU
// families, shuffled pages of 16, 64 and 256 keys, random lengths); and on
// ragged batches (both families, packed sequences of 0..64 queries and
// keys, N != M per sequence, GQA, strided), against the reference run per
// sequence.
//
//===----------------------------------------------------------------------===//

#include "Check/Check.h"

#include "llvm/ADT/STLExtras.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>

using namespace attnc;

namespace {

struct Case {
  const char *what;
  AttnSizes sizes;
  bool strided;
};

// M <= N keeps document ids (one per query position) in bounds for keys.
const Case kCases[] = {
    {"odd sizes", {2, 3, 3, 37, 37, 24, 24}, false},
    {"N = 1", {1, 2, 1, 1, 1, 16, 16}, false},
    {"N = M = 1, tiny D", {1, 1, 1, 1, 1, 3, 3}, false},
    {"N != M (M < N)", {1, 4, 2, 45, 19, 32, 32}, false},
    {"GQA 8:2, D = 64", {1, 8, 2, 33, 33, 64, 64}, false},
    {"strided, Dv != D", {2, 2, 1, 17, 17, 20, 12}, true},
};

std::string read(const std::filesystem::path &path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Decode: a few queries (times the heads of a kv head) against more keys.
const Case kDecodeCases[] = {
    {"decode N = 1, GQA 1", {2, 3, 3, 1, 300, 24, 24}, false},
    {"decode N = 2, GQA 4", {1, 8, 2, 2, 257, 64, 64}, false},
    {"decode N = 4, GQA 8, Dv != D", {1, 8, 1, 4, 131, 32, 16}, false},
    {"decode N = 8, GQA 4, strided", {2, 4, 1, 8, 77, 20, 20}, true},
    {"decode N = 1, GQA 8, M = 1", {1, 8, 1, 1, 1, 16, 16}, false},
};

/// True when a param is sized by N: document ids, one per position, are
/// indexed by kv_idx too, so keys past N read out of bounds (as the
/// reference says); such variants take only cases with M <= N.
bool sizedByQueries(const Kernel &kernel) {
  return llvm::any_of(kernel.getParams(), [](const ParamInfo &p) {
    return llvm::is_contained(p.dims, "N");
  });
}

/// A check that ran and passed (what failed, otherwise).
void expectPass(llvm::Expected<CheckResult> result) {
  if (!result)
    FAIL(llvm::toString(result.takeError()));
  INFO("first bad: " << result->firstBad
                     << "; bad elements: " << result->badElements
                     << "; max abs error " << result->maxAbsError);
  CHECK(result->passed);
}

/// With `backward`, the gradients too (Check.cpp: checkBackward).
void checkAll(Compiler &compiler, const std::string &name,
              const std::string &source, DType dtype,
              const std::string &family = "", bool backward = false) {
  CompileOptions options;
  options.dtype = dtype;
  options.kernelFamily = family;
  options.backward = backward;
  // Small tiles: several work items, and empty, partial and full key tiles,
  // even at these sizes; for decode, 6 packed rows split a group of 4 or 8
  // heads across tiles.
  options.tileQ = family == "cpu_decode" ? 6 : 8;
  options.tileKv = family == "cpu_decode" ? 16 : 8;
  llvm::Expected<Kernel> kernel = compiler.compile(source, "", options, name);
  if (!kernel)
    FAIL(name << ": " << llvm::toString(kernel.takeError()));
  std::vector<Case> cases(std::begin(kCases), std::end(kCases));
  if (family == "cpu_decode")
    cases.insert(cases.end(), std::begin(kDecodeCases), std::end(kDecodeCases));
  for (const Case &c : cases) {
    if (c.sizes.keys > c.sizes.queries && sizedByQueries(*kernel))
      continue;
    // Branches split D: the sizes whose D they divide.
    if (c.sizes.headDim % kernel->getBranchCount() != 0)
      continue;
    CheckOptions check;
    check.sizes = c.sizes;
    check.strided = c.strided;
    check.seed = 11;
    // More threads than decode's items: the keys split into parts that a
    // second round merges.
    check.threads = family == "cpu_decode" ? 8 : 0;
    check.backward = backward;
    INFO(name << " " << toString(dtype) << " " << c.what);
    expectPass(checkKernel(*kernel, source, "", check));
  }
}

} // namespace

/// Whether a variant's source has a `branches =` statement: those run on
/// cpu_tiles only, forward only (refused elsewhere; tested below).
static bool hasBranches(const std::string &source) {
  std::istringstream lines(source);
  for (std::string line; std::getline(lines, line);) {
    size_t at = line.find_first_not_of(" \t");
    if (at != std::string::npos && line.compare(at, 8, "branches") == 0 &&
        line.find('=', at) != std::string::npos)
      return true;
  }
  return false;
}

/// Calls `fn(file name, source)` for every examples/*.attn (but those with
/// branches unless `withBranches`).
static void forEachExample(
    llvm::function_ref<void(const std::string &, const std::string &)> fn,
    bool withBranches = true) {
  for (const auto &entry : std::filesystem::directory_iterator(
           std::string(ATTNC_SOURCE_DIR) + "/examples"))
    if (entry.path().extension() == ".attn") {
      std::string source = read(entry.path());
      if (withBranches || !hasBranches(source))
        fn(entry.path().filename().string(), source);
    }
}

/// Every examples/*.attn through checkAll in f32 and bf16 (family: the
/// target's default when empty).
static void checkEveryExample(const std::string &family,
                              bool backward = false) {
  Compiler compiler;
  forEachExample(
      [&](const std::string &name, const std::string &source) {
        // Block selection has no backward yet (refused; tested below).
        if (backward && name == "moba.attn")
          return;
        for (DType dtype : {DType::F32, DType::BF16})
          checkAll(compiler, name, source, dtype, family, backward);
      },
      /*withBranches=*/family != "cpu_decode" && !backward);
}

TEST_CASE("numerics: every example on the CPU, f32 and bf16", "[numerics]") {
  checkEveryExample("");
}

TEST_CASE("numerics: every example in the decode family, f32 and bf16",
          "[numerics]") {
  checkEveryExample("cpu_decode");
}

namespace {

// A paged KV cache at decode shapes (keys: M = max_pages * page_size,
// filled in per page size).
const Case kPagedCases[] = {
    {"paged N = 1, GQA 1", {2, 3, 3, 1, 0, 24, 24}, false},
    {"paged N = 4, GQA 4", {3, 8, 2, 4, 0, 32, 32}, false},
    {"paged N = 1, GQA 4, strided", {2, 4, 1, 1, 0, 20, 20}, true},
    {"paged N = 4, GQA 1, Dv != D", {2, 2, 2, 4, 0, 16, 8}, false},
};

/// Every paged case at page sizes 16, 64 and 256 (pages shuffled, lengths
/// random in 1..M, keys past them and unused pages NaN, table entries past
/// a sequence's pages -1), against the reference on the gathered keys.
void checkPaged(Compiler &compiler, const std::string &name,
                const std::string &source, DType dtype,
                const std::string &family, int64_t tileKv) {
  CompileOptions options;
  options.dtype = dtype;
  options.kernelFamily = family;
  options.pagedKv = true;
  options.tileQ = family == "cpu_decode" ? 6 : 8;
  options.tileKv = tileKv;
  llvm::Expected<Kernel> kernel = compiler.compile(source, "", options, name);
  if (!kernel)
    FAIL(name << ": " << llvm::toString(kernel.takeError()));
  if (sizedByQueries(*kernel))
    return; // document ids per query position: keys past N read out of bounds
  for (const Case &c : kPagedCases)
    for (int64_t pageSize : {16, 64, 256}) {
      CheckOptions check;
      check.sizes = c.sizes;
      // 5 pages of 16 (tiles of 24 straddle them), 3 of 64, 2 of 256.
      check.sizes.keys = pageSize * (pageSize == 16   ? 5
                                     : pageSize == 64 ? 3
                                                      : 2);
      check.strided = c.strided;
      check.pageSize = pageSize;
      check.seed = 17;
      check.threads = 8;
      INFO(name << " " << toString(dtype) << " " << family << " tile_kv "
                << tileKv << " " << c.what << ", page size " << pageSize);
      expectPass(checkKernel(*kernel, source, "", check));
    }
}

} // namespace

TEST_CASE("numerics: every example on a paged KV cache", "[numerics]") {
  Compiler compiler;
  forEachExample([&](const std::string &name, const std::string &source) {
    // Key tiles of 16 fit the pages; tiles of 24 straddle pages of 16 and 64.
    checkPaged(compiler, name, source, DType::F32, "cpu_decode", 24);
    checkPaged(compiler, name, source, DType::BF16, "cpu_decode", 16);
    checkPaged(compiler, name, source, DType::F32, "cpu_tiles", 24);
  }, /*withBranches=*/false);
}

namespace {

// Ragged batches: packed sequences of lengths 1..64, an empty one, N != M
// per sequence, GQA, strided views.
struct RaggedCase {
  const char *what;
  AttnSizes sizes; // batch, queries and keys come from the lengths
  std::vector<int64_t> queries, keys;
  bool strided;
};
const RaggedCase kRaggedCases[] = {
    {"ragged N = M, lengths 1..64",
     {0, 3, 3, 0, 0, 24, 24},
     {1, 17, 64, 5},
     {1, 17, 64, 5},
     false},
    {"ragged N != M, GQA 8:2",
     {0, 8, 2, 0, 0, 32, 32},
     {3, 40, 1, 9, 64},
     {20, 33, 1, 64, 2},
     false},
    {"ragged empty sequences, strided, Dv != D",
     {0, 2, 1, 0, 0, 20, 12},
     {0, 12, 7, 2},
     {5, 0, 30, 9},
     true},
    {"ragged decode, GQA 8",
     {0, 8, 1, 0, 0, 16, 16},
     {1, 1, 2, 4},
     {64, 1, 37, 50},
     false},
    // Items fewer than threads: cpu_decode splits each sequence's keys.
    {"ragged decode, key splits",
     {0, 4, 1, 0, 0, 16, 16},
     {1, 2},
     {64, 30},
     false},
};

/// Every ragged case against the reference run per sequence.
void checkRagged(Compiler &compiler, const std::string &name,
                 const std::string &source, DType dtype,
                 const std::string &family) {
  CompileOptions options;
  options.dtype = dtype;
  options.kernelFamily = family;
  options.ragged = true;
  // Several query tiles per long sequence, a key tile straddling ends.
  options.tileQ = family == "cpu_decode" ? 6 : 8;
  options.tileKv = family == "cpu_decode" ? 16 : 8;
  llvm::Expected<Kernel> kernel = compiler.compile(source, "", options, name);
  if (!kernel)
    FAIL(name << ": " << llvm::toString(kernel.takeError()));
  for (const RaggedCase &c : kRaggedCases) {
    CheckOptions check;
    check.sizes = c.sizes;
    check.strided = c.strided;
    check.raggedQueries = c.queries;
    check.raggedKeys = c.keys;
    // Document ids, one per query position, are indexed by kv_idx too:
    // keys stay within the longest sequence's queries.
    if (sizedByQueries(*kernel)) {
      int64_t longest = *std::max_element(c.queries.begin(), c.queries.end());
      for (int64_t &k : check.raggedKeys)
        k = std::min(k, longest);
    }
    check.seed = 23;
    check.threads = 8;
    INFO(name << " " << toString(dtype) << " " << family << " " << c.what);
    expectPass(checkKernel(*kernel, source, "", check));
  }
}

} // namespace

TEST_CASE("numerics: every example on ragged batches", "[numerics]") {
  Compiler compiler;
  forEachExample([&](const std::string &name, const std::string &source) {
    checkRagged(compiler, name, source, DType::F32, "cpu_tiles");
    checkRagged(compiler, name, source, DType::BF16, "cpu_tiles");
    checkRagged(compiler, name, source, DType::F32, "cpu_decode");
  }, /*withBranches=*/false);
}

TEST_CASE("numerics: a ragged batch's N and M are each sequence's lengths",
          "[numerics]") {
  // A bottom-right aligned causal mask (FlashAttention's for N != M):
  // correct only if the call's N and M are each sequence's own lengths.
  Compiler compiler;
  const char *source = "attention br() { mask = kv_idx <= q_idx + (M - N) }";
  CompileOptions options;
  options.ragged = true;
  options.tileQ = 8, options.tileKv = 8;
  llvm::Expected<Kernel> kernel = compiler.compile(source, "", options, "br");
  if (!kernel)
    FAIL(llvm::toString(kernel.takeError()));
  CheckOptions check;
  check.sizes = {0, 2, 2, 0, 0, 16, 16};
  check.raggedQueries = {3, 20, 1};
  check.raggedKeys = {30, 20, 9};
  expectPass(checkKernel(*kernel, source, "", check));
}

TEST_CASE("numerics: fully masked rows give 0 and lse -inf, never NaN",
          "[numerics]") {
  Compiler compiler;
  // Odd rows and rows past 5 keep no key at all.
  checkAll(compiler, "masked_rows",
           "attention masked_rows() { mask = q_idx % 2 == 0 && q_idx < 5 && "
           "kv_idx <= q_idx }",
           DType::F32);
  // A score_mod that makes every kept score -inf behaves as masked.
  checkAll(compiler, "minus_inf",
           "attention minus_inf() { score = q_idx > 3 ? -1.0 / 0.0 : score }",
           DType::F32);
  // f16, and the other normalizers with temperature and bias.
  checkAll(compiler, "relu_f16",
           "attention relu_f16() { normalize = relu(score / 2.0 - 0.1) mask = "
           "causal() }",
           DType::F16);
  // The same in the decode family, whose tiles mix heads; a mask by head
  // empties whole heads of a group.
  checkAll(compiler, "masked_rows",
           "attention masked_rows() { mask = q_idx % 2 == 0 && q_idx < 5 && "
           "kv_idx <= q_idx }",
           DType::F32, "cpu_decode");
  checkAll(compiler, "masked_heads",
           "attention masked_heads() { mask = h % 3 != 1 && kv_idx <= q_idx }",
           DType::F32, "cpu_decode");
  checkAll(compiler, "minus_inf",
           "attention minus_inf() { score = q_idx > 3 ? -1.0 / 0.0 : score }",
           DType::F32, "cpu_decode");
  // Normalizers whose key splits add up rather than rescale.
  checkAll(compiler, "relu_f16",
           "attention relu_f16() { normalize = relu(score / 2.0 - 0.1) mask = "
           "causal() }",
           DType::F16, "cpu_decode");
  checkAll(compiler, "plain_sum",
           "attention plain_sum() { normalize = none(score) mask = kv_idx % 3 "
           "!= 1 }",
           DType::F32, "cpu_decode");
}

TEST_CASE("numerics: +inf scores share the row (the limit); NaN gives NaN",
          "[numerics]") {
  Compiler compiler;
  // Even rows score +inf at every third key, so a row's max turns +inf in
  // one key tile and stays there through tiles with none; a +inf sink
  // takes its share of head 0; one NaN score makes its row NaN.
  const char *sources[] = {
      "attention plus_inf() { score = q_idx % 2 == 0 && kv_idx % 3 == 1 ? "
      "1.0 / 0.0 : score }",
      "attention plus_inf_sink() { score = q_idx % 2 == 0 && kv_idx % 3 == 1 "
      "? 1.0 / 0.0 : score\n sink = h == 0 ? 1.0 / 0.0 : 0.5 }",
      "attention nan_score() { score = q_idx == 3 && kv_idx == 5 ? 0.0 / 0.0 "
      ": score\n output = o + lse }",
  };
  for (const char *family : {"", "cpu_decode"})
    for (const char *source : sources)
      checkAll(compiler, "inf", source, DType::F32, family);
}

TEST_CASE("numerics: sinks, and rows that keep nothing but the sink",
          "[numerics]") {
  Compiler compiler;
  // Odd rows and rows past 5 keep no key: out 0, lse = the sink.
  const char *masked =
      "attention masked_sink(sinks: f32[H]) { mask = q_idx % 2 == 0 && q_idx "
      "< 5 && kv_idx <= q_idx\n sink = sinks[h] }";
  // A sink far above the scores (their weights vanish) and a scalar one.
  const char *large = "attention large_sink() { sink = 30.0 }";
  const char *scalar =
      "attention scalar_sink(s: f32 = -0.5) { sink = s * 2.0 + f32(h) "
      "score = score / 2.0 }";
  for (const char *family : {"", "cpu_decode"})
    for (const char *source : {masked, large, scalar})
      for (DType dtype : {DType::F32, DType::BF16})
        checkAll(compiler, "sink", source, dtype, family);
}

TEST_CASE("numerics: output statements read lse and row_sum", "[numerics]") {
  Compiler compiler;
  const char *sources[] = {
      // softmax with a sink: row_sum < 1; lse includes the sink.
      "attention stats_sink(sinks: f32[H]) { mask = causal()\n sink = "
      "sinks[h]\n output = o * sigmoid(lse) + row_sum }",
      // Rows that keep nothing: lse -inf, row_sum 0.
      "attention stats_masked() { mask = q_idx % 2 == 0 && kv_idx <= q_idx\n "
      "output = o + exp(lse - 8.0) + row_sum }",
      // The other normalizers' sums (decode's key splits add them up).
      "attention stats_sigmoid() { normalize = sigmoid(score - 2.0)\n mask = "
      "kv_idx % 3 != 1\n output = o / max(row_sum, 1.0) }",
      "attention stats_relu() { normalize = relu\n output = o - 0.01 * "
      "row_sum }",
  };
  for (const char *family : {"", "cpu_decode"})
    for (const char *source : sources)
      for (DType dtype : {DType::F32, DType::BF16})
        checkAll(compiler, "stats", source, dtype, family);
  // The backward: lse and row_sum pass their adjoints on to every score of
  // the row (and to the sink).
  for (const char *source : sources)
    for (DType dtype : {DType::F32, DType::BF16})
      checkAll(compiler, "stats", source, dtype, "", /*backward=*/true);
}

TEST_CASE("numerics: the backward of every example on the CPU, f32 and bf16",
          "[numerics][backward]") {
  checkEveryExample("", /*backward=*/true);
}

TEST_CASE("numerics: the backward of masked rows, learnable params and the "
          "other normalizers",
          "[numerics][backward]") {
  Compiler compiler;
  // Rows without a kept key: zero gradients, never NaN.
  checkAll(compiler, "masked_rows",
           "attention masked_rows() { mask = q_idx % 2 == 0 && q_idx < 5 && "
           "kv_idx <= q_idx }",
           DType::F32, "", true);
  checkAll(compiler, "minus_inf",
           "attention minus_inf() { score = q_idx > 3 ? -1.0 / 0.0 : score }",
           DType::F32, "", true);
  // Learnable: a per-head scalar through a non-linear score_mod, a bias
  // table, a scalar with a default, and an output gate.
  checkAll(compiler, "learnable",
           "attention learnable(temp: f32[H], rel: f32[H, ?], g: f32 = 0.5, "
           "gate: f32[Dv]) {\n"
           "  score = tanh(score / temp[h]) * temp[h] + "
           "rel[h, min(q_idx - kv_idx + 40, 80)] * g\n"
           "  mask = kv_idx <= q_idx + 3\n"
           "  output = o * sigmoid(gate[d]) + g * o * o\n}",
           DType::F32, "", true);
  checkAll(compiler, "relu_f16",
           "attention relu_f16() { normalize = relu(score / 2.0 - 0.1) mask = "
           "causal() }",
           DType::F16, "", true);
  checkAll(compiler, "sigmoid_bias",
           "attention sigmoid_bias(w: f32) { score = score * w normalize = "
           "sigmoid(score - 1.5) }",
           DType::F32, "", true);
  checkAll(compiler, "plain_sum",
           "attention plain_sum() { normalize = none(score) mask = kv_idx % 3 "
           "!= 1 }",
           DType::F32, "", true);
  // A sink with a learnable scale, and rows whose weight is all on it.
  checkAll(compiler, "masked_sink",
           "attention masked_sink(sinks: f32[H], w: f32 = 0.7) { mask = q_idx "
           "% 2 == 0 && kv_idx <= q_idx\n sink = sinks[h] * w }",
           DType::F32, "", true);
  checkAll(compiler, "masked_sink",
           "attention masked_sink(sinks: f32[H]) { mask = causal()\n sink = "
           "sinks[h] }",
           DType::BF16, "", true);
}

TEST_CASE("numerics: dynamic block selection (MoBA) with every option",
          "[numerics][select]") {
  Compiler compiler;
  // Head dims of 2 and 3 on the check's grid of eighths: many exactly equal
  // gates, so the tie rule (the lower block wins) decides selections.
  const char *ties = "attention ties() { select = topk(2, block = 16, causal "
                     "= false) }";
  for (AttnSizes sizes :
       {AttnSizes{1, 2, 2, 64, 64, 2, 2}, AttnSizes{2, 4, 2, 45, 100, 3, 3}}) {
    CompileOptions options;
    options.tileQ = 8, options.tileKv = 16;
    llvm::Expected<Kernel> kernel = compiler.compile(ties, "", options, "ties");
    if (!kernel)
      FAIL(llvm::toString(kernel.takeError()));
    CheckOptions check;
    check.sizes = sizes;
    expectPass(checkKernel(*kernel, ties, "", check));
  }
  // Sinks and a local window; a score_mod and a window mask beside it.
  checkAll(compiler, "sinks_local",
           "attention sinks_local(cap: f32 = 20.0) {\n"
           "  score = cap * tanh(score / cap)\n"
           "  mask = sliding_window(30)\n"
           "  select = topk(3, block = 16, sinks = 1, local = 1)\n}",
           DType::F32);
  checkAll(compiler, "sinks_local",
           "attention sinks_local() { mask = causal() select = topk(2, block "
           "= 32, sinks = 2, local = 1) }",
           DType::BF16, "cpu_decode");
  // More always-kept blocks than top_k: all of them stay.
  checkAll(compiler, "forced",
           "attention forced() { select = topk(1, block = 16, sinks = 2, "
           "local = 1) }",
           DType::F32);
  // Other normalizers; rows the mask empties give 0 and lse -inf.
  checkAll(compiler, "sigmoid_select",
           "attention sigmoid_select() { normalize = sigmoid(score - 1.0) "
           "mask = causal() select = topk(1, block = 16) }",
           DType::F32);
  checkAll(compiler, "masked_rows",
           "attention masked_rows() { mask = q_idx % 2 == 0 && kv_idx <= "
           "q_idx select = topk(2, block = 16) }",
           DType::F32, "cpu_decode");
  // A top_k beyond the candidates keeps them all: the mask alone.
  checkAll(compiler, "all_blocks",
           "attention all_blocks() { mask = causal() select = topk(100, "
           "block = 128) }",
           DType::F16);
}

TEST_CASE("numerics: the backward of a block selection is refused",
          "[numerics][select]") {
  Compiler compiler;
  CompileOptions options;
  options.backward = true;
  llvm::Expected<Kernel> kernel = compiler.compile(
      "attention moba() { select = topk(2, block = 16) }", "", options, "moba");
  REQUIRE(!kernel);
  CHECK(llvm::toString(kernel.takeError())
            .find("the backward of a variant with a block selection (select) "
                  "is not supported yet") != std::string::npos);
}

TEST_CASE("numerics: branches run on cpu_tiles, forward; the rest refuse them",
          "[numerics][branches]") {
  Compiler compiler;
  const char *source = "attention d() {\n  mask = causal()\n"
                       "  branches = split(2)\n  output = o[0] - 0.5 * o[1]\n}";
  for (DType dtype : {DType::F32, DType::BF16})
    checkAll(compiler, "d", source, dtype);
  struct Refusal {
    const char *what;
    std::function<void(CompileOptions &)> set;
    const char *message;
  } refusals[] = {
      {"decode", [](CompileOptions &o) { o.kernelFamily = "cpu_decode"; },
       "kernel family cpu_decode does not take them yet"},
      {"paged", [](CompileOptions &o) { o.pagedKv = true; },
       "a paged KV cache does not take them yet"},
      {"backward", [](CompileOptions &o) { o.backward = true; },
       "the backward of a variant with branches is not supported yet"},
  };
  for (const Refusal &r : refusals) {
    CompileOptions options;
    r.set(options);
    llvm::Expected<Kernel> kernel = compiler.compile(source, "", options, "d");
    INFO(r.what);
    REQUIRE(!bool(kernel));
    CHECK(llvm::toString(kernel.takeError()).find(r.message) !=
          std::string::npos);
  }
  // D must split into equal parts: the call names the branches and D.
  llvm::Expected<Kernel> kernel = compiler.compile(source, "", {}, "d");
  REQUIRE(bool(kernel));
  CheckOptions check;
  check.sizes = {1, 1, 1, 4, 4, 7, 7};
  llvm::Expected<CheckResult> result = checkKernel(*kernel, source, "", check);
  REQUIRE(!bool(result));
  CHECK(llvm::toString(result.takeError()).find("has 2 branches") !=
        std::string::npos);
}
