//! Conservation checks: what must balance once traffic ends. Tests, fuzz targets and debug
//! builds run them; they read state only.

use super::demux::RxState;
use super::Connection;

impl Connection {
    /// Receive credit the peer's DATA took and that was neither released nor announced
    /// back yet (connection level).
    pub fn recv_credit_outstanding(&self) -> i64 {
        self.conn_recv_window.outstanding()
    }

    /// Bytes of the DATA frame being read that have not arrived yet: their credit is
    /// taken when the frame header arrives, so they count as outstanding until then.
    pub fn recv_credit_in_flight(&self) -> i64 {
        match self.rx_state {
            RxState::Data { data_left, .. } => i64::from(data_left),
            // Waiting for the pad length: nothing of the frame was split yet.
            RxState::DataPad(h) => i64::from(h.len),
            _ => 0,
        }
    }

    /// Checks what must hold at any time: every stream key resolves to its own stream and
    /// the wait queues agree with the streams' flags; and once no stream is left, every
    /// byte of receive credit the peer used came back, at the connection and (for streams
    /// still open) at the stream level, apart from a DATA frame still arriving.
    pub fn audit(&self) -> Result<(), &'static str> {
        self.streams.check()?;
        if self.lifecycle.is_failed() {
            // Nothing is read or returned any more.
            return Ok(());
        }
        let owed_by_streams: i64 = self
            .streams
            .iter()
            .map(|s| s.recv_window.outstanding())
            .sum();
        if self.streams.is_empty() && self.recv_credit_outstanding() != self.recv_credit_in_flight()
        {
            return Err("connection credit used by the peer did not all come back");
        }
        if owed_by_streams < 0 || self.recv_credit_outstanding() < 0 {
            return Err("more credit came back than the peer used");
        }
        Ok(())
    }
}
