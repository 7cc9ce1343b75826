#!/usr/bin/env python3
"""End-to-end scenarios: Envoy in front of an HTTP/2 upstream, driven by curl, nghttp, h2load
and a scripted HTTP/2 client (python h2).

With dist/h2mux.wasm (or WASM=path) Envoy runs envoy-config/h2mux.yaml; without it, the plain
tcp_proxy configuration (plain-tcp.yaml), and scenarios that need the filter are skipped.

Environment:
  UPSTREAM=nghttpd|demo  which upstream answers; with demo, set UPSTREAM_CMD too
  UPSTREAM_CMD           bash command line for the upstream; may use $UPSTREAM_PORT and $E2E_WWW
                         (files the download scenarios expect at /256k.bin and /10m.bin)
  E2E_AUTO_PORTS=1       pick free ports when 9901/10000/10443/10002 are taken
  E2E_EXPECT_STATS=a,b   wasmcustom stat names that must exist (besides "at least one")
  E2E_TRACE=1            print each lib.sh step and its duration
  CONFIG_JSON, BUFFER_LIMIT, *_PORT   as in envoy-config/README.md
  ENVOY, ENVOY_CONCURRENCY (2), ENVOY_LOG_LEVEL (info), ENVOY_READY_TIMEOUT (30 s)
Options: -k SUBSTRING runs only the scenarios whose name contains it.
The last line printed is "N passed, M failed"; the exit code is non-zero if anything failed.
"""

import argparse
import hashlib
import json
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request

try:
    import h2.config
    import h2.connection
    import h2.events
    import h2.settings
    from h2.errors import ErrorCodes
except ImportError:
    sys.exit("run.py needs the python h2 package: make envoy, then use .venv/bin/python")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LIB = os.path.join(HERE, "lib.sh")
WASM = os.path.abspath(os.environ.get("WASM", os.path.join(ROOT, "dist", "h2mux.wasm")))
HAVE_WASM = os.path.isfile(WASM)
UPSTREAM = os.environ.get("UPSTREAM", "nghttpd")
ENVOY = os.environ.get("ENVOY", os.path.join(ROOT, ".venv", "bin", "envoy"))
TEN_MB = 10 * 1024 * 1024

ENV = dict(os.environ)  # what lib.sh steps see; RUN_DIR added by setup()
CFG = {}  # the run directory's env file: ports and paths


class Skip(Exception):
    pass


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


# ---------------------------------------------------------------- processes and lib.sh steps

def lib(step, *args, ok=(0,)):
    """Runs one lib.sh step; returns (exit code, stdout)."""
    t = time.monotonic()
    p = subprocess.run(["bash", LIB, step, *args], env=ENV, capture_output=True, text=True)
    if os.environ.get("E2E_TRACE"):
        print(f"  lib.sh {step} {' '.join(args)}: {p.returncode} in {time.monotonic() - t:.1f}s")
    if p.returncode not in ok:
        raise Fail(f"lib.sh {step} failed ({p.returncode}): {p.stderr.strip()}")
    reload_cfg()
    return p.returncode, p.stdout.strip()


def reload_cfg():
    path = os.path.join(ENV.get("RUN_DIR", ""), "env")
    if os.path.isfile(path):
        for line in open(path):
            k, _, v = line.removeprefix("export ").strip().partition("=")
            CFG[k] = shlex.split(v)[0] if v else ""
    ENV.update(CFG)


