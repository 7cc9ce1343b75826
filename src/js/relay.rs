//! The shell for a host that writes both ways whenever it likes. `RelayGroup` serves many
//! client connections (each with its upstream) from one shell, so they share one buffer
//! quota, as an Envoy worker's connections do; `Relay` is a group of one. This is that
//! host's side of the shell's contract: it holds the client bytes the shell did not take
//! (and hands them back first), collects the bytes for each peer, and counts the metrics.

use std::collections::BTreeMap;

use bytes::Bytes;
use wasm_bindgen::prelude::*;

use super::convert::{config_error, instant, json_of, ms};
use super::{glue, RelayConfig};
use crate::config::PluginConfig;
use crate::shell::{Capabilities, ConnId, MetricOp, Ops, Shell};

/// What the host keeps for one connection.
#[derive(Default)]
struct Link {
    /// Client bytes the shell did not take yet: given again, first, at the next event.
    held: Bytes,
    to_client: Vec<u8>,
    to_upstream: Vec<u8>,
    /// The shell asked for the connection to be closed, after the bytes collected.
    close: bool,
}

/// The connections of one shell, by id.
struct Group {
    shell: Shell<Capabilities>,
    links: BTreeMap<ConnId, Link>,
    next_id: ConnId,
    metrics: BTreeMap<String, i64>,
}

fn parse_config(config: &RelayConfig) -> Result<PluginConfig, JsValue> {
    let config: &JsValue = config.as_ref();
    match config.as_string() {
        Some(text) => PluginConfig::parse(&text),
        None => PluginConfig::from_value(json_of(config, "config")?),
    }
    .and_then(|c| c.refuse_routes("the JS Relay"))
    .map_err(|e| config_error(&e))
}

impl Group {
    fn new(cfg: PluginConfig) -> Group {
        Group {
            shell: Shell::new(cfg, Capabilities::unrestricted()),
            links: BTreeMap::new(),
            next_id: 1,
            metrics: BTreeMap::new(),
        }
    }

    fn open(&mut self, now_ms: f64) -> ConnId {
        let mut id = self.next_id;
        // Ids wrap after 2^32 connections; skip any still in use.
        while id == 0 || self.links.contains_key(&id) {
            id = id.wrapping_add(1);
        }
        self.next_id = id.wrapping_add(1);
        self.shell.open(id, instant(now_ms));
        self.links.insert(id, Link::default());
        self.take_metrics();
        id
    }

    fn set_client_tls(&mut self, id: ConnId) {
        self.shell.set_client_tls(id);
    }

    fn on_client(&mut self, id: ConnId, data: &[u8], end: bool, now_ms: f64) {
        let Some(link) = self.links.get_mut(&id) else {
            return;
        };
        let input = if link.held.is_empty() {
            Bytes::copy_from_slice(data)
        } else {
            let mut all = Vec::with_capacity(link.held.len() + data.len());
            all.extend_from_slice(&link.held);
            all.extend_from_slice(data);
            Bytes::from(all)
        };
        link.held = Bytes::new();
        let ops = self.shell.downstream(id, input, end, instant(now_ms));
        self.carry_out(id, ops, true);
    }

    fn on_upstream(&mut self, id: ConnId, data: &[u8], end: bool, now_ms: f64) {
        let Group { shell, links, .. } = self;
        let Some(link) = links.get_mut(&id) else {
            return;
        };
        let mut handed = false;
        let ops = shell.upstream(
            id,
            Bytes::copy_from_slice(data),
            end,
            instant(now_ms),
            || {
                handed = true;
                std::mem::take(&mut link.held)
            },
        );
        self.carry_out(id, ops, handed);
    }

