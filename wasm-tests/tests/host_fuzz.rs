//! Seeded random and mutated HTTP/2 into both directions of many connections of one VM:
//! random bytes, and real client and server byte streams (recorded from an h2 client and
//! the scripted upstream talking directly) with flips, truncations, splices, deletions,
//! duplications and injected frames, fed in random chunks with ticks and clock jumps in
//! between. No input may trap the VM or grow memory past a bound, and the VM must still
//! serve a fresh connection afterwards.
//!
//! `H2MUX_FUZZ_BYTES` sets the volume (default 256,000,000), `H2MUX_FUZZ_SEED` the seed.
//! A failure prints the seed, case and connection: the same values replay it exactly.

mod common;
#[path = "common/h2raw.rs"]
mod h2raw;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use common::{assert_healthy, rt, vm};
use h2mux_wasm_tests::host::driver::Pump;
use h2mux_wasm_tests::host::peer::{self, Client};
use h2mux_wasm_tests::host::{ConnId, Vm};
use h2raw::*;
use http::HeaderMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const QUOTA: usize = 1 << 20;
const CONFIG: &str = r#"{"quota_bytes": 1048576}"#;
/// Linear memory allowed beyond the quota: per-connection state and the filter's copies
/// of held bytes for every connection open at once (`LIVE` of them, each bounded by
/// Envoy's buffer limit and `max_held_upstream_bytes`), and `ABANDONED` more.
const OVERHEAD: usize = 24 << 20;
/// Connections fed at once.
const LIVE: usize = 8;
/// Connections left open without input, beyond which the oldest is closed (so that the
/// memory bound holds for any volume).
const ABANDONED: usize = 32;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A real h2 client and the scripted upstream, talking through a recorder: their bytes
/// each way for one session (`concurrent`: requests interleaved on the connection).
fn record(concurrent: bool) -> (Vec<u8>, Vec<u8>) {
    rt().block_on(async {
        let (client_io, client_tee) = tokio::io::duplex(64 * 1024);
        let (server_io, server_tee) = tokio::io::duplex(64 * 1024);
        let _up = peer::serve(server_io);
        let c2s = Arc::new(Mutex::new(Vec::new()));
        let s2c = Arc::new(Mutex::new(Vec::new()));
        let (a_r, a_w) = tokio::io::split(client_tee);
        let (b_r, b_w) = tokio::io::split(server_tee);
        let t1 = tokio::spawn(tee_half(a_r, b_w, c2s.clone()));
        let t2 = tokio::spawn(tee_half(b_r, a_w, s2c.clone()));
        let mut cl = Client::connect(client_io).await.unwrap();
        let mut t = HeaderMap::new();
        t.insert("x-checksum", "abc".parse().unwrap());
        let body: Vec<u8> = (0..30_000u32).map(|i| (i * 7) as u8).collect();
        let paths = [
            ("GET", "/", Vec::new()),
            ("POST", "/echo", body.clone()),
            ("GET", "/bytes/70000", Vec::new()),
            ("GET", "/trailers", Vec::new()),
            ("GET", "/reset?code=8&after=100", Vec::new()),
            ("POST", "/sha256", body[..5000].to_vec()),
            ("GET", "/nowhere", Vec::new()),
        ];
        if concurrent {
            let tasks: Vec<_> = paths
                .iter()
                .cloned()
                .map(|(m, p, b)| {
                    let send = cl.send.clone();
                    tokio::spawn(async move { peer::request(&send, m, p, &b, None).await })
                })
                .collect();
            for t in tasks {
                let _ = t.await;
            }
        } else {
            for (m, p, b) in paths {
                let _ = cl.request(m, p, &b, None).await;
            }
            let _ = cl.request("POST", "/echo", b"trailing", Some(t)).await;
        }
        let _ = cl.ping().await;
        drop(cl);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
            let _ = t1.await;
            let _ = t2.await;
        })
        .await;
        let c = std::mem::take(&mut *c2s.lock().unwrap());
        let s = std::mem::take(&mut *s2c.lock().unwrap());
        (c, s)
    })
}

