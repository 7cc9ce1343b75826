//! One HTTP/1.1 connection, in either role, behind the same interface and events as an
//! HTTP/2 `Connection`, so the relay pairs streams the same way whatever each side speaks.
//!
//! Server role (facing a client): each request is a stream (ids 1, 3, 5... as if the client
//! had opened them); pipelined requests are read up to a bounded depth and answered strictly
//! in order: a later stream's response waits until the earlier ones are written, and its
//! body bytes are reported written (`DataSent`) only then, which holds the other side's
//! flow control. Client role (facing an upstream): one request at a time.
//!
//! Every peer byte is checked before anything is forwarded. A request that breaks a rule of
//! RFC 9112 gets its status (400, 414, 431, 501, 505) once the earlier responses are out,
//! then the connection closes; nothing after it is read. A malformed response resets its
//! stream (the relay answers 502) and fails the connection.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use super::body::{Body, Piece};
use super::error::H1Error;
use super::head::{parse_request, parse_response, Framing, HeadLimits, HeadScan, Version};
use super::write;
use crate::conn::{ConnStats, Event, Note, SendError};
use crate::error::{ConnError, ErrorCode, Violation};
use crate::limits::Config;
use crate::message::{Fields, Message};
use crate::side::Side;
use crate::stream::{ResetBy, State, StreamId};
use crate::time::Instant;

/// Where the receive side is.
#[derive(Clone, Copy, Debug)]
enum Rx {
    /// Between messages: the next bytes start a head (after optional empty lines).
    Idle,
    /// A head is arriving; `scan` remembers how far it was searched.
    Head(HeadScan),
    /// The body of the message of this stream.
    Body(StreamId, Body),
    /// Nothing more is read (an error, a close, or the end of the transport).
    Stopped,
}

/// What our side of a stream has written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tx {
    /// Nothing yet (or 1xx heads only).
    Idle,
    /// The head is out; the body goes with this framing.
    Body(Framing),
    /// The message is complete.
    Done,
}

/// Pieces of our message waiting for their stream's turn (server role, pipelining).
enum Out {
    Head(Message, bool),
    Data(Bytes, bool),
    Trailers(Fields),
}

struct Stream {
    id: StreamId,
    /// The peer's message arrived whole.
    recv_done: bool,
    tx: Tx,
    /// Waiting for this stream's turn.
    queued: VecDeque<Out>,
    /// Bytes queued in `queued` (bounded by `max_stream_send_queue`).
    queued_bytes: usize,
    /// The request was HEAD: the response has no body.
    head_request: bool,
    /// The client's version (server role).
    version: Version,
    /// Trailers go out with our message (server role: the client asked with `TE: trailers`).
    te_trailers: bool,
    /// The connection may go on after this exchange.
    keep_alive: bool,
    /// Reset by the owner or by an error: nothing more of it is read or written.
    reset: Option<ResetBy>,
    /// An answer of our own to write instead of a response (status, reason).
    answer: Option<(u16, &'static str)>,
    /// Client role: our own `OPTIONS /` (a doorbell); its answer is read and dropped.
    probe: bool,
    /// Server role: we told the client `100 Continue` ourselves (the upstream's is not
    /// passed on again).
    continued: bool,
}

impl Stream {
    fn new(id: StreamId) -> Stream {
        Stream {
            id,
            recv_done: false,
            tx: Tx::Idle,
            queued: VecDeque::new(),
            queued_bytes: 0,
            head_request: false,
            version: Version::Http11,
            te_trailers: false,
            keep_alive: true,
            reset: None,
            answer: None,
            probe: false,
            continued: false,
        }
    }

