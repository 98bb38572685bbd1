//===- sm80_backward.cuh - the backward kernels for sm_80 and up -*- CUDA -*-===//
//
// FlashAttention-2's backward with mma.sync, for a differentiated variant
// (V::score_mod_grad, V::output_mod_grad, V::sink_grad; float params'
// gradients through accumulate_grad into a thread's GradSums), in three
// kernels on BackwardArgs (after the recomputing forward, where the host
// runs it: Config's RECOMPUTE):
//   backward_rows      a warp per query row: dO through output_mod's
//                      gradient, delta = rowsum(dO * O), the row's lse in
//                      base 2 (+inf for a row with nothing kept, so that
//                      its weights come out 0), a sink's gradient;
//   FlashBackward      a CTA per (b, kv head, key tile): K and V resident,
//                      the query tiles of every head of the group streamed
//                      through (only those the tile classifier keeps), dK
//                      and dV in registers (deterministic, summed over the
//                      group), dQ added to an f32 buffer with atomics
//                      (in deterministic mode, by key tile in turn);
//   backward_dq        the f32 dq scaled and stored in the 16-bit type.
// Per pair it recomputes S = Q K^T, the score_mod, the mask and the weight
// p from the saved lse, and dP = dO V^T; du by the normalizer (softmax: p
// (dP - delta)), then score_mod_grad back to the raw score.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_CUDA_SM80_BACKWARD_CUH
#define ATTNC_CUDA_SM80_BACKWARD_CUH

#include "attnc/abi.h"        // BackwardArgs, GradSlot
#include "attnc/flash_args.h" // backward_shared_bytes
#include "attnc/primitives.cuh"
#include "attnc/smem_tiles.cuh"

namespace attnc_cuda {

__device__ __forceinline__ void red_add(float *p, float v) {
  asm volatile("red.global.add.f32 [%0], %1;" ::"l"(p), "f"(v) : "memory");
}
/// p[0] += x, p[1] += y (p 8-byte aligned).
__device__ __forceinline__ void red_add2(float *p, float x, float y) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("red.global.add.v2.f32 [%0], {%1, %2};" ::"l"(p), "f"(x), "f"(y) : "memory");
#else
  red_add(p, x);
  red_add(p + 1, y);
#endif
}

/// Deterministic dq: a key tile waits for its turn at a query tile (the
/// count of key tiles before it that add there), adds, then passes the
/// turn on, with its additions visible GPU-wide first.
__device__ __forceinline__ void wait_turn(const int *turn, int value) {
  int now;
  for (;;) {
    asm volatile("ld.acquire.gpu.global.b32 %0, [%1];" : "=r"(now) : "l"(turn) : "memory");
    if (now == value)
      return;
    __nanosleep(64);
  }
}
__device__ __forceinline__ void pass_turn(int *turn) {
  __threadfence();
  atomicAdd(turn, 1);
}

/// A float param's gradient as one thread adds to it: the element it added
/// to last and what it has not written yet, so that the pairs that add to
/// one element (a per-head slope, a scalar) sum in a register and write
/// once, when the element changes or the kernel ends (flush).
struct GradSum {
  float *ptr; // null: no gradient asked for
  i64 offset;
  float sum;
  __device__ __forceinline__ void flush() {
    if (ptr && offset >= 0 && sum != 0.f)
      red_add(ptr + offset, sum);
    sum = 0.f;
  }
};
template <int N> struct GradSums {
  GradSum g[N];
  __device__ __forceinline__ explicit GradSums(const GradSlot (&slots)[N]) {
#pragma unroll
    for (int i = 0; i < N; ++i)
      g[i] = GradSum{slots[i].ptr, -1, 0.f};
  }
  __device__ __forceinline__ void flush() {
#pragma unroll
    for (int i = 0; i < N; ++i)
      g[i].flush();
  }
};

/// Adds `value` to a float param's gradient at `idx` (attn.accumulate):
/// nothing when the caller asked for no gradient, or when the index is out
/// of bounds (the forward's read reports it). The gradient is f32 and
/// contiguous in the param's shape.
template <class... I>
__device__ __forceinline__ void accumulate_grad(GradSum &g, const ParamSlot &s, float value, I... idx) {
  if (!g.ptr)
    return;
  const i64 ix[] = {i64(idx)..., 0};
  i64 offset = 0;
  bool ok = true;
#pragma unroll
  for (int d = 0; d < int(sizeof...(I)); ++d) {
    ok &= u64(ix[d]) < u64(s.size[d]);
    offset = offset * s.size[d] + ix[d];
  }
  offset = ok ? offset : -1;
  if (offset != g.offset) {
    g.flush();
    g.offset = offset;
  }
  g.sum += value;
}