    /// The tick: returns the connections it visited (they may have bytes or a close).
    fn tick(&mut self, now_ms: f64) -> Vec<ConnId> {
        let Group { shell, links, .. } = self;
        let mut visits = Vec::new();
        let mut tick = shell.tick(instant(now_ms));
        while let Some(id) = tick.next_conn() {
            let Some(link) = links.get_mut(&id) else {
                tick.skip();
                continue;
            };
            let mut handed = false;
            let ops = tick.visit(|| {
                handed = true;
                std::mem::take(&mut link.held)
            });
            visits.push((id, ops, handed));
        }
        drop(tick);
        let mut ids = Vec::with_capacity(visits.len());
        for (id, ops, handed) in visits {
            self.carry_out(id, ops, handed);
            ids.push(id);
        }
        self.take_metrics();
        ids
    }

    fn shutdown(&mut self, id: ConnId, now_ms: f64) {
        let Group { shell, links, .. } = self;
        let Some(link) = links.get_mut(&id) else {
            return;
        };
        let mut handed = false;
        let ops = shell.shutdown(id, instant(now_ms), || {
            handed = true;
            std::mem::take(&mut link.held)
        });
        self.carry_out(id, ops, handed);
    }

    fn closed(&mut self, id: ConnId, now_ms: f64) {
        if self.links.remove(&id).is_some() {
            self.shell.connection_closed(id, instant(now_ms));
            self.take_metrics();
        }
    }

    fn take_client_bytes(&mut self, id: ConnId) -> Option<Vec<u8>> {
        let link = self.links.get_mut(&id)?;
        (!link.to_client.is_empty()).then(|| std::mem::take(&mut link.to_client))
    }

    fn take_upstream_bytes(&mut self, id: ConnId) -> Option<Vec<u8>> {
        let link = self.links.get_mut(&id)?;
        (!link.to_upstream.is_empty()).then(|| std::mem::take(&mut link.to_upstream))
    }

    fn should_close(&self, id: ConnId) -> bool {
        self.links.get(&id).is_some_and(|l| l.close)
    }

    fn held_client_bytes(&self, id: ConnId) -> u32 {
        self.links
            .get(&id)
            .map_or(0, |l| u32::try_from(l.held.len()).unwrap_or(u32::MAX))
    }

    fn next_deadline(&self) -> Option<f64> {
        self.shell.next_deadline().map(ms)
    }

    fn metrics(&mut self) -> JsValue {
        self.take_metrics();
        let o: JsValue = glue::Object::new().into();
        for (name, v) in &self.metrics {
            glue::set(&o, name, *v as f64);
        }
        o
    }

    /// What the shell asked for one connection. `handed`: the held client bytes were given
    /// to it (its `hold` replaces them).
    fn carry_out(&mut self, id: ConnId, ops: Ops, handed: bool) {
        let Ops {
            to_upstream,
            hold,
            to_client,
            resume,
            // Only under Envoy's proxy-wasm rules (`Capabilities::envoy()`).
            park: _,
            close,
        } = ops;
        if let Some(link) = self.links.get_mut(&id) {
            if handed {
                link.held = hold.unwrap_or_default();
            } else if let Some(rest) = hold {
                // Only bytes handed over can be held; keep them all the same.
                link.held = rest;
            }
            if let Some(up) = to_upstream {
                link.to_upstream.extend_from_slice(&up);
            }
            if let Some(down) = to_client {
                link.to_client.extend_from_slice(&down);
            }
            // `resume`: the held bytes were all taken, so none are left to give again.
            if resume && !link.held.is_empty() {
                // Loud in debug builds; in release this connection ends, counted and logged.
                crate::invariant::broken("a resumed relay holds no client bytes");
                link.close = true;
            }
            link.close |= close;
        }
        self.take_metrics();
    }

    fn take_metrics(&mut self) {
        for op in self.shell.take_metrics() {
            match op {
                MetricOp::Add(m, by) => *self.metrics.entry(m.name().into()).or_default() += by,
                // A histogram as its count and sum (a JS caller wanting buckets records
                // its own).
                MetricOp::Record(m, v) => {
                    let v = i64::try_from(v).unwrap_or(i64::MAX);
                    *self
                        .metrics
                        .entry(format!("{}_count", m.name()))
                        .or_default() += 1;
                    let sum = self.metrics.entry(format!("{}_sum", m.name())).or_default();
                    *sum = sum.saturating_add(v);
                }
                MetricOp::Note(n) => *self.metrics.entry(n.name()).or_default() += 1,
            }
        }
    }
}

