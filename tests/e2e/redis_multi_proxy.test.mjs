// Multi-proxy load with the real parts: 1 redis-server, 3 pwgrid-worker processes with Chromium
// (recycling under a new id after L sessions) and 2 pwgrid-server processes sharing them.
// 30 clients run 2 sessions each at once, alternating between the proxies; capacity is 3 x C=5,
// so half of them wait. On this 2-core machine 15 pages at once make a session take seconds, so a
// client can wait longer than WORKER_SELECT_TIMEOUT (12 s): it then retries after the 503's
// Retry-After, as a production client would (at most 10 attempts). Sampled every 25 ms during
// the run: no worker ever has more than C active sessions. At the end every count is back to 0, and the recycles never overlapped.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { session, stopGrid } from './grid_harness.mjs';
import { hgetall, redis, sleep, startProxy, startRedis, startWorker, stopProcess, waitFor } from './redis_harness.mjs';

const C = 5;
const L = 12;
const CLIENTS = 30;
const SESSIONS_PER_CLIENT = 2;
let rds;
let pageUrl;
const proxies = [];
const workers = [];

before(async () => {
  rds = await startRedis();
  // A light page: the test is about routing and accounting, and the 2-core CI machine runs 15
  // pages at once here.
  pageUrl = 'data:text/html,<title>load</title>';
  for (let i = 0; i < 3; i++) workers.push(await startWorker(rds.port, { RESTART_AFTER_RECYCLE: 'true' }));
  const env = { MAX_CONCURRENT_SESSIONS: String(C), MAX_LIFETIME_SESSIONS: String(L),
    WORKER_SELECT_TIMEOUT: '12', LEASE_TTL: '10' };
  for (let i = 0; i < 2; i++) proxies.push(await startProxy(rds.port, env));
});

after(async () => {
  for (const p of proxies) await stopGrid(p);
  for (const w of workers) await stopProcess(w);
  if (rds) await rds.stop('SIGTERM');
});

test('2 proxies, 3 workers, 30 concurrent sessions: never above C, counts return to 0, one recycle at a time', async (t) => {
  let maxActive = 0;
  let samples = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const a = await hgetall(rds.port, 'cluster:active_connections');
      for (const v of Object.values(a)) maxActive = Math.max(maxActive, Number(v));
      samples++;
      await sleep(25);
    }
  })();
  const failures = [];
  const durations = [];
  let retries = 0;
  const t0 = Date.now();
  await Promise.all(Array.from({ length: CLIENTS }, async (_, i) => {
    for (let k = 0; k < SESSIONS_PER_CLIENT; k++) {
      const proxy = proxies[(i + k) % 2];
      const s0 = Date.now();
      for (let attempt = 1; ; attempt++) {
        try {
          const { title } = await session(`ws://127.0.0.1:${proxy.port}/`, pageUrl);
          durations.push(Date.now() - s0);
          if (title !== 'load') failures.push(`client ${i}: title ${title}`);
          break;
        } catch (e) {
          const message = e.message.split('\n')[0];
          if (/ 503 /.test(message) && attempt < 10) {
            retries++;
            await sleep(1000);
            continue;
          }
          failures.push(`client ${i} session ${k}: ${message}`);
          break;
        }
      }
    }
  }));
  const elapsed = Date.now() - t0;
  sampling = false;
  await sampler;
  durations.sort((a, b) => a - b);
  t.diagnostic(`${CLIENTS * SESSIONS_PER_CLIENT} sessions in ${elapsed} ms; ${samples} samples; ` +
    `max active ${maxActive}; session incl. waiting p50 ${durations[durations.length >> 1]} ms, ` +
    `max ${durations.at(-1)} ms; ${retries} retried 503s`);
  for (const w of workers) {
    t.diagnostic(`worker: ${w.lines.filter((l) => /Recycling|ready to work|Worker stopped/.test(l.message))
      .map((l) => `${l.t - t0}:${l.message.slice(0, 12)}`).join(' ')}`);
  }
  assert.deepEqual(failures, []);
  assert.ok(samples > 20, 'the sampler ran during the load');
  assert.ok(maxActive <= C, `a worker had ${maxActive} active sessions (C=${C})`);
  assert.ok(maxActive >= 2, 'the load reached the workers');

  // Every count returns to 0: no lease left, no active session counted.
  await waitFor(async () => {
    const a = await hgetall(rds.port, 'cluster:active_connections');
    return Object.values(a).every((v) => v === '0') && (await redis(rds.port, 'ZCARD', 'pwgrid:leases')) === 0;
  }, 'every active count to return to 0', 15_000);
  for (const p of proxies) {
    const m = await fetch(`http://127.0.0.1:${p.port}/metrics`).then((r) => r.text());
    assert.equal(m, '{"activeConnections":0}\n');
  }

  // Recycles: from a worker's "Recycling worker" line to its replacement's "ready" line.
  await waitFor(() => workers.every((w) => {
    const starts = w.lines.filter((l) => l.message === 'Recycling worker: shutdown_command').length;
    return w.ids.length === starts + 1;
  }), 'recycles in progress to finish', 60_000);
  const intervals = [];
  for (const w of workers) {
    let start = null;
    for (const l of w.lines) {
      if (l.message === 'Recycling worker: shutdown_command') start = l.t;
      if (l.message === 'Browser worker is ready to work' && start !== null) {
        intervals.push([start, l.t]);
        start = null;
      }
    }
  }
  intervals.sort((a, b) => a[0] - b[0]);
  t.diagnostic(`recycles: ${intervals.map(([a, b]) => `${a - t0}..${b - t0} ms`).join(', ')}`);
  assert.ok(intervals.length >= 2, `${intervals.length} recycles; expected at least 2`);
  for (let i = 1; i < intervals.length; i++) {
    assert.ok(intervals[i][0] >= intervals[i - 1][1],
      `recycles overlap: ${JSON.stringify(intervals.map(([a, b]) => [a - t0, b - t0]))}`);
  }
  for (const w of workers) assert.equal(w.exited, null);
});
