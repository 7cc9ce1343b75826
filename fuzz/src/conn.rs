//! Drives one `Connection` through a script decoded from the fuzz input.
//!
//! Input: a setup byte (see `setup`), then operations, each an op byte (modulo `OPS`)
//! followed by its arguments. Peer bytes arrive in `FEED` chunks, so chunk boundaries are
//! fuzzed too. Besides panics, the driver checks that `recv` only stops early with a reason,
//! that every frame we send passes the receive-side validation, that nothing but resets
//! follows `Failed`, and that every pool buffer comes back.

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use h2mux::buffer::{Buffer, BufferPool};
use h2mux::conn::{Connection, Event, RxBlocked};
use h2mux::frame::{self, flags, FrameHeader, FrameType, HEADER_LEN, PREFACE};
use h2mux::limits::Config;
use h2mux::message::{Fields, Message};
use h2mux::{ErrorCode, Instant, Side, StreamId};

use crate::{put_chunk, Cursor};

/// Append peer bytes (a length-prefixed chunk) and call `recv`.
pub const FEED: u8 = 0;
/// Call `recv` again with the bytes held back.
pub const RECV: u8 = 1;
/// `drain_output` up to (byte * 64) bytes, 0 meaning all.
pub const DRAIN: u8 = 2;
/// `consume_output` of a u16 count.
pub const CONSUME: u8 = 3;
/// Frontend: `send_headers` (stream, status, flags); backend: `open_stream` (request, flags).
pub const HEAD: u8 = 4;
/// `send_data` (stream, length, end).
pub const DATA: u8 = 5;
/// `send_trailers` (stream).
pub const TRAILERS: u8 = 6;
/// `reset` (stream, code).
pub const RESET: u8 = 7;
/// `release_capacity` (stream, u16; 0 means all received).
pub const RELEASE: u8 = 8;
/// `detach` (stream).
pub const DETACH: u8 = 9;
/// Advance the clock by u16 * 16 ms and `handle_timeout`.
pub const TIME: u8 = 10;
/// `ping` (payload byte).
pub const PING: u8 = 11;
/// Graceful `shutdown`.
pub const SHUTDOWN: u8 = 12;
/// Take a buffer from the pool and hold it.
pub const HOG: u8 = 13;
/// Give a held buffer back.
pub const UNHOG: u8 = 14;
/// Immediate `goaway` (code).
pub const GOAWAY: u8 = 15;
/// `recv_eof`.
pub const EOF: u8 = 16;
pub const OPS: u8 = 17;

/// Flags of `HEAD`.
pub const HEAD_END: u8 = 1;
pub const HEAD_FIELDS: u8 = 2;
pub const HEAD_SENSITIVE: u8 = 4;
/// A content-length (u16 argument).
pub const HEAD_LENGTH: u8 = 8;
/// One large field (u16 argument: its length, mod 32768), so the block spans CONTINUATION
/// frames.
pub const HEAD_BIG: u8 = 16;

/// The setup byte. Peer prelude (client preface + SETTINGS + ACK for a frontend, SETTINGS +
/// ACK for a backend) unless bits 0-2 are all set; bits 3-4 the pool quota; bits 5-6 the
/// `Config`; bit 7 the "polite host" mode that drains and retries after every operation.
pub fn setup(prelude: bool, quota: u8, config: u8, polite: bool) -> u8 {
    (if prelude { 0 } else { 7 }) | (quota & 3) << 3 | (config & 3) << 5 | u8::from(polite) << 7
}

const WAITER: u32 = 7;
const MAX_HOGS: usize = 4;
const MAX_TRACKED: usize = 32;
static ZEROS: [u8; 65_536] = [0; 65_536];
/// Raw, not Huffman-coded (8-bit code): keeps big blocks cheap to encode.
static ZEDS: [u8; 32_768] = [b'Z'; 32_768];

pub fn frontend(data: &[u8]) {
    run(Side::Frontend, data);
}

pub fn backend(data: &[u8]) {
    run(Side::Backend, data);
}

