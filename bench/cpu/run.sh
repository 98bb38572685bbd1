#!/usr/bin/env bash
# The CPU benchmark: dense, causal, sliding window 1024 and document masking
# (random contiguous documents) at B=1, H=16, N=M=4096, D=128, in f32 and
# bf16, next to this machine's fp32 GEMM throughput measured in the same run.
# GFLOP/s count kept pairs only: 4 * D flops per kept (query, key) pair.
#
#   bench/cpu/run.sh [SHAPE] [REPEATS]     (default B=1,H=16,N=4096,D=128 and 3)
set -euo pipefail
cd "$(dirname "$0")/../.."
shape=${1:-B=1,H=16,N=4096,D=128}
repeats=${2:-3}
scripts/build.sh >/dev/null
if ! dpkg-query -W -f='${Status}' libopenblas-dev 2>/dev/null | grep -q "ok installed"; then
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get install -y -qq libopenblas-dev >/dev/null
fi
mkdir -p build/bench
g++ -O3 -march=native -o build/bench/gemm bench/cpu/gemm.cpp -lopenblas
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
gemm=$(build/bench/gemm 2048)
echo "$gemm"
peak=$(echo "$gemm" | sed -E 's/.*: ([0-9.]+) GFLOP.*/\1/')
printf "%-24s %-5s %10s %12s %10s %12s\n" variant dtype ms GFLOP/s "% GEMM" kept%
for dtype in f32 bf16; do
  for example in dense causal sliding_window document; do
    out=$(build/bin/attnc run "examples/$example.attn" --shape "$shape" --dtype=$dtype \
          --bench --repeats="$repeats")
    ms=$(echo "$out" | sed -nE 's/bench: median ([0-9.]+) ms.*/\1/p')
    rate=$(echo "$out" | sed -nE 's/.* ([0-9.]+) GFLOP\/s.*/\1/p')
    kept=$(echo "$out" | sed -nE 's/kept pairs: .*\(([0-9.]+)%\)/\1/p')
    printf "%-24s %-5s %10s %12s %10.1f %12s\n" "$example" "$dtype" "$ms" "$rate" \
      "$(echo "100 * $rate / $peak" | bc -l)" "$kept"
  done
done
