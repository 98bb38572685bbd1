#!/usr/bin/env bash
# A/B timing: every attnc* binary in BIN_DIR (builds of different template
# or schedule versions) on a few variants (examples by name, or .attn files)
# at both bench shapes, in one call.
# With ROUNDS > 1 the whole sweep repeats, so that every build is timed
# again minutes later (the spread between rounds is the noise to beat);
# each line lists a build's medians, round by round. To time options of one
# build, fill BIN_DIR with wrapper scripts instead, e.g. attnc-kv64 holding
# `exec /path/to/attnc "$@" --tile-kv 64`.
#
# usage (on the GPU machine, from the project root, bundle carried):
#   [VARIANTS="dense causal path/to/x.attn"] [SHAPES="B=4,H=16,N=4096,D=64"] [ROUNDS=2] bench/gpu/ab.sh BIN_DIR
set -uo pipefail
bin=${1:?usage: bench/gpu/ab.sh BIN_DIR}
export ATTNC_CACHE_DIR=${ATTNC_CACHE_DIR:-$(mktemp -d)}
declare -A times
keys=()
for ((round = 0; round < ${ROUNDS:-1}; ++round)); do
  for v in ${VARIANTS:-dense causal sliding_window document prefix_lm}; do
    file=examples/$v.attn
    [[ $v == *.attn ]] && file=$v v=$(basename "$v" .attn)
    for shape in ${SHAPES:-B=4,H=16,N=4096,D=128 B=1,H=16,N=16384,D=128}; do
      for b in "$bin"/attnc*; do
        ms=$("$b" run "$file" --target=gpu --bench --repeats 30 --ids 64 --shape $shape 2>&1 | sed -n 's/.*bench: median \([0-9.]*\) ms.*/\1/p')
        key="$v $shape $(basename "$b")"
        [[ -v times[$key] ]] || keys+=("$key")
        times[$key]="${times[$key]:-}${times[$key]:+,}$ms"
        echo "round $round: $key $ms" >&2 # kept if the call runs out of time
      done
    done
  done
done
for key in "${keys[@]}"; do
  echo "$key=${times[$key]}"
done