    fn finished(&self) -> bool {
        self.reset.is_some() || (self.recv_done && self.tx == Tx::Done && self.queued.is_empty())
    }
}

/// An HTTP/1.1 connection (see the module docs).
pub struct H1Conn {
    side: Side,
    cfg: Arc<Config>,
    lim: HeadLimits,
    /// `http` or `https`: the scheme of requests in origin-form.
    scheme: &'static [u8],
    rx: Rx,
    /// Streams in order: the first is the one being answered.
    streams: VecDeque<Stream>,
    next_id: u32,
    events: VecDeque<Event>,
    out: Vec<u8>,
    /// Body bytes written into `out`, reported as `DataSent` once taken.
    written: Vec<(StreamId, usize)>,
    /// Body bytes handed out as `Event::Data` and not yet released: the owner's
    /// back-pressure, bounded by the connection window.
    credit_out: i64,
    /// No message after the current ones: close once they are written.
    closing: bool,
    /// Our answer to a bad request waits behind these streams.
    error: Option<ConnError>,
    peer_eof: bool,
    /// Client role: the owner was told no request follows (`Event::GoAway`).
    goaway_told: bool,
    /// Client role: requests may follow before earlier answers (`set_pipeline`).
    pipeline: bool,
    /// Client role: answers read whole on this connection (probes aside): a probe goes only
    /// to an upstream that has shown it keeps the connection for more than one.
    answered: u32,
    /// Body bytes the other side can send on right now (set by the owner before `recv`):
    /// bytes beyond it stay unconsumed, with the host, so that a host that may write
    /// toward the upstream only while it holds client bytes always can (Envoy). None: no
    /// such bound.
    body_room: Option<usize>,
    /// Client role: requests with a body the upstream may take long to answer ask for
    /// `100 Continue`, whose arrival is an upstream event (see `set_ask_continue`).
    ask_continue: bool,
    stats: ConnStats,
    record_notes: bool,
    notes: Vec<Note>,
    idle_since: Instant,
}

/// At most this many notes wait for the metrics.
const MAX_NOTES: usize = 64;

impl H1Conn {
    /// A connection in this role (`Frontend`: server, `Backend`: client).
    pub fn new(side: Side, cfg: Arc<Config>, now: Instant) -> H1Conn {
        let lim = HeadLimits {
            max_line: cfg.h1_max_request_line,
            max_head: cfg.h1_max_head_bytes,
            max_fields: cfg.max_header_fields,
        };
        H1Conn {
            side,
            cfg,
            lim,
            scheme: b"http",
            rx: Rx::Idle,
            streams: VecDeque::new(),
            next_id: 1,
            events: VecDeque::new(),
            out: Vec::new(),
            written: Vec::new(),
            credit_out: 0,
            closing: false,
            error: None,
            peer_eof: false,
            goaway_told: false,
            answered: 0,
            pipeline: false,
            ask_continue: false,
            body_room: None,
            stats: ConnStats::default(),
            record_notes: false,
            notes: Vec::new(),
            idle_since: now,
        }
    }

    /// Client role: add `Expect: 100-continue` to requests whose body may exceed a flow
    /// control window (no length, or more than 64 KiB). The upstream's `100 Continue`
    /// arrives at once, and with it a chance to write to an HTTP/2 client what only an
    /// upstream event lets a proxy-wasm filter write (our SETTINGS, window updates).
    pub fn set_ask_continue(&mut self, on: bool) {
        self.ask_continue = on;
    }

    /// Requests in origin-form get this scheme (`https` behind TLS).
    pub fn set_scheme(&mut self, https: bool) {
        self.scheme = if https { b"https" } else { b"http" };
    }

    /// The limits this connection runs under.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Which role.
    pub fn side(&self) -> Side {
        self.side
    }

    /// Counters (bytes in and out, streams).
    pub fn stats(&self) -> &ConnStats {
        &self.stats
    }

    /// The error that ended this connection, if any.
    pub fn error(&self) -> Option<ConnError> {
        self.error
    }

    /// Starts recording notes for metrics.
    pub fn record_notes(&mut self) {
        self.record_notes = true;
    }

    /// Notes since the last call.
    pub fn take_notes(&mut self) -> Vec<Note> {
        std::mem::take(&mut self.notes)
    }

    /// An event for the owner, unless it concerns our own probe.
    fn emit(&mut self, e: Event) {
        let stream = match &e {
            Event::Headers { stream, .. }
            | Event::Data { stream, .. }
            | Event::Trailers { stream, .. }
            | Event::Reset { stream, .. }
            | Event::DataSent { stream, .. } => Some(*stream),
            _ => None,
        };
        let probe = stream.is_some_and(|id| self.streams.iter().any(|s| s.id == id && s.probe));
        if !probe {
            self.events.push_back(e);
        }
    }

    /// Client role: a request of our own whose answer is an upstream event (a doorbell),
    /// when no request is in flight. Returns its bytes for the host to write.
    /// `cold`: also before any answer on this connection (an HTTP/1.1 client's error page
    /// waits: the connection closes after it anyway). Otherwise only once the upstream has
    /// answered one request and kept the connection: some answer a request of no use to
    /// them with a close, which would end a client connection that had every reason to go
    /// on.
    pub fn probe(&mut self, cold: bool) -> Option<Vec<u8>> {
        if !self.can_open_stream() || !self.streams.is_empty() || (!cold && self.answered == 0) {
            return None;
        }
        let id = self.new_id();
        let mut s = Stream::new(id);
        s.probe = true;
        s.tx = Tx::Done;
        self.streams.push_back(s);
        // `OPTIONS *` is the RFC's no-op (RFC 9110 §9.3.7), but some servers refuse it and
        // close; `OPTIONS /` is answered (often 405) and keeps the connection.
        Some(b"OPTIONS / HTTP/1.1\r\nhost: localhost\r\n\r\n".to_vec())
    }

