// attn-differentiate derives score_mod_grad and output_mod_grad: the
// forward recomputed, then each op's rule in reverse; float param reads get
// attn.accumulate, and the region yields the adjoint of its first argument.
// RUN: attn-opt %s -split-input-file -attn-differentiate | FileCheck %s

// score * w + bias[h]: d/dscore = dscore * w, dw += dscore * score,
// dbias[h] += dscore.
// CHECK-LABEL: attn.variant @learnable
// CHECK: score_mod_grad {
// CHECK-NEXT: ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index, %dscore: f32):
// CHECK-NEXT: %[[M:.*]] = arith.mulf %score, %w : f32
// CHECK-NEXT: %[[B:.*]] = attn.load %bias[%h] : tensor<?xf32>
// CHECK-NEXT: arith.addf %[[M]], %[[B]] : f32
// CHECK-NEXT: attn.accumulate %dscore into %bias[%h] : tensor<?xf32>
// CHECK-NEXT: %[[DS:.*]] = arith.mulf %dscore, %w : f32
// CHECK-NEXT: %[[DW:.*]] = arith.mulf %dscore, %score : f32
// CHECK-NEXT: attn.accumulate %[[DW]] into %w[] : f32
// CHECK-NEXT: attn.yield %[[DS]] : f32
// CHECK-NEXT: }
attn.variant @learnable(%q: tensor<1x2x8x4xf32>, %k: tensor<1x2x8x4xf32>, %v: tensor<1x2x8x4xf32>,
                        %w: f32 {attn.name = "w"}, %bias: tensor<?xf32> {attn.name = "bias"})
    -> tensor<1x2x8x4xf32> {
  %o = attn.flash softmax(%q, %k, %v) : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>) -> (tensor<1x2x8x4xf32>)
    score_mod {
    ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
      %m = arith.mulf %score, %w : f32
      %x = attn.load %bias[%h] : tensor<?xf32>
      %s = arith.addf %m, %x : f32
      attn.yield %s : f32
    }
  attn.return %o : tensor<1x2x8x4xf32>
}

// -----

// An output_mod with a branch: o > 0 ? o * o : 0 routes the adjoint through
// the select; integer index math carries none.
// CHECK-LABEL: attn.variant @gated
// CHECK: output_mod_grad {
// CHECK-NEXT: ^bb0(%o: f32, %b: index, %h: index, %q_idx: index, %d: index, %lse: f32, %row_sum: f32, %dout: f32):
// CHECK: %[[C:.*]] = arith.cmpf ogt, %o
// CHECK: %[[SQ:.*]] = arith.mulf %o, %o : f32
// CHECK: arith.select %[[C]], %[[SQ]]
// CHECK: %[[G:.*]] = arith.select %[[C]], %dout
// CHECK: %[[A:.*]] = arith.mulf %[[G]], %o : f32
// CHECK: %[[B:.*]] = arith.mulf %[[G]], %o : f32
// CHECK: %[[SUM:.*]] = arith.addf %[[A]], %[[B]] : f32
// CHECK-NEXT: attn.yield %[[SUM]] : f32
attn.variant @gated(%q: tensor<1x2x8x4xf32>, %k: tensor<1x2x8x4xf32>, %v: tensor<1x2x8x4xf32>)
    -> tensor<1x2x8x4xf32> {
  %o = attn.flash softmax(%q, %k, %v) : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>) -> (tensor<1x2x8x4xf32>)
    output_mod {
    ^bb0(%o: f32, %b: index, %h: index, %q_idx: index, %d: index, %ls: f32, %rs: f32):
      %zero = arith.constant 0.0 : f32
      %pos = arith.cmpf ogt, %o, %zero : f32
      %sq = arith.mulf %o, %o : f32
      %r = arith.select %pos, %sq, %zero : f32
      attn.yield %r : f32
    }
  attn.return %o : tensor<1x2x8x4xf32>
}

// -----

// The sink's derivative accumulates its params' gradients and yields 0 (its
// first argument is b).
// CHECK-LABEL: attn.variant @sink
// CHECK: sink_grad {
// CHECK-NEXT: ^bb0(%b: index, %h: index, %dsink: f32):
// CHECK-NEXT: attn.load %sinks[%h] : tensor<?xf32>
// CHECK-NEXT: attn.accumulate %dsink into %sinks[%h] : tensor<?xf32>
// CHECK-NEXT: %[[Z:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: attn.yield %[[Z]] : f32
attn.variant @sink(%q: tensor<1x2x8x4xf32>, %k: tensor<1x2x8x4xf32>, %v: tensor<1x2x8x4xf32>,
                   %sinks: tensor<?xf32> {attn.name = "sinks"}) -> tensor<1x2x8x4xf32> {
  %o = attn.flash softmax(%q, %k, %v) : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>) -> (tensor<1x2x8x4xf32>)
    sink {
    ^bb0(%b: index, %h: index):
      %x = attn.load %sinks[%h] : tensor<?xf32>
      attn.yield %x : f32
    }
  attn.return %o : tensor<1x2x8x4xf32>
}

// -----

// An output_mod that reads the row's lse and row_sum also gets its
// derivatives by them (yielding those adjoints, without param gradients,
// which output_mod_grad adds once).
// CHECK-LABEL: attn.variant @stats
// CHECK: output_mod_grad {
// CHECK: attn.accumulate
// CHECK: output_mod_lse_grad {
// CHECK-NEXT: ^bb0(%o: f32, %b: index, %h: index, %q_idx: index, %d: index, %lse: f32, %row_sum: f32, %dout: f32):
// CHECK-NOT: attn.accumulate
// CHECK: %[[L:.*]] = arith.mulf %dout, %o : f32
// CHECK-NEXT: attn.yield %[[L]] : f32
// CHECK: output_mod_row_sum_grad {
// CHECK-NOT: attn.accumulate
// CHECK: %[[R:.*]] = arith.mulf %dout, %w : f32
// CHECK: attn.yield %[[R]] : f32
attn.variant @stats(%q: tensor<1x2x8x4xf32>, %k: tensor<1x2x8x4xf32>, %v: tensor<1x2x8x4xf32>,
                    %w: f32 {attn.name = "w"}) -> tensor<1x2x8x4xf32> {
  %o = attn.flash softmax(%q, %k, %v) : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>) -> (tensor<1x2x8x4xf32>)
    output_mod {
    ^bb0(%x: f32, %b: index, %h: index, %q_idx: index, %d: index, %ls: f32, %rs: f32):
      %y = arith.mulf %x, %ls : f32
      %z = arith.mulf %rs, %w : f32
      %s = arith.addf %y, %z : f32
      attn.yield %s : f32
    }
  attn.return %o : tensor<1x2x8x4xf32>
}