/// Many client connections, each with its upstream connection, relayed by one shell: one
/// buffer quota (`quota_bytes`) for all of them, one tick, metrics added up. Each
/// connection is a number from `open`.
#[wasm_bindgen]
pub struct RelayGroup {
    group: Group,
}

#[wasm_bindgen]
impl RelayGroup {
    /// A group configured as the Envoy filter is (the JSON text, or an object; undefined:
    /// every default). Throws `H2ConfigError` naming the bad key.
    #[wasm_bindgen(constructor)]
    pub fn new(config: RelayConfig) -> Result<RelayGroup, JsValue> {
        Ok(RelayGroup {
            group: Group::new(parse_config(&config)?),
        })
    }

    /// A new client connection (its upstream connection is the caller's to open): its id.
    pub fn open(&mut self, now_ms: f64) -> u32 {
        self.group.open(now_ms)
    }

    /// Connections open.
    #[wasm_bindgen(getter)]
    pub fn connections(&self) -> u32 {
        u32::try_from(self.group.links.len()).unwrap_or(u32::MAX)
    }

    /// Connection `id`'s client connection is TLS: HTTP/1.1 requests get `:scheme https`.
    #[wasm_bindgen(js_name = setClientTls)]
    pub fn set_client_tls(&mut self, id: u32) {
        self.group.set_client_tls(id);
    }

    /// Bytes from connection `id`'s client (`end`: it sent its last).
    #[wasm_bindgen(js_name = fromClient)]
    pub fn from_client(&mut self, id: u32, data: &[u8], end: bool, now_ms: f64) {
        self.group.on_client(id, data, end, now_ms);
    }

    /// Bytes from connection `id`'s upstream (`end`: it sent its last).
    #[wasm_bindgen(js_name = fromUpstream)]
    pub fn from_upstream(&mut self, id: u32, data: &[u8], end: bool, now_ms: f64) {
        self.group.on_upstream(id, data, end, now_ms);
    }

    /// The periodic tick, due at `nextDeadline`: buffer waiters, timers, idle memory,
    /// closes. Returns the ids of the connections it visited: only they may have new bytes
    /// or a close.
    pub fn tick(&mut self, now_ms: f64) -> Vec<u32> {
        self.group.tick(now_ms)
    }

    /// Graceful shutdown of connection `id`: GOAWAY, streams under way finish.
    pub fn shutdown(&mut self, id: u32, now_ms: f64) {
        self.group.shutdown(id, now_ms);
    }

    /// Connection `id` is gone (either socket closed): everything of it is let go.
    pub fn closed(&mut self, id: u32, now_ms: f64) {
        self.group.closed(id, now_ms);
    }

    /// Bytes to write to connection `id`'s client, or undefined.
    #[wasm_bindgen(js_name = takeClientBytes)]
    pub fn take_client_bytes(&mut self, id: u32) -> Option<Vec<u8>> {
        self.group.take_client_bytes(id)
    }

    /// Bytes to write to connection `id`'s upstream, or undefined.
    #[wasm_bindgen(js_name = takeUpstreamBytes)]
    pub fn take_upstream_bytes(&mut self, id: u32) -> Option<Vec<u8>> {
        self.group.take_upstream_bytes(id)
    }

    /// Close both of connection `id`'s sockets once the bytes taken are written.
    #[wasm_bindgen(js_name = shouldClose)]
    pub fn should_close(&self, id: u32) -> bool {
        self.group.should_close(id)
    }

    /// Client bytes of connection `id` held because the relay cannot take them yet.
    #[wasm_bindgen(js_name = heldClientBytes)]
    pub fn held_client_bytes(&self, id: u32) -> u32 {
        self.group.held_client_bytes(id)
    }

    /// When `tick` is due next (ms on the caller's clock), or undefined with no connection.
    #[wasm_bindgen(js_name = nextDeadline)]
    pub fn next_deadline(&self) -> Option<f64> {
        self.group.next_deadline()
    }

