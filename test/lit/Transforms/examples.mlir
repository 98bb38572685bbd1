// The main job's example (README) canonicalizes and fuses into one attn.flash
// with the ALiBi score_mod and the causal mask, returning lse.
// RUN: attn-opt --canonicalize --attn-fuse %attn_src_root/examples/mlir/alibi_causal.mlir | FileCheck %s

// CHECK-LABEL: attn.variant @alibi_causal
// CHECK-NEXT: %out, %lse = flash softmax(%q, %k, %v) : {{.*}} score_mod {
// CHECK: attn.load %slopes[%h]
// CHECK: } mask {
// CHECK: arith.cmpi uge, %q_idx, %kv_idx
// CHECK: return %out, %lse
// CHECK-NOT: attn.score
