// Faults in Redis mode with the real parts: a worker killed with SIGKILL mid-session, and a proxy
// killed with SIGKILL mid-session. Nothing is restarted by hand; leases and the reaper heal the
// accounting.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { chromium, session, startPageServer, stopGrid } from './grid_harness.mjs';
import { redis, startProxy, startRedis, startWorker, stopProcess, waitFor } from './redis_harness.mjs';

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
