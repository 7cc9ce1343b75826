//! Connection ends, non-HTTP/2 peers, the host's read limit, and frames split across
//! stream resets, through the real filter.

mod common;
#[path = "common/h2raw.rs"]
mod h2raw;

use std::sync::{Arc, Mutex};

use common::{assert_healthy, rt, vm};
use h2mux_wasm_tests::host::driver::Pump;
use h2mux_wasm_tests::host::peer::{self, Client};
use h2mux_wasm_tests::host::{HostEvent, Vm, VmOptions};
use h2raw::{
    data, drive, flag, headers, hp_lit, ping_ack, settings, settings_ack, ty, Frame, Raw, PREFACE,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::oneshot;

#[test]
fn client_leaving_ends_the_connection() {
    rt().block_on(async {
        let mut p = Pump::new(vm("{}"));
        let (c, client_io, up_io) = p.connect().unwrap();
        let _up = peer::serve(up_io);
        p.run(async move {
            let mut cl = Client::connect(client_io).await.unwrap();
            let r = cl.request("GET", "/", b"", None).await.unwrap();
            assert_eq!(r.0, 200);
            // Dropping every handle closes the client's socket.
        })
        .await
        .unwrap();
        let vm_closed = {
            let mut n = 0;
            while !p.vm.is_closed(c) && n < 2000 {
                p.step().unwrap();
                tokio::task::yield_now().await;
                p.vm.tick().unwrap();
                n += 1;
            }
            p.vm.is_closed(c)
        };
        assert!(vm_closed, "the connection did not end");
        assert_eq!(p.vm.metric("h2mux_connections_active"), Some(0));
        assert_healthy(&p);
    });
}

/// An HTTP/1.1 client is served through the HTTP/2 upstream: two requests on one
/// connection (keep-alive, then `Connection: close`), a chunked answer each, then the close.
#[test]
fn http1_client_is_served_and_closed_when_it_asks() {
    rt().block_on(async {
        let mut p = Pump::new(vm("{}"));
        let (c, mut client_io, up_io) = p.connect().unwrap();
        let _up = peer::serve(up_io);
        let got = p
            .run(async move {
                client_io
                    .write_all(
                        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\
                          GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                    )
                    .await
                    .unwrap();
                let mut got = Vec::new();
                client_io.read_to_end(&mut got).await.unwrap();
                got
            })
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{text}");
        assert_eq!(
            text.matches("6\r\nhello\n\r\n0\r\n\r\n").count(),
            2,
            "{text}"
        );
        assert!(text.contains("connection: close\r\n"), "{text}");
        assert!(p.vm.is_closed(c));
        assert_healthy(&p);
    });
}

/// With HTTP/1.1 turned off (`accept_http1: false`), an HTTP/1.x client reads a 505 and
/// the connection closes.
#[test]
fn http1_client_gets_505_when_http1_is_off() {
    rt().block_on(async {
        let mut p = Pump::new(vm(r#"{"accept_http1": false}"#));
        let (c, mut client_io, up_io) = p.connect().unwrap();
        let _up = peer::serve(up_io);
        let got = p
            .run(async move {
                client_io
                    .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                    .await
                    .unwrap();
                let mut got = Vec::new();
                client_io.read_to_end(&mut got).await.unwrap();
                got
            })
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 505 "), "{text}");
        assert!(p.vm.is_closed(c));
        assert_healthy(&p);
    });
}

#[test]
fn garbage_after_the_preface_closes_without_trap() {
    rt().block_on(async {
        let mut p = Pump::new(vm("{}"));
        let (c, mut client_io, up_io) = p.connect().unwrap();
        let _up = peer::serve(up_io);
        let got = p
            .run(async move {
                client_io
                    .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
                    .await
                    .unwrap();
                client_io.write_all(&[0xff; 64]).await.unwrap();
                let mut got = Vec::new();
                client_io.read_to_end(&mut got).await.unwrap();
                got
            })
            .await
            .unwrap();
        // SETTINGS, then a GOAWAY (type 7) before the close.
        assert!(got.windows(4).any(|w| w[3] == 7), "{got:?}");
        assert!(p.vm.is_closed(c));
        assert!(p.vm.trap().is_none());
    });
}

/// Held client bytes past the per-connection limit stop reads; the filter must resume
/// them from its tick, or the uploads never finish.
#[test]
fn small_read_limit_with_quota_waits() {
    const CONNS: usize = 12;
    const SIZE: usize = 300 * 1024;
    rt().block_on(async {
        let vm = Vm::with_options(VmOptions {
            plugin_config: r#"{"quota_bytes": 131072}"#.into(),
            buffer_limit: 32 * 1024,
            ..VmOptions::default()
        })
        .unwrap();
        let mut p = Pump::new(vm);
        let mut jobs = Vec::new();
        for i in 0..CONNS {
            let (_c, client_io, up_io) = p.connect().unwrap();
            let _up = peer::serve(up_io);
            let body: Vec<u8> = (0..SIZE).map(|j| (i + j * 3) as u8).collect();
            jobs.push((client_io, body));
        }
        let wants: Vec<String> = jobs
            .iter()
            .map(|(_, b)| format!("{} {SIZE}\n", peer::sha256_hex(b)))
            .collect();
        let replies = p
            .run(async move {
                let tasks: Vec<_> = jobs
                    .into_iter()
                    .map(|(io, body)| {
                        tokio::spawn(async move {
                            let mut cl = Client::connect(io).await?;
                            cl.request("POST", "/sha256", &body, None).await
                        })
                    })
                    .collect();
                let mut out = Vec::new();
                for t in tasks {
                    out.push(t.await.unwrap());
                }
                out
            })
            .await
            .unwrap();
        for (i, r) in replies.into_iter().enumerate() {
            let r = r.unwrap_or_else(|e| panic!("connection {i}: {e}"));
            assert_eq!(String::from_utf8_lossy(&r.1), wants[i], "connection {i}");
        }
        let stops =
            p.vm.events()
                .iter()
                .filter(|e| matches!(e, HostEvent::ReadDisabled(_)))
                .count();
        eprintln!("reads stopped {stops} times");
        assert!(stops > 0, "the read limit was never reached");
        assert_healthy(&p);
    });
}

/// An upstream that accepts and never writes: client-bound bytes have no callback to ride
/// on, so the filter's only way out is to close the client connection from its tick once
/// its settings timeout fires.
#[test]
fn silent_upstream_is_given_up_on() {
    rt().block_on(async {
        let mut p = Pump::new(vm("{}"));
        let (c, client_io, mut up_io) = p.connect().unwrap();
        let r = p
            .run(async move {
                let sink = tokio::spawn(async move {
                    let mut b = vec![0u8; 65536];
                    while let Ok(n) = up_io.read(&mut b).await {
                        if n == 0 {
                            break;
                        }
                    }
                });
                let mut cl = Client::connect(client_io).await.unwrap();
                let r = cl.request("GET", "/", b"", None).await;
                sink.abort();
                r.map(|x| x.0)
            })
            .await;
        if r.is_err() {
            p.vm.advance(600_000).unwrap();
        }
        assert!(
            p.vm.is_closed(c),
            "open after {} ms on the VM clock: {r:?}",
            p.vm.elapsed_ms()
        );
        assert!(p.vm.trap().is_none());
    });
}

/// An HTTP/1.x upstream: the client must not hang, and the log names the problem.
#[test]
fn http1_upstream_is_named_and_the_client_released() {
    rt().block_on(async {
        let mut p = Pump::new(vm("{}"));
        let (c, client_io, mut up_io) = p.connect().unwrap();
        let r = p
            .run(async move {
                let up = tokio::spawn(async move {
                    let mut b = vec![0u8; 65536];
                    let _ = up_io.read(&mut b).await;
                    let _ = up_io
                        .write_all(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n")
                        .await;
                });
                let r = async {
                    let mut cl = Client::connect(client_io).await?;
                    cl.request("GET", "/", b"", None).await
                }
                .await;
                let _ = up.await;
                r.map(|x| x.0)
            })
            .await
            .unwrap();
        assert!(r.as_ref().map_or(true, |s| *s == 502), "{r:?}");
        assert!(!p.vm.logs_matching("upstream connection failed").is_empty());
        p.vm.advance(1_000).unwrap();
        assert!(p.vm.is_closed(c), "the client connection stays open");
        assert!(p.vm.trap().is_none());
    });
}

/// The payload of the upstream's DATA frame on its stream 1 (END_STREAM): "0123456789" ten
/// times.
const SPLIT_DATA: [u8; 100] = {
    let mut b = [0u8; 100];
    let mut i = 0;
    while i < b.len() {
        b[i] = b'0' + (i % 10) as u8;
        i += 1;
    }
    b
};
/// Payload bytes of that frame sent before the client's reset; the rest comes after.
const SPLIT_FIRST_PART: usize = 10;
const SECOND_BODY: &[u8] = b"the second response, whole and unrelated to the reset\n";

/// What the scripted upstream received and did, in order, for assertion messages.
type Transcript = Arc<Mutex<Vec<String>>>;

fn describe(f: &Frame) -> String {
    let name = match f.ty {
        ty::DATA => "DATA",
        ty::HEADERS => "HEADERS",
        ty::RST_STREAM => "RST_STREAM",
        ty::SETTINGS if f.flags & flag::ACK != 0 => "SETTINGS ACK",
        ty::SETTINGS => "SETTINGS",
        ty::PING if f.flags & flag::ACK != 0 => "PING ACK",
        ty::PING => "PING",
        ty::GOAWAY => "GOAWAY",
        ty::WINDOW_UPDATE => "WINDOW_UPDATE",
        _ => "other frame",
    };
    match f.error_code() {
        Some(code) => format!("{name}({}, code {code})", f.stream),
        None if f.stream != 0 => format!("{name}({})", f.stream),
        None => name.to_string(),
    }
}

/// A response head: `:status 200` (static index 8) and a content-type.
fn response_head(stream: u32) -> Vec<u8> {
    let mut block = vec![0x88];
    hp_lit(&mut block, b"content-type", b"text/plain");
    headers(stream, &block, false)
}

/// A raw HTTP/2 upstream that splits its first response's DATA frame around the client's
/// reset: HEADERS 200 and the first `SPLIT_FIRST_PART` payload bytes, then nothing until
/// RST_STREAM on that stream (reported on `reset_seen`) and the next request have arrived,
/// then the frame's other bytes, then the next request's response. Later requests get a
/// plain response. SETTINGS and PINGs are acknowledged, except while the frame is cut
/// (bytes written then would land inside it): those answers follow its last bytes.
async fn split_data_upstream(
    mut io: DuplexStream,
    log: Transcript,
    reset_seen: oneshot::Sender<()>,
) -> Result<(), String> {
    let note = |line: String| log.lock().unwrap().push(line);
    let mut preface = [0u8; PREFACE.len()];
    io.read_exact(&mut preface)
        .await
        .map_err(|e| format!("reading the preface: {e}"))?;
    if preface != PREFACE {
        return Err(format!("not the HTTP/2 preface: {preface:?}"));
    }
    let mut up = Raw::new(io);
    up.send(&settings(&[])).await;
    let (mut at, mut reset_seen) = (0, Some(reset_seen));
    let (mut requests, mut reset): (Vec<u32>, Option<u32>) = (Vec::new(), None);
    let mut answered = 0;
    // Answers owed while the DATA frame is cut.
    let mut held: Option<Vec<u8>> = None;
    loop {
        let Some(f) = up.next_frame(&mut at).await else {
            // The end of the connection once every request has its answer; else a stall.
            if answered >= 2 && answered == requests.len() {
                return Ok(());
            }
            return Err(format!(
                "no more frames after {} requests, {answered} answered ({})",
                requests.len(),
                up.summary()
            ));
        };
        note(format!("received {}", describe(&f)));
        let answer = match f.ty {
            ty::SETTINGS if f.flags & flag::ACK == 0 => settings_ack(),
            ty::PING if f.flags & flag::ACK == 0 => ping_ack(&f.payload),
            _ => Vec::new(),
        };
        match held.as_mut() {
            Some(h) => h.extend(answer),
            None if !answer.is_empty() => up.send(&answer).await,
            None => {}
        }
        match f.ty {
            ty::RST_STREAM => {
                reset = Some(f.stream);
                if let Some(tx) = reset_seen.take() {
                    let _ = tx.send(());
                }
            }
            ty::HEADERS if !requests.contains(&f.stream) => requests.push(f.stream),
            _ => {}
        }
        match (answered, requests.first().copied()) {
            (0, Some(s)) => {
                let whole = data(s, &SPLIT_DATA, true);
                let cut = 9 + SPLIT_FIRST_PART;
                let mut b = response_head(s);
                b.extend_from_slice(&whole[..cut]);
                up.send(&b).await;
                held = Some(Vec::new());
                note(format!(
                    "sent HEADERS({s}, 200), then {cut} of the {} bytes of DATA({s}, END_STREAM)",
                    whole.len()
                ));
                answered = 1;
            }
            (1, Some(s)) if reset == Some(s) && requests.len() > 1 => {
                let next = requests[1];
                up.send(&data(s, &SPLIT_DATA, true)[9 + SPLIT_FIRST_PART..])
                    .await;
                note(format!(
                    "sent the other {} bytes of DATA({s})",
                    SPLIT_DATA.len() - SPLIT_FIRST_PART
                ));
                if let Some(h) = held.take().filter(|h| !h.is_empty()) {
                    up.send(&h).await;
                    note(format!("sent {} bytes of answers held meanwhile", h.len()));
                }
                let mut b = response_head(next);
                b.extend(data(next, SECOND_BODY, true));
                up.send(&b).await;
                note(format!(
                    "sent HEADERS({next}, 200) and DATA({next}, END_STREAM)"
                ));
                answered = 2;
            }
            (n, _) if n >= 2 && requests.len() > n => {
                let s = requests[n];
                let mut b = response_head(s);
                b.extend(data(
                    s,
                    format!("response to stream {s}\n").as_bytes(),
                    true,
                ));
                up.send(&b).await;
                note(format!("sent HEADERS({s}, 200) and DATA({s}, END_STREAM)"));
                answered += 1;
            }
            _ => {}
        }
    }
}

/// The upstream's DATA frame on stream 1 arrives in two pieces, and between them the client
/// resets its stream and sends its next request, which the backend opens as upstream stream
/// 3 in the place stream 1 left. The rest of the frame belongs to stream 1 (reset: its bytes
/// are dropped); stream 3 must get its own response, not a 502.
#[test]
fn upstream_data_split_across_client_reset() {
    rt().block_on(async {
        let mut p = Pump::new(vm("{}"));
        let (c, client_io, up_io) = p.connect().unwrap();
        let log = Transcript::default();
        let (tx, reset_seen) = oneshot::channel();
        let _upstream = {
            let log = log.clone();
            tokio::spawn(async move {
                let r = split_data_upstream(up_io, log.clone(), tx).await;
                if let Err(e) = &r {
                    log.lock().unwrap().push(format!("upstream failed: {e}"));
                }
                r
            })
        };
        let (r, _) = drive(&mut p, usize::MAX, async move {
            let mut cl = Client::connect(client_io)
                .await
                .map_err(|e| e.to_string())?;
            let (resp, send) = peer::start(&cl.send, "GET", "/first", true)
                .await
                .map_err(|e| format!("first request: {e}"))?;
            let resp = resp.await.map_err(|e| format!("first response: {e}"))?;
            let first_status = resp.status().as_u16();
            let mut body = resp.into_body();
            let mut first = Vec::new();
            while first.len() < SPLIT_FIRST_PART {
                match body.data().await {
                    Some(Ok(b)) => first.extend_from_slice(&b),
                    other => {
                        return Err(format!("first response ended after {first:?}: {other:?}"))
                    }
                }
            }
            // Dropping every handle on the stream resets it (RST_STREAM CANCEL).
            drop((body, send));
            // The next request may go only once the reset is through the filter, in a
            // callback of its own, so that the backend's stream 1 is gone when it opens.
            reset_seen
                .await
                .map_err(|_| "the upstream ended before RST_STREAM on its stream 1".to_string())?;
            let second = cl.request("GET", "/second", b"", None).await;
            cl.ping()
                .await
                .map_err(|e| format!("PING after the second request: {e}"))?;
            let third = cl.request("GET", "/third", b"", None).await;
            Ok((first_status, first, second, third))
        })
        .await;
        let log = log.lock().unwrap().join("\n  ");
        let (first_status, first, second, third) =
            r.unwrap_or_else(|e| panic!("{e}\nupstream:\n  {log}"));
        assert_eq!(
            (first_status, &first[..]),
            (200, &SPLIT_DATA[..SPLIT_FIRST_PART]),
            "first response\nupstream:\n  {log}"
        );
        let second = second.unwrap_or_else(|e| panic!("second request: {e}\nupstream:\n  {log}"));
        assert!(
            second.0 == 200 && second.1 == SECOND_BODY,
            "the request after the reset got {} {:?} (want 200 {:?})\nupstream:\n  {log}",
            second.0,
            String::from_utf8_lossy(&second.1),
            String::from_utf8_lossy(SECOND_BODY),
        );
        let third = third.unwrap_or_else(|e| panic!("third request: {e}\nupstream:\n  {log}"));
        assert!(
            third.0 == 200 && third.1.starts_with(b"response to stream "),
            "third request: {} {:?}\nupstream:\n  {log}",
            third.0,
            String::from_utf8_lossy(&third.1),
        );
        assert!(
            !p.vm.is_closed(c),
            "the connection closed\nupstream:\n  {log}"
        );
        assert!(!log.contains("upstream failed"), "upstream:\n  {log}");
        assert_healthy(&p);
    });
}
