//! Which h2mux configurations a listener update replaced, so that their connections hear
//! the graceful GOAWAY at the update rather than a hard close at the end of Envoy's drain.
//!
//! Envoy tells a network filter nothing when its filter chain starts draining: the root
//! context's `on_done` comes only after the drain time, once Envoy has closed the old
//! connections itself (measured in Envoy 1.40, README "Graceful drain"). What the filter
//! does see is a listener update that changes h2mux's configuration: the new filter chain
//! gets a new root context in every VM, and from then on new connections of that listener
//! reach the new roots only. So a root is taken over on a listener (its local port and
//! filter chain name) once a root born after it got a connection there while it got none
//! since that birth; when every listener it served is taken over, its connections shut
//! down gracefully. A later connection that still reaches it proves it was not replaced
//! (two filter chains alike but for their h2mux configuration) and clears the mark, so a
//! wrong guess costs one graceful reconnect, never a lost request.
//!
//! Each Envoy worker runs its own VM, and a listener update reaches them all: births and
//! connections are therefore numbered in a store shared by the VMs (Envoy's shared data),
//! so that a connection accepted by any worker tells every worker's older roots.

/// A listener as a connection sees it: the local port and a hash of the filter chain name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenerKey {
    /// The local port.
    pub port: u32,
    /// FNV-1a of the filter chain's name.
    pub chain: u64,
}

impl ListenerKey {
    /// The key of a local port and a filter chain name (empty when unnamed).
    pub fn new(port: u32, chain_name: &[u8]) -> Self {
        // FNV-1a: enough to tell filter chain names apart, no table to keep.
        let chain = chain_name.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
        ListenerKey { port, chain }
    }

    /// Its name in the shared store: the newest birth that got a connection on it.
    fn store_key(self) -> String {
        format!("h2mux.takeover.{}.{:016x}", self.port, self.chain)
    }
}

/// The shared store's key of the birth counter.
const EPOCH_KEY: &str = "h2mux.takeover.epoch";

/// A store of numbers shared by every VM, with compare-and-swap (Envoy's shared data).
pub trait SharedStore {
    /// The value under `key` (0 when absent) and its version for `swap`; None when the
    /// store cannot be read.
    fn load(&mut self, key: &str) -> Option<(u64, u32)>;
    /// Writes `value` if `key` is still at `version`; false on a race or an error.
    fn swap(&mut self, key: &str, value: u64, version: u32) -> bool;
}

/// Compare-and-swap attempts before giving up (other VMs raced each time).
const CAS_TRIES: usize = 8;

/// Raises `key` to at least `value`. Returns the value now stored, or None when the
/// store failed.
fn raise(store: &mut impl SharedStore, key: &str, value: impl Fn(u64) -> u64) -> Option<u64> {
    for _ in 0..CAS_TRIES {
        let (old, version) = store.load(key)?;
        let new = value(old);
        if new <= old {
            return Some(old);
        }
        if store.swap(key, new, version) {
            return Some(new);
        }
    }
    None
}

/// Listeners tracked per root; past this a root's new listeners are not tracked, and it
/// is then never found taken over (the safe side).
const MAX_LISTENERS: usize = 16;
/// Roots tracked per VM (one per distinct h2mux configuration alive in it).
const MAX_ROOTS: usize = 64;

struct Seen {
    key: ListenerKey,
    /// The shared epoch at this root's latest new connection on the listener.
    last: u64,
    taken: bool,
    /// This root's birth is in the store as the listener's newest or older (stored values
    /// only grow): raising it again would change nothing, so a connection skips it.
    published: bool,
}

struct Entry {
    root: u32,
    born: u64,
    seen: Vec<Seen>,
    /// Untracked listeners were left out: never taken over.
    overflow: bool,
    /// Taken over and told so.
    told: bool,
}

/// One VM's roots (a host's configurations alive at once) and what they saw.
#[derive(Default)]
pub struct Registry {
    entries: Vec<Entry>,
}

impl Registry {
    /// A root was configured: it gets the next birth number. Configuring it again keeps
    /// its birth. A store that fails leaves the root untracked (never taken over).
    pub fn born(&mut self, root: u32, store: &mut impl SharedStore) {
        if self.entries.iter().any(|e| e.root == root) {
            return;
        }
        let Some(born) = raise(store, EPOCH_KEY, |n| n.saturating_add(1)) else {
            return;
        };
        if self.entries.len() >= MAX_ROOTS {
            // The oldest root tracked is forgotten: it is then never found taken over.
            self.entries.remove(0);
        }
        self.entries.push(Entry {
            root,
            born,
            seen: Vec::new(),
            overflow: false,
            told: false,
        });
    }

