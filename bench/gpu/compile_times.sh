#!/usr/bin/env bash
# Cold JIT cost per variant, on this machine's CPU (NVRTC only: no GPU
# needed): for every example and head dim, the whole `attnc FILE --emit=cubin`
# process (DSL, MLIR pipeline, CUDA emission, NVRTC, ptxas), best of ROUNDS,
# and, from that run (ATTNC_NVRTC_VERBOSE=1), NVRTC's own phases and the
# forward kernel's registers and spills. --emit=cubin compiles a variant's
# kernels (the forward one, and the block map's where there is one) as one
# program; the JIT compiles them as two, in parallel.
#
# usage (from the project root):
#   [ROUNDS=3] [DIMS="128 64"] [TARGET=sm_90a] bench/gpu/compile_times.sh [BIN_DIR] [FILE.attn ...]
set -uo pipefail
bin=${1:-build/bin}
shift || true
files=("$@")
[ ${#files[@]} -eq 0 ] && files=(examples/*.attn bench/gpu/variants/*.attn)
rounds=${ROUNDS:-3}
echo "| variant | D | cold ms (best of $rounds) | front end ms | NVVM ms | PTX + ptxas ms | registers | spill stores |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for f in "${files[@]}"; do
  for d in ${DIMS:-128 64}; do
    best= log=
    for ((r = 0; r < rounds; ++r)); do
      start=$(date +%s%N)
      out=$(ATTNC_NVRTC_VERBOSE=1 "$bin/attnc" "$f" --head-dim="$d" --target="${TARGET:-sm_90a}" \
            --emit=cubin -o /dev/null 2>&1 | tr -d '\000')
      status=$?
      ms=$(( ($(date +%s%N) - start) / 1000000 ))
      [ $status -ne 0 ] && { echo "FAILED $f D=$d:"; echo "$out" | tail -3; continue 2; }
      if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms log=$out; fi
    done
    phase() { echo "$log" | grep "$1" | tail -1 | awk -F, '{gsub(/ /, "", $3); print $3}'; }
    # ptxas reports the forward kernel last.
    regs=$(echo "$log" | grep -o "Used [0-9]* registers" | tail -1 | awk '{print $2}')
    spills=$(echo "$log" | grep -o "[0-9]* bytes spill stores" | tail -1 | awk '{print $1}')
    echo "| $(basename "$f" .attn) | $d | $best | $(phase "CUDA C++ Frontend") | $(phase "NVVM Optimizer") | $(phase "PTX Translation") | $regs | $spills |"
  done
done
