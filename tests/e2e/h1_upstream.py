"""The "h1up" pass of run.py: h2mux with {"upstream_protocol": "http/1.1"} in front of real
HTTP/1.1 servers, driven by HTTP/2 clients (curl, nghttp, h2load, the scripted h2 client) and
by HTTP/1.1 clients (curl --http1.1).

Phases (scenario names start with "h1up/"):
  h1up            nginx (Debian's, unprivileged, foreground, its config and logs in the run
                  directory): files, a 10 MiB download, PUT uploads stored by its dav module
                  and compared with what was sent, HEAD, many streams on one connection,
                  a client that writes only the ACKs HTTP/2 requires, h2load; HTTP/1.1
                  clients too (GET, HEAD, 10 MiB, uploads, pipelined requests).
  h1up_close      python3 -m http.server (HTTP/1.0: every response closes the connection):
                  the response in flight completes, then a GOAWAY(NO_ERROR), then queued
                  streams get REFUSED_STREAM.
  h1up_keepalive  an HTTP/1.1 keep-alive server in this process (KeepAliveServer): uploads
                  hashed at the far end with and without content-length, request heads as
                  the upstream saw them, one request at a time, a first answer slower than
                  settings_timeout_ms (1000 here), the 503 of a request that waited past
                  queue_timeout_ms (500 here), Connection: close.
  h1up_malformed  a raw-socket upstream in this process answering with malformed responses:
                  502 before the head went out, a reset after, and the upstream connection
                  ends.
  h1up_compare    what one upstream connection per client connection means for concurrency:
                  h2load -c 1 -m 10 and -c 10 -m 1 through h2mux to nginx, through h2mux to
                  nghttpd (HTTP/2 upstream) and through Envoy's HTTP connection manager with
                  an HTTP/1.1 cluster (hcm-h1.yaml) to nginx. Req/s are reported, not asserted
                  (RUN_DIR/h1up-concurrency.txt; H1UP_ROUNDS rounds, default 2).
  h1up_compare_slow  the same shapes against an upstream taking 10 ms an answer.

Alone: UPSTREAM=h1up .venv/bin/python tests/e2e/run.py [-k h1up/NAME].
"""

import hashlib
import http.server
import json
import os
import re
import secrets
import shutil
import socket
import socketserver
import statistics
import threading
import time
import urllib.parse

import h2.config
import h2.connection
import h2.events
from h2.errors import ErrorCodes

from run import (CFG, H2MUX, NATIVE, STAT_NS, H2Client, Fail, admin, check, curl, free_port, h2load, lib, need_envoy, port, run,
                 scenario, sha256_file, url, www)

# E2E_H2MUX_LOG_LEVEL=debug: h2mux logs every callback (what came in, what Envoy was told)
# in this pass's Envoy logs, to follow a stalled transfer.
LOG_LEVEL = {"log_level": os.environ["E2E_H2MUX_LOG_LEVEL"]} if os.environ.get("E2E_H2MUX_LOG_LEVEL") else {}
H1 = json.dumps({"upstream_protocol": "http/1.1", **LOG_LEVEL})
QUEUE_TIMEOUT_MS = 500
SETTINGS_TIMEOUT_MS = 1000  # of the keep-alive phase: plenty on loopback, short for the tests
# Not a multiple of any buffer or frame size, and larger than Envoy's reads (which overshoot
# its 1 MiB buffer limit: a read larger than the upstream side's 1 MiB send queue once reset
# such an upload halfway, now and then, until the client side handed bodies over in pieces
# the queue takes). H1UP_UPLOAD_BYTES overrides it.
UPLOAD_BYTES = int(os.environ.get("H1UP_UPLOAD_BYTES", 4 * 1024 * 1024 + 123))
UPLOAD_TIMEOUT = 20  # seconds: well past the default settings_timeout_ms (10 s)
UPLOAD_REPEATS = int(os.environ.get("H1UP_UPLOAD_REPEATS", 5))  # each upload scenario, one after the other: a stall may come now and then
TEN_MB = 10 * 1024 * 1024
STATE = {}  # what the phases started: in-process servers, ports of the comparison Envoys


def run_dir(*names):
    return os.path.join(CFG["RUN_DIR"], *names)


def upload_file():
    """A file of UPLOAD_BYTES random bytes in the run directory (made once)."""
    path = run_dir("h1up-upload.bin")
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(secrets.token_bytes(UPLOAD_BYTES))
    return path


def curl_stdin(args, stdin_path, timeout=60):
    """curl reading the request body from stdin (-T -): no content-length, so HTTP/2 sends
    the body without one and HTTP/1.1 sends it chunked. Returns (code, version, body)."""
    with open(stdin_path, "rb") as f:
        p = run(["curl", "-sS", "--max-time", str(timeout), "-w", "\n%{http_code} %{http_version}",
                 "-T", "-", *args], timeout=timeout + 5, stdin=f)
    check(p.returncode == 0, f"curl exit {p.returncode}: {p.stderr.decode().strip()}")
    body, _, tail = p.stdout.rpartition(b"\n")
    code, ver = tail.decode().split()
    return int(code), ver, body


def head_lines(raw):
    """Status line and fields of curl -I's output; (lines, bytes after the head)."""
    head, sep, rest = raw.partition(b"\r\n\r\n")
    check(sep, f"no complete head in {raw[:300]!r}")
    return [l.strip() for l in head.decode().split("\r\n")], rest


def field(lines, name):
    return [v.strip() for k, _, v in (x.partition(":") for x in lines[1:]) if k.lower() == name]


def h2mux_log():
    """h2mux's lines in the phase's Envoy log, so far."""
    try:
        lines = open(run_dir(STATE["envoy"] + ".log"), errors="replace").read().splitlines()
    except (KeyError, OSError):
        return []
    # The .wasm's lines come through Envoy's wasm logger, the native module's through its
    # dynamic_modules logger.
    mark = "[dynamic_modules] [:] h2mux: " if NATIVE else "wasm log h2mux h2mux: "
    return [l.partition(mark)[2] for l in lines if mark in l]


def h2mux_said(needle, since=0):
    """The last of h2mux's log lines after the first since that contains needle, or ""."""
    return next((l for l in reversed(h2mux_log()[since:]) if needle in l), "")


def h1up_envoy(name, out, extra):
    STATE["envoy"] = name
    need_envoy(H2MUX, name, out, extra)


def check_not_processed(c, queued, last):
    """The stream opened after `last` got no answer and the client knows it was not
    processed: refused (RST_STREAM REFUSED_STREAM) when its HEADERS came before the
    upstream's end, or above the GOAWAY's last-stream-id (RFC 9113 §6.8: its frames are
    discarded) when they came after our GOAWAY (the client's two writes can reach Envoy in
    separate reads, an upstream round trip apart)."""
    s = c.streams[queued]
    refused = s["reset"] == ErrorCodes.REFUSED_STREAM
    beyond = (s["reset"] is None and s["status"] is None and c.goaways
              and c.goaways[-1].last_stream_id < queued)
    check(refused or beyond, f"queued stream {queued}: {summary(c)}")


