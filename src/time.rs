//! Time as the caller passes it in: the core never reads a clock.

/// Milliseconds since an origin the caller chooses (monotonic within one caller).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(pub u64);

impl Instant {
    /// The instant `ms` milliseconds after the caller's origin.
    pub fn from_millis(ms: u64) -> Instant {
        Instant(ms)
    }

    /// Milliseconds since the caller's origin.
    pub fn as_millis(self) -> u64 {
        self.0
    }

    /// `self + ms`, saturating: a deadline far in the future is still a deadline.
    pub fn after(self, ms: u64) -> Instant {
        Instant(self.0.saturating_add(ms))
    }
}
