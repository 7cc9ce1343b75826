//! Replays a recorded client-to-server HTTP/2 byte stream into fresh frontend connections
//! and reports throughput.

use std::process::ExitCode;
use std::time::Instant;

use bytes::Bytes;
use h2mux::testkit::corpus::{browser_client_stream, replay, ReplayReport};

const USAGE: &str = "\
usage: h2mux-corpus-bench (--file PATH | --generate N) [--repeat K] [--chunk BYTES] [--write PATH]

  --file PATH      read a recorded client-to-server HTTP/2 byte stream (preface first)
  --generate N     generate a browser-like stream of N requests instead (seed 1)
  --repeat K       replay it K times, each into a fresh frontend connection (default 1)
  --chunk BYTES    feed it BYTES at a time (default 16384)
  --write PATH     save the stream to PATH first";

enum Source {
    File(String),
    Generate(usize),
}

struct Args {
    source: Source,
    repeat: usize,
    chunk: usize,
    write: Option<String>,
}

fn parse(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut source = None;
    let mut repeat = 1;
    let mut chunk = 16_384;
    let mut write = None;
    while let Some(flag) = argv.next() {
        match flag.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--file" | "--generate" | "--repeat" | "--chunk" | "--write" => {}
            _ => return Err(format!("unknown argument {flag:?}")),
        }
        let value = argv.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| -> Result<usize, String> {
            match v.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!("{flag} wants a positive integer, got {v:?}")),
            }
        };
        match flag.as_str() {
            "--file" | "--generate" if source.is_some() => {
                return Err("give one of --file and --generate, once".into())
            }
            "--file" => source = Some(Source::File(value)),
            "--generate" => source = Some(Source::Generate(number(&value)?)),
            "--repeat" => repeat = number(&value)?,
            "--chunk" => chunk = number(&value)?,
            _ => write = Some(value),
        }
    }
    let source = source.ok_or("give --file PATH or --generate N")?;
    Ok(Args {
        source,
        repeat,
        chunk,
        write,
    })
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("h2mux-corpus-bench: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let stream = match &args.source {
        Source::File(path) => match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("h2mux-corpus-bench: cannot read {path}: {e}");
                return ExitCode::FAILURE;
            }
        },
        Source::Generate(n) => {
            let t = Instant::now();
            let s = browser_client_stream(*n, 1);
            eprintln!(
                "generated {n} requests, {} bytes, in {:.2?}",
                s.len(),
                t.elapsed()
            );
            s
        }
    };
    if let Some(path) = &args.write {
        if let Err(e) = std::fs::write(path, &stream) {
            eprintln!("h2mux-corpus-bench: cannot write {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let stream = Bytes::from(stream);

    let mut total = ReplayReport::default();
    let mut first: Option<ReplayReport> = None;
    let start = Instant::now();
    for _ in 0..args.repeat {
        let r = replay(&stream, args.chunk);
        total.bytes += r.bytes;
        total.requests += r.requests;
        total.resets += r.resets;
        total.stalled += r.stalled;
        first.get_or_insert(r);
    }
    let secs = start.elapsed().as_secs_f64();

    let one = first.unwrap_or_default();
    println!(
        "stream:    {} bytes, {} requests, {} body bytes, {} resets per replay",
        stream.len(),
        one.requests,
        one.body_bytes,
        one.resets
    );
    println!(
        "replayed:  {} x in {}-byte chunks: {} bytes, {} requests",
        args.repeat, args.chunk, total.bytes, total.requests
    );
    println!("elapsed:   {:.3} s", secs);
    println!(
        "rate:      {:.1} MB/s, {:.0} requests/s",
        total.bytes as f64 / secs / 1e6,
        total.requests as f64 / secs
    );
    match one.error {
        Some(e) => println!("error:     {e:?}"),
        None => println!("error:     none"),
    }
    if total.stalled > 0 {
        println!("stalled:   {} bytes left unread", total.stalled);
    }
    if one.error.is_some() || total.stalled > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
