// Bad targets, families and schedules are refused with one clear line.
// RUN: not attn-opt --attn-select-schedule='target=tpu' %s 2>&1 | FileCheck %s --check-prefix=TARGET
// RUN: not attn-opt --attn-select-schedule='target=sm_90a family=cpu_tiles' %s 2>&1 | FileCheck %s --check-prefix=FAMILY
// RUN: not attn-opt --attn-select-schedule='target=cpu family=warp_magic' %s 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// RUN: not attn-opt --attn-select-schedule='target=sm_80 family=cpu_decode' %s 2>&1 | FileCheck %s --check-prefix=DECODE
// RUN: not attn-opt --attn-select-schedule='target=cpu vector-width=5' %s 2>&1 | FileCheck %s --check-prefix=WIDTH
// TARGET: unknown target 'tpu'; expected cpu or sm_XX
// FAMILY: kernel family 'cpu_tiles' does not run on target 'sm_90a'
// UNKNOWN: kernel family 'warp_magic' does not run on target 'cpu'
// DECODE: kernel family 'cpu_decode' does not run on target 'sm_80'
// WIDTH: schedule: vector_width must be 4, 8 or 16 (0: none); got 5
attn.variant @dense(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) {
  %out, %lse = flash softmax(%q, %k, %v) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>)
  return %out, %lse : tensor<?x?x?x?xf32>, tensor<?x?x?xf32>
}
