#!/usr/bin/env python3
"""Envoy benchmarks: (a) tcp_proxy alone, (b) tcp_proxy + h2mux.wasm, (b') tcp_proxy + the native
module dist/libh2mux.so (the same core and shell as an Envoy dynamic module,
envoy-config/h2mux-native.yaml.in), (c) Envoy's HTTP connection manager (h2c both sides), each
Envoy with --concurrency 1, and (d) HAProxy (Debian's haproxy 2.6, nbthread 1, h2c both sides,
from bench/haproxy.cfg.in: another HTTP/2 multiplexer, for reference), all in front of the same
upstreams (nghttpd and the demo upstream), driven by h2load; then the core alone (corpus replay
and relay bench natively, in wasmtime, and their instructions per request under callgrind,
native and wasm). For (d), "Envoy CPU" and "Envoy peak RSS" are HAProxy's, measured the same way.
Without haproxy (or with BENCH_NO_HAPROXY=1) column d is left out with a note. Column (e) is
h2mux-node (dist/js/bin/h2mux-node.js: the same core and shell in Node through wasm-bindgen,
one process, one RelayGroup), its CPU and RSS the node process's; without node or dist/js
(make js), or with BENCH_NO_NODE=1, it is left out with a note.

The HTTP/1.1 workloads have set-ups of their own (H1_GROUPS), in front of nginx (Debian's
nginx-light, run unprivileged in the foreground from a config in the run directory) where an
HTTP/1.1 server is needed: HTTP/1.1 clients (h2load --h1) through (a) tcp_proxy to nginx's
HTTP/1.1 listener, (b) h2mux.wasm and (b') h2mux.so (default configuration) and (c) Envoy's
HTTP connection manager (codec_type AUTO), all to nghttpd over h2c; and HTTP/2 clients through
(a) tcp_proxy to nginx's h2c listener, (b) h2mux.wasm and (b') h2mux.so with upstream_protocol
"http/1.1" and (c) the connection manager with an HTTP/1.1 cluster, all to nginx's HTTP/1.1
listener. HAProxy has no column there.

`bench.py --ir-only` (make bench-ir) measures only the instructions per request, without Envoy:
see ir_bench.

`bench.py --node-only` (make bench-node, the last step of make bench) measures h2mux-node against
a plain Node TCP pipe and a node:http2 proxy (bench/node-proxies.js), small GETs in front of
nghttpd, without Envoy: see main_node.

Set-ups are interleaved (a, b, b', c, d, a, b, ...) and every (round, workload, set-up) gets a
fresh Envoy (or HAProxy), so its peak RSS (VmHWM) belongs to that workload alone. Figures are
medians over rounds; the req/s and CPU-per-request ratios (b/a, b'/a, b/c, b'/c, b'/b, d/b) are
medians of the per-round ratios (same round, same machine state).

Environment:
  BENCH_ROUNDS=N      rounds (default 5; 2 with BENCH_QUICK=1)
  BENCH_QUICK=1       fewer requests and rounds, for development
  BENCH_WAIT_IDLE=S   first wait up to S seconds for the 1-minute load average to drop below 1.0
  BENCH_ONLY=a,b      only these workloads (names in WORKLOADS); BENCH_ONLY=h1 selects the
                      HTTP/1.1 ones (h1_get_small, h1_pipelined, h2_to_h1, h2_to_h1_m1) and
                      get_small_m1, h1_get_small's shape over HTTP/2
  BENCH_H1_H2_UPSTREAM=nginx   HTTP/1.1 clients: h2mux and the connection manager reach
                      nginx's h2c listener instead of nghttpd (tcp_proxy reaches nginx anyway)
  BENCH_NO_CORE=1, BENCH_NO_PROFILE=1   skip the core benches, the perf profile of Envoy
  BENCH_FEATURES=a,b  cargo features of the bench binaries (when --ir-only builds them; recorded)
  BENCH_NO_HAPROXY=1  leave out column d (HAProxy); it is left out anyway, with a note, when
                      haproxy is missing or refuses its configuration
  ENVOY, WASM, DEMO_UPSTREAM   paths (defaults: .venv/bin/envoy, dist/h2mux.wasm,
                               wasm-tests/target/release/demo-upstream)
  NATIVE_MODULE       the native module of column b' (default dist/libh2mux.so; make native)
  HAPROXY             the haproxy binary of column d (default: haproxy on PATH, /usr/sbin/haproxy)
  NODE, BENCH_NO_NODE=1   the node binary of column e (default: node on PATH); leave e out
Writes target/bench/results-<date>.md and .json and prints the table. Targets are reported as
PASS/MISS, never asserted: the exit code is non-zero only when a measurement could not be made.
"""

import argparse
import collections
import datetime
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LIB = os.path.join(ROOT, "tests", "e2e", "lib.sh")
RENDER = os.path.join(ROOT, "envoy-config", "render.sh")
OUT = os.path.join(ROOT, "target", "bench")
ENVOY = os.environ.get("ENVOY", os.path.join(ROOT, ".venv", "bin", "envoy"))
WASM = os.path.abspath(os.environ.get("WASM", os.path.join(ROOT, "dist", "h2mux.wasm")))
DEMO = os.path.abspath(os.environ.get(
    "DEMO_UPSTREAM", os.path.join(ROOT, "wasm-tests", "target", "release", "demo-upstream")))
NATIVE = os.path.abspath(os.environ.get("NATIVE_MODULE",
                                        os.path.join(ROOT, "dist", "libh2mux.so")))
HAPROXY = os.environ.get("HAPROXY") or shutil.which("haproxy") or "/usr/sbin/haproxy"
HAPROXY_TEMPLATE = os.path.join(HERE, "haproxy.cfg.in")
NODE = os.environ.get("NODE") or "node"
H2MUX_NODE = os.path.join(ROOT, "dist", "js", "bin", "h2mux-node.js")
CORPUS_NATIVE = os.path.join(ROOT, "target", "release", "h2mux-corpus-bench")
CORPUS_WASM = os.path.join(ROOT, "target", "wasm32-wasip1", "release", "h2mux-corpus-bench.wasm")
RELAY_NATIVE = os.path.join(ROOT, "target", "release", "h2mux-relay-bench")
RELAY_WASM = os.path.join(ROOT, "target", "wasm32-wasip1", "release", "h2mux-relay-bench.wasm")
# The relay bench built as dist/h2mux.wasm is (the wasm-release profile: lto, one codegen
# unit, panic=abort): its count is the one the filter's code runs, free of how the release
# profile's codegen units happen to split the crate.
RELAY_SHIPPED = os.path.join(ROOT, "target", "wasm32-wasip1", "wasm-release",
                             "h2mux-relay-bench.wasm")

QUICK = os.environ.get("BENCH_QUICK") == "1"
ROUNDS = int(os.environ.get("BENCH_ROUNDS") or (2 if QUICK else 5))
ONLY = [w for w in os.environ.get("BENCH_ONLY", "").split(",") if w]
H1_H2_UPSTREAM = os.environ.get("BENCH_H1_H2_UPSTREAM", "nghttpd")
if H1_H2_UPSTREAM not in ("nghttpd", "nginx"):
    sys.exit("bench: BENCH_H1_H2_UPSTREAM must be nghttpd or nginx")

# key, label, template, listener port variable, upstream (None: the workload's), plugin
# configuration (None: CONFIG_JSON from the environment, else the filter's defaults). The
# template is an Envoy one (envoy-config/<template>.yaml.in), except HAPROXY_SETUP's.
# Column b' has the key "n" (native): keys are also the suffixes of the JSON's figures.
HAPROXY_SETUP = "haproxy"
NODE_SETUP = "h2mux-node"
SETUPS = [
    ("a", "tcp_proxy", "plain-tcp", "H2C_PORT", None, None),
    ("b", "h2mux", "h2mux", "H2C_PORT", None, None),
    ("n", "h2mux.so", "h2mux-native", "H2C_PORT", None, None),
    ("c", "hcm", "hcm", "HCM_PORT", None, None),
    ("d", "haproxy", HAPROXY_SETUP, "HAPROXY_PORT", None, None),
    ("e", "h2mux-node", NODE_SETUP, "NODE_PORT", None, None),
]
# Column heads of the main table, and how a key is written in a ratio's head.
HEADS = {"a": "a tcp_proxy", "b": "b h2mux", "n": "b' h2mux.so", "c": "c hcm", "d": "d haproxy",
         "e": "e h2mux-node"}
LETTERS = {"n": "b'"}
# The ratios reported (numerator, denominator), wherever both set-ups ran: each h2mux against
# the bare proxy and the connection manager, the native module against the .wasm, and HAProxy
# against the .wasm.
RATIOS = [("b", "a"), ("n", "a"), ("b", "c"), ("n", "c"), ("n", "b"), ("d", "b"), ("e", "b")]
# Set-ups this run leaves out (key -> why), filled by main() before any measurement.
UNAVAILABLE = {}

# Upstreams: nghttpd (h2c), the demo upstream (h2c), and one nginx with two listeners,
# HTTP/1.1 (nginx-h1) and h2c with prior knowledge (nginx-h2c), serving the same files.
UPSTREAM_PORTS = {"nghttpd": "NGHTTPD_PORT", "demo": "DEMO_PORT",
                  "nginx-h1": "NGINX_H1_PORT", "nginx-h2c": "NGINX_H2C_PORT"}
H1_H2C = "nginx-h2c" if H1_H2_UPSTREAM == "nginx" else "nghttpd"
H1_UPSTREAM_CONFIG = {"upstream_protocol": "http/1.1"}

# The HTTP/1.1 workloads' set-ups, by group (the `upstream` field of such a workload), and
# the column heads of their table. nghttpd speaks no plain HTTP/1.1: tcp_proxy, which passes
# the client's bytes through, needs nginx for an HTTP/1.1 client.
H1_GROUPS = {
    "h1client": ([
        ("a", "tcp_proxy", "plain-tcp", "H2C_PORT", "nginx-h1", None),
        ("b", "h2mux", "h2mux", "H2C_PORT", H1_H2C, None),
        ("n", "h2mux.so", "h2mux-native", "H2C_PORT", H1_H2C, None),
        ("c", "hcm AUTO", "bench-hcm-auto", "HCM_PORT", H1_H2C, None),
    ], "HTTP/1.1 clients (h2load --h1)",
        ["a tcp_proxy (to nginx, HTTP/1.1)", f"b h2mux (h2c to {H1_H2C})",
         f"b' h2mux.so (h2c to {H1_H2C})", f"c hcm AUTO (h2c to {H1_H2C})"]),
    "h1upstream": ([
        ("a", "tcp_proxy", "plain-tcp", "H2C_PORT", "nginx-h2c", None),
        ("b", "h2mux h1up", "h2mux", "H2C_PORT", "nginx-h1", H1_UPSTREAM_CONFIG),
        ("n", "h2mux.so h1up", "h2mux-native", "H2C_PORT", "nginx-h1", H1_UPSTREAM_CONFIG),
        ("c", "hcm h1 cluster", "bench-hcm-h1", "HCM_PORT", "nginx-h1", None),
    ], "HTTP/2 clients (h2load, h2c) to an HTTP/1.1 upstream (nginx)",
        ["a tcp_proxy (h2c to nginx)", "b h2mux upstream_protocol http/1.1",
         "b' h2mux.so upstream_protocol http/1.1", "c hcm, HTTP/1.1 cluster"]),
}


