// Redis mode with the real parts: redis-server, pwgrid-worker with Chromium, pwgrid-server and the
// playwright-core client. Upstream compatibility (keys field for field; a worker registered by
// hand exactly as upstream's worker does it), recycling through the shutdown command, and a Redis
// outage (quick 503, live sessions continue, the grid recovers by itself).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';

import { chromium, httpGet, session, startPageServer, stopGrid } from './grid_harness.mjs';
import {
  hgetall, redis, registerLikeUpstream, sleep, startProxy, startRedis, startWorker, stopProcess,
  waitFor,
} from './redis_harness.mjs';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
let rds;
let pages;
let proxy;
let worker;
let pageUrl;

before(async () => {
  rds = await startRedis();
  pages = await startPageServer();
  pageUrl = `http://127.0.0.1:${pages.address().port}/redis`;
  worker = await startWorker(rds.port, { RESTART_AFTER_RECYCLE: 'true', LOG_LEVEL: 'debug' });
  proxy = await startProxy(rds.port, { LEASE_TTL: '3' });
});

after(async () => {
  if (proxy) await stopGrid(proxy);
  if (worker) await stopProcess(worker);
  if (rds) await rds.stop('SIGTERM');
  if (pages) pages.close();
});

const active = async (wid) => Number((await redis(rds.port, 'HGET', 'cluster:active_connections', wid)) ?? -1);
const lifetime = async (wid) => Number((await redis(rds.port, 'HGET', 'cluster:lifetime_connections', wid)) ?? -1);

test('pwgrid-worker writes upstream\'s keys, field for field', async () => {
  const wid = worker.ids.at(-1);
  const uuid = wid.slice('chromium:'.length);
  assert.match(uuid, UUID);
  const h = await hgetall(rds.port, `worker:${wid}`);
  assert.deepEqual(Object.keys(h).sort(),
    ['browserType', 'endpoint', 'id', 'lastHeartbeat', 'playwrightVersion', 'startedAt', 'status']);
  assert.equal(h.id, uuid);
  assert.equal(h.browserType, 'chromium');
  assert.equal(h.endpoint, `ws://127.0.0.1:${worker.port}/playwright/${uuid}`);
  assert.equal(h.status, 'available');
  assert.match(h.startedAt, /^\d{13}$/);
  assert.match(h.lastHeartbeat, /^\d{13}$/);
  assert.match(h.playwrightVersion, /^\d+\.\d+\.\d+/);
  const ttl = await redis(rds.port, 'TTL', `worker:${wid}`);
  assert.ok(ttl >= 1 && ttl <= 3, `TTL ${ttl} within REDIS_KEY_TTL=3`);
  assert.equal(await redis(rds.port, 'HGET', 'cluster:active_connections', wid), '0');
  assert.equal(await redis(rds.port, 'HGET', 'cluster:lifetime_connections', wid), '0');
  // The heartbeat keeps it alive past its TTL.
  await sleep(3500);
  assert.equal(await redis(rds.port, 'EXISTS', `worker:${wid}`), 1);
  assert.ok(Number((await hgetall(rds.port, `worker:${wid}`)).lastHeartbeat) > Number(h.lastHeartbeat));
});

test('a session through pwgrid-server in Redis mode holds one lease and one active slot', async () => {
  const wid = worker.ids.at(-1);
  const browser = await chromium.connect(`ws://127.0.0.1:${proxy.port}/?browser=chromium`);
  try {
    const page = await browser.newPage();
    await page.goto(pageUrl);
    assert.equal(await page.title(), 'redis');
    assert.equal(await active(wid), 1);
    assert.equal(await redis(rds.port, 'ZCARD', 'pwgrid:leases'), 1);
    // The lease is renewed (LEASE_TTL=3): still there after 4 s.
    await sleep(4000);
    assert.equal(await active(wid), 1);
    await page.goto(pageUrl);
  } finally {
    await browser.close();
  }
  await waitFor(async () => (await active(wid)) === 0, 'active to return to 0', 5000);
  assert.equal(await redis(rds.port, 'ZCARD', 'pwgrid:leases'), 0);
  assert.equal(await lifetime(wid), 1);
  assert.deepEqual(await httpGet(proxy.port, '/metrics'), { status: 200, body: '{"activeConnections":0}\n' });
});

