#!/usr/bin/env bash
# A/B timing: every attnc* binary in BIN_DIR (builds of different template
# or schedule versions) on a few variants at both bench shapes, in one call.
#
# usage (on the GPU machine, from the project root, bundle carried):
#   [VARIANTS="dense causal"] bench/gpu/ab.sh BIN_DIR
set -uo pipefail
bin=${1:?usage: bench/gpu/ab.sh BIN_DIR}
export ATTNC_CACHE_DIR=${ATTNC_CACHE_DIR:-$(mktemp -d)}
for v in ${VARIANTS:-dense causal sliding_window document prefix_lm}; do
  for shape in B=4,H=16,N=4096,D=128 B=1,H=16,N=16384,D=128; do
    line="$v $shape"
    for b in "$bin"/attnc*; do
      ms=$("$b" run examples/$v.attn --target=gpu --bench --repeats 30 --ids 64 --shape $shape 2>&1 | sed -n 's/.*bench: median \([0-9.]*\) ms.*/\1/p')
      line="$line $(basename "$b")=$ms"
    done
    echo "$line"
  done
done
