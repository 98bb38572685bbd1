//===- GPUSchedule.h - the mma.sync kernels' default schedule ---*- C++ -*-===//
//
// One rule shared by attn-select-schedule (tile sizes) and AttnToCUDA (warps)
// so that the two choices stay consistent.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_TRANSFORMS_GPUSCHEDULE_H
#define ATTNC_TRANSFORMS_GPUSCHEDULE_H

#include <cstdint>

namespace mlir::attn {

struct GPUTiles {
  int64_t tileQ, tileKv, warps;
};

/// The default tiles of the mma.sync kernels for head dim `d`, the larger of
/// the query/key and value head dims (0 when not known; the output and the
/// scores share the registers), measured on the H100 with bench/gpu/sweep.sh (bench/RESULTS.md):
/// - up to 64: 128 x 128 tiles, 8 warps of one m16 row fragment;
/// - up to 128: 128 query rows as 4 warps of two fragments (the
///   FlashAttention-2 shape: half the K/V shared-memory reads per MMA) and
///   48-key tiles: their scores leave room in registers beside the output
///   (at 64 keys every variant spilled; at 48 causal, window and ALiBi do
///   not), and 48 measured 4-11% faster than 64 for dense, causal, document
///   and ALiBi + causal (8 warps x 128 keys, its old default, 18% slower);
///   sliding window, 5% faster at 64 then, is 3% faster at 48 since its
///   empty tiles are skipped 16 at a time;
/// - beyond: 64 x 64 tiles, 4 warps of one fragment (the accumulators of
///   two would not fit).
inline GPUTiles defaultGPUTiles(int64_t d) {
  if (d > 0 && d <= 64)
    return {128, 128, 8};
  if (d > 0 && d <= 128)
    return {128, 48, 4};
  return {64, 64, 4};
}

} // namespace mlir::attn

#endif // ATTNC_TRANSFORMS_GPUSCHEDULE_H
