//! Drives a whole `Relay` between a real client `Connection` and a real server `Connection`,
//! through a script decoded from the fuzz input.
//!
//! Input: a setup byte (see `Setup`), then operations, each an op byte (modulo `OPS`)
//! followed by its arguments. The four wires (client to relay, relay to client, upstream to
//! relay, relay to upstream) are byte queues. The peers write into theirs after every
//! operation; the relay writes when asked (`OUTPUT`, `DOORBELL`). `DELIVER` hands any prefix
//! of a queue to its reader, which keeps what it did not consume at the head of the queue
//! for a later delivery, as a host holds bytes the relay did not take: frames arrive in
//! pieces across calls. Raw frames can be slipped onto the client or the upstream wire
//! between whole frames (`INJECT`), and the upstream's SETTINGS can be changed by hand
//! (`SETTINGS`).
//!
//! Checks, besides the panics of broken invariants (the relay audits its credit after every
//! event pump, connections audit themselves after every `recv`):
//! - `Relay::audit` after every operation;
//! - body bytes arrive whole and in order: every message carries an `x-tag` field (the
//!   sender's stream id) and a body whose bytes depend on the tag and the offset, so bytes
//!   of another stream, lost, repeated or reordered bytes are caught, and a message that
//!   ends has all the bytes its sender queued;
//! - while no raw bytes were injected, no connection of the four fails for a rule its peer
//!   broke (each peer is a well-behaved `Connection`, so such a failure is a bug of ours);
//! - at the end, after a patient host delivered everything, gave all credit back, let the
//!   peers finish their messages and ticked past every timeout: the audit again, all
//!   receive credit back on both relay sides once no stream is left, no stream stuck when
//!   nothing went wrong, and every buffer of both pools back after `release`.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use h2mux::buffer::{Buffer, BufferPool};
use h2mux::conn::{Connection, Event};
use h2mux::frame::{self, setting, FrameType};
use h2mux::limits::Config;
use h2mux::message::{Fields, Message};
use h2mux::relay::{Relay, RelayStats};
use h2mux::stream::State;
use h2mux::{ConnError, ErrorCode, Instant, Side, StreamId, Violation};

use crate::{put_chunk, put_length, Cursor};

/// Client: `open_stream` (request selector, `OPEN_*` flags, body length unless `OPEN_END`).
pub const C_OPEN: u8 = 0;
/// Client: more body (stream, length, end).
pub const C_DATA: u8 = 1;
/// Client: trailers (stream).
pub const C_TRAILERS: u8 = 2;
/// Client: RST_STREAM (stream, code).
pub const C_RESET: u8 = 3;
/// Client: PING (payload byte).
pub const C_PING: u8 = 4;
/// Client: graceful shutdown (odd byte) or immediate GOAWAY with code (byte >> 1).
pub const C_GOAWAY: u8 = 5;
/// Client: give back credit of response DATA (stream, u16; 0 means all it holds).
pub const C_RELEASE: u8 = 6;
/// Server: answer a request (stream, `ANSWER_*` flags, body length unless `ANSWER_END`).
pub const S_ANSWER: u8 = 7;
/// Server: more body (stream, length, end).
pub const S_DATA: u8 = 8;
/// Server: trailers (stream).
pub const S_TRAILERS: u8 = 9;
/// Server: RST_STREAM (stream, code).
pub const S_RESET: u8 = 10;
/// Server: graceful shutdown (odd byte) or immediate GOAWAY with code (byte >> 1).
pub const S_GOAWAY: u8 = 11;
/// Server: give back credit of request DATA (stream, u16; 0 means all it holds).
pub const S_RELEASE: u8 = 12;
/// Server: a SETTINGS frame written by hand onto the upstream wire (byte, u16): bits 0-1
/// pick lower INITIAL_WINDOW_SIZE (to the u16 modulo the server's own window), restore it,
/// lower MAX_CONCURRENT_STREAMS (modulo the server's own limit, 0 included), restore it.
/// The server's real windows and limit stay as configured, so a lowered value is one the
/// server could have sent.
pub const SETTINGS: u8 = 13;
/// A peer holds credit or gives it back as DATA arrives (byte: bit 0 the server, bit 1
/// hold); letting go releases all it held.
pub const HOLD: u8 = 14;
/// Hands up to `length` bytes (0: all) of wire `byte & 3` (`WIRE_*`) to its reader.
pub const DELIVER: u8 = 15;
/// The relay's output into the relay-to-client (bit 0) and relay-to-upstream (bit 1) wires.
pub const OUTPUT: u8 = 16;
/// Advances the clock by u16 * 8 ms; `Relay::tick` and the peers' `handle_timeout`.
pub const TICK: u8 = 17;
/// Takes a buffer from the relay's pool (another connection of the VM uses it).
pub const HOG: u8 = 18;
/// Gives back up to (byte & 3) + 1 hogged buffers, then resumes the relay if it waits for
/// one, as the filter's tick does.
pub const BUFFERS: u8 = 19;
/// The relay's doorbells (bit 0 upstream, bit 1 client), appended to that wire after its
/// output, as the filter does.
pub const DOORBELL: u8 = 20;
/// A raw frame onto the client (even byte) or upstream (odd byte) wire, between whole frames:
/// bit 1 set, a length-prefixed chunk as is; else a frame (type byte, flags, stream, length,
/// payload) with a length that matches its payload.
pub const INJECT: u8 = 21;
/// Moves everything every way for (byte & 7) + 1 rounds, as an eager host.
pub const PUMP: u8 = 22;
/// `Relay::trim`.
pub const TRIM: u8 = 23;
/// The client (even byte) or the upstream (odd byte) closes its transport.
pub const EOF: u8 = 24;
pub const OPS: u8 = 25;

