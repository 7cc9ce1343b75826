//! How a connection ends: graceful shutdown (§6.8), the peer's GOAWAY, connection errors
//! (§5.4.1), broken invariants of our own, and the timers that drive them.

use super::timer::Timer;
use super::{demux, Connection, Event, Note};
use crate::error::{ConnError, ErrorCode, Violation};
use crate::invariant;
use crate::limits::{Glitch, GlitchVerdict};
use crate::side::Side;
use crate::stream::{Input, Queue, StreamId};
use crate::time::Instant;

/// Where a connection is in its life. Later states win: a connection that failed stays
/// failed, one that sent its final GOAWAY never goes back to draining.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifecycle {
    /// Streams come and go.
    Open,
    /// The peer sent GOAWAY naming this last stream (the lowest of its GOAWAYs): we open
    /// no more streams; the ones it processed finish.
    PeerGoingAway(StreamId),
    /// Our first GOAWAY (2^31-1) and a PING are out; the real last id follows once the PING
    /// comes back, one round trip later (§6.8). Frontend only.
    Draining,
    /// Our final GOAWAY names this last stream; the connection ends when the streams do.
    Closing(StreamId),
    /// A connection error: GOAWAY with its code is written or queued, nothing is read.
    Failed(ConnError),
}

impl Lifecycle {
    /// New streams may still come (from the peer, or from us).
    pub fn is_running(self) -> bool {
        matches!(self, Lifecycle::Open | Lifecycle::PeerGoingAway(_))
    }

    /// A connection error ended this connection.
    pub fn is_failed(self) -> bool {
        matches!(self, Lifecycle::Failed(_))
    }
}

/// The opaque data of our shutdown PING.
pub(super) const SHUTDOWN_PING: [u8; 8] = *b"h2mux-sd";

impl Connection {
    /// Where this connection is in its life.
    pub fn lifecycle(&self) -> Lifecycle {
        self.lifecycle
    }

    /// The error that ended this connection, if any.
    pub fn error(&self) -> Option<ConnError> {
        match self.lifecycle {
            Lifecycle::Failed(e) => Some(e),
            _ => None,
        }
    }

    /// The peer spoke HTTP/1.x (a client without the preface, or an upstream answering
    /// HTTP/1.x): the host may answer in kind instead of with a GOAWAY it cannot read.
    pub fn peer_is_http1(&self) -> bool {
        matches!(
            self.error(),
            Some(ConnError::Violation(
                Violation::Http1Request | Violation::Http1Response
            ))
        )
    }

    /// True once nothing more will happen: the connection failed or finished its shutdown,
    /// and its output is out. The caller then closes the transport.
    pub fn is_done(&self) -> bool {
        if !self.output().is_empty() || self.hwrite.is_some() || self.goaway_pending() {
            return false;
        }
        self.is_done_but_output()
    }

    /// True once nothing more will happen but writing what is queued: a host that may not
    /// be able to write it (a peer that cannot be reached) gives it a grace period.
    pub fn is_done_but_output(&self) -> bool {
        let drained = self.streams.is_empty();
        match self.lifecycle {
            Lifecycle::Failed(_) => true,
            Lifecycle::Closing(_) if drained => true,
            _ if self.timers.expired(Timer::Shutdown, self.now) => true,
            Lifecycle::PeerGoingAway(_) => drained && self.side == Side::Backend,
            _ => false,
        }
    }

    /// Starts a graceful shutdown: no new streams, open ones finish (§6.8).
    pub fn shutdown(&mut self, now: Instant) {
        self.now = now;
        if !self.lifecycle.is_running() {
            return;
        }
        self.timers
            .arm(Timer::Shutdown, now.after(self.cfg.shutdown_timeout_ms));
        match self.side {
            Side::Frontend => {
                self.lifecycle = Lifecycle::Draining;
                self.queue_goaway(StreamId::MAX, ErrorCode::NoError, "shutting down");
                self.ping_pending = Some(SHUTDOWN_PING);
            }
            Side::Backend => {
                // A client has no peer-initiated streams to wait for.
                self.lifecycle = Lifecycle::Closing(StreamId::ZERO);
                self.queue_goaway(StreamId::ZERO, ErrorCode::NoError, "shutting down");
            }
        }
    }

