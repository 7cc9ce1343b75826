//! One Envoy worker's share of a filter configuration: the shell (its buffer quota, its
//! connections) and, per connection, what the host side keeps: Envoy's handle of the
//! filter, its scheduler, the client bytes the shell did not take yet.
//!
//! Every hook runs on the connection's worker thread, so the worker lives in a
//! thread-local table, keyed by configuration. The shell is consulted with the table
//! borrowed, and what it asks for is carried out after the borrow ends (`Plan`): a host
//! call may raise another hook of ours (a close raises `on_network_filter_event`), which
//! then finds the table free.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use h2mux::shell::{Capabilities, ConnId, Ops, Shell};
use h2mux::time::Instant;

use crate::clock::{self, Slot};
use crate::config::Config;
use crate::envoy::{Filter, Scheduler};

/// A connection's own scheduler event: close after the bytes of the event that asked.
pub const CLOSE_EVENT: u64 = 2;

/// What the host side keeps for one connection.
struct Link {
    filter: Filter,
    scheduler: Option<Scheduler>,
    /// Client bytes the shell did not take: handed back first at the next event.
    held: Bytes,
    /// The client's end of stream came with bytes still held: it goes upstream with them.
    held_eos: bool,
    /// We told Envoy to stop reading the client (held bytes at the connection's limit).
    read_disabled: bool,
    /// Envoy said the connection closed: no more host calls on it.
    closed: bool,
    /// Held bytes at which reading the client stops (the connection's buffer limit).
    hold_limit: usize,
}

/// What one event asks of the host for one connection, carried out once the worker is
/// no longer borrowed.
pub struct Plan {
    pub filter: Filter,
    pub to_upstream: Option<Vec<u8>>,
    pub to_client: Option<Vec<u8>>,
    /// The client's end of stream goes upstream with `to_upstream`.
    pub upstream_eos: bool,
    /// Stop (`true`) or resume reading the client.
    pub read_disable: Option<bool>,
    /// Close the connection after these bytes.
    pub close: bool,
    pub scheduler: Option<Scheduler>,
    pub summary: Option<String>,
}

pub struct Worker {
    config: Arc<Config>,
    shell: Shell<Capabilities>,
    links: BTreeMap<ConnId, Link>,
    next_id: ConnId,
    /// The connection whose scheduler carries this worker's ticks.
    carrier: Option<ConnId>,
    slot: Arc<Slot>,
}

thread_local! {
    static WORKERS: RefCell<BTreeMap<u64, Worker>> = const { RefCell::new(BTreeMap::new()) };
}

/// Runs `f` on this thread's worker of `config` (made on first use). `None` if the table
/// is already borrowed: a hook of ours raised by one of our own host calls made while it
/// was, which the structure above rules out (a broken invariant, counted).
pub fn with<T>(config: &Arc<Config>, f: impl FnOnce(&mut Worker) -> T) -> Option<T> {
    WORKERS.with(|w| {
        let Ok(mut table) = w.try_borrow_mut() else {
            h2mux::invariant::broken("a worker's table is free when a hook starts");
            return None;
        };
        // Envoy destroys a configuration (a listener update) after its last filter, on
        // whichever thread: this worker's share of it, its pool's buffers with it, goes at
        // this thread's next hook.
        if table.len() > 1 || !table.contains_key(&config.id) {
            table.retain(|_, w| !(w.links.is_empty() && w.config.is_destroyed()));
        }
        let worker = table
            .entry(config.id)
            .or_insert_with(|| Worker::new(config.clone()));
        Some(f(worker))
    })
}

/// Configurations with a worker on this thread.
#[cfg(test)]
pub fn configs_here() -> usize {
    WORKERS.with(|w| w.borrow().len())
}

pub fn now() -> Instant {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| {
            d.as_secs()
                .saturating_mul(1000)
                .saturating_add(u64::from(d.subsec_millis()))
        });
    Instant::from_millis(ms)
}

impl Worker {
    fn new(config: Arc<Config>) -> Worker {
        let slot = clock::register(config.plugin.tick_ms);
        Worker {
            shell: Shell::new(config.plugin.clone(), Capabilities::unrestricted()),
            config,
            links: BTreeMap::new(),
            next_id: 1,
            carrier: None,
            slot,
        }
    }

    /// A new connection: its id in the shell.
    pub fn open(&mut self, filter: Filter, scheduler: Option<Scheduler>) -> ConnId {
        let mut id = self.next_id;
        // Ids wrap after 2^32 connections on one worker; skip any still in use.
        while self.links.contains_key(&id) || id == 0 {
            id = id.wrapping_add(1);
        }
        self.next_id = id.wrapping_add(1);
        self.shell.open(id, now());
        let hold_limit = filter.buffer_limit().unwrap_or(1 << 20).max(16 * 1024);
        self.links.insert(
            id,
            Link {
                filter,
                scheduler,
                held: Bytes::new(),
                held_eos: false,
                read_disabled: false,
                closed: false,
                hold_limit,
            },
        );
        if self.carrier.is_none() && scheduler.is_some() {
            self.carrier = Some(id);
            self.slot.set_carrier(scheduler);
        }
        self.publish();
        id
    }

