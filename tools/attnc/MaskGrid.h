//===- MaskGrid.h - a grid of tile classes or kept pairs --------*- C++ -*-===//
//
// What `attnc mask` draws: one cell per (query tile, key tile) holding the
// tile's class, or one per (query, key) pair of a window, kept or dropped.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_TOOLS_MASKGRID_H
#define ATTNC_TOOLS_MASKGRID_H

#include <cstdint>
#include <vector>

namespace attnc {

/// A tile's class, numbered as attn.flash's tile_class yields it. A pair
/// of a --pairs window is Full when kept, Skipped when dropped.
enum class Cell : uint8_t { Skipped = 0, Partial = 1, Full = 2 };

struct MaskGrid {
  int64_t rows = 0, cols = 0;
  std::vector<Cell> cells; // row-major

  MaskGrid() = default;
  MaskGrid(int64_t rows, int64_t cols)
      : rows(rows), cols(cols), cells(rows * cols, Cell::Skipped) {}
  Cell &at(int64_t r, int64_t c) { return cells[r * cols + c]; }
  Cell at(int64_t r, int64_t c) const { return cells[r * cols + c]; }
  int64_t count(Cell c) const;
};

/// `grid` with blocks of `rowStep` x `colStep` cells merged into one, the
/// steps the least that fit it in `maxRows` x `maxCols`: a block of one
/// class keeps it, a mixed one is partial.
struct Downsampled {
  MaskGrid grid;
  int64_t rowStep = 1, colStep = 1;
};
Downsampled downsample(const MaskGrid &grid, int64_t maxRows, int64_t maxCols);

} // namespace attnc

#endif // ATTNC_TOOLS_MASKGRID_H
