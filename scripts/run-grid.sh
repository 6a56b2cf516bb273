#!/usr/bin/env bash
# Quick start: installs and builds what is missing, then runs pwgrid-server in embedded mode on
# 127.0.0.1:8080 with 2 local Chromium workers (no Redis). Ctrl-C stops it cleanly.
# Any pwgrid-server flag can be appended, e.g. --local-workers=4 (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cat <<'MSG'

pwgrid: starting an embedded grid with 2 Chromium workers.
Once "Starting proxy server" appears, connect any Playwright client to

    ws://127.0.0.1:8080/?browser=chromium

for example (Node, playwright-core 1.65):

    const { chromium } = require('playwright-core');
    const browser = await chromium.connect('ws://127.0.0.1:8080/?browser=chromium');
    const page = await browser.newPage();
    await page.goto('https://example.com');
    console.log(await page.title());
    await browser.close();

MSG
exec build/server/pwgrid-server --server-host=127.0.0.1 --server-port=8080 --local-workers=2 "$@"