def setups_of(workload):
    """The set-ups a workload runs through, in interleaving order, less those left out."""
    setups = H1_GROUPS[workload[1]][0] if workload[1] in H1_GROUPS else SETUPS
    return [s for s in setups if s[0] not in UNAVAILABLE]


def is_haproxy(setup):
    return setup[2] == HAPROXY_SETUP


def is_node(setup):
    return setup[2] == NODE_SETUP


def is_envoy(setup):
    return not (is_haproxy(setup) or is_node(setup))

ONE_MB = 1 << 20
SMALL = b"x" * 99 + b"\n"  # a 100-byte body

# name, upstream, path, h2load arguments, requests (full, quick), what it shows
WORKLOADS = [
    ("get_small", "nghttpd", "/small.txt", ["-c", "10", "-m", "10"], (100000, 10000),
     "100-byte GETs, 10 connections x 10 streams"),
    ("get_small_demo", "demo", "/", ["-c", "10", "-m", "10"], (50000, 6000),
     "the demo greeting, 10 x 10"),
    ("latency", "nghttpd", "/small.txt", ["-c", "1", "-m", "1"], (30000, 1000),
     "one stream at a time on one connection"),
    ("download_1m", "nghttpd", "/1m.bin", ["-c", "4", "-m", "4"], (500, 60),
     "1 MiB responses, 4 x 4"),
    ("upload_1m", "demo", "/sha256", ["-c", "4", "-m", "4", "-d", "@1m.bin"], (300, 40),
     "1 MiB POST bodies hashed upstream, 4 x 4"),
    ("conns_1000", "nghttpd", "/small.txt", ["-c", "1000", "-m", "1"], (5000, 1000),
     "1000 connections, one stream each"),
    # The shape of h1_get_small over HTTP/2, through the usual set-ups: what h2mux and the
    # connection manager cost at one request in flight per connection whatever the protocol.
    ("get_small_m1", "nghttpd", "/small.txt", ["-c", "10", "-m", "1"], (60000, 6000),
     "100-byte GETs, 10 connections x 1 stream"),
    # HTTP/1.1 (set-ups from H1_GROUPS): 100-byte GETs.
    ("h1_get_small", "h1client", "/small.txt", ["--h1", "-c", "10", "-m", "1"], (60000, 6000),
     "HTTP/1.1 clients, 10 connections, one request at a time"),
    ("h1_pipelined", "h1client", "/small.txt", ["--h1", "-c", "10", "-m", "10"],
     (100000, 10000), "HTTP/1.1 clients, 10 connections x 10 pipelined requests"),
    ("h2_to_h1", "h1upstream", "/small.txt", ["-c", "10", "-m", "10"], (60000, 6000),
     "HTTP/2 clients, 10 x 10, to an HTTP/1.1 upstream"),
    ("h2_to_h1_m1", "h1upstream", "/small.txt", ["-c", "10", "-m", "1"], (60000, 6000),
     "HTTP/2 clients, 10 x 1, to an HTTP/1.1 upstream"),
]
H1_WORKLOADS = [w[0] for w in WORKLOADS if w[1] in H1_GROUPS] + ["get_small_m1"]
WARMUP = (20000, 1000)  # small GETs on each fresh Envoy before measuring: V8 tiers up its code
SHAPE_WARMUP = 2000  # then small GETs with the workload's -c and -m

# Informative targets: (label, workload, metric, comparison, bound)
TARGETS = [
    ("small GETs h2mux/hcm req/s >= 3", "get_small", "ratio_bc", ">=", 3.0),
    ("small GETs h2mux/tcp_proxy req/s >= 0.6", "get_small", "ratio_ba", ">=", 0.6),
    ("h2mux Envoy CPU per small GET <= 6 us", "get_small", "cpu_us_b", "<=", 6.0),
    ("single-stream p99 h2mux/tcp_proxy <= 1.5", "latency", "p99_pooled_ratio_ba", "<=", 1.5),
    ("  the same outside the machine's stall bursts", "latency", "p99_quiet_ratio_ba", "<=", 1.5),
    # The native module has no V8 and no copies into linear memory: it should come close to
    # the bare proxy.
    ("small GETs h2mux.so/tcp_proxy req/s >= 0.9", "get_small", "ratio_na", ">=", 0.9),
    ("h2mux.so Envoy CPU per small GET <= 1.3 x tcp_proxy's", "get_small", "cpu_ratio_na", "<=",
     1.3),
    ("single-stream p99 h2mux.so/tcp_proxy <= 1.5", "latency", "p99_pooled_ratio_na", "<=", 1.5),
    ("  the same outside the machine's stall bursts", "latency", "p99_quiet_ratio_na", "<=", 1.5),
    ("core in wasmtime / native >= 0.6", "core", "wasm_native", ">=", 0.6),
    ("relay in wasmtime / native >= 0.6", "core", "relay_wasm_native", ">=", 0.6),
    ("dist/h2mux.wasm <= 300 KB (300,000 bytes)", "size", "wasm_kb", "<=", 300.0),
    ("HTTP/1.1 clients: h2mux/hcm Envoy CPU per request <= 0.25", "h1_get_small",
     "cpu_ratio_bc", "<=", 0.25),
    ("  the same, 10 pipelined requests", "h1_pipelined", "cpu_ratio_bc", "<=", 0.25),
]

ENV = dict(os.environ)
ENV.update(ENVOY=ENVOY, ENVOY_CONCURRENCY="1", ENVOY_LOG_LEVEL="warning", WASM=WASM)


class BenchError(Exception):
    pass


def log(msg):
    print(msg, flush=True)


# ---------------------------------------------------------------- processes (tests/e2e/lib.sh)

def lib(step, *args, ok=(0,)):
    p = subprocess.run(["bash", LIB, step, *args], env=ENV, capture_output=True, text=True)
    if p.returncode not in ok:
        raise BenchError(f"lib.sh {step} failed ({p.returncode}): {p.stderr.strip()}")
    return p.returncode, p.stdout.strip()


_PICKED = set()  # ports handed out: picked but maybe not yet bound, never handed out twice


def free_port():
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _PICKED:
            _PICKED.add(port)
            return port


