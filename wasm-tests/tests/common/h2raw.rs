//! Raw HTTP/2 for attack, memory and fuzz tests: frame and HPACK writers, a frame reader,
//! a scripted raw client, a seeded generator, and a pump loop that watches linear memory.
#![allow(dead_code)]

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::Poll;

use h2mux_wasm_tests::host::driver::Pump;
use tokio::io::{AsyncRead, AsyncWriteExt, DuplexStream, ReadBuf};

thread_local! {
    /// The VM clock as `drive` last saw it, for raw peers' deadlines.
    static VM_MS: Cell<u64> = const { Cell::new(0) };
}

/// How long (VM clock) a raw peer waits for an answer before giving up.
pub const PATIENCE_MS: u64 = 30_000;

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub mod ty {
    pub const DATA: u8 = 0;
    pub const HEADERS: u8 = 1;
    pub const PRIORITY: u8 = 2;
    pub const RST_STREAM: u8 = 3;
    pub const SETTINGS: u8 = 4;
    pub const PING: u8 = 6;
    pub const GOAWAY: u8 = 7;
    pub const WINDOW_UPDATE: u8 = 8;
    pub const CONTINUATION: u8 = 9;
}

pub mod flag {
    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
    pub const PRIORITY: u8 = 0x20;
}

pub mod code {
    pub const NO_ERROR: u32 = 0;
    pub const PROTOCOL_ERROR: u32 = 1;
    pub const FLOW_CONTROL_ERROR: u32 = 3;
    pub const CANCEL: u32 = 8;
    pub const COMPRESSION_ERROR: u32 = 9;
    pub const ENHANCE_YOUR_CALM: u32 = 11;
}

pub fn frame(t: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let n = payload.len();
    let mut f = vec![(n >> 16) as u8, (n >> 8) as u8, n as u8, t, flags];
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

pub fn settings(entries: &[(u16, u32)]) -> Vec<u8> {
    let mut p = Vec::new();
    for (id, v) in entries {
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&v.to_be_bytes());
    }
    frame(ty::SETTINGS, 0, 0, &p)
}

pub fn settings_ack() -> Vec<u8> {
    frame(ty::SETTINGS, flag::ACK, 0, &[])
}

pub fn ping(data: [u8; 8]) -> Vec<u8> {
    frame(ty::PING, 0, 0, &data)
}

pub fn ping_ack(data: &[u8]) -> Vec<u8> {
    frame(ty::PING, flag::ACK, 0, data)
}

pub fn window_update(stream: u32, inc: u32) -> Vec<u8> {
    frame(ty::WINDOW_UPDATE, 0, stream, &inc.to_be_bytes())
}

pub fn rst(stream: u32, code: u32) -> Vec<u8> {
    frame(ty::RST_STREAM, 0, stream, &code.to_be_bytes())
}

pub fn priority(stream: u32, dep: u32, weight: u8) -> Vec<u8> {
    let mut p = dep.to_be_bytes().to_vec();
    p.push(weight);
    frame(ty::PRIORITY, 0, stream, &p)
}

pub fn headers(stream: u32, block: &[u8], end_stream: bool) -> Vec<u8> {
    let f = flag::END_HEADERS | if end_stream { flag::END_STREAM } else { 0 };
    frame(ty::HEADERS, f, stream, block)
}

pub fn data(stream: u32, bytes: &[u8], end_stream: bool) -> Vec<u8> {
    frame(
        ty::DATA,
        if end_stream { flag::END_STREAM } else { 0 },
        stream,
        bytes,
    )
}

/// HPACK integer with an `n`-bit prefix; `first` carries the pattern bits above it.
pub fn hp_int(out: &mut Vec<u8>, n: u8, first: u8, v: usize) {
    let max = (1usize << n) - 1;
    if v < max {
        out.push(first | v as u8);
        return;
    }
    out.push(first | max as u8);
    let mut v = v - max;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
}

pub fn hp_str(out: &mut Vec<u8>, s: &[u8]) {
    hp_int(out, 7, 0, s.len());
    out.extend_from_slice(s);
}

/// Literal field without indexing, new name.
pub fn hp_lit(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.push(0x00);
    hp_str(out, name);
    hp_str(out, value);
}

/// Literal field with incremental indexing, new name (enters the dynamic table).
pub fn hp_lit_indexed(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.push(0x40);
    hp_str(out, name);
    hp_str(out, value);
}

pub fn hp_indexed(out: &mut Vec<u8>, index: usize) {
    hp_int(out, 7, 0x80, index);
}

