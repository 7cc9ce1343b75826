//! Linear memory held by idle connections: many connections do the HTTP/2 handshake on
//! both sides (client and upstream SETTINGS, both ACKed), optionally carry one request,
//! then stay idle. The figure is the growth of linear memory divided by the connections.
//! The same for HTTP/1.1 clients: each sends one complete request, reads its response,
//! then stays open and idle (to the default HTTP/2 upstream, and to an HTTP/1.1 upstream).

mod common;
#[path = "common/h2raw.rs"]
mod h2raw;

use common::vm;
use h2mux_wasm_tests::host::{ConnId, Vm};
use h2raw::*;

/// Answers control frames on both sides until nothing moves; returns what each peer got.
/// An HTTP/1.1 client's bytes are kept as they come (`client_buf`); an HTTP/1.1 upstream
/// answers each whole request head with a 6-byte response.
struct Peers {
    client_got: Vec<Frame>,
    upstream_got: Vec<Frame>,
    up_greeted: bool,
    up_buf: Vec<u8>,
    client_buf: Vec<u8>,
    client_h1: bool,
    upstream_h1: bool,
    h1_requests_upstream: usize,
}

const H1_RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nhello\n";

impl Peers {
    fn new() -> Peers {
        Peers {
            client_got: Vec::new(),
            upstream_got: Vec::new(),
            up_greeted: false,
            up_buf: Vec::new(),
            client_buf: Vec::new(),
            client_h1: false,
            upstream_h1: false,
            h1_requests_upstream: 0,
        }
    }

    fn exchange(&mut self, vm: &mut Vm, c: ConnId) {
        for _ in 0..16 {
            let to_up = vm.take_to_upstream(c);
            let to_client = vm.take_to_client(c);
            if to_up.is_empty() && to_client.is_empty() {
                return;
            }
            if self.upstream_h1 {
                self.up_buf.extend(to_up);
                while let Some(end) = self.up_buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    self.up_buf.drain(..end + 4);
                    self.h1_requests_upstream += 1;
                    vm.upstream_send(c, H1_RESPONSE).unwrap();
                }
                self.client_buf.extend(to_client);
                continue;
            }
            self.up_buf.extend(to_up);
            if self.up_buf.starts_with(PREFACE) {
                self.up_buf.drain(..PREFACE.len());
            }
            self.client_buf.extend(to_client);
            let mut reply = Vec::new();
            for f in parse_frames(&mut self.up_buf) {
                match (f.ty, f.flags & flag::ACK) {
                    (ty::SETTINGS, 0) => {
                        if !self.up_greeted {
                            reply.extend(settings(&[(3, 1000)]));
                            self.up_greeted = true;
                        }
                        reply.extend(settings_ack());
                    }
                    (ty::PING, 0) => reply.extend(ping_ack(&f.payload)),
                    (ty::HEADERS, _) => {
                        reply.extend(headers(f.stream, &[0x88], false));
                        reply.extend(data(f.stream, b"hello\n", true));
                    }
                    _ => {}
                }
                self.upstream_got.push(f);
            }
            if !reply.is_empty() {
                vm.upstream_send(c, &reply).unwrap();
            }
            if self.client_h1 {
                continue; // its bytes are in `client_buf`, not frames
            }
            let mut reply = Vec::new();
            for f in parse_frames(&mut self.client_buf) {
                match (f.ty, f.flags & flag::ACK) {
                    (ty::SETTINGS, 0) => reply.extend(settings_ack()),
                    (ty::PING, 0) => reply.extend(ping_ack(&f.payload)),
                    _ => {}
                }
                self.client_got.push(f);
            }
            if !reply.is_empty() {
                vm.client_send(c, &reply).unwrap();
            }
        }
    }

    fn got(frames: &[Frame], t: u8, ack: bool) -> bool {
        frames
            .iter()
            .any(|f| f.ty == t && (f.flags & flag::ACK != 0) == ack)
    }
}

