// The grid-wide queue end to end: 1 redis-server, 1 pwgrid-worker with Chromium, 2 to 4
// pwgrid-server processes with MAX_CONCURRENT_SESSIONS=1, so that exactly one client is served at
// a time. A holder takes the slot; clients arrive on different proxies at known times (each
// waits in the queue; the test sees its ticket in Redis before the next one arrives); then the
// holder closes. Each client runs a real session (newPage, goto, title) and closes, which lets
// the next one in. The order in which chromium.connect() resolves is the service order.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';

import { chromium, stopGrid } from './grid_harness.mjs';
import { hgetall, redis, sleep, startProxy, startRedis, startWorker, stopProcess, waitFor } from './redis_harness.mjs';

const PAGE = 'data:text/html,<title>queued</title>';
const TOKENS = 'flood:flood-token,other:other-token';
let rds;
let worker;
const proxies = [];

const env = { MAX_CONCURRENT_SESSIONS: '1', MAX_LIFETIME_SESSIONS: '100000', WORKER_SELECT_TIMEOUT: '12',
  LEASE_TTL: '2', AUTH_TOKENS: TOKENS };
const url = (p) => `ws://127.0.0.1:${p.port}/?browser=chromium`;
const auth = (token) => ({ headers: { Authorization: `Bearer ${token}` }, timeout: 90_000 });
const waiting = async () => Number(await redis(rds.port, 'ZCARD', 'pwgrid:ticket-expiry'));

before(async () => {
  rds = await startRedis();
  worker = await startWorker(rds.port);
  for (let i = 0; i < 3; i++) proxies.push(await startProxy(rds.port, env));
});

after(async () => {
  for (const p of proxies) await stopGrid(p);
  if (worker) await stopProcess(worker);
  if (rds) await rds.stop('SIGTERM');
});

// Holds the only slot through `proxy` until release() is called.
async function hold(proxy, token = 'flood-token') {
  const browser = await chromium.connect(url(proxy), auth(token));
  return { release: () => browser.close() };
}

// Queues `clients` ({name, proxy, token}) one after the other, each once its ticket is in Redis;
// resolves with the service order once everyone was served.
async function queueUp(clients, holder) {
  const order = [];
  const runs = [];
  for (const c of clients) {
    const before = await waiting();
    runs.push((async () => {
      const browser = await chromium.connect(url(c.proxy), auth(c.token || 'flood-token'));
      order.push(c.name);
      try {
        const page = await browser.newPage();
        await page.goto(PAGE);
        assert.equal(await page.title(), 'queued');
      } finally {
        await browser.close();
      }
    })());
    await waitFor(async () => (await waiting()) === before + 1, `${c.name} to be queued`, 10_000, 10);
  }
  await holder.release();
  await Promise.all(runs);
  return order;
}

// A WebSocket upgrade request that resolves with the HTTP answer when it is refused.
function upgrade(port, token) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/?browser=chromium', headers: {
      Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13',
      'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', Authorization: `Bearer ${token}` } });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('upgrade', (res, socket) => { socket.destroy(); reject(new Error('upgraded')); });
    req.on('error', reject);
  });
}

async function settled() {
  await waitFor(async () => {
    const a = await hgetall(rds.port, 'cluster:active_connections');
    return Object.values(a).every((v) => v === '0') && (await waiting()) === 0;
  }, 'every slot and ticket to be free', 20_000);
}

for (const n of [2, 3]) {
  test(`${n} proxies: interleaved arrivals are served in arrival order, 0 inversions`, async () => {
    const holder = await hold(proxies[0]);
    const clients = [];
    for (let i = 0; i < 3 * n; i++) {
      const p = (i + 1) % n;  // B, C, A, B, ...: never the releasing proxy's own client first
      clients.push({ name: `c${i}@${String.fromCharCode(65 + p)}`, proxy: proxies[p] });
    }
    const order = await queueUp(clients, holder);
    console.log(`service order: ${order.join(' ')}`);
    assert.deepEqual(order, clients.map((c) => c.name));
    await settled();
  });
}

