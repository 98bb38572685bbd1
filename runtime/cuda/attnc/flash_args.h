//===- flash_args.h - what the host passes to attnc's GPU kernels -*- C++ -*-===//
//
// Plain C++, shared by the tile templates (flash_fwd.cuh includes it; the
// copy embedded in the library has it pasted in) and by the host code that
// launches the kernels through the driver API (lib/JIT/GpuKernel.cpp): one
// definition of the argument structs and of the launch geometry.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_CUDA_FLASH_ARGS_H
#define ATTNC_CUDA_FLASH_ARGS_H

#if defined(__CUDACC__)
#define ATTNC_HOST_DEVICE __host__ __device__
#else
#define ATTNC_HOST_DEVICE
#endif

namespace attnc_cuda {

typedef unsigned int u32;
typedef unsigned short u16;
typedef long long i64;
typedef unsigned long long u64;

/// One param as the host passes it: a tensor (pointer, sizes, strides in
/// elements) or a scalar (f for floats, i for integers and bools).
struct ParamSlot {
  const void *ptr;
  i64 size[4];
  i64 stride[4];
  double f;
  i64 i;
};

/// The tensors and sizes of one call. Strides are in elements, for the
/// batch, head and row dimensions; the head dim is contiguous.
struct FlashArgs {
  const u16 *q, *k, *v;
  u16 *out;
  float *lse;
  i64 qs[3], ks[3], vs[3], os[3], ls[3];
  int B, H, N, M, group; // group = H / Hkv
  int tilesQ, tilesKv;
  const int *blockList;  // run-time block map rows (kBlockList), see below
  const int *blockCount;
  int blockStrideB, blockStrideH; // rows; 0 where the map does not vary
  int *status;                    // 1 + first param read out of bounds
};

/// What the block-map kernel writes: for every (b, h, query tile) row, the
/// non-empty key tiles in order, each as tile * 2 + (1 if partial), and
/// their count. Dimensions the classifier ignores have extent 1.
struct BlockMapArgs {
  int B, H, N, M, tilesQ, tilesKv;
  int *blockList, *blockCount;
  int *status;
};

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

/// The block-map kernel runs a CTA of kBlockMapThreads per (b, h, query
/// tile) row, the threads over its key tiles; its grid is a line of
/// block_map_ctas of them (see build_block_map).
constexpr int kBlockMapThreads = 128;
ATTNC_HOST_DEVICE inline long long block_map_ctas(const BlockMapArgs &a) { return (long long)a.B * a.H * a.tilesQ; }

} // namespace attnc_cuda

#endif // ATTNC_CUDA_FLASH_ARGS_H
