"""The "attacks" phase of run.py's demo pass: the HTTP/2 attacks of
wasm-tests/tests/host_attacks.rs replayed through the real Envoy, for whichever artifact the
run uses (dist/h2mux.wasm, or dist/libh2mux.so with E2E_ARTIFACT=native).

Each scenario (attack_*) opens a raw TCP connection to its own Envoy (envoy-attacks, free
ports, CONFIG below), sends hand-built frames (header blocks from hpack.Encoder), and checks
what h2mux answers, as the wasmtime test does: the GOAWAY and its code, RST_STREAM codes, the
close, each within PATIENCE seconds. Meanwhile a legitimate client (run.H2Client) on another
connection downloads and uploads, byte for byte, before, during and after the attack. What
reached the upstream is what the demo upstream's GET /stats counted, less the legitimate
client's requests; the streams h2mux made of the attacker's requests come from its
h2mux_client_requests_http2_total (h2mux_upstream_requests_http2_total moves with it: it
counts streams by the upstream's protocol, also those reset before their HEADERS went out).
At the end Envoy must still run (its process alive, /ready LIVE), h2mux must count no
internal error, and both connections must be gone from h2mux_connections_active.

The "attacks-node" phase replays the same attacks, with the same expectations, through
h2mux-node (dist/js/bin/h2mux-node.js, `make js`) in front of the same demo upstream: one
process and one RelayGroup (one quota, as one Envoy worker), its counters from its --metrics
listener, its health its process and its RSS. Its scenarios are named node_attack_*; they run
once per suite run (the .wasm pass).

Alone: E2E_AUTO_PORTS=1 [E2E_ARTIFACT=native] .venv/bin/python tests/e2e/run.py -k attack_
"""

import json
import os
import random
import select
import socket
import threading
import time
import urllib.request

import hpack

from run import (CFG, H2MUX, H2MUX_NODE, H2_PREFACE, SCENARIOS, STAT_NS, F_ACK, F_END_HEADERS,
                 F_END_STREAM, F_PRIORITY, T_CONTINUATION, T_DATA, T_GOAWAY, T_HEADERS, T_NAMES,
                 T_PING, T_RST_STREAM, T_SETTINGS, T_WINDOW_UPDATE, H2Client, Fail, check, code_name, free_port, h2_frame, h2_frames,
                 lib, need_envoy, pattern, scenario)

T_PRIORITY = 2
S_INITIAL_WINDOW_SIZE = 4
NO_ERROR, PROTOCOL_ERROR, FLOW_CONTROL_ERROR = 0x0, 0x1, 0x3
CANCEL, ENHANCE_YOUR_CALM = 0x8, 0xB

# The plugin configuration of this phase's Envoy. The quota is host_attacks.rs's (1 MiB per
# VM, i.e. per Envoy worker: 64 buffers of 16 KiB, so the attacker and the legitimate client
# compete for little memory). The other keys are h2mux's defaults (src/limits.rs), written
# out because the bounds asserted below are computed from them.
CONFIG = {
    "quota_bytes": 1 << 20,
    "glitch_threshold": 1000,
    "glitch_decay_per_sec": 100,
    "max_concurrent_streams": 100,
    "max_pending_resets": 64,
    "max_continuation_frames": 32,
    "max_header_block": 32 * 1024,
    "max_header_list_size": 32 * 1024,
    "max_settings_entries": 32,
}
# What each glitch costs (src/limits.rs, Glitch::points; not configurable). A connection's
# score decays by glitch_decay_per_sec; at 3/4 of glitch_threshold h2mux sends a graceful
# GOAWAY(NO_ERROR), at glitch_threshold GOAWAY(ENHANCE_YOUR_CALM) and closes.
POINTS = {"early_reset": 10, "own_reset": 10, "empty_frame": 5, "tiny_continuation": 10,
          "control_frame": 1, "tiny_window_update": 1}
ENVOY_WORKERS = int(os.environ.get("ENVOY_CONCURRENCY", "2"))  # lib.sh's default; one VM (and quota) each
PATIENCE = 5.0  # seconds an attacker waits for h2mux's answer or its close
LEGIT_TIMEOUT = 5  # seconds the legitimate client waits for one response
PROBE = b"probe!!!"  # the attacker's PING payload: the connection still answers
DOORBELL = b"h2mux-db"  # the PING h2mux rings toward a client (.wasm only, ARCHITECTURE.md)
ENVOY_NAME = "envoy-attacks"
NODE_NAME = "h2mux_node_attacks"
PORTS = {}  # this phase's proxy: H2C_PORT; Envoy's ADMIN_PORT and TLS_PORT, h2mux-node's METRICS_PORT
TARGET = {"name": ENVOY_NAME, "node": False, "workers": ENVOY_WORKERS}  # the proxy attacked


def phase():
    TARGET.update(name=ENVOY_NAME, node=False, workers=ENVOY_WORKERS)
    PORTS.clear()
    PORTS.update({k: str(free_port()) for k in ("ADMIN_PORT", "H2C_PORT", "TLS_PORT")})
    need_envoy(H2MUX, ENVOY_NAME, "h2mux-attacks.yaml", {**PORTS, "CONFIG_JSON": json.dumps(CONFIG)})


def phase_node():
    """h2mux-node with CONFIG in front of the demo upstream: one RelayGroup, one quota."""
    check(os.path.isfile(H2MUX_NODE), f"no {H2MUX_NODE} (make js)")
    TARGET.update(name=NODE_NAME, node=True, workers=1)
    PORTS.clear()
    PORTS.update({k: str(free_port()) for k in ("H2C_PORT", "METRICS_PORT")})
    lib("spawn", NODE_NAME, "node", H2MUX_NODE, "--listen", f"127.0.0.1:{PORTS['H2C_PORT']}",
        "--upstream", f"127.0.0.1:{CFG['UPSTREAM_PORT']}", "--config", json.dumps(CONFIG),
        "--metrics", f"127.0.0.1:{PORTS['METRICS_PORT']}")
    lib("wait_port", PORTS["H2C_PORT"], NODE_NAME, "10")
    lib("wait_port", PORTS["METRICS_PORT"], NODE_NAME, "10")


