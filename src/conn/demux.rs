//! The receive side: a demux state machine that can stop at any byte and resume later.
//!
//! Frame headers are gathered in a 9-byte array inside the connection; whole payloads of
//! control frames and header blocks are processed straight from the caller's bytes when they
//! are all there, and gathered in a pool buffer only when a payload is split across calls.
//! DATA is never gathered: it is handed out piecewise as slices of the caller's bytes.

use bytes::Bytes;

use super::{Connection, Event, Gone, Lifecycle, Note};
use crate::buffer::BufferPool;
use crate::error::{ErrorCode, Violation};
use crate::frame::{self, flags, FrameHeader, FrameType, HEADER_LEN, PREFACE};
use crate::limits::Glitch;
use crate::side::Side;
use crate::stream::{Input, Key, Queue, RecvPhase, ResetBy, State, Stream, StreamId};
use crate::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum RxState {
    /// Frontend: this many bytes of the client preface matched so far.
    Preface(u8),
    /// The next frame must be the peer's SETTINGS (§3.4).
    FirstSettings,
    /// Reading a frame header into `hdr_buf`.
    Header,
    /// Waiting for a whole payload.
    Payload(FrameHeader),
    /// A padded DATA frame: waiting for its pad-length byte.
    DataPad(FrameHeader),
    /// Moving a DATA payload piecewise; `key` is None when it is discarded. The key may go
    /// stale between calls (the owner can free the stream): it is checked at every use.
    Data {
        stream: StreamId,
        key: Option<Key>,
        data_left: u32,
        pad_left: u32,
        end: bool,
    },
    /// Discarding a payload.
    Skip(u32),
    /// After a connection error: everything is discarded.
    Failed,
}

/// Why the demux stopped reading before the end of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxBlocked {
    /// A reply (ACK, RST) needs tx room: consume output, then feed the bytes again.
    TxRoom,
    /// A partial payload needs an rx buffer and the pool has none: wait for
    /// `on_buffer_available`.
    Buffer,
    /// A new stream would exceed the streams still being worked on: wait for `detach`.
    Streams,
}

/// A header block spread over HEADERS and CONTINUATION frames.
#[derive(Clone, Copy, Debug)]
pub(super) struct Continuation {
    pub(super) stream: StreamId,
    pub(super) end_stream: bool,
    pub(super) frames: u32,
    pub(super) bad_priority: bool,
}

enum Step {
    /// Consumed this many input bytes; go on.
    Advanced(usize),
    /// Needs more input than there is.
    NeedInput,
    Blocked(RxBlocked),
}

/// What the stream lookup says about an id (no table of closed streams).
pub(super) enum Lookup {
    Live(Key),
    /// Above every id of that initiator: never used.
    Idle,
    /// At or below the highest id of that initiator, without a context.
    Closed(Option<Gone>),
}

impl Connection {
    /// Feeds bytes from the peer. Returns how many were consumed; the caller keeps the rest
    /// and feeds them again after the reason in `rx_blocked()` went away.
    pub fn recv(&mut self, pool: &mut BufferPool, input: &Bytes, now: Instant) -> usize {
        self.now = now;
        self.rx_blocked = None;
        let mut pos = 0;
        loop {
            let rest = input.slice(pos.min(input.len())..);
            match self.rx_step(pool, &rest) {
                Step::Advanced(n) => pos += n,
                Step::NeedInput => break,
                Step::Blocked(b) => {
                    self.rx_blocked = Some(b);
                    self.stats.rx_blocked += 1;
                    break;
                }
            }
        }
        self.stats.bytes_in += pos as u64;
        if pos > 0 {
            self.activity(now);
        }
        self.release_rx_if_empty(pool);
        self.flush(pool, now);
        self.debug_audit();
        pos
    }

    /// In debug builds, the audit runs after every call that takes bytes.
    pub(super) fn debug_audit(&mut self) {
        if cfg!(debug_assertions) {
            if let Err(rule) = self.audit() {
                self.broken(rule);
            }
        }
    }

