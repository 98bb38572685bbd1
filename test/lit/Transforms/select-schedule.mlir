// attn-select-schedule writes one #attn.schedule per attn.flash: the kernel
// family of the target, its tiles and knobs; options force fields.
// RUN: attn-opt --split-input-file --attn-select-schedule='target=cpu vector-width=8' %s | FileCheck %s --check-prefix=CPU
// RUN: attn-opt --split-input-file --attn-select-schedule='target=sm_90a' %s 2>/dev/null | FileCheck %s --check-prefix=SM90
// RUN: attn-opt --split-input-file --attn-select-schedule='target=sm_90a' %s 2>&1 >/dev/null | FileCheck %s --check-prefix=REMARK
// RUN: attn-opt --split-input-file --attn-select-schedule='target=sm_80' %s | FileCheck %s --check-prefix=SM80
// RUN: not attn-opt --split-input-file --attn-select-schedule='target=sm_80 family=sm90_wgmma' %s 2>&1 | FileCheck %s --check-prefix=NOT90
// RUN: attn-opt --split-input-file --attn-select-schedule='target=sm_80 tile-q=64 stages=3' %s | FileCheck %s --check-prefix=FORCED
// RUN: attn-opt --split-input-file --attn-select-schedule='target=sm_90a family=split_kv' %s | FileCheck %s --check-prefix=SPLIT
// RUN: attn-opt --split-input-file --attn-select-schedule='target=cpu family=cpu_decode vector-width=16' %s | FileCheck %s --check-prefix=DECODE

// CPU: flash softmax{{.*}}{schedule = #attn.schedule<cpu_tiles, tile_q = 64, tile_kv = 64, vector_width = 8>}
// sm_90a: the wgmma kernels, 128 x 128 tiles, a producer warpgroup and two
// consumer ones; other targets the mma.sync ones.
// SM90: flash softmax{{.*}}{schedule = #attn.schedule<sm90_wgmma, tile_q = 128, tile_kv = 128, warps = 12, stages = 2>}
// SM80: flash softmax{{.*}}{schedule = #attn.schedule<sm80_mma, tile_q = 128, tile_kv = 128, warps = 4, stages = 2>}
// NOT90: error: attn-select-schedule: kernel family 'sm90_wgmma' needs target sm_90a; got 'sm_80'
// FORCED: flash softmax{{.*}}{schedule = #attn.schedule<sm80_mma, tile_q = 64, tile_kv = 128, warps = 4, stages = 3>}
// Decode: one warp's 16 rows, the keys split up to 128 ways.
// SPLIT: flash softmax{{.*}}{schedule = #attn.schedule<split_kv, tile_q = 16, tile_kv = 32, warps = 1, stages = 3, splits = 128>}
// CPU decode: 64 packed rows (heads of a kv head x queries), 128-key tiles,
// up to 16 key splits.
// DECODE: flash softmax{{.*}}{schedule = #attn.schedule<cpu_decode, tile_q = 64, tile_kv = 128, splits = 16, vector_width = 16>}
attn.variant @d64(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>, %v: tensor<?x?x?x64xbf16>) -> (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>) {
  %out, %lse = flash softmax(%q, %k, %v) : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>) -> (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>)
  return %out, %lse : tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>
}

// -----

// Head dim 128 takes 48-key tiles in the mma.sync kernels.
// SM90: #attn.schedule<sm90_wgmma, tile_q = 128, tile_kv = 128, warps = 12, stages = 2>
// SM80: #attn.schedule<sm80_mma, tile_q = 128, tile_kv = 48, warps = 4, stages = 2>
// SPLIT: #attn.schedule<split_kv, tile_q = 16, tile_kv = 32, warps = 1, stages = 3, splits = 128>
attn.variant @d128(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>) -> tensor<?x?x?x128xbf16> {
  %out = flash sigmoid(%q, %k, %v) bias -2.0 : (tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>) -> (tensor<?x?x?x128xbf16>)
  return %out : tensor<?x?x?x128xbf16>
}

// -----

// Head dims the wgmma kernels do not take fall back to mma.sync, and say so.
// REMARK: remark: sm90_wgmma takes head dims 64 and 128; this variant runs sm80_mma
// SM90: #attn.schedule<sm80_mma, tile_q = 64, tile_kv = 64, warps = 4, stages = 2>
attn.variant @d256(%q: tensor<?x?x?x256xbf16>, %k: tensor<?x?x?x256xbf16>, %v: tensor<?x?x?x256xbf16>) -> tensor<?x?x?x256xbf16> {
  %out = flash sigmoid(%q, %k, %v) : (tensor<?x?x?x256xbf16>, tensor<?x?x?x256xbf16>, tensor<?x?x?x256xbf16>) -> (tensor<?x?x?x256xbf16>)
  return %out : tensor<?x?x?x256xbf16>
}

// -----

// A schedule already there is kept.
// CPU: #attn.schedule<cpu_tiles, tile_q = 32, tile_kv = 16, vector_width = 4>
// SM90: #attn.schedule<cpu_tiles, tile_q = 32, tile_kv = 16, vector_width = 4>
// SPLIT: #attn.schedule<cpu_tiles, tile_q = 32, tile_kv = 16, vector_width = 4>
attn.variant @kept(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) {
  %out, %lse = flash softmax(%q, %k, %v) {schedule = #attn.schedule<cpu_tiles, tile_q = 32, tile_kv = 16, vector_width = 4>} : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>)
  return %out, %lse : tensor<?x?x?x?xf32>, tensor<?x?x?xf32>
}
