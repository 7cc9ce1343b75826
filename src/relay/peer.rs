//! One side of the relay, whichever HTTP version it speaks: the relay moves the same events
//! and calls the same methods on both, and only what exists in one version (doorbells,
//! SETTINGS, the pool's buffers) asks which.

use bytes::Bytes;

use crate::buffer::BufferPool;
use crate::conn::{ConnStats, Connection, Event, Note, SendError};
use crate::error::{ConnError, ErrorCode};
use crate::h1::H1Conn;
use crate::message::{Fields, Message};
use crate::stream::{State, StreamId};
use crate::time::Instant;

/// A connection of the relay: HTTP/2 or HTTP/1.1.
// Both inline: a connection is one allocation (a box more would cost an idle HTTP/2
// connection its 1 KiB budget), and an HTTP/1.1 side takes the room an HTTP/2 one would.
#[allow(clippy::large_enum_variant)]
pub enum Peer {
    /// HTTP/2 (RFC 9113).
    H2(Connection),
    /// HTTP/1.1 (RFC 9112).
    H1(H1Conn),
}

macro_rules! both {
    ($self:ident, $c:ident => $e:expr) => {
        match $self {
            Peer::H2($c) => $e,
            Peer::H1($c) => $e,
        }
    };
}

impl Peer {
    /// The HTTP/2 connection, when this side speaks HTTP/2.
    pub fn h2(&self) -> Option<&Connection> {
        match self {
            Peer::H2(c) => Some(c),
            Peer::H1(_) => None,
        }
    }

    /// The HTTP/1.1 connection, when this side speaks HTTP/1.1.
    pub fn h1(&self) -> Option<&H1Conn> {
        match self {
            Peer::H2(_) => None,
            Peer::H1(c) => Some(c),
        }
    }

    /// The limits this side runs under.
    pub fn config(&self) -> &crate::limits::Config {
        both!(self, c => c.config())
    }

    /// This side speaks HTTP/1.1.
    pub fn is_h1(&self) -> bool {
        matches!(self, Peer::H1(_))
    }

    /// Counters for metrics.
    pub fn stats(&self) -> &ConnStats {
        both!(self, c => c.stats())
    }

    /// Why the connection ended with an error, if it did.
    pub fn error(&self) -> Option<ConnError> {
        both!(self, c => c.error())
    }

    /// An HTTP/1.x peer reached an HTTP/2-only connection.
    pub fn peer_is_http1(&self) -> bool {
        match self {
            // With HTTP/1.1 accepted, such a client was given to the HTTP/1.1 side: what is
            // left here is no HTTP at all, and gets the GOAWAY.
            Peer::H2(c) => c.peer_is_http1() && !c.config().http1,
            Peer::H1(_) => false,
        }
    }

    /// Glitch points (HTTP/2 only).
    pub fn glitch_total(&self) -> u64 {
        match self {
            Peer::H2(c) => c.glitch_total(),
            Peer::H1(_) => 0,
        }
    }

    /// Live streams.
    pub fn stream_count(&self) -> usize {
        both!(self, c => c.stream_count())
    }

    /// Body bytes the peer sent that the owner has not given back.
    pub fn recv_credit_outstanding(&self) -> i64 {
        both!(self, c => c.recv_credit_outstanding())
    }

    /// Credit of a DATA frame still arriving (HTTP/2 only).
    pub fn recv_credit_in_flight(&self) -> i64 {
        match self {
            Peer::H2(c) => c.recv_credit_in_flight(),
            Peer::H1(_) => 0,
        }
    }