    /// The peer closed its side of the transport: every stream still open ends with a reset
    /// event so the other side of the relay lets go of it.
    pub fn recv_eof(&mut self, now: Instant) {
        self.now = now;
        for k in self.streams.keys() {
            let state = live!(self, k, "a listed stream is in the store").state();
            if matches!(state, State::Reset(_) | State::Closed) {
                continue;
            }
            self.mark_reset(k, ResetBy::Local);
            self.events.push_back(Event::Reset {
                stream: k.id(),
                code: ErrorCode::Cancel,
                remote: true,
            });
        }
        if !self.lifecycle.is_failed() {
            // The rest of a DATA frame in progress will never come: its credit, taken
            // with the frame header, comes back now.
            let unread = self.recv_credit_in_flight();
            if unread > 0 {
                self.release_conn_credit(unread as u32);
            }
            self.rx_state = RxState::Failed;
        }
    }

    fn rx_step(&mut self, pool: &mut BufferPool, input: &Bytes) -> Step {
        match self.rx_state {
            RxState::Failed => {
                if input.is_empty() {
                    Step::NeedInput
                } else {
                    Step::Advanced(input.len())
                }
            }
            RxState::Preface(matched) => self.rx_preface(matched, input),
            RxState::FirstSettings | RxState::Header => self.rx_header(input),
            RxState::Payload(h) => self.rx_payload(pool, h, input),
            RxState::DataPad(h) => {
                let Some(&b) = input.first() else {
                    return Step::NeedInput;
                };
                match frame::data_padding(&h, b) {
                    Ok(pad) => {
                        // Pad length byte and padding count against flow control but carry
                        // nothing: their credit goes back now, on the stream too.
                        self.release_capacity(h.stream, pad as usize + 1);
                        let Some(data_left) = h.len.checked_sub(pad + 1) else {
                            self.broken("padding checked shorter than its frame");
                            return Step::Advanced(1);
                        };
                        self.start_data(h, data_left, pad);
                        Step::Advanced(1)
                    }
                    Err(e) => {
                        self.fail(Violation::Frame(e).into());
                        Step::Advanced(1)
                    }
                }
            }
            RxState::Data {
                stream,
                key,
                data_left,
                pad_left,
                end,
            } => self.rx_data(stream, key, data_left, pad_left, end, input),
            RxState::Skip(left) => {
                if left == 0 {
                    self.rx_state = RxState::Header;
                    return Step::Advanced(0);
                }
                if input.is_empty() {
                    return Step::NeedInput;
                }
                let n = (left as usize).min(input.len());
                self.rx_state = RxState::Skip(left - n as u32);
                Step::Advanced(n)
            }
        }
    }

    fn rx_preface(&mut self, matched: u8, input: &Bytes) -> Step {
        if input.is_empty() {
            return Step::NeedInput;
        }
        let Some(want) = PREFACE.get(matched as usize..) else {
            self.broken("the preface match stays within the preface");
            return Step::Advanced(input.len());
        };
        let n = want.len().min(input.len());
        if input.get(..n) != want.get(..n) {
            let v = if matched == 0 && looks_like_http1_request(input) {
                Violation::Http1Request
            } else {
                Violation::InvalidPreface
            };
            self.fail(v.into());
            return Step::Advanced(input.len());
        }
        let matched = matched as usize + n;
        self.rx_state = if matched == PREFACE.len() {
            RxState::FirstSettings
        } else {
            RxState::Preface(matched as u8)
        };
        Step::Advanced(n)
    }

    fn rx_header(&mut self, input: &Bytes) -> Step {
        let have = self.hdr_have as usize;
        let mut used = 0;
        if have < HEADER_LEN {
            if input.is_empty() {
                return Step::NeedInput;
            }
            used = (HEADER_LEN - have).min(input.len());
            let (Some(dst), Some(src)) =
                (self.hdr_buf.get_mut(have..have + used), input.get(..used))
            else {
                self.broken("a frame header fits its 9-byte array");
                return Step::Advanced(input.len());
            };
            dst.copy_from_slice(src);
            self.hdr_have = (have + used) as u8;
            if (self.hdr_have as usize) < HEADER_LEN {
                return Step::Advanced(used);
            }
        }
        // A whole header: it may still have to wait (the bytes are kept in hdr_buf).
        let h = FrameHeader::parse(&self.hdr_buf);
        if let Some(b) = self.header_must_wait(&h) {
            return if used > 0 {
                // Count the bytes; the wait is noticed at the next step.
                Step::Advanced(used)
            } else {
                Step::Blocked(b)
            };
        }
        self.hdr_have = 0;
        self.on_frame_header(h);
        Step::Advanced(used)
    }

