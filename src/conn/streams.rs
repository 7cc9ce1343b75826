//! What the owner does with streams: open one (backend), queue heads, DATA and trailers,
//! reset, give credit back, and let go (`detach`). Also when a stream's slot is freed.

use bytes::Bytes;

use super::{Connection, Gone, RxBlocked, SendError};
use crate::error::ErrorCode;
use crate::message::{Fields, Message};
use crate::side::Side;
use crate::stream::{Input, Key, PendingBlock, Queue, Refused, ResetBy, State, Stream, StreamId};

/// The rule broken when a key `sendable` just returned finds no stream.
const SENDABLE: &str = "a sendable stream is in the store";

impl Connection {
    /// Opens a stream and queues its request head (backend only).
    pub fn open_stream(
        &mut self,
        message: Message,
        end_stream: bool,
    ) -> Result<StreamId, SendError> {
        if self.side != Side::Backend {
            return Err(SendError::WrongSide);
        }
        if self.lifecycle.is_failed() {
            return Err(SendError::ConnectionClosed);
        }
        if self.lifecycle != super::Lifecycle::Open {
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
        let mut s = Stream::new(id, self.initial_window());
        s.on_wire = false;
        s.head_request = message.method() == Some(b"HEAD".as_slice());
        if s.apply(Input::Send { end: end_stream }).is_err() {
            self.broken("a new stream accepts its head");
            return Err(SendError::ConnectionClosed);
        }
        s.pending.push_back(PendingBlock::Head(message, end_stream));
        let Some(key) = self.streams.insert(s) else {
            self.broken("a new stream id is not in the store");
            return Err(SendError::ConnectionClosed);
        };
        self.last_local_stream = id;
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
        let s = live!(self, key, SENDABLE, Err(SendError::ConnectionClosed));
        if s.responded || (informational && end_stream) || s.send_end {
            return Err(SendError::NotSendable);
        }
        if !informational {
            s.responded = true;
            if end_stream {
                s.apply(Input::Send { end: true })
                    .map_err(|_| SendError::NotSendable)?;
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
        let s = live!(self, key, SENDABLE, Err(SendError::ConnectionClosed));
        if s.send_end || (side == Side::Frontend && !s.responded) {
            return Err(SendError::NotSendable);
        }
        if s.send_queued.saturating_add(data.len()) > max {
            return Err(SendError::QueueFull);
        }
        if end_stream {
            s.apply(Input::Send { end: true })
                .map_err(|_| SendError::NotSendable)?;
            s.send_end = true;
        }
        if !data.is_empty() {
            s.send_queued += data.len();
            s.send_queue.push_back(data);
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
        let s = live!(self, key, SENDABLE, Err(SendError::ConnectionClosed));
        if s.send_end || (side == Side::Frontend && !s.responded) {
            return Err(SendError::NotSendable);
        }
        s.apply(Input::Send { end: true })
            .map_err(|_| SendError::NotSendable)?;
        s.trailers = Some(fields);
        s.send_end = true;
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
        let hwrite_here = self.hwrite.as_ref().is_some_and(|h| h.stream == stream);
        let s = live!(self, key, "a found stream is in the store");
        if s.state().is_reset() || s.state() == State::Closed {
            return;
        }
        s.drop_output();
        if !s.on_wire && !hwrite_here {
            // The peer never heard of it: nothing to reset on the wire.
            s.apply_always(Input::Drop);
            self.maybe_free(key);
            return;
        }
        s.apply_always(Input::Fail(code));
        self.streams.enqueue(Queue::Reset, key);
    }

    /// Resets the stream once our END_STREAM is written, keeping what is queued: the other
    /// side finished its answer and no longer wants the rest of ours (RFC 9113 §8.1, a
    /// complete response followed by RST_STREAM(NO_ERROR)). Without our END_STREAM queued,
    /// this is a plain `reset`.
    pub fn reset_after_end(&mut self, stream: StreamId, code: ErrorCode) {
        let Some(key) = self.streams.find(stream) else {
            return;
        };
        let s = live!(self, key, "a found stream is in the store");
        match s.state() {
            State::Closed
            | State::Reset(_)
            | State::ErrorPending(_)
            | State::ClosingWithReset(_) => {}
            State::HalfClosedLocal => {
                s.apply_always(Input::ResetAfterEnd(code));
                self.maybe_free(key);
            }
            State::Idle | State::Open | State::HalfClosedRemote => self.reset(stream, code),
        }
    }

    /// The consumer passed on `n` bytes of this stream's DATA: the peer may send that much
    /// more. WINDOW_UPDATEs are batched until half a window is owed.
    pub fn release_capacity(&mut self, stream: StreamId, n: usize) {
        let Ok(n) = u32::try_from(n) else {
            self.broken("released credit fits a window");
            return;
        };
        if !self.conn_recv_window.release(n) {
            self.broken("credit released at most once per byte received");
            return;
        }
        let half = self.initial_window() / 2;
        let Some(key) = self.streams.find(stream) else {
            return;
        };
        let s = live!(self, key, "a found stream is in the store");
        // The stream's own window is released only while the peer may still use it.
        if !s.recv_window.release(n) {
            self.broken("stream credit released at most once per byte received");
            return;
        }
        if s.state().can_recv() && s.recv_window.released() >= half.max(1) {
            self.streams.enqueue(Queue::WindowUpdate, key);
        }
    }

    /// The other side of the relay is done with this stream: once closed here too, its
    /// slot is freed and it stops counting against concurrency. DATA that arrives for it
    /// afterwards is dropped, its credit given back by the connection. Give back the credit
    /// of the DATA still held (`release_capacity`) first, as the relay does: once the last
    /// stream is gone, the connection's audit expects every byte the peer sent back.
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
        self.streams.get(key).map(|s| s.state())
    }

    fn sendable(&self, stream: StreamId) -> Result<Key, SendError> {
        if self.lifecycle.is_failed() {
            return Err(SendError::ConnectionClosed);
        }
        let key = self.streams.find(stream).ok_or(SendError::UnknownStream)?;
        let s = self.streams.get(key).ok_or(SendError::UnknownStream)?;
        if !s.state().can_send() && s.state() != State::Idle {
            // Our END_STREAM may be queued already; anything after it is refused.
            return Err(SendError::NotSendable);
        }
        Ok(key)
    }

    /// True when `open_stream` would open a stream now: a backend that has the upstream's
    /// SETTINGS, below its MAX_CONCURRENT_STREAMS, and not going away.
    pub fn can_open_stream(&self) -> bool {
        self.side == Side::Backend
            && self.lifecycle == super::Lifecycle::Open
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
        if matches!(self.rx_state, super::demux::RxState::FirstSettings) {
            self.peer.max_concurrent_streams.min(100)
        } else {
            self.peer.max_concurrent_streams
        }
    }

    pub(super) fn remember_gone(&mut self, id: StreamId, how: Gone) {
        self.cold().recent.push(id, how);
    }

    pub(super) fn recently_gone(&self, id: StreamId) -> Option<Gone> {
        self.cold.as_ref()?.recent.find(id)
    }

    /// Frees the stream's slot once it is closed, written out and detached. Called after
    /// every write that may have finished a stream, so it also fires a deferred reset.
    pub(super) fn maybe_free(&mut self, key: Key) {
        let hwrite_here = self.hwrite.as_ref().is_some_and(|h| h.stream == key.id());
        let s = live!(self, key, "a stream to free is in the store");
        if let State::ClosingWithReset(_) = s.state() {
            if s.output_idle() && !hwrite_here {
                // Our END_STREAM is out: the deferred reset is due.
                s.apply_always(Input::EndWritten);
                self.streams.enqueue(Queue::Reset, key);
            }
            return;
        }
        if !s.state().is_closed() || s.attached {
            return;
        }
        if matches!(s.state(), State::ErrorPending(_)) || hwrite_here {
            return;
        }
        // Closed for the protocol can still mean output queued (our END_STREAM counts as
        // sent once queued): the slot stays until it is written.
        let reset = matches!(s.state(), State::Reset(_));
        if !reset && !s.output_idle() {
            return;
        }
        let id = s.id;
        self.streams.remove(key);
        if !reset {
            self.remember_gone(id, Gone::Closed);
        }
    }

    /// The peer's END_STREAM arrived on a live stream; false when the stream could not
    /// take it (a bug of ours: the caller checked `can_recv`).
    pub(super) fn recv_end(&mut self, key: Key) {
        let s = live!(self, key, "a stream ending is in the store");
        match s.apply(Input::Recv { end: true }) {
            Ok(_) => {
                s.recv_phase = crate::stream::RecvPhase::Done;
                self.maybe_free(key);
            }
            Err(Refused::PeerEnded | Refused::LocalEnded) => {
                self.broken("END_STREAM arrives only on a stream that can receive")
            }
        }
    }

    /// Marks a stream reset by the peer (or as good as: transport closed, refused by GOAWAY).
    pub(super) fn mark_reset(&mut self, key: Key, by: ResetBy) {
        let s = live!(self, key, "a stream being reset is in the store");
        s.drop_output();
        s.apply_always(match by {
            ResetBy::Peer => Input::RecvReset,
            ResetBy::Local => Input::Drop,
        });
    }
}
