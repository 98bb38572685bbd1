// attn-fuse refuses, with a located diagnostic, what it cannot fuse.
// RUN: attn-opt %s -split-input-file -attn-fuse -verify-diagnostics

// The scores feed two steps.
attn.variant @scores_twice(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>)
    -> tensor<?x?x?x?xf32> {
  // expected-error @+1 {{cannot fuse: the scores of 'attn.score' are used 2 times}}
  %s = attn.score %q, %k : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  // expected-note @+1 {{used here by 'attn.normalize'}}
  %p = attn.normalize softmax %s : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  // expected-note @+1 {{used here by 'attn.aggregate'}}
  %p2 = attn.aggregate %s, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o = attn.aggregate %p, %p2 : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  attn.return %o : tensor<?x?x?x?xf32>
}

// -----

// No normalize between the scores and the aggregation.
attn.variant @no_normalize(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>)
    -> tensor<?x?x?x?xf32> {
  // expected-note @+1 {{it is produced by 'attn.score' instead}}
  %s = attn.score %q, %k : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  // expected-error @+1 {{cannot fuse: expected 'attn.normalize' to produce operand of 'attn.aggregate'}}
  %o = attn.aggregate %s, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  attn.return %o : tensor<?x?x?x?xf32>
}

// -----

// The output is not computed by a cascade.
attn.variant @passthrough(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>)
    -> tensor<?x?x?x?xf32> {
  // expected-error @+1 {{cannot fuse: expected 'attn.aggregate' to produce operand of 'attn.return'; it is an argument of the variant}}
  attn.return %q : tensor<?x?x?x?xf32>
}

// -----

// Two normalizations in a row.
attn.variant @double_normalize(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>)
    -> tensor<?x?x?x?xf32> {
  %s = attn.score %q, %k : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  // expected-note @+1 {{it is produced by 'attn.normalize' instead}}
  %p = attn.normalize relu %s : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  // expected-error @+1 {{cannot fuse: expected 'attn.score', 'attn.score_mod', 'attn.mask' or 'attn.select' to produce operand of 'attn.normalize'}}
  %p2 = attn.normalize softmax %p : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o = attn.aggregate %p2, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  attn.return %o : tensor<?x?x?x?xf32>
}

// -----

// The scores come from outside the variant.
attn.variant @scores_param(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>,
                           %s: tensor<?x?x?x?xf32> {attn.name = "s"}) -> tensor<?x?x?x?xf32> {
  // expected-error @+1 {{cannot fuse: expected 'attn.score', 'attn.score_mod', 'attn.mask' or 'attn.select' to produce operand of 'attn.normalize'; it is an argument of the variant}}
  %p = attn.normalize softmax %s : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o = attn.aggregate %p, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  attn.return %o : tensor<?x?x?x?xf32>
}

// -----

// The returned lse is not the cascade's.
attn.variant @foreign_lse(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>)
    -> (tensor<?x?x?x?xf32>, tensor<?x?x?xf32>) {
  %s = attn.score %q, %k : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  // expected-note @+1 {{the cascade's normalize}}
  %p = attn.normalize softmax %s : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o = attn.aggregate %p, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %s2 = attn.score %q, %k : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %p2, %lse = attn.normalize softmax %s2 : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>, tensor<?x?x?xf32>
  // expected-error @+1 {{cannot fuse: the returned lse is not the lse of the cascade's 'attn.normalize'}}
  attn.return %o, %lse : tensor<?x?x?x?xf32>, tensor<?x?x?xf32>
}

// -----

// A masked score tensor used twice.
attn.variant @mask_twice(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>)
    -> tensor<?x?x?x?xf32> {
  %s = attn.score %q, %k : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  // expected-error @+1 {{cannot fuse: the scores of 'attn.mask' are used 2 times}}
  %m = attn.mask %s : tensor<?x?x?x?xf32> {
  ^bb0(%b: index, %h: index, %q_idx: index, %kv_idx: index):
    %keep = arith.cmpi uge, %q_idx, %kv_idx : index
    attn.yield %keep : i1
  }
  // expected-note @+1 {{used here}}
  %p = attn.normalize softmax %m : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  // expected-note @+1 {{used here}}
  %o = attn.aggregate %p, %m : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  attn.return %o : tensor<?x?x?x?xf32>
}

