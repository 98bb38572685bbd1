//===- GpuKernel.cpp - running a GPU kernel -------------------------------===//
//
// Launches a compiled variant through the driver API as the runtime's
// launch plan says (attnc/launch_plan.h, which the AOT entry points'
// HostCall shares): the views checked for what only the GPU kernels require
// (contiguous head dims, 16-byte aligned rows), scratch allocated for the
// status word and the block map, then the block-map kernel when the
// variant's tile classifier reads params, and the forward kernel, on the
// caller's stream.
//
//===----------------------------------------------------------------------===//

#include "JIT/CudaDriver.h"
#include "JIT/KernelImpl.h"
#include "Support/Error.h"

#include "attnc/launch_plan.h"

#include <algorithm>

using namespace attnc;
using attnc_cuda::LaunchPlan;
using attnc_cuda::LaunchProblem;
using attnc_cuda::ParamSlot;
using attnc_cuda::TensorDims;

namespace {

llvm::Error problemError(const LaunchProblem &problem) {
  return attnc::makeError(attnc_cuda::describe(problem));
}

/// The selection kernel's dynamic shared memory (0 without a selection).
int64_t selectSharedBytes(const mlir::attn::CUDAKernelSpec &spec) {
  return spec.selectBlock
             ? attnc_cuda::select_shared_bytes(
                   int(spec.headDim), int(spec.tileQ), int(spec.selectTopK))
             : 0;
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
    if (!k.cudaSpec.combineName.empty()) {
      auto combine = cuda::loadFunction(k.cubin, k.cudaSpec.combineName, 0);
      if (!combine) {
        k.loaded.error = llvm::toString(combine.takeError());
        return;
      }
      auto sms = cuda::getMultiprocessorCount();
      if (!sms) {
        k.loaded.error = llvm::toString(sms.takeError());
        return;
      }
      k.loaded.combine = *combine;
      k.loaded.multiprocessors = *sms;
    }
    if (k.cudaSpec.blockMapName.empty())
      return;
    auto blockMap = cuda::loadFunction(k.blockMapCubin, k.cudaSpec.blockMapName,
                                       int(selectSharedBytes(k.cudaSpec)));
    if (!blockMap) {
      k.loaded.error = llvm::toString(blockMap.takeError());
      return;
    }
    k.loaded.blockMap = *blockMap;
    if (!k.cudaSpec.selectBlock)
      return;
    auto pool = cuda::loadFunction(k.blockMapCubin,
                                   k.cudaSpec.blockMapName + "_pool", 0);
    if (!pool) {
      k.loaded.error = llvm::toString(pool.takeError());
      return;
    }
    k.loaded.pool = *pool;
  });
}

} // namespace

std::vector<ParamSlot> attnc::makeParamSlots(
    const Kernel::Impl &k, const std::vector<MemRefDescriptor> &tensorParams,
    const std::vector<ScalarStorage> &scalarParams, int *statusWords) {
  std::vector<ParamSlot> slots(std::max<size_t>(1, k.params.size()),
                               ParamSlot{});
  size_t tensor = 0, scalar = 0;
  for (size_t i = 0; i < k.params.size(); ++i) {
    ParamSlot &slot = slots[i];
    slot.status = statusWords;
    if (k.params[i].isTensor) {
      const MemRefDescriptor &m = tensorParams[tensor++];
      bool empty =
          attnc_cuda::set_tensor_extent(slot, m.sizes, m.strides, int(m.rank));
      slot.ptr = empty ? statusWords : m.aligned;
    } else {
      const ScalarStorage &v = scalarParams[scalar++];
      bool isFloat =
          v.type == DType::F32 || v.type == DType::F16 || v.type == DType::BF16;
      slot.f = isFloat ? (v.type == DType::F32 ? double(v.f32) : v.value) : 0;
      slot.i = v.type == DType::Bool  ? int64_t(v.i1)
               : v.type == DType::I32 ? int64_t(v.i32)
               : v.type == DType::I64 ? v.i64
                                      : 0;
    }
  }
  return slots;
}

TensorDims attnc::dims(const TensorView &t) {
  return attnc_cuda::tensor_dims(
      t.data, t.shape.data(), t.strides.data(),
      int(std::min(t.shape.size(), t.strides.size())));
}