    /// Our probe is out and not yet answered.
    pub fn probe_in_flight(&self) -> bool {
        self.streams.iter().any(|s| s.probe && !s.recv_done) && self.error.is_none()
    }

    /// The probe's answer is in: it leaves without the owner.
    fn drop_answered_probe(&mut self) {
        self.streams.retain(|s| !(s.probe && s.recv_done));
    }

    fn note(&mut self, n: Note) {
        if self.record_notes && self.notes.len() < MAX_NOTES {
            self.notes.push(n);
        }
    }

    fn window(&self) -> usize {
        let cap = i64::from(self.cfg.connection_window);
        let credit = (cap - self.credit_out).max(0) as usize;
        self.body_room.map_or(credit, |r| r.min(credit))
    }

    /// Bounds the body bytes the next `recv` may hand out (see `body_room`).
    pub fn set_body_room(&mut self, room: Option<usize>) {
        self.body_room = room;
    }

    /// The stream whose body is arriving, if one is.
    pub fn receiving(&self) -> Option<StreamId> {
        match self.rx {
            Rx::Body(id, _) => Some(id),
            _ => None,
        }
    }

    fn stream(&mut self, id: StreamId) -> Option<&mut Stream> {
        self.streams.iter_mut().find(|s| s.id == id)
    }

    fn new_id(&mut self) -> StreamId {
        let id = StreamId::new(self.next_id);
        self.next_id = self.next_id.saturating_add(2);
        id
    }

    // ----- Receiving -------------------------------------------------------------------

    /// Bytes from the peer. Returns how many were consumed: a head, a chunk line or a
    /// trailer section not yet whole is left for the next call (the host keeps it).
    pub fn recv(&mut self, input: &Bytes, now: Instant) -> usize {
        let mut pos = 0;
        for _ in 0..input.len() + 2 {
            let rest = input.slice(pos..);
            let step = match self.rx {
                Rx::Stopped => {
                    // After a close is decided nothing more is read; bytes are dropped.
                    if self.closing || self.error.is_some() {
                        rest.len()
                    } else {
                        0
                    }
                }
                Rx::Idle => self.recv_idle(&rest),
                Rx::Head(scan) => self.recv_head(&rest, scan),
                Rx::Body(id, body) => self.recv_body(&rest, id, body),
            };
            if step == 0 {
                break;
            }
            pos += step;
            // A request head goes to the owner before its body is read: how much of the body
            // may be taken depends on what the owner does with the head.
            let head_out = self.side == Side::Frontend
                && matches!(self.events.back(), Some(Event::Headers { .. }));
            if pos >= input.len() || head_out {
                break;
            }
        }
        if pos > 0 {
            self.idle_since = now;
        }
        self.stats.bytes_in += pos as u64;
        pos
    }

    fn recv_idle(&mut self, rest: &Bytes) -> usize {
        // Empty lines before a request line are ignored (§2.2).
        match &rest[..] {
            [] => return 0,
            [b'\r', b'\n', ..] if self.side == Side::Frontend => return 2,
            [b'\r'] if self.side == Side::Frontend => return 0,
            _ => {}
        }
        match self.side {
            Side::Frontend => {
                let live = self.streams.iter().filter(|s| s.reset.is_none()).count();
                if self.closing || self.peer_eof || live >= self.cfg.h1_max_pipelined {
                    return 0;
                }
            }
            Side::Backend => {
                let waiting = self.answering().is_some_and(|s| s.reset.is_none());
                if !waiting {
                    self.fail(H1Error::UnexpectedBytes);
                    return rest.len();
                }
            }
        }
        self.rx = Rx::Head(HeadScan::default());
        self.recv_head(rest, HeadScan::default())
    }

    fn recv_head(&mut self, rest: &Bytes, mut scan: HeadScan) -> usize {
        // A request line is checked as soon as it is whole, before anything after it: a
        // line that can never start a request is refused at once, and for the same reason
        // wherever the input was cut.
        if self.side == Side::Frontend && !scan.first_line_checked {
            match super::head::check_request_line(rest, self.lim.max_line) {
                Ok(true) => scan.first_line_checked = true,
                Ok(false) => {}
                Err(e) => {
                    self.bad_head(e);
                    return rest.len();
                }
            }
        }
        let end = match scan.scan(rest, &self.lim) {
            Ok(Some(end)) => end,
            Ok(None) => {
                self.rx = Rx::Head(scan);
                return 0;
            }
            Err(e) => {
                self.bad_head(e);
                return rest.len();
            }
        };
        let head = &rest[..end];
        match self.side {
            Side::Frontend => self.request_head(head),
            Side::Backend => self.response_head(head),
        }
        if matches!(self.rx, Rx::Stopped) && self.error.is_some() {
            // Nothing after a bad message is read: it is dropped with the connection.
            return rest.len();
        }
        end
    }

