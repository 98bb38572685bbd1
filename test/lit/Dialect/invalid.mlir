// One case per verifier error.
// RUN: attn-opt %s -split-input-file -verify-diagnostics

// Rank of q.
func.func @f(%q: tensor<4x64xf32>, %k: tensor<?x?x?x?xf32>) {
  // expected-error @+1 {{q must have rank 4 [B, H, N, D]; got rank 2 ('tensor<4x64xf32>')}}
  %s = attn.score %q, %k : tensor<4x64xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  return
}

// -----

// Rank of k.
func.func @f(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?xf32>) {
  // expected-error @+1 {{k must have rank 4 [B, Hkv, M, D]; got rank 3}}
  %s = attn.score %q, %k : tensor<?x?x?x?xf32>, tensor<?x?x?xf32> -> tensor<?x?x?x?xf32>
  return
}

// -----

// Rank of v.
func.func @f(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?xf32>) {
  // expected-error @+1 {{v must have rank 4 [B, Hkv, M, Dv]; got rank 3}}
  %o = attn.flash softmax(%q, %k, %v) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) -> (tensor<?x?x?x?xf32>)
  return
}

// -----

// Element types of q and k.
func.func @f(%q: tensor<?x?x?x?xbf16>, %k: tensor<?x?x?x?xf16>) {
  // expected-error @+1 {{q and k must have the same element type; got 'bf16' and 'f16'}}
  %s = attn.score %q, %k : tensor<?x?x?x?xbf16>, tensor<?x?x?x?xf16> -> tensor<?x?x?x?xf32>
  return
}

// -----

// Element type of v.
func.func @f(%q: tensor<?x?x?x?xbf16>, %k: tensor<?x?x?x?xbf16>, %v: tensor<?x?x?x?xf32>) {
  // expected-error @+1 {{v must have the element type of q and k ('bf16'); got 'f32'}}
  %o = attn.flash softmax(%q, %k, %v) : (tensor<?x?x?x?xbf16>, tensor<?x?x?x?xbf16>, tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xbf16>)
  return
}

// -----

// Batch of q and k.
func.func @f(%q: tensor<2x?x?x?xf32>, %k: tensor<3x?x?x?xf32>) {
  // expected-error @+1 {{batch size B mismatch: q has 2 but k has 3}}
  %s = attn.score %q, %k : tensor<2x?x?x?xf32>, tensor<3x?x?x?xf32> -> tensor<?x?x?x?xf32>
  return
}

// -----

// Head dim of q and k.
func.func @f(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x128xf32>) {
  // expected-error @+1 {{head dim D mismatch: q has 64 but k has 128}}
  %s = attn.score %q, %k : tensor<?x?x?x64xf32>, tensor<?x?x?x128xf32> -> tensor<?x?x?x?xf32>
  return
}

// -----

// Heads not divisible by kv heads.
func.func @f(%q: tensor<?x6x?x?xf32>, %k: tensor<?x4x?x?xf32>) {
  // expected-error @+1 {{query heads H = 6 are not a multiple of key/value heads Hkv = 4}}
  %s = attn.score %q, %k : tensor<?x6x?x?xf32>, tensor<?x4x?x?xf32> -> tensor<?x?x?x?xf32>
  return
}

// -----

// Kv heads of k and v.
func.func @f(%q: tensor<?x8x?x?xf32>, %k: tensor<?x2x?x?xf32>, %v: tensor<?x4x?x?xf32>) {
  // expected-error @+1 {{key/value heads Hkv mismatch: k has 2 but v has 4}}
  %o = attn.flash softmax(%q, %k, %v) : (tensor<?x8x?x?xf32>, tensor<?x2x?x?xf32>, tensor<?x4x?x?xf32>) -> (tensor<?x?x?x?xf32>)
  return
}

// -----

// Key length of k and v.
func.func @f(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x100x?xf32>, %v: tensor<?x?x99x?xf32>) {
  // expected-error @+1 {{key length M mismatch: k has 100 but v has 99}}
  %o = attn.flash softmax(%q, %k, %v) : (tensor<?x?x?x?xf32>, tensor<?x?x100x?xf32>, tensor<?x?x99x?xf32>) -> (tensor<?x?x?x?xf32>)
  return
}

// -----

// Batch of q and v.
func.func @f(%q: tensor<1x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<2x?x?x?xf32>) {
  // expected-error @+1 {{batch size B mismatch: q has 1 but v has 2}}
  %o = attn.flash softmax(%q, %k, %v) : (tensor<1x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<2x?x?x?xf32>) -> (tensor<?x?x?x?xf32>)
  return
}

// -----

