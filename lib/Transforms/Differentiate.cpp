//===- Differentiate.cpp - the backward's regions of attn.flash -----------===//
//
// Reverse-mode differentiation of score_mod, output_mod and sink into
// score_mod_grad, output_mod_grad and sink_grad (Passes.td:
// AttnDifferentiate): the
// forward region is recomputed, then each op, last to first, passes the
// adjoint of its result to its operands by its rule (Derivatives.cpp).
//
//===----------------------------------------------------------------------===//

#include "Transforms/Derivatives.h"
#include "Transforms/Passes.h"
#include "dialect/AttnOps.h"
#include "dialect/RegionComposition.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNDIFFERENTIATE
#include "Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// A float param of the variant (an argument past q, k and v), whose
/// gradient the backward computes.
bool isFloatParam(Value v) {
  auto arg = dyn_cast<BlockArgument>(v);
  if (!arg || !isa<VariantOp>(arg.getOwner()->getParentOp()) ||
      arg.getArgNumber() < VariantOp::kNumTensorInputs)
    return false;
  Type type = v.getType();
  if (auto tensor = dyn_cast<RankedTensorType>(type))
    type = tensor.getElementType();
  return isa<FloatType>(type);
}

/// Fills `grad` (role `gradRole`) with the derivative of `forward` by its
/// argument `wrt`, adding the params' gradients when `accumulate`.
LogicalResult differentiate(Region &forward, Region &grad, RegionRole gradRole,
                            Location loc, unsigned wrt = 0,
                            bool accumulate = true) {
  OpBuilder b(forward.getContext());
  Block *block = createRegionBlock(b, loc, grad, gradRole);
  b.setInsertionPointToStart(block);
  Block &fwd = forward.front();

  // The forward's values, recomputed.
  IRMapping values;
  for (unsigned i = 0, e = fwd.getNumArguments(); i < e; ++i)
    values.map(fwd.getArgument(i), block->getArgument(i));
  for (Operation &op : fwd.without_terminator())
    b.clone(op, values);
  // Values from above the region (params, hoisted constants) are themselves.
  auto lookup = [&](Value v) { return values.lookupOrDefault(v); };

  llvm::MapVector<Value, Value> adjoints;
  auto addAdjoint = [&](Value of, Value g) {
    auto [it, inserted] = adjoints.try_emplace(of, g);
    if (!inserted)
      it->second = arith::AddFOp::create(b, loc, it->second, g);
  };
  Value yielded = cast<YieldOp>(fwd.getTerminator()).getValue();
  addAdjoint(yielded, block->getArguments().back());

  auto toF32 = [&](Value g) -> Value {
    if (g.getType().isF32())
      return g;
    return arith::ExtFOp::create(b, loc, b.getF32Type(), g);
  };
  for (Operation &op : llvm::reverse(fwd.without_terminator())) {
    if (op.getNumResults() != 1 || !isa<FloatType>(op.getResult(0).getType()))
      continue;
    auto it = adjoints.find(op.getResult(0));
    if (it == adjoints.end())
      continue;
    Value g = it->second;
    b.setInsertionPoint(block, block->end());
    if (auto load = dyn_cast<LoadOp>(op)) {
      if (!accumulate)
        continue;
      SmallVector<Value> indices;
      for (Value i : load.getIndices())
        indices.push_back(lookup(i));
      AccumulateOp::create(b, op.getLoc(), toF32(g), load.getParam(), indices);
      continue;
    }
    auto toOperand = [&](unsigned i, Value c) {
      addAdjoint(op.getOperand(i), c);
    };
    AdjointStep step{b, op.getLoc(), &op, values, g, toOperand};
    if (!propagateAdjoint(step))
      return op.emitError("attn-differentiate: no derivative rule for '")
             << op.getName() << "'; the backward cannot be derived";
  }
  // Scalar float params used as they are.
  for (auto [of, g] : adjoints)
    if (accumulate && isFloatParam(of) && !isa<RankedTensorType>(of.getType()))
      AccumulateOp::create(b, loc, toF32(g), of, ValueRange{});

  auto it = adjoints.find(fwd.getArgument(wrt));
  Value result = it != adjoints.end()
                     ? it->second
                     : arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));
  YieldOp::create(b, loc, result);
  return success();
}

struct AttnDifferentiatePass
    : attn::impl::AttnDifferentiateBase<AttnDifferentiatePass> {
  void runOnOperation() override {
    WalkResult result = getOperation()->walk([&](FlashOp flash) {
      // The selection is a hard mask (MoBA's gate has no gradient), but no
      // backward kernel computes it yet.
      if (flash.hasSelection()) {
        flash.emitOpError("the backward of a variant with a block selection "
                          "(select) is not supported yet; compile it "
                          "without the backward");
        return WalkResult::interrupt();
      }
      if (flash.getBranchCount() > 1) {
        flash.emitOpError("the backward of a variant with branches is not "
                          "supported yet; compile it without the backward");
        return WalkResult::interrupt();
      }
      if (flash.hasScoreMod() && flash.getScoreModGrad().empty() &&
          failed(differentiate(flash.getScoreMod(), flash.getScoreModGrad(),
                               RegionRole::ScoreModGrad, flash.getLoc())))
        return WalkResult::interrupt();
      if (flash.hasOutputMod() && flash.getOutputModGrad().empty() &&
          failed(differentiate(flash.getOutputMod(), flash.getOutputModGrad(),
                               RegionRole::OutputModGrad, flash.getLoc())))
        return WalkResult::interrupt();
      // The adjoints of the row's lse and row sum, which the backward
      // passes on to every score of the row (its params' gradients come
      // with output_mod_grad's).
      struct {
        Region &grad;
        RegionRole role;
        unsigned arg;
      } statistics[] = {{flash.getOutputModLseGrad(),
                         RegionRole::OutputModLseGrad, kOutputModLseArg},
                        {flash.getOutputModRowSumGrad(),
                         RegionRole::OutputModRowSumGrad, kOutputModRowSumArg}};
      for (auto &stat : statistics)
        if (flash.hasOutputMod() &&
            !flash.getOutputMod().getArgument(stat.arg).use_empty() &&
            stat.grad.empty() &&
            failed(differentiate(flash.getOutputMod(), stat.grad, stat.role,
                                 flash.getLoc(), stat.arg,
                                 /*accumulate=*/false)))
          return WalkResult::interrupt();
      if (flash.hasSink() && flash.getSinkGrad().empty() &&
          failed(differentiate(flash.getSink(), flash.getSinkGrad(),
                               RegionRole::SinkGrad, flash.getLoc())))
        return WalkResult::interrupt();
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
