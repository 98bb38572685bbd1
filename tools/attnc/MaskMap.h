//===- MaskMap.h - a variant's tile classes and kept pairs ------*- C++ -*-===//
//
// Evaluates attn.flash's tile_class (what the kernels evaluate per tile, or
// hold in the run-time block map when it reads params) and its mask in the
// float64 reference's interpreter, for one (b, h).
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_TOOLS_MASKMAP_H
#define ATTNC_TOOLS_MASKMAP_H

#include "MaskGrid.h"
#include "Reference/Reference.h"
#include "dialect/AttnOps.h"

#include <optional>

namespace attnc {

/// The tiles of one (b, h) of a call.
struct TileSpace {
  int64_t batch = 0, head = 0;
  int64_t queries = 0, keys = 0; // N, M
  int64_t tileQ = 64, tileKv = 64;

  int64_t rows() const { return (queries + tileQ - 1) / tileQ; }
  int64_t cols() const { return (keys + tileKv - 1) / tileKv; }
};

/// The class of every (query tile, key tile): tile_class at the tile's
/// bounds (the last tiles cut at N and M); every tile partial when the op
/// has no classifier, full when it has no mask.
llvm::Expected<MaskGrid> classifyTiles(IntRegionEvaluator &evaluator,
                                       mlir::attn::FlashOp flash,
                                       const TileSpace &space);

/// The mask at every pair of queries [q0, q0 + rows) and keys
/// [k0, k0 + cols) of (space.batch, space.head): Full kept, Skipped dropped.
llvm::Expected<MaskGrid> evaluatePairs(IntRegionEvaluator &evaluator,
                                       mlir::attn::FlashOp flash,
                                       const TileSpace &space, int64_t q0,
                                       int64_t k0, int64_t rows, int64_t cols);

/// The pairs of (b, h) the mask keeps: every pair of a full tile, the mask's
/// verdict in a partial one. None when the partial tiles hold more than
/// `maxEvaluated` pairs (the interpreter takes about a microsecond a pair).
llvm::Expected<std::optional<int64_t>>
countKeptInTiles(IntRegionEvaluator &evaluator, mlir::attn::FlashOp flash,
                 const TileSpace &space, const MaskGrid &tiles,
                 int64_t maxEvaluated);

} // namespace attnc

#endif // ATTNC_TOOLS_MASKMAP_H
