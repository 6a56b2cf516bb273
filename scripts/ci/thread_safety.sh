#!/usr/bin/env bash
# Compiles the library (and the testing library) with clang's -Wthread-safety as errors, so that
# every ABSL_GUARDED_BY / ABSL_EXCLUSIVE_LOCKS_REQUIRED annotation is checked.
# Usage: thread_safety.sh SOURCE_ROOT
set -euo pipefail
src=$(cd "$1" && pwd)
build=$(mktemp -d /tmp/pwgrid-tsa-XXXXXX)
trap 'rm -rf "$build"' EXIT
CC=clang CXX=clang++ meson setup "$build" "$src" --wrap-mode=nodownload -Dserver=disabled \
  -Dexamples=disabled -Dtests=disabled -Dtesting_lib=enabled \
  -Dcpp_args="-Wthread-safety -Werror=thread-safety" >"$build/setup.log" 2>&1 \
  || { cat "$build/setup.log"; exit 1; }
ninja -C "$build" >"$build/ninja.log" 2>&1 || { grep -E "error|warning" "$build/ninja.log" | head -50; exit 1; }
echo "-Wthread-safety: no finding"
