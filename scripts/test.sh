#!/usr/bin/env bash
# Builds attnc and runs every test: lit + FileCheck (test/lit) and Catch2
# (test/unit), through ctest. Exits non-zero when any test fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
ctest --test-dir build --output-on-failure