pub fn config(variant: u8) -> Config {
    let cfg = match variant & 3 {
        0 => Config::default(),
        // Small limits everywhere.
        1 => Config {
            header_table_size: 256,
            max_concurrent_streams: 3,
            initial_window_size: 1024,
            connection_window: 65_535,
            max_header_list_size: 1024,
            encoder_table_size: 128,
            max_header_block: 1024,
            max_continuation_frames: 2,
            max_header_fields: 16,
            max_settings_entries: 7,
            max_stream_send_queue: 4096,
            max_pending_resets: 4,
            glitch_threshold: 50,
            glitch_decay_per_sec: 10,
            settings_timeout_ms: 1000,
            idle_timeout_ms: 5000,
            shutdown_timeout_ms: 1000,
            ..Config::default()
        },
        // Tiny windows, no HPACK table, one stream at a time.
        2 => Config {
            header_table_size: 0,
            encoder_table_size: 0,
            max_concurrent_streams: 1,
            initial_window_size: 16,
            idle_timeout_ms: 0,
            ..Config::default()
        },
        // Windows never in the way, large frames.
        _ => Config {
            initial_window_size: 0x7fff_ffff,
            connection_window: 0x7fff_ffff,
            max_frame_size: 1 << 20,
            ..Config::default()
        },
    };
    debug_assert_eq!(cfg.validate(), Ok(()));
    cfg
}

/// The bytes a well-behaved peer starts with (without the preface for a backend's peer).
pub fn prelude(side: Side) -> Vec<u8> {
    let mut v = Vec::new();
    if side == Side::Frontend {
        v.extend_from_slice(PREFACE);
    }
    frame::write_settings(&mut v, &[]);
    frame::write_settings_ack(&mut v);
    v
}

/// The request a backend opens for `sel`.
pub fn request(sel: u8) -> Message {
    match sel % 6 {
        0 => Message::request(b"GET", b"https", b"example.com", b"/"),
        1 => Message::request(b"POST", b"https", b"example.com", b"/upload?x=1"),
        2 => Message::request(b"HEAD", b"http", b"example.com:8080", b"/index.html"),
        3 => Message::request(b"CONNECT", b"", b"example.com:443", b""),
        4 => Message::request(b"OPTIONS", b"https", b"example.com", b"*"),
        _ => Message::request(b"DELETE", b"https", b"a.example", b"/items/42"),
    }
}

const STATUSES: [u16; 8] = [200, 204, 304, 404, 503, 100, 103, 200];

pub fn status(sel: u8) -> u16 {
    STATUSES[usize::from(sel) % STATUSES.len()]
}

fn decorate(m: &mut Message, fl: u8, c: &mut Cursor) {
    if fl & HEAD_FIELDS != 0 {
        m.fields.push(b"content-type", b"text/plain", false);
        m.fields.push(b"cache-control", b"no-cache", false);
    }
    if fl & HEAD_SENSITIVE != 0 {
        m.fields.push(b"authorization", b"Bearer token", true);
    }
    if fl & HEAD_LENGTH != 0 {
        let n = c.u16();
        m.content_length = Some(u64::from(n));
        m.fields
            .push(b"content-length", n.to_string().as_bytes(), false);
    }
    if fl & HEAD_BIG != 0 {
        let n = usize::from(c.u16()) % ZEDS.len();
        m.fields.push(b"x-big", &ZEDS[..n], false);
    }
}

/// Follows our output frame by frame.
struct WireCheck {
    preface_left: usize,
    hdr: [u8; HEADER_LEN],
    have: usize,
    skip: usize,
    frames: u64,
    max_frame: u32,
}

impl WireCheck {
    fn new(side: Side) -> WireCheck {
        WireCheck {
            preface_left: if side == Side::Backend {
                PREFACE.len()
            } else {
                0
            },
            hdr: [0; HEADER_LEN],
            have: 0,
            skip: 0,
            frames: 0,
            max_frame: frame::DEFAULT_MAX_FRAME_SIZE,
        }
    }

