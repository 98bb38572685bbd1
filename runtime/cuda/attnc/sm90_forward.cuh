//===- sm90_forward.cuh - the forward kernel for sm_90a --------*- CUDA -*-===//
//
// FlashAttention-3's manner on Hopper (family sm90_wgmma): a CTA of three
// warpgroups owns 128 query rows. One warp of the first (the producer,
// its registers given up with setmaxnreg) walks the key tiles and has the
// copy engine load Q once and K/V tiles into a ring of STAGES slots, each
// completing on an mbarrier; the two consumer warpgroups (64 rows each)
// compute S = Q K^T with wgmma from shared memory, apply the variant's
// hooks and the online softmax in registers, O += P V with P from
// registers, and hand the slot back on its `empty` barrier.
//
// The math after each product is FlashForward's (sm80_forward.cuh): a
// warp's wgmma accumulators lie as one m16n8 fragment row of FlashForward
// (MF = 1), so score_mod, masks, softmax and the epilogue are the same code
// for both families, branches (V::kBranches, differential attention)
// included: each branch's S is the product over its DB columns of the Q and
// K panels, and each has its softmax state and O.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_CUDA_SM90_FORWARD_CUH
#define ATTNC_CUDA_SM90_FORWARD_CUH

#include "attnc/flash_args.h" // sm90_shared_bytes
#include "attnc/hopper_primitives.cuh"
#include "attnc/sm80_forward.cuh"
#include "attnc/tile_walker.cuh"

