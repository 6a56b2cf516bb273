// Per-token quotas end to end: pwgrid-server with AUTH_TOKENS "name:token:max=N", real Chromium
// and the real playwright-core client. A tenant over its quota waits behind its own sessions
// while another tenant is served at once; the waiter gets its session when the tenant's own
// session ends. In Redis mode (a real redis-server, one pwgrid-worker, two proxies) the quota
// counts the tenant's sessions on both proxies, and a worker registered at a public address is
// never dialled (WORKER_ALLOWED_NETWORKS). Also: PROTECT_METRICS with ADMIN_TOKENS, and
// SESSION_MAX_DURATION ending a real session.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { chromium, startGrid, startPageServer, stopGrid } from './grid_harness.mjs';
import {
  hgetall, redis, registerLikeUpstream, sleep, startProxy, startRedis, startWorker, stopProcess, waitFor,
} from './redis_harness.mjs';

const TOKENS = 'ci:ci-token:max=1,other:other-token';
const bearer = (token) => ({ headers: { Authorization: `Bearer ${token}` }, timeout: 30_000 });
let pages;
let pageUrl;

before(async () => {
  pages = await startPageServer();
  pageUrl = `http://127.0.0.1:${pages.address().port}/quota`;
});

after(() => {
  if (pages) pages.close();
});

async function openPage(url, token) {
  const browser = await chromium.connect(url, bearer(token));
  const page = await browser.newPage();
  await page.goto(pageUrl);
  assert.equal(await page.title(), 'quota');
  return browser;
}

// Resolves to 'pending' when `p` has not settled within `ms`.
const settledWithin = (p, ms) => Promise.race([p.then(() => 'resolved', () => 'rejected'), sleep(ms).then(() => 'pending')]);

test('embedded: a tenant over its quota waits behind its own session; other tenants do not', async () => {
  const grid = await startGrid({ AUTH_TOKENS: TOKENS, LOCAL_WORKERS: '1', SPARE_BROWSERS: '0',
    MAX_CONCURRENT_SESSIONS: '4', WORKER_SELECT_TIMEOUT: '12' });
  try {
    const url = `ws://127.0.0.1:${grid.port}/?browser=chromium`;
    const first = await openPage(url, 'ci-token');
    const second = openPage(url, 'ci-token');  // over ci's quota of 1: queued
    assert.equal(await settledWithin(second, 1500), 'pending');
    const other = await openPage(url, 'other-token');  // served at once, past ci's waiter
    assert.equal(await settledWithin(second, 0), 'pending');
    await other.close();
    await first.close();  // ci's own session ends: its waiter gets the place
    const served = await second;
    await served.close();
  } finally {
    const { code } = await stopGrid(grid);
    assert.equal(code, 0);
  }
});

test('embedded: a tenant still at its quota at WORKER_SELECT_TIMEOUT gets upstream\'s 503', async () => {
  const grid = await startGrid({ AUTH_TOKENS: TOKENS, LOCAL_WORKERS: '1', SPARE_BROWSERS: '0',
    MAX_CONCURRENT_SESSIONS: '4', WORKER_SELECT_TIMEOUT: '1' });
  try {
    const url = `ws://127.0.0.1:${grid.port}/`;
    const first = await openPage(url, 'ci-token');
    await assert.rejects(chromium.connect(url, bearer('ci-token')), /503/);
    const metrics = await fetch(`http://127.0.0.1:${grid.port}/metrics`);
    assert.equal(await metrics.text(), '{"activeConnections":1}\n');
    await first.close();
  } finally {
    await stopGrid(grid);
  }
});

