//===- KernelSignature.h - a kernel's C entry point -------------*- C++ -*-===//

#ifndef ATTNC_TARGET_KERNELSIGNATURE_H
#define ATTNC_TARGET_KERNELSIGNATURE_H

#include "mlir/IR/BuiltinOps.h"

#include "llvm/Support/Error.h"

#include <string>
#include <vector>

namespace attnc {

/// What a C caller needs to know of a kernel, read off the scheduled variant.
struct KernelSignature {
  struct Param {
    std::string name, cType; // cType: the C element type
    int64_t rank;            // 0 for scalars
    bool isFloat = false;    // has a gradient in the backward
  };
  std::string name;
  std::string elemCType; // of q, k, v, out (uint16_t for f16/bf16 bits)
  std::vector<Param> params;
  bool hasLse = false;
  int64_t tileQ = 64, tileKv = 64;
  bool packsHeads = false; // cpu_decode: tiles of the heads of a kv head...
  int64_t maxSplits = 1;   // ...cut into up to this many key splits
  bool pagedKv = false;    // k and v as pages, with a page table and lengths
  bool ragged = false;     // packed sequences with cu_seqlens offsets
  int64_t headDim = 0, valueHeadDim = 0; // D and Dv; dynamic: negative
  bool backward = false; // the backward's kernels too (set by the caller)
};

/// Reads the signature of the (single) scheduled variant of `module`.
llvm::Expected<KernelSignature> readKernelSignature(mlir::ModuleOp module);

/// A C header declaring the kernel's entry point and how to call it: the
/// CPU object's, or (`gpu`) the one --emit=cuda writes for nvcc.
std::string generateCHeader(const KernelSignature &signature, bool gpu);

} // namespace attnc

#endif // ATTNC_TARGET_KERNELSIGNATURE_H