/// Wires, for `DELIVER`.
pub const WIRE_C2R: u8 = 0;
pub const WIRE_R2C: u8 = 1;
pub const WIRE_S2R: u8 = 2;
pub const WIRE_R2S: u8 = 3;

/// Flags of `C_OPEN`: END_STREAM on the head (no body).
pub const OPEN_END: u8 = 1;
/// Trailers after the body.
pub const OPEN_TRAILERS: u8 = 2;
/// The body stays open (more `C_DATA` may follow).
pub const OPEN_KEEP: u8 = 4;
/// A content-length of the body length.
pub const OPEN_LENGTH: u8 = 8;
/// With `OPEN_LENGTH`: one more than the body length (a malformed request).
pub const OPEN_WRONG_LENGTH: u8 = 16;

/// Flags of `S_ANSWER`: END_STREAM on the final head (no body).
pub const ANSWER_END: u8 = 1;
/// A 100 (Continue) first.
pub const ANSWER_CONTINUE: u8 = 2;
/// A 103 (Early Hints) first.
pub const ANSWER_EARLY: u8 = 4;
/// Trailers after the body.
pub const ANSWER_TRAILERS: u8 = 8;
/// The body stays open (more `S_DATA` may follow).
pub const ANSWER_KEEP: u8 = 16;
/// A content-length of the body length.
pub const ANSWER_LENGTH: u8 = 32;
/// Bits 6-7: the final status, from `STATUSES`.
pub const ANSWER_STATUS_SHIFT: u8 = 6;
const STATUSES: [u16; 4] = [200, 404, 204, 503];

/// The relay's id in its pool's wait queue; the peers use another pool.
const RELAY: u32 = 2;
const MAX_HOGS: usize = 8;
/// A peer's stream picked by the op byte; bytes from here up name a raw id (byte & 15).
const RAW_ID: u8 = 0xf0;

/// The setup byte.
#[derive(Clone, Copy, Debug, Default)]
pub struct Setup {
    /// The upstream's MAX_CONCURRENT_STREAMS: 100, 1, 3, 2.
    pub upstream_streams: u8,
    /// The upstream advertises an INITIAL_WINDOW_SIZE of 300 (else 65535).
    pub upstream_small_window: bool,
    /// The client advertises an INITIAL_WINDOW_SIZE of 300 (else 65535).
    pub client_small_window: bool,
    /// The relay's pool: 64 buffers (reserve 4), 4 (reserve 2), 3 (reserve 1), 2 (none).
    pub pool: u8,
    /// The relay's `max_stream_send_queue` is the smallest allowed, 1024, on both sides.
    pub small_send_queue: bool,
    /// The relay advertises windows of 1024 per stream and 65535 per connection.
    pub relay_small_window: bool,
}

impl Setup {
    pub fn byte(self) -> u8 {
        (self.upstream_streams & 3)
            | u8::from(self.upstream_small_window) << 2
            | u8::from(self.client_small_window) << 3
            | (self.pool & 3) << 4
            | u8::from(self.small_send_queue) << 6
            | u8::from(self.relay_small_window) << 7
    }

    pub fn from_byte(b: u8) -> Setup {
        Setup {
            upstream_streams: b & 3,
            upstream_small_window: b & 4 != 0,
            client_small_window: b & 8 != 0,
            pool: (b >> 4) & 3,
            small_send_queue: b & 0x40 != 0,
            relay_small_window: b & 0x80 != 0,
        }
    }

    fn client(self) -> Config {
        Config {
            initial_window_size: if self.client_small_window {
                300
            } else {
                65_535
            },
            ..Config::default()
        }
    }

    fn server(self) -> Config {
        Config {
            max_concurrent_streams: [100, 1, 3, 2][usize::from(self.upstream_streams & 3)],
            initial_window_size: if self.upstream_small_window {
                300
            } else {
                65_535
            },
            ..Config::default()
        }
    }

    fn relay(self) -> Config {
        let mut c = Config::default();
        if self.small_send_queue {
            c.max_stream_send_queue = 1024;
        }
        if self.relay_small_window {
            c.initial_window_size = 1024;
            c.connection_window = 65_535;
        }
        c
    }

