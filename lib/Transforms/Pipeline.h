//===- Pipeline.h - the order of attnc's passes -----------------*- C++ -*-===//

#ifndef ATTNC_TRANSFORMS_PIPELINE_H
#define ATTNC_TRANSFORMS_PIPELINE_H

#include <cstdint>
#include <string>

namespace mlir {
class OpPassManager;
} // namespace mlir

namespace mlir::attn {

/// canonicalize, attn-fuse, canonicalize: the cascade to one attn.flash per
/// variant (what `attnc --emit=fused` prints).
void buildFusePipeline(OpPassManager &pm);

/// attn-analyze-blocks, attn-select-schedule (0: the target's choice),
/// convert-attn-to-cpu, then scf/vector/math/memref/arith/func to the LLVM
/// dialect: fused variants to CPU kernels ready for translation to LLVM IR.
void buildCPUPipeline(OpPassManager &pm, int64_t tileQ, int64_t tileKv,
                      int64_t vectorWidth);

/// attn-analyze-blocks, attn-select-schedule for GPU `target` (sm_XX),
/// canonicalize and cse: fused variants ready for translateToCUDA.
void buildGPUPipeline(OpPassManager &pm, const std::string &target,
                      int64_t tileQ, int64_t tileKv);

} // namespace mlir::attn

#endif // ATTNC_TRANSFORMS_PIPELINE_H
