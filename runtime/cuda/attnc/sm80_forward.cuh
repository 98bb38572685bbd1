//===- sm80_forward.cuh - the forward kernel for sm_80 and up --*- CUDA -*-===//
//
// The FlashAttention-2 schedule with mma.sync (sm_80 and up): Config (the
// compile-time shape) and FlashForward<V, C>, a CTA of which owns BM query
// rows (Q resident in shared memory), streams key/value tiles of BN rows
// through STAGES shared-memory buffers with cp.async, computes S = Q K^T and
// O += P V with ldmatrix + mma.sync m16n8k16 (bf16 or f16 in, f32
// accumulate) and keeps the online softmax in registers in base 2. A
// variant with branches (V::kBranches > 1, differential attention) runs
// each branch on its part of Q's and K's columns against the same key
// tiles, with a softmax state and accumulator per branch, and combines
// them in output_mod (storeBranches).
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_CUDA_SM80_FORWARD_CUH
#define ATTNC_CUDA_SM80_FORWARD_CUH

#include "attnc/abi.h"        // attnc_normalizer
#include "attnc/flash_args.h" // forward_shared_bytes
#include "attnc/primitives.cuh"
#include "attnc/smem_tiles.cuh"
#include "attnc/tile_walker.cuh"

namespace attnc_cuda {

/// Compile-time shape of the kernel: head dims, tile sizes, warps, stages,
/// whether the key range is split across CTAs (split_kv, decode), and
/// whether the kernel recomputes the output for the backward (RECOMPUTE:
/// the normalised output before output_mod, in f32, to FlashArgs'
/// partialOut as [B * H * N][DV]).
template <int D_, int DV_, int BM_, int BN_, int NW_, int STAGES_, bool F16_, bool SPLIT_KV_ = false,
          bool PAGED_KV_ = false, bool RECOMPUTE_ = false>
struct Config {
  static constexpr int D = D_, DV = DV_, BM = BM_, BN = BN_, NW = NW_, STAGES = STAGES_;
  static constexpr bool F16 = F16_, kSplitKv = SPLIT_KV_, kPaged = PAGED_KV_, kRecompute = RECOMPUTE_;
  static constexpr int kThreads = NW * 32;
  static constexpr int MF = BM / (16 * NW); // m16 fragments per warp
  static_assert(MF >= 1 && MF * 16 * NW == BM, "BM must be a multiple of 16 * warps");
  static_assert(BN % 16 == 0 && D % 16 == 0 && DV % 16 == 0, "tiles are multiples of 16");
  // K and V stream through shared memory every key tile: swizzled where they
  // can be. Q is copied once per CTA and stays padded: its ldmatrix
  // addresses then need no XOR (swizzled too, ptxas spilled dense at D = 128).
  typedef PaddedTile<D> QTile;
  typedef StreamedTile<D> KTile;
  typedef StreamedTile<DV> VTile;
  static constexpr int kSmemBytes = 2 * (QTile::elements(BM) + STAGES * (KTile::elements(BN) + VTile::elements(BN)));
  static_assert(kSmemBytes == forward_shared_bytes(D, DV, BM, BN, STAGES), "the host sizes the launch by this");
  // The epilogue stages O in the whole of shared memory.
  static constexpr int kOutStageBytes = kSmemBytes;
  // Row sums: at value head dims up to 64 an extra MMA per 16 keys against
  // a column of ones (the sum of the 16-bit weights that P V uses) costs
  // less than an FADD per weight (see bench/RESULTS.md); at larger ones
  // its registers made ptxas spill more.
  static constexpr bool kSumsByMma = DV <= 64;
  static constexpr bool kTensorMaps = false; // loads with cp.async
};

template <class V, class C> struct FlashForward {
  static constexpr int D = C::D, DV = C::DV, BM = C::BM, BN = C::BN, MF = C::MF, NT = C::kThreads;
  // Branches: each scores DB of Q's and K's D columns.
  static constexpr int BR = V::kBranches, DB = D / BR;
  static_assert(BR >= 1 && DB * BR == D && DB % 16 == 0, "a branch's part of D is a multiple of 16");
  static_assert(BR == 1 || (!C::kSplitKv && !C::kPaged && !C::kRecompute), "branches run the plain forwards");
  static constexpr bool kSoftmax = V::kNormalizer == ATTNC_NORMALIZE_SOFTMAX;
  static constexpr float kUnit = kSoftmax ? kLog2e : 1.f;
  // Softmax works in base 2 with the scale folded in: t = log2(e) * (s /
  // temperature + bias). The other normalizers take t in natural units.
  static constexpr float kPost = V::kInvTemperature * kUnit, kBiasT = V::kBias * kUnit;
  static constexpr float kDirect = V::kScale * kPost;
  // Without a score_mod, softmax takes raw scores s and folds t = s * kIn +
  // kOff into its exponent (one FFMA per weight; the bias cancels there). S
  // and the row maxima hold u, with t = u * kIn + kOff.
  static constexpr bool kRawScores = kSoftmax && !V::kHasScoreMod && kDirect > 0.f;
  static constexpr float kIn = kRawScores ? kDirect : 1.f, kOff = kRawScores ? kBiasT : 0.f;
  typedef typename C::QTile QTile;
  typedef typename C::KTile KTile;
  typedef typename C::VTile VTile;

  // Where an m16n8 accumulator element lives: element e of fragment (mf, nf)
  // of a warp is row rowOf(..., e >> 1) of the tile, column colOf(..., e).
  static __device__ __forceinline__ int rowOf(int warp, int lane, int mf, int half) {
    return (warp * MF + mf) * 16 + (lane >> 2) + half * 8;
  }
  static __device__ __forceinline__ int colOf(int lane, int nf, int e) { return nf * 8 + (lane & 3) * 2 + (e & 1); }

  // Split-KV packs the query heads that share a kv head into a tile's rows
  // (GQA packing: K/V are read once per kv head): the CTA's `h` is then the
  // kv head, and tile row p is query p / group of head h * group + p %
  // group. Elsewhere `h` is the query head and row p query p. Rows past the
  // end are clamped into range, as for the hooks.
  static constexpr bool kPacked = C::kSplitKv;
  static __device__ __forceinline__ int rowQuery(const FlashArgs &a, int p) {
    return kPacked ? min(p / a.group, a.N - 1) : min(p, a.N - 1);
  }
  static __device__ __forceinline__ int rowHead(const FlashArgs &a, int h, int p) {
    return kPacked ? h * a.group + p % a.group : h;
  }
  /// The heads the grid runs over: kv heads when packed.
  static __device__ __forceinline__ int gridHeads(const FlashArgs &a) { return kPacked ? a.H / a.group : a.H; }

  /// c0 += a * (b[0], b[1]) and c1 += a * (b[2], b[3]): two n8 MMAs over the
  /// 16 columns one ldmatrix.x4 of B brings.
  static __device__ __forceinline__ void mma2(float (&c0)[4], float (&c1)[4], const u32 (&a)[4], const u32 (&b)[4]) {
    mma16816<C::F16>(c0, a, b[0], b[1]);
    mma16816<C::F16>(c1, a, b[2], b[3]);
  }

  /// Stores fragment (mf, nf) of the weights as 16-bit pairs in the
  /// A-fragment order of the P V product (Pk[mf][j] holds keys 16j..16j+15).
  static __device__ __forceinline__ void packWeights(u32 (&Pk)[MF][BN / 16][4], int mf, int nf, const float (&p)[4]) {
    Pk[mf][nf / 2][(nf & 1) * 2] = pack2<C::F16>(p[0], p[1]);
    Pk[mf][nf / 2][(nf & 1) * 2 + 1] = pack2<C::F16>(p[2], p[3]);
  }

  /// The row and column stages of a per-pair hook for this thread's rows
  /// and keys of a tile (indices clamped into range, as for the pairs).
  template <auto RowFn, auto ColFn, class Row, class Col>
  static __device__ __forceinline__ void rowsAndCols(Row (&rows)[MF][2], Col (&cols)[BN / 8][2], int warp, int lane,
                                                     int b, int h, int q0, int kv0, const FlashArgs &a,
                                                     const typename V::Params &P, int &status) {
#pragma unroll
    for (int mf = 0; mf < MF; ++mf)
#pragma unroll
      for (int half = 0; half < 2; ++half)
        RowFn(rows[mf][half], b, rowHead(a, h, q0 + rowOf(warp, lane, mf, half)),
              rowQuery(a, q0 + rowOf(warp, lane, mf, half)), P, status);
#pragma unroll
    for (int nf = 0; nf < BN / 8; ++nf)
#pragma unroll
      for (int j = 0; j < 2; ++j)
        ColFn(cols[nf][j], b, rowHead(a, h, 0), min(kv0 + colOf(lane, nf, j), a.M - 1), P, status);
  }

  /// The weights' numerators of one key tile for this warp's rows: S = Q
  /// K^T, then finishScores. Rows
  /// past N and keys past M reach score_mod clamped into range (their
  /// results are dropped later), so that its param reads stay in bounds.
  static __device__ __forceinline__ void scores(float (&S)[MF][BN / 8][4], const u16 *sQ, const u16 *sK, int warp,
                                                int lane, int b, int h, int q0, int kv0, const FlashArgs &a,
                                                const typename V::Params &P, int &status, int branch = 0) {
#pragma unroll
    for (int mf = 0; mf < MF; ++mf)
#pragma unroll
      for (int nf = 0; nf < BN / 8; ++nf)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          S[mf][nf][e] = 0.f;
    // Per-lane ldmatrix addresses; every other offset is a constant. Opaque,
    // so that the per-step addresses derived from them are made per tile, not
    // held in registers across the key-tile loop.
    u32 qAddr = opaque(smem_addr(sQ + QTile::offset(warp * MF * 16 + (lane & 7) + ((lane >> 3) & 1) * 8, lane >> 4)));
    u32 kAddr = opaque(smem_addr(sK + KTile::offset((lane & 7) + (lane >> 4) * 8, (lane >> 3) & 1)));
#pragma unroll
    for (int k = branch * DB / 16; k < (branch + 1) * DB / 16; ++k) {
      u32 A[MF][4];
#pragma unroll
      for (int mf = 0; mf < MF; ++mf)
        ldmatrix_x4(A[mf], QTile::at(qAddr, mf * 16, k * 2));
#pragma unroll
      for (int np = 0; np < BN / 16; ++np) {
        u32 Bf[4];
        ldmatrix_x4(Bf, KTile::at(kAddr, np * 16, k * 2));
#pragma unroll
        for (int mf = 0; mf < MF; ++mf)
          mma2(S[mf][2 * np], S[mf][2 * np + 1], A[mf], Bf);
      }
    }
    finishScores(S, warp, lane, b, h, q0, kv0, a, P, status);
  }

  /// Turns the raw products S = Q K^T of a key tile into the weights'
  /// numerators: the scale, the variant's score_mod and the normalizer.
  static __device__ __forceinline__ void finishScores(float (&S)[MF][BN / 8][4], int warp, int lane, int b, int h,
                                                      int q0, int kv0, const FlashArgs &a,
                                                      const typename V::Params &P, int &status) {
    // Raw scores go to softmax unscaled (kRawScores).
    if constexpr (!kRawScores) {
      typename V::ScoreRow rows[MF][2];
      typename V::ScoreCol cols[BN / 8][2];
      if constexpr (V::kHasScoreMod)
        rowsAndCols<V::score_mod_row, V::score_mod_col>(rows, cols, warp, lane, b, h, q0, kv0, a, P, status);
#pragma unroll
      for (int mf = 0; mf < MF; ++mf)
#pragma unroll
        for (int nf = 0; nf < BN / 8; ++nf)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            float t;
            if constexpr (V::kHasScoreMod) {
              int q = rowQuery(a, q0 + rowOf(warp, lane, mf, e >> 1));
              int kv = min(kv0 + colOf(lane, nf, e), a.M - 1);
              int hq = rowHead(a, h, q0 + rowOf(warp, lane, mf, e >> 1));
              t = V::score_mod(rows[mf][e >> 1], cols[nf][e & 1], S[mf][nf][e] * V::kScale, b, hq, q, kv, P, status) *
                      kPost +
                  kBiasT;
            } else {
              t = S[mf][nf][e] * kDirect + kBiasT;
            }
            if constexpr (V::kNormalizer == ATTNC_NORMALIZE_SIGMOID)
              t = __fdividef(1.f, 1.f + ex2(-t * kLog2e));
            else if constexpr (V::kNormalizer == ATTNC_NORMALIZE_RELU)
              t = fmaxf(t, 0.f);
            S[mf][nf][e] = t;
          }
    }
  }

