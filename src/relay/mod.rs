//! The relay: one frontend connection (the client's) and one backend connection (to the
//! upstream), and every stream paired between them.
//!
//! Messages cross in the version-agnostic form: a request head decoded by the frontend is
//! re-encoded by the backend, DATA moves as `Bytes` without copies, trailers follow.
//! Back-pressure is flow control: credit goes back to one peer only when the other
//! connection has written the bytes (`Event::DataSent`), so what a stream holds in memory is
//! bounded by the windows we advertise. A stream keeps its slot on both sides until both are
//! finished with it, which is what makes resets count as live work.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use crate::buffer::{BufferPool, WaiterId};
use crate::conn::{Connection, Event, SendError};
use crate::error::ErrorCode;
use crate::h1::H1Conn;
use crate::invariant;
use crate::limits::Config;
use crate::message::{Fields, Message};
use crate::side::Side;
use crate::stream::{State, StreamId};
use crate::time::Instant;

/// A client stream and the upstream stream carrying it.
#[derive(Clone, Copy, Debug)]
struct Pair {
    front: StreamId,
    back: StreamId,
    /// A response head (final) went to the client.
    responded: bool,
    /// Client bytes handed to the upstream side and not yet written there: their credit
    /// goes back to the client when written, or when the pair ends.
    up_inflight: usize,
    /// The same for upstream bytes on their way to the client.
    down_inflight: usize,
    /// When the request arrived (queued ones: when they were queued).
    opened: Instant,
    /// The final status the client got, once it got one (0: none yet). Packed rather than
    /// `Option`s: the pairs' vector is allocated for every burst of streams.
    status: u16,
    /// Milliseconds from `opened` to the first response head, an interim one counting
    /// (`u32::MAX`: none yet).
    first_byte_ms: u32,
}

impl Pair {
    fn new(front: StreamId, back: StreamId, opened: Instant) -> Pair {
        Pair {
            front,
            back,
            responded: false,
            up_inflight: 0,
            down_inflight: 0,
            opened,
            status: 0,
            first_byte_ms: u32::MAX,
        }
    }

    /// A response head went to the client now.
    fn head_sent(&mut self, status: Option<u16>, informational: bool, now: Instant) {
        if self.first_byte_ms == u32::MAX {
            self.first_byte_ms = ms_between(self.opened, now).min(u32::MAX - 1);
        }
        if !informational {
            self.responded = true;
            self.status = status.unwrap_or(0);
        }
    }
}

/// The access-log record of a live sampled stream, from the relay's cold part alone (so that
/// a pair borrowed from the relay's pairs stays usable beside it).
fn log_in(cold: &mut Option<Box<Cold>>, front: StreamId) -> Option<&mut StreamLog> {
    cold.as_mut()?
        .logs
        .iter_mut()
        .find(|(id, _)| *id == front)
        .map(|(_, l)| &mut **l)
}

/// Milliseconds from `from` to `to`, saturating.
fn ms_between(from: Instant, to: Instant) -> u32 {
    u32::try_from(to.as_millis().saturating_sub(from.as_millis())).unwrap_or(u32::MAX)
}

/// How a client stream ended, for the metrics of responses and durations, and its
/// access-log line when it was sampled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamEnd {
    /// The client's stream id.
    pub stream: u32,
    /// The final status the client got (`None`: no response, the stream was reset).
    pub status: Option<u16>,
    /// From the request's arrival to the stream's end, in ms.
    pub duration_ms: u32,
    /// From the request's arrival to the first response head, in ms.
    pub first_byte_ms: Option<u32>,
    /// What the access log says of it (sampled streams only).
    pub log: Option<Box<StreamLog>>,
}

/// Stream ends kept for the host between two of its reads (it reads after every event, so
/// this bounds only a host that never reads).
const MAX_ENDED: usize = 4096;

/// A request waiting for the upstream's concurrency limit, with what arrived for it since.
struct Waiting {
    front: StreamId,
    /// When it was queued: past `queue_timeout_ms` the client gets a 503.
    since: Instant,
    message: Message,
    end: bool,
    data: VecDeque<Bytes>,
    data_end: bool,
    trailers: Option<Fields>,
}

/// What arrived for a queued request while it waited: its body so far and trailers.
struct Held {
    data: VecDeque<Bytes>,
    data_end: bool,
    trailers: Option<Fields>,
}

/// Counters for metrics. Saturating u32: streams are bounded by the client's 2^30 ids,
/// doorbells by the callbacks that ring them, and every connection carries these.
#[derive(Clone, Debug, Default)]
pub struct RelayStats {
    /// Client requests relayed, or queued for the upstream.
    pub streams: u32,
    /// Requests that had to wait for the upstream's MAX_CONCURRENT_STREAMS.
    pub queued_for_upstream: u32,
    /// Client resets passed on to the upstream stream.
    pub resets_to_upstream: u32,
    /// Upstream resets passed on to the client stream.
    pub resets_to_client: u32,
    /// Malformed upstream responses answered to the client with a 502.
    pub bad_gateway: u32,
    /// Doorbells rung: an empty SETTINGS to the upstream or a PING to the client.
    pub doorbells: u32,
    /// Requests answered 503 after waiting `queue_timeout_ms` for the upstream.
    pub queue_timeouts: u32,
    /// Broken invariants of the relay's own bookkeeping (each one ended the relay).
    pub internal_errors: u32,
}

