//===- Passes.td - attn conversion passes ------------------*- tablegen -*-===//

#ifndef ATTN_CONVERSION_PASSES_TD
#define ATTN_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertAttnToCPU : Pass<"convert-attn-to-cpu", "::mlir::ModuleOp"> {
  let summary = "Lower each fused variant to a CPU kernel on memrefs";
  let description = [{
    Replaces every `attn.variant` whose body is one `attn.flash` by a
    `func.func @<name>_kernel` over strided memrefs, built from scf loops,
    vector ops for the inner products and the value accumulation, and the
    variant's regions inlined. The kernel processes the work items
    [begin, end) of the (batch, head, query-tile) space; the runtime splits
    that space across threads. Its arguments, in order: q, k, v, out, lse
    (softmax only), for `cpu_decode` the key splits' parts (f32 [rows,
    Dv + 2]) and their number, the params (tensors as memrefs, scalars as
    values), an i32 status buffer (word 0 set to 1 + the param's index when
    a param read is out of bounds; a buffer of ATTNC_STATUS_WORDS words also
    gets the read's `attn.read` id and its index, runtime/attnc/abi.h),
    begin and end.

    The normaliser runs online: a running max and sum per query row for
    softmax, so that no row of scores is ever stored. The tiles and the
    vector width come from the flash op's `cpu_tiles` or `cpu_decode`
    schedule (attn-select-schedule); a work item is one query tile, or for
    `cpu_decode` one key split of a tile of the packed rows of a kv head's
    query heads (then a merge of an item's splits; see cpu_run.h).

    With `backward`, each variant also gets `func.func
    @<name>_backward_kernel` (AttnToCPU/Backward.cpp), from the regions that
    attn-differentiate derived: phase 0 runs over query rows (the output
    before output_mod and dout through it, the row's rowsum(dO * O), dq and
    the param gradients), phase 1 over keys (dk and dv, summed over the
    query heads that share the key's head).
  }];
  let options = [
    Option<"backward", "backward", "bool", /*default=*/"false",
           "also generate the backward kernel (after attn-differentiate)">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::func::FuncDialect",
    "::mlir::math::MathDialect", "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect"
  ];
}

def ApproximateMath : Pass<"attn-approximate-math"> {
  let summary = "Replace exp, log, tanh, ... by polynomial approximations";
  let description = [{
    Rewrites the math ops of the generated kernels (scalar and vector f32)
    into MLIR's polynomial approximations, so that a vector of 16 exps is a
    handful of vector instructions instead of 16 calls to libm.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::vector::VectorDialect"];
}

#endif // ATTN_CONVERSION_PASSES_TD
