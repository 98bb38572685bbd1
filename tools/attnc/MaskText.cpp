//===- MaskText.cpp - a mask grid drawn in the terminal -------------------===//

#include "MaskText.h"

#include "llvm/Support/Format.h"

using namespace attnc;

const char *attnc::getGlyph(Cell cell) {
  switch (cell) {
  case Cell::Full:
    return "\u2588";
  case Cell::Partial:
    return "\u2592";
  case Cell::Skipped:
    break;
  }
  return "\u00b7";
}

void attnc::drawGrid(llvm::raw_ostream &os, const MaskGrid &grid,
                     int64_t firstQuery, int64_t rowSpan) {
  for (int64_t r = 0; r < grid.rows; ++r) {
    os << llvm::format("%8lld ", (long long)(firstQuery + r * rowSpan));
    for (int64_t c = 0; c < grid.cols; ++c)
      os << getGlyph(grid.at(r, c));
    os << "\n";
  }
}
