//===- Passes.td - attn transformation passes --------------*- tablegen -*-===//

#ifndef ATTN_TRANSFORMS_PASSES_TD
#define ATTN_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def AttnFuse : Pass<"attn-fuse", "::mlir::attn::VariantOp"> {
  let summary = "Fuse a variant's cascade into one attn.flash";
  let description = [{
    Follows the variant's output back through `attn.output_mod`,
    `attn.aggregate`, `attn.normalize` and any sequence of `attn.score_mod` and
    `attn.mask` to `attn.score`, and replaces the whole cascade by one
    `attn.flash` whose regions compose the score_mods in order, conjoin the
    masks and carry the output_mods. The fused kernel never materialises the
    [B, H, N, M] scores, so the pass refuses, with a diagnostic that names the
    culprit, a cascade whose intermediate values are used anywhere else, that
    lacks a step, or whose output is not computed by a cascade.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

#endif // ATTN_TRANSFORMS_PASSES_TD
