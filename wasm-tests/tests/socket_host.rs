//! The socket host (the filter between real TCP sockets) in front of the demo upstream,
//! driven by an h2 client, curl, nghttp and h2load (those three only if installed).

mod socket_common;

use std::future::poll_fn;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use h2::client::SendRequest;
use h2::{RecvStream, SendStream};
use h2mux_wasm_tests::socket::Counters;
use h2mux_wasm_tests::upstream::pattern_byte;
use http::{Method, Request};
use sha2::{Digest, Sha256};
use socket_common::{shared, start_with, tool};
use tokio::net::TcpStream;

const MB10: usize = 10 * 1024 * 1024;
const HOST_BIN: &str = env!("CARGO_BIN_EXE_h2mux-socket-host");

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            tokio::time::timeout(Duration::from_secs(60), f)
                .await
                .expect("timed out")
        })
}

async fn connect(addr: SocketAddr) -> SendRequest<Bytes> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.set_nodelay(true).unwrap();
    let (send, conn) = h2::client::Builder::new()
        .initial_window_size(1 << 20)
        .initial_connection_window_size(8 << 20)
        .handshake(tcp)
        .await
        .expect("handshake");
    tokio::spawn(conn);
    send
}

async fn open(
    send: &mut SendRequest<Bytes>,
    method: Method,
    path: &str,
    end: bool,
) -> (h2::client::ResponseFuture, SendStream<Bytes>) {
    let req = Request::builder()
        .method(method)
        .uri(format!("http://h2mux{path}"))
        .body(())
        .unwrap();
    *send = send.clone().ready().await.expect("ready");
    send.send_request(req, end).expect("send_request")
}

async fn send_all(stream: &mut SendStream<Bytes>, mut data: Bytes) {
    while !data.is_empty() {
        stream.reserve_capacity(data.len().min(1 << 20));
        let cap = poll_fn(|cx| stream.poll_capacity(cx))
            .await
            .expect("stream open")
            .expect("capacity");
        stream
            .send_data(data.split_to(cap.min(data.len())), false)
            .expect("send_data");
    }
    stream.send_data(Bytes::new(), true).expect("end stream");
}

async fn read_body(body: &mut RecvStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.expect("body");
        body.flow_control().release_capacity(chunk.len()).unwrap();
        out.extend_from_slice(&chunk);
    }
    out
}

/// Deterministic bytes unlike the upstream's pattern.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn hex_sha256(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// Uploads `body` to /sha256 and checks what the upstream hashed.
async fn upload_sha256(addr: SocketAddr, body: Vec<u8>) {
    let want = format!("{} {}\n", hex_sha256(&body), body.len());
    let mut send = connect(addr).await;
    let (res, mut stream) = open(&mut send, Method::POST, "/sha256", false).await;
    send_all(&mut stream, body.into()).await;
    let res = res.await.expect("response");
    assert_eq!(res.status(), 200);
    let got = read_body(&mut res.into_body()).await;
    assert_eq!(String::from_utf8(got).unwrap(), want);
}

#[test]
fn h2_client_concurrent_echo_and_trailers() {
    let s = shared();
    run(async {
        let mut send = connect(s.host).await;
        let mut calls = Vec::new();
        for i in 0..100u64 {
            let (res, mut stream) = open(&mut send, Method::POST, "/echo", false).await;
            let body = noise(1000 + i as usize * 97, i + 1);
            calls.push(tokio::spawn(async move {
                send_all(&mut stream, Bytes::from(body.clone())).await;
                let res = res.await.expect("response");
                assert_eq!(res.status(), 200);
                assert_eq!(read_body(&mut res.into_body()).await, body, "stream {i}");
            }));
        }
        for c in calls {
            c.await.unwrap();
        }
        let (res, _) = open(&mut send, Method::GET, "/trailers", true).await;
        let mut body = res.await.expect("response").into_body();
        assert_eq!(read_body(&mut body).await, b"with trailers\n");
        let trailers = body.trailers().await.unwrap().expect("trailers");
        assert_eq!(trailers["grpc-status"], "0");
    });
}

#[test]
fn h2_client_10mb_each_way() {
    let s = shared();
    run(async {
        upload_sha256(s.host, noise(MB10, 7)).await;
        let mut send = connect(s.host).await;
        let (res, _) = open(&mut send, Method::GET, &format!("/bytes/{MB10}"), true).await;
        let got = read_body(&mut res.await.expect("response").into_body()).await;
        assert_eq!(got.len(), MB10);
        let bad = (0..MB10).find(|&i| got[i] != pattern_byte(i as u64));
        assert_eq!(bad, None, "first wrong byte");
    });
}