/// Why the relay is finishing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The client's connection failed (its GOAWAY is written).
    Client(ErrorCode, &'static str),
    /// The upstream's connection failed or went away.
    Upstream(ErrorCode, &'static str),
}

/// What a relay needs only when the upstream makes requests wait, once it is ending, or
/// when it is routed by authority:
/// an idle relay pays a pointer, and `trim` drops it when empty.
#[derive(Default)]
struct Cold {
    waiting: VecDeque<Waiting>,
    ending: Option<Ending>,
    /// Streams ended since the host last took them (`take_ended`).
    ended: Vec<StreamEnd>,
    /// Access-log records of live sampled streams, by client stream.
    logs: Vec<(StreamId, Box<StreamLog>)>,
    /// The connection's cluster and the route table, when routing by authority: every
    /// request is checked against it. Here, so that a relay without routes pays nothing.
    routing: Option<Routing>,
    /// Requests answered 421 since the host last took the count (`take_misdirected`).
    misdirected: u32,
}

/// A client connection and an upstream connection, and every stream paired between them
/// (see the module docs).
pub struct Relay {
    front: Peer,
    back: Peer,
    /// The client's protocol is still to be told from its first bytes.
    detecting: bool,
    /// Notes are recorded (a side made later records them too).
    notes: bool,
    /// The client's connection is TLS: HTTP/1.1 requests in origin-form are `https`.
    client_tls: bool,
    pairs: Vec<Pair>,
    cold: Option<Box<Cold>>,
    /// Our PING to the client is out and not yet answered.
    client_doorbell: bool,
    /// The host's id of this connection, for log lines.
    tag: WaiterId,
    stats: RelayStats,
    now: Instant,
}

const CLIENT_DOORBELL: [u8; 8] = *b"h2mux-db";

/// A doorbell's bytes, for the host to write upstream after what it writes already.
#[derive(Debug)]
pub enum Bell {
    /// An empty SETTINGS frame (HTTP/2 upstream).
    Settings([u8; 9]),
    /// An `OPTIONS /` request (HTTP/1.1 upstream).
    Probe(Vec<u8>),
}

impl std::ops::Deref for Bell {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bell::Settings(f) => f,
            Bell::Probe(r) => r,
        }
    }
}

impl Relay {
    /// A relay of two fresh connections; `waiter` is the host's id for this connection.
    pub fn new(
        front_cfg: Arc<Config>,
        back_cfg: Arc<Config>,
        waiter: WaiterId,
        now: Instant,
    ) -> Relay {
        let detecting = front_cfg.http1;
        let back = if back_cfg.http1 {
            let mut c = H1Conn::new(Side::Backend, back_cfg, now);
            // The upstream's 100 Continue is the upstream event that carries what waits for
            // the client (window updates, an HTTP/1.1 client's own 100 Continue).
            c.set_ask_continue(true);
            Peer::H1(c)
        } else {
            Peer::H2(Connection::new(Side::Backend, back_cfg, waiter, now))
        };
        Relay {
            front: Peer::H2(Connection::new(Side::Frontend, front_cfg, waiter, now)),
            back,
            detecting,
            notes: false,
            client_tls: false,
            pairs: Vec::new(),
            cold: None,
            client_doorbell: false,
            tag: waiter,
            stats: RelayStats::default(),
            now,
        }
    }

    /// The connection to the client (frontend).
    pub fn front(&self) -> &Peer {
        &self.front
    }

    /// The connection to the upstream (backend).
    pub fn back(&self) -> &Peer {
        &self.back
    }

    /// Counters since the relay was made.
    pub fn stats(&self) -> &RelayStats {
        &self.stats
    }

    /// The client's connection is TLS (the host tells, before the first bytes).
    pub fn set_client_tls(&mut self) {
        self.client_tls = true;
    }

    /// The connection's route, chosen by the host before it connected upstream: from now on
    /// a request whose authority routes elsewhere is answered 421 (see `route`).
    pub fn set_routing(&mut self, routing: Routing) {
        self.cold().routing = Some(routing);
    }

    /// Requests answered 421 (routed elsewhere) since the last call.
    pub fn take_misdirected(&mut self) -> u32 {
        self.cold
            .as_mut()
            .map_or(0, |c| std::mem::take(&mut c.misdirected))
    }

    /// Records per-code notes on both connections (for metrics).
    pub fn record_notes(&mut self) {
        self.notes = true;
        self.front.record_notes();
        self.back.record_notes();
    }

    /// Notes since the last call: (client side, upstream side).
    pub fn take_notes(&mut self) -> (Vec<crate::conn::Note>, Vec<crate::conn::Note>) {
        (self.front.take_notes(), self.back.take_notes())
    }

    /// Why the relay is finishing, once it is; the first reason is kept.
    pub fn ending(&self) -> Option<Ending> {
        self.cold.as_ref().and_then(|c| c.ending)
    }

    /// The first reason to end is the one reported.
    fn end(&mut self, e: Ending) {
        self.cold().ending.get_or_insert(e);
    }

    fn cold(&mut self) -> &mut Cold {
        self.cold.get_or_insert_with(Box::default)
    }

    fn waiting_len(&self) -> usize {
        self.cold.as_ref().map_or(0, |c| c.waiting.len())
    }

    fn waiting_for(&mut self, front: StreamId) -> Option<&mut Waiting> {
        let c = self.cold.as_mut()?;
        c.waiting.iter_mut().find(|w| w.front == front)
    }

    fn take_waiting(&mut self) -> VecDeque<Waiting> {
        self.cold
            .as_mut()
            .map(|c| std::mem::take(&mut c.waiting))
            .unwrap_or_default()
    }

    /// Streams paired or waiting for the upstream.
    pub fn stream_count(&self) -> usize {
        self.pairs.len() + self.waiting_len()
    }

    /// Gives back queue memory once nothing is in flight (see `Connection::trim`).
    pub fn trim(&mut self, pool: &mut BufferPool) {
        if self.pairs.is_empty() && self.waiting_len() == 0 {
            self.front.park_output(pool);
            self.back.park_output(pool);
        }
        if self.pairs.is_empty() && self.waiting_len() == 0 && self.front.trim() && self.back.trim()
        {
            self.pairs = Vec::new();
            let ended = self.cold.as_ref().is_some_and(|c| !c.ended.is_empty());
            let routed = self.cold.as_ref().is_some_and(|c| c.routing.is_some());
            if self.ending().is_none() && !ended && !routed {
                self.cold = None;
            } else if let Some(c) = self.cold.as_mut() {
                c.waiting = VecDeque::new();
            }
        }
    }

    /// Streams that ended since the last call, oldest first (for the host's metrics).
    pub fn take_ended(&mut self) -> Vec<StreamEnd> {
        self.cold
            .as_mut()
            .map(|c| std::mem::take(&mut c.ended))
            .unwrap_or_default()
    }

    /// The access-log record of a live sampled stream.
    fn log_mut(&mut self, front: StreamId) -> Option<&mut StreamLog> {
        log_in(&mut self.cold, front)
    }

    /// The first reset of a sampled stream is the one its line reports.
    fn log_reset(&mut self, front: StreamId, by: ResetBy, code: ErrorCode) {
        if let Some(l) = self.log_mut(front) {
            l.reset.get_or_insert((by, code));
        }
    }

