//===- Mask.h - attnc mask: a variant's block map, drawn --------*- C++ -*-===//
//
// `attnc mask FILE.attn --shape ...` draws the block analysis' class of every
// (query tile, key tile) of one (b, h) in the terminal, with counts and kept
// pairs, and as a PNG with -o; `--pairs` draws the mask itself over a small
// window of pairs. Masks that read params are drawn from their run-time
// block map, on the params `attnc run` would make (or the given scalars).
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_TOOLS_MASK_H
#define ATTNC_TOOLS_MASK_H

#include "Frontend/AST.h"

#include <string>
#include <vector>

namespace attnc {

struct MaskOptions {
  std::string inputFile, variant, shape;
  std::string target = "cpu";
  ast::ScalarType dtype = ast::ScalarType::F32;
  std::string outputFile;        // the PNG; empty for none
  int64_t tileQ = 0, tileKv = 0; // 0: the target's schedule
  int64_t batch = 0, head = 0;   // the (b, h) drawn
  uint64_t seed = 1;
  int64_t idRange = 4;
  std::vector<std::string> params; // NAME=VALUE
  std::vector<std::string> dims;   // NAME=S1,S2,...: a param's `?` dims
  bool pairs = false;
  std::string window; // Q0,K0,ROWS,COLS, for pairs
};

/// Runs `attnc mask`; returns the exit status (errors printed).
int runMaskCommand(const MaskOptions &options);

} // namespace attnc

#endif // ATTNC_TOOLS_MASK_H
