#!/usr/bin/env bash
# The benchmark suite: installs what is missing (as scripts/setup.sh), makes a release build in
# ./build-release, starts every component on 127.0.0.1, runs every measurement (3 runs each),
# stops everything and writes bench/RESULTS.md. Takes 15 to 30 minutes on a 2-core machine.
# Arguments go to bench/run.py (e.g. --runs 5, --only relay,connect, --out other.md).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if [ ! -f build-release/build.ninja ]; then
  meson setup build-release --wrap-mode=nodownload --buildtype=release -Db_ndebug=true
fi
ninja -C build-release
exec python3 bench/run.py --build build-release "$@"
