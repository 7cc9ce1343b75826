//! Control frames from the peer: SETTINGS, PING, GOAWAY, RST_STREAM, WINDOW_UPDATE, PRIORITY.
//! Replies that must be written in place (ACKs) were given tx room before the frame was
//! consumed.

use bytes::Bytes;

use super::demux::Lookup;
use super::lifecycle::SHUTDOWN_PING;
use super::{Connection, Event, Gone, Lifecycle, Note};
use crate::error::{ErrorCode, Violation};
use crate::frame::{self, flags, FrameHeader};
use crate::limits::Glitch;
use crate::side::Side;
use crate::stream::{ResetBy, State};

impl Connection {
    // ----- Control frames ------------------------------------------------------------------

    pub(super) fn on_settings(&mut self, h: FrameHeader, p: &Bytes) {
        self.stats.settings_received = self.stats.settings_received.saturating_add(1);
        if h.has(flags::ACK) {
            self.settings_acked();
            return;
        }
        self.glitch(Glitch::ControlFrame);
        if self.lifecycle.is_failed() {
            return;
        }
        if p.len() / 6 > self.cfg.max_settings_entries {
            self.fail(Violation::TooManySettingsEntries.into());
            return;
        }
        if let Err(v) = self.apply_peer_settings(p) {
            self.fail(v.into());
            return;
        }
        if let Some(tx) = self.tx.as_mut() {
            frame::write_settings_ack(tx.writer());
        }
        self.events.push_back(Event::PeerSettings {
            max_concurrent_streams: self.peer.max_concurrent_streams,
        });
    }

    pub(super) fn on_ping(&mut self, h: FrameHeader, p: &Bytes) {
        self.stats.pings_received = self.stats.pings_received.saturating_add(1);
        let Some(data) = frame::parse_ping(p) else {
            self.broken("a validated PING has 8 bytes");
            return;
        };
        if h.has(flags::ACK) {
            if data == SHUTDOWN_PING && self.lifecycle == Lifecycle::Draining {
                self.finish_shutdown();
            } else {
                self.events.push_back(Event::PingAck { payload: data });
            }
            return;
        }
        self.glitch(Glitch::ControlFrame);
        if self.lifecycle.is_failed() {
            return;
        }
        if let Some(tx) = self.tx.as_mut() {
            frame::write_ping(tx.writer(), true, data);
        }
    }

    pub(super) fn on_goaway(&mut self, p: &Bytes) {
        let Some(g) = frame::parse_goaway(p) else {
            self.broken("a validated GOAWAY has 8 bytes or more");
            return;
        };
        self.stats.goaways_received = self.stats.goaways_received.saturating_add(1);
        self.note(Note::GoAwayReceived(g.code));
        log::debug!(
            "{} GOAWAY received: last {} code {}",
            self.side.name(),
            g.last_stream,
            g.code
        );
        let last = g.last_stream;
        let code = g.code;
        let debug = p.slice_ref(g.debug);
        self.peer_going_away(last);
        self.events.push_back(Event::GoAway {
            last_stream: last,
            code,
            debug,
        });
        if self.side == Side::Backend {
            // Streams above the last id were not processed: safe to retry elsewhere.
            for k in self.streams.keys() {
                let refused = k.id() > last
                    && self
                        .streams
                        .get(k)
                        .is_some_and(|s| !matches!(s.state(), State::Reset(_)));
                if refused {
                    self.mark_reset(k, ResetBy::Local);
                    self.events.push_back(Event::Reset {
                        stream: k.id(),
                        code: ErrorCode::RefusedStream,
                        remote: true,
                    });
                    self.maybe_free(k);
                }
            }
        }
    }

    pub(super) fn on_rst_stream(&mut self, h: FrameHeader, p: &Bytes) {
        let Some(code) = frame::parse_rst_stream(p) else {
            self.broken("a validated RST_STREAM has 4 bytes");
            return;
        };
        self.stats.resets_received = self.stats.resets_received.saturating_add(1);
        self.note(Note::ResetReceived(code));
        match self.lookup(h.stream) {
            Lookup::Idle => self.fail(Violation::RstStreamOnIdleStream.into()),
            Lookup::Closed(_) => {}
            Lookup::Live(key) => {
                let frontend = self.side == Side::Frontend;
                let s = live!(self, key, "a live stream is in the store");
                if matches!(s.state(), State::Reset(_)) {
                    return;
                }
                let early = frontend && !s.responded;
                self.mark_reset(key, ResetBy::Peer);
                let id = key.id();
                self.events.push_back(Event::Reset {
                    stream: id,
                    code,
                    remote: true,
                });
                self.remember_gone(id, Gone::Closed);
                if early {
                    self.glitch(Glitch::EarlyReset);
                }
                self.maybe_free(key);
            }
        }
    }

    pub(super) fn on_window_update(&mut self, h: FrameHeader, p: &Bytes) {
        let Some(inc) = frame::parse_window_update(p) else {
            self.broken("a validated WINDOW_UPDATE has 4 bytes");
            return;
        };
        if h.stream.is_zero() {
            if inc == 0 {
                self.fail(Violation::ZeroConnectionWindowUpdate.into());
                return;
            }
            self.grow_conn_send_window(inc);
            return;
        }
        match self.lookup(h.stream) {
            Lookup::Idle => self.fail(Violation::WindowUpdateOnIdleStream.into()),
            Lookup::Closed(_) => {}
            Lookup::Live(key) => {
                if inc == 0 {
                    self.stream_error(key, Violation::ZeroWindowUpdate);
                    return;
                }
                if inc < 32 {
                    self.glitch(Glitch::TinyWindowUpdate);
                }
                self.grow_stream_send_window(key, inc);
            }
        }
    }

    pub(super) fn on_priority(&mut self, h: FrameHeader, p: &Bytes) {
        // Priorities are ignored (RFC 9113 §5.3.2), but a self-dependency is still an error.
        let Some(pr) = frame::parse_priority(p) else {
            self.broken("a validated PRIORITY has 5 bytes");
            return;
        };
        if pr.dependency == h.stream {
            match self.lookup(h.stream) {
                Lookup::Live(key) => self.stream_error(key, Violation::SelfDependency),
                Lookup::Closed(_) => self.stream_error_id(h.stream, Violation::SelfDependency),
                // RST_STREAM may not be sent on an idle stream (§6.4): the connection pays.
                Lookup::Idle => self.fail(Violation::SelfDependency.into()),
            }
        }
    }
}
