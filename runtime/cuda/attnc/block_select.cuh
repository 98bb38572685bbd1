//===- block_select.cuh - dynamic block selection (MoBA) -------*- CUDA -*-===//
//
// A variant with V::kSelect keeps, per query, the key blocks of its gate's
// top-k (#attn.select, dialect/AttnAttrs.td). Two kernels run before the
// forward kernel and leave it what its walk already reads:
//
//   pool_key_blocks   the f32 sum of each key block per (b, kv head), in
//                     key order (FlashArgs::blockSums);
//   select_blocks     per block-map row (b, h, query tile), the gate of
//                     every candidate block for every row, <q, sum> /
//                     count, the always-kept blocks and the best gates
//                     until top_k; each row's kept blocks as bits
//                     (FlashArgs::selectBits), then the row's block map:
//                     a key tile's class is the mask's (its classifier, or
//                     partial / full without one) min'ed with the
//                     selection's (empty when no row keeps a block of it,
//                     full when every row keeps all of them).
//
// dropPairs ANDs a pair's bit into the mask in partial tiles. The gates are
// the CPU kernels' and the reference's: q as stored, the sums in f32 in key
// order, the dot product in f32 in head-dim order, one IEEE division, a NaN
// gate as -inf, and of equal gates the lower block first (a strict compare
// as blocks arrive in order). On inputs where the sums and products are
// exact (attnc run --check draws such) every backend selects the same.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_CUDA_BLOCK_SELECT_CUH
#define ATTNC_CUDA_BLOCK_SELECT_CUH

#include "attnc/flash_args.h"
#include "attnc/params.cuh" // ElemF16, ElemBF16
#include "attnc/primitives.cuh"
#include "attnc/tile_walker.cuh"

