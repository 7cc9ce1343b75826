//! The host's periodic tick: connections waiting for a pool buffer are resumed, and about
//! every 100 ms an idle scan gives back quiet connections' memory and visits every
//! connection with something due (a timer, a close, the end of a grace period).

use bytes::Bytes;

use super::{ConnId, Ops, Rules, Shell};
use crate::time::Instant;

/// The idle scan runs about this often.
pub(crate) const SCAN_PERIOD_MS: u64 = 100;

/// One tick in progress. The host asks for the connections to visit one at a time with
/// `next_conn`, makes each one reachable (Envoy: `set_effective_context`) and calls `visit`
/// (then carries out its `Ops`), or `skip` when it cannot reach it. When `next_conn` returns
/// `None` the tick is over and its metrics are ready.
pub struct Tick<'a, R: Rules> {
    shell: &'a mut Shell<R>,
    now: Instant,
    /// This tick runs the idle scan.
    scan: bool,
    stage: Stage,
    /// The connection `next_conn` returned, not yet visited or skipped.
    current: Option<(ConnId, Visit)>,
}

enum Stage {
    /// Waiters for a pool buffer: at most as many as were waiting when the tick began.
    Waiters { budget: usize },
    /// Connections the idle scan found something due on, in id order.
    Due { ids: Vec<ConnId>, next: usize },
    /// Everything visited: the metrics are published.
    Over,
}

#[derive(Clone, Copy)]
enum Visit {
    BufferAvailable,
    Due,
}

impl<'a, R: Rules> Tick<'a, R> {
    pub(crate) fn new(shell: &'a mut Shell<R>, now: Instant, scan: bool) -> Tick<'a, R> {
        let budget = shell.pool.waiters();
        Tick {
            shell,
            now,
            scan,
            stage: Stage::Waiters { budget },
            current: None,
        }
    }

    /// The next connection to visit: waiters for a buffer first, in FIFO order while
    /// unreserved buffers are free, else the first waiter that already holds buffers (it
    /// may use the reserve, finish its step and give them back: no hold-and-wait
    /// deadlock); then, on a scan tick, every connection with something due. A connection
    /// returned earlier and neither visited nor skipped counts as skipped.
    pub fn next_conn(&mut self) -> Option<ConnId> {
        self.skip();
        loop {
            match &mut self.stage {
                Stage::Waiters { .. } => {
                    if let Some(id) = self.next_waiter() {
                        self.current = Some((id, Visit::BufferAvailable));
                        return Some(id);
                    }
                    self.stage = if self.scan {
                        Stage::Due {
                            ids: self.shell.scan(self.now),
                            next: 0,
                        }
                    } else {
                        self.finish()
                    };
                }
                Stage::Due { ids, next } => {
                    // Connections go away only when the host says so, between ticks.
                    if let Some(&id) = ids.get(*next) {
                        *next += 1;
                        self.current = Some((id, Visit::Due));
                        return Some(id);
                    }
                    self.stage = self.finish();
                }
                Stage::Over => return None,
            }
        }
    }

    /// A connection's summary (`Shell::summary`), for a host closing it in this tick.
    pub fn summary(&self, id: ConnId) -> Option<String> {
        self.shell.summary(id)
    }

    /// Visits the connection `next_conn` returned. `read_held` gives the client bytes the host
    /// holds for it, when the shell asks.
    pub fn visit(&mut self, read_held: impl FnOnce() -> Bytes) -> Ops {
        let Some((id, visit)) = self.current.take() else {
            return Ops::default();
        };
        let Some((c, mut env)) = self.shell.split(id, self.now) else {
            return Ops::default();
        };
        match visit {
            Visit::BufferAvailable => c.on_buffer_available(&mut env, read_held),
            Visit::Due => c.on_due(&mut env, read_held),
        }
    }

    /// The host could not reach the connection `next_conn` returned: it is left as it is (a
    /// waiter, already out of the queue, still has its bookkeeping done).
    pub fn skip(&mut self) {
        if let Some((id, Visit::BufferAvailable)) = self.current.take() {
            if let Some((c, mut env)) = self.shell.split(id, self.now) {
                c.settle(&mut env);
            }
        }
    }

    /// The connection `next_conn` returned waits for a buffer (not a scan's visit).
    #[cfg(test)]
    pub(crate) fn is_buffer_visit(&self) -> bool {
        matches!(self.current, Some((_, Visit::BufferAvailable)))
    }

    /// The shell, as the tick sees it before its next visit.
    #[cfg(test)]
    pub(crate) fn shell(&self) -> &Shell<R> {
        self.shell
    }

    fn next_waiter(&mut self) -> Option<ConnId> {
        let Stage::Waiters { budget } = &mut self.stage else {
            return None;
        };
        let Shell { pool, conns, .. } = &mut *self.shell;
        if *budget == 0 {
            return None;
        }
        *budget -= 1;
        if let Some(id) = pool.pop_waiter() {
            return Some(id);
        }
        if pool.available() == 0 {
            return None;
        }
        let holder = pool
            .waiter_ids()
            .find(|w| conns.get(w).is_some_and(|c| c.relay().buffers_held() > 0))?;
        // A connection leaves the queue when it goes away: every waiter is live.
        pool.take_waiter(holder).then_some(holder)
    }

    fn finish(&mut self) -> Stage {
        self.shell.metrics.flush(&self.shell.pool);
        Stage::Over
    }
}