def log_tail(name, n=15):
    try:
        with open(os.path.join(ENV["RUN_DIR"], name + ".log"), errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def child_pid(name):
    with open(os.path.join(ENV["RUN_DIR"], name + ".cpid")) as f:
        return int(f.read())


def setup_run_dir():
    os.makedirs(OUT, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = os.path.join(OUT, f"run-{stamp}-{os.getpid()}")
    os.makedirs(os.path.join(run_dir, "pids"))
    with open(os.path.join(run_dir, "env"), "w") as f:
        f.write(f"export RUN_DIR={shlex.quote(run_dir)}\n")
    ENV["RUN_DIR"] = run_dir
    # Ports live in ENV, not in the env file, so that each render can choose its own.
    for var in ("ADMIN_PORT", "H2C_PORT", "TLS_PORT", "HCM_PORT", "NGHTTPD_PORT", "DEMO_PORT",
                "NGINX_H1_PORT", "NGINX_H2C_PORT", "HAPROXY_PORT", "NODE_PORT"):
        ENV[var] = str(free_port())
    ENV["NATIVE_MODULE"] = NATIVE
    ENV["ENVOY_DYNAMIC_MODULES_SEARCH_PATH"] = native_search_path(run_dir)
    runs = sorted(d for d in os.listdir(OUT) if d.startswith("run-"))
    for old in runs[:-5]:
        shutil.rmtree(os.path.join(OUT, old), ignore_errors=True)
    www = os.path.join(run_dir, "www")
    os.makedirs(www)
    with open(os.path.join(www, "small.txt"), "wb") as f:
        f.write(SMALL)
    with open(os.path.join(www, "1m.bin"), "wb") as f:
        f.write(os.urandom(ONE_MB))
    ENV["BENCH_WWW"] = www
    lib("cert")
    with open(os.path.join(run_dir, "env")) as f:
        m = re.search(r"CERT_DIR=(.*)", f.read())
    ENV["CERT_DIR"] = shlex.split(m.group(1))[0]
    return run_dir, stamp


def native_search_path(run_dir):
    """The directory Envoy is to load the native module from. h2mux-native.yaml.in names the
    module h2mux, so Envoy looks for libh2mux.so there: NATIVE's own directory when that is its
    name, else a link of that name in the run directory (NATIVE_MODULE=/elsewhere/other.so)."""
    if os.path.basename(NATIVE) == "libh2mux.so":
        return os.path.dirname(NATIVE)
    d = os.path.join(run_dir, "native")
    os.makedirs(d, exist_ok=True)
    os.symlink(NATIVE, os.path.join(d, "libh2mux.so"))
    return d


NGINX_CONF = """# Written by bench/bench.py: nginx as a benchmark upstream, in the foreground.
worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    default_type application/octet-stream;
    # One client connection rides one upstream connection through tcp_proxy and h2mux:
    # nginx must not close it after its default 1,000 requests.
    keepalive_requests 1000000000;
    keepalive_timeout 600s;
    server {{ listen 127.0.0.1:{h1_port}; root {www}; }}
    server {{ listen 127.0.0.1:{h2c_port} http2; root {www}; }}
}}
"""


def find_nginx():
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    return nginx if os.access(nginx, os.X_OK) else None


def needs_nginx(workload):
    return any(setup[4] and setup[4].startswith("nginx") for setup in setups_of(workload))


def start_nginx():
    """nginx with an HTTP/1.1 listener (NGINX_H1_PORT) and an h2c one (NGINX_H2C_PORT), both
    serving BENCH_WWW. As root, it runs as nobody (setpriv), from a config in the run
    directory."""
    nginx = find_nginx()
    if not nginx:
        raise BenchError("nginx not found (Debian: nginx-light)")
    d = os.path.join(ENV["RUN_DIR"], "nginx")
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(dir=d, www=ENV["BENCH_WWW"], h1_port=ENV["NGINX_H1_PORT"],
                                  h2c_port=ENV["NGINX_H2C_PORT"]))
    cmd = f"exec {shlex.quote(nginx)} -p {shlex.quote(d)} -e {shlex.quote(d + '/error.log')} " \
          f"-c {shlex.quote(conf)}"
    if os.geteuid() == 0 and shutil.which("setpriv"):
        os.chmod(d, 0o777)
        cmd = f"exec setpriv --reuid=nobody --regid=nogroup --clear-groups {cmd[5:]}"
    env = dict(ENV, UPSTREAM_PORT=ENV["NGINX_H1_PORT"], UPSTREAM_CMD=cmd)
    p = subprocess.run(["bash", LIB, "start_upstream", "nginx"], env=env, capture_output=True,
                       text=True)
    if p.returncode:
        raise BenchError(f"nginx did not start: {p.stderr.strip()}")
    env["UPSTREAM_PORT"] = ENV["NGINX_H2C_PORT"]
    lib("wait_port", ENV["NGINX_H2C_PORT"], "nginx", "10")
    v = subprocess.run([nginx, "-v"], capture_output=True, text=True)
    return (v.stderr or v.stdout).strip()


def start_upstreams(workloads):
    if any(needs_nginx(w) for w in workloads):
        log(f"  upstream: {start_nginx()}")
    env = dict(ENV)
    env.update(UPSTREAM_PORT=ENV["NGHTTPD_PORT"],
               UPSTREAM_CMD='exec nghttpd --no-tls -a 127.0.0.1 -d "$BENCH_WWW" "$UPSTREAM_PORT"')
    p = subprocess.run(["bash", LIB, "start_upstream", "nghttpd"], env=env, capture_output=True,
                       text=True)
    if p.returncode:
        raise BenchError(f"nghttpd did not start: {p.stderr.strip()}")
    env.update(UPSTREAM_PORT=ENV["DEMO_PORT"], UPSTREAM_CMD=f'exec {shlex.quote(DEMO)} '
               '--listen "127.0.0.1:$UPSTREAM_PORT" --quiet')
    p = subprocess.run(["bash", LIB, "start_upstream", "demo"], env=env, capture_output=True,
                       text=True)
    if p.returncode:
        raise BenchError(f"the demo upstream did not start: {p.stderr.strip()}")


def plugin_config(extra):
    """CONFIG_JSON from the environment (or the defaults), with EXTRA's keys set."""
    base = os.environ.get("CONFIG_JSON", "").strip()
    if not extra:
        return base or "{}"
    cfg = json.loads(base) if base else {}
    cfg.update(extra)
    return json.dumps(cfg)


def start_envoy(setup, upstream):
    key, label, template, _, _, extra = setup
    env = dict(ENV, UPSTREAM_PORT=ENV[UPSTREAM_PORTS[upstream]], CONFIG_JSON=plugin_config(extra))
    variant = "-h1up" if extra else ""
    out = os.path.join(ENV["RUN_DIR"], f"{template}{variant}-{upstream}.yaml")
    if not os.path.exists(out):
        p = subprocess.run([RENDER, os.path.join(ROOT, "envoy-config", template + ".yaml.in"), out],
                           env=env, capture_output=True, text=True)
        if p.returncode:
            raise BenchError(f"render {template} failed: {p.stderr.strip()}")
    code, _ = lib("start_envoy", out, "envoy", ok=(0, 1, 2))
    if code:
        tail = log_tail("envoy")
        stop_envoy()  # after a timeout it may still be running
        raise BenchError(f"Envoy ({label}) did not start:\n{tail}")
    return child_pid("envoy")


def stop_envoy():
    lib("stop", "envoy")


def render_haproxy(upstream):
    """bench/haproxy.cfg.in for UPSTREAM, written once into the run directory: its path."""
    out = os.path.join(ENV["RUN_DIR"], f"haproxy-{upstream}.cfg")
    if os.path.exists(out):
        return out
    with open(HAPROXY_TEMPLATE) as f:
        text = f.read()
    for var, value in (("LISTEN_PORT", ENV["HAPROXY_PORT"]),
                       ("UPSTREAM_PORT", ENV[UPSTREAM_PORTS[upstream]])):
        text = text.replace(f"@{var}@", value)
    left = sorted(set(re.findall(r"@[A-Z0-9_]+@", text)))
    if left:
        raise BenchError(f"{HAPROXY_TEMPLATE}: no value for {' '.join(left)}")
    with open(out, "w") as f:
        f.write(text)
    return out


def haproxy_unavailable():
    """Why column d cannot run (None when it can): HAProxy is a reference, so a missing or
    unwilling haproxy leaves its column out instead of failing the run. The configuration is
    checked (haproxy -c) here rather than discovered broken in every round."""
    if os.environ.get("BENCH_NO_HAPROXY") == "1":
        return "BENCH_NO_HAPROXY=1: column d (HAProxy) left out"
    if not os.access(HAPROXY, os.X_OK):
        return "haproxy not found (Debian: apt-get install haproxy): column d left out"
    p = subprocess.run([HAPROXY, "-c", "-f", render_haproxy("nghttpd")], capture_output=True,
                       text=True)
    if p.returncode:
        return f"haproxy refused {HAPROXY_TEMPLATE}: column d left out: " \
               f"{(p.stderr or p.stdout).strip()[-300:]}"
    return None


def haproxy_version():
    v = subprocess.run([HAPROXY, "-v"], capture_output=True, text=True).stdout
    return v.splitlines()[0].strip() if v else None


def start_haproxy(upstream):
    """HAProxy in the foreground (-db: no daemon, no master process), so that the process
    lib.sh starts (NAME.cpid, bash exec'ing into it) is the one whose CPU and RSS we read."""
    cfg = render_haproxy(upstream)
    env = dict(ENV, UPSTREAM_PORT=ENV["HAPROXY_PORT"],
               UPSTREAM_CMD=f"exec {shlex.quote(HAPROXY)} -db -f {shlex.quote(cfg)}")
    p = subprocess.run(["bash", LIB, "start_upstream", "haproxy"], env=env, capture_output=True,
                       text=True)
    if p.returncode:
        tail = log_tail("haproxy")
        lib("stop", "haproxy")
        raise BenchError(f"HAProxy did not start: {p.stderr.strip()}\n{tail}")
    return child_pid("haproxy")


def node_unavailable():
    """Why column e (h2mux-node, the JS package's proxy) cannot run, or None."""
    if os.environ.get("BENCH_NO_NODE") == "1":
        return "BENCH_NO_NODE=1: column e (h2mux-node) left out"
    if not shutil.which(NODE):
        return "node not found: column e (h2mux-node) left out"
    if not os.path.isfile(H2MUX_NODE):
        return f"no {os.path.relpath(H2MUX_NODE, ROOT)} (make js): column e left out"
    return None


def start_node(upstream):
    """h2mux-node (one process, one RelayGroup: as one Envoy worker) in front of UPSTREAM."""
    cmd = (f"exec {shlex.quote(NODE)} {shlex.quote(H2MUX_NODE)} --listen 127.0.0.1:{ENV['NODE_PORT']}"
           f" --upstream 127.0.0.1:{ENV[UPSTREAM_PORTS[upstream]]}")
    env = dict(ENV, UPSTREAM_PORT=ENV["NODE_PORT"], UPSTREAM_CMD=cmd)
    p = subprocess.run(["bash", LIB, "start_upstream", "h2mux_node"], env=env,
                       capture_output=True, text=True)
    if p.returncode:
        tail = log_tail("h2mux_node")
        lib("stop", "h2mux_node")
        raise BenchError(f"h2mux-node did not start: {p.stderr.strip()}\n{tail}")
    return child_pid("h2mux_node")


def start_server(setup, upstream):
    """The proxy of SETUP in front of UPSTREAM: its pid."""
    if is_haproxy(setup):
        return start_haproxy(upstream)
    if is_node(setup):
        return start_node(upstream)
    return start_envoy(setup, upstream)


def stop_server(setup):
    lib("stop", "haproxy" if is_haproxy(setup) else "h2mux_node" if is_node(setup) else "envoy")


# ---------------------------------------------------------------- measurements

def cpu_of(pid):
    """(on-CPU ns summed over threads from schedstat, utime+stime ticks from stat)."""
    ns = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass  # a thread that just exited
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return ns, int(fields[11]) + int(fields[12])


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        m = re.search(r"VmHWM:\s+(\d+) kB", f.read())
    return int(m.group(1)) / 1024 if m else None


def h2load(port, path, args, n, log_file=None, timeout=300):
    args = [a.replace("@", ENV["BENCH_WWW"] + "/") if a.startswith("@") else a for a in args]
    cmd = ["h2load", "-n", str(n), *args, f"http://127.0.0.1:{port}{path}"]
    if log_file:
        cmd[1:1] = ["--log-file", log_file]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=ENV)
    except subprocess.TimeoutExpired:
        raise BenchError(f"h2load timed out after {timeout}s: {' '.join(cmd)}")
    out = p.stdout
    fin = re.search(r"finished in ([\d.]+)(ms|s), ([\d.]+) req/s", out)
    req = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                    r"(\d+) failed, (\d+) errored", out)
    codes = re.search(r"status codes: (\d+) 2xx", out)
    if not (fin and req and codes):
        raise BenchError(f"h2load output not understood ({p.returncode}): {' '.join(cmd)}\n"
                         f"{out[-800:]}{p.stderr[-400:]}")
    ok = min(int(req.group(4)), int(codes.group(1)))
    return {"rps": float(fin.group(3)), "requests": ok,
            "errors": n - ok, "cmd": " ".join(cmd)}


def percentile(values, q):
    values = sorted(values)
    if not values:
        return None
    i = min(len(values) - 1, max(0, round(q / 100 * len(values) + 0.5) - 1))
    return values[i]


def latencies_ms(path):
    out = []
    with open(path) as f:
        for line in f:
            cols = line.split("\t")
            if len(cols) >= 3 and cols[1].startswith("2"):
                out.append(int(cols[2]) / 1000)
    return out


def outside_bursts(path):
    """Latencies (ms) of the requests that did not start inside a burst: five or more
    requests slower than 3x the run's median, each starting within 2 ms of the previous
    one. On this machine such bursts (the host taking a core for ~50 ms) hit every set-up;
    the figure without them shows what the set-up itself adds to the tail."""
    rows = []
    with open(path) as f:
        for line in f:
            cols = line.split("\t")
            if len(cols) >= 3 and cols[1].startswith("2"):
                rows.append((int(cols[0]), int(cols[2])))
    if not rows:
        return []
    rows.sort()
    slow_at = 3 * statistics.median(us for _, us in rows)
    windows, run = [], []
    for start, us in rows:
        if us <= slow_at:
            continue
        if run and start - run[-1] > 2000:
            if len(run) >= 5:
                windows.append((run[0], run[-1]))
            run = []
        run.append(start)
    if len(run) >= 5:
        windows.append((run[0], run[-1]))
    return [us / 1000 for start, us in rows
            if not any(lo <= start <= hi for lo, hi in windows)]