def run(cmd, timeout=60, **kw):
    try:
        return subprocess.run(cmd, capture_output=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired:
        raise Fail(f"timed out after {timeout}s: {' '.join(cmd)}")


def log_tail(name, n=15):
    try:
        lines = open(os.path.join(CFG["RUN_DIR"], name + ".log"), errors="replace").readlines()
        return "".join(lines[-n:])
    except OSError:
        return ""


def start_envoy(template, name="envoy", out=None, extra_env=None):
    """Renders template and starts Envoy; returns lib.sh's code (0 ready, 1 exited, 2 timeout)."""
    saved = dict(ENV)
    ENV.update(extra_env or {})
    try:
        _, path = lib("render", template, out or template + ".yaml")
    finally:
        ENV.clear()
        ENV.update(saved)
    code, _ = lib("start_envoy", path, name, ok=(0, 1, 2))
    return code


def need_envoy(template, name="envoy", extra_env=None):
    if start_envoy(template, name, extra_env=extra_env) != 0:
        raise Fail(f"{name} did not start:\n{log_tail(name)}")


# ---------------------------------------------------------------- clients

def port(name):
    return int(CFG[name])


def url(path="/", which="H2C_PORT", scheme="http"):
    return f"{scheme}://127.0.0.1:{port(which)}{path}"


def curl(args, timeout=60):
    """curl with the transfer summary parsed: returns (code, http_version, up, down, stderr)."""
    p = run(["curl", "-sS", "--max-time", str(timeout),
             "-w", "%{http_code} %{http_version} %{size_upload} %{size_download}", *args],
            timeout=timeout + 5)
    check(p.returncode == 0, f"curl exit {p.returncode}: {p.stderr.decode().strip()}")
    code, ver, up, down = p.stdout.decode().split()[-4:]
    return int(code), ver, int(up), int(down)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def www(name):
    return os.path.join(CFG["E2E_WWW"], name)


def admin(path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port('ADMIN_PORT')}{path}", timeout=10) as r:
        return r.read().decode()


def stat(name):
    """Value of one counter or gauge from /stats, or None."""
    for line in admin("/stats?filter=" + re.escape(name) + "$").splitlines():
        k, _, v = line.partition(": ")
        if k == name:
            return int(v)
    return None


class H2Client:
    """Prior-knowledge HTTP/2 client over a blocking socket; streams[id] collects responses."""

    def __init__(self, p, timeout=10):
        self.timeout = timeout
        self.sock = socket.create_connection(("127.0.0.1", p), timeout=timeout)
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=cfg)
        self.streams = {}
        self.pings = []
        self.settings_acks = 0
        self.goaway = None
        self.conn.initiate_connection()
        self.flush()

    def close(self):
        self.sock.close()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def pump(self):
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return
        if not data:
            raise Fail("the proxy closed the connection" +
                       (f" (GOAWAY {self.goaway.error_code!r})" if self.goaway else ""))
        for ev in self.conn.receive_data(data):
            self.on_event(ev)
        self.flush()

    def on_event(self, ev):
        E = h2.events
        s = self.streams.get(getattr(ev, "stream_id", None))
        if isinstance(ev, E.ResponseReceived):
            s["status"] = int(dict(ev.headers)[":status"])
            s["headers"] = ev.headers
        elif isinstance(ev, E.DataReceived):
            if s is not None:
                s["body"] += ev.data
                s["max_frame"] = max(s["max_frame"], len(ev.data))
            self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, E.TrailersReceived):
            s["trailers"] = ev.headers
        elif isinstance(ev, E.StreamEnded):
            s["ended"] = True
        elif isinstance(ev, E.StreamReset):
            if s is not None:
                s["reset"] = ev.error_code
        elif isinstance(ev, E.PingAckReceived):
            self.pings.append(ev.ping_data)
        elif isinstance(ev, E.SettingsAcknowledged):
            self.settings_acks += 1
        elif isinstance(ev, E.ConnectionTerminated):
            self.goaway = ev

    def wait(self, done, what):
        deadline = time.monotonic() + self.timeout
        while not done():
            check(time.monotonic() < deadline, f"timed out waiting for {what}")
            self.pump()

    def open(self, method, path, end_stream=True, headers=()):
        sid = self.conn.get_next_available_stream_id()
        self.streams[sid] = {"status": None, "body": bytearray(), "trailers": None,
                             "ended": False, "reset": None, "max_frame": 0}
        hdrs = [(":method", method), (":path", path), (":scheme", "http"),
                (":authority", "127.0.0.1"), *headers]
        self.conn.send_headers(sid, hdrs, end_stream=end_stream)
        self.flush()
        return sid

    def send_body(self, sid, body, end_stream=True):
        """Sends body within the flow-control windows."""
        view = memoryview(body)
        while view:
            room = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if room == 0:
                self.wait(lambda: self.conn.local_flow_control_window(sid) > 0, "WINDOW_UPDATE")
                continue
            self.conn.send_data(sid, bytes(view[:room]))
            view = view[room:]
            self.flush()
        if end_stream:
            self.conn.end_stream(sid)
            self.flush()

    def finish(self, sid):
        s = self.streams[sid]
        self.wait(lambda: s["ended"] or s["reset"] is not None, f"end of stream {sid}")
        check(s["reset"] is None, f"stream {sid} reset: {s['reset']!r}")
        return s

    def get(self, path):
        return self.finish(self.open("GET", path))


