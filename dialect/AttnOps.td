//===- AttnOps.td - attn dialect operations ----------------*- tablegen -*-===//
//
// The cascade ops (one per step of an attention variant), the variant container
// and the fused `attn.flash`.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_OPS_TD
#define ATTN_OPS_TD

include "dialect/AttnAttrs.td"
include "dialect/AttnDialect.td"
include "mlir/IR/OpAsmInterface.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/CallInterfaces.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"
include "mlir/Interfaces/FunctionInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Attn_FloatTensor : RankedTensorOf<[F16, BF16, F32]>;
def Attn_ScoreTensor : RankedTensorOf<[F32]>;

// The region ops name their block arguments after the DSL's variables so that
// printed IR reads like the variant's source.
class Attn_RegionOp<string mnemonic, list<Trait> traits = []>
    : Attn_Op<mnemonic, !listconcat(traits, [
        RecursiveMemoryEffects,
        DeclareOpInterfaceMethods<OpAsmOpInterface, ["getAsmBlockArgumentNames"]>])> {
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
}

//===----------------------------------------------------------------------===//
// The variant container
//===----------------------------------------------------------------------===//

def Attn_VariantOp : Attn_Op<"variant", [
    IsolatedFromAbove, FunctionOpInterface, AutomaticAllocationScope,
    DeclareOpInterfaceMethods<OpAsmOpInterface,
                              ["getAsmBlockArgumentNames", "getDefaultDialect"]>]> {
  let summary = "one attention variant: q, k, v and params in, out and lse out";
  let description = [{
    A named attention variant with a typed signature. The first three
    arguments are `q: [B, H, N, D]`, `k: [B, Hkv, M, D]` and `v: [B, Hkv, M,
    Dv]`; the arguments after them are the variant's *params*: captured tensors
    (ALiBi slopes, document ids, bias tables) or scalars, each named by an
    `attn.name` argument attribute and optionally given a default value by
    `attn.default`. The results are `out: [B, H, N, Dv]` and, optionally,
    `lse: [B, H, N]` in f32.

    ```mlir
    attn.variant @alibi(%q: tensor<?x?x?x?xbf16>, %k: tensor<?x?x?x?xbf16>,
                        %v: tensor<?x?x?x?xbf16>,
                        %slopes: tensor<?xf32> {attn.name = "slopes"})
        -> tensor<?x?x?x?xbf16> {
      ...
      attn.return %out : tensor<?x?x?x?xbf16>
    }
    ```
  }];
  let arguments = (ins SymbolNameAttr:$sym_name,
                       TypeAttrOf<FunctionType>:$function_type,
                       OptionalAttr<StrAttr>:$sym_visibility,
                       OptionalAttr<DictArrayAttr>:$arg_attrs,
                       OptionalAttr<DictArrayAttr>:$res_attrs);
  let regions = (region SizedRegion<1>:$body);
  let hasCustomAssemblyFormat = 1;
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
  let extraClassDeclaration = [{
    /// Number of leading arguments that are q, k and v rather than params.
    static constexpr unsigned kNumTensorInputs = 3;

    Region *getCallableRegion() { return &getBody(); }
    ArrayRef<Type> getArgumentTypes() { return getFunctionType().getInputs(); }
    ArrayRef<Type> getResultTypes() { return getFunctionType().getResults(); }
    bool isDeclaration() { return false; }

    BlockArgument getQuery() { return getBody().getArgument(0); }
    BlockArgument getKey() { return getBody().getArgument(1); }
    BlockArgument getValue() { return getBody().getArgument(2); }
    /// The params, in signature order.
    Block::BlockArgListType getParams() {
      return getBody().getArguments().drop_front(kNumTensorInputs);
    }
    /// The user-facing name of argument `index`: q, k, v, or the param's
    /// `attn.name` (falling back to `param<i>`).
    std::string getArgumentName(unsigned index);
  }];
}