    pub(crate) fn audit(&self) -> Result<(), &'static str> {
        both!(self, c => c.audit())
    }

    pub(crate) fn record_notes(&mut self) {
        both!(self, c => c.record_notes())
    }

    pub(crate) fn take_notes(&mut self) -> Vec<Note> {
        both!(self, c => c.take_notes())
    }

    pub(crate) fn trim(&mut self) -> bool {
        both!(self, c => c.trim())
    }

    pub(crate) fn park_output(&mut self, pool: &mut BufferPool) {
        if let Peer::H2(c) = self {
            c.park_output(pool);
        }
    }

    pub(crate) fn buffers_held(&self) -> usize {
        match self {
            Peer::H2(c) => c.buffers_held(),
            Peer::H1(_) => 0,
        }
    }

    pub(crate) fn set_reserve_ok(&mut self, ok: bool) {
        if let Peer::H2(c) = self {
            c.set_reserve_ok(ok);
        }
    }

    pub(crate) fn recv(&mut self, pool: &mut BufferPool, bytes: &Bytes, now: Instant) -> usize {
        match self {
            Peer::H2(c) => c.recv(pool, bytes, now),
            Peer::H1(c) => c.recv(bytes, now),
        }
    }

    pub(crate) fn recv_eof(&mut self, now: Instant) {
        both!(self, c => c.recv_eof(now))
    }

    pub(crate) fn drain_output(
        &mut self,
        pool: &mut BufferPool,
        out: &mut Vec<u8>,
        now: Instant,
    ) -> usize {
        match self {
            Peer::H2(c) => c.drain_output(pool, out, usize::MAX, now),
            Peer::H1(c) => c.drain_output(out),
        }
    }

    /// Output waits (or work that makes some).
    pub fn has_output(&self) -> bool {
        both!(self, c => c.has_output())
    }

    /// Bytes sit in the connection's transmit buffer.
    pub fn output_pending(&self) -> bool {
        match self {
            Peer::H2(c) => !c.output().is_empty(),
            Peer::H1(c) => c.has_output(),
        }
    }

    pub(crate) fn has_stream_output(&self) -> bool {
        match self {
            Peer::H2(c) => c.has_stream_output(),
            Peer::H1(c) => c.has_output(),
        }
    }

    pub(crate) fn has_events(&self) -> bool {
        both!(self, c => c.has_events())
    }

    pub(crate) fn poll_event(&mut self) -> Option<Event> {
        both!(self, c => c.poll_event())
    }

    pub(crate) fn flush(&mut self, pool: &mut BufferPool, now: Instant) {
        if let Peer::H2(c) = self {
            c.flush(pool, now);
        }
    }

    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        both!(self, c => c.handle_timeout(now))
    }

    pub(crate) fn next_timeout(&self) -> Option<Instant> {
        both!(self, c => c.next_timeout())
    }

    pub(crate) fn on_buffer_available(&mut self, pool: &mut BufferPool, now: Instant) {
        if let Peer::H2(c) = self {
            c.on_buffer_available(pool, now);
        }
    }

    pub(crate) fn is_waiting_for_buffer(&self) -> bool {
        match self {
            Peer::H2(c) => c.is_waiting_for_buffer(),
            Peer::H1(_) => false,
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        both!(self, c => c.is_done())
    }

    pub(crate) fn is_done_but_output(&self) -> bool {
        both!(self, c => c.is_done_but_output())
    }

    pub(crate) fn release(&mut self, pool: &mut BufferPool) {
        if let Peer::H2(c) = self {
            c.release(pool);
        }
    }

    pub(crate) fn goaway(&mut self, code: ErrorCode, reason: &'static str) {
        both!(self, c => c.goaway(code, reason))
    }

    /// A graceful shutdown: HTTP/2 sends GOAWAY and lets open streams finish (RFC 9113
    /// §6.8); HTTP/1.1 reads no new request and closes after the answers under way.
    pub(crate) fn shutdown(&mut self, now: Instant) {
        match self {
            Peer::H2(c) => c.shutdown(now),
            Peer::H1(c) => c.goaway(ErrorCode::NoError, "shutting down"),
        }
    }

    pub(crate) fn goaway_with_last(
        &mut self,
        last: StreamId,
        code: ErrorCode,
        reason: &'static str,
        now: Instant,
    ) {
        match self {
            Peer::H2(c) => c.goaway_with_last(last, code, reason, now),
            Peer::H1(c) => c.goaway_with_last(last, code, reason),
        }
    }

    pub(crate) fn open_stream(&mut self, m: Message, end: bool) -> Result<StreamId, SendError> {
        both!(self, c => c.open_stream(m, end))
    }

    pub(crate) fn can_open_stream(&self) -> bool {
        both!(self, c => c.can_open_stream())
    }

    pub(crate) fn send_headers(
        &mut self,
        s: StreamId,
        m: Message,
        end: bool,
    ) -> Result<(), SendError> {
        both!(self, c => c.send_headers(s, m, end))
    }

    pub(crate) fn send_data(&mut self, s: StreamId, d: Bytes, end: bool) -> Result<(), SendError> {
        both!(self, c => c.send_data(s, d, end))
    }

    pub(crate) fn send_trailers(&mut self, s: StreamId, f: Fields) -> Result<(), SendError> {
        both!(self, c => c.send_trailers(s, f))
    }

    pub(crate) fn reset(&mut self, s: StreamId, code: ErrorCode) {
        both!(self, c => c.reset(s, code))
    }

    pub(crate) fn reset_after_end(&mut self, s: StreamId, code: ErrorCode) {
        both!(self, c => c.reset_after_end(s, code))
    }

    pub(crate) fn release_capacity(&mut self, s: StreamId, n: usize) {
        both!(self, c => c.release_capacity(s, n))
    }

    pub(crate) fn detach(&mut self, s: StreamId) {
        both!(self, c => c.detach(s))
    }

    pub(crate) fn stream_state(&self, s: StreamId) -> Option<State> {
        both!(self, c => c.stream_state(s))
    }

    // ----- HTTP/2 only: doorbells and SETTINGS -----------------------------------------

    pub(crate) fn settings_unacked(&self) -> u32 {
        match self {
            Peer::H2(c) => c.settings_unacked(),
            Peer::H1(_) => 0,
        }
    }

    pub(crate) fn preface_sent(&self) -> bool {
        match self {
            Peer::H2(c) => c.preface_sent(),
            Peer::H1(_) => false,
        }
    }

    pub(crate) fn header_block_open(&self) -> bool {
        match self {
            Peer::H2(c) => c.header_block_open(),
            Peer::H1(_) => false,
        }
    }
}