    /// A root went away.
    pub fn gone(&mut self, root: u32) {
        self.entries.retain(|e| e.root != root);
    }

    /// `root` got a new connection on `key`.
    pub fn connection(&mut self, root: u32, key: ListenerKey, store: &mut impl SharedStore) {
        let Some(e) = self.entries.iter_mut().find(|e| e.root == root) else {
            return;
        };
        let Some((epoch, _)) = store.load(EPOCH_KEY) else {
            return;
        };
        // A connection reaching this root: it serves this listener, whatever was guessed.
        e.told = false;
        let published = if let Some(s) = e.seen.iter_mut().find(|s| s.key == key) {
            s.last = epoch;
            s.taken = false;
            s.published
        } else {
            if e.seen.len() < MAX_LISTENERS {
                e.seen.push(Seen {
                    key,
                    last: epoch,
                    taken: false,
                    published: false,
                });
            } else {
                e.overflow = true;
            }
            false
        };
        if published {
            return;
        }
        let born = e.born;
        let stored = raise(store, &key.store_key(), |newest| newest.max(born));
        if stored.is_some_and(|v| v >= born) {
            if let Some(s) = e.seen.iter_mut().find(|s| s.key == key) {
                s.published = true;
            }
        }
    }

    /// Whether `root` was taken over on every listener it served, told once.
    pub fn taken_over(&mut self, root: u32, store: &mut impl SharedStore) -> bool {
        let Some(e) = self.entries.iter_mut().find(|e| e.root == root) else {
            return false;
        };
        if e.told || e.overflow || e.seen.is_empty() {
            return false;
        }
        for s in e.seen.iter_mut().filter(|s| !s.taken) {
            if let Some((newest, _)) = store.load(&s.key.store_key()) {
                s.taken = newest > e.born && s.last < newest;
            }
        }
        e.told = e.seen.iter().all(|s| s.taken);
        e.told
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The shared data of one Envoy: every registry of a test is a VM using it.
    #[derive(Default)]
    struct Store {
        values: HashMap<String, (u64, u32)>,
        /// Swaps to refuse, as if another VM had written first.
        races: usize,
        /// Reads made.
        loads: usize,
    }

    impl SharedStore for Store {
        fn load(&mut self, key: &str) -> Option<(u64, u32)> {
            self.loads += 1;
            Some(self.values.get(key).copied().unwrap_or((0, 0)))
        }
        fn swap(&mut self, key: &str, value: u64, version: u32) -> bool {
            if self.races > 0 {
                self.races -= 1;
                return false;
            }
            let e = self.values.entry(key.to_string()).or_insert((0, 0));
            if e.1 != version {
                return false;
            }
            *e = (value, version + 1);
            true
        }
    }

    fn key(port: u32) -> ListenerKey {
        ListenerKey::new(port, b"")
    }

    #[test]
    fn a_newer_root_on_the_same_listener_takes_the_older_over() {
        let (mut s, mut r) = (Store::default(), Registry::default());
        r.born(1, &mut s);
        r.connection(1, key(80), &mut s);
        r.born(2, &mut s);
        assert!(
            !r.taken_over(1, &mut s),
            "a root born is not yet a takeover"
        );
        r.connection(2, key(80), &mut s);
        assert!(r.taken_over(1, &mut s));
        assert!(!r.taken_over(1, &mut s), "told once");
        assert!(!r.taken_over(2, &mut s));
    }

    #[test]
    fn a_connection_on_one_worker_tells_every_worker() {
        let mut s = Store::default();
        let (mut w1, mut w2) = (Registry::default(), Registry::default());
        w1.born(1, &mut s);
        w2.born(1, &mut s);
        w1.connection(1, key(80), &mut s);
        w2.connection(1, key(80), &mut s);
        // The update: both workers get a root for the new configuration.
        w1.born(2, &mut s);
        w2.born(2, &mut s);
        w2.connection(2, key(80), &mut s);
        assert!(w1.taken_over(1, &mut s));
        assert!(w2.taken_over(1, &mut s));
    }

    #[test]
    fn roots_serving_side_by_side_never_take_each_other_over() {
        // Two filter chains alike but for h2mux's configuration, on two workers.
        let mut s = Store::default();
        let (mut w1, mut w2) = (Registry::default(), Registry::default());
        for r in [&mut w1, &mut w2] {
            r.born(1, &mut s);
            r.born(2, &mut s);
        }
        for _ in 0..3 {
            w1.connection(1, key(80), &mut s);
            w2.connection(2, key(80), &mut s);
            for r in [&mut w1, &mut w2] {
                assert!(!r.taken_over(1, &mut s));
                assert!(!r.taken_over(2, &mut s));
            }
        }
    }

    #[test]
    fn a_connection_to_the_older_root_clears_a_wrong_guess() {
        let (mut s, mut r) = (Store::default(), Registry::default());
        r.born(1, &mut s);
        r.connection(1, key(80), &mut s);
        r.born(2, &mut s);
        r.connection(2, key(80), &mut s);
        r.connection(1, key(80), &mut s); // not replaced after all
        assert!(!r.taken_over(1, &mut s));
        r.connection(2, key(80), &mut s);
        assert!(
            !r.taken_over(1, &mut s),
            "its last connection came after the newer's birth"
        );
    }

    #[test]
    fn every_listener_of_a_root_must_be_taken_over() {
        let (mut s, mut r) = (Store::default(), Registry::default());
        r.born(1, &mut s);
        r.connection(1, key(80), &mut s);
        r.connection(1, key(443), &mut s);
        r.born(2, &mut s);
        r.connection(2, key(80), &mut s);
        assert!(!r.taken_over(1, &mut s), "443 still served by root 1 only");
        r.connection(2, key(443), &mut s);
        assert!(r.taken_over(1, &mut s));
    }

    #[test]
    fn other_listeners_and_filter_chains_are_not_a_takeover() {
        let (mut s, mut r) = (Store::default(), Registry::default());
        r.born(1, &mut s);
        r.connection(1, ListenerKey::new(80, b"plain"), &mut s);
        r.born(2, &mut s);
        r.connection(2, key(81), &mut s);
        r.connection(2, ListenerKey::new(80, b"tls"), &mut s);
        assert!(!r.taken_over(1, &mut s));
        r.connection(2, ListenerKey::new(80, b"plain"), &mut s);
        assert!(r.taken_over(1, &mut s));
    }

    #[test]
    fn races_with_other_workers_are_retried() {
        let (mut s, mut r) = (Store::default(), Registry::default());
        r.born(1, &mut s);
        r.connection(1, key(80), &mut s);
        s.races = CAS_TRIES - 1;
        r.born(2, &mut s);
        s.races = CAS_TRIES - 1;
        r.connection(2, key(80), &mut s);
        assert!(r.taken_over(1, &mut s));
        // A store that always races leaves the root untracked: never taken over.
        s.races = usize::MAX;
        r.born(3, &mut s);
        s.races = 0;
        r.connection(3, key(80), &mut s);
        assert!(!r.taken_over(3, &mut s));
    }

    #[test]
    fn a_root_publishes_each_listener_once() {
        let (mut s, mut r) = (Store::default(), Registry::default());
        r.born(1, &mut s);
        r.connection(1, key(80), &mut s);
        let loads = s.loads;
        for _ in 0..3 {
            r.connection(1, key(80), &mut s);
        }
        assert_eq!(s.loads - loads, 3, "one read per connection: the epoch");
        // A newer root's birth still goes in.
        r.born(2, &mut s);
        r.connection(2, key(80), &mut s);
        assert_eq!(s.values[&key(80).store_key()].0, 2);
    }

    #[test]
    fn a_root_with_untracked_listeners_is_never_taken_over() {
        let (mut s, mut r) = (Store::default(), Registry::default());
        r.born(1, &mut s);
        for p in 0..=MAX_LISTENERS as u32 {
            r.connection(1, key(p), &mut s);
        }
        r.born(2, &mut s);
        for p in 0..=MAX_LISTENERS as u32 {
            r.connection(2, key(p), &mut s);
        }
        assert!(!r.taken_over(1, &mut s));
    }

    #[test]
    fn the_registry_is_bounded_and_forgets_roots_gone() {
        let (mut s, mut r) = (Store::default(), Registry::default());
        for root in 0..(MAX_ROOTS as u32 * 3) {
            r.born(root, &mut s);
            r.connection(root, key(80), &mut s);
            if root % 2 == 0 {
                r.gone(root);
            }
        }
        assert!(r.entries.len() <= MAX_ROOTS);
        r.gone(u32::MAX); // unknown: nothing happens
        assert!(!r.taken_over(u32::MAX, &mut s));
    }
}
