//! `Relay`: the shell for one client connection and its upstream, with the capabilities of
//! a host that writes both ways whenever it likes. This is that host's side of the shell's
//! contract: it holds the client bytes the shell did not take (and hands them back first),
//! collects the bytes for each peer, and counts the metrics.

use std::collections::BTreeMap;

use bytes::Bytes;
use wasm_bindgen::prelude::*;

use super::convert::{config_error, instant, json_of, ms};
use super::{glue, RelayConfig};
use crate::config::PluginConfig;
use crate::shell::{Capabilities, ConnId, MetricOp, Ops, Shell};

/// The one connection of a relay's shell.
const ID: ConnId = 1;

/// A client connection and its upstream connection, relayed: bytes from either peer in,
/// bytes for each peer out, a deadline for the next `tick`.
#[wasm_bindgen]
pub struct Relay {
    shell: Shell<Capabilities>,
    /// Client bytes the shell did not take yet: given again, first, at the next event.
    held: Bytes,
    to_client: Vec<u8>,
    to_upstream: Vec<u8>,
    /// The shell asked for the connection to be closed, after the bytes collected.
    close: bool,
    /// The host said the connection is gone.
    gone: bool,
    metrics: BTreeMap<String, i64>,
}

#[wasm_bindgen]
impl Relay {
    /// A relay configured as the Envoy filter is: `config` is its JSON text, or an object
    /// (undefined: every default). Throws `H2ConfigError` naming the bad key.
    #[wasm_bindgen(constructor)]
    pub fn new(config: RelayConfig, now_ms: Option<f64>) -> Result<Relay, JsValue> {
        let config: &JsValue = config.as_ref();
        let cfg = match config.as_string() {
            Some(text) => PluginConfig::parse(&text),
            None => PluginConfig::from_value(json_of(config, "config")?),
        }
        .map_err(|e| config_error(&e))?;
        let mut shell = Shell::new(cfg, Capabilities::unrestricted());
        shell.open(ID, instant(now_ms.unwrap_or(0.0)));
        let mut relay = Relay {
            shell,
            held: Bytes::new(),
            to_client: Vec::new(),
            to_upstream: Vec::new(),
            close: false,
            gone: false,
            metrics: BTreeMap::new(),
        };
        relay.take_metrics();
        Ok(relay)
    }

    /// The client's connection is TLS: requests from HTTP/1.1 clients get `:scheme https`.
    #[wasm_bindgen(js_name = setClientTls)]
    pub fn set_client_tls(&mut self) {
        self.shell.set_client_tls(ID);
    }

    /// Bytes from the client (`end`: it sent its last).
    #[wasm_bindgen(js_name = fromClient)]
    pub fn from_client(&mut self, data: &[u8], end: bool, now_ms: f64) {
        if self.gone {
            return;
        }
        let input = if self.held.is_empty() {
            Bytes::copy_from_slice(data)
        } else {
            let mut all = Vec::with_capacity(self.held.len() + data.len());
            all.extend_from_slice(&self.held);
            all.extend_from_slice(data);
            Bytes::from(all)
        };
        self.held = Bytes::new();
        let ops = self.shell.downstream(ID, input, end, instant(now_ms));
        self.carry_out(ops, true);
    }

    /// Bytes from the upstream (`end`: it sent its last).
    #[wasm_bindgen(js_name = fromUpstream)]
    pub fn from_upstream(&mut self, data: &[u8], end: bool, now_ms: f64) {
        if self.gone {
            return;
        }
        let Relay { shell, held, .. } = self;
        let mut handed = false;
        let ops = shell.upstream(
            ID,
            Bytes::copy_from_slice(data),
            end,
            instant(now_ms),
            || {
                handed = true;
                std::mem::take(held)
            },
        );
        self.carry_out(ops, handed);
    }

