//! The connection context (h2c): one end of one HTTP/2 connection, with its polarity.
//!
//! Sans-IO: `recv` takes bytes from the peer and produces events (`poll_event`);
//! the `send_*` calls queue work; `flush` writes frames into the tx buffer; `output` and
//! `consume_output` hand those bytes to the caller. Time only enters through the `now`
//! arguments. Buffers come from a `BufferPool` the caller owns; a connection that cannot
//! get one registers once in the pool's wait queue and is resumed by
//! `on_buffer_available`.

mod control;
mod demux;
mod flow;
mod headers;
mod mux;
mod settings;

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use crate::buffer::{Buffer, BufferPool, WaiterId};
use crate::error::{ErrorCode, H2Error};
use crate::hpack::{Decoder, Encoder};
use crate::limits::{Config, Glitch, GlitchMeter, GlitchVerdict};
use crate::message::{Fields, Message};
use crate::side::Side;
use crate::stream::{Input, Key, PendingBlock, Queue, State, Store, Stream, StreamId};
use crate::time::Instant;

pub use demux::RxBlocked;
pub use settings::PeerSettings;

/// What a connection tells its owner.
#[derive(Debug)]
pub enum Event {
    /// A request head (frontend) or a response head, informational or final (backend).
    Headers {
        stream: StreamId,
        message: Message,
        end_stream: bool,
    },
    /// Trailers; they always end the stream.
    Trailers { stream: StreamId, fields: Fields },
    /// Body bytes. The consumer gives credit back with `release_capacity` once it has
    /// passed them on: that is the back-pressure of the relay.
    Data {
        stream: StreamId,
        data: Bytes,
        end_stream: bool,
    },
    /// The stream was reset: by the peer (`remote`), or by us after a stream error.
    Reset {
        stream: StreamId,
        code: ErrorCode,
        remote: bool,
    },
    /// Queued DATA of a stream went into the tx buffer.
    DataSent { stream: StreamId, len: usize },
    /// The peer sent GOAWAY.
    GoAway {
        last_stream: StreamId,
        code: ErrorCode,
        debug: Bytes,
    },
    /// The peer's SETTINGS were applied.
    PeerSettings { max_concurrent_streams: u32 },
    /// A PING we sent was answered.
    PingAck { payload: [u8; 8] },
    /// A connection error: GOAWAY is written (or will be); nothing else will happen.
    Failed { error: H2Error },
}

/// Why a send call was refused. These are the caller's mistakes or back-pressure, never the
/// peer's: the connection is not harmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// No live stream with that id.
    UnknownStream,
    /// The stream cannot carry that (already ended by us, reset, or not yet answered).
    NotSendable,
    /// The stream's send queue is full: wait for `DataSent`.
    QueueFull,
    /// No new stream now: the peer's MAX_CONCURRENT_STREAMS is reached.
    ConcurrencyLimit,
    /// No new stream ever: GOAWAY was sent or received, or the ids are used up.
    NoMoreStreams,
    /// The connection failed or is closed.
    ConnectionClosed,
    /// This polarity cannot do that (a frontend opening a stream, say).
    WrongSide,
}

/// A protocol event worth a metric by error code, recorded when `record_notes` is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Note {
    ResetSent(ErrorCode),
    ResetReceived(ErrorCode),
    GoAwaySent(ErrorCode),
    GoAwayReceived(ErrorCode),
}

/// Notes kept at most between two `take_notes` calls; older ones are dropped.
const MAX_NOTES: usize = 1024;

/// Counters for metrics and tests. Every connection carries them, so those that cannot
/// reach 2^32 are u32: streams are bounded by 31-bit ids, a block by a callback.
#[derive(Clone, Debug, Default)]
pub struct ConnStats {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub frames_in: u64,
    pub rx_blocked: u32,
    pub streams_opened: u32,
    pub resets_sent: u32,
    pub resets_received: u32,
    pub goaways_sent: u32,
    pub goaways_received: u32,
    pub pings_received: u32,
    pub settings_received: u32,
    pub refused_streams: u32,
    pub buffer_waits: u32,
}

/// The shutdown sequence (§6.8): a first GOAWAY with the largest id and a PING, then the
/// real last id once the PING comes back (one round trip later), then close when streams end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shutdown {
    Running,
    /// First GOAWAY and PING queued or sent, waiting for the PING ACK.
    Draining,
    /// Final GOAWAY queued or sent with this last id.
    Final(StreamId),
}

/// The opaque data of our shutdown PING.
const SHUTDOWN_PING: [u8; 8] = *b"h2mux-sd";

/// How our own recent resets and closes are remembered (bounded), to tell late frames in
/// flight from a peer talking on a stream it knows is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Gone {
    /// We sent RST_STREAM: frames in flight are ignored (§5.1, closed).
    ResetByUs,
    /// Ended normally or reset by the peer: more frames are STREAM_CLOSED.
    Closed,
}
const RECENT_GONE: usize = 16;