def Attn_ReturnOp : Attn_Op<"return", [
    Pure, HasParent<"VariantOp">, ReturnLike, Terminator]> {
  let summary = "returns the variant's out (and lse)";
  let arguments = (ins Variadic<AnyType>:$operands);
  let assemblyFormat = "$operands attr-dict `:` type($operands)";
  let hasVerifier = 1;
}

def Attn_YieldOp : Attn_Op<"yield", [
    Pure, ReturnLike, Terminator,
    ParentOneOf<["ScoreModOp", "MaskOp", "NormalizeOp", "OutputModOp",
                 "FlashOp"]>]> {
  let summary = "yields a region's scalar result";
  let arguments = (ins AnyType:$value);
  let assemblyFormat = "$value attr-dict `:` type($value)";
}

def Attn_LoadOp : Attn_Op<"load", [Pure,
    TypesMatchWith<"result is the param's element type", "param", "result",
                   "::llvm::cast<::mlir::TensorType>($_self).getElementType()">]> {
  let summary = "reads one element of a captured tensor param";
  let description = [{
    Reads `param[indices]` inside a score_mod, mask or output_mod region. The
    param must be a tensor argument of the enclosing variant (not q, k or v),
    indexed with exactly as many indices as it has dimensions.

    ```mlir
    %slope = attn.load %slopes[%h] : tensor<?xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$param, Variadic<Index>:$indices);
  let results = (outs AnyType:$result);
  let assemblyFormat = "$param `[` $indices `]` attr-dict `:` type($param)";
  let builders = [OpBuilder<(ins "Value":$param, "ValueRange":$indices), [{
    build($_builder, $_state,
          ::llvm::cast<TensorType>(param.getType()).getElementType(), param,
          indices);
  }]>];
  let hasVerifier = 1;
}

def Attn_LoadRangeOp : Attn_Op<"load_range", [Pure,
    TypesMatchWith<"min has the param's element type", "param", "min",
                   "::llvm::cast<::mlir::TensorType>($_self).getElementType()">,
    TypesMatchWith<"max has the param's element type", "param", "max",
                   "::llvm::cast<::mlir::TensorType>($_self).getElementType()">]> {
  let summary = "the least and greatest element of a 1-D param over a range";
  let description = [{
    Returns the least and the greatest of `param[first..last]` (both
    included), the range clamped to the param's extent. The tile classifiers
    of attn-analyze-blocks use it to summarise a data-dependent read over a
    tile of positions (for example the document ids of a query tile).

    ```mlir
    %lo, %hi = attn.load_range %doc[%q_first to %q_last] : tensor<?xi32>
    ```
  }];
  let arguments = (ins RankedTensorOf<[AnySignlessInteger]>:$param,
                       Index:$first, Index:$last);
  let results = (outs AnySignlessInteger:$min, AnySignlessInteger:$max);
  let assemblyFormat = [{
    $param `[` $first `to` $last `]` attr-dict `:` type($param)
  }];
  let builders = [OpBuilder<(ins "Value":$param, "Value":$first, "Value":$last), [{
    Type elem = ::llvm::cast<TensorType>(param.getType()).getElementType();
    build($_builder, $_state, elem, elem, param, first, last);
  }]>];
  let hasVerifier = 1;
}

def Attn_BranchOp : Attn_Op<"branch", [Pure]> {
  let summary = "reads branch `index`'s output element, lse or row_sum in an output_mod";
  let description = [{
    In the output_mod of a multi-branch cascade (`attn.output_mod` with
    `branches`, `attn.flash` with `branches K`): the value that branch
    `index` (1 to K - 1) has where the region's own arguments are branch 0's
    — its output element at the same (b, h, q_idx, d), or its row's lse or
    row_sum. Differential attention's `o[0] - lambda * o[1]`:

    ```mlir
    %o1 = attn.branch o 1 : f32
    ```
  }];
  let arguments = (ins Attn_BranchStat:$stat, I64Attr:$index);
  let results = (outs F32:$result);
  let assemblyFormat = "$stat $index attr-dict `:` type($result)";
  let builders = [OpBuilder<(ins "BranchStat":$stat, "int64_t":$index), [{
    build($_builder, $_state, $_builder.getF32Type(), stat, index);
  }]>];
  let hasVerifier = 1;
}

def Attn_AccumulateOp : Attn_Op<"accumulate"> {
  let summary = "adds to the gradient of a float param";
  let description = [{
    In a score_mod_grad or output_mod_grad region (which attn-differentiate
    derives): adds `value` to the gradient of float param `param` at
    `indices` (none for a scalar param). The param is an argument of the
    enclosing variant; the kernels keep its gradient in f32 and add
    atomically, since pairs of many threads reach one element.

    ```mlir
    attn.accumulate %g into %slopes[%h] : tensor<?xf32>
    ```
  }];
  let arguments = (ins F32:$value, AnyType:$param, Variadic<Index>:$indices);
  let assemblyFormat = [{
    $value `into` $param `[` $indices `]` attr-dict `:` type($param)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// The cascade
//===----------------------------------------------------------------------===//

def Attn_ScoreOp : Attn_Op<"score", [Pure]> {
  let summary = "scaled q.k^T scores, f32, GQA-aware";
  let description = [{
    `s[b, h, i, j] = scale * <q[b, h, i, :], k[b, h / (H / Hkv), j, :]>`,
    accumulated in f32. `scale` defaults to `1/sqrt(D)`. With `head_part
    [p, n]` (a branch of a multi-branch cascade) the product runs over part
    `p` of `n` equal parts of the head dimension only, and the scale
    defaults to `1/sqrt(D / n)`.

    ```mlir
    %s = attn.score %q, %k scale 0.125 : tensor<2x8x128x64xbf16>, tensor<2x2x256x64xbf16>
           -> tensor<2x8x128x256xf32>
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$query, Attn_FloatTensor:$key,
                       OptionalAttr<F64Attr>:$scale,
                       OptionalAttr<DenseI64ArrayAttr>:$head_part);
  let results = (outs Attn_ScoreTensor:$scores);
  let assemblyFormat = [{
    $query `,` $key (`scale` $scale^)? (`head_part` $head_part^)? attr-dict `:` type($query) `,` type($key)
    `->` type($scores)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The scale in effect: the explicit one, or 1/sqrt(D) when D is static.
    std::optional<double> getEffectiveScale();
  }];
}

def Attn_ScoreModOp : Attn_RegionOp<"score_mod", [
    AllTypesMatch<["scores", "result"]>]> {
  let summary = "rewrites each score from its value and its (b, h, q_idx, kv_idx)";
  let description = [{
    The region maps `(score: f32, b, h, q_idx, kv_idx: index)` to the new f32
    score. It may read params with `attn.load`.

    ```mlir
    %s1 = attn.score_mod %s : tensor<?x?x?x?xf32> {
    ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
      %cap = arith.constant 30.0 : f32
      %x = arith.divf %score, %cap : f32
      %t = math.tanh %x : f32
      %y = arith.mulf %t, %cap : f32
      attn.yield %y : f32
    }
    ```
  }];
  let arguments = (ins Attn_ScoreTensor:$scores);
  let results = (outs Attn_ScoreTensor:$result);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "$scores attr-dict `:` type($scores) $body";
    let hasCanonicalizer = 1;
}

def Attn_MaskOp : Attn_RegionOp<"mask", [AllTypesMatch<["scores", "result"]>]> {
  let summary = "keeps the (q_idx, kv_idx) pairs for which the region yields true";
  let description = [{
    The region maps `(b, h, q_idx, kv_idx: index)` to an i1: true keeps the
    pair. Masked pairs take no part in normalisation or aggregation; the score
    values themselves are passed through unchanged.

    ```mlir
    %m = attn.mask %s : tensor<?x?x?x?xf32> {
    ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
      %keep = arith.cmpi uge, %q_idx, %kv_idx : index
      attn.yield %keep : i1
    }
    ```
  }];
  let arguments = (ins Attn_ScoreTensor:$scores);
  let results = (outs Attn_ScoreTensor:$result);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = "$scores attr-dict `:` type($scores) $body";
    let hasCanonicalizer = 1;
}

def Attn_SelectOp : Attn_Op<"select", [Pure,
    AllTypesMatch<["scores", "result"]>]> {
  let summary = "keeps the pairs whose key block the query selects (MoBA)";
  let description = [{
    Dynamic block selection: each query keeps the key blocks that
    `selection` (`#attn.select`) picks from `query` and `key` (the q and k
    of the cascade's `attn.score`), and the pairs of the other blocks are
    masked, as by `attn.mask`; the scores pass through unchanged.

    ```mlir
    %m = attn.select %s, %q, %k keep <top_k = 8, block = 64>
           : tensor<?x?x?x?xf32>, tensor<?x?x?x?xbf16>, tensor<?x?x?x?xbf16>
    ```
  }];
  let arguments = (ins Attn_ScoreTensor:$scores, Attn_FloatTensor:$query,
                       Attn_FloatTensor:$key, Attn_SelectAttr:$selection);
  let results = (outs Attn_ScoreTensor:$result);
  let assemblyFormat = [{
    $scores `,` $query `,` $key `keep` $selection attr-dict `:` type($scores)
    `,` type($query) `,` type($key)
  }];
  let hasVerifier = 1;
}

def Attn_NormalizeOp : Attn_Op<"normalize", [Pure,
    DeclareOpInterfaceMethods<OpAsmOpInterface,
                              ["getAsmResultNames", "getAsmBlockArgumentNames"]>]> {
  let summary = "turns kept scores into weights: softmax, sigmoid, relu or none";
  let description = [{
    With `t = s / temperature + bias` (temperature 1 and bias 0 by default),
    the weight of a kept pair is `exp(t - lse)` (softmax over the row's kept
    keys), `sigmoid(t)`, `max(t, 0)` or `t` (none). A masked pair weighs 0.
    Softmax may also return `lse = log(sum over kept keys of exp(t))` per row,
    `-inf` for a row with no kept key.

    Softmax may take a `sink` region, `(b: index, h: index) -> f32`: a logit
    per row that joins the row's sum but weighs no value (gpt-oss's attention
    sinks; a constant 0 is "softmax + 1"). With it the weight of a kept pair
    is `exp(t - lse)` with `lse = log(exp(sink) + sum over kept keys of
    exp(t))`: lse includes the sink, and a row with no kept key gives
    weights 0 and `lse = sink`.

    ```mlir
    %p, %lse = attn.normalize softmax %s : tensor<?x?x?x?xf32>
                 -> tensor<?x?x?x?xf32>, tensor<?x?x?xf32>
    %p = attn.normalize sigmoid %s bias -8.0 : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
    %p = attn.normalize softmax %s : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32> sink {
    ^bb0(%b: index, %h: index):
      %x = attn.load %sinks[%h] : tensor<?xf32>
      attn.yield %x : f32
    }
    ```
  }];
  let arguments = (ins Attn_NormalizerKind:$kind, Attn_ScoreTensor:$scores,
                       OptionalAttr<F64Attr>:$bias,
                       OptionalAttr<F64Attr>:$temperature);
  let results = (outs Attn_ScoreTensor:$probs,
                      Optional<Attn_ScoreTensor>:$lse);
  let regions = (region AnyRegion:$sink);
  let assemblyFormat = [{
    $kind $scores (`bias` $bias^)? (`temperature` $temperature^)? attr-dict
    `:` type($scores) `->` type(results) (`sink` $sink^)?
  }];
  let hasVerifier = 1;
  let hasRegionVerifier = 1;
  let extraClassDeclaration = [{
    bool hasSink() { return !getSink().empty(); }
  }];
}

def Attn_AggregateOp : Attn_Op<"aggregate", [Pure]> {
  let summary = "weighted sum of the values over the kept keys, in f32";
  let description = [{
    `o[b, h, i, :] = sum over kept j of p[b, h, i, j] * v[b, h / (H / Hkv), j, :]`.

    ```mlir
    %o = attn.aggregate %p, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xbf16>
           -> tensor<?x?x?x?xbf16>
    ```
  }];
  let arguments = (ins Attn_ScoreTensor:$probs, Attn_FloatTensor:$value);
  let results = (outs Attn_FloatTensor:$out);
  let assemblyFormat = [{
    $probs `,` $value attr-dict `:` type($probs) `,` type($value) `->` type($out)
  }];
  let hasVerifier = 1;
}

def Attn_OutputModOp : Attn_RegionOp<"output_mod", [
    AllTypesMatch<["input", "result"]>]> {
  let summary = "rewrites each output element from its value, (b, h, q_idx, d) and the row's statistics";
  let description = [{
    The region maps `(o: f32, b, h, q_idx, d: index, lse, row_sum: f32)` to
    the new f32 output element (for example a sigmoid gate read from a
    param). `d` indexes the head dimension so that per-channel gates can be
    expressed. `lse` is the row's lse (softmax only: with a sink, it
    includes the sink; `-inf` for a row with nothing kept and no sink) and
    `row_sum` the sum of the row's weights over its kept keys, for every
    normalizer (softmax: 1, or 1 - exp(sink - lse) with a sink; 0 for a row
    with nothing kept).

    A multi-branch cascade (differential attention) passes its other
    branches' outputs as `branches`: `input` is branch 0's output, and the
    region reads branch i's values (i from 1) with `attn.branch`.
  }];
  let arguments = (ins Attn_FloatTensor:$input,
                       Variadic<Attn_FloatTensor>:$branches);
  let results = (outs Attn_FloatTensor:$result);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    $input (`branches` `(` $branches^ `:` type($branches) `)`)? attr-dict `:`
    type($input) $body
  }];
    let hasCanonicalizer = 1;
}