    /// Back-pressure decided on a frame header, before anything is consumed.
    fn header_must_wait(&self, h: &FrameHeader) -> Option<RxBlocked> {
        if self.pending_resets.len() >= self.cfg.max_pending_resets {
            return Some(RxBlocked::TxRoom);
        }
        if h.kind == FrameType::Headers
            && self.side == Side::Frontend
            && self.cont.is_none()
            && h.stream > self.last_peer_stream
            && h.stream.is_client_initiated()
            && self.lifecycle.is_running()
            && self.streams.len() >= self.cfg.max_concurrent_streams as usize
            && !self.peer_streams_at(self.cfg.max_concurrent_streams as usize)
        {
            // Streams the peer has closed (or reset) still hold work on the other side: read
            // no new request until some of that work is done.
            return Some(RxBlocked::Streams);
        }
        None
    }

    pub(super) fn open_peer_streams(&self) -> usize {
        self.streams.iter().filter(|s| s.counts_as_open()).count()
    }

    /// True when the peer's open streams reached `limit`; the scan runs only when the
    /// store itself is that full (open streams are a subset of it).
    pub(super) fn peer_streams_at(&self, limit: usize) -> bool {
        self.streams.len() >= limit && self.open_peer_streams() >= limit
    }

    pub(super) fn lookup(&self, id: StreamId) -> Lookup {
        if let Some(k) = self.streams.find(id) {
            return Lookup::Live(k);
        }
        let peer_initiated = id.is_client_initiated() == (self.side == Side::Frontend);
        if let (true, Lifecycle::Closing(last)) = (peer_initiated, self.lifecycle) {
            if id > last {
                // Above our final GOAWAY's last id: never processed, and every frame on it
                // is discarded (§6.8), as for a stream we reset.
                return Lookup::Closed(Some(Gone::ResetByUs));
            }
        }
        let highest = if peer_initiated {
            self.last_peer_stream
        } else {
            self.last_local_stream
        };
        if id > highest {
            Lookup::Idle
        } else {
            Lookup::Closed(self.recently_gone(id))
        }
    }

    fn on_frame_header(&mut self, h: FrameHeader) {
        self.stats.frames_in = self.stats.frames_in.saturating_add(1);
        if self.rx_state == RxState::FirstSettings
            && (h.kind != FrameType::Settings || h.has(flags::ACK))
        {
            let v = match self.side {
                Side::Backend if self.hdr_buf.starts_with(b"HTTP/") => Violation::Http1Response,
                Side::Backend => Violation::UpstreamNotHttp2,
                Side::Frontend => Violation::FirstFrameNotSettings,
            };
            self.fail(v.into());
            return;
        }
        if let Some(c) = self.cont {
            if h.kind != FrameType::Continuation || h.stream != c.stream {
                self.fail(Violation::HeaderBlockInterrupted.into());
                return;
            }
        } else if h.kind == FrameType::Continuation {
            self.fail(Violation::ContinuationWithoutHeaders.into());
            return;
        }
        if let Err(e) = frame::validate(&h, self.cfg.max_frame_size) {
            if e.stream_scoped() {
                self.stream_error_id(h.stream, Violation::Frame(e));
                self.rx_state = RxState::Skip(h.len);
            } else {
                self.fail(Violation::Frame(e).into());
            }
            return;
        }
        match h.kind {
            FrameType::Data => self.data_header(h),
            FrameType::Unknown(_) => {
                self.glitch(Glitch::IgnoredFrame);
                self.skip(h.len);
            }
            _ => {
                self.rx_state = RxState::Payload(h);
            }
        }
    }

