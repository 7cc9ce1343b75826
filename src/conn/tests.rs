//! Connection tests: a client (backend) and a server (frontend) wired together with a fake
//! clock, and raw frames from a hand-driven peer for what a well-behaved peer never sends.

use std::sync::Arc;

use bytes::Bytes;

use super::{Connection, Event, RxBlocked, SendError};
use crate::buffer::BufferPool;
use crate::error::{ConnError, ErrorCode, Violation};
use crate::frame::{self, flags, setting, FrameHeader, FrameType, PREFACE};
use crate::hpack::Encoder;
use crate::limits::Config;
use crate::message::{Fields, Message};
use crate::side::Side;
use crate::stream::{ResetBy, State, StreamId};
use crate::time::Instant;

pub(crate) fn pool() -> BufferPool {
    BufferPool::new(16_384, 256 * 16_384, 4096)
}

fn sid(v: u32) -> StreamId {
    StreamId::new(v)
}

/// Splits bytes into frames (tests only: trusts its input).
pub(crate) fn frames(mut b: &[u8]) -> Vec<(FrameHeader, Vec<u8>)> {
    if b.starts_with(PREFACE) {
        b = &b[PREFACE.len()..];
    }
    let mut out = Vec::new();
    while b.len() >= 9 {
        let h = FrameHeader::parse(b[..9].try_into().unwrap());
        let end = 9 + h.len as usize;
        if b.len() < end {
            break;
        }
        out.push((h, b[9..end].to_vec()));
        b = &b[end..];
    }
    out
}

fn goaway_code(out: &[u8]) -> Option<ErrorCode> {
    frames(out)
        .iter()
        .find(|(h, _)| h.kind == FrameType::GoAway)
        .map(|(_, p)| frame::parse_goaway(p).unwrap().code)
}

fn rst_codes(out: &[u8]) -> Vec<(u32, ErrorCode)> {
    frames(out)
        .iter()
        .filter(|(h, _)| h.kind == FrameType::RstStream)
        .map(|(h, p)| (h.stream.value(), frame::parse_rst_stream(p).unwrap()))
        .collect()
}

/// A hand-driven client: writes exactly the frames a test asks for.
pub(crate) struct RawClient {
    pub enc: Encoder,
    pub out: Vec<u8>,
}

impl RawClient {
    pub fn new() -> RawClient {
        let mut out = PREFACE.to_vec();
        frame::write_settings(&mut out, &[]);
        RawClient {
            enc: Encoder::new(4096),
            out,
        }
    }

    pub fn block(&mut self, path: &str) -> Vec<u8> {
        let mut b = Vec::new();
        let fields: Vec<(&[u8], &[u8], bool)> = vec![
            (b":method", b"GET", false),
            (b":scheme", b"https", false),
            (b":authority", b"example.com", false),
            (b":path", path.as_bytes(), false),
        ];
        self.enc.encode(fields, &mut b);
        b
    }

    pub fn get(&mut self, id: u32, end: bool) {
        let b = self.block("/");
        let fl = flags::END_HEADERS | if end { flags::END_STREAM } else { 0 };
        frame::write_header(
            &mut self.out,
            b.len() as u32,
            FrameType::Headers,
            fl,
            sid(id),
        );
        self.out.extend_from_slice(&b);
    }

    pub fn raw(&mut self, kind: FrameType, fl: u8, id: u32, payload: &[u8]) {
        frame::write_header(&mut self.out, payload.len() as u32, kind, fl, sid(id));
        self.out.extend_from_slice(payload);
    }

    pub fn take(&mut self) -> Bytes {
        Bytes::from(std::mem::take(&mut self.out))
    }
}

/// A frontend fed by a RawClient; collects what it sends back.
pub(crate) struct Server {
    pub conn: Connection,
    pub pool: BufferPool,
    pub now: Instant,
    pub out: Vec<u8>,
    pub events: Vec<Event>,
}

