//===- Target.h - where kernels run: pipeline, emit, compile ----*- C++ -*-===//
//
// A Target is one backend seen from the drivers: the passes that take the
// scheduled IR to what it reads, the artifacts it writes for files (attnc
// --emit=...), and the code it compiles for the JIT to load (the bytes the
// disk cache keeps). attnc and the JIT both reach a Target through
// Compilation (Compilation.h), the one compile entry; neither branches on
// the target's kind. A new target is one more implementation here.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_TARGET_TARGET_H
#define ATTNC_TARGET_TARGET_H

#include "mlir/IR/BuiltinOps.h"

#include "llvm/Support/Error.h"

#include <memory>
#include <string>

namespace mlir {
class OpPassManager;
namespace attn {
struct LoweringOptions;
} // namespace attn
} // namespace mlir

namespace attnc {

struct KernelSignature;

/// What a target can write for one lowered variant.
enum class Artifact {
  LLVMIR, // the CPU kernel as LLVM IR text
  Object, // the CPU kernel as a host object file with a C entry point
  CUDA,   // CUDA C++ that nvcc compiles on its own (the templates pasted)
  PTX,    // PTX, by NVRTC
  Cubin,  // a cubin, by NVRTC
};

class Target {
public:
  virtual ~Target();

  /// cpu, or the GPU architecture (sm_80, sm_90a, ...).
  const std::string &getName() const { return name; }
  virtual bool isGPU() const = 0;

  /// A fingerprint of what the generated code depends on beyond the IR
  /// (the CUDA templates' text), for cache keys.
  virtual std::string getCodeVersion() const { return ""; }

  /// Adds the passes from the scheduled IR to what emit() and compile()
  /// read (lib/Pipeline orders them).
  /// `options.backward`: the variant differentiated and its backward
  /// kernels built too (compile() then takes a signature whose `backward`
  /// is set).
  virtual void
  buildLoweringPipeline(mlir::OpPassManager &pm,
                        const mlir::attn::LoweringOptions &options) const = 0;

  /// Whether emit() writes `artifact`.
  virtual bool canEmit(Artifact artifact) const = 0;

  /// Writes `artifact` of the one lowered variant of `module`. On failure
  /// the reasons went to the context's diagnostic handler as well.
  virtual llvm::Expected<std::string> emit(mlir::ModuleOp module,
                                           Artifact artifact) const = 0;

  /// The C header declaring the entry point of the Object or CUDA artifact.
  virtual std::string emitCHeader(const KernelSignature &signature) const = 0;

  /// The code the JIT loads for the one lowered variant of `module`: a host
  /// object (CPU) or a CUDA bundle (CUDACode in CUDATarget.h).
  virtual llvm::Expected<std::string>
  compile(mlir::ModuleOp module, const KernelSignature &signature) const = 0;

protected:
  explicit Target(std::string name) : name(std::move(name)) {}

private:
  std::string name;
};

std::unique_ptr<Target> createCPUTarget();
std::unique_ptr<Target> createCUDATarget(llvm::StringRef arch);

/// The target named `name`: cpu, or a GPU from sm_80 up (an error names
/// what is accepted, or that this build has no NVRTC).
llvm::Expected<std::unique_ptr<Target>> getTarget(llvm::StringRef name);

} // namespace attnc

#endif // ATTNC_TARGET_TARGET_H