def wait_connections_closed(limit_s=5.0):
    """Waits until the Envoy on ADMIN_PORT has no connection open (server.total_connections)."""
    deadline = time.time() + limit_s
    url = f"http://127.0.0.1:{ENV['ADMIN_PORT']}/stats?filter=^server.total_connections$"
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                m = re.search(rb"server.total_connections: (\d+)", r.read())
        except OSError:
            return
        if not m or int(m.group(1)) == 0:
            return
        time.sleep(0.05)


def open_connections(port):
    """Connections of the local listener PORT not yet closed (IPv4, /proc/net/tcp): every
    state but LISTEN (0A) and TIME_WAIT (06)."""
    n = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            cols = line.split()
            if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] not in ("0A", "06"):
                n += 1
    return n


def wait_port_idle(port, limit_s=5.0):
    """As wait_connections_closed, for a proxy without Envoy's admin (HAProxy)."""
    deadline = time.time() + limit_s
    while time.time() < deadline and open_connections(port):
        time.sleep(0.05)


# Every latency sample, by (workload, set-up key), over all rounds; and those outside bursts.
LATENCIES = {}
QUIET = {}


def run_one(setup, workload, rnd):
    key, label, _, port_var, setup_upstream, _ = setup
    name, upstream, path, args, counts, _ = workload
    upstream = setup_upstream or upstream
    n = counts[1] if QUICK else counts[0]
    pid = start_server(setup, upstream)
    try:
        port = ENV[port_var]
        warm_path = "/" if upstream == "demo" else "/small.txt"
        # The warm-ups speak the workload's client protocol (h2c, or HTTP/1.1 with --h1).
        proto = ["--h1"] if "--h1" in args else []
        h2load(port, warm_path, proto + ["-c", "10", "-m", "10"],
               WARMUP[1] if QUICK else WARMUP[0])
        # Then small GETs in the workload's own shape (its -c and -m), so that the code
        # paths it needs (one stream at a time, many connections) are compiled too.
        shape = proto + [a for i, a in enumerate(args) if a in ("-c", "-m") or
                         (i > 0 and args[i - 1] in ("-c", "-m"))]
        h2load(port, warm_path, shape, SHAPE_WARMUP)
        # A thousand connections just closed must be gone before a thousand new ones come:
        # back to back, some new ones fail on this machine, through tcp_proxy too.
        if not is_envoy(setup):
            wait_port_idle(int(port))
        else:
            wait_connections_closed()
        log_file = os.path.join(ENV["RUN_DIR"], f"{name}-{key}-{rnd}.log") \
            if name == "latency" else None
        ns0, t0 = cpu_of(pid)
        r = h2load(port, path, args, n, log_file)
        ns1, t1 = cpu_of(pid)
        r["cpu_us"] = (ns1 - ns0) / 1e3 / max(r["requests"], 1)
        r["cpu_us_ticks"] = (t1 - t0) * 1e6 / os.sysconf("SC_CLK_TCK") / max(r["requests"], 1)
        r["rss_mb"] = peak_rss_mb(pid)
        if log_file:
            lat = latencies_ms(log_file)
            r["p50_ms"], r["p99_ms"] = percentile(lat, 50), percentile(lat, 99)
            LATENCIES.setdefault((name, key), []).extend(lat)
            QUIET.setdefault((name, key), []).extend(outside_bursts(log_file))
    finally:
        stop_server(setup)
    return r


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def round_ratios(xs, ys, metric):
    """METRIC of X over Y within each round (both saw the same machine state), then their
    median; rounds where either failed or lacks the figure are left out."""
    rr = [x[metric] / y[metric] for x, y in zip(xs, ys)
          if x and y and x.get(metric) and y.get(metric)]
    return median(rr)


def summarise(samples):
    """samples[workload][setup key] = list of per-round dicts (None for a failed round).
    Figures are named <metric>_<key>; ratios <kind>ratio_<x><y> (x over y, RATIOS)."""
    summary = {}
    for name, per_setup in samples.items():
        s = {}
        keys = list(per_setup)
        for key in keys:
            rows = [r for r in per_setup[key] if r]
            for metric in ("rps", "cpu_us", "cpu_us_ticks", "rss_mb", "p50_ms", "p99_ms"):
                s[f"{metric}_{key}"] = median([r.get(metric) for r in rows])
            s[f"errors_{key}"] = sum(r["errors"] for r in rows)
            # The machine has bursts that push 1-2% of requests of whichever set-up runs then
            # to ~0.35 ms, right where p99 sits: one round's p99 is bimodal. Pooled over all
            # rounds (interleaved, so every set-up saw the same machine), p99 is steadier.
            lat = LATENCIES.get((name, key))
            s[f"p99_pooled_{key}"] = percentile(lat, 99) if lat else None
            quiet = QUIET.get((name, key))
            s[f"p99_quiet_{key}"] = percentile(quiet, 99) if quiet else None
        for x, y in RATIOS:
            if x not in per_setup or y not in per_setup:
                continue
            xs, ys = per_setup[x], per_setup[y]
            s[f"ratio_{x}{y}"] = round_ratios(xs, ys, "rps")
            s[f"cpu_ratio_{x}{y}"] = round_ratios(xs, ys, "cpu_us")
            s[f"p99_ratio_{x}{y}"] = round_ratios(xs, ys, "p99_ms")
            # Pooled samples have no rounds: these are ratios of the pooled percentiles.
            for kind in ("pooled", "quiet"):
                xv, yv = s[f"p99_{kind}_{x}"], s[f"p99_{kind}_{y}"]
                s[f"p99_{kind}_ratio_{x}{y}"] = xv / yv if xv and yv else None
        s["rounds"] = min((len([r for r in per_setup[k] if r]) for k in keys), default=0)
        summary[name] = s
    return summary


def envoy_profile():
    """perf samples of Envoy running h2mux under small GETs: where its CPU goes."""
    if not shutil.which("perf"):
        return {"notes": ["perf not found (Debian: linux-perf): Envoy profile skipped"]}
    setup = SETUPS[1]
    data = os.path.join(ENV["RUN_DIR"], "perf.data")
    pid = start_envoy(setup, "nghttpd")
    try:
        port = ENV[setup[3]]
        h2load(port, "/small.txt", ["-c", "10", "-m", "10"], WARMUP[0])
        # perf stops by itself after the sleep: the load runs inside that window.
        rec = subprocess.Popen(["perf", "record", "-F", "1000", "-g", "-p", str(pid), "-o", data,
                                "--", "sleep", "4"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            time.sleep(1)
            r = h2load(port, "/small.txt", ["-c", "10", "-m", "10"], 30000 if QUICK else 60000)
            log(f"  {r['requests']} requests at {r['rps']:,.0f} req/s while sampling")
        finally:
            err = rec.communicate(timeout=120)[1]
    finally:
        stop_envoy()
    if rec.returncode or not os.path.exists(data):
        return {"notes": [f"perf record failed: {err[-300:]}"]}
    out = {}
    # By DSO only: Envoy's binary is stripped and V8's code has no symbols ("[JIT]").
    p = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "dso",
                        "-g", "none", "--percent-limit", "1"],
                       capture_output=True, text=True, timeout=300)
    rows = []
    for line in p.stdout.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(.*)", line)
        if m:
            rows.append((float(m.group(1)), " ".join(m.group(2).split())[:110]))
    out["by_dso"] = rows[:8]
    return out


# ---------------------------------------------------------------- the core alone

def rate(cmd, pattern):
    """Runs a bench binary; the requests/s its output reports (`pattern`'s group rps)."""
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    m = re.search(pattern, p.stdout)
    if p.returncode or not m:
        raise BenchError(f"{' '.join(cmd)} failed ({p.returncode}):\n{p.stdout}{p.stderr}")
    return float(m.group("rps"))


def corpus_rate(cmd):
    return rate(cmd, r"rate:\s+[\d.]+ MB/s, (?P<rps>\d+) requests/s")


def relay_rate(cmd):
    return rate(cmd, r"rate:\s+(?P<rps>\d+) requests/s")


def find_wasmtime():
    found = shutil.which("wasmtime")
    home = os.path.expanduser("~/.cargo/bin/wasmtime")
    return found or (home if os.access(home, os.X_OK) else None)


def make_corpus(work, n):
    """Writes the browser-like corpus (N requests, seed 1) to WORK/corpus.bin: (path, requests
    per replay, bytes)."""
    os.makedirs(work, exist_ok=True)
    corpus = os.path.join(work, "corpus.bin")
    p = subprocess.run([CORPUS_NATIVE, "--generate", str(n), "--write", corpus],
                       capture_output=True, text=True)
    m = re.search(r"stream:\s+(\d+) bytes, (\d+) requests", p.stdout)
    if p.returncode or not m:
        raise BenchError(f"corpus generation failed:\n{p.stdout}{p.stderr}")
    return corpus, int(m.group(2)), int(m.group(1))


def corpus_rates(res, corpus, repeat):
    """The corpus replay's requests/s natively and in wasmtime (medians of three runs)."""
    tries = 3
    res["native_rps"] = median([corpus_rate([CORPUS_NATIVE, "--file", corpus, "--repeat",
                                             str(repeat)]) for _ in range(tries)])
    log(f"  core native: {res['native_rps']:.0f} requests/s")
    wasmtime = find_wasmtime()
    if not wasmtime:
        res["notes"].append("wasmtime CLI not found (cargo install wasmtime-cli --version 48.0.8 "
                            "--locked): wasm core bench skipped")
    elif not os.path.isfile(CORPUS_WASM):
        res["notes"].append(f"no {CORPUS_WASM} (cargo build --release --target wasm32-wasip1 "
                            "--features testkit --bin h2mux-corpus-bench): wasm core bench skipped")
    else:
        # The binary links the whole library, filter shell included, so it imports the
        # proxy-wasm ABI; the replay never calls it, so those imports may just trap.
        cmd = [wasmtime, "run", "-W", "unknown-imports-trap=y",
               "--dir", f"{os.path.dirname(corpus)}::/corpus", CORPUS_WASM,
               "--file", "/corpus/" + os.path.basename(corpus), "--repeat", str(repeat)]
        res["wasm_rps"] = median([corpus_rate(cmd) for _ in range(tries)])
        res["wasm_native"] = res["wasm_rps"] / res["native_rps"]
        v = subprocess.run([wasmtime, "--version"], capture_output=True, text=True).stdout
        res["wasmtime"] = v.strip()
        log(f"  core wasmtime: {res['wasm_rps']:.0f} requests/s "
            f"({res['wasm_native']:.2f} of native)")