    fn relay_pool(self) -> BufferPool {
        let (buffers, reserve) = [(64, 4), (4, 2), (3, 1), (2, 0)][usize::from(self.pool & 3)];
        let mut p = BufferPool::new(16_384, buffers * 16_384, 8);
        p.set_reserve(reserve);
        p
    }
}

/// Byte `pos` of the body of the message tagged `tag`.
fn pattern(tag: u32, pos: usize) -> u8 {
    ((pos % 251) as u8) ^ (tag as u8).wrapping_mul(37)
}

fn body(tag: u32, from: usize, len: usize) -> Bytes {
    (from..from + len).map(|p| pattern(tag, p)).collect()
}

fn tag_of(m: &Message) -> Option<u32> {
    std::str::from_utf8(m.fields.get(b"x-tag")?)
        .ok()?
        .parse()
        .ok()
}

fn tag_field(m: &mut Message, id: StreamId) {
    m.fields
        .push(b"x-tag", id.value().to_string().as_bytes(), false);
}

fn trailers() -> Fields {
    let mut t = Fields::new();
    t.push(b"x-checksum", b"0123abcd", false);
    t
}

fn code(b: u8) -> ErrorCode {
    ErrorCode::from_u32(u32::from(b % 14))
}

/// What a peer sent on one of its streams.
#[derive(Default, Clone, Copy)]
struct Sent {
    bytes: usize,
    ended: bool,
}

/// What a peer received on one of its streams: the sender's tag from the head, and the body
/// offset.
#[derive(Default, Clone, Copy)]
struct Received {
    tag: Option<u32>,
    bytes: usize,
}

/// A client or server `Connection` and what its owner keeps.
struct Peer {
    conn: Connection,
    /// Streams to act on: opened by the client, or seen by the server.
    streams: Vec<StreamId>,
    /// DATA received and not yet released, per stream.
    unreleased: Vec<(StreamId, usize)>,
    hold: bool,
    sent: HashMap<u32, Sent>,
    received: HashMap<StreamId, Received>,
    /// A Failed event came, or the owner ended the connection.
    gone: bool,
}

impl Peer {
    fn new(side: Side, cfg: Config, waiter: u32) -> Peer {
        Peer {
            conn: Connection::new(side, Arc::new(cfg), waiter, Instant(0)),
            streams: Vec::new(),
            unreleased: Vec::new(),
            hold: false,
            sent: HashMap::new(),
            received: HashMap::new(),
            gone: false,
        }
    }

    fn pick(&self, b: u8) -> StreamId {
        if b < RAW_ID && !self.streams.is_empty() {
            // The most recent streams are the likely targets.
            let n = self.streams.len();
            self.streams[n - 1 - usize::from(b) % n.min(32)]
        } else {
            StreamId::new(u32::from(b & 0x0f))
        }
    }

    fn on_data(&mut self, stream: StreamId, len: usize) {
        if self.hold {
            match self.unreleased.iter_mut().find(|e| e.0 == stream) {
                Some(e) => e.1 += len,
                None => self.unreleased.push((stream, len)),
            }
        } else {
            self.conn.release_capacity(stream, len);
        }
    }

    fn release(&mut self, stream: StreamId, want: usize) {
        if let Some(e) = self.unreleased.iter_mut().find(|e| e.0 == stream) {
            let n = if want == 0 { e.1 } else { want.min(e.1) };
            e.1 -= n;
            self.conn.release_capacity(stream, n);
        }
        self.unreleased.retain(|e| e.1 > 0);
    }

    fn release_all(&mut self) {
        for (id, n) in std::mem::take(&mut self.unreleased) {
            self.conn.release_capacity(id, n);
        }
    }

    /// Queues `len` body bytes (and END_STREAM) and records them as sent.
    fn send_body(&mut self, id: StreamId, len: usize, end: bool) {
        let s = self.sent.entry(id.value()).or_default();
        let b = body(id.value(), s.bytes, len);
        if self.conn.send_data(id, b, end).is_ok() {
            s.bytes += len;
            s.ended |= end;
        }
    }

    fn send_trailers(&mut self, id: StreamId) {
        if self.conn.send_trailers(id, trailers()).is_ok() {
            self.sent.entry(id.value()).or_default().ended = true;
        }
    }

    /// The owner lets go of streams that are over here, once it gave their credit back
    /// (a connection audits that all credit came back once it has no stream left).
    fn detach_finished(&mut self) {
        for &id in &self.streams {
            if self.unreleased.iter().any(|e| e.0 == id) {
                continue;
            }
            if matches!(
                self.conn.stream_state(id),
                None | Some(State::Closed) | Some(State::Reset(_))
            ) {
                self.conn.detach(id);
            }
        }
    }
}

