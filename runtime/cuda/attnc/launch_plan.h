//===- launch_plan.h - one call's launch, for either host -------*- C++ -*-===//
//
// Host-only plain C++ (no CUDA headers): what both launchers of the GPU
// kernels decide before they allocate and launch, made once. The AOT entry
// points (HostCall in host_launch.cuh, the CUDA runtime API) and attnc's JIT
// (lib/JIT/GpuKernel.cpp, the driver API) each check the views, plan the
// call, then allocate scratch and launch as the plan says:
//   check_views(views)                     layout: which view, and why
//   plan_forward(plan, views, lse, BM, BN) FlashArgs, tile counts, grid
//   plan_block_map(plan, ...)              scratch words, block-map rows
//   plan_splits(plan, ...)                 split-KV: key ranges, parts' words
//   plan_select(plan, ...)                 a selection: block sums, row bits
//   (allocate plan.scratchWords int32 words; set plan.args.status)
//   bind_scratch(plan, scratch)            BlockMapArgs, block strides
//   launch the block map (plan.blockMapCtas; with a selection, after the
//   pooling kernel, plan.poolCtas), then the forward kernel
//   (plan.forwardCtas), then split-KV's combine (plan.combineCtas), every
//   grid one line of CTAs.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_CUDA_LAUNCH_PLAN_H
#define ATTNC_CUDA_LAUNCH_PLAN_H

#include "attnc/flash_args.h" // FlashArgs, BlockMapArgs, block_map_ctas

#include <climits>
#include <cstdint>
#include <string>

