//===- MLIRGen.h - checked variants to the attn cascade ---------*- C++ -*-===//

#ifndef ATTNC_FRONTEND_MLIRGEN_H
#define ATTNC_FRONTEND_MLIRGEN_H

#include "Frontend/Typed.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

#include <optional>

namespace attnc {

/// How a variant is instantiated: the element type of q, k, v and out, and
/// the head dims when they are known at compile time.
struct EmitOptions {
  ast::ScalarType dtype = ast::ScalarType::F32;
  std::optional<int64_t> headDim;      // D, of q and k
  std::optional<int64_t> valueHeadDim; // Dv, of v and out, when not D

  /// Dv when fixed: the value head dim, else the head dim.
  std::optional<int64_t> valueDim() const {
    return valueHeadDim ? valueHeadDim : headDim;
  }
};

/// Appends one attn.variant per spec to `module`, every op located at the
/// source that produced it.
void emitVariants(mlir::ModuleOp module,
                  const std::vector<sema::VariantSpec> &variants,
                  const EmitOptions &options);

/// Loads the dialects a variant uses into `ctx`.
void loadAttnDialects(mlir::MLIRContext &ctx);

/// Emits `variants` into a new module as the cascade and verifies it (the
/// passes that follow are ordered in lib/Pipeline). Returns null after
/// reporting through `ctx`'s diagnostic handlers.
mlir::OwningOpRef<mlir::ModuleOp>
buildModule(mlir::MLIRContext &ctx,
            const std::vector<sema::VariantSpec> &variants,
            const EmitOptions &options);

} // namespace attnc

#endif // ATTNC_FRONTEND_MLIRGEN_H
