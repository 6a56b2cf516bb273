// End to end, the operator's side of an embedded grid: Prometheus metrics scraped by a real
// Prometheus, probes, the admin API, the status page in real headless Chromium, session logs,
// queueing past upstream's 12 s cap, and the drain on SIGTERM.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { chromium, session, startGrid, startPageServer, stopGrid } from './grid_harness.mjs';
import {
  api, promtoolCheck, rawExchange, rawSession, startPrometheus, upgradeHead,
} from './ops_harness.mjs';
import { sleep, waitFor } from './redis_harness.mjs';

const ADMIN = 'adm1n-secret';
let grid;
let pages;
let pageBase;
let prometheus;

before(async () => {
  pages = await startPageServer();
  pageBase = `http://127.0.0.1:${pages.address().port}`;
  grid = await startGrid({
    LOCAL_WORKERS: '1', MAX_CONCURRENT_SESSIONS: '1', ADMIN_TOKENS: `ops:${ADMIN}`,
    QUEUE_TIMEOUT: '60', SHUTDOWN_GRACE_PERIOD: '20',
  });
});

after(async () => {
  if (prometheus) await prometheus.stop();
  if (grid) await stopGrid(grid);
  if (pages) pages.close();
});

const status = async () => (await api(grid.port, 'GET', '/api/v1/status')).json;

test('liveness and readiness probes; the startup line names version, mode and Playwright', async () => {
  const live = await api(grid.port, 'GET', '/healthz');
  assert.equal(live.status, 200);
  const ready = await api(grid.port, 'GET', '/readyz');
  assert.equal(ready.status, 200, ready.body);
  assert.equal(ready.json.status, 'ready');
  assert.equal(ready.json.availableWorkers, 1);
  const line = grid.lines.find((l) => /^Grid ready/.test(l.msg || ''));
  assert.ok(line, 'a "Grid ready" line');
  assert.match(line.version, /^\d+\.\d+\.\d+/);
  assert.equal(line.mode, 'embedded');
  assert.equal(line.playwrightVersion, '1.65.1');
});

