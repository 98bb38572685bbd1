//===- CudaDriver.cpp - the CUDA driver API, opened at run time -----------===//

#include "JIT/CudaDriver.h"
#include "Support/Error.h"

#include <algorithm>
#include <mutex>
#include <vector>

#if ATTNC_HAVE_CUDA
#include <cuda.h>
#include <dlfcn.h>
#endif

using namespace attnc;
using namespace attnc::cuda;

#if !ATTNC_HAVE_CUDA

static llvm::Error noCuda() {
  return makeError("this attnc was built without the CUDA toolkit");
}
llvm::Error cuda::ensureContext() { return noCuda(); }
llvm::Expected<std::string> cuda::getDeviceTarget() { return noCuda(); }
llvm::Expected<int> cuda::getMultiprocessorCount() { return noCuda(); }
llvm::Expected<DevicePtr> cuda::allocate(size_t) { return noCuda(); }
void cuda::release(DevicePtr) {}
llvm::Error cuda::copyToDevice(DevicePtr, const void *, size_t) {
  return noCuda();
}
llvm::Error cuda::copyToHost(void *, DevicePtr, size_t) { return noCuda(); }
llvm::Expected<DevicePtr> cuda::allocateAsync(size_t, Stream) {
  return noCuda();
}
llvm::Error cuda::releaseAsync(DevicePtr, Stream) { return noCuda(); }
llvm::Error cuda::zeroAsync(DevicePtr, size_t, Stream) { return noCuda(); }
llvm::Expected<Function> cuda::loadFunction(const std::string &,
                                            const std::string &, int) {
  return noCuda();
}
llvm::Error cuda::launch(Function, const unsigned (&)[3], unsigned, unsigned,
                         Stream, void **) {
  return noCuda();
}
llvm::Error cuda::synchronize(Stream) { return noCuda(); }
llvm::Error cuda::encodeTensorMap(void *, const void *,
                                  const unsigned long long (&)[4],
                                  const unsigned long long (&)[3],
                                  const unsigned (&)[4]) {
  return noCuda();
}
llvm::Expected<double> cuda::timeOnStream(Stream, int,
                                          llvm::function_ref<llvm::Error()>) {
  return noCuda();
}

#else

namespace {

/// The driver entry points attnc uses, resolved by their versioned symbol
/// names (cuda.h maps e.g. cuMemAlloc to cuMemAlloc_v2).
struct Driver {
#define ATTNC_DRIVER_FUNCTIONS(X)                                              \
  X(cuInit)                                                                    \
  X(cuGetErrorString)                                                          \
  X(cuDeviceGet)                                                               \
  X(cuDeviceGetAttribute)                                                      \
  X(cuDevicePrimaryCtxRetain) X(cuCtxGetCurrent) X(cuCtxSetCurrent)            \
      X(cuCtxGetDevice) X(cuMemAlloc) X(cuMemFree) X(cuMemcpyHtoD)             \
          X(cuMemcpyDtoH) X(cuMemAllocAsync) X(cuMemFreeAsync)                 \
              X(cuMemsetD32Async) X(cuModuleLoadData) X(cuModuleGetFunction)   \
                  X(cuFuncSetAttribute) X(cuLaunchKernel)                      \
                      X(cuStreamSynchronize) X(cuEventCreate) X(cuEventRecord) \
                          X(cuEventElapsedTime) X(cuEventDestroy)              \
                              X(cuTensorMapEncodeTiled)
#define ATTNC_DECLARE(fn) decltype(&::fn) fn = nullptr;
  ATTNC_DRIVER_FUNCTIONS(ATTNC_DECLARE)
#undef ATTNC_DECLARE
  std::string error; // why the driver is unusable, when it is
};

#define ATTNC_STRINGIFY_(x) #x
#define ATTNC_STRINGIFY(x) ATTNC_STRINGIFY_(x)

const Driver &getDriver() {
  static Driver driver = [] {
    Driver d;
    void *lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
    if (!lib) {
      d.error = "no CUDA driver (libcuda.so.1 not found): this machine has no "
                "NVIDIA GPU or no driver";
      return d;
    }
#define ATTNC_RESOLVE(fn)                                                      \
  d.fn = reinterpret_cast<decltype(&::fn)>(dlsym(lib, ATTNC_STRINGIFY(fn)));   \
  if (!d.fn && d.error.empty())                                                \
    d.error = "the CUDA driver lacks " ATTNC_STRINGIFY(fn);
    ATTNC_DRIVER_FUNCTIONS(ATTNC_RESOLVE)
#undef ATTNC_RESOLVE
    if (d.error.empty()) {
      CUresult r = d.cuInit(0);
      if (r != CUDA_SUCCESS) {
        const char *s = nullptr;
        d.cuGetErrorString(r, &s);
        d.error = std::string("cuInit failed: ") + (s ? s : "unknown error") +
                  " (no usable GPU?)";
      }
    }
    return d;
  }();
  return driver;
}

llvm::Error check(CUresult r, const char *what) {
  if (r == CUDA_SUCCESS)
    return llvm::Error::success();
  const char *s = nullptr;
  getDriver().cuGetErrorString(r, &s);
  return makeError(llvm::Twine(what) + " failed: " + (s ? s : "unknown error"));
}

} // namespace