    fn skip(&mut self, len: u32) {
        if !self.lifecycle.is_failed() {
            self.rx_state = RxState::Skip(len);
        }
    }

    fn rx_payload(&mut self, pool: &mut BufferPool, h: FrameHeader, input: &Bytes) -> Step {
        let need = h.len as usize;
        let held = self.rx.as_ref().map_or(0, |b| b.len());
        if held == 0 && input.len() >= need {
            if let Some(b) = self.payload_must_wait(&h, pool) {
                return Step::Blocked(b);
            }
            let payload = input.slice(..need);
            self.rx_state = RxState::Header;
            self.on_payload(h, &payload);
            return Step::Advanced(need);
        }
        // Gather the payload in the rx buffer.
        let mut used = 0;
        if held < need {
            if input.is_empty() {
                return Step::NeedInput;
            }
            if self.rx.is_none() {
                match self.take_buffer(pool) {
                    Some(b) => self.rx = Some(b),
                    None => {
                        self.wait_for_buffer(pool);
                        return Step::Blocked(RxBlocked::Buffer);
                    }
                }
            }
            let Some(rx) = self.rx.as_mut() else {
                return Step::Blocked(RxBlocked::Buffer);
            };
            let take = (need - held).min(input.len()).min(rx.room());
            let Some(part) = input.get(..take) else {
                self.broken("a payload part is within the input");
                return Step::Advanced(input.len());
            };
            used = rx.extend(part);
            if rx.len() < need {
                if used == 0 {
                    // The configuration keeps max_frame_size within the buffer size.
                    self.broken("a frame fits in an rx buffer");
                    return Step::Advanced(input.len());
                }
                return Step::Advanced(used);
            }
        }
        if let Some(b) = self.payload_must_wait(&h, pool) {
            return if used > 0 {
                Step::Advanced(used)
            } else {
                Step::Blocked(b)
            };
        }
        let Some(mut rx) = self.rx.take() else {
            self.broken("a gathered payload is in the rx buffer");
            return Step::Advanced(used);
        };
        let Some(gathered) = rx.data().get(..need) else {
            self.rx = Some(rx);
            self.broken("the rx buffer holds the whole payload");
            return Step::Advanced(used);
        };
        let payload = Bytes::copy_from_slice(gathered);
        rx.consume(need);
        self.rx = Some(rx);
        self.release_rx_if_empty(pool);
        self.rx_state = RxState::Header;
        self.on_payload(h, &payload);
        Step::Advanced(used)
    }

    /// Frames answered in place need tx room before they are consumed.
    fn payload_must_wait(&mut self, h: &FrameHeader, pool: &mut BufferPool) -> Option<RxBlocked> {
        let reply = match h.kind {
            FrameType::Ping if !h.has(flags::ACK) => HEADER_LEN + 8,
            FrameType::Settings if !h.has(flags::ACK) => HEADER_LEN,
            _ => return None,
        };
        if self.lifecycle.is_failed() {
            return None;
        }
        // A reply written in place must not land inside a header block of ours (§6.10).
        if self.header_block_open() {
            return Some(RxBlocked::TxRoom);
        }
        // Through take_tx: our preface and SETTINGS must precede any reply.
        if !self.take_tx(pool) {
            return Some(RxBlocked::Buffer);
        }
        let room = self.tx.as_ref().map_or(0, |b| b.room());
        // Our own pending control frames go first; keep room for them too.
        if room < reply + self.control_backlog() {
            return Some(RxBlocked::TxRoom);
        }
        None
    }

    fn on_payload(&mut self, h: FrameHeader, p: &Bytes) {
        match h.kind {
            FrameType::Headers => self.on_headers(h, p),
            FrameType::Continuation => self.on_continuation(h, p),
            FrameType::Settings => self.on_settings(h, p),
            FrameType::Ping => self.on_ping(h, p),
            FrameType::GoAway => self.on_goaway(p),
            FrameType::RstStream => self.on_rst_stream(h, p),
            FrameType::WindowUpdate => self.on_window_update(h, p),
            FrameType::Priority => self.on_priority(h, p),
            // Validated away (push is disabled) or handled elsewhere.
            FrameType::PushPromise | FrameType::Data | FrameType::Unknown(_) => {}
        }
    }

