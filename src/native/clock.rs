//! The tick clock: Envoy 1.40 gives a dynamic module no timer, so one thread of ours wakes
//! every worker's shell through that worker's scheduler. A worker lends the clock the
//! scheduler of one of its live connections (its "carrier"); the clock commits a tick
//! event to it once a tick period has passed and the last one was delivered. The thread
//! runs while any filter configuration exists and is joined when the last one goes, so
//! no code of the module runs after Envoy may unload it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::envoy::Scheduler;

/// The scheduler event id of a tick (a connection's own events use others).
pub const TICK_EVENT: u64 = 1;

/// One worker's place on the clock.
pub struct Slot {
    /// The scheduler ticks are committed to. Replaced or cleared under this lock before the
    /// worker deletes a scheduler, so the clock never commits to a deleted one.
    carrier: Mutex<Option<Scheduler>>,
    /// A tick was committed and not delivered yet: ticks do not pile up on a busy worker.
    pending: AtomicBool,
    period: Duration,
    last: Mutex<Option<Instant>>,
}

impl Slot {
    /// Ticks go to `carrier` from now on (`None`: the worker has no connection, no ticks).
    /// A tick committed to the old carrier and not delivered is lost with its scheduler
    /// (Envoy drops the events of a deleted one): the next one is due at once.
    pub fn set_carrier(&self, carrier: Option<Scheduler>) {
        let mut current = lock(&self.carrier);
        *current = carrier;
        self.pending.store(false, Ordering::Release);
    }

    /// The worker received a tick: the next one may be committed.
    pub fn delivered(&self) {
        self.pending.store(false, Ordering::Release);
    }

    fn visit(&self, now: Instant) {
        let mut last = lock(&self.last);
        if last.is_some_and(|t| now.duration_since(t) < self.period) {
            return;
        }
        if self.pending.swap(true, Ordering::AcqRel) {
            return;
        }
        match *lock(&self.carrier) {
            Some(s) => {
                s.commit(TICK_EVENT);
                *last = Some(now);
            }
            None => self.pending.store(false, Ordering::Release),
        }
    }
}

struct State {
    slots: Vec<Weak<Slot>>,
    /// Filter configurations alive: the thread runs while this is above 0.
    users: usize,
    stop: bool,
    /// The shortest period of the slots: how often the thread wakes.
    wake_every: Duration,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

static SHARED: Shared = Shared {
    state: Mutex::new(State {
        slots: Vec::new(),
        users: 0,
        stop: false,
        wake_every: Duration::from_millis(10),
    }),
    wake: Condvar::new(),
};

static THREAD: Mutex<Option<JoinHandle<()>>> = Mutex::new(None);

/// A poisoned lock still guards consistent data here (no invariant spans a panic).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A filter configuration starts using the clock.
pub fn acquire() {
    let mut thread = lock(&THREAD);
    {
        let mut st = lock(&SHARED.state);
        st.users += 1;
        st.stop = false;
    }
    if thread.is_none() {
        match std::thread::Builder::new()
            .name("h2mux-clock".into())
            .spawn(run)
        {
            Ok(h) => *thread = Some(h),
            Err(e) => log::error!("h2mux: the tick clock did not start: {e}"),
        }
    }
}

/// A filter configuration is gone: the last one stops the thread and waits for it.
pub fn release() {
    let mut thread = lock(&THREAD);
    {
        let mut st = lock(&SHARED.state);
        st.users = st.users.saturating_sub(1);
        if st.users > 0 {
            return;
        }
        st.stop = true;
    }
    SHARED.wake.notify_all();
    if let Some(h) = thread.take() {
        let _ = h.join();
    }
}

/// A new worker's slot, ticked every `period_ms`.
pub fn register(period_ms: u64) -> Arc<Slot> {
    let slot = Arc::new(Slot {
        carrier: Mutex::new(None),
        pending: AtomicBool::new(false),
        period: Duration::from_millis(period_ms.max(1)),
        last: Mutex::new(None),
    });
    let mut st = lock(&SHARED.state);
    st.slots.retain(|s| s.strong_count() > 0);
    st.slots.push(Arc::downgrade(&slot));
    st.wake_every = st.wake_every.min(slot.period);
    slot
}

fn run() {
    let mut st = lock(&SHARED.state);
    loop {
        if st.stop {
            return;
        }
        let every = st.wake_every;
        st = SHARED
            .wake
            .wait_timeout(st, every)
            .map(|(g, _)| g)
            .unwrap_or_else(|e| e.into_inner().0);
        if st.stop {
            return;
        }
        let now = Instant::now();
        for slot in st.slots.iter().filter_map(Weak::upgrade) {
            slot.visit(now);
        }
    }
}