def budget(kind, seconds):
    """The most events of one glitch kind h2mux can take from a connection in `seconds`:
    glitch_threshold and what decays meanwhile, the last event included."""
    allowed = CONFIG["glitch_threshold"] + CONFIG["glitch_decay_per_sec"] * seconds
    return int(allowed // POINTS[kind]) + 1


def to_threshold(kind):
    """How many events of that kind, after the attacker's handshake SETTINGS (a ControlFrame
    point), bring the score to glitch_threshold when nothing decays."""
    return -(-(CONFIG["glitch_threshold"] - POINTS["control_frame"]) // POINTS[kind])


# ---------------------------------------------------------------- Envoy and its counters

def admin(path):
    """Envoy's admin PATH; h2mux-node's /metrics whatever PATH."""
    if TARGET["node"]:
        with urllib.request.urlopen(f"http://127.0.0.1:{PORTS['METRICS_PORT']}/metrics", timeout=5) as r:
            return r.read().decode()
    with urllib.request.urlopen(f"http://127.0.0.1:{PORTS['ADMIN_PORT']}{path}", timeout=5) as r:
        return r.read().decode()


def metrics():
    """Every h2mux counter and gauge of this phase's Envoy: {name: value} (names without the
    stat namespace; histograms left out). Per-code and per-rule counters are defined on first
    use by the .wasm, at start by the native module: a missing one is 0."""
    out = {}
    if TARGET["node"]:  # Prometheus text: "name value" lines
        for line in admin("/metrics").splitlines():
            k, _, v = line.partition(" ")
            if k.startswith("h2mux_") and v.isdigit():
                out[k] = int(v)
        return out
    for line in admin(f"/stats?filter=^{STAT_NS}\\.h2mux_").splitlines():
        k, _, v = line.partition(": ")
        if v.lstrip("-").isdigit():
            out[k.removeprefix(STAT_NS + ".")] = int(v)
    return out


def envoy_alive():
    """The proxy attacked still runs (Envoy: and says LIVE)."""
    name = TARGET["name"]
    rc = os.path.join(CFG["RUN_DIR"], name + ".rc")  # lib.sh writes it when the process ends
    if os.path.exists(rc):
        raise Fail(f"{name} exited with code {open(rc).read().strip()}")
    pid = int(open(os.path.join(CFG["RUN_DIR"], name + ".cpid")).read())
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        raise Fail(f"{name} (pid {pid}) is gone")
    check(state != "Z", f"{name} (pid {pid}) is a zombie")
    if TARGET["node"]:
        return
    ready = admin("/ready").strip()
    check(ready == "LIVE", f"{ENVOY_NAME} /ready says {ready!r}")


def envoy_cx():
    """Envoy's own count of open connections, both sides (for failure messages)."""
    if TARGET["node"]:
        return "(h2mux-node: no such count)"
    return ", ".join(l for l in admin("/stats?filter=(downstream|upstream)_cx_active$").splitlines()
                     if not l.endswith(": 0"))


def envoy_rss_kib():
    pid = int(open(os.path.join(CFG["RUN_DIR"], TARGET["name"] + ".cpid")).read())
    with open(f"/proc/{pid}/status") as f:
        return int(next(l.split()[1] for l in f if l.startswith("VmRSS:")))


def upstream_routes():
    """The demo upstream's request counts by route (GET /stats, asked directly)."""
    c = H2Client(int(CFG["UPSTREAM_PORT"]), timeout=LEGIT_TIMEOUT)
    try:
        s = c.get("/stats")
    finally:
        c.close()
    return {k: v["requests"] for k, v in json.loads(bytes(s["body"]))["routes"].items()}


# ---------------------------------------------------------------- the attacker

class Raw:
    """An attacker's connection: hand-built frames on a raw socket. Every frame received is
    kept (frames: [(type, flags, stream, payload)]); response heads are decoded, DATA
    gathered per stream (streams). A write that fails and a TCP reset count as the close."""

    def __init__(self, p):
        self.sock = socket.create_connection(("127.0.0.1", p), timeout=PATIENCE)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.t0 = time.monotonic()
        self.deadline = self.t0 + PATIENCE
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.dec.max_header_list_size = 1 << 20
        self.buf = b""
        self.frames = []
        self.streams = {}  # id: {"headers": [...], "body": bytearray, "ended": bool}
        self.block = None  # (stream, fragments, END_STREAM) of a head in CONTINUATIONs
        self.sent = 0
        self.eof = False  # the proxy closed (FIN or reset)
        self.reset = False  # ... with a TCP reset
        self.broken = False  # a write failed: the proxy is gone
        self.closed_after = None  # seconds from the start to the close

    def close(self):
        self.sock.close()

    # -- writing

    def send(self, data):
        """Writes data, stopping at the close. It does not read (the attacks of the table do
        not), unless the proxy took nothing for a second: then it reads, so that the test
        cannot wedge itself on full socket buffers."""
        view = memoryview(data)
        last = time.monotonic()
        while view and not self.broken and not self.eof:
            now = time.monotonic()
            check(now < self.deadline, f"the proxy took {self.sent} B and then nothing for "
                  f"{PATIENCE}s; {self.summary()}")
            _, w, _ = select.select([], [self.sock], [], 0.05)
            if w:
                try:
                    n = self.sock.send(view[:1 << 16])
                except BlockingIOError:
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    self.broken = True
                    break
                view, last = view[n:], now
                self.sent += n
            elif now - last > 1.0:
                self.fill(0.05)

    def handshake(self, entries=()):
        """Preface and SETTINGS, then reads until h2mux's SETTINGS and acknowledges it."""
        self.send(H2_PREFACE + settings(entries))
        check(self.until(lambda f: f[0] == T_SETTINGS and not f[1] & F_ACK) is not None,
              f"no SETTINGS from h2mux: {self.summary()}")
        self.send(h2_frame(T_SETTINGS, F_ACK, 0))

    def request(self, sid, path, method="GET", end_stream=True, extra=(), raw_fields=b"",
                priority=None, index=True):
        """A HEADERS frame: the request's fields from hpack.Encoder, then raw_fields (hand-made
        HPACK that must not change the dynamic table, or the encoder's copy goes stale).
        priority: (dependency, weight) sets the PRIORITY flag. index=False: the request's own
        fields stay out of the dynamic table (extra ones still go in)."""
        fields = [(":method", method), (":scheme", "http"), (":path", path), (":authority", "127.0.0.1")]
        if not index:
            fields = [hpack.NeverIndexedHeaderTuple(k, v) for k, v in fields]
        fields += list(extra)
        block = self.enc.encode(fields) + raw_fields
        flags = F_END_HEADERS | (F_END_STREAM if end_stream else 0)
        if priority:
            flags |= F_PRIORITY
            block = priority[0].to_bytes(4, "big") + bytes([priority[1]]) + block
        return h2_frame(T_HEADERS, flags, sid, block)

    # -- reading

    def fill(self, timeout):
        """Reads what arrives within timeout seconds; False once the proxy closed."""
        if self.eof:
            return False
        r, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if not r:
            return True
        try:
            data = self.sock.recv(1 << 20)
        except BlockingIOError:
            return True
        except ConnectionResetError:
            data, self.reset = b"", True
        if not data:
            self.eof, self.closed_after = True, time.monotonic() - self.t0
            return False
        frames, self.buf = h2_frames(self.buf + data)
        for f in frames:
            self.on_frame(f)
        return True

    def on_frame(self, f):
        self.frames.append(f)
        kind, flags, sid, payload = f
        if kind == T_HEADERS:
            if flags & 0x8:  # PADDED
                payload = payload[1:len(payload) - payload[0]]
            if flags & F_PRIORITY:
                payload = payload[5:]
            self.block = (sid, payload, bool(flags & F_END_STREAM))
        elif kind == T_CONTINUATION and self.block:
            self.block = (sid, self.block[1] + payload, self.block[2])
        elif kind == T_DATA:
            s = self.streams.setdefault(sid, {"headers": None, "body": bytearray(), "ended": False})
            s["body"] += payload[1:len(payload) - payload[0]] if flags & 0x8 and payload else payload
            s["ended"] |= bool(flags & F_END_STREAM)
        if kind in (T_HEADERS, T_CONTINUATION) and flags & F_END_HEADERS and self.block:
            sid, block, end = self.block
            self.block = None
            s = self.streams.setdefault(sid, {"headers": None, "body": bytearray(), "ended": False})
            fields = dict(self.dec.decode(block, raw=True))  # trailers too: the table must follow
            s["headers"] = s["headers"] or fields
            s["ended"] |= end

    def until(self, pred):
        """Reads until a frame received from now on matches (returns it); None at the close;
        Fail past the deadline."""
        seen = len(self.frames)
        while True:
            hit = next((f for f in self.frames[seen:] if pred(f)), None)
            if hit:
                return hit
            seen = len(self.frames)
            check(time.monotonic() < self.deadline, f"nothing matching in {PATIENCE}s: {self.summary()}")
            if not self.fill(self.deadline - time.monotonic()):
                return None

    def read_to_end(self):
        """Reads until the proxy closes; Fail if it does not within the deadline."""
        while self.fill(self.deadline - time.monotonic()):
            check(time.monotonic() < self.deadline,
                  f"the connection was not closed within {PATIENCE}s: {self.summary()}")

    def probe(self):
        """A PING; True when its ACK comes (the connection still works), False at the close."""
        self.send(h2_frame(T_PING, 0, 0, PROBE))
        return self.until(lambda f: f[0] == T_PING and f[1] & F_ACK and f[3] == PROBE) is not None

    def wait_stream(self, sid):
        """Reads until stream sid's response ended, a GOAWAY or RST_STREAM came, or the close;
        returns the stream ({} when nothing came)."""
        while not self.streams.get(sid, {}).get("ended"):
            if any(f[0] == T_GOAWAY or f[0] == T_RST_STREAM and f[2] == sid for f in self.frames):
                break
            check(time.monotonic() < self.deadline,
                  f"no end of stream {sid} in {PATIENCE}s: {self.summary()}")
            if not self.fill(self.deadline - time.monotonic()):
                break
        return self.streams.get(sid, {})

    # -- what came

    def count(self, kind, ack=None):
        return sum(1 for f in self.frames if f[0] == kind and (ack is None or bool(f[1] & F_ACK) == ack))

    def goaways(self):
        return [int.from_bytes(f[3][4:8], "big") for f in self.frames if f[0] == T_GOAWAY]

    def resets(self):
        """RST_STREAM codes received, in order."""
        return [int.from_bytes(f[3][:4], "big") for f in self.frames if f[0] == T_RST_STREAM]

    def summary(self):
        counts = {}
        for f in self.frames:
            name = T_NAMES.get(f[0], f"type {f[0]}")
            if f[0] in (T_SETTINGS, T_PING) and f[1] & F_ACK:
                name += " ACK"
            counts[name] = counts.get(name, 0) + 1
        got = ", ".join(f"{k} x{v}" for k, v in counts.items()) or "nothing"
        gw = ", ".join(code_name(c) for c in self.goaways())
        end = (f"closed after {self.closed_after:.2f}s" + (" (TCP reset)" if self.reset else "")
               if self.eof else "open")
        return f"sent {self.sent} B; received {got}" + (f"; GOAWAY {gw}" if gw else "") + f"; {end}"


def settings(entries):
    payload = b"".join(k.to_bytes(2, "big") + v.to_bytes(4, "big") for k, v in entries)
    return h2_frame(T_SETTINGS, 0, 0, payload)


def window_update(sid, inc):
    return h2_frame(T_WINDOW_UPDATE, 0, sid, inc.to_bytes(4, "big"))


def rst_stream(sid, code):
    return h2_frame(T_RST_STREAM, 0, sid, code.to_bytes(4, "big"))


def ping(i):
    return h2_frame(T_PING, 0, 0, i.to_bytes(8, "big"))


# ---------------------------------------------------------------- the legitimate client

class Legit:
    """A well-behaved client on its own connection: each round a download (/bytes/N against
    the upstream's pattern) and an echoed upload (/echo), both byte for byte. round() runs
    in the caller; start() runs rounds on a thread until stop()."""

    def __init__(self, p):
        self.c = H2Client(p, timeout=LEGIT_TIMEOUT)
        self.requests = 0  # requests sent, each of which must reach the upstream
        self.during = 0  # rounds run while the attack went on
        self.error = None
        self.stopping = threading.Event()
        self.started = threading.Event()
        self.holding = threading.Event()  # hold(): no new round until release()
        self.idle = threading.Event()  # ... and the round under way is done
        self.thread = None

    def round(self, i):
        n = 20_000 + i * 37
        s = self.c.get(f"/bytes/{n}")
        check(s["status"] == 200 and bytes(s["body"]) == pattern(n),
              f"legitimate GET /bytes/{n}: status {s['status']}, {len(s['body'])} bytes, "
              f"{'the pattern' if bytes(s['body']) == pattern(n) else 'not the pattern'}")
        body = bytes((i * 7 + j * 13) & 0xFF for j in range(5000 + i))
        sid = self.c.open("POST", "/echo", end_stream=False)
        self.c.send_body(sid, body)
        s = self.c.finish(sid)
        check(s["status"] == 200 and bytes(s["body"]) == body,
              f"legitimate POST /echo ({len(body)} bytes): status {s['status']}, "
              f"{len(s['body'])} bytes back, {'equal' if bytes(s['body']) == body else 'different'}")
        self.requests += 2

    def _loop(self):
        i = 1
        try:
            while not self.stopping.is_set():
                self.started.set()
                if self.holding.is_set():
                    self.idle.set()
                    time.sleep(0.01)
                    continue
                self.round(i)
                self.during += 1
                i += 1
        except Exception as e:  # reported by stop()
            self.error = e
        finally:
            self.started.set()

    def start(self):
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        self.started.wait(LEGIT_TIMEOUT)

    def hold(self):
        """Waits for the round under way; none starts until release()."""
        self.holding.set()
        check(self.idle.wait(2 * LEGIT_TIMEOUT) or self.error, "the legitimate client is stuck")

    def release(self):
        self.idle.clear()
        self.holding.clear()

    def stop(self):
        self.stopping.set()
        self.thread.join(2 * LEGIT_TIMEOUT)
        check(not self.thread.is_alive(), "the legitimate client is stuck")
        if self.error:
            raise Fail(f"legitimate client during the attack: {type(self.error).__name__}: {self.error}")
        check(self.during >= 1, "no legitimate round overlapped the attack")

    def close(self):
        self.c.close()


# ---------------------------------------------------------------- one attack

class Outcome:
    def __init__(self, a, legit, d, routes, seconds):
        self.a, self.legit, self.d, self.routes, self.seconds = a, legit, d, routes, seconds

    def delta(self, name):
        return self.d.get(name, 0)

    def streams(self):
        """Requests of the attacker that h2mux took as streams and gave the relay (its
        h2mux_client_requests_http2_total, less the legitimate client's). Not all of them
        reach the upstream: a stream reset in the same read is dropped before its HEADERS go."""
        return self.delta("h2mux_client_requests_http2_total") - self.legit.requests

    def upstream_saw(self):
        """Requests of the attacker the demo upstream counted (its /stats, less the
        legitimate client's and the /stats requests themselves)."""
        return sum(v for k, v in self.routes.items() if k != "/stats") - self.legit.requests

    def report(self, extra=""):
        return (f"{self.a.summary()}; {self.legit.during} legitimate rounds during the attack; "
                f"attack {self.seconds:.2f}s" + (f"; {extra}" if extra else ""))


def run_attack(attack):
    """Runs attack(Raw) while the legitimate client goes on on another connection; then
    checks Envoy's health and returns an Outcome with the counters' deltas."""
    m0, r0 = metrics(), upstream_routes()
    legit = Legit(int(PORTS["H2C_PORT"]))
    a = None
    try:
        legit.round(0)
        legit.start()
        a = Raw(int(PORTS["H2C_PORT"]))
        a.legit = legit
        t = time.monotonic()
        try:
            attack(a)
        except BaseException:
            legit.stopping.set()  # the attack's failure is the one to report
            legit.thread.join(2 * LEGIT_TIMEOUT)
            raise
        seconds = time.monotonic() - t
        legit.stop()
        for i in range(3):
            legit.round(1000 + i)
    finally:
        legit.close()
        if a:
            a.close()
    envoy_alive()
    # Both connections are gone: h2mux must let go of them (the .wasm closes a finished
    # connection from a later tick, so this may take a few ticks).
    deadline = time.monotonic() + PATIENCE
    while True:
        m1 = metrics()
        if m1.get("h2mux_connections_active", 0) <= m0.get("h2mux_connections_active", 0):
            break
        check(time.monotonic() < deadline,
              f"h2mux_connections_active {m1.get('h2mux_connections_active')} {PATIENCE}s after "
              f"both connections closed (was {m0.get('h2mux_connections_active')} before); "
              f"Envoy's: {envoy_cx()}")
        time.sleep(0.05)
    time.sleep(0.05)  # counters gathered per VM are published on the next tick (tick_ms 10)
    m1, r1 = metrics(), upstream_routes()
    d = {k: v - m0.get(k, 0) for k, v in m1.items() if v != m0.get(k, 0)}
    routes = {k: v - r0.get(k, 0) for k, v in r1.items() if v != r0.get(k, 0)}
    check(d.get("h2mux_internal_errors_total", 0) == 0, f"h2mux counted internal errors: {d}")
    envoy_alive()
    return Outcome(a, legit, d, routes, seconds)


def check_calmed(o, graceful_first=True, rule="too_many_glitches"):
    """The attacker got GOAWAY(ENHANCE_YOUR_CALM) last, and the close. graceful_first: a
    GOAWAY(NO_ERROR) came first (h2mux's warning at 3/4 of glitch_threshold). rule: the
    violation counted (h2mux_client_violations_<rule>), or a tuple of them."""
    a = o.a
    codes = a.goaways()
    check(codes and codes[-1] == ENHANCE_YOUR_CALM, f"no GOAWAY(ENHANCE_YOUR_CALM) last: {a.summary()}")
    check(a.eof, f"the connection was not closed: {a.summary()}")
    want = [NO_ERROR, ENHANCE_YOUR_CALM] if graceful_first else [ENHANCE_YOUR_CALM]
    check(codes == want, f"GOAWAYs {[code_name(c) for c in codes]}, want "
          f"{[code_name(c) for c in want]}: {a.summary()}")
    check(o.delta("h2mux_client_goaways_sent_enhance_your_calm") == 1,
          f"h2mux_client_goaways_sent_enhance_your_calm grew by "
          f"{o.delta('h2mux_client_goaways_sent_enhance_your_calm')}, want 1")
    rules = (rule,) if isinstance(rule, str) else rule
    counted = {r: o.delta(f"h2mux_client_violations_{r}") for r in rules}
    check(sum(counted.values()) == 1, f"violations counted {counted}, want one of them once")


def check_nothing_upstream(o):
    """No request of the attacker became a stream (h2mux refused them all first), and the
    upstream saw none."""
    check(o.streams() == 0, f"h2mux made streams of {o.streams()} of the attacker's requests: {o.report()}")
    check(o.upstream_saw() == 0, f"the upstream counted {o.upstream_saw()} of the attacker's "
          f"requests: routes {o.routes}")


def goaway_detail(o):
    return " then ".join(code_name(c) for c in o.a.goaways())


# ---------------------------------------------------------------- the attacks of the table

PINGS = 20_000


@scenario("attacks", needs=["filter"])
def attack_ping_flood():
    """CVE-2019-9512: 20,000 PINGs, not reading. Each PING is a glitch point (ControlFrame):
    ACKs in place and in order up to the threshold, GOAWAY(NO_ERROR) at 3/4 of it, then
    ENHANCE_YOUR_CALM and the close. .wasm: the ACKs can only be written in an upstream
    event, so the filter rings the upstream (an empty SETTINGS) and keeps the PINGs the
    relay did not read; native: every reply goes out in the event that made it."""
    def attack(a):
        a.handshake()
        a.send(b"".join(ping(i) for i in range(PINGS)))
        a.probe()
        a.read_to_end()
    o = run_attack(attack)
    check_calmed(o)
    acks = [int.from_bytes(f[3], "big") for f in o.a.frames
            if f[0] == T_PING and f[1] & F_ACK and f[3] != PROBE]
    check(acks == list(range(len(acks))), f"PING ACKs out of order or not ours: {acks[:10]}...")
    # Every PING up to the threshold is acknowledged, not the one that reaches it; decay
    # lets a few more in.
    least, most = to_threshold("control_frame") - 1, budget("control_frame", o.seconds)
    check(least <= len(acks) <= most,
          f"{len(acks)} PING ACKs, want from {least} (glitch_threshold less the handshake's SETTINGS "
          f"and the last PING) to {most} (decay over {o.seconds:.2f}s): {o.a.summary()}")
    check_nothing_upstream(o)
    return o.report(f"{len(acks)} of {PINGS} PINGs acknowledged; GOAWAY {goaway_detail(o)}")


SETTINGS_FLOOD = 20_000


@scenario("attacks", needs=["filter"])
def attack_settings_flood():
    """CVE-2019-9515: 20,000 SETTINGS (3 entries each), not reading: at most glitch_threshold
    ACKs (each SETTINGS is a ControlFrame glitch point), GOAWAY(NO_ERROR), ENHANCE_YOUR_CALM,
    close. Then, on a second connection, one SETTINGS of 2,000 entries (more than
    max_settings_entries): ENHANCE_YOUR_CALM at once, no ACK for it."""
    def attack(a):
        a.handshake()
        a.send(b"".join(settings([(1, 4096), (2, 0), (4, 65_535 + i % 7)]) for i in range(SETTINGS_FLOOD)))
        a.probe()
        a.read_to_end()
    o = run_attack(attack)
    check_calmed(o)
    acks = o.a.count(T_SETTINGS, ack=True) - 1  # the handshake's SETTINGS has its ACK too
    least, most = to_threshold("control_frame") - 1, budget("control_frame", o.seconds)
    check(least <= acks <= most, f"{acks} SETTINGS ACKs, want from {least} to {most}: {o.a.summary()}")
    check_nothing_upstream(o)
    first = o.report(f"{acks} of {SETTINGS_FLOOD} SETTINGS acknowledged; GOAWAY {goaway_detail(o)}")

    entries = 2000
    check(entries > CONFIG["max_settings_entries"], "the big SETTINGS must break max_settings_entries")

    def big(a):
        a.handshake()
        a.send(settings([(0x100 + i, i) for i in range(entries)]))
        a.read_to_end()
    o = run_attack(big)
    check_calmed(o, graceful_first=False, rule="too_many_settings_entries")
    check(o.a.count(T_SETTINGS, ack=True) == 1, f"the big SETTINGS was acknowledged: {o.a.summary()}")
    return f"flood: {first}. {entries} entries: {o.a.summary()}"


PRIORITIES = 50_000


@scenario("attacks", needs=["filter"])
def attack_priority_churn():
    """CVE-2019-9513: 50,000 PRIORITY frames between random idle streams, then prioritised
    requests: ignored (RFC 9113 5.3.2), no glitch point, no answer; the connection keeps
    working: the PING probe is answered and every request gets its exact body."""
    rng = random.Random(9513)
    top = 1 << 21  # stream ids the churn names stay below

    def attack(a):
        a.handshake()
        b = []
        for i in range(PRIORITIES):
            s, dep = 1 + 2 * rng.randrange(top // 2), 1 + 2 * rng.randrange(top // 2)
            if dep != s:
                b.append(h2_frame(T_PRIORITY, 0, s, (dep | (i & 1) << 31).to_bytes(4, "big")
                                  + bytes([rng.randrange(256)])))
        a.send(b"".join(b))
        check(a.probe(), f"no PING ACK after the churn: {a.summary()}")
        # Requests on fresh stream ids above all the churn named, each with a priority.
        sids = [top + 1 + 2 * i for i in range(10)]
        for i, sid in enumerate(sids):
            dep = 1 + 2 * rng.randrange(top // 2) | (i & 1) << 31
            a.send(a.request(sid, f"/bytes/{1000 + i}", priority=(dep, rng.randrange(256))))
        for i, sid in enumerate(sids):
            s = a.wait_stream(sid)
            check(s.get("ended") and (s.get("headers") or {}).get(b":status") == b"200"
                  and bytes(s["body"]) == pattern(1000 + i),
                  f"prioritised request on stream {sid}: {s.get('headers')}, "
                  f"{len(s.get('body', b''))} bytes: {a.summary()}")
        a.fill(0.05)  # anything else h2mux would say
    o = run_attack(attack)
    check(not o.a.goaways() and not o.a.resets() and not o.a.eof, f"the churn was answered: {o.a.summary()}")
    pings = [f[3] for f in o.a.frames if f[0] == T_PING and f[3] not in (PROBE, DOORBELL)]
    check(not pings, f"PINGs other than the probe's ACK and doorbells: {pings[:5]}")
    # The only glitch points (h2mux_glitch_points_total counts the clients' side): the
    # attacker's SETTINGS and PING and the legitimate client's SETTINGS, a ControlFrame each.
    want = 3 * POINTS["control_frame"]
    check(o.delta("h2mux_glitch_points_total") == want,
          f"h2mux counted {o.delta('h2mux_glitch_points_total')} glitch points, want {want} "
          f"(none for the PRIORITY frames)")
    check(o.streams() == 10 and o.upstream_saw() == 10,
          f"{o.streams()} streams, {o.upstream_saw()} requests upstream, want the 10")
    return o.report(f"{PRIORITIES} PRIORITY frames ignored, 10 prioritised requests answered")


RESET_FLOOD = 5_000


@scenario("attacks", needs=["filter"])
def attack_reset_flood():
    """CVE-2019-9514: requests with an upper-case field name, each a stream error that costs
    an OwnReset glitch: glitch_threshold / 10 = 100 refused, then ENHANCE_YOUR_CALM and the
    close; no stream made, nothing upstream. The RST_STREAM(PROTOCOL_ERROR)s are queued (at
    most max_pending_resets at a time; h2mux stops reading until they are out), and those
    still queued when the connection ends are dropped: fewer arrive than were refused. The
    encoder indexes the bad field at its first use and refers to it after: the refused
    blocks must still be decoded (else COMPRESSION_ERROR)."""
    def attack(a):
        a.handshake()
        a.send(b"".join(a.request(1 + 2 * i, "/", extra=[("X-Upper", "v")]) for i in range(RESET_FLOOD)))
        a.probe()
        a.read_to_end()
    o = run_attack(attack)
    check_calmed(o)
    codes = o.a.resets()
    most = budget("own_reset", o.seconds)
    check(codes and set(codes) == {PROTOCOL_ERROR}, f"RST_STREAM codes {sorted(set(codes))}: {o.a.summary()}")
    refused = o.delta("h2mux_client_violations_uppercase_name")
    check(to_threshold("own_reset") <= refused <= most,
          f"h2mux refused {refused} requests, want {to_threshold('own_reset')} to {most}")
    check(len(codes) <= refused, f"{len(codes)} RST_STREAMs for {refused} refused requests")
    check_nothing_upstream(o)
    return o.report(f"{refused} requests refused, {len(codes)} RST_STREAM(PROTOCOL_ERROR) received; "
                    f"GOAWAY {goaway_detail(o)}")


ZERO_LENGTH = 2_000
EMPTY_FIELDS = 500


@scenario("attacks", needs=["filter"])
def attack_zero_length_headers():
    """CVE-2019-9516: requests of 500 fields each, an empty name and value (even streams) or
    the name "x" and an empty value (odd ones, more than max_header_fields): each refused
    (an OwnReset glitch) with RST_STREAM(PROTOCOL_ERROR), queued as in the reset flood; after
    100, ENHANCE_YOUR_CALM and the close; no stream made, nothing upstream. The fields are
    literals without indexing, hand-made (hpack.Encoder makes the rest)."""
    empty = b"\x00\x00\x00" * EMPTY_FIELDS  # literal without indexing, new name "", value ""
    named = b"\x00\x01x\x00" * EMPTY_FIELDS  # literal without indexing, new name "x", value ""

    def attack(a):
        a.handshake()
        a.send(b"".join(a.request(1 + 2 * i, "/", raw_fields=named if i % 2 else empty)
                        for i in range(ZERO_LENGTH)))
        a.probe()
        a.read_to_end()
    o = run_attack(attack)
    check_calmed(o)
    codes = o.a.resets()
    most = budget("own_reset", o.seconds)
    check(codes and set(codes) == {PROTOCOL_ERROR}, f"RST_STREAM codes {sorted(set(codes))}: {o.a.summary()}")
    rules = {r: o.delta(f"h2mux_client_violations_{r}")
             for r in ("empty_name", "too_many_fields", "header_list_too_large")
             if o.delta(f"h2mux_client_violations_{r}")}
    refused = sum(rules.values())
    check(to_threshold("own_reset") <= refused <= most,
          f"h2mux refused {refused} requests ({rules}), want {to_threshold('own_reset')} to {most}")
    check(len(codes) <= refused, f"{len(codes)} RST_STREAMs for {refused} refused requests")
    check_nothing_upstream(o)
    return o.report(f"{refused} requests refused ({rules}), {len(codes)} RST_STREAM(PROTOCOL_ERROR) "
                    f"received; GOAWAY {goaway_detail(o)}")


BUFFERING_STREAMS = 100
BUFFERING_BYTES = 4_000_000
BUFFERING_PINGS = 5_000


def tcp_max(name):
    """The kernel's largest TCP send or receive buffer (the third figure of tcp_wmem/rmem)."""
    return int(open(f"/proc/sys/net/ipv4/{name}").read().split()[2])


@scenario("attacks", needs=["filter"])
def attack_internal_buffering():
    """CVE-2019-9517: windows of 16 MiB per stream and 1 GiB for the connection, 100 downloads
    of 4 MB, and never a read; then 5,000 PINGs whose ACKs cannot leave. Memory stays bounded:
    every request reaches the upstream (max_concurrent_streams allows them), h2mux's byte
    counters stop moving long before the 400 MB asked (the upstream is back-pressured), what
    h2mux took from the upstream and did not write stays within its quota and
    max_held_upstream_bytes, the quota gauge within quota_bytes per worker, and Envoy's RSS
    grows by its buffers, not by the downloads. The legitimate client runs while the requests
    go out and after the PINGs; it pauses while the counters (Envoy-wide) are sampled."""
    check(BUFFERING_STREAMS <= CONFIG["max_concurrent_streams"], "the downloads must all be allowed")
    seen = {}

    def attack(a):
        rss0 = envoy_rss_kib()
        a.send(H2_PREFACE + settings([(S_INITIAL_WINDOW_SIZE, 16 << 20)]) + h2_frame(T_SETTINGS, F_ACK, 0)
               + window_update(0, 1 << 30))
        a.send(b"".join(a.request(1 + 2 * i, f"/bytes/{BUFFERING_BYTES}") for i in range(BUFFERING_STREAMS)))
        time.sleep(0.2)
        # The legitimate client pauses while the counters (Envoy-wide) are sampled, so that
        # they move by the attacker's bytes alone; it resumes for the rest of the attack.
        a.legit.hold()
        try:
            base = metrics()
            # Until the bytes stop: two samples 200 ms apart with the same counters.
            deadline, last = time.monotonic() + 3, None
            while True:
                time.sleep(0.2)
                m = metrics()
                now = tuple(m.get(k, 0) - base.get(k, 0) for k in ("h2mux_bytes_from_upstream",
                                                                   "h2mux_bytes_to_client"))
                if now == last or time.monotonic() > deadline:
                    break
                last = now
            seen.update(stalled=now == last, m=m)
            sent = a.sent
            a.send(b"".join(ping(i) for i in range(BUFFERING_PINGS)))
            time.sleep(0.3)
            end = metrics()
            seen.update(end=end, pings=a.sent - sent, rss=envoy_rss_kib() - rss0,
                        pings_read=(end.get("h2mux_bytes_from_client", 0)
                                    - m.get("h2mux_bytes_from_client", 0)),
                        calmed=end.get("h2mux_client_violations_too_many_glitches", 0)
                        - m.get("h2mux_client_violations_too_many_glitches", 0))
        finally:
            a.legit.release()
        time.sleep(0.1)
    m0 = metrics()
    o = run_attack(attack)
    m = seen["m"]
    moved = {k: m.get(k, 0) - m0.get(k, 0) for k in ("h2mux_bytes_from_upstream", "h2mux_bytes_to_client")}
    held = moved["h2mux_bytes_from_upstream"] - moved["h2mux_bytes_to_client"]
    # h2mux's own limits (README, "Plugin configuration"): its quota per VM, and at most
    # max_held_upstream_bytes (default 1 MiB) held while the relay cannot take them; frame
    # headers and the legitimate client's last round make the two counters differ a little.
    held_max = CONFIG["quota_bytes"] * TARGET["workers"] + (1 << 20) + 64 * 1024
    # What can sit between h2mux and the attacker's unread socket: Envoy's write buffer (its
    # per_connection_buffer_limit_bytes, BUFFER_LIMIT, 1 MiB by default: above it tcp_proxy
    # stops reading the upstream; twice that for a read in flight) and the two kernel
    # buffers at their largest.
    sent_max = 2 * int(os.environ.get("BUFFER_LIMIT", 1 << 20)) + tcp_max("tcp_wmem") + tcp_max("tcp_rmem")
    total = BUFFERING_STREAMS * BUFFERING_BYTES
    check(o.streams() == BUFFERING_STREAMS and o.upstream_saw() == BUFFERING_STREAMS,
          f"{o.streams()} streams, {o.upstream_saw()} downloads upstream, want {BUFFERING_STREAMS}")
    check(seen["stalled"], f"h2mux's byte counters still moved 3 s into the attack: {moved}")
    check(held <= held_max, f"h2mux took {held} B more from the upstream than it wrote, "
          f"at most {held_max} expected: {moved}")
    check(moved["h2mux_bytes_to_client"] <= sent_max + CONFIG["quota_bytes"],
          f"{moved['h2mux_bytes_to_client']} B went to a client that does not read, at most "
          f"{sent_max + CONFIG['quota_bytes']} expected")
    for when in ("m", "end"):
        q = seen[when].get("h2mux_quota_bytes_in_use", 0)
        check(q <= CONFIG["quota_bytes"] * TARGET["workers"],
              f"h2mux_quota_bytes_in_use {q} above {TARGET['workers']} x quota_bytes {CONFIG['quota_bytes']}")
    rss_max = held_max + sent_max + (32 << 20)  # and 32 MiB for Envoy's own allocations
    check(seen["rss"] * 1024 <= rss_max, f"Envoy's RSS grew by {seen['rss']} KiB during the attack, "
          f"at most {rss_max >> 10} KiB expected")
    # The PINGs: in wasmtime (host_attacks.rs) the .wasm stops reading the attacker once its
    # ACKs cannot leave. Behind Envoy they can: Envoy's write buffer takes them (the .wasm
    # writes them in the upstream event its doorbell brings, the native module at once), so
    # h2mux reads the PINGs and its glitch meter ends the connection. Either way the flood is
    # not served without end: h2mux stopped reading, or it ended the connection.
    check(seen["pings_read"] < seen["pings"] or seen["calmed"] == 1,
          f"h2mux read all {seen['pings']} B of PINGs and kept the connection")
    return o.report(f"{o.upstream_saw()} downloads of {BUFFERING_BYTES} B upstream; of {total} B "
                    f"asked, h2mux took {moved['h2mux_bytes_from_upstream']} B from the upstream and "
                    f"wrote {moved['h2mux_bytes_to_client']} B to the attacker, then stopped; quota in "
                    f"use {seen['m'].get('h2mux_quota_bytes_in_use', 0)} B; {'h2mux-node' if TARGET['node'] else 'Envoy'} RSS +{seen['rss']} KiB; "
                    f"of {seen['pings']} B of PINGs h2mux read {seen['pings_read']} B"
                    + (", and ended the connection (too many glitches)" if seen["calmed"] else ""))


EMPTY_FRAMES = 10_000


@scenario("attacks", needs=["filter"])
def attack_empty_frames():
    """CVE-2019-9518: an upload (POST /sha256) followed by 10,000 empty DATA frames without
    END_STREAM: each a glitch (EmptyFrame), GOAWAY(NO_ERROR) then ENHANCE_YOUR_CALM, close.
    Then a header block of empty CONTINUATIONs: ENHANCE_YOUR_CALM at max_continuation_frames,
    before decoding; nothing upstream."""
    def data_attack(a):
        a.handshake()
        a.send(a.request(1, "/sha256", method="POST", end_stream=False))
        a.send(h2_frame(T_DATA, 0, 1) * EMPTY_FRAMES)
        a.probe()
        a.read_to_end()
    o = run_attack(data_attack)
    check_calmed(o)
    check(o.upstream_saw() <= 1 and set(o.routes) <= {"/sha256", "/bytes", "/echo", "/stats"},
          f"the upstream counted {o.upstream_saw()} requests of the attacker, want the POST at most: "
          f"{o.routes}")
    first = o.report(f"GOAWAY {goaway_detail(o)}")

    def cont_attack(a):
        a.handshake()
        block = a.request(1, "/")
        a.send(h2_frame(T_HEADERS, F_END_STREAM, 1, block[9:])
               + h2_frame(T_CONTINUATION, 0, 1) * EMPTY_FRAMES)
        a.read_to_end()
    check(POINTS["empty_frame"] * CONFIG["max_continuation_frames"] * 4 < CONFIG["glitch_threshold"] * 3,
          "max_continuation_frames must end the block before the glitch score warns")
    o = run_attack(cont_attack)
    check_calmed(o, graceful_first=False, rule="too_many_continuations")
    check_nothing_upstream(o)
    return f"empty DATA: {first}. Empty CONTINUATION: {o.report()}"


BOMBS = 49
BOMB_ENTRY = 4000


@scenario("attacks", needs=["filter"])
def attack_hpack_bomb():
    """CVE-2016-6581: a 4,000-byte field enters the HPACK table (stream 1, a normal request),
    then 49 blocks of 16 KiB that refer to it once a byte (16,000 times the 4 KB): each is
    decoded, so that the table stays in sync, and refused with RST_STREAM(PROTOCOL_ERROR)
    (max_header_list_size); the connection is kept. Then one request that refers to the
    entry once goes through: /echo sends the field back, so the table is the same on both
    sides."""
    check(BOMBS * POINTS["own_reset"] * 4 < CONFIG["glitch_threshold"] * 3,
          "the bombs must stay below the graceful GOAWAY's glitch score")
    value = "a" * BOMB_ENTRY
    last = 1 + 2 * (BOMBS + 1)

    def attack(a):
        a.handshake()
        # The request's own fields are never indexed: x-bomb is the table's only entry.
        a.send(a.request(1, "/status/200", extra=[("x-bomb", value)], index=False))
        a.wait_stream(1)
        found = a.enc.header_table.search(b"x-bomb", value.encode())
        check(found and found[2] is not None, "the encoder did not index x-bomb")
        ref = bytes([0x80 | found[0]])  # an indexed field, one byte (index < 127)
        b = []
        for i in range(1, BOMBS + 1):
            frame = a.request(1 + 2 * i, "/status/200", raw_fields=ref * 16_000, index=False)
            b.append(h2_frame(T_HEADERS, F_END_HEADERS | F_END_STREAM, 1 + 2 * i, frame[9:][:16_384]))
        a.send(b"".join(b))
        check(a.probe(), f"no PING ACK after the bombs: {a.summary()}")
        a.send(a.request(last, "/echo", extra=[("x-bomb", value)], index=False))
        a.wait_stream(last)
        a.fill(0.05)
    o = run_attack(attack)
    a = o.a
    first = a.streams.get(1, {}).get("headers") or {}
    check(first.get(b":status") == b"200", f"stream 1 (the table entry): {first}: {a.summary()}")
    resets = [(f[2], int.from_bytes(f[3][:4], "big")) for f in a.frames if f[0] == T_RST_STREAM]
    want = [(1 + 2 * i, PROTOCOL_ERROR) for i in range(1, BOMBS + 1)]
    check(resets == want, f"RST_STREAMs {resets[:5]}... ({len(resets)}), want PROTOCOL_ERROR on the "
          f"{BOMBS} bombs: {a.summary()}")
    check(not a.goaways() and not a.eof, f"the connection was not kept: {a.summary()}")
    echo = a.streams.get(last, {}).get("headers") or {}
    check(echo.get(b":status") == b"200" and echo.get(b"x-echo-h-x-bomb") == value.encode(),
          f"the request after the bombs: status {echo.get(b':status')}, x-echo-h-x-bomb "
          f"{len(echo.get(b'x-echo-h-x-bomb', b''))} bytes: {a.summary()}")
    check(o.streams() == 2, f"h2mux made {o.streams()} streams, want 2 (none of the bombs)")
    check(o.upstream_saw() == 2, f"the upstream counted {o.upstream_saw()} requests, want 2: {o.routes}")
    rules = {r: o.delta(f"h2mux_client_violations_{r}") for r in ("header_list_too_large", "too_many_fields")
             if o.delta(f"h2mux_client_violations_{r}")}
    return o.report(f"{BOMBS} bombs refused ({rules}), the table in sync")


RAPID_RESETS = 10_000
SLOW = "/slow?ms=2000&chunks=1"  # a response that cannot come before the attacker's next frame


@scenario("attacks", needs=["filter"])
def attack_rapid_reset():
    """CVE-2023-44487: 10,000 pairs of HEADERS and RST_STREAM(CANCEL). Each early reset is a
    glitch (EarlyReset): ENHANCE_YOUR_CALM after glitch_threshold / 10 = 100 pairs, close.
    h2mux drops a stream reset in the read that opened it before its HEADERS go upstream, so
    the upstream sees none in practice; a pair split across two of Envoy's reads may let a
    request through, so what is asserted is that those are bounded by the pairs taken."""
    def attack(a):
        a.handshake()
        a.send(b"".join(a.request(1 + 2 * i, SLOW) + rst_stream(1 + 2 * i, CANCEL)
                        for i in range(RAPID_RESETS)))
        a.probe()
        a.read_to_end()
    o = run_attack(attack)
    check_calmed(o)
    most = budget("early_reset", o.seconds)
    cancels = o.delta("h2mux_client_resets_received_cancel")
    check(to_threshold("early_reset") <= cancels <= most,
          f"h2mux took {cancels} resets before ENHANCE_YOUR_CALM, want {to_threshold('early_reset')} "
          f"(glitch_threshold / 10) to {most}")
    check(o.upstream_saw() <= o.streams() <= cancels,
          f"{o.upstream_saw()} requests reached the upstream, of {o.streams()} streams and "
          f"{cancels} pairs taken")
    return o.report(f"{cancels} pairs taken, {o.streams()} streams, {o.upstream_saw()} requests "
                    f"reached the upstream; GOAWAY {goaway_detail(o)}")


CONTINUATIONS = 20_000
TINY_CONTINUATIONS = 100_000


@scenario("attacks", needs=["filter"])
def attack_continuation_flood():
    """VU#421644: HEADERS without END_HEADERS, then endless CONTINUATIONs of a 1 KB field:
    ENHANCE_YOUR_CALM at max_continuation_frames or max_header_block, before decoding, and
    the close; nothing upstream. The same with 1-byte fragments."""
    def big(a):
        a.handshake()
        head = a.request(1, "/")[9:]
        # A literal field without indexing, "x-flood" of 1,000 bytes (length 1000 = 127 + 873,
        # HPACK's 7-bit prefix then 873 as 0xE9 0x06).
        frag = b"\x00\x07x-flood" + b"\x7f\xe9\x06" + b"z" * 1000
        a.send(h2_frame(T_HEADERS, F_END_STREAM, 1, head)
               + h2_frame(T_CONTINUATION, 0, 1, frag) * CONTINUATIONS)
        a.read_to_end()

    def tiny(a):
        a.handshake()
        head = a.request(1, "/")[9:]
        a.send(h2_frame(T_HEADERS, F_END_STREAM, 1, head[:1])
               + h2_frame(T_CONTINUATION, 0, 1, b"\x00") * TINY_CONTINUATIONS)
        a.read_to_end()
    out = []
    for name, attack in (("1 KB fragments", big), ("1-byte fragments", tiny)):
        o = run_attack(attack)
        check_calmed(o, graceful_first=False, rule=("too_many_continuations", "header_block_too_large"))
        check_nothing_upstream(o)
        out.append(f"{name}: {o.report()}")
    return ". ".join(out)


MADE_YOU_RESET = 5_000


@scenario("attacks", needs=["filter"])
def attack_made_you_reset():
    """CVE-2025-8671: a valid request, then WINDOW_UPDATE(0) on it, a stream error that makes
    h2mux reset the stream (an OwnReset glitch): ENHANCE_YOUR_CALM after glitch_threshold / 10
    = 100 streams, close; the requests that reached the upstream are bounded by those streams
    (none in practice, as for rapid reset). The RST_STREAM(PROTOCOL_ERROR)s h2mux queued are
    dropped when the connection error comes in the same read (the GOAWAY ends those streams
    too, RFC 9113 5.4.1): any that come must say PROTOCOL_ERROR."""
    def attack(a):
        a.handshake()
        a.send(b"".join(a.request(1 + 2 * i, SLOW) + window_update(1 + 2 * i, 0)
                        for i in range(MADE_YOU_RESET)))
        a.probe()
        a.read_to_end()
    o = run_attack(attack)
    check_calmed(o)
    codes = o.a.resets()
    most = budget("own_reset", o.seconds)
    check(set(codes) <= {PROTOCOL_ERROR}, f"RST_STREAM codes {sorted(set(codes))}: {o.a.summary()}")
    made = o.delta("h2mux_client_violations_zero_window_update")
    check(to_threshold("own_reset") <= made <= most,
          f"h2mux reset {made} streams for WINDOW_UPDATE(0) before ENHANCE_YOUR_CALM, want "
          f"{to_threshold('own_reset')} (glitch_threshold / 10) to {most}")
    check(len(codes) <= made, f"{len(codes)} RST_STREAMs for {made} streams in error")
    check(o.upstream_saw() <= o.streams() <= made,
          f"{o.upstream_saw()} requests reached the upstream, of {o.streams()} streams and "
          f"{made} reset")
    return o.report(f"{made} streams reset ({len(codes)} RST_STREAMs received), {o.upstream_saw()} "
                    f"requests reached the upstream; GOAWAY {goaway_detail(o)}")


DRIBBLE_STREAMS = 100
DRIBBLE_ROUNDS = 30


@scenario("attacks", needs=["filter"])
def attack_data_dribble():
    """CVE-2019-9511: stream windows of 1 byte and 100 downloads of 1 MB; once the first
    bytes stopped coming, rounds of a WINDOW_UPDATE of 1 byte on each stream, each round
    when the bytes of the last stopped coming (up to 30). Each tiny WINDOW_UPDATE is a
    glitch: the 1-byte DATA frames are the first bytes and at most one per WINDOW_UPDATE
    taken before ENHANCE_YOUR_CALM (glitch_threshold, 10 rounds), then the close. Every byte
    that came is the upstream's, in place.

    Not every stream gets its first byte: h2mux takes from the upstream what its backend
    windows allow (65,535 bytes a stream, connection_window 1 MiB in all) and gives the
    upstream credit back only as the client takes the bytes, so the first 17 streams
    (ceil(1 MiB / 65,535)) hold the whole connection window and the others get nothing until
    those drain. Reported, not asserted."""
    check(DRIBBLE_STREAMS <= CONFIG["max_concurrent_streams"], "the downloads must all be allowed")
    sids = [1 + 2 * i for i in range(DRIBBLE_STREAMS)]
    seen = {}

    def quiet(a, seconds):
        """Reads until nothing came for `seconds`; False at the close."""
        while True:
            n = len(a.frames)
            if not a.fill(seconds):
                return False
            check(time.monotonic() < a.deadline, f"the bytes kept coming: {a.summary()}")
            if len(a.frames) == n:
                return True

    def attack(a):
        a.handshake([(S_INITIAL_WINDOW_SIZE, 1)])
        a.send(b"".join(a.request(sid, "/bytes/1000000") for sid in sids))
        while not any(a.streams.get(sid, {}).get("body") for sid in sids):
            check(a.fill(a.deadline - time.monotonic()), f"no first byte: {a.summary()}")
        check(quiet(a, 0.3) and not a.goaways(), f"the connection ended before the dribble: {a.summary()}")
        seen["first"] = sum(1 for sid in sids if a.streams.get(sid, {}).get("body"))
        for seen["rounds"] in range(1, DRIBBLE_ROUNDS + 1):
            a.send(b"".join(window_update(sid, 1) for sid in sids))
            if not quiet(a, 0.05) or a.broken:
                break
        a.probe()
        a.read_to_end()
    o = run_attack(attack)
    check_calmed(o)
    tiny = sum(1 for f in o.a.frames if f[0] == T_DATA and len(f[3]) <= 1)
    big = [f for f in o.a.frames if f[0] == T_DATA and len(f[3]) > 1]
    least, most = seen["first"], DRIBBLE_STREAMS + budget("tiny_window_update", o.seconds)
    check(not big and least < tiny <= most,
          f"{tiny} DATA frames of 1 byte ({len(big)} larger), want more than {least} (the first "
          f"bytes) and at most {most} (one per WINDOW_UPDATE below glitch_threshold): {o.a.summary()}")
    # Rounds sent: those glitch_threshold (and decay) allows, and the one that reached it.
    rounds = -(-budget("tiny_window_update", o.seconds) // DRIBBLE_STREAMS) + 1
    check(seen["rounds"] <= rounds, f"{seen['rounds']} rounds of WINDOW_UPDATEs sent before the close, "
          f"glitch_threshold (and decay over {o.seconds:.2f}s) allows {rounds}")
    wrong = [sid for sid, s in o.a.streams.items() if bytes(s["body"]) != pattern(len(s["body"]))]
    check(not wrong, f"streams {wrong[:5]} got bytes that are not the upstream's")
    check(o.upstream_saw() == DRIBBLE_STREAMS, f"{o.upstream_saw()} requests upstream")
    return o.report(f"{seen['first']} of {DRIBBLE_STREAMS} streams got a first byte; {seen['rounds']} "
                    f"rounds of WINDOW_UPDATEs; {tiny} DATA frames of 1 byte in all; "
                    f"GOAWAY {goaway_detail(o)}")


@scenario("attacks", needs=["filter"])
def attack_flow_control_violation():
    """A WINDOW_UPDATE that takes the connection's send window above 2^31-1 (RFC 9113
    6.9.1): GOAWAY(FLOW_CONTROL_ERROR), close."""
    def attack(a):
        a.handshake()
        a.send(window_update(0, 0x7FFF_FFFF) * 2)
        a.read_to_end()
    o = run_attack(attack)
    codes = o.a.goaways()
    check(codes == [FLOW_CONTROL_ERROR], f"GOAWAYs {[code_name(c) for c in codes]}, want FLOW_CONTROL_ERROR: "
          f"{o.a.summary()}")
    check(o.a.eof, f"the connection was not closed: {o.a.summary()}")
    check(o.delta("h2mux_client_goaways_sent_flow_control_error") == 1
          and o.delta("h2mux_client_violations_connection_window_overflow") == 1,
          f"counters: {o.d}")
    check_nothing_upstream(o)
    return o.report()


# The same attacks through h2mux-node ("attacks-node" phase), once per suite run.
for _name, _phase, _needs, _fn in list(SCENARIOS):
    if _phase == "attacks":
        SCENARIOS.append(("node_" + _name, "attacks-node", ("wasm",), _fn))
