//! `h2mux-socket-host --listen ADDR --upstream ADDR [--config JSON] [--wasm PATH]
//! [--buffer-limit BYTES] [--verbose]`: the filter between real sockets (see the `socket`
//! module).

use std::net::SocketAddr;
use std::process::ExitCode;

use h2mux_wasm_tests::socket::{Options, SocketHost};

const USAGE: &str = "usage: h2mux-socket-host --listen ADDR --upstream ADDR [options]
  --listen ADDR          address to accept clients on (port 0 picks one)
  --upstream ADDR        address each client's bytes are relayed to (after the filter)
  --config JSON          the filter's plugin configuration (default {})
  --wasm PATH            the module (default: $H2MUX_WASM, else dist/h2mux.wasm)
  --buffer-limit BYTES   held client bytes past which reading stops (default 1048576)
  --verbose, -v          one line per connection opened and closed
One VM and one thread serve every connection.";

fn main() -> ExitCode {
    let mut listen = None;
    let mut opts = Options::default();
    let mut upstream = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or(what.to_string())
        };
        let r: Result<(), String> = (|| {
            match name.as_str() {
                "--listen" => listen = Some(value("--listen needs an address")?),
                "--upstream" => {
                    let v = value("--upstream needs an address")?;
                    upstream = Some(
                        v.parse::<SocketAddr>()
                            .map_err(|e| format!("--upstream {v}: {e}"))?,
                    );
                }
                "--config" => opts.plugin_config = value("--config needs JSON")?,
                "--wasm" => {
                    let path = value("--wasm needs a path")?;
                    // Read once, by the first VM, before any other thread exists.
                    std::env::set_var("H2MUX_WASM", path);
                }
                "--buffer-limit" => {
                    let v = value("--buffer-limit needs a byte count")?;
                    opts.buffer_limit = v
                        .parse()
                        .ok()
                        .filter(|&n| n > 0)
                        .ok_or(format!("--buffer-limit {v}: not a positive byte count"))?;
                }
                "--verbose" | "-v" => opts.verbose = true,
                "--help" | "-h" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
            Ok(())
        })();
        if let Err(why) = r {
            return usage_error(&why);
        }
    }
    let (Some(listen), Some(upstream)) = (listen, upstream) else {
        return usage_error("--listen and --upstream are required");
    };
    opts.upstream = upstream;

    let listener = match std::net::TcpListener::bind(&listen) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("h2mux-socket-host: cannot listen on {listen}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("h2mux-socket-host: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let host = {
        let _guard = rt.enter();
        SocketHost::new(listener, opts)
    };
    let host = match host {
        Ok(h) => h,
        Err(e) => {
            eprintln!("h2mux-socket-host: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = host
        .local_addr()
        .map_or_else(|_| listen.clone(), |a| a.to_string());
    eprintln!("h2mux-socket-host: listening on {addr}, upstream {upstream}");
    match rt.block_on(host.run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("h2mux-socket-host: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage_error(why: &str) -> ExitCode {
    eprintln!("h2mux-socket-host: {why}\n{USAGE}");
    ExitCode::from(2)
}
