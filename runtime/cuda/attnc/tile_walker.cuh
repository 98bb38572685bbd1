//===- tile_walker.cuh - which key tiles a query tile visits ---*- CUDA -*-===//
//
// The key-tile schedule, apart from the math: classify_tiles (the
// variant's tile classifier over a span of key tiles), TileWalker (the walk
// a forward CTA makes, from the block map, the classifier or every tile) and
// build_block_map (the body of the kernel that writes the block map).
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_CUDA_TILE_WALKER_CUH
#define ATTNC_CUDA_TILE_WALKER_CUH

#include "attnc/flash_args.h" // FlashArgs, BlockMapArgs, kBlockMapThreads

namespace attnc_cuda {

//===----------------------------------------------------------------------===//
// The key-tile walk: which key tiles a query tile visits, and whether each is
// partial (mask per pair) or full. From the block map when the classifier
// reads data, else from the classifier's closed form, else every tile.
//===----------------------------------------------------------------------===//

/// The class (0 empty, 1 partial, 2 full) of key tiles [t, t + n) together
/// for query rows [qFirst, qLast]; 0 when t is at or past tile `end`. The
/// lanes of a warp call it for consecutive tiles (or spans) at once.
/// Split-KV's rows pack the `group` query heads of kv head h: the class of
/// the tiles for all of them (empty if empty for each, full if full for
/// each, else partial); a classifier that ignores h runs once.
template <class V, class C>
__device__ __forceinline__ int classify_tiles(const typename V::Params &P, int b, int h, int qFirst, int qLast, int t,
                                              int n, int M, int end, int &status, int group = 1) {
  if (t >= end)
    return 0;
  int kvFirst = t * C::BN, kvLast = min((t + n) * C::BN, M) - 1;
  if constexpr (C::kSplitKv) {
    if constexpr (!V::kTileClassUsesHead)
      return V::tile_class(b, h * group, qFirst, qLast, kvFirst, kvLast, P, status);
    int empty = 0, full = 0;
    for (int g = 0; g < group; ++g) {
      const int cls = V::tile_class(b, h * group + g, qFirst, qLast, kvFirst, kvLast, P, status);
      empty += cls == 0, full += cls == 2;
    }
    return empty == group ? 0 : full == group ? 2 : 1;
  }
  return V::tile_class(b, h, qFirst, qLast, kvFirst, kvLast, P, status);
}

/// The first and last query of a tile's rows [first, first + BM): rows are
/// queries, or in split-KV packed (query p / group, p below N * group).
template <class C> __device__ __forceinline__ int tile_first_query(int first, int group) {
  return C::kSplitKv ? first / group : first;
}
template <class C> __device__ __forceinline__ int tile_last_query(int first, int N, int group) {
  return C::kSplitKv ? (min(first + C::BM, N * group) - 1) / group : min(first + C::BM, N) - 1;
}

template <class V, class C> struct TileWalker {
  const FlashArgs &a;
  const typename V::Params &P;
  int b, h, qFirst, qLast;
  // The walk's position runs from next_ up to end: over the row's list
  // (kBlockList: end is its length), or over the key tiles (kHasTileClass:
  // end is the tile past the last span that may hold kept ones).
  int next_ = 0, end = 0;
  const int *list = nullptr;
  // kHasTileClass: the warp classifies 16 tiles at a time, from tile
  // next_ - 16 on: bit i of `pending` says tile i of them is still to be
  // visited, bit 16 + i that it is partial (one register across the loop).
  u32 pending = 0;
  int &status;

  /// The walk of query tile `qt` over key tiles [lo, hi) (all of them but
  /// in split-KV, whose CTAs each walk one range).
  __device__ TileWalker(const FlashArgs &a, const typename V::Params &P, int b, int h, int qt, int &status, int lo,
                        int hi)
      : a(a), P(P), b(b), h(h), qFirst(tile_first_query<C>(qt * C::BM, a.group)),
        qLast(tile_last_query<C>(qt * C::BM, a.N, a.group)), status(status) {
    if constexpr (V::kBlockList) {
      int row = b * a.blockStrideB + h * a.blockStrideH + qt;
      end = a.blockCount[row];
      list = a.blockList + i64(row) * a.tilesKv;
      if constexpr (C::kSplitKv || C::kPaged) {
        // The list ascends: the range's entries are found by bisection
        // (paged: the tiles of the sequence's length).
        next_ = lowerBound(0, end, lo);
        end = lowerBound(next_, end, hi);
      }
    } else if constexpr (V::kHasTileClass) {
      // The classifier takes any range of keys: one call per lane on 32
      // spans of the key tiles brackets the kept ones, so that the walk does
      // not step 16 tiles at a time through the empty ones before and after
      // them (most of a sliding window's tiles, those past a causal diagonal).
      const int span = (hi - lo + 31) / 32;
      const int cls =
          classify_tiles<V, C>(P, b, h, qFirst, qLast, lo + (threadIdx.x % 32) * span, span, a.M, hi, status, a.group);
      const u32 kept = __ballot_sync(0xffffffffu, cls != 0);
      next_ = kept ? lo + (__ffs(kept) - 1) * span : 0;
      end = kept ? min(lo + (32 - __clz(kept)) * span, hi) : 0;
    } else if constexpr (C::kSplitKv || C::kPaged) {
      next_ = lo, end = hi;
    }
  }

  /// The first position in list[from, to) whose tile is `tile` or later.
  __device__ __forceinline__ int lowerBound(int from, int to, int tile) const {
    while (from < to) {
      const int mid = (from + to) / 2;
      if ((list[mid] >> 1) < tile)
        from = mid + 1;
      else
        to = mid;
    }
    return from;
  }

  /// A tile's code: its first key and whether its pairs are masked.
  static __device__ __forceinline__ int firstKey(int code) { return (code >> 1) * C::BN; }
  static __device__ __forceinline__ bool masked(int code) { return code & 1; }

  /// The next tile to visit as tile * 2 + (1 if its pairs are masked),
  /// or -1 (one register per upcoming tile in the kernel's pipeline). All
  /// threads of a warp call it together.
  __device__ __forceinline__ int next() {
    if constexpr (V::kBlockList) {
      return next_ < end ? list[next_++] : -1;
    } else if constexpr (V::kHasTileClass) {
      // Skipping empty tiles one at a time would cost a serial loop over
      // every key tile per query tile (most of a sliding window's work).
      while ((pending & 0xffffu) == 0) {
        if (next_ >= end)
          return -1;
        // Lanes l and l + 16 classify the same tile; the low half of the
        // ballot says which are kept, the high half which are partial.
        int lane = threadIdx.x % 32;
        int cls = classify_tiles<V, C>(P, b, h, qFirst, qLast, next_ + (lane & 15), 1, a.M, end, status, a.group);
        pending = __ballot_sync(0xffffffffu, lane < 16 ? cls != 0 : cls == 1);
        next_ += 16;
      }
      int i = __ffs(pending) - 1;
      pending &= pending - 1; // the lowest set bit is in the low half
      return (next_ - 16 + i) * 2 + (pending >> (16 + i) & 1);
    } else {
      if (next_ >= (C::kSplitKv || C::kPaged ? end : a.tilesKv))
        return -1;
      return next_++ * 2 + V::kHasMask;
    }
  }
};

/// Writes one block-map row: the key tiles t < tilesKv whose class
/// (`classOf(t)`: 0 empty, 1 partial, 2 full) is not empty, in ascending
/// order as t * 2 + (1 if partial), and their count. A CTA of THREADS
/// threads calls it together, a thread per tile at a time.
template <int THREADS, class ClassOf>
__device__ __forceinline__ void write_block_map_row(int *list, int *count, int tilesKv, ClassOf classOf) {
  constexpr int kWarps = THREADS / 32;
  __shared__ int warpKept[kWarps];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int kept = 0;
  for (int base = 0; base < tilesKv; base += THREADS) {
    const int t = base + int(threadIdx.x);
    const int cls = t < tilesKv ? classOf(t) : 0;
    const u32 ballot = __ballot_sync(0xffffffffu, cls != 0);
    if (lane == 0)
      warpKept[warp] = __popc(ballot);
    __syncthreads();
    int at = kept + __popc(ballot & ((1u << lane) - 1));
    for (int w = 0; w < kWarps; ++w) {
      at += w < warp ? warpKept[w] : 0;
      kept += warpKept[w];
    }
    if (cls != 0)
      list[at] = t * 2 + (cls == 1);
    __syncthreads(); // warpKept is read before the next step writes it
  }
  if (threadIdx.x == 0)
    *count = kept;
}

/// The block-map kernel's body: one CTA per (b, h, query tile) row, a
/// thread per key tile (one call of the classifier each), so that even a
/// single (b, h) keeps the GPU busy.
template <class V, class C>
__device__ __forceinline__ void build_block_map(const BlockMapArgs &a, const typename V::Params &P) {
  // One line of CTAs (a 3-D grid would cap B and H at 65535).
  const int row = int(blockIdx.x), qt = row % a.tilesQ, bh = row / a.tilesQ;
  const int h = bh % a.H, b = bh / a.H;
  const int qFirst = tile_first_query<C>(qt * C::BM, a.group), qLast = tile_last_query<C>(qt * C::BM, a.N, a.group);
  int status = 0;
  write_block_map_row<kBlockMapThreads>(a.blockList + i64(row) * a.tilesKv, a.blockCount + row, a.tilesKv, [&](int t) {
    return classify_tiles<V, C>(P, b, h, qFirst, qLast, t, 1, a.M, a.tilesKv, status, a.group);
  });
  if (status)
    atomicCAS(a.status, 0, status);
}

} // namespace attnc_cuda

#endif // ATTNC_CUDA_TILE_WALKER_CUH
