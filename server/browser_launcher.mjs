// pwgrid browser launcher: runs one Playwright browser server and reports its endpoint.
//
// Started by pwgrid::BrowserServer (lib/browser_server.cc) as `node browser_launcher.mjs`.
// Configuration comes from the environment:
//   PWGRID_BROWSER          chromium (default) | firefox | webkit
//   PWGRID_EXECUTABLE       browser executable (default /usr/bin/chromium for chromium)
//   PWGRID_HOST             bind host of the browser server (default 127.0.0.1)
//   PWGRID_PORT             port (default 0: any free port)
//   PWGRID_WS_PATH          WebSocket path (default /playwright/<random uuid>)
//   PWGRID_HEADLESS         "true" (default) | "false"
//   PWGRID_PLAYWRIGHT_CORE  playwright-core package directory to run (default: the one Node
//                           resolves from here, the project's pinned one); the version reported
//                           is that package's
// Protocol with the parent:
//   stdout: exactly one JSON line once the server listens:
//           {"wsEndpoint":"ws://…","browserPid":N,"playwrightVersion":"1.65.1"}
//           or {"error":"…"} and exit code 1.
//   stdin:  when it closes (the parent exited or crashed), the browser is closed and the launcher
//           exits, so a killed parent never leaves an orphaned browser behind.
//   SIGTERM/SIGINT: close the browser, exit 0.
//   stderr: diagnostics (the parent sends them to BROWSER_LOG or discards them).
//
// One browser serves many clients, so nothing a single client sends may end this process:
// playwright-core 1.65 throws inside an async message handler on some malformed protocol messages
// (an `initialize` without `metadata`, a message that is JSON `null`, ...), and Node 20 ends the
// process on an unhandled rejection. Such errors are logged and the launcher goes on; the
// browser and every other client's session are unaffected (the offending client simply gets no
// answer to that message). The launcher ends only through the paths listed above or when the
// browser itself exits (exit code 3).
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';

function logError(what, err) {
  const detail = err && err.stack ? err.stack : String(err);
  try {
    process.stderr.write(`pwgrid launcher: ${what} (ignored): ${detail}\n`);
  } catch {
    // stderr is gone too: nothing left to tell.
  }
}
// Before the server is up, an error is a failed start: report it to the parent and exit 1.
let started = false;
function onStray(what, err) {
  if (!started) {
    process.stdout.write(JSON.stringify({ error: `${what}: ${err && err.message ? err.message : err}` }) + '\n');
    process.exit(1);
  }
  logError(what, err);
}
process.on('unhandledRejection', (err) => onStray('unhandled rejection', err));
process.on('uncaughtException', (err) => onStray('uncaught exception', err));
// A parent that died closes our stdout: writing to it must not end the browser for its clients
// before the stdin handler below closes it cleanly.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});

const require = createRequire(import.meta.url);
const coreDir = process.env.PWGRID_PLAYWRIGHT_CORE || '';
let playwright;
let playwrightVersion;
try {
  const corePath = coreDir ? path.resolve(coreDir) : 'playwright-core';
  playwright = require(corePath);
  ({ version: playwrightVersion } = require(coreDir ? path.join(corePath, 'package.json')
                                                    : 'playwright-core/package.json'));
} catch (err) {
  process.stdout.write(JSON.stringify({
    error: `cannot load playwright-core${coreDir ? ` from ${coreDir}` : ''}: ${err && err.message ? err.message : err}`,
  }) + '\n');
  process.exit(1);
}

const browserName = process.env.PWGRID_BROWSER || 'chromium';
const browserType = playwright[browserName];
if (!['chromium', 'firefox', 'webkit'].includes(browserName) || !browserType) {
  process.stdout.write(JSON.stringify({ error: `unsupported browser: ${browserName}` }) + '\n');
  process.exit(1);
}

// Flags that Chromium needs as root on a machine without outside network: no sandbox (root),
// no GPU, and no background traffic that the closed network would refuse.
const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--no-first-run',
];

const options = {
  host: process.env.PWGRID_HOST || '127.0.0.1',
  port: Number(process.env.PWGRID_PORT || 0),
  wsPath: process.env.PWGRID_WS_PATH || `/playwright/${randomUUID()}`,
  headless: (process.env.PWGRID_HEADLESS || 'true') !== 'false',
  // The parent decides when the browser stops; see the stdin and signal handling below.
  handleSIGINT: false,
  handleSIGTERM: false,
  handleSIGHUP: false,
};
if (browserName === 'chromium') {
  options.executablePath = process.env.PWGRID_EXECUTABLE || '/usr/bin/chromium';
  options.chromiumSandbox = false;
  options.args = chromiumArgs;
} else if (process.env.PWGRID_EXECUTABLE) {
  options.executablePath = process.env.PWGRID_EXECUTABLE;
}

let server = null;
let closing = false;
async function shutdown(code) {
  if (closing) return;
  closing = true;
  try {
    if (server) await server.close();
  } catch {
    // The browser may already be gone; exiting is all that is left to do.
  }
  process.exit(code);
}

process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
process.stdin.on('end', () => shutdown(0));
process.stdin.on('error', () => shutdown(0));
process.stdin.resume();

try {
  server = await browserType.launchServer(options);
  server.on('close', () => {
    // The browser died on its own (crash, OOM kill): the parent sees the exit code.
    if (!closing) process.exit(3);
  });
  const proc = server.process();
  process.stdout.write(
    JSON.stringify({
      wsEndpoint: server.wsEndpoint(),
      browserPid: proc ? proc.pid : 0,
      playwrightVersion,
    }) + '\n',
  );
  started = true;
} catch (err) {
  process.stdout.write(JSON.stringify({ error: String(err && err.message ? err.message : err) }) + '\n');
  process.exit(1);
}
