// Faults in Redis mode with the real parts: a worker killed with SIGKILL mid-session, and a proxy
// killed with SIGKILL mid-session. Nothing is restarted by hand; leases and the reaper heal the
// accounting.
import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';

import { chromium, session, startPageServer, stopGrid } from './grid_harness.mjs';
import {
  redis, registerLikeUpstream, startProxy, startRedis, startWorker, stopProcess, waitFor,
} from './redis_harness.mjs';

const { ws: WebSocket, wsServer: WebSocketServer } =
  createRequire(import.meta.url)('playwright-core/lib/utilsBundle');

const LEASE_TTL_S = 3;
let rds;
let pages;
let pageUrl;
const cleanup = [];

before(async () => {
  rds = await startRedis();
  pages = await startPageServer();
  pageUrl = `http://127.0.0.1:${pages.address().port}/faults`;
});

after(async () => {
  for (const stop of cleanup.reverse()) await stop();
  if (rds) await rds.stop('SIGTERM');
  if (pages) pages.close();
});

const hexists = (hash, wid) => redis(rds.port, 'HEXISTS', hash, wid);
const active = async (wid) => Number((await redis(rds.port, 'HGET', 'cluster:active_connections', wid)) ?? 0);

test('SIGKILL of a worker mid-session: the client sees a close, the lease is freed, the worker is reaped', async () => {
  const proxy = await startProxy(rds.port, { REAPER_RUN_INTERVAL: '1', LEASE_TTL: String(LEASE_TTL_S) });
  cleanup.push(() => stopGrid(proxy));
  const worker = await startWorker(rds.port);
  cleanup.push(() => stopProcess(worker));
  const wid = worker.ids[0];
  const browser = await chromium.connect(`ws://127.0.0.1:${proxy.port}/`);
  const closed = new Promise((resolve) => browser.on('disconnected', resolve));
  const page = await browser.newPage();
  await page.goto(pageUrl);
  assert.equal(await active(wid), 1);
  worker.child.kill('SIGKILL');
  await Promise.race([closed, new Promise((_, reject) => setTimeout(
    () => reject(new Error('the client saw no close within 20 s')), 20_000))]);
  await waitFor(async () => (await redis(rds.port, 'ZCARD', 'pwgrid:leases')) === 0, 'the lease to be freed', 10_000);
  await waitFor(async () => (await redis(rds.port, 'EXISTS', `worker:${wid}`)) === 0, 'the key to expire', 10_000);
  await waitFor(async () => (await hexists('cluster:active_connections', wid)) === 0 &&
    (await hexists('cluster:lifetime_connections', wid)) === 0, 'the reaper', 10_000);
  await browser.close().catch(() => {});
});

test('SIGKILL of a proxy mid-session: its slots come back within the lease TTL', async (t) => {
  const doomed = await startProxy(rds.port, { LEASE_TTL: String(LEASE_TTL_S) });
  const survivor = await startProxy(rds.port, { LEASE_TTL: String(LEASE_TTL_S), MAX_CONCURRENT_SESSIONS: '2' });
  cleanup.push(() => stopGrid(survivor));
  cleanup.push(() => stopGrid(doomed));
  const worker = await startWorker(rds.port);
  cleanup.push(() => stopProcess(worker));
  const wid = worker.ids[0];
  const held = [];
  for (let i = 0; i < 2; i++) held.push(await chromium.connect(`ws://127.0.0.1:${doomed.port}/`));
  assert.equal(await active(wid), 2);
  // The worker is full for the survivor too (C=2).
  await assert.rejects(chromium.connect(`ws://127.0.0.1:${survivor.port}/`, { timeout: 20_000 }), /503/);
  doomed.child.kill('SIGKILL');
  const t0 = Date.now();
  await waitFor(async () => (await active(wid)) === 0, 'the slots of the killed proxy', 15_000, 20);
  const freedMs = Date.now() - t0;
  t.diagnostic(`slots returned ${freedMs} ms after the proxy's SIGKILL (LEASE_TTL=${LEASE_TTL_S}s)`);
  assert.ok(freedMs <= LEASE_TTL_S * 1000 + 1500, `freed after ${freedMs} ms`);
  assert.equal(worker.exited, null, 'no worker was restarted');
  assert.equal((await session(`ws://127.0.0.1:${survivor.port}/`, pageUrl)).title, 'faults');
  for (const b of held) await b.close().catch(() => {});
});

