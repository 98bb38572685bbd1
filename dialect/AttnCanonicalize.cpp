//===- AttnCanonicalize.cpp - canonicalization of the cascade -------------===//
//
// The canonical cascade has at most one score_mod, then at most one mask, and
// no step that does nothing: constant score scales fold into attn.score,
// consecutive score_mods (and output_mods) compose, masks move after
// score_mods (a mask never reads the score) and merge with &&, and a mask that
// is always true disappears.
//
//===----------------------------------------------------------------------===//

#include "dialect/AttnOps.h"
#include "dialect/RegionComposition.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::attn;

/// The value the single block of `region` yields.
static Value getYielded(Region &region) {
  return cast<YieldOp>(region.front().getTerminator()).getValue();
}

/// Matches a region that yields its first argument unchanged.
static bool isIdentity(Region &region) {
  return getYielded(region) == region.front().getArgument(0);
}

/// Replaces `op` (a one-region cascade op) by a copy whose region combines
/// `first` and `second`, applied to `input`.
template <typename OpTy>
static void replaceWithCombined(PatternRewriter &rewriter, OpTy op, Value input,
                                RegionRole kind, Region &first,
                                Region &second) {
  auto fused = OpTy::create(rewriter, op.getLoc(), op.getType(), input);
  combineRegions(rewriter, op.getLoc(), kind, {&first, &second},
                 fused.getBody());
  rewriter.replaceOp(op, fused);
}

namespace {

/// score_mod(score_mod(x)) -> one score_mod; likewise for output_mod.
template <typename OpTy, RegionRole Kind>
struct ComposeConsecutive : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    auto inner = op->getOperand(0).template getDefiningOp<OpTy>();
    if (!inner || !inner->hasOneUse())
      return failure();
    replaceWithCombined(rewriter, op, inner->getOperand(0), Kind,
                        inner.getBody(), op.getBody());
    rewriter.eraseOp(inner);
    return success();
  }
};

/// A score_mod or output_mod that yields its input unchanged is dropped.
template <typename OpTy> struct DropIdentity : OpRewritePattern<OpTy> {
  using OpRewritePattern<OpTy>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpTy op,
                                PatternRewriter &rewriter) const override {
    if (!isIdentity(op.getBody()))
      return failure();
    rewriter.replaceOp(op, op->getOperand(0));
    return success();
  }
};

/// score_mod { yield score * c } (or c * score, score / c) on the scores of an
/// attn.score with a known scale -> attn.score with the scale times c.
struct FoldConstantScale : OpRewritePattern<ScoreModOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ScoreModOp op,
                                PatternRewriter &rewriter) const override {
    auto score = op.getScores().getDefiningOp<ScoreOp>();
    if (!score || !score->hasOneUse())
      return failure();
    std::optional<double> scale = score.getEffectiveScale();
    if (!scale)
      return failure();
    Value scoreArg = op.getBody().getArgument(0);
    Operation *def = getYielded(op.getBody()).getDefiningOp();
    if (!def || def->getNumOperands() != 2)
      return failure();
    Value lhs = def->getOperand(0), rhs = def->getOperand(1);
    APFloat constant(0.0);
    auto isConstant = [&](Value v) {
      return matchPattern(v, m_ConstantFloat(&constant));
    };
    double factor;
    if (isa<arith::MulFOp>(def) && lhs == scoreArg && isConstant(rhs))
      factor = constant.convertToDouble();
    else if (isa<arith::MulFOp>(def) && rhs == scoreArg && isConstant(lhs))
      factor = constant.convertToDouble();
    else if (isa<arith::DivFOp>(def) && lhs == scoreArg && isConstant(rhs) &&
             !constant.isZero())
      factor = 1.0 / constant.convertToDouble();
    else
      return failure();
    rewriter.modifyOpInPlace(score, [&] {
      score.setScaleAttr(rewriter.getF64FloatAttr(*scale * factor));
    });
    rewriter.replaceOp(op, score.getScores());
    return success();
  }
};

/// score_mod(mask(x)) -> mask(score_mod(x)): masks come last in the canonical
/// cascade, where consecutive ones can merge.
struct SinkMaskBelowScoreMod : OpRewritePattern<ScoreModOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ScoreModOp op,
                                PatternRewriter &rewriter) const override {
    auto mask = op.getScores().getDefiningOp<MaskOp>();
    if (!mask || !mask->hasOneUse())
      return failure();
    rewriter.modifyOpInPlace(
        op, [&] { op.getScoresMutable().assign(mask.getScores()); });
    rewriter.moveOpAfter(mask, op);
    rewriter.replaceAllUsesExcept(op.getResult(), mask.getResult(), mask);
    rewriter.modifyOpInPlace(
        mask, [&] { mask.getScoresMutable().assign(op.getResult()); });
    return success();
  }
};

/// mask(mask(x)) -> one mask yielding the && of both.
struct MergeMasks : OpRewritePattern<MaskOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MaskOp op,
                                PatternRewriter &rewriter) const override {
    auto inner = op.getScores().getDefiningOp<MaskOp>();
    if (!inner || !inner->hasOneUse())
      return failure();
    replaceWithCombined(rewriter, op, inner.getScores(), RegionRole::Mask,
                        inner.getBody(), op.getBody());
    rewriter.eraseOp(inner);
    return success();
  }
};

/// A mask that keeps every pair is dropped.
struct DropTrueMask : OpRewritePattern<MaskOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(MaskOp op,
                                PatternRewriter &rewriter) const override {
    if (!matchPattern(getYielded(op.getBody()), m_One()))
      return failure();
    rewriter.replaceOp(op, op.getScores());
    return success();
  }
};

} // namespace

void ScoreModOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                             MLIRContext *context) {
  results
      .add<ComposeConsecutive<ScoreModOp, RegionRole::ScoreMod>,
           DropIdentity<ScoreModOp>, FoldConstantScale, SinkMaskBelowScoreMod>(
          context);
}

void MaskOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                         MLIRContext *context) {
  results.add<MergeMasks, DropTrueMask>(context);
}

void OutputModOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                              MLIRContext *context) {
  results.add<ComposeConsecutive<OutputModOp, RegionRole::OutputMod>,
              DropIdentity<OutputModOp>>(context);
}
