//! One filter configuration: the plugin JSON (the same keys as the .wasm's), and the
//! metrics Envoy defined for it. Envoy freezes metric definitions once the configuration
//! is made, so every name the shell can report is defined here: the fixed metrics, the
//! per-code reset and GOAWAY counters, and the per-rule violation counters.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use h2mux::config::PluginConfig;
use h2mux::shell::{Metric, MetricKind, MetricOp};
use h2mux::ErrorCode;

use crate::envoy::{ConfigHandle, Kind};

include!(concat!(env!("OUT_DIR"), "/rule_names.rs"));

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

pub struct Config {
    /// This configuration among all of the process's (the key of its workers).
    pub id: u64,
    pub plugin: PluginConfig,
    handle: ConfigHandle,
    fixed: Vec<Option<usize>>,
    notes: HashMap<String, usize>,
    destroyed: AtomicBool,
}

impl Config {
    /// Parses `json` and defines the metrics (main thread, inside
    /// `on_network_filter_config_new`). The error names the bad key.
    pub fn new(handle: ConfigHandle, json: &str) -> Result<Config, String> {
        let plugin = PluginConfig::parse(json)
            .and_then(|c| c.refuse_routes("the native module"))
            .map_err(|e| e.to_string())?;
        let fixed = Metric::ALL
            .iter()
            .map(|m| {
                let kind = match m.kind() {
                    MetricKind::Counter => Kind::Counter,
                    MetricKind::Gauge => Kind::Gauge,
                    MetricKind::Histogram => Kind::Histogram,
                };
                handle.define(kind, m.name())
            })
            .collect();
        let mut notes = HashMap::new();
        for name in note_names() {
            if let Some(id) = handle.define(Kind::Counter, &name) {
                notes.insert(name, id);
            }
        }
        Ok(Config {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            plugin,
            handle,
            fixed,
            notes,
            destroyed: AtomicBool::new(false),
        })
    }

    pub fn metric(&self, op: MetricOp) {
        match op {
            MetricOp::Add(m, by) => {
                if let Some(id) = self.fixed.get(m.index()).copied().flatten() {
                    let kind = if m.kind() == MetricKind::Gauge {
                        Kind::Gauge
                    } else {
                        Kind::Counter
                    };
                    self.handle.add(kind, id, by);
                }
            }
            MetricOp::Record(m, v) => {
                if let Some(id) = self.fixed.get(m.index()).copied().flatten() {
                    self.handle.record(id, v);
                }
            }
            MetricOp::Note(n) => {
                let name = n.name();
                match self.notes.get(&name) {
                    Some(&id) => self.handle.add(Kind::Counter, id, 1),
                    // A name the build did not find: loud in tests, counted in release.
                    None => h2mux::invariant::broken("every note metric is defined up front"),
                }
            }
        }
    }

    /// A panic caught in a hook: counted with the broken invariants.
    pub fn count_panic(&self) {
        self.metric(MetricOp::Add(Metric::InternalErrorsTotal, 1));
    }

    pub fn mark_destroyed(&self) {
        self.destroyed.store(true, Ordering::Release);
    }

    pub fn is_destroyed(&self) -> bool {
        self.destroyed.load(Ordering::Acquire)
    }
}

/// Every per-code and per-rule counter name `NoteMetric::name` can give.
fn note_names() -> Vec<String> {
    let mut codes: Vec<&str> = (0..=0xd).map(|c| ErrorCode::from_u32(c).name()).collect();
    codes.push(ErrorCode::from_u32(0xff).name());
    let mut names = Vec::new();
    for side in ["client", "upstream"] {
        for what in [
            "resets_sent",
            "resets_received",
            "goaways_sent",
            "goaways_received",
        ] {
            for code in &codes {
                names.push(format!("h2mux_{side}_{what}_{code}"));
            }
        }
        for rule in RULE_NAMES {
            names.push(format!("h2mux_{side}_violations_{rule}"));
        }
    }
    names
}
