//===- smem_tiles.cuh - shared-memory tile layouts and copies --*- CUDA -*-===//
//
// Where a tile row and chunk live in shared memory (PaddedTile,
// SwizzledTile, StreamedTile for K and V, OutputStage for the epilogue) and
// one thread's part of a cp.async copy of a tile (TileCopy). Checked on the
// host by test/cuda/tiles_test.cu.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_CUDA_SMEM_TILES_CUH
#define ATTNC_CUDA_SMEM_TILES_CUH

#include "attnc/flash_args.h" // padded_pitch, swizzles_rows
#include "attnc/primitives.cuh"

namespace attnc_cuda {

//===----------------------------------------------------------------------===//
// Shared-memory tiles: the 8 rows an ldmatrix reads must start in 8
// different 16-byte bank groups. Two layouts do that:
// - PaddedTile: rows padded by 8 elements (an odd number of 16-byte chunks).
// - SwizzledTile (rows of a multiple of 64 elements): chunk c of row r at
//   chunk c ^ (r % 8). Rows stay 128-byte aligned, so a cp.async of whole
//   rows writes whole bank lines: into padded rows, Nsight Compute counts
//   10.5 shared-memory wavefronts and 24 L2 sectors per warp's copy of two
//   rows instead of 4 and 16, and the copies back up behind the queue.
// Either way a lane's ldmatrix address for chunk c0 + c of row r0 + r (c
// even, r a multiple of 8: constants in the unrolled loops) follows from its
// address for chunk c0 of row r0 by an add (and for the swizzle an XOR): one
// address register per operand.
//===----------------------------------------------------------------------===//

template <int COLS> struct PaddedTile {
  static constexpr int kChunks = COLS / 8;
  static constexpr int kPitch = padded_pitch(COLS); // elements
  static_assert(COLS % 16 == 0, "head dims are multiples of 16");
  static __host__ __device__ __forceinline__ int offset(int row, int chunk) { return row * kPitch + chunk * 8; }
  static __host__ __device__ constexpr int elements(int rows) { return rows * kPitch; }
  static __host__ __device__ __forceinline__ u32 at(u32 lane, int r, int c) { return lane + 2 * (r * kPitch + c * 8); }
};

template <int COLS> struct SwizzledTile {
  static constexpr int kChunks = COLS / 8;
  static constexpr int kPitch = COLS;
  static_assert(COLS % 64 == 0, "swizzled rows hold whole groups of 8 chunks");
  static __host__ __device__ __forceinline__ int offset(int row, int chunk) {
    return row * kPitch + (chunk ^ (row & 7)) * 8;
  }
  static __host__ __device__ constexpr int elements(int rows) { return rows * kPitch; }
  // The tile starts 128-byte aligned, so bits 4-6 of the lane's address are
  // its chunk within the row's group of 8; the offset adds whole 128-byte
  // lines, so the XOR can come last (XOR first made ptxas spill key padding
  // and gated output).
  static __host__ __device__ __forceinline__ u32 at(u32 lane, int r, int c) {
    return (lane + 2 * (r * kPitch + (c & ~7) * 8)) ^ u32((c & 7) * 16);
  }
};

/// The epilogue's staging of a warp's rows of O: COLS values a row of BYTES
/// bytes each (f32 where output_mod reads them, else packed 16-bit pairs),
/// rows padded by 8 values. A warp's fragment writes (lane l: row l / 4,
/// values 2 (l % 4) and up) then meet no bank conflicts, and every 8 values
/// of a row start 16-byte aligned for the stores out.
__host__ __device__ constexpr int output_stage_pitch(int cols) { return cols + 8; }
__host__ __device__ constexpr int output_stage_bytes(int rows, int cols, int bytes) {
  return rows * output_stage_pitch(cols) * bytes;
}
template <int COLS, int BYTES> struct OutputStage {
  static_assert(COLS % 8 == 0 && (BYTES == 2 || BYTES == 4), "rows of 8-value chunks, 16- or 32-bit values");
  /// The byte offset of value `col` of row `row` (linear in both, so that a
  /// lane's offsets differ from its first by constants).
  static __host__ __device__ constexpr int offset(int row, int col) {
    return (row * output_stage_pitch(COLS) + col) * BYTES;
  }
  static __host__ __device__ constexpr int bytes(int rows) { return output_stage_bytes(rows, COLS, BYTES); }
};

template <bool B, class T, class F> struct Choose {
  typedef T type;
};
template <class T, class F> struct Choose<false, T, F> {
  typedef F type;
};
/// The layout of a K or V tile: swizzled where the row width allows.
template <int COLS>
using StreamedTile = typename Choose<swizzles_rows(COLS), SwizzledTile<COLS>, PaddedTile<COLS>>::type;

/// One thread's part of copying tiles of ROWS rows from a global tensor
/// (row stride `stride` elements) into `Tile`s with cp.async. Where
/// the threads cover whole rows (kStrided), thread tid copies chunk tid %
/// kChunks of rows tid / kChunks + i * kRowStep and keeps one global pointer
/// and one shared offset that each copy advances by constants, so no per-row
/// products stay live across the key-tile loop. Other shapes (head dims
/// such as 96 whose chunk count does not divide the threads) index each
/// chunk separately.
template <class Tile, int ROWS, int THREADS> struct TileCopy {
  static constexpr int kChunks = Tile::kChunks;
  static constexpr int kRowStep = THREADS / kChunks;
  // A swizzled row's chunk order repeats every 8 rows.
  static constexpr bool kStrided = THREADS % kChunks == 0 && ROWS % kRowStep == 0 && kRowStep % 8 == 0;
  const u16 *src; // kStrided: this thread's first element of row 0; else the tensor
  i64 stride;
  u32 dst; // kStrided: its byte offset in a tile
  int row, tid;

  __device__ __forceinline__ TileCopy(const u16 *g, i64 stride, int tid)
      : src(kStrided ? g + (tid / kChunks) * stride + (tid % kChunks) * 8 : g), stride(stride),
        dst(2 * Tile::offset(tid / kChunks, tid % kChunks)), row(tid / kChunks), tid(tid) {}

  /// Copies rows [first, first + ROWS) into the tile at shared address
  /// `tile`; rows at or past `end` are zero-filled (a copy of size 0 reads
  /// nothing, so their addresses need not be valid).
  __device__ __forceinline__ void operator()(u32 tile, int first, int end) const {
    if constexpr (kStrided) {
      const u16 *p = src + i64(first) * stride;
      // Opaque, so that the products i * step are not hoisted out of the
      // key-tile loop into registers.
      const i64 step = opaque(kRowStep * stride);
      const int valid = end - first - row;
#pragma unroll
      for (int i = 0; i < ROWS / kRowStep; ++i) {
        cp_async16(tile + dst + 2 * Tile::offset(i * kRowStep, 0), p, i * kRowStep < valid);
        p += step;
      }
    } else {
      constexpr int kTotal = ROWS * kChunks;
#pragma unroll
      for (int i = 0; i < (kTotal + THREADS - 1) / THREADS; ++i) {
        int c = tid + i * THREADS, r = c / kChunks, chunk = c % kChunks;
        if (kTotal % THREADS == 0 || c < kTotal)
          cp_async16(tile + 2 * Tile::offset(r, chunk), src + i64(first + r) * stride + chunk * 8, first + r < end);
      }
    }
  }
};

/// Copies split-KV's packed Q rows [first, first + ROWS) into `tile`: row p
/// is query p / group of the group's head p % group (`q` points at the
/// group's first head); rows at or past `end` are zero-filled. Once per
/// CTA, so each chunk is indexed on its own.
template <class Tile, int ROWS, int THREADS>
__device__ __forceinline__ void copy_packed_rows(u32 tile, const u16 *q, i64 headStride, i64 rowStride, int first,
                                                 int group, int end, int tid) {
  constexpr int kChunks = Tile::kChunks, kTotal = ROWS * kChunks;
#pragma unroll
  for (int i = 0; i < (kTotal + THREADS - 1) / THREADS; ++i) {
    const int c = tid + i * THREADS, r = c / kChunks, chunk = c % kChunks, p = first + r;
    const bool valid = p < end;
    const u16 *src = valid ? q + (p % group) * headStride + i64(p / group) * rowStride + chunk * 8 : q;
    if (kTotal % THREADS == 0 || c < kTotal)
      cp_async16(tile + 2 * Tile::offset(r, chunk), src, valid);
  }
}

} // namespace attnc_cuda

#endif // ATTNC_CUDA_SMEM_TILES_CUH