    // ----- DATA ----------------------------------------------------------------------------

    fn data_header(&mut self, h: FrameHeader) {
        if !self.conn_recv_window.take(h.len) {
            self.fail(Violation::ConnectionWindowExceeded.into());
            return;
        }
        if h.len == 0 && !h.has(flags::END_STREAM) {
            self.glitch(Glitch::EmptyFrame);
        }
        let key = match self.lookup(h.stream) {
            Lookup::Idle => {
                self.fail(Violation::DataOnIdleStream.into());
                return;
            }
            Lookup::Closed(gone) => {
                self.release_capacity(h.stream, h.len as usize);
                if gone != Some(Gone::ResetByUs) {
                    self.stream_error_id(h.stream, Violation::DataOnClosedStream);
                }
                self.skip(h.len);
                return;
            }
            Lookup::Live(k) => k,
        };
        let s = live!(self, key, "a live stream is in the store");
        let state = s.state();
        let verdict: Result<(), Option<Violation>> = if state == State::Reset(ResetBy::Peer) {
            Err(Some(Violation::DataAfterReset))
        } else if state.is_reset() {
            // Reset by us: the bytes are dropped, their credit given back.
            Err(None)
        } else if !state.can_recv() {
            Err(Some(Violation::DataAfterEndStream))
        } else if s.recv_phase != RecvPhase::Body {
            Err(Some(Violation::DataOutsideBody))
        } else if !s.recv_window.take(h.len) {
            Err(Some(Violation::StreamWindowExceeded))
        } else {
            Ok(())
        };
        match verdict {
            Ok(()) => {
                if h.has(flags::PADDED) {
                    self.rx_state = RxState::DataPad(h);
                } else {
                    self.start_data(h, h.len, 0);
                }
            }
            Err(v) => {
                // The stream window was not taken: only the connection's comes back.
                self.release_conn_credit(h.len);
                if let Some(v) = v {
                    self.stream_error(key, v);
                }
                self.skip(h.len);
            }
        }
    }

    /// Gives back connection credit for bytes nobody will read.
    fn release_conn_credit(&mut self, n: u32) {
        if !self.conn_recv_window.release(n) {
            self.broken("dropped bytes were taken from the connection window");
        }
    }

    fn start_data(&mut self, h: FrameHeader, data_left: u32, pad_left: u32) {
        let key = self.streams.find(h.stream);
        self.rx_state = RxState::Data {
            stream: h.stream,
            key,
            data_left,
            pad_left,
            end: h.has(flags::END_STREAM),
        };
        if data_left == 0 && pad_left == 0 {
            self.end_data(key, h.has(flags::END_STREAM));
        }
    }

    fn rx_data(
        &mut self,
        stream: StreamId,
        key: Option<Key>,
        data_left: u32,
        pad_left: u32,
        end: bool,
        input: &Bytes,
    ) -> Step {
        if data_left == 0 && pad_left == 0 {
            self.rx_state = RxState::Header;
            return Step::Advanced(0);
        }
        if input.is_empty() {
            return Step::NeedInput;
        }
        let mut used = 0;
        // The stream may have been freed since the frame began (its key then finds
        // nothing), or reset or detached (the owner gave up on it): the rest of the frame is
        // dropped here, its credit given back, and the owner hears of no more DATA for it.
        let mut key = key.filter(|&k| self.streams.get(k).is_some());
        let wanted = key.is_some_and(|k| self.streams.get(k).is_some_and(Stream::wants_data));
        let mut data_left = data_left;
        let mut pad_left = pad_left;
        if data_left > 0 {
            let n = (data_left as usize).min(input.len());
            data_left -= n as u32;
            used = n;
            let check = key.and_then(|k| self.streams.get_mut(k).map(|s| s.recv_body.on_data(n)));
            match (key, check) {
                (Some(_), Some(Ok(()))) if wanted => self.events.push_back(Event::Data {
                    stream,
                    data: input.slice(..n),
                    end_stream: false,
                }),
                (Some(_), Some(Ok(()))) => self.release_capacity(stream, n),
                (Some(k), Some(Err(e))) => {
                    // These bytes and the rest of the frame are dropped; each part gives
                    // its credit back as it arrives.
                    self.release_capacity(stream, n);
                    self.stream_error(k, Violation::Message(e));
                    key = None;
                }
                _ => {
                    self.release_conn_credit(n as u32);
                    key = None;
                }
            }
        }
        if data_left == 0 && pad_left > 0 {
            let n = (pad_left as usize).min(input.len() - used);
            pad_left -= n as u32;
            used += n;
        }
        self.rx_state = RxState::Data {
            stream,
            key,
            data_left,
            pad_left,
            end,
        };
        if data_left == 0 && pad_left == 0 {
            self.end_data(key, end);
        }
        Step::Advanced(used)
    }

