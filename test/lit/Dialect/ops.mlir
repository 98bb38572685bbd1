// Every op parses, verifies, prints and parses again to the same IR.
// RUN: attn-opt %s | attn-opt | FileCheck %s
// RUN: attn-opt %s --mlir-print-op-generic | attn-opt | FileCheck %s

// CHECK-LABEL: attn.variant @cascade
// CHECK-SAME: (%q: tensor<2x8x100x64xbf16>, %k: tensor<2x2x75x64xbf16>, %v: tensor<2x2x75x32xbf16>,
// CHECK-SAME: %slopes: tensor<8xf32> {attn.name = "slopes"},
// CHECK-SAME: %cap: f32 {attn.default = 3.000000e+01 : f32, attn.name = "cap"})
// CHECK-SAME: -> (tensor<2x8x100x32xbf16>, tensor<2x8x100xf32>)
attn.variant @cascade(%q: tensor<2x8x100x64xbf16>, %k: tensor<2x2x75x64xbf16>,
                      %v: tensor<2x2x75x32xbf16>,
                      %slopes: tensor<8xf32> {attn.name = "slopes"},
                      %cap: f32 {attn.name = "cap", attn.default = 30.0 : f32})
    -> (tensor<2x8x100x32xbf16>, tensor<2x8x100xf32>) {
  // CHECK: %[[S:.*]] = score %q, %k scale 1.250000e-01 : tensor<2x8x100x64xbf16>, tensor<2x2x75x64xbf16> -> tensor<2x8x100x75xf32>
  %s = attn.score %q, %k scale 0.125 : tensor<2x8x100x64xbf16>, tensor<2x2x75x64xbf16> -> tensor<2x8x100x75xf32>
  // CHECK: %[[M1:.*]] = score_mod %[[S]] : tensor<2x8x100x75xf32> {
  // CHECK-NEXT: ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
  // CHECK: attn.load %slopes[%h] : tensor<8xf32>
  // CHECK: attn.yield %{{.*}} : f32
  %m1 = attn.score_mod %s : tensor<2x8x100x75xf32> {
  ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
    %slope = attn.load %slopes[%h] : tensor<8xf32>
    %x = arith.mulf %score, %slope : f32
    %y = arith.divf %x, %cap : f32
    attn.yield %y : f32
  }
  // CHECK: %[[M2:.*]] = mask %[[M1]] : tensor<2x8x100x75xf32> {
  // CHECK-NEXT: ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
  // CHECK: attn.yield %{{.*}} : i1
  %m2 = attn.mask %m1 : tensor<2x8x100x75xf32> {
  ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
    %keep = arith.cmpi uge, %q_idx, %kv_idx : index
    attn.yield %keep : i1
  }
  // CHECK: %probs, %lse = normalize softmax %[[M2]] temperature 2.000000e+00 : tensor<2x8x100x75xf32> -> tensor<2x8x100x75xf32>, tensor<2x8x100xf32>
  %p, %lse = attn.normalize softmax %m2 temperature 2.0 : tensor<2x8x100x75xf32> -> tensor<2x8x100x75xf32>, tensor<2x8x100xf32>
  // CHECK: %[[O:.*]] = aggregate %probs, %v : tensor<2x8x100x75xf32>, tensor<2x2x75x32xbf16> -> tensor<2x8x100x32xbf16>
  %o = attn.aggregate %p, %v : tensor<2x8x100x75xf32>, tensor<2x2x75x32xbf16> -> tensor<2x8x100x32xbf16>
  // CHECK: %[[G:.*]] = output_mod %[[O]] : tensor<2x8x100x32xbf16> {
  // CHECK-NEXT: ^bb0(%o: f32, %b: index, %h: index, %q_idx: index, %d: index, %lse{{(_0)?}}: f32, %row_sum: f32):
  %g = attn.output_mod %o : tensor<2x8x100x32xbf16> {
  ^bb0(%x: f32, %b: index, %h: index, %q_idx: index, %d: index, %ls: f32, %rs: f32):
    %r = math.tanh %x : f32
    attn.yield %r : f32
  }
  // CHECK: return %[[G]], %lse : tensor<2x8x100x32xbf16>, tensor<2x8x100xf32>
  attn.return %g, %lse : tensor<2x8x100x32xbf16>, tensor<2x8x100xf32>
}

// The other normalizers, with their bias, on dynamic shapes.
// CHECK-LABEL: attn.variant @normalizers
// CHECK: normalize sigmoid %{{.*}} bias -8.000000e+00 : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
// CHECK: normalize relu %{{.*}} : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
// CHECK: normalize none %{{.*}} bias 1.000000e+00 temperature 4.000000e+00 : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
attn.variant @normalizers(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>)
    -> tensor<?x?x?x?xf32> {
  %s = attn.score %q, %k : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %a = attn.normalize sigmoid %s bias -8.0 : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %b = attn.normalize relu %s : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %c = attn.normalize none %s bias 1.0 temperature 4.0 : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o = attn.aggregate %a, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  attn.return %o : tensor<?x?x?x?xf32>
}

