//! The plugin configuration: JSON the operator puts in Envoy's `configuration` field.
//!
//! Top-level keys set the buffer quota and the filter's own knobs; any `limits::Config` key
//! at the top level applies to both connections, and the `frontend` / `backend` objects
//! override it per side. An unknown key, a wrong type or an impossible value is an error
//! that names the key: Envoy then refuses the configuration.

pub mod json;
mod routes;

use std::sync::Arc;

use json::Value;

use crate::limits::Config;
use crate::relay::route::{Routes, DEFAULT_WAIT_MS};

/// Everything the filter needs, with defaults for what the JSON leaves out.
#[derive(Clone, Debug)]
pub struct PluginConfig {
    /// Size of one pool buffer; also bounds a frame payload we gather.
    pub buffer_size: usize,
    /// Bytes of buffers the VM may hold in all (the host-granted quota).
    pub quota_bytes: usize,
    /// Buffers kept for connections that already hold some, so they can always finish a
    /// step (a relay holds at most four: rx and tx on each side).
    pub reserve_buffers: usize,
    /// Connections that may wait for a buffer at once.
    pub max_waiters: usize,
    /// The root tick: resumption of waiters and timers run from it.
    pub tick_ms: u64,
    /// Upstream bytes the filter may hold while the relay cannot take them.
    pub max_held_upstream_bytes: usize,
    /// Client bytes the filter may keep for an HTTP/1.1 client whose body goes on faster
    /// than the upstream's window (Envoy: resuming the paused downstream forwards all of its
    /// buffer, so what the relay cannot take yet must be kept); past it the connection is
    /// closed.
    pub max_parked_client_bytes: usize,
    /// "error", "warn", "info", "debug" or "trace".
    pub log_level: String,
    /// Limits of the connection to the client: top-level keys, then the `frontend` object.
    pub frontend: Config,
    /// Limits of the connection to the upstream: top-level keys, then the `backend` object.
    pub backend: Config,
    /// Routing by authority (`routes`, `default_cluster`, `route_wait_ms`): off when absent.
    pub routes: Option<Arc<Routes>>,
    /// When a listener update hands this configuration's listeners to a newer one, its
    /// connections get the graceful GOAWAY at once (Envoy would close them at the end of
    /// its drain time without a word).
    pub drain_on_update: bool,
}

impl Default for PluginConfig {
    fn default() -> PluginConfig {
        PluginConfig {
            buffer_size: 16 * 1024,
            quota_bytes: 64 << 20,
            reserve_buffers: 4,
            max_waiters: 65_536,
            tick_ms: 10,
            max_held_upstream_bytes: 1 << 20,
            max_parked_client_bytes: 4 << 20,
            log_level: "info".into(),
            // HTTP/1.1 clients are served by default; the upstream speaks HTTP/2 unless
            // `upstream_protocol` says otherwise.
            frontend: Config {
                http1: true,
                ..Config::default()
            },
            backend: Config::default(),
            routes: None,
            drain_on_update: true,
        }
    }
}

fn boolean(key: &str, v: &Value) -> Result<bool, ConfigError> {
    match v {
        Value::Bool(b) => Ok(*b),
        _ => Err(err(
            key,
            format!("must be true or false, not {}", v.type_name()),
        )),
    }
}

/// A configuration error: which key, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The offending key, `side.key` for a per-side one; empty when the whole document is wrong.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "key `{}`: {}", self.key, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

fn err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.to_string(),
        message: message.into(),
    }
}

impl PluginConfig {
    /// For a host that cannot route by authority (it has no say in which upstream a
    /// connection goes to): a configuration with `routes` is refused, naming the key.
    pub fn refuse_routes(self, host: &str) -> Result<PluginConfig, ConfigError> {
        if self.routes.is_some() {
            return Err(err(
                "routes",
                format!("routing by authority is not supported by {host}; the proxy-wasm filter (h2mux.wasm) has it"),
            ));
        }
        Ok(self)
    }

