//! Control frames from the peer: SETTINGS, PING, GOAWAY, RST_STREAM, WINDOW_UPDATE, PRIORITY.
//! Replies that must be written in place (ACKs) were given tx room before the frame was
//! consumed.

use bytes::Bytes;

use super::demux::Lookup;
use super::{Connection, Event, Gone, Shutdown, SHUTDOWN_PING};
use crate::error::{ErrorCode, H2Error};
use crate::frame::{self, flags, FrameHeader};
use crate::limits::Glitch;
use crate::side::Side;
use crate::stream::State;

impl Connection {
    // ----- Control frames ------------------------------------------------------------------

    pub(super) fn on_settings(&mut self, h: FrameHeader, p: &Bytes) {
        self.stats.settings_received = self.stats.settings_received.saturating_add(1);
        if h.has(flags::ACK) {
            self.settings_unacked = self.settings_unacked.saturating_sub(1);
            self.settings_deadline = if self.settings_unacked > 0 {
                Some(self.now.after(self.cfg.settings_timeout_ms))
            } else {
                None
            }
            .into();
            return;
        }
        self.glitch(Glitch::ControlFrame);
        if self.failed.is_some() {
            return;
        }
        if p.len() / 6 > self.cfg.max_settings_entries {
            self.fail(H2Error::Connection(
                ErrorCode::EnhanceYourCalm,
                "too many SETTINGS entries",
            ));
            return;
        }
        if let Err(e) = self.apply_peer_settings(p) {
            self.fail(e);
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
            return;
        };
        if h.has(flags::ACK) {
            if data == SHUTDOWN_PING && self.shutdown == Shutdown::Draining {
                self.finish_shutdown();
            } else {
                self.events.push_back(Event::PingAck { payload: data });
            }
            return;
        }
        self.glitch(Glitch::ControlFrame);
        if self.failed.is_some() {
            return;
        }
        if let Some(tx) = self.tx.as_mut() {
            frame::write_ping(tx.writer(), true, data);
        }
    }

    pub(super) fn on_goaway(&mut self, p: &Bytes) {
        let Some(g) = frame::parse_goaway(p) else {
            return;
        };
        self.stats.goaways_received = self.stats.goaways_received.saturating_add(1);
        self.note(super::Note::GoAwayReceived(g.code));
        log::debug!(
            "{} GOAWAY received: last {} code {}",
            self.side.name(),
            g.last_stream,
            g.code
        );
        let last = g.last_stream;
        let code = g.code;
        let debug = p.slice_ref(g.debug);
        let recv = &mut self.cold().goaway_recv;
        *recv = Some(recv.map_or(last, |l| l.min(last)));
        self.events.push_back(Event::GoAway {
            last_stream: last,
            code,
            debug,
        });
        if self.side == Side::Backend {
            // Streams above the last id were not processed: safe to retry elsewhere.
            for k in self.streams.keys() {
                let Some(s) = self.streams.get_mut(k) else {
                    continue;
                };
                if s.id > last && !matches!(s.state, State::Reset) {
                    s.state = State::Reset;
                    s.drop_output();
                    let id = s.id;
                    self.events.push_back(Event::Reset {
                        stream: id,
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
            return;
        };
        self.stats.resets_received = self.stats.resets_received.saturating_add(1);
        self.note(super::Note::ResetReceived(code));
        match self.lookup(h.stream) {
            Lookup::Idle => self.fail(H2Error::Connection(
                ErrorCode::ProtocolError,
                "RST_STREAM on an idle stream",
            )),
            Lookup::Closed(_) => {}
            Lookup::Live(key) => {
                let Some(s) = self.streams.get_mut(key) else {
                    return;
                };
                if s.state == State::Reset {
                    return;
                }
                let early = self.side == Side::Frontend && !s.responded;
                s.state = State::Reset;
                s.peer_reset = true;
                s.drop_output();
                let id = s.id;
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
            return;
        };
        if h.stream.is_zero() {
            if inc == 0 {
                self.fail(H2Error::Connection(
                    ErrorCode::ProtocolError,
                    "WINDOW_UPDATE of 0 on the connection",
                ));
                return;
            }
            if let Err(e) = self.grow_conn_send_window(inc) {
                self.fail(e);
            }
            return;
        }
        match self.lookup(h.stream) {
            Lookup::Idle => self.fail(H2Error::Connection(
                ErrorCode::ProtocolError,
                "WINDOW_UPDATE on an idle stream",
            )),
            Lookup::Closed(_) => {}
            Lookup::Live(key) => {
                if inc == 0 {
                    self.stream_error(key, ErrorCode::ProtocolError, "WINDOW_UPDATE of 0");
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
            return;
        };
        if pr.dependency == h.stream {
            match self.lookup(h.stream) {
                Lookup::Live(key) => {
                    self.stream_error(key, ErrorCode::ProtocolError, "stream depends on itself")
                }
                Lookup::Closed(_) => self.stream_error_id(
                    h.stream,
                    ErrorCode::ProtocolError,
                    "stream depends on itself",
                ),
                // RST_STREAM may not be sent on an idle stream (§6.4): the connection pays.
                Lookup::Idle => self.fail(H2Error::Connection(
                    ErrorCode::ProtocolError,
                    "idle stream depends on itself",
                )),
            }
        }
    }
}
