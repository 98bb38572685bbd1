//===- GPUSchedule.h - the mma.sync kernels' default schedule ---*- C++ -*-===//
//
// The rules attn-select-schedule applies for the sm80_mma family: tile sizes
// and warps, measured (bench/RESULTS.md).
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_TRANSFORMS_GPUSCHEDULE_H
#define ATTNC_TRANSFORMS_GPUSCHEDULE_H

#include <cstdint>

namespace mlir::attn {

struct GPUTiles {
  int64_t tileQ, tileKv, warps;
};

/// The default tiles of the mma.sync kernels for query/key head dim `d` and
/// value head dim `dv` (0 when not known), measured on the H100 with
/// bench/gpu/sweep.sh and scratch sweeps (bench/RESULTS.md). Every default
/// runs 128 query rows as 4 warps of two m16 row fragments (the
/// FlashAttention-2 shape: each K/V fragment read from shared memory serves
/// two MMAs); the key tile is what the registers leave room for beside the
/// output (dv floats per thread) and the scores (tile_kv floats):
/// - both up to 64: 128-key tiles; 13-25% faster than 8 warps of one
///   fragment on 14 of the 15 examples, as fast as FlashAttention-2's 128 x
///   128 x 4 warps. A score_mod that gathers a param per pair (a relative
///   position bias table, a bias tensor over (q_idx, kv_idx)) takes 64-key
///   tiles (`scoreGathers`): relative_bias 13% faster, with no spills and
///   half the compile time; the others ran 4-9% slower at 64 (bench/
///   RESULTS.md, ninth pass). neighborhood_2d's per-pair mask also ran 12%
///   faster at 64 (`--tile-kv 64`), but a mask runs on partial tiles only,
///   so a rule by the mask's work would have to guess how many those are;
///   a mask that gathers a param per pair (`maskGathers`: a block map, a
///   mask tensor) takes 64 too: a mask tensor masks every tile, 17% faster
///   at 64, and a block map compiles in half the time (ptxas spilled 524
///   bytes at 128) for 8% of run time (eleventh pass);
/// - dv up to 128 (d up to 256): 48-key tiles (at 64 every variant spilled;
///   48 measured 4-11% faster than 64, and at d = 192 16-20% faster than
///   64 x 64 x 4 warps; 32 was no faster for relative_bias and 8% slower
///   for causal). A mask that gathers per pair takes 64-key tiles: blocks
///   of 64 keys or a multiple (block maps) never straddle those, where 48-key
///   tiles turn every kept block into masked partial tiles (block_sparse
///   with 128-blocks 39% faster, a mask tensor 4% slower);
/// - beyond: 64 x 64 tiles, 4 warps of one fragment (the accumulators of
///   two would not fit).
inline GPUTiles defaultGPUTiles(int64_t d, int64_t dv,
                                bool scoreGathers = false,
                                bool maskGathers = false) {
  const GPUTiles oneFragment = {64, 64, 4};
  if (d <= 0 || dv <= 0)
    return oneFragment;
  if (d <= 64 && dv <= 64)
    return {128, scoreGathers || maskGathers ? 64 : 128, 4};
  if (d <= 256 && dv <= 128)
    return {128, maskGathers ? 64 : 48, 4};
  return oneFragment;
}

/// The warps that go with query tile `tileQ`: the default's own with the
/// default query tile, else one m16 row fragment a warp, up to 8.
inline int64_t defaultGPUWarps(const GPUTiles &defaults, int64_t tileQ) {
  if (tileQ == defaults.tileQ)
    return defaults.warps;
  return tileQ / 16 < 1 ? 1 : tileQ / 16 > 8 ? 8 : tileQ / 16;
}

} // namespace mlir::attn

#endif // ATTNC_TRANSFORMS_GPUSCHEDULE_H