    fn request_head(&mut self, head: &[u8]) {
        let parsed = match parse_request(head, self.scheme, &self.lim) {
            Ok(p) => p,
            Err(e) => return self.bad_head(e),
        };
        let id = self.new_id();
        let mut s = Stream::new(id);
        s.version = parsed.version;
        s.te_trailers = parsed.te_trailers;
        s.keep_alive = parsed.keep_alive;
        s.head_request = parsed.message.method() == Some(b"HEAD");
        let end = parsed.framing == Framing::Empty;
        s.recv_done = end;
        // `Expect: 100-continue`: the client waits for a go-ahead before its body. Given at
        // once when nothing is being answered before it (pipelined answers keep their order;
        // a client behind them sends its body when its own timer runs out).
        if parsed.expect_continue && !end && self.streams.iter().all(Stream::finished) {
            self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            s.continued = true;
        }
        if !parsed.keep_alive {
            self.closing = true;
        }
        self.streams.push_back(s);
        self.stats.streams_opened = self.stats.streams_opened.saturating_add(1);
        self.emit(Event::Headers {
            stream: id,
            message: parsed.message,
            end_stream: end,
        });
        self.rx = if end {
            if self.closing {
                Rx::Stopped
            } else {
                Rx::Idle
            }
        } else {
            Rx::Body(id, Body::new(parsed.framing))
        };
    }

    /// Client role: the oldest request whose answer has not been read whole (answers come
    /// in request order).
    fn answering(&self) -> Option<&Stream> {
        self.streams.iter().find(|s| !s.recv_done)
    }

    fn answering_mut(&mut self) -> Option<&mut Stream> {
        self.streams.iter_mut().find(|s| !s.recv_done)
    }

    fn response_head(&mut self, head: &[u8]) {
        let Some(s) = self.answering() else {
            return self.fail(H1Error::UnexpectedBytes);
        };
        let id = s.id;
        let parsed = match parse_response(head, s.head_request, &self.lim) {
            Ok(p) => p,
            Err(e) => return self.fail(e),
        };
        if parsed.message.is_informational() {
            self.emit(Event::Headers {
                stream: id,
                message: parsed.message,
                end_stream: false,
            });
            self.rx = Rx::Idle;
            return;
        }
        let end = matches!(parsed.framing, Framing::Empty | Framing::Length(0));
        let probe = self.answering().is_some_and(|s| s.probe);
        if let Some(s) = self.answering_mut() {
            s.recv_done = end;
            s.keep_alive = parsed.keep_alive;
        }
        if end && !probe {
            self.answered = self.answered.saturating_add(1);
        }
        self.emit(Event::Headers {
            stream: id,
            message: parsed.message,
            end_stream: end,
        });
        if !parsed.keep_alive {
            self.closing = true;
            self.tell_going_away();
        }
        self.rx = if end {
            self.after_response()
        } else {
            Rx::Body(id, Body::new(parsed.framing))
        };
    }

    /// Client role: the upstream will take no more requests after the current one; the
    /// owner hears it as a graceful GOAWAY whose last stream is the current one.
    fn tell_going_away(&mut self) {
        if self.side != Side::Backend || self.goaway_told || self.error.is_some() {
            return;
        }
        self.goaway_told = true;
        let last = self.streams.back().map_or(StreamId::ZERO, |s| s.id);
        self.emit(Event::GoAway {
            last_stream: last,
            code: ErrorCode::NoError,
            debug: Bytes::from_static(b"the upstream closes the connection"),
        });
    }

    /// A response is complete: another may follow only on a kept-alive connection.
    fn after_response(&mut self) -> Rx {
        self.drop_answered_probe();
        if self.closing {
            Rx::Stopped
        } else {
            Rx::Idle
        }
    }