namespace attnc_cuda {

/// Compile-time shape of the sm90_wgmma kernel: head dims (multiples of 64,
/// the swizzled panels), the key tile, the ring's stages. The fields that
/// FlashForward and TileWalker read describe the consumers: 8 warps of one
/// m16 fragment row each.
template <int D_, int DV_, int BN_, int STAGES_, bool F16_> struct Sm90Config {
  static constexpr int D = D_, DV = DV_, BM = kSm90TileQ, BN = BN_, NW = kSm90ConsumerWarps, STAGES = STAGES_;
  static constexpr bool F16 = F16_, kSplitKv = false, kSumsByMma = false;
  static constexpr bool kPaged = false;     // tensor maps cannot follow a page table
  static constexpr bool kRecompute = false; // the backward recomputes with sm80 tiles
  static constexpr bool kTensorMaps = true; // the kernel's third parameter
  static constexpr int kThreads = NW * 32, MF = 1;
  static_assert(D % 64 == 0 && DV % 64 == 0 && (DV == 64 || DV == 128), "wgmma's widths: DV 64 or 128");
  static_assert(BN == 64 || BN == 128, "key tiles of 64 or 128 (wgmma's widths)");
  // The sm80 tile types, which FlashForward names but this kernel does not use.
  typedef PaddedTile<D> QTile;
  typedef StreamedTile<D> KTile;
  typedef StreamedTile<DV> VTile;
  static constexpr int kQBytes = 2 * BM * D, kKBytes = 2 * BN * D, kVBytes = 2 * BN * DV;
  static constexpr int kOutStageBytes = int(sm90_out_stage_bytes(DV));
  static constexpr int kSmemBytes = int(sm90_shared_bytes(D, DV, BN, STAGES));
};

template <class V, class C> struct Sm90Forward {
  typedef FlashForward<V, C> F; // the math on one fragment row a warp
  typedef TileWalker<V, C> Walker;
  static constexpr int D = C::D, DV = C::DV, BM = C::BM, BN = C::BN, STAGES = C::STAGES;

  // Shared memory, in bytes from the aligned base (see sm90_shared_bytes).
  // A panel holds 64 columns of every row of a tile, 128 bytes a row.
  static constexpr u32 kQ = 0, kK = kQ + C::kQBytes, kV = kK + STAGES * C::kKBytes;
  static constexpr u32 kOut = kV + STAGES * C::kVBytes, kBars = kOut + C::kOutStageBytes;
  static_assert(kBars + sm90_barrier_bytes(STAGES) + 1024 == C::kSmemBytes, "the host sizes the launch by this");
  static __device__ __forceinline__ u32 qFull(u32 base) { return base + kBars; }
  static __device__ __forceinline__ u32 kFull(u32 base, int s) { return base + kBars + 8 * (1 + s); }
  static __device__ __forceinline__ u32 vFull(u32 base, int s) { return base + kBars + 8 * (1 + STAGES + s); }
  static __device__ __forceinline__ u32 empty(u32 base, int s) { return base + kBars + 8 * (1 + 2 * STAGES + s); }

  /// Loads the panels of a tile of `rows` rows at row `row` of (b, head).
  template <int COLS, int ROWS>
  static __device__ __forceinline__ void loadTile(u32 dst, const TensorMap *map, u32 bar, int row, int head, int b) {
#pragma unroll
    for (int p = 0; p < COLS / 64; ++p)
      tma_load_4d(dst + p * ROWS * 128, map, bar, p * 64, row, head, b);
  }

  /// The producer warp: Q, then every key tile the walk visits, each into
  /// the next slot of the ring once the consumers have handed it back.
  static __device__ __forceinline__ void produce(const FlashArgs &a, const typename V::Params &P,
                                                 const TensorMaps &maps, u32 base, int b, int h, int qt, int lane,
                                                 int &status) {
    const int hk = h / a.group;
    Walker walk(a, P, b, h, qt, status, 0, a.tilesKv);
    if (lane == 0) {
      prefetch_tensor_map(&maps.q);
      prefetch_tensor_map(&maps.k);
      prefetch_tensor_map(&maps.v);
      mbarrier_arrive_expect_tx(qFull(base), C::kQBytes);
      loadTile<D, BM>(base + kQ, &maps.q, qFull(base), qt * BM, h, b);
    }
#pragma unroll 1
    for (int it = 0;; ++it) {
      const int t = walk.next(); // every lane: the walk is warp-wide
      if (t < 0)
        break;
      const int s = it % STAGES, round = it / STAGES, kv0 = Walker::firstKey(t);
      if (lane == 0) {
        if (round > 0)
          mbarrier_wait(empty(base, s), (round - 1) & 1);
        mbarrier_arrive_expect_tx(kFull(base, s), C::kKBytes);
        loadTile<D, BN>(base + kK + s * C::kKBytes, &maps.k, kFull(base, s), kv0, hk, b);
        mbarrier_arrive_expect_tx(vFull(base, s), C::kVBytes);
        loadTile<DV, BN>(base + kV + s * C::kVBytes, &maps.v, vFull(base, s), kv0, hk, b);
      }
      __syncwarp();
    }
  }

  template <int R, class T> static __device__ __forceinline__ float (&flat(T &x))[R] {
    return *reinterpret_cast<float(*)[R]>(&x);
  }

  /// A consumer warp (`warp` 0..7 of the consumers): its warpgroup's 64
  /// rows, 16 of them this warp's.
  static __device__ __forceinline__ void consume(const FlashArgs &a, const typename V::Params &P, u32 base,
                                                 unsigned char *smem, int b, int h, int qt, int warp, int lane,
                                                 int &status) {
    const int q0 = qt * BM, group = warp / 4;
    constexpr int BR = F::BR, DB = F::DB;
    Walker walk(a, P, b, h, qt, status, 0, a.tilesKv);
    float O[BR][1][DV / 8][4], rowMax[BR][1][2], rowSum[BR][1][4];
#pragma unroll
    for (int br = 0; br < BR; ++br) {
#pragma unroll
      for (int dn = 0; dn < DV / 8; ++dn)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          O[br][0][dn][e] = 0.f;
      rowMax[br][0][0] = rowMax[br][0][1] = neg_inf();
      rowSum[br][0][0] = rowSum[br][0][1] = rowSum[br][0][2] = rowSum[br][0][3] = 0.f;
    }
    // This warpgroup's rows of Q: 64 rows into each panel.
    const u32 qRows = base + kQ + group * 64 * 128;
    mbarrier_wait(qFull(base), 0);
#pragma unroll 1
    for (int it = 0;; ++it) {
      const int t = walk.next();
      if (t < 0)
        break;
      const int s = it % STAGES;
      const u32 parity = (it / STAGES) & 1;
      const int kv0 = Walker::firstKey(t);
      const bool partial = Walker::masked(t);

      mbarrier_wait(kFull(base, s), parity);
#pragma unroll
      for (int br = 0; br < BR; ++br) {
        float S[1][BN / 8][4];
        wgmma_fence();
#pragma unroll
        for (int k = br * DB / 16; k < (br + 1) * DB / 16; ++k) {
          // Step k of 16 columns: panel k / 4, 32 bytes a step within it.
          const u32 at = (k % 4) * 32;
          wgmma_ss<BN, C::F16>(flat<BN / 2>(S), smem_descriptor(qRows + (k / 4) * BM * 128 + at, 0),
                               smem_descriptor(base + kK + s * C::kKBytes + (k / 4) * BN * 128 + at, 0),
                               k > br * DB / 16);
        }
        wgmma_commit();
        wgmma_wait<0>();
        fence_accumulators(flat<BN / 2>(S));

        F::finishScores(S, warp, lane, b, h, q0, kv0, a, P, status);
        if (partial || kv0 + BN > a.M)
          F::dropPairs(S, warp, lane, b, h, q0, kv0, partial, a, P, status);
        u32 Pk[1][BN / 16][4];
        if constexpr (F::kSoftmax)
          F::softmax(S, Pk, O[br], rowMax[br], rowSum[br]);
        else
          F::pack(S, Pk, rowSum[br]);

        if (br == 0)
          mbarrier_wait(vFull(base, s), parity);
        fence_accumulators(flat<DV / 2>(O[br]));
        wgmma_fence();
#pragma unroll
        for (int j = 0; j < BN / 16; ++j)
          // Keys 16j..16j+15: 16 rows of 128 bytes into each panel; the
          // panels (64 value columns each) lie BN rows apart.
          wgmma_rs<DV, C::F16>(flat<DV / 2>(O[br]), Pk[0][j],
                               smem_descriptor(base + kV + s * C::kVBytes + j * 16 * 128, BN * 128), 1);
        wgmma_commit();
        wgmma_wait<0>();
        fence_accumulators(flat<DV / 2>(O[br]));
      }
      __syncwarp();
      if (lane == 0)
        mbarrier_arrive(empty(base, s));
    }

    float inv[BR][1][2], lse[BR][1][2], sums[BR][1][2];
#pragma unroll
    for (int br = 0; br < BR; ++br)
      F::finishRows(rowMax[br], rowSum[br], inv[br], lse[br], sums[br], warp, lane, b, h, q0, a, P, status);
    if constexpr (BR > 1)
      F::storeBranches(O, inv, lse, sums, warp, lane, b, h, q0, a, P, status);
    else
      F::store(O[0], inv[0], lse[0], sums[0], smem + kOut, warp, lane, b, h, q0, a, P, status);
  }

  static __device__ __forceinline__ void run(const FlashArgs &a, const typename V::Params &P,
                                             const TensorMaps &maps) {
    extern __shared__ __align__(1024) unsigned char smemRaw[];
    // The swizzled panels need 1024-byte alignment (the size has the slack).
    const u32 raw = smem_addr(smemRaw), base = (raw + 1023) & ~1023u;
    unsigned char *smem = smemRaw + (base - raw);
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    const int qt = F::queryTile(a), bh = F::batchHead(a), h = bh % a.H, b = bh / a.H;
    if (tid == 0) {
      mbarrier_init(qFull(base), 1);
      for (int s = 0; s < STAGES; ++s) {
        mbarrier_init(kFull(base, s), 1);
        mbarrier_init(vFull(base, s), 1);
        mbarrier_init(empty(base, s), kSm90ConsumerWarps);
      }
      mbarrier_init_fence();
    }
    __syncthreads();
    int status = 0;
    if (warp < 4) {
      // The producer warpgroup keeps few registers; its other warps leave.
      setmaxnreg_dec<40>();
      if (warp == 0)
        produce(a, P, maps, base, b, h, qt, lane, status);
    } else {
      setmaxnreg_inc<232>();
      consume(a, P, base, smem, b, h, qt, warp - 4, lane, status);
    }
    if (status)
      atomicCAS(a.status, 0, status);
  }
};

} // namespace attnc_cuda

#endif // ATTNC_CUDA_SM90_FORWARD_CUH
