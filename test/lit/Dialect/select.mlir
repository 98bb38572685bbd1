// attn.select and #attn.select: round trip (defaults omitted), the flash's
// selection, and one case per verifier error.
// RUN: attn-opt --split-input-file --verify-diagnostics %s | FileCheck %s

// CHECK-LABEL: attn.variant @moba
// CHECK: select %{{.*}}, %q, %k keep <top_k = 8, block = 64> : tensor<1x4x100x100xf32>, tensor<1x4x100x32xf32>, tensor<1x2x100x32xf32>
// CHECK: select %{{.*}}, %q, %k keep <top_k = 2, block = 16, sinks = 1, local = 2, causal = false>
attn.variant @moba(%q: tensor<1x4x100x32xf32>, %k: tensor<1x2x100x32xf32>, %v: tensor<1x2x100x32xf32>) -> tensor<1x4x100x32xf32> {
  %s = attn.score %q, %k : tensor<1x4x100x32xf32>, tensor<1x2x100x32xf32> -> tensor<1x4x100x100xf32>
  %a = attn.select %s, %q, %k keep <top_k = 8, block = 64, causal = true> : tensor<1x4x100x100xf32>, tensor<1x4x100x32xf32>, tensor<1x2x100x32xf32>
  %b = attn.select %a, %q, %k keep <top_k = 2, block = 16, sinks = 1, local = 2, causal = false> : tensor<1x4x100x100xf32>, tensor<1x4x100x32xf32>, tensor<1x2x100x32xf32>
  %p = attn.normalize none %b : tensor<1x4x100x100xf32> -> tensor<1x4x100x100xf32>
  %o = attn.aggregate %p, %v : tensor<1x4x100x100xf32>, tensor<1x2x100x32xf32> -> tensor<1x4x100x32xf32>
  attn.return %o : tensor<1x4x100x32xf32>
}

// -----

// CHECK-LABEL: attn.variant @fused
// CHECK: flash softmax(%q, %k, %v) select <top_k = 4, block = 128>
attn.variant @fused(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) {
  %out, %lse = attn.flash softmax(%q, %k, %v) select <top_k = 4, block = 128> : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>)
  attn.return %out, %lse : tensor<?x?x?x?xf32>, tensor<?x?x?xf32>
}

// -----

func.func @f(%s: tensor<?x?x?x?xf32>, %q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>) {
  // expected-error @+1 {{select: top_k must be at least 1; got 0}}
  %a = attn.select %s, %q, %k keep <top_k = 0, block = 64> : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>
  return
}

// -----

func.func @f(%s: tensor<?x?x?x?xf32>, %q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>) {
  // expected-error @+1 {{select: block must be a power of two from 16 to 128; got 96}}
  %a = attn.select %s, %q, %k keep <top_k = 2, block = 96> : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>
  return
}

// -----

func.func @f(%s: tensor<?x?x?x?xf32>, %q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>) {
  // expected-error @+1 {{select: sinks and local must not be negative; got 0 and -1}}
  %a = attn.select %s, %q, %k keep <top_k = 2, block = 16, local = -1> : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>
  return
}

// -----

func.func @f(%s: tensor<1x4x100x90xf32>, %q: tensor<1x4x100x32xf32>, %k: tensor<1x2x100x32xf32>) {
  // expected-error @+1 {{the scores}}
  %a = attn.select %s, %q, %k keep <top_k = 2, block = 16> : tensor<1x4x100x90xf32>, tensor<1x4x100x32xf32>, tensor<1x2x100x32xf32>
  return
}
