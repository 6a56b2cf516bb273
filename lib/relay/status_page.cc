// The status page served at /ui/ (operator_api.h): one HTML document with its style and script
// inline, compiled into the library, so it needs no CDN, no asset files and no build step. It
// polls GET /api/v1/status every second (with the page's ?token= as a bearer token, for
// PROTECT_METRICS) and renders the workers, the sessions and the waiting clients.
#include "lib/relay/operator_api.h"

namespace pwgrid::internal {

std::string_view StatusPageHtml() {
  static constexpr std::string_view kPage = R"html(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pwgrid status</title>
<link rel="icon" href="data:,">
<style>
  :root { --fg: #1d2330; --muted: #677089; --line: #e3e6ee; --bg: #f7f8fb; --ok: #1a7f37;
          --warn: #9a6700; --bad: #cf222e; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
         color: var(--fg); background: var(--bg); }
  header { display: flex; gap: 24px; align-items: baseline; flex-wrap: wrap;
           padding: 14px 24px; background: #fff; border-bottom: 1px solid var(--line); }
  header h1 { font-size: 18px; margin: 0; }
  .fact { color: var(--muted); }
  .fact b { color: var(--fg); font-weight: 600; }
  main { padding: 8px 24px 32px; max-width: 1400px; }
  h2 { font-size: 15px; margin: 22px 0 8px; }
  table { width: 100%; border-collapse: collapse; background: #fff; border: 1px solid var(--line); }
  th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line);
           white-space: nowrap; }
  th { font-weight: 600; color: var(--muted); font-size: 12px; text-transform: uppercase;
       letter-spacing: .03em; }
  td.wrap { white-space: normal; word-break: break-all; min-width: 12em; }
  td.id { font-family: ui-monospace, monospace; font-size: 13px; }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
  .empty { color: var(--muted); font-style: italic; }
  .pill { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px;
          border: 1px solid currentColor; }
  .available, .ready { color: var(--ok); }
  .draining, .shutting-down { color: var(--warn); }
  .unreachable, .notready { color: var(--bad); }
  .bar { display: inline-block; width: 60px; height: 6px; background: var(--line);
         border-radius: 3px; vertical-align: middle; margin-right: 6px; }
  .bar i { display: block; height: 100%; background: #4d7cfe; border-radius: 3px; }
  #error { color: var(--bad); }
</style>
</head>
<body>
<header>
  <h1>pwgrid</h1>
  <span class="fact">state <b id="ready">…</b></span>
  <span class="fact">mode <b id="mode">…</b></span>
  <span class="fact">version <b id="version">…</b></span>
  <span class="fact">Playwright <b id="playwright">…</b></span>
  <span class="fact">uptime <b id="uptime">…</b></span>
  <span class="fact">sessions <b id="active">…</b> open, <b id="total">…</b> served</span>
  <span id="error"></span>
</header>
<main>
  <h2>Workers <span class="fact" id="workers-count"></span></h2>
  <table id="workers">
    <thead><tr><th>Worker</th><th>Browser</th><th>Playwright</th><th>Status</th>
      <th class="num">Active</th><th class="num">Lifetime</th><th class="num">Heartbeat</th>
      <th>Endpoint</th></tr></thead>
    <tbody></tbody>
  </table>
  <h2>Sessions <span class="fact" id="sessions-count"></span></h2>
  <table id="sessions">
    <thead><tr><th>Session</th><th>Browser</th><th>Worker</th><th>Client</th>
      <th>Client Playwright</th><th>Proxy</th><th class="num">Duration</th>
      <th class="num">To worker</th><th class="num">To client</th><th>User-Agent</th></tr></thead>
    <tbody></tbody>
  </table>
  <h2>Waiting clients</h2>
  <table id="queue">
    <thead><tr><th>Browser</th><th class="num">Waiting</th><th class="num">Oldest wait</th></tr></thead>
    <tbody></tbody>
  </table>
</main>
<script>
"use strict";
const token = new URLSearchParams(location.search).get("token");
const headers = token ? { Authorization: "Bearer " + token } : {};

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text == null ? "–" : String(text);
  if (cls) td.className = cls;
  return td;
}
function pill(text) {
  const td = document.createElement("td");
  const span = document.createElement("span");
  span.className = "pill " + text;
  span.textContent = text;
  td.appendChild(span);
  return td;
}
function load(active, limit) {
  const td = document.createElement("td");
  td.className = "num";
  const bar = document.createElement("span");
  bar.className = "bar";
  const fill = document.createElement("i");
  fill.style.width = Math.min(100, 100 * active / Math.max(1, limit)) + "%";
  bar.appendChild(fill);
  td.appendChild(bar);
  td.appendChild(document.createTextNode(active + " / " + limit));
  return td;
}
function seconds(s) {
  if (s == null) return "–";
  s = Number(s);
  if (s < 60) return s.toFixed(1) + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + Math.floor(s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}
function bytes(n) {
  if (n == null) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}
function fill(id, rows, empty, columns) {
  const body = document.querySelector("#" + id + " tbody");
  body.replaceChildren();
  if (!rows.length) {
    const tr = document.createElement("tr");
    const td = cell(empty, "empty");
    td.colSpan = columns;
    tr.appendChild(td);
    body.appendChild(tr);
    return;
  }
  for (const r of rows) body.appendChild(r);
}
// A long id (uuid, "browser:uuid") shortened to its first 8 characters after any prefix; the
// whole id is its tooltip.
function shortId(id) {
  const td = document.createElement("td");
  const colon = id.indexOf(":") + 1;
  td.textContent = id.length > colon + 12 ? id.slice(0, colon + 8) + "…" : id;
  td.title = id;
  td.className = "id";
  return td;
}
function row(cells, key) {
  const tr = document.createElement("tr");
  if (key) tr.dataset.id = key;
  for (const c of cells) tr.appendChild(c);
  return tr;
}
function render(s) {
  const ready = document.getElementById("ready");
  ready.textContent = s.draining ? "draining" : s.ready ? "ready" : "not ready";
  ready.className = s.ready && !s.draining ? "ready" : "notready";
  ready.title = s.notReadyReason || "";
  document.getElementById("mode").textContent = s.mode;
  document.getElementById("version").textContent = s.version;
  const versions = [...new Set((s.versions || []).filter(v => v.workers > 0)
                                .map(v => v.playwrightVersion || "any"))];
  document.getElementById("playwright").textContent =
      versions.length ? versions.join(", ") : (s.playwrightVersion || "–");
  document.getElementById("uptime").textContent = seconds(s.uptimeSeconds);
  document.getElementById("active").textContent = s.totals.sessionsActive;
  document.getElementById("total").textContent = s.totals.sessionsTotal;
  document.getElementById("error").textContent = s.registry.up ? "" : "registry: " + s.registry.error;
  document.getElementById("workers-count").textContent = "(" + s.workers.length + ")";
  document.getElementById("sessions-count").textContent = "(" + s.sessions.length + ")";
  fill("workers", s.workers.map(w => row([
    cell(w.id), cell(w.browser), cell(w.playwrightVersion || "any"), pill(w.status),
    load(w.active, w.maxConcurrent), load(w.lifetime, w.maxLifetime),
    cell(w.lastHeartbeatAgeSeconds == null ? null : seconds(w.lastHeartbeatAgeSeconds) + " ago", "num"),
    cell(w.endpoint, "wrap")], w.id)), "No workers registered", 8);
  fill("sessions", s.sessions.map(x => row([
    shortId(x.id), cell(x.browser), shortId(x.workerId), cell(x.client), cell(x.clientVersion || "–"),
    cell(x.proxy), cell(seconds(x.durationSeconds), "num"), cell(bytes(x.bytesToWorker), "num"),
    cell(bytes(x.bytesToClient), "num"), cell(x.userAgent, "wrap")], x.id)), "No open sessions", 10);
  fill("queue", s.waiting.map(q => row([
    cell(q.browser), cell(q.clients, "num"), cell(q.clients ? seconds(q.oldestWaitSeconds) : "–", "num")
  ])), "", 3);
}
async function poll() {
  try {
    const r = await fetch("/api/v1/status", { headers, cache: "no-store" });
    if (!r.ok) {
      document.getElementById("error").textContent = "status: HTTP " + r.status +
          (r.status === 401 ? " (open the page with ?token=<admin token>)" : "");
    } else {
      render(await r.json());
    }
  } catch (e) {
    document.getElementById("error").textContent = "the grid does not answer";
  }
  setTimeout(poll, 1000);
}
poll();
</script>
</body>
</html>
)html";
  return kPage;
}

}  // namespace pwgrid::internal
