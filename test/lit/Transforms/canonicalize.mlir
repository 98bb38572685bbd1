// The cascade's canonicalization patterns, one behaviour per case.
// RUN: attn-opt %s -split-input-file -canonicalize | FileCheck %s

// A constant factor on the score folds into attn.score's scale: the default
// 1/sqrt(64) = 0.125 times 2.
// CHECK-LABEL: attn.variant @fold_scale
// CHECK: %[[S:.*]] = score %q, %k scale 2.500000e-01
// CHECK-NOT: score_mod
// CHECK: normalize softmax %[[S]]
attn.variant @fold_scale(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x64xf32>, %v: tensor<?x?x?x64xf32>)
    -> tensor<?x?x?x64xf32> {
  %s = attn.score %q, %k : tensor<?x?x?x64xf32>, tensor<?x?x?x64xf32> -> tensor<?x?x?x?xf32>
  %m = attn.score_mod %s : tensor<?x?x?x?xf32> {
  ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
    %c = arith.constant 2.0 : f32
    %x = arith.mulf %c, %score : f32
    attn.yield %x : f32
  }
  %p = attn.normalize softmax %m : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o = attn.aggregate %p, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x64xf32> -> tensor<?x?x?x64xf32>
  attn.return %o : tensor<?x?x?x64xf32>
}

// -----

// Division by a constant folds into an explicit scale.
// CHECK-LABEL: attn.variant @fold_divide
// CHECK: score %q, %k scale 2.500000e-01
// CHECK-NOT: score_mod
attn.variant @fold_divide(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>)
    -> tensor<?x?x?x?xf32> {
  %s = attn.score %q, %k scale 1.0 : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %m = attn.score_mod %s : tensor<?x?x?x?xf32> {
  ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
    %c = arith.constant 4.0 : f32
    %x = arith.divf %score, %c : f32
    attn.yield %x : f32
  }
  %p = attn.normalize softmax %m : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o = attn.aggregate %p, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  attn.return %o : tensor<?x?x?x?xf32>
}

// -----

// With a dynamic head dim and no explicit scale the default is unknown, so
// the factor stays a score_mod.
// CHECK-LABEL: attn.variant @keep_scale_dynamic_d
// CHECK: score %q, %k :
// CHECK: score_mod
attn.variant @keep_scale_dynamic_d(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>)
    -> tensor<?x?x?x?xf32> {
  %s = attn.score %q, %k : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %m = attn.score_mod %s : tensor<?x?x?x?xf32> {
  ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
    %c = arith.constant 2.0 : f32
    %x = arith.mulf %score, %c : f32
    attn.yield %x : f32
  }
  %p = attn.normalize softmax %m : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o = attn.aggregate %p, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  attn.return %o : tensor<?x?x?x?xf32>
}

// -----

// Consecutive score_mods merge into one that applies them in order.
// CHECK-LABEL: attn.variant @merge_score_mods
// CHECK: score_mod
// CHECK-NEXT: ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
// CHECK-NEXT: %[[T:.*]] = math.tanh %score : f32
// CHECK-NEXT: %[[E:.*]] = math.exp %[[T]] : f32
// CHECK-NEXT: attn.yield %[[E]] : f32
// CHECK-NOT: score_mod
attn.variant @merge_score_mods(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>)
    -> tensor<?x?x?x?xf32> {
  %s = attn.score %q, %k : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %a = attn.score_mod %s : tensor<?x?x?x?xf32> {
  ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
    %t = math.tanh %score : f32
    attn.yield %t : f32
  }
  %c = attn.score_mod %a : tensor<?x?x?x?xf32> {
  ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
    %e = math.exp %score : f32
    attn.yield %e : f32
  }
  %p = attn.normalize softmax %c : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o = attn.aggregate %p, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  attn.return %o : tensor<?x?x?x?xf32>
}

// -----

// A score_mod that returns its score is dropped.
// CHECK-LABEL: attn.variant @drop_identity_score_mod
// CHECK-NOT: score_mod
attn.variant @drop_identity_score_mod(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>)
    -> tensor<?x?x?x?xf32> {
  %s = attn.score %q, %k : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %a = attn.score_mod %s : tensor<?x?x?x?xf32> {
  ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
    attn.yield %score : f32
  }
  %p = attn.normalize softmax %a : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o = attn.aggregate %p, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  attn.return %o : tensor<?x?x?x?xf32>
}

// -----

