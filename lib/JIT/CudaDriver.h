//===- CudaDriver.h - the CUDA driver API, opened at run time ---*- C++ -*-===//
//
// attnc links NVRTC but not libcuda: the driver is opened with dlopen on the
// first use, so that the compiler runs (and compiles GPU code) on machines
// without a GPU. Every call reports failure as an llvm::Error that names the
// driver call and its error string.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_JIT_CUDADRIVER_H
#define ATTNC_JIT_CUDADRIVER_H

#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>

namespace attnc::cuda {

typedef uint64_t DevicePtr;
typedef void *Stream;   // CUstream
typedef void *Function; // CUfunction

/// Opens the driver, initialises it and makes device 0's primary context
/// current on this thread (unless a context already is). Fails with a
/// message that says why when there is no driver or no device.
llvm::Error ensureContext();

/// The current device's architecture as a target name (sm_80, sm_90a, ...).
llvm::Expected<std::string> getDeviceTarget();

/// The current device's SM count (split-KV sizes its grid by it).
llvm::Expected<int> getMultiprocessorCount();

llvm::Expected<DevicePtr> allocate(size_t bytes);
void release(DevicePtr ptr);
llvm::Error copyToDevice(DevicePtr dst, const void *src, size_t bytes);
llvm::Error copyToHost(void *dst, DevicePtr src, size_t bytes);

/// Stream-ordered scratch memory (the block map, the status word).
llvm::Expected<DevicePtr> allocateAsync(size_t bytes, Stream stream);
llvm::Error releaseAsync(DevicePtr ptr, Stream stream);
llvm::Error zeroAsync(DevicePtr ptr, size_t words, Stream stream);

/// Loads a cubin; the module lives as long as the process.
llvm::Expected<Function> loadFunction(const std::string &cubin,
                                      const std::string &name,
                                      int dynamicSharedBytes);
llvm::Error launch(Function fn, const unsigned (&grid)[3], unsigned threads,
                   unsigned sharedBytes, Stream stream, void **args);
llvm::Error synchronize(Stream stream);

/// Encodes into `map` (128 bytes, 64-byte aligned) the tensor map of a
/// rank-4 tensor of 16-bit elements at `base` (sizes and byte strides from
/// the innermost dimension out), read in boxes of `box` elements through
/// the 128-byte swizzle, zeros outside the tensor (cuTensorMapEncodeTiled).
llvm::Error encodeTensorMap(void *map, const void *base,
                            const unsigned long long (&sizes)[4],
                            const unsigned long long (&strides)[3],
                            const unsigned (&box)[4]);

/// Times `repeats` calls of `body` on `stream` with events, each after a
/// write that evicts L2, the calls queued without waiting for each other
/// (triton.testing.do_bench's method): the median time in seconds.
llvm::Expected<double> timeOnStream(Stream stream, int repeats,
                                    llvm::function_ref<llvm::Error()> body);

} // namespace attnc::cuda

#endif // ATTNC_JIT_CUDADRIVER_H
