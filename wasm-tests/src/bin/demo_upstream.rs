//! `demo-upstream [--listen ADDR] [--quiet]`: an h2c test server (see the
//! `upstream` module for its routes).

use std::process::ExitCode;

use h2mux_wasm_tests::upstream::{serve, Options};

const USAGE: &str = "usage: demo-upstream [--listen ADDR] [--quiet]
  --listen ADDR  address to listen on (default 127.0.0.1:8080)
  --quiet        no per-request log lines on stderr
Speaks HTTP/2 with prior knowledge (h2c) only.";

fn main() -> ExitCode {
    let mut listen = String::from("127.0.0.1:8080");
    let mut options = Options::default();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => match args.next() {
                Some(addr) => listen = addr,
                None => return usage_error("--listen needs an address"),
            },
            "--quiet" | "-q" => options.quiet = true,
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => match other.strip_prefix("--listen=") {
                Some(addr) => listen = addr.to_owned(),
                None => return usage_error(&format!("unknown argument {other:?}")),
            },
        }
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("demo-upstream: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let listener = match tokio::net::TcpListener::bind(&listen).await {
            Ok(listener) => listener,
            Err(err) => {
                eprintln!("demo-upstream: cannot listen on {listen}: {err}");
                return ExitCode::FAILURE;
            }
        };
        if !options.quiet {
            match listener.local_addr() {
                Ok(addr) => eprintln!("demo-upstream: listening on {addr} (h2c)"),
                Err(_) => eprintln!("demo-upstream: listening on {listen} (h2c)"),
            }
        }
        serve(listener, options).await;
        ExitCode::SUCCESS
    })
}

fn usage_error(why: &str) -> ExitCode {
    eprintln!("demo-upstream: {why}\n{USAGE}");
    ExitCode::from(2)
}
