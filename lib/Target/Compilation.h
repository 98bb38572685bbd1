//===- Compilation.h - the one compile entry --------------------*- C++ -*-===//
//
// Checked variants through every stage to what a Target emits: the cascade
// (the frontend), fused, scheduled, lowered (the target's passes). attnc
// stops at the stage its --emit asks for; the JIT keys its caches on the
// scheduled IR and lowers on a miss.
//
//===----------------------------------------------------------------------===//

#ifndef ATTNC_TARGET_COMPILATION_H
#define ATTNC_TARGET_COMPILATION_H

#include "Frontend/MLIRGen.h"
#include "Pipeline/Pipeline.h"
#include "Target/Target.h"

namespace attnc {

enum class Stage { Cascade, Fused, Scheduled, Lowered };

class Compilation {
public:
  /// Compiles for `target` with `schedule`'s forced fields (its target is
  /// set to the target's name).
  Compilation(const Target &target, mlir::attn::ScheduleOptions schedule,
              mlir::attn::LoweringOptions lowering = {});

  /// Builds the cascade of `variants` in `ctx`. Failures are reported
  /// through `ctx`'s diagnostic handlers.
  mlir::LogicalResult build(mlir::MLIRContext &ctx,
                            const std::vector<sema::VariantSpec> &variants,
                            const EmitOptions &options);

  /// Runs the pipelines from the current stage up to `stage`.
  mlir::LogicalResult advanceTo(Stage stage);

  mlir::ModuleOp getModule() { return *module; }
  Stage getStage() const { return stage; }
  const Target &getTarget() const { return target; }

private:
  const Target &target;
  mlir::attn::ScheduleOptions schedule;
  mlir::attn::LoweringOptions lowering;
  mlir::OwningOpRef<mlir::ModuleOp> module;
  Stage stage = Stage::Cascade;
};

} // namespace attnc

#endif // ATTNC_TARGET_COMPILATION_H