def wait_streams(c, sids, what, eof=False):
    """Pumps until every stream in sids has ended or been reset (and, with eof, until the
    proxy closed the connection); returns {sid: seconds from now until its status came}."""
    t0 = time.monotonic()
    seen = {}
    deadline = t0 + c.timeout

    def done():
        for sid in sids:
            s = c.streams[sid]
            if (s["status"] is not None or s["reset"] is not None) and sid not in seen:
                seen[sid] = time.monotonic() - t0
        ended = all(c.streams[s]["ended"] or c.streams[s]["reset"] is not None for s in sids)
        return ended and (c.eof or not eof)

    while not done():
        check(time.monotonic() < deadline, f"timed out waiting for {what}: {summary(c)}")
        if c.eof:
            raise Fail(f"connection closed while waiting for {what}: {summary(c)}")
        c.pump(eof_ok=True)
    return seen


def summary(c):
    def one(sid, s):
        end = "ended" if s["ended"] else f"reset {s['reset']!r}" if s["reset"] is not None else "open"
        return f"stream {sid}: {s['status']}, {len(s['body'])} bytes, {end}"
    return "; ".join([", ".join(c.timeline + (["EOF"] if c.eof else []))] +
                     [one(k, v) for k, v in c.streams.items()])


# ---------------------------------------------------------------- nginx

NGINX_CONF = """\
# h2mux e2e: nginx as an HTTP/1.1 upstream, in the foreground, everything in this directory.
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
events {{ worker_connections 1024; }}
http {{
    log_format h1up '$connection $connection_requests "$request" $status $body_bytes_sent '
                    'request_length=$request_length '
                    'host="$http_host" te="$http_transfer_encoding" cl="$http_content_length" '
                    'cookie="$http_cookie" expect="$http_expect" conn="$http_connection"';
    access_log {dir}/access.log h1up;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    types {{ text/html html; application/octet-stream bin; }}
    default_type application/octet-stream;
    # The default (1000) would close long h2load connections half-way.
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        root {www};
        # PUT stores the body: the test compares the stored file with what it sent.
        location /up/ {{
            alias {dir}/up/;
            dav_methods PUT;
            create_full_put_path on;
            client_max_body_size 0;
        }}
    }}
}}
"""


def start_upstream():
    """The pass's upstream: nginx on a free port (process "nginx"); returns that name."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(nginx, os.X_OK):
        raise Fail("no nginx (Debian: apt-get install nginx; make e2e-tools installs it)")
    d = run_dir("nginx")
    for sub in ("tmp", "up"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    p = free_port()
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF.format(dir=d, port=p, www=CFG["E2E_WWW"]))
    cmd = [nginx, "-p", d, "-e", os.path.join(d, "error.log"), "-c", os.path.join(d, "nginx.conf")]
    if os.geteuid() == 0 and shutil.which("setpriv"):
        # Unprivileged even when the suite runs as root: it needs no privilege at all.
        for sub in ("", "tmp", "up"):
            os.chmod(os.path.join(d, sub), 0o777)
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    lib("spawn", "nginx", *cmd)
    lib("wait_port", str(p), "nginx", "10")
    STATE["nginx_port"] = p
    return "nginx"


def nginx_log(token):
    """Access-log lines of requests whose line contains token, parsed."""
    rx = re.compile(r'^(\d+) (\d+) "(\S+) (\S+) (\S+)" (\d+) (\d+) request_length=(\d+) host="([^"]*)" te="([^"]*)" '
                    r'cl="([^"]*)" cookie="([^"]*)" expect="([^"]*)" conn="([^"]*)"$')
    out = []
    for line in open(run_dir("nginx", "access.log"), errors="replace"):
        if token in line:
            m = rx.match(line.rstrip("\n"))
            check(m, f"access log line not understood: {line!r}")
            out.append(dict(zip(("conn", "n", "method", "target", "version", "status", "bytes",
                                 "request_length", "host", "te", "cl", "cookie", "expect", "connection"), m.groups())))
    return out


def phase_h1up():
    h1up_envoy("envoy-h1up", "h2mux-h1up.yaml",
               {"CONFIG_JSON": H1, "UPSTREAM_PORT": str(STATE["nginx_port"])})


def h2_get(path, out):
    return curl(["--http2-prior-knowledge", "-o", out, url(path)])


@scenario("h1up", needs=["filter"])
def nginx_get():
    out = run_dir("h1up-get.body")
    code, ver, _, _ = h2_get("/index.html?h1up-get", out)
    check((code, ver) == (200, "2"), f"status {code}, HTTP/{ver}")
    check(open(out, "rb").read() == open(www("index.html"), "rb").read(), "body differs")
    seen = nginx_log("h1up-get")
    check(len(seen) == 1, f"nginx logged {len(seen)} requests: {seen}")
    want_host = f"127.0.0.1:{port('H2C_PORT')}"
    check(seen[0]["version"] == "HTTP/1.1", f"nginx saw {seen[0]['version']}")
    check(seen[0]["host"] == want_host, f"nginx saw Host {seen[0]['host']!r}, want {want_host!r}")
    return f"nginx saw {seen[0]['method']} {seen[0]['target']} {seen[0]['version']}, Host {seen[0]['host']}"


def fresh_connection_gets(n, path, upstream_refusals):
    """n curl GETs, each on a fresh HTTP/2 connection: every one must get 200. On failure,
    says what the upstream refused meanwhile (upstream_refusals(): request lines it answered
    with an error, by count)."""
    before = upstream_refusals()
    codes, errors = [], []
    for _ in range(n):
        p = run(["curl", "-sS", "--max-time", "10", "--http2-prior-knowledge", "-o", os.devnull,
                 "-w", "%{http_code}", url(path)], timeout=15)
        codes.append(p.stdout.decode()[-3:])
        if p.returncode != 0:
            errors.append(p.stderr.decode().strip())
    bad = sum(c != "200" for c in codes)
    refused = {k: v - before.get(k, 0) for k, v in upstream_refusals().items() if v > before.get(k, 0)}
    check(bad == 0, f"{bad} of {n} failed (first: {errors[:1]}); the upstream meanwhile answered "
                    f"with an error: {refused or 'nothing'}")
    return f"{n} of {n}: 200"


def nginx_refusals():
    out = {}
    for line in open(run_dir("nginx", "access.log"), errors="replace"):
        m = re.match(r'^\d+ \d+ "([^"]*)" ([45]\d\d) ', line)
        if m:
            key = f"{m[1]} -> {m[2]}"
            out[key] = out.get(key, 0) + 1
    return out


@scenario("h1up", needs=["filter"])
def fresh_connections_each_served():
    return fresh_connection_gets(20, "/index.html", nginx_refusals)


@scenario("h1up", needs=["filter"])
def nginx_download_10mb():
    out = run_dir("h1up-download.bin")
    t = time.monotonic()
    code, ver, _, down = h2_get("/10m.bin", out)
    dt = time.monotonic() - t
    check((code, ver, down) == (200, "2", TEN_MB), f"status {code}, HTTP/{ver}, {down} bytes")
    check(sha256_file(out) == sha256_file(www("10m.bin")), "sha256 differs")
    os.unlink(out)
    return f"{TEN_MB / dt / 1e6:.0f} MB/s"


def stall_snapshot(path):
    """Where the bytes of a stalled transfer sit: every TCP socket on loopback with its
    queues (`ss`: Recv-Q not read by its owner, Send-Q not acknowledged by the peer) and
    Envoy's connection and flow-control statistics, written to path."""
    parts = []
    p = run(["ss", "-tnie", "state", "established"], timeout=10)
    parts.append(p.stdout.decode(errors="replace"))
    try:
        stats = admin("/stats").splitlines()
        parts.append("\n".join(l for l in stats if re.search(
            r"^(tcp\.|" + STAT_NS + r"\.|listener\.0\.0\.0\.0_|cluster\.[^.]+\.(upstream_cx_|upstream_flow))",
            l) and not l.endswith(": 0")))
    except OSError as e:
        parts.append(f"admin: {e}")
    with open(path, "w") as f:
        f.write("\n\n".join(parts))