    /// Parses the plugin configuration. Empty text means all defaults.
    pub fn parse(text: &str) -> Result<PluginConfig, ConfigError> {
        if text.trim().is_empty() {
            return Ok(PluginConfig::default());
        }
        let root = json::parse(text).map_err(|m| err("", format!("not valid JSON: {m}")))?;
        PluginConfig::from_value(root)
    }

    /// The configuration from a parsed document (a JS host hands over an object it read
    /// itself, its own keys removed).
    pub fn from_value(root: Value) -> Result<PluginConfig, ConfigError> {
        let mut pc = PluginConfig::default();
        let Value::Object(fields) = root else {
            return Err(err(
                "",
                format!("must be a JSON object, not {}", root.type_name()),
            ));
        };
        let mut front_over = None;
        let mut back_over = None;
        let (mut routes, mut default_cluster, mut route_wait) = (None, None, None);
        for (key, v) in &fields {
            match key.as_str() {
                "buffer_size" => pc.buffer_size = uint(key, v, 1024, 16 << 20)? as usize,
                "quota_bytes" => pc.quota_bytes = uint(key, v, 0, 1 << 40)? as usize,
                "reserve_buffers" => pc.reserve_buffers = uint(key, v, 0, 1 << 20)? as usize,
                "max_waiters" => pc.max_waiters = uint(key, v, 1, 1 << 24)? as usize,
                "tick_ms" => pc.tick_ms = uint(key, v, 1, 60_000)?,
                "max_held_upstream_bytes" => {
                    pc.max_held_upstream_bytes = uint(key, v, 0, 1 << 32)? as usize
                }
                "max_parked_client_bytes" => {
                    pc.max_parked_client_bytes = uint(key, v, 0, 1 << 32)? as usize
                }
                "log_level" => {
                    let Value::String(s) = v else {
                        return Err(err(key, format!("must be a string, not {}", v.type_name())));
                    };
                    if !matches!(s.as_str(), "error" | "warn" | "info" | "debug" | "trace") {
                        return Err(err(key, "must be one of error, warn, info, debug, trace"));
                    }
                    pc.log_level = s.clone();
                }
                "upstream_protocol" => {
                    pc.backend.http1 = match v {
                        Value::String(s) if s == "h2" => false,
                        Value::String(s) if s == "http/1.1" => true,
                        _ => return Err(err(key, "must be \"h2\" or \"http/1.1\"")),
                    }
                }
                "accept_http1" => pc.frontend.http1 = boolean(key, v)?,
                "drain_on_update" => pc.drain_on_update = boolean(key, v)?,
                "access_log" => pc.frontend.access_log = access_log(key, v)?,
                "routes" => routes = Some(v),
                "default_cluster" => default_cluster = Some(v),
                "route_wait_ms" => route_wait = Some(uint(key, v, 1, 60_000)?),
                "frontend" => front_over = Some(v),
                "backend" => back_over = Some(v),
                _ => {
                    // Shared limits apply to both sides.
                    if !set_limit(&mut pc.frontend, key, v)? {
                        return Err(err(key, "unknown key"));
                    }
                    set_limit(&mut pc.backend, key, v)?;
                }
            }
        }
        match routes {
            Some(r) => {
                let wait = route_wait.unwrap_or(DEFAULT_WAIT_MS);
                pc.routes = Some(Arc::new(routes::parse(r, default_cluster, wait)?));
            }
            None if default_cluster.is_some() => {
                return Err(err("default_cluster", "applies only with `routes`"));
            }
            None if route_wait.is_some() => {
                return Err(err("route_wait_ms", "applies only with `routes`"));
            }
            None => {}
        }
        if pc.backend.http1 {
            // An HTTP/1.1 upstream is silent until it answers, and a proxy-wasm filter can
            // write to the client only in an upstream event: window updates could not reach
            // an HTTP/2 client uploading a body. Its windows are opened wide instead; the
            // bytes go straight on to the upstream (TCP back-pressure through Envoy), and
            // what queued requests may hold meanwhile is bounded apart (`Relay`).
            let explicit = |k: &str| {
                fields.iter().any(|(key, _)| key == k)
                    || matches!(front_over, Some(Value::Object(f)) if f.iter().any(|(key, _)| key == k))
            };
            if !explicit("initial_window_size") {
                pc.frontend.initial_window_size = 0x7fff_ffff;
            }
            if !explicit("connection_window") {
                pc.frontend.connection_window = 0x7fff_ffff;
            }
        }
        for (side, over, cfg) in [
            ("frontend", front_over, &mut pc.frontend),
            ("backend", back_over, &mut pc.backend),
        ] {
            let Some(over) = over else { continue };
            let Value::Object(fields) = over else {
                return Err(err(
                    side,
                    format!("must be an object, not {}", over.type_name()),
                ));
            };
            for (key, v) in fields {
                let full = format!("{side}.{key}");
                if !set_limit(cfg, key, v).map_err(|e| err(&full, e.message))? {
                    return Err(err(&full, "unknown key"));
                }
            }
        }
        for (side, cfg) in [("frontend", &pc.frontend), ("backend", &pc.backend)] {
            cfg.validate().map_err(|m| err(side, m))?;
            if (cfg.max_frame_size as usize) > pc.buffer_size {
                return Err(err(
                    &format!("{side}.max_frame_size"),
                    format!(
                        "{} is larger than buffer_size {}: a frame must fit in a buffer",
                        cfg.max_frame_size, pc.buffer_size
                    ),
                ));
            }
        }
        // What one side's peer may send on a stream (the window we advertise there) is
        // queued on the other side until written: a smaller queue would cut such streams.
        for (side, queue, other, window) in [
            ("backend", &pc.backend, "frontend", &pc.frontend),
            ("frontend", &pc.frontend, "backend", &pc.backend),
        ] {
            // An HTTP/1.1 side writes a stream's bytes as they come: no send queue to fill.
            let h1_upstream = side == "backend" && queue.http1;
            if !h1_upstream && queue.max_stream_send_queue < window.initial_window_size as usize {
                return Err(err(
                    &format!("{side}.max_stream_send_queue"),
                    format!(
                        "{} is smaller than {other}.initial_window_size {}: a stream's bytes \
                         in flight from the {other} side must fit in its queue",
                        queue.max_stream_send_queue, window.initial_window_size
                    ),
                ));
            }
        }
        let buffers = pc.quota_bytes / pc.buffer_size;
        if buffers < pc.reserve_buffers + 2 {
            return Err(err(
                "quota_bytes",
                format!(
                    "allows {buffers} buffers of {} bytes: at least reserve_buffers + 2 ({}) are needed",
                    pc.buffer_size,
                    pc.reserve_buffers + 2
                ),
            ));
        }
        Ok(pc)
    }
}