struct Driver {
    relay: Relay,
    client: Peer,
    server: Peer,
    server_cfg: Config,
    /// The relay's pool, and the peers' (never in the way).
    pool: BufferPool,
    peer_pool: BufferPool,
    now: u64,
    /// Indexed by `WIRE_*`.
    wires: [Vec<u8>; 4],
    hogs: Vec<Buffer>,
    /// Raw bytes were injected: connections may now rightly fail, and bodies are no longer
    /// checked.
    hostile: bool,
    /// The upstream's SETTINGS were lowered by hand.
    settings_lowered: bool,
    client_eof: bool,
    upstream_eof: bool,
    /// Bytes and events moved, to tell when a pump settles.
    moved: u64,
}

pub fn run(data: &[u8]) {
    let _ = run_and_report(data);
}

/// What a run went through, for the seed writer to show.
#[derive(Debug)]
pub struct Report {
    pub relay: RelayStats,
    /// Times the relay waited for a buffer.
    pub buffer_waits: u64,
    pub client_streams: usize,
    pub server_streams: usize,
    pub hostile: bool,
    pub client_side_error: Option<ConnError>,
    pub upstream_side_error: Option<ConnError>,
}

/// `run`, returning what happened.
pub fn run_and_report(data: &[u8]) -> Report {
    let mut c = Cursor::new(data);
    let setup = Setup::from_byte(c.u8());
    let relay_cfg = Arc::new(setup.relay());
    let mut d = Driver {
        relay: Relay::new(relay_cfg.clone(), relay_cfg, RELAY, Instant(0)),
        client: Peer::new(Side::Backend, setup.client(), 1),
        server: Peer::new(Side::Frontend, setup.server(), 3),
        server_cfg: setup.server(),
        pool: setup.relay_pool(),
        peer_pool: BufferPool::new(16_384, 1024 * 16_384, 8),
        now: 0,
        wires: Default::default(),
        hogs: Vec::new(),
        hostile: false,
        settings_lowered: false,
        client_eof: false,
        upstream_eof: false,
        moved: 0,
    };
    d.peers_write();
    while !c.is_empty() {
        let op = c.u8() % OPS;
        d.step(op, &mut c);
        d.peers_write();
        d.check();
    }
    d.finish();
    Report {
        relay: d.relay.stats().clone(),
        buffer_waits: d.pool.stats().waits,
        client_streams: d.client.streams.len(),
        server_streams: d.server.streams.len(),
        hostile: d.hostile,
        client_side_error: d.relay.front().error(),
        upstream_side_error: d.relay.back().error(),
    }
}

impl Driver {
    fn at(&self) -> Instant {
        Instant(self.now)
    }