def repeated(times, once):
    """Runs once(i) times times; returns the last detail and the mean rate. A transfer
    still running 3 s before its timeout leaves a snapshot of where its bytes sit."""
    rates = []
    for i in range(times):
        mark = len(h2mux_log())
        snap = run_dir(f"stall-{time.strftime('%H%M%S')}-{i}.txt")
        timer = threading.Timer(UPLOAD_TIMEOUT - 3, stall_snapshot, args=(snap,))
        timer.start()
        try:
            detail, rate = once(i)
        except Fail as e:
            said = h2mux_said("connection ending", mark)
            where = f"; snapshot {snap}" if os.path.exists(snap) else ""
            raise Fail(f"upload {i + 1} of {times}: {e}" + (f"; h2mux: {said}" if said else "")
                       + where)
        finally:
            timer.cancel()
        rates.append(rate)
    return f"{times} x {detail}, {statistics.mean(rates):.1f} MB/s"


def nginx_put(name, args, chunked):
    return repeated(UPLOAD_REPEATS, lambda i: nginx_put_once(f"{i}-{name}", args, chunked))


def nginx_put_once(name, args, chunked):
    """PUTs the upload file to /up/NAME; the stored file must be the same bytes."""
    src = upload_file()
    target = f"/up/{name}"
    t = time.monotonic()
    if chunked:
        code, ver, _ = curl_stdin([*args, url(target)], src, timeout=UPLOAD_TIMEOUT)
    else:
        code, ver, up, _ = curl([*args, "-T", src, "-o", os.devnull, url(target)], timeout=UPLOAD_TIMEOUT)
        check(up == UPLOAD_BYTES, f"curl sent {up} bytes")
    dt = time.monotonic() - t
    check(code == 201, f"status {code}, HTTP/{ver} (201 Created expected)")
    stored = run_dir("nginx", "up", name)
    check(os.path.exists(stored), "nginx stored no file")
    check(os.path.getsize(stored) == UPLOAD_BYTES, f"stored {os.path.getsize(stored)} bytes")
    check(sha256_file(stored) == sha256_file(src), "stored file differs from the upload")
    seen = nginx_log(f"PUT {target} ")
    check(len(seen) == 1, f"nginx logged {seen}")
    s = seen[0]
    if chunked:
        check(s["te"] == "chunked" and s["cl"] == "-", f"nginx saw te={s['te']} cl={s['cl']}")
    else:
        check(s["cl"] == str(UPLOAD_BYTES) and s["te"] == "-", f"nginx saw te={s['te']} cl={s['cl']}")
    framing = "chunked" if chunked else f"content-length {s['cl']}"
    extra = f", Expect: {s['expect']}" if s["expect"] != "-" else ""
    return f"{UPLOAD_BYTES} bytes stored byte-exact, HTTP/{ver}, {framing}{extra}", UPLOAD_BYTES / dt / 1e6


@scenario("h1up", needs=["filter"])
def nginx_put_upload_with_length():
    return nginx_put("cl.bin", ["--http2-prior-knowledge"], chunked=False)


@scenario("h1up", needs=["filter"])
def nginx_put_upload_without_length():
    return nginx_put("chunked.bin", ["--http2-prior-knowledge"], chunked=True)


@scenario("h1up", needs=["filter"])
def nginx_head():
    p = run(["curl", "-sS", "--max-time", "10", "-I", "--http2-prior-knowledge", url("/10m.bin")],
            timeout=15)
    check(p.returncode == 0, f"curl -I exit {p.returncode}: {p.stderr.decode().strip()}")
    lines, rest = head_lines(p.stdout)
    check(lines[0].split() == ["HTTP/2", "200"], f"curl -I got {lines[0]!r}")
    check(field(lines, "content-length") == [str(TEN_MB)], f"content-length {field(lines, 'content-length')}")
    check(rest == b"", f"{len(rest)} bytes after the head")
    # The next request on the same connection: a HEAD answer has no body, and an upstream
    # read that expected one would take the next response for it.
    c = H2Client(port("H2C_PORT"))
    try:
        head = c.open("HEAD", "/10m.bin?h1up-head")
        get = c.open("GET", "/index.html?h1up-head")
        wait_streams(c, [head, get], "HEAD then GET")
        h, g = c.streams[head], c.streams[get]
        check(h["status"] == 200 and h["reset"] is None and not h["body"],
              f"HEAD: {summary(c)}")
        check(g["status"] == 200 and g["reset"] is None and g["body"] == open(www("index.html"), "rb").read(),
              f"GET after HEAD: {summary(c)}")
    finally:
        c.close()
    return f"{lines[0]}, content-length {TEN_MB}; a GET after a HEAD on one connection: 200"


@scenario("h1up", needs=["filter"])
def nghttp_streams_one_at_a_time():
    n = 10
    token = secrets.token_hex(4)
    uris = [url(f"/index.html?order={token}&i={i}") for i in range(n)]
    p = run(["nghttp", "-nv", *uris], timeout=30)
    out = p.stdout.decode(errors="replace")
    check(p.returncode == 0, f"nghttp exit {p.returncode}: {out[-400:]}")
    sent = re.findall(r"send HEADERS frame <[^>]*stream_id=(\d+)>", out)
    check(len(sent) == n, f"nghttp sent {len(sent)} requests")
    first_answer = out.find("recv (stream_id=")
    check(first_answer > out.find(f"&i={n - 1}"), "nghttp did not open all streams before the first answer")
    ok = set(re.findall(r"recv \(stream_id=(\d+)\) :status: 200", out))
    check(len(ok) == n, f"{len(ok)} of {n} streams got 200")
    check("RST_STREAM" not in out and "recv GOAWAY" not in out, "RST_STREAM or GOAWAY seen")
    seen = nginx_log(f"order={token}")
    order = [int(re.search(r"&i=(\d+)", s["target"])[1]) for s in seen]
    conns = {s["conn"] for s in seen}
    numbers = [int(s["n"]) for s in seen]
    check(len(seen) == n, f"nginx logged {len(seen)} of {n}")
    check(len(conns) == 1, f"nginx saw {len(conns)} connections")
    check(order == list(range(n)), f"nginx served them in the order {order}")
    check(numbers == list(range(numbers[0], numbers[0] + n)),
          f"not consecutive requests of one connection: {numbers}")
    return f"{n} streams opened at once; nginx: one connection, " \
           f"requests {numbers[0]}..{numbers[-1]} in stream order"