  /// Drops the pairs of a partial or edge tile: keys past M, and, when
  /// `masked`, the pairs the variant's mask rejects (their weight becomes
  /// -inf before softmax, 0 for the other normalizers). Rows past N need
  /// nothing: they are never stored.
  static __device__ __forceinline__ void dropPairs(float (&S)[MF][BN / 8][4], int warp, int lane, int b, int h, int q0,
                                                   int kv0, bool masked, const FlashArgs &a,
                                                   const typename V::Params &P, int &status) {
    const float dropped = kSoftmax ? neg_inf() : 0.f;
    typename V::MaskRow rows[MF][2];
    typename V::MaskCol cols[BN / 8][2];
    if constexpr (V::kHasMask)
      rowsAndCols<V::mask_row, V::mask_col>(rows, cols, warp, lane, b, h, q0, kv0, a, P, status);
    // A selection: each row's word of key-block bits that holds this tile's
    // blocks (block_select.cuh; they lie in one word).
    u32 selected[MF][2];
    if constexpr (V::kSelect) {
#pragma unroll
      for (int mf = 0; mf < MF; ++mf)
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          const int q = min(q0 + rowOf(warp, lane, mf, half), a.N - 1);
          selected[mf][half] = a.selectBits[(i64(b) * a.H + h) * a.N * a.selectWords + i64(q) * a.selectWords +
                                            kv0 / V::kSelectBlock / 32];
        }
    }
#pragma unroll
    for (int mf = 0; mf < MF; ++mf)
#pragma unroll
      for (int nf = 0; nf < BN / 8; ++nf)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          int q = rowQuery(a, q0 + rowOf(warp, lane, mf, e >> 1));
          int hq = rowHead(a, h, q0 + rowOf(warp, lane, mf, e >> 1));
          int kv = kv0 + colOf(lane, nf, e);
          bool kept = kv < a.M;
          // The mask is called for every pair (clamped into range), without
          // a branch, so that param loads that pairs share are made once.
          bool pairKept = true;
          if constexpr (V::kHasMask)
            pairKept = V::mask(rows[mf][e >> 1], cols[nf][e & 1], b, hq, q, min(kv, a.M - 1), P, status);
          if constexpr (V::kSelect)
            pairKept &= (selected[mf][e >> 1] >> (kv / V::kSelectBlock % 32) & 1) != 0;
          if constexpr (V::kHasMask || V::kSelect)
            kept &= !masked | pairKept;
          S[mf][nf][e] = kept ? S[mf][nf][e] : dropped;
        }
  }

  /// Online softmax: turn S into weights, packed as they are made
  /// (packWeights), relative to each row's base (rowMax). The base moves to
  /// the row's new maximum only when that exceeds it by more than
  /// 2^kRescaleSlack (weights up to 2^8 are exact enough in f32 sums and
  /// 16-bit P); O and the row sums are rescaled only then, and the warp
  /// skips the rescale when no row needs it, which after the first few key
  /// tiles is the common case.
  static constexpr float kRescaleSlack = 8.f;
  // Row sums by MMA or by FADD: the Config's choice (see Config).
  static constexpr bool kSumByMma = kSoftmax && C::kSumsByMma;
  /// Softmax's limit for rows whose max is +inf (off the common path): the
  /// row's +inf scores weigh 1 each and the others 0 (a NaN stays NaN),
  /// as the weights' exp2 makes them from these scores and base 0.
  /// (Correction is then 0, from a finite max, or 1, from +inf.)
  static __device__ __forceinline__ void limitScores(float (&S)[MF][BN / 8][4], const float (&rowMax)[MF][2],
                                                     float (&base)[MF][2]) {
#pragma unroll
    for (int mf = 0; mf < MF; ++mf)
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        if (rowMax[mf][half] != pos_inf())
          continue;
        base[mf][half] = 0.f;
#pragma unroll
        for (int nf = 0; nf < BN / 8; ++nf)
#pragma unroll
          for (int e = half * 2; e < half * 2 + 2; ++e) {
            const float s = S[mf][nf][e];
            S[mf][nf][e] = s == pos_inf() ? 0.f : s - pos_inf(); // -inf, or NaN
          }
      }
  }

  static __device__ __forceinline__ void softmax(float (&S)[MF][BN / 8][4], u32 (&Pk)[MF][BN / 16][4],
                                                 float (&O)[MF][DV / 8][4], float (&rowMax)[MF][2],
                                                 float (&rowSum)[MF][4]) {
    float base[MF][2], correction[MF][2];
    bool rescale = false, infinite = false;
#pragma unroll
    for (int mf = 0; mf < MF; ++mf)
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        float mx = rowMax[mf][half];
#pragma unroll
        for (int nf = 0; nf < BN / 8; ++nf)
          mx = fmaxf(mx, fmaxf(S[mf][nf][half * 2], S[mf][nf][half * 2 + 1]));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
        // From -inf to a finite max always moves (inf > slack); a row with
        // nothing kept yet compares NaN and keeps -inf.
        bool move = (mx - rowMax[mf][half]) * kIn > kRescaleSlack;
        correction[mf][half] = move ? ex2((rowMax[mf][half] - mx) * kIn) : 1.f;
        rescale |= move;
        rowMax[mf][half] = move ? mx : rowMax[mf][half];
        // Subtract 0 from a row still at -inf, so that exp2(-inf - m) is 0
        // and never NaN.
        base[mf][half] = rowMax[mf][half] == neg_inf() ? 0.f : -rowMax[mf][half] * kIn;
        infinite |= rowMax[mf][half] == pos_inf();
        if constexpr (!kSumByMma)
          rowSum[mf][half * 2] *= correction[mf][half];
      }
    if (__any_sync(0xffffffffu, infinite))
      limitScores(S, rowMax, base);
    if (__any_sync(0xffffffffu, rescale))