impl Server {
    pub fn new(cfg: Config) -> Server {
        Server {
            conn: Connection::new(Side::Frontend, Arc::new(cfg), 1, Instant(0)),
            pool: pool(),
            now: Instant(0),
            out: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Feeds everything (retrying after draining output), returns bytes consumed.
    pub fn feed(&mut self, b: Bytes) -> usize {
        let mut pos = 0;
        for _ in 0..1_000_000 {
            let n = self.conn.recv(&mut self.pool, &b.slice(pos..), self.now);
            pos += n;
            let blocked = self.conn.rx_blocked();
            self.pump();
            if pos >= b.len() || (n == 0 && blocked != Some(RxBlocked::TxRoom)) {
                break;
            }
        }
        pos
    }

    pub fn pump(&mut self) {
        self.conn
            .drain_output(&mut self.pool, &mut self.out, usize::MAX, self.now);
        while let Some(e) = self.conn.poll_event() {
            self.events.push(e);
        }
    }

    pub fn take_out(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }
}

/// A backend (client role) and a frontend (server role) talking through memory.
pub(crate) struct Pair {
    pub client: Connection,
    pub server: Connection,
    pub pool: BufferPool,
    pub now: Instant,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
    /// Everything the client sent, for replays.
    pub c2s_log: Vec<u8>,
    c2s: Vec<u8>,
    s2c: Vec<u8>,
}

impl Pair {
    pub fn new(client_cfg: Config, server_cfg: Config) -> Pair {
        Pair {
            client: Connection::new(Side::Backend, Arc::new(client_cfg), 1, Instant(0)),
            server: Connection::new(Side::Frontend, Arc::new(server_cfg), 2, Instant(0)),
            pool: pool(),
            now: Instant(0),
            client_events: Vec::new(),
            server_events: Vec::new(),
            c2s_log: Vec::new(),
            c2s: Vec::new(),
            s2c: Vec::new(),
        }
    }

    /// Moves bytes both ways until nothing moves.
    pub fn run(&mut self) {
        for _ in 0..100_000 {
            let mut moved = false;
            let before = self.c2s.len();
            self.client
                .drain_output(&mut self.pool, &mut self.c2s, usize::MAX, self.now);
            self.c2s_log.extend_from_slice(&self.c2s[before..]);
            self.server
                .drain_output(&mut self.pool, &mut self.s2c, usize::MAX, self.now);
            if !self.c2s.is_empty() {
                let b = Bytes::from(std::mem::take(&mut self.c2s));
                let n = self.server.recv(&mut self.pool, &b, self.now);
                moved |= n > 0;
                self.c2s = b[n..].to_vec();
            }
            if !self.s2c.is_empty() {
                let b = Bytes::from(std::mem::take(&mut self.s2c));
                let n = self.client.recv(&mut self.pool, &b, self.now);
                moved |= n > 0;
                self.s2c = b[n..].to_vec();
            }
            while let Some(e) = self.client.poll_event() {
                moved = true;
                self.client_events.push(e);
            }
            while let Some(e) = self.server.poll_event() {
                moved = true;
                self.server_events.push(e);
            }
            if !moved && self.client.output().is_empty() && self.server.output().is_empty() {
                return;
            }
        }
        panic!("pair did not settle");
    }

    /// Request bodies the server received, per stream, with credit released as read.
    pub fn server_take_data(&mut self) -> Vec<(StreamId, Vec<u8>, bool)> {
        take_data(&mut self.server, &mut self.server_events)
    }

    pub fn client_take_data(&mut self) -> Vec<(StreamId, Vec<u8>, bool)> {
        take_data(&mut self.client, &mut self.client_events)
    }
}

fn take_data(conn: &mut Connection, events: &mut Vec<Event>) -> Vec<(StreamId, Vec<u8>, bool)> {
    let mut out: Vec<(StreamId, Vec<u8>, bool)> = Vec::new();
    events.retain(|e| match e {
        Event::Data {
            stream,
            data,
            end_stream,
        } => {
            conn.release_capacity(*stream, data.len());
            match out.iter_mut().find(|(s, _, _)| s == stream) {
                Some(entry) => {
                    entry.1.extend_from_slice(data);
                    entry.2 |= *end_stream;
                }
                None => out.push((*stream, data.to_vec(), *end_stream)),
            }
            false
        }
        _ => true,
    });
    out
}

fn req(path: &str) -> Message {
    Message::request(b"GET", b"https", b"example.com", path.as_bytes())
}

fn post(path: &str) -> Message {
    Message::request(b"POST", b"https", b"example.com", path.as_bytes())
}

fn body(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

// ----- Normal operation ------------------------------------------------------------------

#[test]
fn request_response_with_body_and_trailers() {
    let mut p = Pair::new(Config::default(), Config::default());
    let mut m = post("/upload");
    m.fields.push(b"x-test", b"1", false);
    let id = p.client.open_stream(m, false).unwrap();
    p.client
        .send_data(id, Bytes::from_static(b"hello "), false)
        .unwrap();
    p.client
        .send_data(id, Bytes::from_static(b"world"), true)
        .unwrap();
    p.run();
    let head = p.server_events.iter().find_map(|e| match e {
        Event::Headers {
            stream, message, ..
        } => Some((*stream, message.path().map(|x| x.to_vec()))),
        _ => None,
    });
    assert_eq!(head, Some((id, Some(b"/upload".to_vec()))));
    let data = p.server_take_data();
    assert_eq!(data, vec![(id, b"hello world".to_vec(), true)]);

    let mut resp = Message::response(200);
    resp.fields.push(b"content-type", b"text/plain", false);
    p.server.send_headers(id, resp, false).unwrap();
    p.server
        .send_data(id, Bytes::from_static(b"ok"), false)
        .unwrap();
    let mut t = Fields::new();
    t.push(b"grpc-status", b"0", false);
    p.server.send_trailers(id, t).unwrap();
    p.run();
    let got = p.client_take_data();
    assert_eq!(got, vec![(id, b"ok".to_vec(), false)]);
    assert!(p
        .client_events
        .iter()
        .any(|e| matches!(e, Event::Headers { message, .. } if message.status() == Some(200))));
    let trailers = p.client_events.iter().find_map(|e| match e {
        Event::Trailers { fields, .. } => fields.get(b"grpc-status").map(|v| v.to_vec()),
        _ => None,
    });
    assert_eq!(trailers, Some(b"0".to_vec()));
    // Both sides closed: once detached, no context remains.
    assert_eq!(p.server.stream_state(id), Some(State::Closed));
    p.server.detach(id);
    p.client.detach(id);
    assert_eq!(p.server.stream_count(), 0);
    assert_eq!(p.client.stream_count(), 0);
    // Idle connections hold no buffer.
    p.run();
    assert_eq!(p.client.buffers_held() + p.server.buffers_held(), 0);
    assert_eq!(p.pool.in_use(), 0);
}

#[test]
fn large_transfers_cross_every_window() {
    let mut p = Pair::new(Config::default(), Config::default());
    let up = body(3 << 20, 7);
    let id = p.client.open_stream(post("/big"), false).unwrap();
    let mut sent = 0;
    let mut received = Vec::new();
    let mut done = false;
    for _ in 0..100_000 {
        // Feed the client send queue in 256 KiB steps, as a relay would under back-pressure.
        if sent < up.len() && p.client.stream_send_window(id).is_some() {
            let n = (up.len() - sent).min(256 << 10);
            let end = sent + n == up.len();
            match p
                .client
                .send_data(id, Bytes::copy_from_slice(&up[sent..sent + n]), end)
            {
                Ok(()) => sent += n,
                Err(SendError::QueueFull) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        p.run();
        for (_, d, end) in p.server_take_data() {
            received.extend_from_slice(&d);
            done |= end;
        }
        if done {
            break;
        }
    }
    assert!(done);
    assert_eq!(received.len(), up.len());
    assert!(received == up);
}

#[test]
fn many_concurrent_streams() {
    let mut p = Pair::new(Config::default(), Config::default());
    p.run();
    let mut ids = Vec::new();
    for i in 0..100 {
        let id = p.client.open_stream(req(&format!("/s/{i}")), true).unwrap();
        ids.push(id);
    }
    assert_eq!(
        p.client.open_stream(req("/too-many"), true),
        Err(SendError::ConcurrencyLimit)
    );
    p.run();
    let heads = p
        .server_events
        .iter()
        .filter(|e| matches!(e, Event::Headers { .. }))
        .count();
    assert_eq!(heads, 100);
    for (i, id) in ids.iter().enumerate() {
        p.server
            .send_headers(*id, Message::response(200), false)
            .unwrap();
        p.server
            .send_data(*id, Bytes::from(body(1000 + i, i as u8)), true)
            .unwrap();
    }
    p.run();
    let data = p.client_take_data();
    assert_eq!(data.len(), 100);
    for (id, d, end) in data {
        let i = ids.iter().position(|x| *x == id).unwrap();
        assert!(end);
        assert_eq!(d, body(1000 + i, i as u8));
    }
}

#[test]
fn ping_is_answered_and_ack_reported() {
    let mut p = Pair::new(Config::default(), Config::default());
    p.client.ping(*b"12345678");
    p.run();
    assert!(p
        .client_events
        .iter()
        .any(|e| matches!(e, Event::PingAck { payload } if payload == b"12345678")));
}

#[test]
fn peer_reset_reaches_the_owner_and_is_never_answered() {
    let mut p = Pair::new(Config::default(), Config::default());
    let id = p.client.open_stream(post("/"), false).unwrap();
    p.client
        .send_data(id, Bytes::from_static(b"partial"), false)
        .unwrap();
    p.run();
    p.client.reset(id, ErrorCode::Cancel);
    p.run();
    assert!(p.server_events.iter().any(|e| matches!(e, Event::Reset { stream, code: ErrorCode::Cancel, remote: true } if *stream == id)));
    assert_eq!(p.client.stats().resets_sent, 1);
    assert_eq!(p.server.stats().resets_sent, 0);
    assert_eq!(p.server.stream_state(id), Some(State::Reset(ResetBy::Peer)));
}

#[test]
fn goaway_from_server_refuses_later_streams_on_client() {
    let mut p = Pair::new(Config::default(), Config::default());
    let a = p.client.open_stream(req("/a"), true).unwrap();
    p.run();
    let b = p.client.open_stream(req("/b"), true).unwrap();
    // The server goes away before it sees stream b.
    p.server.shutdown(p.now);
    let mut out = Vec::new();
    p.server
        .drain_output(&mut p.pool, &mut out, usize::MAX, p.now);
    let n = p.client.recv(&mut p.pool, &Bytes::from(out), p.now);
    assert!(n > 0);
    p.run();
    // First GOAWAY has the largest id; after the PING round trip the real last id is sent.
    let goaways: Vec<_> = p
        .client_events
        .iter()
        .filter_map(|e| match e {
            Event::GoAway {
                last_stream, code, ..
            } => Some((*last_stream, *code)),
            _ => None,
        })
        .collect();
    assert_eq!(goaways.first(), Some(&(StreamId::MAX, ErrorCode::NoError)));
    // The client's PING ACK overtook its HEADERS for b: the final GOAWAY names a, and b is
    // refused on the client, safe to retry elsewhere.
    assert_eq!(goaways.last(), Some(&(a, ErrorCode::NoError)));
    assert!(p.client_events.iter().any(
        |e| matches!(e, Event::Reset { stream, code: ErrorCode::RefusedStream, .. } if *stream == b)
    ));
    assert!(!p
        .server_events
        .iter()
        .any(|e| matches!(e, Event::Headers { stream, .. } if *stream == b)));
    assert!(p.client.open_stream(req("/c"), true).is_err());
}

#[test]
fn two_step_shutdown_then_done_when_streams_end() {
    let mut p = Pair::new(Config::default(), Config::default());
    let id = p.client.open_stream(req("/"), true).unwrap();
    p.run();
    p.server.shutdown(p.now);
    p.run();
    assert!(!p.server.is_done(), "a stream is still open");
    p.server
        .send_headers(id, Message::response(204), true)
        .unwrap();
    p.run();
    p.server.detach(id);
    p.run();
    assert!(p.server.is_done());
}

#[test]
fn settings_change_makes_windows_negative_then_recovers() {
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    c.get(1, true);
    s.feed(c.take());
    s.conn
        .send_headers(sid(1), Message::response(200), false)
        .unwrap();
    s.conn
        .send_data(sid(1), Bytes::from(vec![7u8; 60_000]), true)
        .unwrap();
    s.pump();
    let sent: usize = frames(&s.take_out())
        .iter()
        .filter(|(h, _)| h.kind == FrameType::Data)
        .map(|(h, _)| h.len as usize)
        .sum();
    assert_eq!(sent, 60_000);
    // Lower the initial window to 1000: the stream's window becomes 1000 - 60000.
    let mut p = Vec::new();
    p.extend_from_slice(&setting::INITIAL_WINDOW_SIZE.to_be_bytes());
    p.extend_from_slice(&1000u32.to_be_bytes());
    c.raw(FrameType::Settings, 0, 0, &p);
    s.feed(c.take());
    assert_eq!(s.conn.stream_send_window(sid(1)), Some(1000 - 60_000));
    // More data cannot flow until the window is positive again.
    assert!(frames(&s.take_out())
        .iter()
        .any(|(h, _)| h.kind == FrameType::Settings && h.has(flags::ACK)));
}

#[test]
fn window_overflow_is_detected() {
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    c.get(1, false);
    c.raw(FrameType::WindowUpdate, 0, 1, &0x7fff_ff00u32.to_be_bytes());
    s.feed(c.take());
    assert_eq!(
        rst_codes(&s.take_out()),
        vec![(1, ErrorCode::FlowControlError)]
    );
    c.raw(FrameType::WindowUpdate, 0, 0, &0x7fff_ffffu32.to_be_bytes());
    s.feed(c.take());
    assert_eq!(
        goaway_code(&s.take_out()),
        Some(ErrorCode::FlowControlError)
    );
}

#[test]
fn data_beyond_the_stream_window_is_a_stream_error() {
    let mut s = Server::new(Config {
        initial_window_size: 100,
        ..Config::default()
    });
    let mut c = RawClient::new();
    c.get(1, false);
    c.raw(FrameType::Data, 0, 1, &[0u8; 101]);
    c.get(3, true);
    s.feed(c.take());
    assert_eq!(
        rst_codes(&s.take_out()),
        vec![(1, ErrorCode::FlowControlError)]
    );
    // The connection goes on: stream 3 arrives.
    assert!(s
        .events
        .iter()
        .any(|e| matches!(e, Event::Headers { stream, .. } if stream.value() == 3)));
}

#[test]
fn refused_stream_beyond_max_concurrent() {
    let mut s = Server::new(Config {
        max_concurrent_streams: 2,
        ..Config::default()
    });
    let mut c = RawClient::new();
    c.get(1, false);
    c.get(3, false);
    c.get(5, false);
    s.feed(c.take());
    assert_eq!(
        rst_codes(&s.take_out()),
        vec![(5, ErrorCode::RefusedStream)]
    );
    assert_eq!(
        s.events
            .iter()
            .filter(|e| matches!(e, Event::Headers { .. }))
            .count(),
        2
    );
}

#[test]
fn frame_size_and_header_list_limits() {
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    c.raw(FrameType::Ping, 0, 0, &[0u8; 9]);
    s.feed(c.take());
    assert_eq!(goaway_code(&s.take_out()), Some(ErrorCode::FrameSizeError));

    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    c.raw(FrameType::Data, 0, 1, &vec![0u8; 16_385]);
    s.feed(c.take());
    assert_eq!(goaway_code(&s.take_out()), Some(ErrorCode::FrameSizeError));

    // A header list over MAX_HEADER_LIST_SIZE costs only its stream.
    let mut s = Server::new(Config {
        max_header_list_size: 1000,
        ..Config::default()
    });
    let mut c = RawClient::new();
    let mut b = Vec::new();
    let big = vec![b'a'; 2000];
    c.enc.encode(
        vec![
            (&b":method"[..], &b"GET"[..], false),
            (b":scheme", b"https", false),
            (b":authority", b"x", false),
            (b":path", b"/", false),
            (b"x-big", &big[..], false),
        ],
        &mut b,
    );
    c.raw(
        FrameType::Headers,
        flags::END_HEADERS | flags::END_STREAM,
        1,
        &b,
    );
    c.get(3, true);
    s.feed(c.take());
    assert_eq!(
        rst_codes(&s.take_out()),
        vec![(1, ErrorCode::ProtocolError)]
    );
    assert!(s
        .events
        .iter()
        .any(|e| matches!(e, Event::Headers { stream, .. } if stream.value() == 3)));
}

#[test]
fn protocol_violations_get_the_rfc_code() {
    type Case = (&'static str, fn(&mut RawClient), ErrorCode);
    let cases: Vec<Case> = vec![
        (
            "HEADERS on stream 0",
            |c| c.raw(FrameType::Headers, flags::END_HEADERS, 0, &[0x82]),
            ErrorCode::ProtocolError,
        ),
        (
            "even stream id",
            |c| {
                let b = c.block("/");
                c.raw(FrameType::Headers, flags::END_HEADERS, 2, &b)
            },
            ErrorCode::ProtocolError,
        ),
        (
            "DATA on idle stream",
            |c| c.raw(FrameType::Data, 0, 1, b"x"),
            ErrorCode::ProtocolError,
        ),
        (
            "bad HPACK",
            |c| c.raw(FrameType::Headers, flags::END_HEADERS, 1, &[0x80]),
            ErrorCode::CompressionError,
        ),
        (
            "CONTINUATION without HEADERS",
            |c| c.raw(FrameType::Continuation, flags::END_HEADERS, 1, &[0x82]),
            ErrorCode::ProtocolError,
        ),
        (
            "frame inside a header block",
            |c| {
                let b = c.block("/");
                c.raw(FrameType::Headers, 0, 1, &b);
                c.raw(FrameType::Ping, 0, 0, &[0; 8]);
            },
            ErrorCode::ProtocolError,
        ),
        (
            "PUSH_PROMISE from a client",
            |c| {
                c.raw(
                    FrameType::PushPromise,
                    flags::END_HEADERS,
                    1,
                    &[0, 0, 0, 2, 0x82],
                )
            },
            ErrorCode::ProtocolError,
        ),
        (
            "SETTINGS with bad length",
            |c| c.raw(FrameType::Settings, 0, 0, &[0; 5]),
            ErrorCode::FrameSizeError,
        ),
        (
            "SETTINGS ENABLE_PUSH=2",
            |c| c.raw(FrameType::Settings, 0, 0, &[0, 2, 0, 0, 0, 2]),
            ErrorCode::ProtocolError,
        ),
        (
            "SETTINGS window too large",
            |c| c.raw(FrameType::Settings, 0, 0, &[0, 4, 0x80, 0, 0, 0]),
            ErrorCode::FlowControlError,
        ),
        (
            "WINDOW_UPDATE 0 on the connection",
            |c| c.raw(FrameType::WindowUpdate, 0, 0, &[0; 4]),
            ErrorCode::ProtocolError,
        ),
        (
            "self-dependent PRIORITY on an idle stream",
            |c| c.raw(FrameType::Priority, 0, 1, &[0, 0, 0, 1, 16]),
            ErrorCode::ProtocolError,
        ),
        (
            "RST_STREAM on idle",
            |c| c.raw(FrameType::RstStream, 0, 1, &[0, 0, 0, 8]),
            ErrorCode::ProtocolError,
        ),
        (
            "decreasing stream id",
            |c| {
                c.get(5, true);
                c.get(3, true);
            },
            ErrorCode::ProtocolError,
        ),
        (
            "HEADERS after END_STREAM on a closed stream",
            |c| {
                c.get(1, true);
                c.raw(FrameType::RstStream, 0, 1, &[0, 0, 0, 8]);
                c.get(1, true);
            },
            ErrorCode::StreamClosed,
        ),
    ];
    for (name, build, code) in cases {
        let mut s = Server::new(Config::default());
        let mut c = RawClient::new();
        build(&mut c);
        s.feed(c.take());
        assert_eq!(goaway_code(&s.take_out()), Some(code), "{name}");
        assert!(s.conn.is_done(), "{name}");
    }
}

#[test]
fn stream_errors_keep_the_connection() {
    type Case = (&'static str, fn(&mut RawClient), ErrorCode);
    let cases: Vec<Case> = vec![
        (
            "uppercase header name",
            |c| {
                let mut b = Vec::new();
                c.enc.encode(
                    vec![
                        (&b":method"[..], &b"GET"[..], false),
                        (b":scheme", b"https", false),
                        (b":path", b"/", false),
                        (b":authority", b"x", false),
                        (b"X-Up", b"1", false),
                    ],
                    &mut b,
                );
                c.raw(
                    FrameType::Headers,
                    flags::END_HEADERS | flags::END_STREAM,
                    1,
                    &b,
                );
            },
            ErrorCode::ProtocolError,
        ),
        (
            "connection header",
            |c| {
                let mut b = Vec::new();
                c.enc.encode(
                    vec![
                        (&b":method"[..], &b"GET"[..], false),
                        (b":scheme", b"https", false),
                        (b":path", b"/", false),
                        (b":authority", b"x", false),
                        (b"connection", b"close", false),
                    ],
                    &mut b,
                );
                c.raw(
                    FrameType::Headers,
                    flags::END_HEADERS | flags::END_STREAM,
                    1,
                    &b,
                );
            },
            ErrorCode::ProtocolError,
        ),
        (
            "content-length mismatch",
            |c| {
                let mut b = Vec::new();
                c.enc.encode(
                    vec![
                        (&b":method"[..], &b"POST"[..], false),
                        (b":scheme", b"https", false),
                        (b":path", b"/", false),
                        (b":authority", b"x", false),
                        (b"content-length", b"10", false),
                    ],
                    &mut b,
                );
                c.raw(FrameType::Headers, flags::END_HEADERS, 1, &b);
                c.raw(FrameType::Data, flags::END_STREAM, 1, b"short");
            },
            ErrorCode::ProtocolError,
        ),
        (
            "self-dependent PRIORITY",
            |c| {
                c.get(1, false);
                c.raw(FrameType::Priority, 0, 1, &[0, 0, 0, 1, 16]);
            },
            ErrorCode::ProtocolError,
        ),
        (
            "WINDOW_UPDATE 0 on a stream",
            |c| {
                c.get(1, false);
                c.raw(FrameType::WindowUpdate, 0, 1, &[0; 4]);
            },
            ErrorCode::ProtocolError,
        ),
        (
            "DATA after END_STREAM",
            |c| {
                c.get(1, true);
                c.raw(FrameType::Data, 0, 1, b"x");
            },
            ErrorCode::StreamClosed,
        ),
        (
            "trailers without END_STREAM",
            |c| {
                c.get(1, false);
                let mut b = Vec::new();
                c.enc.encode(vec![(&b"x-t"[..], &b"1"[..], false)], &mut b);
                c.raw(FrameType::Headers, flags::END_HEADERS, 1, &b);
            },
            ErrorCode::ProtocolError,
        ),
    ];
    for (name, build, code) in cases {
        let mut s = Server::new(Config::default());
        let mut c = RawClient::new();
        build(&mut c);
        c.get(101, true);
        s.feed(c.take());
        let out = s.take_out();
        assert_eq!(rst_codes(&out), vec![(1, code)], "{name}");
        assert_eq!(goaway_code(&out), None, "{name}");
        assert!(
            s.events
                .iter()
                .any(|e| matches!(e, Event::Headers { stream, .. } if stream.value() == 101)),
            "{name}"
        );
    }
}

#[test]
fn frames_after_our_reset_are_ignored_not_answered() {
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    c.get(1, false);
    c.raw(FrameType::WindowUpdate, 0, 1, &[0; 4]);
    s.feed(c.take());
    assert_eq!(
        rst_codes(&s.take_out()),
        vec![(1, ErrorCode::ProtocolError)]
    );
    s.conn.detach(sid(1));
    // In-flight DATA for the reset stream: no second RST, connection fine.
    c.raw(FrameType::Data, 0, 1, b"late");
    c.raw(FrameType::RstStream, 0, 1, &[0, 0, 0, 8]);
    s.feed(c.take());
    let out = s.take_out();
    assert_eq!(rst_codes(&out), vec![]);
    assert_eq!(goaway_code(&out), None);
}

// ----- Timeouts --------------------------------------------------------------------------

#[test]
fn settings_ack_timeout() {
    let mut s = Server::new(Config {
        settings_timeout_ms: 1000,
        ..Config::default()
    });
    let mut c = RawClient::new();
    s.feed(c.take());
    assert_eq!(s.conn.next_timeout(), Some(Instant(1000)));
    s.conn.handle_timeout(Instant(999));
    s.pump();
    assert_eq!(goaway_code(&s.take_out()), None);
    s.conn.handle_timeout(Instant(1000));
    s.pump();
    assert_eq!(goaway_code(&s.take_out()), Some(ErrorCode::SettingsTimeout));
}

#[test]
fn idle_timeout_shuts_down_gracefully() {
    let mut s = Server::new(Config {
        idle_timeout_ms: 5000,
        ..Config::default()
    });
    let mut c = RawClient::new();
    c.raw(FrameType::Settings, flags::ACK, 0, &[]);
    s.feed(c.take());
    s.take_out();
    assert_eq!(s.conn.next_timeout(), Some(Instant(5000)));
    s.conn.handle_timeout(Instant(5000));
    s.pump();
    let out = s.take_out();
    let f = frames(&out);
    assert!(f.iter().any(|(h, _)| h.kind == FrameType::GoAway));
    assert!(f
        .iter()
        .any(|(h, _)| h.kind == FrameType::Ping && !h.has(flags::ACK)));
    // The PING ACK completes the two steps.
    c.raw(FrameType::Ping, flags::ACK, 0, b"h2mux-sd");
    s.feed(c.take());
    let out = s.take_out();
    let g = frames(&out)
        .into_iter()
        .find(|(h, _)| h.kind == FrameType::GoAway)
        .unwrap();
    assert_eq!(
        frame::parse_goaway(&g.1).unwrap().last_stream,
        StreamId::ZERO
    );
    assert!(s.conn.is_done());
}

#[test]
fn shutdown_timeout_ends_a_stuck_shutdown() {
    let mut s = Server::new(Config {
        shutdown_timeout_ms: 2000,
        ..Config::default()
    });
    let mut c = RawClient::new();
    c.get(1, false);
    s.feed(c.take());
    s.conn.shutdown(Instant(0));
    s.pump();
    assert!(!s.conn.is_done());
    s.now = Instant(2000);
    s.conn.handle_timeout(Instant(2000));
    s.pump();
    assert!(s.conn.is_done());
}

// ----- Resumability ------------------------------------------------------------------------

/// Merges consecutive DATA chunks of a stream: how DATA is cut depends on how bytes arrive,
/// everything else must not.
fn normalize(events: &[Event]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut data: Option<(StreamId, Vec<u8>, bool)> = None;
    let flush = |data: &mut Option<(StreamId, Vec<u8>, bool)>, out: &mut Vec<String>| {
        if let Some((s, d, e)) = data.take() {
            out.push(format!(
                "data {} {} {:?} {}",
                s,
                d.len(),
                &d[..d.len().min(16)],
                e
            ));
        }
    };
    for e in events {
        match e {
            Event::Data {
                stream,
                data: d,
                end_stream,
            } => match &mut data {
                Some((s, buf, end)) if s == stream && !*end => {
                    buf.extend_from_slice(d);
                    *end |= end_stream;
                }
                _ => {
                    flush(&mut data, &mut out);
                    data = Some((*stream, d.to_vec(), *end_stream));
                }
            },
            other => {
                flush(&mut data, &mut out);
                out.push(format!("{other:?}"));
            }
        }
    }
    flush(&mut data, &mut out);
    out
}

fn recorded_client_stream() -> Vec<u8> {
    let mut p = Pair::new(Config::default(), Config::default());
    for i in 0..60 {
        let mut m = if i % 3 == 0 {
            post(&format!("/p/{i}"))
        } else {
            req(&format!("/g/{i}?q={i}"))
        };
        m.fields.push(
            b"user-agent",
            b"Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0",
            false,
        );
        m.fields
            .push(b"cookie", format!("session={i:08}").as_bytes(), false);
        let id = p.client.open_stream(m, i % 3 != 0).unwrap();
        if i % 3 == 0 {
            p.client
                .send_data(id, Bytes::from(body(5000 + i * 7, i as u8)), false)
                .unwrap();
            let mut t = Fields::new();
            t.push(b"x-checksum", b"abc", false);
            p.client.send_trailers(id, t).unwrap();
        }
        if i % 10 == 0 {
            p.client.ping([i as u8; 8]);
        }
        p.run();
        p.server_take_data();
    }
    p.c2s_log
}

#[test]
fn byte_at_a_time_equals_all_at_once() {
    let stream = recorded_client_stream();
    assert!(stream.len() > 50_000);

    // Windows large enough that the replay needs no WINDOW_UPDATE timing of its own.
    let cfg = || Config {
        initial_window_size: 0x7fff_ffff,
        connection_window: 0x7fff_ffff,
        ..Config::default()
    };
    let mut whole = Server::new(cfg());
    assert_eq!(whole.feed(Bytes::from(stream.clone())), stream.len());

    let mut bytewise = Server::new(cfg());
    for b in &stream {
        assert_eq!(bytewise.feed(Bytes::copy_from_slice(&[*b])), 1);
    }
    assert_eq!(whole.conn.error(), None);
    assert_eq!(normalize(&whole.events), normalize(&bytewise.events));
    assert_eq!(whole.out, bytewise.out);
    assert_eq!(
        whole
            .events
            .iter()
            .filter(|e| matches!(e, Event::Headers { .. }))
            .count(),
        60
    );
    assert_eq!(
        whole
            .events
            .iter()
            .filter(|e| matches!(e, Event::Trailers { .. }))
            .count(),
        20
    );

    // And at a few odd chunk sizes.
    for chunk in [2usize, 7, 9, 10, 100, 4095] {
        let mut s = Server::new(cfg());
        for c in stream.chunks(chunk) {
            assert_eq!(s.feed(Bytes::copy_from_slice(c)), c.len());
        }
        assert_eq!(
            normalize(&whole.events),
            normalize(&s.events),
            "chunk {chunk}"
        );
        assert_eq!(whole.out, s.out, "chunk {chunk}");
    }
}

// ----- Buffer quota ----------------------------------------------------------------------

#[test]
fn exhausted_pool_makes_connections_wait_and_resume_in_order() {
    // Two buffers for three clients: each needs a tx buffer to write its preface.
    let mut pool = BufferPool::new(16_384, 2 * 16_384, 16);
    let cfg = Arc::new(Config::default());
    let mut conns: Vec<Connection> = (0..3)
        .map(|i| Connection::new(Side::Backend, cfg.clone(), i, Instant(0)))
        .collect();
    for c in conns.iter_mut() {
        c.flush(&mut pool, Instant(0));
    }
    assert!(!conns[0].output().is_empty());
    assert!(!conns[1].output().is_empty());
    assert!(conns[2].output().is_empty());
    assert!(conns[2].is_waiting_for_buffer());
    assert_eq!(pool.waiters(), 1);
    assert_eq!(pool.pop_waiter(), None, "nothing free yet");

    // A fourth connection gets in line behind the third.
    let mut c3 = Connection::new(Side::Backend, cfg.clone(), 3, Instant(0));
    c3.flush(&mut pool, Instant(0));
    assert!(c3.is_waiting_for_buffer());
    conns.push(c3);

    // The first connection's output is written: its buffer goes back, the third resumes first.
    let n = conns[0].output().len();
    conns[0].consume_output(n, &mut pool);
    assert_eq!(conns[0].buffers_held(), 0);
    let w = pool.pop_waiter().unwrap();
    assert_eq!(w, 2);
    conns[w as usize].on_buffer_available(&mut pool, Instant(0));
    assert!(!conns[2].output().is_empty());
    assert!(!conns[2].is_waiting_for_buffer());
    assert_eq!(pool.pop_waiter(), None);

    let n = conns[1].output().len();
    conns[1].consume_output(n, &mut pool);
    assert_eq!(pool.pop_waiter(), Some(3));
    conns[3].on_buffer_available(&mut pool, Instant(0));
    assert!(!conns[3].output().is_empty());
    assert_eq!(pool.in_use(), 2);
}

#[test]
fn rx_waits_for_a_buffer_and_nothing_is_lost() {
    // One buffer in all: the server takes it for tx; a split control frame then needs rx.
    let mut pool = BufferPool::new(16_384, 16_384, 16);
    let cfg = Arc::new(Config::default());
    let mut s = Connection::new(Side::Frontend, cfg, 9, Instant(0));
    let mut c = RawClient::new();
    c.get(1, false);
    let mut stream = c.take().to_vec();
    // A GOAWAY split in two parts needs the payload gathered.
    let mut g = Vec::new();
    frame::write_goaway(&mut g, StreamId::ZERO, ErrorCode::NoError, b"bye now");
    stream.extend_from_slice(&g[..12]);
    let b = Bytes::from(stream.clone());
    let n = s.recv(&mut pool, &b, Instant(0));
    // The tx buffer holds our SETTINGS and ACK: no buffer is left for rx.
    assert!(n < b.len());
    assert_eq!(s.rx_blocked(), Some(RxBlocked::Buffer));
    assert!(s.is_waiting_for_buffer());
    let out = s.output().len();
    s.consume_output(out, &mut pool);
    assert_eq!(pool.pop_waiter(), Some(9));
    s.on_buffer_available(&mut pool, Instant(0));
    let rest = b.slice(n..);
    assert_eq!(s.recv(&mut pool, &rest, Instant(0)), rest.len());
    let tail = Bytes::copy_from_slice(&g[12..]);
    assert_eq!(s.recv(&mut pool, &tail, Instant(0)), tail.len());
    let mut got_goaway = false;
    let mut got_headers = false;
    while let Some(e) = s.poll_event() {
        got_goaway |= matches!(e, Event::GoAway { ref debug, .. } if &debug[..] == b"bye now");
        got_headers |= matches!(e, Event::Headers { .. });
    }
    assert!(got_goaway && got_headers);
}

// ----- Attacks and limits ----------------------------------------------------------------

#[test]
fn rapid_reset_is_held_by_live_work_then_calmed() {
    let mut s = Server::new(Config {
        max_concurrent_streams: 10,
        ..Config::default()
    });
    let mut c = RawClient::new();
    for i in 0..1000u32 {
        let id = 2 * i + 1;
        c.get(id, false);
        c.raw(FrameType::RstStream, 0, id, &[0, 0, 0, 8]);
    }
    let input = c.take();
    let n = s.feed(input.clone());
    // Reset streams keep counting while the other side works on them: reading stopped at 10.
    assert!(n < input.len());
    assert_eq!(s.conn.rx_blocked(), Some(RxBlocked::Streams));
    assert_eq!(s.conn.stream_count(), 10);
    // The relay finishes its work as fast as it can: the early resets add up to a calm-down.
    let mut pos = n;
    for _ in 0..1000 {
        let ids: Vec<StreamId> = s
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Headers { stream, .. } => Some(*stream),
                _ => None,
            })
            .collect();
        s.events.clear();
        for id in ids {
            s.conn.detach(id);
        }
        if pos >= input.len() || s.conn.error().is_some() {
            break;
        }
        pos += s.feed(input.slice(pos..));
    }
    let out = s.take_out();
    let f = frames(&out);
    let goaways: Vec<ErrorCode> = f
        .iter()
        .filter(|(h, _)| h.kind == FrameType::GoAway)
        .map(|(_, p)| frame::parse_goaway(p).unwrap().code)
        .collect();
    assert_eq!(goaways.first(), Some(&ErrorCode::NoError), "graceful first");
    assert_eq!(goaways.last(), Some(&ErrorCode::EnhanceYourCalm));
    assert!(s.conn.is_done());
}

#[test]
fn made_you_reset_is_counted_and_calmed() {
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    // Each stream is valid, then provoked into a reset by a zero WINDOW_UPDATE.
    for i in 0..200u32 {
        let id = 2 * i + 1;
        c.get(id, true);
        c.raw(FrameType::WindowUpdate, 0, id, &[0; 4]);
    }
    let input = c.take();
    let mut pos = 0;
    for _ in 0..1000 {
        pos += s.feed(input.slice(pos..));
        let ids: Vec<StreamId> = s
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Headers { stream, .. } => Some(*stream),
                _ => None,
            })
            .collect();
        s.events.clear();
        for id in ids {
            s.conn.detach(id);
        }
        if pos >= input.len() || s.conn.error().is_some() {
            break;
        }
    }
    assert_eq!(
        s.conn.error().map(|e| e.code()),
        Some(ErrorCode::EnhanceYourCalm)
    );
    assert!(s.conn.stats().resets_sent < 200);
}

#[test]
fn continuation_flood_closes_before_decoding() {
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    let b = c.block("/");
    c.raw(FrameType::Headers, 0, 1, &b);
    for _ in 0..100 {
        c.raw(FrameType::Continuation, 0, 1, &[0x40, 1, b'a', 1, b'b']);
    }
    s.feed(c.take());
    assert_eq!(goaway_code(&s.take_out()), Some(ErrorCode::EnhanceYourCalm));
    assert!(!s.events.iter().any(|e| matches!(e, Event::Headers { .. })));

    // Few frames but too many bytes.
    let mut s = Server::new(Config {
        max_header_block: 4096,
        ..Config::default()
    });
    let mut c = RawClient::new();
    let b = c.block("/");
    c.raw(FrameType::Headers, 0, 1, &b);
    for _ in 0..3 {
        c.raw(FrameType::Continuation, 0, 1, &[0u8; 2000]);
    }
    s.feed(c.take());
    assert_eq!(goaway_code(&s.take_out()), Some(ErrorCode::EnhanceYourCalm));
}

#[test]
fn hpack_bomb_costs_one_stream() {
    let mut s = Server::new(Config {
        max_header_list_size: 16 * 1024,
        ..Config::default()
    });
    let mut c = RawClient::new();
    // One 4000-byte entry inserted, then referenced 3000 times (12 MB decoded).
    let mut b = Vec::new();
    let big = vec![b'z'; 4000];
    c.enc.encode(
        vec![
            (&b":method"[..], &b"GET"[..], false),
            (b":scheme", b"https", false),
            (b":path", b"/", false),
            (b":authority", b"x", false),
        ],
        &mut b,
    );
    b.extend_from_slice(&[0x40, 0x01, b'b', 0x7f]);
    crate::hpack::encode_integer(&mut b, 4000 - 127, 7, 0);
    b.extend_from_slice(&big);
    let entry_index = 62u8; // the newest dynamic entry
    for _ in 0..3000 {
        b.push(0x80 | entry_index);
    }
    c.raw(
        FrameType::Headers,
        flags::END_HEADERS | flags::END_STREAM,
        1,
        &b[..],
    );
    s.feed(c.take());
    assert_eq!(
        rst_codes(&s.take_out()),
        vec![(1, ErrorCode::ProtocolError)]
    );
    // HPACK state is still in sync: the next request decodes.
    c.get(3, true);
    s.feed(c.take());
    assert!(s
        .events
        .iter()
        .any(|e| matches!(e, Event::Headers { stream, .. } if stream.value() == 3)));
}

#[test]
fn ping_flood_stops_reading_while_tx_is_full() {
    let mut s = Server::new(Config {
        glitch_threshold: 1_000_000,
        ..Config::default()
    });
    let mut c = RawClient::new();
    for i in 0..5000u32 {
        c.raw(FrameType::Ping, 0, 0, &(i as u64).to_be_bytes());
    }
    let input = c.take();
    // Nobody consumes output: reading stops once the tx buffer is full.
    let n = s.conn.recv(&mut s.pool, &input, Instant(0));
    assert!(n < input.len());
    assert_eq!(s.conn.rx_blocked(), Some(RxBlocked::TxRoom));
    assert!(s.conn.output().len() <= 16_384);
    // Draining lets it go on; every PING is answered exactly once.
    let m = s.feed(input.slice(n..));
    assert_eq!(s.conn.error(), None);
    assert_eq!(n + m, input.len());
    let acks = frames(&s.out)
        .iter()
        .filter(|(h, _)| h.kind == FrameType::Ping && h.has(flags::ACK))
        .count();
    assert_eq!(acks, 5000);
}

#[test]
fn ping_and_settings_floods_are_calmed() {
    for kind in [FrameType::Ping, FrameType::Settings] {
        let mut s = Server::new(Config::default());
        let mut c = RawClient::new();
        for _ in 0..2000 {
            if kind == FrameType::Ping {
                c.raw(FrameType::Ping, 0, 0, &[1; 8]);
            } else {
                c.raw(FrameType::Settings, 0, 0, &[]);
            }
        }
        s.feed(c.take());
        assert_eq!(
            s.conn.error().map(|e| e.code()),
            Some(ErrorCode::EnhanceYourCalm),
            "{kind:?}"
        );
    }
}

#[test]
fn empty_frame_flood_is_calmed() {
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    c.get(1, false);
    for _ in 0..1000 {
        c.raw(FrameType::Data, 0, 1, &[]);
    }
    s.feed(c.take());
    assert_eq!(
        s.conn.error().map(|e| e.code()),
        Some(ErrorCode::EnhanceYourCalm)
    );
}

#[test]
fn too_many_settings_entries() {
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    c.raw(FrameType::Settings, 0, 0, &[0u8; 6 * 33]);
    s.feed(c.take());
    assert_eq!(goaway_code(&s.take_out()), Some(ErrorCode::EnhanceYourCalm));
}

#[test]
fn own_reset_flood_is_bounded() {
    // Frames on closed streams each make us reset: a bounded queue, then a calm-down.
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    c.get(1001, true);
    for i in 0..500u32 {
        c.raw(
            FrameType::Priority,
            0,
            2 * i + 1,
            &[0, 0, 0, (2 * i + 1) as u8, 16],
        );
    }
    s.feed(c.take());
    assert!(s.conn.stats().resets_sent <= 100);
    assert_eq!(
        s.conn.error().map(|e| e.code()),
        Some(ErrorCode::EnhanceYourCalm)
    );
}

#[test]
fn glitches_warn_with_a_graceful_goaway_first() {
    let mut s = Server::new(Config {
        glitch_threshold: 100,
        ..Config::default()
    });
    let mut c = RawClient::new();
    for _ in 0..40 {
        c.raw(FrameType::Unknown(0xfa), 0, 0, b"?");
    }
    s.feed(c.take());
    let out = s.take_out();
    assert_eq!(goaway_code(&out), Some(ErrorCode::NoError));
    assert!(s.conn.error().is_none());
    for _ in 0..20 {
        c.raw(FrameType::Unknown(0xfa), 0, 0, b"?");
    }
    s.feed(c.take());
    assert_eq!(goaway_code(&s.take_out()), Some(ErrorCode::EnhanceYourCalm));
}

#[test]
fn http1_request_is_refused_clearly() {
    let mut s = Server::new(Config::default());
    s.feed(Bytes::from_static(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert_eq!(
        s.conn.error(),
        Some(ConnError::Violation(Violation::Http1Request))
    );
    assert_eq!(
        s.conn.error().map(|e| e.code()),
        Some(ErrorCode::ProtocolError)
    );
    assert!(s.conn.peer_is_http1());
    // Garbage that is not a request line is just an invalid preface.
    let mut s = Server::new(Config::default());
    s.feed(Bytes::from_static(b"\x16\x03\x01\x00 TLS hello"));
    assert!(!s.conn.peer_is_http1());
    assert!(s.conn.error().is_some());
}

// ----- No panic from any input ------------------------------------------------------------

struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// Arbitrary and mutated bytes into both polarities: no panic, and the connection either
/// goes on or fails with a GOAWAY.
#[test]
fn arbitrary_bytes_never_panic() {
    let valid = recorded_client_stream();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for round in 0..400 {
        let side = if round % 2 == 0 {
            Side::Frontend
        } else {
            Side::Backend
        };
        let mut conn = Connection::new(side, Arc::new(Config::default()), 1, Instant(0));
        let mut pool = pool();
        let mut input: Vec<u8> = if side == Side::Frontend {
            valid[..(rng.next() as usize % valid.len())].to_vec()
        } else {
            let mut v = Vec::new();
            frame::write_settings(&mut v, &[]);
            v
        };
        // Mutate: flip bytes, then append random frames and noise.
        for _ in 0..(rng.next() % 8) {
            if !input.is_empty() {
                let i = rng.next() as usize % input.len();
                input[i] = rng.next() as u8;
            }
        }
        for _ in 0..(rng.next() % 40) {
            let len = (rng.next() % 64) as usize;
            let kind = (rng.next() % 12) as u8;
            let fl = rng.next() as u8;
            let id = (rng.next() % 8) as u32;
            frame::write_header(
                &mut input,
                len as u32,
                FrameType::from_u8(kind),
                fl,
                sid(id),
            );
            for _ in 0..len {
                input.push(rng.next() as u8);
            }
        }
        if side == Side::Backend {
            let _ = conn.open_stream(req("/"), false);
        }
        let b = Bytes::from(input);
        let mut pos = 0;
        while pos < b.len() {
            let step = 1 + (rng.next() as usize % 3000);
            let end = (pos + step).min(b.len());
            let n = conn.recv(&mut pool, &b.slice(pos..end), Instant(round));
            let mut out = Vec::new();
            conn.drain_output(&mut pool, &mut out, usize::MAX, Instant(0));
            while conn.poll_event().is_some() {}
            pos += n.max(if conn.rx_blocked().is_some() {
                0
            } else {
                end - pos
            });
            if n == 0 && conn.rx_blocked().is_some() {
                break;
            }
        }
        conn.handle_timeout(Instant(1_000_000));
        conn.release(&mut pool);
    }
}

#[test]
fn blocked_streams_wait_in_their_queue_and_are_woken_by_the_right_event() {
    use crate::stream::Queue;
    let data_sent = |out: &[u8], id: u32| -> usize {
        frames(out)
            .iter()
            .filter(|(h, _)| h.kind == FrameType::Data && h.stream.value() == id)
            .map(|(h, _)| h.len as usize)
            .sum()
    };
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    // The client opens stream windows of 100 bytes.
    c.raw(FrameType::Settings, 0, 0, &[0, 4, 0, 0, 0, 100]);
    c.get(1, true);
    s.feed(c.take());
    s.take_out();

    // Stream window: 100 bytes go, then the stream waits for its own WINDOW_UPDATE.
    s.conn
        .send_headers(sid(1), Message::response(200), false)
        .unwrap();
    s.conn
        .send_data(sid(1), Bytes::from(vec![1u8; 1000]), true)
        .unwrap();
    s.pump();
    assert_eq!(data_sent(&s.take_out(), 1), 100);
    let k1 = s.conn.streams.find(sid(1)).unwrap();
    assert!(s.conn.streams.get(k1).unwrap().window_blocked);
    // A WINDOW_UPDATE for another stream or the connection does not wake it.
    c.raw(FrameType::WindowUpdate, 0, 0, &500u32.to_be_bytes());
    s.feed(c.take());
    assert_eq!(data_sent(&s.take_out(), 1), 0);
    c.raw(FrameType::WindowUpdate, 0, 1, &500u32.to_be_bytes());
    s.feed(c.take());
    assert_eq!(data_sent(&s.take_out(), 1), 500);

    // Connection window: stream windows are large now, the connection's is what is left.
    c.raw(FrameType::Settings, 0, 0, &[0, 4, 0, 0x10, 0, 0]);
    c.get(3, true);
    s.feed(c.take());
    s.take_out();
    let left = s.conn.conn_send_window() as usize;
    s.conn
        .send_headers(sid(3), Message::response(200), false)
        .unwrap();
    s.conn
        .send_data(sid(3), Bytes::from(vec![3u8; left + 5000]), true)
        .unwrap();
    s.pump();
    assert_eq!(data_sent(&s.take_out(), 3), left);
    let k3 = s.conn.streams.find(sid(3)).unwrap();
    assert!(s.conn.streams.is_queued(Queue::ConnWindow, k3));
    c.raw(FrameType::WindowUpdate, 0, 0, &100_000u32.to_be_bytes());
    s.feed(c.take());
    assert!(!s.conn.streams.is_queued(Queue::ConnWindow, k3));
    assert_eq!(data_sent(&s.take_out(), 3), 5000);

    // Tx room: nobody drains the output; the stream waits for room, not for a window.
    c.raw(FrameType::WindowUpdate, 0, 0, &1_000_000u32.to_be_bytes());
    c.get(5, true);
    s.feed(c.take());
    s.take_out();
    s.conn
        .send_headers(sid(5), Message::response(200), false)
        .unwrap();
    s.conn
        .send_data(sid(5), Bytes::from(vec![5u8; 100_000]), true)
        .unwrap();
    s.conn.flush(&mut s.pool, Instant(0));
    let k5 = s.conn.streams.find(sid(5)).unwrap();
    assert!(s.conn.streams.is_queued(Queue::TxRoom, k5));
    assert!(s.conn.output().len() <= 16_384);
    let n = s.conn.output().len();
    s.out.extend_from_slice(s.conn.output());
    s.conn.consume_output(n, &mut s.pool);
    assert!(s.conn.streams.is_queued(Queue::Send, k5));
    s.pump();
    assert_eq!(data_sent(&s.take_out(), 5), 100_000);
}

#[test]
fn idle_connection_is_small() {
    // Measured, not a target here: the figure the host pays per idle connection.
    let size = std::mem::size_of::<Connection>();
    eprintln!("size_of::<Connection>() = {size}");
    assert!(size < 2048, "Connection is {size} bytes");
}

// ----- Backend polarity against a hand-driven upstream -------------------------------------

/// A backend with `n` GET streams open (HEAD for the ones in `heads`), already past the
/// upstream's SETTINGS.
fn backend_with_streams(n: u32, heads: &[u32]) -> (Connection, BufferPool, Encoder) {
    let mut pool = pool();
    let mut b = Connection::new(Side::Backend, Arc::new(Config::default()), 1, Instant(0));
    for i in 0..n {
        let id = 2 * i + 1;
        let m = if heads.contains(&id) {
            Message::request(b"HEAD", b"https", b"x", b"/")
        } else {
            req("/")
        };
        b.open_stream(m, true).unwrap();
    }
    let mut out = Vec::new();
    b.drain_output(&mut pool, &mut out, usize::MAX, Instant(0));
    assert!(out.starts_with(PREFACE));
    let mut s = Vec::new();
    frame::write_settings(&mut s, &[]);
    assert_eq!(b.recv(&mut pool, &Bytes::from(s), Instant(0)), 9);
    (b, pool, Encoder::new(4096))
}

fn response_block(enc: &mut Encoder, status: &[u8], extra: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut fields: Vec<(&[u8], &[u8], bool)> = vec![(b":status", status, false)];
    fields.extend(extra.iter().map(|(n, v)| (*n, *v, false)));
    let mut out = Vec::new();
    enc.encode(fields, &mut out);
    out
}

fn feed_backend(
    b: &mut Connection,
    pool: &mut BufferPool,
    bytes: Vec<u8>,
) -> (Vec<Event>, Vec<u8>) {
    let n = b.recv(pool, &Bytes::from(bytes.clone()), Instant(0));
    assert_eq!(n, bytes.len());
    let mut out = Vec::new();
    b.drain_output(pool, &mut out, usize::MAX, Instant(0));
    let mut ev = Vec::new();
    while let Some(e) = b.poll_event() {
        ev.push(e);
    }
    (ev, out)
}

#[test]
fn backend_reads_informational_then_final_response_and_trailers() {
    let (mut b, mut pool, mut enc) = backend_with_streams(1, &[]);
    let mut up = Vec::new();
    let h103 = response_block(&mut enc, b"103", &[(b"link", b"</a.css>; rel=preload")]);
    frame::write_header_block(&mut up, sid(1), &h103, false, 16_384);
    let h200 = response_block(&mut enc, b"200", &[(b"content-length", b"5")]);
    frame::write_header_block(&mut up, sid(1), &h200, false, 16_384);
    frame::write_data(&mut up, sid(1), b"hello", false);
    let mut t = Vec::new();
    enc.encode(vec![(&b"grpc-status"[..], &b"0"[..], false)], &mut t);
    frame::write_header_block(&mut up, sid(1), &t, true, 16_384);
    let (ev, out) = feed_backend(&mut b, &mut pool, up);
    let statuses: Vec<u16> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Headers { message, .. } => message.status(),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, vec![103, 200]);
    assert!(ev.iter().any(|e| matches!(e, Event::Trailers { .. })));
    assert_eq!(rst_codes(&out), vec![]);
    assert_eq!(b.stream_state(sid(1)), Some(State::Closed));
}

#[test]
fn backend_head_response_carries_no_body() {
    let (mut b, mut pool, mut enc) = backend_with_streams(2, &[1]);
    let mut up = Vec::new();
    let h = response_block(&mut enc, b"200", &[(b"content-length", b"1000")]);
    frame::write_header_block(&mut up, sid(1), &h, true, 16_384);
    // Stream 3 was a GET: a body shorter than its content-length is malformed.
    let h = response_block(&mut enc, b"200", &[(b"content-length", b"1000")]);
    frame::write_header_block(&mut up, sid(3), &h, false, 16_384);
    frame::write_data(&mut up, sid(3), b"short", true);
    let (_, out) = feed_backend(&mut b, &mut pool, up);
    assert_eq!(rst_codes(&out), vec![(3, ErrorCode::ProtocolError)]);
}

#[test]
fn backend_refuses_what_a_server_may_not_send() {
    type Case = (
        &'static str,
        fn(&mut Encoder, &mut Vec<u8>),
        Result<(), (u32, ErrorCode)>,
        Option<ErrorCode>,
    );
    let cases: Vec<Case> = vec![
        (
            "PUSH_PROMISE",
            |_, up| {
                frame::write_header(up, 5, FrameType::PushPromise, flags::END_HEADERS, sid(1));
                up.extend_from_slice(&[0, 0, 0, 2, 0x88]);
            },
            Ok(()),
            Some(ErrorCode::ProtocolError),
        ),
        (
            "server-initiated stream",
            |e, up| {
                let h = response_block(e, b"200", &[]);
                frame::write_header_block(up, sid(2), &h, true, 16_384);
            },
            Ok(()),
            Some(ErrorCode::ProtocolError),
        ),
        (
            "ENABLE_PUSH from a server",
            |_, up| frame::write_settings(up, &[(setting::ENABLE_PUSH, 1)]),
            Ok(()),
            Some(ErrorCode::ProtocolError),
        ),
        (
            "response on a stream never opened",
            |e, up| {
                let h = response_block(e, b"200", &[]);
                frame::write_header_block(up, sid(9), &h, true, 16_384);
            },
            Ok(()),
            Some(ErrorCode::ProtocolError),
        ),
        (
            "DATA before the response head",
            |_, up| frame::write_data(up, sid(1), b"x", false),
            Err((1, ErrorCode::ProtocolError)),
            None,
        ),
        (
            "1xx with END_STREAM",
            |e, up| {
                let h = response_block(e, b"100", &[]);
                frame::write_header_block(up, sid(1), &h, true, 16_384);
            },
            Err((1, ErrorCode::ProtocolError)),
            None,
        ),
        (
            "101 is not HTTP/2",
            |e, up| {
                let h = response_block(e, b"101", &[]);
                frame::write_header_block(up, sid(1), &h, false, 16_384);
            },
            Err((1, ErrorCode::ProtocolError)),
            None,
        ),
        (
            "request pseudo-header in a response",
            |e, up| {
                let h = response_block(e, b"200", &[(b":path", b"/")]);
                frame::write_header_block(up, sid(1), &h, true, 16_384);
            },
            Err((1, ErrorCode::ProtocolError)),
            None,
        ),
    ];
    for (name, build, rst, goaway) in cases {
        let (mut b, mut pool, mut enc) = backend_with_streams(1, &[]);
        let mut up = Vec::new();
        build(&mut enc, &mut up);
        let (_, out) = feed_backend(&mut b, &mut pool, up);
        assert_eq!(goaway_code(&out), goaway, "{name}");
        match rst {
            Ok(()) => {}
            Err(r) => assert_eq!(rst_codes(&out), vec![r], "{name}"),
        }
    }
}

#[test]
fn backend_respects_peer_concurrency_and_frame_size() {
    let mut pool = pool();
    let mut b = Connection::new(Side::Backend, Arc::new(Config::default()), 1, Instant(0));
    let mut s = Vec::new();
    frame::write_settings(
        &mut s,
        &[
            (setting::MAX_CONCURRENT_STREAMS, 2),
            (setting::MAX_FRAME_SIZE, 16_384),
        ],
    );
    b.recv(&mut pool, &Bytes::from(s), Instant(0));
    assert!(b.open_stream(req("/1"), true).is_ok());
    assert!(b.open_stream(req("/2"), false).is_ok());
    assert_eq!(
        b.open_stream(req("/3"), true),
        Err(SendError::ConcurrencyLimit)
    );
    b.send_data(sid(3), Bytes::from(vec![0u8; 40_000]), true)
        .unwrap();
    let mut out = Vec::new();
    b.drain_output(&mut pool, &mut out, usize::MAX, Instant(0));
    let f = frames(&out);
    assert!(f.iter().all(|(h, _)| h.len <= 16_384));
    let sent: usize = f
        .iter()
        .filter(|(h, _)| h.kind == FrameType::Data)
        .map(|(h, _)| h.len as usize)
        .sum();
    assert_eq!(sent, 40_000);
}

#[test]
fn detach_with_output_queued_keeps_the_stream_until_written() {
    let mut p = Pair::new(Config::default(), Config::default());
    let id = p.client.open_stream(req("/"), true).unwrap();
    p.run();
    p.server
        .send_headers(id, Message::response(200), false)
        .unwrap();
    p.server
        .send_data(id, Bytes::from(vec![9u8; 200_000]), true)
        .unwrap();
    // The relay is done with the stream before its response is out.
    p.server.detach(id);
    assert_eq!(p.server.stream_count(), 1);
    for _ in 0..100 {
        p.run();
        let d = p.client_take_data();
        if d.iter().any(|(_, _, end)| *end) {
            break;
        }
    }
    assert_eq!(p.client.stream_state(id), Some(State::Closed));
    assert_eq!(p.server.stream_count(), 0);
}

#[test]
fn refusals_before_our_settings_are_cheap() {
    let mut s = Server::new(Config {
        max_concurrent_streams: 1,
        ..Config::default()
    });
    let mut c = RawClient::new();
    c.get(1, false);
    for i in 1..150u32 {
        c.get(2 * i + 1, false);
    }
    s.feed(c.take());
    assert_eq!(s.conn.error(), None);
    assert_eq!(s.conn.stats().refused_streams, 149);
}

#[test]
fn a_stream_counts_as_open_until_our_end_stream_is_written() {
    let mut s = Server::new(Config {
        max_concurrent_streams: 2,
        ..Config::default()
    });
    let mut c = RawClient::new();
    // No window: response bodies cannot leave.
    c.raw(FrameType::Settings, 0, 0, &[0, 4, 0, 0, 0, 0]);
    c.get(1, true);
    c.get(3, true);
    s.feed(c.take());
    for id in [1, 3] {
        s.conn
            .send_headers(sid(id), Message::response(200), false)
            .unwrap();
        s.conn
            .send_data(sid(id), Bytes::from_static(b"body"), true)
            .unwrap();
        s.conn.detach(sid(id));
    }
    s.pump();
    s.take_out();
    // Both are closed for us, but the client has not seen their END_STREAM: a third is refused.
    c.get(5, true);
    s.feed(c.take());
    assert_eq!(
        rst_codes(&s.take_out()),
        vec![(5, ErrorCode::RefusedStream)]
    );
    // Once the window opens and the ends are written, a new stream is welcome.
    c.raw(FrameType::WindowUpdate, 0, 1, &100u32.to_be_bytes());
    c.raw(FrameType::WindowUpdate, 0, 3, &100u32.to_be_bytes());
    s.feed(c.take());
    assert_eq!(s.conn.stream_count(), 0);
    c.get(7, true);
    s.feed(c.take());
    assert!(s
        .events
        .iter()
        .any(|e| matches!(e, Event::Headers { stream, .. } if stream.value() == 7)));
}

#[test]
fn a_server_says_nothing_before_the_client_preface() {
    let mut s = Server::new(Config::default());
    s.pump();
    assert!(s.take_out().is_empty());
    s.feed(Bytes::from_static(b"GET / HTTP/1.1\r\n\r\n"));
    let out = s.take_out();
    // The failure's SETTINGS and GOAWAY only (no doorbell PING); the filter sends an
    // HTTP/1.x client a 505 instead of these frames.
    assert!(frames(&out).iter().all(|(h, _)| h.kind != FrameType::Ping));
    let mut c = RawClient::new();
    let mut s = Server::new(Config::default());
    s.feed(c.take());
    assert_eq!(frames(&s.take_out())[0].0.kind, FrameType::Settings);
}

#[test]
fn a_stream_reset_before_its_headers_left_is_dropped_silently() {
    let (mut b, mut pool, _) = backend_with_streams(0, &[]);
    let id = b.open_stream(req("/"), false).unwrap();
    b.reset(id, ErrorCode::Cancel);
    let id2 = b.open_stream(req("/next"), true).unwrap();
    let mut out = Vec::new();
    b.drain_output(&mut pool, &mut out, usize::MAX, Instant(0));
    let f = frames(&out);
    // No RST_STREAM for a stream the peer never saw, and no HEADERS for it either.
    assert!(
        f.iter().all(|(h, _)| h.kind != FrameType::RstStream),
        "{f:?}"
    );
    let heads: Vec<u32> = f
        .iter()
        .filter(|(h, _)| h.kind == FrameType::Headers)
        .map(|(h, _)| h.stream.value())
        .collect();
    assert_eq!(heads, vec![id2.value()]);
    assert_eq!(b.stream_state(id), Some(State::Reset(ResetBy::Local)));
    b.detach(id);
    assert_eq!(b.stream_state(id), None);
}

#[test]
fn trim_between_callbacks_keeps_a_header_block_in_progress() {
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    let block = c.block("/split");
    let (a, b) = block.split_at(block.len() / 2);
    c.raw(FrameType::Headers, flags::END_STREAM, 1, a);
    s.feed(c.take());
    // The host trims between callbacks: the half block must survive.
    s.conn.trim();
    c.raw(FrameType::Continuation, flags::END_HEADERS, 1, b);
    s.feed(c.take());
    assert_eq!(s.conn.error(), None);
    assert!(s.events.iter().any(
        |e| matches!(e, Event::Headers { message, .. } if message.path() == Some(&b"/split"[..]))
    ));
}