    fn push(&mut self, mut b: &[u8], peer_max_frame: u32) {
        // The peer may lower its limit after frames were written under the old one.
        self.max_frame = self.max_frame.max(peer_max_frame);
        if self.preface_left > 0 {
            let n = self.preface_left.min(b.len());
            let off = PREFACE.len() - self.preface_left;
            assert_eq!(&b[..n], &PREFACE[off..off + n], "client preface garbled");
            self.preface_left -= n;
            b = &b[n..];
        }
        loop {
            let n = self.skip.min(b.len());
            self.skip -= n;
            b = &b[n..];
            if b.is_empty() {
                return;
            }
            let n = (HEADER_LEN - self.have).min(b.len());
            self.hdr[self.have..self.have + n].copy_from_slice(&b[..n]);
            self.have += n;
            b = &b[n..];
            if self.have < HEADER_LEN {
                return;
            }
            self.have = 0;
            let h = FrameHeader::parse(&self.hdr);
            if self.frames == 0 {
                assert!(
                    h.kind == FrameType::Settings && !h.has(flags::ACK),
                    "first frame sent is not SETTINGS: {h:?}"
                );
            }
            self.frames += 1;
            assert!(
                h.len <= self.max_frame,
                "sent a frame above the peer's SETTINGS_MAX_FRAME_SIZE {}: {h:?}",
                self.max_frame
            );
            if let Err(e) = frame::validate(&h, frame::MAX_MAX_FRAME_SIZE) {
                panic!("sent an invalid frame {h:?}: {e:?}");
            }
            self.skip = h.len as usize;
        }
    }
}

struct Driver {
    side: Side,
    conn: Connection,
    pool: BufferPool,
    now: u64,
    /// Peer bytes not consumed yet.
    pending: Vec<u8>,
    /// Streams to act on, most recent last.
    streams: Vec<StreamId>,
    /// Streams with a head event (frontend) or opened by us (backend).
    known: HashSet<StreamId>,
    /// DATA received and not yet released, per stream.
    unreleased: Vec<(StreamId, usize)>,
    hogs: Vec<Buffer>,
    out: Vec<u8>,
    wire: WireCheck,
    failed: bool,
}

pub fn run(side: Side, data: &[u8]) {
    let mut c = Cursor::new(data);
    let s = c.u8();
    let (buffers, waiters) = match (s >> 3) & 3 {
        0 | 1 => (64, 4),
        2 => (2, 4),
        _ => (1, 1),
    };
    let polite = s & 0x80 != 0;
    let mut d = Driver {
        side,
        conn: Connection::new(side, Arc::new(config(s >> 5)), WAITER, Instant(0)),
        pool: BufferPool::new(16_384, buffers * 16_384, waiters),
        now: 0,
        pending: if s & 7 != 7 {
            prelude(side)
        } else {
            Vec::new()
        },
        streams: Vec::new(),
        known: HashSet::new(),
        unreleased: Vec::new(),
        hogs: Vec::new(),
        out: Vec::new(),
        wire: WireCheck::new(side),
        failed: false,
    };
    while !c.is_empty() {
        let op = c.u8() % OPS;
        d.step(op, &mut c);
        if polite {
            d.drain(usize::MAX);
            if !d.pending.is_empty() {
                d.recv();
            }
        }
    }
    d.finish();
}

