// Version routing in Redis mode with the real parts: redis-server, pwgrid-worker of the pinned
// playwright-core and of a second minor (PLAYWRIGHT_CORE_DIR), an upstream-style worker that
// registers no version, pwgrid-server and real clients of both versions.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';

import {
  chromium, refusedConnect, session, startPageServer, stopGrid,
} from './grid_harness.mjs';
import {
  hgetall, redis, registerLikeUpstream, startProxy, startRedis, startWorker, stopProcess, waitFor,
} from './redis_harness.mjs';

const SECOND = process.env.PWGRID_SECOND_PLAYWRIGHT;
if (!SECOND) throw new Error('PWGRID_SECOND_PLAYWRIGHT (a second playwright-core) is not set');
const require = createRequire(import.meta.url);
const second = require(SECOND);
const secondVersion = require(`${SECOND}/package.json`).version;
const pinnedVersion = require('playwright-core/package.json').version;
const minor = (v) => v.split('.').slice(0, 2).join('.');
const LAUNCHER = fileURLToPath(new URL('../../server/browser_launcher.mjs', import.meta.url));

let rds;
let pages;
let pageUrl;
let proxy;
let pinned;
let older;
let url;
before(async () => {
  rds = await startRedis();
  pages = await startPageServer();
  pageUrl = `http://127.0.0.1:${pages.address().port}/redis-versions`;
  [pinned, older] = await Promise.all([
    startWorker(rds.port),
    startWorker(rds.port, { PLAYWRIGHT_CORE_DIR: SECOND }),
  ]);
  proxy = await startProxy(rds.port, { LEASE_TTL: '3', QUEUE_TIMEOUT: '30' });
  url = `ws://127.0.0.1:${proxy.port}/`;
});
after(async () => {
  if (proxy) await stopGrid(proxy);
  for (const w of [pinned, older]) if (w) await stopProcess(w);
  if (rds) await rds.stop('SIGTERM');
  if (pages) pages.close();
});

const counter = async (hash, wid) => Number((await redis(rds.port, 'HGET', hash, wid)) ?? -1);
const lifetime = (wid) => counter('cluster:lifetime_connections', wid);
const allIdle = async () => {
  const active = await hgetall(rds.port, 'cluster:active_connections');
  return Object.values(active).every((v) => v === '0');
};

const realSession = async (pw, url) => (await session(url, pageUrl, { client: pw })).title;

const refused = (pw, url) => refusedConnect(url, { client: pw });

test('pwgrid-worker registers the version of the playwright-core it runs', async () => {
  assert.notEqual(minor(secondVersion), minor(pinnedVersion), 'the second version is another minor');
  assert.equal((await hgetall(rds.port, `worker:${pinned.ids[0]}`)).playwrightVersion, pinnedVersion);
  assert.equal((await hgetall(rds.port, `worker:${older.ids[0]}`)).playwrightVersion, secondVersion);
  const ready = older.lines.find((l) => l.message === 'Browser worker is ready to work');
  assert.equal(ready.data.playwrightVersion, secondVersion);  // the Node worker's JSON: extras in data
});

test('clients of both versions at once each land on a worker of their own version', async () => {
  const titles = await Promise.all([
    ...[1, 2, 3].map(() => realSession({ chromium }, url)),
    ...[1, 2, 3].map(() => realSession(second, url)),
  ]);
  assert.deepEqual(titles, Array(6).fill('redis-versions'));
  assert.equal(await lifetime(pinned.ids[0]), 3);
  assert.equal(await lifetime(older.ids[0]), 3);
  await waitFor(allIdle, 'every active counter back to 0', 20_000);
  assert.equal(await redis(rds.port, 'ZCARD', 'pwgrid:leases'), 0);
  const status = await (await fetch(`http://127.0.0.1:${proxy.port}/api/v1/status`)).json();
  assert.deepEqual(status.versions.map((v) => v.playwrightVersion).sort(),
    [minor(pinnedVersion), minor(secondVersion)].sort());
});

test('a version no worker has: 428 with the grid\'s versions, at once', async () => {
  const r = await refused({ chromium }, `${url}?playwright=1.40.0`);
  assert.match(r.message, /428 Precondition Required/);
  assert.ok(r.ms < 10_000, `answered after ${r.ms} ms, not after the 30 s queue timeout`);
  const body = JSON.parse(/(\{"error":.*\})/.exec(r.message)[1]);
  assert.equal(body.error.clientVersion, '1.40.0');
  assert.deepEqual(body.error.gridVersions, [minor(pinnedVersion), minor(secondVersion)].sort());
});

test('a worker registered with a wrong version: the client gets Playwright\'s whole 428', async () => {
  // It says 1.40 but is the pinned worker's browser server; a 1.64 client asking for 1.40 is
  // routed to it, and that Playwright refuses the client's User-Agent.
  const endpoint = (await hgetall(rds.port, `worker:${pinned.ids[0]}`)).endpoint;
  const wid = await registerLikeUpstream(rds.port, '00000000-0000-4000-8000-000000000140', endpoint);
  await redis(rds.port, 'HSET', `worker:${wid}`, 'playwrightVersion', '1.40.0');
  try {
    const r = await refused(second, `${url}?playwright=1.40`);
    assert.match(r.message, /428 Precondition Required/);
    assert.match(r.message, /Playwright version mismatch/);
    assert.match(r.message, /<3 Playwright Team/);
    assert.match(r.message, /╚═+╝/);
    await waitFor(allIdle, 'every active counter back to 0', 20_000);
  } finally {
    await redis(rds.port, 'DEL', `worker:${wid}`);
  }
});

test('an upstream-style worker without a version serves a client of any version', async () => {
  // The second version's pwgrid-worker leaves; an upstream-style worker (no playwrightVersion
  // field) running that version takes its place.
  await stopProcess(older);
  older = null;
  const launcher = spawn(process.execPath, [LAUNCHER], {
    env: { ...process.env, PWGRID_PLAYWRIGHT_CORE: SECOND }, stdio: ['pipe', 'pipe', 'inherit'],
  });
  try {
    const line = await new Promise((resolve, reject) => {
      let out = '';
      launcher.stdout.on('data', (d) => {
        out += d;
        if (out.includes('\n')) resolve(JSON.parse(out.slice(0, out.indexOf('\n'))));
      });
      launcher.on('exit', (code) => reject(new Error(`launcher exited: ${code}`)));
    });
    assert.equal(line.playwrightVersion, secondVersion);
    const wid = await registerLikeUpstream(rds.port, '00000000-0000-4000-8000-0000000000aa',
      line.wsEndpoint);
    assert.equal(await realSession(second, url), 'redis-versions');
    assert.equal(await lifetime(wid), 1);
    await waitFor(allIdle, 'every active counter back to 0', 20_000);
    const status = await (await fetch(`http://127.0.0.1:${proxy.port}/api/v1/status`)).json();
    const w = status.workers.find((x) => x.id === wid);
    assert.ok(w, 'the upstream-style worker is listed');
    assert.equal(w.playwrightVersion, '');
    await redis(rds.port, 'DEL', `worker:${wid}`);
  } finally {
    launcher.stdin.end();
    if (launcher.exitCode === null) {
      await new Promise((resolve) => {
        const timer = setTimeout(() => launcher.kill('SIGKILL'), 10_000);
        launcher.on('exit', () => { clearTimeout(timer); resolve(); });
      });
    }
  }
});