    fn step(&mut self, op: u8, c: &mut Cursor) {
        let now = self.at();
        match op {
            C_OPEN => {
                let mut m = crate::conn::request(c.u8());
                let fl = c.u8();
                let end = fl & OPEN_END != 0;
                let len = if end { 0 } else { c.length() };
                if fl & OPEN_LENGTH != 0 && !end {
                    let n = len + usize::from(fl & OPEN_WRONG_LENGTH != 0);
                    m.content_length = Some(n as u64);
                    m.fields
                        .push(b"content-length", n.to_string().as_bytes(), false);
                }
                // The id the stream will get, for its tag: the next odd one.
                let next = self
                    .client
                    .streams
                    .last()
                    .map_or(1, |id| id.value().saturating_add(2));
                tag_field(&mut m, StreamId::new(next));
                if let Ok(id) = self.client.conn.open_stream(m, end) {
                    assert_eq!(id.value(), next, "client stream ids are consecutive");
                    self.client.streams.push(id);
                    let s = self.client.sent.entry(id.value()).or_default();
                    s.ended = end;
                    if !end {
                        let keep = fl & OPEN_KEEP != 0;
                        let trailers = fl & OPEN_TRAILERS != 0 && !keep;
                        if len > 0 || (!keep && !trailers) {
                            self.client.send_body(id, len, !keep && !trailers);
                        }
                        if trailers {
                            self.client.send_trailers(id);
                        }
                    }
                }
            }
            C_DATA | S_DATA => {
                let p = if op == C_DATA {
                    &mut self.client
                } else {
                    &mut self.server
                };
                let id = p.pick(c.u8());
                let len = c.length();
                let end = c.u8() & 1 != 0;
                p.send_body(id, len, end);
            }
            C_TRAILERS | S_TRAILERS => {
                let p = if op == C_TRAILERS {
                    &mut self.client
                } else {
                    &mut self.server
                };
                let id = p.pick(c.u8());
                p.send_trailers(id);
            }
            C_RESET | S_RESET => {
                let p = if op == C_RESET {
                    &mut self.client
                } else {
                    &mut self.server
                };
                let id = p.pick(c.u8());
                p.conn.reset(id, code(c.u8()));
            }
            C_PING => self.client.conn.ping([c.u8(); 8]),
            C_GOAWAY | S_GOAWAY => {
                let p = if op == C_GOAWAY {
                    &mut self.client
                } else {
                    &mut self.server
                };
                let b = c.u8();
                if b & 1 != 0 {
                    p.conn.shutdown(now);
                } else {
                    p.conn.goaway(code(b >> 1), "going away");
                    p.gone = true;
                }
            }
            C_RELEASE | S_RELEASE => {
                let p = if op == C_RELEASE {
                    &mut self.client
                } else {
                    &mut self.server
                };
                let id = p.pick(c.u8());
                let want = usize::from(c.u16());
                p.release(id, want);
            }
            S_ANSWER => {
                let id = self.server.pick(c.u8());
                let fl = c.u8();
                let end = fl & ANSWER_END != 0;
                let len = if end { 0 } else { c.length() };
                self.answer(id, fl, len);
            }
            SETTINGS => {
                let b = c.u8();
                let v = u32::from(c.u16());
                let (iws, mcs) = (
                    self.server_cfg.initial_window_size,
                    self.server_cfg.max_concurrent_streams,
                );
                let entry = match b & 3 {
                    0 => (setting::INITIAL_WINDOW_SIZE, v % (iws + 1)),
                    1 => (setting::INITIAL_WINDOW_SIZE, iws),
                    2 => (setting::MAX_CONCURRENT_STREAMS, v % (mcs + 1)),
                    _ => (setting::MAX_CONCURRENT_STREAMS, mcs),
                };
                if !self.server.conn.header_block_open() {
                    self.settings_lowered |= b & 1 == 0;
                    frame::write_settings(&mut self.wires[usize::from(WIRE_S2R)], &[entry]);
                }
            }
            HOLD => {
                let b = c.u8();
                let p = if b & 1 != 0 {
                    &mut self.server
                } else {
                    &mut self.client
                };
                p.hold = b & 2 != 0;
                if !p.hold {
                    p.release_all();
                }
            }
            DELIVER => {
                let w = c.u8() & 3;
                let n = match c.length() {
                    0 => usize::MAX,
                    n => n,
                };
                self.deliver(w, n);
            }
            OUTPUT => {
                let b = c.u8();
                if b & 1 != 0 {
                    self.client_output();
                }
                if b & 2 != 0 {
                    self.upstream_output();
                }
            }
            TICK => {
                self.now += u64::from(c.u16()) * 8;
                self.tick();
            }
            HOG => {
                if self.hogs.len() < MAX_HOGS {
                    if let Some(b) = self.pool.try_take() {
                        self.hogs.push(b);
                    }
                }
            }
            BUFFERS => {
                for _ in 0..=(c.u8() & 3) {
                    if let Some(b) = self.hogs.pop() {
                        self.pool.release(b);
                    }
                }
                self.resume();
            }
            DOORBELL => {
                let b = c.u8();
                if b & 1 != 0 {
                    self.upstream_output();
                    if let Some(f) = self.relay.upstream_doorbell(now) {
                        self.wires[usize::from(WIRE_R2S)].extend_from_slice(&f);
                    }
                }
                if b & 2 != 0 {
                    self.client_output();
                    if let Some(f) = self.relay.client_doorbell() {
                        self.wires[usize::from(WIRE_R2C)].extend_from_slice(&f);
                    }
                }
            }
            INJECT => self.inject(c),
            PUMP => {
                let rounds = (c.u8() & 7) + 1;
                for _ in 0..rounds {
                    self.round();
                }
            }
            TRIM => self.relay.trim(&mut self.pool),
            _ => {
                if c.u8() & 1 != 0 {
                    if !self.upstream_eof {
                        self.upstream_eof = true;
                        self.wires[usize::from(WIRE_S2R)].clear();
                        self.relay.upstream_eof(&mut self.pool, now);
                    }
                } else if !self.client_eof {
                    self.client_eof = true;
                    self.wires[usize::from(WIRE_C2R)].clear();
                    self.relay.client_eof(&mut self.pool, now);
                }
            }
        }
    }

    /// The server's answer on `id`: heads, a body of `len` bytes, trailers, as `fl` says.
    fn answer(&mut self, id: StreamId, fl: u8, len: usize) {
        let s = &mut self.server;
        for (flag, status) in [(ANSWER_CONTINUE, 100), (ANSWER_EARLY, 103)] {
            if fl & flag != 0 {
                let mut m = Message::response(status);
                tag_field(&mut m, id);
                let _ = s.conn.send_headers(id, m, false);
            }
        }
        let end = fl & ANSWER_END != 0;
        let mut m = Message::response(STATUSES[usize::from(fl >> ANSWER_STATUS_SHIFT)]);
        tag_field(&mut m, id);
        if fl & ANSWER_LENGTH != 0 && !end {
            m.content_length = Some(len as u64);
            m.fields
                .push(b"content-length", len.to_string().as_bytes(), false);
        }
        if s.conn.send_headers(id, m, end).is_err() {
            return;
        }
        if end {
            s.sent.entry(id.value()).or_default().ended = true;
            return;
        }
        let keep = fl & ANSWER_KEEP != 0;
        let trailers = fl & ANSWER_TRAILERS != 0 && !keep;
        if len > 0 || (!keep && !trailers) {
            s.send_body(id, len, !keep && !trailers);
        }
        if trailers {
            s.send_trailers(id);
        }
    }

