// Shared helpers of the end-to-end tests: start pwgrid-server, serve a loopback page, load the
// real playwright-core client, and read processes and their sockets from procfs. Every process
// started here is stopped by PID.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const { chromium } = require('playwright-core');

export const SERVER = process.env.PWGRID_SERVER;
if (!SERVER) throw new Error('PWGRID_SERVER (path of pwgrid-server) is not set');

// Set PWGRID_E2E_ECHO=1 to copy every log line of the servers a test starts to stderr (for a
// failure that only shows under load).
export const ECHO = process.env.PWGRID_E2E_ECHO === '1';

// Starts pwgrid-server on 127.0.0.1 with a free port. Resolves once it listens.
export function startGrid(env = {}, timeoutMs = 90_000) {
  const child = spawn(SERVER, [], {
    env: { ...process.env, SERVER_HOST: '127.0.0.1', SERVER_PORT: '0', LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const grid = { child, lines: [], port: 0, exited: null };
  let buffered = '';
  child.stderr.on('data', (d) => process.stderr.write(d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('pwgrid-server did not start in time'));
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      grid.exited = { code, signal };
      clearTimeout(timer);
      if (!grid.port) reject(new Error(`pwgrid-server exited early: ${code} ${signal}`));
    });
    child.stdout.on('data', (d) => {
      buffered += d.toString();
      let nl;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        if (ECHO) process.stderr.write(`[pwgrid-server ${child.pid}] ${line}\n`);
        let rec;
        try { rec = JSON.parse(line); } catch { rec = { msg: line }; }
        rec.t = Date.now();
        grid.lines.push(rec);
        const m = /^Starting proxy server at 127\.0\.0\.1:(\d+)$/.exec(rec.msg || '');
        if (m && !grid.port) {
          grid.port = Number(m[1]);
          clearTimeout(timer);
          resolve(grid);
        }
      }
    });
  });
}

// Sends SIGTERM and waits for the exit; SIGKILL after `timeoutMs`. Resolves { code, signal }.
export function stopGrid(grid, timeoutMs = 60_000) {
  if (grid.exited) return Promise.resolve(grid.exited);
  return new Promise((resolve) => {
    const timer = setTimeout(() => grid.child.kill('SIGKILL'), timeoutMs);
    grid.child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
    grid.child.kill('SIGTERM');
  });
}

// A loopback page: a title and a body taller than the viewport (for full-page screenshots).
export function startPageServer() {
  const server = createServer((req, res) => {
    const title = decodeURIComponent((req.url || '/').slice(1)) || 'pwgrid e2e';
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><title>${title}</title><body style="margin:0">` +
      `<div style="height:2400px;background:linear-gradient(#fff,#39f)">${title}</div></body>`);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

export async function httpGet(port, path) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

// One real session: connect, context, page, goto, title (and optionally a full-page screenshot).
// `client`: the playwright-core module to connect with (default: the pinned one).
export async function session(wsUrl, pageUrl, { screenshot = false, client = { chromium } } = {}) {
  const browser = await client.chromium.connect(wsUrl, { timeout: 30_000 });
  try {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(pageUrl);
    const title = await page.title();
    const png = screenshot ? await page.screenshot({ fullPage: true }) : null;
    await context.close();
    return { title, png };
  } finally {
    await browser.close();
  }
}

// A connect that must be refused: its error message (without Playwright's call log) and how long
// the refusal took (ms). `client` as for session().
export async function refusedConnect(wsUrl, { client = { chromium } } = {}) {
  const t0 = Date.now();
  const err = await client.chromium.connect(wsUrl, { timeout: 30_000 }).then(
    async (b) => { await b.close(); return null; }, (e) => e);
  if (!err) throw new Error(`the connect to ${wsUrl} was not refused`);
  return { message: err.message.split('Call log:')[0], ms: Date.now() - t0 };
}

// ---- procfs: processes and their sockets (Linux) ----

// Every process below `pid` (children, grandchildren, ...).
export function descendants(pid) {
  const parent = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* gone meanwhile */ }
  }
  const out = [];
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop();
    for (const [child, ppid] of parent) if (ppid === p) { out.push(child); todo.push(child); }
  }
  return out;
}

export function socketInodes(pid) {
  const out = new Set();
  let fds = [];
  try { fds = readdirSync(`/proc/${pid}/fd`); } catch { return out; }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) out.add(m[1]);
    } catch { /* closed meanwhile */ }
  }
  return out;
}

export const cmdline = (pid) => { try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { return ''; } };

// The pid of the process holding the listening socket of 127.0.0.1:`port`, or 0.
export function pidListeningOn(port) {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const line = readFileSync('/proc/net/tcp', 'utf8').split('\n')
    .find((l) => l.includes(`:${hex} `) && l.trim().split(/\s+/)[3] === '0A');
  if (!line) return 0;
  const inode = line.trim().split(/\s+/)[9];
  const pid = readdirSync('/proc').find((d) => /^\d+$/.test(d) && socketInodes(d).has(inode));
  return pid ? Number(pid) : 0;
}
