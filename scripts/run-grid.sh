#!/usr/bin/env bash
# Quick start: installs and builds what is missing, then runs pwgrid-server in embedded mode (no
# Redis) with local Chromium workers. Ctrl-C stops it cleanly.
#
# Configure it like pwgrid-server itself, with its environment variables (they are passed on
# unchanged) or flags appended to the command line (see `build/server/pwgrid-server --help`).
# Only where a variable is unset, this script picks the quick-start values: SERVER_HOST=127.0.0.1,
# SERVER_PORT=8080, LOCAL_WORKERS=2. Example: SERVER_PORT=18555 LOCAL_WORKERS=1 scripts/run-grid.sh
# PWGRID_SKIP_SETUP=1 skips the install and build step (the tests use it).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${PWGRID_SKIP_SETUP:-}" = 1 ] || scripts/setup.sh server/pwgrid-server
export SERVER_HOST="${SERVER_HOST:-127.0.0.1}"
export SERVER_PORT="${SERVER_PORT:-8080}"
export LOCAL_WORKERS="${LOCAL_WORKERS:-2}"
cat <<MSG

pwgrid: starting an embedded grid with $LOCAL_WORKERS Chromium worker(s) on $SERVER_HOST:$SERVER_PORT.
Wait for the server's ready line (it shows the URL), then connect any Playwright 1.65 client,
e.g. README.md's client.mjs. Stop the grid with Ctrl-C (or SIGTERM): open sessions get
SHUTDOWN_GRACE_PERIOD to finish, then the browsers are stopped.

MSG
exec build/server/pwgrid-server "$@"