def relay_rates(res):
    """The whole relay (client side, upstream side) on recorded small GETs: the h2load
    workload without the peers' cost. Requests/s natively and in wasmtime."""
    if not os.access(RELAY_NATIVE, os.X_OK):
        res["notes"].append(f"no {RELAY_NATIVE} (cargo build --release --features testkit --bin h2mux-relay-bench)")
        return
    repeat = "50" if QUICK else "200"
    res["relay_native_rps"] = median([relay_rate([RELAY_NATIVE, "--repeat", repeat])
                                      for _ in range(3)])
    log(f"  relay native: {res['relay_native_rps']:.0f} requests/s")
    wasmtime = find_wasmtime()
    if wasmtime and os.path.isfile(RELAY_WASM):
        cmd = [wasmtime, "run", "-W", "unknown-imports-trap=y", RELAY_WASM, "--repeat", repeat]
        res["relay_wasm_rps"] = median([relay_rate(cmd) for _ in range(3)])
        res["relay_wasm_native"] = res["relay_wasm_rps"] / res["relay_native_rps"]
        log(f"  relay wasmtime: {res['relay_wasm_rps']:.0f} requests/s "
            f"({res['relay_wasm_native']:.2f} of native)")


def core_bench():
    res = {"notes": []}
    if not os.access(CORPUS_NATIVE, os.X_OK):
        res["notes"].append(f"no {CORPUS_NATIVE} (cargo build --release --bin h2mux-corpus-bench)")
        return res
    n, repeat = (1000, 10) if QUICK else (CORPUS_REQUESTS, 20)
    work = os.path.join(ENV["RUN_DIR"], "core")
    corpus, per_replay, size = make_corpus(work, n)
    res.update(corpus_requests=per_replay, corpus_bytes=size, repeat=repeat)
    corpus_rates(res, corpus, repeat)
    relay_rates(res)
    ir = ir_bench(work, corpus, res["notes"])
    res.update(ir)
    if "ir_per_request" in ir:
        hi = ir["ir_detail"]["corpus_native"]
        ann = subprocess.run(["callgrind_annotate", "--auto=no", "--threshold=100", hi["outs"][-1]],
                             capture_output=True, text=True)
        res["top_functions"] = top_functions(ann.stdout, hi["counts"][-1])
    for kind in ("native", "wasm"):
        if f"relay_{kind}" in ir["ir_detail"]:
            res[f"relay_by_function_{kind}"] = by_function(ir["ir_detail"][f"relay_{kind}"])[:40]
    return res


# ---------------------------------------------------------------- instructions per request
#
# Instructions counted by callgrind do not depend on the machine's load: the same binary on
# the same input gives the same count to a few instructions per request. Each figure comes
# from two runs that differ only in the number of replays, so start-up, the recording of the
# relay bench and the reading of the corpus cancel out: (count at hi - count at lo) / (the
# requests the extra replays made). The wasm figure counts the code wasmtime's Cranelift made
# of the module, compiled ahead of time for baseline x86-64 (valgrind's CPU lacks AVX and
# newer), plus the wasmtime run-time and WASI calls the replays reach.

CORPUS_REQUESTS = 5000
RELAY_REPEATS = (1, 11)  # replays of 2,000 requests (the relay bench's default)
CORPUS_REPEATS = (1, 3)  # replays of CORPUS_REQUESTS requests
IR_TARGET = "x86_64-unknown-linux-gnu"


def cargo_features():
    """BENCH_FEATURES (comma or space separated) as cargo arguments."""
    feats = os.environ.get("BENCH_FEATURES", "testkit").replace(",", " ").split()
    return ["--features", ",".join(feats)] if feats else []


def build_bench_binaries():
    """Both bench binaries, release, natively and for wasm32-wasip1: the binaries measured are
    those of the sources in the tree."""
    cargo = os.environ.get("CARGO", "cargo")
    bins = ["--bin", "h2mux-corpus-bench", "--bin", "h2mux-relay-bench"]
    wasm = ["--target", "wasm32-wasip1"]
    for profile, target, which in (("release", [], bins), ("release", wasm, bins),
                                   ("wasm-release", wasm, ["--bin", "h2mux-relay-bench"])):
        cmd = [cargo, "build", "--profile", profile, *cargo_features(), *target, *which]
        log("$ " + " ".join(cmd))
        if subprocess.run(cmd, cwd=ROOT).returncode:
            raise BenchError(f"build failed: {' '.join(cmd)}")


def callgrind(cmd, out):
    """Runs CMD under callgrind: (instructions executed, all threads, its stdout)."""
    p = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *cmd],
                       capture_output=True, text=True, timeout=1800)
    if p.returncode:
        raise BenchError(f"callgrind failed ({p.returncode}): {' '.join(cmd)}\n"
                         f"{p.stdout[-300:]}{p.stderr[-600:]}")
    return callgrind_total(out), p.stdout


def precompile(wasmtime, wasm, out):
    """The module compiled by Cranelift for baseline x86-64, to run with --allow-precompiled."""
    p = subprocess.run([wasmtime, "compile", "--target", IR_TARGET, "-o", out, wasm],
                       capture_output=True, text=True, timeout=600)
    if p.returncode:
        raise BenchError(f"wasmtime compile {wasm} failed: {p.stderr[-600:]}")
    return out


def ir_per_request(name, cmd_for, repeats, requests_in, work):
    """Instructions per request of one bench (NAME) from two callgrind runs: CMD_FOR(reps)
    is the command line, REQUESTS_IN(stdout, reps) the requests that run replayed."""
    counts, requests, outs = [], [], []
    for reps in repeats:
        outs.append(os.path.join(work, f"callgrind.{name}.{reps}.out"))
        ir, stdout = callgrind(cmd_for(reps), outs[-1])
        counts.append(ir)
        requests.append(requests_in(stdout, reps))
    if requests[1] <= requests[0]:
        raise BenchError(f"{name}: {repeats} replays made {requests} requests")
    return {"ir_per_request": (counts[1] - counts[0]) / (requests[1] - requests[0]),
            "counts": counts, "requests": requests, "repeats": list(repeats), "outs": outs,
            "cmd": " ".join(shlex.quote(a) for a in cmd_for(repeats[1]))}


def relay_requests(stdout, _reps):
    m = re.search(r"replayed:\s+\d+ x, (\d+) requests", stdout)
    if not m:
        raise BenchError(f"relay bench output not understood:\n{stdout}")
    return int(m.group(1))


def corpus_requests(stdout, _reps):
    m = re.search(r"replayed:.* (\d+) requests", stdout)
    if not m or "error:     none" not in stdout:
        raise BenchError(f"corpus bench output not understood or not clean:\n{stdout}")
    return int(m.group(1))


def ir_bench(work, corpus, notes):
    """Instructions per request under callgrind of the relay bench and (when CORPUS is given)
    the corpus replay, natively and as wasm. Returns relay_ir_per_request(_wasm) and
    ir_per_request(_wasm) (the corpus), and ir_detail with the counts and commands; what could
    not be measured goes to NOTES."""
    res, detail = {}, {}
    if not shutil.which("valgrind"):
        notes.append("valgrind not found (Debian: valgrind): instruction counts skipped")
        return res
    os.makedirs(work, exist_ok=True)
    wasmtime = find_wasmtime()
    if not wasmtime:
        notes.append("wasmtime CLI not found (make bench-tools): wasm instruction counts skipped")
    # name, result key, native binary, wasm module, arguments for (replays, inside wasm),
    # replay counts, request parser, wasmtime options
    benches = [("relay", "relay_ir_per_request", RELAY_NATIVE, RELAY_WASM,
                lambda reps, _: ["--repeat", str(reps)], RELAY_REPEATS, relay_requests, [])]
    if corpus:
        # Inside wasm, the corpus's directory is mounted at /corpus.
        benches.append(("corpus", "ir_per_request", CORPUS_NATIVE, CORPUS_WASM,
                        lambda reps, wasm: ["--file", ("/corpus/" + os.path.basename(corpus))
                                            if wasm else corpus, "--repeat", str(reps)],
                        CORPUS_REPEATS, corpus_requests,
                        ["--dir", f"{os.path.dirname(corpus)}::/corpus"]))
    for name, out_key, native, wasm, args, repeats, parse, wasi in benches:
        kinds = [("native", native), ("wasm", wasm)]
        if name == "relay":
            kinds.append(("shipped", RELAY_SHIPPED))
        for kind, binary in kinds:
            key = f"{name}_{kind}"
            if kind != "native" and not wasmtime:
                continue
            if not os.path.isfile(binary):
                notes.append(f"no {binary} (make bench-ir builds it): {key} instructions skipped")
                continue
            try:
                if kind == "native":
                    prefix, inside, cwasm = [binary], False, None
                else:
                    # The binary links the whole library, filter shell included, so it imports
                    # the proxy-wasm ABI; the replay never calls it, so those imports may trap.
                    cwasm = os.path.join(work, f"{key}.cwasm")
                    precompile(wasmtime, binary, cwasm)
                    prefix = [wasmtime, "run", "--allow-precompiled", "-W",
                              "unknown-imports-trap=y", *wasi, cwasm]
                    inside = True
                d = ir_per_request(key, lambda reps: prefix + args(reps, inside), repeats, parse,
                                   work)
            except BenchError as e:
                notes.append(f"{key}: {e}")
                log(f"  {key}: FAILED {e}")
                continue
            d["cwasm"] = cwasm
            detail[key] = d
            res[out_key + {"native": "", "wasm": "_wasm", "shipped": "_shipped"}[kind]] = \
                d["ir_per_request"]
            log(f"  {name} {kind} callgrind: {d['ir_per_request']:,.0f} instructions per request")
    res["ir_detail"] = detail
    return res


def callgrind_total(path):
    with open(path) as f:
        for line in f:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    raise BenchError(f"no total in {path}")


