/*===- abi.h - what attnc's compiler and its kernels agree on -----*- C -*-===//
//
// The ABI between attnc's compiler (the code it generates, its JIT
// launcher) and the runtime's kernels, with no MLIR and no CUDA headers:
// - the normalizer numbers (the values of the dialect's NormalizerKind),
//   which a variant's V::kNormalizer holds, and the selection's block sizes;
// - the memref descriptors of the C entry points (attnc/memref.h; host code
//   only, as they need <stdint.h>, which NVRTC lacks);
// - in C++, the argument structs the host passes to the GPU kernels.
// The C parts compile as C11, for the C headers attnc writes.
//
//===----------------------------------------------------------------------===*/

#ifndef ATTNC_ABI_H
#define ATTNC_ABI_H

/* How scores become attention weights (NormalizerKind in
   dialect/AttnDialect.td, which the compiler checks against these). */
enum attnc_normalizer {
  ATTNC_NORMALIZE_SOFTMAX = 0,
  ATTNC_NORMALIZE_SIGMOID = 1,
  ATTNC_NORMALIZE_RELU = 2,
  ATTNC_NORMALIZE_NONE = 3
};

/* The key-block sizes a dynamic block selection (#attn.select) takes: powers
   of two in this range, which the kernels' vectors of keys divide. */
enum { ATTNC_SELECT_MIN_BLOCK = 16, ATTNC_SELECT_MAX_BLOCK = 128 };
/// The most branches `branches = split(K)` takes (the GPU kernels keep
/// every branch's accumulator in registers).
enum { ATTNC_MAX_BRANCHES = 4 };

/* A CPU kernel's status view (int32_t): word 0 is 0, or 1 + the position
   of a param read out of bounds. A view of ATTNC_STATUS_WORDS words (one
   cache line; the JIT's) also gets where: word 1 is 1 + the read's id (the
   `attn.read` attribute of its attn.load, 0 without one), words 2 + 2d and
   3 + 2d the low and high halves of its index in dim d, for d below
   ATTNC_STATUS_INDICES. A one-word view (the AOT entry points') gets word
   0 alone. The GPU kernels write the same words (ParamSlot::status). */
enum { ATTNC_STATUS_WORDS = 16, ATTNC_STATUS_INDICES = 7 };

#if !defined(__CUDACC_RTC__)
#include "attnc/memref.h"
#endif

#ifdef __cplusplus
namespace attnc_cuda {

typedef unsigned int u32;
typedef unsigned short u16;
typedef long long i64;
typedef unsigned long long u64;

/// One param as the host passes it: a tensor (pointer, sizes, strides in
/// elements) or a scalar (f for floats, i for integers and bools).
/// `status`: where a read of the tensor out of bounds records which read
/// and at what index (ATTNC_STATUS_WORDS words, the call's first such read
/// only, as a CPU status view); null: the call's status word alone.
struct ParamSlot {
  const void *ptr;
  i64 size[4];
  i64 stride[4];
  double f;
  i64 i;
  int *status;
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
  const int *blockList; // run-time block map rows (kBlockList), see below
  const int *blockCount;
  int blockStrideB, blockStrideH; // rows; 0 where the map does not vary
  int *status;                    // 1 + first param read out of bounds (see ParamSlot)
  // Split-KV (family split_kv): a tile's rows pack the `group` query heads
  // of one kv head (row p: query p / group of head hk * group + p % group;
  // tilesQ counts such tiles), and its key tiles are cut into `splits`
  // ranges, one CTA each; each writes its rows' normalised output (f32,
  // [splits][B*H*N][DV]), lse (natural log, [splits][B*H*N]) and, for
  // softmax, how many of its scores are +inf (partialTies, where lse is
  // +inf; else 0) there, and the combine kernel writes out and lse. The
  // backward's recomputation (Config's RECOMPUTE) writes the output before
  // output_mod ([B*H*N][DV]) and the rows' weight sums (row_sum, [B*H*N])
  // there.
  int splits;
  float *partialOut, *partialLse, *partialTies;
  // A paged KV cache (Config's PAGED_KV): k and v are pages, ks and vs
  // their (page, head, row) strides; key j of sequence b is row j %
  // pageSize of page pageTable[b * tableStride + j / pageSize], M is
  // max_pages * pageSize and keys at or past seqLens[b * lensStride] are
  // not kept. An entry outside [0, numPages) or a length outside [0, M]
  // reads page 0 (or keeps no key) and sets status to kPagedBadPage or
  // kPagedBadLength.
  const int *pageTable, *seqLens;
  i64 tableStride, lensStride;
  int pageSize, numPages;
  // Dynamic block selection (V::kSelect, block_select.cuh): the f32 sums of
  // the `selectBlocks` key blocks per (b, kv head), [B * Hkv * blocks][D],
  // and per (b, h, query) row `selectWords` words whose bit c says that key
  // block c is kept, [B * H * N][words].
  float *blockSums;
  u32 *selectBits;
  int selectBlocks, selectWords;
};

/// The backward's tensors and sizes (sm80_backward.cuh): the forward's
/// call (q, k, v, out, lse, sizes and status; `partialOut` holds the
/// recomputed output before output_mod, f32 [B * H * N][DV], where the
/// backward needs it exactly) and the gradients. dO is `dout`, or after
/// output_mod's gradient `dopre` (contiguous, the forward's 16-bit type);
/// delta is rowsum(dO * O) and lse2 the lse in base 2 per row (f32
/// [B * H][backward_row_pitch(N, BM)], zeroed); dq is summed in f32 in
/// `dqAccum` ([B * H * N][D], zeroed) and converted into `dq` at the end.
struct BackwardArgs {
  FlashArgs f;
  const u16 *dout;
  u16 *dopre;
  float *delta, *lse2, *dqAccum;
  u16 *dq, *dk, *dv;
  i64 dos[3], dqs[3], dks[3], dvs[3];
  int tilesQ, tilesKv; // the backward's own tiles
  /// Deterministic mode: per (b, h, query tile of the backward), how many
  /// key tiles have added their part of dq (zeroed; they add in key-tile
  /// order); null: in any order.
  int *dqTurns;
};

/// Where the backward adds a float param's gradient (f32, contiguous in
/// the param's shape); null for a gradient the caller did not ask for.
struct GradSlot {
  float *ptr;
};

/// Statuses of a paged call (FlashArgs::status; params use 1 + their
/// position).
enum { kPagedBadPage = -1, kPagedBadLength = -2 };

/// A tensor map (CUtensorMap: 128 opaque bytes, 64-byte aligned), made on
/// the host by the driver's cuTensorMapEncodeTiled. The sm90_wgmma kernel
/// takes the maps of q, k and v as one __grid_constant__ parameter.
struct alignas(64) TensorMap {
  u64 opaque[16];
};
struct TensorMaps {
  TensorMap q, k, v;
};
/// The sm90_wgmma backward's: q, k and v, and dO (the caller's dout, or
/// the scratch copy after output_mod's gradient).
struct BackwardMaps {
  TensorMap q, k, v, dout;
};

/// What the block-map kernel writes: for every (b, h, query tile) row, the
/// non-empty key tiles in order, each as tile * 2 + (1 if partial), and
/// their count. Dimensions the classifier ignores have extent 1.
struct BlockMapArgs {
  int B, H, N, M, tilesQ, tilesKv;
  int *blockList, *blockCount;
  int *status;
  int group; // split_kv: rows pack `group` query heads (H counts kv heads)
};

} // namespace attnc_cuda
#endif /* __cplusplus */

#endif /* ATTNC_ABI_H */