    fn end_data(&mut self, key: Option<Key>, end: bool) {
        if !self.lifecycle.is_failed() {
            self.rx_state = RxState::Header;
        }
        if !end {
            return;
        }
        let Some(key) = key else { return };
        let Some(s) = self.streams.get_mut(key) else {
            // Freed meanwhile: nothing to end.
            return;
        };
        if let Err(e) = s.recv_body.on_end() {
            self.stream_error(key, Violation::Message(e));
            return;
        }
        let wanted = s.wants_data();
        self.recv_end(key);
        if !wanted {
            // The stream ends; its owner gave up on it and hears of no more DATA.
            return;
        }
        let stream = key.id();
        // Put END_STREAM on the last chunk when it is still queued, else an empty chunk.
        if let Some(Event::Data {
            stream: s,
            end_stream,
            ..
        }) = self.events.back_mut()
        {
            if *s == stream {
                *end_stream = true;
                return;
            }
        }
        self.events.push_back(Event::Data {
            stream,
            data: Bytes::new(),
            end_stream: true,
        });
    }

    // ----- Stream errors -------------------------------------------------------------------

    /// A stream error on a live stream (§5.4.2): RST_STREAM goes out, the owner hears of it.
    pub(super) fn stream_error(&mut self, key: Key, v: Violation) {
        let side = self.side.name();
        let s = live!(self, key, "a stream in error is in the store");
        let state = s.state();
        if state == State::Reset(ResetBy::Peer) {
            // A frame after the peer's own RST_STREAM: answered, but the stream is gone.
            self.pending_resets.push_back((key.id(), v.code()));
            self.note(Note::Violation(v));
            self.glitch(Glitch::OwnReset);
            return;
        }
        if state.is_reset() {
            return;
        }
        log::debug!("{side} stream {} error: {v}", key.id());
        s.drop_output();
        s.apply_always(Input::Fail(v.code()));
        self.streams.enqueue(Queue::Reset, key);
        self.events.push_back(Event::Reset {
            stream: key.id(),
            code: v.code(),
            remote: false,
        });
        self.note(Note::Violation(v));
        self.glitch(Glitch::OwnReset);
    }

    /// A stream error on a stream without a context (refused, malformed head, closed).
    pub(super) fn stream_error_id(&mut self, id: StreamId, v: Violation) {
        if let Some(key) = self.streams.find(id) {
            self.stream_error(key, v);
            return;
        }
        log::debug!("{} stream {} error: {}", self.side.name(), id, v);
        self.pending_resets.push_back((id, v.code()));
        self.remember_gone(id, Gone::ResetByUs);
        self.note(Note::Violation(v));
        self.glitch(if v == Violation::OverMaxConcurrentStreams {
            Glitch::RefusedStream
        } else {
            Glitch::OwnReset
        });
    }
}

/// An HTTP/1.x request line starts with a method token and a space ("PRI " is the HTTP/2
/// preface itself and never gets here). The inspector asks the same of its input.
pub(crate) fn looks_like_http1_request(input: &[u8]) -> bool {
    let token = input
        .iter()
        .take(16)
        .take_while(|b| b.is_ascii_uppercase())
        .count();
    (3..16).contains(&token) && input.get(token) == Some(&b' ')
}
