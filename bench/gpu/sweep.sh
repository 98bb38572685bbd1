#!/usr/bin/env bash
# Schedule sweep on the GPU: attnc's kernels at several (warps, tile_kv)
# choices, N = 16384, B = 1, H = 16, D = 128, bf16 (the numbers behind the
# defaults in AttnToCUDA and SelectSchedule; bench/RESULTS.md).
#
# usage (on a machine with a GPU, from the project root):
#   [CONFIGS="4 48;4 64"] bench/gpu/sweep.sh BIN_DIR [VARIANT.attn ...]
set -uo pipefail
bin=${1:?usage: bench/gpu/sweep.sh BIN_DIR [VARIANT.attn ...]}
shift
variants=("$@")
[ ${#variants[@]} -eq 0 ] && variants=(examples/dense.attn examples/causal.attn examples/document.attn examples/sliding_window.attn)
# CONFIGS="warps tile_kv [tile_q];..." overrides the configurations swept
# (tile_q: the default, 128 at head dim 128, when left out).
IFS=';' read -r -a configs <<< "${CONFIGS:-4 64;8 64;8 128}"
B=1 H=16 N=16384 D=128
export ATTNC_CACHE_DIR=${ATTNC_CACHE_DIR:-$(mktemp -d)}
printf "%-28s %6s %8s %6s %10s %16s\n" variant warps tile_kv tile_q ms "dense-equiv TF/s"
for f in "${variants[@]}"; do
  for c in "${configs[@]}"; do
    set -- $c
    out=$("$bin/attnc" run "$f" --target=gpu --bench --repeats 30 --ids 64 \
          --warps "$1" --tile-kv "$2" ${3:+--tile-q "$3"} --shape B=$B,H=$H,N=$N,D=$D 2>&1)
    ms=$(echo "$out" | sed -n 's/.*bench: median \([0-9.]*\) ms.*/\1/p')
    [ -z "$ms" ] && { echo "$f $c: $(echo "$out" | tail -2)"; continue; }
    # 4 B H N^2 D flops if every pair were kept: scale by the kept fraction.
    tflops=$(awk "BEGIN{print 4 * $B * $H * $N * $N * $D / ($ms * 1e-3) * 1e-12}")
    printf "%-28s %6s %8s %6s %10s %16.0f\n" "$(basename "$f" .attn)" "$1" "$2" "${3:-def}" "$ms" "$tflops"
  done
done