    fn recv_body(&mut self, rest: &Bytes, id: StreamId, mut body: Body) -> usize {
        let max = self.window();
        let (n, piece) = match body.next(rest, max, self.cfg.h1_max_chunk_line, &self.lim) {
            Ok(r) => r,
            Err(e) => {
                self.bad_body(id, e);
                return rest.len();
            }
        };
        let live = self
            .stream(id)
            .is_some_and(|s| s.reset.is_none() && !s.probe);
        let done = body.is_done();
        match piece {
            Piece::NeedMore => return 0,
            Piece::Framing => {}
            Piece::Data { at, len } => {
                let data = rest.slice(at..at + len);
                if live {
                    self.credit_out += len as i64;
                    self.emit(Event::Data {
                        stream: id,
                        data,
                        end_stream: done,
                    });
                }
            }
            Piece::Trailers(fields) => {
                if live {
                    self.events
                        .push_back(Event::Trailers { stream: id, fields });
                }
            }
            Piece::End => {
                if live {
                    self.emit(Event::Data {
                        stream: id,
                        data: Bytes::new(),
                        end_stream: true,
                    });
                }
            }
        }
        if done {
            if let Some(s) = self.stream(id) {
                s.recv_done = true;
            }
            self.rx = match self.side {
                Side::Frontend if self.closing => Rx::Stopped,
                Side::Frontend => Rx::Idle,
                Side::Backend => self.after_response(),
            };
        } else {
            self.rx = Rx::Body(id, body);
        }
        n
    }

    /// A head broke a rule.
    fn bad_head(&mut self, e: H1Error) {
        match self.side {
            Side::Frontend => self.refuse_request(e),
            Side::Backend => self.fail(e),
        }
    }

    /// A body broke a rule: the message is cut.
    fn bad_body(&mut self, id: StreamId, e: H1Error) {
        match self.side {
            Side::Frontend => {
                log::info!("h2mux: HTTP/1.1 request body refused: {e}");
                self.record(e);
                // The request was forwarded already: its stream ends as cut off, and the
                // client gets the 400 if no response has started.
                let started = self.stream(id).is_some_and(|s| s.tx != Tx::Idle);
                if let Some(s) = self.stream(id) {
                    if !started {
                        s.answer = Some((e.status(), e.reason()));
                        s.queued.clear();
                    }
                    s.recv_done = true;
                }
                self.emit(Event::Reset {
                    stream: id,
                    code: ErrorCode::ProtocolError,
                    remote: false,
                });
                self.error = Some(ConnError::Violation(Violation::Http1(e)));
                self.closing = true;
                self.rx = Rx::Stopped;
                self.pump_out();
            }
            Side::Backend => self.fail(e),
        }
    }

    fn record(&mut self, e: H1Error) {
        self.note(Note::Violation(Violation::Http1(e)));
    }

    /// A bad request: answered in turn with its status, then the close.
    fn refuse_request(&mut self, e: H1Error) {
        log::info!("h2mux: HTTP/1.1 request refused: {e}");
        self.record(e);
        let id = self.new_id();
        let mut s = Stream::new(id);
        s.recv_done = true;
        s.answer = Some((e.status(), e.reason()));
        // The owner never hears of this stream: it is ours alone.
        s.reset = None;
        self.streams.push_back(s);
        self.error = Some(ConnError::Violation(Violation::Http1(e)));
        self.closing = true;
        self.rx = Rx::Stopped;
        self.pump_out();
    }

    /// The upstream broke a rule: its stream is reset (before a response head, the owner
    /// answers 502) and the connection fails.
    fn fail(&mut self, e: H1Error) {
        log::info!(
            "h2mux: HTTP/1.1 upstream response refused (502): {}",
            e.reason()
        );
        self.record(e);
        let error = ConnError::Violation(Violation::Http1(e));
        self.error = Some(error);
        self.rx = Rx::Stopped;
        self.closing = true;
        if let Some(s) = self.answering_mut() {
            if s.reset.is_none() && !s.finished() {
                s.reset = Some(ResetBy::Local);
                let id = s.id;
                self.emit(Event::Reset {
                    stream: id,
                    code: ErrorCode::ProtocolError,
                    remote: false,
                });
            }
        }
        self.emit(Event::Failed { error });
    }

    /// The transport ended.
    pub fn recv_eof(&mut self, _now: Instant) {
        if self.peer_eof {
            return;
        }
        self.peer_eof = true;
        match self.rx {
            Rx::Body(id, Body::UntilClose) => {
                self.emit(Event::Data {
                    stream: id,
                    data: Bytes::new(),
                    end_stream: true,
                });
                if let Some(s) = self.stream(id) {
                    s.recv_done = true;
                }
                self.rx = Rx::Stopped;
                self.closing = true;
                self.tell_going_away();
                return;
            }
            Rx::Body(id, _) => {
                // Cut off in the middle of a message.
                match self.side {
                    Side::Frontend => {
                        if let Some(s) = self.stream(id) {
                            s.reset = Some(ResetBy::Peer);
                        }
                        self.emit(Event::Reset {
                            stream: id,
                            code: ErrorCode::Cancel,
                            remote: true,
                        });
                    }
                    Side::Backend => return self.fail(H1Error::Incomplete),
                }
            }
            Rx::Head(_) if self.side == Side::Backend => return self.fail(H1Error::Incomplete),
            Rx::Idle if self.side == Side::Backend => {
                let waiting = self.answering().is_some_and(|s| s.reset.is_none());
                if waiting {
                    return self.fail(H1Error::Incomplete);
                }
            }
            _ => {}
        }
        self.rx = Rx::Stopped;
        self.closing = true;
        self.tell_going_away();
    }