    fn inject(&mut self, c: &mut Cursor) {
        let b = c.u8();
        let upstream = b & 1 != 0;
        let mut f = Vec::new();
        if b & 2 != 0 {
            let n = c.length();
            f.extend_from_slice(c.bytes(n));
        } else {
            let k = c.u8();
            let kind = FrameType::from_u8(if k < RAW_ID { k % 10 } else { k });
            let flags = c.u8();
            let peer = if upstream { &self.server } else { &self.client };
            let id = peer.pick(c.u8());
            let n = c.length();
            let payload = c.bytes(n);
            frame::write_header(&mut f, payload.len() as u32, kind, flags, id);
            f.extend_from_slice(payload);
        }
        let (peer, wire) = if upstream {
            (&self.server, WIRE_S2R)
        } else {
            (&self.client, WIRE_C2R)
        };
        // Between whole frames: never inside the peer's header block.
        if peer.conn.header_block_open() || f.is_empty() {
            return;
        }
        self.hostile = true;
        self.wires[usize::from(wire)].extend_from_slice(&f);
    }

    /// Hands up to `n` bytes of a wire to its reader; what it did not take stays queued.
    fn deliver(&mut self, w: u8, n: usize) {
        let wire = &mut self.wires[usize::from(w)];
        let k = n.min(wire.len());
        if k == 0 {
            return;
        }
        if (w == WIRE_C2R && self.client_eof) || (w == WIRE_S2R && self.upstream_eof) {
            wire.clear();
            return;
        }
        let input = Bytes::copy_from_slice(&wire[..k]);
        let now = self.at();
        let taken = match w {
            WIRE_C2R => self.relay.from_client(&mut self.pool, &input, now),
            WIRE_S2R => self.relay.from_upstream(&mut self.pool, &input, now),
            WIRE_R2C => self.client.conn.recv(&mut self.peer_pool, &input, now),
            _ => self.server.conn.recv(&mut self.peer_pool, &input, now),
        };
        assert!(taken <= k, "consumed {taken} of {k} bytes");
        self.wires[usize::from(w)].drain(..taken);
        self.moved += taken as u64;
        self.peer_events();
    }

    fn client_output(&mut self) {
        let now = self.at();
        let n =
            self.relay
                .client_output(&mut self.pool, &mut self.wires[usize::from(WIRE_R2C)], now);
        self.moved += n as u64;
    }

    fn upstream_output(&mut self) {
        let now = self.at();
        let n =
            self.relay
                .upstream_output(&mut self.pool, &mut self.wires[usize::from(WIRE_R2S)], now);
        self.moved += n as u64;
    }

    fn tick(&mut self) {
        let now = self.at();
        self.relay.tick(&mut self.pool, now);
        self.client.conn.handle_timeout(now);
        self.server.conn.handle_timeout(now);
        self.peer_events();
    }

    /// The filter's tick: wakes the relay when a buffer is free for it, or when it holds
    /// buffers and the reserve has one.
    fn resume(&mut self) {
        for _ in 0..4 {
            let woke = match self.pool.pop_waiter() {
                Some(id) => {
                    assert_eq!(id, RELAY, "a waiter nobody registered");
                    true
                }
                None => {
                    self.pool.available() > 0
                        && self.relay.buffers_held() > 0
                        && self.pool.take_waiter(RELAY)
                }
            };
            if !woke {
                return;
            }
            let now = self.at();
            self.relay.on_buffer_available(&mut self.pool, now);
            self.moved += 1;
        }
    }

    /// The peers write everything they have onto their wires.
    fn peers_write(&mut self) {
        let now = self.at();
        self.peer_events();
        let c2r = &mut self.wires[usize::from(WIRE_C2R)];
        self.moved += self
            .client
            .conn
            .drain_output(&mut self.peer_pool, c2r, usize::MAX, now) as u64;
        let s2r = &mut self.wires[usize::from(WIRE_S2R)];
        self.moved += self
            .server
            .conn
            .drain_output(&mut self.peer_pool, s2r, usize::MAX, now) as u64;
        self.peer_events();
    }

    /// One pass of an eager host: peers' bytes into the relay, the relay's out, into the
    /// peers, waiters resumed. True if anything moved.
    fn round(&mut self) -> bool {
        let before = self.moved;
        self.peers_write();
        self.deliver(WIRE_C2R, usize::MAX);
        self.deliver(WIRE_S2R, usize::MAX);
        self.client_output();
        self.upstream_output();
        self.deliver(WIRE_R2C, usize::MAX);
        self.deliver(WIRE_R2S, usize::MAX);
        self.resume();
        self.peers_write();
        self.moved != before
    }