    pub fn set_client_tls(&mut self, id: ConnId) {
        self.shell.set_client_tls(id);
    }

    /// Client bytes (`end`: the client's end of stream).
    pub fn downstream(&mut self, id: ConnId, bytes: Bytes, end: bool) -> Option<Plan> {
        let link = self.links.get_mut(&id)?;
        let input = if link.held.is_empty() {
            bytes
        } else {
            let mut all = Vec::with_capacity(link.held.len() + bytes.len());
            all.extend_from_slice(&link.held);
            all.extend_from_slice(&bytes);
            Bytes::from(all)
        };
        link.held = Bytes::new();
        link.held_eos |= end;
        let ops = self.shell.downstream(id, input, end, now());
        let plan = self.plan(id, ops, true);
        self.publish();
        plan
    }

    /// Upstream bytes (`end`: the upstream's end of stream).
    pub fn upstream(&mut self, id: ConnId, bytes: Bytes, end: bool) -> Option<Plan> {
        let link = self.links.get_mut(&id)?;
        let mut handed = false;
        let held = &mut link.held;
        let ops = self.shell.upstream(id, bytes, end, now(), || {
            handed = true;
            std::mem::take(held)
        });
        let plan = self.plan(id, ops, handed);
        self.publish();
        plan
    }

    /// The clock's tick, on the carrier's worker: every visit the shell makes.
    pub fn tick(&mut self) -> Vec<Plan> {
        self.slot.delivered();
        let Worker { shell, links, .. } = self;
        let mut visits = Vec::new();
        let mut tick = shell.tick(now());
        while let Some(id) = tick.next_conn() {
            let Some(link) = links.get_mut(&id).filter(|l| !l.closed) else {
                tick.skip();
                continue;
            };
            let mut handed = false;
            let held = &mut link.held;
            let ops = tick.visit(|| {
                handed = true;
                std::mem::take(held)
            });
            visits.push((id, ops, handed));
        }
        drop(tick);
        let plans = visits
            .into_iter()
            .filter_map(|(id, ops, handed)| self.plan(id, ops, handed))
            .collect();
        self.publish();
        plans
    }

    /// Envoy says the connection closed: its summary for tcp_proxy's access log.
    pub fn closed(&mut self, id: ConnId) -> Option<(Filter, String)> {
        let link = self.links.get_mut(&id)?;
        link.closed = true;
        let filter = link.filter;
        self.shell.summary(id).map(|s| (filter, s))
    }

    /// The filter is destroyed: the connection leaves the shell. Returns its scheduler,
    /// for the caller to delete once the clock no longer uses it.
    pub fn destroy(&mut self, id: ConnId) -> Option<Scheduler> {
        let link = self.links.remove(&id)?;
        self.shell.connection_closed(id, now());
        if self.carrier == Some(id) {
            // Another live connection carries the ticks; the clock lets go of this
            // scheduler before the caller deletes it.
            let next = self
                .links
                .iter()
                .find(|(_, l)| l.scheduler.is_some() && !l.closed)
                .map(|(id, l)| (*id, l.scheduler));
            self.carrier = next.map(|(id, _)| id);
            self.slot.set_carrier(next.and_then(|(_, s)| s));
        }
        self.publish();
        link.scheduler
    }

    pub fn is_closed(&self, id: ConnId) -> bool {
        self.links.get(&id).is_none_or(|l| l.closed)
    }

    /// The shell's answer for one connection as host calls. `handed`: the held client
    /// bytes were given to the shell (what it holds now replaces them).
    fn plan(&mut self, id: ConnId, ops: Ops, handed: bool) -> Option<Plan> {
        let link = self.links.get_mut(&id)?;
        let Ops {
            to_upstream,
            hold,
            to_client,
            resume: _,
            // Only under Envoy's proxy-wasm rules (`Capabilities::envoy()`).
            park: _,
            close,
        } = ops;
        if handed || hold.is_some() {
            link.held = hold.unwrap_or_default();
        }
        // The client's end of stream goes on once nothing of it is held.
        let upstream_eos = link.held_eos && link.held.is_empty();
        if upstream_eos {
            link.held_eos = false;
        }
        let stop = link.held.len() >= link.hold_limit;
        let read_disable = (stop != link.read_disabled).then(|| {
            link.read_disabled = stop;
            stop
        });
        let summary = close.then(|| self.shell.summary(id)).flatten();
        let link = self.links.get(&id)?;
        if link.closed {
            return None;
        }
        Some(Plan {
            filter: link.filter,
            to_upstream,
            to_client,
            upstream_eos,
            read_disable,
            close,
            scheduler: link.scheduler,
            summary,
        })
    }

    fn publish(&mut self) {
        for op in self.shell.take_metrics() {
            self.config.metric(op);
        }
    }
}
