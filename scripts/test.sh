#!/usr/bin/env bash
# Builds attnc and runs every test through ctest: lit + FileCheck
# (test/lit), Catch2 (test/unit), the CUDA tile layouts (test/cuda), the
# libFuzzer run and the GPU suite (skipped without a GPU). Exits non-zero
# when any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
ctest --test-dir build --output-on-failure
