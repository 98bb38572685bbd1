//===- AttnDialect.td - the attn dialect -------------------*- tablegen -*-===//
//
// The attention cascade (score -> score_mod -> mask -> normalize -> aggregate
// -> output_mod) and the fused `attn.flash` op that both backends consume.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_TD
#define ATTN_DIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/EnumAttr.td"

def Attn_Dialect : Dialect {
  let name = "attn";
  let cppNamespace = "::mlir::attn";
  let summary = "Attention variants as a cascade of score, mask, normalize and "
                "aggregate steps, and their fused form";
  let description = [{
    The `attn` dialect describes one attention variant in the terms of
    FlexAttention: for batch `b`, query head `h`, query position `q_idx` and key
    position `kv_idx` (key/value head `h / (H / Hkv)` under GQA),

    ```
    s    = score_mod(scale * <q[b,h,q_idx,:], k[b,hkv,kv_idx,:]>, b, h, q_idx, kv_idx)
    keep = mask(b, h, q_idx, kv_idx)
    p    = normalize(s over kept kv_idx)
    o    = sum over kept kv_idx of p * v[b,hkv,kv_idx,:]
    out  = output_mod(o, b, h, q_idx, d)
    ```

    A variant is written as a cascade of one op per step inside `attn.variant`;
    `attn-fuse` turns the cascade into a single `attn.flash`, which the block
    analysis, the scheduler and both backends work on. Tensors use the layout
    `[B, H, N, D]` for queries and outputs and `[B, Hkv, M, D]` for keys and
    values; any dimension may be dynamic (`?`).

    The regions hold scalar `arith` and `math` ops, those listed in
    `dialect/ScalarOps.def`, besides `attn.load`, `attn.load_range` and their
    `attn.yield`; the verifier rejects any other op.

    A row whose keys are all masked out yields `o = 0` and `lse = -inf`.
  }];
  let usePropertiesForAttributes = 1;
  let useDefaultAttributePrinterParser = 1;
  // Canonicalization and fusion create arith ops inside the regions.
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect"];
}

class Attn_Op<string mnemonic, list<Trait> traits = []>
    : Op<Attn_Dialect, mnemonic, traits>;

def Attn_NormalizerKind : I32EnumAttr<"NormalizerKind",
    "how scores become attention weights", [
      I32EnumAttrCase<"Softmax", 0, "softmax">,
      I32EnumAttrCase<"Sigmoid", 1, "sigmoid">,
      I32EnumAttrCase<"Relu", 2, "relu">,
      I32EnumAttrCase<"Identity", 3, "none">
    ]> {
  let cppNamespace = "::mlir::attn";
}

// What an `attn.branch` reads of another branch of a multi-branch cascade.
def Attn_BranchStat : I32EnumAttr<"BranchStat",
    "a statistic of one branch of a multi-branch cascade", [
      I32EnumAttrCase<"Out", 0, "o">,
      I32EnumAttrCase<"Lse", 1, "lse">,
      I32EnumAttrCase<"RowSum", 2, "row_sum">
    ]> {
  let cppNamespace = "::mlir::attn";
}

// The kernel families a schedule can name: one lowering (CPU) or one
// template file (GPU) each. A new family is a case here, a rule in
// attn-select-schedule and the backend that reads it.
def Attn_KernelFamily : I32EnumAttr<"KernelFamily",
    "the kind of kernel a schedule runs", [
      I32EnumAttrCase<"CpuTiles", 0, "cpu_tiles">,
      I32EnumAttrCase<"Sm80Mma", 1, "sm80_mma">,
      // Decode: the mma.sync templates with the key range split across
      // CTAs (up to `splits`, chosen per call) and a combine kernel.
      I32EnumAttrCase<"SplitKv", 2, "split_kv">,
      // CPU decode: a tile's rows are the queries of the query heads that
      // share a kv head (K/V read once per kv head), scores as dot products
      // over untransposed keys (no per-tile packing).
      I32EnumAttrCase<"CpuDecode", 3, "cpu_decode">,
      // Hopper (sm_90a): the copy engine, mbarriers and wgmma, a producer
      // warp and two consumer warpgroups of 64 query rows.
      I32EnumAttrCase<"Sm90Wgmma", 4, "sm90_wgmma">
    ]> {
  let cppNamespace = "::mlir::attn";
}

#endif // ATTN_DIALECT_TD
