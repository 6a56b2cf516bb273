#!/usr/bin/env bash
# Installs what pwgrid needs on Debian 12 (when missing), installs the pinned playwright-core,
# and builds into ./build: everything, or only the ninja targets given as arguments
# (scripts/run-grid.sh builds only pwgrid-server). Safe to re-run. Run as root (or with sudo
# available) on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(build-essential pkg-config cmake meson ninja-build libasio-dev libwebsocketpp-dev
          libhiredis-dev libabsl-dev doctest-dev redis-server chromium nodejs npm python3
          nginx-light clang clang-format prometheus-cpp-dev prometheus systemd liburing-dev)
          # nginx: the benchmarks' reference (bench/run.py, smoke test in CI); liburing: the
          # io_uring relay the benchmarks compare with (bench/uring_relay.cc); clang:
          # -Wthread-safety and the format check (scripts/ci); prometheus: the scraper the
          # operations test starts (and promtool); systemd: systemd-analyze verify of deploy/
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# A preinstalled Node.js (>= 20, not from apt) satisfies nodejs and npm.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  missing=("${missing[@]/nodejs}")
  missing=("${missing[@]/npm}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "setup: playwright-core needs Node.js >= 20, found $(node --version)" >&2
  exit 1
fi

# The exact playwright-core version pinned in package-lock.json (no browser download: the
# launcher uses Debian's /usr/bin/chromium).
if ! cmp -s package-lock.json node_modules/.package-lock.json 2>/dev/null &&
   ! node -e 'process.exit(require("./node_modules/playwright-core/package.json").version === require("./package-lock.json").packages["node_modules/playwright-core"].version ? 0 : 1)' 2>/dev/null; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
fi

# A second, older playwright-core for the tests of clients of another version (a worker refuses
# them with 428). Kept out of package-lock.json, in a prefix of its own.
SECOND_PLAYWRIGHT=1.64.1
second=.cache/playwright-second
if [ "$(node -p "try { require('./$second/node_modules/playwright-core/package.json').version } catch { '' }")" != "$SECOND_PLAYWRIGHT" ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$second" --no-save --no-package-lock \
    --no-audit --no-fund --loglevel=error "playwright-core@$SECOND_PLAYWRIGHT"
fi

if [ ! -f build/build.ninja ]; then
  meson setup build --wrap-mode=nodownload --buildtype=debugoptimized
fi
ninja -C build "$@"
