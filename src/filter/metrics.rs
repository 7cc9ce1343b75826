//! Metrics: counters and gauges Envoy shows as `wasmcustom.h2mux_*` in /stats and
//! /stats/prometheus. Per-code counters are defined on first use.

use std::collections::BTreeMap;

use proxy_wasm::types::MetricType;

use super::host;
use crate::conn::Note;
use crate::error::ErrorCode;

#[derive(Default)]
pub struct Metrics {
    pub connections_total: Option<u32>,
    pub connections_active: Option<u32>,
    pub streams_total: Option<u32>,
    pub bytes_from_client: Option<u32>,
    pub bytes_to_client: Option<u32>,
    pub bytes_from_upstream: Option<u32>,
    pub bytes_to_upstream: Option<u32>,
    pub glitch_points: Option<u32>,
    pub quota_bytes_in_use: Option<u32>,
    pub quota_waiters: Option<u32>,
    pub quota_waits_total: Option<u32>,
    pub quota_resumed_total: Option<u32>,
    pub doorbells_total: Option<u32>,
    pub bad_gateway_total: Option<u32>,
    pub connection_errors_total: Option<u32>,
    by_name: BTreeMap<String, Option<u32>>,
    /// Counter increments gathered since the last flush, by metric id.
    pending: Vec<(u32, i64)>,
}

impl Metrics {
    pub fn define() -> Metrics {
        let c = |n: &str| host::define_metric(MetricType::Counter, n);
        let g = |n: &str| host::define_metric(MetricType::Gauge, n);
        Metrics {
            connections_total: c("h2mux_connections_total"),
            connections_active: g("h2mux_connections_active"),
            streams_total: c("h2mux_streams_total"),
            bytes_from_client: c("h2mux_bytes_from_client"),
            bytes_to_client: c("h2mux_bytes_to_client"),
            bytes_from_upstream: c("h2mux_bytes_from_upstream"),
            bytes_to_upstream: c("h2mux_bytes_to_upstream"),
            glitch_points: c("h2mux_glitch_points_total"),
            quota_bytes_in_use: g("h2mux_quota_bytes_in_use"),
            quota_waiters: g("h2mux_quota_waiters"),
            quota_waits_total: c("h2mux_quota_waits_total"),
            quota_resumed_total: c("h2mux_quota_resumed_total"),
            doorbells_total: c("h2mux_doorbells_total"),
            bad_gateway_total: c("h2mux_bad_gateway_total"),
            connection_errors_total: c("h2mux_connection_errors_total"),
            by_name: BTreeMap::new(),
            pending: Vec::new(),
        }
    }

    /// Adds to a counter at the next `flush`: a callback costs no host call for its
    /// figures, a tick one per counter that moved.
    pub fn add(&mut self, id: Option<u32>, by: i64) {
        let Some(id) = id else { return };
        if by == 0 {
            return;
        }
        match self.pending.iter_mut().find(|(i, _)| *i == id) {
            Some((_, n)) => *n = n.saturating_add(by),
            // Bounded by the counters defined above (a dozen ids).
            None => self.pending.push((id, by)),
        }
    }

    /// Publishes what `add` gathered.
    pub fn flush(&mut self) {
        for (id, by) in self.pending.drain(..) {
            host::increment(Some(id), by);
        }
    }

    fn named(&mut self, name: String) -> Option<u32> {
        if let Some(id) = self.by_name.get(&name) {
            return *id;
        }
        // Bounded: 4 kinds x 2 sides x 15 codes.
        let id = host::define_metric(MetricType::Counter, &name);
        self.by_name.insert(name, id);
        id
    }

    /// `client` says which connection the note comes from.
    pub fn note(&mut self, client: bool, n: Note) {
        let side = if client { "client" } else { "upstream" };
        let (what, code) = match n {
            Note::ResetSent(c) => ("resets_sent", c),
            Note::ResetReceived(c) => ("resets_received", c),
            Note::GoAwaySent(c) => ("goaways_sent", c),
            Note::GoAwayReceived(c) => ("goaways_received", c),
            Note::Violation(v) => {
                // Bounded by the rules: one counter per rule and side.
                let id = self.named(format!("h2mux_{side}_violations_{}", v.name()));
                host::increment(id, 1);
                return;
            }
        };
        let code = match code {
            ErrorCode::Other(_) => "unknown",
            c => c.name(),
        };
        let id = self.named(format!("h2mux_{side}_{what}_{code}"));
        host::increment(id, 1);
    }
}