/// A request head: `:method`, `:scheme http`, `:path`, `:authority`.
pub fn request_block(method: &str, path: &str) -> Vec<u8> {
    let mut b = Vec::new();
    match method {
        "GET" => b.push(0x82),
        "POST" => b.push(0x83),
        m => {
            hp_int(&mut b, 4, 0, 2);
            hp_str(&mut b, m.as_bytes());
        }
    }
    b.push(0x86);
    hp_int(&mut b, 4, 0, 4);
    hp_str(&mut b, path.as_bytes());
    hp_int(&mut b, 4, 0, 1);
    hp_str(&mut b, b"upstream");
    b
}

pub fn get(stream: u32, path: &str) -> Vec<u8> {
    headers(stream, &request_block("GET", path), true)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub ty: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The error code of a GOAWAY or RST_STREAM.
    pub fn error_code(&self) -> Option<u32> {
        let at = match self.ty {
            ty::GOAWAY => 4,
            ty::RST_STREAM => 0,
            _ => return None,
        };
        let b = self.payload.get(at..at + 4)?;
        Some(u32::from_be_bytes(b.try_into().unwrap()))
    }
}

/// Whole frames at the front of `buf` (removed from it); a partial frame stays.
pub fn parse_frames(buf: &mut Vec<u8>) -> Vec<Frame> {
    let mut out = Vec::new();
    let mut at = 0;
    while buf.len() - at >= 9 {
        let h = &buf[at..at + 9];
        let n = (h[0] as usize) << 16 | (h[1] as usize) << 8 | h[2] as usize;
        if buf.len() - at < 9 + n {
            break;
        }
        out.push(Frame {
            ty: h[3],
            flags: h[4],
            stream: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff,
            payload: buf[at + 9..at + 9 + n].to_vec(),
        });
        at += 9 + n;
    }
    buf.drain(..at);
    out
}

/// A deterministic generator (splitmix64).
#[derive(Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A client that speaks raw frames over its socket and keeps every frame it receives.
pub struct Raw {
    pub io: DuplexStream,
    buf: Vec<u8>,
    pub frames: Vec<Frame>,
    pub eof: bool,
    /// A write failed: the connection is gone.
    pub broken: bool,
    pub sent: usize,
    /// A wait for an answer ran out of patience.
    pub timed_out: bool,
    deadline: u64,
}

impl Raw {
    pub fn new(io: DuplexStream) -> Raw {
        Raw {
            io,
            buf: Vec::new(),
            frames: Vec::new(),
            eof: false,
            broken: false,
            sent: 0,
            timed_out: false,
            deadline: u64::MAX,
        }
    }

    /// Writes `bytes` in slices, letting the other tasks run in between.
    pub async fn send(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(16 * 1024) {
            if self.broken {
                return;
            }
            if self.io.write_all(chunk).await.is_err() {
                self.broken = true;
                return;
            }
            self.sent += chunk.len();
            tokio::task::yield_now().await;
        }
    }

    /// Preface and SETTINGS, then reads until the server's SETTINGS and ACKs it.
    pub async fn handshake(&mut self, entries: &[(u16, u32)]) {
        let mut b = PREFACE.to_vec();
        b.extend(settings(entries));
        self.send(&b).await;
        let got = self
            .until(|f| f.ty == ty::SETTINGS && f.flags & flag::ACK == 0)
            .await;
        assert!(got.is_some(), "no SETTINGS from the filter");
        self.send(&settings_ack()).await;
    }

    /// Reads once: false at end of stream or past the deadline (the future must be polled
    /// by `drive` itself, which polls it every round).
    pub async fn read_some(&mut self) -> bool {
        if self.eof || self.timed_out {
            return false;
        }
        let mut b = vec![0u8; 64 * 1024];
        let r = poll_fn(|cx| {
            let mut rb = ReadBuf::new(&mut b);
            match Pin::new(&mut self.io).poll_read(cx, &mut rb) {
                Poll::Ready(r) => Poll::Ready(Some(r.map(|_| rb.filled().len()))),
                Poll::Pending if VM_MS.get() > self.deadline => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            }
        })
        .await;
        match r {
            None => {
                self.timed_out = true;
                false
            }
            Some(Ok(0)) | Some(Err(_)) => {
                self.eof = true;
                false
            }
            Some(Ok(n)) => {
                self.buf.extend_from_slice(&b[..n]);
                self.frames.extend(parse_frames(&mut self.buf));
                if std::env::var_os("H2RAW_DEBUG").is_some() {
                    eprintln!("raw: {}", self.summary());
                }
                true
            }
        }
    }

    /// Reads until a frame (received from now on) matches, or the end of stream.
    pub async fn until(&mut self, pred: impl Fn(&Frame) -> bool) -> Option<Frame> {
        self.deadline = VM_MS.get() + PATIENCE_MS;
        let mut seen = self.frames.len();
        loop {
            if let Some(f) = self.frames[seen..].iter().find(|f| pred(f)) {
                return Some(f.clone());
            }
            seen = self.frames.len();
            if !self.read_some().await {
                return None;
            }
        }
    }

