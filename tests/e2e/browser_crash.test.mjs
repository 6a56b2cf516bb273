// End to end: the Chromium of a running embedded grid is SIGKILLed mid-session. The client gets a
// close, the session's slot is freed, the worker is retired and replaced, the next session
// works, and once the grid stops no Chromium of it is left.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  chromium, cmdline, descendants, httpGet, session, startGrid, startPageServer, stopGrid,
} from './grid_harness.mjs';

let grid;
let pages;
let pageBase;

before(async () => {
  pages = await startPageServer();
  pageBase = `http://127.0.0.1:${pages.address().port}`;
  grid = await startGrid({ LOCAL_WORKERS: '1', SPARE_BROWSERS: '0' });
});

after(async () => {
  if (grid) await stopGrid(grid);
  if (pages) pages.close();
});

// Polls `f` every 50 ms until it returns a truthy value, at most `ms`.
async function until(f, ms, what) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const v = await f();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`timed out waiting for ${what}`);
}

const chromiums = () => descendants(grid.child.pid).filter((p) => /chrom/.test(cmdline(p)));
const browserMain = () => chromiums().find((p) => !cmdline(p).includes('--type='));
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };
const logged = (msg) => grid.lines.filter((l) => l.msg === msg).length;

test('SIGKILL of the worker\'s Chromium: close, slot freed, worker replaced, next session works', async () => {
  const ws = `ws://127.0.0.1:${grid.port}/?browser=chromium`;
  const browser = await chromium.connect(ws);
  const page = await browser.newPage();
  await page.goto(`${pageBase}/before`);
  assert.equal(await page.title(), 'before');
  const main = await until(browserMain, 10_000, 'the Chromium browser process');
  const everyChromium = new Set(chromiums());
  const disconnected = new Promise((r) => browser.on('disconnected', r));
  const readyBefore = logged('Browser worker is ready to work');

  process.kill(main, 'SIGKILL');
  await Promise.race([disconnected, until(() => false, 30_000, 'the client to be disconnected')]);
  await until(async () => (await httpGet(grid.port, '/metrics')).body === '{"activeConnections":0}\n',
    30_000, 'the slot to be freed');
  await until(() => grid.lines.some((l) => l.msg === 'Worker stopped' && l.reason === 'browser_exited'),
    30_000, 'the crashed worker to be retired');
  await until(() => logged('Browser worker is ready to work') > readyBefore, 60_000, 'a replacement worker');

  const { title } = await session(ws, `${pageBase}/after`);
  assert.equal(title, 'after');
  for (const p of chromiums()) everyChromium.add(p);

  const { code } = await stopGrid(grid);
  assert.equal(code, 0);
  await until(() => [...everyChromium].every((p) => !alive(p)), 30_000, 'every Chromium to be gone');
  grid = null;
});
