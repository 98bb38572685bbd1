// attn-fuse turns each cascade into one attn.flash.
// RUN: attn-opt %s -split-input-file -attn-fuse | FileCheck %s

// Dense softmax attention: no region at all; D = 64 static gives no explicit
// scale (1/sqrt(D) by default) and H = Hkv gives gqa 1.
// CHECK-LABEL: attn.variant @dense
// CHECK-NEXT: %[[O:.*]] = flash softmax(%q, %k, %v) gqa 1 : (tensor<1x4x100x64xf32>, tensor<1x4x120x64xf32>, tensor<1x4x120x64xf32>) -> (tensor<1x4x100x64xf32>)
// CHECK-NEXT: return %[[O]]
attn.variant @dense(%q: tensor<1x4x100x64xf32>, %k: tensor<1x4x120x64xf32>, %v: tensor<1x4x120x64xf32>)
    -> tensor<1x4x100x64xf32> {
  %s = attn.score %q, %k : tensor<1x4x100x64xf32>, tensor<1x4x120x64xf32> -> tensor<1x4x100x120xf32>
  %p = attn.normalize softmax %s : tensor<1x4x100x120xf32> -> tensor<1x4x100x120xf32>
  %o = attn.aggregate %p, %v : tensor<1x4x100x120xf32>, tensor<1x4x120x64xf32> -> tensor<1x4x100x64xf32>
  attn.return %o : tensor<1x4x100x64xf32>
}

// -----

// Causal with lse, GQA 8:2 and an explicit scale.
// CHECK-LABEL: attn.variant @causal_gqa
// CHECK-NEXT: %out, %lse = flash softmax(%q, %k, %v) scale 5.000000e-01 gqa 4
// CHECK-SAME: -> (tensor<2x8x?x128xbf16>, tensor<2x8x?xf32>) mask {
// CHECK-NEXT: ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
// CHECK-NEXT: %[[K:.*]] = arith.cmpi uge, %q_idx, %kv_idx : index
// CHECK-NEXT: attn.yield %[[K]] : i1
// CHECK-NEXT: }
// CHECK-NEXT: return %out, %lse
attn.variant @causal_gqa(%q: tensor<2x8x?x128xbf16>, %k: tensor<2x2x?x128xbf16>, %v: tensor<2x2x?x128xbf16>)
    -> (tensor<2x8x?x128xbf16>, tensor<2x8x?xf32>) {
  %s = attn.score %q, %k scale 0.5 : tensor<2x8x?x128xbf16>, tensor<2x2x?x128xbf16> -> tensor<2x8x?x?xf32>
  %m = attn.mask %s : tensor<2x8x?x?xf32> {
  ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
    %keep = arith.cmpi uge, %q_idx, %kv_idx : index
    attn.yield %keep : i1
  }
  %p, %lse = attn.normalize softmax %m : tensor<2x8x?x?xf32> -> tensor<2x8x?x?xf32>, tensor<2x8x?xf32>
  %o = attn.aggregate %p, %v : tensor<2x8x?x?xf32>, tensor<2x2x?x128xbf16> -> tensor<2x8x?x128xbf16>
  attn.return %o, %lse : tensor<2x8x?x128xbf16>, tensor<2x8x?xf32>
}

// -----

// Softcap on a sliding window, written as score_mod, mask, score_mod, mask:
// the score_mods compose in order and the masks conjoin. Dynamic heads: no
// gqa group.
// CHECK-LABEL: attn.variant @softcap_window
// CHECK-NEXT: %out = flash softmax(%q, %k, %v) : {{.*}} score_mod {
// CHECK-NEXT: ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
// CHECK-NEXT: %[[C:.*]] = arith.constant 3.000000e+01 : f32
// CHECK-NEXT: %[[X:.*]] = arith.divf %score, %[[C]]
// CHECK-NEXT: %[[T:.*]] = math.tanh %[[X]]
// CHECK-NEXT: %[[Y:.*]] = arith.mulf %[[T]], %[[C]]
// CHECK-NEXT: %[[Z:.*]] = arith.addf %[[Y]], %[[Y]]
// CHECK-NEXT: attn.yield %[[Z]] : f32
// CHECK-NEXT: } mask {
// CHECK-NEXT: ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
// CHECK-NEXT: %[[K1:.*]] = arith.cmpi uge, %q_idx, %kv_idx : index
// CHECK-NEXT: %[[W:.*]] = arith.constant 1024 : index
// CHECK-NEXT: %[[E:.*]] = arith.addi %kv_idx, %[[W]] : index
// CHECK-NEXT: %[[K2:.*]] = arith.cmpi ult, %q_idx, %[[E]] : index
// CHECK-NEXT: %[[K:.*]] = arith.andi %[[K1]], %[[K2]] : i1
// CHECK-NEXT: attn.yield %[[K]] : i1
// CHECK-NEXT: }
// CHECK-NOT: attn.score
attn.variant @softcap_window(%q: tensor<?x?x?x?xf16>, %k: tensor<?x?x?x?xf16>, %v: tensor<?x?x?x?xf16>)
    -> tensor<?x?x?x?xf16> {
  %s = attn.score %q, %k : tensor<?x?x?x?xf16>, tensor<?x?x?x?xf16> -> tensor<?x?x?x?xf32>
  %s1 = attn.score_mod %s : tensor<?x?x?x?xf32> {
  ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
    %cap = arith.constant 30.0 : f32
    %x = arith.divf %score, %cap : f32
    %t = math.tanh %x : f32
    %y = arith.mulf %t, %cap : f32
    attn.yield %y : f32
  }
  %m1 = attn.mask %s1 : tensor<?x?x?x?xf32> {
  ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
    %keep = arith.cmpi uge, %q_idx, %kv_idx : index
    attn.yield %keep : i1
  }
  %s2 = attn.score_mod %m1 : tensor<?x?x?x?xf32> {
  ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
    %d = arith.addf %score, %score : f32
    attn.yield %d : f32
  }
  %m2 = attn.mask %s2 : tensor<?x?x?x?xf32> {
  ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
    %w = arith.constant 1024 : index
    %end = arith.addi %kv_idx, %w : index
    %keep = arith.cmpi ult, %q_idx, %end : index
    attn.yield %keep : i1
  }
  %p = attn.normalize softmax %m2 : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o = attn.aggregate %p, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf16> -> tensor<?x?x?x?xf16>
  attn.return %o : tensor<?x?x?x?xf16>
}