def top_functions(text, total, k=10):
    """Self cost per function, summed over the source files its inlined code came from."""
    cost = {}
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S.*)", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        name = m.group(2).split(" [")[0].split(":", 1)[-1]
        cost[name] = cost.get(name, 0) + int(m.group(1).replace(",", ""))
    top = sorted(cost.items(), key=lambda kv: -kv[1])[:k]
    return [(round(100 * ir / total, 1), shorten(name)) for name, ir in top]


def function_costs(out, cwasm=None):
    """Self cost (instructions) per function of a callgrind file. Callgrind knows the code of a
    .cwasm by address only: its functions are named from the .cwasm's symbol table, placed at
    the load address that puts the most of the costliest addresses on a function start."""
    ann = subprocess.run(["callgrind_annotate", "--auto=no", "--threshold=100", out],
                         capture_output=True, text=True)
    rows = []
    for line in ann.stdout.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(\S.*)", line)
        if m and "PROGRAM TOTALS" not in line:
            rows.append((int(m.group(1).replace(",", "")), m.group(2).split(" [")[0]))
    names = {}
    if cwasm and shutil.which("nm"):
        nm = subprocess.run(["nm", cwasm], capture_output=True, text=True).stdout
        syms = {}
        for line in nm.splitlines():
            parts = line.split(" ", 2)
            if len(parts) == 3:
                syms[int(parts[0], 16)] = re.sub(r"^wasm\[\d+\]::function\[\d+\]::", "",
                                                 parts[2])
        addrs = [(w, int(w[4:], 16)) for _, w in rows if w.startswith("???:0x")]
        bases = collections.Counter(a - off for _, a in addrs[:50] for off in syms)
        if bases:
            base = bases.most_common(1)[0][0]
            names = {w: syms[a - base] for w, a in addrs if a - base in syms}
    mangled = sorted({re.sub(r"\.llvm\.\d+$", "", n) for n in names.values()})
    if mangled and shutil.which("c++filt"):
        p = subprocess.run(["c++filt"], input="\n".join(mangled), capture_output=True, text=True)
        plain = dict(zip(mangled, p.stdout.splitlines()))
        names = {k: plain.get(re.sub(r"\.llvm\.\d+$", "", v), v) for k, v in names.items()}
    names = {k: demangle_cut(v) if v.startswith("_ZN") else v for k, v in names.items()}
    cost = {}
    for ir, what in rows:
        name = names.get(what) or what.split(":", 1)[-1]
        name = re.sub(r"\[[0-9a-f]{16}\]", "", re.sub(r"::h[0-9a-f]{16}$", "", name))
        cost[name] = cost.get(name, 0) + ir
    return cost


RUST_ESCAPES = {"$LT$": "<", "$GT$": ">", "$u20$": " ", "$RF$": "&", "$C$": ",", "$BP$": "*",
                "$SP$": "@", "$u27$": "'", "$u5b$": "[", "$u5d$": "]", "$u7b$": "{",
                "$u7d$": "}", "$u7e$": "~", "..": "::"}


def demangle_cut(name):
    """A legacy Rust symbol (_ZN...E) that c++filt left alone, usually because the module's
    name section cut it short: its path segments as far as they go, without the hash."""
    i, parts = 3, []
    while i < len(name) and name[i].isdigit():
        j = i
        while j < len(name) and name[j].isdigit():
            j += 1
        n = int(name[i:j])
        part = name[j:j + n]
        if len(part) < n or re.fullmatch(r"h[0-9a-f]{16}", part):
            break
        part = re.sub(r"^_\$", "$", part)
        for k, v in RUST_ESCAPES.items():
            part = part.replace(k, v)
        parts.append(part)
        i = j + n
    return "::".join(parts) if parts else name


def by_function(detail, k=None):
    """Instructions per request by function (self cost), from the two runs of an ir_per_request
    result: [(instructions per request, name)], costliest first."""
    lo = function_costs(detail["outs"][0], detail.get("cwasm"))
    hi = function_costs(detail["outs"][1], detail.get("cwasm"))
    extra = detail["requests"][1] - detail["requests"][0]
    per = {n: (hi.get(n, 0) - lo.get(n, 0)) / extra for n in hi}
    return sorted(((round(ir, 1), n) for n, ir in per.items() if ir >= 0.5), reverse=True)[:k]


def shorten(name):
    name = re.sub(r"::h[0-9a-f]{16}$", "", name)
    name = re.sub(r"<[^<>]*>", "<..>", name) if len(name) > 90 else name
    return name[:100]


# ---------------------------------------------------------------- report

def fmt(x, nd=0):
    if x is None:
        return "-"
    if nd == 0:
        return f"{x:,.0f}"
    return f"{x:.{nd}f}"


def letter(key):
    return LETTERS.get(key, key)


def ratio_pairs(keys):
    """The RATIOS both of whose set-ups are among KEYS."""
    return [(x, y) for x, y in RATIOS if x in keys and y in keys]


def setup_table(summary, names, keys, heads):
    """Markdown rows of WORKLOADS NAMES with one column per set-up key (heads: their column
    heads) and one per ratio of ratio_pairs(KEYS). req/s, CPU per request and the p99 of each
    round are medians of the per-round ratios; p50, RSS and the pooled p99s, ratios of the
    figures shown."""
    pairs = ratio_pairs(keys)

    def line(cells):
        return "| " + " | ".join(cells) + " |"

    rows = [line(["workload", "metric", *heads, *(f"{letter(x)}/{letter(y)}" for x, y in pairs)]),
            "|---|---|" + "---|" * (len(keys) + len(pairs))]
    for name in names:
        s = summary[name]

        def row(metric, label, nd, ratio=None):
            values = [s.get(f"{metric}_{k}") for k in keys]
            if ratio:
                ratios = [s.get(f"{ratio}_{x}{y}") for x, y in pairs]
            else:
                fig = dict(zip(keys, values))
                ratios = [fig[x] / fig[y] if fig[x] is not None and fig[y] else None
                          for x, y in pairs]
            rows.append(line([name, label, *(fmt(v, nd) for v in values),
                              *(fmt(r, 2) for r in ratios)]))

        row("rps", "req/s", 0, "ratio")
        if any(s.get(f"p50_ms_{k}") is not None for k in keys):
            row("p50_ms", "p50 ms", 3)
            row("p99_ms", "p99 ms (median of rounds)", 3, "p99_ratio")
            row("p99_pooled", "p99 ms (all rounds pooled)", 3, "p99_pooled_ratio")
            row("p99_quiet", "p99 ms (pooled, outside machine bursts)", 3, "p99_quiet_ratio")
        row("cpu_us", "Envoy CPU us/req", 1 if "1m" not in name else 0, "cpu_ratio")
        row("rss_mb", "Envoy peak RSS MB", 1)
    return rows


def table(summary, core, wasm_size):
    names = [w[0] for w in WORKLOADS if w[0] in summary and w[1] not in H1_GROUPS]
    keys = [k for k, *_ in SETUPS if k not in UNAVAILABLE]
    rows = setup_table(summary, names, keys, [HEADS[k] for k in keys])
    if "d" in keys and names:
        rows.append("")
        rows.append("In column d, \"Envoy CPU\" and \"Envoy peak RSS\" are HAProxy's, measured "
                    "the same way.")
    lines = ["\n".join(rows), ""] if len(rows) > 2 else []
    lines += h1_tables(summary)
    lines.append("| core (corpus replay) | requests/s |")
    lines.append("|---|---|")
    lines.append(f"| native | {fmt(core.get('native_rps'))} |")
    lines.append(f"| wasmtime | {fmt(core.get('wasm_rps'))} "
                 f"({fmt(core.get('wasm_native'), 2)} of native) |")
    lines.append(f"| instructions per request (callgrind, native) | "
                 f"{fmt(core.get('ir_per_request'))} |")
    lines.append(f"| instructions per request (callgrind, wasm) | "
                 f"{fmt(core.get('ir_per_request_wasm'))} |")
    lines.append("")
    lines.append("| relay (recorded small GETs, both connections) | |")
    lines.append("|---|---|")
    lines.append(f"| native requests/s | {fmt(core.get('relay_native_rps'))} |")
    lines.append(f"| wasmtime requests/s | {fmt(core.get('relay_wasm_rps'))} "
                 f"({fmt(core.get('relay_wasm_native'), 2)} of native) |")
    lines.append(f"| instructions per request (callgrind, native) | "
                 f"{fmt(core.get('relay_ir_per_request'))} |")
    lines.append(f"| instructions per request (callgrind, wasm) | "
                 f"{fmt(core.get('relay_ir_per_request_wasm'))} |")
    lines.append(f"| instructions per request (callgrind, wasm as shipped) | "
                 f"{fmt(core.get('relay_ir_per_request_shipped'))} |")
    lines.append("")
    lines.append(f"| dist/h2mux.wasm | {fmt(wasm_size)} bytes |")
    return "\n".join(lines)


def h1_tables(summary):
    """One table per group of HTTP/1.1 workloads, with that group's set-ups as columns."""
    lines = []
    for group, (setups, title, heads) in H1_GROUPS.items():
        names = [w[0] for w in WORKLOADS if w[1] == group and w[0] in summary]
        if not names:
            continue
        cols = [(k, h) for (k, *_), h in zip(setups, heads) if k not in UNAVAILABLE]
        rows = setup_table(summary, names, [k for k, _ in cols], [h for _, h in cols])
        lines += [f"{title}:", ""] + rows + [""]
    return lines


def targets(summary, core, wasm_size):
    out = []
    for label, where, metric, cmp, bound in TARGETS:
        if where == "core":
            v = core.get(metric)
        elif where == "size":
            v = wasm_size / 1000 if wasm_size else None
        else:
            v = summary.get(where, {}).get(metric)
        if v is None:
            out.append((label, None, "n/a"))
            continue
        ok = v >= bound if cmp == ">=" else v <= bound
        out.append((label, v, "PASS" if ok else "MISS"))
    return out


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def wait_idle(limit):
    deadline = time.monotonic() + limit
    while loadavg() >= 1.0 and time.monotonic() < deadline:
        log(f"load average {loadavg():.2f} >= 1.0, waiting")
        time.sleep(30)
    return loadavg() < 1.0


# ---------------------------------------------------------------- main

def check_tools():
    missing = []
    for tool, hint in (("h2load", "Debian: nghttp2-client"), ("nghttpd", "Debian: nghttp2-server"),
                       ("curl", "Debian: curl"), ("openssl", "Debian: openssl")):
        if not shutil.which(tool):
            missing.append(f"{tool} ({hint})")
    for path, hint in ((ENVOY, "make envoy"), (WASM, "make wasm"), (NATIVE, "make native"),
                       (DEMO, "make upstream")):
        if not os.access(path, os.R_OK):
            missing.append(f"{path} ({hint})")
    if missing:
        sys.exit("bench: missing: " + "; ".join(missing))


def raise_nofile(need=8192):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(need, soft)
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            want = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def main():
    check_tools()
    nofile = raise_nofile()
    if nofile < 4096:
        sys.exit(f"bench: open-file limit {nofile} is too low for 1000 connections (ulimit -n)")
    idle = None
    if os.environ.get("BENCH_WAIT_IDLE"):
        idle = wait_idle(float(os.environ["BENCH_WAIT_IDLE"]))
    run_dir, stamp = setup_run_dir()
    why = haproxy_unavailable()
    if why:
        UNAVAILABLE["d"] = why
        log(why)
    why = node_unavailable()
    if why:
        UNAVAILABLE["e"] = why
        log(why)
    load_start = os.getloadavg()
    log(f"bench: {ROUNDS} rounds{' (quick)' if QUICK else ''}, run directory {run_dir}, "
        f"load average {load_start[0]:.2f}")
    only = set(ONLY) | (set(H1_WORKLOADS) if "h1" in ONLY else set())
    workloads = [w for w in WORKLOADS if not only or w[0] in only]
    skipped = []
    if not find_nginx():
        skipped = [w[0] for w in workloads if needs_nginx(w)]
        workloads = [w for w in workloads if not needs_nginx(w)]
        if skipped:
            log(f"nginx not found (Debian: apt-get install nginx-light): skipping "
                f"{', '.join(skipped)}")
    samples = {w[0]: {k: [] for k, *_ in setups_of(w)} for w in workloads}
    failures = []
    started = time.monotonic()
    start_upstreams(workloads)
    for rnd in range(ROUNDS):
        for w in workloads:
            for setup in setups_of(w):
                try:
                    r = run_one(setup, w, rnd)
                except BenchError as e:
                    failures.append(f"round {rnd} {w[0]} {setup[1]}: {e}")
                    log(f"  FAILED {failures[-1]}")
                    r = None
                samples[w[0]][setup[0]].append(r)
                if r:
                    extra = f", p99 {r['p99_ms']:.3f} ms" if "p99_ms" in r else ""
                    log(f"  round {rnd + 1}/{ROUNDS} {w[0]:15} {setup[1]:14} "
                        f"{r['rps']:10,.0f} req/s, {r['cpu_us']:8.1f} us CPU/req, {r['rss_mb']:6.1f} MB{extra}"
                        + (f", {r['errors']} errors" if r["errors"] else ""))
    envoy_secs = time.monotonic() - started
    profile = {}
    if os.environ.get("BENCH_NO_PROFILE") != "1":
        log("Envoy profile (h2mux, small GETs):")
        try:
            profile = envoy_profile()
        except BenchError as e:
            profile = {"notes": [f"profile: {e}"]}
    lib("cleanup")  # the upstreams: the core benches want the CPU to themselves
    core = {}
    if os.environ.get("BENCH_NO_CORE") != "1":
        log("core:")
        try:
            core = core_bench()
        except BenchError as e:
            failures.append(f"core: {e}")
            log(f"  FAILED {failures[-1]}")
    wasm_size = os.path.getsize(WASM)
    summary = summarise(samples)
    tgt = targets(summary, core, wasm_size)
    date = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    head = (f"h2mux benchmarks, {date}; {os.cpu_count()} cores ({platform.machine()}), "
            f"{ROUNDS} rounds{' (quick)' if QUICK else ''}; Envoy --concurrency 1"
            + (", HAProxy nbthread 1" if any(is_haproxy(st) for w in workloads
                                              for st in setups_of(w)) else "")
            + "; load average "
            f"{load_start[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end"
            + ("" if idle is None else f"; idle wait {'reached' if idle else 'timed out'}"))
    md = [f"# {head}", "", table(summary, core, wasm_size), "", "| target | value | |",
          "|---|---|---|"]
    md += [f"| {label} | {fmt(v, 2)} | {verdict} |" for label, v, verdict in tgt]
    if core.get("top_functions"):
        md += ["", "Core, callgrind self cost (native, corpus replay):", ""]
        md += [f"- {pct}% {name}" for pct, name in core["top_functions"]]
    if core.get("relay_by_function_wasm"):
        md += ["", "Relay bench as wasm, instructions per request by function (callgrind self "
               "cost):", ""]
        md += [f"- {ir:,.0f} {shorten(name)}" for ir, name in core["relay_by_function_wasm"][:10]]
    if profile.get("by_dso"):
        md += ["", "Envoy with h2mux under small GETs, perf samples by DSO ([JIT]: V8's "
               "compiled wasm):", ""] + [f"- {pct:.1f}% {what}" for pct, what in profile["by_dso"]]
    for name, s in summary.items():
        w = next(w for w in WORKLOADS if w[0] == name)
        for key, label, *_ in setups_of(w):
            if s[f"errors_{key}"]:
                md.append(f"\nNote: {name} through {label}: {s[f'errors_{key}']} requests over all "
                          "rounds got no 2xx response (counted in req/s, not in CPU per request)")
    if skipped:
        md.append(f"\nNote: nginx not found (Debian: nginx-light): {', '.join(skipped)} "
                  "skipped")
    for why in UNAVAILABLE.values():
        md.append(f"\nNote: {why}")
    for note in core.get("notes", []) + profile.get("notes", []) + failures:
        md.append(f"\nNote: {note}")
    text = "\n".join(md) + "\n"
    base = os.path.join(OUT, f"results-{stamp}")
    with open(base + ".md", "w") as f:
        f.write(text)
    with open(base + ".json", "w") as f:
        json.dump({"date": date, "cores": os.cpu_count(), "rounds": ROUNDS, "quick": QUICK,
                   "loadavg_start": load_start, "loadavg_end": os.getloadavg(),
                   "envoy_seconds": envoy_secs, "wasm_size": wasm_size,
                   "native_module": NATIVE, "native_size": os.path.getsize(NATIVE),
                   "haproxy": None if "d" in UNAVAILABLE else haproxy_version(),
                   "columns": {k: HEADS[k] for k, *_ in SETUPS if k not in UNAVAILABLE},
                   "ratios": [f"{x}{y}" for x, y in RATIOS], "unavailable": UNAVAILABLE,
                   "features": os.environ.get("BENCH_FEATURES", ""),
                   "workloads": {w[0]: {"upstream": w[1], "path": w[2], "args": w[3],
                                        "what": w[5],
                                        "setups": [{"key": k, "label": lb, "template": t,
                                                    "upstream": up or w[1], "config": cfg}
                                                   for k, lb, t, _, up, cfg in setups_of(w)]}
                                 for w in workloads},
                   "samples": samples, "summary": summary, "core": core, "profile": profile,
                   "targets": [{"target": t, "value": v, "verdict": x} for t, v, x in tgt],
                   "failures": failures}, f, indent=1)
    log("\n" + text)
    log(f"written: {base}.md, {base}.json")
    return 1 if failures else 0


# ---------------------------------------------------------------- --ir-only

IR_ROWS = [("relay", "relay bench (recorded small GETs, whole relay)", "relay_ir_per_request"),
           ("corpus", "corpus replay (browser-like requests, one frontend)", "ir_per_request")]


def tool_version(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True)
    except OSError:
        return None
    return (p.stdout or p.stderr).strip() or None


def source_revision():
    """HEAD's short hash, with "+changes" when what the bench binaries are built from (src/,
    Cargo.toml, Cargo.lock) differs from it."""
    head = tool_version(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no",
                            "--", "src", "Cargo.toml", "Cargo.lock"],
                           capture_output=True, text=True).stdout.strip()
    return (head or "?") + ("+changes" if dirty else "")


