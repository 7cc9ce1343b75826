//! The host-agnostic shell around the relay: every connection's policy between a host's
//! events and the relay, and the state one host process (an Envoy worker's VM) shares.
//!
//! Sans-IO like the core: the host hands in the client's bytes, the upstream's bytes, end
//! of stream, its tick and the time; the shell answers with `Ops` (bytes for the client,
//! bytes for the upstream, hold, resume, close) and `MetricOp`s, and says when the next
//! tick is due. It never reads a clock or calls the host. What the host can do, and when,
//! is a `Capabilities` value: with Envoy's, output for one side waits for that side's next
//! event (rung for by a doorbell when none would come), client bytes are held paused by
//! the host, upstream bytes the relay cannot take are kept here, and a finished connection
//! is closed from a later tick. A host without those limits gets its bytes both ways at
//! every event and closes at once.
//!
//! The shared part: the buffer pool and its waiters (resumed from the tick in FIFO order,
//! with the reserve for connections that already hold buffers), the connections by id, the
//! idle scan about every 100 ms, and metrics.

mod access_log;
mod caps;
mod conn;
mod http1;
mod metrics;
mod ops;
mod route;
mod state;
mod takeover;
mod tick;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::buffer::BufferPool;
use crate::config::PluginConfig;
use crate::limits::Config;
use crate::relay::Relay;
use crate::time::Instant;

pub use caps::{Capabilities, EnvoyRules, Rules};
pub use conn::{Conn, FINISH_GRACE_MS};
pub use metrics::{Metric, MetricKind, MetricOp, NoteMetric};
pub use ops::Ops;
pub use route::{envoy_filter_state_args, RouteStep};
pub use takeover::{ListenerKey, Registry as Takeovers, SharedStore};
pub use tick::Tick;

use conn::Env;
use metrics::Metrics;

/// The host's id of a connection (Envoy: the proxy-wasm context id).
pub type ConnId = crate::buffer::WaiterId;

/// Everything one host process shares: configuration, the buffer pool and its waiters,
/// the connections, metrics. `R` gives the host's `Capabilities` (see `Rules`).
pub struct Shell<R: Rules = Capabilities> {
    cfg: PluginConfig,
    rules: R,
    front_cfg: Arc<Config>,
    back_cfg: Arc<Config>,
    pool: BufferPool,
    /// Boxed: B-tree leaves fill to about half on rising ids, and a connection is large.
    conns: BTreeMap<ConnId, Box<Conn>>,
    metrics: Metrics,
    ticks: u64,
    /// Connections held until their route is chosen (`routes`), and when their wait ends.
    route_waits: BTreeMap<ConnId, Instant>,
    /// The last tick (or the first connection, before any tick): the next tick is due a
    /// period after it.
    tick_base: Instant,
}

impl<R: Rules> Shell<R> {
    /// A shell for a host with `rules`, configured by `cfg` (its pool sized from it).
    pub fn new(cfg: PluginConfig, rules: R) -> Shell<R> {
        let mut pool = BufferPool::new(cfg.buffer_size, cfg.quota_bytes, cfg.max_waiters);
        pool.set_reserve(cfg.reserve_buffers);
        Shell {
            front_cfg: Arc::new(cfg.frontend.clone()),
            back_cfg: Arc::new(cfg.backend.clone()),
            pool,
            cfg,
            rules,
            conns: BTreeMap::new(),
            metrics: Metrics::default(),
            ticks: 0,
            route_waits: BTreeMap::new(),
            tick_base: Instant(0),
        }
    }

    /// A new configuration. The buffer size of a live pool does not change; a new size
    /// applies to a new shell.
    pub fn reconfigure(&mut self, cfg: PluginConfig) {
        self.front_cfg = Arc::new(cfg.frontend.clone());
        self.back_cfg = Arc::new(cfg.backend.clone());
        self.pool.set_quota(cfg.quota_bytes);
        self.pool.set_reserve(cfg.reserve_buffers);
        self.cfg = cfg;
    }

    /// The configuration in force.
    pub fn config(&self) -> &PluginConfig {
        &self.cfg
    }

    /// What the host can do, as the shell was told.
    pub fn capabilities(&self) -> Capabilities {
        self.rules.caps()
    }

    /// The buffer pool every connection takes from, and its waiters.
    pub fn pool(&self) -> &BufferPool {
        &self.pool
    }

    /// A connection by the host's id.
    pub fn conn(&self, id: ConnId) -> Option<&Conn> {
        self.conns.get(&id).map(|c| &**c)
    }

    /// Connections open.
    pub fn connections(&self) -> usize {
        self.conns.len()
    }

    /// A new client connection (and its upstream).
    pub fn open(&mut self, id: ConnId, now: Instant) {
        if self.conns.is_empty() {
            self.tick_base = now;
        }
        let mut relay = Relay::new(self.front_cfg.clone(), self.back_cfg.clone(), id, now);
        relay.record_notes();
        self.conns.insert(id, Box::new(Conn::new(relay)));
        if let Some(r) = &self.cfg.routes {
            self.route_waits.insert(id, now.after(r.wait_ms));
        }
        self.metrics
            .emit(MetricOp::Add(Metric::ConnectionsTotal, 1));
        self.metrics
            .emit(MetricOp::Add(Metric::ConnectionsActive, 1));
        log::debug!("h2mux[{id}]: new connection");
    }