# ---------------------------------------------------------------- scenarios

SCENARIOS = []


def scenario(phase, needs=()):
    def register(fn):
        SCENARIOS.append((fn.__name__, phase, tuple(needs), fn))
        return fn
    return register


# Scenarios that run through the main listeners (h2mux.yaml, or plain-tcp.yaml without wasm).

@scenario("main")
def curl_h2c():
    direct = run(["curl", "-sS", "--http2-prior-knowledge", f"http://127.0.0.1:{port('UPSTREAM_PORT')}/"])
    out = os.path.join(CFG["RUN_DIR"], "curl_h2c.body")
    code, ver, _, _ = curl(["--http2-prior-knowledge", "-o", out, url("/")])
    check((code, ver) == (200, "2"), f"status {code}, HTTP/{ver}")
    check(open(out, "rb").read() == direct.stdout, "body differs from the upstream's")


@scenario("main")
def curl_tls_alpn_h2():
    direct = run(["curl", "-sS", "--http2-prior-knowledge", f"http://127.0.0.1:{port('UPSTREAM_PORT')}/"])
    out = os.path.join(CFG["RUN_DIR"], "curl_tls.body")
    code, ver, _, _ = curl(["-k", "--http2", "-o", out, url("/", "TLS_PORT", "https")])
    check((code, ver) == (200, "2"), f"status {code}, HTTP/{ver} (ALPN h2 expected)")
    check(open(out, "rb").read() == direct.stdout, "body differs from the upstream's")


@scenario("main")
def download_10mb():
    out = os.path.join(CFG["RUN_DIR"], "download.bin")
    t = time.monotonic()
    code, _, _, down = curl(["--http2-prior-knowledge", "-o", out, url("/10m.bin")])
    dt = time.monotonic() - t
    check(code == 200 and down == TEN_MB, f"status {code}, {down} bytes")
    check(sha256_file(out) == sha256_file(www("10m.bin")), "sha256 differs")
    os.unlink(out)
    return f"{TEN_MB / dt / 1e6:.0f} MB/s"


@scenario("main")
def upload_10mb():
    src = www("10m.bin")
    out = os.path.join(CFG["RUN_DIR"], "upload.out")
    path = "/sha256" if UPSTREAM == "demo" else "/echo"  # nghttpd --echo-upload sends it back
    code, _, up, _ = curl(["--http2-prior-knowledge", "--data-binary", "@" + src,
                           "-H", "content-type: application/octet-stream", "-o", out, url(path)])
    check(code == 200 and up == TEN_MB, f"status {code}, {up} bytes sent")
    want = sha256_file(src)
    if UPSTREAM == "demo":
        got = open(out).read().split()
        check(got == [want, str(TEN_MB)], f"upstream saw {got}, want [{want}, {TEN_MB}]")
    else:
        check(sha256_file(out) == want, "echoed sha256 differs")
    os.unlink(out)


@scenario("main")
def nghttp_100_concurrent_streams():
    p = run(["nghttp", "-nv", "-m", "100", url("/")])
    check(p.returncode == 0, f"nghttp exit {p.returncode}: {p.stderr.decode()[-300:]}")
    ok = set(re.findall(rb"recv \(stream_id=(\d+)\) :status: 200", p.stdout))
    check(len(ok) == 100, f"{len(ok)} of 100 streams got 200")
    check(b"RST_STREAM" not in p.stdout and b"recv GOAWAY" not in p.stdout,
          "RST_STREAM or GOAWAY seen")


@scenario("main")
def h2load_20000():
    return h2load("-n", "20000", "-c", "10", "-m", "10", url("/"), total=20000)


def h2load(*args, total):
    p = run(["h2load", *args], timeout=120)
    out = p.stdout.decode()
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored", out)
    check(m, f"no summary from h2load (exit {p.returncode}): {out[-300:]}")
    succeeded, failed, errored = int(m[4]), int(m[5]), int(m[6])
    check(succeeded == total and failed == 0 and errored == 0,
          f"{succeeded} succeeded, {failed} failed, {errored} errored")
    rate = re.search(r"finished in [^,]+, ([\d.]+) req/s", out)
    return f"{float(rate[1]):.0f} req/s" if rate else ""


