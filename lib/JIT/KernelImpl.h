//===- KernelImpl.h - what a compiled kernel holds --------------*- C++ -*-===//

#ifndef ATTNC_JIT_KERNELIMPL_H
#define ATTNC_JIT_KERNELIMPL_H

#include "Conversion/AttnToCUDA/AttnToCUDA.h"
#include "Pipeline/Pipeline.h"
#include "attnc/abi.h"
#include "attnc/attnc.h"
#include "attnc/cpu_run.h"
#include "attnc/launch_plan.h"

#include "llvm/ADT/APFloat.h"

#include <array>
#include <memory>
#include <mutex>

namespace llvm::orc {
class LLJIT;
} // namespace llvm::orc

namespace attnc {

/// The JIT-compiled code of one variant and its signature.
struct Kernel::Impl {
  std::string target = "cpu";
  std::string name;
  std::vector<ParamInfo> params; // every param, in the kernel's order
  /// Which params are call sizes (B, H, ..., read in expressions), which
  /// run() sets from the shapes; the others, which callers give.
  std::vector<bool> isSizeParam;
  std::vector<ParamInfo> callerParams;
  /// Where each param read is in the source ("FILE:LINE:COL", by its
  /// `attn.read` id), for the error of a read out of bounds.
  std::vector<std::string> reads;
  bool hasLse = false;
  DType dtype = DType::F32;
  std::optional<int64_t> headDim, valueHeadDim; // fixed at compile time
  /// `branches = split(K)`: K, which must divide D.
  int64_t branches = 1;
  /// CPU: how the work is cut (the schedule's tiles; cpu_decode packs the
  /// heads of a kv head and may split the keys).
  attnc_cpu_schedule cpuSchedule = {64, 64, 1, 0, 0, 0};
  /// k and v are pages read through KernelArgs::paged's table.
  bool pagedKv = false;
  /// Packed sequences with KernelArgs::ragged's offsets.
  bool ragged = false;
  std::shared_ptr<llvm::orc::LLJIT> jit;
  void (*entry)(void **) = nullptr; // the packed kernel: args[i] -> i-th arg
  void (*backwardEntry)(void **) = nullptr; // when compiled with backward

  // GPU kernels: the code, its launch shape, and the functions once loaded.
  // A block-map kernel compiles as its own program (blockMapCubin).
  // The backward's kernels are a program of their own too (backwardCubin).
  std::string cudaSource, cubin, blockMapCubin, backwardCubin;
  mlir::attn::CUDAKernelSpec cudaSpec;
  struct Loaded {
    void *kernel = nullptr, *blockMap = nullptr, *combine = nullptr;
    void *pool = nullptr; // a selection's pooling kernel (blockMap selects)
    int multiprocessors = 0;
    std::string error;
  };
  mutable std::once_flag loadOnce;
  mutable Loaded loaded;
  struct LoadedBackward {
    void *recompute = nullptr, *rows = nullptr, *main = nullptr, *dq = nullptr;
    std::string error;
  };
  mutable std::once_flag loadBackwardOnce;
  mutable LoadedBackward loadedBackward;

  bool isGPU() const { return target != "cpu"; }
};

/// A memref descriptor as the lowered kernel takes it, field by field.
struct MemRefDescriptor {
  void *allocated = nullptr, *aligned = nullptr;
  int64_t offset = 0;
  int64_t sizes[8] = {};
  int64_t strides[8] = {};
  size_t rank = 0;

  explicit MemRefDescriptor(const TensorView &view)
      : allocated(view.data), aligned(view.data), rank(view.shape.size()) {
    for (size_t i = 0; i < rank; ++i) {
      sizes[i] = view.shape[i];
      strides[i] = view.strides[i];
    }
  }
  void pack(std::vector<void *> &args) {
    args.push_back(&allocated);
    args.push_back(&aligned);
    args.push_back(&offset);
    for (size_t i = 0; i < rank; ++i)
      args.push_back(&sizes[i]);
    for (size_t i = 0; i < rank; ++i)
      args.push_back(&strides[i]);
  }
};

/// Stores a scalar param in the kernel's type.
struct ScalarStorage {
  union {
    float f32;
    int32_t i32;
    int64_t i64;
    uint8_t i1;
    uint16_t half;
  };
  DType type;
  double value; // as given, for the GPU's param slots
  ScalarStorage(DType type, double value) : i64(0), type(type), value(value) {
    switch (type) {
    case DType::F32:
      f32 = static_cast<float>(value);
      break;
    case DType::I32:
      i32 = static_cast<int32_t>(value);
      break;
    case DType::I64:
      i64 = static_cast<int64_t>(value);
      break;
    case DType::Bool:
      i1 = value != 0;
      break;
    case DType::F16:
    case DType::BF16: {
      bool lost;
      llvm::APFloat v(value);
      v.convert(type == DType::F16 ? llvm::APFloat::IEEEhalf()
                                   : llvm::APFloat::BFloat(),
                llvm::APFloat::rmNearestTiesToEven, &lost);
      half = static_cast<uint16_t>(v.bitcastToAPInt().getZExtValue());
      break;
    }
    }
  }
};

/// The sizes of one call, checked against each other.
struct CallSizes {
  int64_t B, H, Hkv, N, M, D, Dv;
  int64_t numPages = 0, pageSize = 0; // paged: M = max_pages * pageSize
  /// Ragged: B is the sequences, N and M the longest one's lengths (what
  /// params are sized by and the work items count), and the packed
  /// lengths of q and k.
  bool ragged = false;
  int64_t totalQ = 0, totalK = 0;
};

/// Checks the common shape of a tensor argument (`what` names it, `layout`
/// says its dims, e.g. "[B, H, N, D]").
llvm::Error checkTensor(const char *what, const TensorView &t, DType dtype,
                        size_t rank, const char *layout, Device device);

/// Checks q, k, v and out against each other and the kernel's head dims,
/// and a paged kernel's table and lengths (`paged`, null for contiguous k
/// and v); the call's sizes.
llvm::Expected<CallSizes>
checkInputs(const Kernel::Impl &k, const TensorView &q, const TensorView &kk,
            const TensorView &v, const TensorView &out, const PagedKV *paged,
            const RaggedBatch *ragged = nullptr);

/// Checks `given` against the kernel's params and converts them: tensors
/// (in declaration order) and scalars (in their type).
llvm::Error checkParams(const Kernel::Impl &k,
                        const std::map<std::string, ParamValue> &given,
                        const CallSizes &sizes, Device device,
                        std::vector<MemRefDescriptor> &tensors,
                        std::vector<ScalarStorage> &scalars);

/// Appends the params' arguments to a packed argument list, in declaration
/// order: a tensor's descriptor fields, or a pointer to a scalar.
void packParams(const Kernel::Impl &k, std::vector<MemRefDescriptor> &tensors,
                std::vector<ScalarStorage> &scalars,
                std::vector<void *> &packed);

/// "[2, 3]".
std::string shapeString(const std::vector<int64_t> &shape);

/// "WHAT must have shape LAYOUT = [expected]; got [t's]".
llvm::Error shapeMismatch(const llvm::Twine &what, const TensorView &t,
                          const llvm::Twine &layout,
                          const std::vector<int64_t> &expected);

/// A tensor the CPU kernel can take: the caller's, or a dense copy when its
/// innermost stride is not 1 (attnc_cpu_stage: the vector loads need unit
/// stride).
struct KernelTensor {
  TensorView view;
  const TensorView &original;
  void *scratch = nullptr;
  bool ok = false; // false: no memory for the copy

