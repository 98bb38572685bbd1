//===- RegionComposition.cpp - the variant regions' signatures ------------===//

#include "dialect/RegionComposition.h"
#include "dialect/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/IRMapping.h"

using namespace mlir;
using namespace mlir::attn;

StringRef mlir::attn::getRegionRoleName(RegionRole kind) {
  switch (kind) {
  case RegionRole::ScoreMod:
    return "score_mod";
  case RegionRole::Mask:
    return "mask";
  case RegionRole::OutputMod:
    return "output_mod";
  case RegionRole::TileClass:
    return "tile_class";
  case RegionRole::ScoreModGrad:
    return "score_mod_grad";
  case RegionRole::OutputModGrad:
    return "output_mod_grad";
  case RegionRole::Sink:
    return "sink";
  case RegionRole::SinkGrad:
    return "sink_grad";
  case RegionRole::OutputModLseGrad:
    return "output_mod_lse_grad";
  case RegionRole::OutputModRowSumGrad:
    return "output_mod_row_sum_grad";
  }
  llvm_unreachable("unknown region kind");
}

/// Whether an output_mod reads another branch's `stat` (attn.branch).
static bool readsBranchStat(Region &region, BranchStat stat) {
  return llvm::any_of(region.front().getOps<BranchOp>(),
                      [&](BranchOp op) { return op.getStat() == stat; });
}

bool mlir::attn::readsLse(Region &region) {
  return !region.empty() &&
         (!region.getArgument(kOutputModLseArg).use_empty() ||
          readsBranchStat(region, BranchStat::Lse));
}

bool mlir::attn::readsRowSum(Region &region) {
  return !region.empty() &&
         (!region.getArgument(kOutputModRowSumArg).use_empty() ||
          readsBranchStat(region, BranchStat::RowSum));
}

bool mlir::attn::readsRowStatistics(Region &region) {
  return readsLse(region) || readsRowSum(region);
}

ArrayRef<StringRef> mlir::attn::getRegionArgumentNames(RegionRole kind) {
  static const StringRef scoreMod[] = {"score", "b", "h", "q_idx", "kv_idx"};
  static const StringRef mask[] = {"b", "h", "q_idx", "kv_idx"};
  static const StringRef outputMod[] = {"o", "b",   "h",      "q_idx",
                                        "d", "lse", "row_sum"};
  static const StringRef tileClass[] = {"b",      "h",        "q_first",
                                        "q_last", "kv_first", "kv_last"};
  static const StringRef scoreModGrad[] = {"score", "b",      "h",
                                           "q_idx", "kv_idx", "dscore"};
  static const StringRef outputModGrad[] = {"o", "b",   "h",       "q_idx",
                                            "d", "lse", "row_sum", "dout"};
  static const StringRef sink[] = {"b", "h"};
  static const StringRef sinkGrad[] = {"b", "h", "dsink"};
  switch (kind) {
  case RegionRole::ScoreMod:
    return scoreMod;
  case RegionRole::Mask:
    return mask;
  case RegionRole::OutputMod:
    return outputMod;
  case RegionRole::TileClass:
    return tileClass;
  case RegionRole::ScoreModGrad:
    return scoreModGrad;
  case RegionRole::OutputModGrad:
  case RegionRole::OutputModLseGrad:
  case RegionRole::OutputModRowSumGrad:
    return outputModGrad;
  case RegionRole::Sink:
    return sink;
  case RegionRole::SinkGrad:
    return sinkGrad;
  }
  llvm_unreachable("unknown region kind");
}

DenseMap<Value, unsigned> mlir::attn::getIndexDependence(Region &region,
                                                         RegionRole kind,
                                                         bool headPerRow) {
  DenseMap<Value, unsigned> dependence;
  if (region.empty())
    return dependence;
  Block &body = region.front();
  for (auto [i, name] : llvm::enumerate(getRegionArgumentNames(kind)))
    dependence[body.getArgument(i)] = name == "q_idx"             ? OnQuery
                                      : name == "h" && headPerRow ? OnQuery
                                      : name == "kv_idx"          ? OnKey
                                      : name == "score"           ? OnPair
                                                                  : OnNeither;
  for (Operation &op : body) {
    unsigned on = OnNeither;
    for (Value operand : op.getOperands())
      on |= dependence.lookup(operand);
    for (Value result : op.getResults())
      dependence[result] = on;
  }
  return dependence;
}

bool mlir::attn::readsParamPerPair(Region &region, RegionRole kind) {
  if (region.empty())
    return false;
  DenseMap<Value, unsigned> dependence = getIndexDependence(region, kind);
  return llvm::any_of(region.front().getOps<LoadOp>(), [&](LoadOp load) {
    return dependence.lookup(load.getResult()) == OnPair;
  });
}