// The scores' shape follows q and k.
func.func @f(%q: tensor<1x8x100x64xf32>, %k: tensor<1x8x50x64xf32>) {
  // expected-error @+1 {{the scores must have shape [B, H, N, M] = [1, 8, 100, 50]; got 'tensor<1x8x100x100xf32>'}}
  %s = attn.score %q, %k : tensor<1x8x100x64xf32>, tensor<1x8x50x64xf32> -> tensor<1x8x100x100xf32>
  return
}

// -----

// out of attn.flash follows q and v.
func.func @f(%q: tensor<1x8x100x64xf32>, %k: tensor<1x8x50x64xf32>, %v: tensor<1x8x50x32xf32>) {
  // expected-error @+1 {{out must have shape [B, H, N, Dv] = [1, 8, 100, 32]; got 'tensor<1x8x100x64xf32>'}}
  %o = attn.flash softmax(%q, %k, %v) : (tensor<1x8x100x64xf32>, tensor<1x8x50x64xf32>, tensor<1x8x50x32xf32>) -> (tensor<1x8x100x64xf32>)
  return
}

// -----

// lse of attn.flash is [B, H, N].
func.func @f(%q: tensor<1x8x100x64xf32>, %k: tensor<1x8x50x64xf32>, %v: tensor<1x8x50x64xf32>) {
  // expected-error @+1 {{lse must have shape [B, H, N] = [1, 8, 100]; got 'tensor<1x8x50xf32>'}}
  %o, %l = attn.flash softmax(%q, %k, %v) : (tensor<1x8x100x64xf32>, tensor<1x8x50x64xf32>, tensor<1x8x50x64xf32>) -> (tensor<1x8x100x64xf32>, tensor<1x8x50xf32>)
  return
}

// -----

// lse exists for softmax only.
func.func @f(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>) {
  // expected-error @+1 {{only softmax defines lse; the normalizer is sigmoid}}
  %o, %l = attn.flash sigmoid(%q, %k, %v) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>)
  return
}

// -----

func.func @f(%s: tensor<?x?x?x?xf32>) {
  // expected-error @+1 {{only softmax defines lse; the normalizer is relu}}
  %p, %l = attn.normalize relu %s : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>, tensor<?x?x?xf32>
  return
}

// -----

// A sink is softmax's.
func.func @f(%s: tensor<?x?x?x?xf32>) {
  // expected-error @+1 {{only softmax takes a sink; the normalizer is sigmoid}}
  %p = attn.normalize sigmoid %s : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32> sink {
  ^bb0(%b: index, %h: index):
    %z = arith.constant 0.0 : f32
    attn.yield %z : f32
  }
  return
}

// -----

func.func @f(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>) {
  // expected-error @+1 {{the sink region must have the signature (b: index, h: index) -> f32; its arguments are ('index', 'index', 'index')}}
  %o = attn.flash softmax(%q, %k, %v) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>)
    sink {
    ^bb0(%b: index, %h: index, %q_idx: index):
      %z = arith.constant 0.0 : f32
      attn.yield %z : f32
    }
  return
}

// -----

// lse, read by an output_mod, is softmax's too.
func.func @f(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>) {
  // expected-error @+1 {{the output_mod reads lse, which only softmax defines; the normalizer is relu}}
  %o = attn.flash relu(%q, %k, %v) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>)
    output_mod {
    ^bb0(%x: f32, %b: index, %h: index, %q_idx: index, %d: index, %ls: f32, %rs: f32):
      %y = arith.mulf %x, %ls : f32
      attn.yield %y : f32
    }
  return
}

// -----

func.func @f(%s: tensor<?x?x?x?xf32>) {
  // expected-error @+1 {{temperature must be positive and finite; got -1}}
  %p = attn.normalize softmax %s temperature -1.0 : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  return
}

// -----

func.func @f(%s: tensor<?x?x?x?xf32>) {
  // expected-error @+1 {{the weights must have the scores' type 'tensor<?x?x?x?xf32>'; got 'tensor<1x1x1x1xf32>'}}
  %p = "attn.normalize"(%s) <{kind = 0 : i32}> ({}) : (tensor<?x?x?x?xf32>) -> tensor<1x1x1x1xf32>
  return
}

// -----

func.func @f(%s: tensor<2x4x16x16xf32>) {
  // expected-error @+1 {{lse must have shape [B, H, N] = [2, 4, 16]; got 'tensor<2x4x8xf32>'}}
  %p, %l = attn.normalize softmax %s : tensor<2x4x16x16xf32> -> tensor<2x4x16x16xf32>, tensor<2x4x8xf32>
  return
}

// -----