    /// Moves a sampled stream's record into its `StreamEnd` (the last one pushed).
    fn attach_log(&mut self, front: StreamId, back: StreamId) {
        let ending = self.ending();
        let Some(c) = self.cold.as_mut() else { return };
        let Some(i) = c.logs.iter().position(|(id, _)| *id == front) else {
            return;
        };
        let (_, mut l) = c.logs.swap_remove(i);
        l.upstream_stream = back.value();
        l.ending = ending;
        if let Some(end) = c.ended.last_mut().filter(|e| e.stream == front.value()) {
            end.log = Some(l);
        }
    }

    fn stream_ended(&mut self, e: StreamEnd) {
        let ended = &mut self.cold().ended;
        if ended.len() < MAX_ENDED {
            ended.push(e);
        }
    }

    /// Buffers this relay holds from the pool (both sides).
    pub fn buffers_held(&self) -> usize {
        self.front.buffers_held() + self.back.buffers_held()
    }

    /// Each side may use the pool's reserve while the other holds buffers: the relay as a
    /// whole is a holder that must be able to finish its step.
    fn sync_reserve(&mut self) {
        let (f, b) = (self.front.buffers_held() > 0, self.back.buffers_held() > 0);
        self.front.set_reserve_ok(b);
        self.back.set_reserve_ok(f);
    }

    /// Bytes from the client. Returns how many were consumed; the caller holds the rest.
    pub fn from_client(&mut self, pool: &mut BufferPool, bytes: &Bytes, now: Instant) -> usize {
        self.now = now;
        if self.detecting {
            match detect(bytes) {
                Detected::Undecided => return 0,
                Detected::Http2 => {}
                Detected::Http1 => {
                    let cfg = match &self.front {
                        Peer::H2(c) => c.config_arc(),
                        Peer::H1(_) => return 0,
                    };
                    let mut h1 = H1Conn::new(Side::Frontend, cfg, now);
                    if self.notes {
                        h1.record_notes();
                    }
                    h1.set_scheme(self.client_tls);
                    self.front = Peer::H1(h1);
                    // No doorbell can ask an HTTP/1.1 client for its next bytes, and only
                    // in those (or while holding some) may Envoy write toward the upstream:
                    // window updates for the upstream could wait for ever. Its windows open
                    // wide instead; Envoy's buffers bound what it then sends.
                    match &mut self.back {
                        Peer::H2(b) => b.open_recv_windows(now),
                        // What the client pipelined goes upstream pipelined, in the same
                        // callback: later, no callback could carry it.
                        Peer::H1(b) => b.set_pipeline(true),
                    }
                }
            }
            self.detecting = false;
        }
        self.sync_reserve();
        let Peer::H1(_) = self.front else {
            let n = self.front.recv(pool, bytes, now);
            self.pump(pool);
            return n;
        };
        // An HTTP/1.1 client: a head and its body often come together, and the body may
        // only be taken as far as the upstream side can send it on now (`body_room`); the
        // request opened upstream by the pump sets that room for the next round.
        let mut taken = 0;
        for _ in 0..bytes.len() + 2 {
            self.set_front_room();
            let n = self.front.recv(pool, &bytes.slice(taken..), now);
            taken += n;
            self.pump(pool);
            if n == 0 || taken >= bytes.len() {
                break;
            }
        }
        taken
    }

    /// How many body bytes the HTTP/1.1 client side may take now: what the upstream side
    /// can send at once for that request, less what it was handed and has not sent.
    fn set_front_room(&mut self) {
        let Peer::H1(front) = &self.front else {
            return;
        };
        let room = match front.receiving() {
            None => None,
            Some(id) => match by_front_ref(&self.pairs, id) {
                Some(p) if p.back == StreamId::ZERO => None,
                Some(p) => match &self.back {
                    Peer::H2(b) => {
                        let window = b
                            .stream_send_window(p.back)
                            .unwrap_or(0)
                            .min(b.conn_send_window());
                        let unsent = p.up_inflight as i64;
                        Some((window - unsent).max(0) as usize)
                    }
                    // An HTTP/1.1 upstream side writes what it is given at once, but takes
                    // at most its send queue in one piece, and one client read can be
                    // larger (Envoy's reads overshoot its buffer limit): the client side
                    // hands the body over in pieces it takes, in the same call.
                    Peer::H1(b) => Some(b.send_room(p.back)),
                },
                // Still waiting for the upstream: nothing to send it on yet.
                None => Some(0),
            },
        };
        if let Peer::H1(front) = &mut self.front {
            front.set_body_room(room);
        }
    }

    /// Bytes from the upstream. Returns how many were consumed; the caller holds the rest.
    pub fn from_upstream(&mut self, pool: &mut BufferPool, bytes: &Bytes, now: Instant) -> usize {
        self.now = now;
        self.sync_reserve();
        let n = self.back.recv(pool, bytes, now);
        self.pump(pool);
        n
    }

    /// The client's transport ended: its unfinished streams end as cancelled, upstream too.
    pub fn client_eof(&mut self, pool: &mut BufferPool, now: Instant) {
        self.now = now;
        self.front.recv_eof(now);
        self.pump(pool);
    }

    /// The upstream's transport ended: the relay ends, the client gets a GOAWAY (NO_ERROR).
    pub fn upstream_eof(&mut self, pool: &mut BufferPool, now: Instant) {
        self.now = now;
        self.back.recv_eof(now);
        self.end(Ending::Upstream(
            ErrorCode::NoError,
            "upstream closed the connection",
        ));
        let last = self.last_client_stream_answered();
        self.front.goaway_with_last(
            last,
            ErrorCode::NoError,
            "upstream closed the connection",
            now,
        );
        self.pump(pool);
    }

    /// Moves client-bound bytes into `out`.
    pub fn client_output(
        &mut self,
        pool: &mut BufferPool,
        out: &mut Vec<u8>,
        now: Instant,
    ) -> usize {
        self.now = now;
        let n = self.front.drain_output(pool, out, now);
        // Writing may have released credit or finished streams.
        self.pump(pool);
        n + self.front.drain_output(pool, out, now)
    }

    /// Moves upstream-bound bytes into `out`.
    pub fn upstream_output(
        &mut self,
        pool: &mut BufferPool,
        out: &mut Vec<u8>,
        now: Instant,
    ) -> usize {
        self.now = now;
        let n = self.back.drain_output(pool, out, now);
        self.pump(pool);
        n + self.back.drain_output(pool, out, now)
    }

    /// Client-bound bytes are ready for `client_output`.
    pub fn has_client_output(&self) -> bool {
        self.front.has_output()
    }

    /// Upstream-bound bytes are ready for `upstream_output`.
    pub fn has_upstream_output(&self) -> bool {
        self.back.has_output()
    }

