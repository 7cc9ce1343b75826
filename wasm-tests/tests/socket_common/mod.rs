//! Shared set-up for the socket-mode tests: the demo upstream and a socket host in front of
//! it, in-process, on free ports.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

use h2mux_wasm_tests::socket::{self, Counters, Options};
use h2mux_wasm_tests::upstream::{spawn, Options as UpstreamOptions};

/// Where the socket host listens, and the upstream behind it.
pub struct Setup {
    pub host: SocketAddr,
    pub upstream: SocketAddr,
    pub counters: Arc<Counters>,
}

/// The upstream's runtime outlives every test of the process.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime")
    })
}

/// A demo upstream and a socket host in front of it (with this buffer limit).
pub fn start(buffer_limit: usize) -> Setup {
    start_with("{}", buffer_limit)
}

/// The same with a plugin configuration.
pub fn start_with(plugin_config: &str, buffer_limit: usize) -> Setup {
    let server = runtime()
        .block_on(spawn("127.0.0.1:0", UpstreamOptions { quiet: true }))
        .expect("upstream bind");
    let upstream = server.local_addr();
    // Dropping the server would stop it; it serves until the process ends.
    std::mem::forget(server);
    let (host, counters) = socket::spawn(
        "127.0.0.1:0",
        Options {
            upstream,
            plugin_config: plugin_config.into(),
            buffer_limit,
            // Every filter log line and connection summary on stderr, for a failure's story.
            verbose: std::env::var_os("H2MUX_SOCKET_VERBOSE").is_some(),
        },
    )
    .unwrap_or_else(|e| panic!("socket host: {e}"));
    Setup {
        host,
        upstream,
        counters,
    }
}

/// One shared set-up (one VM for every connection, as one worker).
pub fn shared() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| start(1 << 20))
}

/// The tool's path if it runs, else None (and a message saying the test is skipped).
pub fn tool(name: &str, test: &str) -> Option<PathBuf> {
    let mut candidates = vec![PathBuf::from(name)];
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(home).join(".cargo/bin").join(name));
    }
    for c in candidates {
        // Runs at all (not every tool knows --version, or exits 0 for --help).
        let runs = Command::new(&c)
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        if runs {
            return Some(c);
        }
    }
    eprintln!("skipping {test}: {name} is not installed");
    None
}