// -----

// Document masking: the mask reads a param; regions keep referring to the
// variant's arguments.
// CHECK-LABEL: attn.variant @document
// CHECK-NEXT: %out = flash softmax(%q, %k, %v) {{.*}} mask {
// CHECK-NEXT: ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
// CHECK-NEXT: %[[DQ:.*]] = attn.load %doc[%q_idx] : tensor<?xi32>
// CHECK-NEXT: %[[DK:.*]] = attn.load %doc[%kv_idx] : tensor<?xi32>
// CHECK-NEXT: %[[K:.*]] = arith.cmpi eq, %[[DQ]], %[[DK]] : i32
// CHECK-NEXT: attn.yield %[[K]] : i1
attn.variant @document(%q: tensor<?x?x?x?xbf16>, %k: tensor<?x?x?x?xbf16>, %v: tensor<?x?x?x?xbf16>,
                       %doc: tensor<?xi32> {attn.name = "doc"}) -> tensor<?x?x?x?xbf16> {
  %s = attn.score %q, %k : tensor<?x?x?x?xbf16>, tensor<?x?x?x?xbf16> -> tensor<?x?x?x?xf32>
  %m = attn.mask %s : tensor<?x?x?x?xf32> {
  ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
    %dq = attn.load %doc[%q_idx] : tensor<?xi32>
    %dk = attn.load %doc[%kv_idx] : tensor<?xi32>
    %keep = arith.cmpi eq, %dq, %dk : i32
    attn.yield %keep : i1
  }
  %p = attn.normalize softmax %m : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o = attn.aggregate %p, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xbf16> -> tensor<?x?x?x?xbf16>
  attn.return %o : tensor<?x?x?x?xbf16>
}

// -----

// Sigmoid attention with a bias and a temperature, and a gated output: the
// normalizer's attributes and the output_mod move onto attn.flash; a scalar
// param defined outside the regions stays visible.
// CHECK-LABEL: attn.variant @sigmoid_gated
// CHECK-NEXT: %out = flash sigmoid(%q, %k, %v) bias -8.000000e+00 temperature 2.000000e+00 : {{.*}} output_mod {
// CHECK-NEXT: ^bb0(%o: f32, %b: index, %h: index, %q_idx: index, %d: index, %lse: f32, %row_sum: f32):
// CHECK-NEXT: %[[G:.*]] = attn.load %gate[%b, %h, %q_idx] : tensor<?x?x?xf32>
// CHECK-NEXT: %[[S:.*]] = arith.mulf %[[G]], %gain : f32
// CHECK-NEXT: %[[R:.*]] = arith.mulf %o, %[[S]] : f32
// CHECK-NEXT: attn.yield %[[R]] : f32
attn.variant @sigmoid_gated(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>,
                            %gate: tensor<?x?x?xf32> {attn.name = "gate"},
                            %gain: f32 {attn.name = "gain"}) -> tensor<?x?x?x?xf32> {
  %s = attn.score %q, %k : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %p = attn.normalize sigmoid %s bias -8.0 temperature 2.0 : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o = attn.aggregate %p, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %g = attn.output_mod %o : tensor<?x?x?x?xf32> {
  ^bb0(%x: f32, %b: index, %h: index, %q_idx: index, %d: index, %ls: f32, %rs: f32):
    %gv = attn.load %gate[%b, %h, %q_idx] : tensor<?x?x?xf32>
    %sc = arith.mulf %gv, %gain : f32
    %r = arith.mulf %x, %sc : f32
    attn.yield %r : f32
  }
  attn.return %g : tensor<?x?x?x?xf32>
}

