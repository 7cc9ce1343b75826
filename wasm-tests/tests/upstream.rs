//! Drives the demo upstream in-process with a raw h2 client.

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use h2::client::SendRequest;
use h2::{Reason, RecvStream, SendStream};
use h2mux_wasm_tests::upstream::{pattern_byte, spawn, Options, Server};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

const MB10: usize = 10_000_000;

fn run<F: Future>(test: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(test)
}

async fn start() -> Server {
    spawn("127.0.0.1:0", Options { quiet: true })
        .await
        .expect("bind")
}

struct Conn {
    send: SendRequest<Bytes>,
    driver: JoinHandle<Result<(), h2::Error>>,
}

async fn connect(addr: SocketAddr) -> Conn {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.set_nodelay(true).unwrap();
    let (send, conn) = h2::client::Builder::new()
        .initial_window_size(1 << 20)
        .initial_connection_window_size(8 << 20)
        .handshake(tcp)
        .await
        .expect("handshake");
    let driver = tokio::spawn(conn);
    Conn { send, driver }
}

/// Opens a stream; the body, if any, is sent by the caller.
async fn open(
    send: &mut SendRequest<Bytes>,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    end: bool,
) -> (h2::client::ResponseFuture, SendStream<Bytes>) {
    let mut req = Request::builder()
        .method(method)
        .uri(format!("http://upstream{path}"));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let ready = send.clone().ready().await.expect("ready");
    *send = ready;
    send.send_request(req.body(()).unwrap(), end)
        .expect("send_request")
}

async fn get(send: &mut SendRequest<Bytes>, path: &str) -> Response<RecvStream> {
    let (res, _) = open(send, Method::GET, path, &[], true).await;
    res.await.expect("response")
}

/// Sends `data` under flow control, then ends the stream.
async fn send_all(stream: &mut SendStream<Bytes>, mut data: Bytes) {
    while !data.is_empty() {
        stream.reserve_capacity(data.len().min(1 << 20));
        let cap = poll_fn(|cx| stream.poll_capacity(cx))
            .await
            .expect("stream open")
            .expect("capacity");
        let chunk = data.split_to(cap.min(data.len()));
        stream.send_data(chunk, false).expect("send_data");
    }
    stream.send_data(Bytes::new(), true).expect("end stream");
}

async fn read_body(body: &mut RecvStream) -> Result<Vec<u8>, h2::Error> {
    let mut out = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        body.flow_control().release_capacity(chunk.len()).unwrap();
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

async fn body_text(res: Response<RecvStream>) -> String {
    let mut body = res.into_body();
    String::from_utf8(read_body(&mut body).await.expect("body")).expect("utf-8")
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> &'h str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("missing {name}"))
        .to_str()
        .unwrap()
}

/// Deterministic bytes unlike the server's pattern, so an echo cannot be faked.
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

#[test]
fn root_greets_and_unknown_paths_are_404() {
    run(async {
        let server = start().await;
        let mut c = connect(server.local_addr()).await;
        let res = get(&mut c.send, "/").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(header(res.headers(), "content-type"), "text/plain");
        assert_eq!(body_text(res).await, "hello from the h2mux demo upstream\n");

        let res = get(&mut c.send, "/nope").await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
        let (res, _) = open(&mut c.send, Method::DELETE, "/", &[], true).await;
        assert_eq!(res.await.unwrap().status(), StatusCode::OK);
    });
}

#[test]
fn advertises_proxy_friendly_settings() {
    run(async {
        let server = start().await;
        let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
        // Client preface and an empty SETTINGS frame.
        tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
            .await
            .unwrap();
        let mut settings = None;
        let mut conn_window_update = None;
        while settings.is_none() || conn_window_update.is_none() {
            let mut head = [0u8; 9];
            tcp.read_exact(&mut head).await.unwrap();
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let mut payload = vec![0u8; len];
            tcp.read_exact(&mut payload).await.unwrap();
            let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]);
            match (head[3], head[4] & 1, stream) {
                (0x4, 0, 0) => {
                    let params: Vec<(u16, u32)> = payload
                        .chunks(6)
                        .map(|p| {
                            (
                                u16::from_be_bytes([p[0], p[1]]),
                                u32::from_be_bytes([p[2], p[3], p[4], p[5]]),
                            )
                        })
                        .collect();
                    settings = Some(params);
                }
                (0x8, _, 0) => {
                    conn_window_update = Some(u32::from_be_bytes(payload[..4].try_into().unwrap()))
                }
                _ => {}
            }
        }
        let settings = settings.unwrap();
        let get = |id: u16| settings.iter().rev().find(|(k, _)| *k == id).map(|p| p.1);
        assert_eq!(get(0x3), Some(1000), "max concurrent streams");
        assert_eq!(get(0x4), Some(1 << 20), "initial stream window");
        assert_eq!(get(0x5).unwrap_or(16384), 16384, "max frame size");
        assert_eq!(
            conn_window_update,
            Some((8 << 20) - 65535),
            "connection window"
        );
    });
}

