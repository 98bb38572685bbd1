//===- Pipeline.cpp - the order of attnc's passes -------------------------===//

#include "Transforms/Pipeline.h"
#include "Transforms/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

void mlir::attn::buildFusePipeline(OpPassManager &pm) {
  pm.addPass(createCanonicalizerPass());
  pm.addNestedPass<VariantOp>(createAttnFuse());
  pm.addPass(createCanonicalizerPass());
}