func.func @f(%s: tensor<?x?x?xf32>) {
  // expected-error @+1 {{the scores must have rank 4 [B, H, N, M]; got rank 3}}
  %p = attn.normalize softmax %s : tensor<?x?x?xf32> -> tensor<?x?x?xf32>
  return
}

// -----

// GQA group of attn.flash.
func.func @f(%q: tensor<1x8x16x64xf32>, %k: tensor<1x2x16x64xf32>, %v: tensor<1x2x16x64xf32>) {
  // expected-error @+1 {{gqa group 2 disagrees with H = 8 and Hkv = 2}}
  %o = attn.flash softmax(%q, %k, %v) gqa 2 : (tensor<1x8x16x64xf32>, tensor<1x2x16x64xf32>, tensor<1x2x16x64xf32>) -> (tensor<1x8x16x64xf32>)
  return
}

// -----

func.func @f(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>) {
  // expected-error @+1 {{gqa group must be positive; got 0}}
  %o = attn.flash softmax(%q, %k, %v) gqa 0 : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>)
  return
}

// -----

// Aggregate: weights and values disagree on M.
func.func @f(%p: tensor<1x8x16x32xf32>, %v: tensor<1x8x31x64xf32>) {
  // expected-error @+1 {{key length M mismatch: p has 32 but v has 31}}
  %o = attn.aggregate %p, %v : tensor<1x8x16x32xf32>, tensor<1x8x31x64xf32> -> tensor<1x8x16x64xf32>
  return
}

// -----

func.func @f(%p: tensor<1x6x16x32xf32>, %v: tensor<1x4x32x64xf32>) {
  // expected-error @+1 {{query heads H = 6 are not a multiple of key/value heads Hkv = 4}}
  %o = attn.aggregate %p, %v : tensor<1x6x16x32xf32>, tensor<1x4x32x64xf32> -> tensor<1x6x16x64xf32>
  return
}

// -----

func.func @f(%p: tensor<1x8x16x32xf32>, %v: tensor<1x8x32x64xf32>) {
  // expected-error @+1 {{out must have shape [B, H, N, Dv] = [1, 8, 16, 64]; got 'tensor<1x8x16x32xf32>'}}
  %o = attn.aggregate %p, %v : tensor<1x8x16x32xf32>, tensor<1x8x32x64xf32> -> tensor<1x8x16x32xf32>
  return
}

// -----

func.func @f(%p: tensor<2x8x16x32xf32>, %v: tensor<1x8x32x64xf32>) {
  // expected-error @+1 {{batch size B mismatch: p has 2 but v has 1}}
  %o = attn.aggregate %p, %v : tensor<2x8x16x32xf32>, tensor<1x8x32x64xf32> -> tensor<2x8x16x64xf32>
  return
}

// -----

// Region signatures.
func.func @f(%s: tensor<?x?x?x?xf32>) {
  // expected-error @+1 {{the score_mod region must have the signature (score: f32, b: index, h: index, q_idx: index, kv_idx: index) -> f32; its arguments are ('f32', 'index')}}
  %m = attn.score_mod %s : tensor<?x?x?x?xf32> {
  ^bb0(%score: f32, %b: index):
    attn.yield %score : f32
  }
  return
}

// -----

func.func @f(%s: tensor<?x?x?x?xf32>) {
  // expected-error @+1 {{the score_mod region must yield 'f32'; it yields 'f16'}}
  %m = attn.score_mod %s : tensor<?x?x?x?xf32> {
  ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
    %x = arith.truncf %score : f32 to f16
    attn.yield %x : f16
  }
  return
}

// -----

// A mask that does not yield i1.
func.func @f(%s: tensor<?x?x?x?xf32>) {
  // expected-error @+1 {{the mask region must yield 'i1'; it yields 'f32'}}
  %m = attn.mask %s : tensor<?x?x?x?xf32> {
  ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
    %x = arith.constant 1.0 : f32
    attn.yield %x : f32
  }
  return
}

// -----

func.func @f(%s: tensor<?x?x?x?xf32>) {
  // expected-error @+1 {{the mask region must have the signature (b: index, h: index, q_idx: index, kv_idx: index) -> i1; its arguments are ('f32', 'index', 'index', 'index', 'index')}}
  %m = attn.mask %s : tensor<?x?x?x?xf32> {
  ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
    %t = arith.constant true
    attn.yield %t : i1
  }
  return
}

// -----

