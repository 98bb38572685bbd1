//===- DialectTest.cpp - the attn dialect from C++ ------------------------===//
//
// Builds cascades with the C++ builders (as the frontend will), runs attn-fuse
// through a PassManager, and checks diagnostics reach the caller as values.
//
//===----------------------------------------------------------------------===//

#include "Transforms/Passes.h"
#include "dialect/AttnOps.h"
#include "dialect/RegionComposition.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include <catch2/catch.hpp>

using namespace mlir;
using namespace mlir::attn;

namespace {

/// A context with the dialects a variant uses, and the diagnostics it emitted.
struct Fixture {
  MLIRContext ctx;
  std::vector<std::string> diagnostics;
  ScopedDiagnosticHandler handler{&ctx, [this](Diagnostic &diag) {
                                    diagnostics.push_back(diag.str());
                                    return success();
                                  }};
  OpBuilder builder{&ctx};
  Location loc = UnknownLoc::get(&ctx);

  Fixture() {
    ctx.loadDialect<AttnDialect, arith::ArithDialect, math::MathDialect>();
  }

  RankedTensorType tensor(ArrayRef<int64_t> shape, Type elem) {
    return RankedTensorType::get(shape, elem);
  }

  bool saw(StringRef text) {
    return llvm::any_of(diagnostics, [&](const std::string &d) {
      return StringRef(d).contains(text);
    });
  }
};

constexpr int64_t kDyn = ShapedType::kDynamic;

/// Builds `alibi_causal` with two masks (causal, then q_idx - kv_idx < 128)
/// between which sits an ALiBi score_mod, the way a frontend would.
VariantOp buildAlibiWindow(Fixture &f, ModuleOp module) {
  OpBuilder &b = f.builder;
  b.setInsertionPointToEnd(module.getBody());
  Type bf16 = b.getBF16Type(), f32 = b.getF32Type();
  auto q = f.tensor({1, 8, kDyn, 64}, bf16);
  auto kv = f.tensor({1, 2, kDyn, 64}, bf16);
  auto slopesType = f.tensor({8}, f32);
  auto outType = q;
  auto fnType = b.getFunctionType({q, kv, kv, slopesType}, {outType});
  auto variant =
      VariantOp::create(b, f.loc, "alibi_window", fnType,
                        /*sym_visibility=*/nullptr,
                        /*arg_attrs=*/nullptr, /*res_attrs=*/nullptr);
  variant.setArgAttr(3, "attn.name", b.getStringAttr("slopes"));
  Block *body = b.createBlock(&variant.getBody(), {}, fnType.getInputs(),
                              SmallVector<Location>(4, f.loc));
  b.setInsertionPointToEnd(body);
  Value slopes = body->getArgument(3);
  auto scoresType = f.tensor({1, 8, kDyn, kDyn}, f32);

  Value s = ScoreOp::create(b, f.loc, scoresType, body->getArgument(0),
                            body->getArgument(1), /*scale=*/nullptr,
                            /*head_part=*/nullptr);
  auto causal = MaskOp::create(b, f.loc, scoresType, s);
  {
    OpBuilder::InsertionGuard guard(b);
    Block *blk =
        createRegionBlock(b, f.loc, causal.getBody(), RegionRole::Mask);
    Value keep =
        arith::CmpIOp::create(b, f.loc, arith::CmpIPredicate::uge,
                              blk->getArgument(2), blk->getArgument(3));
    YieldOp::create(b, f.loc, keep);
  }
  auto alibi = ScoreModOp::create(b, f.loc, scoresType, causal.getResult());
  {
    OpBuilder::InsertionGuard guard(b);
    Block *blk =
        createRegionBlock(b, f.loc, alibi.getBody(), RegionRole::ScoreMod);
    Value slope = LoadOp::create(b, f.loc, slopes, blk->getArgument(2));
    Value qi = arith::IndexCastOp::create(b, f.loc, b.getI64Type(),
                                          blk->getArgument(3));
    Value ki = arith::IndexCastOp::create(b, f.loc, b.getI64Type(),
                                          blk->getArgument(4));
    Value dist = arith::SubIOp::create(b, f.loc, ki, qi);
    Value distF = arith::SIToFPOp::create(b, f.loc, f32, dist);
    Value bias = arith::MulFOp::create(b, f.loc, slope, distF);
    YieldOp::create(
        b, f.loc,
        arith::AddFOp::create(b, f.loc, blk->getArgument(0), bias).getResult());
  }
  auto window = MaskOp::create(b, f.loc, scoresType, alibi.getResult());
  {
    OpBuilder::InsertionGuard guard(b);
    Block *blk =
        createRegionBlock(b, f.loc, window.getBody(), RegionRole::Mask);
    Value diff = arith::SubIOp::create(b, f.loc, blk->getArgument(2),
                                       blk->getArgument(3));
    Value w = arith::ConstantIndexOp::create(b, f.loc, 128);
    Value keep =
        arith::CmpIOp::create(b, f.loc, arith::CmpIPredicate::slt, diff, w);
    YieldOp::create(b, f.loc, keep);
  }
  auto norm = NormalizeOp::create(b, f.loc, scoresType, /*lse=*/Type(),
                                  NormalizerKind::Softmax, window.getResult(),
                                  /*bias=*/nullptr, /*temperature=*/nullptr);
  Value o = AggregateOp::create(b, f.loc, outType, norm.getProbs(),
                                body->getArgument(2));
  ReturnOp::create(b, f.loc, ValueRange{o});
  return variant;
}

} // namespace