#pragma unroll
      for (int mf = 0; mf < MF; ++mf) {
#pragma unroll
        for (int dn = 0; dn < DV / 8; ++dn)
#pragma unroll
          for (int e = 0; e < 4; ++e)
            O[mf][dn][e] *= correction[mf][e >> 1];
        // Sums made by the MMA are accumulators like O.
        if constexpr (kSumByMma)
#pragma unroll
          for (int e = 0; e < 4; ++e)
            rowSum[mf][e] *= correction[mf][e >> 1];
      }
#pragma unroll
    for (int mf = 0; mf < MF; ++mf)
#pragma unroll
      for (int nf = 0; nf < BN / 8; ++nf) {
        float p[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          p[e] = ex2(fmaf(S[mf][nf][e], kIn, base[mf][e >> 1]));
          if constexpr (!kSumByMma)
            rowSum[mf][(e >> 1) * 2] += p[e];
          if constexpr (C::kRecompute)
            S[mf][nf][e] = p[e]; // for accumulateResidual
        }
        packWeights(Pk, mf, nf, p);
      }
  }

  /// The other normalizers sum their weights only for an output_mod that
  /// reads the row sum (in rowSum's layout without the MMA: elements 0 and
  /// 2 hold this lane's part of its two rows' sums).
  static constexpr bool kSumWeights = !kSoftmax && V::kOutputModReadsStats;

  /// Packs weights that need no softmax (the other normalizers).
  static __device__ __forceinline__ void pack(const float (&S)[MF][BN / 8][4], u32 (&Pk)[MF][BN / 16][4],
                                              float (&rowSum)[MF][4]) {
#pragma unroll
    for (int mf = 0; mf < MF; ++mf)
#pragma unroll
      for (int nf = 0; nf < BN / 8; ++nf) {
        packWeights(Pk, mf, nf, S[mf][nf]);
        if constexpr (kSumWeights)
#pragma unroll
          for (int e = 0; e < 4; ++e)
            rowSum[mf][(e >> 1) * 2] += S[mf][nf][e];
      }
  }

  /// O += P V for one key tile.
  static __device__ __forceinline__ void accumulate(const u32 (&Pk)[MF][BN / 16][4], float (&O)[MF][DV / 8][4],
                                                    float (&rowSum)[MF][4], const u16 *sV, int lane) {
    u32 vAddr = opaque(smem_addr(sV + VTile::offset((lane & 7) + ((lane >> 3) & 1) * 8, lane >> 4)));
#pragma unroll
    for (int j = 0; j < BN / 16; ++j) {
#pragma unroll
      for (int dp = 0; dp < DV / 16; ++dp) {
        u32 Bf[4];
        ldmatrix_x4_trans(Bf, VTile::at(vAddr, j * 16, dp * 2));
#pragma unroll
        for (int mf = 0; mf < MF; ++mf)
          mma2(O[mf][2 * dp], O[mf][2 * dp + 1], Pk[mf][j], Bf);
      }
      if constexpr (kSumByMma) {
        const u32 ones = C::F16 ? 0x3c003c00u : 0x3f803f80u; // 1.0 in both halves
#pragma unroll
        for (int mf = 0; mf < MF; ++mf)
          mma16816<C::F16>(rowSum[mf], Pk[mf][j], ones, ones);
      }
    }
  }

  /// The backward's recomputation adds P V once more with what the 16-bit
  /// weights Pk dropped of S's (P = hi + lo): O then has the weights' f32
  /// precision, which the backward's delta = rowsum(dO * O) needs (a param's
  /// gradient sums the rounding of every row).
  static __device__ __forceinline__ void accumulateResidual(const float (&S)[MF][BN / 8][4],
                                                            const u32 (&Pk)[MF][BN / 16][4],
                                                            float (&O)[MF][DV / 8][4], float (&rowSum)[MF][4],
                                                            const u16 *sV, int lane) {
    u32 lo[MF][BN / 16][4];
#pragma unroll
    for (int mf = 0; mf < MF; ++mf)
#pragma unroll
      for (int nf = 0; nf < BN / 8; ++nf) {
        float r[4];
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          const u32 hi = Pk[mf][nf / 2][(nf & 1) * 2 + half];
          r[half * 2] = S[mf][nf][half * 2] - unpack_lo<C::F16>(hi);
          r[half * 2 + 1] = S[mf][nf][half * 2 + 1] - unpack_hi<C::F16>(hi);
        }
        packWeights(lo, mf, nf, r);
      }
    accumulate(lo, O, rowSum, sV, lane);
  }

  // The epilogue stages each warp's rows of O through shared memory (its
  // own part, so warps need no barrier between them), a chunk of kOutCols
  // columns at a time: the fragments go in as they lie in registers, and a
  // rolled loop takes rows out 8 values at a time into 16-byte stores, with
  // output_mod applied there, once in the code instead of once per register
  // (its param reads then coalesce too). Values are staged as f32 where
  // output_mod takes them, else packed as they are stored (OutputStage).
  static constexpr int kOutBytes = V::kHasOutputMod ? 4 : 2;
  // An output_mod that reads the row's statistics finds them beside the
  // warp's stage: (lse, row sum) per row.
  static constexpr int kStatBytes = V::kOutputModReadsStats ? MF * 16 * 8 : 0;
  static constexpr int outColumns() {
    int cols = DV;
    while (cols > 8 &&
           (DV % cols || output_stage_bytes(BM, cols, kOutBytes) + NT / 32 * kStatBytes > C::kOutStageBytes))
      cols -= 8;
    return cols;
  }
  static constexpr int kOutCols = outColumns();
  typedef OutputStage<kOutCols, kOutBytes> OutStage;
  static_assert(DV % kOutCols == 0 && NT / 32 * (OutStage::bytes(MF * 16) + kStatBytes) <= C::kOutStageBytes,
                "each warp stages its rows");

  static __device__ __forceinline__ void store(const float (&O)[MF][DV / 8][4], const float (&inv)[MF][2],
                                               const float (&lse)[MF][2], const float (&sums)[MF][2],
                                               unsigned char *smem, int warp, int lane, int b, int h, int q0,
                                               const FlashArgs &a, const typename V::Params &P, int &status) {
    constexpr int rows = MF * 16;
    unsigned char *stage = smem + warp * (OutStage::bytes(rows) + kStatBytes);
    float *stats = reinterpret_cast<float *>(stage + OutStage::bytes(rows));
    if constexpr (V::kOutputModReadsStats)
      if ((lane & 3) == 0)
#pragma unroll
        for (int mf = 0; mf < MF; ++mf)
#pragma unroll
          for (int half = 0; half < 2; ++half) {
            const int r = mf * 16 + half * 8 + (lane >> 2);
            stats[2 * r] = lse[mf][half], stats[2 * r + 1] = sums[mf][half];
          }
    // This lane's first fragment element; the others are constant offsets.
    unsigned char *fragment = stage + OutStage::offset(lane >> 2, (lane & 3) * 2);
    u16 *gRows = a.out + b * a.os[0] + h * a.os[1];
    const int firstRow = q0 + warp * rows;
    // 16-byte stores need 16-byte aligned rows; other views take 4 bytes.
    const bool wide = ((reinterpret_cast<unsigned long long>(a.out) | u64(a.os[0] | a.os[1] | a.os[2]) * 2) & 15) == 0;
#pragma unroll
    for (int c0 = 0; c0 < DV; c0 += kOutCols) {
#pragma unroll
      for (int mf = 0; mf < MF; ++mf)
#pragma unroll
        for (int half = 0; half < 2; ++half)
#pragma unroll
          for (int dn = c0 / 8; dn < (c0 + kOutCols) / 8; ++dn) {
            unsigned char *at = fragment + OutStage::offset(mf * 16 + half * 8, dn * 8 - c0);
            const float o0 = O[mf][dn][half * 2] * inv[mf][half], o1 = O[mf][dn][half * 2 + 1] * inv[mf][half];
            if constexpr (V::kHasOutputMod)
              *reinterpret_cast<F32x2 *>(at) = F32x2{o0, o1};
            else
              *reinterpret_cast<u32 *>(at) = pack2<C::F16>(o0, o1);
          }
      __syncwarp();
      constexpr int chunks = kOutCols / 8; // of 8 values per row
#pragma unroll 1
      for (int i = lane; i < rows * chunks; i += 32) {
        const int r = u32(i) / chunks, c = u32(i) % chunks * 8, q = firstRow + r;
        if (q >= a.N)
          continue;
        u32 packed[4];
        if constexpr (V::kHasOutputMod) {
          const F32x4 *o = reinterpret_cast<const F32x4 *>(stage + OutStage::offset(r, c));
          const F32x4 lo = o[0], hi = o[1];
          float x[8] = {lo.v[0], lo.v[1], lo.v[2], lo.v[3], hi.v[0], hi.v[1], hi.v[2], hi.v[3]};
          const float rowLse = V::kOutputModReadsStats ? stats[2 * r] : 0.f;
          const float rowSum = V::kOutputModReadsStats ? stats[2 * r + 1] : 0.f;
#pragma unroll
          for (int e = 0; e < 4; ++e)
            packed[e] =
                pack2<C::F16>(V::output_mod(x[2 * e], b, h, q, c0 + c + 2 * e, rowLse, rowSum, P, status),
                              V::output_mod(x[2 * e + 1], b, h, q, c0 + c + 2 * e + 1, rowLse, rowSum, P, status));
        } else {
          const U32x4 v = *reinterpret_cast<const U32x4 *>(stage + OutStage::offset(r, c));
#pragma unroll
          for (int e = 0; e < 4; ++e)
            packed[e] = v.w[e];
        }
        u16 *g = gRows + i64(q) * a.os[2] + c0 + c;
        if (wide) {
          *reinterpret_cast<U32x4 *>(g) = U32x4{{packed[0], packed[1], packed[2], packed[3]}};
        } else {
#pragma unroll
          for (int e = 0; e < 4; ++e)
            reinterpret_cast<u32 *>(g)[e] = packed[e];
        }
      }
      __syncwarp(); // the next chunk overwrites the stage
    }
  }

  /// An attention sink (natural units) joins a row's sum at the end, one
  /// more logit that weighs no value: the base moves to max(base, sink),
  /// and `sum` becomes the total, `keys` the weight of the accumulated
  /// keys relative to it; `top` is the new base (base 2), -inf when both are
  /// (+inf ones share the row: limit_ex2).
  static __device__ __forceinline__ void addSink(float rowMax, float sink, float &sum, float &keys, float &top) {
    const float base = rowMax == neg_inf() ? neg_inf() : rowMax * kIn + kOff, sinkT = sink * kLog2e;
    top = fmaxf(base, sinkT);
    keys = top == neg_inf() ? 0.f : limit_ex2(base, top);
    sum = top == neg_inf() ? 0.f : fmaf(sum, keys, limit_ex2(sinkT, top));
  }

  /// The end of the softmax: each row's 1 / sum (0 for a row with nothing
  /// kept) and lse, stored where asked for (split-KV keeps every row's lse
  /// for its parts instead, and combine_splits adds the sink; elsewhere it
  /// is made only where it is stored or output_mod reads it, so the
  /// epilogue stays lean), and the sum of the row's weights (`sums`, for an
  /// output_mod that reads it). Other normalizers: 1, 0 and their sum.
  static __device__ __forceinline__ void finishRows(const float (&rowMax)[MF][2], const float (&rowSum)[MF][4],
                                                    float (&inv)[MF][2], float (&lse)[MF][2], float (&sums)[MF][2],
                                                    int warp, int lane, int b, int h, int q0, const FlashArgs &a,
                                                    const typename V::Params &P, int &status) {
#pragma unroll
    for (int mf = 0; mf < MF; ++mf)
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        inv[mf][half] = 1.f, lse[mf][half] = 0.f, sums[mf][half] = 0.f;
        if constexpr (kSoftmax || kSumWeights) {
          const int q = q0 + rowOf(warp, lane, mf, half);
          float sum = rowSum[mf][half * 2];
          if constexpr (!kSumByMma) {
            sum += __shfl_xor_sync(0xffffffffu, sum, 1);
            sum += __shfl_xor_sync(0xffffffffu, sum, 2);
          }
          if constexpr (!kSoftmax) {
            sums[mf][half] = sum;
            continue;
          }
          const float keysSum = sum;
          float keys = 1.f, top = rowMax[mf][half] * kIn + kOff;
          if constexpr (V::kHasSink && !C::kSplitKv)
            addSink(rowMax[mf][half], V::sink(b, rowHead(a, h, q), P, status), sum, keys, top);
          // The sum is 0 only for a row with nothing kept; NaN (a NaN score)
          // goes on to out and lse.
          inv[mf][half] = sum != 0.f ? keys / sum : 0.f;
          sums[mf][half] = keysSum * inv[mf][half];
          // Made where it is used: most epilogues only store it.
          auto value = [&] { return sum != 0.f ? (top + __log2f(sum)) * kLn2 : neg_inf(); };
          if constexpr (C::kSplitKv || V::kOutputModReadsStats)
            lse[mf][half] = value();
          if (!C::kSplitKv && a.lse && q < a.N && (lane & 3) == 0)
            a.lse[b * a.ls[0] + h * a.ls[1] + q * a.ls[2]] = value();
        }
      }
  }

  typedef TileCopy<KTile, BN, NT> KCopy;
  typedef TileCopy<VTile, BN, NT> VCopy;

  /// Starts copying key/value tile `t` (TileWalker::next's code; none when
  /// negative) into `slot`, as one group. The copies' pointers are rebuilt
  /// here from the launch's values (opaque, so not hoisted out of the
  /// key-tile loop): a few integer ops per tile instead of registers held
  /// across it.
  static __device__ __forceinline__ void issue(int t, int slot, const FlashArgs &a, int b, int hk, u32 sK, u32 sV,
                                               PageCursor &pages) {
    if constexpr (C::kPaged) {
      if (t >= 0)
        issuePaged(TileWalker<V, C>::firstKey(t), slot, a, b, hk, sK, sV, pages);
      cp_async_commit();
      return;
    }
    if (t >= 0) {
      const int tid = opaque(int(threadIdx.x));
      KCopy(a.k + b * a.ks[0] + hk * a.ks[1], a.ks[2], tid)(sK + slot * 2 * KTile::elements(BN),
                                                            TileWalker<V, C>::firstKey(t), a.M);
      VCopy(a.v + b * a.vs[0] + hk * a.vs[1], a.vs[2], tid)(sV + slot * 2 * VTile::elements(BN),
                                                            TileWalker<V, C>::firstKey(t), a.M);
    }
    cp_async_commit(); // empty groups keep the group count uniform
  }

  /// A paged KV cache: the tile's keys from their pages. A tile within one
  /// page (page sizes that are multiples of BN) copies as a contiguous one
  /// from that page; others gather their rows page by page. Keys at or past
  /// the sequence's length (a.M here) are zero-filled.
  static __device__ __forceinline__ void issuePaged(int key, int slot, const FlashArgs &a, int b, int hk, u32 sK,
                                                    u32 sV, PageCursor &pages) {
    const int tid = opaque(int(threadIdx.x));
    const u32 k = sK + slot * 2 * KTile::elements(BN), v = sV + slot * 2 * VTile::elements(BN);
    if (a.pageSize % BN == 0) {
      const int pageSlot = key / a.pageSize, first = pageSlot * a.pageSize;
      const i64 page = pages.at(a, b, pageSlot);
      const int end = min(a.M - first, a.pageSize);
      KCopy(a.k + page * a.ks[0] + hk * a.ks[1], a.ks[2], tid)(k, key - first, end);
      VCopy(a.v + page * a.vs[0] + hk * a.vs[1], a.vs[2], tid)(v, key - first, end);
    } else {
      copy_paged_rows<KTile, BN, NT>(k, a.k + hk * a.ks[1], a.ks[0], a.ks[2], a, b, key, tid, pages);
      copy_paged_rows<VTile, BN, NT>(v, a.v + hk * a.vs[1], a.vs[0], a.vs[2], a, b, key, tid, pages);
    }
  }

  /// The grid is one line of B * H * tilesQ CTAs, dispatched in order.
  /// (b, h) pairs go in groups of kHeadGroup; within a group the heaviest
  /// query tiles (the last, under causal masks) of every pair come first,
  /// so that the grid ends on the lightest tiles of all pairs, not on the
  /// heaviest of the last one (a tail that leaves most SMs idle), and a
  /// group's pairs, whose CTAs run together, share their K/V in L2. 8
  /// measured best on the H100 (bench/RESULTS.md: causal 7-12% faster than
  /// one pair after another; 2 and all pairs in one group slower).
  /// Split-KV grids are `splits` such lines, one per key range, so that
  /// the CTAs of one range (the heads that share a kv head among them) run
  /// together and share K/V in L2.
  static constexpr int kHeadGroup = 8;
  static __device__ __forceinline__ unsigned cta(const FlashArgs &a) {
    if constexpr (C::kSplitKv)
      return blockIdx.x % unsigned(a.B * gridHeads(a) * a.tilesQ);
    return blockIdx.x;
  }
  static __device__ __forceinline__ int split(const FlashArgs &a) {
    if constexpr (C::kSplitKv)
      return int(blockIdx.x / unsigned(a.B * gridHeads(a) * a.tilesQ));
    return 0;
  }
  static __device__ __forceinline__ int groupOf(const FlashArgs &a) { return cta(a) / (kHeadGroup * a.tilesQ); }
  static __device__ __forceinline__ int groupSize(const FlashArgs &a) {
    return min(kHeadGroup, a.B * gridHeads(a) - groupOf(a) * kHeadGroup);
  }
  static __device__ __forceinline__ int queryTile(const FlashArgs &a) {
    return a.tilesQ - 1 - (cta(a) - groupOf(a) * kHeadGroup * a.tilesQ) / groupSize(a);
  }
  static __device__ __forceinline__ int batchHead(const FlashArgs &a) {
    return groupOf(a) * kHeadGroup + (cta(a) - groupOf(a) * kHeadGroup * a.tilesQ) % groupSize(a);
  }

  /// Split-KV: this CTA's rows of the normalised output and their lse go
  /// to the parts (see FlashArgs), for the combine kernel, which applies
  /// output_mod and stores.
  static __device__ __forceinline__ void storePartial(const float (&O)[MF][DV / 8][4], const float (&inv)[MF][2],
                                                      const float (&lse)[MF][2], const float (&sums)[MF][2], int warp,
                                                      int lane, int b, int h, int q0, const FlashArgs &a) {
    const i64 rows = i64(a.B) * a.H * a.N;
#pragma unroll
    for (int mf = 0; mf < MF; ++mf)
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int p = q0 + rowOf(warp, lane, mf, half);
        if (p >= a.N * a.group)
          continue;
        const i64 row = i64(split(a)) * rows + (i64(b) * a.H + rowHead(a, h, p)) * a.N + p / a.group;
        float *o = a.partialOut + row * DV + (lane & 3) * 2;
#pragma unroll
        for (int dn = 0; dn < DV / 8; ++dn)
          *reinterpret_cast<F32x2 *>(o + dn * 8) =
              F32x2{O[mf][dn][half * 2] * inv[mf][half], O[mf][dn][half * 2 + 1] * inv[mf][half]};
        // The other normalizers' parts add up: their row sums, in place of
        // lse. A softmax row of +inf scores: their count (1 / inv).
        if ((lane & 3) == 0) {
          a.partialLse[row] = kSoftmax ? lse[mf][half] : sums[mf][half];
          if constexpr (kSoftmax)
            a.partialTies[row] = lse[mf][half] == pos_inf() ? 1.f / inv[mf][half] : 0.f;
        }
      }
  }

  /// Branches: output_mod combines the branches' normalised outputs and
  /// statistics where they lie in registers (the same fragment element of
  /// every branch is the same (row, column)), from branch 0's as its
  /// arguments and the others' as `bo`, `bl` and `bs` (attn.branch), and
  /// each lane stores its pairs of columns.
  static __device__ __forceinline__ void storeBranches(const float (&O)[BR][MF][DV / 8][4],
                                                       const float (&inv)[BR][MF][2], const float (&lse)[BR][MF][2],
                                                       const float (&sums)[BR][MF][2], int warp, int lane, int b,
                                                       int h, int q0, const FlashArgs &a,
                                                       const typename V::Params &P, int &status) {
#pragma unroll
    for (int mf = 0; mf < MF; ++mf)
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int q = q0 + rowOf(warp, lane, mf, half);
        if (q >= a.N)
          continue;
        float bl[BR - 1], bs[BR - 1];
#pragma unroll
        for (int br = 1; br < BR; ++br)
          bl[br - 1] = lse[br][mf][half], bs[br - 1] = sums[br][mf][half];
        u16 *g = a.out + b * a.os[0] + h * a.os[1] + i64(q) * a.os[2] + (lane & 3) * 2;
#pragma unroll
        for (int dn = 0; dn < DV / 8; ++dn) {
          float x[2];
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            float bo[BR - 1];
#pragma unroll
            for (int br = 1; br < BR; ++br)
              bo[br - 1] = O[br][mf][dn][half * 2 + e] * inv[br][mf][half];
            x[e] = V::output_mod(bo, bl, bs, O[0][mf][dn][half * 2 + e] * inv[0][mf][half], b, h, q,
                                 colOf(lane, dn, e), lse[0][mf][half], sums[0][mf][half], P, status);
          }
          *reinterpret_cast<u32 *>(g + dn * 8) = pack2<C::F16>(x[0], x[1]);
        }
      }
  }

  /// The backward's recomputation: this CTA's rows of the normalised
  /// output before output_mod, in f32, to partialOut, and their weight
  /// sums (row_sum) to partialLse.
  static __device__ __forceinline__ void storeRecomputed(const float (&O)[MF][DV / 8][4], const float (&inv)[MF][2],
                                                         const float (&sums)[MF][2], int warp, int lane, int b, int h,
                                                         int q0, const FlashArgs &a) {
#pragma unroll
    for (int mf = 0; mf < MF; ++mf)
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int q = q0 + rowOf(warp, lane, mf, half);
        if (q >= a.N)
          continue;
        const i64 row = (i64(b) * a.H + h) * a.N + q;
        float *o = a.partialOut + row * DV + (lane & 3) * 2;
#pragma unroll
        for (int dn = 0; dn < DV / 8; ++dn)
          *reinterpret_cast<F32x2 *>(o + dn * 8) =
              F32x2{O[mf][dn][half * 2] * inv[mf][half], O[mf][dn][half * 2 + 1] * inv[mf][half]};
        if ((lane & 3) == 0)
          a.partialLse[row] = sums[mf][half];
      }
  }

  /// A paged KV cache: the CTA's walk runs over its sequence's keys (a.M
  /// becomes its length; see paged_kv.cuh).
  static __device__ __forceinline__ void run(const FlashArgs &args, const typename V::Params &P) {
    if constexpr (C::kPaged) {
      int status = 0;
      const FlashArgs a = paged_sequence(args, batchHead(args) / gridHeads(args), status);
      if (status)
        atomicCAS(args.status, 0, status);
      runOn(a, P);
    } else {
      runOn(args, P);
    }
  }

  static __device__ __forceinline__ void runOn(const FlashArgs &a, const typename V::Params &P) {
    extern __shared__ __align__(128) unsigned char smem[];
    u16 *sQ = reinterpret_cast<u16 *>(smem);
    u16 *sK = sQ + QTile::elements(BM);
    u16 *sV = sK + C::STAGES * KTile::elements(BN);
    const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
    // h: the query head, or when packed the kv head (see rowHead).
    const int qt = queryTile(a), bh = batchHead(a), h = bh % gridHeads(a), b = bh / gridHeads(a);
    const int hk = kPacked ? h : h / a.group, q0 = qt * BM;
    const u32 sKAddr = smem_addr(sK), sVAddr = smem_addr(sV);
    if constexpr (kPacked)
      copy_packed_rows<QTile, BM, NT>(smem_addr(sQ), a.q + b * a.qs[0] + i64(h) * a.group * a.qs[1], a.qs[1], a.qs[2],
                                      q0, a.group, a.N * a.group, tid);
    else
      TileCopy<QTile, BM, NT>(a.q + b * a.qs[0] + h * a.qs[1], a.qs[2], tid)(smem_addr(sQ), q0, a.N);

    // tile[i] is the i-th upcoming key tile (as TileWalker::next encodes
    // it), loading into slot (it + i) % STAGES; the array shifts by one per
    // iteration (compile-time indices keep it in registers).
    int status = 0;
    // Paged: the sequence's tiles (a.tilesKv stays the block map's stride).
    const int tilesKv = C::kPaged ? (a.M + BN - 1) / BN : a.tilesKv;
    int firstTile = 0, endTile = tilesKv;
    if constexpr (C::kSplitKv) {
      firstTile = min(split_first_tile(tilesKv, a.splits, split(a)), tilesKv);
      endTile = min(split_first_tile(tilesKv, a.splits, split(a) + 1), tilesKv);
    }
    TileWalker<V, C> walk(a, P, b, h, qt, status, firstTile, endTile);
    int tile[C::STAGES];
    PageCursor pages; // paged KV only
#pragma unroll
    for (int s = 0; s < C::STAGES; ++s) {
      tile[s] = walk.next();
      issue(tile[s], s, a, b, hk, sKAddr, sVAddr, pages);
    }

    // rowSum[mf] is laid out as an m16n8 accumulator: with kSumByMma every
    // column holds its row's sum; else elements 0 and 2 hold this lane's
    // part of its two rows' sums, added across the quad at the end. One
    // state per branch.
    float O[BR][MF][DV / 8][4], rowMax[BR][MF][2], rowSum[BR][MF][4];
#pragma unroll
    for (int br = 0; br < BR; ++br)
#pragma unroll
      for (int mf = 0; mf < MF; ++mf) {
#pragma unroll
        for (int dn = 0; dn < DV / 8; ++dn)
#pragma unroll
          for (int e = 0; e < 4; ++e)
            O[br][mf][dn][e] = 0.f;
        rowMax[br][mf][0] = rowMax[br][mf][1] = neg_inf();
        rowSum[br][mf][0] = rowSum[br][mf][1] = rowSum[br][mf][2] = rowSum[br][mf][3] = 0.f;
      }
#pragma unroll 1
    for (int it = 0; tile[0] >= 0; ++it) {
      const int slot = it % C::STAGES;
      cp_async_wait<C::STAGES - 1>();
      __syncthreads();
      const int kv0 = TileWalker<V, C>::firstKey(tile[0]);
      const bool partial = TileWalker<V, C>::masked(tile[0]);
      const u16 *sKs = sK + slot * KTile::elements(BN);
#pragma unroll
      for (int br = 0; br < BR; ++br) {
        float S[MF][BN / 8][4];
        scores(S, sQ, sKs, warp, lane, b, h, q0, kv0, a, P, status, br);
        if (partial || kv0 + BN > a.M)
          dropPairs(S, warp, lane, b, h, q0, kv0, partial, a, P, status);
        u32 Pk[MF][BN / 16][4];
        if constexpr (V::kNormalizer == ATTNC_NORMALIZE_SOFTMAX)
          softmax(S, Pk, O[br], rowMax[br], rowSum[br]);
        else
          pack(S, Pk, rowSum[br]);
        accumulate(Pk, O[br], rowSum[br], sV + slot * VTile::elements(BN), lane);
        if constexpr (C::kRecompute)
          accumulateResidual(S, Pk, O[br], rowSum[br], sV + slot * VTile::elements(BN), lane);
      }
      __syncthreads(); // every warp is done with this slot
#pragma unroll
      for (int s = 0; s + 1 < C::STAGES; ++s)
        tile[s] = tile[s + 1];
      tile[C::STAGES - 1] = walk.next();
      issue(tile[C::STAGES - 1], slot, a, b, hk, sKAddr, sVAddr, pages);
    }
    cp_async_wait<0>();

    // Epilogue: lse per row; O normalised and stored (store).
    float inv[BR][MF][2], lse[BR][MF][2], sums[BR][MF][2];
#pragma unroll
    for (int br = 0; br < BR; ++br)
      finishRows(rowMax[br], rowSum[br], inv[br], lse[br], sums[br], warp, lane, b, h, q0, a, P, status);
    if constexpr (BR > 1) {
      storeBranches(O, inv, lse, sums, warp, lane, b, h, q0, a, P, status);
      if (status)
        atomicCAS(a.status, 0, status);
      return;
    }
    if constexpr (C::kSplitKv) {
      storePartial(O[0], inv[0], lse[0], sums[0], warp, lane, b, h, q0, a);
      if (status)
        atomicCAS(a.status, 0, status);
      return;
    }
    if constexpr (C::kRecompute) {
      storeRecomputed(O[0], inv[0], sums[0], warp, lane, b, h, q0, a);
      if (status)
        atomicCAS(a.status, 0, status);
      return;
    }
    __syncthreads(); // every warp is done with Q, K and V: smem is free
    if constexpr (BR == 1) // (output_mod takes other arguments with branches)
      store(O[0], inv[0], lse[0], sums[0], reinterpret_cast<unsigned char *>(smem), warp, lane, b, h, q0, a, P,
            status);
    if (status)
      atomicCAS(a.status, 0, status);
  }
};

} // namespace attnc_cuda

#endif // ATTNC_CUDA_SM80_FORWARD_CUH
