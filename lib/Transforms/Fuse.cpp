//===- Fuse.cpp - fuse a variant's cascade into attn.flash ----------------===//

#include "Transforms/Passes.h"
#include "dialect/RegionComposition.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNFUSE
#include "Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// The ops of one cascade, each in the order the data flows through them.
struct Cascade {
  ScoreOp score;
  // attn.score_mod, attn.mask and at most one attn.select.
  SmallVector<Operation *> scoreSteps;
  SelectOp select;
  NormalizeOp normalize;
  AggregateOp aggregate;
  SmallVector<OutputModOp> outputMods;
  bool returnsLse = false;
  // A multi-branch cascade's branches 1..K-1 (the first output_mod's
  // `branches`): chains like this one's but for their score's head_part.
  std::vector<Cascade> branches;
};

/// Fails, naming the value's user count, unless the step's result flows only
/// into the next step: the fused kernel never materialises it.
LogicalResult checkSingleUse(Value value, Operation *producer, StringRef what) {
  if (value.hasOneUse())
    return success();
  auto users = std::distance(value.getUsers().begin(), value.getUsers().end());
  InFlightDiagnostic diag = producer->emitError()
                            << "cannot fuse: " << what << " of '"
                            << producer->getName() << "' are used " << users
                            << " times; the fused kernel never materialises "
                               "them, so only the next step may use them";
  for (Operation *user : value.getUsers())
    diag.attachNote(user->getLoc())
        << "used here by '" << user->getName() << "'";
  return diag;
}

/// Reports a value that is not produced by the expected step.
LogicalResult notProducedBy(Operation *consumer, Value value,
                            StringRef expected) {
  InFlightDiagnostic diag = consumer->emitError()
                            << "cannot fuse: expected " << expected
                            << " to produce operand of '" << consumer->getName()
                            << "'";
  if (Operation *def = value.getDefiningOp())
    diag.attachNote(def->getLoc())
        << "it is produced by '" << def->getName() << "' instead";
  else
    diag << "; it is an argument of the variant";
  return diag;
}

LogicalResult matchChain(Value out, Operation *consumer, Cascade &cascade);
LogicalResult checkBranch(Cascade &first, Cascade &branch, int64_t index,
                          int64_t count);

/// Follows the variant's results back to attn.score (of every branch).
FailureOr<Cascade> matchCascade(ReturnOp ret) {
  Cascade cascade;
  Value out = ret.getOperand(0);
  Operation *consumer = ret;
  while (auto mod = out.getDefiningOp<OutputModOp>()) {
    if (failed(checkSingleUse(out, mod, "the outputs")))
      return failure();
    cascade.outputMods.insert(cascade.outputMods.begin(), mod);
    consumer = mod;
    out = mod.getInput();
  }
  if (failed(matchChain(out, consumer, cascade)))
    return failure();
  if (!cascade.outputMods.empty()) {
    OutputModOp combine = cascade.outputMods.front();
    for (auto [i, branchOut] : llvm::enumerate(combine.getBranches())) {
      Cascade branch;
      if (failed(matchChain(branchOut, combine, branch)) ||
          failed(checkBranch(cascade, branch, i + 1,
                             combine.getBranches().size() + 1)))
        return failure();
      cascade.branches.push_back(branch);
    }
  }

  if (ret.getNumOperands() == 2) {
    Value lse = ret.getOperand(1);
    if (lse != cascade.normalize.getLse()) {
      InFlightDiagnostic diag =
          ret.emitError() << "cannot fuse: the returned lse is not the lse of "
                             "the cascade's 'attn.normalize'";
      diag.attachNote(cascade.normalize.getLoc()) << "the cascade's normalize";
      return diag;
    }
    cascade.returnsLse = true;
  }
  if (Value lse = cascade.normalize.getLse(); lse && !lse.use_empty()) {
    if (!cascade.returnsLse)
      return cascade.normalize.emitError()
             << "cannot fuse: the lse of 'attn.normalize' is used but not "
                "returned by the variant";
    if (failed(checkSingleUse(lse, cascade.normalize, "the lse values")))
      return failure();
  }

  return cascade;
}

