#!/usr/bin/env bash
# The GPU suite, in one device call: every example x shapes against the
# float64 reference (attnc run --target=gpu --check), compute-sanitizer
# memcheck on a handful, the AOT entry points built with nvcc against the
# JIT (test/gpu/aot_check.sh), and every example against torch's
# flex_attention where it can express the variant (test/gpu/flex_check.py).
#
# usage (on a machine with a GPU, from the project root):
#   [EXAMPLES="relative_bias document"] [PARTS="reference backward decode paged memcheck sass aot flex"] \
#     test/gpu/run.sh [BIN_DIR]      (BIN_DIR holds attnc; default build/bin)
# EXAMPLES limits the reference checks and memcheck to those variants (file
# names without .attn; default all); PARTS picks the parts (default all).
# Exit status 0 when everything passed; 77 when there is no GPU.
set -uo pipefail
bin=${1:-build/bin}
examples=${EXAMPLES:-}
parts=${PARTS:-reference backward decode paged memcheck sass aot flex}
# A block selection (`select =`) runs forward on sm80_mma and sm90_wgmma;
# the backward, split_kv and paged KV caches do not take it yet: those
# parts skip it, and it is checked once each to be refused at compile time.
selects() { grep -qsE '^[[:space:]]*select[[:space:]]*=' "$1"; }
# Branches (`branches =`, differential attention) run forward on sm80_mma
# and sm90_wgmma only; the same parts skip them, and their refusals are
# checked once.
branched() { grep -qsE '^[[:space:]]*branches[[:space:]]*=' "$1"; }
selected() { [ -z "$examples" ] || [[ " $examples " == *" $(basename "$1" .attn) "* ]]; }
wanted() { [[ " $parts " == *" $1 "* ]]; }
export ATTNC_CACHE_DIR=${ATTNC_CACHE_DIR:-$(mktemp -d)}
if ! "$bin/attnc" run examples/dense.attn --target=gpu --shape N=1,D=64 >/dev/null 2>&1; then
  echo "test/gpu: skipped: no usable CUDA device here"
  "$bin/attnc" run examples/dense.attn --target=gpu --shape N=1,D=64 2>&1 | tail -1
  exit 77
