//===- sm90_backward.cuh - the backward's key-tile kernel for sm_90a -*- CUDA -*-===//
//
// FlashBackward's scheme (sm80_backward.cuh) in FlashAttention-3's manner,
// for the sm90_wgmma family: a CTA of three warpgroups per (b, kv head, key
// tile of 128). One warp of the first (the producer) has the copy engine
// load K and V once, then the query tiles the classifier keeps, over the
// heads of the GQA group (Q, dO, their rows' lse and delta) into a ring of
// two slots. The two consumer warpgroups own 64 keys each and, per query
// tile of 64:
//   S^T = K Q^T and dP^T = V dO^T with wgmma from shared memory (64 keys x
//     64 queries a warpgroup);
//   the weights P^T and dS^T in registers, by FlashBackward's pair math on
//     the same fragment layout (without a score_mod the weights while dP's
//     product still runs);
//   dV += P^T dO and dK += dS^T Q with the 16-bit P^T and dS^T from
//     registers (issuing dV's before dS is computed measured 4-12% slower
//     with a score_mod: registers spill);
//   dQ = dS K from dS^T in shared memory (64 queries x 64 columns a
//     warpgroup), into shared memory, from where a second warp of the first
//     warpgroup adds it to the f32 dqAccum by bulk reductions (in
//     deterministic mode after the key tiles before this one).
// The rows' preprocessing and dq's conversion are sm80_backward.cuh's.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_CUDA_SM90_BACKWARD_CUH
#define ATTNC_CUDA_SM90_BACKWARD_CUH

#include "attnc/flash_args.h" // sm90_backward_shared_bytes
#include "attnc/hopper_primitives.cuh"
#include "attnc/sm80_backward.cuh"

