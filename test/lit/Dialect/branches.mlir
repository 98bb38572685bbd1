// Multi-branch cascades: attn.score's head_part, attn.output_mod's branches,
// attn.branch and attn.flash's branches round-trip; one case per verifier
// error.
// RUN: attn-opt --split-input-file --verify-diagnostics %s | FileCheck %s

// CHECK-LABEL: attn.variant @differential
// CHECK: score %q, %k head_part [0, 2]
// CHECK: score %q, %k head_part [1, 2]
// CHECK: output_mod %{{.*}} branches(%{{.*}} : tensor<1x2x9x8xf32>)
// CHECK: attn.branch o 1 : f32
// CHECK: attn.branch lse 1 : f32
attn.variant @differential(%q: tensor<1x2x9x16xf32>, %k: tensor<1x2x9x16xf32>, %v: tensor<1x2x9x8xf32>) -> tensor<1x2x9x8xf32> {
  %s0 = attn.score %q, %k head_part [0, 2] : tensor<1x2x9x16xf32>, tensor<1x2x9x16xf32> -> tensor<1x2x9x9xf32>
  %p0 = attn.normalize softmax %s0 : tensor<1x2x9x9xf32> -> tensor<1x2x9x9xf32>
  %o0 = attn.aggregate %p0, %v : tensor<1x2x9x9xf32>, tensor<1x2x9x8xf32> -> tensor<1x2x9x8xf32>
  %s1 = attn.score %q, %k head_part [1, 2] : tensor<1x2x9x16xf32>, tensor<1x2x9x16xf32> -> tensor<1x2x9x9xf32>
  %p1 = attn.normalize softmax %s1 : tensor<1x2x9x9xf32> -> tensor<1x2x9x9xf32>
  %o1 = attn.aggregate %p1, %v : tensor<1x2x9x9xf32>, tensor<1x2x9x8xf32> -> tensor<1x2x9x8xf32>
  %o = attn.output_mod %o0 branches(%o1 : tensor<1x2x9x8xf32>) : tensor<1x2x9x8xf32> {
  ^bb0(%x: f32, %b: index, %h: index, %i: index, %d: index, %lse: f32, %sum: f32):
    %y = attn.branch o 1 : f32
    %l = attn.branch lse 1 : f32
    %z = arith.subf %x, %y : f32
    %w = arith.addf %z, %l : f32
    attn.yield %w : f32
  }
  attn.return %o : tensor<1x2x9x8xf32>
}

// -----

// CHECK-LABEL: attn.variant @fused
// CHECK: flash softmax(%q, %k, %v) branches 2
attn.variant @fused(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %out = attn.flash softmax(%q, %k, %v) branches 2 : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>) output_mod {
  ^bb0(%x: f32, %b: index, %h: index, %i: index, %d: index, %lse: f32, %sum: f32):
    %y = attn.branch o 1 : f32
    %z = arith.subf %x, %y : f32
    attn.yield %z : f32
  }
  attn.return %out : tensor<?x?x?x?xf32>
}

// -----

func.func @f(%q: tensor<1x2x9x15xf32>, %k: tensor<1x2x9x15xf32>) {
  // expected-error @+1 {{cannot cut head dim D = 15 into 2 equal branch parts}}
  %s = attn.score %q, %k head_part [0, 2] : tensor<1x2x9x15xf32>, tensor<1x2x9x15xf32> -> tensor<1x2x9x9xf32>
  return
}

// -----

func.func @f(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>) {
  // expected-error @+1 {{head_part 2 is not one of the 2 parts}}
  %s = attn.score %q, %k head_part [2, 2] : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  return
}

// -----

attn.variant @f(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %out = attn.flash softmax(%q, %k, %v) branches 2 : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>) output_mod {
  ^bb0(%x: f32, %b: index, %h: index, %i: index, %d: index, %lse: f32, %sum: f32):
    // expected-error @+1 {{reads branch 2; the output_mod combines branches 0 to 1 and reads branch 0 from its arguments}}
    %y = attn.branch o 2 : f32
    attn.yield %y : f32
  }
  attn.return %out : tensor<?x?x?x?xf32>
}

// -----

attn.variant @f(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %out = attn.flash softmax(%q, %k, %v) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>) score_mod {
  ^bb0(%s: f32, %b: index, %h: index, %i: index, %j: index):
    // expected-error @+1 {{reads another branch's values only in an output_mod region}}
    %y = attn.branch o 1 : f32
    attn.yield %y : f32
  }
  attn.return %out : tensor<?x?x?x?xf32>
}

// -----

attn.variant @f(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) {
  // expected-error @+1 {{with branches returns no lse: each branch has its own}}
  %out, %lse = attn.flash softmax(%q, %k, %v) branches 2 : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>)
  attn.return %out, %lse : tensor<?x?x?x?xf32>, tensor<?x?x?xf32>
}
