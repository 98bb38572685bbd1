//===- AttnAttrs.td - attn dialect attributes --------------*- tablegen -*-===//
//
// The schedule of an attn.flash: what attn-select-schedule decides and what
// the backends read, as one attribute.
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

#endif // ATTN_ATTRS_TD