def ir_table(res, base=None):
    """Markdown table of instructions per request; with BASE (an earlier ir JSON), its figures
    and the change."""
    head = "| instructions per request (callgrind) | native | wasm | wasm/native |"
    rule = "|---|---|---|---|"
    if base:
        was = base.get("revision", "before")
        head += f" native, {was} | wasm, {was} | change native | change wasm |"
        rule += "---|---|---|---|"
    lines = [head, rule]
    rows = list(IR_ROWS)
    rows.insert(1, ("relay", "relay bench, wasm built as dist/h2mux.wasm (wasm-release)",
                    "relay_ir_per_request_shipped"))
    for name, label, key in rows:
        if key.endswith("_shipped"):
            wasm, was = res.get(key), (base or {}).get(key)
            row = f"| {label} | - | {fmt(wasm)} | - |"
            if base:
                change = f"{100 * (wasm / was - 1):+.2f}%" if wasm and was else "-"
                row += f" - | {fmt(was)} | - | {change} |"
            lines.append(row)
            continue
        native, wasm = res.get(key), res.get(key + "_wasm")
        row = f"| {label} | {fmt(native)} | {fmt(wasm)} | " \
              f"{fmt(wasm / native if native and wasm else None, 2)} |"
        if base:
            changes = []
            for now, was in ((native, base.get(key)), (wasm, base.get(key + "_wasm"))):
                changes.append(f"{100 * (now / was - 1):+.2f}%" if now and was else "-")
            row += f" {fmt(base.get(key))} | {fmt(base.get(key + '_wasm'))} | " \
                   f"{changes[0]} | {changes[1]} |"
        lines.append(row)
    if "relay_native_rps" in res or "native_rps" in res:
        lines += ["", "| wall clock (noisy, for reference) | native requests/s | "
                  "wasmtime requests/s | wasmtime/native |", "|---|---|---|---|"]
        for name, label, prefix in (("relay", "relay bench", "relay_"),
                                    ("corpus", "corpus replay", "")):
            n, w = res.get(prefix + "native_rps"), res.get(prefix + "wasm_rps")
            lines.append(f"| {label} | {fmt(n)} | {fmt(w)} | "
                         f"{fmt(w / n if n and w else None, 2)} |")
    return "\n".join(lines)


def main_ir(args):
    """Instructions per request only (make bench-ir): no Envoy, a minute or two."""
    started = time.monotonic()
    if not args.no_build:
        build_bench_binaries()
    for path, hint in ((RELAY_NATIVE, "h2mux-relay-bench"), (CORPUS_NATIVE, "h2mux-corpus-bench")):
        if not os.access(path, os.X_OK):
            raise BenchError(f"no {path} (cargo build --release --bin {hint})")
    base = None
    if args.compare:
        with open(args.compare) as f:
            base = json.load(f)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    work = os.path.join(OUT, "ir")
    log(f"bench-ir: instructions per request under callgrind, callgrind files in {work}")
    corpus, per_replay, size = make_corpus(work, CORPUS_REQUESTS)
    res = {"notes": []}
    res.update(ir_bench(work, corpus, res["notes"]))
    functions = {kind: by_function(res["ir_detail"][f"relay_{kind}"])
                 for kind in ("native", "wasm") if f"relay_{kind}" in res["ir_detail"]}
    for kind, rows in functions.items():
        res[f"relay_by_function_{kind}"] = rows[:40]
    if args.rates:
        corpus_rates(res, corpus, 20)
        relay_rates(res)
    wasmtime = find_wasmtime()
    res.update(date=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), stamp=stamp,
               revision=source_revision(), features=os.environ.get("BENCH_FEATURES", ""),
               corpus_requests=per_replay, corpus_bytes=size,
               valgrind=tool_version(["valgrind", "--version"]),
               wasmtime=tool_version([wasmtime, "--version"]) if wasmtime else None,
               wasm_target=IR_TARGET, seconds=round(time.monotonic() - started, 1))
    text = ir_table(res, base)
    if functions.get("wasm"):
        native = {n: ir for ir, n in functions.get("native", [])}
        text += ("\n\nRelay bench, instructions per request by function (self cost; inlined code "
                 "counts in the function it was inlined into):\n\n| wasm | native | function |"
                 "\n|---|---|---|\n")
        text += "\n".join(f"| {fmt(ir)} | {fmt(native.get(n))} | {shorten(n)} |"
                           for ir, n in functions["wasm"][:15])
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, f"ir-{stamp}.json")
    for p in (path, os.path.join(OUT, "ir-latest.json")):
        with open(p, "w") as f:
            json.dump(res, f, indent=1)
    log(f"\n{res['revision']}" + (f", features {res['features']}" if res["features"] else "")
        + f", {res['wasmtime'] or 'no wasmtime'}, {res['seconds']:.0f} s\n\n{text}\n")
    for note in res["notes"]:
        log(f"Note: {note}")
    log(f"written: {path} (and ir-latest.json)")
    return 0 if res.get("relay_ir_per_request") and res.get("relay_ir_per_request_wasm") else 1


