#!/usr/bin/env bash
# The install story, end to end: configure pwgrid into a temporary prefix, `meson install`, then
#  1. build a consumer through `pkg-config pwgrid pwgrid-testing` and run it (one message through
#     a relay with the in-memory registry and a FakeWorker);
#  2. build the same consumer as a meson project with pwgrid as a subproject (fallback), run it;
#  3. start the installed pwgrid-server with no flags but a free SERVER_PORT and one worker: it
#     must find its launcher and playwright-core under the prefix and serve a real session.
# Usage: install_test.sh SOURCE_ROOT. Everything it starts and writes is removed on exit.
set -euo pipefail
src=$(cd "$1" && pwd)
tmp=$(mktemp -d /tmp/pwgrid-install-XXXXXX)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"; wait "$server_pid" || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

prefix="$tmp/prefix"
echo "== configure, build and install into $prefix"
meson setup "$tmp/build" "$src" --prefix="$prefix" --wrap-mode=nodownload --buildtype=release \
  -Dtests=disabled -Dexamples=disabled -Dserver=enabled -Dtesting_lib=enabled >"$tmp/setup.log" \
  || { cat "$tmp/setup.log"; fail "meson setup"; }
ninja -C "$tmp/build" >"$tmp/build.log" || { tail -30 "$tmp/build.log"; fail "build"; }
meson install -C "$tmp/build" --quiet >"$tmp/install.log" || { cat "$tmp/install.log"; fail "install"; }
libdir=$(dirname "$(find "$prefix" -name 'libpwgrid.so' | head -1)")
[ -d "$libdir" ] || fail "libpwgrid.so not installed"
for f in include/pwgrid/pwgrid.h include/pwgrid/version.h include/pwgrid/testing/fake_worker.h \
         share/pwgrid/browser_launcher.mjs share/pwgrid/node_modules/playwright-core/package.json \
         bin/pwgrid-server bin/pwgrid-worker; do
  [ -e "$prefix/$f" ] || fail "$f not installed"
done
[ ! -e "$prefix/include/pwgrid/meson.build" ] || fail "include/pwgrid/meson.build installed"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
pkg-config --exists pwgrid pwgrid-testing || fail "pkg-config cannot find pwgrid and pwgrid-testing"
pkg-config --print-requires pwgrid | grep -q '^hiredis' || fail "pwgrid.pc does not require hiredis"
pkg-config --print-requires pwgrid | grep -q '^absl_status' || fail "pwgrid.pc does not require Abseil"

echo "== consumer through pkg-config"
# shellcheck disable=SC2046
c++ -std=c++20 -o "$tmp/consumer-pc" "$src/tests/install/consumer/main.cc" \
  $(pkg-config --cflags --libs pwgrid pwgrid-testing) -Wl,-rpath,"$libdir" \
  || fail "consumer does not build against the installed pwgrid"
"$tmp/consumer-pc" || fail "consumer (pkg-config) did not pass a message through the relay"

echo "== consumer with pwgrid as a meson subproject"
cp -r "$src/tests/install/consumer" "$tmp/consumer"
mkdir -p "$tmp/consumer/subprojects"
ln -s "$src" "$tmp/consumer/subprojects/pwgrid"
ln -s "$src/subprojects/asio" "$tmp/consumer/subprojects/asio"  # pwgrid's own subproject
PKG_CONFIG_PATH="" meson setup "$tmp/consumer-build" "$tmp/consumer" --wrap-mode=nodownload \
  --force-fallback-for=pwgrid,pwgrid-testing -Dpwgrid:tests=disabled -Dpwgrid:server=disabled \
  -Dpwgrid:examples=disabled >"$tmp/consumer-setup.log" \
  || { cat "$tmp/consumer-setup.log"; fail "consumer meson setup"; }
ninja -C "$tmp/consumer-build" >"$tmp/consumer-build.log" \
  || { tail -30 "$tmp/consumer-build.log"; fail "consumer build (subproject)"; }
"$tmp/consumer-build/consumer" || fail "consumer (subproject) did not pass a message through the relay"

echo "== installed pwgrid-server, embedded grid"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
env -u PWGRID_LAUNCHER SERVER_HOST=127.0.0.1 SERVER_PORT="$port" LOCAL_WORKERS=1 SPARE_BROWSERS=0 \
  "$prefix/bin/pwgrid-server" >"$tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 600); do
  grep -q "Grid ready" "$tmp/server.log" && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$tmp/server.log"; fail "installed pwgrid-server exited"; }
  sleep 0.1
done
grep -q "Grid ready" "$tmp/server.log" || { cat "$tmp/server.log"; fail "installed pwgrid-server not ready in 60 s"; }
title=$(cd "$src" && node tests/install/client.mjs "ws://127.0.0.1:$port/?browser=chromium") \
  || { cat "$tmp/server.log"; fail "no session through the installed pwgrid-server"; }
[ "$title" = "installed pwgrid" ] || fail "unexpected page title: $title"
kill -TERM "$server_pid"
wait "$server_pid" || fail "installed pwgrid-server did not exit 0 on SIGTERM"
server_pid=""
echo "install story: OK"