SmallVector<Type> mlir::attn::getRegionArgumentTypes(MLIRContext *ctx,
                                                     RegionRole kind) {
  Builder b(ctx);
  SmallVector<Type> types(getRegionArgumentNames(kind).size(),
                          b.getIndexType());
  bool outputGrad = hasOutputModGradSignature(kind);
  if (kind == RegionRole::ScoreMod || kind == RegionRole::OutputMod ||
      kind == RegionRole::ScoreModGrad || outputGrad)
    types.front() = b.getF32Type();
  if (kind == RegionRole::OutputMod || outputGrad)
    types[kOutputModLseArg] = types[kOutputModRowSumArg] = b.getF32Type();
  if (isGradRole(kind))
    types.back() = b.getF32Type();
  return types;
}

Type mlir::attn::getRegionYieldType(MLIRContext *ctx, RegionRole kind) {
  Builder b(ctx);
  switch (kind) {
  case RegionRole::Mask:
    return b.getI1Type();
  case RegionRole::TileClass:
    return b.getI8Type();
  default:
    return b.getF32Type();
  }
}

/// "(score: f32, b: index, ...)" for diagnostics.
static std::string describeSignature(MLIRContext *ctx, RegionRole kind) {
  std::string text;
  llvm::raw_string_ostream os(text);
  os << "(";
  auto names = getRegionArgumentNames(kind);
  auto types = getRegionArgumentTypes(ctx, kind);
  for (auto [i, name] : llvm::enumerate(names))
    os << (i ? ", " : "") << name << ": " << types[i];
  os << ") -> " << getRegionYieldType(ctx, kind);
  return text;
}

/// Whether a region may hold `op`: the table's scalar ops and param reads.
static bool isRegionOp(Operation &op, RegionRole kind) {
  if (isa<AccumulateOp>(op))
    return isGradRole(kind);
  if (isa<BranchOp>(op))
    return kind == RegionRole::OutputMod;
  return isa<
#define ATTN_SCALAR_OP(CLASS, CUDA) CLASS,
#include "dialect/ScalarOps.def"
      LoadOp, LoadRangeOp, YieldOp>(op);
}

LogicalResult mlir::attn::verifyRegionSignature(Operation *op, Region &region,
                                                RegionRole kind,
                                                bool allowEmpty) {
  StringRef name = getRegionRoleName(kind);
  if (region.empty()) {
    if (allowEmpty)
      return success();
    return op->emitOpError() << "needs a " << name << " region";
  }
  if (!region.hasOneBlock())
    return op->emitOpError() << "the " << name << " region must have one block";
  MLIRContext *ctx = op->getContext();
  Block &block = region.front();
  if (block.getArgumentTypes() != ArrayRef(getRegionArgumentTypes(ctx, kind))) {
    auto diag = op->emitOpError()
                << "the " << name << " region must have the signature "
                << describeSignature(ctx, kind) << "; its arguments are (";
    llvm::interleaveComma(block.getArgumentTypes(), diag);
    return diag << ")";
  }
  auto yield = block.empty() ? YieldOp() : dyn_cast<YieldOp>(block.back());
  if (!yield)
    return op->emitOpError()
           << "the " << name << " region must end in attn.yield";
  Type expected = getRegionYieldType(ctx, kind);
  if (yield.getValue().getType() != expected)
    return op->emitOpError()
           << "the " << name << " region must yield " << expected
           << "; it yields " << yield.getValue().getType();
  for (Operation &inner : block)
    if (!isRegionOp(inner, kind))
      return inner.emitOpError() << "is not one of the scalar ops that a "
                                 << name << " region may hold";
  return success();
}

Block *mlir::attn::createRegionBlock(OpBuilder &builder, Location loc,
                                     Region &region, RegionRole kind) {
  SmallVector<Type> types = getRegionArgumentTypes(builder.getContext(), kind);
  SmallVector<Location> locs(types.size(), loc);
  return builder.createBlock(&region, region.end(), types, locs);
}

Value mlir::attn::inlineRegionBody(OpBuilder &builder, Region &region,
                                   ValueRange args) {
  Block &block = region.front();
  IRMapping mapping;
  mapping.map(block.getArguments(), args);
  for (Operation &op : block.without_terminator())
    builder.clone(op, mapping);
  return mapping.lookupOrDefault(
      cast<YieldOp>(block.getTerminator()).getValue());
}

void mlir::attn::combineRegions(OpBuilder &builder, Location loc,
                                RegionRole kind, ArrayRef<Region *> regions,
                                Region &dest) {
  OpBuilder::InsertionGuard guard(builder);
  Block *block = createRegionBlock(builder, loc, dest, kind);
  SmallVector<Value> args(block->getArguments());
  Value result;
  for (Region *region : regions) {
    if (region->empty())
      continue;
    Value value = inlineRegionBody(builder, *region, args);
    if (kind == RegionRole::Mask)
      result =
          result ? arith::AndIOp::create(builder, loc, result, value) : value;
    else
      args.front() = value;
  }
  if (kind != RegionRole::Mask)
    result = args.front();
  else if (!result)
    result = arith::ConstantOp::create(builder, loc, builder.getBoolAttr(true));
  YieldOp::create(builder, loc, result);
}
