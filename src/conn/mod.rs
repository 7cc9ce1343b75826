//! The connection context (h2c): one end of one HTTP/2 connection, with its polarity.
//!
//! Sans-IO: `recv` takes bytes from the peer and produces events (`poll_event`);
//! the `send_*` calls queue work; `flush` writes frames into the tx buffer; `output` and
//! `consume_output` hand those bytes to the caller. Time only enters through the `now`
//! arguments. Buffers come from a `BufferPool` the caller owns; a connection that cannot
//! get one registers once in the pool's wait queue and is resumed by
//! `on_buffer_available`.

/// The stream of a key found a moment ago: a miss is a bug of ours, so the connection is
/// failed (`broken`) and the function returns (`()`, or the value given). One lookup: a
/// helper function returning the borrow would need two.
macro_rules! live {
    ($conn:ident, $key:expr, $rule:expr) => {
        live!($conn, $key, $rule, ())
    };
    ($conn:ident, $key:expr, $rule:expr, $ret:expr) => {
        match $conn.streams.get_mut($key) {
            Some(s) => s,
            None => {
                $conn.broken($rule);
                return $ret;
            }
        }
    };
}

mod audit;
mod control;
mod demux;
mod flow;
mod headers;
mod lifecycle;
mod mux;
mod settings;
mod streams;
mod timer;

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use crate::buffer::{Buffer, BufferPool, WaiterId};
use crate::error::{ConnError, ErrorCode, Violation};
use crate::flow::{ConnSendWindow, RecvWindow};
use crate::hpack::{Decoder, Encoder};
use crate::limits::{Config, GlitchMeter};
use crate::message::{Fields, Message};
use crate::side::Side;
use crate::stream::{Store, StreamId};
use crate::time::Instant;

#[cfg(any(test, feature = "js", feature = "testkit"))]
pub(crate) use demux::looks_like_http1_request;
pub use demux::RxBlocked;
pub use lifecycle::Lifecycle;
pub use settings::PeerSettings;

use timer::Timers;

/// What a connection tells its owner.
#[derive(Debug)]
pub enum Event {
    /// A request head (frontend) or a response head, informational or final (backend).
    Headers {
        /// The stream the head belongs to.
        stream: StreamId,
        /// The validated head and its fields.
        message: Message,
        /// No body follows: the peer ended the stream with this head.
        end_stream: bool,
    },
    /// Trailers; they always end the stream.
    Trailers {
        /// The stream the trailers end.
        stream: StreamId,
        /// The trailer fields (no pseudo-headers).
        fields: Fields,
    },
    /// Body bytes. The consumer gives credit back with `release_capacity` once it has
    /// passed them on: that is the back-pressure of the relay.
    Data {
        /// The stream the bytes belong to.
        stream: StreamId,
        /// A zero-copy slice of the input to `recv`, padding removed; empty when it only ends
        /// the stream.
        data: Bytes,
        /// The peer set END_STREAM: no more body follows.
        end_stream: bool,
    },
    /// The stream was reset: by the peer (`remote`), or by us after a stream error.
    Reset {
        /// The stream that was reset.
        stream: StreamId,
        /// The RST_STREAM error code (ours, or the peer's).
        code: ErrorCode,
        /// True when the peer sent the RST_STREAM, false when we did.
        remote: bool,
    },
    /// Queued DATA of a stream went into the tx buffer.
    DataSent {
        /// The stream whose DATA went out.
        stream: StreamId,
        /// Bytes of DATA written: the credit the owner may now give back on the other side.
        len: usize,
    },
    /// The peer sent GOAWAY.
    GoAway {
        /// The highest stream id the peer may have processed (§6.8); ours above it were not.
        last_stream: StreamId,
        /// Why the peer is going away; NO_ERROR for a graceful shutdown.
        code: ErrorCode,
        /// The peer's opaque debug data, possibly empty.
        debug: Bytes,
    },
    /// The peer's SETTINGS were applied.
    PeerSettings {
        /// The peer's SETTINGS_MAX_CONCURRENT_STREAMS now: how many streams we may open.
        max_concurrent_streams: u32,
    },
    /// A PING we sent was answered.
    PingAck {
        /// The opaque data of our PING, echoed back.
        payload: [u8; 8],
    },
    /// The connection ended with an error: GOAWAY is written (or will be); nothing else
    /// will happen.
    Failed {
        /// Why the connection ended.
        error: ConnError,
    },
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

impl core::fmt::Display for SendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            SendError::UnknownStream => "no live stream with that id",
            SendError::NotSendable => "the stream cannot carry that now",
            SendError::QueueFull => "the stream's send queue is full",
            SendError::ConcurrencyLimit => "the peer's MAX_CONCURRENT_STREAMS is reached",
            SendError::NoMoreStreams => "no new stream on this connection",
            SendError::ConnectionClosed => "the connection is closed",
            SendError::WrongSide => "not possible in this polarity",
        })
    }
}

