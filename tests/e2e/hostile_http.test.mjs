// Hostile HTTP and WebSocket input against pwgrid-server (under ASan + UBSan when
// scripts/ci/sanitizers.sh runs it with its own build): thousands of malformed requests (random
// bytes, huge request lines and headers, NULs and bare CR/LF, conflicting Upgrade / Connection /
// Content-Length / Transfer-Encoding, absolute-form targets, the HTTP/2 preface, pipelining),
// garbage and oversized frames after a real upgrade, and abrupt RSTs at every stage. Afterwards
// the server serves a real Playwright session, counts 0 active sessions, its memory is back
// within a bound of its start, and it exits 0 (a sanitizer finding would abort it).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { after, before, test } from 'node:test';

import { session, startGrid, startPageServer, stopGrid } from './grid_harness.mjs';
import { sleep, waitFor } from './redis_harness.mjs';

const UPGRADE = 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
const RSS_GROWTH_LIMIT_KB = 96 * 1024;  // ASan's quarantine alone holds tens of MiB
let grid;
let pages;
let pageUrl;

before(async () => {
  pages = await startPageServer();
  pageUrl = `http://127.0.0.1:${pages.address().port}/hostile`;
  grid = await startGrid({ LOCAL_WORKERS: '1', SPARE_BROWSERS: '0', MAX_CONCURRENT_SESSIONS: '20',
    WORKER_SELECT_TIMEOUT: '2' });
});

after(async () => {
  if (grid) await stopGrid(grid);
  if (pages) pages.close();
});

const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

// Sends `chunks` (with `gapMs` between them) on one connection, then ends it: 'end' (FIN),
// 'rst' (RST at once) or 'read' (reads until the server closes, at most 3 s). Resolves with what
// the server sent.
function hit(port, chunks, { how = 'read', gapMs = 0, rstAfterMs = 0 } = {}) {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    let got = '';
    const done = () => { clearTimeout(timer); sock.destroy(); resolve(got); };
    const timer = setTimeout(done, 3000);
    sock.on('data', (d) => { got += d.toString('latin1'); });
    sock.on('error', done);
    sock.on('close', done);
    sock.on('connect', async () => {
      for (const c of chunks) {
        if (sock.destroyed) break;
        sock.write(c);
        if (gapMs) await sleep(gapMs);
      }
      if (how === 'rst') {
        if (rstAfterMs) await sleep(rstAfterMs);
        sock.resetAndDestroy();
        done();
      } else if (how === 'end') {
        sock.end();
      }
    });
  });
}

// Runs `n` calls of `one(i)`, `width` at a time.
async function batch(n, width, one) {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) await one(next++);
  }));
}

function hostileRequests() {
  const big = 'a'.repeat(20000);
  return [
    `GET /${big} HTTP/1.1\r\nHost: x\r\n\r\n`,
    `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${big}\r\n\r\n`,
    `GET / HTTP/1.1\r\n${'X-H: v\r\n'.repeat(3000)}\r\n`,
    'GET /\0 HTTP/1.1\r\nHost: x\r\n\r\n',
    `GET / HTTP/1.1\r\nHost: x\0y\r\n${UPGRADE}\r\n`,
    `GET / HTTP/1.1\nHost: x\n${UPGRADE.replaceAll('\r\n', '\n')}\n`,
    `GET / HTTP/1.1\rHost: x\r${UPGRADE}\r\n`,
    `GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n${UPGRADE}\r\n`,
    `GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n${UPGRADE}\r\nhello`,
    `GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n${UPGRADE}\r\n`,
    `GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n${UPGRADE}\r\n`,
    'GET / HTTP/1.1\r\nHost: x\r\nConnection: close, Upgrade\r\nUpgrade: h2c, websocket, websocket\r\n' +
      'Sec-WebSocket-Version: 13, 8\r\nSec-WebSocket-Key: x\r\nSec-WebSocket-Key: y\r\n\r\n',
    `POST /?browser=chromium HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n${UPGRADE}\r\nffffffffffffffff\r\n`,
    `GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\r\nHost: 169.254.169.254\r\n${UPGRADE}\r\n`,
    `GET //127.0.0.1:22/ HTTP/1.1\r\nHost: 127.0.0.1:22\r\n${UPGRADE}\r\n`,
    'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n',
    'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0',
    'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n' +
      `GET /?browser=nope HTTP/1.1\r\nHost: x\r\n${UPGRADE}\r\nGET /favicon.ico HTTP/1.1\r\n\r\n`,
    `GET /?browser=chromium&browser=firefox&token=%00%ff HTTP/1.1\r\nHost: x\r\nAuthorization: Basic !!!\r\n${UPGRADE}\r\n`,
    'GET / HTTP/9.9\r\n\r\n',
    'G\r\n\r\n',
    '\r\n\r\n\r\n\r\n',
    ' / HTTP/1.1\r\n\r\n',
  ];
}

