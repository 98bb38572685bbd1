#!/usr/bin/env bash
# Profile attnc's GPU kernels on the lent GPU: the SASS of each variant's
# kernel (cuobjdump), Nsight Compute's full set for one launch at N = 16384,
# and its per-instruction source page (stall samples per SASS line).
#
# usage (on a machine with a GPU, cuobjdump and ncu, from the project root):
#   [SHAPE=B=4,H=16,N=4096,D=128] bench/gpu/profile.sh BIN_DIR OUT_DIR [VARIANT.attn ...]
# writes OUT_DIR/profile.tar.gz holding NAME.sass, NAME.details.txt and
# NAME.source.csv per variant.
set -uo pipefail
bin=${1:?usage: bench/gpu/profile.sh BIN_DIR OUT_DIR [VARIANT.attn ...]}
out=${2:?usage: bench/gpu/profile.sh BIN_DIR OUT_DIR [VARIANT.attn ...]}
shift 2
variants=("$@")
[ ${#variants[@]} -eq 0 ] && variants=(examples/dense.attn examples/causal.attn)
work=$(mktemp -d)
export ATTNC_CACHE_DIR=$work/cache
for f in "${variants[@]}"; do
  name=$(basename "$f" .attn)
  "$bin/attnc" "$f" --target=sm_90a --head-dim=128 --dtype=bf16 --emit=cubin -o "$work/$name.cubin" &&
    cuobjdump -sass "$work/$name.cubin" > "$work/$name.sass"
  ncu --set full --import-source no -k regex:_kernel --launch-skip 1 --launch-count 1 \
      -o "$work/$name" "$bin/attnc" run "$f" --target=gpu --bench --repeats 3 --ids 64 \
      --shape "${SHAPE:-B=1,H=16,N=16384,D=128}" > "$work/$name.ncu.log" 2>&1
  ncu --import "$work/$name.ncu-rep" --page details > "$work/$name.details.txt" 2>&1
  ncu --import "$work/$name.ncu-rep" --page source --csv --print-source sass > "$work/$name.source.csv" 2>&1
  grep -E "Duration|Registers Per|Achieved Occupancy|Local|Warp Cycles Per Issued|Issue Slots Busy|Bank" "$work/$name.details.txt" | head -20
done
tar -C "$work" -czf "$out/profile.tar.gz" $(cd "$work" && ls *.sass *.txt *.csv *.log 2>/dev/null)
