// Hostile and careless clients against the real parts (pwgrid-server, pwgrid-worker, Chromium,
// playwright-core): nothing one client sends may end a browser that other clients share.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, test } from 'node:test';

import {
  chromium, cmdline, descendants, socketInodes, startGrid, startPageServer, stopGrid,
} from './grid_harness.mjs';
import { startProxy, startRedis, startWorker, stopProcess, waitFor } from './redis_harness.mjs';

const require = createRequire(import.meta.url);
const { ws: WebSocket } = require('playwright-core/lib/utilsBundle');

let pages;
let pageUrl;
const cleanup = [];

before(async () => {
  pages = await startPageServer();
  pageUrl = `http://127.0.0.1:${pages.address().port}/hostile`;
});

after(async () => {
  for (const stop of cleanup.reverse()) await stop();
  if (pages) pages.close();
});

// Protocol messages that playwright-core 1.65 does not survive on its own (it throws inside an
// async handler), and a few more malformed ones.
const HOSTILE = [
  '{"id":1,"guid":"","method":"initialize","params":{"sdkLanguage":"javascript"}}',
  'null',
  '[]',
  '{"id":2,"guid":"","method":"initialize"}',
  '{"id":3}',
  '"text"',
  '{"id":4,"guid":"","method":"initialize","params":null,"metadata":null}',
];

// Opens a raw WebSocket to `url`, sends every hostile message, and resolves once all were sent
// and the socket had time to receive any answer: a final well-formed but unknown call gets an
// error answer, or the connection closes.
function sendHostile(url) {
  return new Promise((resolve, reject) => {
    const raw = new WebSocket(url, { headers: { 'x-playwright-browser': 'chromium' } });
    const timer = setTimeout(() => { raw.terminate(); resolve('timeout'); }, 10_000);
    raw.on('error', (e) => { clearTimeout(timer); reject(e); });
    raw.on('open', () => {
      for (const m of HOSTILE) raw.send(m);
      raw.send('{"id":99,"guid":"nope","method":"close","params":{},"metadata":{}}');
    });
    raw.on('message', (d) => {
      if (JSON.parse(d.toString()).id === 99) { clearTimeout(timer); raw.close(); resolve('answered'); }
    });
    raw.on('close', () => { clearTimeout(timer); resolve('closed'); });
  });
}

async function checkSurvives(url) {
  const browser = await chromium.connect(url, { timeout: 30_000 });
  try {
    const page = await browser.newPage();
    await page.goto(pageUrl);
    await sendHostile(url);
    // A second client after the hostile one: takes many round trips with the browser server,
    // long after the hostile messages were processed.
    const other = await chromium.connect(url, { timeout: 30_000 });
    assert.equal(await (await other.newPage()).evaluate('6 * 7'), 42);
    await other.close();
    // The first client's session is still there.
    assert.equal(await page.title(), 'hostile');
    assert.equal(await page.evaluate('1 + 1'), 2);
  } finally {
    await browser.close().catch(() => {});
  }
}

test('embedded mode: malformed protocol messages do not end the shared browser', async () => {
  const grid = await startGrid({ LOCAL_WORKERS: '1', SPARE_BROWSERS: '0' });
  cleanup.push(() => stopGrid(grid));
  await checkSurvives(`ws://127.0.0.1:${grid.port}/`);
  const ready = grid.lines.filter((l) => l.msg === 'Browser worker is ready to work');
  assert.equal(ready.length, 1, 'no worker was replaced');
});

test('Redis mode: malformed protocol messages do not end pwgrid-worker', async () => {
  const rds = await startRedis();
  cleanup.push(() => rds.stop('SIGTERM'));
  const worker = await startWorker(rds.port);
  cleanup.push(() => stopProcess(worker));
  const proxy = await startProxy(rds.port);
  cleanup.push(() => stopGrid(proxy));
  await checkSurvives(`ws://127.0.0.1:${proxy.port}/`);
  assert.equal(worker.exited, null, 'pwgrid-worker is still running');
  assert.equal(worker.ids.length, 1, 'its browser was not replaced');
});


test('browsers launched while clients are connected inherit none of the server\'s sockets', async () => {
  // L=1: the first session recycles its worker, and a new spare browser is launched while that
  // session (and the listening socket) are open.
  const grid = await startGrid({ LOCAL_WORKERS: '1', SPARE_BROWSERS: '1', MAX_LIFETIME_SESSIONS: '1' });
  cleanup.push(() => stopGrid(grid));
  const browser = await chromium.connect(`ws://127.0.0.1:${grid.port}/`, { timeout: 30_000 });
  try {
    await (await browser.newPage()).goto(pageUrl);
    const launchers = () => descendants(grid.child.pid).filter((p) => cmdline(p).includes('browser_launcher.mjs'));
    await waitFor(() => launchers().length >= 3, 'a spare browser launched after the connect', 60_000, 100);
    const mine = socketInodes(grid.child.pid);
    assert.ok(mine.size >= 3, `the server holds its sockets (${mine.size})`);
    for (const pid of descendants(grid.child.pid)) {
      const leaked = [...socketInodes(pid)].filter((i) => mine.has(i));
      assert.deepEqual(leaked, [], `process ${pid} (${cmdline(pid).split('\0')[0]}) holds sockets of pwgrid-server`);
    }
  } finally {
    await browser.close().catch(() => {});
  }
});
