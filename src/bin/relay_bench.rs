//! Replays recorded small-GET traffic through fresh relays and reports requests per second:
//! the relay's own cost per request in the h2load workload of `make bench`.

use std::process::ExitCode;
use std::time::Instant;

use h2mux::testkit::loadgen::{record, replay};

const USAGE: &str = "\
usage: h2mux-relay-bench [--requests N] [--concurrency M] [--repeat K]

  --requests N     small GETs per connection (default 2000)
  --concurrency M  streams in flight at a time, like h2load -m (default 10)
  --repeat K       replay the recording K times, each through a fresh relay (default 50)";

fn main() -> ExitCode {
    let mut requests = 2000u64;
    let mut concurrency = 10u64;
    let mut repeat = 50u64;
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        let slot = match flag.as_str() {
            "--requests" => &mut requests,
            "--concurrency" => &mut concurrency,
            "--repeat" => &mut repeat,
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        };
        match argv.next().and_then(|v| v.parse::<u64>().ok()) {
            Some(v) if v > 0 => *slot = v,
            _ => {
                eprintln!("h2mux-relay-bench: {flag} wants a positive integer\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let rec = record(requests, concurrency as usize);
    if rec.requests != requests {
        eprintln!(
            "h2mux-relay-bench: the live run answered {} of {requests} requests",
            rec.requests
        );
        return ExitCode::FAILURE;
    }
    let start = Instant::now();
    for _ in 0..repeat {
        if replay(&rec) != (rec.to_client, rec.to_upstream) {
            eprintln!("h2mux-relay-bench: the replay wrote other bytes than the recording");
            return ExitCode::FAILURE;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let total = rec.requests * repeat;
    println!(
        "recorded:  {} requests, {} calls, {} B to the client, {} B upstream",
        rec.requests,
        rec.steps.len(),
        rec.to_client,
        rec.to_upstream
    );
    println!("replayed:  {repeat} x, {total} requests in {secs:.3} s");
    println!("rate:      {:.0} requests/s", total as f64 / secs);
    ExitCode::SUCCESS
}