// A mask that is always true is dropped.
// CHECK-LABEL: attn.variant @drop_true_mask
// CHECK: %[[S:.*]] = score
// CHECK-NOT: mask
// CHECK: normalize softmax %[[S]]
attn.variant @drop_true_mask(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>)
    -> tensor<?x?x?x?xf32> {
  %s = attn.score %q, %k : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %m = attn.mask %s : tensor<?x?x?x?xf32> {
  ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
    %x = arith.cmpi eq, %q_idx, %q_idx : index
    attn.yield %x : i1
  }
  %p = attn.normalize softmax %m : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o = attn.aggregate %p, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  attn.return %o : tensor<?x?x?x?xf32>
}

// -----

// Two masks merge into one &&.
// CHECK-LABEL: attn.variant @merge_masks
// CHECK: mask
// CHECK-NEXT: ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
// CHECK-DAG: %[[A:.*]] = arith.cmpi uge, %q_idx, %kv_idx : index
// CHECK-DAG: %[[B:.*]] = arith.cmpi ult, %h, %b : index
// CHECK: %[[K:.*]] = arith.andi %[[A]], %[[B]] : i1
// CHECK-NEXT: attn.yield %[[K]] : i1
// CHECK-NOT: mask
attn.variant @merge_masks(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>)
    -> tensor<?x?x?x?xf32> {
  %s = attn.score %q, %k : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %m1 = attn.mask %s : tensor<?x?x?x?xf32> {
  ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
    %x = arith.cmpi uge, %q_idx, %kv_idx : index
    attn.yield %x : i1
  }
  %m2 = attn.mask %m1 : tensor<?x?x?x?xf32> {
  ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
    %x = arith.cmpi ult, %h, %b : index
    attn.yield %x : i1
  }
  %p = attn.normalize softmax %m2 : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o = attn.aggregate %p, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  attn.return %o : tensor<?x?x?x?xf32>
}

// -----

// A mask before a score_mod moves after it: the canonical cascade is
// score, score_mod, mask.
// CHECK-LABEL: attn.variant @sink_mask
// CHECK: %[[S:.*]] = score
// CHECK: %[[M:.*]] = score_mod %[[S]]
// CHECK: %[[K:.*]] = mask %[[M]]
// CHECK: normalize softmax %[[K]]
attn.variant @sink_mask(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>)
    -> tensor<?x?x?x?xf32> {
  %s = attn.score %q, %k : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %m = attn.mask %s : tensor<?x?x?x?xf32> {
  ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
    %x = arith.cmpi uge, %q_idx, %kv_idx : index
    attn.yield %x : i1
  }
  %a = attn.score_mod %m : tensor<?x?x?x?xf32> {
  ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
    %t = math.tanh %score : f32
    attn.yield %t : f32
  }
  %p = attn.normalize softmax %a : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o = attn.aggregate %p, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  attn.return %o : tensor<?x?x?x?xf32>
}

// -----

// Consecutive output_mods merge; an identity output_mod is dropped.
// CHECK-LABEL: attn.variant @output_mods
// CHECK: output_mod
// CHECK-NEXT: ^bb0(%o: f32, %b: index, %h: index, %q_idx: index, %d: index, %lse: f32, %row_sum: f32):
// CHECK-NEXT: %[[A:.*]] = math.tanh %o : f32
// CHECK-NEXT: %[[B:.*]] = arith.negf %[[A]] : f32
// CHECK-NEXT: attn.yield %[[B]] : f32
// CHECK-NOT: output_mod
attn.variant @output_mods(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>)
    -> tensor<?x?x?x?xf32> {
  %s = attn.score %q, %k : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %p = attn.normalize softmax %s : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o = attn.aggregate %p, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %a = attn.output_mod %o : tensor<?x?x?x?xf32> {
  ^bb0(%x: f32, %b: index, %h: index, %q_idx: index, %d: index, %ls: f32, %rs: f32):
    %t = math.tanh %x : f32
    attn.yield %t : f32
  }
  %i = attn.output_mod %a : tensor<?x?x?x?xf32> {
  ^bb0(%x: f32, %b: index, %h: index, %q_idx: index, %d: index, %ls: f32, %rs: f32):
    attn.yield %x : f32
  }
  %c = attn.output_mod %i : tensor<?x?x?x?xf32> {
  ^bb0(%x: f32, %b: index, %h: index, %q_idx: index, %d: index, %ls: f32, %rs: f32):
    %n = arith.negf %x : f32
    attn.yield %n : f32
  }
  attn.return %c : tensor<?x?x?x?xf32>
}
