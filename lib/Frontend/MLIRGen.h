//===- MLIRGen.h - checked variants to the attn cascade ---------*- C++ -*-===//

#ifndef ATTNC_FRONTEND_MLIRGEN_H
#define ATTNC_FRONTEND_MLIRGEN_H

#include "Frontend/Typed.h"

#include "mlir/IR/BuiltinOps.h"

#include <optional>

namespace attnc {

/// How a variant is instantiated: the element type of q, k, v and out, and
/// the head dim when it is known at compile time.
struct EmitOptions {
  ast::ScalarType dtype = ast::ScalarType::F32;
  std::optional<int64_t> headDim;
};

/// Appends one attn.variant per spec to `module`, every op located at the
/// source that produced it.
void emitVariants(mlir::ModuleOp module,
                  const std::vector<sema::VariantSpec> &variants,
                  const EmitOptions &options);

} // namespace attnc

#endif // ATTNC_FRONTEND_MLIRGEN_H