/// `{"enabled": bool, "sample": 0.0..=1.0, "max_path": bytes}`; off unless enabled.
fn access_log(key: &str, v: &Value) -> Result<Option<crate::limits::AccessLog>, ConfigError> {
    let Value::Object(fields) = v else {
        return Err(err(
            key,
            format!("must be an object, not {}", v.type_name()),
        ));
    };
    let mut enabled = false;
    let mut log = crate::limits::AccessLog {
        sample: 1.0,
        max_path: 256,
    };
    for (k, v) in fields {
        let full = format!("{key}.{k}");
        match k.as_str() {
            "enabled" => {
                let Value::Bool(b) = v else {
                    return Err(err(
                        &full,
                        format!("must be true or false, not {}", v.type_name()),
                    ));
                };
                enabled = *b;
            }
            "sample" => match v {
                Value::Number(n) if (0.0..=1.0).contains(n) => log.sample = *n,
                _ => return Err(err(&full, "must be a number within 0..=1")),
            },
            "max_path" => log.max_path = uint(&full, v, 1, 65_536)? as usize,
            _ => return Err(err(&full, "unknown key")),
        }
    }
    Ok(enabled.then_some(log))
}

fn uint(key: &str, v: &Value, min: u64, max: u64) -> Result<u64, ConfigError> {
    let Value::Number(n) = v else {
        return Err(err(key, format!("must be a number, not {}", v.type_name())));
    };
    if n.fract() != 0.0 || *n < min as f64 || *n > max as f64 {
        return Err(err(
            key,
            format!("must be a whole number within {min}..={max}"),
        ));
    }
    Ok(*n as u64)
}

