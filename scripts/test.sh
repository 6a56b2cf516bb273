#!/usr/bin/env bash
# Installs and builds what is missing, runs every test (unit, relay, end-to-end with real
# Chromium and playwright-core), and ends with one line "N passed, N failed".
# Exit status: 0 only when every test passed.
set -uo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }
meson test -C build --print-errorlogs --num-processes 2
status=$?
python3 scripts/summarize_tests.py build/meson-logs/testlog.json
summary=$?
[ $status -eq 0 ] && [ $summary -eq 0 ]
