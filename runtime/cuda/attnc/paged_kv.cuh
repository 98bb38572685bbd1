//===- paged_kv.cuh - reading k and v through a page table -----*- CUDA -*-===//
//
// A paged KV cache (Config's PAGED_KV, FlashArgs' page fields): k and v
// are pages [num_pages, page_size, Hkv, D], key j of sequence b is row
// j % page_size of page pageTable[b, j / page_size], and each sequence has
// its own length. The table lives in device memory, so the host cannot
// check it: every entry is checked as it is read, and a bad one reads page
// 0 and reports kPagedBadPage through the call's status.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_CUDA_PAGED_KV_CUH
#define ATTNC_CUDA_PAGED_KV_CUH

#include "attnc/flash_args.h" // FlashArgs, kPagedBadPage, kPagedBadLength
#include "attnc/primitives.cuh"

namespace attnc_cuda {

/// The page of key slot `slot` (keys [slot * pageSize, + pageSize)) of
/// sequence b.
__device__ __forceinline__ i64 page_of(const FlashArgs &a, int b, int slot) {
  const int page = a.pageTable[b * a.tableStride + slot];
  if (page >= 0 && page < a.numPages)
    return page;
  atomicCAS(a.status, 0, kPagedBadPage);
  return 0;
}

/// Where a CTA's walk is in its sequence's page table: consecutive key
/// tiles mostly share a page, so the entry is read once a page, and the
/// next page's entry is loaded when a page starts (its load is not waited
/// for until the walk reaches that page), keeping the table's latency out
/// of the tile copies.
struct PageCursor {
  int slot = -1, nextEntry = -1;
  i64 page = 0;

  /// The page of slot `s` of sequence b (whose length is a.M).
  __device__ __forceinline__ i64 at(const FlashArgs &a, int b, int s) {
    if (s == slot)
      return page;
    if (s == slot + 1 && nextEntry >= 0 && nextEntry < a.numPages)
      page = nextEntry;
    else
      page = page_of(a, b, s);
    slot = s;
    nextEntry = (s + 1) * a.pageSize < a.M ? a.pageTable[b * a.tableStride + s + 1] : -1;
    return page;
  }
};

/// The launch's arguments for sequence b: M becomes its length (so that
/// the walk, the split ranges and the dropped pairs stop there), checked
/// against max_pages * pageSize (a bad one keeps no key and sets `status`).
__device__ __forceinline__ FlashArgs paged_sequence(const FlashArgs &args, int b, int &status) {
  FlashArgs a = args;
  const int length = args.seqLens[b * args.lensStride];
  const bool ok = length >= 0 && length <= args.M;
  status = ok ? 0 : kPagedBadLength;
  a.M = ok ? length : 0;
  return a;
}

/// Copies the keys [first, first + ROWS) of sequence b into `tile` row by
/// row, each from its page (for pages that a tile straddles): `base` is
/// the kv head's row 0 of page 0, `pageStride` and `rowStride` in
/// elements; keys at or past a.M are zero-filled. A thread's chunks walk
/// its rows in order, so `pages` reads each page's entry once.
template <class Tile, int ROWS, int THREADS>
__device__ __forceinline__ void copy_paged_rows(u32 tile, const u16 *base, i64 pageStride, i64 rowStride,
                                                const FlashArgs &a, int b, int first, int tid, PageCursor &pages) {
  constexpr int kChunks = Tile::kChunks, kTotal = ROWS * kChunks;
#pragma unroll
  for (int i = 0; i < (kTotal + THREADS - 1) / THREADS; ++i) {
    const int c = tid + i * THREADS, r = c / kChunks, chunk = c % kChunks, key = first + r;
    const bool valid = key < a.M && (kTotal % THREADS == 0 || c < kTotal);
    const u16 *src = base;
    if (valid) {
      const int slot = key / a.pageSize;
      src += pages.at(a, b, slot) * pageStride + i64(key - slot * a.pageSize) * rowStride + chunk * 8;
    }
    if (kTotal % THREADS == 0 || c < kTotal)
      cp_async16(tile + 2 * Tile::offset(r, chunk), src, valid);
  }
}

} // namespace attnc_cuda

#endif // ATTNC_CUDA_PAGED_KV_CUH