    fn settle(&mut self, rounds: usize) {
        for _ in 0..rounds {
            if !self.round() {
                return;
            }
        }
    }

    fn peer_events(&mut self) {
        while let Some(e) = self.client.conn.poll_event() {
            self.moved += 1;
            let (client, server) = (&mut self.client, &self.server);
            on_event(client, server, e, self.hostile, "client");
        }
        while let Some(e) = self.server.conn.poll_event() {
            self.moved += 1;
            if let Event::Headers { stream, .. } = &e {
                if !self.server.streams.contains(stream) {
                    self.server.streams.push(*stream);
                }
            }
            let (server, client) = (&mut self.server, &self.client);
            on_event(server, client, e, self.hostile, "server");
        }
        self.client.detach_finished();
        self.server.detach_finished();
    }

    /// After every operation.
    fn check(&self) {
        if let Err(rule) = self.relay.audit() {
            panic!("relay audit: {rule}");
        }
        for (who, conn) in [
            ("relay's client side", self.relay.front()),
            ("relay's upstream side", self.relay.back()),
        ] {
            if let Some(e) = conn.error() {
                check_failure(who, e, self.hostile);
            }
        }
    }

    /// A patient host: everything delivered, every credit given back, the peers finish
    /// their messages (and the client gives up on what cannot finish), time past every
    /// timeout. Then the checks of the end.
    fn finish(&mut self) {
        for b in self.hogs.drain(..) {
            self.pool.release(b);
        }
        if self.settings_lowered && !self.upstream_eof && !self.server.conn.header_block_open() {
            let cfg = &self.server_cfg;
            frame::write_settings(
                &mut self.wires[usize::from(WIRE_S2R)],
                &[
                    (setting::INITIAL_WINDOW_SIZE, cfg.initial_window_size),
                    (setting::MAX_CONCURRENT_STREAMS, cfg.max_concurrent_streams),
                ],
            );
        }
        for p in [&mut self.client, &mut self.server] {
            p.hold = false;
            p.release_all();
        }
        // Requests queued behind the upstream's limit reach it one answer at a time.
        for _ in 0..self.client.streams.len() + 64 {
            let before = self.moved;
            self.settle(256);
            for id in self.client.streams.clone() {
                if self
                    .client
                    .conn
                    .stream_state(id)
                    .is_some_and(|s| s.can_send())
                {
                    self.client.send_body(id, 0, true);
                }
            }
            for id in self.server.streams.clone() {
                match self.server.conn.stream_state(id) {
                    Some(s) if s.can_send() => self.answer(id, 0, 0),
                    _ => continue,
                }
                // Already answered: end the body.
                if self
                    .server
                    .conn
                    .stream_state(id)
                    .is_some_and(|s| s.can_send())
                {
                    self.server.send_body(id, 0, true);
                }
            }
            self.peers_write();
            if self.moved == before {
                break;
            }
        }
        self.check();
        let trouble = self.hostile
            || self.client_eof
            || self.upstream_eof
            || self.client.gone
            || self.server.gone
            || self.relay.ending().is_some()
            || self.relay.front().error().is_some()
            || self.relay.back().error().is_some();
        if !trouble {
            assert_eq!(
                self.relay.stream_count(),
                0,
                "streams stuck in the relay after the peers finished"
            );
        }
        for id in self.client.streams.clone() {
            self.client.conn.reset(id, ErrorCode::Cancel);
        }
        self.settle(256);
        self.now += 1_000_000;
        self.tick();
        self.settle(256);
        self.now += 1_000_000;
        self.tick();
        self.settle(256);
        self.check();
        let relay = &self.relay;
        if relay.stream_count() == 0 {
            for (who, conn) in [("client", relay.front()), ("upstream", relay.back())] {
                if conn.stream_count() == 0 && conn.error().is_none() {
                    assert_eq!(
                        conn.recv_credit_outstanding(),
                        conn.recv_credit_in_flight(),
                        "{who} credit did not all come back"
                    );
                }
            }
        }
        self.relay.release(&mut self.pool);
        self.client.conn.release(&mut self.peer_pool);
        self.server.conn.release(&mut self.peer_pool);
        for (who, pool) in [("relay", &self.pool), ("peers", &self.peer_pool)] {
            assert_eq!(pool.in_use(), 0, "{who} pool: buffers not given back");
            assert_eq!(pool.waiters(), 0, "{who} pool: a released connection waits");
        }
    }
}

/// A connection failed: while nothing hostile was injected, only for reasons a
/// well-behaved peer can cause.
fn check_failure(who: &str, e: ConnError, hostile: bool) {
    if hostile {
        return;
    }
    if let ConnError::Violation(v) = e {
        assert!(
            matches!(
                v,
                Violation::SettingsTimeout
                    | Violation::TooManyGlitches
                    | Violation::BufferWaitQueueFull
            ),
            "{who} failed with {v:?} ({e}) though its peer is well-behaved"
        );
    }
}

