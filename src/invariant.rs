//! What a broken invariant of our own does: the one place that decides.
//!
//! A lookup that cannot fail, a slice of our own buffer, accounting that must balance, a
//! stream-state transition the caller already checked: when one of these goes wrong it is a
//! bug of ours, never the peer's. In test, debug and fuzz builds (cargo fuzz keeps debug
//! assertions on) it panics at once with the rule, so the bug shows where it happens. In a
//! release build, the `.wasm` Envoy loads, a panic would trap and take every connection of
//! the worker with it: there the caller fails only the connection it happened on
//! (GOAWAY INTERNAL_ERROR), and the rule is logged and counted
//! (`h2mux_internal_errors_total`). A layer below the connection (a buffer, a header list,
//! the HPACK table) has no connection to fail: it logs, counts and keeps its data whole.

use std::cell::Cell;

thread_local! {
    /// Broken invariants on this thread since the module was loaded: the shell of this
    /// thread publishes it as a metric. Per thread, because a native host runs one shell
    /// per worker thread, each adding only its own (a wasm VM has one thread).
    static BROKEN: Cell<u32> = const { Cell::new(0) };
}

/// Reports a broken invariant. Panics in debug builds; in release builds logs the rule,
/// counts it and returns, and the caller fails its connection.
#[cold]
#[inline(never)]
pub fn broken(rule: &'static str) {
    if loud() {
        panic!("h2mux invariant broken: {rule}");
    }
    BROKEN.with(|b| b.set(b.get().saturating_add(1)));
    log::error!("h2mux invariant broken: {rule}");
}

/// How many invariants broke so far on this thread (in release builds; debug builds panic
/// instead).
pub fn broken_count() -> u32 {
    BROKEN.with(Cell::get)
}

#[cfg(not(test))]
fn loud() -> bool {
    cfg!(debug_assertions)
}

#[cfg(test)]
fn loud() -> bool {
    !CONTAINED.with(|c| c.get())
}

#[cfg(test)]
thread_local! {
    static CONTAINED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with broken invariants contained as in a release build, so a test can check
/// what a release build does with one.
#[cfg(test)]
pub(crate) fn contained<T>(f: impl FnOnce() -> T) -> T {
    CONTAINED.with(|c| c.set(true));
    let out = f();
    CONTAINED.with(|c| c.set(false));
    out
}
