//! The host calls the filter makes, each returning a `Result` (the SDK's trait helpers
//! unwrap, and an unwrap is a trap that takes the whole VM down).

use std::time::{Duration, UNIX_EPOCH};

use proxy_wasm::hostcalls;
use proxy_wasm::types::{BufferType, MetricType, Status};

use crate::shell::{envoy_filter_state_args, ListenerKey, SharedStore};
use crate::time::Instant;

pub fn now() -> Instant {
    let ms = hostcalls::get_current_time()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        // Not as_millis(): its u128 arithmetic is a library call in wasm, on every callback.
        // Seconds since 1970 times 1000 stay far below 2^64.
        .map_or(0, |d| {
            d.as_secs()
                .wrapping_mul(1000)
                .wrapping_add(u64::from(d.subsec_millis()))
        });
    Instant::from_millis(ms)
}

pub fn get(buf: BufferType, max: usize) -> Vec<u8> {
    match hostcalls::get_buffer(buf, 0, max) {
        Ok(Some(b)) => b,
        Ok(None) => Vec::new(),
        Err(s) => {
            log::warn!("h2mux: reading {:?} failed: {:?}", buf, s);
            Vec::new()
        }
    }
}

/// The client's connection is TLS (Envoy's `connection.tls_version` attribute is set).
pub fn client_tls() -> bool {
    matches!(
        hostcalls::get_property(vec!["connection", "tls_version"]),
        Ok(Some(v)) if !v.is_empty()
    )
}

/// The server name the client's TLS handshake asked for (SNI), if any.
pub fn requested_server_name() -> Option<Vec<u8>> {
    match hostcalls::get_property(vec!["connection", "requested_server_name"]) {
        Ok(Some(v)) if !v.is_empty() => Some(v),
        _ => None,
    }
}

/// The listener the current connection came through: its local port (Envoy's
/// `destination.port`, an int64) and its filter chain's name (`xds.filter_chain_name`,
/// empty when unnamed). None when the host does not say.
pub fn listener_key() -> Option<ListenerKey> {
    let port = match hostcalls::get_property(vec!["destination", "port"]) {
        Ok(Some(v)) => <[u8; 8]>::try_from(v.as_slice())
            .ok()
            .map(u64::from_le_bytes)?,
        _ => return None,
    };
    let chain = match hostcalls::get_property(vec!["xds", "filter_chain_name"]) {
        Ok(Some(v)) => v,
        _ => Vec::new(),
    };
    Some(ListenerKey::new(u32::try_from(port).ok()?, &chain))
}

/// Envoy's shared data, which every VM of the plugin's `vm_id` sees: numbers as 8 bytes
/// little-endian.
pub struct SharedData;

impl SharedStore for SharedData {
    fn load(&mut self, key: &str) -> Option<(u64, u32)> {
        match hostcalls::get_shared_data(key) {
            Ok((Some(v), cas)) => {
                let n = <[u8; 8]>::try_from(v.as_slice()).ok()?;
                Some((u64::from_le_bytes(n), cas.unwrap_or(0)))
            }
            Ok((None, cas)) => Some((0, cas.unwrap_or(0))),
            Err(s) => {
                log::debug!("h2mux: reading shared data {key} failed: {s:?}");
                None
            }
        }
    }

    fn swap(&mut self, key: &str, value: u64, version: u32) -> bool {
        // Version 0: the key is absent, and Envoy writes it without a check; two VMs
        // creating it at once may both win, and their births then tie, which takes no one
        // over.
        let cas = (version != 0).then_some(version);
        hostcalls::set_shared_data(key, Some(&value.to_le_bytes()), cas).is_ok()
    }
}

/// Sends the connection to `cluster`: tcp_proxy reads the filter state
/// `envoy.tcp_proxy.cluster` when it connects, which it does once the filter chain goes on.
pub fn set_upstream_cluster(cluster: &str) -> Result<(), Status> {
    let args = envoy_filter_state_args("envoy.tcp_proxy.cluster", cluster);
    hostcalls::call_foreign_function("set_envoy_filter_state", Some(&args)).map(|_| ())
}

/// Envoy's rule: start 0 and size N drains N bytes, then prepends `data`.
pub fn replace(buf: BufferType, drain: usize, data: &[u8]) -> Result<(), Status> {
    hostcalls::set_buffer(buf, 0, drain, data)
}

pub fn resume_downstream() -> Result<(), Status> {
    hostcalls::resume_downstream()
}

pub fn close_downstream() -> Result<(), Status> {
    hostcalls::close_downstream()
}

pub fn set_effective_context(id: u32) -> Result<(), Status> {
    hostcalls::set_effective_context(id)
}

pub fn set_tick_period(ms: u64) {
    if let Err(s) = hostcalls::set_tick_period(Duration::from_millis(ms)) {
        log::warn!("h2mux: set_tick_period failed: {:?}", s);
    }
}

/// The connection's summary as filter state `wasm.h2mux_summary`, for tcp_proxy's own
/// access log (`%FILTER_STATE(wasm.h2mux_summary:PLAIN)%`).
pub fn set_summary(json: &str) {
    if let Err(s) = hostcalls::set_property(vec!["h2mux_summary"], Some(json.as_bytes())) {
        log::debug!("h2mux: setting the connection summary failed: {:?}", s);
    }
}

pub fn record(id: Option<u32>, value: u64) {
    if let Some(id) = id {
        let _ = hostcalls::record_metric(id, value);
    }
}

pub fn define_metric(kind: MetricType, name: &str) -> Option<u32> {
    hostcalls::define_metric(kind, name).ok()
}

pub fn increment(id: Option<u32>, by: i64) {
    if let (Some(id), true) = (id, by != 0) {
        let _ = hostcalls::increment_metric(id, by);
    }
}
