//===- MaskPng.h - a mask grid written as a PNG -----------------*- C++ -*-===//
//
// One square of pixels per cell, in fixed colours: full (or kept) blue
// #1f77b4, partial orange #ff7f0e, skipped (or dropped) light grey #f0f0f0.
// Written with libpng.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_TOOLS_MASKPNG_H
#define ATTNC_TOOLS_MASKPNG_H

#include "MaskGrid.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

namespace attnc {

/// What writeGridPng wrote: the image's size, the pixels a side of a cell,
/// and the cells of `grid` merged into one (as `downsample`).
struct PngLayout {
  int64_t width = 0, height = 0, cellPixels = 0;
  int64_t rowStep = 1, colStep = 1;
};

/// Writes `grid` to `path`: 8 pixels a cell where the image stays within
/// `maxSide` pixels a side, fewer (down to one, then cells merged) where
/// not.
llvm::Expected<PngLayout> writeGridPng(llvm::StringRef path,
                                       const MaskGrid &grid,
                                       int64_t maxSide = 2048);

} // namespace attnc

#endif // ATTNC_TOOLS_MASKPNG_H
