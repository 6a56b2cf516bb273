// Clients of another Playwright version than the workers', with the real parts: pwgrid-server in
// embedded mode (workers on the pinned playwright-core 1.65) and a real 1.64 client.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';

import { startGrid, stopGrid } from './grid_harness.mjs';

const SECOND = process.env.PWGRID_SECOND_PLAYWRIGHT;
if (!SECOND) throw new Error('PWGRID_SECOND_PLAYWRIGHT (an older playwright-core) is not set');
const require = createRequire(import.meta.url);
const older = require(SECOND);
const olderVersion = require(`${SECOND}/package.json`).version;

let grid;
before(async () => { grid = await startGrid({ LOCAL_WORKERS: '1', SPARE_BROWSERS: '0' }); });
after(async () => { if (grid) await stopGrid(grid); });

test(`a ${olderVersion} client gets the worker's whole 428 answer`, async () => {
  assert.notEqual(olderVersion.split('.').slice(0, 2).join('.'), '1.65', 'the second version is another minor');
  const err = await older.chromium.connect(`ws://127.0.0.1:${grid.port}/`, { timeout: 20_000 }).then(
    () => null, (e) => e);
  assert.ok(err, 'the connect was refused');
  const message = err.message.split('Call log:')[0];
  assert.match(message, /428 Precondition Required/);
  assert.match(message, /Playwright version mismatch/);
  // The box's last lines: Playwright's body ends when the worker closes (no Content-Length).
  assert.match(message, /<3 Playwright Team/);
  assert.match(message, /╚═+╝/);
  const m = await (await fetch(`http://127.0.0.1:${grid.port}/metrics`)).json();
  assert.equal(m.activeConnections, 0);
});
