//===- host_launch.cuh - the AOT entry points' host side -------*- CUDA -*-===//
//
// Host side of the AOT entry points (attnc --emit=cuda, compiled by nvcc;
// NVRTC skips it). An entry point takes memref descriptors, as the CPU
// objects do, and a stream: HostCall checks the views and fills the params,
// and launches the block-map kernel (when there is one) and the forward
// kernel through the CUDA runtime API, as launch_plan.h plans them. attnc's
// JIT launches from the same plan through the driver API
// (lib/JIT/GpuKernel.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_CUDA_HOST_LAUNCH_CUH
#define ATTNC_CUDA_HOST_LAUNCH_CUH

#if !defined(__CUDACC_RTC__)
#include "attnc/abi.h" // attnc_memref1..4
#include "attnc/launch_plan.h"

#include <cuda.h> // cuTensorMapEncodeTiled's type (called through cudaGetDriverEntryPoint)
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

namespace attnc_cuda {

template <class M> inline char *host_data(const M *m, int bytes) {
  return static_cast<char *>(m->aligned) + m->offset * bytes;
}

template <class M> inline TensorDims host_dims(const M *m, int bytes) {
  constexpr int rank = sizeof(m->sizes) / sizeof(m->sizes[0]);
  return tensor_dims(host_data(m, bytes), m->sizes, m->strides, rank);
}

/// 16-bit float params arrive as their bits (uint16_t), as in the CPU ABI.
inline double host_bf16(unsigned short bits) {
  unsigned int word = (unsigned int)bits << 16;
  float f;
  memcpy(&f, &word, 4);
  return f;
}
inline double host_f16(unsigned short bits) {
  int exponent = bits >> 10 & 31, mantissa = bits & 1023;
  double magnitude = exponent == 0    ? ldexp(mantissa, -24)
                     : exponent == 31 ? (mantissa ? NAN : INFINITY)
                                      : ldexp(mantissa + 1024, exponent - 25);
  return bits >> 15 ? -magnitude : magnitude;
}

/// Encodes the tensor maps of q, k and v for the sm90_wgmma kernel (boxes
/// of `tileQ` and `tileKv` rows), through the driver entry point that the
/// runtime hands out (the program need not link libcuda).
inline int encode_tensor_maps(TensorMaps &maps, const TensorDims (&views)[4], int tileQ, int tileKv) {
  static decltype(&cuTensorMapEncodeTiled) encode = nullptr;
  if (!encode) {
    void *fn = nullptr;
    cudaDriverEntryPointQueryResult found;
    cudaError_t e = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &found);
    if (e != cudaSuccess || found != cudaDriverEntryPointSuccess || !fn)
      return e != cudaSuccess ? e : cudaErrorNotSupported;
    encode = reinterpret_cast<decltype(&cuTensorMapEncodeTiled)>(fn);
  }
  TensorMap *map[3] = {&maps.q, &maps.k, &maps.v};
  for (int t = 0; t < 3; ++t) {
    TensorMapShape m = tensor_map_shape(views[t], t == 0 ? tileQ : tileKv);
    cuuint64_t sizes[4] = {m.sizes[0], m.sizes[1], m.sizes[2], m.sizes[3]};
    cuuint64_t strides[3] = {m.strides[0], m.strides[1], m.strides[2]};
    if (encode(reinterpret_cast<CUtensorMap *>(map[t]), CU_TENSOR_MAP_DATA_TYPE_UINT16, 4, const_cast<void *>(m.base),
               sizes, strides, m.box, m.elementStrides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
               CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) != CUDA_SUCCESS)
      return cudaErrorInvalidValue;
  }
  return cudaSuccess;
}