    /// The second step of a graceful shutdown: the real last stream id.
    pub(super) fn finish_shutdown(&mut self) {
        let last = self.last_peer_stream;
        self.lifecycle = Lifecycle::Closing(last);
        self.queue_goaway(last, ErrorCode::NoError, "shutting down");
    }

    /// Ends the connection now with GOAWAY carrying `code` (an immediate shutdown).
    pub fn goaway(&mut self, code: ErrorCode, reason: &'static str) {
        self.fail(ConnError::Local(code, reason));
    }

    /// Ends the connection with a single GOAWAY naming `last` (a relay knows which streams
    /// the other side processed). NO_ERROR lets streams up to `last` finish; any other code
    /// is a connection error.
    pub fn goaway_with_last(
        &mut self,
        last: StreamId,
        code: ErrorCode,
        reason: &'static str,
        now: Instant,
    ) {
        self.now = now;
        if self.lifecycle.is_failed() {
            return;
        }
        if code != ErrorCode::NoError {
            self.fail_naming(ConnError::Local(code, reason), last);
            return;
        }
        if matches!(self.lifecycle, Lifecycle::Closing(_)) {
            return;
        }
        self.lifecycle = Lifecycle::Closing(last);
        self.timers
            .arm(Timer::Shutdown, now.after(self.cfg.shutdown_timeout_ms));
        self.ping_pending = None;
        self.queue_goaway(last, code, reason);
    }

    /// The peer sent GOAWAY naming `last`.
    pub(super) fn peer_going_away(&mut self, last: StreamId) {
        match self.lifecycle {
            Lifecycle::Open => self.lifecycle = Lifecycle::PeerGoingAway(last),
            Lifecycle::PeerGoingAway(l) => self.lifecycle = Lifecycle::PeerGoingAway(l.min(last)),
            // Our own shutdown or failure already stops new streams.
            Lifecycle::Draining | Lifecycle::Closing(_) | Lifecycle::Failed(_) => {}
        }
    }

    /// A connection error (§5.4.1): GOAWAY with the last stream we processed, stop reading,
    /// drop all stream output.
    pub(super) fn fail(&mut self, err: ConnError) {
        self.fail_naming(err, self.last_peer_stream);
    }

    /// `fail`, with the GOAWAY naming `last` (a relay knows which streams the other side
    /// processed).
    pub(super) fn fail_naming(&mut self, err: ConnError, last: StreamId) {
        if self.lifecycle.is_failed() {
            return;
        }
        let code = err.code();
        log::info!("{} connection error: {}", self.side.name(), err);
        if let Some(v) = err.violation() {
            self.note(Note::Violation(v));
        }
        self.lifecycle = Lifecycle::Failed(err);
        self.rx_state = demux::RxState::Failed;
        self.queue_goaway(last, code, err.reason());
        self.ping_pending = None;
        // A header block already open on the wire is still finished first (see `flush`):
        // the peer must be able to read our GOAWAY. One not started is dropped.
        if !self.header_block_open() {
            self.hwrite = None;
        }
        self.pending_resets.clear();
        for s in self.streams.iter_mut() {
            s.drop_output();
            s.apply_always(Input::Drop);
        }
        for q in Queue::ALL {
            while self.streams.pop(q).is_some() {}
        }
        self.events.push_back(Event::Failed { error: err });
    }

    /// One of our own invariants broke: loud in debug builds; in release builds this
    /// connection fails with INTERNAL_ERROR, and the rule is logged and counted.
    #[cold]
    #[inline(never)]
    pub(crate) fn broken(&mut self, rule: &'static str) {
        invariant::broken(rule);
        self.stats.internal_errors = self.stats.internal_errors.saturating_add(1);
        self.fail(ConnError::Internal(rule));
    }

