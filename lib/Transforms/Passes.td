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

def AttnAnalyzeBlocks : Pass<"attn-analyze-blocks"> {
  let summary = "Derive each attn.flash's tile classifier from its mask";
  let description = [{
    Fills the `tile_class` region of every `attn.flash` with a mask: the
    mask's abstract interpretation over a tile of pairs (queries
    q_first..q_last, keys kv_first..kv_last), in closed form of those bounds.
    Integers become intervals, booleans (can be true, can be false); the
    region yields 0 (empty: no pair kept), 2 (full: every pair kept) or 1
    (partial). Affine masks (causal, windows, prefixes, chunks,
    neighborhoods and their compositions) get exact classes on most tiles; a
    param read at one position per tile (a block map) is read, which makes
    block-sparse masks pure tile sparsity; other data-dependent reads make a
    tile partial. The classifier is sound: an empty tile holds no kept pair
    and a full tile no masked one.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def AttnDefineDivision : Pass<"attn-define-division"> {
  let summary = "Give integer division by zero its defined result";
  let description = [{
    Integer division in the regions of `attn.flash` is defined for every
    operand (docs/language.md): `x / 0` is 0, `x % 0` is `x`, floor and
    ceiling division by 0 are 0, and the signed `MIN / -1` wraps to `MIN`
    (its remainder is 0). The hardware's divide instructions trap or give
    anything there (and LLVM takes such a division for undefined behaviour,
    which made a kernel loop forever), so the backends' pipelines start with
    this pass: each division gets a divisor that cannot trap and a select of
    the defined result, as the float64 reference computes it.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def AttnDifferentiate : Pass<"attn-differentiate"> {
  let summary = "Derive the backward's regions of each attn.flash";
  let description = [{
    Fills `score_mod_grad`, `output_mod_grad` and `sink_grad` of every
    `attn.flash` that has a score_mod, an output_mod or a sink (whose
    derived region yields 0 and only accumulates its params' gradients):
    reverse-mode differentiation of the
    region, op by op (one rule per op of dialect/ScalarOps.def that yields a
    float; lib/Transforms/Derivatives.cpp). The derived region recomputes
    the forward's values, then propagates the adjoint of the region's result
    back to its first argument, which it yields; a float param read with
    `attn.load` (or a scalar float param used directly) gets its gradient
    with `attn.accumulate`. Integer values, comparisons, floor, ceil and
    round carry no gradient (as in PyTorch's autograd); masks need no
    derivative. A region already derived is kept; the CPU lowering's
    backward kernels read these regions. An output_mod that reads the row's
    lse or row_sum also gets `output_mod_lse_grad` / `output_mod_row_sum_grad`
    (its derivative by that argument, without param gradients), which the
    backward passes on to every score of the row.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect"];
}

def AttnSelectSchedule : Pass<"attn-select-schedule"> {
  let summary = "Choose the kernel family and its schedule for each attn.flash";
  let description = [{
    Writes one `#attn.schedule` on every `attn.flash` that has none: the
    kernel family of the target, its tiles and the family's knobs. The
    backends read only that attribute.

    - `cpu`: `cpu_tiles`, 64 x 64 tiles, the host's vector width (16 f32
      lanes with AVX-512, 8 with AVX2, 4 otherwise);
    - `cpu_decode` (on `cpu`, when asked for: decode): the query heads that
      share a kv head packed into one tile's rows (64 of them), 128-key
      tiles, scores as dot products over the keys as stored, up to 16 key
      splits (the runtime cuts the keys when items are fewer than threads);
    - `sm_XX` (80 and up): `sm80_mma`, the mma.sync templates, with the
      tiles of `defaultGPUTiles` (128 x 128 for head dim 64, 128 x 48 up to
      128, 64 x 64 beyond; 64-key tiles where a region gathers a param per
      pair), 4 warps for the default query tile (else one 16-row fragment a
      warp, up to 8), 2 stages;
    - `split_kv` (on `sm_XX`, when asked for: decode, a few queries against
      many keys): the same templates with 16-row query tiles of one warp,
      32-key tiles, 3 stages, the key range split
      across up to 128 CTAs per query tile and the parts combined.

    Every option other than `target` forces that field (0: the target's
    choice), for comparisons and sweeps; a forced value the family cannot
    run is reported by the backend. `paged-kv` asks for a paged KV cache
    (`paged_kv = 1`); `sm90_wgmma`, whose tensor maps cannot follow a page
    table, then falls back to `sm80_mma` with a remark (an error when the
    family was asked for). `ragged` asks for packed sequences of their own
    lengths (`ragged = 1`), on the CPU families only so far (an error on a
    GPU target).
  }];
  let options = [
    Option<"target", "target", "std::string", /*default=*/"\"cpu\"",
           "The target: cpu or sm_XX">,
    Option<"family", "family", "std::string", /*default=*/"\"\"",
           "The kernel family (cpu_tiles, cpu_decode, sm80_mma, sm90_wgmma, split_kv; empty: the target's)">,
    Option<"tileQ", "tile-q", "int64_t", /*default=*/"0",
           "Query rows per tile (0: the target's choice)">,
    Option<"tileKv", "tile-kv", "int64_t", /*default=*/"0",
           "Keys per tile (0: the target's choice)">,
    Option<"warps", "warps", "int64_t", /*default=*/"0",
           "GPU: warps per CTA (0: the family's choice)">,
    Option<"stages", "stages", "int64_t", /*default=*/"0",
           "GPU: K/V tiles in flight (0: the family's choice)">,
    Option<"splits", "splits", "int64_t", /*default=*/"0",
           "Key splits (0: the family's choice)">,
    Option<"vectorWidth", "vector-width", "int64_t", /*default=*/"0",
           "CPU: f32 lanes (0: the host's)">,
    Option<"pagedKv", "paged-kv", "bool", /*default=*/"false",
           "k and v as pages read through a page table (paged_kv = 1)">,
    Option<"ragged", "ragged", "bool", /*default=*/"false",
           "packed sequences given by cumulative offsets (ragged = 1)">,
  ];
}

#endif // ATTN_TRANSFORMS_PASSES_TD
