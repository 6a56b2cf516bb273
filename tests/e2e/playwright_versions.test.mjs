// One grid for two Playwright versions, with the real parts: pwgrid-server in embedded mode with
// local workers of the pinned playwright-core and of a second minor (LOCAL_PLAYWRIGHT_CORE_DIRS),
// real clients of both versions, real Chromium.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';

import {
  chromium, refusedConnect, session, startGrid, startPageServer, stopGrid,
} from './grid_harness.mjs';
import { waitFor } from './redis_harness.mjs';

const SECOND = process.env.PWGRID_SECOND_PLAYWRIGHT;
if (!SECOND) throw new Error('PWGRID_SECOND_PLAYWRIGHT (a second playwright-core) is not set');
const require = createRequire(import.meta.url);
const second = require(SECOND);
const secondVersion = require(`${SECOND}/package.json`).version;
const pinnedVersion = require('playwright-core/package.json').version;
const minor = (v) => v.split('.').slice(0, 2).join('.');

let pages;
let pageUrl;
before(async () => {
  assert.notEqual(minor(secondVersion), minor(pinnedVersion), 'the second version is another minor');
  pages = await startPageServer();
  pageUrl = `http://127.0.0.1:${pages.address().port}/versions`;
});
after(() => { if (pages) pages.close(); });

const status = async (port) => (await fetch(`http://127.0.0.1:${port}/api/v1/status`)).json();

const realSession = async (pw, url) => (await session(url, pageUrl, { client: pw })).title;

const refused = (pw, url) => refusedConnect(url, { client: pw });

// A raw upgrade request with extra headers: resolves with the answer's status and body.
function upgradeAnswer(port, headers) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', headers: {
      connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', ...headers } });
    req.on('upgrade', (res, socket) => { socket.destroy(); reject(new Error('upgraded')); });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

// The JSON body the relay put after the status line in a connect error.
function jsonBody(message) {
  const m = /(\{"error":.*\})/.exec(message);
  assert.ok(m, `a JSON body in: ${message}`);
  return JSON.parse(m[1]);
}

test('a mixed-version embedded grid: each client lands on a worker of its own version', async () => {
  const grid = await startGrid({
    LOCAL_PLAYWRIGHT_CORE_DIRS: `pinned=1,${SECOND}=1`, SPARE_BROWSERS: '0', QUEUE_TIMEOUT: '30',
  });
  try {
    const msgs = grid.lines.map((l) => l.msg);
    assert.ok(msgs.includes(`Starting 1 local Chromium worker(s) of Playwright ${secondVersion} from ${SECOND}`));
    assert.ok(msgs.includes(`Workers by Playwright version: chromium ${minor(secondVersion)}: 1, ` +
      `chromium ${minor(pinnedVersion)}: 1 (version policy: route)`) ||
      msgs.includes(`Workers by Playwright version: chromium ${minor(pinnedVersion)}: 1, ` +
      `chromium ${minor(secondVersion)}: 1 (version policy: route)`), msgs.join('\n'));
    const before = await status(grid.port);
    const byVersion = new Map(before.workers.map((w) => [minor(w.playwrightVersion), w.id]));
    assert.deepEqual([...byVersion.keys()].sort(), [minor(pinnedVersion), minor(secondVersion)].sort());

    // Three clients of each version at once; 5 slots per worker, so each could fit on either.
    const url = `ws://127.0.0.1:${grid.port}/`;
    const titles = await Promise.all([
      ...[1, 2, 3].map(() => realSession({ chromium }, url)),
      ...[1, 2, 3].map(() => realSession(second, url)),
    ]);
    assert.deepEqual(titles, Array(6).fill('versions'));

    // The session lines name each client's version and its worker's.
    const isEnd = (l) => /^Session of .* ended: /.test(l.msg || '');
    await waitFor(() => grid.lines.filter(isEnd).length >= 6, 'six session end lines', 20_000);
    const ends = grid.lines.filter(isEnd);
    for (const e of ends) {
      assert.equal(minor(e.clientVersion), minor(e.workerVersion), JSON.stringify(e));
      assert.equal(e.workerId, byVersion.get(minor(e.workerVersion)));
    }
    assert.deepEqual(ends.map((e) => e.clientVersion).sort(),
      [...Array(3).fill(pinnedVersion), ...Array(3).fill(secondVersion)].sort());

    // Three sessions each, and every counter back to 0.
    await waitFor(async () => (await status(grid.port)).workers.every((w) => w.active === 0),
      'active counters back to 0', 20_000);
    const s = await status(grid.port);
    for (const w of s.workers) assert.equal(w.lifetime, 3, `${w.id} (${w.playwrightVersion})`);
    const m = await (await fetch(`http://127.0.0.1:${grid.port}/metrics`)).json();
    assert.equal(m.activeConnections, 0);
    assert.deepEqual(s.versions.map((v) => [v.playwrightVersion, v.workers]).sort(),
      [[minor(pinnedVersion), 1], [minor(secondVersion), 1]].sort());
    const text = await (await fetch(`http://127.0.0.1:${grid.port}/metrics?format=prometheus`)).text();
    for (const v of [pinnedVersion, secondVersion]) {
      assert.match(text, new RegExp(`^pwgrid_grid_version_workers\\{browser="chromium",` +
        `playwright_version="${minor(v).replace('.', '\\.')}",primary="true",status="available"\\} 1$`, 'm'));
    }

    // A version the grid has no worker of: 428 at once (QUEUE_TIMEOUT is 30 s), with a JSON body
    // naming the client's version and the grid's.
    const r = await refused({ chromium }, `${url}?playwright=1.40`);
    assert.match(r.message, /428 Precondition Required/);
    assert.ok(r.ms < 10_000, `answered after ${r.ms} ms, not after the queue timeout`);
    const body = jsonBody(r.message);
    assert.equal(body.error.code, 428);
    assert.equal(body.error.clientVersion, '1.40');
    assert.deepEqual(body.error.gridVersions, [minor(pinnedVersion), minor(secondVersion)].sort());
    assert.match(body.error.message, /No worker serves Playwright 1\.40 for browser type chromium/);
    // The header form, and a version that is not one.
    const h = await upgradeAnswer(grid.port, { 'x-playwright-version': '1.41.2' });
    assert.equal(h.status, 428);
    assert.equal(JSON.parse(h.body).error.clientVersion, '1.41.2');
    const bad = await refused({ chromium }, `${url}?playwright=latest`);
    assert.match(bad.message, /400 Bad Request/);
    assert.match(jsonBody(bad.message).error.message, /Invalid Playwright version: latest/);
    assert.equal((await status(grid.port)).workers.reduce((n, w) => n + w.lifetime, 0), 6,
      'no refused client took a slot');
  } finally {
    await stopGrid(grid);
  }
});