/// Copies `from` into `to`, keeping a copy of every byte.
async fn tee_half<R, W>(mut from: R, mut to: W, rec: Arc<Mutex<Vec<u8>>>)
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let mut b = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut b).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => {
                rec.lock().unwrap().extend_from_slice(&b[..n]);
                if to.write_all(&b[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// One to four mutations of `src`, `others` giving splice material.
fn mutate(rng: &mut Rng, src: &[u8], others: &[&[u8]]) -> Vec<u8> {
    let mut v = src.to_vec();
    for _ in 0..1 + rng.below(4) {
        if v.is_empty() {
            let n = 1 + rng.below(64);
            v = rng.bytes(n);
        }
        let at = rng.below(v.len());
        match rng.below(7) {
            0 => {
                for _ in 0..1 + rng.below(8) {
                    let i = rng.below(v.len());
                    v[i] ^= 1 + rng.below(255) as u8;
                }
            }
            1 => v.truncate(at),
            2 => {
                let o = others[rng.below(others.len())];
                if !o.is_empty() {
                    let s = rng.below(o.len());
                    let e = (s + 1 + rng.below(4096)).min(o.len());
                    v.splice(at..at, o[s..e].iter().copied());
                }
            }
            3 => {
                let e = (at + 1 + rng.below(2048)).min(v.len());
                v.drain(at..e);
            }
            4 => {
                let e = (at + 1 + rng.below(2048)).min(v.len());
                let dup = v[at..e].to_vec();
                v.splice(at..at, dup);
            }
            5 => {
                // A frame of any type, any flags, a small stream id and random payload.
                let len = rng.below(64);
                let f = frame(
                    rng.below(11) as u8,
                    rng.next() as u8,
                    rng.below(8) as u32,
                    &rng.bytes(len),
                );
                v.splice(at..at, f);
            }
            _ => {
                let len = rng.below(512);
                let r = rng.bytes(len);
                v.splice(at..at, r);
            }
        }
    }
    v
}

struct Case {
    id: usize,
    conn: ConnId,
    client: Vec<u8>,
    up: Vec<u8>,
    ci: usize,
    ui: usize,
}

/// A chunk length: mostly small, sometimes whole frames' worth, now and then large.
fn chunk(rng: &mut Rng) -> usize {
    match rng.below(10) {
        0..=3 => 1 + rng.below(16),
        4..=7 => 1 + rng.below(1024),
        8 => 1 + rng.below(16 * 1024),
        _ => 1 + rng.below(64 * 1024),
    }
}

#[test]
fn random_and_mutated_input_never_traps() {
    let budget = env_or("H2MUX_FUZZ_BYTES", 256_000_000) as usize;
    let seed = env_or("H2MUX_FUZZ_SEED", 0x0068_326d_7578);
    let sessions = [record(false), record(true)];
    let clients: Vec<&[u8]> = sessions.iter().map(|s| s.0.as_slice()).collect();
    let servers: Vec<&[u8]> = sessions.iter().map(|s| s.1.as_slice()).collect();
    assert!(clients.iter().all(|c| c.starts_with(PREFACE)));
    let vm = drive(CONFIG, &clients, &servers, budget, seed);
    serves_a_fresh_connection(vm);
}

/// HTTP/1.1 clients (well-formed sessions, smuggling attempts) mixed with HTTP/2 ones, into
/// an HTTP/2 upstream; then the same clients into an HTTP/1.1 upstream answering with
/// HTTP/1.1 byte streams. Mutated and cut as above.
#[test]
fn http1_input_never_traps() {
    let budget = env_or("H2MUX_FUZZ_BYTES", 256_000_000) as usize / 4;
    let seed = env_or("H2MUX_FUZZ_SEED", 0x0068_326d_7578) ^ 0x4831;
    let sessions = [record(false), record(true)];
    let mut clients: Vec<&[u8]> = sessions.iter().map(|s| s.0.as_slice()).collect();
    let h2_servers: Vec<&[u8]> = sessions.iter().map(|s| s.1.as_slice()).collect();
    clients.extend(H1_CLIENTS.iter().copied());
    let vm = drive(CONFIG, &clients, &h2_servers, budget, seed);
    serves_a_fresh_connection(vm);
    let config = r#"{"quota_bytes": 1048576, "upstream_protocol": "http/1.1"}"#;
    drive(config, &clients, H1_SERVERS, budget, seed ^ 1);
}

/// HTTP/1.1 client sessions: real shapes, pipelined, and attempts to smuggle.
const H1_CLIENTS: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: a\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n\
      GET /bytes/70000 HTTP/1.1\r\nHost: a\r\n\r\n\
      HEAD / HTTP/1.1\r\nHost: a\r\n\r\n\
      POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world\
      PUT /sha256 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\n\r\n\
      5;x=1\r\nhello\r\n6\r\n world\r\n0\r\nx-sum: 1\r\n\r\n\
      GET /trailers HTTP/1.1\r\nHost: a\r\nTE: trailers\r\nConnection: close\r\n\r\n",
    b"GET http://b.example/x?y=1 HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-A\r\nX-A: 1\r\n\r\n\
      OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.0\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n\
      0\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
      ffffffffffffffffff\r\nx\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
];

/// HTTP/1.1 upstream answers: several responses, each framing, and broken ones.
const H1_SERVERS: &[&[u8]] = &[
    b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello\n\
      HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
      5\r\nhello\r\n0\r\ngrpc-status: 0\r\n\r\n\
      HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html>until the end</html>",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n",
];

/// Feeds cases made of `clients` and `servers` (mutated, cut, interleaved) into one VM with
/// `config` until `budget` bytes went in; checks memory all along and, once every
/// connection is gone, that the figures balance. Returns the VM for a last check.
fn drive(config: &str, clients: &[&[u8]], servers: &[&[u8]], budget: usize, seed: u64) -> Vm {
    let t0 = Instant::now();
    let all: Vec<&[u8]> = clients.iter().chain(servers.iter()).copied().collect();
    let recorded: usize = all.iter().map(|s| s.len()).sum();
    let mut vm = vm(config);
    let mut rng = Rng(seed);
    let mut live: Vec<Case> = Vec::new();
    let (mut fed, mut cases, mut peak) = (0usize, 0usize, 0usize);
    let mut closed_by_filter = 0;
    let mut abandoned = std::collections::VecDeque::new();
    let ctx = |seed: u64, c: &Case| format!("seed {seed:#x}, case {}, {:?}", c.id, c.conn);
    while fed < budget {
        while live.len() < LIVE {
            let conn = vm.open().unwrap_or_else(|e| panic!("seed {seed:#x}: {e}"));
            let pick = |rng: &mut Rng, v: &[&[u8]]| v[rng.below(v.len())].to_vec();
            let (mut c0, mut s0) = (pick(&mut rng, clients), pick(&mut rng, servers));
            // Most cases end early: many short connections reach more states than few long.
            if rng.chance(2) {
                let n = 1 + rng.below(c0.len().min(32 * 1024));
                c0.truncate(n);
                let n = rng.below(s0.len().min(32 * 1024));
                s0.truncate(n);
            }
            let (client, up) = match rng.below(10) {
                0 => {
                    let mut c = if rng.chance(2) {
                        PREFACE.to_vec()
                    } else {
                        Vec::new()
                    };
                    let n = 1 + rng.below(64 * 1024);
                    c.extend(rng.bytes(n));
                    let n = rng.below(64 * 1024);
                    (c, rng.bytes(n))
                }
                1 | 2 => (c0, mutate(&mut rng, &s0, &all)),
                3..=5 => (mutate(&mut rng, &c0, &all), s0),
                _ => (mutate(&mut rng, &c0, &all), mutate(&mut rng, &s0, &all)),
            };
            live.push(Case {
                id: cases,
                conn,
                client,
                up,
                ci: 0,
                ui: 0,
            });
            cases += 1;
        }
        let k = rng.below(live.len());
        let c = &mut live[k];
        let to_client_side = c.ui >= c.up.len() || (c.ci < c.client.len() && rng.chance(2));
        let r = if to_client_side {
            let n = chunk(&mut rng).min(c.client.len() - c.ci);
            let r = vm.client_send(c.conn, &c.client[c.ci..c.ci + n]);
            c.ci += n;
            fed += n;
            r
        } else {
            let n = chunk(&mut rng).min(c.up.len() - c.ui);
            let r = vm.upstream_send(c.conn, &c.up[c.ui..c.ui + n]);
            c.ui += n;
            fed += n;
            r
        };
        r.unwrap_or_else(|e| panic!("{}: {e}", ctx(seed, c)));
        let conn = c.conn;
        if rng.chance(3) {
            vm.take_to_client(conn);
            vm.take_to_upstream(conn);
        }
        if rng.chance(20) {
            vm.tick()
                .unwrap_or_else(|e| panic!("seed {seed:#x}: tick: {e}"));
        }
        if rng.chance(200) {
            let ms = rng.below(3_000) as u64;
            vm.advance(ms)
                .unwrap_or_else(|e| panic!("seed {seed:#x}: advance: {e}"));
        }
        let c = &live[k];
        // Bytes the filter no longer takes teach nothing: retire the case.
        let stuck = vm.unread_downstream(conn) + vm.held_downstream(conn) > 256 * 1024;
        if c.ci >= c.client.len() && c.ui >= c.up.len() || vm.is_closed(conn) || stuck {
            closed_by_filter += vm.is_closed(conn) as usize;
            let c = live.swap_remove(k);
            let r = match rng.below(4) {
                // A client FIN alone leaves the connection to the upstream, which never ends
                // it here: it joins the abandoned ones.
                0 => {
                    abandoned.push_back(conn);
                    vm.client_close(conn)
                }
                1 => vm.upstream_close(conn),
                2 => vm.client_close(conn).and_then(|_| vm.upstream_close(conn)),
                // Left open for a while: idle, half-fed connections in the VM.
                _ => {
                    abandoned.push_back(conn);
                    Ok(())
                }
            };
            let r = r.and_then(|_| match abandoned.len() > ABANDONED {
                true => {
                    let old = abandoned.pop_front().unwrap();
                    vm.client_close(old).and_then(|_| vm.upstream_close(old))
                }
                false => Ok(()),
            });
            r.unwrap_or_else(|e| panic!("{}: close: {e}", ctx(seed, &c)));
        }
        if vm.memory_size() > peak && std::env::var_os("H2MUX_FUZZ_TRACE").is_some() {
            eprintln!(
                "memory {} KiB at {fed} B, case {cases}: {} connections open, active {:?}, \
                 quota in use {:?}, waiters {:?}",
                vm.memory_size() / 1024,
                vm.connections().len(),
                vm.metric("h2mux_connections_active"),
                vm.metric("h2mux_quota_bytes_in_use"),
                vm.metric("h2mux_quota_waiters"),
            );
        }
        peak = peak.max(vm.memory_size());
        assert!(
            peak <= QUOTA + OVERHEAD || std::env::var_os("H2MUX_FUZZ_TRACE").is_some(),
            "seed {seed:#x}: linear memory {peak} B after {fed} B fed"
        );
    }
    // Let timers close what they will.
    vm.advance(400_000).unwrap();
    let open = vm.connections().len();
    // Then every connection goes: what they held must all come back.
    for c in vm.connections() {
        vm.client_close(c)
            .and_then(|_| vm.upstream_close(c))
            .unwrap_or_else(|e| panic!("seed {seed:#x}: final close: {e}"));
    }
    vm.advance(1_000).unwrap();
    assert_conserved(&vm, seed);
    let fuzz_time = t0.elapsed();
    eprintln!(
        "fuzz: seed {seed:#x}, {fed} B fed in {cases} cases ({recorded} B recorded, \
         {closed_by_filter} cases closed by the filter) in {:.1} s; peak linear memory {} KiB; {open} connections still open",
        fuzz_time.as_secs_f64(),
        peak / 1024
    );
    vm
}

/// Once every connection is gone, the figures the host sees balance: no quota bytes in use,
/// no waiter, no connection, and no invariant of the module's own ever broke.
fn assert_conserved(vm: &Vm, seed: u64) {
    for name in [
        "h2mux_connections_active",
        "h2mux_quota_bytes_in_use",
        "h2mux_quota_waiters",
        "h2mux_internal_errors_total",
    ] {
        let v = vm.metric(name).unwrap_or(0);
        assert_eq!(v, 0, "seed {seed:#x}: {name}: {:?}", vm.metrics());
    }
}

/// A fresh client after all that: a download and an echo, byte-exact.
fn serves_a_fresh_connection(vm: Vm) {
    rt().block_on(async {
        let mut p = Pump::new(vm);
        let (_c, client_io, up_io) = p.connect().unwrap();
        let _up = peer::serve(up_io);
        let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let want = body.clone();
        let (dl, echo) = p
            .run(async move {
                let mut cl = Client::connect(client_io).await.unwrap();
                let dl = cl.request("GET", "/bytes/200000", b"", None).await.unwrap();
                let echo = cl.request("POST", "/echo", &body, None).await.unwrap();
                (dl, echo)
            })
            .await
            .unwrap();
        assert_eq!(dl.0, 200);
        assert!(dl.1 == peer::pattern(0, 200_000), "download differs");
        assert_eq!(echo.0, 200);
        assert!(echo.1 == want, "echo differs");
        assert_healthy(&p);
    });
}