impl std::error::Error for SendError {}

/// A protocol event worth a metric, recorded when `record_notes` is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Note {
    /// We wrote a RST_STREAM with this code.
    ResetSent(ErrorCode),
    /// The peer sent a RST_STREAM with this code.
    ResetReceived(ErrorCode),
    /// We wrote a GOAWAY with this code.
    GoAwaySent(ErrorCode),
    /// The peer sent a GOAWAY with this code.
    GoAwayReceived(ErrorCode),
    /// The peer broke this rule (a stream or a connection error followed).
    Violation(Violation),
}

/// Notes kept at most between two `take_notes` calls; older ones are dropped.
const MAX_NOTES: usize = 1024;

/// Counters for metrics and tests. Every connection carries them, so those that cannot
/// reach 2^32 are u32: streams are bounded by 31-bit ids, a block by a callback.
#[derive(Clone, Debug, Default)]
pub struct ConnStats {
    /// Bytes `recv` consumed from the peer.
    pub bytes_in: u64,
    /// Bytes of output the caller reported written (`consume_output`).
    pub bytes_out: u64,
    /// Frame headers read from the peer.
    pub frames_in: u32,
    /// Times `recv` stopped reading before the end of its input (see `RxBlocked`).
    pub rx_blocked: u32,
    /// Streams opened, by the peer (requests accepted) or by us.
    pub streams_opened: u32,
    /// RST_STREAM frames we wrote.
    pub resets_sent: u32,
    /// RST_STREAM frames the peer sent.
    pub resets_received: u32,
    /// GOAWAY frames we wrote.
    pub goaways_sent: u32,
    /// GOAWAY frames the peer sent.
    pub goaways_received: u32,
    /// PING frames the peer sent, ACKs included.
    pub pings_received: u32,
    /// SETTINGS frames the peer sent, ACKs included.
    pub settings_received: u32,
    /// Peer streams refused for going over our MAX_CONCURRENT_STREAMS.
    pub refused_streams: u32,
    /// Times this connection had to wait for a pool buffer.
    pub buffer_waits: u32,
    /// Broken invariants of our own (each one failed this connection).
    pub internal_errors: u32,
}

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

    /// Keeps only the streams we reset (a late frame on one is ignored, as §5.1 asks):
    /// an idle connection need not tell a normally closed stream from an older one, as
    /// both cost the frame's sender no more than a stream error, and HEADERS reusing the
    /// id is refused either way.
    fn forget_closed(&mut self) {
        let kept: Vec<u32> = (1..=usize::from(self.len))
            .rev()
            .filter_map(|back| {
                let i = (usize::from(self.next) + RECENT_GONE - back) % RECENT_GONE;
                self.ids.get(i).copied()
            })
            .filter(|e| e & Self::RESET_BY_US != 0)
            .collect();
        *self = GoneRing::default();
        for e in kept {
            self.push(StreamId::new(e & !Self::RESET_BY_US), Gone::ResetByUs);
        }
    }
}