/// Matches one chain, from the aggregate that produces `out` (for
/// `consumer`) back to its attn.score.
LogicalResult matchChain(Value out, Operation *consumer, Cascade &cascade) {
  cascade.aggregate = out.getDefiningOp<AggregateOp>();
  if (!cascade.aggregate)
    return notProducedBy(consumer, out, "'attn.aggregate'");
  if (failed(checkSingleUse(out, cascade.aggregate, "the outputs")))
    return failure();

  Value probs = cascade.aggregate.getProbs();
  cascade.normalize = probs.getDefiningOp<NormalizeOp>();
  if (!cascade.normalize || probs != cascade.normalize.getProbs())
    return notProducedBy(cascade.aggregate, probs, "'attn.normalize'");
  if (failed(checkSingleUse(probs, cascade.normalize, "the weights")))
    return failure();

  Value scores = cascade.normalize.getScores();
  consumer = cascade.normalize;
  while (true) {
    Operation *def = scores.getDefiningOp();
    if (!isa_and_nonnull<ScoreOp, ScoreModOp, MaskOp, SelectOp>(def))
      return notProducedBy(
          consumer, scores,
          "'attn.score', 'attn.score_mod', 'attn.mask' or 'attn.select'");
    if (failed(checkSingleUse(scores, def, "the scores")))
      return failure();
    if (auto score = dyn_cast<ScoreOp>(def)) {
      cascade.score = score;
      if (SelectOp select = cascade.select;
          select && (select.getQuery() != score.getQuery() ||
                     select.getKey() != score.getKey())) {
        InFlightDiagnostic diag = select.emitError()
                                  << "cannot fuse: 'attn.select' selects over "
                                     "other q and k than the cascade's scores";
        diag.attachNote(score.getLoc()) << "the cascade's 'attn.score'";
        return diag;
      }
      return success();
    }
    if (auto select = dyn_cast<SelectOp>(def)) {
      if (cascade.select) {
        InFlightDiagnostic diag = select.emitError()
                                  << "cannot fuse: a cascade selects key "
                                     "blocks once; it has two 'attn.select'";
        diag.attachNote(cascade.select.getLoc()) << "the other one";
        return diag;
      }
      cascade.select = select;
    }
    cascade.scoreSteps.insert(cascade.scoreSteps.begin(), def);
    consumer = def;
    scores = def->getOperand(0);
  }
}

/// Fails unless `branch` (branch `index` of `count`) is `first`'s chain over
/// part `index` of the head dimension: the same q, k, v and scale, and
/// steps equivalent to `first`'s but for the scores they take.
LogicalResult checkBranch(Cascade &first, Cascade &branch, int64_t index,
                          int64_t count) {
  auto refuse = [&](Operation *op, Operation *firstOp, const Twine &why) {
    InFlightDiagnostic diag = op->emitError()
                              << "cannot fuse: branch " << index << " " << why
                              << "; a multi-branch cascade's branches differ "
                                 "only in their score's head_part";
    diag.attachNote(firstOp->getLoc()) << "branch 0's step";
    return diag;
  };
  auto part = [](ScoreOp score) {
    std::optional<ArrayRef<int64_t>> p = score.getHeadPart();
    return p ? std::make_pair((*p)[0], (*p)[1]) : std::make_pair(0l, 1l);
  };
  ScoreOp score = branch.score, firstScore = first.score;
  if (part(firstScore) != std::make_pair(int64_t(0), count))
    return refuse(firstScore, firstScore,
                  "needs branch 0 to score part 0 of " + Twine(count));
  if (part(score) != std::make_pair(index, count))
    return refuse(score, firstScore,
                  "must score part " + Twine(index) + " of " + Twine(count));
  if (score.getQuery() != firstScore.getQuery() ||
      score.getKey() != firstScore.getKey() ||
      score.getScaleAttr() != firstScore.getScaleAttr())
    return refuse(score, firstScore, "scores other q, k or scale");
  if (branch.aggregate.getValue() != first.aggregate.getValue())
    return refuse(branch.aggregate, first.aggregate, "aggregates another v");
  // Each step of the branch against the first's, its operand (the scores)
  // mapped to the first's; values from above must be the same ones.
  SmallVector<Operation *> steps = {branch.normalize},
                           firstSteps = {first.normalize};
  steps.insert(steps.begin(), branch.scoreSteps.begin(),
               branch.scoreSteps.end());
  firstSteps.insert(firstSteps.begin(), first.scoreSteps.begin(),
                    first.scoreSteps.end());
  if (steps.size() != firstSteps.size())
    return refuse(branch.normalize, first.normalize,
                  "has " + Twine(steps.size()) + " steps; branch 0 has " +
                      Twine(firstSteps.size()));
  DenseMap<Value, Value> same = {
      {firstScore.getScores(), score.getScores()}};
  for (auto [step, firstStep] : llvm::zip(steps, firstSteps)) {
    bool equivalent = OperationEquivalence::isEquivalentTo(
        firstStep, step,
        [&](Value a, Value b) {
          return success(a == b || same.lookup(a) == b);
        },
        [&](Value a, Value b) { same[a] = b; },
        OperationEquivalence::IgnoreLocations);
    if (!equivalent)
      return refuse(step, firstStep, "differs from branch 0 here");
    same[firstStep->getResult(0)] = step->getResult(0);
  }
  return success();
}