test('Redis mode: the quota counts the tenant\'s sessions on every proxy', async () => {
  const rds = await startRedis();
  const worker = await startWorker(rds.port);
  const env = { AUTH_TOKENS: TOKENS, MAX_CONCURRENT_SESSIONS: '4', WORKER_SELECT_TIMEOUT: '2' };
  const a = await startProxy(rds.port, env);
  const b = await startProxy(rds.port, env);
  try {
    const first = await openPage(`ws://127.0.0.1:${a.port}/`, 'ci-token');
    assert.equal(await redis(rds.port, 'ZCARD', 'pwgrid:tenant:ci'), 1);
    // Through the other proxy: ci is at its quota grid-wide, so it waits and times out ...
    await assert.rejects(chromium.connect(`ws://127.0.0.1:${b.port}/`, bearer('ci-token')), /503/);
    // ... while the other tenant is served by the same proxy and worker.
    const other = await openPage(`ws://127.0.0.1:${b.port}/`, 'other-token');
    await other.close();
    await first.close();
    await waitFor(async () => (await redis(rds.port, 'ZCARD', 'pwgrid:tenant:ci')) === 0,
      'ci\'s lease to be released');
    const again = await openPage(`ws://127.0.0.1:${b.port}/`, 'ci-token');
    await again.close();
    await waitFor(async () => Object.values(await hgetall(rds.port, 'cluster:active_connections'))
      .every((v) => v === '0'), 'every slot to be free');
    // Whoever can write to Redis registers a worker at a public address, made the best choice
    // (the highest lifetime): no proxy dials it, the log names it, clients get the real worker.
    const rogue = await registerLikeUpstream(rds.port, '00000000-0000-4000-8000-00000000beef',
      'ws://203.0.113.9:4000/rogue');
    await redis(rds.port, 'HSET', 'cluster:lifetime_connections', rogue, '20');
    const served = await openPage(`ws://127.0.0.1:${a.port}/`, 'other-token');
    await served.close();
    assert.ok(a.lines.some((l) => l.msg === `Refusing to dial worker ${rogue} at ws://203.0.113.9:4000/rogue: ` +
      '203.0.113.9 is outside the allowed worker networks'), 'the refusal names the worker');
    await redis(rds.port, 'DEL', `worker:${rogue}`);
    // Redis holds the tenant's name only, never a token.
    const keys = await redis(rds.port, 'KEYS', '*');
    assert.ok(!JSON.stringify(keys).includes('ci-token'), JSON.stringify(keys));
  } finally {
    await stopGrid(a);
    await stopGrid(b);
    await stopProcess(worker);
    await rds.stop('SIGTERM');
  }
});

test('PROTECT_METRICS: /metrics needs an admin token; SESSION_MAX_DURATION ends a real session', async () => {
  const grid = await startGrid({ ADMIN_TOKENS: 'ops:adm1n-token', PROTECT_METRICS: 'true',
    SESSION_MAX_DURATION: '2', LOCAL_WORKERS: '1', SPARE_BROWSERS: '0' });
  try {
    const base = `http://127.0.0.1:${grid.port}/metrics`;
    const open = await fetch(base);
    assert.equal(open.status, 401);
    assert.equal(open.headers.get('www-authenticate'), 'Bearer');
    const ok = await fetch(base, { headers: { Authorization: 'Bearer adm1n-token' } });
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), '{"activeConnections":0}\n');
    // No client tokens: sessions are open to anyone; this one is ended after 2 s.
    const browser = await chromium.connect(`ws://127.0.0.1:${grid.port}/`, { timeout: 30_000 });
    const closed = new Promise((resolve) => browser.on('disconnected', resolve));
    const page = await browser.newPage();
    await page.goto(pageUrl);
    assert.equal(await settledWithin(closed, 15_000), 'resolved');
    assert.ok(grid.lines.some((l) => /session maximum duration reached/.test(l.msg)));
    await waitFor(async () => {
      const m = await fetch(base, { headers: { Authorization: 'Bearer adm1n-token' } });
      return (await m.text()) === '{"activeConnections":0}\n';
    }, 'the slot to be freed');
    for (const l of grid.lines) assert.ok(!JSON.stringify(l).includes('adm1n-token'));
  } finally {
    await stopGrid(grid);
  }
});
