// convert-attn-to-cpu builds the kernel at the schedule's tiles and vector
// width, and refuses a flash without a cpu_tiles or cpu_decode schedule.
// RUN: attn-opt --split-input-file --verify-diagnostics --convert-attn-to-cpu %s | FileCheck %s

// CHECK-LABEL: func.func @causal_kernel(
// CHECK-SAME: memref<?x?x?x?xf32, strided<[?, ?, ?, 1], offset: ?>>
// CHECK-SAME: memref<?xi32>
// CHECK-SAME: %{{.*}}: index, %{{.*}}: index)
// CHECK-SAME: attn.vector_width = 8 : i64
// CHECK: vector<8xf32>
// CHECK-NOT: attn.flash
attn.variant @causal(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) {
  %out, %lse = flash softmax(%q, %k, %v) {schedule = #attn.schedule<cpu_tiles, tile_q = 32, tile_kv = 32, vector_width = 8>} : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) mask {
  ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
    %0 = arith.cmpi sge, %q_idx, %kv_idx : index
    attn.yield %0 : i1
  }
  return %out, %lse : tensor<?x?x?x?xf32>, tensor<?x?x?xf32>
}

// -----

// cpu_decode: an item is (batch, kv head, packed rows); the key tile is not
// packed (no transposed copy): scores are dot products reduced per key.
// CHECK-LABEL: func.func @decode_kernel(
// CHECK-NOT: memref.alloca({{.*}}) : memref<?x128xf32>
// CHECK: memref.alloca() : memref<4x128xf32>
// CHECK: vector.reduction <add>
// CHECK-NOT: attn.flash
attn.variant @decode(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) {
  %out, %lse = flash softmax(%q, %k, %v) {schedule = #attn.schedule<cpu_decode, tile_q = 64, tile_kv = 128, vector_width = 16>} : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>)
  return %out, %lse : tensor<?x?x?x?xf32>, tensor<?x?x?xf32>
}

// -----

attn.variant @unscheduled(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) {
  // expected-error @+1 {{needs a cpu_tiles or cpu_decode schedule with a vector width}}
  %out, %lse = flash softmax(%q, %k, %v) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>)
  return %out, %lse : tensor<?x?x?x?xf32>, tensor<?x?x?xf32>
}

// -----

attn.variant @gpu(%q: tensor<?x?x?x64xbf16>, %k: tensor<?x?x?x64xbf16>, %v: tensor<?x?x?x64xbf16>) -> (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>) {
  // expected-error @+1 {{needs a cpu_tiles or cpu_decode schedule}}
  %out, %lse = flash softmax(%q, %k, %v) {schedule = #attn.schedule<sm80_mma, tile_q = 128, tile_kv = 128, warps = 4, stages = 2>} : (tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>, tensor<?x?x?x64xbf16>) -> (tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>)
  return %out, %lse : tensor<?x?x?x64xbf16>, tensor<?x?x?xf32>
}

// -----

// A block selection: per-call buffers for the block sums, one row's gates
// and the keep bytes, the gate as one division (a NaN gate ranks as -inf),
// all candidates kept when top_k is at least their number, else passes of
// an argmax up to top_k, and the key tiles classed by the selection too
// (min with the mask's class).
// CHECK-LABEL: func.func @moba_kernel(
// CHECK-COUNT-2: memref.alloc({{.*}}) {alignment = 64 : i64} : memref<?xf32>
// CHECK-COUNT-3: memref.alloc({{.*}}) {alignment = 64 : i64} : memref<?xi8>
// CHECK: %[[GATE:.*]] = arith.divf
// CHECK: arith.cmpf uno, %[[GATE]], %[[GATE]] : f32
// CHECK: arith.cmpi uge, %c4
// CHECK: scf.for %{{.*}} = %{{.*}} to %c4
// CHECK: arith.cmpf ogt
// CHECK: arith.minui {{.*}} : i8
// CHECK-NOT: attn.flash
attn.variant @moba(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) {
  %out, %lse = flash softmax(%q, %k, %v) select <top_k = 4, block = 32> {schedule = #attn.schedule<cpu_tiles, tile_q = 32, tile_kv = 32, vector_width = 8>} : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>)
  return %out, %lse : tensor<?x?x?x?xf32>, tensor<?x?x?xf32>
}