/// What a connection needs only once something unusual happened (a GOAWAY, a stream gone,
/// a note to report): an idle connection pays a pointer, and `trim` drops it when empty.
#[derive(Default)]
struct Cold {
    /// GOAWAY frames owed: at most a graceful one and a final one.
    goaway_pending: VecDeque<(StreamId, ErrorCode, &'static str)>,
    recent: GoneRing,
    notes: Vec<Note>,
    /// Our receive windows were opened wide (`open_recv_windows`): the SETTINGS and the
    /// connection WINDOW_UPDATE (this increment) that say so are still to be written.
    windows_opened: Option<u32>,
}

impl Cold {
    fn is_empty(&self) -> bool {
        self.goaway_pending.is_empty()
            && self.recent.is_empty()
            && self.notes.is_empty()
            && self.windows_opened.is_none()
    }
}

/// The most output `park_output` moves out of a pool buffer: control frames, not data.
const MAX_PARKED: usize = 256;

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

/// One end of one HTTP/2 connection (see the module docs).
pub struct Connection {
    side: Side,
    cfg: Arc<Config>,
    waiter: WaiterId,
    /// The time of the call in progress (or of the last one): every public call that can
    /// arm a timer takes `now` and sets it.
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
    /// `trim` dropped an encoder whose entries the peer's table may still hold: the next
    /// one starts by evicting them (`Encoder::after_reset`).
    encoder_reset: bool,
    hwrite: Option<mux::HeaderWrite>,
    /// Bytes made for output outside the tx buffer: the header block `hwrite` is writing,
    /// or, when `parked`, the output an idle connection could not deliver yet
    /// (`park_output`), which goes first at the next `flush`. Never both: a connection
    /// writing a header block is not idle.
    scratch: Vec<u8>,
    parked: bool,
    /// Our receive windows were opened wide (`open_recv_windows`): the stream and
    /// connection windows are `MAX_WINDOW`, whatever the configuration says.
    wide_windows: bool,
    preface_sent: bool,
    ping_pending: Option<[u8; 8]>,
    pending_resets: ResetQueue,

    // Streams and flow control.
    streams: Store,
    peer: PeerSettings,
    conn_send_window: ConnSendWindow,
    conn_recv_window: RecvWindow,
    /// Highest stream id the peer opened (or tried to).
    last_peer_stream: StreamId,
    /// Highest stream id we opened.
    last_local_stream: StreamId,

