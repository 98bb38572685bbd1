//===- GpuKernel.cpp - running a GPU kernel -------------------------------===//
//
// Checks what only the GPU kernels require (contiguous head dims, 16-byte
// aligned rows), fills the argument structs of runtime/cuda's templates, and
// launches: the block-map kernel first when the variant's tile classifier
// reads params, then the forward kernel, on the caller's stream.
//
//===----------------------------------------------------------------------===//

#include "JIT/CudaDriver.h"
#include "JIT/KernelImpl.h"

#include "attnc/flash_args.h"

#include <algorithm>
#include <climits>

using namespace attnc;
using attnc_cuda::BlockMapArgs;
using attnc_cuda::FlashArgs;
using attnc_cuda::ParamSlot;
using attnc_cuda::u16;

namespace {

llvm::Error makeError(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

/// q, k, v and out are read 16 bytes at a time along the head dim.
llvm::Error checkGPULayout(const char *what, const TensorView &t, bool rows16) {
  if (t.strides[3] != 1 && t.shape[3] != 1)
    return makeError(llvm::Twine(what) + ": GPU kernels need a contiguous head "
                     "dim (stride 1); got stride " + llvm::Twine(t.strides[3]));
  int64_t align = rows16 ? 8 : 2; // elements of 2 bytes
  for (int d = 0; d < 3; ++d)
    if (t.strides[d] % align != 0)
      return makeError(llvm::Twine(what) + ": GPU kernels need strides that are "
                       "multiples of " + llvm::Twine(align) + " elements; got " +
                       llvm::Twine(t.strides[d]) + " in dimension " +
                       llvm::Twine(d));
  if (reinterpret_cast<uintptr_t>(t.data) % (align * 2) != 0)
    return makeError(llvm::Twine(what) + ": GPU kernels need " +
                     llvm::Twine(align * 2) + "-byte aligned data");
  return llvm::Error::success();
}

void copyStrides(attnc_cuda::i64 (&to)[3], const TensorView &t) {
  for (int d = 0; d < 3; ++d)
    to[d] = t.strides[d];
}

void loadFunctions(const Kernel::Impl &k) {
  std::call_once(k.loadOnce, [&k] {
    auto kernel = cuda::loadFunction(k.cubin, k.cudaSpec.kernelName,
                                     int(k.cudaSpec.sharedBytes));
    if (!kernel) {
      k.loaded.error = llvm::toString(kernel.takeError());
      return;
    }
    k.loaded.kernel = *kernel;
    if (k.cudaSpec.blockMapName.empty())
      return;
    auto blockMap =
        cuda::loadFunction(k.blockMapCubin, k.cudaSpec.blockMapName, 0);
    if (!blockMap) {
      k.loaded.error = llvm::toString(blockMap.takeError());
      return;
    }
    k.loaded.blockMap = *blockMap;
  });
}

} // namespace

llvm::Error attnc::runOnGPU(const Kernel::Impl &k, const KernelArgs &args,
                            const CallSizes &s, const TensorView *lse,
                            const std::vector<MemRefDescriptor> &tensorParams,
                            const std::vector<ScalarStorage> &scalarParams) {
  const mlir::attn::CUDAKernelSpec &spec = k.cudaSpec;
  if (auto e = checkGPULayout("q", args.q, true))
    return e;
  if (auto e = checkGPULayout("k", args.k, true))
    return e;
  if (auto e = checkGPULayout("v", args.v, true))
    return e;
  if (auto e = checkGPULayout("out", args.out, false))
    return e;
  if (s.N > INT_MAX / 2 || s.M > INT_MAX / 2)
    return makeError("GPU kernels take N, M < 2^30");
  loadFunctions(k);
  if (!k.loaded.error.empty())
    return makeError(k.loaded.error);

  FlashArgs a = {};
  a.q = static_cast<const u16 *>(args.q.data);
  a.k = static_cast<const u16 *>(args.k.data);
  a.v = static_cast<const u16 *>(args.v.data);
  a.out = static_cast<u16 *>(args.out.data);
  a.lse = lse ? static_cast<float *>(lse->data) : nullptr;
  copyStrides(a.qs, args.q);
  copyStrides(a.ks, args.k);
  copyStrides(a.vs, args.v);
  copyStrides(a.os, args.out);
  if (lse)
    copyStrides(a.ls, *lse);
  a.B = int(s.B);
  a.H = int(s.H);
  a.N = int(s.N);
  a.M = int(s.M);
  a.group = int(s.H / s.Hkv);
  a.tilesQ = int((s.N + spec.tileQ - 1) / spec.tileQ);
  a.tilesKv = int((s.M + spec.tileKv - 1) / spec.tileKv);
  // One CTA per query tile of every (b, h), on one grid line.
  int64_t ctas = int64_t(a.tilesQ) * s.H * s.B;
  if (ctas > INT_MAX)
    return makeError("GPU kernels take B * H * ceil(N / " + std::to_string(spec.tileQ) +
                     ") < 2^31 query tiles; got " + std::to_string(ctas));

  for (const MemRefDescriptor &m : tensorParams)
    if (m.rank > 4)
      return makeError("GPU kernels take params of rank 4 at most");

  cuda::Stream stream = args.stream;
  // Scratch: the status word, then the block map (counts, then lists).
  bool blockMap = !spec.blockMapName.empty();
  int64_t mapB = blockMap && spec.blockMapUsesBatch ? s.B : 1;
  int64_t mapH = blockMap && spec.blockMapUsesHead ? s.H : 1;
  int64_t rows = mapB * mapH * a.tilesQ;
  size_t words = 4 + (blockMap ? rows * (1 + a.tilesKv) : 0);
  auto scratch = cuda::allocateAsync(words * 4, stream);
  if (!scratch)
    return scratch.takeError();
  int *base = reinterpret_cast<int *>(*scratch);
  a.status = base;

  std::vector<ParamSlot> slots(std::max<size_t>(1, k.params.size()), ParamSlot{});
  size_t tensor = 0, scalar = 0;
  for (size_t i = 0; i < k.params.size(); ++i) {
    ParamSlot &slot = slots[i];
    if (k.params[i].isTensor) {
      const MemRefDescriptor &m = tensorParams[tensor++];
      // An empty tensor points at the scratch words (16 bytes, one element
      // of any type; see set_tensor_extent).
      bool empty = attnc_cuda::set_tensor_extent(slot, m.sizes, m.strides,
                                                 int(m.rank));
      slot.ptr = empty ? static_cast<const void *>(base) : m.aligned;
    } else {
      const ScalarStorage &v = scalarParams[scalar++];
      bool isFloat = v.type == DType::F32 || v.type == DType::F16 ||
                     v.type == DType::BF16;
      slot.f = isFloat ? (v.type == DType::F32 ? double(v.f32) : v.value) : 0;
      slot.i = v.type == DType::Bool  ? int64_t(v.i1)
               : v.type == DType::I32 ? int64_t(v.i32)
               : v.type == DType::I64 ? v.i64
                                      : 0;
    }
  }

  llvm::Error error = cuda::zeroAsync(*scratch, 1, stream);
  if (!error && blockMap) {
    BlockMapArgs m = {int(mapB), int(mapH), a.N, a.M, a.tilesQ, a.tilesKv,
                      base + 4 + rows, base + 4, base};
    a.blockCount = m.blockCount;
    a.blockList = m.blockList;
    a.blockStrideB = spec.blockMapUsesBatch ? int(mapH * a.tilesQ) : 0;
    a.blockStrideH = spec.blockMapUsesHead ? a.tilesQ : 0;
    void *mapArgs[] = {&m, slots.data()};
    // A line of CTAs, as build_block_map reads it.
    unsigned grid[3] = {unsigned(attnc_cuda::block_map_ctas(m)), 1, 1};
    error = cuda::launch(k.loaded.blockMap, grid, attnc_cuda::kBlockMapThreads,
                         0, stream, mapArgs);
  }
  if (!error) {
    void *kernelArgs[] = {&a, slots.data()};
    unsigned grid[3] = {unsigned(ctas), 1, 1};
    error = cuda::launch(k.loaded.kernel, grid, unsigned(spec.threads),
                         unsigned(spec.sharedBytes), stream, kernelArgs);
  }
  int status = 0;
  if (!error && args.synchronize) {
    error = cuda::synchronize(stream);
    if (!error)
      error = cuda::copyToHost(&status, *scratch, sizeof status);
  }
  llvm::Error released = cuda::releaseAsync(*scratch, stream);
  if (error) {
    llvm::consumeError(std::move(released));
    return error;
  }
  if (released)
    return released;
  if (status > 0 && size_t(status) <= k.params.size())
    return makeError("param '" + k.params[status - 1].name +
                     "' was read out of bounds (an index fell outside its "
                     "shape); the output is not valid");
  return llvm::Error::success();
}
