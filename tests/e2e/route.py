"""The "route" phase of run.py's nghttpd pass: routing by authority
(envoy-config/h2mux-route.yaml.in) in the real Envoy, for the .wasm (the native module refuses
`routes`: the badconfig phase checks that).

Two nghttpd upstreams serve /whoami, "A" and "B"; Envoy routes a.example to cluster a,
b.example to b, anything else to default_cluster b, and tcp_proxy's own cluster is a (so a
connection sent to b was routed by the filter's filter state, not by tcp_proxy's default).
What is checked: each authority reaches its upstream over HTTP/2 and HTTP/1.1; on one
connection a request for the other cluster gets 421 on its stream while requests of the same
cluster still go through; TLS with an SNI routes by it, and a request whose authority disagrees
with the SNI gets 421; a connection that sends nothing within route_wait_ms goes to the
default; bytes that are no request still get their GOAWAY; the route metrics move.

Alone: E2E_AUTO_PORTS=1 .venv/bin/python tests/e2e/run.py -k route_
"""

import http.client
import os
import re
import socket
import ssl
import time
import urllib.request

import h2.config
import h2.connection
import h2.events

from run import CFG, ROOT, Fail, check, free_port, lib, need_envoy, run, scenario

ENVOY_NAME = "envoy-route"
PORTS = {}  # this phase's Envoy and upstreams


def phase():
    PORTS.update({k: str(free_port()) for k in
                  ("ADMIN_PORT", "H2C_PORT", "TLS_PORT", "UPSTREAM_PORT", "UPSTREAM_B_PORT")})
    for name, which, port in (("A", "route_a", PORTS["UPSTREAM_PORT"]),
                              ("B", "route_b", PORTS["UPSTREAM_B_PORT"])):
        d = os.path.join(CFG["RUN_DIR"], which)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "whoami"), "w") as f:
            f.write(name + "\n")
        lib("spawn", which, "nghttpd", "--no-tls", "-a", "127.0.0.1", "-d", d, port)
        lib("wait_port", port, which, "10")
    need_envoy("h2mux-route", ENVOY_NAME, "h2mux-route.yaml", PORTS)


STOP = [ENVOY_NAME, "route_a", "route_b"]


def metric(name):
    url = f"http://127.0.0.1:{PORTS['ADMIN_PORT']}/stats?filter=wasmcustom.{name}$"
    with urllib.request.urlopen(url, timeout=10) as r:
        for line in r.read().decode().splitlines():
            k, _, v = line.partition(": ")
            if k == f"wasmcustom.{name}":
                return int(v)
    return 0


def metrics():
    names = ("misdirected_total", "routes_by_sni_total", "routes_by_authority_total",
             "routes_default_total", "routes_after_wait_total")
    return {n: metric("h2mux_" + n) for n in names}


