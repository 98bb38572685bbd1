//===- KernelImpl.h - what a compiled kernel holds --------------*- C++ -*-===//

#ifndef ATTNC_JIT_KERNELIMPL_H
#define ATTNC_JIT_KERNELIMPL_H

#include "attnc/attnc.h"

#include <memory>

namespace mlir {
class ExecutionEngine;
} // namespace mlir

namespace attnc {

/// The JIT-compiled code of one variant and its signature.
struct Kernel::Impl {
  std::string name;
  std::vector<ParamInfo> params;
  bool hasLse = false;
  DType dtype = DType::F32;
  std::optional<int64_t> headDim;
  int64_t tileQ = 64;
  std::shared_ptr<mlir::ExecutionEngine> engine;
  void (*entry)(void **) = nullptr; // the packed kernel
};

} // namespace attnc

#endif // ATTNC_JIT_KERNELIMPL_H
