//! The peer's SETTINGS (RFC 9113 §6.5) and what applying them changes.

use super::Connection;
use crate::error::Violation;
use crate::frame::{self, setting};
use crate::side::Side;
use crate::stream::Queue;

/// The peer's settings as last received (RFC defaults until then).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSettings {
    /// SETTINGS_HEADER_TABLE_SIZE: the largest dynamic table our HPACK encoder may use.
    pub header_table_size: u32,
    /// SETTINGS_ENABLE_PUSH; a backend refuses an upstream that sets it (§6.5.2).
    pub enable_push: bool,
    /// SETTINGS_MAX_CONCURRENT_STREAMS: streams we may have open towards the peer.
    pub max_concurrent_streams: u32,
    /// SETTINGS_INITIAL_WINDOW_SIZE: the base of every stream's send window (§6.9.2).
    pub initial_window_size: u32,
    /// SETTINGS_MAX_FRAME_SIZE: the largest payload we may send.
    pub max_frame_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE, if the peer sent one (advisory).
    pub max_header_list_size: Option<u32>,
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441): extended CONNECT allowed.
    pub enable_connect_protocol: bool,
}

impl Default for PeerSettings {
    fn default() -> PeerSettings {
        PeerSettings {
            header_table_size: 4096,
            enable_push: true,
            // Unlimited until the peer says otherwise (§6.5.2); 100 is the floor it SHOULD allow.
            max_concurrent_streams: u32::MAX,
            initial_window_size: frame::DEFAULT_WINDOW,
            max_frame_size: frame::DEFAULT_MAX_FRAME_SIZE,
            max_header_list_size: None,
            enable_connect_protocol: false,
        }
    }
}

impl Connection {
    pub(super) fn apply_peer_settings(&mut self, payload: &[u8]) -> Result<(), Violation> {
        for (id, value) in frame::settings_entries(payload) {
            frame::check_setting(id, value)?;
            match id {
                setting::HEADER_TABLE_SIZE => {
                    let lower = value < self.peer.header_table_size;
                    self.peer.header_table_size = value;
                    // A dip must be signalled even if the size rises again before the first
                    // block (RFC 7541 §4.2): only a live encoder remembers it.
                    if lower || self.encoder.is_some() {
                        self.encoder().set_peer_max_table_size(value);
                    }
                }
                setting::ENABLE_PUSH => {
                    if self.side == Side::Backend && value != 0 {
                        return Err(Violation::ServerEnabledPush);
                    }
                    self.peer.enable_push = value == 1;
                }
                setting::MAX_CONCURRENT_STREAMS => self.peer.max_concurrent_streams = value,
                setting::INITIAL_WINDOW_SIZE => self.set_peer_initial_window(value)?,
                setting::MAX_FRAME_SIZE => self.peer.max_frame_size = value,
                setting::MAX_HEADER_LIST_SIZE => self.peer.max_header_list_size = Some(value),
                setting::ENABLE_CONNECT_PROTOCOL => self.peer.enable_connect_protocol = value == 1,
                _ => {}
            }
        }
        Ok(())
    }

    /// A new SETTINGS_INITIAL_WINDOW_SIZE moves every stream's send window by the difference
    /// (§6.9.2); windows may go negative, and one pushed past 2^31-1 is a connection error.
    fn set_peer_initial_window(&mut self, value: u32) -> Result<(), Violation> {
        if self
            .streams
            .iter()
            .any(|s| s.send_window.overflows_with(value))
        {
            return Err(Violation::InitialWindowOverflow);
        }
        let grew = value > self.peer.initial_window_size;
        self.peer.initial_window_size = value;
        if grew {
            for k in self.streams.keys() {
                let unblock = self.streams.get_mut(k).is_some_and(|s| {
                    let was = s.window_blocked;
                    if s.send_window.available(value) > 0 {
                        s.window_blocked = false;
                    }
                    was && !s.window_blocked
                });
                if unblock {
                    self.streams.enqueue(Queue::Send, k);
                }
            }
        }
        Ok(())
    }
}