#[test]
fn http1_is_refused() {
    run(async {
        let server = start().await;
        let mut tcp = TcpStream::connect(server.local_addr()).await.unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut buf)).await;
        assert!(!buf.starts_with(b"HTTP/1"), "got an HTTP/1 answer");
    });
}

#[test]
fn echo_reflects_headers_and_body() {
    run(async {
        let server = start().await;
        let mut c = connect(server.local_addr()).await;
        let headers = [
            ("content-type", "application/x-test"),
            ("x-custom", "one"),
            ("x-custom", "two"),
            ("te", "trailers"),
        ];
        let (res, mut stream) = open(&mut c.send, Method::PUT, "/echo?a=1", &headers, false).await;
        let body = noise(300_000, 7);
        send_all(&mut stream, Bytes::from(body.clone())).await;
        let res = res.await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let h = res.headers();
        assert_eq!(header(h, "x-echo-method"), "PUT");
        assert_eq!(header(h, "x-echo-path"), "/echo?a=1");
        assert_eq!(header(h, "content-type"), "application/x-test");
        assert_eq!(header(h, "x-echo-h-content-type"), "application/x-test");
        let custom: Vec<_> = h.get_all("x-echo-h-x-custom").iter().collect();
        assert_eq!(custom, ["one", "two"]);
        assert!(h.get("x-echo-h-te").is_none(), "hop-by-hop te echoed");
        assert!(h.keys().all(|k| !k.as_str().starts_with("x-echo-h-:")));
        let mut recv = res.into_body();
        assert_eq!(read_body(&mut recv).await.unwrap(), body);
    });
}

#[test]
fn echo_streams_before_the_request_ends() {
    run(async {
        let server = start().await;
        let mut c = connect(server.local_addr()).await;
        let (res, mut stream) = open(&mut c.send, Method::POST, "/echo", &[], false).await;
        stream
            .send_data(Bytes::from_static(b"ping"), false)
            .unwrap();
        let mut body = res.await.unwrap().into_body();
        let first = tokio::time::timeout(Duration::from_secs(5), body.data())
            .await
            .expect("first chunk echoed while the request is open")
            .unwrap()
            .unwrap();
        assert_eq!(&first[..], b"ping");
        stream
            .send_data(Bytes::from_static(b"pong"), false)
            .unwrap();
        let mut trailers = HeaderMap::new();
        trailers.insert("x-done", "1".parse().unwrap());
        stream.send_trailers(trailers).unwrap();
        assert_eq!(read_body(&mut body).await.unwrap(), b"pong");
        let trailers = body.trailers().await.unwrap().expect("trailers echoed");
        assert_eq!(header(&trailers, "x-done"), "1");
    });
}

#[test]
fn bytes_10mb_matches_the_pattern() {
    run(async {
        let server = start().await;
        let mut c = connect(server.local_addr()).await;
        let res = get(&mut c.send, &format!("/bytes/{MB10}")).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(
            header(res.headers(), "content-length"),
            MB10.to_string().as_str()
        );
        let mut body = res.into_body();
        let mut offset = 0u64;
        let mut frames = 0;
        while let Some(chunk) = body.data().await {
            let chunk = chunk.unwrap();
            body.flow_control().release_capacity(chunk.len()).unwrap();
            assert!(chunk.len() <= 16384);
            for &b in chunk.iter() {
                assert_eq!(b, pattern_byte(offset), "byte {offset}");
                offset += 1;
            }
            frames += 1;
        }
        assert_eq!(offset, MB10 as u64);
        assert!(frames >= MB10 / 16384);

        let res = get(&mut c.send, "/bytes/0").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body_text(res).await, "");
        for bad in ["/bytes/1073741825", "/bytes/-1", "/bytes/x"] {
            assert_eq!(
                get(&mut c.send, bad).await.status(),
                StatusCode::BAD_REQUEST
            );
        }
    });
}