/// Opens `n` connections that handshake (and carry one GET when `request`), then idle.
/// Returns linear memory growth per connection, in bytes.
fn per_connection(n: usize, request: bool) -> f64 {
    let mut vm = vm("{}");
    // One connection first, so one-time allocations (tables, metrics) are not counted.
    let warm = vm.open().unwrap();
    let mut p = Peers::new();
    vm.client_send(warm, &[PREFACE, &settings(&[])].concat())
        .unwrap();
    p.exchange(&mut vm, warm);
    let before = vm.memory_size();
    for i in 0..n {
        let c = vm.open().unwrap();
        let mut p = Peers::new();
        vm.client_send(c, &[PREFACE, &settings(&[])].concat())
            .unwrap();
        p.exchange(&mut vm, c);
        if request {
            vm.client_send(c, &get(1, "/")).unwrap();
            p.exchange(&mut vm, c);
            let done = p
                .client_got
                .iter()
                .any(|f| f.ty == ty::DATA && f.flags & flag::END_STREAM != 0);
            assert!(done, "connection {i}: no response: {:?}", p.client_got);
        }
        // Time passes as connections arrive, so timers, doorbells and the idle scan run:
        // 210 ms (two scans: a connection is trimmed once a whole scan period passed without
        // bytes) per 10 connections. What is measured is a connection once idle, not one in
        // its first 200 ms.
        if i % 10 == 9 {
            vm.advance(210).unwrap();
            p.exchange(&mut vm, c);
        }
        assert!(
            Peers::got(&p.client_got, ty::SETTINGS, false)
                && Peers::got(&p.upstream_got, ty::SETTINGS, false),
            "connection {i}: no SETTINGS: client {:?} upstream {:?}",
            p.client_got,
            p.upstream_got
        );
        assert!(
            Peers::got(&p.upstream_got, ty::SETTINGS, true),
            "connection {i}: our SETTINGS to the upstream... its ACK was not passed on: {:?}",
            p.upstream_got
        );
    }
    let after = vm.memory_size();
    assert_eq!(vm.connections().len(), n + 1, "connections closed early");
    assert!(vm.trap().is_none());
    let per = (after - before) as f64 / n as f64;
    eprintln!(
        "{n} idle connections{}: linear memory {} KiB -> {} KiB, {per:.0} B per connection",
        if request {
            " (after one request each)"
        } else {
            ""
        },
        before / 1024,
        after / 1024
    );
    per
}

/// Opens `n` HTTP/1.1 client connections that each send one complete request, read its
/// response and stay open and idle; the upstream speaks HTTP/2 (the default configuration)
/// or, with `upstream_h1`, HTTP/1.1 (`upstream_protocol: http/1.1`). Returns linear memory
/// growth per connection, in bytes, measured as `per_connection` does.
fn per_h1_connection(n: usize, upstream_h1: bool) -> f64 {
    const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let config = if upstream_h1 {
        r#"{"upstream_protocol": "http/1.1"}"#
    } else {
        "{}"
    };
    let mut vm = vm(config);
    let start = |vm: &mut Vm, i: usize| {
        let c = vm.open().unwrap();
        let mut p = Peers::new();
        p.client_h1 = true;
        p.upstream_h1 = upstream_h1;
        vm.client_send(c, REQUEST).unwrap();
        p.exchange(vm, c);
        let text = String::from_utf8_lossy(&p.client_buf).into_owned();
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\n")
                && (text.ends_with("\r\n\r\nhello\n")
                    || text.ends_with("\r\n6\r\nhello\n\r\n0\r\n\r\n")),
            "connection {i}: no whole response: {text:?}"
        );
        (c, p)
    };
    // One connection first, so one-time allocations (tables, metrics) are not counted.
    start(&mut vm, usize::MAX);
    let before = vm.memory_size();
    for i in 0..n {
        let (c, mut p) = start(&mut vm, i);
        // As in `per_connection`: 210 ms (two idle scans) pass per 10 connections.
        if i % 10 == 9 {
            vm.advance(210).unwrap();
            p.exchange(&mut vm, c);
        }
        if upstream_h1 {
            assert_eq!(
                p.h1_requests_upstream, 1,
                "connection {i}: requests upstream"
            );
        } else {
            // Not asserted: our ACK of the upstream's SETTINGS, made in an upstream callback,
            // waits for the client's next bytes (an HTTP/1.1 client has no doorbell to ring);
            // the connection parks it outside its pool buffer.
            assert!(
                Peers::got(&p.upstream_got, ty::SETTINGS, false)
                    && p.upstream_got.iter().any(|f| f.ty == ty::HEADERS),
                "connection {i}: upstream got {:?}",
                p.upstream_got
            );
        }
        assert!(
            !vm.client_eof(c),
            "connection {i}: closed towards the client"
        );
    }
    let after = vm.memory_size();
    assert_eq!(vm.connections().len(), n + 1, "connections closed early");
    assert!(vm.trap().is_none());
    let per = (after - before) as f64 / n as f64;
    eprintln!(
        "{n} idle HTTP/1.1 client connections after one request each, upstream {}: linear \
         memory {} KiB -> {} KiB, {per:.0} B per connection",
        if upstream_h1 { "HTTP/1.1" } else { "HTTP/2" },
        before / 1024,
        after / 1024
    );
    per
}

