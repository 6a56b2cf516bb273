// End to end, the operator's side of a Redis grid with two proxies: every proxy's status view
// lists the whole fleet's workers and sessions, one proxy reports the grid-wide series as
// primary, the session id reaches the worker, readiness follows Redis, and a drain goes out as
// upstream's recycle command.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';

import { stopGrid } from './grid_harness.mjs';
import { api, rawSession, startRecordingWorker } from './ops_harness.mjs';
import { redis, registerLikeUpstream, startProxy, startRedis, waitFor } from './redis_harness.mjs';

const ADMIN = 'adm1n-secret';
let r;
let worker;
let wid;
let a;
let b;

before(async () => {
  r = await startRedis();
  worker = await startRecordingWorker();
  wid = await registerLikeUpstream(r.port, randomUUID(), worker.endpoint, 600);
  const env = { ADMIN_TOKENS: `ops:${ADMIN}`, LOG_FORMAT: 'json' };
  a = await startProxy(r.port, env);
  b = await startProxy(r.port, env);
});

after(async () => {
  for (const p of [a, b]) if (p) await stopGrid(p);
  if (worker) await worker.stop();
  if (r) await r.stop();
});

const status = async (p) => (await api(p.port, 'GET', '/api/v1/status')).json;
const metrics = async (p) => (await api(p.port, 'GET', '/metrics?format=prometheus')).body;

test('the session id reaches the worker as X-Pwgrid-Session-Id; a client cannot set it', async () => {
  const from = a.lines.length;
  const s = await rawSession(a.port, '/', 'X-Pwgrid-Session-Id: forged\r\n');
  const started = await waitFor(() => a.lines.slice(from).find((l) => /^New connection from /.test(l.msg || '')),
    'the start line', 10_000);
  const seen = worker.requests.at(-1).headers;
  assert.equal(seen['x-pwgrid-session-id'], started.sessionId);
  assert.match(started.sessionId, /^[0-9a-f-]{36}$/);
  assert.equal(started.clientVersion, '1.65.1');
  s.close(1000);
  assert.equal(await s.closed, 1000);
  const ended = await waitFor(() => a.lines.slice(from).find((l) => /^Session of /.test(l.msg || '')),
    'the end line', 10_000);
  assert.equal(ended.sessionId, started.sessionId);
  assert.equal(ended.closedBy, 'client');
  assert.equal(String(ended.closeCode), '1000');
});

test('either proxy lists the whole grid: the worker, and a session relayed by the other', async () => {
  const s = await rawSession(a.port);
  try {
    const seenFromB = await waitFor(async () => {
      const st = await status(b);
      return st.sessions.length === 1 && st.workers[0]?.active === 1 ? st : null;
    }, 'B to list the session A relays', 10_000, 100);
    const fromA = await status(a);
    assert.equal(fromA.sessions.length, 1);
    const [mine] = fromA.sessions;
    const [theirs] = seenFromB.sessions;
    assert.equal(theirs.id, mine.id);
    assert.equal(theirs.proxy, mine.proxy, 'named by the proxy that relays it');
    assert.equal(theirs.workerId, wid);
    assert.equal(theirs.clientVersion, '1.65.1');
    assert.match(theirs.client, /^127\.0\.0\.1:\d+$/);
    assert.equal(theirs.bytesToWorker, null, 'only the relaying proxy counts bytes');
    assert.equal(seenFromB.mode, 'redis');
    assert.equal(seenFromB.workers.length, 1);
    assert.equal(seenFromB.workers[0].id, wid);
    assert.equal(seenFromB.workers[0].status, 'available');
    assert.equal(seenFromB.workers[0].playwrightVersion, '', 'upstream workers register none');
  } finally {
    s.close(1000);
    await s.closed;
  }
  await waitFor(async () => (await status(b)).sessions.length === 0, 'the session to leave B\'s list', 10_000, 100);
  assert.equal(await redis(r.port, 'HLEN', 'pwgrid:sessions'), 0);
});

test('grid-wide series: both proxies report the grid, exactly one as primary', async () => {
  const line = (text) => /^pwgrid_grid_workers\{browser="chromium",primary="(true|false)",status="available"\} (\d+)$/m.exec(text);
  const [ma, mb] = await waitFor(async () => {
    const both = [line(await metrics(a)), line(await metrics(b))];
    return both.every(Boolean) && both[0][1] !== both[1][1] ? both : null;
  }, 'one primary and one not', 10_000, 100);
  assert.deepEqual([ma[2], mb[2]], ['1', '1']);
  assert.match(await metrics(a), /^pwgrid_build_info\{mode="redis",playwright_version="",version="[^"]+"\} 1$/m);
  assert.match(await metrics(b), /^pwgrid_registry_up 1$/m);
});

test('readiness follows Redis: 503 with the reason while it is down, 200 when it is back', async () => {
  assert.equal((await api(b.port, 'GET', '/readyz')).status, 200);
  await r.stop();
  try {
    const down = await waitFor(async () => {
      const x = await api(b.port, 'GET', '/readyz');
      return x.status === 503 ? x : null;
    }, '/readyz 503', 15_000, 100);
    assert.equal(down.json.status, 'not ready');
    assert.match(down.json.reason, /registry|Redis/i);
    assert.equal((await api(b.port, 'GET', '/healthz')).status, 200);
    await waitFor(async () => /^pwgrid_registry_up 0$/m.test(await metrics(b)), 'registry_up 0', 15_000, 100);
  } finally {
    await r.resume();
  }
  await registerLikeUpstream(r.port, wid.slice('chromium:'.length), worker.endpoint, 600);
  await waitFor(async () => (await api(b.port, 'GET', '/readyz')).status === 200, '/readyz 200 again', 20_000, 100);
});

test('drain through any proxy: upstream\'s recycle command for the worker', async () => {
  const path = `/api/v1/workers/${encodeURIComponent(wid)}/drain`;
  assert.equal((await api(b.port, 'POST', path, 'nope')).status, 403);
  const ok = await api(b.port, 'POST', path, ADMIN);
  assert.ok(ok.status === 200 || ok.status === 202, `${ok.status} ${ok.body}`);
  assert.equal(await redis(r.port, 'GET', `worker:cmd:${wid}`), 'shutdown');
  const again = await api(a.port, 'POST', path, ADMIN);
  assert.equal(again.json.alreadyRequested, true);
});