test('thousands of malformed requests, hostile frames and RSTs leave the server whole', async () => {
  const port = grid.port;
  // Warm up (the first session allocates what every later one reuses), then measure.
  assert.equal((await session(`ws://127.0.0.1:${port}/`, pageUrl)).title, 'hostile');
  const rssStart = rssKb(grid.child.pid);

  // 1. Fixed hostile requests, each sent whole, byte by byte (a few), and cut by RST.
  const fixed = hostileRequests();
  let answered = 0;
  await batch(fixed.length * 20, 25, async (i) => {
    const req = fixed[i % fixed.length];
    const mode = Math.floor(i / fixed.length) % 4;
    if (mode === 0) {
      const got = await hit(port, [req]);
      if (got.startsWith('HTTP/1.1 ')) answered++;
    } else if (mode === 1) {
      await hit(port, [req.slice(0, req.length >> 1), req.slice(req.length >> 1)], { gapMs: 5 });
    } else if (mode === 2) {
      await hit(port, [req.slice(0, 1 + (i % Math.max(1, req.length - 1)))], { how: 'rst' });
    } else {
      await hit(port, [req], { how: 'rst' });
    }
  });
  assert.ok(answered > 0, 'malformed requests are answered, not dropped');

  // 2. Random bytes, 1500 connections.
  await batch(1500, 50, async (i) => {
    const bytes = randomBytes(1 + (i * 7919) % 4096);
    await hit(port, [bytes], { how: i % 3 === 0 ? 'rst' : i % 3 === 1 ? 'end' : 'read' });
  });

  // 3. A real upgrade (through to Chromium's browser server), then garbage or an oversized frame,
  //    or an RST right after the 101 or mid-frame.
  const upgrade = `GET /?browser=chromium HTTP/1.1\r\nHost: x\r\n${UPGRADE}\r\n`;
  const frames = [
    randomBytes(2048),
    Buffer.from([0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4]),  // 2^63-1, masked
    Buffer.from([0x81, 0x7e, 0xff, 0xff, 0, 0, 0, 0]),  // 64 KiB text announced, 0 sent
    Buffer.from([0x88, 0x80, 0, 0, 0, 0]),  // a close, masked, no code
    Buffer.from([0x8f, 0x80, 0, 0, 0, 0]),  // a reserved opcode
    Buffer.concat([Buffer.from([0x81, 0x85, 1, 2, 3, 4]), Buffer.from('{"id"').map((b, k) => b ^ [1, 2, 3, 4][k % 4])]),
  ];
  await batch(240, 6, async (i) => {
    const f = frames[i % frames.length];
    const mode = Math.floor(i / frames.length) % 4;
    if (mode === 0) await hit(port, [upgrade, f], { gapMs: 300 });
    else if (mode === 1) await hit(port, [upgrade, f], { how: 'rst', gapMs: 300 });
    else if (mode === 2) await hit(port, [upgrade], { how: 'rst', rstAfterMs: 300 });
    else await hit(port, [upgrade, f.subarray(0, Math.max(1, f.length >> 1))], { how: 'rst', gapMs: 300, rstAfterMs: 50 });
  });

  // Afterwards: no session counted, a real session works, memory is back near its start.
  await waitFor(async () => (await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()) ===
    '{"activeConnections":0}\n', 'every hostile session to be closed', 30_000);
  assert.equal((await session(`ws://127.0.0.1:${port}/`, pageUrl)).title, 'hostile');
  const rssEnd = rssKb(grid.child.pid);
  assert.ok(rssEnd - rssStart < RSS_GROWTH_LIMIT_KB,
    `RSS grew from ${rssStart} KiB to ${rssEnd} KiB (limit +${RSS_GROWTH_LIMIT_KB} KiB)`);
  console.log(`# hostile connections: ${fixed.length * 20 + 1500 + 240}; RSS ${rssStart} -> ${rssEnd} KiB`);
  assert.equal(grid.exited, null, 'the server is still running');
  const { code, signal } = await stopGrid(grid);
  grid = null;
  assert.equal(signal, null);
  assert.equal(code, 0);
});