    /// The metrics of every connection so far, gone ones included, by their Prometheus
    /// names, as the filter publishes them.
    pub fn metrics(&mut self) -> JsValue {
        self.group.metrics()
    }
}

/// A client connection and its upstream connection, relayed: bytes from either peer in,
/// bytes for each peer out, a deadline for the next `tick`. A `RelayGroup` of one.
#[wasm_bindgen]
pub struct Relay {
    group: Group,
    id: ConnId,
}

#[wasm_bindgen]
impl Relay {
    /// A relay configured as the Envoy filter is: `config` is its JSON text, or an object
    /// (undefined: every default). Throws `H2ConfigError` naming the bad key.
    #[wasm_bindgen(constructor)]
    pub fn new(config: RelayConfig, now_ms: Option<f64>) -> Result<Relay, JsValue> {
        let mut group = Group::new(parse_config(&config)?);
        let id = group.open(now_ms.unwrap_or(0.0));
        Ok(Relay { group, id })
    }

    /// The client's connection is TLS: requests from HTTP/1.1 clients get `:scheme https`.
    #[wasm_bindgen(js_name = setClientTls)]
    pub fn set_client_tls(&mut self) {
        self.group.set_client_tls(self.id);
    }

    /// Bytes from the client (`end`: it sent its last).
    #[wasm_bindgen(js_name = fromClient)]
    pub fn from_client(&mut self, data: &[u8], end: bool, now_ms: f64) {
        self.group.on_client(self.id, data, end, now_ms);
    }

    /// Bytes from the upstream (`end`: it sent its last).
    #[wasm_bindgen(js_name = fromUpstream)]
    pub fn from_upstream(&mut self, data: &[u8], end: bool, now_ms: f64) {
        self.group.on_upstream(self.id, data, end, now_ms);
    }

    /// The periodic tick, due at `nextDeadline`: buffer waiters, timers, idle memory, closes.
    pub fn tick(&mut self, now_ms: f64) {
        self.group.tick(now_ms);
    }

    /// Graceful shutdown: the client hears GOAWAY, streams under way finish (within
    /// `shutdown_timeout_ms`), then `shouldClose` turns true.
    pub fn shutdown(&mut self, now_ms: f64) {
        self.group.shutdown(self.id, now_ms);
    }

    /// The host is done with the connection (either socket closed): everything is let go.
    pub fn closed(&mut self, now_ms: f64) {
        self.group.closed(self.id, now_ms);
    }

    /// Bytes to write to the client since the last call, or undefined.
    #[wasm_bindgen(js_name = takeClientBytes)]
    pub fn take_client_bytes(&mut self) -> Option<Vec<u8>> {
        self.group.take_client_bytes(self.id)
    }

    /// Bytes to write to the upstream since the last call, or undefined.
    #[wasm_bindgen(js_name = takeUpstreamBytes)]
    pub fn take_upstream_bytes(&mut self) -> Option<Vec<u8>> {
        self.group.take_upstream_bytes(self.id)
    }

    /// Close both sockets once the bytes taken are written.
    #[wasm_bindgen(getter, js_name = shouldClose)]
    pub fn should_close(&self) -> bool {
        self.group.should_close(self.id)
    }

    /// Client bytes held because the relay cannot take them yet (no buffer, all streams
    /// busy): stop reading the client above your limit, go on when this falls.
    #[wasm_bindgen(getter, js_name = heldClientBytes)]
    pub fn held_client_bytes(&self) -> u32 {
        self.group.held_client_bytes(self.id)
    }

    /// When `tick` is due next (ms on the caller's clock), or undefined once closed.
    #[wasm_bindgen(js_name = nextDeadline)]
    pub fn next_deadline(&self) -> Option<f64> {
        self.group.next_deadline()
    }

    /// The metrics, by their Prometheus names (`h2mux_streams_total`, ...), as the filter
    /// publishes them.
    pub fn metrics(&mut self) -> JsValue {
        self.group.metrics()
    }
}
