#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz with clang, ASan and UBSan (the library compiled
# with coverage for the fuzzer too) in a scratch build directory, and runs each one for a bounded
# number of executions from a copy of its committed seed corpus (tests/fuzz/corpus/<harness>).
# Any crash, leak, sanitizer finding or broken invariant fails the test. Prints one line per
# harness: executions, coverage (edges), features and corpus size.
# The seed is fixed (1) so that a run is repeatable; PWGRID_FUZZ_SEED=0 lets libFuzzer pick one,
# PWGRID_FUZZ_RUNS and PWGRID_FUZZ_SECONDS (per harness) explore longer.
# Usage: fuzz.sh SOURCE_ROOT [RUNS]
set -euo pipefail
src=$(cd "$1" && pwd)
runs=${2:-${PWGRID_FUZZ_RUNS:-100000}}
seed=${PWGRID_FUZZ_SEED:-1}
seconds=${PWGRID_FUZZ_SECONDS:-240}
work=$(mktemp -d /tmp/pwgrid-fuzz-XXXXXX)
trap 'rm -rf "$work"' EXIT
build="$work/build"
CC=clang CXX=clang++ meson setup "$build" "$src" --wrap-mode=nodownload --buildtype=debugoptimized \
  -Db_sanitize=address,undefined -Db_lundef=false -Dfuzzers=enabled -Dserver=disabled \
  -Dexamples=disabled -Dtests=disabled -Dtesting_lib=disabled \
  -Dcpp_args="-fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined" \
  >"$work/setup.log" 2>&1 || { cat "$work/setup.log"; exit 1; }
ninja -C "$build" >"$work/ninja.log" 2>&1 || { grep -E "error" -A3 "$work/ninja.log" | head -60; exit 1; }
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=0
for seeds in "$src"/tests/fuzz/corpus/*/; do
  name=$(basename "$seeds")
  corpus="$work/corpus-$name"
  cp -r "$seeds" "$corpus"
  log="$work/$name.log"
  if "$build/tests/fuzz/$name" -runs="$runs" -max_len=8192 -max_total_time="$seconds" -timeout=10 -seed="$seed" \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/finding-$name-" \
      "$corpus" >"$log" 2>&1; then
    done_line=$(grep -E '^#[0-9]+.*DONE' "$log" | tail -1 || true)
    [ -n "$done_line" ] || done_line=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    echo "$name: $done_line"
  else
    echo "$name: FAILED"
    tail -60 "$log"
    # The input that failed, kept for reproducing: <harness> <file>.
    mkdir -p "$src/.cache/fuzz-findings"
    cp "$work"/finding-"$name"-* "$src/.cache/fuzz-findings/" 2>/dev/null || true
    failed=1
  fi
done
[ $failed -eq 0 ] && echo "fuzzing: no finding"
exit $failed
