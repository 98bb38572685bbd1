//===- split_combine.cuh - merging split-KV partial results ----*- CUDA -*-===//
//
// The second kernel of split-KV (family split_kv): the CTAs of one query
// tile each walked one range of its key tiles and wrote their rows'
// normalised output and lse (FlashArgs::partialOut, partialLse); a warp per
// row merges them. Softmax weighs each part by exp(lse_s - lse), lse taking
// the sink in (where lse is +inf, by its count of +inf scores: softmax's
// limit), the other normalizers sum them; then output_mod, the 16-bit store
// and the row's lse.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_CUDA_SPLIT_COMBINE_CUH
#define ATTNC_CUDA_SPLIT_COMBINE_CUH

#include "attnc/abi.h"        // attnc_normalizer, FlashArgs
#include "attnc/flash_args.h" // kCombineThreads, combine_rows
#include "attnc/primitives.cuh"

namespace attnc_cuda {

template <class V, class C>
__device__ __forceinline__ void combine_splits(const FlashArgs &a, const typename V::Params &P) {
  constexpr bool kSoftmax = V::kNormalizer == ATTNC_NORMALIZE_SOFTMAX;
  // Each lane holds columns 2 * lane + 64 * j of the row (DV is a multiple
  // of 64), read and written in pairs.
  constexpr int kPairs = C::DV / 64;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const i64 rows = combine_rows(a);
  const i64 row = i64(blockIdx.x) * (kCombineThreads / 32) + warp;
  if (row >= rows)
    return;
  const int q = int(row % a.N), bh = int(row / a.N), h = bh % a.H, b = bh / a.H;
  const int splits = a.splits;
  int status = 0;

  // Softmax: the row's lse over all parts, from the parts' own, and the
  // sink's logit (the parts leave it out), which weighs no value.
  float top = neg_inf(), total = 0.f, sink = neg_inf();
  // A part's weight relative to the row's (the same in every lane).
  auto weight = [&](int s) {
    return top == pos_inf() ? a.partialTies[s * rows + row] : ex2((a.partialLse[s * rows + row] - top) * kLog2e);
  };
  if constexpr (kSoftmax) {
    if constexpr (V::kHasSink)
      top = sink = V::sink(b, h, P, status);
    for (int s = lane; s < splits; s += 32)
      top = fmaxf(top, a.partialLse[s * rows + row]);
#pragma unroll
    for (int m = 16; m >= 1; m /= 2)
      top = fmaxf(top, __shfl_xor_sync(0xffffffffu, top, m));
    if (top != neg_inf()) {
      for (int s = lane; s < splits; s += 32)
        total += weight(s);
#pragma unroll
      for (int m = 16; m >= 1; m /= 2)
        total += __shfl_xor_sync(0xffffffffu, total, m);
      if constexpr (V::kHasSink)
        total += limit_ex2(sink * kLog2e, top * kLog2e);
    }
  }
  // The row's statistics for output_mod: lse (with the sink), the sum of
  // the weights (softmax: the keys' share of the total; the other
  // normalizers' parts add their sums, kept where softmax keeps lse).
  float rowLse = top == neg_inf() ? neg_inf() : top + __logf(total), rowSum = 0.f;
  if constexpr (V::kOutputModReadsStats) {
    if constexpr (kSoftmax) {
      const float sinkTerm = V::kHasSink && top != neg_inf() ? limit_ex2(sink * kLog2e, top * kLog2e) : 0.f;
      rowSum = total != 0.f ? (total - sinkTerm) / total : 0.f;
    } else {
      for (int s = lane; s < splits; s += 32)
        rowSum += a.partialLse[s * rows + row];
#pragma unroll
      for (int m = 16; m >= 1; m /= 2)
        rowSum += __shfl_xor_sync(0xffffffffu, rowSum, m);
    }
  }
  float o[kPairs][2];
#pragma unroll
  for (int j = 0; j < kPairs; ++j)
    o[j][0] = o[j][1] = 0.f;
  if (!kSoftmax || top != neg_inf()) {
    const float scale = kSoftmax ? 1.f / total : 1.f;
    for (int s = 0; s < splits; ++s) {
      const float w = kSoftmax ? weight(s) * scale : 1.f;
      const float *part = a.partialOut + (s * rows + row) * C::DV + 2 * lane;
#pragma unroll
      for (int j = 0; j < kPairs; ++j) {
        const F32x2 x = *reinterpret_cast<const F32x2 *>(part + 64 * j);
        o[j][0] = fmaf(w, x.x, o[j][0]);
        o[j][1] = fmaf(w, x.y, o[j][1]);
      }
    }
  }
  u16 *out = a.out + b * a.os[0] + h * a.os[1] + i64(q) * a.os[2] + 2 * lane;
#pragma unroll
  for (int j = 0; j < kPairs; ++j) {
    const int d = 64 * j + 2 * lane;
    float lo = o[j][0], hi = o[j][1];
    if constexpr (V::kHasOutputMod) {
      lo = V::output_mod(lo, b, h, q, d, rowLse, rowSum, P, status);
      hi = V::output_mod(hi, b, h, q, d + 1, rowLse, rowSum, P, status);
    }
    *reinterpret_cast<u32 *>(out + 64 * j) = pack2<C::F16>(lo, hi);
  }
  if constexpr (kSoftmax)
    if (a.lse && lane == 0)
      a.lse[b * a.ls[0] + h * a.ls[1] + q * a.ls[2]] = rowLse;
  if (status)
    atomicCAS(a.status, 0, status);
}

} // namespace attnc_cuda

#endif // ATTNC_CUDA_SPLIT_COMBINE_CUH
