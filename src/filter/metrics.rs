//! The shell's metric operations as Envoy metrics: `wasmcustom.h2mux_*` in /stats and
//! /stats/prometheus. Per-code counters are defined on first use.

use std::collections::BTreeMap;

use proxy_wasm::types::MetricType;

use super::host;
use crate::shell::{Metric, MetricKind, MetricOp};

/// The host's ids of the metrics (`None`: the host refused to define it).
pub struct MetricIds {
    fixed: [Option<u32>; Metric::ALL.len()],
    by_name: BTreeMap<String, Option<u32>>,
}

impl MetricIds {
    /// Defines every fixed metric.
    pub fn define() -> MetricIds {
        MetricIds {
            fixed: Metric::ALL.map(|m| {
                let kind = match m.kind() {
                    MetricKind::Counter => MetricType::Counter,
                    MetricKind::Gauge => MetricType::Gauge,
                    MetricKind::Histogram => MetricType::Histogram,
                };
                host::define_metric(kind, m.name())
            }),
            by_name: BTreeMap::new(),
        }
    }

    fn id(&self, m: Metric) -> Option<u32> {
        self.fixed.get(m.index()).copied().flatten()
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

    pub fn apply(&mut self, op: MetricOp) {
        match op {
            MetricOp::Add(m, by) => host::increment(self.id(m), by),
            MetricOp::Record(m, value) => host::record(self.id(m), value),
            MetricOp::Note(n) => {
                let id = self.named(n.name());
                host::increment(id, 1);
            }
        }
    }
}