namespace attnc_cuda {

/// C: the BackwardConfig of kBwdTileQ x kBwdTileKv tiles and 8 warps (one
/// key fragment a warp), whose pairs() the consumers share.
template <class V, class C> struct Sm90Backward {
  typedef FlashBackward<V, C> F;
  static constexpr int D = C::D, DV = C::DV, BM = C::BM, BN = C::BN;
  static_assert(BM == 64 && BN == 128 && C::KF == 1 && C::NW == 8, "two warpgroups of 64 keys, query tiles of 64");
  static_assert((D == 64 || D == 128) && (DV == 64 || DV == 128), "wgmma's widths");

  // Shared memory, in bytes from the aligned base (sm90_backward_shared_bytes).
  // A panel holds 64 columns of every row of a tile, 128 bytes a row.
  static constexpr bool kSplitColumns = D == 128; // dQ's columns between the warpgroups
  static constexpr u32 kKBytes = 2 * BN * D, kVBytes = 2 * BN * DV, kQBytes = 2 * BM * D, kOBytes = 2 * BM * DV;
  static constexpr u32 kSBytes = 2 * BN * BM;
  static constexpr u32 kK = 0, kV = kK + kKBytes, kQ = kV + kVBytes, kO = kQ + 2 * kQBytes, kS = kO + 2 * kOBytes;
  // dQ's f32 sums of a query tile on their way out: rows padded by 8
  // floats (the warps' row-strided stores stay conflict-free), one region
  // for both warpgroups' column halves, or one each at D = 64.
  static constexpr int kQPitch = D + 8, kQRegions = kSplitColumns ? 1 : 2;
  static constexpr u32 kQRegionBytes = 4 * BM * kQPitch;
  static constexpr u32 kLse = kS + 2 * kSBytes, kDelta = kLse + 2 * 4 * BM, kDq = kDelta + 2 * 4 * BM;
  static constexpr u32 kBars = kDq + kQRegions * kQRegionBytes;
  static constexpr int kSmemBytes = int(kBars + 8 * 9 + 1024);
  static_assert(kSmemBytes == sm90_backward_shared_bytes(D, DV), "the host sizes the launch by this");
  static __device__ __forceinline__ u32 kvFull(u32 base) { return base + kBars; }
  static __device__ __forceinline__ u32 qFull(u32 base, int s) { return base + kBars + 8 * (1 + s); }
  static __device__ __forceinline__ u32 oFull(u32 base, int s) { return base + kBars + 8 * (3 + s); }
  static __device__ __forceinline__ u32 empty(u32 base, int s) { return base + kBars + 8 * (5 + s); }
  static __device__ __forceinline__ u32 dqFull(u32 base) { return base + kBars + 8 * 7; }
  static __device__ __forceinline__ u32 dqEmpty(u32 base) { return base + kBars + 8 * 8; }

  template <int COLS, int ROWS>
  static __device__ __forceinline__ void loadTile(u32 dst, const TensorMap *map, u32 bar, int row, int head, int b) {
#pragma unroll
    for (int p = 0; p < COLS / 64; ++p)
      tma_load_4d(dst + p * ROWS * 128, map, bar, p * 64, row, head, b);
  }

  template <int R, class T> static __device__ __forceinline__ float (&flat(T &x))[R] {
    return *reinterpret_cast<float(*)[R]>(&x);
  }

  /// The query head and first row of a walk's code.
  static __device__ __forceinline__ void tileOf(const BackwardArgs &a, int hk, int code, int &h, int &q0) {
    const int t = code >> 1;
    h = hk * a.f.group + t / a.tilesQ;
    q0 = t % a.tilesQ * BM;
  }

  static __device__ __forceinline__ void produce(const BackwardArgs &a, const typename V::Params &P,
                                                 const BackwardMaps &maps, u32 base, int b, int hk, int kv0,
                                                 int lane, int &status) {
    if (lane == 0) {
      prefetch_tensor_map(&maps.q);
      prefetch_tensor_map(&maps.k);
      prefetch_tensor_map(&maps.v);
      prefetch_tensor_map(&maps.dout);
      mbarrier_arrive_expect_tx(kvFull(base), kKBytes + kVBytes);
      loadTile<D, BN>(base + kK, &maps.k, kvFull(base), kv0, hk, b);
      loadTile<DV, BN>(base + kV, &maps.v, kvFull(base), kv0, hk, b);
    }
    typename F::QueryWalk walk(a, P, b, hk, kv0, status);
#pragma unroll 1
    for (int it = 0;; ++it) {
      const int code = walk.next(); // every lane: the walk is warp-wide
      if (code < 0)
        break;
      const int s = it % 2, round = it / 2;
      int h, q0;
      tileOf(a, hk, code, h, q0);
      if (lane == 0) {
        if (round > 0)
          mbarrier_wait(empty(base, s), (round - 1) & 1);
        const i64 at = (i64(b) * a.f.H + h) * backward_row_pitch(a.f.N, BM) + q0;
        mbarrier_arrive_expect_tx(qFull(base, s), kQBytes + 2 * 4 * BM);
        loadTile<D, BM>(base + kQ + s * kQBytes, &maps.q, qFull(base, s), q0, h, b);
        bulk_load(base + kLse + s * 4 * BM, a.lse2 + at, 4 * BM, qFull(base, s));
        bulk_load(base + kDelta + s * 4 * BM, a.delta + at, 4 * BM, qFull(base, s));
        mbarrier_arrive_expect_tx(oFull(base, s), kOBytes);
        loadTile<DV, BM>(base + kO + s * kOBytes, &maps.dout, oFull(base, s), q0, h, b);
      }
      __syncwarp();
    }
  }

  /// The dQ writer warp: each query tile's f32 sums, once the consumers
  /// have put them in shared memory, added to dqAccum by bulk reductions
  /// (a row each), so that the consumers issue no atomics and L2 sees
  /// whole rows.
  static __device__ __forceinline__ void writeQueryGrads(const BackwardArgs &a, const typename V::Params &P,
                                                         u32 base, int b, int hk, int kv0, int lane, int &status) {
    const FlashArgs &f = a.f;
    typename F::QueryWalk walk(a, P, b, hk, kv0, status);
#pragma unroll 1
    for (int it = 0;; ++it) {
      const int code = walk.next();
      if (code < 0)
        break;
      int h, q0;
      tileOf(a, hk, code, h, q0);
      mbarrier_wait(dqFull(base), it & 1);
      int *turn = nullptr;
      if (a.dqTurns) {
        // Deterministic: after the key tiles before this one.
        turn = F::turnOf(a, b, h, q0 / BM);
        const int before = F::tilesBefore(a, P, b, h, q0 / BM, kv0 / BN, status);
        if (lane == 0)
          wait_turn(turn, before);
        __syncwarp();
        fence_proxy_async_global();
      }
      const int rows = min(BM, f.N - q0);
      float *dst = a.dqAccum + ((i64(b) * f.H + h) * f.N + q0) * D;
#pragma unroll
      for (int region = 0; region < kQRegions; ++region)
#pragma unroll
        for (int row = lane; row < BM; row += 32)
          if (row < rows)
            bulk_reduce_add(dst + row * D, base + kDq + region * kQRegionBytes + row * kQPitch * 4, D * 4);
      bulk_commit();
      if (turn) {
        bulk_wait<0>();
        fence_proxy_async_global();
        __syncwarp();
        if (lane == 0)
          pass_turn(turn);
      } else {
        bulk_wait_read<0>();
      }
      __syncwarp();
      if (lane == 0)
        mbarrier_arrive(dqEmpty(base));
    }
    bulk_wait<0>();
  }

  /// X (64 keys x 64 queries) = A B^T over K columns, issued: A this
  /// warpgroup's rows of a key tile, B a query tile, both in panels.
  template <int K>
  static __device__ __forceinline__ void keyQueryProduct(float (&X)[1][BM / 8][4], u32 aRows, u32 bTile) {
#pragma unroll
    for (int k = 0; k < K / 16; ++k) {
      // Step k of 16 columns: panel k / 4, 32 bytes a step within it.
      const u32 at = (k % 4) * 32;
      wgmma_ss<BM, C::F16>(flat<BM / 2>(X), smem_descriptor(aRows + (k / 4) * BN * 128 + at, 0),
                           smem_descriptor(bTile + (k / 4) * BM * 128 + at, 0), k > 0);
    }
  }

  /// The 16-bit A fragments (k steps of 16 queries) of an accumulator of
  /// 64 keys x 64 queries.
  static __device__ __forceinline__ void packRows(u32 (&X)[BM / 16][4], const float (&A)[1][BM / 8][4]) {
#pragma unroll
    for (int nf = 0; nf < BM / 8; ++nf) {
      X[nf / 2][(nf & 1) * 2] = pack2<C::F16>(A[0][nf][0], A[0][nf][1]);
      X[nf / 2][(nf & 1) * 2 + 1] = pack2<C::F16>(A[0][nf][2], A[0][nf][3]);
    }
  }

  /// A consumer warp (`warp` 0..7; warpgroup warp / 4 owns keys 64 (warp /
  /// 4) on, this warp 16 of them).
  static __device__ __forceinline__ void consume(const BackwardArgs &a, const typename V::Params &P,
                                                 const typename V::Grads &grads, u32 base, unsigned char *smem,
                                                 int b, int hk, int kv0, int warp, int lane, int &status) {
    const FlashArgs &f = a.f;
    const int group = warp / 4;
    typename V::GradSums G(grads.g);
    typename F::QueryWalk walk(a, P, b, hk, kv0, status);
    float dK[1][D / 8][4], dV[1][DV / 8][4];
#pragma unroll
    for (int n = 0; n < D / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        dK[0][n][e] = 0.f;
#pragma unroll
    for (int n = 0; n < DV / 8; ++n)
#pragma unroll
      for (int e = 0; e < 4; ++e)
        dV[0][n][e] = 0.f;
    // This warpgroup's 64 keys in each panel of K and V.
    const u32 kRows = base + kK + group * 64 * 128, vRows = base + kV + group * 64 * 128;
    mbarrier_wait(kvFull(base), 0);
#pragma unroll 1
    for (int it = 0;; ++it) {
      const int code = walk.next();
      if (code < 0)
        break;
      const int s = it % 2;
      const u32 parity = (it / 2) & 1;
      int h, q0;
      tileOf(a, hk, code, h, q0);
      const u32 q = base + kQ + s * kQBytes, dO = base + kO + s * kOBytes;

      float S[1][BM / 8][4], dP[1][BM / 8][4];
      mbarrier_wait(qFull(base, s), parity);
      wgmma_fence();
      keyQueryProduct<D>(S, kRows, q);
      wgmma_commit();
      mbarrier_wait(oFull(base, s), parity);
      keyQueryProduct<DV>(dP, vRows, dO);
      wgmma_commit();
      const float *sLse = reinterpret_cast<const float *>(smem + kLse + s * 4 * BM);
      const float *sDelta = reinterpret_cast<const float *>(smem + kDelta + s * 4 * BM);
      // The weights while dP's product runs where no score_mod needs the
      // raw score later.
      if constexpr (!F::kSplitPairs) {
        wgmma_wait<0>();
        fence_accumulators(flat<BM / 2>(S));
        fence_accumulators(flat<BM / 2>(dP));
        F::pairs(S, dP, sLse, sDelta, warp, lane, b, h, q0, kv0, code & 1, a, P, G, status);
      } else {
        u32 keep[1];
        F::keptPairs(keep, warp, lane, b, h, q0, kv0, code & 1, f, P, status);
        wgmma_wait<1>();
        fence_accumulators(flat<BM / 2>(S));
        F::weights(S, keep, sLse, warp, lane, b, h, q0, kv0, f, P, status);
        wgmma_wait<0>();
        fence_accumulators(flat<BM / 2>(dP));
        F::weightGrads(S, dP, keep, sDelta, warp, lane, b, h, q0, kv0, f, P, G, status);
      }
      u32 Pk[BM / 16][4], dSk[BM / 16][4];
      packRows(Pk, S);
      packRows(dSk, dP);

      // dS^T to shared memory, [key][query] in one swizzled panel (a row's
      // 16-byte chunks XOR the row's index in its group of 8), for dQ.
      const u32 sS = kS + s * kSBytes;
#pragma unroll
      for (int nf = 0; nf < BM / 8; ++nf)
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          const int r = warp * 16 + lane / 4 + half * 8;
          *reinterpret_cast<u32 *>(smem + sS + r * 128 + ((nf ^ (r % 8)) * 16) + (lane % 4) * 4) =
              dSk[nf / 2][(nf & 1) * 2 + half];
        }
      fence_proxy_async();

      fence_accumulators(flat<DV / 2>(dV));
      fence_accumulators(flat<D / 2>(dK));
      wgmma_fence();
#pragma unroll
      for (int j = 0; j < BM / 16; ++j)
        // Queries 16j..16j+15: 16 rows of 128 bytes into each panel; the
        // panels lie BM rows apart.
        wgmma_rs<DV, C::F16>(flat<DV / 2>(dV), Pk[j], smem_descriptor(dO + j * 16 * 128, BM * 128), 1);
#pragma unroll
      for (int j = 0; j < BM / 16; ++j)
        wgmma_rs<D, C::F16>(flat<D / 2>(dK), dSk[j], smem_descriptor(q + j * 16 * 128, BM * 128), 1);
      wgmma_commit();

      // dQ = dS K, 64 columns a warpgroup: at D = 128 each takes half of
      // them over both warpgroups' keys (so it waits for the other's dS^T),
      // at D = 64 all of them over its own keys.
      float dQ[1][8][4];
      constexpr int kSteps = kSplitColumns ? BN / 16 : BN / 32;
      const u32 firstKey = kSplitColumns ? 0 : group * 64, kPanel = kSplitColumns ? group * BN * 128 : 0;
      if constexpr (kSplitColumns)
        named_barrier_sync(1, 256);
      wgmma_fence();
#pragma unroll
      for (int k = 0; k < kSteps; ++k) {
        // Keys 16k on: dS^T's rows (its panel of 64 queries), K's rows in
        // the panel of this warpgroup's columns.
        const u32 rows = (firstKey + k * 16) * 128;
        wgmma_ss_tt<64, C::F16>(flat<32>(dQ), smem_descriptor(base + sS + rows, BN * 128),
                                smem_descriptor(base + kK + kPanel + rows, BN * 128), k > 0);
      }
      wgmma_commit();
      wgmma_wait<0>();
      fence_accumulators(flat<DV / 2>(dV));
      fence_accumulators(flat<D / 2>(dK));
      fence_accumulators(flat<32>(dQ));
      __syncwarp();
      if (lane == 0)
        mbarrier_arrive(empty(base, s));

      // dQ's sums to shared memory, once the writer has sent the last ones.
      if (it > 0)
        mbarrier_wait(dqEmpty(base), (it - 1) & 1);
      const u32 region = kDq + (kSplitColumns ? 0 : group * kQRegionBytes);
      const int column = (kSplitColumns ? group * 64 : 0) + (lane % 4) * 2;
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        float *row = reinterpret_cast<float *>(smem + region) + ((warp % 4) * 16 + lane / 4 + half * 8) * kQPitch;
#pragma unroll
        for (int n = 0; n < 8; ++n)
          *reinterpret_cast<F32x2 *>(row + column + n * 8) = F32x2{dQ[0][n][half * 2], dQ[0][n][half * 2 + 1]};
      }
      fence_proxy_async();
      __syncwarp();
      if (lane == 0)
        mbarrier_arrive(dqFull(base));
    }
    G.flush();

    // dK (times the scale: the raw score is scale * q.k) and dV.
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int kv = kv0 + warp * 16 + lane / 4 + half * 8;
      if (kv >= f.M)
        continue;
      u16 *k = a.dk + b * a.dks[0] + hk * a.dks[1] + kv * a.dks[2] + (lane % 4) * 2;
      u16 *v = a.dv + b * a.dvs[0] + hk * a.dvs[1] + kv * a.dvs[2] + (lane % 4) * 2;
#pragma unroll
      for (int n = 0; n < D / 8; ++n)
        *reinterpret_cast<u32 *>(k + n * 8) =
            pack2<C::F16>(dK[0][n][half * 2] * V::kScale, dK[0][n][half * 2 + 1] * V::kScale);
#pragma unroll
      for (int n = 0; n < DV / 8; ++n)
        *reinterpret_cast<u32 *>(v + n * 8) = pack2<C::F16>(dV[0][n][half * 2], dV[0][n][half * 2 + 1]);
    }
  }

  static __device__ __forceinline__ void run(const BackwardArgs &a, const typename V::Params &P,
                                             const typename V::Grads &grads, const BackwardMaps &maps) {
    extern __shared__ __align__(1024) unsigned char smemRaw[];
    const u32 raw = smem_addr(smemRaw), base = (raw + 1023) & ~1023u;
    unsigned char *smem = smemRaw + (base - raw);
    const FlashArgs &f = a.f;
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    // Heaviest key tiles first (under causal masks the first ones).
    const int heads = f.H / f.group, kt = int(blockIdx.x) / (f.B * heads), bhk = int(blockIdx.x) % (f.B * heads);
    const int hk = bhk % heads, b = bhk / heads, kv0 = kt * BN;
    if (tid == 0) {
      mbarrier_init(kvFull(base), 1);
      for (int s = 0; s < 2; ++s) {
        mbarrier_init(qFull(base, s), 1);
        mbarrier_init(oFull(base, s), 1);
        mbarrier_init(empty(base, s), 8);
      }
      mbarrier_init(dqFull(base), 8);
      mbarrier_init(dqEmpty(base), 1);
      mbarrier_init_fence();
    }
    __syncthreads();
    int status = 0;
    if (warp < 4) {
      // 24 registers: the writer's deterministic turns spill a few words,
      // off the consumers' path; 32 / 232 spilled in the consumers.
      setmaxnreg_dec<24>();
      if (warp == 0)
        produce(a, P, maps, base, b, hk, kv0, lane, status);
      else if (warp == 1)
        writeQueryGrads(a, P, base, b, hk, kv0, lane, status);
    } else {
      setmaxnreg_inc<240>();
      consume(a, P, grads, base, smem, b, hk, kv0, warp - 4, lane, status);
    }
    if (status)
      atomicCAS(f.status, 0, status);
  }
};

} // namespace attnc_cuda

#endif // ATTNC_CUDA_SM90_BACKWARD_CUH
