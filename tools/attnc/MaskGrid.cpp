//===- MaskGrid.cpp - a grid of tile classes or kept pairs ----------------===//

#include "MaskGrid.h"

#include <algorithm>

using namespace attnc;

int64_t MaskGrid::count(Cell c) const {
  return std::count(cells.begin(), cells.end(), c);
}

Downsampled attnc::downsample(const MaskGrid &grid, int64_t maxRows,
                              int64_t maxCols) {
  Downsampled out;
  out.rowStep = std::max<int64_t>(1, (grid.rows + maxRows - 1) / maxRows);
  out.colStep = std::max<int64_t>(1, (grid.cols + maxCols - 1) / maxCols);
  if (out.rowStep == 1 && out.colStep == 1) {
    out.grid = grid;
    return out;
  }
  out.grid = MaskGrid((grid.rows + out.rowStep - 1) / out.rowStep,
                      (grid.cols + out.colStep - 1) / out.colStep);
  for (int64_t r = 0; r < out.grid.rows; ++r)
    for (int64_t c = 0; c < out.grid.cols; ++c) {
      Cell first = grid.at(r * out.rowStep, c * out.colStep);
      bool mixed = false;
      for (int64_t i = r * out.rowStep;
           i < std::min(grid.rows, (r + 1) * out.rowStep); ++i)
        for (int64_t j = c * out.colStep;
             j < std::min(grid.cols, (c + 1) * out.colStep); ++j)
          mixed |= grid.at(i, j) != first;
      out.grid.at(r, c) = mixed ? Cell::Partial : first;
    }
  return out;
}
