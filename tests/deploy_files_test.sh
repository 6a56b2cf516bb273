#!/usr/bin/env bash
# deploy/: `systemd-analyze verify` accepts both systemd units with nothing to say (a warning
# such as an unknown key fails the test), the server's stop timeout outlasts the drain grace its
# env file sets, the env files set only known settings, and promtool accepts the example
# Prometheus config and alert rules. The units name the installed binaries; the copies checked here name the
# built ones (verify wants ExecStart to exist). Usage: deploy_files_test.sh SOURCE_ROOT BIN_DIR
set -euo pipefail
src=$(cd "$1" && pwd)
bin=$(cd "$2" && pwd)
tmp=$(mktemp -d /tmp/pwgrid-units-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
command -v systemd-analyze >/dev/null || fail "systemd-analyze is missing (apt-get install systemd)"
for unit in pwgrid-server.service pwgrid-worker@.service; do
  grep -q '^ExecStart=/usr/local/bin/' "$src/deploy/systemd/$unit" || fail "$unit: ExecStart"
  sed -e "s|/usr/local/bin/|$bin/|" -e "s|^EnvironmentFile=/etc/pwgrid/server.env|EnvironmentFile=$src/deploy/systemd/pwgrid-server.env|" \
      -e "s|^EnvironmentFile=/etc/pwgrid/worker.env|EnvironmentFile=$src/deploy/systemd/pwgrid-worker.env|" \
      "$src/deploy/systemd/$unit" > "$tmp/${unit/@./@3131.}"
done
out=$(cd "$tmp" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no \
        pwgrid-server.service pwgrid-worker@3131.service 2>&1) || { echo "$out"; fail "verify"; }
# Lines about these units are findings; anything about the host's own units is not ours.
if grep -E "pwgrid-(server|worker)" <<<"$out"; then fail "systemd-analyze verify has findings"; fi
stop=$(sed -n 's/^TimeoutStopSec=//p' "$src/deploy/systemd/pwgrid-server.service")
grace=$(sed -n 's/^SHUTDOWN_GRACE_PERIOD=//p' "$src/deploy/systemd/pwgrid-server.env")
[ "$stop" -gt "$grace" ] || fail "TimeoutStopSec=$stop does not outlast SHUTDOWN_GRACE_PERIOD=$grace"
# The env files hold only settings the binaries accept.
for pair in "pwgrid-server:pwgrid-server.env" "pwgrid-worker:pwgrid-worker.env"; do
  binary=${pair%%:*}; env=${pair#*:}
  help=$("$bin/$binary" --help 2>&1 || true)
  while IFS= read -r name; do
    grep -qE "(^| |\()${name}(\)|$| )" <<<"$help" || fail "$env sets $name, which $binary does not know"
  done < <(sed -nE 's/^#?([A-Z_]+)=.*/\1/p' "$src/deploy/systemd/$env")
done
command -v promtool >/dev/null || fail "promtool is missing (apt-get install prometheus)"
promtool check config "$src/deploy/prometheus/prometheus.yml" || fail "promtool check config"
promtool check rules "$src/deploy/prometheus/pwgrid-alerts.yml" || fail "promtool check rules"
echo "deploy files verified"