    /// Client-bound bytes wait (or a buffer does) and the upstream owes us no reply that
    /// would bring the next upstream callback: returns a doorbell for the host to append to
    /// the upstream-bound bytes (see `ring_upstream`). Only one is ever outstanding. It
    /// needs no pool buffer, so a starved connection can still ring.
    pub fn upstream_doorbell(&mut self, now: Instant) -> Option<Bell> {
        let wanted = self.front.has_output() || self.is_waiting_for_buffer();
        if !wanted {
            return None;
        }
        self.ring_upstream(now)
    }

    /// The upstream owes us a reply, whose arrival is an upstream event: a SETTINGS of ours
    /// it has not acknowledged, or a probe it has not answered (once the bytes waiting for
    /// it are written).
    pub fn upstream_reply_owed(&self) -> bool {
        match &self.back {
            Peer::H2(c) => c.settings_unacked() > 0 && c.error().is_none(),
            Peer::H1(c) => c.probe_in_flight(),
        }
    }

    /// A doorbell for the host to write upstream, whatever waits. To an HTTP/2 upstream an
    /// empty SETTINGS frame: the upstream must acknowledge it within a round trip, and it is
    /// no ping strike; None while one is owed already, before our preface, inside a header
    /// block or after an error. It goes after the bytes already written (whole frames
    /// outside a header block) and before any still to come. To an HTTP/1.1 upstream, only
    /// while no request is in flight, an `OPTIONS /` request whose answer is read and
    /// dropped (see `H1Conn::probe` for when).
    pub fn ring_upstream(&mut self, now: Instant) -> Option<Bell> {
        let bell = match &mut self.back {
            Peer::H1(c) => Bell::Probe(c.probe(self.front.is_h1())?),
            Peer::H2(c) => {
                if !c.preface_sent()
                    || c.header_block_open()
                    || c.settings_unacked() > 0
                    || c.error().is_some()
                {
                    return None;
                }
                c.note_settings_sent(now);
                let mut f = Vec::with_capacity(9);
                crate::frame::write_settings(&mut f, &[]);
                Bell::Settings(f.try_into().ok()?)
            }
        };
        self.stats.doorbells = self.stats.doorbells.saturating_add(1);
        Some(bell)
    }

    /// Upstream-bound bytes wait (or a buffer does) and the client owes us nothing (no
    /// SETTINGS ACK, no doorbell ACK): returns
    /// a PING for the host to append to the client-bound bytes; its ACK brings the next
    /// downstream callback. One outstanding at a time.
    pub fn client_doorbell(&mut self) -> Option<[u8; 17]> {
        let wanted = self.back.has_output() || self.is_waiting_for_buffer();
        // A client that owes us a SETTINGS ACK will send it anyway, so control replies can
        // wait for it; requests cannot wait on a client that writes and only then reads.
        let reply_due = self.front.settings_unacked() > 0 && !self.back.has_stream_output();
        if !wanted
            || reply_due
            || self.client_doorbell
            || !self.front.preface_sent()
            || self.front.header_block_open()
            || self.front.error().is_some()
        {
            return None;
        }
        self.client_doorbell = true;
        self.stats.doorbells = self.stats.doorbells.saturating_add(1);
        let mut f = Vec::with_capacity(17);
        crate::frame::write_ping(&mut f, false, CLIENT_DOORBELL);
        f.try_into().ok()
    }

    /// The host is going away: the client hears a graceful GOAWAY, streams under way finish
    /// (until the client side's `shutdown_timeout_ms`), then the connection is done.
    pub fn shutdown(&mut self, pool: &mut BufferPool, now: Instant) {
        self.now = now;
        self.front.shutdown(now);
        self.pump(pool);
    }

    /// Runs both connections' timers due at `now` and relays what follows.
    pub fn tick(&mut self, pool: &mut BufferPool, now: Instant) {
        self.now = now;
        self.front.handle_timeout(now);
        self.back.handle_timeout(now);
        self.expire_waiting();
        self.pump(pool);
    }

    /// When the oldest request queued for the upstream times out.
    fn queue_deadline(&self) -> Option<Instant> {
        let w = self.cold.as_ref()?.waiting.front()?;
        Some(w.since.after(self.queue_timeout_ms()))
    }

    fn queue_timeout_ms(&self) -> u64 {
        self.back.config().queue_timeout_ms
    }

    /// Requests that waited too long for the upstream get a 503 of ours.
    fn expire_waiting(&mut self) {
        let timeout = self.queue_timeout_ms();
        while let Some(w) = self.cold.as_mut().and_then(|c| {
            let due = c.waiting.front()?.since.after(timeout) <= self.now;
            if due {
                c.waiting.pop_front()
            } else {
                None
            }
        }) {
            log::info!(
                "h2mux[{}]: client stream {} waited {} ms for the upstream: 503",
                self.tag,
                w.front,
                timeout
            );
            self.stats.queue_timeouts = self.stats.queue_timeouts.saturating_add(1);
            let held: usize = w.data.iter().map(|d| d.len()).sum();
            if held > 0 {
                self.front.release_capacity(w.front, held);
            }
            let _ = self
                .front
                .send_headers(w.front, Message::response(503), true);
            self.front.reset_after_end(w.front, ErrorCode::NoError);
            // No upstream stream: the pair ends when the client side does.
            let mut p = Pair::new(w.front, StreamId::ZERO, w.since);
            p.head_sent(Some(503), false, self.now);
            self.pairs.push(p);
        }
    }

    /// A request for an authority the connection's cluster does not serve: 421 on its
    /// stream (RFC 9110 §15.5.20), which a client that coalesced connections retries on
    /// another; the rest of its body is dropped, its credit given back.
    fn misdirected(&mut self, front: StreamId) {
        log::debug!(
            "h2mux[{}]: client stream {front}: authority routed elsewhere: 421",
            self.tag
        );
        let c = self.cold();
        c.misdirected = c.misdirected.saturating_add(1);
        let _ = self.front.send_headers(front, Message::response(421), true);
        self.front.reset_after_end(front, ErrorCode::NoError);
        // No upstream stream: the pair ends when the client side does.
        let mut p = Pair::new(front, StreamId::ZERO, self.now);
        p.head_sent(Some(421), false, self.now);
        self.pairs.push(p);
    }