// -----

// Two selections in one cascade.
attn.variant @select_twice(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>)
    -> tensor<?x?x?x?xf32> {
  %s = attn.score %q, %k : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  // expected-error @+1 {{cannot fuse: a cascade selects key blocks once; it has two 'attn.select'}}
  %a = attn.select %s, %q, %k keep <top_k = 8, block = 64> : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>
  // expected-note @+1 {{the other one}}
  %b = attn.select %a, %q, %k keep <top_k = 2, block = 16> : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>
  %p = attn.normalize none %b : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o = attn.aggregate %p, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  attn.return %o : tensor<?x?x?x?xf32>
}

// -----

// A selection over other keys than the scores'.
attn.variant @select_other_keys(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>)
    -> tensor<?x?x?x?xf32> {
  // expected-note @+1 {{the cascade's 'attn.score'}}
  %s = attn.score %q, %k : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  // expected-error @+1 {{cannot fuse: 'attn.select' selects over other q and k than the cascade's scores}}
  %a = attn.select %s, %q, %v keep <top_k = 8, block = 64> : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32>
  %p = attn.normalize none %a : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o = attn.aggregate %p, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  attn.return %o : tensor<?x?x?x?xf32>
}

// -----

// Branch 1 masks differently from branch 0.
attn.variant @branch_mask(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>)
    -> tensor<?x?x?x?xf32> {
  %s0 = attn.score %q, %k head_part [0, 2] : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  // expected-note @+1 {{branch 0's step}}
  %m0 = attn.mask %s0 : tensor<?x?x?x?xf32> {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %keep = arith.cmpi uge, %i, %j : index
    attn.yield %keep : i1
  }
  %p0 = attn.normalize softmax %m0 : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o0 = attn.aggregate %p0, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %s1 = attn.score %q, %k head_part [1, 2] : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  // expected-error @+1 {{cannot fuse: branch 1 differs from branch 0 here; a multi-branch cascade's branches differ only in their score's head_part}}
  %m1 = attn.mask %s1 : tensor<?x?x?x?xf32> {
  ^bb0(%b: index, %h: index, %i: index, %j: index):
    %keep = arith.cmpi ule, %i, %j : index
    attn.yield %keep : i1
  }
  %p1 = attn.normalize softmax %m1 : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o1 = attn.aggregate %p1, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o = attn.output_mod %o0 branches(%o1 : tensor<?x?x?x?xf32>) : tensor<?x?x?x?xf32> {
  ^bb0(%x: f32, %b: index, %h: index, %i: index, %d: index, %lse: f32, %sum: f32):
    %y = attn.branch o 1 : f32
    %z = arith.subf %x, %y : f32
    attn.yield %z : f32
  }
  attn.return %o : tensor<?x?x?x?xf32>
}

// -----

// Branch 1 scores branch 0's part.
attn.variant @branch_part(%q: tensor<?x?x?x?xf32>, %k: tensor<?x?x?x?xf32>, %v: tensor<?x?x?x?xf32>)
    -> tensor<?x?x?x?xf32> {
  // expected-note @+1 {{branch 0's step}}
  %s0 = attn.score %q, %k head_part [0, 2] : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %p0 = attn.normalize softmax %s0 : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o0 = attn.aggregate %p0, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  // expected-error @+1 {{cannot fuse: branch 1 must score part 1 of 2}}
  %s1 = attn.score %q, %k head_part [0, 2] : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %p1 = attn.normalize softmax %s1 : tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o1 = attn.aggregate %p1, %v : tensor<?x?x?x?xf32>, tensor<?x?x?x?xf32> -> tensor<?x?x?x?xf32>
  %o = attn.output_mod %o0 branches(%o1 : tensor<?x?x?x?xf32>) : tensor<?x?x?x?xf32> {
  ^bb0(%x: f32, %b: index, %h: index, %i: index, %d: index, %lse: f32, %sum: f32):
    %y = attn.branch o 1 : f32
    %z = arith.subf %x, %y : f32
    attn.yield %z : f32
  }
  attn.return %o : tensor<?x?x?x?xf32>
}