/// The backward's shape (flash_args.h has its numbers): KF m16 fragments
/// of keys per warp; dQ's product splits the query tile's rows into kRowGroups
/// of 16 and its columns into kColGroups, a warp each.
template <int D_, int DV_, int BM_, int BN_, int NW_, bool F16_> struct BackwardConfig {
  static constexpr int D = D_, DV = DV_, BM = BM_, BN = BN_;
  static constexpr bool F16 = F16_;
  static constexpr int NW = NW_, kThreads = NW * 32;
  static constexpr int KF = BN / (16 * NW);
  static_assert(KF >= 1 && KF * 16 * NW == BN, "BN is a multiple of 16 * warps");
  static constexpr int kRowGroups = BM / 16, kColGroups = NW / kRowGroups;
  static_assert(kRowGroups * kColGroups == NW && D % (16 * kColGroups) == 0, "dQ's warps tile BM x D");
  typedef StreamedTile<D> QTile;
  typedef StreamedTile<D> KTile;
  typedef StreamedTile<DV> VTile;
  typedef StreamedTile<DV> OTile; // dO
  typedef StreamedTile<BM> STile; // dS, [key][query]
  static constexpr int kSmemBytes = 2 * (KTile::elements(BN) + VTile::elements(BN) + 2 * QTile::elements(BM) +
                                         2 * OTile::elements(BM) + STile::elements(BN)) +
                                    4 * 4 * BM;
  static_assert(kSmemBytes == backward_shared_bytes(D, DV, BM, BN), "the host sizes the launch by this");
};

/// The preprocessing, a warp per row (b, h, q) of the forward's output.
template <class V, class C>
__device__ __forceinline__ void backward_rows(const BackwardArgs &a, const typename V::Params &P,
                                              const typename V::Grads &grads) {
  constexpr int DV = C::DV;
  const FlashArgs &f = a.f;
  const i64 row = i64(blockIdx.x) * (kBwdRowThreads / 32) + threadIdx.x / 32;
  if (row >= i64(f.B) * f.H * f.N)
    return;
  const int lane = threadIdx.x % 32, q = int(row % f.N), h = int(row / f.N % f.H), b = int(row / f.N / f.H);
  int status = 0;
  typename V::GradSums G(grads.g);
  // The row's statistics, where output statements read them: lse as the
  // forward saved it, row_sum from the recomputation.
  float lse = 0.f, rowSum = 0.f;
  if constexpr (V::kOutputModReadsStats) {
    if constexpr (V::kNormalizer == ATTNC_NORMALIZE_SOFTMAX)
      lse = f.lse[b * f.ls[0] + h * f.ls[1] + q * f.ls[2]];
    rowSum = f.partialLse[row];
  }
  // delta = rowsum(dO * O), and the adjoints of lse and row_sum summed
  // over the row.
  float delta = 0.f, dLse = 0.f, dRowSum = 0.f;
  const u16 *g = a.dout + b * a.dos[0] + h * a.dos[1] + q * a.dos[2];
  const u16 *out = f.out + b * f.os[0] + h * f.os[1] + q * f.os[2];
  const float *recomputed = f.partialOut ? f.partialOut + row * DV : nullptr;
  for (int d = lane * 2; d < DV; d += 64) {
    float o[2], dO[2];
    const u32 gw = *reinterpret_cast<const u32 *>(g + d);
    dO[0] = unpack_lo<C::F16>(gw), dO[1] = unpack_hi<C::F16>(gw);
    if (recomputed) {
      o[0] = recomputed[d], o[1] = recomputed[d + 1];
    } else {
      const u32 ow = *reinterpret_cast<const u32 *>(out + d);
      o[0] = unpack_lo<C::F16>(ow), o[1] = unpack_hi<C::F16>(ow);
    }
    if constexpr (V::kHasOutputMod) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        if constexpr (V::kOutputModReadsStats) {
          dLse += V::output_mod_lse_grad(G, o[e], b, h, q, d + e, lse, rowSum, dO[e], P, status);
          dRowSum += V::output_mod_row_sum_grad(G, o[e], b, h, q, d + e, lse, rowSum, dO[e], P, status);
        }
        dO[e] = V::output_mod_grad(G, o[e], b, h, q, d + e, lse, rowSum, dO[e], P, status);
      }
      *reinterpret_cast<u32 *>(a.dopre + row * DV + d) = pack2<C::F16>(dO[0], dO[1]);
    }
    delta += dO[0] * o[0] + dO[1] * o[1];
  }
