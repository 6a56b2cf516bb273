// Helpers of the operations tests: a raw WebSocket client that reads the close code it is sent,
// an upstream-style worker that records the upgrade requests it gets, and a real Prometheus
// server. Every process and server started here is stopped by the caller through `stop()`.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { freePort, waitFor } from './redis_harness.mjs';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
export const PLAYWRIGHT_UA = 'Playwright/1.65.1 (x64; debian 12) node/20.20';

// Sends `head` on a new connection to 127.0.0.1:`port` and resolves with everything read until
// the server closes, or after `timeoutMs`: { text, ms } (ms: time to the first byte).
export function rawExchange(port, head, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    let first = 0;
    const chunks = [];
    const sock = createConnection({ host: '127.0.0.1', port }, () => sock.write(head));
    const timer = setTimeout(() => sock.destroy(), timeoutMs);
    sock.on('data', (d) => { if (!first) first = Date.now(); chunks.push(d); });
    sock.on('error', reject);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(chunks).toString('latin1'), ms: (first || Date.now()) - started });
    });
  });
}

export const upgradeHead = (path, extra = '') =>
  `GET ${path} HTTP/1.1\r\nHost: grid\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
  `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\nUser-Agent: ${PLAYWRIGHT_UA}\r\n` +
  `${extra}\r\n`;

// A WebSocket client that opens a session through the grid and never speaks: `closed` resolves
// with the close code of the first close frame it gets (0 when the TCP connection ended
// without one). close() sends a masked close frame with `code`.
export function rawSession(port, path = '/', extra = '') {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ host: '127.0.0.1', port }, () => sock.write(upgradeHead(path, extra)));
    let buf = Buffer.alloc(0);
    let open = false;
    let code = 0;
    let onClosed;
    const s = {
      sock,
      closed: new Promise((r) => { onClosed = r; }),
      close(c = 1000) {
        const frame = Buffer.from([0x88, 0x82, 0, 0, 0, 0, c >> 8, c & 0xff]);
        sock.write(frame);
      },
    };
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!open) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.subarray(0, end).toString('latin1');
        buf = buf.subarray(end + 4);
        if (!head.startsWith('HTTP/1.1 101')) {
          sock.destroy();
          reject(new Error(`not upgraded: ${head.split('\r\n')[0]}`));
          return;
        }
        open = true;
        resolve(s);
      }
      // Frames from the server are unmasked; only a close frame's code matters here.
      while (buf.length >= 2) {
        let len = buf[1] & 0x7f;
        let at = 2;
        if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); at = 4; }
        if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); at = 10; }
        if (buf.length < at + len) return;
        if ((buf[0] & 0x0f) === 0x8 && !code) code = len >= 2 ? buf.readUInt16BE(at) : 1005;
        buf = buf.subarray(at + len);
      }
    });
    sock.on('error', (e) => { if (!open) reject(e); });
    sock.on('close', () => onClosed(code));
  });
}

// A worker as upstream's Node worker looks from the relay: it answers any upgrade 101, records
// each request's headers (lower-cased names), and answers a close frame with one.
export function startRecordingWorker() {
  const requests = [];
  const sockets = new Set();
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    let open = false;
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (!open) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
        buf = buf.subarray(end + 4);
        const headers = {};
        for (const l of lines.slice(1)) {
          const i = l.indexOf(':');
          headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
        }
        requests.push({ line: lines[0], headers });
        const accept = createHash('sha1')
          .update(headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
        sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Accept: ${accept}\r\n\r\n`);
        open = true;
      }
      if (buf.length >= 2 && (buf[0] & 0x0f) === 0x8) sock.end(Buffer.from([0x88, 0x02, 0x03, 0xe8]));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    requests,
    endpoint: `ws://127.0.0.1:${server.address().port}/playwright`,
    stop: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }),
  })));
}

// Debian's Prometheus on a free loopback port with its own config and data directory, scraping
// `targetPort` every second and evaluating the rules of `rulesFile` (if any) every second.
// query() runs an instant query through its HTTP API; rules() lists the rule groups.
export async function startPrometheus(targetPort, rulesFile = null) {
  const dir = mkdtempSync(join(tmpdir(), 'pwgrid-prom-'));
  const port = await freePort();
  writeFileSync(join(dir, 'prometheus.yml'),
    `global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  evaluation_interval: 1s\n` +
    (rulesFile ? `rule_files:\n  - ${rulesFile}\n` : '') + `scrape_configs:\n` +
    `  - job_name: pwgrid\n    static_configs:\n      - targets: ['127.0.0.1:${targetPort}']\n`);
  const child = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const p = {
    port,
    child,
    async query(q) {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(q)}`);
      const j = await res.json();
      if (j.status !== 'success') throw new Error(`query ${q}: ${JSON.stringify(j)}`);
      return j.data.result;
    },
    async rules() {
      const j = await (await fetch(`http://127.0.0.1:${port}/api/v1/rules`)).json();
      return j.data.groups.flatMap((g) => g.rules);
    },
    stop: () => new Promise((resolve) => {
      const done = () => { rmSync(dir, { recursive: true, force: true }); resolve(); };
      if (child.exitCode !== null || child.signalCode) return done();
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      child.on('exit', () => { clearTimeout(timer); done(); });
      child.kill('SIGTERM');
    }),
  };
  await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/-/ready`).catch(() => null))?.ok,
    'Prometheus to be ready', 30_000, 100);
  return p;
}

// `promtool check metrics` on `text`: { status, output }.
export function promtoolCheck(text) {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

export async function api(port, method, path, token) {
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers });
  const body = await res.text();
  let json = null;
  try { json = JSON.parse(body); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, body, json };
}
