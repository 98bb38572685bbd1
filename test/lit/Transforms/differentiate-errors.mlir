// attn-differentiate refuses what it cannot derive yet, at the op.
// RUN: attn-opt %s -split-input-file -attn-differentiate -verify-diagnostics

// The row's lse and row sum depend on every score of the row.
attn.variant @reads_lse(%q: tensor<1x2x8x4xf32>, %k: tensor<1x2x8x4xf32>, %v: tensor<1x2x8x4xf32>)
    -> tensor<1x2x8x4xf32> {
  // expected-error @+1 {{attn-differentiate: the backward of an output_mod that reads lse or row_sum is not supported yet}}
  %o = attn.flash softmax(%q, %k, %v) : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>) -> (tensor<1x2x8x4xf32>)
    output_mod {
    ^bb0(%x: f32, %b: index, %h: index, %q_idx: index, %d: index, %ls: f32, %rs: f32):
      %y = arith.mulf %x, %rs : f32
      attn.yield %y : f32
    }
  attn.return %o : tensor<1x2x8x4xf32>
}
