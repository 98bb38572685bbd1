//===- Compilation.cpp - the one compile entry ----------------------------===//

#include "Target/Compilation.h"

#include "mlir/Pass/PassManager.h"

using namespace attnc;

Compilation::Compilation(const Target &target,
                         mlir::attn::ScheduleOptions schedule,
                         mlir::attn::LoweringOptions lowering)
    : target(target), schedule(std::move(schedule)), lowering(lowering) {
  this->schedule.target = target.getName();
}

mlir::LogicalResult
Compilation::build(mlir::MLIRContext &ctx,
                   const std::vector<sema::VariantSpec> &variants,
                   const EmitOptions &options) {
  module = buildModule(ctx, variants, options);
  stage = Stage::Cascade;
  return mlir::success(bool(module));
}

mlir::LogicalResult Compilation::advanceTo(Stage to) {
  using mlir::attn::runPipeline;
  while (stage < to) {
    mlir::LogicalResult result = mlir::success();
    switch (stage) {
    case Stage::Cascade:
      result = runPipeline(*module, mlir::attn::buildFusePipeline);
      break;
    case Stage::Fused:
      result = runPipeline(*module, [&](mlir::OpPassManager &pm) {
        mlir::attn::buildSchedulePipeline(pm, schedule);
      });
      break;
    case Stage::Scheduled:
      result = runPipeline(*module, [&](mlir::OpPassManager &pm) {
        target.buildLoweringPipeline(pm, lowering);
      });
      break;
    case Stage::Lowered:
      break;
    }
    if (mlir::failed(result))
      return result;
    stage = static_cast<Stage>(static_cast<int>(stage) + 1);
  }
  return mlir::success();
}
