//===- RegionComposition.h - the variant regions' signatures ----*- C++ -*-===//
//
// score_mod, mask and output_mod regions appear both on the cascade ops and on
// attn.flash. Their signatures, their verification and the ways two of them
// combine into one live here, once, for the verifiers, the canonicalization
// patterns, attn-fuse and the frontend.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_DIALECT_REGIONCOMPOSITION_H
#define ATTNC_DIALECT_REGIONCOMPOSITION_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/Region.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/DenseMap.h"

namespace mlir::attn {

/// The roles a region plays in a variant: the user regions (score_mod, mask,
/// output_mod and softmax's sink, the per-(b, h) logit that takes part in
/// the row's sum without a value), the tile classifier that
/// attn-analyze-blocks derives from the mask, and the derivatives of
/// score_mod, output_mod and sink that attn-differentiate derives (the
/// forward's arguments and the adjoint of its result, yielding the adjoint
/// of its first argument, 0 for the sink, whose first argument is b; param
/// gradients by attn.accumulate).
enum class RegionRole {
  ScoreMod,
  Mask,
  OutputMod,
  TileClass,
  ScoreModGrad,
  OutputModGrad,
  Sink,
  SinkGrad,
  // output_mod's derivatives by its lse and row_sum arguments (the
  // signature of output_mod_grad; no param gradients: output_mod_grad adds
  // those once).
  OutputModLseGrad,
  OutputModRowSumGrad
};

inline bool isGradRole(RegionRole kind) {
  return kind == RegionRole::ScoreModGrad ||
         kind == RegionRole::OutputModGrad || kind == RegionRole::SinkGrad ||
         kind == RegionRole::OutputModLseGrad ||
         kind == RegionRole::OutputModRowSumGrad;
}

/// Whether a region of `kind` has output_mod_grad's signature.
inline bool hasOutputModGradSignature(RegionRole kind) {
  return kind == RegionRole::OutputModGrad ||
         kind == RegionRole::OutputModLseGrad ||
         kind == RegionRole::OutputModRowSumGrad;
}

/// The output_mod arguments that carry the row's statistics: its lse
/// (softmax) and the sum of its weights (every normalizer).
constexpr unsigned kOutputModLseArg = 5, kOutputModRowSumArg = 6;

/// Whether the output_mod `region` reads the row's lse or row sum (its own
/// or, in a multi-branch cascade, another branch's: attn.branch).
bool readsRowStatistics(Region &region);
bool readsLse(Region &region);
bool readsRowSum(Region &region);

/// What a tile_class region yields for a tile of (query, key) pairs.
enum class TileClass : int8_t {
  Empty = 0,   // no pair kept: the tile is skipped
  Partial = 1, // some pairs kept: the mask is evaluated per pair
  Full = 2,    // every pair kept: the mask is not evaluated
};

/// The region's name as the DSL and the assembly format spell it.
StringRef getRegionRoleName(RegionRole kind);

/// The names of the block arguments, e.g. (score, b, h, q_idx, kv_idx);
/// output_mod's are (o, b, h, q_idx, d, lse, row_sum).
ArrayRef<StringRef> getRegionArgumentNames(RegionRole kind);

/// The block argument types, e.g. (f32, index, index, index, index).
SmallVector<Type> getRegionArgumentTypes(MLIRContext *ctx, RegionRole kind);

/// The type of the single value the region yields (f32, or i1 for a mask).
Type getRegionYieldType(MLIRContext *ctx, RegionRole kind);

/// What a value of a score_mod or mask region depends on among the pair's
/// indices, as bits: the query row, the key, or both (the score counts as
/// both). b, h, params and constants are neither.
enum IndexDependence : unsigned {
  OnNeither = 0,
  OnQuery = 1,
  OnKey = 2,
  OnPair = OnQuery | OnKey,
};

/// The dependence of every value of the single-block `region` (none for an
/// empty region): what FlexAttention's broadcasting gets for free, and what
/// decides which stage (per query row, per key, per pair) computes a value.
/// With `headPerRow` (kernels whose tile rows span several heads), h counts
/// as a query-side index.
DenseMap<Value, unsigned> getIndexDependence(Region &region, RegionRole kind,
                                             bool headPerRow = false);

/// Whether the single-block `region` reads a param at an index that depends
/// on both the query and the key: a load per pair wherever it runs per pair.
bool readsParamPerPair(Region &region, RegionRole kind);

/// Checks that `region` has one block with the kind's arguments, ending in an
/// attn.yield of the kind's type, holding only ops of ScalarOps.def and param
/// reads. An empty region is accepted when `allowEmpty` (attn.flash uses it
/// for "no such step").
LogicalResult verifyRegionSignature(Operation *op, Region &region,
                                    RegionRole kind, bool allowEmpty);

/// Creates the entry block of an empty `region` with the kind's arguments.
Block *createRegionBlock(OpBuilder &builder, Location loc, Region &region,
                         RegionRole kind);

/// Clones the body of the single-block `region` at the builder's insertion
/// point with its arguments replaced by `args`; returns the value it yields.
Value inlineRegionBody(OpBuilder &builder, Region &region, ValueRange args);

/// Fills the empty `dest` with the combination of `regions`, all of `kind`,
/// in order; an empty region among them means identity. score_mods and
/// output_mods chain (each sees the previous one's value in place of its first
/// argument); masks conjoin (a pair is kept when every mask keeps it).
void combineRegions(OpBuilder &builder, Location loc, RegionRole kind,
                    ArrayRef<Region *> regions, Region &dest);

} // namespace mlir::attn

#endif // ATTNC_DIALECT_REGIONCOMPOSITION_H
