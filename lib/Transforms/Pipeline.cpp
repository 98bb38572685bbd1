//===- Pipeline.cpp - the order of attnc's passes -------------------------===//

#include "Transforms/Pipeline.h"
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
#include "mlir/Transforms/Passes.h"

void mlir::attn::buildFusePipeline(OpPassManager &pm) {
  pm.addPass(createCanonicalizerPass());
  pm.addNestedPass<VariantOp>(createAttnFuse());
  pm.addPass(createCanonicalizerPass());
}

/// The block analysis and the schedule, which every backend starts from.
static void addAnalysisAndSchedule(
    mlir::OpPassManager &pm,
    const mlir::attn::AttnSelectScheduleOptions &schedule) {
  pm.addPass(mlir::attn::createAttnAnalyzeBlocks());
  pm.addPass(mlir::attn::createAttnSelectSchedule(schedule));
  pm.addPass(mlir::createCanonicalizerPass());
}

void mlir::attn::buildCPUPipeline(OpPassManager &pm, int64_t tileQ,
                                  int64_t tileKv, int64_t vectorWidth) {
  AttnSelectScheduleOptions schedule;
  schedule.tileQ = tileQ;
  schedule.tileKv = tileKv;
  schedule.vectorWidth = vectorWidth;
  addAnalysisAndSchedule(pm, schedule);
  ConvertAttnToCPUOptions options;
  options.tileQ = tileQ;
  options.vectorWidth = vectorWidth;
  pm.addPass(createConvertAttnToCPU(options));
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

void mlir::attn::buildGPUPipeline(OpPassManager &pm, const std::string &target,
                                  int64_t tileQ, int64_t tileKv) {
  AttnSelectScheduleOptions schedule;
  schedule.target = target;
  schedule.tileQ = tileQ;
  schedule.tileKv = tileKv;
  addAnalysisAndSchedule(pm, schedule);
  pm.addPass(createCSEPass());
}
