#!/usr/bin/env bash
# Builds the frontend fuzzer with clang-22 (ASan + UBSan + libFuzzer) and runs
# it for SECONDS (default 60, first argument) from a seed corpus of the examples, the standard
# library and the diagnostic tests. Fails on any crash, leak or sanitizer
# report, leaving the reproducer in the output folder (default build/fuzz/).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
root=$PWD
out=${2:-$root/build/fuzz} # second argument: where to build and run
mkdir -p "$out"
if [ ! -f "$out/build.ninja" ]; then
  CXX=clang++-22 cmake -G Ninja -S test/fuzz -B "$out" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
ninja -C "$out" >/dev/null

seeds=$out/seeds
rm -rf "$seeds" && mkdir -p "$seeds" "$out/corpus"
cp examples/*.attn lib/Frontend/stdlib.attn "$seeds"/
find test/lit/Frontend -name '*.attn' -exec cp {} "$seeds"/ \;

cd "$out"
"$out/attnc-frontend-fuzzer" "$out/corpus" "$seeds" \
  -dict="$root/test/fuzz/attn.dict" -max_total_time="$seconds" \
  -max_len=8192 -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
  > "$out/fuzz.log" 2>&1 || {
    tail -60 "$out/fuzz.log"
    echo "fuzz: FAILED (full log: $out/fuzz.log)"
    exit 1
  }
grep -E "stat::number_of_executed_units|cov:" "$out/fuzz.log" | tail -2
echo "fuzz: clean after ${seconds}s"