    // ----- Events ----------------------------------------------------------------------

    /// Events wait.
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ----- Sending ---------------------------------------------------------------------

    /// Client role: whether a request may be sent now (one at a time).
    pub fn can_open_stream(&self) -> bool {
        let ready = if self.pipeline {
            // Behind requests already written whole, up to the pipelining bound.
            self.streams.len() < self.cfg.h1_max_pipelined
                && self.streams.iter().all(|s| s.tx == Tx::Done && !s.probe)
        } else {
            self.streams.is_empty()
        };
        self.side == Side::Backend
            && ready
            && !self.closing
            && self.error.is_none()
            && !self.peer_eof
    }

    /// Client role: requests may be pipelined (the client pipelined them itself: under
    /// Envoy's rules a request written upstream later, in an upstream callback, could not
    /// leave, since an HTTP/1.1 client cannot be asked for its next bytes).
    pub fn set_pipeline(&mut self, on: bool) {
        self.pipeline = on;
    }

    /// Client role: sends a request.
    pub fn open_stream(&mut self, message: Message, end: bool) -> Result<StreamId, SendError> {
        if self.side != Side::Backend {
            return Err(SendError::WrongSide);
        }
        if self.error.is_some() || self.peer_eof || self.closing {
            return Err(SendError::ConnectionClosed);
        }
        if !self.can_open_stream() {
            return Err(SendError::ConcurrencyLimit);
        }
        let id = self.new_id();
        let mut s = Stream::new(id);
        s.head_request = message.method() == Some(b"HEAD");
        // A chunked request ends with its trailers (the server role sends them only to a
        // client that asked).
        s.te_trailers = true;
        let framing = write::request_framing(&message, end);
        let expect = self.ask_continue
            && match framing {
                Framing::Chunked => true,
                Framing::Length(n) => n > 65_535,
                Framing::Empty | Framing::UntilClose => false,
            };
        write::request_head(&mut self.out, &message, framing, expect);
        s.tx = match framing {
            Framing::Empty => Tx::Done,
            Framing::Length(0) if end => Tx::Done,
            f => Tx::Body(f),
        };
        if end && framing == Framing::Chunked {
            write::last_chunk(&mut self.out, None);
            s.tx = Tx::Done;
        }
        self.streams.push_back(s);
        self.stats.streams_opened = self.stats.streams_opened.saturating_add(1);
        Ok(id)
    }

    /// Server role: a response head (1xx ones included).
    pub fn send_headers(
        &mut self,
        stream: StreamId,
        message: Message,
        end: bool,
    ) -> Result<(), SendError> {
        self.queue(stream, Out::Head(message, end), 0)
    }

    /// How many body bytes `send_data` takes on `stream` now (0 for a stream it does not
    /// know): its queue's room.
    pub fn send_room(&self, stream: StreamId) -> usize {
        self.streams.iter().find(|s| s.id == stream).map_or(0, |s| {
            self.cfg
                .max_stream_send_queue
                .saturating_sub(s.queued_bytes)
        })
    }

    /// Body bytes of our message on `stream`.
    pub fn send_data(&mut self, stream: StreamId, data: Bytes, end: bool) -> Result<(), SendError> {
        let n = data.len();
        self.queue(stream, Out::Data(data, end), n)
    }

    /// Trailers: they end our message.
    pub fn send_trailers(&mut self, stream: StreamId, fields: Fields) -> Result<(), SendError> {
        self.queue(stream, Out::Trailers(fields), 0)
    }

    fn queue(&mut self, id: StreamId, out: Out, len: usize) -> Result<(), SendError> {
        let max = self.cfg.max_stream_send_queue;
        let Some(s) = self.stream(id) else {
            return Err(SendError::UnknownStream);
        };
        if s.reset.is_some() || s.answer.is_some() || s.tx == Tx::Done {
            return Err(SendError::NotSendable);
        }
        if s.queued_bytes + len > max {
            return Err(SendError::QueueFull);
        }
        s.queued_bytes += len;
        s.queued.push_back(out);
        self.pump_out();
        Ok(())
    }

