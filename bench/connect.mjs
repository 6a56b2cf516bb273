// Connect time of the real playwright-core client: through pwgrid against directly to the same
// worker. Alternates direct and grid connects (connect + close) and prints p50/p95 of each.
//   embedded: examples/relay_in_process (one Chromium worker behind an embedded Relay);
//   redis:    a redis-server, one pwgrid-worker and one pwgrid-server in Redis mode, all on
//             loopback; "direct" is the endpoint the worker registered.
// Usage: node bench/connect.mjs <build dir> [connects per path, default 50] [embedded|redis] [--json]
// --json: the last line is {"direct":{"p50","p95","p99"},"grid":{…}} in ms.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');
const build = process.argv[2] || 'build';
const n = Number(process.argv[3] || 50);
const mode = process.argv[4] || 'embedded';
const json = process.argv.includes('--json');
if (!['embedded', 'redis'].includes(mode)) throw new Error(`unknown mode ${mode}`);

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
  process.env.PWGRID_SERVER ??= `${build}/server/pwgrid-server`;
  process.env.PWGRID_WORKER ??= `${build}/server/pwgrid-worker`;
  const h = await import('../tests/e2e/redis_harness.mjs');
  const { stopGrid } = await import('../tests/e2e/grid_harness.mjs');
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

for (let i = 0; i < 5; i++) { await connectOnce(urls.direct); await connectOnce(urls.grid); }  // warm-up
const direct = [], grid = [];
for (let i = 0; i < n; i++) {
  direct.push(await connectOnce(urls.direct));
  grid.push(await connectOnce(urls.grid));
}
if (json) {
  const qs = (xs) => ({ p50: q(xs, 0.5), p95: q(xs, 0.95), p99: q(xs, 0.99) });
  await stopAll();
  console.log(JSON.stringify({ direct: qs(direct), grid: qs(grid) }));
  process.exit(0);
}
const row = (name, xs) => `| ${name} | ${q(xs, 0.5).toFixed(2)} | ${q(xs, 0.95).toFixed(2)} |`;
console.log(`| path (${n} connects each, interleaved) | p50 ms | p95 ms |`);
console.log('|---|---|---|');
console.log(row('direct to the worker', direct));
console.log(row(`through pwgrid (${mode})`, grid));
console.log(`| difference | ${(q(grid, 0.5) - q(direct, 0.5)).toFixed(2)} | ${(q(grid, 0.95) - q(direct, 0.95)).toFixed(2)} |`);
await stopAll();