func.func @f(%o: tensor<?x?x?x?xf32>) {
  // expected-error @+1 {{the output_mod region must have the signature (o: f32, b: index, h: index, q_idx: index, d: index, lse: f32, row_sum: f32) -> f32; its arguments are ('f32', 'index', 'index', 'index')}}
  %m = attn.output_mod %o : tensor<?x?x?x?xf32> {
  ^bb0(%x: f32, %b: index, %h: index, %q_idx: index):
    attn.yield %x : f32
  }
  return
}

// -----

// A region holds only the scalar ops of dialect/ScalarOps.def: an arith op
// that is not among them is rejected where it is.
func.func @f(%s: tensor<?x?x?x?xf32>) {
  %m = attn.mask %s : tensor<?x?x?x?xf32> {
  ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
    // expected-error @+1 {{'arith.ceildivui' op is not one of the scalar ops that a mask region may hold}}
    %c = arith.ceildivui %q_idx, %kv_idx : index
    %keep = arith.cmpi ult, %c, %kv_idx : index
    attn.yield %keep : i1
  }
  return
}

// -----

// Likewise a math op, in a region of attn.flash.
func.func @f(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>) {
  %o = attn.flash softmax(%q, %k, %v) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>) score_mod {
  ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
    // expected-error @+1 {{'math.atan' op is not one of the scalar ops that a score_mod region may hold}}
    %a = math.atan %score : f32
    attn.yield %a : f32
  }
  return
}

// -----

func.func @f(%o: tensor<?x?x?xf32>) {
  // expected-error @+1 {{out must have rank 4 [B, H, N, Dv]; got rank 3}}
  %m = attn.output_mod %o : tensor<?x?x?xf32> {
  ^bb0(%x: f32, %b: index, %h: index, %q_idx: index, %d: index, %ls: f32, %rs: f32):
    attn.yield %x : f32
  }
  return
}

// -----

// A region of attn.flash is checked like the cascade op's.
func.func @f(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>) {
  // expected-error @+1 {{the mask region must yield 'i1'; it yields 'index'}}
  %o = attn.flash softmax(%q, %k, %v) : (tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>) -> (tensor<?x?x?x?xf32>) mask {
  ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
    attn.yield %q_idx : index
  }
  return
}

// -----

// A param indexed with the wrong number of indices.
attn.variant @f(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>,
                %slopes: tensor<?xf32> {attn.name = "slopes"}) -> tensor<?x?x?x?xf32> {
  %s = attn.score %q, %k : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %m = attn.score_mod %s : tensor<?x?x?x?xf32> {
  ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
    // expected-error @+1 {{param 'slopes' has rank 1 but is indexed with 2 index(es)}}
    %x = attn.load %slopes[%b, %h] : tensor<?xf32>
    attn.yield %x : f32
  }
  %p = attn.normalize softmax %m : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o = attn.aggregate %p, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  attn.return %o : tensor<?x?x?x?xf32>
}

// -----

// q, k and v are not params.
attn.variant @f(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %s = attn.score %q, %k : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %m = attn.score_mod %s : tensor<?x?x?x?xf32> {
  ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
    // expected-error @+1 {{reads params; 'k' is an input of the attention, not a param}}
    %x = attn.load %k[%b, %h, %q_idx, %kv_idx] : tensor<?x?x?x?xf32>
    attn.yield %x : f32
  }
  %p = attn.normalize softmax %m : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o = attn.aggregate %p, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  attn.return %o : tensor<?x?x?x?xf32>
}

// -----

// The scores are not a param either.
attn.variant @f(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  %s = attn.score %q, %k : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %m = attn.mask %s : tensor<?x?x?x?xf32> {
  ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
    // expected-error @+1 {{reads a param of the variant; its source is not an argument of 'f'}}
    %x = attn.load %s[%b, %h, %q_idx, %kv_idx] : tensor<?x?x?x?xf32>
    %c = arith.constant 0.0 : f32
    %keep = arith.cmpf ogt, %x, %c : f32
    attn.yield %keep : i1
  }
  %p = attn.normalize softmax %m : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o = attn.aggregate %p, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  attn.return %o : tensor<?x?x?x?xf32>
}

// -----

// The variant's signature.
// expected-error @+1 {{takes q, k and v first; it has 2 argument(s)}}
attn.variant @f(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  attn.return %q : tensor<?x?x?x?xf32>
}

// -----

// expected-error @+1 {{v must be a ranked tensor of f16, bf16 or f32; got 'tensor<?x?x?x?xi32>'}}
attn.variant @f(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xi32>) -> tensor<?x?x?x?xf32> {
  attn.return %q : tensor<?x?x?x?xf32>
}

// -----

