//===- AttnToCUDA.h - fused variants to CUDA C++ ----------------*- C++ -*-===//
//
// Translates a scheduled attn.flash into CUDA C++ that instantiates the tile
// templates of runtime/cuda/attnc/flash_fwd.cuh: the regions become inlined
// device functions, the schedule becomes the template's Config.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_CONVERSION_ATTNTOCUDA_H
#define ATTNC_CONVERSION_ATTNTOCUDA_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

#include <string>

namespace mlir::attn {

/// What the host needs to launch the generated kernels.
struct CUDAKernelSpec {
  std::string kernelName;   // extern "C" __global__ forward kernel
  std::string blockMapName; // the block-map kernel, empty when not needed
  int64_t headDim = 0, tileQ = 0, tileKv = 0, threads = 0, sharedBytes = 0;
  int64_t numParams = 0;
  bool blockMapUsesBatch = false, blockMapUsesHead = false;
  // A dynamic block selection (#attn.select): its block size and top_k (0
  // without one). Then blockMapName is its selection kernel, which writes
  // the block map (per batch and head) after the pooling kernel
  // `<blockMapName>_pool`.
  int64_t selectBlock = 0, selectTopK = 0;
  // Split-KV (family split_kv): the kernel that merges the key ranges' parts
  // (empty for other families) and the most ranges a call may use.
  std::string combineName;
  int64_t maxSplits = 1;
  // sm90_wgmma: the forward kernel takes the tensor maps of q, k and v
  // (attnc_cuda::TensorMaps) as its third parameter, boxes of tileQ rows
  // for q and tileKv rows for k and v.
  bool tensorMaps = false;
  // A paged KV cache: the kernels read k and v through a page table
  // (FlashArgs' page fields); the AOT entry takes it and the lengths.
  bool pagedKv = false;
  // A differentiated variant's backward (sm80_backward.cuh): kernels
  // `B` (the main one), `B_rows`, `B_dq` for backwardName B, and the
  // output's recomputation `B_recompute`; they compile as their own program.
  std::string backwardName;
  int64_t backwardSharedBytes = 0, recomputeSharedBytes = 0;
  int64_t backwardTileQ = 0, backwardTileKv = 0, backwardThreads = 0;
  bool hasOutputMod = false; // the backward's dO goes through output_mod
};

/// Macros that leave kernels out of the generated program: the JIT
/// compiles a variant's block map, forward kernel and backward kernels as
/// separate programs, in parallel.
inline constexpr const char *kSkipForwardMacro = "ATTNC_NO_FORWARD";
inline constexpr const char *kSkipBlockMapMacro = "ATTNC_NO_BLOCKMAP";
inline constexpr const char *kSkipBackwardMacro = "ATTNC_NO_BACKWARD";

/// The name of the include that holds the tile templates.
StringRef getCUDARuntimeHeaderName();

/// Writes the CUDA C++ of the one fused, scheduled variant in `module`: the
/// kernels, and for nvcc the AOT entry point `<variant>_cuda` (host code
/// that NVRTC skips).
/// Everything of the launch comes from the flash op's `#attn.schedule`
/// (family sm80_mma). Reports unsupported ops, types and schedules as
/// located errors. `backward`: also the backward's kernels (the
/// variant differentiated by attn-differentiate).
FailureOr<CUDAKernelSpec> translateToCUDA(ModuleOp module, raw_ostream &os,
                                          bool backward = false);

/// Registers `attn-to-cuda` with mlir-translate's registry, for
/// attn-translate.
void registerToCUDATranslation();

} // namespace mlir::attn

#endif // ATTNC_CONVERSION_ATTNTOCUDA_H
