//===- MaskText.h - a mask grid drawn in the terminal -----------*- C++ -*-===//

#ifndef ATTNC_TOOLS_MASKTEXT_H
#define ATTNC_TOOLS_MASKTEXT_H

#include "MaskGrid.h"

#include "llvm/Support/raw_ostream.h"

namespace attnc {

/// The character of a cell: '█' full (or kept), '▒' partial, '·' skipped
/// (or dropped), so that no line ends in spaces.
const char *getGlyph(Cell cell);

/// Draws `grid`, one character per cell, each row labelled with the first
/// query it covers: row r covers queries from `firstQuery + r * rowSpan`.
void drawGrid(llvm::raw_ostream &os, const MaskGrid &grid, int64_t firstQuery,
              int64_t rowSpan);

} // namespace attnc

#endif // ATTNC_TOOLS_MASKTEXT_H