namespace attnc_cuda {

/// A 16-bit element of q or k as f32 (params.cuh's conversions).
template <bool F16> __device__ __forceinline__ float select_element(u16 x) {
  if constexpr (F16)
    return ElemF16::read(&x, 0);
  else
    return ElemBF16::read(&x, 0);
}

/// One CTA of kPoolThreads per (b, kv head, block), threads over the head
/// dim: the block's keys summed in order.
template <class V, class C> __device__ __forceinline__ void pool_key_blocks(const FlashArgs &a) {
  constexpr int BLK = V::kSelectBlock;
  const int hkv = a.H / a.group, blocks = a.selectBlocks;
  const i64 item = blockIdx.x;
  const int c = int(item % blocks), bh = int(item / blocks), hk = bh % hkv, b = bh / hkv;
  const u16 *k = a.k + b * a.ks[0] + hk * a.ks[1];
  const int first = c * BLK, last = min(first + BLK, a.M);
  float *out = a.blockSums + item * C::D;
  for (int d = threadIdx.x; d < C::D; d += kPoolThreads) {
    float sum = 0.f;
#pragma unroll 8
    for (int j = first; j < last; ++j)
      sum += select_element<C::F16>(k[j * a.ks[2] + d]);
    out[d] = sum;
  }
}

/// One CTA of kSelectThreads per block-map row; see the file comment.
template <class V, class C>
__device__ __forceinline__ void select_blocks(const FlashArgs &a, const BlockMapArgs &m, const typename V::Params &P) {
  constexpr int BM = C::BM, D = C::D, K = V::kSelectTopK, BLK = V::kSelectBlock;
  constexpr int CH = kSelectChunk, kWarps = kSelectThreads / 32, kBlocksPerWarp = CH / kWarps;
  constexpr int kRowsPerLane = BM / 32, kQWords = D / 2 + 1, kSumPitch = D + 1, kGatePitch = CH + 1;
  static_assert(BM % 32 == 0 && BM <= kSelectThreads, "a thread per row, 32 rows a pass");
  static_assert(K >= 1 && K <= kSelectMaxTopK && CH % kWarps == 0, "the selection's shape");
  // Blocks of at least 16 keys and tiles of up to 128 (both powers of two):
  // a key tile's blocks lie in one word of a row's bits.
  static_assert(BLK >= 16 && C::BN <= 128 && (BLK & (BLK - 1)) == 0 && (C::BN & (C::BN - 1)) == 0,
                "a tile's blocks in one word");
  extern __shared__ __align__(16) unsigned char select_smem[];
  u32 *qWords = reinterpret_cast<u32 *>(select_smem); // [BM][kQWords]: pairs of q
  float *sums = reinterpret_cast<float *>(qWords + BM * kQWords);
  float *gates = sums + CH * kSumPitch; // [BM][kGatePitch]
  float *bestGate = gates + BM * kGatePitch; // [K][BM], best first
  int *bestBlock = reinterpret_cast<int *>(bestGate + K * BM);

  const int row = int(blockIdx.x), qt = row % a.tilesQ, bh = row / a.tilesQ;
  const int h = bh % a.H, b = bh / a.H, hk = h / a.group, hkv = a.H / a.group;
  const int q0 = qt * BM, rows = min(BM, a.N - q0), blocks = a.selectBlocks;
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;

  // The query tile, rows past N zero.
  const u16 *q = a.q + b * a.qs[0] + h * a.qs[1];
  for (int i = tid; i < BM * (D / 2); i += kSelectThreads) {
    const int r = i / (D / 2), w = i % (D / 2);
    qWords[r * kQWords + w] = r < rows ? reinterpret_cast<const u32 *>(q + i64(q0 + r) * a.qs[2])[w] : 0u;
  }

  // This thread's row (tid < rows): its candidates and always-kept blocks
  // [0, sinks) and [lo, hi] among them (as i64: sinks and local are the
  // user's constants).
  const int i = q0 + min(tid, rows - 1), current = i / BLK;
  const int candidates = V::kSelectCausal ? min(blocks, current + 1) : blocks;
  const int sinkEnd = int(min(i64(candidates), i64(V::kSelectSinks)));
  const int lo = int(max(i64(0), i64(current) - V::kSelectLocal));
  const int hi = int(min(i64(candidates) - 1, i64(current) + V::kSelectLocal));
  auto always = [&](int c) { return c < sinkEnd || (c >= lo && c <= hi); };
  int best = 0; // entries in this row's list
  const int lastCandidates = V::kSelectCausal ? min(blocks, (q0 + rows - 1) / BLK + 1) : blocks;

  const float *blockSums = a.blockSums + i64(b * hkv + hk) * blocks * D;
  for (int c0 = 0; c0 < lastCandidates; c0 += CH) {
    __syncthreads(); // the previous chunk's sums and gates are used
    for (int e = tid; e < CH * D; e += kSelectThreads) {
      const int j = e / D, d = e % D;
      sums[j * kSumPitch + d] = c0 + j < lastCandidates ? blockSums[i64(c0 + j) * D + d] : 0.f;
    }
    __syncthreads();
    // kRowsPerLane rows (lane + 32 r) by kBlocksPerWarp blocks a thread:
    // the lanes of a warp read one block's sums at once.
    float dot[kRowsPerLane][kBlocksPerWarp] = {};
#pragma unroll 4
    for (int w = 0; w < D / 2; ++w) {
      float q2[kRowsPerLane][2];
#pragma unroll
      for (int r = 0; r < kRowsPerLane; ++r) {
        const u32 pair = qWords[(lane + 32 * r) * kQWords + w];
        q2[r][0] = select_element<C::F16>(u16(pair & 0xffffu));
        q2[r][1] = select_element<C::F16>(u16(pair >> 16));
      }
#pragma unroll
      for (int j = 0; j < kBlocksPerWarp; ++j) {
        const float s0 = sums[(warp * kBlocksPerWarp + j) * kSumPitch + 2 * w];
        const float s1 = sums[(warp * kBlocksPerWarp + j) * kSumPitch + 2 * w + 1];
#pragma unroll
        for (int r = 0; r < kRowsPerLane; ++r)
          dot[r][j] = fmaf(q2[r][1], s1, fmaf(q2[r][0], s0, dot[r][j]));
      }
    }
#pragma unroll
    for (int j = 0; j < kBlocksPerWarp; ++j) {
      const int c = c0 + warp * kBlocksPerWarp + j;
      const float count = float(max(1, min(BLK, a.M - c * BLK)));
#pragma unroll
      for (int r = 0; r < kRowsPerLane; ++r) {
        const float gate = __fdiv_rn(dot[r][j], count);
        gates[(lane + 32 * r) * kGatePitch + warp * kBlocksPerWarp + j] = gate != gate ? neg_inf() : gate;
      }
    }
    __syncthreads();
    // Each row's thread merges the chunk into its sorted list.
    if (tid < rows) {
      for (int j = 0; j < CH && c0 + j < candidates; ++j) {
        const int c = c0 + j;
        const float gate = gates[tid * kGatePitch + j];
        if (always(c) || (best == K && !(gate > bestGate[(K - 1) * BM + tid])))
          continue;
        int at = min(best, K - 1);
        for (; at > 0 && gate > bestGate[(at - 1) * BM + tid]; --at) {
          bestGate[at * BM + tid] = bestGate[(at - 1) * BM + tid];
          bestBlock[at * BM + tid] = bestBlock[(at - 1) * BM + tid];
        }
        bestGate[at * BM + tid] = gate;
        bestBlock[at * BM + tid] = c;
        best = min(best + 1, K);
      }
    }
  }

  // The rows' bits: cleared, then each row's thread sets its own.
  const int words = a.selectWords;
  u32 *bits = a.selectBits + (i64(bh) * a.N + q0) * words;
  for (int e = tid; e < rows * words; e += kSelectThreads)
    bits[e] = 0u;
  __syncthreads();
  if (tid < rows) {
    u32 *mine = bits + i64(tid) * words;
    auto keep = [&](int c) { mine[c / 32] |= 1u << (c % 32); };
    for (int c = 0; c < sinkEnd; ++c)
      keep(c);
    for (int c = lo; c <= hi; ++c)
      keep(c);
    const int alwaysKept = sinkEnd + max(0, hi - max(lo, sinkEnd) + 1);
    const int take = min(best, max(0, K - alwaysKept));
    for (int e = 0; e < take; ++e)
      keep(bestBlock[e * BM + tid]);
  }
  __syncthreads(); // the bits are read across rows below

  // The row's block map: the mask's class min'ed with the selection's.
  constexpr int kTileBlocks = C::BN >= BLK ? C::BN / BLK : 1;
  const int qFirst = q0, qLast = q0 + rows - 1;
  int status = 0;
  write_block_map_row<kSelectThreads>(m.blockList + i64(row) * m.tilesKv, m.blockCount + row, m.tilesKv, [&](int t) {
    int cls = V::kHasMask ? 1 : 2;
    if constexpr (V::kHasTileClass)
      cls = classify_tiles<V, C>(P, b, h, qFirst, qLast, t, 1, a.M, a.tilesKv, status);
    if (cls == 0)
      return 0;
    const int first = t * C::BN / BLK;
    const u32 want = (kTileBlocks == 32 ? ~0u : (1u << kTileBlocks) - 1) << (first % 32);
    bool any = false, all = true;
    for (int r = 0; r < rows; ++r) {
      const u32 got = bits[i64(r) * words + first / 32] & want;
      any |= got != 0;
      all &= got == want;
    }
    return any ? min(cls, all ? 2 : 1) : 0;
  });
  if (status)
    atomicCAS(a.status, 0, status);
}

} // namespace attnc_cuda

#endif // ATTNC_CUDA_BLOCK_SELECT_CUH