// expected-error @+1 {{head dim D mismatch: q has 64 but k has 32}}
attn.variant @f(%q: tensor<?x?x?x64xf32>, %k: tensor<?x?x?x32xf32>, %v: tensor<?x?x?x?xf32>) -> tensor<?x?x?x?xf32> {
  attn.return %q : tensor<?x?x?x64xf32>
}

// -----

// expected-error @+1 {{param 'x' must be a ranked tensor or a scalar; got 'vector<4xf32>'}}
attn.variant @f(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>,
                %x: vector<4xf32> {attn.name = "x"}) -> tensor<?x?x?x?xf32> {
  attn.return %q : tensor<?x?x?x?xf32>
}

// -----

// expected-error @+1 {{two params are named 'doc'}}
attn.variant @f(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>,
                %a: tensor<?xi32> {attn.name = "doc"}, %b: tensor<?xi32> {attn.name = "doc"}) -> tensor<?x?x?x?xf32> {
  attn.return %q : tensor<?x?x?x?xf32>
}

// -----

// expected-error @+1 {{the default of param 'cap' must be a scalar of its type 'f32'}}
attn.variant @f(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>,
                %cap: f32 {attn.name = "cap", attn.default = 30 : i32}) -> tensor<?x?x?x?xf32> {
  attn.return %q : tensor<?x?x?x?xf32>
}

// -----

// expected-error @+1 {{returns out and optionally lse; it declares 3 result(s)}}
attn.variant @f(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>)
    -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>) {
  attn.return %q : tensor<?x?x?x?xf32>
}

// -----

// expected-error @+1 {{lse must have element type 'f32'; got 'tensor<?x?x?xf16>'}}
attn.variant @f(%q: tensor<?x?x?x?xf16>, %k: tensor<?x?x?x?xf16>, %v: tensor<?x?x?x?xf16>)
    -> (tensor<?x?x?x?xf16>, tensor<?x?x?xf16>) {
  attn.return %q : tensor<?x?x?x?xf16>
}

// -----

// expected-error @+1 {{out must have a float element type; got 'tensor<?x?x?x?xi8>'}}
attn.variant @f(%q: tensor<?x?x?x?xf16>, %k: tensor<?x?x?x?xf16>, %v: tensor<?x?x?x?xf16>)
    -> tensor<?x?x?x?xi8> {
  %c = arith.constant dense<0> : tensor<1x1x1x1xi8>
  %d = tensor.cast %c : tensor<1x1x1x1xi8> to tensor<?x?x?x?xi8>
  attn.return %d : tensor<?x?x?x?xi8>
}

// -----

attn.variant @f(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>)
    -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) {
  // expected-error @+1 {{returns 1 value(s) but the variant declares 2}}
  attn.return %q : tensor<?x?x?x?xf32>
}

// -----

attn.variant @f(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>)
    -> tensor<2x?x?x?xf32> {
  // expected-error @+1 {{returns 'tensor<?x?x?x?xf32>' as result #0 but the variant declares 'tensor<2x?x?x?xf32>'}}
  attn.return %q : tensor<?x?x?x?xf32>
}

// -----

func.func @f(%x: f32) {
  // expected-error @+1 {{expects parent op to be one of 'attn.score_mod, attn.mask, attn.normalize, attn.output_mod, attn.flash'}}
  attn.yield %x : f32
}

// -----

attn.variant @accumulate_int(%q: tensor<1x1x4x4xf32>, %k: tensor<1x1x4x4xf32>, %v: tensor<1x1x4x4xf32>,
                             %n: tensor<?xi32> {attn.name = "n"}) -> tensor<1x1x4x4xf32> {
  %o = attn.flash softmax(%q, %k, %v) : (tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>) -> (tensor<1x1x4x4xf32>)
    score_mod_grad {
    ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index, %dscore: f32):
      // expected-error @below {{accumulates into float params; got 'tensor<?xi32>'}}
      attn.accumulate %dscore into %n[%h] : tensor<?xi32>
      attn.yield %dscore : f32
    }
  attn.return %o : tensor<1x1x4x4xf32>
}

// -----

attn.variant @accumulate_in_score_mod(%q: tensor<1x1x4x4xf32>, %k: tensor<1x1x4x4xf32>, %v: tensor<1x1x4x4xf32>,
                                      %w: f32 {attn.name = "w"}) -> tensor<1x1x4x4xf32> {
  %o = attn.flash softmax(%q, %k, %v) : (tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>, tensor<1x1x4x4xf32>) -> (tensor<1x1x4x4xf32>)
    score_mod {
    ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
      // expected-error @below {{is not one of the scalar ops that a score_mod region may hold}}
      attn.accumulate %score into %w[] : f32
      attn.yield %score : f32
    }
  attn.return %o : tensor<1x1x4x4xf32>
}
