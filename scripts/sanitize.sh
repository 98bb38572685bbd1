#!/usr/bin/env bash
# attnc under ASan + UBSan. `scripts/sanitize.sh build DIR` configures DIR
# (default build/asan) with clang-22 and builds what the suites run; `unit`
# and `lit` run the Catch2 tests and the lit suite on DIR's binaries, `fuzz`
# the coverage-guided pipeline fuzzer (test/fuzz/PipelineLibFuzzer.cpp). Any
# sanitizer report aborts the process, which fails the test (an abort, not
# an exit code, so that `not attnc ...` cannot pass on one). Libraries from
# LLVM and MLIR and JIT'd kernels are not instrumented.
set -euo pipefail
cd "$(dirname "$0")/.."
step=${1:?usage: sanitize.sh build|unit|lit|fuzz [DIR] [SECONDS]}
out=${2:-$PWD/build/asan}
supp=$PWD/test/sanitize
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1:check_initialization_order=1:detect_stack_use_after_return=1
export UBSAN_OPTIONS=abort_on_error=1:print_stacktrace=1:suppressions=$supp/ubsan.supp
export LSAN_OPTIONS=suppressions=$supp/lsan.supp
export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-22/bin/llvm-symbolizer

case $step in
build)
  scripts/setup-deps.sh
  if [ ! -f "$out/build.ninja" ]; then
    # -O1 with line tables: quick to build, readable reports; NDEBUG as in
    # LLVM's own build, whose headers it must match.
    CC=clang-22 CXX=clang++-22 cmake -G Ninja -S . -B "$out" \
      -DCMAKE_BUILD_TYPE=Release -DATTNC_SANITIZE=address,undefined,fuzzer-no-link \
      -DCMAKE_CXX_FLAGS_RELEASE="-O1 -gline-tables-only -DNDEBUG" \
      -DCMAKE_C_FLAGS_RELEASE="-O1 -gline-tables-only -DNDEBUG" >/dev/null
  fi
  ninja -C "$out" attnc attn-opt attn-translate attn-unit-tests attnc-example-alibi \
    attn-pipeline-libfuzzer
  ;;
unit)
  ATTNC_CACHE_DIR=$out/kernel-cache "$out/bin/attn-unit-tests"
  ;;
lit)
  /usr/lib/llvm-22/bin/lit -sv "$out/test/lit"
  ;;
fuzz)
  # The coverage-guided pipeline fuzzer for SECONDS (third argument,
  # default 60) from the seeds in test/fuzz/pipeline-seeds; a finding
  # leaves its input in DIR/fuzz-findings.
  seconds=${3:-60}
  mkdir -p "$out/fuzz-corpus" "$out/fuzz-findings"
  "$out/bin/attn-pipeline-libfuzzer" "$out/fuzz-corpus" \
    "$PWD/test/fuzz/pipeline-seeds" -max_total_time="$seconds" -max_len=256 \
    -timeout=120 -rss_limit_mb=6144 -print_final_stats=1 \
    -artifact_prefix="$out/fuzz-findings/" >"$out/fuzz.log" 2>&1 || {
    tail -60 "$out/fuzz.log"
    echo "sanitize fuzz: FAILED (full log: $out/fuzz.log)"
    exit 1
  }
  grep -E "stat::number_of_executed_units|cov:" "$out/fuzz.log" | tail -2
  echo "sanitize fuzz: clean after ${seconds}s"
  ;;
*)
  echo "sanitize.sh: unknown step '$step'" >&2
  exit 2
  ;;
esac
