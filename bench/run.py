#!/usr/bin/env python3
"""pwgrid benchmark suite: pwgrid side by side with a direct connection and with nginx.

Starts every component on 127.0.0.1 (free ports), runs each measurement RUNS times with the
paths interleaved, stops everything by PID, and writes a Markdown report (min / median / max over
the runs, ratios against the references, the machine).

  bench/run.py --build build-release [--runs 3] [--out bench/RESULTS.md]
  bench/run.py --build build --smoke --out /tmp/x.md   (CI: tiny counts, checks the harness works)

Benchmarks are never assertions: the exit status only says whether the harness itself worked.
"""
import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from harness import *  # noqa: F401,F403
from harness import PROCS  # noqa: F401
from report import report  # noqa: F401

# ---- the measurements ------------------------------------------------------------------------------

BUSY_POLL_US = 20


def relay_suite(build, tmp, cfg, results):
    """1-3: round trip, throughput, concurrency against direct and nginx (one echo worker)."""
    echo = start_echo(build, tmp)
    nginx = start_nginx(echo.port, tmp)
    grid = start_pwgrid(build, [echo.url("/playwright/bench")])
    # pwgrid_busy: the same relay with RelayOptions::busy_poll (BUSY_POLL_US) at 20 µs.
    busy = start_pwgrid(build, [echo.url("/playwright/bench")], busy_poll_us=BUSY_POLL_US)
    paths = {"direct": echo, "nginx": nginx, "pwgrid": grid, "pwgrid_busy": busy}
    # The io_uring comparison relay (issue 16: an epoll byte path against an io_uring one).
    uring = start_uring(build, echo.port)
    if uring is not None:
        paths["uring"] = uring
    wsb = f"{build}/bench/wsbench"
    try:
        for run in range(cfg.runs):
            order = list(paths.items())
            order = order[run % len(order):] + order[:run % len(order)]
            for name, comp in order:
                r = run_tool([wsb, "rtt", comp.url(), str(cfg.rtt_count), "1024"])
                results.setdefault(("rtt_p50", name), []).append(r["p50_us"])
                results.setdefault(("rtt_p99", name), []).append(r["p99_us"])
            for size in (65536, 1048576):
                for name, comp in order:
                    cpu0 = comp.cpu_s() if name != "direct" else 0
                    r = run_tool([wsb, "throughput", comp.url(), str(size), "16", str(cfg.tput_seconds)])
                    results.setdefault((f"tput_{size}", name), []).append(r["mb_per_s"])
                    if name != "direct":
                        cpu = comp.cpu_s() - cpu0
                        gb = 2 * r["bytes"] / 1e9  # each payload byte crosses the relay twice (there and back)
                        results.setdefault((f"cpu_per_gb_{size}", name), []).append(cpu / gb if gb else None)
            log(f"relay run {run + 1}/{cfg.runs} done")
        # Each relay is started afresh for each hold, so that its RSS growth is the connections'
        # (a relay that held connections before keeps the freed memory for reuse).
        for held in cfg.held:
            for run in range(cfg.runs):
                for name in [p for p in ("nginx", "pwgrid", "uring", "direct") if p in paths]:
                    comp = {"nginx": lambda: start_nginx(echo.port, tmp),
                            "pwgrid": lambda: start_pwgrid(build, [echo.url("/playwright/bench")]),
                            "uring": lambda: start_uring(build, echo.port),
                            "direct": lambda: echo}[name]()
                    try:
                        hold(wsb, name, comp, held, cfg, results)
                    finally:
                        if comp is not echo:
                            stop(comp.proc)
            log(f"held {held} done")
    finally:
        for c in (uring, busy, grid, nginx, echo):
            if c is not None:
                stop(c.proc)


def hold(wsb, name, comp, held, cfg, results):
    base = comp.rss_kib()
    p = start([wsb, "hold", comp.url(), str(held), "1", str(cfg.hold_seconds)])
    try:
        line = p.stdout.readline()
        info = kv(line)
        if info.get("failed", 1) != 0:
            log(f"{name}: hold {held}: {line.strip()}")
        time.sleep(1)
        if name != "direct":
            per_conn = (comp.rss_kib() - base) / max(1, info.get("opened", 1))
            results.setdefault((f"mem_{held}", name), []).append(per_conn)
        p.stdin.write("go\n")
        p.stdin.flush()
        loaded = kv(p.stdout.readline())
        results.setdefault((f"held_p99_{held}", name), []).append(loaded.get("p99_us"))
        p.stdin.write("done\n")
        p.stdin.flush()
    finally:
        stop(p)
    time.sleep(1)  # let the relays free the connections