    // Lifecycle.
    lifecycle: Lifecycle,
    timers: Timers,
    /// SETTINGS frames we sent that the peer has not acknowledged yet.
    settings_unacked: u32,
    waiting: bool,
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
        let conn_recv_window = RecvWindow::new(cfg.connection_window);
        let mut timers = Timers::default();
        if cfg.idle_timeout_ms > 0 {
            timers.arm(timer::Timer::Idle, now.after(cfg.idle_timeout_ms));
        }
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
            encoder_reset: false,
            hwrite: None,
            scratch: Vec::new(),
            parked: false,
            wide_windows: false,
            preface_sent: false,
            ping_pending: None,
            pending_resets: ResetQueue::default(),
            streams: Store::default(),
            peer: PeerSettings::default(),
            conn_send_window: ConnSendWindow::new(crate::frame::DEFAULT_WINDOW),
            conn_recv_window,
            last_peer_stream: StreamId::ZERO,
            last_local_stream: StreamId::ZERO,
            lifecycle: Lifecycle::Open,
            timers,
            settings_unacked: 0,
            waiting: false,
            reserve_ok: false,
            record_notes: false,
            glitches: GlitchMeter::default(),
            events: VecDeque::new(),
            stats: ConnStats::default(),
            cold: None,
            cfg,
        }
    }

    /// The configuration, shared (another side made for the same client takes it as is).
    pub fn config_arc(&self) -> Arc<Config> {
        self.cfg.clone()
    }

    /// Our polarity: frontend (server role) or backend (client role).
    pub fn side(&self) -> Side {
        self.side
    }

    /// The limits this connection was made with.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Counters since the connection was made.
    pub fn stats(&self) -> &ConnStats {
        &self.stats
    }

    /// The peer's SETTINGS as last applied (RFC defaults until its first SETTINGS).
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

    /// Starts recording `Note`s (for metrics by error code and by rule).
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
        let reset = &mut self.encoder_reset;
        self.encoder.get_or_insert_with(|| {
            if std::mem::take(reset) {
                return Box::new(Encoder::after_reset(cap, peer));
            }
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
            || !self.output().is_empty()
            || self.has_work_to_write()
            || self.hwrite.is_some()
            || self.cont.is_some()
        {
            return false;
        }
        self.streams.trim();
        // The HPACK tables are the largest part of an idle connection after its first
        // requests. Ours can go: the next encoder empties the peer's copy first. The peer's
        // can go only while it is empty and at its first size.
        self.encoder_reset |= self.encoder.take().is_some();
        let size = self.cfg.header_table_size;
        if self.decoder.as_ref().is_some_and(|d| d.is_pristine(size)) {
            self.decoder = None;
        } else if let Some(d) = self.decoder.as_mut() {
            d.trim();
        }
        self.events = VecDeque::new();
        if !self.parked {
            self.scratch = Vec::new();
        }
        self.hblock = Vec::new();
        self.pending_resets.clear();
        if let Some(c) = self.cold.as_mut() {
            c.recent.forget_closed();
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

    /// An idle connection whose last few bytes (control frames) cannot be delivered yet
    /// (under Envoy's rules, bytes toward an upstream wait for the client's next bytes, and
    /// an HTTP/1.1 client can be asked for none) gives its tx buffer back to the pool: the
    /// bytes move into a small allocation of its own and go first at the next `flush`.
    /// Returns whether it did.
    pub fn park_output(&mut self, pool: &mut BufferPool) -> bool {
        let len = self.output().len();
        // Parked bytes go out first at the next flush, so none are parked while the tx
        // buffer holds output.
        if len == 0
            || len > MAX_PARKED
            || self.parked
            || !self.streams.is_empty()
            || self.hwrite.is_some()
            || self.cont.is_some()
        {
            return false;
        }
        // A fresh allocation of the exact size: scratch may hold a large block's capacity.
        self.scratch = self.output().to_vec();
        self.parked = true;
        if let Some(tx) = self.tx.as_mut() {
            tx.clear();
        }
        self.release_tx_if_empty(pool);
        true
    }

    pub(crate) fn windows_opened(&self) -> Option<u32> {
        self.cold.as_ref().and_then(|c| c.windows_opened)
    }

    pub(crate) fn has_parked(&self) -> bool {
        self.parked
    }

    /// The receive window of a new stream we advertise.
    pub(crate) fn initial_window(&self) -> u32 {
        if self.wide_windows {
            crate::frame::MAX_WINDOW
        } else {
            self.cfg.initial_window_size
        }
    }

    /// The connection's receive window we keep open.
    pub(crate) fn connection_window(&self) -> u32 {
        if self.wide_windows {
            crate::frame::MAX_WINDOW
        } else {
            self.cfg.connection_window
        }
    }

    /// Whether events wait for [`Connection::poll_event`].
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// The oldest event not yet taken, in the order things happened.
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
        self.streams
            .move_all(crate::stream::Queue::TxRoom, crate::stream::Queue::Send);
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
        now: Instant,
    ) -> usize {
        let start = out.len();
        loop {
            self.flush(pool, now);
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

    /// The pool has a buffer again: retry sending (tx first), then the caller feeds the bytes
    /// it held back to `recv`.
    pub fn on_buffer_available(&mut self, pool: &mut BufferPool, now: Instant) {
        self.waiting = false;
        if self.rx_blocked == Some(RxBlocked::Buffer) {
            self.rx_blocked = None;
        }
        self.flush(pool, now);
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
        use crate::stream::Queue;
        (self.tx_stream_frames && !self.output().is_empty())
            || self.hwrite.is_some()
            || self.streams.queue_len(Queue::Headers) > 0
            || self.streams.queue_len(Queue::Send) > 0
    }

    /// Opens our receive windows to 2^31-1 from now on: a SETTINGS with
    /// INITIAL_WINDOW_SIZE and a WINDOW_UPDATE on the connection. For a peer whose window
    /// updates could not be delivered in time (the relay's upstream when the client speaks
    /// HTTP/1.1: bytes toward the upstream wait for the client's next bytes, and it can be
    /// asked for none); its bytes are then bounded by the transport instead. Only before
    /// any stream exists, so that no window in use changes under it.
    pub fn open_recv_windows(&mut self, now: Instant) {
        let max = crate::frame::MAX_WINDOW;
        if self.lifecycle.is_failed() || !self.streams.is_empty() {
            return;
        }
        let conn_inc = max.saturating_sub(self.connection_window().min(max));
        if self.initial_window() == max && conn_inc == 0 {
            return;
        }
        // A flag, not a copy of the configuration: every HTTP/1.1 client's connection
        // opens its upstream windows, and a copy each would cost an idle connection more
        // than the rest of its upstream side.
        self.wide_windows = true;
        self.now = now;
        self.conn_recv_window.grow(conn_inc);
        // Our preface not yet written says it all itself; afterwards, frames say it.
        if self.preface_sent {
            self.cold().windows_opened = Some(conn_inc);
        }
    }

    /// Sends a PING (the host uses it to get an answer from the peer soon).
    pub fn ping(&mut self, payload: [u8; 8]) {
        if !self.lifecycle.is_failed() && self.ping_pending.is_none() {
            self.ping_pending = Some(payload);
        }
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
            self.fail(Violation::BufferWaitQueueFull.into());
        }
    }
}

#[cfg(test)]
mod tests;
