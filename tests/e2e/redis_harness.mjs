// Helpers of the Redis-mode end-to-end tests: a real redis-server on a free loopback port, a small
// RESP2 client, pwgrid-worker and pwgrid-server processes. Every process is stopped by PID.
import { spawn } from 'node:child_process';
import { createConnection, createServer } from 'node:net';

import { startGrid } from './grid_harness.mjs';

export const WORKER = process.env.PWGRID_WORKER;
if (!WORKER) throw new Error('PWGRID_WORKER (path of pwgrid-worker) is not set');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Polls `fn` every `everyMs` until it returns a truthy value; throws after `timeoutMs`.
export async function waitFor(fn, what, timeoutMs = 20_000, everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

// Sends one command on a fresh connection and resolves with the parsed RESP2 reply
// (null for nil; an Error object for an error reply).
export function redis(port, ...args) {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    sock.setTimeout(5000, () => { sock.destroy(); reject(new Error('redis timeout')); });
    sock.on('error', reject);
    sock.on('connect', () => {
      let out = `*${args.length}\r\n`;
      for (const a of args) out += `$${Buffer.byteLength(String(a))}\r\n${a}\r\n`;
      sock.write(out);
    });
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      const parsed = parse(buf, 0);
      if (parsed) {
        sock.end();
        resolve(parsed.value);
      }
    });
  });
}

function parse(buf, i) {
  const nl = buf.indexOf('\r\n', i);
  if (nl < 0) return null;
  const head = buf.toString('utf8', i + 1, nl);
  const type = String.fromCharCode(buf[i]);
  if (type === '+') return { value: head, next: nl + 2 };
  if (type === '-') return { value: new Error(head), next: nl + 2 };
  if (type === ':') return { value: Number(head), next: nl + 2 };
  if (type === '$') {
    const n = Number(head);
    if (n < 0) return { value: null, next: nl + 2 };
    if (buf.length < nl + 2 + n + 2) return null;
    return { value: buf.toString('utf8', nl + 2, nl + 2 + n), next: nl + 2 + n + 2 };
  }
  if (type === '*') {
    const n = Number(head);
    if (n < 0) return { value: null, next: nl + 2 };
    const out = [];
    let at = nl + 2;
    for (let k = 0; k < n; k++) {
      const e = parse(buf, at);
      if (!e) return null;
      out.push(e.value);
      at = e.next;
    }
    return { value: out, next: at };
  }
  throw new Error(`bad RESP reply: ${head}`);
}

export async function hgetall(port, key) {
  const flat = await redis(port, 'HGETALL', key);
  const out = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]] = flat[i + 1];
  return out;
}

// Registers a chromium worker with exactly the commands upstream's worker uses (both counters with
// HSETNX, the six fields, EXPIRE). Resolves with its id.
export async function registerLikeUpstream(port, uuid, endpoint, ttlS = 60) {
  const wid = `chromium:${uuid}`;
  const now = String(Date.now());
  await redis(port, 'HSETNX', 'cluster:active_connections', wid, '0');
  await redis(port, 'HSETNX', 'cluster:lifetime_connections', wid, '0');
  await redis(port, 'HSET', `worker:${wid}`, 'id', uuid, 'browserType', 'chromium',
    'endpoint', endpoint, 'status', 'available', 'startedAt', now, 'lastHeartbeat', now);
  await redis(port, 'EXPIRE', `worker:${wid}`, String(ttlS));
  return wid;
}

// A redis-server without persistence on a free loopback port. stop() and resume() simulate an
// outage (the data is lost, as with upstream's compose file).
export async function startRedis() {
  const r = { port: await freePort(), child: null };
  r.resume = async () => {
    r.child = spawn('redis-server', ['--port', String(r.port), '--bind', '127.0.0.1', '--save', '',
      '--appendonly', 'no', '--loglevel', 'warning'], { stdio: ['ignore', 'ignore', 'inherit'] });
    await waitFor(async () => (await redis(r.port, 'PING').catch(() => null)) === 'PONG',
      'redis-server to answer', 10_000);
  };
  r.stop = (signal = 'SIGKILL') => new Promise((resolve) => {
    if (!r.child || r.child.exitCode !== null || r.child.signalCode) return resolve();
    r.child.on('exit', () => resolve());
    r.child.kill(signal);
  });
  await r.resume();
  return r;
}

// One pwgrid-worker (JSON logs) with its browser server on 127.0.0.1:<free port>. Resolves once
// it logged "Browser worker is ready to work"; `w.ids` lists every worker id it registered.
export async function startWorker(redisPort, env = {}, timeoutMs = 90_000) {
  const port = await freePort();
  const child = spawn(WORKER, [], {
    env: { ...process.env, REDIS_URL: `redis://127.0.0.1:${redisPort}`, PORT: String(port),
      BIND_HOST: '127.0.0.1', LOG_FORMAT: 'json', HEARTBEAT_INTERVAL: '1', REDIS_KEY_TTL: '3',
      REDIS_RETRY_DELAY: '1', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const w = { child, port, lines: [], ids: [], exited: null };
  child.on('exit', (code, signal) => { w.exited = { code, signal }; });
  let buffered = '';
  child.stdout.on('data', (d) => {
    buffered += d.toString();
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      let rec;
      try { rec = JSON.parse(line); } catch { rec = { message: line }; }
      rec.t = Date.now();
      w.lines.push(rec);
      if (rec.message === 'Browser worker is ready to work') w.ids.push(`chromium:${rec.workerId}`);
    }
  });
  await waitFor(() => w.ids.length > 0 || w.exited, 'pwgrid-worker to be ready', timeoutMs, 20);
  if (!w.ids.length) throw new Error(`pwgrid-worker exited early: ${JSON.stringify(w.exited)}`);
  return w;
}

export function stopProcess(p, signal = 'SIGTERM', timeoutMs = 30_000) {
  if (p.exited) return Promise.resolve(p.exited);
  return new Promise((resolve) => {
    const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
    p.child.on('exit', (code, sig) => {
      clearTimeout(timer);
      resolve({ code, signal: sig });
    });
    p.child.kill(signal);
  });
}

// pwgrid-server in Redis mode.
export function startProxy(redisPort, env = {}) {
  return startGrid({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(redisPort), ...env });
}