//===----------------------------------------------------------------------===//
// The fused op
//===----------------------------------------------------------------------===//

def Attn_FlashOp : Attn_RegionOp<"flash", [
    DeclareOpInterfaceMethods<OpAsmOpInterface, ["getAsmResultNames"]>]> {
  let summary = "a whole attention variant as one fused op";
  let description = [{
    The cascade fused into one op, the unit that the block analysis, the
    scheduler and both backends work on: `out = output_mod(normalize(mask(
    score_mod(scale * q.k^T))) . v)`. Each region has the signature of the
    cascade op of the same name and may be empty, which means identity (no
    score_mod, no mask, no output_mod). `gqa_group` is H / Hkv when both are
    static.

    `sink` (softmax only, `(b, h) -> f32`) is the normalizer's sink logit
    (see `attn.normalize`); empty: no sink.

    `score_mod_grad`, `output_mod_grad` and `sink_grad`, derived by
    `attn-differentiate` for the backward, take the forward region's
    arguments and the adjoint of its result and yield the adjoint of its
    first argument (the score, the output element; 0 for the sink), adding
    param gradients with `attn.accumulate`; empty when the forward region
    is, or before the pass. `output_mod_lse_grad` and
    `output_mod_row_sum_grad` (output_mod_grad's signature) yield the
    adjoint of output_mod's `lse` and `row_sum` arguments instead, without
    param gradients, where the output_mod reads them.

    `tile_class`, derived from the mask by `attn-analyze-blocks`, classifies a
    tile of pairs — queries `q_first..q_last`, keys `kv_first..kv_last` of
    batch `b` and head `h` — as empty (0: skipped), partial (1: mask
    evaluated per pair) or full (2: no mask evaluation), in closed form of
    the tile bounds. Without it every tile is partial (full without a mask).
    `selection` (`#attn.select`, from the cascade's `attn.select`): each
    query also keeps only the key blocks it selects (MoBA), ANDed with the
    mask; the backends compute the selection from q and k and walk only
    the key tiles that some row of a query tile selects.
    `branches K` (a multi-branch cascade, differential attention): the
    head dimension D of q and k is cut into K equal parts, and branch i
    runs the variant with part i of q and k (scale 1/sqrt(D / K) unless
    `scale` says otherwise) over the same keys, mask, score_mod and v;
    output_mod reads branches 1..K-1 with `attn.branch` and its result is
    the output. Such a flash returns no lse.
    `schedule` (`#attn.schedule`) is what `attn-select-schedule` chose: the
    kernel family and its tiles, warps and stages; the backends read nothing
    else of the schedule.

    ```mlir
    %o, %lse = attn.flash softmax(%q, %k, %v) scale 0.125 gqa 4
        : (tensor<1x8x128x64xbf16>, tensor<1x2x128x64xbf16>, tensor<1x2x128x64xbf16>)
        -> (tensor<1x8x128x64xbf16>, tensor<1x8x128xf32>)
      mask {
      ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
        %keep = arith.cmpi uge, %q_idx, %kv_idx : index
        attn.yield %keep : i1
      }
    ```
  }];
  let arguments = (ins Attn_FloatTensor:$query, Attn_FloatTensor:$key,
                       Attn_FloatTensor:$value,
                       Attn_NormalizerKind:$normalizer,
                       OptionalAttr<F64Attr>:$scale,
                       OptionalAttr<F64Attr>:$bias,
                       OptionalAttr<F64Attr>:$temperature,
                       OptionalAttr<I64Attr>:$gqa_group,
                       OptionalAttr<Attn_SelectAttr>:$selection,
                       OptionalAttr<I64Attr>:$branches,
                       OptionalAttr<Attn_ScheduleAttr>:$schedule);
  let results = (outs Attn_FloatTensor:$out, Optional<Attn_ScoreTensor>:$lse);
  let regions = (region AnyRegion:$score_mod, AnyRegion:$mask,
                        AnyRegion:$output_mod, AnyRegion:$tile_class,
                        AnyRegion:$score_mod_grad, AnyRegion:$output_mod_grad,
                        AnyRegion:$sink, AnyRegion:$sink_grad,
                        AnyRegion:$output_mod_lse_grad,
                        AnyRegion:$output_mod_row_sum_grad);
  let assemblyFormat = [{
    $normalizer `(` $query `,` $key `,` $value `)` (`scale` $scale^)?
    (`bias` $bias^)? (`temperature` $temperature^)? (`gqa` $gqa_group^)?
    (`select` $selection^)? (`branches` $branches^)? attr-dict `:` `(` type($query) `,` type($key) `,` type($value) `)`
    `->` `(` type(results) `)`
    (`score_mod` $score_mod^)? (`mask` $mask^)? (`sink` $sink^)?
    (`output_mod` $output_mod^)? (`tile_class` $tile_class^)?
    (`score_mod_grad` $score_mod_grad^)? (`output_mod_grad` $output_mod_grad^)?
    (`sink_grad` $sink_grad^)? (`output_mod_lse_grad` $output_mod_lse_grad^)?
    (`output_mod_row_sum_grad` $output_mod_row_sum_grad^)?
  }];
    let extraClassDeclaration = [{
    bool hasScoreMod() { return !getScoreMod().empty(); }
    bool hasMask() { return !getMask().empty(); }
    bool hasOutputMod() { return !getOutputMod().empty(); }
    bool hasTileClass() { return !getTileClass().empty(); }
    bool hasSink() { return !getSink().empty(); }
    bool hasSelection() { return getSelectionAttr() != nullptr; }
    /// K of a multi-branch cascade; 1 for one branch.
    int64_t getBranchCount() { return getBranches().value_or(1); }
    /// Whether every forward region that needs one has its derivative
    /// (attn-differentiate's result; trivially so without score_mod,
    /// output_mod and sink).
    bool isDifferentiated() {
      return (!hasScoreMod() || !getScoreModGrad().empty()) &&
             (!hasOutputMod() || !getOutputModGrad().empty()) &&
             (!hasSink() || !getSinkGrad().empty()) &&
             (!readsLse(getOutputMod()) || !getOutputModLseGrad().empty()) &&
             (!readsRowSum(getOutputMod()) ||
              !getOutputModRowSumGrad().empty());
    }
    bool returnsLse() { return getLse() != nullptr; }
  }];
}

#endif // ATTN_OPS_TD