    /// The earliest deadline of either connection: when `tick` next has work.
    pub fn next_timeout(&self) -> Option<Instant> {
        [
            self.front.next_timeout(),
            self.back.next_timeout(),
            self.queue_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// A buffer came free in the pool: both connections retry what they could not write.
    pub fn on_buffer_available(&mut self, pool: &mut BufferPool, now: Instant) {
        self.now = now;
        self.sync_reserve();
        self.front.on_buffer_available(pool, now);
        self.sync_reserve();
        self.back.on_buffer_available(pool, now);
        self.pump(pool);
    }

    /// Either connection waits for a pool buffer.
    pub fn is_waiting_for_buffer(&self) -> bool {
        self.front.is_waiting_for_buffer() || self.back.is_waiting_for_buffer()
    }

    /// The client connection is finished: its last bytes are out and nothing more will come.
    pub fn is_done(&self) -> bool {
        self.front.is_done()
    }

    /// The client's side is done but for output still to write (which a host that cannot
    /// reach the client now may never get to write).
    pub fn is_done_but_output(&self) -> bool {
        self.front.is_done_but_output()
    }

    /// Gives every pool buffer back and leaves the wait queue (the connection is gone).
    pub fn release(&mut self, pool: &mut BufferPool) {
        self.front.release(pool);
        self.back.release(pool);
    }

    // ----- Moving events ---------------------------------------------------------------

    /// Handles events from both sides until neither has any.
    fn pump(&mut self, pool: &mut BufferPool) {
        // Each round handles events or stops, and events are bounded by the input and the
        // streams: a round count this high is a loop of ours.
        let mut settled = false;
        for _ in 0..1_000_000 {
            while let Some(e) = self.front.poll_event() {
                self.on_client_event(e);
            }
            while let Some(e) = self.back.poll_event() {
                self.on_upstream_event(e);
            }
            self.sweep();
            // Writing may free credit (DataSent) and finish streams.
            self.sync_reserve();
            self.front.flush(pool, self.now);
            self.sync_reserve();
            self.back.flush(pool, self.now);
            if !self.front.has_events() && !self.back.has_events() {
                settled = true;
                break;
            }
        }
        if !settled {
            self.broken("the relay's event pump settles");
        }
        if cfg!(debug_assertions) {
            if let Err(rule) = self.audit() {
                self.broken(rule);
            }
        }
    }

    /// One of the relay's own invariants broke: loud in debug builds; in release builds
    /// both connections end with GOAWAY(INTERNAL_ERROR), and the rule is logged and
    /// counted.
    #[cold]
    #[inline(never)]
    pub(crate) fn broken(&mut self, rule: &'static str) {
        invariant::broken(rule);
        self.stats.internal_errors = self.stats.internal_errors.saturating_add(1);
        self.end(Ending::Client(ErrorCode::InternalError, rule));
        self.front.goaway(ErrorCode::InternalError, rule);
        self.back.goaway(ErrorCode::InternalError, rule);
    }

    /// What must balance between the two connections: every byte of credit a peer used is
    /// either in flight on the other side, held for a queued request, on its way in a DATA
    /// frame still arriving, or given back; and each connection's own audit.
    pub fn audit(&self) -> Result<(), &'static str> {
        self.front.audit()?;
        self.back.audit()?;
        if self.ending().is_some() || self.front.error().is_some() || self.back.error().is_some() {
            // Credit no longer matters once a side is gone.
            return Ok(());
        }
        let held = self.held_for_waiting();
        let up: usize = self.pairs.iter().map(|p| p.up_inflight).sum();
        let down: usize = self.pairs.iter().map(|p| p.down_inflight).sum();
        if self.front.recv_credit_outstanding()
            != (up + held) as i64 + self.front.recv_credit_in_flight()
        {
            return Err("client credit is neither in flight nor given back");
        }
        if self.back.recv_credit_outstanding() != down as i64 + self.back.recv_credit_in_flight() {
            return Err("upstream credit is neither in flight nor given back");
        }
        Ok(())
    }

    fn on_client_event(&mut self, e: Event) {
        match e {
            Event::Headers {
                stream,
                message,
                end_stream,
            } => {
                if let Some(al) = self.front.config().access_log {
                    if stream_log::sampled(self.tag, stream.value(), al.sample) {
                        let l = StreamLog::new(&message, al.max_path, self.front.is_h1());
                        self.cold().logs.push((stream, Box::new(l)));
                    }
                }
                if let Some(r) = self.cold.as_ref().and_then(|c| c.routing.as_ref()) {
                    if !r.admits(message.authority()) {
                        self.misdirected(stream);
                        return;
                    }
                }
                self.open_upstream(stream, message, end_stream)
            }
            Event::Data {
                stream,
                data,
                end_stream,
            } => {
                let len = data.len();
                if let Some(l) = self.log_mut(stream) {
                    l.bytes_in += len as u64;
                }
                if let Some(p) =
                    by_front(&mut self.pairs, stream).filter(|p| p.back != StreamId::ZERO)
                {
                    match self.back.send_data(p.back, data, end_stream) {
                        Ok(()) => p.up_inflight += len,
                        Err(e) => {
                            self.front.release_capacity(stream, len);
                            self.client_stream_failed(stream, e);
                        }
                    }
                } else if let Some(w) = self.waiting_for(stream) {
                    if !data.is_empty() {
                        w.data.push_back(data);
                    }
                    w.data_end |= end_stream;
                    self.bound_waiting(stream);
                } else {
                    // Nowhere to go (the stream is over): the credit goes back at once.
                    self.front.release_capacity(stream, len);
                }
            }
            Event::Trailers { stream, fields } => {
                if let Some(p) =
                    by_front(&mut self.pairs, stream).filter(|p| p.back != StreamId::ZERO)
                {
                    if let Err(e) = self.back.send_trailers(p.back, fields) {
                        self.client_stream_failed(stream, e);
                    }
                } else if let Some(w) = self.waiting_for(stream) {
                    w.trailers = Some(fields);
                }
            }
            Event::Reset {
                stream,
                code,
                remote,
            } => {
                let by = if remote {
                    ResetBy::Client
                } else {
                    ResetBy::H2mux
                };
                self.log_reset(stream, by, code);
                if let Some(back) = by_front(&mut self.pairs, stream)
                    .map(|p| p.back)
                    .filter(|b| *b != StreamId::ZERO)
                {
                    // The client's own code travels on; our stream errors cancel upstream.
                    let up = if remote && code != ErrorCode::NoError {
                        code
                    } else {
                        ErrorCode::Cancel
                    };
                    self.back.reset(back, up);
                    log::debug!(
                        "h2mux[{}]: client reset stream {} ({}): upstream stream {} reset",
                        self.tag,
                        stream,
                        code,
                        back
                    );
                    self.stats.resets_to_upstream = self.stats.resets_to_upstream.saturating_add(1);
                } else if let Some(c) = self.cold.as_mut() {
                    let pos = c.waiting.iter().position(|w| w.front == stream);
                    if let Some(w) = pos.and_then(|pos| c.waiting.remove(pos)) {
                        self.drop_waiting(w, None);
                    }
                }
            }
            Event::DataSent { stream, len } => {
                // A pair ends once both streams are closed, which for ours means its last
                // DATA is queued: what is written after that gave its credit back then.
                let Some(p) = by_front(&mut self.pairs, stream) else {
                    return;
                };
                let Some(left) = p.down_inflight.checked_sub(len) else {
                    self.broken("DataSent covers bytes handed to the client side");
                    return;
                };
                p.down_inflight = left;
                let back = p.back;
                self.back.release_capacity(back, len);
            }
            Event::GoAway { .. } => {
                // The client opens no more streams; the ones open go on.
            }
            Event::Failed { error } => {
                self.end(Ending::Client(error.code(), error.reason()));
                for p in self.pairs.clone() {
                    if p.back != StreamId::ZERO {
                        self.back.reset(p.back, ErrorCode::Cancel);
                    }
                }
                for w in self.take_waiting() {
                    self.drop_waiting(w, None);
                }
            }
            Event::PingAck { payload } => {
                if payload == CLIENT_DOORBELL {
                    self.client_doorbell = false;
                }
            }
            Event::PeerSettings { .. } => {}
        }
    }

    fn on_upstream_event(&mut self, e: Event) {
        match e {
            Event::Headers {
                stream,
                message,
                end_stream,
            } => {
                let Some(p) = by_back(&mut self.pairs, stream) else {
                    return;
                };
                p.head_sent(message.status(), message.is_informational(), self.now);
                let front = p.front;
                if let Err(e) = self.front.send_headers(front, message, end_stream) {
                    self.pair_failed(front, stream, "a response head", e);
                }
            }
            Event::Data {
                stream,
                data,
                end_stream,
            } => {
                let len = data.len();
                let Some(p) = by_back(&mut self.pairs, stream) else {
                    self.back.release_capacity(stream, len);
                    return;
                };
                let front = p.front;
                if let Some(l) = log_in(&mut self.cold, front) {
                    l.bytes_out += len as u64;
                }
                match self.front.send_data(front, data, end_stream) {
                    Ok(()) => p.down_inflight += len,
                    Err(e) => {
                        self.back.release_capacity(stream, len);
                        self.pair_failed(front, stream, "response DATA", e);
                    }
                }
            }
            Event::Trailers { stream, fields } => {
                let Some(front) = by_back(&mut self.pairs, stream).map(|p| p.front) else {
                    return;
                };
                if let Err(e) = self.front.send_trailers(front, fields) {
                    self.pair_failed(front, stream, "response trailers", e);
                }
            }
            Event::Reset {
                stream,
                code,
                remote,
            } => {
                let Some(front) = by_back(&mut self.pairs, stream).map(|p| p.front) else {
                    return;
                };
                let by = if remote {
                    ResetBy::Upstream
                } else {
                    ResetBy::H2mux
                };
                self.log_reset(front, by, code);
                let Some(pair) = by_back(&mut self.pairs, stream) else {
                    return;
                };
                let p = *pair;
                if !remote && !p.responded {
                    // The upstream sent a malformed response: the client gets a 502.
                    pair.head_sent(Some(502), false, self.now);
                    self.stats.bad_gateway = self.stats.bad_gateway.saturating_add(1);
                    let _ = self
                        .front
                        .send_headers(p.front, Message::response(502), true);
                    return;
                }
                if remote && code == ErrorCode::NoError {
                    // A complete answer, then "stop sending": the answer still goes out whole.
                    self.front.reset_after_end(p.front, ErrorCode::NoError);
                    return;
                }
                let down = if remote {
                    code
                } else {
                    ErrorCode::InternalError
                };
                log::debug!(
                    "h2mux[{}]: upstream reset stream {} ({}): client stream {} reset",
                    self.tag,
                    stream,
                    code,
                    p.front
                );
                self.front.reset(p.front, down);
                self.stats.resets_to_client = self.stats.resets_to_client.saturating_add(1);
            }
            Event::DataSent { stream, len } => {
                // A pair ends once both streams are closed, which for ours means its last
                // DATA is queued: what is written after that gave its credit back then.
                let Some(p) = by_back(&mut self.pairs, stream) else {
                    return;
                };
                let Some(left) = p.up_inflight.checked_sub(len) else {
                    self.broken("DataSent covers bytes handed to the upstream side");
                    return;
                };
                p.up_inflight = left;
                let front = p.front;
                self.front.release_capacity(front, len);
            }
            Event::GoAway {
                last_stream, code, ..
            } => {
                // Streams above `last_stream` come back as refused resets. The client hears the
                // same, in its own stream ids.
                let last = self
                    .pairs
                    .iter()
                    .filter(|p| p.back <= last_stream)
                    .map(|p| p.front)
                    .max()
                    .unwrap_or(StreamId::ZERO);
                for w in self.take_waiting() {
                    self.drop_waiting(w, Some(ErrorCode::RefusedStream));
                }
                self.end(Ending::Upstream(code, "upstream sent GOAWAY"));
                self.front
                    .goaway_with_last(last, code, "upstream going away", self.now);
            }
            Event::Failed { error } => {
                log::warn!("upstream connection failed: {}", error);
                self.end(Ending::Upstream(error.code(), error.reason()));
                let last = self.last_client_stream_answered();
                // An HTTP/1.1 upstream carries one request: its failure is that stream's (it
                // got its 502 or its reset), and the client's connection ends gracefully.
                let code = if self.back.is_h1() {
                    ErrorCode::NoError
                } else {
                    ErrorCode::InternalError
                };
                self.front
                    .goaway_with_last(last, code, "upstream connection failed", self.now);
                for p in self.pairs.clone() {
                    // An answer already whole (a 502 of ours, say) still goes out whole.
                    let answered = matches!(
                        self.front.stream_state(p.front),
                        Some(State::HalfClosedLocal | State::Closed)
                    );
                    if answered {
                        self.front.reset_after_end(p.front, ErrorCode::NoError);
                    } else {
                        self.front.reset(p.front, ErrorCode::InternalError);
                    }
                }
                for w in self.take_waiting() {
                    self.drop_waiting(w, Some(ErrorCode::RefusedStream));
                }
            }
            Event::PeerSettings { .. } => self.open_waiting(),
            Event::PingAck { .. } => {}
        }
    }

    fn last_client_stream_answered(&self) -> StreamId {
        self.pairs
            .iter()
            .map(|p| p.front)
            .max()
            .unwrap_or(StreamId::ZERO)
    }

    fn open_upstream(&mut self, front: StreamId, message: Message, end: bool) {
        self.stats.streams = self.stats.streams.saturating_add(1);
        if self.waiting_len() > 0 || !self.back.can_open_stream() {
            // The upstream's limit (or its SETTINGS) first; and keep the client's order.
            self.queue_for_upstream(front, message, end);
            return;
        }
        match self.back.open_stream(message, end) {
            Ok(back) => {
                log::debug!(
                    "h2mux[{}]: client stream {} -> upstream stream {}",
                    self.tag,
                    front,
                    back
                );
                self.pairs.push(Pair::new(front, back, self.now));
            }
            Err(_) => {
                self.front.reset(front, ErrorCode::RefusedStream);
                self.front.detach(front);
                self.log_reset(front, ResetBy::H2mux, ErrorCode::RefusedStream);
                self.stream_ended(StreamEnd {
                    stream: front.value(),
                    status: None,
                    duration_ms: 0,
                    first_byte_ms: None,
                    log: None,
                });
                self.attach_log(front, StreamId::ZERO);
            }
        }
    }

    fn queue_for_upstream(&mut self, front: StreamId, message: Message, end: bool) {
        self.stats.queued_for_upstream = self.stats.queued_for_upstream.saturating_add(1);
        let since = self.now;
        self.cold().waiting.push_back(Waiting {
            front,
            since,
            message,
            end,
            data: VecDeque::new(),
            data_end: false,
            trailers: None,
        });
    }

    /// Opens queued requests while the upstream allows.
    fn open_waiting(&mut self) {
        while self.back.can_open_stream() {
            let Some(w) = self.cold.as_mut().and_then(|c| c.waiting.pop_front()) else {
                return;
            };
            let Waiting {
                front,
                since,
                message,
                end,
                data,
                data_end,
                trailers,
            } = w;
            let body = Held {
                data,
                data_end,
                trailers,
            };
            match self.back.open_stream(message, end) {
                Ok(back) => {
                    log::debug!(
                        "h2mux[{}]: queued client stream {} -> upstream stream {}",
                        self.tag,
                        front,
                        back
                    );
                    self.pairs.push(Pair::new(front, back, since));
                    self.forward_held(front, back, body);
                }
                Err(_) => {
                    let held: usize = body.data.iter().map(|d| d.len()).sum();
                    if held > 0 {
                        self.front.release_capacity(front, held);
                    }
                    self.front.reset(front, ErrorCode::RefusedStream);
                    self.front.detach(front);
                    self.log_reset(front, ResetBy::H2mux, ErrorCode::RefusedStream);
                    self.stream_ended(StreamEnd {
                        stream: front.value(),
                        status: None,
                        duration_ms: ms_between(since, self.now),
                        first_byte_ms: None,
                        log: None,
                    });
                    self.attach_log(front, StreamId::ZERO);
                }
            }
        }
    }

    /// Sends what arrived for a queued request while it waited. Bytes handed over are in
    /// flight like any other; bytes the upstream side refuses give their credit back.
    fn forward_held(&mut self, front: StreamId, back: StreamId, body: Held) {
        let n = body.data.len();
        let ends_with_data = body.data_end && body.trailers.is_none();
        let mut refused = 0;
        let mut failed = None;
        for (i, d) in body.data.into_iter().enumerate() {
            let len = d.len();
            if failed.is_some() {
                refused += len;
                continue;
            }
            match self.back.send_data(back, d, ends_with_data && i + 1 == n) {
                Ok(()) => match by_front(&mut self.pairs, front) {
                    Some(p) => p.up_inflight += len,
                    None => {
                        self.broken("a request just paired has its pair");
                        return;
                    }
                },
                Err(e) => {
                    refused += len;
                    failed = Some(e);
                }
            }
        }
        if failed.is_none() && n == 0 && ends_with_data {
            failed = self.back.send_data(back, Bytes::new(), true).err();
        }
        if failed.is_none() {
            if let Some(t) = body.trailers {
                failed = self.back.send_trailers(back, t).err();
            }
        }
        if refused > 0 {
            self.front.release_capacity(front, refused);
        }
        if let Some(e) = failed {
            self.client_stream_failed(front, e);
        }
    }

    /// Body bytes requests waiting for the upstream hold.
    fn held_for_waiting(&self) -> usize {
        self.cold.as_ref().map_or(0, |c| {
            c.waiting
                .iter()
                .flat_map(|w| w.data.iter())
                .map(|d| d.len())
                .sum()
        })
    }

    /// What requests waiting for the upstream hold is bounded: the client's windows bound
    /// it for an HTTP/2 upstream, but the windows opened wide for an HTTP/1.1 upstream do
    /// not. Past `max_stream_send_queue` held in all, the request that grew it is refused
    /// (never processed, so the client may send it again later).
    fn bound_waiting(&mut self, stream: StreamId) {
        let held = self.held_for_waiting();
        let max = self.front.config().max_stream_send_queue;
        if held <= max {
            return;
        }
        let Some(c) = self.cold.as_mut() else { return };
        let pos = c.waiting.iter().position(|w| w.front == stream);
        if let Some(w) = pos.and_then(|pos| c.waiting.remove(pos)) {
            log::info!(
                "h2mux[{}]: client stream {stream} sent {held} bytes while waiting for the upstream: refused",
                self.tag
            );
            self.drop_waiting(w, Some(ErrorCode::RefusedStream));
        }
    }

    /// A queued request that will never go upstream: its held bytes give their credit back.
    fn drop_waiting(&mut self, w: Waiting, reset: Option<ErrorCode>) {
        let held: usize = w.data.iter().map(|d| d.len()).sum();
        if held > 0 {
            self.front.release_capacity(w.front, held);
        }
        if let Some(code) = reset {
            self.front.reset(w.front, code);
            self.log_reset(w.front, ResetBy::H2mux, code);
        }
        self.front.detach(w.front);
        self.stream_ended(StreamEnd {
            stream: w.front.value(),
            status: None,
            duration_ms: ms_between(w.since, self.now),
            first_byte_ms: None,
            log: None,
        });
        self.attach_log(w.front, StreamId::ZERO);
    }

    /// A client stream whose request cannot go on to the upstream side.
    fn client_stream_failed(&mut self, front: StreamId, e: SendError) {
        match by_front(&mut self.pairs, front).map(|p| p.back) {
            Some(back) => self.pair_failed(front, back, "the request", e),
            None => {
                log::debug!(
                    "h2mux[{}]: client stream {front} cannot go upstream: {e}",
                    self.tag
                );
                self.front.reset(front, ErrorCode::InternalError);
            }
        }
    }

    /// One side of a pair cannot take what the other sent (its send queue is full, say):
    /// the message is cut, so both streams are reset. Resetting only one would let the
    /// rest of the message, still on its way, end the other stream as if it were whole.
    fn pair_failed(&mut self, front: StreamId, back: StreamId, what: &str, e: SendError) {
        log::debug!(
            "h2mux[{}]: {what} of client stream {front} / upstream stream {back} cannot be \
             passed on ({e}): both reset",
            self.tag
        );
        self.log_reset(front, ResetBy::H2mux, ErrorCode::InternalError);
        self.front.reset(front, ErrorCode::InternalError);
        self.back.reset(back, ErrorCode::Cancel);
    }

    /// Lets go of pairs both sides are done with, then opens queued requests.
    fn sweep(&mut self) {
        let mut i = 0;
        let mut freed = false;
        while let Some(&p) = self.pairs.get(i) {
            let no_upstream = p.back == StreamId::ZERO;
            if finished(self.front.stream_state(p.front))
                && (no_upstream || finished(self.back.stream_state(p.back)))
            {
                log::debug!("h2mux[{}]: stream {}/{} done", self.tag, p.front, p.back);
                // Bytes that will never be written still hold connection credit.
                if p.up_inflight > 0 {
                    self.front.release_capacity(p.front, p.up_inflight);
                }
                if p.down_inflight > 0 {
                    self.back.release_capacity(p.back, p.down_inflight);
                }
                self.front.detach(p.front);
                if !no_upstream {
                    self.back.detach(p.back);
                }
                self.pairs.swap_remove(i);
                self.stream_ended(StreamEnd {
                    stream: p.front.value(),
                    status: Some(p.status).filter(|&s| s != 0),
                    duration_ms: ms_between(p.opened, self.now),
                    first_byte_ms: Some(p.first_byte_ms).filter(|&t| t != u32::MAX),
                    log: None,
                });
                self.attach_log(p.front, p.back);
                freed = true;
            } else {
                i += 1;
            }
        }
        if freed || self.waiting_len() > 0 {
            self.open_waiting();
        }
    }
}

/// What a client's first bytes say it speaks.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Detected {
    /// The HTTP/2 preface, or its beginning, or bytes that are no HTTP at all (the HTTP/2
    /// side answers those with GOAWAY(PROTOCOL_ERROR), RFC 9113 §3.4).
    Http2,
    /// A method token and a space: an HTTP/1.x request line.
    Http1,
    /// Too few bytes to tell.
    Undecided,
}