// -----

// Two output_mods compose; a dead step does not block fusion.
// CHECK-LABEL: attn.variant @two_output_mods
// CHECK-NEXT: %out = flash relu(%q, %k, %v) {{.*}} output_mod {
// CHECK-NEXT: ^bb0(%o: f32, %b: index, %h: index, %q_idx: index, %d: index, %lse: f32, %row_sum: f32):
// CHECK-NEXT: %[[A:.*]] = math.tanh %o : f32
// CHECK-NEXT: %[[B:.*]] = arith.negf %[[A]] : f32
// CHECK-NEXT: attn.yield %[[B]] : f32
// CHECK-NOT: score_mod
attn.variant @two_output_mods(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>)
    -> tensor<?x?x?x?xf32> {
  %s = attn.score %q, %k : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %dead = attn.normalize softmax %s : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %p = attn.normalize relu %s : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o = attn.aggregate %p, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %a = attn.output_mod %o : tensor<?x?x?x?xf32> {
  ^bb0(%x: f32, %b: index, %h: index, %q_idx: index, %d: index, %ls: f32, %rs: f32):
    %t = math.tanh %x : f32
    attn.yield %t : f32
  }
  %c = attn.output_mod %a : tensor<?x?x?x?xf32> {
  ^bb0(%x: f32, %b: index, %h: index, %q_idx: index, %d: index, %ls: f32, %rs: f32):
    %n = arith.negf %x : f32
    attn.yield %n : f32
  }
  attn.return %c : tensor<?x?x?x?xf32>
}

// -----

// An already fused variant is left alone.
// CHECK-LABEL: attn.variant @already_fused
// CHECK-NEXT: %out = flash none(%q, %k, %v)
// CHECK-NEXT: return %out
attn.variant @already_fused(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>)
    -> tensor<?x?x?x?xf32> {
  %o = attn.flash none(%q, %k, %v) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>)
  attn.return %o : tensor<?x?x?x?xf32>
}

// -----

// Softmax's sink moves from attn.normalize onto attn.flash; an output_mod
// reading the row's lse and row sum keeps its arguments.
// CHECK-LABEL: attn.variant @sink
// CHECK: %out = flash softmax(%q, %k, %v)
// CHECK-SAME: sink {
// CHECK-NEXT: ^bb0(%b: index, %h: index):
// CHECK-NEXT: %[[S:.*]] = attn.load %sinks[%h] : tensor<?xf32>
// CHECK-NEXT: attn.yield %[[S]] : f32
// CHECK: output_mod {
// CHECK-NEXT: ^bb0(%o: f32, %b: index, %h: index, %q_idx: index, %d: index, %lse: f32, %row_sum: f32):
// CHECK-NEXT: %[[X:.*]] = arith.mulf %o, %lse : f32
// CHECK-NEXT: arith.addf %[[X]], %row_sum : f32
attn.variant @sink(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>,
                   %sinks: tensor<?xf32> {attn.name = "sinks"}) -> tensor<?x?x?x?xf32> {
  %s = attn.score %q, %k : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %p = attn.normalize softmax %s : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32> sink {
  ^bb0(%b: index, %h: index):
    %x = attn.load %sinks[%h] : tensor<?xf32>
    attn.yield %x : f32
  }
  %o = attn.aggregate %p, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %r = attn.output_mod %o : tensor<?x?x?x?xf32> {
  ^bb0(%x: f32, %b: index, %h: index, %q_idx: index, %d: index, %ls: f32, %rs: f32):
    %y = arith.mulf %x, %ls : f32
    %z = arith.addf %y, %rs : f32
    attn.yield %z : f32
  }
  attn.return %r : tensor<?x?x?x?xf32>
}

// -----

// The selection becomes the flash's attribute; the mask stays a region.
// CHECK-LABEL: attn.variant @moba
// CHECK-NEXT: %out, %lse = flash softmax(%q, %k, %v) select <top_k = 8, block = 64>
// CHECK: mask {
// CHECK-NOT: select
attn.variant @moba(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>)
    -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) {
  %s = attn.score %q, %k : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %sel = attn.select %s, %q, %k keep <top_k = 8, block = 64> : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>
  %m = attn.mask %sel : tensor<?x?x?x?xf32> {
  ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
    %keep = arith.cmpi uge, %q_idx, %kv_idx : index
    attn.yield %keep : i1
  }
  %p, %lse = attn.normalize softmax %m : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>, tensor<?x?x?xf32>
  %o = attn.aggregate %p, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  attn.return %o, %lse : tensor<?x?x?x?xf32>, tensor<?x?x?xf32>
}