llvm::Error cuda::ensureContext() {
  const Driver &d = getDriver();
  if (!d.error.empty())
    return makeError(d.error);
  CUcontext current = nullptr;
  if (auto e = check(d.cuCtxGetCurrent(&current), "cuCtxGetCurrent"))
    return e;
  if (current)
    return llvm::Error::success();
  CUdevice device;
  if (auto e =
          check(d.cuDeviceGet(&device, 0), "cuDeviceGet (no CUDA device?)"))
    return e;
  CUcontext primary;
  if (auto e = check(d.cuDevicePrimaryCtxRetain(&primary, device),
                     "cuDevicePrimaryCtxRetain"))
    return e;
  return check(d.cuCtxSetCurrent(primary), "cuCtxSetCurrent");
}

llvm::Expected<int> cuda::getMultiprocessorCount() {
  if (auto e = ensureContext())
    return e;
  const Driver &d = getDriver();
  CUdevice device;
  int sms = 0;
  if (auto e = check(d.cuCtxGetDevice(&device), "cuCtxGetDevice"))
    return e;
  if (auto e =
          check(d.cuDeviceGetAttribute(
                    &sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device),
                "cuDeviceGetAttribute"))
    return e;
  return sms;
}

llvm::Expected<std::string> cuda::getDeviceTarget() {
  if (auto e = ensureContext())
    return e;
  const Driver &d = getDriver();
  CUdevice device;
  int major = 0, minor = 0;
  if (auto e = check(d.cuCtxGetDevice(&device), "cuCtxGetDevice"))
    return e;
  if (auto e = check(
          d.cuDeviceGetAttribute(
              &major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device),
          "cuDeviceGetAttribute"))
    return e;
  if (auto e = check(
          d.cuDeviceGetAttribute(
              &minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device),
          "cuDeviceGetAttribute"))
    return e;
  std::string target = "sm_" + std::to_string(major * 10 + minor);
  // Hopper's arch-specific features (wgmma, setmaxnreg) need sm_90a.
  if (major == 9 && minor == 0)
    target += "a";
  return target;
}

llvm::Expected<DevicePtr> cuda::allocate(size_t bytes) {
  if (auto e = ensureContext())
    return e;
  CUdeviceptr ptr = 0;
  if (auto e = check(getDriver().cuMemAlloc(&ptr, std::max<size_t>(bytes, 1)),
                     "cuMemAlloc"))
    return e;
  return DevicePtr(ptr);
}

void cuda::release(DevicePtr ptr) {
  if (ptr)
    getDriver().cuMemFree(CUdeviceptr(ptr));
}

llvm::Error cuda::copyToDevice(DevicePtr dst, const void *src, size_t bytes) {
  return check(getDriver().cuMemcpyHtoD(CUdeviceptr(dst), src, bytes),
               "cuMemcpyHtoD");
}

llvm::Error cuda::copyToHost(void *dst, DevicePtr src, size_t bytes) {
  return check(getDriver().cuMemcpyDtoH(dst, CUdeviceptr(src), bytes),
               "cuMemcpyDtoH");
}

llvm::Expected<DevicePtr> cuda::allocateAsync(size_t bytes, Stream stream) {
  CUdeviceptr ptr = 0;
  if (auto e = check(getDriver().cuMemAllocAsync(
                         &ptr, std::max<size_t>(bytes, 4), CUstream(stream)),
                     "cuMemAllocAsync"))
    return e;
  return DevicePtr(ptr);
}

llvm::Error cuda::releaseAsync(DevicePtr ptr, Stream stream) {
  return check(getDriver().cuMemFreeAsync(CUdeviceptr(ptr), CUstream(stream)),
               "cuMemFreeAsync");
}

