//===- CpuTarget.h - CPU kernels as LLVM IR, objects and C headers -*- C++ -*-//

#ifndef ATTNC_JIT_CPUTARGET_H
#define ATTNC_JIT_CPUTARGET_H

#include "mlir/IR/BuiltinOps.h"

#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <string>

namespace attnc {

/// What a C caller needs to know of a kernel, read off the fused variant.
struct KernelSignature {
  struct Param {
    std::string name, cType; // cType: the C element type
    int64_t rank;            // 0 for scalars
  };
  std::string name;
  std::string elemCType; // of q, k, v, out (uint16_t for f16/bf16 bits)
  std::vector<Param> params;
  bool hasLse = false;
  int64_t tileQ = 64;
  int64_t headDim = 0, valueHeadDim = 0; // D and Dv; dynamic: negative
};

/// Reads the signature of the (single) fused variant of `module`.
llvm::Expected<KernelSignature> readKernelSignature(mlir::ModuleOp module);

/// Translates a module lowered by buildCPUPipeline to LLVM IR, optimised
/// for the host (at the kernels' vector width: LLVM must not split 512-bit
/// operations on CPUs tuned to prefer 256 bits).
llvm::Expected<std::unique_ptr<llvm::Module>>
translateCPUModule(mlir::ModuleOp module, llvm::LLVMContext &context);

/// Adds `void <kernel>_packed(void **args)`, which loads each argument of
/// the lowered kernel from args[i] and calls it: one entry point a caller can
/// use whatever the variant's params.
void addPackedEntry(llvm::Module &module, llvm::StringRef kernel);

/// Compiles `module` to an object file for the host, in memory.
llvm::Expected<std::string> emitHostObject(llvm::Module &module);

/// Writes `module` as an object file for the host.
llvm::Error writeHostObject(llvm::Module &module, llvm::StringRef path);

/// A C header declaring the kernel's entry point and how to call it: the
/// CPU object's, or (`gpu`) the one --emit=cuda writes for nvcc.
std::string generateCHeader(const KernelSignature &signature, bool gpu = false);

} // namespace attnc

#endif // ATTNC_JIT_CPUTARGET_H
