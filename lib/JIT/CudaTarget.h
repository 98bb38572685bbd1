//===- CudaTarget.h - GPU kernels as CUDA C++, PTX and cubins ---*- C++ -*-===//

#ifndef ATTNC_JIT_CUDATARGET_H
#define ATTNC_JIT_CUDATARGET_H

#include "Conversion/AttnToCUDA/AttnToCUDA.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"

#include <string>
#include <string_view>

namespace attnc {

/// Checks that `target` is a GPU attnc can compile for: sm_80 and up, with
/// NVRTC available in this build.
llvm::Error checkGPUTarget(std::string_view target);

/// The text of runtime/cuda/attnc/flash_fwd.cuh, embedded at build time.
std::string_view getCudaRuntimeHeader();

/// The CUDA C++ of the one scheduled variant of `module` (attn-gpu-pipeline,
/// which runs here first: cse) and what its launch needs.
struct GeneratedCUDA {
  std::string source;
  mlir::attn::CUDAKernelSpec spec;
};
llvm::Expected<GeneratedCUDA> generateCUDA(mlir::ModuleOp module);

/// `source` with the tile templates pasted in place of their include, so that
/// nvcc compiles it on its own (attnc --emit=cuda).
std::string pasteCudaRuntime(std::string source);

enum class CudaOutput { PTX, Cubin };

/// Compiles generated CUDA C++ with NVRTC for `target`; the tile templates
/// come from memory, not from the file system. `defines` are NAME or
/// NAME=VALUE macros for the program. Thread-safe: programs compile in
/// parallel.
llvm::Expected<std::string>
compileWithNVRTC(std::string_view source, std::string_view target,
                 CudaOutput output, llvm::ArrayRef<std::string> defines = {});

} // namespace attnc

#endif // ATTNC_JIT_CUDATARGET_H