/// The last `RECENT_GONE` stream ids gone, each with the top bit (never part of an id) set
/// when we reset it.
#[derive(Default)]
struct GoneRing {
    ids: [u32; RECENT_GONE],
    /// Where the next id goes.
    next: u8,
    len: u8,
}

impl GoneRing {
    const RESET_BY_US: u32 = 1 << 31;

    fn push(&mut self, id: StreamId, how: Gone) {
        let tag = match how {
            Gone::ResetByUs => Self::RESET_BY_US,
            Gone::Closed => 0,
        };
        if let Some(slot) = self.ids.get_mut(usize::from(self.next)) {
            *slot = id.value() | tag;
        }
        self.next = ((usize::from(self.next) + 1) % RECENT_GONE) as u8;
        self.len = (usize::from(self.len) + 1).min(RECENT_GONE) as u8;
    }

    /// The newest record of `id`.
    fn find(&self, id: StreamId) -> Option<Gone> {
        (1..=usize::from(self.len)).find_map(|back| {
            let i = (usize::from(self.next) + RECENT_GONE - back) % RECENT_GONE;
            let e = *self.ids.get(i)?;
            (e & !Self::RESET_BY_US == id.value()).then_some(if e & Self::RESET_BY_US != 0 {
                Gone::ResetByUs
            } else {
                Gone::Closed
            })
        })
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// What a connection needs only once something unusual happened (a GOAWAY, a stream gone,
/// a note to report): an idle connection pays a pointer, and `trim` drops it when empty.
#[derive(Default)]
struct Cold {
    /// GOAWAY frames owed: at most a graceful one and a final one.
    goaway_pending: VecDeque<(StreamId, ErrorCode, &'static str)>,
    goaway_recv: Option<StreamId>,
    shutdown_deadline: Option<Instant>,
    recent: GoneRing,
    notes: Vec<Note>,
}

impl Cold {
    fn is_empty(&self) -> bool {
        self.goaway_pending.is_empty()
            && self.goaway_recv.is_none()
            && self.shutdown_deadline.is_none()
            && self.recent.is_empty()
            && self.notes.is_empty()
    }
}

/// RST_STREAM frames owed for streams without a context; boxed, as most connections never
/// owe one.
#[derive(Default)]
#[allow(clippy::box_collection)] // the box is the point: one word inline instead of four
struct ResetQueue(Option<Box<VecDeque<(StreamId, ErrorCode)>>>);

impl ResetQueue {
    fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |q| q.len())
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push_back(&mut self, e: (StreamId, ErrorCode)) {
        self.0.get_or_insert_with(Box::default).push_back(e);
    }

    fn front(&self) -> Option<&(StreamId, ErrorCode)> {
        self.0.as_ref()?.front()
    }

    fn pop_front(&mut self) -> Option<(StreamId, ErrorCode)> {
        self.0.as_mut()?.pop_front()
    }

    fn clear(&mut self) {
        self.0 = None;
    }
}

/// An optional instant in one word: `Instant(u64::MAX)`, never reached, stands for none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Deadline(Instant);

impl Deadline {
    const NONE: Deadline = Deadline(Instant(u64::MAX));

    fn get(self) -> Option<Instant> {
        (self != Self::NONE).then_some(self.0)
    }
}

impl From<Option<Instant>> for Deadline {
    fn from(t: Option<Instant>) -> Deadline {
        t.map_or(Deadline::NONE, Deadline)
    }
}

pub struct Connection {
    side: Side,
    cfg: Arc<Config>,
    waiter: WaiterId,
    now: Instant,

    // Receive side (demux).
    rx_state: demux::RxState,
    hdr_buf: [u8; 9],
    hdr_have: u8,
    rx: Option<Buffer>,
    rx_blocked: Option<RxBlocked>,
    /// A header block being assembled from HEADERS + CONTINUATION.
    cont: Option<demux::Continuation>,
    hblock: Vec<u8>,
    /// Made at the first header block (`decoder()`).
    decoder: Option<Box<Decoder>>,

    // Send side (mux).
    tx: Option<Buffer>,
    /// The tx buffer holds HEADERS or DATA (not only control frames).
    tx_stream_frames: bool,
    /// Made at the first header block (`encoder()`), or when the peer lowers its table.
    encoder: Option<Box<Encoder>>,
    hwrite: Option<mux::HeaderWrite>,
    scratch: Vec<u8>,
    preface_sent: bool,
    ping_pending: Option<[u8; 8]>,
    pending_resets: ResetQueue,

    // Streams and flow control.
    streams: Store,
    peer: PeerSettings,
    /// Never negative (SETTINGS do not move it) and at most 2^31-1.
    conn_send_window: i32,
    conn_recv_window: i64,
    conn_recv_released: u32,
    /// Highest stream id the peer opened (or tried to).
    last_peer_stream: StreamId,
    /// Highest stream id we opened.
    last_local_stream: StreamId,

    // Lifecycle.
    shutdown: Shutdown,
    /// The connection error (code, reason) that ended this connection.
    failed: Option<(ErrorCode, &'static str)>,
    settings_deadline: Deadline,
    /// SETTINGS frames we sent that the peer has not acknowledged yet.
    settings_unacked: u32,
    last_activity: Instant,
    waiting: bool,
    /// The peer spoke HTTP/1.x instead of HTTP/2.
    peer_http1: bool,
    /// The pool's reserve may be used: the other side of the relay holds buffers.
    reserve_ok: bool,
    /// `Note`s are recorded (in `cold`).
    record_notes: bool,
    glitches: GlitchMeter,
    events: VecDeque<Event>,
    stats: ConnStats,
    cold: Option<Box<Cold>>,
}

impl Connection {
    /// A new connection context. `waiter` is the caller's id for it in the pool's wait queue.
    /// Nothing is written until `flush`: a backend then writes the client preface and its
    /// SETTINGS, a frontend its SETTINGS.
    pub fn new(side: Side, cfg: Arc<Config>, waiter: WaiterId, now: Instant) -> Connection {
        // Enforced from the start: a peer cannot send more before our WINDOW_UPDATE anyway.
        let conn_recv_window = i64::from(cfg.connection_window);
        Connection {
            side,
            waiter,
            now,
            rx_state: match side {
                Side::Frontend => demux::RxState::Preface(0),
                Side::Backend => demux::RxState::FirstSettings,
            },
            hdr_buf: [0; 9],
            hdr_have: 0,
            rx: None,
            rx_blocked: None,
            cont: None,
            hblock: Vec::new(),
            decoder: None,
            tx: None,
            tx_stream_frames: false,
            encoder: None,
            hwrite: None,
            scratch: Vec::new(),
            preface_sent: false,
            ping_pending: None,
            pending_resets: ResetQueue::default(),
            streams: Store::default(),
            peer: PeerSettings::default(),
            conn_send_window: crate::frame::DEFAULT_WINDOW as i32,
            conn_recv_window,
            conn_recv_released: 0,
            last_peer_stream: StreamId::ZERO,
            last_local_stream: StreamId::ZERO,
            shutdown: Shutdown::Running,
            failed: None,
            settings_deadline: Deadline::NONE,
            settings_unacked: 0,
            last_activity: now,
            waiting: false,
            peer_http1: false,
            reserve_ok: false,
            record_notes: false,
            glitches: GlitchMeter::default(),
            events: VecDeque::new(),
            stats: ConnStats::default(),
            cold: None,
            cfg,
        }
    }

    pub fn side(&self) -> Side {
        self.side
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn stats(&self) -> &ConnStats {
        &self.stats
    }

    pub fn peer_settings(&self) -> &PeerSettings {
        &self.peer
    }

    /// All glitch points ever held against the peer (for metrics).
    pub fn glitch_total(&self) -> u64 {
        self.glitches.total()
    }

    /// Why the demux stopped reading, if it did.
    pub fn rx_blocked(&self) -> Option<RxBlocked> {
        self.rx_blocked
    }

    /// The peer spoke HTTP/1.x (a client without the preface, or an upstream answering
    /// HTTP/1.x): the host may answer in kind instead of with a GOAWAY it cannot read.
    pub fn peer_is_http1(&self) -> bool {
        self.peer_http1
    }

    /// The connection error that ended this connection, if any.
    pub fn error(&self) -> Option<H2Error> {
        self.failed
            .map(|(code, reason)| H2Error::Connection(code, reason))
    }

    /// Receive credit taken by the peer's DATA and not given back yet (released or not):
    /// zero once every stream is gone and no DATA frame is half read.
    pub fn recv_credit_outstanding(&self) -> i64 {
        i64::from(self.cfg.connection_window)
            - self.conn_recv_window
            - i64::from(self.conn_recv_released)
    }

    /// Streams with a context (live, or closed but still attached to the other side).
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// True while this connection waits for a buffer from the pool.
    pub fn is_waiting_for_buffer(&self) -> bool {
        self.waiting
    }

    /// Buffers held from the pool (0, 1 or 2): an idle connection holds none.
    pub fn buffers_held(&self) -> usize {
        usize::from(self.rx.is_some()) + usize::from(self.tx.is_some())
    }

    /// Starts recording `Note`s (for metrics by error code).
    pub fn record_notes(&mut self) {
        self.record_notes = true;
    }

    /// The notes recorded since the last call.
    pub fn take_notes(&mut self) -> Vec<Note> {
        match self.cold.as_mut() {
            Some(c) if !c.notes.is_empty() => std::mem::take(&mut c.notes),
            _ => Vec::new(),
        }
    }

    fn note(&mut self, n: Note) {
        if !self.record_notes {
            return;
        }
        let notes = &mut self.cold().notes;
        if notes.len() >= MAX_NOTES {
            notes.remove(0);
        }
        notes.push(n);
    }

    fn cold(&mut self) -> &mut Cold {
        self.cold.get_or_insert_with(Box::default)
    }

    fn goaway_recv(&self) -> Option<StreamId> {
        self.cold.as_ref().and_then(|c| c.goaway_recv)
    }

    fn shutdown_deadline(&self) -> Option<Instant> {
        self.cold.as_ref().and_then(|c| c.shutdown_deadline)
    }

    fn goaway_pending(&self) -> bool {
        self.cold
            .as_ref()
            .is_some_and(|c| !c.goaway_pending.is_empty())
    }

    /// The HPACK decoder, made at the first header block.
    fn decoder(&mut self) -> &mut Decoder {
        let size = self.cfg.header_table_size;
        self.decoder
            .get_or_insert_with(|| Box::new(Decoder::new(size)))
    }

    /// The HPACK encoder, made with the peer's table size as it is now.
    fn encoder(&mut self) -> &mut Encoder {
        let (cap, peer) = (self.cfg.encoder_table_size, self.peer.header_table_size);
        self.encoder.get_or_insert_with(|| {
            let mut e = Encoder::new(cap);
            e.set_peer_max_table_size(peer);
            Box::new(e)
        })
    }

    /// Gives back the memory an idle connection no longer needs (queues keep their capacity
    /// after use): a host with many idle connections calls it when a connection goes quiet.
    /// Returns false, doing nothing, while the connection is busy.
    pub fn trim(&mut self) -> bool {
        // A header block being assembled (HEADERS seen, CONTINUATION to come) is not idle.
        if !self.streams.is_empty()
            || !self.events.is_empty()
            || self.has_output()
            || self.hwrite.is_some()
            || self.cont.is_some()
        {
            return false;
        }
        self.streams.trim();
        self.events = VecDeque::new();
        self.scratch = Vec::new();
        self.hblock = Vec::new();
        self.pending_resets.clear();
        if let Some(c) = self.cold.as_mut() {
            if c.is_empty() {
                self.cold = None;
            } else {
                c.goaway_pending = VecDeque::new();
                if c.notes.is_empty() {
                    c.notes = Vec::new();
                }
            }
        }
        true
    }

    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// True when `open_stream` would open a stream now: a backend that has the upstream's
    /// SETTINGS, below its MAX_CONCURRENT_STREAMS, and not going away.
    pub fn can_open_stream(&self) -> bool {
        self.side == Side::Backend
            && self.failed.is_none()
            && self.goaway_recv().is_none()
            && self.shutdown == Shutdown::Running
            && self.local_streams_below(self.peer_stream_limit())
    }

    /// Fewer than `limit` of our streams count as open; scans only when the store is full.
    fn local_streams_below(&self, limit: u32) -> bool {
        let limit = limit as usize;
        self.streams.len() < limit
            || self.streams.iter().filter(|s| s.counts_as_open()).count() < limit
    }

    /// The peer's MAX_CONCURRENT_STREAMS; before its SETTINGS arrive, the 100 that RFC 9113
    /// §6.5.2 recommends as a floor, so a first flight can carry requests.
    fn peer_stream_limit(&self) -> u32 {
        if matches!(self.rx_state, demux::RxState::FirstSettings) {
            self.peer.max_concurrent_streams.min(100)
        } else {
            self.peer.max_concurrent_streams
        }
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Bytes ready to go to the peer.
    pub fn output(&self) -> &[u8] {
        self.tx.as_ref().map_or(&[], |b| b.data())
    }

    /// The caller wrote `n` bytes of `output()`. An emptied tx buffer goes back to the pool,
    /// and streams that waited for tx room may send again (at the next `flush`).
    pub fn consume_output(&mut self, n: usize, pool: &mut BufferPool) {
        if let Some(tx) = self.tx.as_mut() {
            let n = n.min(tx.len());
            tx.consume(n);
            self.stats.bytes_out += n as u64;
        }
        self.release_tx_if_empty(pool);
        self.streams.move_all(Queue::TxRoom, Queue::Send);
        if self.rx_blocked == Some(RxBlocked::TxRoom) {
            self.rx_blocked = None;
        }
    }

    /// Flushes and moves all output into `out`, up to about `limit` bytes; returns how many.
    /// Convenient for hosts that write whole chunks.
    pub fn drain_output(
        &mut self,
        pool: &mut BufferPool,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> usize {
        let start = out.len();
        loop {
            self.flush(pool);
            let o = self.output();
            if o.is_empty() || out.len() - start >= limit {
                break;
            }
            let n = o.len();
            out.extend_from_slice(o);
            self.consume_output(n, pool);
        }
        out.len() - start
    }

    /// True once nothing more will happen: the connection failed or finished its shutdown,
    /// and its output is out. The caller then closes the transport.
    pub fn is_done(&self) -> bool {
        if !self.output().is_empty() || self.hwrite.is_some() || self.goaway_pending() {
            return false;
        }
        if self.failed.is_some() {
            return true;
        }
        let drained = self.streams.is_empty();
        match self.shutdown {
            Shutdown::Final(_) if drained => return true,
            _ => {}
        }
        if let Some(dl) = self.shutdown_deadline() {
            if self.now >= dl {
                return true;
            }
        }
        self.goaway_recv().is_some() && drained && self.side == Side::Backend
    }

    /// The pool has a buffer again: retry sending (tx first), then the caller feeds the bytes
    /// it held back to `recv`.
    pub fn on_buffer_available(&mut self, pool: &mut BufferPool) {
        self.waiting = false;
        if self.rx_blocked == Some(RxBlocked::Buffer) {
            self.rx_blocked = None;
        }
        self.flush(pool);
    }

    /// The connection goes away (transport closed): give buffers back, leave the wait queue.
    pub fn release(&mut self, pool: &mut BufferPool) {
        if let Some(b) = self.rx.take() {
            pool.release(b);
        }
        if let Some(b) = self.tx.take() {
            pool.release(b);
        }
        if self.waiting {
            pool.cancel_waiter(self.waiter);
            self.waiting = false;
        }
    }

    // ----- Lifecycle -------------------------------------------------------------------

    /// Starts a graceful shutdown: no new streams, open ones finish (§6.8).
    pub fn shutdown(&mut self, now: Instant) {
        self.now = now;
        if self.shutdown != Shutdown::Running || self.failed.is_some() {
            return;
        }
        self.cold().shutdown_deadline = Some(now.after(self.cfg.shutdown_timeout_ms));
        match self.side {
            Side::Frontend => {
                self.shutdown = Shutdown::Draining;
                self.queue_goaway(StreamId::MAX, ErrorCode::NoError, "shutting down");
                self.ping_pending = Some(SHUTDOWN_PING);
            }
            Side::Backend => {
                // A client has no peer-initiated streams to wait for.
                self.shutdown = Shutdown::Final(StreamId::ZERO);
                self.queue_goaway(StreamId::ZERO, ErrorCode::NoError, "shutting down");
            }
        }
    }

    /// Ends the connection now with GOAWAY carrying `code` (an immediate shutdown).
    pub fn goaway(&mut self, code: ErrorCode, reason: &'static str) {
        self.fail(H2Error::Connection(code, reason));
    }

    /// The host wrote an empty SETTINGS frame on this connection's behalf (a doorbell that
    /// needs no buffer): its ACK must be expected like ours.
    pub fn note_settings_sent(&mut self) {
        self.settings_sent();
    }

    /// Our preface (and first SETTINGS) is written: from now on whole frames may be added
    /// between ours.
    pub fn preface_sent(&self) -> bool {
        self.preface_sent
    }

    /// SETTINGS frames sent and not yet acknowledged.
    pub fn settings_unacked(&self) -> u32 {
        self.settings_unacked
    }

    /// True when `flush` has something to write, or output waits to be taken.
    pub fn has_output(&self) -> bool {
        !self.output().is_empty() || self.has_output_work()
    }

    /// Stream frames (HEADERS, DATA) wait to be written or taken: more than control replies.
    pub fn has_stream_output(&self) -> bool {
        (self.tx_stream_frames && !self.output().is_empty())
            || self.hwrite.is_some()
            || self.streams.queue_len(Queue::Headers) > 0
            || self.streams.queue_len(Queue::Send) > 0
    }

    /// Ends the connection with a single GOAWAY naming `last` (a relay knows which streams
    /// the other side processed). NO_ERROR lets streams up to `last` finish; any other code
    /// is a connection error.
    pub fn goaway_with_last(&mut self, last: StreamId, code: ErrorCode, reason: &'static str) {
        if self.failed.is_some() {
            return;
        }
        if code != ErrorCode::NoError {
            self.fail_naming(H2Error::Connection(code, reason), last);
            return;
        }
        if matches!(self.shutdown, Shutdown::Final(_)) {
            return;
        }
        self.shutdown = Shutdown::Final(last);
        self.cold().shutdown_deadline = Some(self.now.after(self.cfg.shutdown_timeout_ms));
        self.ping_pending = None;
        self.queue_goaway(last, code, reason);
    }

    /// Sends a PING (the host uses it to get an answer from the peer soon).
    pub fn ping(&mut self, payload: [u8; 8]) {
        if self.failed.is_none() && self.ping_pending.is_none() {
            self.ping_pending = Some(payload);
        }
    }

    /// The earliest time `handle_timeout` has something to do.
    pub fn next_timeout(&self) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut consider = |d: Option<Instant>| {
            if let Some(d) = d {
                t = Some(t.map_or(d, |x| x.min(d)));
            }
        };
        consider(self.settings_deadline.get());
        consider(self.shutdown_deadline());
        consider(self.idle_deadline());
        t
    }

    fn idle_deadline(&self) -> Option<Instant> {
        if self.cfg.idle_timeout_ms == 0
            || !self.streams.is_empty()
            || self.shutdown != Shutdown::Running
            || self.failed.is_some()
        {
            return None;
        }
        Some(self.last_activity.after(self.cfg.idle_timeout_ms))
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.failed.is_some() {
            return;
        }
        if let Some(dl) = self.settings_deadline.get() {
            if now >= dl {
                self.fail(H2Error::Connection(
                    ErrorCode::SettingsTimeout,
                    "SETTINGS not acknowledged in time",
                ));
                return;
            }
        }
        if let Some(dl) = self.idle_deadline() {
            if now >= dl {
                log::debug!(
                    "{} idle for {} ms: shutting down",
                    self.side.name(),
                    self.cfg.idle_timeout_ms
                );
                self.shutdown(now);
            }
        }
        if self.shutdown == Shutdown::Draining {
            if let Some(dl) = self.shutdown_deadline() {
                if now >= dl {
                    self.finish_shutdown();
                }
            }
        }
    }

    fn finish_shutdown(&mut self) {
        let last = self.last_peer_stream;
        self.shutdown = Shutdown::Final(last);
        self.queue_goaway(last, ErrorCode::NoError, "shutting down");
    }

    /// A connection error (§5.4.1): GOAWAY with the last stream we processed, stop reading,
    /// drop all stream output.
    fn fail(&mut self, err: H2Error) {
        self.fail_naming(err, self.last_peer_stream);
    }

    /// `fail`, with the GOAWAY naming `last` (a relay knows which streams the other side
    /// processed).
    fn fail_naming(&mut self, err: H2Error, last: StreamId) {
        if self.failed.is_some() {
            return;
        }
        let (code, reason) = match err {
            H2Error::Connection(c, r) => (c, r),
            // A stream error escalated: the connection pays for it.
            H2Error::Stream(_, c, r) => (c, r),
        };
        let err = H2Error::Connection(code, reason);
        log::info!("{} connection error {}: {}", self.side.name(), code, reason);
        self.failed = Some((code, reason));
        self.rx_state = demux::RxState::Failed;
        self.queue_goaway(last, code, reason);
        self.ping_pending = None;
        self.hwrite = None;
        self.pending_resets.clear();
        for k in self.streams.keys() {
            if let Some(s) = self.streams.get_mut(k) {
                s.drop_output();
                s.state = State::Reset;
            }
        }
        for q in [
            Queue::Headers,
            Queue::Send,
            Queue::TxRoom,
            Queue::ConnWindow,
            Queue::Reset,
            Queue::WindowUpdate,
        ] {
            while self.streams.pop(q).is_some() {}
        }
        self.events.push_back(Event::Failed { error: err });
    }

    /// Queues a GOAWAY. A final one replaces a graceful one not yet written; the queue
    /// never holds more than two.
    fn queue_goaway(&mut self, last: StreamId, code: ErrorCode, reason: &'static str) {
        let pending = &mut self.cold().goaway_pending;
        while pending.len() >= 2 {
            pending.pop_back();
        }
        pending.push_back((last, code, reason));
    }

    fn glitch(&mut self, g: Glitch) {
        match self.glitches.add(g, self.now, &self.cfg) {
            GlitchVerdict::Fine => {}
            GlitchVerdict::Warn => {
                if self.shutdown == Shutdown::Running {
                    log::info!(
                        "{} glitch score {}: asking the peer to go",
                        self.side.name(),
                        self.glitches.score()
                    );
                    self.shutdown(self.now);
                }
            }
            GlitchVerdict::Exceeded => {
                self.fail(H2Error::Connection(
                    ErrorCode::EnhanceYourCalm,
                    "too many glitches",
                ));
            }
        }
    }

    fn remember_gone(&mut self, id: StreamId, how: Gone) {
        self.cold().recent.push(id, how);
    }

    fn recently_gone(&self, id: StreamId) -> Option<Gone> {
        self.cold.as_ref()?.recent.find(id)
    }

    /// Frees the stream's slot once it is closed, written out and detached. Called after
    /// every write that may have finished a stream, so it also fires a deferred reset.
    fn maybe_free(&mut self, key: Key) {
        if let Some(s) = self.streams.get_mut(key) {
            if let Some(code) = s.reset_after_end {
                if s.output_idle() && matches!(s.state, State::HalfClosedLocal) {
                    s.reset_after_end = None;
                    s.state = State::ErrorPending(code);
                    self.streams.enqueue(Queue::Reset, key);
                    return;
                }
                if matches!(s.state, State::Closed | State::Reset) {
                    s.reset_after_end = None;
                }
            }
        }
        let Some(s) = self.streams.get(key) else {
            return;
        };
        if !s.state.is_closed() || s.attached {
            return;
        }
        if matches!(s.state, State::ErrorPending(_))
            || self.hwrite.as_ref().is_some_and(|h| h.stream == s.id)
        {
            return;
        }
        // Closed for the protocol can still mean output queued (our END_STREAM counts as
        // sent once queued): the slot stays until it is written.
        if s.state != State::Reset && !s.output_idle() {
            return;
        }
        let id = s.id;
        let how = if s.state == State::Reset {
            Gone::ResetByUs
        } else {
            Gone::Closed
        };
        // Receive credit the consumer never returned belongs to the connection again.
        self.streams.remove(key);
        if how == Gone::Closed {
            self.remember_gone(id, Gone::Closed);
        }
    }

    // ----- Streams: what the owner does --------------------------------------------------

    /// Opens a stream and queues its request head (backend only).
    pub fn open_stream(
        &mut self,
        message: Message,
        end_stream: bool,
    ) -> Result<StreamId, SendError> {
        if self.side != Side::Backend {
            return Err(SendError::WrongSide);
        }
        if self.failed.is_some() {
            return Err(SendError::ConnectionClosed);
        }
        if self.goaway_recv().is_some() || self.shutdown != Shutdown::Running {
            return Err(SendError::NoMoreStreams);
        }
        if !self.local_streams_below(self.peer_stream_limit()) {
            return Err(SendError::ConcurrencyLimit);
        }
        let id = if self.last_local_stream.is_zero() {
            StreamId::new(1)
        } else {
            self.last_local_stream
                .next()
                .ok_or(SendError::NoMoreStreams)?
        };
        self.last_local_stream = id;
        let mut s = Stream::new(id, self.cfg.initial_window_size);
        s.on_wire = false;
        s.head_request = message.method() == Some(b"HEAD".as_slice());
        s.state = State::Idle
            .next(Input::Send { end: end_stream })
            .unwrap_or(State::Open);
        s.pending.push_back(PendingBlock::Head(message, end_stream));
        let key = self.streams.insert(s);
        self.streams.enqueue(Queue::Headers, key);
        self.stats.streams_opened = self.stats.streams_opened.saturating_add(1);
        Ok(id)
    }

    /// Queues a response head (frontend; 1xx heads may come first). A frontend only.
    pub fn send_headers(
        &mut self,
        stream: StreamId,
        message: Message,
        end_stream: bool,
    ) -> Result<(), SendError> {
        if self.side != Side::Frontend {
            return Err(SendError::WrongSide);
        }
        let key = self.sendable(stream)?;
        let informational = message.is_informational();
        let Some(s) = self.streams.get_mut(key) else {
            return Err(SendError::UnknownStream);
        };
        if s.responded || (informational && end_stream) || s.send_end {
            return Err(SendError::NotSendable);
        }
        if !informational {
            s.responded = true;
            if end_stream {
                s.state = s.state.next(Input::Send { end: true }).unwrap_or(s.state);
            }
        }
        s.pending.push_back(PendingBlock::Head(message, end_stream));
        self.streams.enqueue(Queue::Headers, key);
        Ok(())
    }

    /// Queues body bytes; `end_stream` ends our side after them.
    pub fn send_data(
        &mut self,
        stream: StreamId,
        data: Bytes,
        end_stream: bool,
    ) -> Result<(), SendError> {
        let key = self.sendable(stream)?;
        let max = self.cfg.max_stream_send_queue;
        let side = self.side;
        let Some(s) = self.streams.get_mut(key) else {
            return Err(SendError::UnknownStream);
        };
        if s.send_end || (side == Side::Frontend && !s.responded) {
            return Err(SendError::NotSendable);
        }
        if s.send_queued.saturating_add(data.len()) > max {
            return Err(SendError::QueueFull);
        }
        if !data.is_empty() {
            s.send_queued += data.len();
            s.send_queue.push_back(data);
        }
        if end_stream {
            s.send_end = true;
            s.state = s.state.next(Input::Send { end: true }).unwrap_or(s.state);
        }
        if s.pending.is_empty() {
            self.streams.enqueue(Queue::Send, key);
        }
        Ok(())
    }

    /// Queues trailers: they go after the queued DATA and end the stream.
    pub fn send_trailers(&mut self, stream: StreamId, fields: Fields) -> Result<(), SendError> {
        let key = self.sendable(stream)?;
        let side = self.side;
        let Some(s) = self.streams.get_mut(key) else {
            return Err(SendError::UnknownStream);
        };
        if s.send_end || (side == Side::Frontend && !s.responded) {
            return Err(SendError::NotSendable);
        }
        s.trailers = Some(fields);
        s.send_end = true;
        s.state = s.state.next(Input::Send { end: true }).unwrap_or(s.state);
        if s.pending.is_empty() {
            self.streams.enqueue(Queue::Send, key);
        }
        Ok(())
    }

    /// Resets a stream from our side (the other side of the relay gave up on it).
    pub fn reset(&mut self, stream: StreamId, code: ErrorCode) {
        let Some(key) = self.streams.find(stream) else {
            return;
        };
        let Some(s) = self.streams.get_mut(key) else {
            return;
        };
        if matches!(s.state, State::Reset | State::ErrorPending(_)) {
            return;
        }
        if s.state == State::Closed {
            return;
        }
        s.drop_output();
        if !s.on_wire && self.hwrite.as_ref().is_none_or(|h| h.stream != stream) {
            // The peer never heard of it: nothing to reset on the wire.
            s.state = State::Reset;
            self.maybe_free(key);
            return;
        }
        s.state = State::ErrorPending(code);
        self.streams.enqueue(Queue::Reset, key);
    }

    /// Resets the stream once our END_STREAM is written, keeping what is queued: the other
    /// side finished its answer and no longer wants the rest of ours (RFC 9113 §8.1, a
    /// complete response followed by RST_STREAM(NO_ERROR)). Without an END_STREAM queued,
    /// this is a plain `reset`.
    pub fn reset_after_end(&mut self, stream: StreamId, code: ErrorCode) {
        let Some(key) = self.streams.find(stream) else {
            return;
        };
        let Some(s) = self.streams.get_mut(key) else {
            return;
        };
        if matches!(
            s.state,
            State::Closed | State::Reset | State::ErrorPending(_)
        ) {
            return;
        }
        let end_queued = s.send_end
            || s.trailers.is_some()
            || matches!(s.state, State::HalfClosedLocal)
            || s.pending
                .iter()
                .any(|p| matches!(p, PendingBlock::Head(_, true) | PendingBlock::Trailers(_)));
        if !end_queued {
            self.reset(stream, code);
            return;
        }
        s.reset_after_end = Some(code);
        self.maybe_free(key);
    }

    /// The consumer passed on `n` bytes of this stream's DATA: the peer may send that much
    /// more. WINDOW_UPDATEs are batched until half a window is owed.
    pub fn release_capacity(&mut self, stream: StreamId, n: usize) {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        self.conn_recv_released = self.conn_recv_released.saturating_add(n);
        if let Some(key) = self.streams.find(stream) {
            let half = self.cfg.initial_window_size / 2;
            if let Some(s) = self.streams.get_mut(key) {
                s.recv_released = s.recv_released.saturating_add(n);
                if s.state.can_recv() && s.recv_released >= half.max(1) {
                    self.streams.enqueue(Queue::WindowUpdate, key);
                }
            }
        }
    }

    /// The other side of the relay is done with this stream: once closed here too, its
    /// slot is freed and it stops counting against concurrency.
    pub fn detach(&mut self, stream: StreamId) {
        let Some(key) = self.streams.find(stream) else {
            return;
        };
        if let Some(s) = self.streams.get_mut(key) {
            s.attached = false;
        }
        self.maybe_free(key);
        if self.rx_blocked == Some(RxBlocked::Streams) {
            self.rx_blocked = None;
        }
    }

    /// The stream's state, or None when it has no context (idle or closed and freed).
    pub fn stream_state(&self, stream: StreamId) -> Option<State> {
        let key = self.streams.find(stream)?;
        self.streams.get(key).map(|s| s.state)
    }

    fn sendable(&self, stream: StreamId) -> Result<Key, SendError> {
        if self.failed.is_some() {
            return Err(SendError::ConnectionClosed);
        }
        let key = self.streams.find(stream).ok_or(SendError::UnknownStream)?;
        let s = self.streams.get(key).ok_or(SendError::UnknownStream)?;
        if !s.state.can_send() && !(s.state == State::Idle) {
            // Our END_STREAM may be queued already; anything after it is refused.
            return Err(SendError::NotSendable);
        }
        Ok(key)
    }

    fn release_tx_if_empty(&mut self, pool: &mut BufferPool) {
        if self.tx.as_ref().is_none_or(|b| b.is_empty()) {
            self.tx_stream_frames = false;
        }
        if self.tx.as_ref().is_some_and(|b| b.is_empty()) {
            if let Some(b) = self.tx.take() {
                pool.release(b);
            }
        }
    }

    fn release_rx_if_empty(&mut self, pool: &mut BufferPool) {
        if self.rx.as_ref().is_some_and(|b| b.is_empty()) {
            if let Some(b) = self.rx.take() {
                pool.release(b);
            }
        }
    }

    /// Lets this connection use the pool's reserve even while it holds no buffer itself
    /// (the relay sets it when the other side holds some).
    pub fn set_reserve_ok(&mut self, ok: bool) {
        self.reserve_ok = ok;
    }

    /// A buffer from the pool; holders may dip into the reserve.
    fn take_buffer(&mut self, pool: &mut BufferPool) -> Option<Buffer> {
        if self.reserve_ok || self.buffers_held() > 0 {
            pool.try_take_reserved()
        } else {
            pool.try_take()
        }
    }

    /// Registers in the pool's wait queue, once.
    fn wait_for_buffer(&mut self, pool: &mut BufferPool) {
        if self.waiting {
            return;
        }
        self.stats.buffer_waits = self.stats.buffer_waits.saturating_add(1);
        if pool.register_waiter(self.waiter) {
            self.waiting = true;
        } else {
            self.fail(H2Error::Connection(
                ErrorCode::EnhanceYourCalm,
                "buffer wait queue full",
            ));
        }
    }
}

#[cfg(test)]
mod regressions;
#[cfg(test)]
mod tests;
