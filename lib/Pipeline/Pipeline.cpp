//===- Pipeline.cpp - the order of attnc's passes -------------------------===//

#include "Pipeline/Pipeline.h"
#include "Conversion/Passes.h"
#include "Transforms/Passes.h"

#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVMPass.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MathToLibm/MathToLibm.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Conversion/VectorToLLVM/ConvertVectorToLLVMPass.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Support/Timing.h"
#include "mlir/Transforms/Passes.h"

#include <atomic>

void mlir::attn::buildFusePipeline(OpPassManager &pm) {
  pm.addPass(createCanonicalizerPass());
  pm.addNestedPass<VariantOp>(createAttnFuse());
  pm.addPass(createCanonicalizerPass());
}

void mlir::attn::buildSchedulePipeline(OpPassManager &pm,
                                       const ScheduleOptions &options) {
  AttnSelectScheduleOptions schedule;
  schedule.target = options.target;
  schedule.family = options.family;
  schedule.tileQ = options.tileQ;
  schedule.tileKv = options.tileKv;
  schedule.warps = options.warps;
  schedule.stages = options.stages;
  schedule.splits = options.splits;
  schedule.vectorWidth = options.vectorWidth;
  schedule.pagedKv = options.pagedKv;
  schedule.ragged = options.ragged;
  pm.addPass(createAttnAnalyzeBlocks());
  pm.addPass(createAttnSelectSchedule(schedule));
  pm.addPass(createCanonicalizerPass());
}

void mlir::attn::buildCPULoweringPipeline(OpPassManager &pm,
                                          const LoweringOptions &options) {
  // The derived regions recompute the forward's, divisions included.
  if (options.backward)
    pm.addPass(createAttnDifferentiate());
  pm.addPass(createAttnDefineDivision());
  ConvertAttnToCPUOptions convert;
  convert.backward = options.backward;
  pm.addPass(createConvertAttnToCPU(convert));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addPass(createLoopInvariantCodeMotionPass());
  pm.addPass(createApproximateMath());
  pm.addPass(arith::createArithExpandOpsPass());
  pm.addPass(createSCFToControlFlowPass());
  ConvertVectorToLLVMPassOptions vectorOptions;
  vectorOptions.reassociateFPReductions = true;
  pm.addPass(createConvertVectorToLLVMPass(vectorOptions));
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

void mlir::attn::buildCUDAPreparePipeline(OpPassManager &pm,
                                          const LoweringOptions &options) {
  if (options.backward)
    pm.addPass(createAttnDifferentiate());
  pm.addPass(createAttnDefineDivision());
  pm.addPass(createCSEPass());
}

static std::atomic<bool> commandLineOptions{false};

void mlir::attn::useMLIRCommandLineOptions() { commandLineOptions = true; }

mlir::LogicalResult
mlir::attn::runPipeline(Operation *module,
                        function_ref<void(OpPassManager &)> build) {
  PassManager pm(module->getContext());
  if (commandLineOptions) {
    if (failed(applyPassManagerCLOptions(pm)))
      return failure();
    applyDefaultTimingPassManagerCLOptions(pm);
  }
  build(pm);
  return pm.run(module);
}

namespace {
/// The schedule's fields as pipeline options, e.g.
/// `attn-gpu-pipeline{target=sm_90a tile-kv=64}`.
struct SchedulePipelineOptions
    : mlir::PassPipelineOptions<SchedulePipelineOptions> {
  Option<std::string> target{*this, "target",
                             llvm::cl::desc("cpu or sm_XX (default: the "
                                            "pipeline's)")};
  Option<std::string> family{*this, "family",
                             llvm::cl::desc("kernel family (empty: the "
                                            "target's)")};
  Option<int64_t> tileQ{*this, "tile-q", llvm::cl::desc("query rows a tile"),
                        llvm::cl::init(0)};
  Option<int64_t> tileKv{*this, "tile-kv", llvm::cl::desc("keys a tile"),
                         llvm::cl::init(0)};
  Option<int64_t> warps{*this, "warps", llvm::cl::desc("GPU warps a CTA"),
                        llvm::cl::init(0)};
  Option<int64_t> stages{*this, "stages", llvm::cl::desc("GPU K/V stages"),
                         llvm::cl::init(0)};
  Option<int64_t> splits{*this, "splits", llvm::cl::desc("key splits"),
                         llvm::cl::init(0)};
  Option<int64_t> vectorWidth{*this, "vector-width",
                              llvm::cl::desc("CPU f32 lanes"),
                              llvm::cl::init(0)};
  Option<bool> pagedKv{*this, "paged-kv",
                       llvm::cl::desc("k and v as pages (a page table)"),
                       llvm::cl::init(false)};
  Option<bool> ragged{*this, "ragged",
                      llvm::cl::desc("packed sequences (cu_seqlens offsets)"),
                      llvm::cl::init(false)};

  mlir::attn::ScheduleOptions get(const std::string &defaultTarget) const {
    mlir::attn::ScheduleOptions o;
    o.target = target.empty() ? defaultTarget : std::string(target);
    o.family = family;
    o.tileQ = tileQ, o.tileKv = tileKv, o.warps = warps, o.stages = stages;
    o.splits = splits, o.vectorWidth = vectorWidth, o.pagedKv = pagedKv;
    o.ragged = ragged;
    return o;
  }
};
} // namespace

void mlir::attn::registerAttnPipelines() {
  static bool registered = false;
  if (registered)
    return;
  registered = true;
  PassPipelineRegistration<>(
      "attn-fuse-pipeline",
      "The cascade to one attn.flash per variant (canonicalize, attn-fuse)",
      buildFusePipeline);
  PassPipelineRegistration<SchedulePipelineOptions>(
      "attn-schedule-pipeline",
      "Fused variants with tile classifiers and #attn.schedule",
      [](OpPassManager &pm, const SchedulePipelineOptions &options) {
        buildSchedulePipeline(pm, options.get("cpu"));
      });
  PassPipelineRegistration<SchedulePipelineOptions>(
      "attn-cpu-pipeline",
      "Fused variants to CPU kernels in the LLVM dialect, for the host",
      [](OpPassManager &pm, const SchedulePipelineOptions &options) {
        buildSchedulePipeline(pm, options.get("cpu"));
        buildCPULoweringPipeline(pm);
      });
  PassPipelineRegistration<SchedulePipelineOptions>(
      "attn-gpu-pipeline",
      "Fused variants scheduled for a GPU, ready for attn-to-cuda",
      [](OpPassManager &pm, const SchedulePipelineOptions &options) {
        buildSchedulePipeline(pm, options.get("sm_80"));
        buildCUDAPreparePipeline(pm);
      });
}