  KernelTensor(const TensorView &given, bool isInput)
      : view(given), original(given) {
    ok = attnc_cpu_stage(&view.data, view.strides.data(), view.shape.data(),
                         rank(), getSizeInBytes(view.dtype), isInput,
                         &scratch) == 0;
  }
  KernelTensor(const KernelTensor &) = delete;
  ~KernelTensor() { release(false); }
  void release(bool writeBack) {
    attnc_cpu_unstage(scratch, original.data, original.strides.data(),
                      original.shape.data(), rank(), getSizeInBytes(view.dtype),
                      writeBack);
    scratch = nullptr;
  }
  int rank() const { return static_cast<int>(view.shape.size()); }
};

/// The schedule pipeline's options for `options` (its forced fields).
mlir::attn::ScheduleOptions scheduleOptions(const CompileOptions &options);

/// Runs a GPU kernel's backward on checked arguments (GpuBackward.cpp):
/// `grads` holds, in the kernel's param order, where each float param's
/// gradient goes (null: not asked for).
llvm::Error runBackwardOnGPU(const Kernel::Impl &k, const BackwardArgs &args,
                             const CallSizes &sizes,
                             const std::vector<MemRefDescriptor> &tensorParams,
                             const std::vector<ScalarStorage> &scalarParams,
                             const std::vector<float *> &grads);

/// The param slots of a GPU launch (GpuKernel.cpp): tensors' extents and
/// pointers, scalars' values; `statusWords` (ATTNC_STATUS_WORDS words of
/// scratch) is where reads out of bounds record themselves, and what empty
/// tensors point at.
std::vector<attnc_cuda::ParamSlot> makeParamSlots(
    const Kernel::Impl &k, const std::vector<MemRefDescriptor> &tensorParams,
    const std::vector<ScalarStorage> &scalarParams, int *statusWords);

/// A view's first element, sizes and strides as the GPU launchers check
/// them (GpuKernel.cpp).
attnc_cuda::TensorDims dims(const TensorView &t);

/// A GPU call's status words (ATTNC_STATUS_WORDS, runtime/attnc/abi.h).
using GpuStatus = std::array<int32_t, ATTNC_STATUS_WORDS>;

/// The end of a GPU call (GpuKernel.cpp): waits for its kernels when
/// `synchronize`, reads the status words at the start of its scratch and
/// releases the scratch; `error` (the launches') comes first.
llvm::Expected<GpuStatus> finishGPUCall(uint64_t scratch, void *stream,
                                        bool synchronize, llvm::Error error);
/// The error of the first status (ATTNC_STATUS_WORDS words each, a CPU
/// thread's or a GPU call's, runtime/attnc/abi.h) that names a read out of
/// bounds: the param, the index, the param's shape (from `params`) and
/// where the read is ("param 'x' was read out of bounds at index 300 (shape
/// [256]) at v.attn:4:17; CONSEQUENCE"); else success.
llvm::Error statusError(const Kernel::Impl &k,
                        const std::map<std::string, ParamValue> &params,
                        llvm::ArrayRef<int32_t> words, const char *consequence);

/// Runs a GPU kernel on checked arguments (GpuKernel.cpp).
llvm::Error runOnGPU(const Kernel::Impl &k, const KernelArgs &args,
                     const CallSizes &sizes, const TensorView *lse,
                     const std::vector<MemRefDescriptor> &tensorParams,
                     const std::vector<ScalarStorage> &scalarParams);

} // namespace attnc

#endif // ATTNC_JIT_KERNELIMPL_H