    /// Writes what may be written: the first stream's pieces, then, once it is finished,
    /// the next one's (responses in request order).
    fn pump_out(&mut self) {
        let mut i = 0;
        while let Some(s) = self.streams.get_mut(i) {
            if let Some((status, reason)) = s.answer.take() {
                if s.tx == Tx::Idle {
                    write::error_response(&mut self.out, status, reason);
                }
                s.tx = Tx::Done;
                s.queued.clear();
                self.closing = true;
            }
            while let Some(piece) = s.queued.pop_front() {
                write_piece(&mut self.out, &mut self.written, s, piece, self.closing);
            }
            s.queued_bytes = 0;
            if s.tx != Tx::Done && s.reset.is_none() {
                // A later stream waits for this one.
                if self.side == Side::Frontend {
                    break;
                }
            }
            if s.tx == Tx::Done && !s.keep_alive {
                self.closing = true;
            }
            i += 1;
        }
    }

    /// Resets a stream (the owner's decision): a response not started becomes an error
    /// answer of ours; one under way cannot be finished, so the connection closes after
    /// what was written.
    pub fn reset(&mut self, stream: StreamId, code: ErrorCode) {
        let side = self.side;
        let Some(s) = self.stream(stream) else {
            return;
        };
        if s.reset.is_some() || s.finished() {
            return;
        }
        match side {
            Side::Frontend => {
                if s.tx == Tx::Idle {
                    let status = match code {
                        ErrorCode::RefusedStream => 503,
                        _ => 502,
                    };
                    s.answer = Some((status, "the upstream could not answer this request"));
                    s.queued.clear();
                } else if s.tx != Tx::Done {
                    // Cut off: the client sees the connection close mid-message.
                    s.reset = Some(ResetBy::Local);
                    s.queued.clear();
                }
                // The rest of the request is not read.
                if !s.recv_done {
                    s.recv_done = true;
                    self.rx = Rx::Stopped;
                }
                self.closing = true;
            }
            Side::Backend => {
                s.reset = Some(ResetBy::Local);
                s.queued.clear();
                // A request cut off cannot be finished on this connection.
                if s.tx != Tx::Done || !s.recv_done {
                    self.closing = true;
                    self.rx = Rx::Stopped;
                }
            }
        }
        self.pump_out();
    }

    /// Our message ends whole, then the peer's stops mattering (HTTP/2's RST(NO_ERROR)
    /// after a complete response): the rest of the request is not waited for.
    pub fn reset_after_end(&mut self, stream: StreamId, _code: ErrorCode) {
        if let Some(s) = self.stream(stream) {
            if !s.recv_done {
                s.recv_done = true;
                self.rx = Rx::Stopped;
                self.closing = true;
            }
        }
    }

    /// The owner passed on `n` body bytes: more may be read.
    pub fn release_capacity(&mut self, _stream: StreamId, n: usize) {
        self.credit_out -= n as i64;
    }

    /// The owner is done with a stream.
    pub fn detach(&mut self, stream: StreamId) {
        if let Some(pos) = self.streams.iter().position(|s| s.id == stream) {
            if self.streams.get(pos).is_some_and(Stream::finished) {
                self.streams.remove(pos);
                self.pump_out();
            }
        }
    }

    /// The stream's state, as the relay reads it.
    pub fn stream_state(&self, stream: StreamId) -> Option<State> {
        let s = self.streams.iter().find(|s| s.id == stream)?;
        Some(match (s.reset, s.recv_done, s.tx == Tx::Done) {
            (Some(by), _, _) => State::Reset(by),
            (None, true, true) => State::Closed,
            (None, true, false) => State::HalfClosedRemote,
            (None, false, true) => State::HalfClosedLocal,
            (None, false, false) => State::Open,
        })
    }

    // ----- Output ----------------------------------------------------------------------

    /// Bytes wait to be written.
    pub fn has_output(&self) -> bool {
        !self.out.is_empty()
    }

    /// Moves the output into `out`; body bytes in it become `DataSent`.
    pub fn drain_output(&mut self, out: &mut Vec<u8>) -> usize {
        let n = self.out.len();
        self.stats.bytes_out += n as u64;
        if out.is_empty() {
            std::mem::swap(out, &mut self.out);
        } else {
            out.extend_from_slice(&self.out);
            self.out.clear();
        }
        if self.out.capacity() > 64 * 1024 {
            self.out = Vec::new();
        }
        for (stream, len) in std::mem::take(&mut self.written) {
            self.emit(Event::DataSent { stream, len });
        }
        n
    }

    /// The owner ends the connection: no new message; `code` other than NO_ERROR cuts what
    /// is under way.
    pub fn goaway(&mut self, code: ErrorCode, reason: &'static str) {
        self.closing = true;
        if code != ErrorCode::NoError && self.error.is_none() {
            self.error = Some(ConnError::Local(code, reason));
            self.rx = Rx::Stopped;
        }
        if matches!(self.rx, Rx::Idle | Rx::Head(_)) {
            self.rx = Rx::Stopped;
        }
        self.pump_out();
    }

