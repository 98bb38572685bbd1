//===- AttnAttrs.td - attn dialect attributes --------------*- tablegen -*-===//
//
// The schedule of an attn.flash (what attn-select-schedule decides and what
// the backends read, as one attribute) and the dynamic block selection.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_ATTRS_TD
#define ATTN_ATTRS_TD

include "dialect/AttnDialect.td"
include "mlir/IR/AttrTypeBase.td"

def Attn_ScheduleAttr : AttrDef<Attn_Dialect, "Schedule"> {
  let mnemonic = "schedule";
  let summary = "how one attn.flash runs: kernel family, tiles, warps, stages";
  let description = [{
    The schedule `attn-select-schedule` chooses for an `attn.flash`, and the
    only thing the backends read of it: the kernel family, the query rows
    (`tile_q`) and keys (`tile_kv`) of a tile, and the family's own knobs.
    Fields a family does not use keep their defaults and are not printed.

    - `warps`: warps per CTA (GPU families; 0 on the CPU);
    - `stages`: K/V tiles in flight (GPU families; 1 on the CPU);
    - `splits`: key splits whose partial results are combined (1: none;
      `split_kv`: the most a call may use, the launcher picks per call);
    - `vector_width`: f32 lanes of the CPU kernel's vectors (0 on GPUs);
    - `paged_kv`: 1 when k and v come as pages `[num_pages, page_size, Hkv,
      D]` read through a page table `[B, max_pages]` (i32), with a key count
      per sequence `[B]` (i32) beyond which keys are not kept (M is
      max_pages * page_size); 0: `[B, Hkv, M, D]`;
    - `ragged`: 1 when the batch is packed sequences of their own lengths
      (FlashAttention's varlen convention): q `[1, H, total_q, D]`, k and v
      `[1, Hkv, total_k, D]`, out `[1, H, total_q, Dv]`, lse `[1, H,
      total_q]`, with cumulative offsets `cu_seqlens_q` and `cu_seqlens_k`
      `[S + 1]` (i32); sequence s holds queries `cu_seqlens_q[s]` up to
      `cu_seqlens_q[s + 1]` and keys likewise, and the regions see b = s
      and positions within the sequence; 0: a dense batch.

    `cpu_decode` counts `tile_q` in packed rows: the H / Hkv query heads of
    one kv head times the queries.

    ```mlir
    #attn.schedule<sm80_mma, tile_q = 128, tile_kv = 64, warps = 4, stages = 2>
    #attn.schedule<sm90_wgmma, tile_q = 128, tile_kv = 128, warps = 12, stages = 2>
    #attn.schedule<cpu_tiles, tile_q = 64, tile_kv = 64, vector_width = 16>
    #attn.schedule<cpu_decode, tile_q = 64, tile_kv = 128, vector_width = 16>
    #attn.schedule<split_kv, tile_q = 16, tile_kv = 32, warps = 1, stages = 3, splits = 128>
    #attn.schedule<cpu_decode, tile_q = 64, tile_kv = 128, splits = 16, vector_width = 16, paged_kv = 1>
    #attn.schedule<cpu_tiles, tile_q = 64, tile_kv = 64, vector_width = 16, ragged = 1>
    ```
  }];
  let parameters = (ins
    EnumParameter<Attn_KernelFamily>:$family,
    "int64_t":$tile_q,
    "int64_t":$tile_kv,
    DefaultValuedParameter<"int64_t", "0">:$warps,
    DefaultValuedParameter<"int64_t", "1">:$stages,
    DefaultValuedParameter<"int64_t", "1">:$splits,
    DefaultValuedParameter<"int64_t", "0">:$vector_width,
    DefaultValuedParameter<"int64_t", "0">:$paged_kv,
    DefaultValuedParameter<"int64_t", "0">:$ragged
  );
  let assemblyFormat = [{
    `<` $family `,` struct($tile_q, $tile_kv, $warps, $stages, $splits,
                           $vector_width, $paged_kv, $ragged) `>`
  }];
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    bool isGPU() const {
      return getFamily() != KernelFamily::CpuTiles &&
             getFamily() != KernelFamily::CpuDecode;
    }
  }];
}

def Attn_SelectAttr : AttrDef<Attn_Dialect, "Select"> {
  let mnemonic = "select";
  let summary = "dynamic block selection (MoBA): each query keeps its top-k key blocks";
  let description = [{
    The keys of each sequence are cut into blocks of `block` keys (the last
    one may be shorter); block `j` is summarised by the mean of its keys
    (per kv head). Query `i` of head `h` scores each *candidate* block by
    the gate `g = <q[b, h, i, :], mean(k[b, hkv, block j, :])>` (no scale),
    computed and compared in f32, and keeps:

    - always: its current block `i / block` (when it has keys), the first
      `sinks` blocks and the `local` blocks on either side of the current
      one, among the candidates;
    - then the candidates of highest gate, until `top_k` blocks are kept
      (all of the always-kept ones are kept even when they are more).

    With `causal` (the default, MoBA's), the candidates are the blocks not
    after the query's own (`j <= i / block`); without, every block. Ties:
    of two equal gates the lower block index wins; a NaN gate ranks below
    every number. The selection is ANDed with the variant's mask: a pair is
    kept when the mask keeps it and its key's block is selected for its
    query (MoBA's causality inside the current block is the mask's
    `causal()`).

    ```mlir
    #attn.select<top_k = 8, block = 64>
    #attn.select<top_k = 4, block = 16, sinks = 1, local = 1, causal = false>
    ```
  }];
  let parameters = (ins
    "int64_t":$top_k,
    "int64_t":$block,
    DefaultValuedParameter<"int64_t", "0">:$sinks,
    DefaultValuedParameter<"int64_t", "0">:$local,
    DefaultValuedParameter<"bool", "true">:$causal
  );
  let assemblyFormat = [{
    `<` struct($top_k, $block, $sinks, $local, $causal) `>`
  }];
  let genVerifyDecl = 1;
}

#endif // ATTN_ATTRS_TD