// attn.flash with all three regions, a GQA group and lse.
// CHECK-LABEL: attn.variant @flash_full
// CHECK: %out, %lse = flash softmax(%q, %k, %v) scale 1.250000e-01 gqa 4 : (tensor<1x8x33x64xf16>, tensor<1x2x47x64xf16>, tensor<1x2x47x64xf16>) -> (tensor<1x8x33x64xf16>, tensor<1x8x33xf32>) score_mod {
// CHECK-NEXT: ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
// CHECK: } mask {
// CHECK-NEXT: ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
// CHECK: } output_mod {
// CHECK-NEXT: ^bb0(%o: f32, %b: index, %h: index, %q_idx: index, %d: index, %lse{{(_0)?}}: f32, %row_sum: f32):
// CHECK: return %out, %lse
attn.variant @flash_full(%q: tensor<1x8x33x64xf16>, %k: tensor<1x2x47x64xf16>, %v: tensor<1x2x47x64xf16>)
    -> (tensor<1x8x33x64xf16>, tensor<1x8x33xf32>) {
  %o, %lse = attn.flash softmax(%q, %k, %v) scale 0.125 gqa 4
      : (tensor<1x8x33x64xf16>, tensor<1x2x47x64xf16>, tensor<1x2x47x64xf16>)
      -> (tensor<1x8x33x64xf16>, tensor<1x8x33xf32>)
    score_mod {
    ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
      %t = math.tanh %score : f32
      attn.yield %t : f32
    } mask {
    ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
      %keep = arith.cmpi uge, %q_idx, %kv_idx : index
      attn.yield %keep : i1
    } output_mod {
    ^bb0(%x: f32, %b: index, %h: index, %q_idx: index, %d: index, %ls: f32, %rs: f32):
      %s = arith.negf %x : f32
      attn.yield %s : f32
    }
  attn.return %o, %lse : tensor<1x8x33x64xf16>, tensor<1x8x33xf32>
}

// Softmax's sink, on the cascade's normalize and on attn.flash, printed
// after the mask.
// CHECK-LABEL: attn.variant @sink
// CHECK: %probs = normalize softmax %{{.*}} : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32> sink {
// CHECK-NEXT: ^bb0(%b: index, %h: index):
// CHECK: %out = flash softmax(%q, %k, %v) : {{.*}} mask {
// CHECK: } sink {
// CHECK-NEXT: ^bb0(%b: index, %h: index):
// CHECK-NEXT: attn.load %sinks[%h] : tensor<?xf32>
attn.variant @sink(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>,
                   %sinks: tensor<?xf32> {attn.name = "sinks"}) -> tensor<?x?x?x?xf32> {
  %s = attn.score %q, %k : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %p = attn.normalize softmax %s : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32> sink {
  ^bb0(%b: index, %h: index):
    %z = arith.constant 0.0 : f32
    attn.yield %z : f32
  }
  %o = attn.flash softmax(%q, %k, %v) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>)
    mask {
    ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
      %keep = arith.cmpi uge, %q_idx, %kv_idx : index
      attn.yield %keep : i1
    } sink {
    ^bb0(%b: index, %h: index):
      %x = attn.load %sinks[%h] : tensor<?xf32>
      attn.yield %x : f32
    }
  attn.return %o : tensor<?x?x?x?xf32>
}

// attn.flash with no region at all is plain attention.
// CHECK-LABEL: attn.variant @flash_plain
// CHECK: %out = flash sigmoid(%q, %k, %v) bias -5.000000e+00 : (tensor<?x?x?x?xbf16>, tensor<?x?x?x?xbf16>, tensor<?x?x?x?xbf16>) -> (tensor<?x?x?x?xbf16>)
// CHECK-NEXT: return %out
attn.variant @flash_plain(%q: tensor<?x?x?x?xbf16>, %k: tensor<?x?x?x?xbf16>, %v: tensor<?x?x?x?xbf16>)
    -> tensor<?x?x?x?xbf16> {
  %o = attn.flash sigmoid(%q, %k, %v) bias -5.0
      : (tensor<?x?x?x?xbf16>, tensor<?x?x?x?xbf16>, tensor<?x?x?x?xbf16>) -> (tensor<?x?x?x?xbf16>)
  attn.return %o : tensor<?x?x?x?xbf16>
}

// A 2-D param and a scalar i32 param read from a mask.
// CHECK-LABEL: attn.variant @params
// CHECK: attn.load %table[%q_idx, %kv_idx] : tensor<?x?xi32>
attn.variant @params(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>,
                     %table: tensor<?x?xi32> {attn.name = "table"},
                     %limit: i32 {attn.name = "limit", attn.default = 3 : i32})
    -> tensor<?x?x?x?xf32> {
  %s = attn.score %q, %k : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %m = attn.mask %s : tensor<?x?x?x?xf32> {
  ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
    %t = attn.load %table[%q_idx, %kv_idx] : tensor<?x?xi32>
    %keep = arith.cmpi slt, %t, %limit : i32
    attn.yield %keep : i1
  }
  %p = attn.normalize softmax %m : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o = attn.aggregate %p, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  attn.return %o : tensor<?x?x?x?xf32>
}
