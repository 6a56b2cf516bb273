// pwgrid-server as a new user meets it: scripts/run-grid.sh with variables, the README's client
// snippet as pasted, configuration errors named before any browser starts, LOG_LEVEL honoured.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';

import { SERVER } from './grid_harness.mjs';
import { freePort, waitFor } from './redis_harness.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const running = [];

after(async () => {
  for (const p of running) {
    if (p.exitCode === null && p.signalCode === null) {
      await new Promise((resolve) => { p.on('exit', resolve); p.kill('SIGTERM'); });
    }
  }
});

// Runs `cmd` and collects its output; resolves when it exits.
function run(cmd, args, env, timeoutMs = 60_000) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env } });
    running.push(child);
    const out = { stdout: '', stderr: '', code: null };
    child.stdout.on('data', (d) => { out.stdout += d; });
    child.stderr.on('data', (d) => { out.stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => { clearTimeout(timer); out.code = code; resolve(out); });
    out.child = child;
  });
}

// Starts a long-running command; `proc.out` fills as it prints.
function start(cmd, args, env) {
  const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env } });
  running.push(child);
  const proc = { child, out: '', exited: null };
  child.stdout.on('data', (d) => { proc.out += d; });
  child.stderr.on('data', (d) => { proc.out += d; });
  child.on('exit', (code, signal) => { proc.exited = { code, signal }; });
  proc.stop = () => new Promise((resolve) => {
    if (proc.exited) return resolve(proc.exited);
    child.on('exit', (code, signal) => resolve({ code, signal }));
    child.kill('SIGTERM');
  });
  return proc;
}

test('run-grid.sh takes SERVER_PORT and LOCAL_WORKERS; the README snippet runs as pasted', async () => {
  const port = await freePort();
  const grid = start('scripts/run-grid.sh', [], {
    PWGRID_SKIP_SETUP: '1', SERVER_PORT: String(port), LOCAL_WORKERS: '1', SPARE_BROWSERS: '0',
    LOG_FORMAT: 'json',
  });
  try {
    await waitFor(() => grid.out.includes('"msg":"Grid ready:') || grid.exited, 'the grid to be ready', 90_000, 50);
    assert.equal(grid.exited, null, grid.out);
    assert.match(grid.out, new RegExp(`Grid ready: ws://127\\.0\\.0\\.1:${port}/\\?browser=chromium \\(1 local Chromium worker\\(s\\)\\)`));
    // The banner tells the user what to wait for, and the server says it once it is true.
    const banner = grid.out.slice(0, grid.out.indexOf('{'));
    assert.match(banner, new RegExp(`1 Chromium worker\\(s\\) on 127\\.0\\.0\\.1:${port}`));
    assert.doesNotMatch(banner, /Starting proxy server|Grid ready/);
    assert.match(banner, /Stop the grid with Ctrl-C/);
    // The ready line names the version and the mode.
    assert.match(grid.out, /"msg":"Grid ready:[^\n]*"version":"\d+\.\d+\.\d+"[^\n]*"mode":"embedded"/);
    assert.equal(grid.out.split('Browser worker is ready to work').length - 1, 1, 'one worker');

    const readme = readFileSync(`${ROOT}/README.md`, 'utf8');
    const snippet = /```js\n([\s\S]*?)```/.exec(readme)[1];
    assert.match(snippet, /ws:\/\/127\.0\.0\.1:8080\//);
    mkdirSync(`${ROOT}/.cache`, { recursive: true });
    const file = `${ROOT}/.cache/readme-client-${process.pid}.mjs`;
    writeFileSync(file, snippet.replace('127.0.0.1:8080', `127.0.0.1:${port}`));
    const client = await run('node', [file], {});
    assert.equal(client.code, 0, client.stderr);
    assert.equal(client.stdout.trim(), 'hello from pwgrid');
  } finally {
    await grid.stop();
  }
});

test('a bad SERVER_HOST or BROWSER_LOG stops the server at once, naming the variable', async () => {
  for (const [env, message] of [
    [{ SERVER_HOST: 'no-such-host.invalid' }, /SERVER_HOST: 'no-such-host\.invalid' is neither an IP address nor/],
    [{ BROWSER_LOG: '/nonexistent/dir/log' }, /BROWSER_LOG: cannot open '\/nonexistent\/dir\/log' for writing: No such file or directory/],
    [{ MAX_CONCURRENT_SESSIONS: '99999999999' }, /MAX_CONCURRENT_SESSIONS must be between 1 and 1048576/],
  ]) {
    const r = await run(SERVER, [], { SERVER_PORT: '0', ...env });
    assert.equal(r.code, 1, JSON.stringify(env));
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stdout, /local Chromium worker/, 'no browser was launched');
  }
});

test('SERVER_HOST may be a host name; LOG_LEVEL=error prints no info line', async () => {
  const port = await freePort();
  const grid = start(SERVER, [], {
    SERVER_HOST: 'localhost', SERVER_PORT: String(port), LOCAL_WORKERS: '1', SPARE_BROWSERS: '0',
    LOG_LEVEL: 'error', LOG_FORMAT: 'json',
  });
  try {
    await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => null))?.ok ||
      grid.exited, 'the grid on 127.0.0.1', 90_000, 100);
    assert.equal(grid.exited, null, grid.out);
  } finally {
    assert.deepEqual(await grid.stop(), { code: 0, signal: null });
  }
  const lines = grid.out.split('\n').filter((l) => l.trim());
  for (const line of lines) assert.equal(JSON.parse(line).level, 'error', line);
});

test('--version prints the version of pwgrid-server and pwgrid-worker and exits 0', async () => {
  const version = /version : '(\d+\.\d+\.\d+)'/.exec(readFileSync(`${ROOT}/meson.build`, 'utf8'))[1];
  for (const bin of [SERVER, SERVER.replace(/pwgrid-server$/, 'pwgrid-worker')]) {
    const r = await run(bin, ['--version'], {});
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${bin.split('/').pop()} ${version}\n`);
  }
});
