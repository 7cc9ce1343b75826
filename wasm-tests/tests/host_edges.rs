//! Connection ends, non-HTTP/2 peers and the host's read limit, through the real filter.

mod common;

use common::{assert_healthy, rt, vm};
use h2mux_wasm_tests::host::driver::Pump;
use h2mux_wasm_tests::host::peer::{self, Client};
use h2mux_wasm_tests::host::{HostEvent, Vm, VmOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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

#[test]
fn http1_client_gets_an_answer_and_a_close() {
    rt().block_on(async {
        let mut p = Pump::new(vm("{}"));
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