def connect_suite(build, tmp, cfg, results):
    """4a: WebSocket connect + close, direct / nginx / pwgrid (memory) / pwgrid (Redis)."""
    echo = start_echo(build, tmp)
    nginx = start_nginx(echo.port, tmp)
    grid = start_pwgrid(build, [echo.url("/playwright/bench")])
    redis, redis_port = start_redis()
    grid_redis = start_pwgrid(build, [echo.url("/playwright/bench")], "redis", redis_port)
    wsb = f"{build}/bench/wsbench"
    try:
        paths = [("direct", echo), ("nginx", nginx), ("pwgrid", grid), ("pwgrid_redis", grid_redis)]
        for run in range(cfg.runs):
            for name, comp in paths[run % 4:] + paths[:run % 4]:
                r = run_tool([wsb, "connect", comp.url(), str(cfg.connect_count)])
                results.setdefault(("ws_connect_p50", name), []).append(r["p50_us"])
                results.setdefault(("ws_connect_p99", name), []).append(r["p99_us"])
        log("ws connect done")
    finally:
        for c in (grid_redis, grid, nginx, echo):
            stop(c.proc)
        stop(redis)


def node_suite(build, cfg, results):
    """4b and 7: the real playwright-core client with real Chromium workers."""
    env = dict(os.environ, PWGRID_SERVER=f"{build}/server/pwgrid-server", PWGRID_WORKER=f"{build}/server/pwgrid-worker")
    for mode in ("embedded", "redis"):
        for run in range(cfg.runs):
            r = subprocess.run(["node", f"{ROOT}/bench/connect.mjs", build, str(cfg.pw_connects), mode, "--json"],
                               capture_output=True, text=True, timeout=900, env=env)
            if r.returncode != 0:
                raise RuntimeError(f"connect.mjs {mode} failed: {r.stderr[-500:]}")
            j = json.loads(r.stdout.strip().splitlines()[-1])
            for phase, paths in j.items():
                for k, qs in paths.items():
                    for q in ("p50", "p99"):
                        results.setdefault((f"pw_connect_{q}_{mode}_{phase}", k), []).append(qs[q])
        log(f"playwright connect ({mode}) done")
    for run in range(cfg.runs):
        r = subprocess.run(["node", f"{ROOT}/bench/workload.mjs", build, str(cfg.workload_seconds)],
                           capture_output=True, text=True, timeout=1800, env=env)
        if r.returncode != 0:
            raise RuntimeError(f"workload.mjs failed: {r.stderr[-500:]}")
        j = json.loads(r.stdout.strip().splitlines()[-1])
        results.setdefault(("workload", "direct"), []).append(j["direct"])
        results.setdefault(("workload", "pwgrid"), []).append(j["grid"])
        results.setdefault(("workload_capacity", "all"), []).append(j["capacity"])
    log("real workload done")


