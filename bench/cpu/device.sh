#!/usr/bin/env bash
# On the lent GPU machine's CPU: attnc's CPU kernels next to PyTorch's CPU
# scaled_dot_product_attention, same shapes, same run, all cores.
# Carry .device (../shared/tools/device-bundle build/bin) and run from the
# repository root:   source .device/env.sh && bench/cpu/device.sh
set -uo pipefail
threads=$(nproc)
echo "machine: $threads cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
python3 bench/cpu/torch_sdpa.py 3
for dtype in f32 bf16; do
  for example in dense causal sliding_window document; do
    out=$(attnc run "examples/$example.attn" --shape B=1,H=16,N=4096,D=128 \
          --dtype=$dtype --bench --repeats=3 --threads="$threads" 2>&1)
    ms=$(echo "$out" | sed -nE 's/bench: median ([0-9.]+) ms.*/\1/p')
    rate=$(echo "$out" | sed -nE 's/.* ([0-9.]+) GFLOP\/s.*/\1/p')
    printf "attnc %-16s %-9s %10s ms %10s GFLOP/s\n" "$example" "$dtype" "$ms" "$rate"
    [ -n "$ms" ] || echo "$out"
  done
done