@scenario("main")
def h2_ping_ack():
    c = H2Client(port("H2C_PORT"))
    try:
        c.get("/")  # the connection is known to work before the PING
        payload = secrets.token_bytes(8)
        c.conn.ping(payload)
        c.flush()
        c.wait(lambda: c.pings, "PING ACK")
        check(c.pings == [payload], f"PING ACK payload {c.pings!r}, sent {payload!r}")
    finally:
        c.close()


@scenario("main")
def h2_response_trailers():
    c = H2Client(port("H2C_PORT"))
    try:
        if UPSTREAM == "demo":
            s = c.get("/trailers")
            check(s["status"] == 200 and s["trailers"], f"status {s['status']}, trailers {s['trailers']}")
        else:  # nghttpd --trailer adds one to every response with a body
            s = c.get("/index.html")
            check(s["status"] == 200, f"status {s['status']}")
            check(("x-e2e-trailer", "yes") in (s["trailers"] or []), f"trailers {s['trailers']}")
    finally:
        c.close()


@scenario("main")
def h2_rst_stream_mid_upload():
    c = H2Client(port("H2C_PORT"))
    try:
        sid = c.open("POST", "/echo", end_stream=False, headers=[("content-length", str(1 << 20))])
        c.send_body(sid, secrets.token_bytes(32768), end_stream=False)
        c.conn.reset_stream(sid, ErrorCodes.CANCEL)
        c.flush()
        s = c.get("/index.html")
        check(s["status"] == 200 and s["body"] == open(www("index.html"), "rb").read(),
              f"next request: status {s['status']}")
        payload = secrets.token_bytes(8)
        c.conn.ping(payload)
        c.flush()
        c.wait(lambda: payload in c.pings, "PING ACK after the reset")
        check(c.goaway is None, f"GOAWAY {c.goaway}")
    finally:
        c.close()


@scenario("main")
def h2_settings_change_mid_connection():
    S = h2.settings.SettingCodes
    want = open(www("256k.bin"), "rb").read()
    c = H2Client(port("H2C_PORT"))
    try:
        check(c.get("/256k.bin")["body"] == want, "body differs before the change")
        for window in (1024, 1 << 20):  # tiny, then large: both directions of the delta
            acks = c.settings_acks
            c.conn.update_settings({S.INITIAL_WINDOW_SIZE: window, S.MAX_CONCURRENT_STREAMS: 50})
            c.flush()
            c.wait(lambda: c.settings_acks > acks, "SETTINGS ACK")
            s = c.get("/256k.bin")
            check(s["status"] == 200 and s["body"] == want, f"window {window}: body differs")
            check(s["max_frame"] <= window, f"window {window}: got a {s['max_frame']}-byte DATA frame")
        check(c.goaway is None, f"GOAWAY {c.goaway}")
    finally:
        c.close()


@scenario("main")
def h2_interleaved_downloads():
    want = open(www("256k.bin"), "rb").read()
    c = H2Client(port("H2C_PORT"), timeout=30)
    try:
        sids = [c.open("GET", "/256k.bin") for _ in range(20)]
        bad = [sid for sid in sids if c.finish(sid)["body"] != want]
        check(not bad, f"{len(bad)} of 20 bodies differ")
    finally:
        c.close()


@scenario("main")
def admin_listener_shape():
    dump = json.loads(admin("/config_dump?resource=static_listeners"))
    listeners = {c["listener"]["name"]: c["listener"] for c in dump["configs"]}
    check(set(listeners) == {"h2c", "tls"}, f"listeners {sorted(listeners)}")
    want = ["envoy.filters.network.wasm", "envoy.filters.network.tcp_proxy"][0 if HAVE_WASM else 1:]
    limit = int(os.environ.get("BUFFER_LIMIT", 1 << 20))
    for name, l in listeners.items():
        filters = [f["name"] for f in l["filter_chains"][0]["filters"]]
        check(filters == want, f"{name}: filters {filters}")
        check(l.get("per_connection_buffer_limit_bytes") == limit,
              f"{name}: per_connection_buffer_limit_bytes {l.get('per_connection_buffer_limit_bytes')}")


