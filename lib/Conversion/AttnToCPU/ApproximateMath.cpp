//===- ApproximateMath.cpp - polynomial approximations of math ops --------===//

#include "Conversion/Passes.h"

#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_APPROXIMATEMATH
#include "Conversion/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {
struct ApproximateMathPass
    : attn::impl::ApproximateMathBase<ApproximateMathPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(
        patterns, [](StringRef name) {
          // The patterns ask by full op name (math.exp, ...).
          return name.consume_front("math.") &&
                 llvm::is_contained({"exp", "exp2", "expm1", "log", "log2",
                                     "log1p", "tanh", "erf"},
                                    name);
        });
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};
} // namespace