test('a client routed to a worker of another version gets Playwright\'s whole 428 answer', async () => {
  // The 1.64 client says it is of the pinned version: it is routed to a pinned worker, whose
  // Playwright checks the User-Agent and refuses it. The relay passes that answer on whole.
  const grid = await startGrid({ LOCAL_WORKERS: '1', SPARE_BROWSERS: '0' });
  try {
    const r = await refused(second, `ws://127.0.0.1:${grid.port}/?playwright=${pinnedVersion}`);
    assert.match(r.message, /428 Precondition Required/);
    assert.match(r.message, /Playwright version mismatch/);
    // The box's last lines: Playwright's body ends when the worker closes (no Content-Length).
    assert.match(r.message, /<3 Playwright Team/);
    assert.match(r.message, /╚═+╝/);
    // Without the override, the grid answers itself: no worker of that version.
    const own = await refused(second, `ws://127.0.0.1:${grid.port}/`);
    assert.match(own.message, /428 Precondition Required/);
    assert.deepEqual(jsonBody(own.message).error.gridVersions, [minor(pinnedVersion)]);
    await waitFor(async () => (await status(grid.port)).workers.every((w) => w.active === 0),
      'active counters back to 0', 20_000);
    const m = await (await fetch(`http://127.0.0.1:${grid.port}/metrics`)).json();
    assert.equal(m.activeConnections, 0);
  } finally {
    await stopGrid(grid);
  }
});

test('VERSION_POLICY=any: upstream\'s behaviour, a client of another version is served', async () => {
  const grid = await startGrid({ LOCAL_WORKERS: '1', SPARE_BROWSERS: '0', VERSION_POLICY: 'any' });
  try {
    assert.equal(await realSession(second, `ws://127.0.0.1:${grid.port}/`), 'versions');
    await waitFor(async () => (await status(grid.port)).workers[0].lifetime === 1,
      'the session counted on the worker', 20_000);
    const s = await status(grid.port);
    assert.equal(s.versionPolicy, 'any');
    assert.equal(minor(s.workers[0].playwrightVersion), minor(pinnedVersion));
  } finally {
    await stopGrid(grid);
  }
});