/// The longest method h2mux waits for before it gives up telling.
const MAX_METHOD: usize = 32;

pub(crate) fn detect(bytes: &[u8]) -> Detected {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let n = bytes.len().min(PREFACE.len());
    if n == 0 {
        return Detected::Undecided;
    }
    if bytes[..n] == PREFACE[..n] {
        return Detected::Http2;
    }
    // Empty lines may come before a request line (RFC 9112 §2.2).
    let mut rest = bytes;
    while let [b'\r', b'\n', tail @ ..] = rest {
        rest = tail;
    }
    if rest.is_empty() || rest == b"\r" {
        return Detected::Undecided;
    }
    // A method token and a space start a request line: told at once (the HTTP/1.1 side
    // answers a broken one with its 400).
    let method_like = |line: &[u8]| {
        line.iter()
            .take(MAX_METHOD + 1)
            .position(|&b| b == b' ')
            .is_some_and(|sp| sp > 0 && line[..sp].iter().all(|&b| crate::message::is_tchar(b)))
    };
    if method_like(rest) {
        return Detected::Http1;
    }
    // A first line that names HTTP/1 is a request line gone wrong (a control byte in the
    // method, stray whitespace or line ends before it), the HTTP/1.1 side's to refuse.
    // Bytes that are not text, or a line that does not name HTTP/1, are no HTTP at all.
    let text = {
        let start = rest.iter().position(|&b| b != b'\r' && b != b'\n');
        &rest[start.unwrap_or(rest.len())..]
    };
    let line_end = text.iter().position(|&b| b == b'\n');
    let line = &text[..line_end.unwrap_or(text.len())];
    if line.windows(7).skip(1).any(|w| w == b"HTTP/1.") {
        return Detected::Http1;
    }
    if line
        .iter()
        .any(|&b| !(0x20..0x7f).contains(&b) && b != b'\t' && b != b'\r')
    {
        return Detected::Http2;
    }
    if line_end.is_some() || line.len() >= MAX_LINE_TO_TELL {
        Detected::Http2
    } else {
        Detected::Undecided
    }
}

/// How much of a first line h2mux reads to tell a broken request line from bytes that are
/// no HTTP at all.
const MAX_LINE_TO_TELL: usize = 256;

/// Closed or reset with nothing owed: the stream's work is over on that side.
fn finished(s: Option<State>) -> bool {
    matches!(s, None | Some(State::Closed) | Some(State::Reset(_)))
}

/// The pair of a client stream. A free function, so that the borrow covers `pairs` only and
/// the connections stay usable while the pair is held.
fn by_front(pairs: &mut [Pair], id: StreamId) -> Option<&mut Pair> {
    pairs.iter_mut().find(|p| p.front == id)
}

/// The pair of a client stream, read only.
fn by_front_ref(pairs: &[Pair], id: StreamId) -> Option<&Pair> {
    pairs.iter().find(|p| p.front == id)
}

/// The pair of an upstream stream.
fn by_back(pairs: &mut [Pair], id: StreamId) -> Option<&mut Pair> {
    pairs.iter_mut().find(|p| p.back == id)
}

mod peer;
pub mod route;
mod stream_log;
pub use peer::Peer;
use route::Routing;
pub use stream_log::{ResetBy, StreamLog};

#[cfg(test)]
mod tests;