@scenario("main")
def admin_tcp_proxy_stats():
    n = stat("tcp.h2mux.downstream_cx_total")
    check(n and n > 0, f"tcp.h2mux.downstream_cx_total = {n}")
    check("envoy_tcp_downstream_cx_total" in admin("/stats/prometheus"), "no tcp stats in /stats/prometheus")


@scenario("main", needs=["wasm"])
def wasm_custom_stats():
    lines = admin("/stats?filter=wasmcustom").splitlines()
    names = [l.partition(":")[0] for l in lines if l.startswith("wasmcustom.")]
    check(names, "no wasmcustom.* stats")
    expect = [n for n in os.environ.get("E2E_EXPECT_STATS", "").split(",") if n]
    missing = [n for n in expect if "wasmcustom." + n not in names]
    check(not missing, f"missing wasmcustom stats: {missing}")
    # Prometheus drops the custom namespace: wasmcustom.x is exported as x.
    prom = set(re.findall(r"^(\w+)", admin("/stats/prometheus"), re.M))
    absent = [n for n in names if re.sub(r"\W", "_", n.removeprefix("wasmcustom.")) not in prom
              and "envoy_" + re.sub(r"\W", "_", n) not in prom]
    check(not absent, f"in /stats but not in /stats/prometheus: {absent}")
    return f"{len(names)} wasmcustom stats"


# Envoy's own HTTP connection manager (hcm.yaml), the benchmark baseline.

@scenario("hcm")
def hcm_curl_h2c():
    code, ver, _, _ = curl(["--http2-prior-knowledge", "-o", os.devnull, url("/", "HCM_PORT")])
    check((code, ver) == (200, "2"), f"status {code}, HTTP/{ver}")
    n = stat("cluster.upstream.upstream_cx_http2_total")
    check(n and n > 0, f"upstream not HTTP/2: cluster.upstream.upstream_cx_http2_total = {n}")


@scenario("hcm")
def hcm_h2load():
    return h2load("-n", "2000", "-c", "2", "-m", "10", url("/", "HCM_PORT"), total=2000)


# The module fetched from an HTTP server (h2mux-remote.yaml).

@scenario("remote", needs=["wasm"])
def remote_wasm_fetch():
    # Readiness says nothing about the module: with a failed fetch Envoy is LIVE and fails closed.
    ok, bad = stat("wasm.remote_load_fetch_successes"), stat("wasm.remote_load_fetch_failures")
    check(ok and not bad, f"remote fetch: {ok} successes, {bad} failures")
    for args in (["--http2-prior-knowledge", url("/")], ["-k", "--http2", url("/", "TLS_PORT", "https")]):
        code, ver, _, _ = curl(["-o", os.devnull, *args])
        check((code, ver) == (200, "2"), f"{args[-1]}: status {code}, HTTP/{ver}")


@scenario("badconfig", needs=["wasm"])
def remote_wasm_wrong_sha256_fails_closed():
    lib("start_wasm_server")
    code = start_envoy("h2mux-remote", "envoy-badsha", "h2mux-badsha.yaml",
                       extra_env={"WASM_SHA256": "ab" * 32})
    try:
        check(code != 2, "Envoy neither exited nor became ready")
        if code == 0:
            n = stat("wasm.remote_load_fetch_failures")
            check(n and n > 0, f"wasm.remote_load_fetch_failures = {n}")
            p = run(["curl", "-sS", "--max-time", "5", "--http2-prior-knowledge", "-o", os.devnull, url("/")])
            check(p.returncode != 0, "a request went through without the module")
    finally:
        lib("stop", "envoy-badsha")
    return "Envoy exited" if code == 1 else "connections refused"


# Envoy must refuse a plugin configuration with an unknown key, and say which.

@scenario("badconfig", needs=["wasm"])
def bad_plugin_config_refused():
    code = start_envoy("h2mux", "envoy-bad", "h2mux-bad.yaml",
                       extra_env={"CONFIG_JSON": '{"no_such_key": 1}'})
    try:
        if code == 0:
            listeners = admin("/listeners")
            check("h2c::" not in listeners, f"Envoy took the bad config: {listeners.strip()}")
        check(code != 2, "Envoy neither exited nor became ready")
        log = open(os.path.join(CFG["RUN_DIR"], "envoy-bad.log"), errors="replace").read()
        check("no_such_key" in log, "no log line names no_such_key")
    finally:
        lib("stop", "envoy-bad")
    # The same check without starting a server: --mode validate runs the plugin's configure step.
    p = run([ENVOY, "--mode", "validate", "-c", os.path.join(CFG["RUN_DIR"], "h2mux-bad.yaml"),
             "--disable-hot-restart"])
    check(p.returncode != 0, "envoy --mode validate accepted the bad config")
    return "Envoy exited" if code == 1 else "listener not added"