    /// Like `goaway`: streams above `last` were never forwarded (they get an answer of
    /// ours when the owner resets them).
    pub fn goaway_with_last(&mut self, _last: StreamId, code: ErrorCode, reason: &'static str) {
        self.goaway(code, reason);
    }

    /// Nothing more will happen: the connection closed or failed and its output is out.
    pub fn is_done(&self) -> bool {
        self.out.is_empty() && self.is_done_but_output()
    }

    /// True once nothing more will happen but writing what is queued.
    pub fn is_done_but_output(&self) -> bool {
        let quiet = self.streams.iter().all(|s| s.finished());
        match self.side {
            Side::Frontend => (self.closing || self.peer_eof || self.error.is_some()) && quiet,
            Side::Backend => self.error.is_some() || (self.closing && quiet),
        }
    }

    /// When an idle connection should close (the idle timeout).
    pub fn next_timeout(&self) -> Option<Instant> {
        if self.cfg.idle_timeout_ms == 0 || !self.streams.is_empty() {
            return None;
        }
        Some(self.idle_since.after(self.cfg.idle_timeout_ms))
    }

    /// Closes an idle connection whose time is up.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.next_timeout().is_some_and(|t| t <= now) {
            self.closing = true;
            self.rx = Rx::Stopped;
        }
    }

    /// Streams in flight.
    pub fn stream_count(&self) -> usize {
        self.streams.len()
    }

    /// Gives back queue memory when idle.
    pub fn trim(&mut self) -> bool {
        if !self.streams.is_empty() || !self.events.is_empty() || !self.out.is_empty() {
            return false;
        }
        self.streams = VecDeque::new();
        self.events = VecDeque::new();
        self.out = Vec::new();
        self.written = Vec::new();
        true
    }

    /// Body bytes handed out and not given back.
    pub fn recv_credit_outstanding(&self) -> i64 {
        self.credit_out
    }

    /// Stream bookkeeping agrees with itself.
    pub fn audit(&self) -> Result<(), &'static str> {
        if self.credit_out < 0 {
            return Err("HTTP/1 body credit given back twice");
        }
        Ok(())
    }
}

/// Writes one piece of our message on stream `s` into `out`.
fn write_piece(
    out: &mut Vec<u8>,
    written: &mut Vec<(StreamId, usize)>,
    s: &mut Stream,
    piece: Out,
    closing: bool,
) {
    match piece {
        Out::Head(m, end) => {
            if m.is_informational() {
                // 1xx only to HTTP/1.1 clients (§15.2 of RFC 9110), and one 100 is enough.
                let again = s.continued && m.status() == Some(100);
                if s.version == Version::Http11 && !again {
                    write::response_head(out, &m, Framing::Empty, None);
                }
                return;
            }
            let status = m.status().unwrap_or(200);
            let no_body = s.head_request || status == 204 || status == 304;
            let framing = match m.content_length {
                _ if no_body => Framing::Empty,
                Some(n) => Framing::Length(n),
                None if end => Framing::Length(0),
                None if s.version == Version::Http11 => Framing::Chunked,
                None => Framing::UntilClose,
            };
            if framing == Framing::UntilClose {
                s.keep_alive = false;
            }
            let close = closing || !s.keep_alive;
            let conn: Option<&[u8]> = match (close, s.version) {
                (true, _) => Some(b"close"),
                (false, Version::Http10) => Some(b"keep-alive"),
                (false, Version::Http11) => None,
            };
            let mut m = m;
            if framing == Framing::Length(0) && m.content_length.is_none() && status != 204 {
                m.fields.push(b"content-length", b"0", false);
            }
            write::response_head(out, &m, framing, conn);
            s.tx = if end { Tx::Done } else { Tx::Body(framing) };
        }
        Out::Data(data, end) => {
            let Tx::Body(framing) = s.tx else {
                return;
            };
            let len = data.len();
            match framing {
                Framing::Chunked => {
                    if !data.is_empty() {
                        write::chunk_start(out, len);
                        out.extend_from_slice(&data);
                        out.extend_from_slice(b"\r\n");
                    }
                    if end {
                        write::last_chunk(out, None);
                    }
                }
                Framing::Empty => {}
                Framing::Length(_) | Framing::UntilClose => out.extend_from_slice(&data),
            }
            if len > 0 {
                written.push((s.id, len));
            }
            if end {
                s.tx = Tx::Done;
            }
        }
        Out::Trailers(fields) => {
            if let Tx::Body(Framing::Chunked) = s.tx {
                write::last_chunk(out, s.te_trailers.then_some(&fields));
            }
            s.tx = Tx::Done;
        }
    }
}
