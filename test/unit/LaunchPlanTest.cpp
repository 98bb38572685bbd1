//===- LaunchPlanTest.cpp - the GPU launch plan, on the host --------------===//
//
// runtime/cuda/attnc/launch_plan.h is plain host C++: the checks, grids,
// split-KV ranges and scratch layout that both GPU launchers (the JIT's and
// the AOT entry points') use, tested without a GPU.
//
//===----------------------------------------------------------------------===//

#include "attnc/launch_plan.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <vector>

using namespace attnc_cuda;

namespace {
/// Dense views of q [B, H, N, D], k/v [B, Hkv, M, D], out [B, H, N, D] at a
/// 16-byte aligned address.
struct Views {
  alignas(16) static inline unsigned short storage[8];
  TensorDims v[4];
  Views(i64 B, i64 H, i64 Hkv, i64 N, i64 M, i64 D) {
    const i64 shapes[4][4] = {
        {B, H, N, D}, {B, Hkv, M, D}, {B, Hkv, M, D}, {B, H, N, D}};
    for (int t = 0; t < 4; ++t) {
      i64 strides[4] = {shapes[t][1] * shapes[t][2] * shapes[t][3],
                        shapes[t][2] * shapes[t][3], shapes[t][3], 1};
      v[t] = tensor_dims(storage, shapes[t], strides, 4);
    }
  }
};
} // namespace

TEST_CASE("launch plan: shapes and layouts are checked", "[launch]") {
  Views ok(2, 8, 2, 100, 300, 128);
  CHECK(!check_shapes(ok.v, nullptr, 128, 128));
  CHECK(!check_views(ok.v));
  Views heads(2, 8, 3, 100, 300, 128);
  LaunchProblem p = check_shapes(heads.v, nullptr, 128, 128);
  CHECK(p.check == LaunchCheck::kHeads);
  CHECK(describe(p).find("divide") != std::string::npos);
  CHECK(check_shapes(ok.v, nullptr, 64, 64).check == LaunchCheck::kShape);
  Views odd = ok;
  odd.v[1].stride[2] = 130; // rows not 16-byte aligned
  CHECK(check_views(odd.v).check == LaunchCheck::kRowStride);
}

TEST_CASE("launch plan: the forward grid, plain and with packed heads",
          "[launch]") {
  Views v(2, 8, 2, 100, 300, 128);
  LaunchPlan plain;
  REQUIRE(!plan_forward(plain, v.v, nullptr, 64, 48));
  CHECK(plain.args.tilesQ == 2);  // ceil(100 / 64)
  CHECK(plain.args.tilesKv == 7); // ceil(300 / 48)
  CHECK(plain.forwardCtas == 2u * 8 * 2);
  CHECK(plain.args.group == 4);
  // Packed: rows are the 4 query heads of a kv head x 100 queries.
  LaunchPlan packed;
  REQUIRE(!plan_forward(packed, v.v, nullptr, 16, 32, /*packHeads=*/true));
  CHECK(packed.args.tilesQ == 25); // ceil(400 / 16)
  CHECK(packed.forwardCtas == 2u * 2 * 25);
  plan_block_map(packed, /*blockMap=*/true, /*usesBatch=*/true,
                 /*usesHead=*/true);
  CHECK(packed.map.H == 2); // kv heads
  CHECK(packed.map.group == 4);
  CHECK(packed.mapRows == 2 * 2 * 25);
}