llvm::Error cuda::zeroAsync(DevicePtr ptr, size_t words, Stream stream) {
  return check(getDriver().cuMemsetD32Async(CUdeviceptr(ptr), 0, words,
                                            CUstream(stream)),
               "cuMemsetD32Async");
}

llvm::Expected<Function> cuda::loadFunction(const std::string &cubin,
                                            const std::string &name,
                                            int dynamicSharedBytes) {
  if (auto e = ensureContext())
    return e;
  const Driver &d = getDriver();
  CUmodule module;
  if (auto e = check(d.cuModuleLoadData(&module, cubin.data()),
                     "cuModuleLoadData (is the cubin for this GPU?)"))
    return e;
  CUfunction fn;
  if (auto e = check(d.cuModuleGetFunction(&fn, module, name.c_str()),
                     "cuModuleGetFunction"))
    return e;
  // More than 48 KB of dynamic shared memory must be asked for.
  if (auto e = check(d.cuFuncSetAttribute(
                         fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                         dynamicSharedBytes),
                     "cuFuncSetAttribute (shared memory)"))
    return e;
  return Function(fn);
}

llvm::Error cuda::launch(Function fn, const unsigned (&grid)[3],
                         unsigned threads, unsigned sharedBytes, Stream stream,
                         void **args) {
  return check(getDriver().cuLaunchKernel(CUfunction(fn), grid[0], grid[1],
                                          grid[2], threads, 1, 1, sharedBytes,
                                          CUstream(stream), args, nullptr),
               "cuLaunchKernel");
}

llvm::Error cuda::encodeTensorMap(void *map, const void *base,
                                  const unsigned long long (&sizes)[4],
                                  const unsigned long long (&strides)[3],
                                  const unsigned (&box)[4]) {
  const cuuint32_t elementStrides[4] = {1, 1, 1, 1};
  cuuint64_t dims[4], bytes[3];
  cuuint32_t boxDims[4];
  for (int i = 0; i < 4; ++i)
    dims[i] = sizes[i], boxDims[i] = box[i];
  for (int i = 0; i < 3; ++i)
    bytes[i] = strides[i];
  return check(getDriver().cuTensorMapEncodeTiled(
                   static_cast<CUtensorMap *>(map),
                   CU_TENSOR_MAP_DATA_TYPE_UINT16, 4, const_cast<void *>(base),
                   dims, bytes, boxDims, elementStrides,
                   CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                   CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                   CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE),
               "cuTensorMapEncodeTiled");
}

llvm::Error cuda::synchronize(Stream stream) {
  return check(getDriver().cuStreamSynchronize(CUstream(stream)),
               "the kernel (cuStreamSynchronize)");
}

llvm::Expected<double>
cuda::timeOnStream(Stream stream, int repeats,
                   llvm::function_ref<llvm::Error()> body) {
  const Driver &d = getDriver();
  // triton.testing.do_bench's method, by which bench/gpu times torch's
  // kernels beside these: before each call a 256 MB write evicts L2, and the
  // calls are queued back to back, so that the host's launch latency hides
  // behind the write instead of being timed.
  constexpr size_t kFlushWords = 64 << 20;
  llvm::Expected<DevicePtr> flush = allocate(kFlushWords * 4);
  if (!flush)
    return flush.takeError();
  std::vector<CUevent> events;
  llvm::Error error = llvm::Error::success();
  for (int i = 0; i < 2 * repeats && !error; ++i) {
    CUevent event;
    error = check(d.cuEventCreate(&event, CU_EVENT_DEFAULT), "cuEventCreate");
    if (!error)
      events.push_back(event);
  }
  for (int r = 0; r < repeats && !error; ++r) {
    if ((error = zeroAsync(*flush, kFlushWords, stream)))
      break;
    if ((error = check(d.cuEventRecord(events[2 * r], CUstream(stream)),
                       "cuEventRecord")))
      break;
    if ((error = body()))
      break;
    error = check(d.cuEventRecord(events[2 * r + 1], CUstream(stream)),
                  "cuEventRecord");
  }
  if (!error)
    error = synchronize(stream);
  std::vector<double> times;
  for (int r = 0; r < repeats && !error; ++r) {
    float ms = 0;
    error = check(d.cuEventElapsedTime(&ms, events[2 * r], events[2 * r + 1]),
                  "cuEventElapsedTime");
    times.push_back(ms * 1e-3);
  }
  for (CUevent event : events)
    d.cuEventDestroy(event);
  release(*flush);
  if (error)
    return error;
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

#endif
