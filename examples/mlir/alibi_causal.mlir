// ALiBi on a causal mask, written as the cascade that the DSL front end emits:
//   score = score + slopes[h] * (kv_idx - q_idx);  mask = q_idx >= kv_idx
// `attn-opt --canonicalize --attn-fuse` turns it into one attn.flash.
attn.variant @alibi_causal(%q: tensor<?x?x?x128xbf16>, %k: tensor<?x?x?x128xbf16>,
                           %v: tensor<?x?x?x128xbf16>,
                           %slopes: tensor<?xf32> {attn.name = "slopes"})
    -> (tensor<?x?x?x128xbf16>, tensor<?x?x?xf32>) {
  %s = attn.score %q, %k : tensor<?x?x?x128xbf16>, tensor<?x?x?x128xbf16> -> tensor<?x?x?x?xf32>
  %biased = attn.score_mod %s : tensor<?x?x?x?xf32> {
  ^bb0(%score: f32, %b: index, %h: index, %q_idx: index, %kv_idx: index):
    %slope = attn.load %slopes[%h] : tensor<?xf32>
    %qi = arith.index_cast %q_idx : index to i64
    %ki = arith.index_cast %kv_idx : index to i64
    %dist = arith.subi %ki, %qi : i64
    %distf = arith.sitofp %dist : i64 to f32
    %bias = arith.mulf %slope, %distf : f32
    %r = arith.addf %score, %bias : f32
    attn.yield %r : f32
  }
  %masked = attn.mask %biased : tensor<?x?x?x?xf32> {
  ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
    %keep = arith.cmpi uge, %q_idx, %kv_idx : index
    attn.yield %keep : i1
  }
  %p, %lse = attn.normalize softmax %masked : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>, tensor<?x?x?xf32>
  %o = attn.aggregate %p, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x128xbf16> -> tensor<?x?x?x128xbf16>
  attn.return %o, %lse : tensor<?x?x?x128xbf16>, tensor<?x?x?xf32>
}