def selection_suite(build, cfg, results):
    """5 and 6: selection cost at scale; wake-up under saturation."""
    for mode in ("memory", "redis"):
        for n in cfg.workers:
            for run in range(cfg.runs):
                count = cfg.select_count if n <= 1000 else max(50, cfg.select_count // 5)
                r = run_tool([f"{build}/bench/selection", f"mode={mode}", f"workers={n}",
                              f"count={count}"], timeout=1800)
                results.setdefault((f"select_p50_{n}", mode), []).append(r["p50_us"])
                results.setdefault((f"select_p99_{n}", mode), []).append(r["p99_us"])
                if mode == "redis":
                    results.setdefault((f"select_cpu_{n}", mode), []).append(r["redis_cpu_us_per_selection"])
            log(f"selection {mode} {n} done")
        # The largest fleet again, spread over 3 Playwright versions (clients of each in turn).
        n = max(cfg.workers)
        for run in range(cfg.runs):
            count = cfg.select_count if n <= 1000 else max(50, cfg.select_count // 5)
            r = run_tool([f"{build}/bench/selection", f"mode={mode}", f"workers={n}",
                          f"count={count}", "versions=3"], timeout=1800)
            results.setdefault((f"select_p50_{n}v3", mode), []).append(r["p50_us"])
            results.setdefault((f"select_p99_{n}v3", mode), []).append(r["p99_us"])
            if mode == "redis":
                results.setdefault((f"select_cpu_{n}v3", mode), []).append(r["redis_cpu_us_per_selection"])
        log(f"selection {mode} {n} over 3 versions done")
    # Scale: the largest fleet over 3 browser types; 20 proxies sharing one Redis.
    for run in range(cfg.runs):
        r = run_tool([f"{build}/bench/selection", "mode=redis", f"workers={cfg.big_fleet}",
                      f"count={max(50, cfg.select_count // 2)}", "browsers=3"], timeout=1800)
        results.setdefault(("select_p99_bigb3", "redis"), []).append(r["p99_us"])
        results.setdefault(("select_p50_bigb3", "redis"), []).append(r["p50_us"])
        results.setdefault(("select_cpu_bigb3", "redis"), []).append(r["redis_cpu_us_per_selection"])
    log(f"selection {cfg.big_fleet} workers over 3 browsers done")
    r = run_tool([f"{build}/bench/grid_scale", f"proxies={cfg.scale_proxies}", "sessions=500" if not cfg.smoke else "sessions=5",
                  "rate=10", f"seconds={cfg.scale_seconds}", "workers=3000" if not cfg.smoke else "workers=30",
                  "browsers=3"], timeout=1800)
    for k in ("redis_cpu_fraction", "connects_per_s", "p50_us", "p99_us", "executed_commands_per_s"):
        results.setdefault((f"scale_{k}", "redis"), []).append(r[k])
    log("20 proxies done")
    for mode, proxies in (("memory", 1), ("redis", 2)):
        for run in range(cfg.runs):
            r = run_tool([f"{build}/bench/wakeup", f"mode={mode}", f"proxies={proxies}", "slots=5",
                          f"waiters={cfg.waiters}", f"rounds={cfg.wake_rounds}"])
            results.setdefault(("wake_p50", mode), []).append(r["p50_us"])
            results.setdefault(("wake_p99", mode), []).append(r["p99_us"])
    # The grid-wide queue's hand-over: one slot held on proxy 0, one client waiting on proxy 1.
    for run in range(cfg.runs):
        r = run_tool([f"{build}/bench/wakeup", "mode=redis", "proxies=2", "slots=1", "waiters=1",
                      "holder=0", f"rounds={cfg.wake_rounds * 3}"])
        results.setdefault(("wake_cross_p50", "redis"), []).append(r["p50_us"])
        results.setdefault(("wake_cross_p99", "redis"), []).append(r["p99_us"])
    log("saturation done")


def tasks_suite(build, cfg, results):
    """8: end to end, v1's shape: tasks at concurrency 5, direct / Redis mode / embedded."""
    for run in range(cfg.task_runs):
        r = subprocess.run(["node", f"{ROOT}/bench/tasks.mjs", build, str(cfg.tasks), "5", "--json"],
                           capture_output=True, text=True, timeout=3600)
        if r.returncode != 0:
            raise RuntimeError(f"tasks.mjs failed: {r.stderr[-500:]}")
        out = json.loads(r.stdout.strip().splitlines()[-1])
        for path in ("direct", "redis", "embedded"):
            for k in ("wall_s", "first_page_p50_ms", "first_page_p95_ms", "cpu_s_per_task"):
                results.setdefault((f"tasks_{k}", path), []).append(out[path][k])
            for proc, v in out[path]["cpu_s_per_task_by_process"].items():
                results.setdefault((f"tasks_cpu_{proc}", path), []).append(v)
        results.setdefault(("tasks_cores", "all"), []).append(out["cores"])
    log("tasks done")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=f"{ROOT}/build-release")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--out", default=f"{ROOT}/bench/RESULTS.md")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--only", default="relay,connect,selection,node,tasks")
    ap.add_argument("--tasks", type=int, default=300, help="tasks per path in the end-to-end suite")
    cfg = ap.parse_args()
    cfg.build = os.path.abspath(cfg.build)
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    # A relay holds two sockets per connection: the largest held count this machine allows.
    max_held = min(10000, (nofile - 100) // 2)
    if cfg.smoke:
        cfg.runs = 1
        cfg.rtt_count, cfg.tput_seconds, cfg.held, cfg.hold_seconds = 200, 0.3, [20], 1
        cfg.connect_count, cfg.pw_connects, cfg.workload_seconds = 20, 3, 3
        cfg.workers, cfg.select_count, cfg.waiters, cfg.wake_rounds = [10], 50, 10, 1
        cfg.tasks, cfg.task_runs = 5, 1
        cfg.big_fleet, cfg.scale_proxies, cfg.scale_seconds = 30, 2, 2
    else:
        cfg.rtt_count, cfg.tput_seconds, cfg.held, cfg.hold_seconds = 20000, 5, [1000, max_held], 10
        cfg.connect_count, cfg.pw_connects, cfg.workload_seconds = 1000, 100, 60
        cfg.workers, cfg.select_count, cfg.waiters, cfg.wake_rounds = [10, 100, 1000, 10000], 2000, 100, 5
        cfg.task_runs = 1  # minutes per run: one, with --tasks per path
        cfg.big_fleet, cfg.scale_proxies, cfg.scale_seconds = 100000, 20, 30
    for tool in (NGINX, "redis-server", "node"):
        if not shutil.which(tool):
            sys.exit(f"bench: {tool} not found (scripts/bench.sh installs it)")
    results = {}
    t0 = time.time()
    tmp = tempfile.mkdtemp(prefix="pwgrid-bench-")
    try:
        only = cfg.only.split(",")
        if "relay" in only:
            relay_suite(cfg.build, tmp, cfg, results)
        if "connect" in only:
            connect_suite(cfg.build, tmp, cfg, results)
        if "selection" in only:
            selection_suite(cfg.build, cfg, results)
        if "node" in only:
            node_suite(cfg.build, cfg, results)
        if "tasks" in only:
            tasks_suite(cfg.build, cfg, results)
    finally:
        for p in list(PROCS):
            stop(p)
        shutil.rmtree(tmp, ignore_errors=True)
    report(results, cfg, cfg.out, time.time() - t0)
    print(f"bench: wrote {cfg.out}")


if __name__ == "__main__":
    main()