/// Bounds over the figures measured (970 B idle at 10,000, 983 B at 1,000 where a 64 KiB
/// page is 65 B of the figure; 1,049 B after one request, 1,704 B before the idle trim gave
/// the HPACK tables and the memory of closed streams back), so that a regression fails.
const MAX_PER_IDLE_CONNECTION: f64 = 1024.0;
const MAX_PER_CONNECTION_AFTER_REQUEST: f64 = 1.2 * 1024.0;

/// `per`, measured over `n` connections, is within `max`. Linear memory grows by 64 KiB
/// pages, so a figure over `n` connections is only known to 65,536 / `n` bytes (65.5 B at
/// 1,000, 6.5 B at 10,000): one page more than the bound allows is not counted against it.
/// The tests at 10,000 hold the figure to that finer resolution.
fn within(per: f64, max: f64, n: usize) -> bool {
    per < max + 65_536.0 / n as f64
}

#[test]
fn ten_thousand_idle_connections() {
    let per = per_connection(10_000, false);
    assert!(
        within(per, MAX_PER_IDLE_CONNECTION, 10_000),
        "{per:.0} B per idle connection"
    );
}

#[test]
fn one_thousand_idle_connections() {
    let per = per_connection(1_000, false);
    assert!(
        within(per, MAX_PER_IDLE_CONNECTION, 1_000),
        "{per:.0} B per idle connection"
    );
}

#[test]
fn one_thousand_connections_after_one_request() {
    let per = per_connection(1_000, true);
    assert!(
        within(per, MAX_PER_CONNECTION_AFTER_REQUEST, 1_000),
        "{per:.0} B per connection"
    );
}

// HTTP/1.1 clients, one request each then idle (wasm32): to an HTTP/1.1 upstream 976 B per
// connection at 10,000 (1,049 B at 1,000); to the default HTTP/2 upstream 1,016 B at 10,000
// and 1,049 B at 1,000 (1,029 and 1,180 B while the ACK of the upstream's SETTINGS stayed
// parked in the connection: made in an upstream callback, it could only be written in a
// downstream one, and an HTTP/1.1 client says nothing after its request. The connection is
// now parked at the request, its downstream paused with nothing held, so the ACK goes
// upstream in the callback that made it).

#[test]
fn one_thousand_idle_http1_connections_after_one_request() {
    let per = per_h1_connection(1_000, false);
    assert!(
        within(per, MAX_PER_IDLE_CONNECTION, 1_000),
        "{per:.0} B per idle HTTP/1.1 connection"
    );
}

#[test]
fn ten_thousand_idle_http1_connections_after_one_request() {
    let per = per_h1_connection(10_000, false);
    assert!(
        within(per, MAX_PER_IDLE_CONNECTION, 10_000),
        "{per:.0} B per idle HTTP/1.1 connection"
    );
}

/// HTTP/1.1 on both sides (`upstream_protocol: http/1.1`).
#[test]
fn one_thousand_idle_http1_connections_to_http1_upstream() {
    let per = per_h1_connection(1_000, true);
    assert!(
        within(per, MAX_PER_IDLE_CONNECTION, 1_000),
        "{per:.0} B per idle HTTP/1.1 connection (HTTP/1.1 upstream)"
    );
}

#[test]
fn ten_thousand_idle_http1_connections_to_http1_upstream() {
    let per = per_h1_connection(10_000, true);
    assert!(
        within(per, MAX_PER_IDLE_CONNECTION, 10_000),
        "{per:.0} B per idle HTTP/1.1 connection (HTTP/1.1 upstream)"
    );
}