test('a worker registered by hand exactly as upstream\'s worker does it is routed to', async () => {
  // A plain Playwright browser server, registered with upstream's commands only.
  const launcher = spawn(process.env.PWGRID_NODE || 'node',
    [fileURLToPath(new URL('../../server/browser_launcher.mjs', import.meta.url))],
    { env: { ...process.env, PWGRID_HOST: '127.0.0.1', PWGRID_PORT: '0' }, stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const { wsEndpoint } = await new Promise((resolve, reject) => {
      let out = '';
      launcher.stdout.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolve(JSON.parse(out.slice(0, out.indexOf('\n'))));
      });
      launcher.on('exit', (code) => reject(new Error(`launcher exited ${code}`)));
    });
    const wid = await registerLikeUpstream(rds.port, '0f0e6a43-0b4c-4d8b-9a5e-3f6a4b1c2d3e', wsEndpoint);
    // Lifetime-first: the pwgrid-worker has lifetime 1; this one is made older so it is chosen.
    await redis(rds.port, 'HINCRBY', 'cluster:lifetime_connections', wid, '10');
    const browser = await chromium.connect(`ws://127.0.0.1:${proxy.port}/`);
    try {
      const page = await browser.newPage();
      await page.goto(pageUrl);
      assert.equal(await page.title(), 'redis');
      assert.equal(await active(wid), 1);
      assert.equal(await lifetime(wid), 11);
    } finally {
      await browser.close();
    }
    await waitFor(async () => (await active(wid)) === 0, 'the hand-registered worker to be released', 5000);
    await redis(rds.port, 'DEL', `worker:${wid}`);
    await redis(rds.port, 'HDEL', 'cluster:active_connections', wid);
    await redis(rds.port, 'HDEL', 'cluster:lifetime_connections', wid);
  } finally {
    launcher.kill('SIGTERM');
  }
});

test('the session that reaches L recycles the worker; it comes back under a new id', async () => {
  const wid = worker.ids.at(-1);
  const limit = (await lifetime(wid)) + 2;
  const small = await startProxy(rds.port, { MAX_LIFETIME_SESSIONS: String(limit), WORKER_SELECT_TIMEOUT: '12' });
  try {
    for (let i = 0; i < 2; i++) {
      assert.equal((await session(`ws://127.0.0.1:${small.port}/`, pageUrl)).title, 'redis');
    }
    assert.ok(small.lines.some((l) => /Worker has reached session limit/.test(l.msg) && l.workerId === wid));
    await waitFor(() => worker.ids.length >= 2, 'the replacement worker', 60_000);
    const fresh = worker.ids.at(-1);
    assert.notEqual(fresh, wid);
    // The replacement registers first, then the old worker is removed (make before break): the
    // key goes right after the replacement's "ready" line, not before it.
    await waitFor(async () => (await redis(rds.port, 'EXISTS', `worker:${wid}`)) === 0,
      'the old worker to be removed', 10_000);
    assert.equal((await hgetall(rds.port, `worker:${fresh}`)).status, 'available');
    assert.ok(worker.lines.some((l) => l.message === 'Worker stopped' && l.data?.reason === 'drain_complete'));
    assert.equal((await session(`ws://127.0.0.1:${small.port}/`, pageUrl)).title, 'redis');
    assert.equal(worker.exited, null);
  } finally {
    await stopGrid(small);
  }
});

test('Redis outage: live sessions continue, new ones get a quick 503, the grid recovers', async () => {
  const browser = await chromium.connect(`ws://127.0.0.1:${proxy.port}/`);
  try {
    const page = await browser.newPage();
    await rds.stop('SIGKILL');
    const t0 = Date.now();
    await assert.rejects(chromium.connect(`ws://127.0.0.1:${proxy.port}/`, { timeout: 10_000 }),
      /503[\s\S]*Worker registry unavailable/);
    const rejectedMs = Date.now() - t0;
    assert.ok(rejectedMs < 4000, `503 after ${rejectedMs} ms, before WORKER_SELECT_TIMEOUT (5 s)`);
    await page.goto(pageUrl);  // the relayed session does not need Redis
    assert.equal(await page.title(), 'redis');
    await rds.resume();  // empty: Redis lost everything
    // The worker re-registers on its next heartbeat; the proxy reconnects on its next call.
    const wid = worker.ids.at(-1);
    await waitFor(async () => (await redis(rds.port, 'EXISTS', `worker:${wid}`)) === 1,
      'the worker to re-register', 15_000);
    // The live session's lease is written again and counted again.
    await waitFor(async () => (await active(wid)) === 1, 'the live lease to be restored', 10_000);
    await waitFor(async () => {
      try {
        return (await session(`ws://127.0.0.1:${proxy.port}/`, pageUrl)).title === 'redis';
      } catch { return false; }
    }, 'a new session after the outage', 20_000, 500);
    await page.goto(pageUrl);
  } finally {
    await browser.close();
  }
  const wid = worker.ids.at(-1);
  await waitFor(async () => (await active(wid)) === 0, 'active to return to 0', 5000);
  assert.equal(worker.exited, null, 'the worker rode out the outage');
});
