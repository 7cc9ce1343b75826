//! Runs inputs through a fuzz driver outside libFuzzer, in a debug build with a plain
//! backtrace: `replay TARGET FILE...` (TARGET: frontend, backend, relay, hpack, h1server,
//! h1client, look).

fn main() {
    let mut args = std::env::args().skip(1);
    let target = args.next().expect("usage: replay TARGET FILE...");
    for path in args {
        let data = std::fs::read(&path).expect("read input");
        match target.as_str() {
            "frontend" => h2mux_fuzz::conn::frontend(&data),
            "backend" => h2mux_fuzz::conn::backend(&data),
            "relay" => println!("{path}: {:?}", h2mux_fuzz::relay::run_and_report(&data)),
            "hpack" => h2mux_fuzz::hpack::run(&data),
            "h1server" => h2mux_fuzz::h1::server(&data),
            "h1client" => h2mux_fuzz::h1::client(&data),
            "look" => h2mux_fuzz::look::run(&data),
            t => panic!("unknown target {t}"),
        }
    }
}
