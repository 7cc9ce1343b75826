//! Flow-control windows (RFC 9113 §5.2, §6.9) as types: every change of a window goes
//! through one of these methods, so the arithmetic and its limits live in one place.
//!
//! A receive window is credit we gave the peer; a send window is credit the peer gave us.
//! Receive credit is conserved: every byte the peer sends is taken from the window and must
//! come back, released by the owner (or by us, for bytes nobody will read) and then
//! announced with WINDOW_UPDATE. `RecvWindow::outstanding` is what is still out.

use crate::frame::MAX_WINDOW;

/// Credit pushed past 2^31-1 (§6.9.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowOverflow;

/// Credit we give the peer: what it may still send, and what was released and not yet
/// announced. Never above the configured size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecvWindow {
    /// What the peer may still send.
    available: i32,
    /// Released by the owner, to be announced.
    released: u32,
    /// The window's full size (what we advertised).
    size: u32,
}

impl RecvWindow {
    /// A full window of `size` bytes (clamped to 2^31-1).
    pub fn new(size: u32) -> RecvWindow {
        let size = size.min(MAX_WINDOW);
        RecvWindow {
            available: size as i32,
            released: 0,
            size,
        }
    }

    /// The window grows by `n` (we advertised more): the peer may send that much more.
    pub fn grow(&mut self, n: u32) {
        let n = n.min(MAX_WINDOW - self.size);
        self.size += n;
        self.available = self.available.saturating_add(n as i32);
    }

    /// What the peer may still send.
    pub fn available(&self) -> i64 {
        i64::from(self.available)
    }

    /// Credit released and not yet announced.
    pub fn released(&self) -> u32 {
        self.released
    }

    /// Bytes the peer sent that are neither released nor announced back yet.
    pub fn outstanding(&self) -> i64 {
        i64::from(self.size) - i64::from(self.available) - i64::from(self.released)
    }

    /// The peer sent `n` bytes: false, changing nothing, when that is beyond its credit.
    #[must_use]
    pub fn take(&mut self, n: u32) -> bool {
        if i64::from(n) > i64::from(self.available) {
            return false;
        }
        self.available -= n as i32;
        true
    }

    /// `n` bytes taken earlier were passed on (or dropped): their credit may go back.
    /// False, changing nothing, when that is more than was taken (a bookkeeping bug).
    #[must_use]
    pub fn release(&mut self, n: u32) -> bool {
        if i64::from(n) > self.outstanding() {
            return false;
        }
        self.released += n;
        true
    }

    /// Announces the released credit once at least `threshold` (at least 1) is owed:
    /// the increment for a WINDOW_UPDATE.
    pub fn announce(&mut self, threshold: u32) -> Option<u32> {
        if self.released == 0 || self.released < threshold {
            return None;
        }
        let inc = self.released;
        self.available += inc as i32;
        self.released = 0;
        Some(inc)
    }
}

/// Credit the peer gave us on the connection: never negative (SETTINGS do not move it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnSendWindow(i32);

impl ConnSendWindow {
    /// A window of `initial` credit, capped at 2^31-1.
    pub fn new(initial: u32) -> ConnSendWindow {
        ConnSendWindow(initial.min(MAX_WINDOW) as i32)
    }

    /// Credit left to send DATA on the connection.
    pub fn available(&self) -> i64 {
        i64::from(self.0)
    }

    /// A WINDOW_UPDATE of `inc` arrived.
    pub fn grow(&mut self, inc: u32) -> Result<(), WindowOverflow> {
        let w = i64::from(self.0) + i64::from(inc);
        if w > i64::from(MAX_WINDOW) {
            return Err(WindowOverflow);
        }
        self.0 = w as i32;
        Ok(())
    }

    /// We wrote `n` bytes of DATA: false, changing nothing, when that is beyond the credit.
    #[must_use]
    pub fn consume(&mut self, n: usize) -> bool {
        match i32::try_from(n) {
            Ok(n) if n <= self.0 => {
                self.0 -= n;
                true
            }
            _ => false,
        }
    }
}

/// A stream's send window, kept as a delta from the peer's SETTINGS_INITIAL_WINDOW_SIZE so
/// that a change of that setting moves every stream's window at once (§6.9.2); the window
/// may then be negative.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamSendWindow {
    delta: i64,
}

impl StreamSendWindow {
    /// The window given the peer's initial window size.
    pub fn available(&self, peer_initial: u32) -> i64 {
        i64::from(peer_initial) + self.delta
    }

    /// True when a new initial window size would push this window past 2^31-1.
    pub fn overflows_with(&self, peer_initial: u32) -> bool {
        self.available(peer_initial) > i64::from(MAX_WINDOW)
    }

    /// A WINDOW_UPDATE of `inc` arrived for this stream.
    pub fn grow(&mut self, inc: u32, peer_initial: u32) -> Result<(), WindowOverflow> {
        if self.available(peer_initial) + i64::from(inc) > i64::from(MAX_WINDOW) {
            return Err(WindowOverflow);
        }
        self.delta += i64::from(inc);
        Ok(())
    }

    /// We wrote `n` bytes of DATA: false, changing nothing, when that is beyond the credit.
    #[must_use]
    pub fn consume(&mut self, n: usize, peer_initial: u32) -> bool {
        match i64::try_from(n) {
            Ok(n) if n <= self.available(peer_initial) => {
                self.delta -= n;
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receive_credit_is_conserved() {
        let mut w = RecvWindow::new(100);
        assert!(w.take(60));
        assert!(!w.take(41), "beyond the credit");
        assert_eq!((w.available(), w.outstanding()), (40, 60));
        assert!(w.release(50));
        assert!(!w.release(11), "more than was taken");
        assert_eq!(w.announce(51), None);
        assert_eq!(w.announce(50), Some(50));
        assert_eq!((w.available(), w.outstanding(), w.released()), (90, 10, 0));
        assert!(w.release(10));
        assert_eq!(w.announce(0), Some(10));
        assert_eq!(w.announce(0), None, "nothing owed");
        assert_eq!((w.available(), w.outstanding()), (100, 0));
        assert_eq!(RecvWindow::new(u32::MAX).available(), i64::from(MAX_WINDOW));
    }

    #[test]
    fn send_windows_stop_at_their_limits() {
        let mut c = ConnSendWindow::new(10);
        assert!(!c.consume(11));
        assert!(c.consume(10));
        assert_eq!(c.available(), 0);
        assert_eq!(c.grow(MAX_WINDOW), Ok(()));
        assert_eq!(c.grow(1), Err(WindowOverflow));

        let mut s = StreamSendWindow::default();
        assert!(s.consume(100, 100));
        assert!(!s.consume(1, 100));
        // The peer lowers its initial window: the window goes negative, then recovers.
        assert_eq!(s.available(50), -50);
        assert_eq!(s.grow(60, 50), Ok(()));
        assert_eq!(s.available(50), 10);
        assert!(!s.overflows_with(MAX_WINDOW + 40));
        assert!(s.overflows_with(MAX_WINDOW + 41));
        assert_eq!(s.grow(MAX_WINDOW - 9, 50), Err(WindowOverflow));
        assert_eq!(s.grow(MAX_WINDOW - 10, 50), Ok(()));
    }
}