llvm::Error attnc::runOnGPU(const Kernel::Impl &k, const KernelArgs &args,
                            const CallSizes &s, const TensorView *lse,
                            const std::vector<MemRefDescriptor> &tensorParams,
                            const std::vector<ScalarStorage> &scalarParams) {
  const mlir::attn::CUDAKernelSpec &spec = k.cudaSpec;
  // The views' sizes are s (checked against each other by the caller).
  TensorDims views[4] = {dims(args.q), dims(args.k), dims(args.v),
                         dims(args.out)};
  // Paged: the pages as the [B, Hkv, M, D] views the launch plan takes.
  const TensorDims pages = views[1];
  if (spec.pagedKv) {
    if (args.paged->pageTable.strides[1] != 1)
      return makeError("the page table's rows must be contiguous (stride 1) "
                       "on the GPU; got stride " +
                       llvm::Twine(args.paged->pageTable.strides[1]));
    views[1] = attnc_cuda::paged_logical_view(views[1], s.B, s.M / s.pageSize);
    views[2] = attnc_cuda::paged_logical_view(views[2], s.B, s.M / s.pageSize);
  }
  if (LaunchProblem p = attnc_cuda::check_views(views))
    return problemError(p);
  loadFunctions(k);
  if (!k.loaded.error.empty())
    return makeError(k.loaded.error);

  LaunchPlan plan;
  const TensorDims lseDims = lse ? dims(*lse) : TensorDims{};
  if (LaunchProblem p = attnc_cuda::plan_forward(
          plan, views, lse ? &lseDims : nullptr, int(spec.tileQ),
          int(spec.tileKv), /*packHeads=*/!spec.combineName.empty()))
    return problemError(p);
  if (spec.pagedKv)
    attnc_cuda::plan_paged(plan, pages, dims(args.paged->pageTable),
                           dims(args.paged->seqLens));
  for (const MemRefDescriptor &m : tensorParams)
    if (LaunchProblem p = attnc_cuda::check_param_rank(int64_t(m.rank)))
      return problemError(p);

  cuda::Stream stream = args.stream;
  // Scratch: the status words (which empty tensors point at too), then the
  // block map (counts, then lists).
  bool blockMap = !spec.blockMapName.empty();
  attnc_cuda::plan_block_map(plan, blockMap, spec.blockMapUsesBatch,
                             spec.blockMapUsesHead);
  if (spec.selectBlock)
    attnc_cuda::plan_select(plan, int(spec.selectBlock), int(spec.headDim));
  if (k.loaded.combine)
    attnc_cuda::plan_splits(
        plan, k.loaded.multiprocessors,
        attnc_cuda::resident_ctas(int(spec.threads), spec.sharedBytes),
        int(spec.maxSplits), int(views[2].size[3]));
  auto scratch = cuda::allocateAsync(size_t(plan.scratchWords) * 4, stream);
  if (!scratch)
    return scratch.takeError();
  int *base = reinterpret_cast<int *>(*scratch);
  plan.args.status = base;
  attnc_cuda::bind_scratch(plan, base);

  // An empty tensor points at the status words (one element of any type;
  // see set_tensor_extent).
  std::vector<ParamSlot> slots =
      makeParamSlots(k, tensorParams, scalarParams, base);

  llvm::Error error = cuda::zeroAsync(*scratch, ATTNC_STATUS_WORDS, stream);
  if (!error && spec.selectBlock) {
    // The block sums, then the selection, which writes the block map.
    void *poolArgs[] = {&plan.args};
    unsigned poolGrid[3] = {plan.poolCtas, 1, 1};
    if (plan.poolCtas)
      error = cuda::launch(k.loaded.pool, poolGrid, attnc_cuda::kPoolThreads, 0,
                           stream, poolArgs);
    void *selectArgs[] = {&plan.args, &plan.map, slots.data()};
    unsigned grid[3] = {plan.blockMapCtas, 1, 1};
    if (!error && plan.blockMapCtas)
      error =
          cuda::launch(k.loaded.blockMap, grid, attnc_cuda::kSelectThreads,
                       unsigned(selectSharedBytes(spec)), stream, selectArgs);
  } else if (!error && blockMap) {
    void *mapArgs[] = {&plan.map, slots.data()};
    unsigned grid[3] = {plan.blockMapCtas, 1, 1};
    error = cuda::launch(k.loaded.blockMap, grid, attnc_cuda::kBlockMapThreads,
                         0, stream, mapArgs);
  }
  // sm90_wgmma: the copy engine reads q, k and v through tensor maps.
  attnc_cuda::TensorMaps maps;
  if (!error && spec.tensorMaps) {
    const int rows[3] = {int(spec.tileQ), int(spec.tileKv), int(spec.tileKv)};
    attnc_cuda::TensorMap *map[3] = {&maps.q, &maps.k, &maps.v};
    for (int t = 0; t < 3 && !error; ++t) {
      attnc_cuda::TensorMapShape m =
          attnc_cuda::tensor_map_shape(views[t], rows[t]);
      error = cuda::encodeTensorMap(map[t], m.base, m.sizes, m.strides, m.box);
      if (error)
        error = makeError(std::string(attnc_cuda::view_name(t)) + ": " +
                          llvm::toString(std::move(error)));
    }
  }
  if (!error) {
    void *kernelArgs[] = {&plan.args, slots.data(), &maps};
    unsigned grid[3] = {plan.forwardCtas, 1, 1};
    error = cuda::launch(k.loaded.kernel, grid, unsigned(spec.threads),
                         unsigned(spec.sharedBytes), stream, kernelArgs);
  }
  if (!error && plan.combineCtas) {
    void *combineArgs[] = {&plan.args, slots.data()};
    unsigned grid[3] = {plan.combineCtas, 1, 1};
    error = cuda::launch(k.loaded.combine, grid, attnc_cuda::kCombineThreads, 0,
                         stream, combineArgs);
  }
  llvm::Expected<GpuStatus> status =
      finishGPUCall(*scratch, stream, args.synchronize, std::move(error));
  if (!status)
    return status.takeError();
  if ((*status)[0] == attnc_cuda::kPagedBadPage)
    return makeError("a page table entry that a sequence uses names no page "
                     "of k and v (0 to " +
                     llvm::Twine(s.numPages - 1) +
                     "); the output is not valid");
  if ((*status)[0] == attnc_cuda::kPagedBadLength)
    return makeError("a sequence length is outside 0 to max_pages * "
                     "page_size = " +
                     llvm::Twine(s.M) + "; the output is not valid");
  return statusError(k, args.params, *status, "the output is not valid");
}

llvm::Expected<GpuStatus> attnc::finishGPUCall(cuda::DevicePtr scratch,
                                               cuda::Stream stream,
                                               bool synchronize,
                                               llvm::Error error) {
  GpuStatus status = {};
  if (!error && synchronize) {
    error = cuda::synchronize(stream);
    if (!error)
      error = cuda::copyToHost(status.data(), scratch, sizeof status);
  }
  llvm::Error released = cuda::releaseAsync(scratch, stream);
  if (error) {
    llvm::consumeError(std::move(released));
    return error;
  }
  if (released)
    return released;
  return status;
}
