"""The benchmark harness's plumbing (bench/run.py): processes started and stopped by PID, free
ports, the components (echo worker, pwgrid relay host, nginx, redis-server), /proc readings and
the statistics of repeated runs."""
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

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROCS = []  # every process started here, stopped by PID at the end
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args, stdin_stops=True):
    """stdin_stops: the tool exits when its stdin closes (ours); others (nginx, redis) get SIGTERM."""
    p = subprocess.Popen(args, stdin=subprocess.PIPE if stdin_stops else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, text=True)
    PROCS.append(p)
    return p


def stop(p, sig=signal.SIGTERM):
    if p.poll() is None:
        try:
            if p.stdin:
                p.stdin.close()
                p.wait(timeout=3)
        except (OSError, subprocess.TimeoutExpired):
            pass
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    if p in PROCS:
        PROCS.remove(p)


def kv(line):
    out = {}
    for part in line.split():
        if "=" in part:
            k, v = part.split("=", 1)
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


def run_tool(args, timeout=600):
    r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({r.returncode}): {r.stderr.strip()[-500:]}")
    return kv(r.stdout.strip().splitlines()[-1])


def proc_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


class Component:
    """A process under test: its port and the PIDs whose RSS and CPU count as its cost."""

    def __init__(self, proc, port, extra_pids=None):
        self.proc, self.port = proc, port
        self.extra = extra_pids or (lambda: [])

    def pids(self):
        return [self.proc.pid] + self.extra()

    def rss_kib(self):
        return sum(proc_rss_kib(p) for p in self.pids())

    def cpu_s(self):
        return sum(proc_cpu_s(p) for p in self.pids())

    def url(self, path="/"):
        return f"ws://127.0.0.1:{self.port}{path}"


def start_echo(build, tmp):
    port_file = tempfile.mktemp(prefix="echo-", suffix=".port", dir=tmp)
    p = start([f"{build}/bench/wsbench", "echo", port_file, "1"])
    for _ in range(200):
        if os.path.exists(port_file):
            break
        time.sleep(0.025)
    with open(port_file) as f:
        return Component(p, int(f.read()))


def start_pwgrid(build, workers, registry="memory", redis_port=0, io_threads=2, busy_poll_us=0):
    p = start([f"{build}/bench/relay_host", "workers=" + ",".join(workers), f"registry={registry}",
               f"redis_port={redis_port}", f"io_threads={io_threads}", f"busy_poll_us={busy_poll_us}"])
    line = p.stdout.readline()
    if not line.startswith("port "):
        raise RuntimeError(f"relay_host did not start: {line!r}")
    return Component(p, int(line.split()[1]))


def start_uring(build, upstream_port):
    """bench/uring_relay in front of `upstream_port`, or None where liburing was not installed."""
    tool = f"{build}/bench/uring_relay"
    if not os.path.exists(tool):
        return None
    p = start([tool, str(upstream_port)], stdin_stops=False)
    line = p.stdout.readline()
    if not line.startswith("port "):
        raise RuntimeError(f"uring_relay did not start: {line!r}")
    return Component(p, int(line.split()[1]))


NGINX_CONF = os.path.join(ROOT, "bench", "nginx.conf.in")  # @NAME@ fields, shared with connect.mjs


def start_nginx(upstream_port, tmp, workers=2, buffer="64k"):
    port = free_port()
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    conf = os.path.join(tmp, "nginx.conf")
    fields = {"WORKERS": workers, "TMP": tmp, "PORT": port, "UPSTREAM": upstream_port, "BUFFER": buffer,
              "BUSY": f"{2 * int(buffer.rstrip('k'))}k", "NOFILE": nofile, "CONNECTIONS": nofile - 100}
    with open(NGINX_CONF) as f:
        text = f.read()
    for k, v in fields.items():
        text = text.replace(f"@{k}@", str(v))
    with open(conf, "w") as f:
        f.write(text)
    p = start([NGINX, "-p", tmp, "-c", conf], stdin_stops=False)
    wait_port(port, p, "nginx")
    return Component(p, port, lambda: children(p.pid))


def wait_port(port, p, what):
    for _ in range(400):
        if p.poll() is not None:
            raise RuntimeError(f"{what} exited with {p.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.025)
    raise RuntimeError(f"{what} did not listen on {port}")


def start_redis():
    port = free_port()
    p = start(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--loglevel", "warning"], stdin_stops=False)
    wait_port(port, p, "redis-server")
    return p, port


def stats(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return (min(xs), statistics.median(xs), max(xs))


def fmt(s, digits=1):
    if s is None:
        return "n/a"
    return " / ".join(f"{v:.{digits}f}" for v in s)


def ratio(a, b):
    if a is None or b is None or b[1] == 0:
        return "n/a"
    return f"{a[1] / b[1]:.2f}"