// Stops the proxies and workers of the tests before (their workers would serve this test's
// clients too).
async function stopEarlierParts() {
  for (const stop of cleanup.reverse()) await stop();
  cleanup.length = 0;
}

test('a hung Redis (SIGSTOP): new clients get "Worker registry unavailable" before their deadline', async (t) => {
  await stopEarlierParts();
  const proxy = await startProxy(rds.port, { WORKER_SELECT_TIMEOUT: '2' });
  cleanup.push(() => stopGrid(proxy));
  const worker = await startWorker(rds.port, { REDIS_RETRY_ATTEMPTS: '30' });
  cleanup.push(() => stopProcess(worker));
  assert.equal((await session(`ws://127.0.0.1:${proxy.port}/`, pageUrl)).title, 'faults');
  rds.child.kill('SIGSTOP');
  let times;
  try {
    const t0 = Date.now();
    times = await Promise.all([0, 1, 2, 3, 4].map(async () => {
      const err = await chromium.connect(`ws://127.0.0.1:${proxy.port}/`, { timeout: 10_000 }).then(
        (b) => { b.close(); return new Error('served while Redis was hung'); }, (e) => e);
      assert.match(err.message, /503[\s\S]*Worker registry unavailable/);
      return Date.now() - t0;
    }));
  } finally {
    rds.child.kill('SIGCONT');
  }
  t.diagnostic(`503 after ${times.join(', ')} ms (WORKER_SELECT_TIMEOUT 2 s)`);
  for (const ms of times) assert.ok(ms < 2000, `answered after ${ms} ms, past the client's deadline`);
  await waitFor(async () => {
    try {
      return (await session(`ws://127.0.0.1:${proxy.port}/`, pageUrl)).title === 'faults';
    } catch { return false; }
  }, 'a session after SIGCONT', 20_000, 250);
});

test('Redis restarted empty: a busy worker gets no second session while its first one lives', async () => {
  await stopEarlierParts();  // this worker must be the only one
  const proxy = await startProxy(rds.port, { MAX_CONCURRENT_SESSIONS: '1', WORKER_SELECT_TIMEOUT: '1' });
  cleanup.push(() => stopGrid(proxy));
  const worker = await startWorker(rds.port, { REDIS_RETRY_ATTEMPTS: '30' });
  cleanup.push(() => stopProcess(worker));
  const wid = worker.ids[0];
  const browser = await chromium.connect(`ws://127.0.0.1:${proxy.port}/`);
  try {
    const page = await browser.newPage();
    await rds.stop('SIGKILL');
    await rds.resume();  // empty
    await waitFor(async () => (await redis(rds.port, 'EXISTS', `worker:${wid}`)) === 1,
      'the worker to register again', 15_000);
    // Once the proxy answers other than "registry unavailable", the worker must count as full.
    let served = false;
    await waitFor(async () => {
      try {
        const b = await chromium.connect(`ws://127.0.0.1:${proxy.port}/`, { timeout: 10_000 });
        served = true;
        await b.close();
        return true;
      } catch (e) {
        return /No available servers/.test(e.message);
      }
    }, 'the proxy to be back', 20_000, 200);
    assert.equal(served, false, 'a second session was given to a worker that is busy (C=1)');
    assert.equal(await active(wid), 1);
    await page.goto(pageUrl);
    assert.equal(await page.title(), 'faults');
  } finally {
    await browser.close();
  }
  await waitFor(async () => (await active(wid)) === 0, 'the slot to be free', 5000);
  assert.equal((await session(`ws://127.0.0.1:${proxy.port}/`, pageUrl)).title, 'faults');
});