def moved(before, want, timeout=5):
    """The route metrics' increments since before, once they show want (the tick publishes
    them), or as they are at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        now = metrics()
        diff = {k: v - before[k] for k, v in now.items() if v != before[k]}
        if time.monotonic() > deadline or all(diff.get(k) == v for k, v in want.items()):
            return diff
        time.sleep(0.1)


class Conn:
    """An HTTP/2 client on one connection (h2c, or TLS with an SNI), with its own :authority
    per request."""

    def __init__(self, sni=None):
        sock = socket.create_connection(("127.0.0.1", int(PORTS["TLS_PORT" if sni else "H2C_PORT"])),
                                        timeout=10)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if sni:
            ctx = ssl.create_default_context()
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"])
            sock = ctx.wrap_socket(sock, server_hostname=sni)
        self.sock = sock
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                        header_encoding="utf-8"))
        self.h2.initiate_connection()
        self.sock.sendall(self.h2.data_to_send())
        self.streams = {}

    def get(self, authority, path="/whoami"):
        """One GET; returns (status, body)."""
        sid = self.h2.get_next_available_stream_id()
        self.streams[sid] = {"status": None, "body": b"", "done": False}
        self.h2.send_headers(sid, [(":method", "GET"), (":path", path), (":scheme", "http"),
                                   (":authority", authority)], end_stream=True)
        self.sock.sendall(self.h2.data_to_send())
        deadline = time.monotonic() + 10
        while not self.streams[sid]["done"]:
            check(time.monotonic() < deadline, f"no answer for {authority}")
            data = self.sock.recv(65536)
            if not data:
                raise Fail(f"connection closed waiting for {authority}")
            for ev in self.h2.receive_data(data):
                s = self.streams.get(getattr(ev, "stream_id", None))
                if isinstance(ev, h2.events.ResponseReceived):
                    s["status"] = int(dict(ev.headers)[":status"])
                elif isinstance(ev, h2.events.DataReceived):
                    s["body"] += ev.data
                    self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                    s["done"] = True
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    raise Fail(f"GOAWAY {ev.error_code!r} waiting for {authority}")
            out = self.h2.data_to_send()
            if out:
                self.sock.sendall(out)
        s = self.streams[sid]
        return s["status"], s["body"].decode(errors="replace").strip()

    def close(self):
        self.sock.close()


@scenario("route", needs=["filter", "wasm"])
def route_by_authority_http2():
    before = metrics()
    got = {}
    for authority in ("a.example", "B.EXAMPLE:443", "unknown.example", "a.example."):
        c = Conn()
        got[authority] = c.get(authority)
        c.close()
    want = {"a.example": (200, "A"), "B.EXAMPLE:443": (200, "B"),
            "unknown.example": (200, "B"), "a.example.": (200, "A")}
    check(got == want, f"got {got}")
    want = {"routes_by_authority_total": 3, "routes_default_total": 1}
    m = moved(before, want)
    check(m == want, f"metrics moved by {m}")
    return f"{got}; metrics +{m}"


@scenario("route", needs=["filter", "wasm"])
def route_other_cluster_on_one_connection_gets_421():
    before = metrics()
    c = Conn()
    first = c.get("a.example")
    other = c.get("b.example")
    same = c.get("A.Example:10000")
    default = c.get("zzz.example")
    again = c.get("a.example")
    c.close()
    check(first == (200, "A"), f"first: {first}")
    check(other[0] == 421, f"b.example on a's connection: {other}")
    check(same == (200, "A"), f"same cluster after the 421: {same}")
    check(default[0] == 421, f"an unknown name (default b) on a's connection: {default}")
    check(again == (200, "A"), f"a.example again: {again}")
    want = {"routes_by_authority_total": 1, "misdirected_total": 2}
    m = moved(before, want)
    check(m == want, f"metrics moved by {m}")
    return f"a: {first}, b: {other[0]}, A.Example:10000: {same}, zzz: {default[0]}; metrics +{m}"


@scenario("route", needs=["filter", "wasm"])
def route_http1_by_host():
    got = []
    c = http.client.HTTPConnection("127.0.0.1", int(PORTS["H2C_PORT"]), timeout=10)
    for host in ("b.example", "b.example:80", "a.example", "unknown.example"):
        c.request("GET", "/whoami", headers={"Host": host})
        r = c.getresponse()
        got.append((host, r.status, r.read().decode().strip()))
    c.close()
    want = [("b.example", 200, "B"), ("b.example:80", 200, "B"), ("a.example", 421, ""),
            ("unknown.example", 200, "B")]
    check([g[:2] for g in got] == [w[:2] for w in want] and got[0][2] == "B" and got[1][2] == "B",
          f"got {got}")
    # The absolute form names the authority itself.
    c = http.client.HTTPConnection("127.0.0.1", int(PORTS["H2C_PORT"]), timeout=10)
    c.request("GET", "http://a.example/whoami", headers={"Host": "a.example"})
    r = c.getresponse()
    absolute = (r.status, r.read().decode().strip())
    c.close()
    check(absolute == (200, "A"), f"absolute form: {absolute}")
    return f"{got}, absolute-form a.example: {absolute}"


@scenario("route", needs=["filter", "wasm"])
def route_tls_by_sni():
    before = metrics()
    c = Conn(sni="b.example")
    agree = c.get("b.example")
    disagree = c.get("a.example")
    c.close()
    check(agree == (200, "B"), f"SNI b, authority b: {agree}")
    check(disagree[0] == 421, f"SNI b, authority a: {disagree}")
    # The first request disagrees with the SNI: 421 too, and the connection stays with SNI's.
    c = Conn(sni="a.example")
    first = c.get("b.example")
    second = c.get("a.example:10443")
    c.close()
    check(first[0] == 421 and second == (200, "A"), f"SNI a: b gets {first}, a gets {second}")
    # curl over TLS with SNI a.example and a Host that names b (HTTP/1.1 and HTTP/2).
    tls = PORTS["TLS_PORT"]
    codes = []
    for ver in ("--http1.1", "--http2"):
        p = run(["curl", "-sS", "-k", ver, "--resolve", f"a.example:{tls}:127.0.0.1",
                 "-H", "Host: b.example", "-o", os.devnull, "-w", "%{http_code}",
                 f"https://a.example:{tls}/whoami"])
        codes.append(p.stdout.decode().strip())
        p = run(["curl", "-sS", "-k", ver, "--resolve", f"a.example:{tls}:127.0.0.1",
                 f"https://a.example:{tls}/whoami"])
        codes.append(p.stdout.decode().strip())
    check(codes == ["421", "A", "421", "A"], f"curl: {codes}")
    want = {"routes_by_sni_total": 6, "misdirected_total": 4}
    m = moved(before, want)
    check(m == want, f"metrics moved by {m}")
    return f"SNI b: {agree}, {disagree[0]}; SNI a: {first[0]}, {second}; curl {codes}; metrics +{m}"


@scenario("route", needs=["filter", "wasm"])
def route_wait_then_default_and_not_http():
    before = metrics()
    # Silent past route_wait_ms (200): the connection goes to the default (b), so a request
    # for a.example that comes afterwards is misdirected, and one for b goes through.
    c = Conn.__new__(Conn)
    c.sock = socket.create_connection(("127.0.0.1", int(PORTS["H2C_PORT"])), timeout=10)
    time.sleep(0.6)
    c.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                 header_encoding="utf-8"))
    c.h2.initiate_connection()
    c.sock.sendall(c.h2.data_to_send())
    c.streams = {}
    late_a, late_b = c.get("a.example"), c.get("b.example")
    c.close()
    check(late_a[0] == 421 and late_b == (200, "B"), f"after the wait: a {late_a}, b {late_b}")
    # Bytes that are no request: routed to the default at once, and answered GOAWAY as ever.
    s = socket.create_connection(("127.0.0.1", int(PORTS["H2C_PORT"])), timeout=5)
    s.sendall(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + bytes(range(40)))
    got = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        pass
    s.close()
    goaway = re.search(rb"\x00\x00[\x08-\xff]\x07\x00\x00\x00\x00\x00", got)
    check(goaway is not None, f"no GOAWAY in {got[:80]!r}")
    code = int.from_bytes(got[goaway.end() + 4:goaway.end() + 8], "big")
    check(code == 1, f"GOAWAY code {code}, want PROTOCOL_ERROR (1)")
    want = {"routes_after_wait_total": 1, "routes_default_total": 1, "misdirected_total": 1}
    m = moved(before, want)
    check(m == want, f"metrics moved by {m}")
    return f"after the wait: a {late_a[0]}, b {late_b}; not HTTP: GOAWAY(PROTOCOL_ERROR); metrics +{m}"
