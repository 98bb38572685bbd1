//===- CUDATarget.h - what the CUDA target compiles for the JIT -*- C++ -*-===//

#ifndef ATTNC_TARGET_CUDATARGET_H
#define ATTNC_TARGET_CUDATARGET_H

#include "Conversion/AttnToCUDA/AttnToCUDA.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <optional>
#include <string>

namespace attnc {

/// Checks that `target` names a GPU attnc compiles for (sm_80 and up) and
/// that this build has NVRTC.
llvm::Error checkGPUTarget(llvm::StringRef target);

/// A compiled GPU kernel, as Target::compile hands it to the JIT: the CUDA
/// source, the forward kernel's cubin, the block-map kernel's and the
/// backward kernels' (programs of their own, empty when the variant has
/// none) and what the launch needs.
struct CUDACode {
  mlir::attn::CUDAKernelSpec spec;
  std::string source, cubin, blockMapCubin, backwardCubin;

  /// The bytes Target::compile returns (and the disk cache keeps).
  std::string serialize() const;
  /// Reads serialize()'s bytes; nullopt when they are damaged.
  static std::optional<CUDACode> parse(llvm::StringRef bytes);
};

} // namespace attnc

#endif // ATTNC_TARGET_CUDATARGET_H
