// End to end, in the shape users compare grids (playwright-distributed v1's head-to-head against
// browserless): N tasks (connect -> newPage -> goto a data: URL -> close) at concurrency K
// against one Chromium worker, through three paths:
//   direct:   straight to a pwgrid-worker's browser server (the endpoint it registered);
//   redis:    pwgrid-server in Redis mode in front of that worker;
//   embedded: pwgrid-server in embedded mode with one local worker (no Redis).
// Per path: wall time, time to first page (task start to newPage resolved) p50/p95, and the CPU
// seconds per task of the whole grid: every process of the grid (relay, worker, launcher,
// browser processes, Redis) with the children they reaped (utime + stime + cutime + cstime),
// read from /proc before and after. The client (this process) is not counted.
// Usage: node bench/tasks.mjs <build dir> [tasks per path, default 1000] [concurrency, default 5]
//                             [--json]
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';

const require = createRequire(import.meta.url);
const { chromium } = require('playwright-core');
const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const json = process.argv.includes('--json');
const build = args[0] || 'build';
const tasks = Number(args[1] || 1000);
const concurrency = Number(args[2] || 5);
if (!(tasks > 0) || !(concurrency > 0)) throw new Error('tasks and concurrency must be positive');

process.env.PWGRID_SERVER ??= `${build}/server/pwgrid-server`;
process.env.PWGRID_WORKER ??= `${build}/server/pwgrid-worker`;
const h = await import('../tests/e2e/redis_harness.mjs');
const { startGrid, stopGrid, descendants } = await import('../tests/e2e/grid_harness.mjs');

const TICK = 100;  // clock ticks per second of /proc/<pid>/stat (Linux's USER_HZ)
// CPU seconds of `roots` and their descendants, in all and by process name (comm).
function cpuSeconds(roots) {
  let ticks = 0;
  const byName = {};
  const seen = new Set();
  for (const root of roots) {
    for (const pid of [root, ...descendants(root)]) {
      if (seen.has(pid)) continue;
      seen.add(pid);
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const t = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        ticks += t;
        byName[name] = (byName[name] || 0) + t / TICK;
      } catch { /* gone meanwhile */ }
    }
  }
  return { total: ticks / TICK, byName };
}

const PAGE = 'data:text/html,<title>task</title><h1>hello</h1>';
async function task(url, firstPage) {
  const t0 = performance.now();
  const browser = await chromium.connect(url);
  try {
    const page = await browser.newPage();
    firstPage.push(performance.now() - t0);
    await page.goto(PAGE);
    await page.close();
  } finally {
    await browser.close();
  }
}

async function run(url, roots) {
  for (let i = 0; i < 5; i++) await task(url, []);  // warm up the path
  const firstPage = [];
  let next = 0;
  let failed = 0;
  const cpu0 = cpuSeconds(roots);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < tasks) {
      next++;
      await task(url, firstPage).catch(() => { failed++; });
    }
  }));
  const wall = (performance.now() - t0) / 1000;
  const cpu1 = cpuSeconds(roots);
  const cpu = cpu1.total - cpu0.total;
  const by = {};
  for (const [name, s] of Object.entries(cpu1.byName)) {
    const d = (s - (cpu0.byName[name] || 0)) / tasks;
    if (d > 0.0005) by[name] = Number(d.toFixed(4));
  }
  firstPage.sort((a, b) => a - b);
  const q = (p) => firstPage[Math.min(firstPage.length - 1, Math.floor(p * firstPage.length))];
  return { wall_s: wall, first_page_p50_ms: q(0.5), first_page_p95_ms: q(0.95),
    cpu_s_per_task: cpu / tasks, cpu_s_per_task_by_process: by, failed };
}

const results = {};
const limits = { MAX_CONCURRENT_SESSIONS: String(concurrency), MAX_LIFETIME_SESSIONS: '1000000' };
{
  const rds = await h.startRedis();
  const worker = await h.startWorker(rds.port, { HEARTBEAT_INTERVAL: '5', REDIS_KEY_TTL: '15',
    ...limits });
  const proxy = await h.startProxy(rds.port, limits);
  const direct = (await h.hgetall(rds.port, `worker:${worker.ids[0]}`)).endpoint;
  const roots = [rds.child.pid, worker.child.pid];
  results.direct = await run(direct, roots);
  results.redis = await run(`ws://127.0.0.1:${proxy.port}/?browser=chromium`,
    [...roots, proxy.child.pid]);
  await stopGrid(proxy);
  await h.stopProcess(worker);
  await rds.stop('SIGTERM');
}
{
  const grid = await startGrid({ LOCAL_WORKERS: '1', SPARE_BROWSERS: '0', ...limits });
  await h.waitFor(async () => {
    const r = await fetch(`http://127.0.0.1:${grid.port}/api/v1/status`).catch(() => null);
    return r && (await r.json()).workers?.some((w) => w.status === 'available');
  }, 'the local worker', 90_000, 100);
  results.embedded = await run(`ws://127.0.0.1:${grid.port}/?browser=chromium`, [grid.child.pid]);
  await stopGrid(grid);
}
results.cores = os.cpus().length;
results.tasks = tasks;
results.concurrency = concurrency;
if (json) {
  console.log(JSON.stringify(results));
} else {
  for (const [path, r] of Object.entries(results)) {
    if (typeof r !== 'object') continue;
    console.log(`${path.padEnd(9)} wall ${r.wall_s.toFixed(1)} s, first page p50 ` +
      `${r.first_page_p50_ms.toFixed(1)} ms p95 ${r.first_page_p95_ms.toFixed(1)} ms, ` +
      `${r.cpu_s_per_task.toFixed(3)} CPU-s/task, ${r.failed} failed; by process: ` +
      JSON.stringify(r.cpu_s_per_task_by_process));
  }
}