    /// One connection's summary as a JSON object (streams, bytes each way, the client's
    /// protocol, why it ended): what a host sets where its own connection log can read it
    /// (Envoy: filter state for tcp_proxy's access log).
    pub fn summary(&self, id: ConnId) -> Option<String> {
        self.conns.get(&id).map(|c| access_log::summary(c.relay()))
    }

    /// The client's connection is TLS: requests from HTTP/1.1 clients get `:scheme https`.
    pub fn set_client_tls(&mut self, id: ConnId) {
        if let Some(c) = self.conns.get_mut(&id) {
            c.set_client_tls();
        }
    }

    /// The host is done with a connection (closed by either peer or by us): its buffers go
    /// back to the pool and its last figures out.
    pub fn connection_closed(&mut self, id: ConnId, now: Instant) {
        self.route_waits.remove(&id);
        if let Some(mut c) = self.conns.remove(&id) {
            c.release(&mut self.pool);
            c.publish(&mut Env {
                pool: &mut self.pool,
                metrics: &mut self.metrics,
                rules: self.rules,
                max_kept_bytes: self.cfg.max_held_upstream_bytes,
                max_parked_bytes: self.cfg.max_parked_client_bytes,
                id,
                now,
            });
            self.metrics
                .emit(MetricOp::Add(Metric::ConnectionsActive, -1));
            log::debug!("h2mux[{id}]: connection done");
        }
        self.metrics.flush(&self.pool);
    }

    /// Bytes from the client: `bytes` is everything the host has for this connection's
    /// downstream (bytes it holds first), `end` its end of stream.
    pub fn downstream(&mut self, id: ConnId, bytes: Bytes, end: bool, now: Instant) -> Ops {
        match self.split(id, now) {
            Some((c, mut env)) => c.on_downstream(&mut env, bytes, end),
            None => Ops::default(),
        }
    }

    /// Bytes from the upstream (`end`: its end of stream). `read_held` gives the client
    /// bytes the host holds for this connection, if the shell asks for them.
    pub fn upstream(
        &mut self,
        id: ConnId,
        bytes: Bytes,
        end: bool,
        now: Instant,
        read_held: impl FnOnce() -> Bytes,
    ) -> Ops {
        match self.split(id, now) {
            Some((c, mut env)) => c.on_upstream(&mut env, bytes, end, read_held),
            None => Ops::default(),
        }
    }

    /// The host is going away (a Node host's SIGTERM): the client hears a graceful GOAWAY
    /// and streams under way finish. With Envoy's capabilities the GOAWAY waits for the next
    /// upstream event like any client-bound byte. `read_held` as for `upstream`.
    pub fn shutdown(&mut self, id: ConnId, now: Instant, read_held: impl FnOnce() -> Bytes) -> Ops {
        match self.split(id, now) {
            Some((c, mut env)) => c.on_shutdown(&mut env, read_held),
            None => Ops::default(),
        }
    }

    /// A newer configuration took this one's listeners over (see `Takeovers`): `shutdown`,
    /// counted as such.
    pub fn shutdown_taken_over(
        &mut self,
        id: ConnId,
        now: Instant,
        read_held: impl FnOnce() -> Bytes,
    ) -> Ops {
        if self.conns.contains_key(&id) {
            self.metrics
                .emit(MetricOp::Add(Metric::TakeoverShutdownsTotal, 1));
        }
        self.shutdown(id, now, read_held)
    }

    /// The ids of the connections open, for a host that visits them all.
    pub fn conn_ids(&self) -> Vec<ConnId> {
        self.conns.keys().copied().collect()
    }

    /// The host's tick (every `tick_ms`): returns the visits to make.
    pub fn tick(&mut self, now: Instant) -> Tick<'_, R> {
        self.ticks += 1;
        self.tick_base = now;
        let every = tick::SCAN_PERIOD_MS
            .checked_div(self.cfg.tick_ms)
            .unwrap_or(1)
            .max(1);
        let scan = self.ticks.is_multiple_of(every);
        Tick::new(self, now, scan)
    }

    /// When the host should call `tick` next: a tick period after the last one while any
    /// connection is open (waiters, timers, idle scans and closes run from it). A host with
    /// a periodic timer (Envoy's `set_tick_period`) may ignore it.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.conns.is_empty() {
            return None;
        }
        Some(self.tick_base.after(self.cfg.tick_ms))
    }

    /// Metric operations for the host, in order, since the last call.
    pub fn take_metrics(&mut self) -> std::vec::Drain<'_, MetricOp> {
        self.metrics.take()
    }

    /// Runs the idle scan: quiet connections give back their queue memory; returns the
    /// connections with something due.
    fn scan(&mut self, now: Instant) -> Vec<ConnId> {
        for c in self.conns.values_mut() {
            c.scan_idle(&mut self.pool);
        }
        self.conns
            .iter()
            .filter(|(_, c)| c.is_due(now))
            .map(|(id, _)| *id)
            .collect()
    }

    /// A connection and what an event on it may use of the rest.
    fn split(&mut self, id: ConnId, now: Instant) -> Option<(&mut Conn, Env<'_, R>)> {
        let Shell {
            conns,
            pool,
            metrics,
            rules,
            cfg,
            ..
        } = self;
        let c = conns.get_mut(&id)?;
        let env = Env {
            pool,
            metrics,
            rules: *rules,
            max_kept_bytes: cfg.max_held_upstream_bytes,
            max_parked_bytes: cfg.max_parked_client_bytes,
            id,
            now,
        };
        Some((c, env))
    }
}