#pragma unroll
  for (int m = 16; m >= 1; m /= 2) {
    delta += __shfl_xor_sync(0xffffffffu, delta, m);
    if constexpr (V::kOutputModReadsStats) {
      dLse += __shfl_xor_sync(0xffffffffu, dLse, m);
      dRowSum += __shfl_xor_sync(0xffffffffu, dRowSum, m);
    }
  }
  // The row's delta as the pairs take it. Softmax: lse and every weight
  // move together, du = p (dp + dL/drow_sum - (delta + row_sum dL/drow_sum
  // - dL/dlse)); the other normalizers: dp + dL/drow_sum (weightGrad).
  if constexpr (V::kOutputModReadsStats) {
    if constexpr (V::kNormalizer == ATTNC_NORMALIZE_SOFTMAX)
      delta = delta + dRowSum * (rowSum - 1.f) - dLse;
    else
      delta = dRowSum;
  }
  if (lane == 0) {
    const i64 at = (i64(b) * f.H + h) * backward_row_pitch(f.N, C::BM) + q;
    a.delta[at] = delta;
    if constexpr (V::kNormalizer == ATTNC_NORMALIZE_SOFTMAX) {
      const float rowLse = f.lse[b * f.ls[0] + h * f.ls[1] + q * f.ls[2]];
      // Base 2, +inf for a row with nothing kept: exp2(u - inf) is 0.
      a.lse2[at] = rowLse == neg_inf() ? -neg_inf() : rowLse * kLog2e;
      // The sink's weight exp(sink - lse) moves against every key's:
      // dL/dsink = -exp(sink - lse) * (delta + dL/drow_sum), then through
      // sink_grad.
      if constexpr (V::kHasSink) {
        const float weight = rowLse == neg_inf() ? 0.f : __expf(V::sink(b, h, P, status) - rowLse);
        V::sink_grad(G, b, h, -weight * (delta + dRowSum), P, status);
      }
    }
  }
  G.flush();
  if (status)
    atomicCAS(f.status, 0, status);
}

/// dq = scale * dqAccum in the 16-bit type, a thread per pair of values.
template <class V, class C> __device__ __forceinline__ void backward_dq(const BackwardArgs &a) {
  constexpr int D = C::D;
  const FlashArgs &f = a.f;
  const i64 pair = i64(blockIdx.x) * kBwdRowThreads + threadIdx.x;
  if (pair >= i64(f.B) * f.H * f.N * (D / 2))
    return;
  const i64 row = pair / (D / 2);
  const int d = int(pair % (D / 2)) * 2, q = int(row % f.N), h = int(row / f.N % f.H), b = int(row / f.N / f.H);
  const F32x2 x = *reinterpret_cast<const F32x2 *>(a.dqAccum + row * D + d);
  *reinterpret_cast<u32 *>(a.dq + b * a.dqs[0] + h * a.dqs[1] + q * a.dqs[2] + d) =
      pack2<C::F16>(x.x * V::kScale, x.y * V::kScale);
}

