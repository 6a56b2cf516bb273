// End to end: pwgrid-server with AUTH_TOKENS, real Chromium and the real playwright-core client.
// No token or a wrong one: 401 before any worker is touched; a Bearer header, a URL's basic-auth
// password or ?token= gets a session; the token never appears in the server's log.
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { chromium, startGrid, startPageServer, stopGrid } from './grid_harness.mjs';

const TOKEN = 's3cret-e2e-token';
let grid;
let pages;
let pageUrl;

before(async () => {
  pages = await startPageServer();
  pageUrl = `http://127.0.0.1:${pages.address().port}/auth`;
  grid = await startGrid({ AUTH_TOKENS: `team-a:${TOKEN}`, LOCAL_WORKERS: '1', SPARE_BROWSERS: '0' });
});

after(async () => {
  if (grid) await stopGrid(grid);
  if (pages) pages.close();
});

async function title(url, options = {}) {
  const browser = await chromium.connect(url, { timeout: 20000, ...options });
  try {
    const page = await browser.newPage();
    await page.goto(pageUrl);
    return await page.title();
  } finally {
    await browser.close();
  }
}

test('no token, or a wrong one: 401', async () => {
  const base = `ws://127.0.0.1:${grid.port}/?browser=chromium`;
  await assert.rejects(title(base), /401/);
  await assert.rejects(title(base, { headers: { Authorization: 'Bearer wrong' } }), /401/);
  await assert.rejects(title(`${base}&token=wrong`), /401/);
});

test('a Bearer header, a basic-auth password in the URL, or ?token= gets a session', async () => {
  const port = grid.port;
  assert.equal(await title(`ws://127.0.0.1:${port}/`, { headers: { Authorization: `Bearer ${TOKEN}` } }), 'auth');
  assert.equal(await title(`ws://alice:${TOKEN}@127.0.0.1:${port}/`), 'auth');
  assert.equal(await title(`ws://127.0.0.1:${port}/?browser=chromium&token=${TOKEN}`), 'auth');
});

test('the token never appears in the server log', () => {
  assert.ok(grid.lines.length > 0);
  assert.ok(grid.lines.some((l) => /rejected\. Not authorized/.test(l.msg)), 'refusals are logged');
  for (const l of grid.lines) assert.ok(!JSON.stringify(l).includes(TOKEN), JSON.stringify(l));
});

test('AUTH_TOKENS_FILE is re-read on SIGHUP; an open session is not dropped', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pwgrid-auth-'));
  const file = join(dir, 'tokens');
  writeFileSync(file, '# tenants\nteam-a:first-token\n');
  const g = await startGrid({ AUTH_TOKENS_FILE: file, LOCAL_WORKERS: '1', SPARE_BROWSERS: '0' });
  try {
    const url = `ws://127.0.0.1:${g.port}/`;
    const open = await chromium.connect(url, { headers: { Authorization: 'Bearer first-token' } });
    const page = await open.newPage();
    await page.goto(pageUrl);
    writeFileSync(file, 'team-b:second-token\n');
    const before = g.lines.length;
    g.child.kill('SIGHUP');
    const end = Date.now() + 10000;
    while (!g.lines.slice(before).some((l) => /^Reloaded 1 access token/.test(l.msg)) && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(g.lines.slice(before).some((l) => /^Reloaded 1 access token/.test(l.msg)), 'reload logged');
    await page.goto(pageUrl);  // the session opened with the old token goes on
    assert.equal(await page.title(), 'auth');
    await open.close();
    await assert.rejects(title(url, { headers: { Authorization: 'Bearer first-token' } }), /401/);
    assert.equal(await title(url, { headers: { Authorization: 'Bearer second-token' } }), 'auth');
    writeFileSync(file, 'a:dup\nb:dup\n');  // a bad file keeps the tokens in use
    const again = g.lines.length;
    g.child.kill('SIGHUP');
    const end2 = Date.now() + 10000;
    while (!g.lines.slice(again).some((l) => /^Keeping the access tokens/.test(l.msg)) && Date.now() < end2) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(g.lines.slice(again).some((l) => /^Keeping the access tokens/.test(l.msg)), 'bad file logged');
    assert.equal(await title(url, { headers: { Authorization: 'Bearer second-token' } }), 'auth');
  } finally {
    const { code } = await stopGrid(g);
    assert.equal(code, 0);
    rmSync(dir, { recursive: true, force: true });
  }
});
