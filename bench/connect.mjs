// Connect time of the real playwright-core client to one Chromium worker: directly, through
// pwgrid, and through nginx (a WebSocket reverse proxy in front of the same worker, the
// reference). Connect + close, the three paths interleaved, in two phases:
//   back-to-back: each connect starts as soon as the previous close resolved, so it overlaps the
//                 worker's teardown of the previous session (on 2 cores, both Node processes and
//                 the relay then compete for the CPUs);
//   isolated:     a pause of --pause-ms (default 25 ms) before each connect lets that teardown
//                 finish, so only the connect itself is timed.
// Modes:
//   embedded: examples/relay_in_process (one Chromium worker behind an embedded Relay);
//   redis:    a redis-server, one pwgrid-worker and one pwgrid-server in Redis mode, all on
//             loopback; "direct" is the endpoint the worker registered.
// Usage: node bench/connect.mjs <build dir> [connects per path, default 50] [embedded|redis]
//                               [--json] [--pause-ms N] [--no-nginx]
// --json: the last line is {"back_to_back":{"direct":{"p50","p95","p99"},"grid":…,"nginx":…},
// "isolated":{…}} in ms.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');
const positional = [];
const flags = {};
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--pause-ms') flags.pauseMs = Number(process.argv[++i]);
  else if (a.startsWith('--')) flags[a.slice(2)] = true;
  else positional.push(a);
}
const build = positional[0] || 'build';
const n = Number(positional[1] || 50);
const mode = positional[2] || 'embedded';
const json = flags.json === true;
const pauseMs = flags.pauseMs ?? 25;
const NGINX = '/usr/sbin/nginx';
const withNginx = !flags['no-nginx'] && fs.existsSync(NGINX);
if (!['embedded', 'redis'].includes(mode)) throw new Error(`unknown mode ${mode}`);
if (!(n > 0) || !(pauseMs >= 0)) throw new Error('connects and --pause-ms must be numbers');

// The e2e harness's helpers (it needs the two binaries' paths before it is imported).
process.env.PWGRID_SERVER ??= `${build}/server/pwgrid-server`;
process.env.PWGRID_WORKER ??= `${build}/server/pwgrid-worker`;
const h = await import('../tests/e2e/redis_harness.mjs');
const { stopGrid } = await import('../tests/e2e/grid_harness.mjs');

// nginx in front of the worker's port, configured from bench/nginx.conf.in as bench/run.py does.
async function startNginx(upstreamPort) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pwgrid-connect-nginx-'));
  const port = await h.freePort();
  const fields = { WORKERS: 2, TMP: tmp, PORT: port, UPSTREAM: upstreamPort, BUFFER: '64k',
    BUSY: '128k', NOFILE: 4096, CONNECTIONS: 1024 };
  let conf = fs.readFileSync(new URL('./nginx.conf.in', import.meta.url), 'utf8');
  for (const [k, v] of Object.entries(fields)) conf = conf.replaceAll(`@${k}@`, String(v));
  fs.writeFileSync(path.join(tmp, 'nginx.conf'), conf);
  const child = spawn(NGINX, ['-p', tmp, '-c', path.join(tmp, 'nginx.conf')], { stdio: 'ignore' });
  await h.waitFor(async () => {
    if (child.exitCode !== null) throw new Error('nginx exited at start');
    return new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => { c.destroy(); resolve(true); });
      c.on('error', () => resolve(false));
    });
  }, 'nginx to listen', 5_000, 25);
  return {
    port,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.on('exit', r));
      }
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}

const urls = {};
let stopAll;
if (mode === 'embedded') {
  const host = spawn(`${build}/examples/relay_in_process`, [], { stdio: ['pipe', 'pipe', 'inherit'] });
  for await (const line of createInterface({ input: host.stdout })) {
    const [kind, url] = line.split(' ');
    urls[kind] = url;
    if (urls.direct && urls.grid) break;
  }
  stopAll = async () => {
    host.stdin.end();
    await new Promise((r) => host.on('exit', r));
  };
} else {
  const rds = await h.startRedis();
  const worker = await h.startWorker(rds.port, { HEARTBEAT_INTERVAL: '5', REDIS_KEY_TTL: '15' });
  const proxy = await h.startProxy(rds.port, { MAX_LIFETIME_SESSIONS: '1000000' });
  urls.direct = (await h.hgetall(rds.port, `worker:${worker.ids[0]}`)).endpoint;
  urls.grid = `ws://127.0.0.1:${proxy.port}/?browser=chromium`;
  stopAll = async () => {
    await stopGrid(proxy);
    await h.stopProcess(worker);
    await rds.stop('SIGTERM');
  };
}
if (withNginx) {
  const direct = new URL(urls.direct);
  const nginx = await startNginx(Number(direct.port));
  urls.nginx = `ws://127.0.0.1:${nginx.port}${direct.pathname}`;
  const stopRest = stopAll;
  stopAll = async () => {
    await nginx.stop();
    await stopRest();
  };
}
const paths = Object.keys(urls);  // direct, grid[, nginx]

async function connectOnce(url) {
  const t0 = performance.now();
  const browser = await chromium.connect(url);
  const ms = performance.now() - t0;
  await browser.close();
  return ms;
}
const q = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  const i = (s.length - 1) * p;
  return s[Math.floor(i)] + (s[Math.ceil(i)] - s[Math.floor(i)]) * (i - Math.floor(i));
};

async function phase(pause) {
  const times = Object.fromEntries(paths.map((k) => [k, []]));
  for (let i = 0; i < n; i++) {
    for (const k of paths) {
      if (pause > 0) await h.sleep(pause);
      times[k].push(await connectOnce(urls[k]));
    }
  }
  return times;
}

for (let i = 0; i < 5; i++) for (const k of paths) await connectOnce(urls[k]);  // warm-up
const results = { back_to_back: await phase(0), isolated: await phase(pauseMs) };
await stopAll();
if (json) {
  const qs = (xs) => ({ p50: q(xs, 0.5), p95: q(xs, 0.95), p99: q(xs, 0.99) });
  const out = {};
  for (const [ph, times] of Object.entries(results)) {
    out[ph] = Object.fromEntries(Object.entries(times).map(([k, xs]) => [k, qs(xs)]));
  }
  console.log(JSON.stringify(out));
  process.exit(0);
}
console.log(`| phase | path (${n} connects each, interleaved) | p50 ms | p95 ms | p50 over direct |`);
console.log('|---|---|---|---|---|');
for (const [ph, times] of Object.entries(results)) {
  for (const k of paths) {
    const name = { direct: 'direct to the worker', grid: `through pwgrid (${mode})`, nginx: 'through nginx' }[k];
    console.log(`| ${ph} | ${name} | ${q(times[k], 0.5).toFixed(2)} | ${q(times[k], 0.95).toFixed(2)} | ` +
      `${(q(times[k], 0.5) - q(times.direct, 0.5)).toFixed(2)} |`);
  }
}
