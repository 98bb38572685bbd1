//===- Passes.h - attn conversion passes ------------------------*- C++ -*-===//

#ifndef ATTNC_CONVERSION_PASSES_H
#define ATTNC_CONVERSION_PASSES_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::attn {

#define GEN_PASS_DECL
#include "Conversion/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "Conversion/Passes.h.inc"

/// The name of the CPU kernel generated for variant `name`.
std::string getCPUKernelName(StringRef variantName);
/// The name of its backward kernel (convert-attn-to-cpu{backward}).
std::string getCPUBackwardKernelName(StringRef variantName);

} // namespace mlir::attn

#endif // ATTNC_CONVERSION_PASSES_H