def read_silently(sock, until, seconds):
    """Reads what the proxy sends for up to seconds, writing nothing back; returns the bytes
    once until(bytes) holds (or at the deadline)."""
    data, deadline = b"", time.monotonic() + seconds
    while not until(data) and time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    return data


@scenario("h1up", needs=["filter"])
def queued_streams_served_to_a_quiet_client():
    # A client that sends its preface, SETTINGS and four requests in one write and then
    # writes only the replies HTTP/2 requires (SETTINGS and PING ACKs; no WINDOW_UPDATE, no
    # new request): after the first answer, the queued requests must still reach the upstream.
    n, token = 4, secrets.token_hex(4)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    for i in range(n):
        conn.send_headers(1 + 2 * i, [(":method", "GET"), (":path", f"/index.html?quiet={token}&i={i}"),
                                      (":scheme", "http"), (":authority", "127.0.0.1")], end_stream=True)
    ended, replies = set(), []
    with socket.create_connection(("127.0.0.1", port("H2C_PORT")), timeout=5) as sock:
        sock.sendall(conn.data_to_send())
        deadline = time.monotonic() + 3
        while len(ended) < n and time.monotonic() < deadline:
            chunk = read_silently(sock, lambda d: d, deadline - time.monotonic())
            if not chunk:
                break
            for ev in conn.receive_data(chunk):
                if isinstance(ev, h2.events.StreamEnded):
                    ended.add(ev.stream_id)
                elif isinstance(ev, (h2.events.PingReceived, h2.events.RemoteSettingsChanged)):
                    replies.append(type(ev).__name__)
            sock.sendall(conn.data_to_send())  # the ACKs python h2 makes by itself
    seen = nginx_log(f"quiet={token}")
    check(len(ended) == n, f"{len(ended)} of {n} responses within 3 s; nginx saw {len(seen)} of the "
                           f"requests; the client's only writes answered {replies}")
    return f"{n} responses; the client only answered {', '.join(replies)}"