#[test]
fn sha256_of_a_10mb_upload() {
    run(async {
        let server = start().await;
        let mut c = connect(server.local_addr()).await;
        let data = noise(MB10, 42);
        let expected: String = Sha256::digest(&data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let (res, mut stream) = open(&mut c.send, Method::POST, "/sha256", &[], false).await;
        send_all(&mut stream, Bytes::from(data)).await;
        let res = res.await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body_text(res).await, format!("{expected} {MB10}\n"));

        let (res, _) = open(&mut c.send, Method::POST, "/sha256", &[], true).await;
        assert_eq!(
            body_text(res.await.unwrap()).await,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0\n"
        );
    });
}

#[test]
fn slow_spaces_its_chunks() {
    run(async {
        let server = start().await;
        let mut c = connect(server.local_addr()).await;
        let started = Instant::now();
        let mut body = get(&mut c.send, "/slow?ms=60&chunks=4").await.into_body();
        let mut arrivals = Vec::new();
        let mut text = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.unwrap();
            body.flow_control().release_capacity(chunk.len()).unwrap();
            arrivals.push(started.elapsed());
            text.extend_from_slice(&chunk);
        }
        assert_eq!(text, b"chunk 0\nchunk 1\nchunk 2\nchunk 3\n");
        assert_eq!(arrivals.len(), 4, "one DATA frame per chunk");
        assert!(arrivals[3] - arrivals[0] >= Duration::from_millis(170));

        let res = get(&mut c.send, "/slow?ms=0").await;
        assert_eq!(body_text(res).await.lines().count(), 5);
        let res = get(&mut c.send, "/slow?ms=abc").await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    });
}

#[test]
fn status_codes() {
    run(async {
        let server = start().await;
        let mut c = connect(server.local_addr()).await;
        let res = get(&mut c.send, "/status/503").await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body_text(res).await, "status 503\n");
        for code in [200u16, 418, 599] {
            let res = get(&mut c.send, &format!("/status/{code}")).await;
            assert_eq!(res.status().as_u16(), code);
        }
        for code in [204u16, 205, 304] {
            let res = get(&mut c.send, &format!("/status/{code}")).await;
            assert_eq!(res.status().as_u16(), code);
            assert!(res.body().is_end_stream(), "{code} has no body");
        }
        for bad in ["100", "199", "600", "abc", ""] {
            let res = get(&mut c.send, &format!("/status/{bad}")).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "/status/{bad}");
        }
    });
}

#[test]
fn trailers_arrive_after_the_body() {
    run(async {
        let server = start().await;
        let mut c = connect(server.local_addr()).await;
        let res = get(&mut c.send, "/trailers").await;
        assert_eq!(res.status(), StatusCode::OK);
        let mut body = res.into_body();
        assert_eq!(read_body(&mut body).await.unwrap(), b"with trailers\n");
        let trailers = body.trailers().await.unwrap().expect("trailers");
        assert_eq!(header(&trailers, "grpc-status"), "0");
        assert_eq!(header(&trailers, "grpc-message"), "ok");
        assert_eq!(header(&trailers, "x-trailer"), "yes");
    });
}

#[test]
fn reset_sends_bytes_then_the_chosen_code() {
    run(async {
        let server = start().await;
        let mut c = connect(server.local_addr()).await;
        let cases = [
            ("/reset?code=8&after=100000", Reason::CANCEL, 100_000),
            ("/reset?after=5", Reason::INTERNAL_ERROR, 5),
            ("/reset?code=0", Reason::NO_ERROR, 0),
            (
                "/reset?code=11&after=16385",
                Reason::ENHANCE_YOUR_CALM,
                16385,
            ),
            ("/reset?code=57005&after=1", Reason::from(0xdead), 1),
        ];
        for (path, reason, len) in cases {
            let res = get(&mut c.send, path).await;
            assert_eq!(res.status(), StatusCode::OK, "{path}");
            let mut body = res.into_body();
            let mut got = Vec::new();
            let err = loop {
                match body.data().await {
                    Some(Ok(chunk)) => {
                        body.flow_control().release_capacity(chunk.len()).unwrap();
                        got.extend_from_slice(&chunk);
                    }
                    Some(Err(err)) => break err,
                    None => panic!("{path}: stream ended without a reset"),
                }
            };
            assert!(err.is_reset() && err.is_remote(), "{path}: {err}");
            assert_eq!(err.reason(), Some(reason), "{path}");
            assert_eq!(got.len(), len, "{path}");
            assert!(got
                .iter()
                .enumerate()
                .all(|(i, &b)| b == pattern_byte(i as u64)));
        }
        assert_eq!(
            get(&mut c.send, "/reset?code=x").await.status(),
            StatusCode::BAD_REQUEST
        );
        // The connection survives the resets.
        assert_eq!(get(&mut c.send, "/").await.status(), StatusCode::OK);
    });
}