fi
shapes=(
  "B=2,H=8,Hkv=2,N=300,M=517,D=128"   # odd sizes, N != M, GQA 8:2
  "B=1,H=4,N=1,M=1,D=64"              # N = M = 1
  "B=1,H=3,N=1,M=700,D=128"           # one query (decode)
  "B=2,H=4,N=777,M=129,D=64"          # N > M
  "B=1,H=2,N=64,M=64,D=256"           # the largest head dim
  "B=1,H=4,Hkv=2,N=333,M=200,D=64,Dv=128"  # value head dim above the key's
  "B=2,H=2,N=130,M=77,D=192,Dv=128"   # MLA-style head dims
)
pass=0; fail=0
for f in examples/*.attn; do
  wanted reference && selected "$f" || continue
  for shape in "${shapes[@]}"; do
    # document ids have shape [N]: with M > N the mask reads past them, and
    # the run must fail with that error rather than pass or crash.
    expect=pass
    case "$f:$shape" in *document*M=517*|*document*M=700*) expect=oob;; esac
    for extra in "" "--strided"; do
      out=$("$bin/attnc" run "$f" --target=gpu --check --shape "$shape" $extra --seed $RANDOM 2>&1)
      rc=$?
      if [ $expect = pass ] && [ $rc -eq 0 ]; then pass=$((pass+1))
      elif [ $expect = oob ] && [ $rc -ne 0 ] && echo "$out" | grep -q "read out of bounds"; then pass=$((pass+1))
      else fail=$((fail+1)); echo "FAIL $f $shape $extra (expected: $expect)"; echo "$out" | tail -4; fi
    done
  done
done
# expect_refused FILE WHAT FLAG:MESSAGE...: each flag makes the GPU refuse
# FILE (its WHAT) at compile time, saying MESSAGE.
expect_refused() {
  local f=$1 what=$2 refused out; shift 2
  for refused in "$@"; do
    out=$("$bin/attnc" run "$f" --target=gpu --check ${refused%%:*} --shape B=1,H=2,N=64,D=64 2>&1)
    if [ $? -ne 0 ] && echo "$out" | grep -q "${refused#*:}"; then pass=$((pass+1))
    else fail=$((fail+1)); echo "FAIL $f ${refused%%:*}: expected the GPU to refuse its $what"; echo "$out" | tail -4; fi
  done
}
for f in examples/*.attn; do
  wanted reference && selects "$f" && selected "$f" || continue
  expect_refused "$f" "block selection" "--backward:is not supported yet" \
    "--family=split_kv:split_kv does not take it yet" "--paged=16:a paged KV cache does not take it yet"
  # Selections at a long key range: many blocks a row (past one word of
  # bits), top_k below their number, GQA.
  for shape in "B=1,H=4,Hkv=2,N=1500,M=2100,D=128" "B=2,H=2,N=2049,M=2049,D=64"; do
    for family in sm90_wgmma sm80_mma; do
      out=$("$bin/attnc" run "$f" --target=gpu --family=$family --check --shape "$shape" --seed $RANDOM 2>&1)
      if [ $? -eq 0 ]; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL $f $family $shape"; echo "$out" | tail -4; fi
    done
  done
done
for f in examples/*.attn; do
  wanted reference && branched "$f" && selected "$f" || continue
  expect_refused "$f" branches "--backward:is not supported yet" \
    "--family=split_kv:kernel family split_kv does not take them yet" "--paged=16:a paged KV cache does not take them yet"
  # Long key ranges, f16, D = 128 split in two (the differential shape),
  # in both families.
  for run in "B=1,H=4,Hkv=2,N=1500,M=2100,D=128:bf16" "B=2,H=2,N=2049,M=2049,D=128:f16"; do
    for family in sm90_wgmma sm80_mma; do
      out=$("$bin/attnc" run "$f" --target=gpu --family=$family --check --dtype=${run#*:} --shape "${run%:*}" \
            --seed $RANDOM 2>&1)
      if [ $? -eq 0 ]; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL $f $family $run"; echo "$out" | tail -4; fi
    done
  done
done
for dtype in f16; do
  for f in examples/causal.attn examples/softcap.attn examples/sigmoid.attn; do
    wanted reference && selected "$f" || continue
    out=$("$bin/attnc" run "$f" --target=gpu --dtype=$dtype --check --shape B=1,H=4,N=333,D=128 2>&1)
    if [ $? -eq 0 ]; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL $f $dtype"; echo "$out" | tail -4; fi
  done
done
# The mma.sync family, which the GPUs before sm_90a run (sm_90a picks the
# wgmma one where it fits): every example on two odd shapes, bf16 and f16.
for f in examples/*.attn; do
  wanted reference && selected "$f" || continue
  for run in "B=2,H=8,Hkv=2,N=300,M=517,D=128:bf16" "B=1,H=4,Hkv=2,N=333,M=200,D=64:f16"; do
    shape=${run%:*} dtype=${run#*:}
    expect=pass
    case "$f:$shape" in *document*M=517*) expect=oob;; esac
    out=$("$bin/attnc" run "$f" --target=gpu --check --family=sm80_mma --dtype=$dtype --shape "$shape" --seed $RANDOM 2>&1)
    rc=$?
    if [ $expect = pass ] && [ $rc -eq 0 ]; then pass=$((pass+1))
    elif [ $expect = oob ] && [ $rc -ne 0 ] && echo "$out" | grep -q "read out of bounds"; then pass=$((pass+1))
    else fail=$((fail+1)); echo "FAIL sm80_mma $f $shape $dtype (expected: $expect)"; echo "$out" | tail -4; fi
  done
done
# The backward (attnc run --backward --check: dq, dk, dv and every float
# param's gradient against the float64 reference's), head dims 64 and 128,
# GQA, N = 1, Dv != D, bf16 and f16.
for f in examples/*.attn; do
  wanted backward && selected "$f" && ! selects "$f" && ! branched "$f" || continue
  for run in "B=2,H=4,Hkv=2,N=300,M=517,D=128:bf16" "B=1,H=2,N=1,M=77,D=64:bf16" \
             "B=2,H=2,N=130,M=64,D=64,Dv=128:bf16" "B=1,H=4,Hkv=2,N=333,M=200,D=64:f16"; do
    shape=${run%:*} dtype=${run#*:}
    expect=pass
    case "$f:$shape" in *document*M=517*|*document*M=77*) expect=oob;; esac
    out=$("$bin/attnc" run "$f" --target=gpu --backward --check --dtype=$dtype --shape "$shape" --seed $RANDOM 2>&1)
    rc=$?
    if [ $expect = pass ] && [ $rc -eq 0 ]; then pass=$((pass+1))
    elif [ $expect = oob ] && [ $rc -ne 0 ] && echo "$out" | grep -q "read out of bounds"; then pass=$((pass+1))
    else fail=$((fail+1)); echo "FAIL backward $f $shape $dtype (expected: $expect)"; echo "$out" | tail -4; fi
  done
done
# The deterministic backward: dq by key tile in turn, the same bits twice
# (attnc run --deterministic), in both families; masks whose query tiles
# meet few key tiles and many, GQA.
for f in examples/causal.attn examples/document.attn examples/sliding_window.attn examples/dense.attn; do
  wanted backward && selected "$f" || continue
  for family in sm90_wgmma sm80_mma; do
    out=$("$bin/attnc" run "$f" --target=gpu --family=$family --backward --deterministic --check \
          --shape B=2,H=4,Hkv=2,N=700,M=700,D=128 --seed $RANDOM 2>&1)
    if [ $? -eq 0 ]; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL deterministic $f $family"; echo "$out" | tail -4; fi
  done
done
# B or H past 65535 (grids are lines of CTAs): key padding's block map
# varies with the batch, head_padding's with the head.
for run in examples/key_padding.attn:B=70000,H=1,N=2,M=20,D=64 test/gpu/head_padding.attn:B=1,H=70000,N=2,M=20,D=64; do
  wanted reference && selected "${run%:*}" || continue
  out=$("$bin/attnc" run "${run%:*}" --target=gpu --check --ids 24 --shape "${run#*:}" 2>&1)
  if [ $? -eq 0 ]; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL $run"; echo "$out" | tail -4; fi
done
# Output statements that read the row's lse and row_sum (test/gpu/row_stats.attn,
# in every family: the default (sm90_wgmma on sm_90a), sm80_mma, split_kv
# at decode and prefill; and their backward (lse and row_sum's adjoints in
# each row's delta) in both prefill families.
for v in stats_sink stats_sigmoid; do
  wanted backward && selected "row_stats" || continue
  for run in "B=2,H=8,Hkv=2,N=300,M=517,D=128:" "B=1,H=4,N=333,M=200,D=64:--family=sm80_mma --dtype=f16"; do
    out=$("$bin/attnc" run test/gpu/row_stats.attn --variant=$v --target=gpu --backward --check --shape "${run%%:*}" ${run#*:} --seed $RANDOM 2>&1)
    if [ $? -eq 0 ]; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL row_stats backward $v $run"; echo "$out" | tail -4; fi
  done
done
for v in stats_sink stats_sigmoid; do
  wanted reference && selected "row_stats" || continue
  for run in "B=2,H=8,Hkv=2,N=300,M=517,D=128:" "B=1,H=4,N=333,M=200,D=64:--family=sm80_mma" \
             "B=2,H=4,N=77,M=129,D=128:--family=sm80_mma --dtype=f16" "B=2,H=8,Hkv=2,N=1,M=4099,D=128:" \
             "B=1,H=2,N=300,M=300,D=64:--family=split_kv --strided"; do
    out=$("$bin/attnc" run test/gpu/row_stats.attn --variant=$v --target=gpu --check --shape "${run%%:*}" ${run#*:} --seed $RANDOM 2>&1)
    if [ $? -eq 0 ]; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL row_stats $v $run"; echo "$out" | tail -4; fi
  done
done
# A param read out of bounds names the param, the index, its shape and the
# read, as on the CPU (test/lit/Run/out-of-bounds.test's inputs), in every
# family (the tile classifier's read in the block-map kernel: block_sparse)
# and with --backward; a +inf score takes softmax's limit, as on the CPU
# (test/lit/Run/inf-scores.test's inputs), split_kv's merge of key ranges
# too. (Both under PARTS reference and backward.)
key_bias=test/lit/Run/Inputs/key-bias.attn
bias_read="param 'bias' was read out of bounds at index"
edge_runs=(
  "$key_bias|--shape H=1,N=4,M=5,D=64|$bias_read 4 \(shape \[4\]\) at $key_bias:3:19; the output is not valid"
  "$key_bias|--shape H=1,N=4,M=5,D=64 --family=sm80_mma|$bias_read 4 \(shape \[4\]\) at $key_bias:3:19; the output is not valid"
  "$key_bias|--shape H=2,N=40,M=300,D=64|$bias_read (4[0-9]|[5-9][0-9]|[12][0-9][0-9]) \(shape \[40\]\) at $key_bias:3:19; the output"
  "$key_bias|--shape H=2,N=40,M=300,D=128 --family=sm80_mma|$bias_read (4[0-9]|[5-9][0-9]|[12][0-9][0-9]) \(shape \[40\]\) at $key_bias:3:19; the output"
  "$key_bias|--shape H=2,N=40,M=300,D=64 --family=split_kv|$bias_read (4[0-9]|[5-9][0-9]|[12][0-9][0-9]) \(shape \[40\]\) at $key_bias:3:19; the output"
  "examples/block_sparse.attn|--shape H=1,N=200,D=64 --dim map=1,1|param 'map' was read out of bounds at index \[0, [0-9]+, [0-9]+\] \(shape \[1, 1, 1\]\) at examples/block_sparse.attn:[0-9]+:10 \(inlined from <stdlib>:52:5\); the output is not valid"
  "$key_bias|--shape H=1,N=4,M=5,D=64 --backward|$bias_read 4 \(shape \[4\]\) at $key_bias:3:19; the output is not valid"
  "$key_bias|--shape H=2,N=40,M=300,D=128 --backward|$bias_read (4[0-9]|[5-9][0-9]|[12][0-9][0-9]) \(shape \[40\]\) at $key_bias:3:19; the output"
)
for run in "${edge_runs[@]}"; do
  IFS='|' read -r f args want <<< "$run"
  [[ $args == *--backward* ]] && part=backward || part=reference
  wanted $part && selected "$f" || continue
  out=$("$bin/attnc" run "$f" --target=gpu $args 2>&1)
  if [ $? -ne 0 ] && echo "$out" | grep -qE "^attnc: error: $want"; then pass=$((pass+1))
  else fail=$((fail+1)); echo "FAIL read out of bounds: $f $args"; echo "$out" | tail -4; fi
done
plus_inf=test/lit/Run/Inputs/plus-inf.attn
for args in "--shape H=2,N=37,D=64" "--shape H=2,N=37,D=64 --family=sm80_mma" "--shape H=2,N=300,D=128" \
            "--shape H=4,Hkv=1,N=2,M=300,D=64" "--shape H=4,Hkv=1,N=2,M=3000,D=128 --family=split_kv" \
            "--shape B=2,H=2,N=130,M=4099,D=64 --family=split_kv"; do
  wanted reference && selected "$plus_inf" || continue
  out=$("$bin/attnc" run "$plus_inf" --target=gpu --check $args --seed $RANDOM 2>&1)
  if [ $? -eq 0 ] && echo "$out" | grep -q "check: PASS"; then pass=$((pass+1))
  else fail=$((fail+1)); echo "FAIL +inf scores: $args"; echo "$out" | tail -4; fi
done
# Decode (split_kv, which attnc run picks for N <= 16): N = 1..8 against
# up to 65536 keys, GQA 1, 4 and 8, the key range split across CTAs and
# combined (the default sm80_mma kernels on the same shapes for a few).
decode_shapes=(
  "B=2,H=8,Hkv=2,N=1,M=4099,D=128"
  "B=1,H=8,Hkv=1,N=5,M=20000,D=64"
  "B=3,H=4,N=8,M=777,D=64"
  "B=1,H=16,Hkv=4,N=2,M=65536,D=128"
  "B=1,H=2,N=1,M=3000,D=256"
  "B=2,H=4,Hkv=2,N=4,M=4,D=128"
)
for f in examples/*.attn; do
  wanted decode && selected "$f" && ! selects "$f" && ! branched "$f" || continue
  for shape in "${decode_shapes[@]}"; do
    expect=pass
    # document's ids have shape [N]; block_sparse's map [H, ?, ?] takes 300
    # for `?`, fewer than 65536 / 128 key blocks: both must fail as reads
    # out of bounds (the CPU kernel agrees).
    case "$f:$shape" in
      *document*) [[ $shape == *N=4,M=4,* ]] || expect=oob;;
      *block_sparse*M=65536*) expect=oob;;
    esac
    out=$("$bin/attnc" run "$f" --target=gpu --check --shape "$shape" --seed $RANDOM 2>&1)
    rc=$?
    if [ $expect = pass ] && [ $rc -eq 0 ]; then pass=$((pass+1))
    elif [ $expect = oob ] && [ $rc -ne 0 ] && echo "$out" | grep -q "read out of bounds"; then pass=$((pass+1))
    else fail=$((fail+1)); echo "FAIL decode $f $shape (expected: $expect)"; echo "$out" | tail -4; fi
  done
  # split_kv at prefill sizes too (block maps and windows over many splits).
  out=$("$bin/attnc" run "$f" --target=gpu --check --family=split_kv --strided --ids 6 --shape B=1,H=2,N=300,M=300,D=64 2>&1)
  if [ $? -eq 0 ]; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL split_kv $f N=M=300"; echo "$out" | tail -4; fi
done
# A paged KV cache (--paged: shuffled pages, random lengths in 1..M, keys
# past them and unused pages NaN): split_kv at decode shapes and sm80_mma
# at a prefill one, pages of 16 (tiles straddle them: rows gathered), 64
# and 256 (whole tiles per page), GQA 1 and 4, N = 1 and 4.
paged_shapes=(
  "B=3,H=8,Hkv=2,N=1,M=4099,D=128"
  "B=2,H=4,N=4,M=1000,D=64"
  "B=4,H=16,Hkv=4,N=1,M=20000,D=128"
)
for f in examples/*.attn; do
  wanted paged && selected "$f" && ! selects "$f" && ! branched "$f" || continue
  case "$f" in *document*|*block_sparse*) continue;; esac # params sized by N or ? (see decode)
  for page in 16 64 256; do
    for shape in "${paged_shapes[@]}"; do
      out=$("$bin/attnc" run "$f" --target=gpu --check --paged=$page --shape "$shape" --seed $RANDOM 2>&1)
      if [ $? -eq 0 ]; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL paged=$page $f $shape"; echo "$out" | tail -4; fi
    done
    out=$("$bin/attnc" run "$f" --target=gpu --check --family=sm80_mma --paged=$page --shape B=2,H=4,Hkv=2,N=200,M=512,D=64 2>&1)
    if [ $? -eq 0 ]; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAIL paged=$page sm80_mma $f"; echo "$out" | tail -4; fi
  done
done
echo "reference checks: $pass passed, $fail failed"

sanitized=0
if wanted memcheck && command -v compute-sanitizer >/dev/null; then
  for run in document:64 alibi_causal:64 block_sparse:64 gated_output:64 relative_bias:64 causal:128 dense:128 moba:128 \
             differential:128; do
    f=examples/${run%:*}.attn d=${run#*:}
    selected "$f" || continue
    # document: M = N (its ids have shape [N]); the others with M != N, so
    # that the last key tile is partial (rows past M are zero-filled).
    m=333; case $f in *document*) m=200;; esac
    for extra in "" "--family=sm80_mma" "--family=split_kv"; do
      { selects "$f" || branched "$f"; } && [ "$extra" = --family=split_kv ] && continue
      if compute-sanitizer --tool memcheck --error-exitcode 9 \
          "$bin/attnc" run "$f" --target=gpu --check --shape B=1,H=2,Hkv=1,N=200,M=$m,D=$d $extra >/tmp/san.log 2>&1; then
        sanitized=$((sanitized+1))
      else
        fail=$((fail+1)); echo "MEMCHECK FAIL $f $extra"; tail -20 /tmp/san.log
      fi
    done
  done
  # The backward's kernels in both families (the deterministic turns too),
  # memcheck and, for sm80_mma's shared-memory handoffs, racecheck. Not
  # racecheck on sm90_wgmma's: it reports the copy engine's writes of a
  # slot's lse and delta (cp.async.bulk) as racing with the consumers'
  # reads of that slot two tiles before, which the slot's `empty` mbarrier
  # orders (it does not follow mbarrier ordering of the copy engine's
  # writes; the forward, whose copied tiles only wgmma reads, is clean).
  for run in causal:128 alibi_causal:64 document:64 gated_output:128; do
    f=examples/${run%:*}.attn d=${run#*:}
    selected "$f" || continue
    m=333; case $f in *document*) m=200;; esac
    for extra in "" "--family=sm80_mma" "--deterministic"; do
      for tool in memcheck racecheck; do
        [ $tool = racecheck ] && { [ "$extra" != --family=sm80_mma ] || { [ "$run" != causal:128 ] && [ "$run" != gated_output:128 ]; }; } && continue
        if compute-sanitizer --tool $tool --error-exitcode 9 \
            "$bin/attnc" run "$f" --target=gpu --backward --check --shape B=1,H=2,Hkv=1,N=200,M=$m,D=$d $extra >/tmp/san.log 2>&1; then
          sanitized=$((sanitized+1))
        else
          fail=$((fail+1)); echo "${tool^^} FAIL backward $f $extra"; tail -20 /tmp/san.log
        fi
      done
    done
  done
  # The selection kernel's shared-memory lists and bits, racecheck.
  for extra in "" "--family=sm80_mma"; do
    selected examples/moba.attn || continue
    if compute-sanitizer --tool racecheck --error-exitcode 9 "$bin/attnc" run examples/moba.attn --target=gpu --check \
        --shape B=1,H=2,Hkv=1,N=200,M=333,D=64 $extra >/tmp/san.log 2>&1; then
      sanitized=$((sanitized+1))
    else
      fail=$((fail+1)); echo "RACECHECK FAIL moba $extra"; tail -20 /tmp/san.log
    fi
  done
  echo "compute-sanitizer memcheck and racecheck: $sanitized clean"
fi
# The Hopper family's cubin runs the tensor cores' and the copy engine's own
# instructions (HGMMA, UTMALDG); the mma.sync family's runs HMMA.
cuobjdump=$(command -v cuobjdump || echo /usr/local/cuda/bin/cuobjdump)
if ! wanted sass; then
  echo "SASS checks: not in PARTS"
elif [ -x "$cuobjdump" ]; then
  sass=$(mktemp -d)
  for fam in sm90_wgmma sm80_mma; do
    "$bin/attnc" examples/causal.attn --target=sm_90a --family=$fam --head-dim=128 --emit=cubin -o "$sass/$fam.cubin" &&
      "$cuobjdump" --dump-sass "$sass/$fam.cubin" > "$sass/$fam.sass" || { fail=$((fail+1)); echo "SASS FAIL $fam: no cubin"; }
  done
  if grep -q 'HGMMA' "$sass/sm90_wgmma.sass" && grep -q 'UTMALDG' "$sass/sm90_wgmma.sass" &&
     grep -q 'HMMA' "$sass/sm80_mma.sass" && ! grep -q 'HGMMA' "$sass/sm80_mma.sass"; then
    echo "SASS checks: sm90_wgmma has HGMMA and UTMALDG, sm80_mma HMMA"
  else
    fail=$((fail+1)); echo "SASS FAIL: $(grep -c HGMMA "$sass/sm90_wgmma.sass") HGMMA, $(grep -c UTMALDG "$sass/sm90_wgmma.sass") UTMALDG in sm90_wgmma"
  fi
else
  echo "SASS checks: skipped (no cuobjdump here)"
fi
if ! wanted aot; then
  echo "AOT entry points: not in PARTS"
elif command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; then
  test/gpu/aot_check.sh "$bin" || fail=$((fail+1))
else
  echo "AOT entry points: skipped (no nvcc here)"
fi
if ! wanted flex; then
  echo "flex_attention comparisons: not in PARTS"
elif python3 -c "import torch" 2>/dev/null; then
  python3 test/gpu/flex_check.py "$bin" || fail=$((fail+1))
else
  echo "flex_attention comparisons: skipped (no PyTorch here)"
fi
[ $fail -eq 0 ]