    /// Queues a GOAWAY. A final one replaces a graceful one not yet written; the queue
    /// never holds more than two.
    pub(super) fn queue_goaway(&mut self, last: StreamId, code: ErrorCode, reason: &'static str) {
        let pending = &mut self.cold().goaway_pending;
        while pending.len() >= 2 {
            pending.pop_back();
        }
        pending.push_back((last, code, reason));
    }

    pub(super) fn glitch(&mut self, g: Glitch) {
        match self.glitches.add(g, self.now, &self.cfg) {
            GlitchVerdict::Fine => {}
            GlitchVerdict::Warn => {
                if self.lifecycle.is_running() {
                    log::info!(
                        "{} glitch score {}: asking the peer to go",
                        self.side.name(),
                        self.glitches.score()
                    );
                    self.shutdown(self.now);
                }
            }
            GlitchVerdict::Exceeded => self.fail(Violation::TooManyGlitches.into()),
        }
    }

    /// The earliest time `handle_timeout` has something to do.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.timers.next(|t| self.timer_applies(t))
    }

    /// The idle timer counts only while nothing else is going on.
    fn timer_applies(&self, t: Timer) -> bool {
        match t {
            Timer::SettingsAck | Timer::Shutdown => !self.lifecycle.is_failed(),
            Timer::Idle => self.lifecycle.is_running() && self.streams.is_empty(),
        }
    }

    /// Runs the timers due at `now`: SETTINGS ACK timeout, idle shutdown, end of draining.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.lifecycle.is_failed() {
            return;
        }
        if self.timers.expired(Timer::SettingsAck, now) {
            if self.rx_blocked.is_some() || !self.output().is_empty() || self.has_parked() {
                // The ACK may be in the bytes our own limits keep us from reading (no pool
                // buffer, no tx room), or our SETTINGS may not have left yet (the host has not
                // taken our output: under Envoy's rules bytes toward a peer wait for the other
                // peer's callback): the peer is not late, we are.
                self.timers
                    .arm(Timer::SettingsAck, now.after(self.cfg.settings_timeout_ms));
            } else {
                self.fail(Violation::SettingsTimeout.into());
                return;
            }
        }
        if self.timer_applies(Timer::Idle) && self.timers.expired(Timer::Idle, now) {
            log::debug!(
                "{} idle for {} ms: shutting down",
                self.side.name(),
                self.cfg.idle_timeout_ms
            );
            self.shutdown(now);
        }
        if self.lifecycle == Lifecycle::Draining && self.timers.expired(Timer::Shutdown, now) {
            self.finish_shutdown();
        }
    }

    /// Bytes came from the peer: the idle timer starts again.
    pub(super) fn activity(&mut self, now: Instant) {
        if self.cfg.idle_timeout_ms > 0 {
            self.timers
                .arm(Timer::Idle, now.after(self.cfg.idle_timeout_ms));
        }
    }

    /// The host wrote an empty SETTINGS frame on this connection's behalf (a doorbell that
    /// needs no buffer): its ACK must be expected like ours.
    pub fn note_settings_sent(&mut self, now: Instant) {
        self.now = now;
        self.settings_sent();
    }

    /// One more SETTINGS of ours awaits its ACK; the timer runs for the oldest.
    pub(super) fn settings_sent(&mut self) {
        if self.settings_unacked == 0 {
            self.timers.arm(
                Timer::SettingsAck,
                self.now.after(self.cfg.settings_timeout_ms),
            );
        }
        self.settings_unacked = self.settings_unacked.saturating_add(1);
    }

    /// The peer acknowledged one SETTINGS of ours.
    pub(super) fn settings_acked(&mut self) {
        // An ACK nobody asked for changes nothing (the count stays at zero).
        self.settings_unacked = self.settings_unacked.saturating_sub(1);
        if self.settings_unacked > 0 {
            self.timers.arm(
                Timer::SettingsAck,
                self.now.after(self.cfg.settings_timeout_ms),
            );
        } else {
            self.timers.disarm(Timer::SettingsAck);
        }
    }
}