namespace attnc_cuda {

/// A tensor as the launcher checks it: the address of its first element
/// and, per dimension, size and stride in elements (dimensions past its
/// rank: size 1, stride 0).
struct TensorDims {
  const void *data;
  i64 size[4], stride[4];
};

template <class Int> inline TensorDims tensor_dims(const void *data, const Int *sizes, const Int *strides, int rank) {
  TensorDims t = {data, {1, 1, 1, 1}, {0, 0, 0, 0}};
  for (int d = 0; d < rank && d < 4; ++d)
    t.size[d] = sizes[d], t.stride[d] = strides[d];
  return t;
}

/// What a check found wrong with a call (kNone: nothing).
enum class LaunchCheck {
  kNone,
  kShape,         // a view's size `dim` is `got`, not `need`
  kHeads,         // k's heads (`got`) do not divide q's (`need`)
  kHeadDimStride, // a view's head dim has stride `got`, not 1
  kRowStride,     // a view's stride `dim` (`got`) is not a multiple of `need`
  kAlignment,     // a view's data is not `need`-byte aligned
  kLength,        // N or M is 2^30 or more
  kQueryTiles,    // `got` CTAs of `need` query rows: 2^31 or more
  kParamRank,     // a tensor param of rank `got` > 4
};

/// The first problem a check found: which check, which view ("q", "k",
/// "v", "out", "lse"; empty where none) and the values that failed it.
struct LaunchProblem {
  LaunchCheck check = LaunchCheck::kNone;
  const char *view = "";
  int dim = 0;
  i64 got = 0, need = 0;
  explicit operator bool() const { return check != LaunchCheck::kNone; }
};

inline LaunchProblem launch_problem(LaunchCheck check, const char *view, int dim, i64 got, i64 need) {
  LaunchProblem p;
  p.check = check, p.view = view, p.dim = dim, p.got = got, p.need = need;
  return p;
}

/// The problem as a sentence, as attnc's JIT reports it.
inline std::string describe(const LaunchProblem &p) {
  const std::string view = p.view, got = std::to_string(p.got), need = std::to_string(p.need);
  switch (p.check) {
  case LaunchCheck::kNone:
    return "";
  case LaunchCheck::kShape:
    return view + ": GPU kernels need size " + need + " in dimension " + std::to_string(p.dim) + "; got " + got;
  case LaunchCheck::kHeads:
    return "k: GPU kernels need key/value heads that divide the " + need + " query heads; got " + got;
  case LaunchCheck::kHeadDimStride:
    return view + ": GPU kernels need a contiguous head dim (stride 1); got stride " + got;
  case LaunchCheck::kRowStride:
    return view + ": GPU kernels need strides that are multiples of " + need + " elements; got " + got +
           " in dimension " + std::to_string(p.dim);
  case LaunchCheck::kAlignment:
    return view + ": GPU kernels need " + need + "-byte aligned data";
  case LaunchCheck::kLength:
    return "GPU kernels take N, M < 2^30";
  case LaunchCheck::kQueryTiles:
    return "GPU kernels take B * H * ceil(N / " + need + ") < 2^31 query tiles; got " + got;
  case LaunchCheck::kParamRank:
    return "GPU kernels take params of rank 4 at most";
  }
  return "";
}

/// The views' names, in the order launchers pass them.
inline const char *view_name(int t) {
  static const char *const names[] = {"q", "k", "v", "out"};
  return names[t];
}

/// Shapes against each other and the kernel's head dims: q [B, H, N, d],
/// k [B, Hkv, M, d], v [B, Hkv, M, dv], out [B, H, N, dv], lse [B, H, N]
/// (may be null), Hkv dividing H. (attnc's JIT checks these, with the CPU
/// kernels', before it picks a target.)
inline LaunchProblem check_shapes(const TensorDims (&views)[4], const TensorDims *lse, int d, int dv) {
  const i64 B = views[0].size[0], H = views[0].size[1], N = views[0].size[2];
  const i64 Hkv = views[1].size[1], M = views[1].size[2];
  const i64 want[4][4] = {{B, H, N, d}, {B, Hkv, M, d}, {B, Hkv, M, dv}, {B, H, N, dv}};
  for (int t = 0; t < 4; ++t)
    for (int i = 0; i < 4; ++i)
      if (views[t].size[i] != want[t][i])
        return launch_problem(LaunchCheck::kShape, view_name(t), i, views[t].size[i], want[t][i]);
  if (Hkv < 1 || H % Hkv != 0)
    return launch_problem(LaunchCheck::kHeads, "k", 1, Hkv, H);
  for (int i = 0; lse && i < 3; ++i)
    if (lse->size[i] != want[0][i])
      return launch_problem(LaunchCheck::kShape, "lse", i, lse->size[i], want[0][i]);
  return LaunchProblem();
}

/// What the kernels need of the layout: q, k and v are read 16 bytes at a
/// time along rows, out is written 4 (contiguous head dims, strides and data
/// aligned to that), and N, M < 2^30.
inline LaunchProblem check_views(const TensorDims (&views)[4]) {
  for (int t = 0; t < 4; ++t) {
    const TensorDims &v = views[t];
    if (v.stride[3] != 1 && v.size[3] != 1)
      return launch_problem(LaunchCheck::kHeadDimStride, view_name(t), 3, v.stride[3], 1);
    const i64 align = t < 3 ? 8 : 2; // elements of 2 bytes
    for (int d = 0; d < 3; ++d)
      if (v.stride[d] % align != 0)
        return launch_problem(LaunchCheck::kRowStride, view_name(t), d, v.stride[d], align);
    if (reinterpret_cast<uintptr_t>(v.data) % (align * 2) != 0)
      return launch_problem(LaunchCheck::kAlignment, view_name(t), 0, 0, align * 2);
  }
  if (views[0].size[2] > INT_MAX / 2 || views[1].size[2] > INT_MAX / 2)
    return launch_problem(LaunchCheck::kLength, "", 2, 0, 0);
  return LaunchProblem();
}

/// Tensor params: rank 4 at most (ParamSlot's extent).
inline LaunchProblem check_param_rank(i64 rank) {
  return rank > 4 ? launch_problem(LaunchCheck::kParamRank, "", 0, rank, 4) : LaunchProblem();
}

/// Scratch words before the block map, which empty tensor params point at
/// (the kernels read params even out of bounds; 16 bytes would do): the
/// JIT keeps its status words there (ATTNC_STATUS_WORDS, ParamSlot::status).
constexpr int kScratchHeadWords = ATTNC_STATUS_WORDS;

/// One call's launch: the kernels' arguments, the scratch it needs and the
/// grids (one line of CTAs each).
struct LaunchPlan {
  FlashArgs args = {};   // the forward kernel's; status is the caller's
  BlockMapArgs map = {}; // the block-map kernel's (blockMap; bind_scratch)
  bool blockMap = false;
  bool packHeads = false;               // split_kv: tiles of the query heads of a kv head
  i64 mapRows = 0;                      // (b, h, query tile) rows of the block map
  i64 scratchWords = kScratchHeadWords; // int32 words: the head, counts, lists, then parts
  i64 partialWords = 0;                 // split-KV's parts (f32), at the end of the scratch
  // A dynamic block selection (plan_select): the block sums' and the rows'
  // bits' words, after the block map; the pooling and selection grids.
  i64 sumWords = 0, bitWords = 0;
  unsigned poolCtas = 0;
  unsigned forwardCtas = 0, blockMapCtas = 0, combineCtas = 0;
};

/// Fills plan.args from checked views (lse may be null) for tiles of
/// `tileQ` query and `tileKv` key rows, and sizes the forward grid: one CTA
/// per query tile of every (b, h), which must stay below 2^31. With
/// `packHeads` (split_kv) a tile's rows are the queries of the H / Hkv query
/// heads of one kv head, and the grid runs over (b, kv head, tile).
inline LaunchProblem plan_forward(LaunchPlan &plan, const TensorDims (&views)[4], const TensorDims *lse, int tileQ,
                                  int tileKv, bool packHeads = false) {
  FlashArgs &a = plan.args;
  const TensorDims &q = views[0], &k = views[1], &v = views[2], &out = views[3];
  a.q = static_cast<const u16 *>(q.data);
  a.k = static_cast<const u16 *>(k.data);
  a.v = static_cast<const u16 *>(v.data);
  a.out = static_cast<u16 *>(const_cast<void *>(out.data));
  a.lse = lse ? static_cast<float *>(const_cast<void *>(lse->data)) : nullptr;
  for (int d = 0; d < 3; ++d) {
    a.qs[d] = q.stride[d], a.ks[d] = k.stride[d], a.vs[d] = v.stride[d], a.os[d] = out.stride[d];
    a.ls[d] = lse ? lse->stride[d] : 0;
  }
  const i64 B = q.size[0], H = q.size[1], N = q.size[2], Hkv = k.size[1], M = k.size[2];
  a.B = int(B), a.H = int(H), a.N = int(N), a.M = int(M), a.group = int(H / Hkv);
  a.splits = 1; // plan_splits may cut the keys
  plan.packHeads = packHeads;
  const i64 rows = packHeads ? N * (H / Hkv) : N, heads = packHeads ? Hkv : H;
  const i64 tilesQ = (rows + tileQ - 1) / tileQ, ctas = tilesQ * heads * B;
  if (ctas > INT_MAX)
    return launch_problem(LaunchCheck::kQueryTiles, "q", 2, ctas, tileQ);
  a.tilesQ = int(tilesQ), a.tilesKv = int((M + tileKv - 1) / tileKv);
  plan.forwardCtas = unsigned(ctas);
  return LaunchProblem();
}

/// A paged KV cache's k or v pages ([num_pages, page_size, Hkv, D]) as the
/// [B, Hkv, M, D] view that check_views and plan_forward take, M =
/// maxPages * page_size: its "batch" stride is the page stride (the kernel
/// adds page * stride where it would add b * stride) and its row stride
/// the pages' row stride.
inline TensorDims paged_logical_view(const TensorDims &pages, i64 B, i64 maxPages) {
  return TensorDims{pages.data,
                    {B, pages.size[2], maxPages * pages.size[1], pages.size[3]},
                    {pages.stride[0], pages.stride[2], pages.stride[1], pages.stride[3]}};
}

/// After plan_forward on the logical views: the page table [B, max_pages]
/// (rows of unit stride: the caller checks) and lengths [B] (int32) of
/// the `pages` of k.
inline void plan_paged(LaunchPlan &plan, const TensorDims &pages, const TensorDims &table, const TensorDims &lens) {
  FlashArgs &a = plan.args;
  a.pageTable = static_cast<const int *>(table.data);
  a.seqLens = static_cast<const int *>(lens.data);
  a.tableStride = table.stride[0];
  a.lensStride = lens.stride[0];
  a.pageSize = int(pages.size[1]);
  a.numPages = int(pages.size[0]);
}

/// Sizes the block map (when the kernel has one: its rows per batch and
/// head where the classifier reads them) and the scratch: the head words,
/// then a count and a list of tilesKv entries per row.
inline void plan_block_map(LaunchPlan &plan, bool blockMap, bool usesBatch, bool usesHead) {
  const FlashArgs &a = plan.args;
  // Packed tiles are rows of one kv head's query heads (see plan_forward).
  const int heads = plan.packHeads ? a.H / a.group : a.H;
  plan.blockMap = blockMap;
  plan.mapRows = blockMap ? i64(usesBatch ? a.B : 1) * (usesHead ? heads : 1) * a.tilesQ : 0;
  plan.scratchWords = kScratchHeadWords + (blockMap ? plan.mapRows * (1 + a.tilesKv) : 0);
  if (blockMap) {
    const int mapB = usesBatch ? a.B : 1, mapH = usesHead ? heads : 1;
    plan.map = BlockMapArgs{mapB,      mapH,    a.N,     a.M,     a.tilesQ,
                            a.tilesKv, nullptr, nullptr, nullptr, plan.packHeads ? a.group : 1};
    plan.args.blockStrideB = usesBatch ? mapH * a.tilesQ : 0;
    plan.args.blockStrideH = usesHead ? a.tilesQ : 0;
  }
}

/// A dynamic block selection of `block` keys a block (after
/// plan_block_map, whose map then has rows per batch and head): the block
/// sums ([B * Hkv * blocks][d] f32) and the rows' bits ([B * H * N][words])
/// after the block map, and the pooling grid (a CTA per block sum).
inline void plan_select(LaunchPlan &plan, int block, int d) {
  FlashArgs &a = plan.args;
  a.selectBlocks = int((i64(a.M) + block - 1) / block);
  a.selectWords = (a.selectBlocks + 31) / 32;
  const i64 sums = i64(a.B) * (a.H / a.group) * a.selectBlocks;
  plan.sumWords = sums * d;
  plan.bitWords = i64(a.B) * a.H * a.N * a.selectWords;
  plan.scratchWords += plan.sumWords + plan.bitWords;
  plan.poolCtas = unsigned(sums);
}

/// CTAs of `threads` threads and `sharedBytes` of shared memory that one SM
/// of sm_80/sm_90 holds at once (its 228 KiB, 1 KiB of each CTA kept by the
/// driver; 64K registers at up to 255 a thread).
inline int resident_ctas(int threads, long long sharedBytes) {
  int bySmem = int((228 * 1024) / (sharedBytes + 1024));
  int byRegs = 65536 / (256 * (threads > 0 ? threads : 1));
  int n = bySmem < byRegs ? bySmem : byRegs;
  n = n < 32 ? n : 32;
  return n > 0 ? n : 1;
}

/// Split-KV: cuts every query tile's key tiles into ranges, one CTA each,
/// so that the grid fills `sms` SMs of `resident` CTAs each (at most
/// `maxSplits` ranges, none of them empty), and sizes the parts that the
/// combine kernel merges (after the block map's words); one range still
/// goes through the parts, as the combine kernel writes out.
inline void plan_splits(LaunchPlan &plan, int sms, int resident, int maxSplits, int dv) {
  FlashArgs &a = plan.args;
  const i64 base = plan.forwardCtas, slots = i64(sms) * resident;
  i64 splits = base > 0 ? (slots + base - 1) / base : 1;
  splits = splits < maxSplits ? splits : maxSplits;
  splits = splits < a.tilesKv ? splits : a.tilesKv;
  if (splits > 1) {
    const i64 chunk = (a.tilesKv + splits - 1) / splits;
    splits = (a.tilesKv + chunk - 1) / chunk; // no empty range
  }
  a.splits = splits > 1 ? int(splits) : 1;
  // More than one range only where the grid is smaller than the GPU: never
  // past 2^31 CTAs.
  plan.forwardCtas = unsigned(base * a.splits);
  const i64 rows = combine_rows(a);
  plan.partialWords = i64(a.splits) * rows * (dv + 2);
  plan.scratchWords += plan.scratchWords % 2 + plan.partialWords; // parts 8-byte aligned
  plan.combineCtas = unsigned(combine_ctas(a));
}

/// A rank-4 tensor map of 16-bit elements as the driver's
/// cuTensorMapEncodeTiled takes it (sm90_wgmma's q, k and v): sizes and
/// byte strides from the head dim out (head dim, rows, heads, batch), and a
/// box of one 128-byte swizzled panel (64 columns) by `rows` rows. A
/// dimension of size 1 gets the stride of a packed one (any multiple of 16
/// will do; the caller's may be 0).
struct TensorMapShape {
  const void *base;
  unsigned long long sizes[4], strides[3];
  unsigned box[4], elementStrides[4];
};
inline TensorMapShape tensor_map_shape(const TensorDims &t, int rows) {
  TensorMapShape m = {t.data, {}, {}, {64, unsigned(rows), 1, 1}, {1, 1, 1, 1}};
  for (int i = 0; i < 4; ++i)
    m.sizes[i] = (unsigned long long)t.size[3 - i];
  for (int i = 0; i < 3; ++i) {
    const unsigned long long packed = i == 0 ? m.sizes[0] * 2 : m.strides[i - 1] * m.sizes[i];
    m.strides[i] = m.sizes[i + 1] == 1 ? packed : (unsigned long long)t.stride[2 - i] * 2;
  }
  return m;
}

/// Points the block map (if any) into `scratch` (plan.scratchWords words):
/// counts after the head words, then the lists; its status word is
/// args.status, which the caller sets first. Split-KV's parts take the last
/// plan.partialWords: outputs, then lse, then ties.
inline void bind_scratch(LaunchPlan &plan, int *scratch) {
  if (plan.partialWords) {
    const i64 rows = i64(plan.args.splits) * combine_rows(plan.args);
    float *parts = reinterpret_cast<float *>(scratch + plan.scratchWords - plan.partialWords);
    plan.args.partialTies = parts + (plan.partialWords - rows);
    plan.args.partialLse = plan.args.partialTies - rows;
    plan.args.partialOut = parts;
  }
  if (!plan.blockMap)
    return;
  plan.map.blockCount = scratch + kScratchHeadWords;
  plan.map.blockList = scratch + kScratchHeadWords + plan.mapRows;
  if (plan.sumWords) {
    int *after = plan.map.blockList + plan.mapRows * plan.args.tilesKv;
    plan.args.blockSums = reinterpret_cast<float *>(after);
    plan.args.selectBits = reinterpret_cast<u32 *>(after + plan.sumWords);
  }
  plan.map.status = plan.args.status;
  plan.args.blockCount = plan.map.blockCount;
  plan.args.blockList = plan.map.blockList;
  plan.blockMapCtas = unsigned(block_map_ctas(plan.map));
}

} // namespace attnc_cuda

#endif // ATTNC_CUDA_LAUNCH_PLAN_H
