//===- MaskMap.cpp - a variant's tile classes and kept pairs --------------===//

#include "MaskMap.h"
#include "Support/Error.h"

#include <algorithm>

using namespace attnc;

llvm::Expected<MaskGrid> attnc::classifyTiles(IntRegionEvaluator &evaluator,
                                              mlir::attn::FlashOp flash,
                                              const TileSpace &space) {
  MaskGrid grid(space.rows(), space.cols());
  for (int64_t r = 0; r < grid.rows; ++r)
    for (int64_t c = 0; c < grid.cols; ++c) {
      if (!flash.hasMask() || !flash.hasTileClass()) {
        grid.at(r, c) = flash.hasMask() ? Cell::Partial : Cell::Full;
        continue;
      }
      int64_t q = r * space.tileQ, k = c * space.tileKv;
      llvm::Expected<int64_t> cls =
          evaluator.evaluate(flash.getTileClass(),
                             {space.batch, space.head, q,
                              std::min(q + space.tileQ, space.queries) - 1, k,
                              std::min(k + space.tileKv, space.keys) - 1});
      if (!cls)
        return cls.takeError();
      if (*cls < 0 || *cls > 2)
        return makeError("tile_class yielded " + llvm::Twine(*cls) +
                         ", not 0, 1 or 2");
      grid.at(r, c) = Cell(*cls);
    }
  return grid;
}

llvm::Expected<MaskGrid> attnc::evaluatePairs(IntRegionEvaluator &evaluator,
                                              mlir::attn::FlashOp flash,
                                              const TileSpace &space,
                                              int64_t q0, int64_t k0,
                                              int64_t rows, int64_t cols) {
  MaskGrid grid(rows, cols);
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      bool kept = true;
      if (flash.hasMask()) {
        llvm::Expected<int64_t> keep = evaluator.evaluate(
            flash.getMask(), {space.batch, space.head, q0 + i, k0 + j});
        if (!keep)
          return keep.takeError();
        kept = *keep != 0;
      }
      grid.at(i, j) = kept ? Cell::Full : Cell::Skipped;
    }
  return grid;
}

llvm::Expected<std::optional<int64_t>>
attnc::countKeptInTiles(IntRegionEvaluator &evaluator,
                        mlir::attn::FlashOp flash, const TileSpace &space,
                        const MaskGrid &tiles, int64_t maxEvaluated) {
  auto extent = [](int64_t index, int64_t tile, int64_t size) {
    return std::min(tile, size - index * tile);
  };
  int64_t kept = 0, evaluated = 0;
  for (int64_t r = 0; r < tiles.rows; ++r)
    for (int64_t c = 0; c < tiles.cols; ++c)
      if (tiles.at(r, c) != Cell::Skipped) {
        int64_t pairs = extent(r, space.tileQ, space.queries) *
                        extent(c, space.tileKv, space.keys);
        if (tiles.at(r, c) == Cell::Partial)
          evaluated += pairs;
        else
          kept += pairs;
      }
  if (evaluated > maxEvaluated)
    return std::nullopt;
  for (int64_t r = 0; r < tiles.rows; ++r)
    for (int64_t c = 0; c < tiles.cols; ++c) {
      if (tiles.at(r, c) != Cell::Partial)
        continue;
      llvm::Expected<MaskGrid> pairs =
          evaluatePairs(evaluator, flash, space, r * space.tileQ,
                        c * space.tileKv, extent(r, space.tileQ, space.queries),
                        extent(c, space.tileKv, space.keys));
      if (!pairs)
        return pairs.takeError();
      kept += pairs->count(Cell::Full);
    }
  return kept;
}