/// A buffer quota far below what 30 uploads want at once, and a small buffer limit: the
/// filter holds client bytes, the host stops reading past the limit and resumes, and every
/// byte arrives.
#[test]
fn quota_pressure_pauses_and_stopped_reads() {
    let s = start_with(r#"{"quota_bytes": 131072}"#, 16 * 1024);
    run(async {
        let uploads: Vec<_> = (0..30u64)
            .map(|i| tokio::spawn(upload_sha256(s.host, noise(256 * 1024, i + 100))))
            .collect();
        for u in uploads {
            u.await.unwrap();
        }
    });
    let pauses = Counters::get(&s.counters.pauses);
    let stopped = Counters::get(&s.counters.reads_stopped);
    eprintln!("quota pressure: {pauses} pauses, reads stopped {stopped} times");
    assert!(pauses > 0, "the filter never held client bytes");
}

#[test]
fn curl_get_upload_download() {
    let Some(curl) = tool("curl", "curl_get_upload_download") else {
        return;
    };
    let s = shared();
    let url = |p: &str| format!("http://{}{p}", s.host);
    let curl_out = |args: &[&str]| {
        let o = Command::new(&curl)
            .args(["-sS", "--fail", "--http2-prior-knowledge"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "curl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout
    };
    assert_eq!(
        curl_out(&[&url("/")]),
        b"hello from the h2mux demo upstream\n"
    );
    let dir = std::env::temp_dir().join(format!("h2mux-socket-host-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("upload.bin");
    let body = noise(MB10, 11);
    std::fs::write(&file, &body).unwrap();
    let at = format!("@{}", file.display());
    let got = curl_out(&["--data-binary", &at, &url("/sha256")]);
    assert_eq!(
        String::from_utf8(got).unwrap(),
        format!("{} {MB10}\n", hex_sha256(&body))
    );
    std::fs::remove_dir_all(&dir).unwrap();
    let got = curl_out(&[&url(&format!("/bytes/{MB10}"))]);
    assert_eq!(got.len(), MB10);
    assert!((0..MB10).all(|i| got[i] == pattern_byte(i as u64)));
}

#[test]
fn h2load_20000_requests() {
    let Some(h2load) = tool("h2load", "h2load_20000_requests") else {
        return;
    };
    let s = shared();
    let o = Command::new(h2load)
        .args(["-n", "20000", "-c", "10", "-m", "10"])
        .arg(format!("http://{}/", s.host))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "h2load: {out}");
    assert!(
        out.contains("20000 succeeded, 0 failed, 0 errored, 0 timeout"),
        "h2load: {out}"
    );
    if let Some(line) = out.lines().find(|l| l.starts_with("finished in")) {
        eprintln!("h2load through the socket host: {line}");
    }
}

#[test]
fn nghttp_100_concurrent_streams() {
    let Some(nghttp) = tool("nghttp", "nghttp_100_concurrent_streams") else {
        return;
    };
    let s = shared();
    let o = Command::new(nghttp)
        .args(["-n", "-s", "-m", "100"])
        .arg(format!("http://{}/", s.host))
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "nghttp: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // -s: one line per request, `id responseEnd requestStart process code size path`.
    let ok = out
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .filter(|f| f.len() == 7 && f[4] == "200" && f[6] == "/")
        .count();
    assert_eq!(ok, 100, "nghttp: {out}");
}

/// The binary: a busy port is exit code 1; verbose mode logs each connection.
#[test]
fn binary_busy_port_and_verbose_lines() {
    let s = shared();
    let o = Command::new(HOST_BIN)
        .args(["--listen", &s.host.to_string()])
        .args(["--upstream", &s.upstream.to_string()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("cannot listen on"), "{err}");

    let mut child = Command::new(HOST_BIN)
        .args(["--listen", "127.0.0.1:0", "--verbose"])
        .args(["--upstream", &s.upstream.to_string()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr: SocketAddr = first
        .split("listening on ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {first:?}"));
    run(async {
        let mut send = connect(addr).await;
        let (res, _) = open(&mut send, Method::GET, "/", true).await;
        assert_eq!(res.await.unwrap().status(), 200);
    });
    // The filter's own log lines come in between (verbose prints them too).
    let mut conn_lines = lines
        .map_while(Result::ok)
        .filter(|l| l.starts_with("conn "));
    let open_line = conn_lines.next().unwrap_or_default();
    let close_line = conn_lines.next().unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    assert!(open_line.contains(" open from 127.0.0.1:"), "{open_line}");
    assert!(close_line.contains(" closed (127.0.0.1:"), "{close_line}");
}
