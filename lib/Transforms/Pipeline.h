//===- Pipeline.h - the order of attnc's passes -----------------*- C++ -*-===//

#ifndef ATTNC_TRANSFORMS_PIPELINE_H
#define ATTNC_TRANSFORMS_PIPELINE_H

namespace mlir {
class OpPassManager;
} // namespace mlir

namespace mlir::attn {

/// canonicalize, attn-fuse, canonicalize: the cascade to one attn.flash per
/// variant (what `attnc --emit=fused` prints).
void buildFusePipeline(OpPassManager &pm);

} // namespace mlir::attn

#endif // ATTNC_TRANSFORMS_PIPELINE_H
