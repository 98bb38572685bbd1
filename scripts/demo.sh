#!/usr/bin/env bash
# The main job: builds attnc, then compiles the ALiBi + causal example from the
# DSL and prints the cascade and the fused attn.flash.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
example=examples/alibi_causal.attn
echo "== $example"
cat "$example"
echo "== attnc $example  (the cascade)"
build/bin/attnc "$example"
echo "== attnc $example --emit=fused --dtype=bf16 --head-dim=128"
build/bin/attnc "$example" --emit=fused --dtype=bf16 --head-dim=128
