//! The connection's timers in one table. Time comes from the caller: every call that arms a
//! timer takes `now`, and `handle_timeout(now)` fires what is due.

use crate::time::Instant;

/// What a connection waits for with a deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Timer {
    /// Our oldest unacknowledged SETTINGS: SETTINGS_TIMEOUT when it passes.
    SettingsAck,
    /// A graceful shutdown's limit: streams still open are dropped when it passes.
    Shutdown,
    /// No frame for this long: a graceful shutdown (counts only while no stream is open).
    Idle,
}

impl Timer {
    const ALL: [Timer; 3] = [Timer::SettingsAck, Timer::Shutdown, Timer::Idle];
}

/// One deadline per timer; `u64::MAX`, never reached, stands for "not armed" (an Option
/// would take twice the room, and every connection carries this).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Timers([u64; 3]);

impl Default for Timers {
    fn default() -> Timers {
        Timers([u64::MAX; 3])
    }
}

impl Timers {
    pub(super) fn arm(&mut self, t: Timer, at: Instant) {
        if let Some(slot) = self.0.get_mut(t as usize) {
            *slot = at.as_millis().min(u64::MAX - 1);
        }
    }

    pub(super) fn disarm(&mut self, t: Timer) {
        if let Some(slot) = self.0.get_mut(t as usize) {
            *slot = u64::MAX;
        }
    }

    pub(super) fn get(&self, t: Timer) -> Option<Instant> {
        match self.0.get(t as usize) {
            Some(&at) if at != u64::MAX => Some(Instant(at)),
            _ => None,
        }
    }

    /// True when `t` is armed and its deadline is at or before `now`.
    pub(super) fn expired(&self, t: Timer, now: Instant) -> bool {
        self.get(t).is_some_and(|at| now >= at)
    }

    /// The earliest deadline among the timers `applies` accepts.
    pub(super) fn next(&self, applies: impl Fn(Timer) -> bool) -> Option<Instant> {
        Timer::ALL
            .into_iter()
            .filter(|&t| applies(t))
            .filter_map(|t| self.get(t))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arm_fire_disarm() {
        let mut t = Timers::default();
        assert_eq!(t.next(|_| true), None);
        t.arm(Timer::Idle, Instant(50));
        t.arm(Timer::SettingsAck, Instant(20));
        assert_eq!(t.next(|_| true), Some(Instant(20)));
        assert_eq!(t.next(|t| t == Timer::Idle), Some(Instant(50)));
        assert!(!t.expired(Timer::SettingsAck, Instant(19)));
        assert!(t.expired(Timer::SettingsAck, Instant(20)));
        t.disarm(Timer::SettingsAck);
        assert!(!t.expired(Timer::SettingsAck, Instant(100)));
        // A deadline at the end of time is still a deadline.
        t.arm(Timer::Shutdown, Instant(u64::MAX));
        assert!(t.get(Timer::Shutdown).is_some());
    }
}
