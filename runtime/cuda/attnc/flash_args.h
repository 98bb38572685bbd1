//===- flash_args.h - the GPU kernels' launch geometry ----------*- C++ -*-===//
//
// Plain C++, shared by the tile templates and by the host code that sizes
// and launches the kernels (attnc's code generator, lib/JIT/GpuKernel.cpp,
// launch_plan.h): how a tensor param's extent is passed, the forward
// kernel's shared memory and the block-map kernel's shape. The argument
// structs themselves are the ABI's (attnc/abi.h, included here).
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_CUDA_FLASH_ARGS_H
#define ATTNC_CUDA_FLASH_ARGS_H

#include "attnc/abi.h" // ParamSlot, FlashArgs, BlockMapArgs

#if defined(__CUDACC__)
#define ATTNC_HOST_DEVICE __host__ __device__
#else
#define ATTNC_HOST_DEVICE
#endif

namespace attnc_cuda {

/// Copies a tensor param's sizes and strides into its slot and says whether
/// the tensor is empty. An empty one gets no strides: kernels read params
/// even out of bounds (load_param at element 0, load_range at its index
/// clamped to -1), so the launcher points it at scratch words, and with no
/// strides every such read stays on them.
template <class Int> inline bool set_tensor_extent(ParamSlot &s, const Int *sizes, const Int *strides, int rank) {
  bool empty = false;
  for (int d = 0; d < rank; ++d)
    empty |= sizes[d] == 0;
  for (int d = 0; d < rank; ++d) {
    s.size[d] = sizes[d];
    s.stride[d] = empty ? 0 : strides[d];
  }
  return empty;
}

/// The forward kernel's shared memory, in 16-bit elements per tile row: Q
/// rows are padded by 8 elements (PaddedTile); K and V rows XOR-swizzled
/// where they hold whole groups of 64 (SwizzledTile), else padded. Config
/// checks its tiles against these, and attnc's code generator sizes the
/// launch with forward_shared_bytes.
ATTNC_HOST_DEVICE constexpr bool swizzles_rows(int cols) { return cols % 64 == 0; }
ATTNC_HOST_DEVICE constexpr int padded_pitch(int cols) { return cols + 8; }
ATTNC_HOST_DEVICE constexpr int streamed_pitch(int cols) { return swizzles_rows(cols) ? cols : padded_pitch(cols); }
/// Bytes for the Q tile (bm rows of d) and `stages` K/V tiles (bn rows of d
/// and of dv).
ATTNC_HOST_DEVICE constexpr long long forward_shared_bytes(int d, int dv, int bm, int bn, int stages) {
  return 2LL * (bm * padded_pitch(d) + stages * bn * (streamed_pitch(d) + streamed_pitch(dv)));
}

/// The sm90_wgmma kernel: a producer warpgroup (one warp issues the copies)
/// and two consumer warpgroups of 64 query rows each. Its shared memory,
/// from a 1024-byte aligned base: Q, then `stages` K and V tiles, all in
/// 128-byte swizzled panels of 64 columns (2 bytes an element, no padding),
/// the epilogue's staging of O (16-bit values, rows padded by 8), and the
/// mbarriers (Q's, then K's, V's and the empty slots', one per stage).
constexpr int kSm90ConsumerWarps = 8, kSm90Threads = 384, kSm90TileQ = 128;
ATTNC_HOST_DEVICE constexpr long long sm90_out_stage_bytes(int dv) { return 2LL * kSm90TileQ * (dv + 8); }
ATTNC_HOST_DEVICE constexpr long long sm90_barrier_bytes(int stages) { return 8LL * (1 + 3 * stages); }
ATTNC_HOST_DEVICE constexpr long long sm90_shared_bytes(int d, int dv, int bn, int stages) {
  return 1024 /* alignment */ + 2LL * (kSm90TileQ * d + stages * bn * (d + dv)) + sm90_out_stage_bytes(dv) +
         sm90_barrier_bytes(stages);
}

/// The backward (sm80_backward.cuh): a CTA of NW warps per (b, kv head,
/// key tile of BN keys) walks query tiles of BM rows (by default
/// kBwdTileQ, kBwdTileKv and kBwdWarps), Q and dO streamed through two
/// buffers each. Its shared memory: K and V (rows
/// swizzled or padded as the forward's), two Q and two dO tiles, the dS
/// tile (kBwdTileKv rows of kBwdTileQ, swizzled), and two rows each of the
/// query tile's lse and delta (f32). The preprocessing and the dq
/// conversion run a warp per row in CTAs of kBwdRowThreads. The backward's
/// recomputation of the output (where it needs it exactly) is a forward
/// kernel of kRecomputeTile x kRecomputeTile tiles, 4 warps, 2 stages.
constexpr int kBwdWarps = 8, kBwdTileQ = 64, kBwdTileKv = 128, kBwdRowThreads = 128;
constexpr int kRecomputeTile = 64, kRecomputeWarps = 4, kRecomputeStages = 2;
ATTNC_HOST_DEVICE constexpr long long backward_shared_bytes(int d, int dv, int bm, int bn) {
  return 2LL * (bn * (streamed_pitch(d) + streamed_pitch(dv)) + 2 * bm * (streamed_pitch(d) + streamed_pitch(dv)) +
                bn * (bm % 64 ? bm + 8 : bm)) +
         4LL * 4 * bm;
}
/// The sm90_wgmma backward (sm90_backward.cuh): a producer warpgroup and
/// two consumer warpgroups of 64 keys each per key tile of kBwdTileKv,
/// query tiles of kBwdTileQ. Its shared memory, from a 1024-byte aligned
/// base, all in 128-byte swizzled panels: K and V, two Q and two dO tiles,
/// two dS tiles ([key][query]), two rows each of lse and delta, dQ's f32
/// staging (rows of d + 8; two regions at d = 64), and the mbarriers (K and
/// V's, then Q's, dO's and the empty slots', two each, dQ's full and empty).
constexpr int kSm90BwdThreads = 384;
ATTNC_HOST_DEVICE constexpr long long sm90_backward_shared_bytes(int d, int dv) {
  return 1024 /* alignment */ +
         2LL * (kBwdTileKv * (d + dv) + 2 * kBwdTileQ * (d + dv) + 2 * kBwdTileKv * kBwdTileQ) +
         4LL * 4 * kBwdTileQ + 4LL * (d == 128 ? 1 : 2) * kBwdTileQ * (d + 8) + 8 * 9;
}
/// The rows of the backward's lse and delta scratch per (b, h): whole
/// query tiles of `bm` rows, so that a tile's rows copy as aligned 16-byte
/// chunks.
ATTNC_HOST_DEVICE inline long long backward_row_pitch(int N, int bm) {
  return (long long)((N + bm - 1) / bm) * bm;
}

/// The block-map kernel runs a CTA of kBlockMapThreads per (b, h, query
/// tile) row, the threads over its key tiles; its grid is a line of
/// block_map_ctas of them (see build_block_map).
constexpr int kBlockMapThreads = 128;
ATTNC_HOST_DEVICE inline long long block_map_ctas(const BlockMapArgs &a) { return (long long)a.B * a.H * a.tilesQ; }

/// Dynamic block selection (block_select.cuh): the pooling kernel runs a
/// CTA of kPoolThreads per (b, kv head, key block); the selection kernel a
/// CTA of kSelectThreads per block-map row (b, h, query tile of `bm` rows),
/// which scores kSelectChunk blocks at a time. Its shared memory: the query
/// tile (16-bit, rows of d + 2), a chunk of block sums and of gates (f32,
/// rows padded by one) and each row's best `topK` gates and blocks.
constexpr int kPoolThreads = 128, kSelectThreads = 256, kSelectChunk = 32;
constexpr int kSelectMaxTopK = 64;
ATTNC_HOST_DEVICE constexpr long long select_shared_bytes(int d, int bm, int topK) {
  return 2LL * bm * (d + 2) + 4LL * kSelectChunk * (d + 1) + 4LL * bm * (kSelectChunk + 1) + 8LL * topK * bm;
}

/// The combine kernel of split-KV runs a warp per (b, h, query) row, in
/// CTAs of kCombineThreads; its grid is a line of combine_ctas of them.
constexpr int kCombineThreads = 128;
ATTNC_HOST_DEVICE inline long long combine_rows(const FlashArgs &a) { return (long long)a.B * a.H * a.N; }
ATTNC_HOST_DEVICE inline long long combine_ctas(const FlashArgs &a) {
  return (combine_rows(a) + kCombineThreads / 32 - 1) / (kCombineThreads / 32);
}

/// The key tiles [first, end) that split `split` of `splits` walks: ranges
/// of equal length, the last one shorter.
ATTNC_HOST_DEVICE inline int split_first_tile(int tilesKv, int splits, int split) {
  return split * ((tilesKv + splits - 1) / splits);
}

} // namespace attnc_cuda

#endif // ATTNC_CUDA_FLASH_ARGS_H