impl Driver {
    fn step(&mut self, op: u8, c: &mut Cursor) {
        let now = Instant(self.now);
        match op {
            FEED => {
                let n = c.length();
                self.pending.extend_from_slice(c.bytes(n));
                self.recv();
            }
            RECV => self.recv(),
            DRAIN => {
                let limit = match c.u8() {
                    0 => usize::MAX,
                    b => usize::from(b) * 64,
                };
                self.drain(limit);
            }
            CONSUME => {
                let n = usize::from(c.u16());
                self.conn.flush(&mut self.pool, Instant(self.now));
                let o = self.conn.output();
                let k = n.min(o.len());
                let max = self.conn.peer_settings().max_frame_size;
                self.wire.push(&o[..k], max);
                self.conn.consume_output(n, &mut self.pool);
            }
            HEAD => match self.side {
                Side::Frontend => {
                    let id = self.pick(c.u8());
                    let st = status(c.u8());
                    let fl = c.u8();
                    let mut m = Message::response(st);
                    decorate(&mut m, fl, c);
                    let _ = self.conn.send_headers(id, m, fl & HEAD_END != 0);
                }
                Side::Backend => {
                    let mut m = request(c.u8());
                    let fl = c.u8();
                    decorate(&mut m, fl, c);
                    if let Ok(id) = self.conn.open_stream(m, fl & HEAD_END != 0) {
                        assert!(self.known.insert(id), "stream id {id:?} reused");
                        self.track(id);
                    }
                }
            },
            DATA => {
                let id = self.pick(c.u8());
                let n = c.length();
                let end = c.u8() & 1 != 0;
                let _ = self
                    .conn
                    .send_data(id, Bytes::from_static(&ZEROS[..n]), end);
            }
            TRAILERS => {
                let id = self.pick(c.u8());
                let mut t = Fields::new();
                t.push(b"x-checksum", b"0123abcd", false);
                let _ = self.conn.send_trailers(id, t);
            }
            RESET => {
                let id = self.pick(c.u8());
                let code = ErrorCode::from_u32(u32::from(c.u8() % 16));
                self.conn.reset(id, code);
            }
            RELEASE => {
                let id = self.pick(c.u8());
                let want = usize::from(c.u16());
                if let Some(e) = self.unreleased.iter_mut().find(|e| e.0 == id) {
                    let n = if want == 0 { e.1 } else { want.min(e.1) };
                    e.1 -= n;
                    self.conn.release_capacity(id, n);
                }
                self.unreleased.retain(|e| e.1 > 0);
            }
            DETACH => {
                // An owner gives a stream's credit back before it lets go of the stream, as
                // the relay does: once no stream is left, the connection's audit (after
                // every `recv`) expects all credit back.
                let id = self.pick(c.u8());
                if let Some(i) = self.unreleased.iter().position(|e| e.0 == id) {
                    let (_, n) = self.unreleased.swap_remove(i);
                    self.conn.release_capacity(id, n);
                }
                self.conn.detach(id);
            }
            TIME => {
                self.now += u64::from(c.u16()) * 16;
                self.conn.handle_timeout(Instant(self.now));
            }
            PING => self.conn.ping([c.u8(); 8]),
            SHUTDOWN => self.conn.shutdown(now),
            HOG => {
                if self.hogs.len() < MAX_HOGS {
                    if let Some(b) = self.pool.try_take() {
                        self.hogs.push(b);
                    }
                }
            }
            UNHOG => {
                if let Some(b) = self.hogs.pop() {
                    self.pool.release(b);
                }
            }
            GOAWAY => {
                let code = ErrorCode::from_u32(u32::from(c.u8() % 16));
                self.conn.goaway(code, "going away");
            }
            _ => self.conn.recv_eof(now),
        }
        self.settle();
    }

    /// A tracked stream, or (for bytes from 0xf0 up, or with none tracked) a raw id.
    fn pick(&self, b: u8) -> StreamId {
        if b < 0xf0 && !self.streams.is_empty() {
            self.streams[usize::from(b) % self.streams.len()]
        } else {
            StreamId::new(u32::from(b & 0x0f))
        }
    }

    fn track(&mut self, id: StreamId) {
        if !self.streams.contains(&id) {
            if self.streams.len() >= MAX_TRACKED {
                self.streams.remove(0);
            }
            self.streams.push(id);
        }
    }

    fn recv(&mut self) {
        let input = Bytes::copy_from_slice(&self.pending);
        let n = self.conn.recv(&mut self.pool, &input, Instant(self.now));
        assert!(
            n <= input.len(),
            "recv consumed {n} of {} bytes",
            input.len()
        );
        if n < input.len() {
            assert!(
                self.conn.rx_blocked().is_some(),
                "recv consumed {n} of {} bytes and gave no reason",
                input.len()
            );
        }
        self.pending.drain(..n);
        self.settle();
    }

