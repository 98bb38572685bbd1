//===- KernelImpl.h - what a compiled kernel holds --------------*- C++ -*-===//

#ifndef ATTNC_JIT_KERNELIMPL_H
#define ATTNC_JIT_KERNELIMPL_H

#include "attnc/attnc.h"

#include <memory>

namespace llvm::orc {
class LLJIT;
} // namespace llvm::orc

namespace attnc {

/// The JIT-compiled code of one variant and its signature.
struct Kernel::Impl {
  std::string name;
  std::vector<ParamInfo> params;
  bool hasLse = false;
  DType dtype = DType::F32;
  std::optional<int64_t> headDim;
  int64_t tileQ = 64;
  std::shared_ptr<llvm::orc::LLJIT> jit;
  void (*entry)(void **) = nullptr; // the packed kernel: args[i] -> i-th arg
};

} // namespace attnc

#endif // ATTNC_JIT_KERNELIMPL_H