test('a SIGKILLed worker is skipped grid-wide at once: every client is served by the other one', async (t) => {
  await stopEarlierParts();
  await redis(rds.port, 'FLUSHALL');
  const proxies = [await startProxy(rds.port), await startProxy(rds.port)];
  for (const p of proxies) cleanup.push(() => stopGrid(p));
  // A long key TTL: the dead worker stays registered for the whole test, as with upstream's
  // default REDIS_KEY_TTL of 60 s.
  const workers = [await startWorker(rds.port, { REDIS_KEY_TTL: '60' }),
    await startWorker(rds.port, { REDIS_KEY_TTL: '60' })];
  for (const w of workers) cleanup.push(() => stopProcess(w));
  // One session makes its worker the first choice (lifetime-first), then that worker dies.
  assert.equal((await session(`ws://127.0.0.1:${proxies[0].port}/`, pageUrl)).title, 'faults');
  const lifetimes = await Promise.all(workers.map(async (w) =>
    Number(await redis(rds.port, 'HGET', 'cluster:lifetime_connections', w.ids[0]))));
  const victim = workers[lifetimes.indexOf(1)];
  const survivor = workers[lifetimes.indexOf(0)];
  assert.ok(victim && survivor, `lifetimes ${lifetimes}`);
  victim.child.kill('SIGKILL');
  await new Promise((resolve) => victim.child.on('exit', resolve));
  // Its browser server goes down with it (the launcher sees its stdin close).
  await waitFor(() => new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port: victim.port });
    s.on('connect', () => { s.destroy(); resolve(false); });
    s.on('error', () => resolve(true));
  }), 'the victim\'s browser server to be gone', 10_000);
  const t0 = Date.now();
  for (let i = 0; i < 6; i++) {  // both proxies, while the victim's key is still alive
    assert.equal((await session(`ws://127.0.0.1:${proxies[i % 2].port}/`, pageUrl)).title, 'faults');
  }
  t.diagnostic(`6 sessions in ${Date.now() - t0} ms`);
  assert.equal(await redis(rds.port, 'EXISTS', `worker:${victim.ids[0]}`), 1, 'the dead worker was still registered');
  assert.equal(Number(await redis(rds.port, 'HGET', 'cluster:lifetime_connections', survivor.ids[0])), 6);
  assert.equal(Number(await redis(rds.port, 'HGET', 'cluster:lifetime_connections', victim.ids[0]) ?? 1), 1,
    'the failed dials were rolled back');
  // Each proxy tried the dead worker at most once: the other learnt it from Redis.
  const tries = proxies.map((p) => p.lines.filter((l) => /trying another worker/.test(l.msg || '')).length);
  assert.ok(tries[0] + tries[1] <= 1, `dial failures per proxy: ${tries}`);
  for (const p of proxies) {
    assert.equal(p.lines.filter((l) => /rejected/.test(l.msg || '')).length, 0, 'no client was refused');
  }
});

test('connect churn (4 clients x 300 connect+close): no lease outlives its session', async (t) => {
  await stopEarlierParts();
  await redis(rds.port, 'FLUSHALL');
  // A WebSocket echo "worker", registered the way upstream's worker registers itself.
  const echo = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise((resolve) => echo.on('listening', resolve));
  echo.on('connection', (ws) => ws.on('message', (m) => ws.send(m)));
  const wid = await registerLikeUpstream(rds.port, '5b1e0c7e-3a0d-4c1b-8d5e-7f2a9c4e6b10',
    `ws://127.0.0.1:${echo.address().port}/`, 120);
  // LEASE_TTL=3: a renewal every second, so many renewals run during the churn.
  const proxy = await startProxy(rds.port, { LEASE_TTL: '3', MAX_CONCURRENT_SESSIONS: '8',
    MAX_LIFETIME_SESSIONS: '1000000' });
  cleanup.push(() => stopGrid(proxy));
  try {
    const t0 = Date.now();
    await Promise.all([0, 1, 2, 3].map(async () => {
      for (let i = 0; i < 300; i++) {
        await new Promise((resolve, reject) => {
          const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}/`);
          ws.on('open', () => ws.close(1000));
          ws.on('close', resolve);
          ws.on('error', reject);
        });
      }
    }));
    t.diagnostic(`1200 connect+close in ${Date.now() - t0} ms`);
    // Once every session closed, its slot is free within a fraction of a second.
    await waitFor(async () => (await redis(rds.port, 'ZCARD', 'pwgrid:leases')) === 0 &&
      Number(await redis(rds.port, 'HGET', 'cluster:active_connections', wid)) === 0,
    'every lease to be released', 1000, 20);
    assert.equal(Number(await redis(rds.port, 'HGET', 'cluster:lifetime_connections', wid)), 1200);
    assert.equal(proxy.lines.filter((l) => /Restored/.test(l.msg || '')).length, 0,
      'no renewal re-created a released lease');
  } finally {
    echo.close();
  }
});
