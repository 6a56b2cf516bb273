// End to end: pwgrid-server in embedded mode, real Chromium, the real playwright-core client.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  httpGet, pidListeningOn, session, startGrid, startPageServer, stopGrid,
} from './grid_harness.mjs';

let grid;
let pages;
let pageBase;

before(async () => {
  pages = await startPageServer();
  pageBase = `http://127.0.0.1:${pages.address().port}`;
  grid = await startGrid({ LOCAL_WORKERS: '2', MAX_CONCURRENT_SESSIONS: '5' });
});

after(async () => {
  if (grid) await stopGrid(grid);
  if (pages) pages.close();
});

test('connect to / and /?browser=chromium: page, title, full-page screenshot', async () => {
  for (const path of ['/', '/?browser=chromium']) {
    const { title, png } = await session(`ws://127.0.0.1:${grid.port}${path}`, `${pageBase}/hello`, {
      screenshot: true,
    });
    assert.equal(title, 'hello');
    assert.ok(png.length > 1000, 'screenshot has content');
    assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], 'PNG signature');
    // Full page: the PNG's height (bytes 20..23 of IHDR) covers the 2400 px body.
    assert.ok(png.readUInt32BE(20) >= 2400, `full-page height ${png.readUInt32BE(20)}`);
  }
});

test('4 concurrent sessions, then /metrics reports 0 active', async () => {
  const titles = await Promise.all(
    [1, 2, 3, 4].map((i) => session(`ws://127.0.0.1:${grid.port}/`, `${pageBase}/page-${i}`)),
  );
  assert.deepEqual(titles.map((t) => t.title), ['page-1', 'page-2', 'page-3', 'page-4']);
  let metrics;
  for (let i = 0; i < 100; i++) {
    metrics = await httpGet(grid.port, '/metrics');
    if (metrics.body === '{"activeConnections":0}\n') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(metrics.status, 200);
  assert.equal(metrics.body, '{"activeConnections":0}\n');
});

test('upstream HTTP answers from the real server', async () => {
  const bad = await httpGet(grid.port, '/?browser=opera');
  assert.equal(bad.status, 400);
  assert.equal(bad.body,
    '{"error":{"code":400,"message":"Unknown browser type: opera - allowed: chromium, firefox, webkit"}}\n');
  const plain = await httpGet(grid.port, '/');
  assert.equal(plain.status, 426);
  assert.equal(plain.body, '{"message":"This endpoint is for WebSocket connections only."}\n');
  assert.equal((await httpGet(grid.port, '/favicon.ico')).status, 204);
  assert.equal((await httpGet(grid.port, '/nope')).status, 404);
});

test('a browser that died is skipped at once: every client is served by the other worker', async () => {
  // A session makes its worker the first choice (lifetime-first); then that worker's browser dies.
  await session(`ws://127.0.0.1:${grid.port}/`, `${pageBase}/before`);
  const used = grid.lines.filter((l) => /^New connection from/.test(l.msg || '')).at(-1).workerId;
  const endpoint = grid.lines.find((l) => l.msg === 'Browser worker is ready to work' &&
    l.workerId === used).endpoint;
  const port = Number(new URL(endpoint).port);
  const launcher = pidListeningOn(port);
  assert.ok(launcher, `the process listening on ${port}`);
  process.kill(launcher, 'SIGKILL');  // the browser server crashes
  for (let i = 0; i < 200 && await fetch(`http://127.0.0.1:${port}/`).then(() => true, () => false); i++) {
    await new Promise((r) => setTimeout(r, 5));
  }
  // Right away, before its agent has noticed and replaced it (it looks once a second): 4 clients
  // at once.
  const titles = await Promise.all([0, 1, 2, 3].map(async (i) =>
    (await session(`ws://127.0.0.1:${grid.port}/`, `${pageBase}/after-${i}`)).title));
  assert.deepEqual(titles, ['after-0', 'after-1', 'after-2', 'after-3']);
  assert.equal(grid.lines.filter((l) => /rejected/.test(l.msg || '')).length, 0, 'no client was refused');
});

test('SIGTERM: exit 0 and the workers\' browser servers are gone', async () => {
  const endpoints = grid.lines.filter((l) => l.endpoint).map((l) => l.endpoint);
  assert.ok(endpoints.length >= 2);
  const result = await stopGrid(grid);
  assert.deepEqual(result, { code: 0, signal: null });
  for (const ep of endpoints) {
    const port = new URL(ep).port;
    await assert.rejects(fetch(`http://127.0.0.1:${port}/`), 'browser server still listening');
  }
});
