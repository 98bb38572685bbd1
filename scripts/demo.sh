#!/usr/bin/env bash
# The main job: builds attnc, then fuses the ALiBi + causal example cascade into
# one attn.flash and prints the IR before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
example=examples/mlir/alibi_causal.mlir
echo "== the cascade ($example)"
build/bin/attn-opt "$example"
echo "== after --canonicalize --attn-fuse"
build/bin/attn-opt --canonicalize --attn-fuse "$example"
