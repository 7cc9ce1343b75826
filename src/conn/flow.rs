//! Flow control (RFC 9113 §5.2, §6.9): send windows grown by the peer's WINDOW_UPDATEs.
//! Receive windows are handled where DATA arrives and where credit is released.

use super::Connection;
use crate::error::{ErrorCode, H2Error};
use crate::frame;
use crate::stream::{Key, Queue};

impl Connection {
    pub(super) fn grow_conn_send_window(&mut self, inc: u32) -> Result<(), H2Error> {
        let w = i64::from(self.conn_send_window) + i64::from(inc);
        let Some(w) = i32::try_from(w)
            .ok()
            .filter(|&w| i64::from(w) <= i64::from(frame::MAX_WINDOW))
        else {
            return Err(H2Error::Connection(
                ErrorCode::FlowControlError,
                "connection window above 2^31-1",
            ));
        };
        self.conn_send_window = w;
        if w > 0 {
            self.streams.move_all(Queue::ConnWindow, Queue::Send);
        }
        Ok(())
    }

    pub(super) fn grow_stream_send_window(&mut self, key: Key, inc: u32) {
        let initial = self.peer.initial_window_size;
        let Some(s) = self.streams.get_mut(key) else {
            return;
        };
        let w = s.send_window(initial) + i64::from(inc);
        if w > i64::from(frame::MAX_WINDOW) {
            self.stream_error(
                key,
                ErrorCode::FlowControlError,
                "stream window above 2^31-1",
            );
            return;
        }
        s.send_delta += i64::from(inc);
        if s.window_blocked && w > 0 {
            s.window_blocked = false;
            self.streams.enqueue(Queue::Send, key);
        }
    }

    /// The send window of a stream right now (may be negative).
    pub fn stream_send_window(&self, stream: crate::stream::StreamId) -> Option<i64> {
        let key = self.streams.find(stream)?;
        let s = self.streams.get(key)?;
        Some(s.send_window(self.peer.initial_window_size))
    }

    pub fn conn_send_window(&self) -> i64 {
        i64::from(self.conn_send_window)
    }

    /// What the peer may still send on the connection before we return credit.
    pub fn conn_recv_window(&self) -> i64 {
        self.conn_recv_window
    }
}
