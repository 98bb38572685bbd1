// A block selection is scheduled on the CPU families and the GPU's sm80_mma
// and sm90_wgmma; split_kv and the backward (attn-differentiate) refuse it
// at compile time for now.
// RUN: attn-opt --attn-select-schedule='target=cpu' %s | FileCheck %s --check-prefix=CPU
// RUN: attn-opt --attn-select-schedule='target=cpu family=cpu_decode' %s | FileCheck %s --check-prefix=DECODE
// RUN: attn-opt --attn-select-schedule='target=sm_90a' %s | FileCheck %s --check-prefix=HOPPER
// RUN: not attn-opt --attn-select-schedule='target=sm_80 family=split_kv' %s 2>&1 | FileCheck %s --check-prefix=SPLIT
// RUN: not attn-opt --attn-differentiate %s 2>&1 | FileCheck %s --check-prefix=BACKWARD
// CPU: flash softmax(%q, %k, %v) select <top_k = 8, block = 64> {schedule = #attn.schedule<cpu_tiles,
// DECODE: {schedule = #attn.schedule<cpu_decode,
// HOPPER: {schedule = #attn.schedule<sm90_wgmma,
// SPLIT: kernel family split_kv does not take it yet
// BACKWARD: error: 'attn.flash' op the backward of a variant with a block selection (select) is not supported yet; compile it without the backward
attn.variant @moba(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>, %v: tensor<?x?x?x128xbf16>) -> (tensor<?x?x?x128xbf16>, tensor<?x?x?xf32>) {
  %out, %lse = flash softmax(%q, %k, %v) select <top_k = 8, block = 64> : (tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16>) -> (tensor<?x?x?x128xbf16>, tensor<?x?x?xf32>)
  return %out, %lse : tensor<?x?x?x128xbf16>, tensor<?x?x?xf32>
}
