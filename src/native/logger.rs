//! The `log` crate's records into Envoy's log (the "dynamic_modules" logger).

use crate::abi;
use crate::envoy;

struct EnvoyLog;

static LOGGER: EnvoyLog = EnvoyLog;

fn level_of(l: log::Level) -> u32 {
    match l {
        log::Level::Error => abi::LOG_ERROR,
        log::Level::Warn => abi::LOG_WARN,
        log::Level::Info => abi::LOG_INFO,
        log::Level::Debug => abi::LOG_DEBUG,
        log::Level::Trace => abi::LOG_TRACE,
    }
}

impl log::Log for EnvoyLog {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        envoy::log_enabled(level_of(m.level()))
    }

    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            envoy::log(level_of(r.level()), &r.args().to_string());
        }
    }

    fn flush(&self) {}
}

/// Installs the logger (once) and sets the level from the configuration's `log_level`.
pub fn init(level: &str) {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(match level {
        "error" => log::LevelFilter::Error,
        "warn" => log::LevelFilter::Warn,
        "debug" => log::LevelFilter::Debug,
        "trace" => log::LevelFilter::Trace,
        _ => log::LevelFilter::Info,
    });
}
