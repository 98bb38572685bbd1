#!/usr/bin/env bash
# The main job: builds attnc, then compiles the ALiBi + causal example for the
# CPU, runs it on random inputs, checks it against the float64 reference and
# times it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
example=examples/alibi_causal.attn
echo "== $example"
cat "$example"
echo
echo "== attnc run $example --shape B=2,H=8,Hkv=2,N=1000,D=64 --check --bench"
build/bin/attnc run "$example" --shape B=2,H=8,Hkv=2,N=1000,D=64 --check --bench
