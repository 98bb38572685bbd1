// #attn.schedule round-trips, omits fields at their defaults, and verifies.
// RUN: attn-opt --split-input-file --verify-diagnostics %s | FileCheck %s

// CHECK: #attn.schedule<sm80_mma, tile_q = 128, tile_kv = 64, warps = 4, stages = 2>
// CHECK: #attn.schedule<cpu_tiles, tile_q = 64, tile_kv = 64, splits = 2, vector_width = 16>
attn.variant @two(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) {
  %a, %la = flash softmax(%q, %k, %v) {schedule = #attn.schedule<sm80_mma, tile_q = 128, tile_kv = 64, warps = 4, stages = 2, splits = 1>} : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>)
  %b, %lb = flash softmax(%q, %k, %v) {schedule = #attn.schedule<cpu_tiles, tile_q = 64, tile_kv = 64, splits = 2, vector_width = 16>} : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>)
  return %b, %la : tensor<?x?x?x?xf32>, tensor<?x?x?xf32>
}

// -----

attn.variant @bad(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) {
  // expected-error @+1 {{schedule: tile_q must be between 1 and 4096; got 0}}
  %out, %lse = flash softmax(%q, %k, %v) {schedule = #attn.schedule<cpu_tiles, tile_q = 0, tile_kv = 64>} : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>)
  return %out, %lse : tensor<?x?x?x?xf32>, tensor<?x?x?xf32>
}