TEST_CASE("region signatures follow FlexAttention's arguments", "[dialect]") {
  Fixture f;
  CHECK(getRegionArgumentNames(RegionRole::ScoreMod) ==
        ArrayRef<StringRef>{"score", "b", "h", "q_idx", "kv_idx"});
  CHECK(getRegionArgumentNames(RegionRole::Mask).size() == 4);
  CHECK(getRegionArgumentNames(RegionRole::OutputMod) ==
        ArrayRef<StringRef>{"o", "b", "h", "q_idx", "d", "lse", "row_sum"});
  CHECK(getRegionArgumentNames(RegionRole::Sink) ==
        ArrayRef<StringRef>{"b", "h"});
  auto outputTypes = getRegionArgumentTypes(&f.ctx, RegionRole::OutputMod);
  REQUIRE(outputTypes.size() == 7);
  CHECK(outputTypes[kOutputModLseArg].isF32());
  CHECK(outputTypes[kOutputModRowSumArg].isF32());
  CHECK(getRegionArgumentTypes(&f.ctx, RegionRole::SinkGrad).back().isF32());
  auto types = getRegionArgumentTypes(&f.ctx, RegionRole::ScoreMod);
  REQUIRE(types.size() == 5);
  CHECK(types[0].isF32());
  CHECK(types[4].isIndex());
  CHECK(getRegionYieldType(&f.ctx, RegionRole::Mask).isInteger(1));
  CHECK(getRegionYieldType(&f.ctx, RegionRole::OutputMod).isF32());
}

