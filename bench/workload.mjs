// Real workload: sessions per second with real Chromium, through pwgrid against directly to the
// same workers. redis-server, 2 pwgrid-worker processes and one pwgrid-server (Redis mode, C=2,
// so capacity is 4) on loopback. 4 client loops (concurrency = capacity) each repeat
// connect -> newContext -> newPage -> goto a loopback page -> close. Phases alternate direct,
// grid, direct, grid, each half of the given seconds; direct loops are spread evenly over the
// workers' endpoints.
// Usage: node bench/workload.mjs <build dir> [seconds, default 30]
// The last line is JSON: {"direct": sessions/s, "grid": sessions/s, "capacity": 4}.
import { createRequire } from 'node:module';
import http from 'node:http';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');
const build = process.argv[2] || 'build';
const seconds = Number(process.argv[3] || 30);
process.env.PWGRID_SERVER ??= `${build}/server/pwgrid-server`;
process.env.PWGRID_WORKER ??= `${build}/server/pwgrid-worker`;
const h = await import('../tests/e2e/redis_harness.mjs');
const { stopGrid } = await import('../tests/e2e/grid_harness.mjs');

const WORKERS = 2;
const C = 2;
const pages = http.createServer((req, res) => {
  res.setHeader('content-type', 'text/html');
  res.end('<!doctype html><title>bench</title><p>hello</p>');
});
await new Promise((r) => pages.listen(0, '127.0.0.1', r));
const pageUrl = `http://127.0.0.1:${pages.address().port}/`;
const rds = await h.startRedis();
const workers = [];
for (let i = 0; i < WORKERS; i++) {
  workers.push(await h.startWorker(rds.port, { HEARTBEAT_INTERVAL: '5', REDIS_KEY_TTL: '15' }));
}
const proxy = await h.startProxy(rds.port, {
  MAX_CONCURRENT_SESSIONS: String(C), MAX_LIFETIME_SESSIONS: '1000000', WORKER_SELECT_TIMEOUT: '12',
});
const endpoints = [];
for (const w of workers) endpoints.push((await h.hgetall(rds.port, `worker:${w.ids[0]}`)).endpoint);
const grid = `ws://127.0.0.1:${proxy.port}/?browser=chromium`;

async function oneSession(url) {
  const browser = await chromium.connect(url, { timeout: 30_000 });
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(pageUrl);
    await context.close();
  } finally {
    await browser.close();
  }
}

// Runs `capacity` loops for `ms`; counts sessions that finished inside the window.
async function phase(urlFor, ms) {
  const end = Date.now() + ms;
  let done = 0;
  const loops = [];
  for (let i = 0; i < WORKERS * C; i++) {
    loops.push((async () => {
      while (Date.now() < end) {
        await oneSession(urlFor(i));
        if (Date.now() <= end) done++;
      }
    })());
  }
  await Promise.all(loops);
  return done / (ms / 1000);
}

try {
  await phase(() => grid, 2000);  // warm-up
  const half = (seconds * 1000) / 4;
  const direct = [], viaGrid = [];
  for (let i = 0; i < 2; i++) {
    direct.push(await phase((k) => endpoints[k % WORKERS], half));
    viaGrid.push(await phase(() => grid, half));
  }
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  console.log(JSON.stringify({ direct: mean(direct), grid: mean(viaGrid), capacity: WORKERS * C }));
} finally {
  await stopGrid(proxy);
  for (const w of workers) await h.stopProcess(w);
  await rds.stop('SIGTERM');
  pages.close();
}