/// An event of a peer: credit held or released, body bytes checked against what the other
/// peer sent.
fn on_event(p: &mut Peer, sender: &Peer, e: Event, hostile: bool, who: &str) {
    match e {
        Event::Headers {
            stream,
            message,
            end_stream,
        } => {
            let r = p.received.entry(stream).or_default();
            r.tag = tag_of(&message);
            if end_stream && !hostile {
                check_end(r, sender, stream, who);
            }
        }
        Event::Data {
            stream,
            data,
            end_stream,
        } => {
            let len = data.len();
            if !hostile {
                let r = p.received.entry(stream).or_default();
                if let Some(tag) = r.tag {
                    let sent = sender.sent.get(&tag).copied().unwrap_or_default();
                    assert!(
                        r.bytes + len <= sent.bytes,
                        "{who} stream {stream}: {} body bytes arrived of {} sent",
                        r.bytes + len,
                        sent.bytes
                    );
                    for (i, &b) in data.iter().enumerate() {
                        assert_eq!(
                            b,
                            pattern(tag, r.bytes + i),
                            "{who} stream {stream}: body byte {} is not the sender's",
                            r.bytes + i
                        );
                    }
                }
                r.bytes += len;
                if end_stream {
                    check_end(r, sender, stream, who);
                }
            }
            p.on_data(stream, len);
        }
        Event::Trailers { stream, .. } if !hostile => {
            let r = p.received.entry(stream).or_default();
            check_end(r, sender, stream, who);
        }
        Event::Failed { error } => {
            p.gone = true;
            check_failure(who, error, hostile);
        }
        _ => {}
    }
}

/// A message ended: its sender ended it, and every byte it queued arrived.
fn check_end(r: &Received, sender: &Peer, stream: StreamId, who: &str) {
    let Some(tag) = r.tag else {
        return;
    };
    let sent = sender.sent.get(&tag).copied().unwrap_or_default();
    assert!(
        sent.ended,
        "{who} stream {stream}: END_STREAM its sender did not send"
    );
    assert_eq!(
        r.bytes, sent.bytes,
        "{who} stream {stream}: the message ended with body bytes missing"
    );
}

/// Builds driver scripts (for seeds).
pub struct Script(pub Vec<u8>);

impl Script {
    pub fn new(setup: Setup) -> Script {
        Script(vec![setup.byte()])
    }

    pub fn op(&mut self, op: u8, args: &[u8]) -> &mut Script {
        self.0.push(op);
        self.0.extend_from_slice(args);
        self
    }

    /// A client request: selector, `OPEN_*` flags, body length (unless `OPEN_END`).
    pub fn open(&mut self, sel: u8, flags: u8, len: usize) -> &mut Script {
        self.0.extend_from_slice(&[C_OPEN, sel, flags]);
        if flags & OPEN_END == 0 {
            put_length(&mut self.0, len);
        }
        self
    }

    /// The server's answer on the stream `pick` selects.
    pub fn answer(&mut self, pick: u8, flags: u8, len: usize) -> &mut Script {
        self.0.extend_from_slice(&[S_ANSWER, pick, flags]);
        if flags & ANSWER_END == 0 {
            put_length(&mut self.0, len);
        }
        self
    }

    /// Body bytes from the client (`C_DATA`) or the server (`S_DATA`).
    pub fn data(&mut self, op: u8, pick: u8, len: usize, end: bool) -> &mut Script {
        self.0.extend_from_slice(&[op, pick]);
        put_length(&mut self.0, len);
        self.0.push(u8::from(end));
        self
    }

    /// Up to `n` bytes (0: all) of a wire to its reader.
    pub fn deliver(&mut self, wire: u8, n: usize) -> &mut Script {
        self.0.extend_from_slice(&[DELIVER, wire]);
        put_length(&mut self.0, n);
        self
    }

    pub fn pump(&mut self, rounds: u8) -> &mut Script {
        self.op(PUMP, &[rounds.saturating_sub(1) & 7])
    }

    /// A raw chunk onto the client (false) or upstream (true) wire.
    pub fn inject_raw(&mut self, upstream: bool, bytes: &[u8]) -> &mut Script {
        self.0.extend_from_slice(&[INJECT, 2 | u8::from(upstream)]);
        put_chunk(&mut self.0, bytes);
        self
    }

    /// A frame onto the client (false) or upstream (true) wire; `pick` as for the peer's
    /// streams.
    pub fn inject_frame(
        &mut self,
        upstream: bool,
        kind: u8,
        flags: u8,
        pick: u8,
        payload: &[u8],
    ) -> &mut Script {
        self.0
            .extend_from_slice(&[INJECT, u8::from(upstream), kind, flags, pick]);
        put_chunk(&mut self.0, payload);
        self
    }
}