@scenario("h1up", needs=["filter"])
def h1_client_pipelined_requests():
    # Three requests in one write, then only reading: each answer in order, nothing more.
    n, token = 3, secrets.token_hex(4)
    req = b"".join(b"GET /index.html?piped=%s&i=%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                   % (token.encode(), i) for i in range(n))
    body = open(www("index.html"), "rb").read()
    with socket.create_connection(("127.0.0.1", port("H2C_PORT")), timeout=5) as sock:
        sock.sendall(req)
        data = read_silently(sock, lambda d: d.count(b"HTTP/1.1 200 ") == n and d.endswith(body), 3)
    answers = data.count(b"HTTP/1.1 200 ")
    seen = nginx_log(f"piped={token}")
    check(answers == n, f"{answers} of {n} answers within 3 s; nginx saw {len(seen)}: {data[:300]!r}")
    check(data.count(body) == n, f"bodies: {data!r}")
    order = [int(re.search(r"&i=(\d+)", s["target"])[1]) for s in seen]
    check(order == list(range(n)) and len({s["conn"] for s in seen}) == 1, f"nginx saw {seen}")
    return f"{n} answers in order on one upstream connection"


@scenario("h1up", needs=["filter"])
def h2load_2000():
    return h2load("-n", "2000", "-c", "4", "-m", "10", url("/index.html"), total=2000)


@scenario("h1up", needs=["filter"])
def h1_client_get_and_head():
    out = run_dir("h1up-h1get.body")
    code, ver, _, _ = curl(["--http1.1", "-o", out, url("/index.html?h1up-h1get")])
    check((code, ver) == (200, "1.1"), f"status {code}, HTTP/{ver}")
    check(open(out, "rb").read() == open(www("index.html"), "rb").read(), "body differs")
    seen = nginx_log("h1up-h1get")
    check(len(seen) == 1 and seen[0]["host"] == f"127.0.0.1:{port('H2C_PORT')}", f"nginx saw {seen}")
    p = run(["curl", "-sS", "--max-time", "10", "-I", "--http1.1", url("/10m.bin")], timeout=15)
    check(p.returncode == 0, f"curl -I exit {p.returncode}: {p.stderr.decode().strip()}")
    lines, rest = head_lines(p.stdout)
    check(lines[0].split()[:2] == ["HTTP/1.1", "200"], f"curl -I got {lines[0]!r}")
    check(field(lines, "content-length") == [str(TEN_MB)], f"content-length {field(lines, 'content-length')}")
    check(rest == b"", f"{len(rest)} bytes after the head")
    # HEAD then GET on one kept-alive connection: curl reuses it for the second URL.
    p = run(["curl", "-sS", "-v", "--max-time", "10", "--http1.1", "-I", url("/10m.bin"),
             "--next", "--http1.1", "-o", os.devnull, "-w", "%{http_code} %{size_download}",
             url("/index.html")], timeout=15)
    err = p.stderr.decode(errors="replace")
    check(p.returncode == 0, f"curl HEAD + GET exit {p.returncode}: {err[-400:]}")
    check(p.stdout.decode().split()[-2:] == ["200", str(os.path.getsize(www("index.html")))],
          f"GET after HEAD: {p.stdout[-100:]!r}")
    reused = "Re-using existing connection" in err or "Reusing existing connection" in err
    check(reused, f"curl did not reuse the connection after HEAD: {err[-400:]}")
    return f"GET {code}, {lines[0]}, then a GET on the same connection: 200"


@scenario("h1up", needs=["filter"])
def h1_client_download_10mb():
    out = run_dir("h1up-h1download.bin")
    t = time.monotonic()
    code, ver, _, down = curl(["--http1.1", "-o", out, url("/10m.bin")])
    dt = time.monotonic() - t
    check((code, ver, down) == (200, "1.1", TEN_MB), f"status {code}, HTTP/{ver}, {down} bytes")
    check(sha256_file(out) == sha256_file(www("10m.bin")), "sha256 differs")
    os.unlink(out)
    return f"{TEN_MB / dt / 1e6:.0f} MB/s"


@scenario("h1up", needs=["filter"])
def h1_client_put_upload_with_length():
    return nginx_put("h1-cl.bin", ["--http1.1"], chunked=False)


@scenario("h1up", needs=["filter"])
def h1_client_put_upload_chunked():
    return nginx_put("h1-chunked.bin", ["--http1.1"], chunked=True)


# ---------------------------------------------------------------- python3 -m http.server

def phase_close():
    p = free_port()
    lib("spawn", "h1up_http10", "python3", "-m", "http.server", str(p), "--bind", "127.0.0.1",
        "--directory", CFG["E2E_WWW"])
    lib("wait_port", str(p), "h1up_http10", "10")
    h1up_envoy("envoy-h1up-close", "h2mux-h1up-close.yaml",
               {"CONFIG_JSON": H1, "UPSTREAM_PORT": str(p)})


@scenario("h1up_close", needs=["filter"])
def http10_response_then_goaway():
    want = open(www("index.html"), "rb").read()
    c = H2Client(port("H2C_PORT"))
    try:
        sid = c.open("GET", "/index.html")
        wait_streams(c, [sid], "the response and the close", eof=True)
    finally:
        c.close()
    s = c.streams[sid]
    check(s["status"] == 200 and s["ended"] and s["body"] == want, f"response: {summary(c)}")
    check(c.goaways, f"no GOAWAY before the close: {summary(c)}")
    g = c.goaways[-1]
    check(g.error_code == ErrorCodes.NO_ERROR, f"GOAWAY {g.error_code!r}: {summary(c)}")
    check(g.last_stream_id == sid, f"last-stream-id {g.last_stream_id}")
    # RFC 9113 6.8 lets the GOAWAY come before the end of the streams it covers.
    return ", ".join(c.timeline + ["EOF"])


def http10_refusals():
    out = {}
    for line in open(run_dir("h1up_http10.log"), errors="replace"):
        m = re.search(r'"([^"]*)" ([45]\d\d) ', line)
        if m:
            key = f"{m[1]} -> {m[2]}"
            out[key] = out.get(key, 0) + 1
    return out


@scenario("h1up_close", needs=["filter"])
def http10_fresh_connections_each_served():
    return fresh_connection_gets(20, "/index.html", http10_refusals)


@scenario("h1up_close", needs=["filter"])
def http10_queued_streams_refused():
    want = open(www("index.html"), "rb").read()
    c = H2Client(port("H2C_PORT"))
    try:
        sids = [c.open("GET", "/index.html") for _ in range(3)]
        # Until the close: the queued streams are refused by RST_STREAM, or by the GOAWAY's
        # last-stream-id alone when they arrived after it (timing decides which).
        deadline = time.monotonic() + c.timeout
        while not c.eof:
            check(time.monotonic() < deadline, f"timed out waiting for the close: {summary(c)}")
            c.pump(eof_ok=True)
    finally:
        c.close()
    first, rest = c.streams[sids[0]], [c.streams[s] for s in sids[1:]]
    check(first["status"] == 200 and first["ended"] and first["body"] == want, f"first: {summary(c)}")
    check(c.goaways and c.goaways[-1].error_code == ErrorCodes.NO_ERROR, f"GOAWAY: {summary(c)}")
    check(c.goaways[-1].last_stream_id == sids[0], f"last-stream-id {c.goaways[-1].last_stream_id}")
    # Not processed, and said so: by RST_STREAM(REFUSED_STREAM), or, for a stream that arrived
    # after the GOAWAY was sent, by the GOAWAY's last-stream-id alone (RFC 9113 §6.8).
    check(all(s["status"] is None and s["reset"] in (ErrorCodes.REFUSED_STREAM, None) for s in rest),
          f"queued streams: {summary(c)}")
    return ", ".join(c.timeline + ["EOF"])


@scenario("h1up_close", needs=["filter"])
def http10_download_10mb_and_head():
    out = run_dir("h1up-http10.bin")
    code, ver, _, down = h2_get("/10m.bin", out)
    check((code, ver, down) == (200, "2", TEN_MB), f"status {code}, HTTP/{ver}, {down} bytes")
    check(sha256_file(out) == sha256_file(www("10m.bin")), "sha256 differs")
    os.unlink(out)
    p = run(["curl", "-sS", "--max-time", "10", "-I", "--http2-prior-knowledge", url("/10m.bin")],
            timeout=15)
    check(p.returncode == 0, f"curl -I exit {p.returncode}: {p.stderr.decode().strip()}")
    lines, rest = head_lines(p.stdout)
    check(lines[0].split() == ["HTTP/2", "200"] and field(lines, "content-length") == [str(TEN_MB)],
          f"curl -I got {lines}")
    check(rest == b"", f"{len(rest)} bytes after the head")
    return f"10 MiB byte-exact; HEAD: {lines[0]}, content-length {TEN_MB}"


@scenario("h1up_close", needs=["filter"])
def http10_h1_client():
    out = run_dir("h1up-http10-h1.body")
    code, ver, _, _ = curl(["--http1.1", "-o", out, url("/index.html")])
    check((code, ver) == (200, "1.1"), f"status {code}, HTTP/{ver}")
    check(open(out, "rb").read() == open(www("index.html"), "rb").read(), "body differs")
    return f"HTTP/{ver} {code}"


# ---------------------------------------------------------------- an HTTP/1.1 keep-alive server

class KeepAliveHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive. GET /sleep?ms=N, POST /sha256 (content-length or chunked:
    answers "HEX LEN"), GET /close (answers with Connection: close), anything else "hello".
    Every request is recorded in server.seen with when it began and ended; "pipelined" says
    the next request's bytes had arrived before this answer."""

    protocol_version = "HTTP/1.1"
    rbufsize = 0  # unbuffered: a peek at the socket sees exactly what is not read yet
    disable_nagle_algorithm = True  # the head and the body are two writes

    def setup(self):
        super().setup()
        with self.server.lock:
            self.server.conns += 1
            self.conn_no = self.server.conns
            self.requests_on_conn = 0

    def log_message(self, fmt, *args):
        self.server.note(f"conn {self.conn_no}: " + fmt % args)

    def read_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.rfile.read(min(n - len(buf), 1 << 16))
            if not chunk:
                raise ConnectionError(f"body cut at {len(buf)} of {n} bytes")
            buf += chunk
        return bytes(buf)

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if te:
            check(te.lower() == "chunked", f"Transfer-Encoding {te!r}")
            body = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return bytes(body)
                body += self.read_exact(size)
                self.read_exact(2)
        return self.read_exact(int(self.headers.get("Content-Length", "0")))

    def handle_request(self):
        self.requests_on_conn += 1
        rec = {"conn": self.conn_no, "n": self.requests_on_conn, "method": self.command,
               "path": self.path, "version": self.request_version,
               "headers": list(self.headers.items()), "t0": time.monotonic()}
        srv = self.server
        with srv.lock:
            srv.seen.append(rec)
        try:
            body = self.read_body() if self.command in ("POST", "PUT") else b""
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            route = urllib.parse.urlsplit(self.path).path
            extra = []
            if route == "/sleep":
                time.sleep(int(q.get("ms", ["0"])[0]) / 1000)
                out = b"slept\n"
            elif route == "/sha256":
                out = f"{hashlib.sha256(body).hexdigest()} {len(body)}\n".encode()
                rec["body_len"] = len(body)
            elif route == "/close":
                out = b"closing\n"
                extra = [("Connection", "close")]
                self.close_connection = True
            else:
                out = b"hello\n"
            try:
                rec["pipelined"] = bool(self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
            except BlockingIOError:
                rec["pipelined"] = False
            self.send_response(200)
            for k, v in extra:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(out)
        finally:
            rec["t1"] = time.monotonic()

    do_GET = do_POST = do_PUT = do_HEAD = handle_request


class KeepAliveServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops SYNs of 10 connections at once: 1 s retries

    def __init__(self, log_path):
        super().__init__(("127.0.0.1", 0), KeepAliveHandler)
        self.lock = threading.Lock()
        self.seen, self.conns = [], 0
        self.log = open(log_path, "a", buffering=1)
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def handle_error(self, request, client_address):
        import traceback
        self.note(f"error serving {client_address}: {traceback.format_exc().strip()}")

    def note(self, line):
        if not self.log.closed:
            self.log.write(f"{time.strftime('%H:%M:%S')} {line}\n")

    def requests(self, token):
        with self.lock:
            return [r for r in self.seen if token in r["path"]]

    def stop(self):
        self.shutdown()
        self.server_close()
        self.log.close()


def phase_keepalive():
    srv = STATE["keepalive"] = KeepAliveServer(run_dir("h1up_keepalive.log"))
    config = json.dumps({"upstream_protocol": "http/1.1", "queue_timeout_ms": QUEUE_TIMEOUT_MS,
                         "settings_timeout_ms": SETTINGS_TIMEOUT_MS, **LOG_LEVEL})
    h1up_envoy("envoy-h1up-ka", "h2mux-h1up-keepalive.yaml",
               {"CONFIG_JSON": config, "UPSTREAM_PORT": str(srv.server_address[1])})


def stop_keepalive():
    srv = STATE.pop("keepalive", None)
    if srv:
        srv.stop()


def sha256_upload(args, chunked, token):
    return repeated(UPLOAD_REPEATS, lambda i: sha256_upload_once(args, chunked, f"{token}-{i}"))


def sha256_upload_once(args, chunked, token):
    src = upload_file()
    srv = STATE["keepalive"]
    target = url(f"/sha256?{token}")
    t = time.monotonic()
    if chunked:
        code, ver, body = curl_stdin(["-X", "POST", *args, target], src, timeout=UPLOAD_TIMEOUT)
    else:
        out = run_dir("h1up-sha256.out")
        code, ver, up, _ = curl([*args, "--data-binary", "@" + src, "-H",
                                 "content-type: application/octet-stream", "-o", out, target],
                                timeout=UPLOAD_TIMEOUT)
        check(up == UPLOAD_BYTES, f"curl sent {up} bytes")
        body = open(out, "rb").read()
    dt = time.monotonic() - t
    want = f"{sha256_file(src)} {UPLOAD_BYTES}"
    check(code == 200, f"status {code}, HTTP/{ver}, body {body[:200]!r}")
    check(body.decode().split() == want.split(),
          f"the upstream hashed {body.decode().strip()!r}, sent {want!r}")
    seen = srv.requests(token)
    check(len(seen) == 1, f"the upstream saw {len(seen)} requests")
    h = {k.lower(): v for k, v in seen[0]["headers"]}
    if chunked:
        check(h.get("transfer-encoding") == "chunked" and "content-length" not in h,
              f"upstream framing: {seen[0]['headers']}")
    else:
        check(h.get("content-length") == str(UPLOAD_BYTES) and "transfer-encoding" not in h,
              f"upstream framing: {seen[0]['headers']}")
    framing = "chunked" if chunked else "content-length"
    extra = f", Expect: {h['expect']}" if "expect" in h else ""
    return f"sha256 matches at the upstream, HTTP/{ver}, {framing}{extra}", UPLOAD_BYTES / dt / 1e6


@scenario("h1up_keepalive", needs=["filter"])
def upload_with_length_sha256():
    return sha256_upload(["--http2-prior-knowledge"], False, "h2-cl")


@scenario("h1up_keepalive", needs=["filter"])
def upload_without_length_sha256():
    return sha256_upload(["--http2-prior-knowledge"], True, "h2-chunked")


@scenario("h1up_keepalive", needs=["filter"])
def h1_client_upload_sha256():
    a = sha256_upload(["--http1.1"], False, "h1-cl")
    b = sha256_upload(["--http1.1"], True, "h1-chunked")
    return f"{a}; {b}"


@scenario("h1up_keepalive", needs=["filter"])
def request_head_as_upstream_saw_it():
    c = H2Client(port("H2C_PORT"))
    try:
        sid = c.open("GET", "/headers?h1up-head", headers=[
            ("cookie", "a=1"), ("user-agent", "h1up-e2e"), ("cookie", "b=2"), ("x-e2e", "yes")])
        wait_streams(c, [sid], "the response")
    finally:
        c.close()
    check(c.streams[sid]["status"] == 200, summary(c))
    seen = STATE["keepalive"].requests("h1up-head")
    check(len(seen) == 1, f"the upstream saw {len(seen)} requests")
    r = seen[0]
    names = [k.lower() for k, _ in r["headers"]]
    h = {k.lower(): v for k, v in r["headers"]}
    want_host = "127.0.0.1"  # the client's :authority
    check(r["version"] == "HTTP/1.1", f"request version {r['version']}")
    check(names.count("host") == 1 and h["host"] == want_host, f"Host: {r['headers']}")
    check(names.count("cookie") == 1 and h["cookie"] == "a=1; b=2", f"Cookie: {r['headers']}")
    check(h.get("x-e2e") == "yes" and h.get("user-agent") == "h1up-e2e", f"fields: {r['headers']}")
    check(not any(n.startswith(":") for n in names), f"pseudo-headers upstream: {r['headers']}")
    check("content-length" not in h and "transfer-encoding" not in h,
          f"a GET without a body got framing fields: {r['headers']}")
    return "; ".join(f"{k}: {v}" for k, v in r["headers"])


@scenario("h1up_keepalive", needs=["filter"])
def streams_served_one_at_a_time():
    srv = STATE["keepalive"]
    n, token = 6, secrets.token_hex(4)
    c = H2Client(port("H2C_PORT"))
    try:
        sids = [c.open("GET", f"/sleep?ms=30&{token}&i={i}") for i in range(n)]
        wait_streams(c, sids, f"{n} responses")
    finally:
        c.close()
    bad = [sid for sid in sids if c.streams[sid]["status"] != 200 or c.streams[sid]["body"] != b"slept\n"]
    check(not bad, f"streams {bad}: {summary(c)}")
    seen = srv.requests(token)
    check(len(seen) == n, f"the upstream saw {len(seen)} of {n}")
    order = [int(re.search(r"&i=(\d+)", r["path"])[1]) for r in seen]
    check(order == list(range(n)), f"the upstream got them in the order {order}")
    check(len({r["conn"] for r in seen}) == 1, "more than one upstream connection")
    overlaps = [(a["path"], b["path"]) for a, b in zip(seen, seen[1:]) if b["t0"] < a["t1"]]
    check(not overlaps, f"the upstream had these at once: {overlaps}")
    piped = [r["path"] for r in seen if r.get("pipelined")]
    check(not piped, f"pipelined (sent before the previous answer): {piped}")
    gaps = [b["t0"] - a["t1"] for a, b in zip(seen, seen[1:])]
    return f"{n} on one upstream connection, in order, never two at once, none pipelined; " \
           f"gap between answer and next request median {statistics.median(gaps) * 1e3:.2f} ms"


@scenario("h1up_keepalive", needs=["filter"])
def slow_first_answer_outlives_settings_timeout():
    # A fresh connection whose first answer takes longer than settings_timeout_ms: our
    # SETTINGS can reach the client only with upstream bytes, so its ACK cannot come sooner.
    ms = SETTINGS_TIMEOUT_MS * 3 // 2
    c = H2Client(port("H2C_PORT"))
    try:
        sid = c.open("GET", f"/sleep?ms={ms}&first")
        wait_streams(c, [sid], "the slow first answer")
        again = c.open("GET", "/?after-slow-first")
        wait_streams(c, [again], "the next answer")
    finally:
        c.close()
    check(c.streams[sid]["status"] == 200 and c.streams[sid]["body"] == b"slept\n", summary(c))
    check(c.streams[again]["status"] == 200, summary(c))
    check(not c.goaways, f"GOAWAY: {summary(c)}")
    return f"first answer after {ms} ms (settings_timeout_ms {SETTINGS_TIMEOUT_MS}), then another"


@scenario("h1up_keepalive", needs=["filter"])
def queued_request_times_out_503():
    srv = STATE["keepalive"]
    token = secrets.token_hex(4)
    c = H2Client(port("H2C_PORT"))
    try:
        c.get("/?settled")  # SETTINGS exchanged: the connection is past its start
        slow = c.open("GET", f"/sleep?ms=2000&{token}&slow")
        queued = c.open("GET", f"/?{token}&queued")
        times = wait_streams(c, [slow, queued], "both answers")
        after = c.open("GET", f"/?{token}&after")  # the connection still works
        wait_streams(c, [after], "a request after the 503")
    finally:
        c.close()
    S = c.streams
    detail = f"503 after {times.get(queued, 0):.2f} s, 200 after {times.get(slow, 0):.2f} s"
    check(S[slow]["status"] == 200 and S[slow]["reset"] is None, f"slow request: {summary(c)}")
    check(S[queued]["status"] == 503 and S[queued]["ended"], f"queued request: {summary(c)}")
    check(S[after]["status"] == 200, f"request after the 503: {summary(c)}")
    paths = [r["path"] for r in srv.requests(token)]
    check(not any("queued" in p for p in paths), f"the timed-out request reached the upstream: {paths}")
    # Under Envoy's proxy-wasm write rules a filter writes to the client only in an upstream
    # callback, and an upstream busy with the slow request sends nothing before its answer:
    # the .wasm's 503 leaves with the upstream's next bytes (README, "HTTP/1.1 clients and
    # upstreams"), not after them. The native module writes it when the timer fires, well
    # before the 2 s answer.
    if NATIVE:
        check(times[queued] < times[slow] - 0.5,
              f"{detail}: the 503 did not come before the slow answer (queue_timeout_ms {QUEUE_TIMEOUT_MS})")
    else:
        check(times[queued] <= times[slow] + 0.2,
              f"{detail}: the 503 came after the slow answer (queue_timeout_ms {QUEUE_TIMEOUT_MS})")
    return detail


@scenario("h1up_keepalive", needs=["filter"])
def connection_close_then_goaway():
    token = secrets.token_hex(4)
    c = H2Client(port("H2C_PORT"))
    try:
        bye = c.open("GET", f"/close?{token}")
        queued = c.open("GET", f"/?{token}&queued")
        # The queued stream's refusal is waited for below only if it comes: see the check.
        wait_streams(c, [bye], "the answer and the close", eof=True)
    finally:
        c.close()
    S = c.streams
    check(S[bye]["status"] == 200 and S[bye]["ended"] and S[bye]["body"] == b"closing\n", summary(c))
    check(c.goaways and c.goaways[-1].error_code == ErrorCodes.NO_ERROR, f"GOAWAY: {summary(c)}")
    check(c.goaways[-1].last_stream_id == bye, f"last-stream-id {c.goaways[-1].last_stream_id}")
    check_not_processed(c, queued, bye)
    paths = [r["path"] for r in STATE["keepalive"].requests(token)]
    check(paths == [f"/close?{token}"], f"the upstream saw {paths}")
    return ", ".join(c.timeline + ["EOF"])


# ---------------------------------------------------------------- malformed responses

# What the raw upstream answers, by request path; each answer is a list of writes with a
# pause between them (so that a head can go out before what follows it).
MALFORMED = {
    "/cl-te": [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n0\r\n\r\n"],
    "/bad-chunk": [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
                   b"zz\r\nnot a chunk\r\n0\r\n\r\n"],
    "/ok": [b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n"],
}


class RawUpstream:
    """Answers each request on a connection with MALFORMED[path]; then, if the proxy has not
    closed yet, waits up to 5 s for it to (records "closed by the proxy" or "still open")."""

    def __init__(self, log_path):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.log = open(log_path, "a", buffering=1)
        self.events = []
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def note(self, n, line):
        with self.lock:
            self.events.append((n, line))
        if not self.log.closed:
            self.log.write(f"{time.strftime('%H:%M:%S')} conn {n}: {line}\n")

    def accept(self):
        n = 0
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            n += 1
            threading.Thread(target=self.serve, args=(sock, n), daemon=True).start()

    def serve(self, sock, n):
        sock.settimeout(5)
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = sock.recv(65536)
                    if not chunk:
                        self.note(n, "closed by the proxy")
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                path = head.split(b" ")[1].decode().split("?")[0]
                self.note(n, f"request {head.splitlines()[0].decode()!r}")
                for i, part in enumerate(MALFORMED.get(path, MALFORMED["/ok"])):
                    if i:
                        time.sleep(0.3)
                    sock.sendall(part)
        except socket.timeout:
            self.note(n, "still open 5 s after the last answer")
        except OSError as e:
            self.note(n, f"socket error: {e}")
        finally:
            sock.close()

    def conn_events(self, n):
        with self.lock:
            return [line for k, line in self.events if k == n]

    def stop(self):
        self.listener.close()
        self.log.close()


def phase_malformed():
    up = STATE["raw"] = RawUpstream(run_dir("h1up_raw_upstream.log"))
    h1up_envoy("envoy-h1up-bad", "h2mux-h1up-malformed.yaml",
               {"CONFIG_JSON": H1, "UPSTREAM_PORT": str(up.port)})


def stop_malformed():
    up = STATE.pop("raw", None)
    if up:
        up.stop()


def last_conn(up, token):
    with up.lock:
        return next(n for n, line in reversed(up.events) if token in line)


@scenario("h1up_malformed", needs=["filter"])
def content_length_and_chunked_gives_502():
    up = STATE["raw"]
    token = secrets.token_hex(4)
    mark = len(h2mux_log())
    c = H2Client(port("H2C_PORT"))
    try:
        bad = c.open("GET", f"/cl-te?{token}")
        queued = c.open("GET", f"/ok?{token}")
        wait_streams(c, [bad], "the 502 and the close", eof=True)
    finally:
        c.close()
    S = c.streams
    check(S[bad]["status"] == 502 and S[bad]["ended"], f"malformed answer: {summary(c)}")
    check_not_processed(c, queued, bad)
    check(c.goaways and c.goaways[-1].error_code == ErrorCodes.NO_ERROR, f"GOAWAY: {summary(c)}")
    n = last_conn(up, token)
    ev = poll_events(up, n)
    check(ev[-1] == "closed by the proxy", f"the upstream connection: {ev}")
    check(not any("/ok" in e for e in ev), f"the queued request reached this upstream connection: {ev}")
    said = h2mux_said("upstream response refused", mark)
    return ", ".join(c.timeline + ["EOF"]) + f"; upstream: {ev[-1]}; h2mux: {said}"


def poll_events(up, n, timeout=7):
    deadline = time.monotonic() + timeout
    while True:
        ev = up.conn_events(n)
        if ev and not ev[-1].startswith("request") or time.monotonic() > deadline:
            return ev
        time.sleep(0.02)


@scenario("h1up_malformed", needs=["filter"])
def bad_chunk_after_head_resets_stream():
    up = STATE["raw"]
    token = secrets.token_hex(4)
    c = H2Client(port("H2C_PORT"))
    try:
        sid = c.open("GET", f"/bad-chunk?{token}")
        wait_streams(c, [sid], "the reset", eof=True)
    finally:
        c.close()
    s = c.streams[sid]
    check(s["status"] == 200 and bytes(s["body"]) == b"hello", f"the head and the good chunk: {summary(c)}")
    check(s["reset"] is not None and not s["ended"], f"the stream was not reset: {summary(c)}")
    check(c.goaways, f"no GOAWAY: {summary(c)}")
    ev = poll_events(up, last_conn(up, token))
    check(ev[-1] == "closed by the proxy", f"the upstream connection: {ev}")
    return ", ".join(c.timeline + ["EOF"]) + f"; upstream: {ev[-1]}"


@scenario("h1up_malformed", needs=["filter"])
def h1_client_content_length_and_chunked_gives_502():
    p = run(["curl", "-sS", "--max-time", "10", "--http1.1", "-o", os.devnull, "-w",
             "%{http_code} %{http_version}", url("/cl-te?h1")], timeout=15)
    check(p.returncode == 0, f"curl exit {p.returncode}: {p.stderr.decode().strip()}")
    check(p.stdout.decode().split() == ["502", "1.1"], f"curl got {p.stdout!r}")
    return "HTTP/1.1 502"


# ---------------------------------------------------------------- concurrency

SHAPES = [("-c 1 -m 10", ["-c", "1", "-m", "10"]), ("-c 10 -m 1", ["-c", "10", "-m", "1"])]
SETUPS = [  # name, template, upstream, CONFIG_JSON, listener port variable
    ("h2mux, HTTP/1.1 upstream (nginx)", H2MUX, "nginx", H1, "H2C_PORT"),
    ("h2mux, HTTP/2 upstream (nghttpd)", H2MUX, "nghttpd", "{}", "H2C_PORT"),
    ("Envoy HCM, HTTP/1.1 cluster (nginx)", "hcm-h1", "nginx", "{}", "HCM_PORT"),
]
SLOW_MS = 10
SLOW_SETUPS = [
    (f"h2mux, HTTP/1.1 upstream ({SLOW_MS} ms)", H2MUX, "slow", H1, "H2C_PORT"),
    (f"Envoy HCM, HTTP/1.1 cluster ({SLOW_MS} ms)", "hcm-h1", "slow", "{}", "HCM_PORT"),
]


def start_envoys(key, setups, upstream_ports):
    """One Envoy per set-up, on ports of its own (envoy-KEY0, envoy-KEY1...)."""
    STATE[key] = []
    for i, (name, template, upstream, config, var) in enumerate(setups):
        ports = {v: str(free_port()) for v in ("ADMIN_PORT", "H2C_PORT", "TLS_PORT", "HCM_PORT")}
        need_envoy(template, f"envoy-{key}{i}", f"{template}-{key}{i}.yaml",
                   {**ports, "CONFIG_JSON": config, "UPSTREAM_PORT": str(upstream_ports[upstream])})
        STATE[key].append((name, int(ports[var])))


def phase_compare():
    p = free_port()
    lib("spawn", "h1up_nghttpd", "nghttpd", "--no-tls", "-a", "127.0.0.1", "-d", CFG["E2E_WWW"], str(p))
    lib("wait_port", str(p), "h1up_nghttpd", "10")
    start_envoys("cmp", SETUPS, {"nginx": STATE["nginx_port"], "nghttpd": p})


def phase_compare_slow():
    srv = STATE["slow_server"] = KeepAliveServer(run_dir("h1up_slow.log"))
    start_envoys("slow", SLOW_SETUPS, {"slow": srv.server_address[1]})


def stop_slow():
    srv = STATE.pop("slow_server", None)
    if srv:
        srv.stop()


def rate_table(key, path, n, rounds, title):
    rates = {(name, shape): [] for name, _ in STATE[key] for shape, _ in SHAPES}
    for name, p in STATE[key]:  # warm-up: connections and VMs
        h2load("-n", "100", "-c", "2", "-m", "2", f"http://127.0.0.1:{p}{path}", total=100)
    # Rounds alternate the set-ups so that machine noise hits them alike.
    for _ in range(rounds):
        for shape, args in SHAPES:
            for name, p in STATE[key]:
                r = h2load("-n", str(n), *args, f"http://127.0.0.1:{p}{path}", total=n)
                rates[(name, shape)].append(float(r.split()[0]))
    width = max(len(name) for name, _ in STATE[key])
    lines = [f"{title}: h2load -n {n} GET {path}, req/s (mean of {rounds} round(s)), "
             f"Envoy --concurrency {os.environ.get('ENVOY_CONCURRENCY', '2')}",
             f"{'':{width}}  " + "  ".join(f"{shape:>11}" for shape, _ in SHAPES)]
    for name, _ in STATE[key]:
        lines.append(f"{name:{width}}  " + "  ".join(
            f"{statistics.mean(rates[(name, shape)]):11.0f}" for shape, _ in SHAPES))
    text = "\n".join(lines) + "\n"
    with open(run_dir("h1up-concurrency.txt"), "a") as f:
        f.write(text + "\n")
    print("  " + text.rstrip().replace("\n", "\n  "))
    return "written to h1up-concurrency.txt"


@scenario("h1up_compare", needs=["filter"])
def concurrency_one_upstream_connection():
    rounds = int(os.environ.get("H1UP_ROUNDS", "2"))
    return rate_table("cmp", "/index.html", 3000, rounds, "a fast upstream (a 19-byte file)")


@scenario("h1up_compare_slow", needs=["filter"])
def concurrency_slow_upstream():
    # Each answer takes SLOW_MS: one upstream connection serves at most 1000 / SLOW_MS a second.
    return rate_table("slow", f"/sleep?ms={SLOW_MS}", 300, 1, f"an upstream taking {SLOW_MS} ms an answer")


PASS = [  # (phase, set-up, processes to stop afterwards, or functions that stop), as in run.py
    ("h1up", phase_h1up, ["envoy-h1up"]),
    ("h1up_close", phase_close, ["envoy-h1up-close", "h1up_http10"]),
    ("h1up_keepalive", phase_keepalive, ["envoy-h1up-ka", stop_keepalive]),
    ("h1up_malformed", phase_malformed, ["envoy-h1up-bad", stop_malformed]),
    ("h1up_compare", phase_compare, ["envoy-cmp0", "envoy-cmp1", "envoy-cmp2", "h1up_nghttpd"]),
    ("h1up_compare_slow", phase_compare_slow, ["envoy-slow0", "envoy-slow1", stop_slow]),
]