#[test]
fn goaway_closes_the_connection_after_open_streams() {
    run(async {
        let server = start().await;
        let mut c = connect(server.local_addr()).await;
        let slow = get(&mut c.send, "/slow?ms=50&chunks=4").await;
        let res = get(&mut c.send, "/goaway").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(body_text(res).await, "goodbye\n");
        // A stream opened before the GOAWAY still completes.
        assert_eq!(body_text(slow).await.lines().count(), 4);
        let ended = tokio::time::timeout(Duration::from_secs(5), c.driver)
            .await
            .expect("connection closed");
        assert!(ended.unwrap().is_ok(), "graceful close");
        // New connections are still served.
        let mut c2 = connect(server.local_addr()).await;
        assert_eq!(get(&mut c2.send, "/").await.status(), StatusCode::OK);
    });
}

#[test]
fn hundred_concurrent_echo_streams_on_one_connection() {
    run(async {
        let server = start().await;
        let mut c = connect(server.local_addr()).await;
        assert!(c.send.current_max_send_streams() >= 100);
        // Open all streams before any of them finishes.
        let mut open_streams = Vec::new();
        for i in 0..100u64 {
            let (res, mut stream) = open(
                &mut c.send,
                Method::POST,
                &format!("/echo?i={i}"),
                &[],
                false,
            )
            .await;
            let body = noise(20_000 + i as usize * 37, i + 1);
            stream
                .send_data(Bytes::copy_from_slice(&body[..1000]), false)
                .unwrap();
            open_streams.push((i, res, stream, body));
        }
        let tasks: Vec<_> = open_streams
            .into_iter()
            .map(|(i, res, mut stream, body)| {
                tokio::spawn(async move {
                    send_all(&mut stream, Bytes::copy_from_slice(&body[1000..])).await;
                    let res = res.await.unwrap();
                    assert_eq!(header(res.headers(), "x-echo-path"), format!("/echo?i={i}"));
                    let mut recv = res.into_body();
                    assert_eq!(read_body(&mut recv).await.unwrap(), body, "stream {i}");
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    });
}

/// Response headers that must match between GET and HEAD: `date` may tick between
/// the two, and `/echo` reflects the method.
fn head_fields(headers: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    let mut fields: Vec<_> = headers
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "date" | "x-echo-method"))
        .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
        .collect();
    fields.sort();
    fields
}

/// GET then HEAD of `path` on one connection: HEAD must get GET's status and
/// headers, END_STREAM on its HEADERS and not one DATA byte. h2's client turns
/// DATA on a HEAD stream into a PROTOCOL_ERROR, so `read_body` catches it too.
/// Returns GET's and HEAD's `content-length`.
async fn head_matches_get(
    send: &mut SendRequest<Bytes>,
    path: &str,
) -> (Option<String>, Option<String>) {
    let got = get(send, path).await;
    let (res, _) = open(send, Method::HEAD, path, &[], true).await;
    let res = res.await.unwrap_or_else(|e| panic!("HEAD {path}: {e}"));
    assert_eq!(res.status(), got.status(), "HEAD {path}: status");
    assert_eq!(
        head_fields(res.headers()),
        head_fields(got.headers()),
        "HEAD {path}: headers"
    );
    let length = |h: &HeaderMap| {
        h.get("content-length")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let lengths = (length(got.headers()), length(res.headers()));
    let mut body = res.into_body();
    assert!(
        body.is_end_stream(),
        "HEAD {path}: no END_STREAM on HEADERS"
    );
    let data = read_body(&mut body)
        .await
        .unwrap_or_else(|e| panic!("HEAD {path}: {e}"));
    assert_eq!(data.len(), 0, "HEAD {path}: DATA bytes");
    lengths
}

#[test]
fn head_gets_what_get_gets_without_the_body() {
    run(async {
        let server = start().await;
        let mut c = connect(server.local_addr()).await;

        let (get_len, head_len) = head_matches_get(&mut c.send, "/").await;
        let want = "hello from the h2mux demo upstream\n".len().to_string();
        assert_eq!(
            get_len.as_deref(),
            Some(want.as_str()),
            "GET / content-length"
        );
        assert_eq!(head_len, get_len, "HEAD / content-length");
        let (res, _) = open(&mut c.send, Method::HEAD, "/", &[], true).await;
        assert_eq!(res.await.unwrap().status(), StatusCode::OK);

        let with_length = [
            "/bytes/100000",
            "/bytes/0",
            "/sha256",
            "/trailers",
            "/status/503",
            "/status/999",
            "/nope",
        ];
        for path in with_length {
            let (get_len, head_len) = head_matches_get(&mut c.send, path).await;
            assert!(get_len.is_some(), "GET {path} has a content-length");
            assert_eq!(head_len, get_len, "HEAD {path} content-length");
        }
        // GET streams these without a length: HEAD must not invent one.
        for path in ["/echo", "/slow?ms=0", "/reset?after=10", "/status/204"] {
            assert_eq!(
                head_matches_get(&mut c.send, path).await,
                (None, None),
                "{path}"
            );
        }
        let (res, _) = open(&mut c.send, Method::HEAD, "/echo", &[], true).await;
        assert_eq!(
            header(res.await.unwrap().headers(), "x-echo-method"),
            "HEAD"
        );

        // No stream or connection error: the connection still serves.
        assert!(!c.driver.is_finished(), "connection ended");
        assert_eq!(
            body_text(get(&mut c.send, "/").await)
                .await
                .len()
                .to_string(),
            want
        );

        // /goaway ends its connection, so each method gets one of its own.
        let mut g = connect(server.local_addr()).await;
        let got = get(&mut g.send, "/goaway").await;
        let mut h = connect(server.local_addr()).await;
        let (res, _) = open(&mut h.send, Method::HEAD, "/goaway", &[], true).await;
        let res = res.await.unwrap();
        assert_eq!(res.status(), got.status());
        assert_eq!(head_fields(res.headers()), head_fields(got.headers()));
        let mut body = res.into_body();
        assert!(
            read_body(&mut body).await.unwrap().is_empty(),
            "HEAD /goaway body"
        );
        let ended = tokio::time::timeout(Duration::from_secs(5), h.driver)
            .await
            .expect("HEAD /goaway closes its connection too");
        assert!(ended.unwrap().is_ok(), "graceful close after HEAD /goaway");
    });
}

#[test]
fn binary_reports_a_busy_port() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_demo-upstream"))
        .args(["--listen", &addr])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot listen on"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Polls `/stats` until `want` appears in it (the server counts a reset
/// asynchronously); returns the last text seen.
async fn stats_until(send: &mut SendRequest<Bytes>, want: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = body_text(get(send, "/stats").await).await;
        if text.contains(want) || Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn stats_tell_a_reset_upload_from_a_complete_one() {
    run(async {
        let server = start().await;
        let mut c = connect(server.local_addr()).await;
        let (res, mut stream) = open(&mut c.send, Method::POST, "/sha256", &[], false).await;
        send_all(&mut stream, Bytes::from(noise(100_000, 7))).await;
        assert_eq!(res.await.unwrap().status(), StatusCode::OK);

        let (_res, mut stream) = open(&mut c.send, Method::POST, "/sha256", &[], false).await;
        stream
            .send_data(Bytes::from(noise(30_000, 8)), false)
            .unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        stream.send_reset(Reason::CANCEL);

        let text = stats_until(&mut c.send, "\"body_errors\": 1").await;
        let sha = text
            .split("\"/sha256\": ")
            .nth(1)
            .unwrap_or_else(|| panic!("no /sha256 in {text}"));
        assert!(
            sha.starts_with(
                "{\"requests\": 2, \"bodies_complete\": 1, \"body_errors\": 1, \
                 \"bodies_unfinished\": 0, \"last_body_error\": \""
            ),
            "{text}"
        );
        assert!(sha.contains("(CANCEL)\""), "{text}");
        assert!(
            text.starts_with("{\"connections\": 1, \"requests\": "),
            "{text}"
        );
        assert!(text.ends_with("}}\n"), "{text}");
    });
}