# ---------------------------------------------------------------- the Node hosts (--node-only)

NODE_PROXIES = os.path.join(HERE, "node-proxies.js")
# key, label, the proxy's command (listen, upstream): h2mux-node and the two Node proxies it
# is measured against (bench/node-proxies.js), interleaved in that order.
NODE_SETUPS = [
    ("e", "h2mux-node", lambda l, u: [NODE, H2MUX_NODE, "--listen", l, "--upstream", u]),
    ("f", "node pipe", lambda l, u: [NODE, NODE_PROXIES, "pipe", l, u]),
    ("g", "node:http2 proxy", lambda l, u: [NODE, NODE_PROXIES, "http2", l, u]),
]
NODE_RATIOS = [("e", "g"), ("e", "f")]
NODE_SECONDS = (4, 2)  # each measurement's length (full, quick): h2load -D, the rates differ 10x
NODE_WARMUP = (20000, 3000)  # small GETs before it, on each fresh process: V8 tiers up the code
NODE_TARGETS = [
    ("h2mux-node / node:http2 proxy req/s >= 2", "ratio_eg", ">=", 2.0),
    ("h2mux-node / node pipe req/s >= 0.5", "ratio_ef", ">=", 0.5),
]


def start_node_proxy(setup):
    key, label, cmd = setup
    argv = cmd(f"127.0.0.1:{ENV['NODE_PORT']}", f"127.0.0.1:{ENV['NGHTTPD_PORT']}")
    env = dict(ENV, UPSTREAM_PORT=ENV["NODE_PORT"], UPSTREAM_CMD="exec " + shlex.join(argv))
    p = subprocess.run(["bash", LIB, "start_upstream", "node_proxy"], env=env,
                       capture_output=True, text=True)
    if p.returncode:
        tail = log_tail("node_proxy")
        lib("stop", "node_proxy")
        raise BenchError(f"{label} did not start: {p.stderr.strip()}\n{tail}")
    return child_pid("node_proxy")


def h2load_for(port, path, args, seconds):
    """h2load for SECONDS (-D): {rps, requests (2xx), errors}."""
    cmd = ["h2load", "-D", str(seconds), *args, f"http://127.0.0.1:{port}{path}"]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, env=ENV)
    except subprocess.TimeoutExpired:
        raise BenchError(f"h2load timed out: {' '.join(cmd)}")
    out = p.stdout
    fin = re.search(r"finished in ([\d.]+)(ms|s), ([\d.]+) req/s", out)
    req = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                    r"(\d+) failed, (\d+) errored", out)
    codes = re.search(r"status codes: (\d+) 2xx", out)
    if not (fin and req and codes):
        raise BenchError(f"h2load output not understood ({p.returncode}): {' '.join(cmd)}\n{out[-800:]}")
    ok = min(int(req.group(4)), int(codes.group(1)))
    return {"rps": float(fin.group(3)), "requests": ok, "errors": int(req.group(3)) - ok,
            "cmd": " ".join(cmd)}


def run_node_one(setup):
    seconds = NODE_SECONDS[1] if QUICK else NODE_SECONDS[0]
    pid = start_node_proxy(setup)
    try:
        port = ENV["NODE_PORT"]
        h2load(port, "/small.txt", ["-c", "10", "-m", "10"], NODE_WARMUP[1] if QUICK else NODE_WARMUP[0])
        wait_port_idle(int(port))
        ns0, t0 = cpu_of(pid)
        r = h2load_for(port, "/small.txt", ["-c", "10", "-m", "10"], seconds)
        ns1, t1 = cpu_of(pid)
        r["cpu_us"] = (ns1 - ns0) / 1e3 / max(r["requests"], 1)
        r["cpu_us_ticks"] = (t1 - t0) * 1e6 / os.sysconf("SC_CLK_TCK") / max(r["requests"], 1)
        r["rss_mb"] = peak_rss_mb(pid)
    finally:
        lib("stop", "node_proxy")
    return r


def main_node():
    """h2mux-node against a plain Node TCP pipe and a node:http2 proxy (bench/node-proxies.js),
    all in front of nghttpd, small GETs (h2load -c 10 -m 10), interleaved, a fresh process each
    time; CPU is the proxy process's (schedstat over the run). Ratios are medians of the
    per-round ratios."""
    for tool in ("h2load", "nghttpd", NODE):
        if not shutil.which(tool):
            raise BenchError(f"{tool} not found")
    if not os.path.isfile(H2MUX_NODE):
        raise BenchError(f"no {os.path.relpath(H2MUX_NODE, ROOT)} (make js)")
    run_dir, stamp = setup_run_dir()
    env = dict(ENV, UPSTREAM_PORT=ENV["NGHTTPD_PORT"],
               UPSTREAM_CMD='exec nghttpd --no-tls -a 127.0.0.1 -d "$BENCH_WWW" "$UPSTREAM_PORT"')
    p = subprocess.run(["bash", LIB, "start_upstream", "nghttpd"], env=env, capture_output=True, text=True)
    if p.returncode:
        raise BenchError(f"nghttpd did not start: {p.stderr.strip()}")
    load0 = os.getloadavg()[0]
    log(f"bench --node-only: {ROUNDS} rounds{' (quick)' if QUICK else ''}, run directory {run_dir}, "
        f"load average {load0:.2f}")
    samples = {k: [] for k, *_ in NODE_SETUPS}
    failures = []
    for rnd in range(ROUNDS):
        for setup in NODE_SETUPS:
            try:
                r = run_node_one(setup)
            except BenchError as e:
                failures.append(f"round {rnd} {setup[1]}: {e}")
                log(f"  FAILED {failures[-1]}")
                r = None
            samples[setup[0]].append(r)
            if r:
                log(f"  round {rnd + 1}/{ROUNDS} {setup[1]:17} {r['rps']:10,.0f} req/s, "
                    f"{r['cpu_us']:8.1f} us CPU/req, {r['rss_mb']:6.1f} MB"
                    + (f", {r['errors']} errors" if r["errors"] else ""))
    res = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "stamp": stamp,
           "revision": source_revision(), "node": tool_version([NODE, "--version"]),
           "rounds": ROUNDS, "seconds": NODE_SECONDS[1] if QUICK else NODE_SECONDS[0],
           "load_start": round(load0, 2), "load_end": round(os.getloadavg()[0], 2),
           "samples": samples, "failures": failures}
    for key, *_ in NODE_SETUPS:
        rows = [r for r in samples[key] if r]
        for metric in ("rps", "cpu_us", "rss_mb"):
            res[f"{metric}_{key}"] = median([r.get(metric) for r in rows])
        res[f"errors_{key}"] = sum(r["errors"] for r in rows)
    for x, y in NODE_RATIOS:
        res[f"ratio_{x}{y}"] = round_ratios(samples[x], samples[y], "rps")
        res[f"cpu_ratio_{x}{y}"] = round_ratios(samples[x], samples[y], "cpu_us")
    heads = [label for _, label, _ in NODE_SETUPS]
    ratio_heads = [f"{x}/{y}" for x, y in NODE_RATIOS]
    text = ("| metric | " + " | ".join(f"{k} {h}" for (k, *_), h in zip(NODE_SETUPS, heads))
            + " | " + " | ".join(ratio_heads) + " |\n|---|" + "---|" * (len(heads) + len(ratio_heads)) + "\n")
    text += ("| req/s | " + " | ".join(fmt(res[f"rps_{k}"]) for k, *_ in NODE_SETUPS) + " | "
             + " | ".join(fmt(res[f"ratio_{x}{y}"], 2) for x, y in NODE_RATIOS) + " |\n")
    text += ("| CPU us/request | " + " | ".join(fmt(res[f"cpu_us_{k}"], 1) for k, *_ in NODE_SETUPS)
             + " | " + " | ".join(fmt(res[f"cpu_ratio_{x}{y}"], 2) for x, y in NODE_RATIOS) + " |\n")
    text += ("| peak RSS MB | " + " | ".join(fmt(res[f"rss_mb_{k}"], 1) for k, *_ in NODE_SETUPS)
             + " |" + " |" * len(NODE_RATIOS) + "\n")
    verdicts = []
    for label, metric, op, bound in NODE_TARGETS:
        v = res.get(metric)
        ok = v is not None and (v >= bound if op == ">=" else v <= bound)
        verdicts.append(f"{'PASS' if ok else 'MISS'} {label}: {fmt(v, 2)}")
    res["targets"] = verdicts
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, f"node-{stamp}.json")
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
    with open(path[:-5] + ".md", "w") as f:
        f.write(text)
    log(f"\n{res['revision']}, node {res['node']}, {res['rounds']} rounds of {res['seconds']} s of small GETs "
        f"(h2load -c 10 -m 10 -D {res['seconds']}, nghttpd upstream), load average {res['load_start']} -> {res['load_end']}\n\n"
        + text + "\n" + "\n".join(verdicts))
    for fl in failures:
        log(f"failed: {fl}")
    log(f"written: {path} (and .md)")
    return 1 if failures and not any(samples["e"]) else 0


def on_term(signum, _frame):
    sys.exit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ir-only", action="store_true",
                        help="only instructions per request under callgrind, native and wasm "
                             "(no Envoy); JSON to target/bench/ir-<date>.json")
    parser.add_argument("--no-build", action="store_true",
                        help="with --ir-only: measure the binaries as built, do not run cargo")
    parser.add_argument("--rates", action="store_true",
                        help="with --ir-only: also wall-clock requests/s, native and wasmtime")
    parser.add_argument("--compare", metavar="JSON",
                        help="with --ir-only: an earlier ir-*.json to show the change against")
    parser.add_argument("--node-only", action="store_true",
                        help="only h2mux-node against a Node TCP pipe and a node:http2 proxy "
                             "(small GETs); JSON to target/bench/node-<date>.json")
    cli = parser.parse_args()
    try:
        code = main_ir(cli) if cli.ir_only else main_node() if cli.node_only else main()
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 130
    finally:
        if ENV.get("RUN_DIR"):
            subprocess.run(["bash", LIB, "cleanup"], env=ENV, capture_output=True)
    sys.exit(code)
