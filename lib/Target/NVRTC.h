//===- NVRTC.h - NVRTC, opened at run time ----------------------*- C++ -*-===//
//
// attnc does not link NVRTC: it opens libnvrtc with dlopen the first time a
// GPU kernel is compiled, so that attnc (and its Debian package) runs on
// machines without the CUDA toolkit, and GPU targets fail there with a
// message instead of the loader refusing to start the program.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_TARGET_NVRTC_H
#define ATTNC_TARGET_NVRTC_H

#if ATTNC_HAVE_CUDA

#include "llvm/Support/Error.h"

#include <nvrtc.h>

namespace attnc {

/// The NVRTC entry points attnc calls.
struct NVRTC {
#define ATTNC_NVRTC_FUNCTIONS(X)                                               \
  X(nvrtcCreateProgram)                                                        \
  X(nvrtcCompileProgram)                                                       \
  X(nvrtcDestroyProgram)                                                       \
  X(nvrtcGetProgramLogSize) X(nvrtcGetProgramLog) X(nvrtcGetCUBINSize)         \
      X(nvrtcGetCUBIN) X(nvrtcGetPTXSize) X(nvrtcGetPTX)                       \
          X(nvrtcGetErrorString)
#define ATTNC_DECLARE(fn) decltype(&::fn) fn = nullptr;
  ATTNC_NVRTC_FUNCTIONS(ATTNC_DECLARE)
#undef ATTNC_DECLARE
};

/// NVRTC, opened once: ATTNC_NVRTC (a path) when set, else the soname of
/// the toolkit attnc was built with, then the toolkit's own directory.
/// Fails with what was tried when none opens.
llvm::Expected<const NVRTC &> getNVRTC();

} // namespace attnc

#endif // ATTNC_HAVE_CUDA
#endif // ATTNC_TARGET_NVRTC_H
