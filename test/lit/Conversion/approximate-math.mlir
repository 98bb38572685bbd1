// attn-approximate-math replaces f32 exp, log and tanh, scalar and vector, by
// polynomials: no math call is left for libm.
// RUN: attn-opt --attn-approximate-math %s | FileCheck %s

// CHECK-LABEL: func.func @softmax_parts
// CHECK-NOT: math.exp
// CHECK-NOT: math.log
// CHECK-NOT: math.tanh
// CHECK: arith.mulf
// CHECK: return
func.func @softmax_parts(%x: vector<16xf32>, %s: f32) -> (vector<16xf32>, f32, vector<16xf32>) {
  %e = math.exp %x : vector<16xf32>
  %l = math.log %s : f32
  %t = math.tanh %x : vector<16xf32>
  return %e, %l, %t : vector<16xf32>, f32, vector<16xf32>
}