    fn drain(&mut self, limit: usize) {
        self.out.clear();
        self.conn
            .drain_output(&mut self.pool, &mut self.out, limit, Instant(self.now));
        let max = self.conn.peer_settings().max_frame_size;
        self.wire.push(&self.out, max);
        self.settle();
    }

    /// Takes the events, then resumes the connection if the pool has a buffer for it.
    fn settle(&mut self) {
        self.events();
        for _ in 0..4 {
            match self.pool.pop_waiter() {
                Some(w) => {
                    assert_eq!(w, WAITER);
                    self.conn
                        .on_buffer_available(&mut self.pool, Instant(self.now));
                    self.events();
                }
                None => break,
            }
        }
        assert!(self.conn.buffers_held() <= 2);
    }

    fn events(&mut self) {
        while let Some(e) = self.conn.poll_event() {
            if self.failed {
                assert!(
                    matches!(e, Event::Reset { .. } | Event::DataSent { .. }),
                    "event after Failed: {e:?}"
                );
            }
            match e {
                Event::Headers { stream, .. } => {
                    if self.side == Side::Frontend {
                        self.known.insert(stream);
                        self.track(stream);
                    } else {
                        assert!(self.known.contains(&stream), "response on {stream:?}");
                    }
                }
                Event::Trailers { stream, .. } => {
                    assert!(self.known.contains(&stream), "trailers on {stream:?}");
                }
                Event::Data { stream, data, .. } => {
                    assert!(self.known.contains(&stream), "data on {stream:?}");
                    match self.unreleased.iter_mut().find(|e| e.0 == stream) {
                        Some(e) => e.1 += data.len(),
                        None => self.unreleased.push((stream, data.len())),
                    }
                }
                Event::Failed { .. } => self.failed = true,
                _ => {}
            }
        }
    }

    /// Behaves as a patient host would, then closes and checks the pool got everything back.
    fn finish(&mut self) {
        for _ in 0..16 {
            self.drain(usize::MAX);
            for (id, n) in std::mem::take(&mut self.unreleased) {
                self.conn.release_capacity(id, n);
            }
            if self.conn.rx_blocked() == Some(RxBlocked::Streams) {
                for id in self.streams.clone() {
                    self.conn.detach(id);
                }
            }
            if self.pending.is_empty() {
                break;
            }
            let before = self.pending.len();
            self.recv();
            if self.pending.len() == before && self.conn.output().is_empty() {
                break;
            }
        }
        // The owner lets go of every stream: then every byte of credit the peer used must
        // have come back, and every key must still find its own stream.
        for id in std::mem::take(&mut self.streams) {
            self.conn.detach(id);
        }
        self.drain(usize::MAX);
        if let Err(rule) = self.conn.audit() {
            panic!("audit after the run: {rule}");
        }
        self.now += 1_000_000;
        self.conn.handle_timeout(Instant(self.now));
        self.drain(usize::MAX);
        self.conn.release(&mut self.pool);
        for b in self.hogs.drain(..) {
            self.pool.release(b);
        }
        assert_eq!(self.pool.in_use(), 0, "buffers not given back");
        assert_eq!(self.pool.waiters(), 0, "a released connection still waits");
    }
}

/// Builds driver scripts (for seeds).
pub struct Script(pub Vec<u8>);

impl Script {
    pub fn new(setup: u8) -> Script {
        Script(vec![setup])
    }

    pub fn op(&mut self, op: u8, args: &[u8]) -> &mut Script {
        self.0.push(op);
        self.0.extend_from_slice(args);
        self
    }

    /// Peer bytes in chunks of `chunk`, each followed by a full drain.
    pub fn feed(&mut self, bytes: &[u8], chunk: usize) -> &mut Script {
        for c in bytes.chunks(chunk.max(1)) {
            self.0.push(FEED);
            put_chunk(&mut self.0, c);
            self.op(DRAIN, &[0]);
        }
        self
    }
}
