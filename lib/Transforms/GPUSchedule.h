//===- GPUSchedule.h - the mma.sync kernels' schedule rule ------*- C++ -*-===//
//
// One rule shared by attn-select-schedule (tile sizes) and AttnToCUDA (warps)
// so that the two choices stay consistent.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_TRANSFORMS_GPUSCHEDULE_H
#define ATTNC_TRANSFORMS_GPUSCHEDULE_H

#include "dialect/AttnOps.h"

namespace mlir::attn {

/// Whether a 128-row tile at head dim 128 runs as 4 warps of two m16 row
/// fragments (the FlashAttention-2 shape: half the K/V shared-memory reads
/// per MMA) with 64-key tiles. Variants with both a score_mod and a mask
/// carry enough per-pair code that this shape spills; they run 8 warps of
/// one fragment with 128-key tiles, which measured 13% faster for ALiBi +
/// causal, while 4 warps won for dense, causal, window, document and softcap
/// (bench/gpu/sweep.sh, bench/RESULTS.md).
inline bool useTwoRowFragments(FlashOp flash) {
  return !(flash.hasScoreMod() && flash.hasMask());
}

} // namespace mlir::attn

#endif // ATTNC_TRANSFORMS_GPUSCHEDULE_H