/// Sets one `limits::Config` knob. Ok(false) when the key is not one.
fn set_limit(c: &mut Config, key: &str, v: &Value) -> Result<bool, ConfigError> {
    let u32v = |min: u64, max: u64| uint(key, v, min, max).map(|x| x as u32);
    let usz = |min: u64, max: u64| uint(key, v, min, max).map(|x| x as usize);
    let ms = |min: u64, max: u64| uint(key, v, min, max);
    match key {
        "header_table_size" => c.header_table_size = u32v(0, 1 << 20)?,
        "max_concurrent_streams" => c.max_concurrent_streams = u32v(1, 1 << 20)?,
        "initial_window_size" => c.initial_window_size = u32v(0, 0x7fff_ffff)?,
        "connection_window" => c.connection_window = u32v(65_535, 0x7fff_ffff)?,
        "max_frame_size" => c.max_frame_size = u32v(16_384, 16_777_215)?,
        "max_header_list_size" => c.max_header_list_size = u32v(1024, 1 << 24)?,
        "encoder_table_size" => c.encoder_table_size = u32v(0, 1 << 20)?,
        "max_header_block" => c.max_header_block = usz(1024, 1 << 24)?,
        "max_continuation_frames" => c.max_continuation_frames = u32v(1, 1 << 16)?,
        "max_header_fields" => c.max_header_fields = usz(1, 1 << 16)?,
        "max_settings_entries" => c.max_settings_entries = usz(7, 1 << 10)?,
        "max_stream_send_queue" => c.max_stream_send_queue = usz(1024, 1 << 30)?,
        "max_pending_resets" => c.max_pending_resets = usz(1, 1 << 16)?,
        "glitch_threshold" => c.glitch_threshold = u32v(1, u32::MAX as u64)?,
        "glitch_decay_per_sec" => c.glitch_decay_per_sec = u32v(0, u32::MAX as u64)?,
        "settings_timeout_ms" => c.settings_timeout_ms = ms(1, 3_600_000)?,
        "idle_timeout_ms" => c.idle_timeout_ms = ms(0, 86_400_000)?,
        "shutdown_timeout_ms" => c.shutdown_timeout_ms = ms(1, 3_600_000)?,
        "h1_max_request_line" => c.h1_max_request_line = usz(64, 1 << 20)?,
        "h1_max_head_bytes" => c.h1_max_head_bytes = usz(1024, 1 << 24)?,
        "h1_max_pipelined" => c.h1_max_pipelined = usz(1, 1024)?,
        "h1_max_chunk_line" => c.h1_max_chunk_line = usz(16, 1 << 16)?,
        "queue_timeout_ms" => c.queue_timeout_ms = ms(1, 3_600_000)?,
        _ => return Ok(false),
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_means_defaults() {
        let pc = PluginConfig::parse("").unwrap();
        assert_eq!(pc.buffer_size, 16 * 1024);
        assert_eq!(PluginConfig::parse("{}").unwrap().quota_bytes, 64 << 20);
    }

    #[test]
    fn shared_limits_and_per_side_overrides() {
        let pc = PluginConfig::parse(
            r#"{"buffer_size": 32768, "quota_bytes": 262144, "max_concurrent_streams": 50,
                "backend": {"max_concurrent_streams": 200, "initial_window_size": 1048576}}"#,
        )
        .unwrap();
        assert_eq!(pc.frontend.max_concurrent_streams, 50);
        assert_eq!(pc.backend.max_concurrent_streams, 200);
        assert_eq!(pc.backend.initial_window_size, 1 << 20);
        assert_eq!(pc.frontend.initial_window_size, 65_535);
    }

    #[test]
    fn an_http11_upstream_opens_the_client_windows_wide_unless_told() {
        let pc = PluginConfig::parse(r#"{"upstream_protocol": "http/1.1"}"#).unwrap();
        assert!(pc.backend.http1 && pc.frontend.http1);
        assert_eq!(pc.frontend.initial_window_size, 0x7fff_ffff);
        assert_eq!(pc.frontend.connection_window, 0x7fff_ffff);
        let pc = PluginConfig::parse(
            r#"{"upstream_protocol": "http/1.1", "frontend": {"initial_window_size": 1000}}"#,
        )
        .unwrap();
        assert_eq!(pc.frontend.initial_window_size, 1000);
        assert_eq!(pc.frontend.connection_window, 0x7fff_ffff);
        let pc = PluginConfig::parse(r#"{"accept_http1": false}"#).unwrap();
        assert!(!pc.frontend.http1 && !pc.backend.http1);
        for bad in [
            r#"{"upstream_protocol": "http/2"}"#,
            r#"{"upstream_protocol": 1}"#,
            r#"{"accept_http1": "yes"}"#,
            r#"{"h1_max_pipelined": 0}"#,
            r#"{"h1_max_request_line": 40000}"#,
            r#"{"queue_timeout_ms": 0}"#,
        ] {
            let key = bad.split('"').nth(1).unwrap();
            let e = PluginConfig::parse(bad).unwrap_err();
            assert!(e.key.ends_with(key) || e.key == "frontend", "{bad}: {e:?}");
        }
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            (r#"{"no_such_key": 1}"#, "no_such_key"),
            (r#"{"buffer_size": "big"}"#, "buffer_size"),
            (r#"{"drain_on_update": 1}"#, "drain_on_update"),
            (r#"{"buffer_size": 1.5}"#, "buffer_size"),
            (r#"{"max_frame_size": 100}"#, "max_frame_size"),
            (r#"{"frontend": {"bogus": 1}}"#, "frontend.bogus"),
            (r#"{"backend": 3}"#, "backend"),
            (
                r#"{"frontend": {"max_frame_size": 65536}}"#,
                "frontend.max_frame_size",
            ),
            (r#"{"quota_bytes": 1024}"#, "quota_bytes"),
            (r#"{"log_level": "loud"}"#, "log_level"),
            (r#"{"connection_window": 10}"#, "connection_window"),
            (
                r#"{"backend": {"max_stream_send_queue": 1024}}"#,
                "backend.max_stream_send_queue",
            ),
            (
                r#"{"backend": {"initial_window_size": 2097152}}"#,
                "frontend.max_stream_send_queue",
            ),
            (r#"{"access_log": true}"#, "access_log"),
            (r#"{"access_log": {"enabled": 1}}"#, "access_log.enabled"),
            (r#"{"access_log": {"sample": 1.5}}"#, "access_log.sample"),
            (r#"{"access_log": {"sample": "all"}}"#, "access_log.sample"),
            (r#"{"access_log": {"max_path": 0}}"#, "access_log.max_path"),
            (r#"{"access_log": {"format": "json"}}"#, "access_log.format"),
        ];
        for (text, key) in cases {
            let e = PluginConfig::parse(text).unwrap_err();
            assert_eq!(e.key, key, "{text}: {e}");
            assert!(e.to_string().contains(key));
        }
        let on = PluginConfig::parse(r#"{"access_log": {"enabled": true, "sample": 0.25}}"#);
        let log = on.unwrap().frontend.access_log.unwrap();
        assert_eq!((log.sample, log.max_path), (0.25, 256));
        let off = PluginConfig::parse(r#"{"access_log": {"sample": 0.25}}"#).unwrap();
        assert_eq!(off.frontend.access_log, None);
        assert_eq!(PluginConfig::parse("[1]").unwrap_err().key, "");
        assert!(PluginConfig::parse("{").is_err());
    }
}