/// Combines the regions of `ops` (in data-flow order) into `dest`; `dest`
/// stays empty (identity) when there are none.
void combineInto(OpBuilder &builder, Location loc, RegionRole kind,
                 ArrayRef<Operation *> ops, Region &dest) {
  if (ops.empty())
    return;
  SmallVector<Region *> regions;
  for (Operation *op : ops)
    regions.push_back(&op->getRegion(0));
  combineRegions(builder, loc, kind, regions, dest);
}

FlashOp buildFlash(ReturnOp ret, Cascade &cascade) {
  SmallVector<Operation *> scoreMods, masks, outputMods, all;
  // The selection becomes the flash's attribute, not a region.
  for (Operation *step : cascade.scoreSteps)
    if (!isa<SelectOp>(step))
      (isa<MaskOp>(step) ? masks : scoreMods).push_back(step);
  llvm::append_range(outputMods, cascade.outputMods);
  all.push_back(cascade.score);
  llvm::append_range(all, cascade.scoreSteps);
  all.append({cascade.normalize, cascade.aggregate});
  // The other branches' chains go with the fusion; their locations are the
  // first's lines again.
  SmallVector<Operation *> branchOps;
  for (Cascade &branch : cascade.branches) {
    branchOps.push_back(branch.score);
    llvm::append_range(branchOps, branch.scoreSteps);
    branchOps.append({branch.normalize, branch.aggregate});
  }
  llvm::append_range(all, outputMods);

  SmallVector<Location> locs;
  for (Operation *op : all)
    locs.push_back(op->getLoc());
  MLIRContext *ctx = ret.getContext();
  Location loc = FusedLoc::get(ctx, locs);

  Value q = cascade.score.getQuery(), k = cascade.score.getKey(),
        v = cascade.aggregate.getValue();
  IntegerAttr gqa;
  int64_t heads = cast<RankedTensorType>(q.getType()).getDimSize(1);
  int64_t kvHeads = cast<RankedTensorType>(k.getType()).getDimSize(1);
  if (!ShapedType::isDynamic(heads) && !ShapedType::isDynamic(kvHeads))
    gqa = IntegerAttr::get(IntegerType::get(ctx, 64), heads / kvHeads);

  OpBuilder builder(ret);
  NormalizeOp norm = cascade.normalize;
  Type lseType = cascade.returnsLse ? norm.getLse().getType() : Type();
  auto flash = FlashOp::create(
      builder, loc, ret.getOperand(0).getType(), lseType, q, k, v,
      norm.getKind(), cascade.score.getScaleAttr(), norm.getBiasAttr(),
      norm.getTemperatureAttr(), gqa,
      cascade.select ? cascade.select.getSelectionAttr() : SelectAttr(),
      cascade.branches.empty()
          ? IntegerAttr()
          : builder.getI64IntegerAttr(cascade.branches.size() + 1),
      /*schedule=*/nullptr);
  combineInto(builder, loc, RegionRole::ScoreMod, scoreMods,
              flash.getScoreMod());
  combineInto(builder, loc, RegionRole::Mask, masks, flash.getMask());
  combineInto(builder, loc, RegionRole::OutputMod, outputMods,
              flash.getOutputMod());
  flash.getSink().takeBody(norm.getSink());

  ret->setOperand(0, flash.getOut());
  if (cascade.returnsLse)
    ret->setOperand(1, flash.getLse());
  for (Operation *op : llvm::reverse(all))
    op->erase();
  for (Operation *op : llvm::reverse(branchOps))
    op->erase();
  return flash;
}

struct AttnFusePass : attn::impl::AttnFuseBase<AttnFusePass> {
  void runOnOperation() override {
    VariantOp variant = getOperation();
    Block &body = variant.getBody().front();
    auto ret = cast<ReturnOp>(body.getTerminator());
    if (ret.getOperand(0).getDefiningOp<FlashOp>())
      return; // already fused

    // A step whose result nobody uses is no reason to refuse.
    // Visiting users before producers lets a chain of dead steps go at once.
    SmallVector<Operation *> ops;
    for (Operation &op : body.without_terminator())
      ops.push_back(&op);
    for (Operation *op : llvm::reverse(ops))
      if (isOpTriviallyDead(op))
        op->erase();

    FailureOr<Cascade> cascade = matchCascade(ret);
    if (failed(cascade))
      return signalPassFailure();
    buildFlash(ret, *cascade);
  }
};

} // namespace