template <class V, class C> struct FlashBackward {
  static constexpr int D = C::D, DV = C::DV, BM = C::BM, BN = C::BN, KF = C::KF, NT = C::kThreads;
  typedef typename C::QTile QTile;
  typedef typename C::KTile KTile;
  typedef typename C::VTile VTile;
  typedef typename C::OTile OTile;
  typedef typename C::STile STile;

  /// Fragment element e of key fragment kf and query fragment nf of a
  /// warp's S^T: key row keyOf, query column queryOf (the m16n8 layout, rows
  /// being keys).
  static __device__ __forceinline__ int keyOf(int warp, int lane, int kf, int half) {
    return (warp * KF + kf) * 16 + (lane >> 2) + half * 8;
  }
  static __device__ __forceinline__ int queryOf(int lane, int nf, int e) { return nf * 8 + (lane & 3) * 2 + (e & 1); }

  static __device__ __forceinline__ void mma2(float (&c0)[4], float (&c1)[4], const u32 (&a)[4], const u32 (&b)[4]) {
    mma16816<C::F16>(c0, a, b[0], b[1]);
    mma16816<C::F16>(c1, a, b[2], b[3]);
  }

  /// X[kf][nf] = A B^T over `K` columns: A the warp's key rows of a tile
  /// (sA, [key][k]), B the query tile (sB, [query][k]).
  template <class ATile, class BTile, int K>
  static __device__ __forceinline__ void keyQueryProduct(float (&X)[KF][BM / 8][4], const u16 *sA, const u16 *sB,
                                                         int warp, int lane) {
#pragma unroll
    for (int kf = 0; kf < KF; ++kf)
#pragma unroll
      for (int nf = 0; nf < BM / 8; ++nf)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          X[kf][nf][e] = 0.f;
    u32 aAddr = opaque(smem_addr(sA + ATile::offset(warp * KF * 16 + (lane & 7) + ((lane >> 3) & 1) * 8, lane >> 4)));
    u32 bAddr = opaque(smem_addr(sB + BTile::offset((lane & 7) + (lane >> 4) * 8, (lane >> 3) & 1)));
#pragma unroll
    for (int k = 0; k < K / 16; ++k) {
      u32 A[KF][4];
#pragma unroll
      for (int kf = 0; kf < KF; ++kf)
        ldmatrix_x4(A[kf], ATile::at(aAddr, kf * 16, k * 2));
#pragma unroll
      for (int np = 0; np < BM / 16; ++np) {
        u32 Bf[4];
        ldmatrix_x4(Bf, BTile::at(bAddr, np * 16, k * 2));
#pragma unroll
        for (int kf = 0; kf < KF; ++kf)
          mma2(X[kf][2 * np], X[kf][2 * np + 1], A[kf], Bf);
      }
    }
  }

  /// Acc[kf] += X^T-packed (the warp's key rows, queries as k) times the
  /// query tile sB ([query][N]): dV += P^T dO, dK += dS^T Q.
  template <class BTile, int N>
  static __device__ __forceinline__ void accumulateKeys(float (&Acc)[KF][N / 8][4], const float (&X)[KF][BM / 8][4],
                                                        const u16 *sB, int lane) {
    u32 Xk[KF][BM / 16][4];
#pragma unroll
    for (int kf = 0; kf < KF; ++kf)
#pragma unroll
      for (int nf = 0; nf < BM / 8; ++nf) {
        Xk[kf][nf / 2][(nf & 1) * 2] = pack2<C::F16>(X[kf][nf][0], X[kf][nf][1]);
        Xk[kf][nf / 2][(nf & 1) * 2 + 1] = pack2<C::F16>(X[kf][nf][2], X[kf][nf][3]);
      }
    u32 bAddr = opaque(smem_addr(sB + BTile::offset((lane & 7) + ((lane >> 3) & 1) * 8, lane >> 4)));
#pragma unroll
    for (int j = 0; j < BM / 16; ++j)
#pragma unroll
      for (int dp = 0; dp < N / 16; ++dp) {
        u32 Bf[4];
        ldmatrix_x4_trans(Bf, BTile::at(bAddr, j * 16, dp * 2));
#pragma unroll
        for (int kf = 0; kf < KF; ++kf)
          mma2(Acc[kf][2 * dp], Acc[kf][2 * dp + 1], Xk[kf][j], Bf);
      }
  }

  /// A pair's weight by the normalizer from its normalized score u
  /// (softmax: from the row's lse in base 2), and dL/d(the pair's score
  /// before the temperature) from its weight and dL/dp (softmax: with the
  /// row's delta). relu's p > 0 is u > 0.
  static __device__ __forceinline__ float weightOf(float u, float lse2) {
    if constexpr (V::kNormalizer == ATTNC_NORMALIZE_SOFTMAX)
      return ex2(u * kLog2e - lse2);
    else if constexpr (V::kNormalizer == ATTNC_NORMALIZE_SIGMOID)
      return __fdividef(1.f, 1.f + ex2(-u * kLog2e));
    else if constexpr (V::kNormalizer == ATTNC_NORMALIZE_RELU)
      return fmaxf(u, 0.f);
    else
      return u;
  }
  static __device__ __forceinline__ float weightGrad(float p, float dp, float delta) {
    // The normalizers other than softmax: where output statements read
    // row_sum, every weight adds to it, and delta is dL/drow_sum.
    if constexpr (V::kNormalizer != ATTNC_NORMALIZE_SOFTMAX && V::kOutputModReadsStats)
      dp += delta;
    float du;
    if constexpr (V::kNormalizer == ATTNC_NORMALIZE_SOFTMAX)
      du = p * (dp - delta);
    else if constexpr (V::kNormalizer == ATTNC_NORMALIZE_SIGMOID)
      du = dp * p * (1.f - p);
    else if constexpr (V::kNormalizer == ATTNC_NORMALIZE_RELU)
      du = p > 0.f ? dp : 0.f;
    else
      du = dp;
    return du * V::kInvTemperature;
  }

  /// The mask's per-row and per-key values for a warp's fragments (made
  /// only for a partial tile), and whether it keeps the pair at fragment
  /// element (kf, nf, e): in the tensors, and where the tile is partial, by
  /// the mask.
  struct MaskState {
    typename V::MaskRow rows[BM / 8][2];
    typename V::MaskCol cols[KF][2];
    bool partial;
    __device__ __forceinline__ MaskState(bool partial, int warp, int lane, int b, int h, int q0, int kv0,
                                         const FlashArgs &f, const typename V::Params &P, int &status)
        : partial(partial) {
      if constexpr (V::kHasMask)
        if (partial) {
#pragma unroll
          for (int nf = 0; nf < BM / 8; ++nf)
#pragma unroll
            for (int j = 0; j < 2; ++j)
              V::mask_row(rows[nf][j], b, h, min(q0 + queryOf(lane, nf, j), f.N - 1), P, status);
#pragma unroll
          for (int kf = 0; kf < KF; ++kf)
#pragma unroll
            for (int half = 0; half < 2; ++half)
              V::mask_col(cols[kf][half], b, h, min(kv0 + keyOf(warp, lane, kf, half), f.M - 1), P, status);
        }
    }
    __device__ __forceinline__ bool keeps(int kf, int nf, int e, int warp, int lane, int b, int h, int q0, int kv0,
                                          const FlashArgs &f, const typename V::Params &P, int &status) const {
      const int q = q0 + queryOf(lane, nf, e), kv = kv0 + keyOf(warp, lane, kf, e >> 1);
      bool k = q < f.N && kv < f.M;
      if constexpr (V::kHasMask)
        if (partial)
          k &= V::mask(rows[nf][e & 1], cols[kf][e >> 1], b, h, min(q, f.N - 1), min(kv, f.M - 1), P, status);
      return k;
    }
  };

  /// Every pair's MaskState::keeps, as bit 4 nf + e of kf's word.
  static __device__ __forceinline__ void keptPairs(u32 (&keep)[KF], int warp, int lane, int b, int h, int q0,
                                                   int kv0, bool partial, const FlashArgs &f,
                                                   const typename V::Params &P, int &status) {
    const MaskState m(partial, warp, lane, b, h, q0, kv0, f, P, status);
#pragma unroll
    for (int kf = 0; kf < KF; ++kf) {
      keep[kf] = 0;
#pragma unroll
      for (int nf = 0; nf < BM / 8; ++nf)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          keep[kf] |= u32(m.keeps(kf, nf, e, warp, lane, b, h, q0, kv0, f, P, status)) << (nf * 4 + e);
    }
  }

  /// Whether keptPairs kept the pair at fragment element (kf, nf, e).
  static __device__ __forceinline__ bool kept(const u32 (&keep)[KF], int kf, int nf, int e) {
    return keep[kf] >> (nf * 4 + e) & 1;
  }

  /// The score_mod's per-row and per-key values for a warp's fragments.
  struct ScoreState {
    typename V::ScoreRow rows[BM / 8][2];
    typename V::ScoreCol cols[KF][2];
    __device__ __forceinline__ ScoreState(int warp, int lane, int b, int h, int q0, int kv0, const FlashArgs &f,
                                          const typename V::Params &P, int &status) {
      if constexpr (V::kHasScoreMod) {
#pragma unroll
        for (int nf = 0; nf < BM / 8; ++nf)
#pragma unroll
          for (int j = 0; j < 2; ++j)
            V::score_mod_row(rows[nf][j], b, h, min(q0 + queryOf(lane, nf, j), f.N - 1), P, status);
#pragma unroll
        for (int kf = 0; kf < KF; ++kf)
#pragma unroll
          for (int half = 0; half < 2; ++half)
            V::score_mod_col(cols[kf][half], b, h, min(kv0 + keyOf(warp, lane, kf, half), f.M - 1), P, status);
      }
    }
  };

  /// One pair at fragment element (kf, nf, e): its weight from the raw
  /// score, and dS = dL/d(raw score) from the weight and dL/dp, 0 for a
  /// pair not kept (which adds nothing to the params' gradients: its score
  /// may be infinite).
  static __device__ __forceinline__ float pairWeight(const ScoreState &st, float raw, const float *sLse, int kf,
                                                     int nf, int e, int warp, int lane, int b, int h, int q0,
                                                     int kv0, const FlashArgs &f, const typename V::Params &P,
                                                     int &status) {
    const int qi = queryOf(lane, nf, e);
    float s = raw;
    if constexpr (V::kHasScoreMod)
      s = V::score_mod(st.rows[nf][e & 1], st.cols[kf][e >> 1], raw, b, h, min(q0 + qi, f.N - 1),
                       min(kv0 + keyOf(warp, lane, kf, e >> 1), f.M - 1), P, status);
    return weightOf(s * V::kInvTemperature + V::kBias, sLse[qi]);
  }
  static __device__ __forceinline__ float pairGrad(bool keep, float raw, float p, float dp, const float *sDelta,
                                                   int kf, int nf, int e, int warp, int lane, int b, int h, int q0,
                                                   int kv0, const FlashArgs &f, const typename V::Params &P,
                                                   typename V::GradSums &G, int &status) {
    const int qi = queryOf(lane, nf, e);
    const float du = weightGrad(p, dp, sDelta[qi]);
    if (!keep)
      return 0.f;
    if constexpr (V::kHasScoreMod)
      return V::score_mod_grad(G, raw, b, h, min(q0 + qi, f.N - 1), min(kv0 + keyOf(warp, lane, kf, e >> 1), f.M - 1),
                               du, P, status);
    return du;
  }

  /// The pairs of one (key tile, query tile) in two halves, for variants
  /// without a score_mod (kSplitPairs), so that the weights can be computed
  /// while dP's product is still running: S (raw products) becomes the
  /// weights p, then dP becomes dS. (With a score_mod the halves spill
  /// registers, even where its gradient does not read the raw score.)
  static constexpr bool kSplitPairs = !V::kHasScoreMod;
  static __device__ __forceinline__ void weights(float (&S)[KF][BM / 8][4], const u32 (&keep)[KF], const float *sLse,
                                                 int warp, int lane, int b, int h, int q0, int kv0, const FlashArgs &f,
                                                 const typename V::Params &P, int &status) {
    static_assert(kSplitPairs, "pairs() keeps the raw score for score_mod_grad");
    const ScoreState st(warp, lane, b, h, q0, kv0, f, P, status);
#pragma unroll
    for (int kf = 0; kf < KF; ++kf)
#pragma unroll
      for (int nf = 0; nf < BM / 8; ++nf)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const float p =
              pairWeight(st, S[kf][nf][e] * V::kScale, sLse, kf, nf, e, warp, lane, b, h, q0, kv0, f, P, status);
          S[kf][nf][e] = kept(keep, kf, nf, e) ? p : 0.f;
        }
  }
  static __device__ __forceinline__ void weightGrads(const float (&S)[KF][BM / 8][4], float (&dP)[KF][BM / 8][4],
                                                     const u32 (&keep)[KF], const float *sDelta, int warp, int lane,
                                                     int b, int h, int q0, int kv0, const FlashArgs &f,
                                                     const typename V::Params &P, typename V::GradSums &G,
                                                     int &status) {
#pragma unroll
    for (int kf = 0; kf < KF; ++kf)
#pragma unroll
      for (int nf = 0; nf < BM / 8; ++nf)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          dP[kf][nf][e] = pairGrad(kept(keep, kf, nf, e), 0.f, S[kf][nf][e], dP[kf][nf][e], sDelta, kf, nf, e, warp,
                                   lane, b, h, q0, kv0, f, P, G, status);
  }

  /// Both at once, a pair at a time (the raw score lives in a register).
  static __device__ __forceinline__ void pairs(float (&S)[KF][BM / 8][4], float (&dP)[KF][BM / 8][4],
                                               const float *sLse, const float *sDelta, int warp, int lane, int b,
                                               int h, int q0, int kv0, bool partial, const BackwardArgs &a,
                                               const typename V::Params &P, typename V::GradSums &G,
                                               int &status) {
    const FlashArgs &f = a.f;
    const ScoreState st(warp, lane, b, h, q0, kv0, f, P, status);
    const MaskState m(partial, warp, lane, b, h, q0, kv0, f, P, status);
#pragma unroll
    for (int kf = 0; kf < KF; ++kf)
#pragma unroll
      for (int nf = 0; nf < BM / 8; ++nf)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const bool k = m.keeps(kf, nf, e, warp, lane, b, h, q0, kv0, f, P, status);
          const float raw = S[kf][nf][e] * V::kScale;
          const float p = pairWeight(st, raw, sLse, kf, nf, e, warp, lane, b, h, q0, kv0, f, P, status);
          dP[kf][nf][e] = pairGrad(k, raw, p, dP[kf][nf][e], sDelta, kf, nf, e, warp, lane, b, h, q0, kv0, f, P, G,
                                   status);
          S[kf][nf][e] = k ? p : 0.f;
        }
  }

  /// dQ += dS K for this warp's part of the query tile (kRowGroups x
  /// kColGroups), added to the f32 dqAccum.
  static __device__ __forceinline__ void addQueryGrads(const u16 *sS, const u16 *sK, int warp, int lane, int b, int h,
                                                       int q0, const BackwardArgs &a) {
    constexpr int kCols = D / C::kColGroups;
    const int rg = warp % C::kRowGroups, cg = warp / C::kRowGroups;
    float dQ[kCols / 8][4];
#pragma unroll
    for (int n = 0; n < kCols / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        dQ[n][e] = 0.f;
    u32 sAddr = opaque(smem_addr(sS + STile::offset((lane & 7) + (lane >> 4) * 8, (lane >> 3) & 1)));
    u32 kAddr = opaque(smem_addr(sK + KTile::offset((lane & 7) + ((lane >> 3) & 1) * 8, lane >> 4)));
#pragma unroll
    for (int k = 0; k < BN / 16; ++k) {
      u32 A[4];
      ldmatrix_x4_trans(A, STile::at(sAddr, k * 16, rg * 2));
#pragma unroll
      for (int dp = 0; dp < kCols / 16; ++dp) {
        u32 Bf[4];
        ldmatrix_x4_trans(Bf, KTile::at(kAddr, k * 16, cg * kCols / 8 + dp * 2));
        mma2(dQ[2 * dp], dQ[2 * dp + 1], A, Bf);
      }
    }
    const FlashArgs &f = a.f;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int q = q0 + rg * 16 + (lane >> 2) + half * 8;
      if (q >= f.N)
        continue;
      float *row = a.dqAccum + ((i64(b) * f.H + h) * f.N + q) * D + cg * kCols + (lane & 3) * 2;
#pragma unroll
      for (int n = 0; n < kCols / 8; ++n)
        red_add2(row + n * 8, dQ[n][half * 2], dQ[n][half * 2 + 1]);
    }
  }

  /// The key tiles before kt that meet query tile qt of head h (which add
  /// to its dq first in deterministic mode): a warp's ballots over the tile
  /// classifier, 32 tiles at a time.
  static __device__ __forceinline__ int tilesBefore(const BackwardArgs &a, const typename V::Params &P, int b, int h,
                                                    int qt, int kt, int &status) {
    if constexpr (!V::kHasTileClass) {
      return kt;
    } else {
      const FlashArgs &f = a.f;
      int n = 0;
      for (int first = 0; first < kt; first += 32) {
        const int t = first + int(threadIdx.x % 32);
        const int cls = t < kt ? V::tile_class(b, h, qt * BM, min(qt * BM + BM, f.N) - 1, t * BN,
                                               min(t * BN + BN, f.M) - 1, P, status)
                               : 0;
        n += __popc(__ballot_sync(0xffffffffu, cls != 0));
      }
      return n;
    }
  }
  /// Where query tile qt of (b, h) counts its turns.
  static __device__ __forceinline__ int *turnOf(const BackwardArgs &a, int b, int h, int qt) {
    return a.dqTurns + (i64(b) * a.f.H + h) * a.tilesQ + qt;
  }

  /// The query tiles a key tile meets, over the heads of its group: codes
  /// (head in group * tilesQ + query tile) * 2 + (1 if partial), from the
  /// tile classifier, 32 query tiles a warp's ballot.
  struct QueryWalk {
    const BackwardArgs &a;
    const typename V::Params &P;
    int b, hk, kvFirst, kvLast, next_ = 0, end;
    u32 kept = 0, partial = 0;
    int &status;
    __device__ QueryWalk(const BackwardArgs &a, const typename V::Params &P, int b, int hk, int kv0, int &status)
        : a(a), P(P), b(b), hk(hk), kvFirst(kv0), kvLast(min(kv0 + BN, a.f.M) - 1),
          end(a.f.group * a.tilesQ), status(status) {}
    __device__ __forceinline__ int next() {
      while (kept == 0) {
        if (next_ >= end)
          return -1;
        const int t = next_ + int(threadIdx.x % 32);
        int cls = 0;
        if (t < end) {
          const int g = t / a.tilesQ, qt = t % a.tilesQ, h = hk * a.f.group + g;
          cls = V::kHasMask ? 1 : 2;
          if constexpr (V::kHasTileClass)
            cls = V::tile_class(b, h, qt * BM, min(qt * BM + BM, a.f.N) - 1, kvFirst, kvLast, P, status);
        }
        kept = __ballot_sync(0xffffffffu, cls != 0);
        partial = __ballot_sync(0xffffffffu, cls == 1);
        next_ += 32;
      }
      const int i = __ffs(kept) - 1;
      kept &= kept - 1;
      return (next_ - 32 + i) * 2 + int(partial >> i & 1);
    }
  };

  static __device__ __forceinline__ void issue(int code, int slot, const BackwardArgs &a, int b, int hk, u16 *sQ,
                                               u16 *sO, float *sLse, float *sDelta) {
    if (code >= 0) {
      const FlashArgs &f = a.f;
      const int t = code >> 1, h = hk * f.group + t / a.tilesQ, q0 = t % a.tilesQ * BM;
      const int tid = opaque(int(threadIdx.x));
      TileCopy<QTile, BM, NT>(f.q + b * f.qs[0] + h * f.qs[1], f.qs[2], tid)(
          smem_addr(sQ + slot * QTile::elements(BM)), q0, f.N);
      const u16 *dO = a.dopre ? a.dopre + (i64(b) * f.H + h) * f.N * DV : a.dout + b * a.dos[0] + h * a.dos[1];
      TileCopy<OTile, BM, NT>(dO, a.dopre ? DV : a.dos[2], tid)(smem_addr(sO + slot * OTile::elements(BM)), q0, f.N);
      // lse and delta: BM floats each, 16 bytes a thread.
      const i64 at = (i64(b) * f.H + h) * backward_row_pitch(f.N, BM) + q0;
      if (tid < BM / 4)
        cp_async16(smem_addr(sLse + slot * BM + tid * 4), a.lse2 + at + tid * 4, true);
      else if (tid < BM / 2)
        cp_async16(smem_addr(sDelta + slot * BM + (tid - BM / 4) * 4), a.delta + at + (tid - BM / 4) * 4, true);
    }
    cp_async_commit();
  }

  static __device__ __forceinline__ void run(const BackwardArgs &a, const typename V::Params &P,
                                             const typename V::Grads &grads) {
    extern __shared__ __align__(128) unsigned char smem[];
    u16 *sK = reinterpret_cast<u16 *>(smem);
    u16 *sV = sK + KTile::elements(BN);
    u16 *sQ = sV + VTile::elements(BN);
    u16 *sO = sQ + 2 * QTile::elements(BM);
    u16 *sS = sO + 2 * OTile::elements(BM);
    float *sLse = reinterpret_cast<float *>(sS + STile::elements(BN));
    float *sDelta = sLse + 2 * BM;
    const FlashArgs &f = a.f;
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    // Heaviest key tiles first (under causal masks the first ones).
    const int heads = f.H / f.group, kt = int(blockIdx.x) / (f.B * heads), bhk = int(blockIdx.x) % (f.B * heads);
    const int hk = bhk % heads, b = bhk / heads, kv0 = kt * BN;
    TileCopy<KTile, BN, NT>(f.k + b * f.ks[0] + hk * f.ks[1], f.ks[2], tid)(smem_addr(sK), kv0, f.M);
    TileCopy<VTile, BN, NT>(f.v + b * f.vs[0] + hk * f.vs[1], f.vs[2], tid)(smem_addr(sV), kv0, f.M);
    cp_async_commit();

    int status = 0;
    typename V::GradSums G(grads.g);
    QueryWalk walk(a, P, b, hk, kv0, status);
    int tile[2];
#pragma unroll
    for (int s = 0; s < 2; ++s) {
      tile[s] = walk.next();
      issue(tile[s], s, a, b, hk, sQ, sO, sLse, sDelta);
    }
    float dK[KF][D / 8][4], dV[KF][DV / 8][4];
#pragma unroll
    for (int kf = 0; kf < KF; ++kf) {
#pragma unroll
      for (int n = 0; n < D / 8; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          dK[kf][n][e] = 0.f;
#pragma unroll
      for (int n = 0; n < DV / 8; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          dV[kf][n][e] = 0.f;
    }
#pragma unroll 1
    for (int it = 0; tile[0] >= 0; ++it) {
      const int slot = it & 1, t = tile[0] >> 1;
      const int h = hk * f.group + t / a.tilesQ, q0 = t % a.tilesQ * BM;
      cp_async_wait<1>();
      __syncthreads();
      const u16 *q = sQ + slot * QTile::elements(BM), *dO = sO + slot * OTile::elements(BM);
      float S[KF][BM / 8][4], dP[KF][BM / 8][4];
      keyQueryProduct<KTile, QTile, D>(S, sK, q, warp, lane);
      keyQueryProduct<VTile, OTile, DV>(dP, sV, dO, warp, lane);
      pairs(S, dP, sLse + slot * BM, sDelta + slot * BM, warp, lane, b, h, q0, kv0, tile[0] & 1, a, P, G, status);
      accumulateKeys<OTile, DV>(dV, S, dO, lane);
      accumulateKeys<QTile, D>(dK, dP, q, lane);
      // dS to shared memory, [key][query], for dQ's product.
#pragma unroll
      for (int kf = 0; kf < KF; ++kf)
#pragma unroll
        for (int nf = 0; nf < BM / 8; ++nf)
#pragma unroll
          for (int half = 0; half < 2; ++half) {
            const int r = keyOf(warp, lane, kf, half), c = queryOf(lane, nf, 0);
            *reinterpret_cast<u32 *>(sS + STile::offset(r, c / 8) + c % 8) =
                pack2<C::F16>(dP[kf][nf][half * 2], dP[kf][nf][half * 2 + 1]);
          }
      __syncthreads();
      if (a.dqTurns) {
        if (warp == 0) {
          const int before = tilesBefore(a, P, b, h, q0 / BM, kv0 / BN, status);
          if (lane == 0)
            wait_turn(turnOf(a, b, h, q0 / BM), before);
        }
        __syncthreads();
      }
      addQueryGrads(sS, sK, warp, lane, b, h, q0, a);
      if (a.dqTurns) {
        __threadfence();
        __syncthreads();
        if (tid == 0)
          pass_turn(turnOf(a, b, h, q0 / BM));
      }
      __syncthreads(); // every warp is done with this slot and with dS
      tile[0] = tile[1];
      tile[1] = walk.next();
      issue(tile[1], slot, a, b, hk, sQ, sO, sLse, sDelta);
    }
    cp_async_wait<0>();
    G.flush();

    // dK (times the scale: the raw score is scale * q.k) and dV.
#pragma unroll
    for (int kf = 0; kf < KF; ++kf)
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int kv = kv0 + keyOf(warp, lane, kf, half);
        if (kv >= f.M)
          continue;
        u16 *k = a.dk + b * a.dks[0] + hk * a.dks[1] + kv * a.dks[2] + (lane & 3) * 2;
        u16 *v = a.dv + b * a.dvs[0] + hk * a.dvs[1] + kv * a.dvs[2] + (lane & 3) * 2;
#pragma unroll
        for (int n = 0; n < D / 8; ++n)
          *reinterpret_cast<u32 *>(k + n * 8) =
              pack2<C::F16>(dK[kf][n][half * 2] * V::kScale, dK[kf][n][half * 2 + 1] * V::kScale);
#pragma unroll
        for (int n = 0; n < DV / 8; ++n)
          *reinterpret_cast<u32 *>(v + n * 8) = pack2<C::F16>(dV[kf][n][half * 2], dV[kf][n][half * 2 + 1]);
      }
    if (status)
      atomicCAS(f.status, 0, status);
  }
};

} // namespace attnc_cuda

#endif // ATTNC_CUDA_SM80_BACKWARD_CUH
