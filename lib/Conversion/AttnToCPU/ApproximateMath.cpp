//===- ApproximateMath.cpp - polynomial approximations of math ops --------===//

#include "Conversion/Passes.h"
#include "dialect/ScalarOps.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_APPROXIMATEMATH
#include "Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

/// Whether the CPU kernels compute the math op `name` by a polynomial: the
/// CPU column of dialect/ScalarOps.def.
static bool isApproximated(StringRef name) {
#define ATTN_MATH_OP(CLASS, CUDA, CPU)                                         \
  if (name == CLASS::getOperationName())                                       \
    return attn::CPUMath::CPU == attn::CPUMath::Polynomial;
#include "dialect/ScalarOps.def"
  return false;
}

namespace {
struct ApproximateMathPass
    : attn::impl::ApproximateMathBase<ApproximateMathPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    // The patterns ask by full op name (math.exp, ...).
    populateMathPolynomialApproximationPatterns(patterns, isApproximated);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};
} // namespace