test('a sustained stream on one proxy does not starve another proxy\'s client', async () => {
  const holder = await hold(proxies[0]);
  const clients = [];
  for (let i = 0; i < 8; i++) {
    clients.push({ name: `a${i}`, proxy: proxies[0] });
    if (i === 2) clients.push({ name: 'b', proxy: proxies[1] });
  }
  const order = await queueUp(clients, holder);
  // b arrived fourth: it is served fourth, before the five stream clients that came after it.
  assert.equal(order.indexOf('b'), 3, order.join(' '));
  await settled();
});

test('tenants: the other token\'s clients alternate with a flood, not behind it', async () => {
  const holder = await hold(proxies[0], 'flood-token');
  const clients = [];
  for (let i = 0; i < 6; i++) clients.push({ name: `f${i}`, proxy: proxies[0], token: 'flood-token' });
  for (let i = 0; i < 3; i++) clients.push({ name: `o${i}`, proxy: proxies[1], token: 'other-token' });
  const order = await queueUp(clients, holder);
  console.log(`service order: ${order.join(' ')}`);
  // Turns: after "flood" comes "other", then "flood" again, ...
  assert.deepEqual(order, ['o0', 'f0', 'o1', 'f1', 'o2', 'f2', 'f3', 'f4', 'f5']);
  await settled();
});

test('a proxy SIGKILLed with 3 queued clients: the rest move on in order, no slot is lost', async () => {
  const doomed = await startProxy(rds.port, env);
  try {
    const holder = await hold(proxies[0]);
    const runs = [];
    const order = [];
    const connect = (name, proxy) => {
      const before = waiting();
      runs.push((async () => {
        try {
          const browser = await chromium.connect(url(proxy), auth('flood-token'));
          order.push(name);
          await browser.close();
        } catch (e) {
          order.push(`${name}:failed`);
        }
      })());
      return before;
    };
    for (const [name, p] of [['d0', doomed], ['d1', doomed], ['d2', doomed], ['a0', proxies[0]], ['b0', proxies[1]]]) {
      const n = await waiting();
      connect(name, p);
      await waitFor(async () => (await waiting()) === n + 1, `${name} to be queued`, 10_000, 10);
    }
    doomed.child.kill('SIGKILL');
    await waitFor(() => doomed.exited, 'the doomed proxy to exit', 10_000);
    const t0 = Date.now();
    await holder.release();
    await Promise.all(runs);
    const waited = Date.now() - t0;
    console.log(`order: ${order.join(' ')}; the living clients waited ${waited} ms (LEASE_TTL 2 s)`);
    assert.deepEqual(order.filter((o) => !o.startsWith('d')), ['a0', 'b0']);
    assert.ok(waited < 10_000, `served after ${waited} ms`);
    await settled();
  } finally {
    if (!doomed.exited) doomed.child.kill('SIGKILL');
  }
});

test('the 429 counts the grid\'s waiting clients, not one proxy\'s', async () => {
  const small = [await startProxy(rds.port, { ...env, MAX_WAITING_CLIENTS: '3' }),
    await startProxy(rds.port, { ...env, MAX_WAITING_CLIENTS: '3' })];
  try {
    const holder = await hold(small[0]);
    const runs = [];
    for (const [i, p] of [[0, small[0]], [1, small[1]], [2, small[1]]]) {
      const n = await waiting();
      runs.push(chromium.connect(url(p), auth('flood-token')).then((b) => b.close()));
      await waitFor(async () => (await waiting()) === n + 1, `w${i} to be queued`, 10_000, 10);
    }
    // small[0] holds one waiter itself; the grid holds three.
    const res = await upgrade(small[0].port, 'flood-token');
    assert.equal(res.status, 429);
    assert.equal(res.headers['retry-after'], '1');
    assert.deepEqual(JSON.parse(res.body), { error: { code: 429, message: 'Too many waiting clients' } });
    await holder.release();
    await Promise.all(runs);
    await settled();
  } finally {
    for (const p of small) await stopGrid(p);
  }
});