# Every template renders to a configuration Envoy accepts (--mode validate loads a local module,
# not a remote one).

@scenario("validate")
def validate_configs():
    templates = ["plain-tcp", "hcm"] + (["h2mux", "h2mux-remote"] if HAVE_WASM else [])
    for t in templates:
        _, path = lib("render", t, "validate-" + t + ".yaml")
        p = run([ENVOY, "--mode", "validate", "-c", path, "--disable-hot-restart"])
        check(p.returncode == 0, f"{t}: {p.stdout.decode().strip().splitlines()[-1:]}")
    return ", ".join(templates)


# ---------------------------------------------------------------- phases and the runner

def phase_main():
    need_envoy("h2mux" if HAVE_WASM else "plain-tcp")


def phase_hcm():
    need_envoy("hcm", "envoy-hcm")


def phase_remote():
    lib("start_wasm_server")
    need_envoy("h2mux-remote", "envoy-remote")


PHASES = [  # (name, set-up, processes to stop afterwards)
    ("validate", None, []),
    ("main", phase_main, ["envoy"]),
    ("hcm", phase_hcm, ["envoy-hcm"]),
    ("remote", phase_remote, ["envoy-remote"]),
    ("badconfig", None, []),
]


def setup():
    _, run_dir = lib("init")
    ENV["RUN_DIR"] = run_dir
    ENV["WASM"] = WASM
    for step in ("ports", "cert", "www", "start_upstream"):
        lib(step)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-k", default="", help="run only scenarios whose name contains this")
    opts = ap.parse_args()
    # SIGTERM must unwind through the finally below so that Envoy and the upstream stop.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    if HAVE_WASM:
        print(f"e2e: filter {WASM}: envoy-config/h2mux.yaml")
    else:
        print(f"e2e: no {os.path.relpath(WASM, ROOT)}: running plain-tcp.yaml (tcp_proxy only); "
              "scenarios that need the filter are skipped")
    print(f"e2e: upstream {UPSTREAM}" + (f": {os.environ['UPSTREAM_CMD']}" if os.environ.get("UPSTREAM_CMD") else ""))
    passed = failed = skipped = 0
    t0 = time.monotonic()
    try:
        setup()
        print(f"e2e: run directory {CFG['RUN_DIR']}")
        for phase, start, stop in PHASES:
            todo = []
            for name, ph, needs, fn in SCENARIOS:
                if ph != phase or opts.k not in name:
                    continue
                if "wasm" in needs and not HAVE_WASM:
                    print(f"SKIP {name}: needs {os.path.relpath(WASM, ROOT)}")
                    skipped += 1
                elif "demo" in needs and UPSTREAM != "demo":
                    print(f"SKIP {name}: needs UPSTREAM=demo")
                    skipped += 1
                else:
                    todo.append((name, fn))
            if not todo:
                continue
            try:
                if start:
                    start()
            except Fail as e:
                for name, _ in todo:
                    print(f"FAIL {name}: {phase} set-up: {e}")
                failed += len(todo)
                continue
            try:
                for name, fn in todo:
                    t = time.monotonic()
                    try:
                        detail = fn()
                        passed += 1
                        print(f"PASS {name} ({time.monotonic() - t:.1f}s)" + (f": {detail}" if detail else ""))
                    except Fail as e:
                        failed += 1
                        print(f"FAIL {name}: {e}")
                    except Exception as e:  # a broken scenario counts as a failure, the run goes on
                        failed += 1
                        print(f"FAIL {name}: {type(e).__name__}: {e}")
                    sys.stdout.flush()
            finally:
                for proc in stop:
                    lib("stop", proc)
    except Fail as e:
        print(f"FAIL set-up: {e}")
        failed += 1
    except KeyboardInterrupt:
        print("interrupted")
        failed += 1
    finally:
        if "RUN_DIR" in ENV:
            lib("cleanup")
    print(f"{skipped} skipped, {time.monotonic() - t0:.0f}s")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