    /// The frame at `*at` (then advances `at`), reading when it has not arrived: None at
    /// the end of stream or when none came for `PATIENCE_MS` on the VM clock.
    pub async fn next_frame(&mut self, at: &mut usize) -> Option<Frame> {
        self.deadline = VM_MS.get() + PATIENCE_MS;
        while *at >= self.frames.len() {
            if !self.read_some().await {
                return None;
            }
        }
        *at += 1;
        self.frames.get(*at - 1).cloned()
    }

    /// Reads everything until the end of stream (or a wait runs out of patience).
    pub async fn read_to_end(&mut self) {
        self.deadline = VM_MS.get() + PATIENCE_MS;
        while self.read_some().await {}
    }

    /// PINGs with a marker and reads until its ACK (the connection still works) or the end.
    pub async fn probe(&mut self) -> bool {
        let marker = *b"probe!!!";
        self.send(&ping(marker)).await;
        self.until(|f| f.ty == ty::PING && f.flags & flag::ACK != 0 && f.payload == marker)
            .await
            .is_some()
    }

    pub fn goaway_code(&self) -> Option<u32> {
        self.frames
            .iter()
            .find(|f| f.ty == ty::GOAWAY)
            .and_then(Frame::error_code)
    }

    /// The code of the last GOAWAY (a graceful one may come first).
    pub fn last_goaway_code(&self) -> Option<u32> {
        self.frames
            .iter()
            .rev()
            .find(|f| f.ty == ty::GOAWAY)
            .and_then(Frame::error_code)
    }

    pub fn count(&self, t: u8) -> usize {
        self.frames.iter().filter(|f| f.ty == t).count()
    }

    /// RST_STREAM frames received, by error code.
    pub fn resets(&self, c: u32) -> usize {
        self.frames
            .iter()
            .filter(|f| f.ty == ty::RST_STREAM && f.error_code() == Some(c))
            .count()
    }

    /// A short account for assertion messages.
    pub fn summary(&self) -> String {
        let names = [
            "DATA",
            "HEADERS",
            "PRIORITY",
            "RST_STREAM",
            "SETTINGS",
            "PUSH",
            "PING",
            "GOAWAY",
            "WINDOW_UPDATE",
            "CONTINUATION",
        ];
        let mut s = format!("sent {} B; received", self.sent);
        for (t, n) in names.iter().enumerate() {
            let c = self.count(t as u8);
            if c > 0 {
                s += &format!(" {n}x{c}");
            }
        }
        let codes: Vec<_> = self
            .frames
            .iter()
            .filter(|f| f.ty == ty::GOAWAY)
            .filter_map(Frame::error_code)
            .collect();
        if !codes.is_empty() {
            s += &format!(" (GOAWAY codes {codes:?})");
        }
        if self.eof {
            s += ", then EOF";
        }
        if self.timed_out {
            s += ", then nothing more (gave up waiting)";
        }
        s
    }
}

/// The longest a driven scenario may take on the VM clock.
pub const MAX_VM_MS: u64 = 300_000;

/// Like `Pump::run`, but checks after every step that linear memory stays within `limit`
/// and returns the most seen. Panics on a trap or a stall.
pub async fn drive<F: Future>(p: &mut Pump, limit: usize, fut: F) -> (F::Output, usize) {
    let mut fut = pin!(fut);
    let (mut idle, mut rounds, mut idle_ticks) = (0u32, 0u32, 0u32);
    let mut peak = p.vm.memory_size();
    loop {
        if let Poll::Ready(v) = poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await {
            return (v, peak);
        }
        let moved = p.step().unwrap_or_else(|e| panic!("{e}"));
        VM_MS.set(p.vm.elapsed_ms());
        peak = peak.max(p.vm.memory_size());
        assert!(
            peak <= limit,
            "linear memory {peak} B over the bound {limit} B"
        );
        assert!(
            p.vm.elapsed_ms() < MAX_VM_MS,
            "still running after {MAX_VM_MS} ms on the VM clock"
        );
        tokio::task::yield_now().await;
        rounds += 1;
        if moved {
            idle = 0;
            idle_ticks = 0;
        } else {
            idle += 1;
        }
        if idle >= p.idle_rounds_per_tick || rounds % p.busy_tick == 0 {
            if idle > 0 {
                idle_ticks += 1;
            }
            idle = 0;
            p.vm.tick().unwrap_or_else(|e| panic!("{e}"));
            assert!(
                idle_ticks <= p.max_idle_ticks,
                "stalled: nothing moved for {idle_ticks} ticks"
            );
        }
    }
}