TEST_CASE("launch plan: split-KV ranges fill the GPU, none empty", "[launch]") {
  for (i64 M : {1, 31, 32, 33, 700, 4099, 131072}) {
    Views v(1, 32, 8, 1, M, 128);
    LaunchPlan plan;
    REQUIRE(!plan_forward(plan, v.v, nullptr, 16, 32, true));
    plan_block_map(plan, false, false, false);
    const i64 base = plan.forwardCtas, tiles = plan.args.tilesKv;
    plan_splits(plan, /*sms=*/132, /*resident=*/4, /*maxSplits=*/128,
                /*dv=*/128);
    const int splits = plan.args.splits;
    CAPTURE(M, splits);
    CHECK(splits >= 1);
    CHECK(splits <= 128);
    CHECK(splits <= tiles);
    CHECK(plan.forwardCtas == unsigned(base * splits));
    // Every range holds a tile; together they cover every tile once.
    i64 covered = 0;
    for (int s = 0; s < splits; ++s) {
      int first = split_first_tile(int(tiles), splits, s);
      int end = std::min<int>(split_first_tile(int(tiles), splits, s + 1),
                              int(tiles));
      CHECK(first < end);
      covered += end - first;
    }
    CHECK(covered == tiles);
    // The parts: DV + 2 words per (split, row), after the head words.
    const i64 rows = 32; // B * H * N
    CHECK(plan.partialWords == i64(splits) * rows * 130);
    CHECK(plan.combineCtas == unsigned((rows + 3) / 4));
    std::vector<int> scratch(plan.scratchWords);
    bind_scratch(plan, scratch.data());
    auto *parts = reinterpret_cast<float *>(scratch.data() + plan.scratchWords -
                                            plan.partialWords);
    CHECK(plan.args.partialOut == parts);
    CHECK(plan.args.partialLse == parts + i64(splits) * rows * 128);
    CHECK(plan.args.partialTies == parts + i64(splits) * rows * 129);
    CHECK(reinterpret_cast<uintptr_t>(plan.args.partialOut) % 8 == 0);
  }
  // A grid that fills the GPU alone is not split.
  Views wide(128, 32, 8, 1, 4096, 128); // 1024 CTAs, more than 132 x 4
  LaunchPlan plan;
  REQUIRE(!plan_forward(plan, wide.v, nullptr, 16, 32, true));
  plan_splits(plan, 132, 4, 128, 128);
  CHECK(plan.args.splits == 1);
  CHECK(plan.combineCtas > 0); // split_kv always combines
}

TEST_CASE("launch plan: resident CTAs by shared memory and registers",
          "[launch]") {
  CHECK(resident_ctas(32, 53504) == 4);
  CHECK(resident_ctas(32, 102656) == 2);
  CHECK(resident_ctas(32, 0) == 8); // 255 registers a thread
  CHECK(resident_ctas(128, 83968) == 2);
  CHECK(resident_ctas(32, 300000) == 1);
}

TEST_CASE("launch plan: tensor maps of q, k and v (sm90_wgmma)", "[launch]") {
  // q [2, 8, 300, 128] dense: sizes and byte strides from the head dim out.
  Views dense(2, 8, 2, 300, 517, 128);
  TensorMapShape q = tensor_map_shape(dense.v[0], 128);
  CHECK(q.sizes[0] == 128);
  CHECK(q.sizes[1] == 300);
  CHECK(q.sizes[2] == 8);
  CHECK(q.sizes[3] == 2);
  CHECK(q.strides[0] == 256);
  CHECK(q.strides[1] == 256 * 300);
  CHECK(q.strides[2] == 256 * 300 * 8);
  CHECK(q.box[0] == 64); // one 128-byte swizzled panel
  CHECK(q.box[1] == 128);
  CHECK(q.box[2] == 1);
  CHECK(q.box[3] == 1);
  // A dimension of size 1 gets a packed stride, whatever the view's (0
  // here, which the driver would refuse).
  Views one(1, 1, 1, 40, 40, 64);
  one.v[1].stride[0] = 0;
  one.v[1].stride[1] = 0;
  TensorMapShape k = tensor_map_shape(one.v[1], 64);
  CHECK(k.strides[0] == 128);
  CHECK(k.strides[1] == 128 * 40);
  CHECK(k.strides[2] == 128 * 40);
  for (unsigned long long s : k.strides)
    CHECK(s % 16 == 0);
}
