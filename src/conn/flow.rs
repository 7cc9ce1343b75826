//! Flow control (RFC 9113 §5.2, §6.9): the send windows the peer's WINDOW_UPDATEs grow.
//! The windows themselves are `crate::flow` types; receive credit is taken where DATA
//! arrives and given back in `release_capacity`.

use super::Connection;
use crate::error::Violation;
use crate::stream::{Key, Queue, StreamId};

impl Connection {
    pub(super) fn grow_conn_send_window(&mut self, inc: u32) {
        if self.conn_send_window.grow(inc).is_err() {
            self.fail(Violation::ConnectionWindowOverflow.into());
            return;
        }
        if self.conn_send_window.available() > 0 {
            self.streams.move_all(Queue::ConnWindow, Queue::Send);
        }
    }

    pub(super) fn grow_stream_send_window(&mut self, key: Key, inc: u32) {
        let initial = self.peer.initial_window_size;
        let s = live!(self, key, "a live stream is in the store");
        if s.send_window.grow(inc, initial).is_err() {
            self.stream_error(key, Violation::StreamWindowOverflow);
            return;
        }
        if s.window_blocked && s.send_window.available(initial) > 0 {
            s.window_blocked = false;
            self.streams.enqueue(Queue::Send, key);
        }
    }

    /// The send window of a stream right now (may be negative).
    pub fn stream_send_window(&self, stream: StreamId) -> Option<i64> {
        let key = self.streams.find(stream)?;
        let s = self.streams.get(key)?;
        Some(s.send_window.available(self.peer.initial_window_size))
    }

    /// What we may still send on the connection before the peer's next WINDOW_UPDATE.
    pub fn conn_send_window(&self) -> i64 {
        self.conn_send_window.available()
    }

    /// What the peer may still send on the connection before we return credit.
    pub fn conn_recv_window(&self) -> i64 {
        self.conn_recv_window.available()
    }
}