    /// The periodic tick, due at `nextDeadline`: buffer waiters, timers, idle memory, closes.
    pub fn tick(&mut self, now_ms: f64) {
        if self.gone {
            return;
        }
        let Relay { shell, held, .. } = self;
        let mut visits = Vec::new();
        let mut tick = shell.tick(instant(now_ms));
        while tick.next_conn().is_some() {
            let mut handed = false;
            let ops = tick.visit(|| {
                handed = true;
                std::mem::take(held)
            });
            visits.push((ops, handed));
        }
        drop(tick);
        for (ops, handed) in visits {
            self.carry_out(ops, handed);
        }
    }

    /// Graceful shutdown: the client hears GOAWAY, streams under way finish (within
    /// `shutdown_timeout_ms`), then `shouldClose` turns true.
    pub fn shutdown(&mut self, now_ms: f64) {
        if self.gone {
            return;
        }
        let Relay { shell, held, .. } = self;
        let mut handed = false;
        let ops = shell.shutdown(ID, instant(now_ms), || {
            handed = true;
            std::mem::take(held)
        });
        self.carry_out(ops, handed);
    }

    /// The host is done with the connection (either socket closed): everything is let go.
    pub fn closed(&mut self, now_ms: f64) {
        if !self.gone {
            self.gone = true;
            self.shell.connection_closed(ID, instant(now_ms));
            self.held = Bytes::new();
            self.take_metrics();
        }
    }

    /// Bytes to write to the client since the last call, or undefined.
    #[wasm_bindgen(js_name = takeClientBytes)]
    pub fn take_client_bytes(&mut self) -> Option<Vec<u8>> {
        (!self.to_client.is_empty()).then(|| std::mem::take(&mut self.to_client))
    }

    /// Bytes to write to the upstream since the last call, or undefined.
    #[wasm_bindgen(js_name = takeUpstreamBytes)]
    pub fn take_upstream_bytes(&mut self) -> Option<Vec<u8>> {
        (!self.to_upstream.is_empty()).then(|| std::mem::take(&mut self.to_upstream))
    }

    /// Close both sockets once the bytes taken are written.
    #[wasm_bindgen(getter, js_name = shouldClose)]
    pub fn should_close(&self) -> bool {
        self.close
    }

    /// Client bytes held because the relay cannot take them yet (no buffer, all streams
    /// busy): stop reading the client above your limit, go on when this falls.
    #[wasm_bindgen(getter, js_name = heldClientBytes)]
    pub fn held_client_bytes(&self) -> u32 {
        u32::try_from(self.held.len()).unwrap_or(u32::MAX)
    }

    /// When `tick` is due next (ms on the caller's clock), or undefined once closed.
    #[wasm_bindgen(js_name = nextDeadline)]
    pub fn next_deadline(&self) -> Option<f64> {
        if self.gone {
            return None;
        }
        self.shell.next_deadline().map(ms)
    }

    /// The metrics, by their Prometheus names (`h2mux_streams_total`, ...), as the filter
    /// publishes them.
    pub fn metrics(&mut self) -> JsValue {
        self.take_metrics();
        let o: JsValue = glue::Object::new().into();
        for (name, v) in &self.metrics {
            glue::set(&o, name, *v as f64);
        }
        o
    }
}

impl Relay {
    /// What the shell asked for. `handed`: the held client bytes were given to it (its
    /// `hold` replaces them).
    fn carry_out(&mut self, ops: Ops, handed: bool) {
        let Ops {
            to_upstream,
            hold,
            to_client,
            resume,
            close,
        } = ops;
        if handed {
            self.held = hold.unwrap_or_default();
        } else if let Some(rest) = hold {
            // Only bytes handed over can be held; keep them all the same.
            self.held = rest;
        }
        if let Some(up) = to_upstream {
            self.to_upstream.extend_from_slice(&up);
        }
        if let Some(down) = to_client {
            self.to_client.extend_from_slice(&down);
        }
        // `resume`: the held bytes were all taken, so none are left to give again.
        if resume && !self.held.is_empty() {
            // Loud in debug builds; in release this connection ends, counted and logged.
            crate::invariant::broken("a resumed relay holds no client bytes");
            self.close = true;
        }
        self.close |= close;
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