template <class V, class C> struct HostCall {
  LaunchPlan plan;
  unsigned long long emptyParams = 0; // slots (up to 64) of empty tensors, pointed at scratch
  TensorMaps maps;                    // sm90_wgmma's (C::kTensorMaps)
  int *statusWords = nullptr;         // a status of ATTNC_STATUS_WORDS: ParamSlot::status

  /// q [B, H, N, D], k [B, Hkv, M, D], v [B, Hkv, M, DV], out [B, H, N, DV],
  /// lse [B, H, N] (may be null), status: device int32s that are 0, one (the
  /// first read out of bounds' param) or ATTNC_STATUS_WORDS (its read and
  /// index too, as the CPU entry points'). Returns cudaErrorInvalidValue
  /// for views the kernel cannot take.
  /// A paged kernel (C::kPaged) takes k and v as pages [num_pages,
  /// page_size, Hkv, D], a page table [B, max_pages] with rows of unit
  /// stride and lengths [B] (int32, in device memory).
  int setViews(const attnc_memref4 *q, const attnc_memref4 *k, const attnc_memref4 *v, const attnc_memref4 *out,
               const attnc_memref3 *lse, const attnc_memref1 *status, const attnc_memref2 *pageTable = nullptr,
               const attnc_memref1 *seqLens = nullptr) {
    if (!q || !k || !v || !out || !status || C::kPaged != (pageTable && seqLens))
      return cudaErrorInvalidValue;
    TensorDims views[4] = {host_dims(q, 2), host_dims(k, 2), host_dims(v, 2), host_dims(out, 2)};
    TensorDims table = {}, lens = {}, pages = views[1];
    if constexpr (C::kPaged) {
      table = host_dims(pageTable, 4), lens = host_dims(seqLens, 4);
      if (table.size[0] != views[0].size[0] || lens.size[0] != views[0].size[0] || table.stride[1] != 1 ||
          views[2].size[0] != pages.size[0] || views[2].size[1] != pages.size[1] ||
          i64(table.size[1]) * pages.size[1] > INT_MAX / 2)
        return cudaErrorInvalidValue;
      views[1] = paged_logical_view(pages, views[0].size[0], table.size[1]);
      views[2] = paged_logical_view(views[2], views[0].size[0], table.size[1]);
    }
    const TensorDims lseDims = lse ? host_dims(lse, 4) : TensorDims{};
    const TensorDims *lseView = lse ? &lseDims : nullptr;
    if (check_shapes(views, lseView, C::D, C::DV) || check_views(views) ||
        plan_forward(plan, views, lseView, C::BM, C::BN, C::kSplitKv))
      return cudaErrorInvalidValue;
    if constexpr (C::kPaged)
      plan_paged(plan, pages, table, lens);
    if constexpr (C::kTensorMaps)
      if (int e = encode_tensor_maps(maps, views, C::BM, C::BN))
        return e;
    plan.args.status = reinterpret_cast<int *>(host_data(status, 4));
    statusWords = status->sizes[0] >= ATTNC_STATUS_WORDS && status->strides[0] == 1 ? plan.args.status : nullptr;
    return cudaSuccess;
  }

  template <class M> void tensor(ParamSlot &slot, int index, const M *m, int bytes) {
    constexpr int rank = sizeof(m->sizes) / sizeof(m->sizes[0]);
    slot.ptr = host_data(m, bytes);
    if (set_tensor_extent(slot, m->sizes, m->strides, rank))
      emptyParams |= 1ull << index; // pointed at the scratch words in launch
  }

  /// Launches on `stream`: the block map `blockMap` first when not null (its
  /// rows per batch and head where the classifier reads them), then `kernel`,
  /// then, for split-KV (`combine` not null), the combine kernel when the
  /// plan cut the keys into more than one range (up to `maxSplits`).
  /// `kernel` takes (FlashArgs, Params), and the tensor maps after them
  /// where C::kTensorMaps. With a selection (V::kSelect), `pool` and
  /// `select` run in place of the block map (block_select.cuh).
  template <class Kernel>
  int launch(typename V::Params &P, Kernel kernel,
             void (*blockMap)(const BlockMapArgs, const typename V::Params), bool mapUsesBatch, bool mapUsesHead,
             void (*combine)(const FlashArgs, const typename V::Params), int maxSplits, cudaStream_t stream,
             void (*pool)(const FlashArgs) = nullptr,
             void (*select)(const FlashArgs, const BlockMapArgs, const typename V::Params) = nullptr) {
    const FlashArgs &a = plan.args;
    if (a.N == 0 || a.B == 0 || a.H == 0)
      return cudaSuccess;
    for (ParamSlot &slot : P.s)
      slot.status = statusWords;
    plan_block_map(plan, blockMap != nullptr || select != nullptr, mapUsesBatch, mapUsesHead);
    if (select)
      plan_select(plan, V::kSelectBlock, C::D);
    cudaError_t e = cudaSuccess;
    if (combine) {
      int device = 0, sms = 0;
      e = cudaGetDevice(&device);
      if (e == cudaSuccess)
        e = cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
      if (e != cudaSuccess)
        return e;
      plan_splits(plan, sms, resident_ctas(C::kThreads, C::kSmemBytes), maxSplits, C::DV);
    }
    int *scratch = nullptr;
    if (blockMap || select || emptyParams || plan.partialWords) {
      e = cudaMallocAsync(reinterpret_cast<void **>(&scratch), size_t(plan.scratchWords) * 4, stream);
      if (e != cudaSuccess)
        return e;
      for (int i = 0; i < 64; ++i)
        if (emptyParams >> i & 1)
          P.s[i].ptr = scratch;
    }
    bind_scratch(plan, scratch);
    if (select) {
      const int smem = int(select_shared_bytes(C::D, C::BM, V::kSelectTopK));
      if (plan.poolCtas) {
        pool<<<dim3(plan.poolCtas), kPoolThreads, 0, stream>>>(plan.args);
        e = cudaGetLastError();
      }
      if (e == cudaSuccess)
        e = cudaFuncSetAttribute(select, cudaFuncAttributeMaxDynamicSharedMemorySize, smem);
      if (e == cudaSuccess) {
        select<<<dim3(plan.blockMapCtas), kSelectThreads, smem, stream>>>(plan.args, plan.map, P);
        e = cudaGetLastError();
      }
    } else if (blockMap) {
      blockMap<<<dim3(plan.blockMapCtas), kBlockMapThreads, 0, stream>>>(plan.map, P);
      e = cudaGetLastError();
    }
    if (e == cudaSuccess)
      e = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, C::kSmemBytes);
    if (e == cudaSuccess) {
      if constexpr (C::kTensorMaps)
        kernel<<<dim3(plan.forwardCtas), kSm90Threads, C::kSmemBytes, stream>>>(plan.args, P, maps);
      else
        kernel<<<dim3(plan.forwardCtas), C::kThreads, C::kSmemBytes, stream>>>(plan.args, P);
      e = cudaGetLastError();
    }
    if (e == cudaSuccess && plan.combineCtas) {
      combine<<<dim3(plan.combineCtas), kCombineThreads, 0, stream>>>(plan.args, P);
      e = cudaGetLastError();
    }
    if (scratch) {
      cudaError_t freed = cudaFreeAsync(scratch, stream);
      e = e != cudaSuccess ? e : freed;
    }
    return e;
  }
};

} // namespace attnc_cuda
#endif // !__CUDACC_RTC__

#endif // ATTNC_CUDA_HOST_LAUNCH_CUH