test('/metrics: upstream JSON for curl, Prometheus text for a scraper; promtool accepts it', async () => {
  assert.equal((await api(grid.port, 'GET', '/metrics')).body, '{"activeConnections":0}\n');
  const res = await fetch(`http://127.0.0.1:${grid.port}/metrics`, {
    headers: { Accept: 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;' +
      'version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1' },
  });
  assert.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const check = promtoolCheck(text);
  assert.equal(check.status, 0, check.output);
  for (const family of ['pwgrid_build_info', 'pwgrid_sessions_active', 'pwgrid_sessions_total',
    'pwgrid_session_duration_seconds', 'pwgrid_connect_duration_seconds',
    'pwgrid_queue_wait_seconds', 'pwgrid_clients_waiting',
    'pwgrid_relayed_bytes_total', 'pwgrid_worker_dial_failures_total', 'pwgrid_registry_up',
    'pwgrid_grid_workers', 'pwgrid_grid_free_slots', 'pwgrid_grid_worker_recycles_total']) {
    assert.match(text, new RegExp(`^# TYPE ${family} `, 'm'), family);
  }
  assert.match(text, /^pwgrid_build_info\{mode="embedded",playwright_version="1\.65\.1",version="[^"]+"\} 1$/m);
  assert.match(text, /^pwgrid_grid_workers\{browser="chromium",primary="true",status="available"\} 1$/m);
  const q = await api(grid.port, 'GET', '/metrics?format=prometheus');
  assert.equal(promtoolCheck(q.body).status, 0);
});

test('a real Prometheus scrapes the grid during real sessions: up == 1, sessions counted', async () => {
  // With the alert rules the README recommends: they must evaluate on real pwgrid series.
  const rules = fileURLToPath(new URL('../../deploy/prometheus/pwgrid-alerts.yml', import.meta.url));
  prometheus = await startPrometheus(grid.port, rules);
  await waitFor(async () => (await prometheus.query('up{job="pwgrid"} == 1')).length === 1,
    'Prometheus to see the target up', 30_000, 250);
  for (let i = 0; i < 2; i++) {
    assert.equal((await session(`ws://127.0.0.1:${grid.port}/`, `${pageBase}/scraped-${i}`)).title,
      `scraped-${i}`);
  }
  const counted = await waitFor(async () => {
    const r = await prometheus.query('pwgrid_sessions_total{browser="chromium"}');
    return r.length === 1 && Number(r[0].value[1]) >= 2 ? r : null;
  }, 'Prometheus to read 2 sessions', 30_000, 250);
  assert.equal(counted[0].metric.job, 'pwgrid');
  const bytes = await waitFor(async () => {
    const r = await prometheus.query('sum(pwgrid_relayed_bytes_total)');
    return r.length === 1 && Number(r[0].value[1]) > 0 ? r : null;
  }, 'bytes relayed', 30_000, 250);
  assert.ok(Number(bytes[0].value[1]) > 1000);
  // A session's duration is observed when it ends, which may be after the next scrape.
  await waitFor(async () => {
    const r = await prometheus.query('pwgrid_session_duration_seconds_count{browser="chromium"}');
    return r.length === 1 && Number(r[0].value[1]) >= 2;
  }, 'two session durations', 30_000, 250);
  const evaluated = await waitFor(async () => {
    const rs = await prometheus.rules();
    return rs.length === 3 && rs.every((x) => x.lastEvaluation && !x.lastEvaluation.startsWith('0001'))
      ? rs : null;
  }, 'the alert rules evaluated', 30_000, 250);
  for (const rule of evaluated) {
    assert.equal(rule.health, 'ok', `${rule.name}: ${rule.lastError}`);
    assert.equal(rule.state, 'inactive', `${rule.name} does not fire on a healthy grid`);
  }
});

test('a session logs one line when it starts and one when it ends, with its id and numbers', async () => {
  const from = grid.lines.length;
  await session(`ws://127.0.0.1:${grid.port}/`, `${pageBase}/logged`);
  const ended = await waitFor(() => grid.lines.slice(from).find((l) => /^Session of /.test(l.msg || '')),
    'the end line', 10_000);
  const started = grid.lines.slice(from).find((l) => /^New connection from /.test(l.msg || ''));
  assert.ok(started, 'the start line');
  assert.match(started.sessionId, /^[0-9a-f-]{36}$/);
  assert.equal(ended.sessionId, started.sessionId);
  assert.match(started.client, /^127\.0\.0\.1:\d+$/);
  assert.equal(started.browser, 'chromium');
  assert.match(started.workerId, /^chromium:/);
  assert.equal(started.clientVersion, '1.65.1');
  assert.ok(Number(started.queueWaitMs) >= 0);
  assert.ok(Number(ended.durationMs) > 0);
  assert.ok(Number(ended.bytesToWorker) > 100 && Number(ended.bytesToClient) > 100);
  assert.equal(ended.closedBy, 'client');
  assert.match(String(ended.closeCode), /^\d{4}$/);
});

test('a browser type no worker serves is answered at once, naming the types there are', async () => {
  const { text, ms } = await rawExchange(grid.port, upgradeHead('/?browser=firefox'));
  assert.match(text, /^HTTP\/1\.1 503 /);
  assert.match(text, /No worker serves browser type firefox - available: chromium/);
  assert.ok(ms < 5_000, `answered after ${ms} ms, not after the 60 s queue timeout`);
  const rejected = (await api(grid.port, 'GET', '/metrics?format=prometheus')).body;
  assert.match(rejected, /^pwgrid_rejected_requests_total\{code="503",reason="browser not served"\} 1$/m);
});

test('admin actions: 401 without a token, 403 with a wrong one; DELETE closes a session with 1008', async () => {
  const s = await rawSession(grid.port);
  const listed = await waitFor(async () => (await status()).sessions.find((x) => x.workerId), 'the session listed');
  assert.equal(listed.userAgent, 'Playwright/1.65.1 (x64; debian 12) node/20.20');
  assert.equal(listed.clientVersion, '1.65.1');
  const path = `/api/v1/sessions/${listed.id}`;
  const none = await api(grid.port, 'DELETE', path);
  assert.equal(none.status, 401);
  assert.equal(none.json.error.code, 401);
  const wrong = await api(grid.port, 'DELETE', path, 'not-it');
  assert.equal(wrong.status, 403);
  assert.equal(wrong.json.error.code, 403);
  assert.equal((await status()).sessions.length, 1, 'refused actions change nothing');
  const ok = await api(grid.port, 'DELETE', path, ADMIN);
  assert.ok(ok.status === 200 || ok.status === 202, `${ok.status} ${ok.body}`);
  assert.equal(await s.closed, 1008);
  await waitFor(async () => {
    const st = await status();
    return st.sessions.length === 0 && st.workers[0].active === 0;
  }, 'the slot freed', 10_000);
  assert.equal((await api(grid.port, 'DELETE', path, ADMIN)).status, 404);
  assert.equal((await api(grid.port, 'GET', path, ADMIN)).status, 405);
});

test('the status page in headless Chromium: workers, a live session appearing and leaving', async () => {
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    const errors = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`http://127.0.0.1:${grid.port}/ui/`);
    const workerId = (await status()).workers[0].id;
    await page.locator('#workers').getByText(workerId).waitFor({ timeout: 5_000 });
    assert.equal(await page.locator('#sessions tbody tr[data-id]').count(), 0);
    const remote = await chromium.connect(`ws://127.0.0.1:${grid.port}/`, { timeout: 30_000 });
    try {
      const p = await (await remote.newContext()).newPage();
      await p.goto(`${pageBase}/watched`);
      const started = Date.now();
      await page.locator('#sessions tbody tr[data-id]').first().waitFor({ timeout: 2_000 });
      assert.ok(Date.now() - started <= 2_000);
      const row = await page.locator('#sessions tbody tr[data-id]').first().innerText();
      assert.match(row, /chromium/);
      assert.match(row, /1\.65\.1/);
      if (process.env.PWGRID_SCREENSHOT) {
        writeFileSync(process.env.PWGRID_SCREENSHOT, await page.screenshot({ fullPage: true }));
      }
    } finally {
      await remote.close();
    }
    await page.locator('#sessions tbody tr[data-id]').first().waitFor({ state: 'detached', timeout: 2_000 });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test('QUEUE_TIMEOUT: a client waits past upstream\'s 12 s cap and is served when a slot frees', async () => {
  const holder = await rawSession(grid.port);
  const waiter = chromium.connect(`ws://127.0.0.1:${grid.port}/`, { timeout: 60_000 });
  await waitFor(async () => (await status()).waiting.find((w) => w.browser === 'chromium').clients === 1,
    'the client queued', 10_000);
  await sleep(13_000);
  assert.equal((await status()).waiting.find((w) => w.browser === 'chromium').clients, 1, 'still waiting');
  holder.close(1000);
  assert.equal(await holder.closed, 1000);
  const browser = await waiter;
  try {
    const p = await (await browser.newContext()).newPage();
    await p.goto(`${pageBase}/after-the-wait`);
    assert.equal(await p.title(), 'after-the-wait');
  } finally {
    await browser.close();
  }
  const metrics = (await api(grid.port, 'GET', '/metrics?format=prometheus')).body;
  const over = /^pwgrid_queue_wait_seconds_bucket\{browser="chromium",le="\+Inf"\} (\d+)$/m.exec(metrics);
  const at5 = /^pwgrid_queue_wait_seconds_bucket\{browser="chromium",le="5"\} (\d+)$/m.exec(metrics);
  assert.ok(over && at5, metrics);
  assert.equal(Number(over[1]) - Number(at5[1]), 1, 'one wait longer than 5 s');
});

test('drain a worker through the API: the embedded pool recycles it', async () => {
  const before = (await status()).workers[0].id;
  const path = `/api/v1/workers/${encodeURIComponent(before)}/drain`;
  assert.equal((await api(grid.port, 'POST', path)).status, 401);
  const ok = await api(grid.port, 'POST', path, ADMIN);
  assert.ok(ok.status === 200 || ok.status === 202, `${ok.status} ${ok.body}`);
  assert.equal(ok.json.draining, true);
  await waitFor(async () => {
    const ws = (await status()).workers;
    return ws.some((w) => w.id !== before && w.status === 'available') && !ws.some((w) => w.id === before);
  }, 'a new worker in its place', 60_000, 200);
  assert.equal((await api(grid.port, 'POST', '/api/v1/workers/chromium%3Anone/drain', ADMIN)).status, 404);
});

test('SIGTERM: /readyz turns 503 at once and new upgrades get 503 with Retry-After', async () => {
  const s = await rawSession(grid.port);
  grid.child.kill('SIGTERM');
  const ready = await waitFor(async () => {
    const r = await api(grid.port, 'GET', '/readyz');
    return r.status === 503 ? r : null;
  }, '/readyz 503', 5_000, 20);
  assert.equal(ready.json.status, 'draining');
  assert.equal((await api(grid.port, 'GET', '/healthz')).status, 200, 'still alive while draining');
  const { text } = await rawExchange(grid.port, upgradeHead('/'));
  assert.match(text, /^HTTP\/1\.1 503 /);
  assert.match(text, /\r\nRetry-After: 5\r\n/);
  s.close(1000);
  assert.equal(await s.closed, 1000);
  const exited = await stopGrid(grid);
  assert.equal(exited.code, 0);
});