TEST_CASE("a cascade built in C++ verifies and fuses", "[dialect][fuse]") {
  Fixture f;
  OwningOpRef<ModuleOp> module = ModuleOp::create(f.loc);
  VariantOp variant = buildAlibiWindow(f, *module);
  REQUIRE(succeeded(verify(*module)));
  CHECK(variant.getArgumentName(0) == "q");
  CHECK(variant.getArgumentName(3) == "slopes");

  PassManager pm(&f.ctx);
  pm.addNestedPass<VariantOp>(createAttnFuse());
  REQUIRE(succeeded(pm.run(*module)));
  REQUIRE(succeeded(verify(*module)));

  SmallVector<FlashOp> flashes;
  variant.walk([&](FlashOp op) { flashes.push_back(op); });
  REQUIRE(flashes.size() == 1);
  FlashOp flash = flashes.front();
  CHECK(flash.getNormalizer() == NormalizerKind::Softmax);
  CHECK(flash.getGqaGroup() == 4u);
  CHECK(!flash.returnsLse());
  CHECK(flash.hasScoreMod());
  CHECK(flash.hasMask());
  CHECK(!flash.hasOutputMod());

  // Both masks are conjoined; the score_mod reads the param.
  auto yield = cast<YieldOp>(flash.getMask().front().getTerminator());
  CHECK(isa_and_nonnull<arith::AndIOp>(yield.getValue().getDefiningOp()));
  int loads = 0;
  flash.getScoreMod().walk([&](LoadOp load) {
    ++loads;
    CHECK(load.getParam() == variant.getParams().front());
  });
  CHECK(loads == 1);

  // Nothing of the cascade is left.
  int cascadeOps = 0;
  variant.walk([&](Operation *op) {
    if (isa<ScoreOp, ScoreModOp, MaskOp, NormalizeOp, AggregateOp>(op))
      ++cascadeOps;
  });
  CHECK(cascadeOps == 0);
}

TEST_CASE("combineRegions treats an empty region as identity", "[dialect]") {
  Fixture f;
  OpBuilder &b = f.builder;
  Region empty, causal, conjunction, none;
  {
    OpBuilder::InsertionGuard guard(b);
    Block *blk = createRegionBlock(b, f.loc, causal, RegionRole::Mask);
    Value keep =
        arith::CmpIOp::create(b, f.loc, arith::CmpIPredicate::uge,
                              blk->getArgument(2), blk->getArgument(3));
    YieldOp::create(b, f.loc, keep);
  }
  combineRegions(b, f.loc, RegionRole::Mask, {&empty, &causal, &empty},
                 conjunction);
  auto yield = cast<YieldOp>(conjunction.front().getTerminator());
  // One real mask: no && is needed.
  CHECK(isa<arith::CmpIOp>(yield.getValue().getDefiningOp()));

  combineRegions(b, f.loc, RegionRole::Mask, {&empty}, none);
  auto keepAll = cast<YieldOp>(none.front().getTerminator());
  auto constant = keepAll.getValue().getDefiningOp<arith::ConstantOp>();
  REQUIRE(constant);
  CHECK(cast<BoolAttr>(constant.getValue()).getValue());
}

TEST_CASE("verifier errors reach the caller as diagnostics", "[dialect]") {
  Fixture f;
  const char *source = R"mlir(
    func.func @f(%q: tensor<1x8x16x64xf32>, %k: tensor<1x3x16x64xf32>) {
      %s = attn.score %q, %k : tensor<1x8x16x64xf32>, tensor<1x3x16x64xf32>
             -> tensor<1x8x16x16xf32>
      return
    })mlir";
  f.ctx.loadDialect<func::FuncDialect>();
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(source, &f.ctx);
  CHECK(!module);
  CHECK(
      f.saw("query heads H = 8 are not a multiple of key/value heads Hkv = 3"));
}

TEST_CASE("attn-fuse reports what it cannot fuse and fails", "[fuse]") {
  Fixture f;
  const char *source = R"mlir(
    attn.variant @f(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>,
                    %v: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
      %s = attn.score %q, %k : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>
             -> tensor<?x?x?x?xf32>
      %o = attn.aggregate %s, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>
             -> tensor<?x?x?x?xf32>
      attn.return %o : tensor<?x?x?x?xf32>
    })mlir";
  OwningOpRef<ModuleOp> module = parseSourceString<ModuleOp>(source, &f.ctx);
  REQUIRE(module);
  PassManager pm(&f.ctx);
  pm.addNestedPass<VariantOp>(createAttnFuse());
  CHECK(failed(pm.run(*module)));
  CHECK(f.saw("cannot fuse: expected 'attn.normalize' to produce operand of "
              "'attn.aggregate'"));
}
