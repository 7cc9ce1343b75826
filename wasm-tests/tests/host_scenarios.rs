//! HTTP/2 scenarios through the real filter, with an h2 client and an h2 upstream.

mod common;

use common::{assert_healthy, rt, vm};
use h2mux_wasm_tests::host::driver::Pump;
use h2mux_wasm_tests::host::peer::{self, Client};

#[test]
fn get_with_response() {
    rt().block_on(async {
        let mut p = Pump::new(vm("{}"));
        let (c, client_io, up_io) = p.connect().unwrap();
        let _up = peer::serve(up_io);
        let r = p
            .run(async move {
                let mut cl = Client::connect(client_io).await?;
                cl.request("GET", "/", b"", None).await
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.0, 200);
        assert_eq!(r.1, b"hello\n");
        assert_healthy(&p);
        assert!(!p.vm.is_closed(c));
        assert_eq!(p.vm.metric("h2mux_connections_total"), Some(1));
        // Per-callback figures are published on the next tick.
        assert_eq!(p.vm.metric("h2mux_streams_total"), Some(0));
        p.vm.tick().unwrap();
        assert_eq!(p.vm.metric("h2mux_streams_total"), Some(1));
    });
}

/// Waits (letting the pump run) until `f` holds.
async fn until(mut f: impl FnMut() -> bool) {
    while !f() {
        tokio::task::yield_now().await;
    }
}

fn body_of(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| (i * 7 + j * 13) as u8).collect()
}

#[test]
fn hundred_concurrent_streams_with_bodies() {
    rt().block_on(async {
        let mut p = Pump::new(vm("{}"));
        let (_c, client_io, up_io) = p.connect().unwrap();
        let up = peer::serve(up_io);
        let replies = p
            .run(async move {
                let cl = Client::connect(client_io).await.unwrap();
                let tasks: Vec<_> = (0..100)
                    .map(|i| {
                        let send = cl.send.clone();
                        tokio::spawn(async move {
                            let body = body_of(i, 1000 + i * 97);
                            let r = peer::request(&send, "POST", "/echo", &body, None).await;
                            (body, r)
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
        for (i, (body, r)) in replies.into_iter().enumerate() {
            let r = r.unwrap_or_else(|e| panic!("stream {i}: {e}"));
            assert_eq!(r.0, 200);
            assert!(r.1 == body, "stream {i}: body differs");
        }
        let bodies = up
            .seen()
            .iter()
            .filter(|s| matches!(s, peer::Seen::Body { .. }))
            .count();
        assert_eq!(bodies, 100);
        assert_healthy(&p);
    });
}

#[test]
fn large_upload_and_download_byte_exact() {
    const N: usize = 5_000_000;
    rt().block_on(async {
        let mut p = Pump::new(vm("{}"));
        let (_c, client_io, up_io) = p.connect().unwrap();
        let up = peer::serve(up_io);
        let upload = body_of(3, N);
        let want = format!("{} {N}\n", peer::sha256_hex(&upload));
        let (put, get) = p
            .run(async move {
                let mut cl = Client::connect(client_io).await.unwrap();
                let put = cl.request("POST", "/sha256", &upload, None).await.unwrap();
                let get = cl
                    .request("GET", &format!("/bytes/{N}"), b"", None)
                    .await
                    .unwrap();
                (put, get)
            })
            .await
            .unwrap();
        assert_eq!(put.0, 200);
        assert_eq!(String::from_utf8_lossy(&put.1), want);
        assert_eq!(get.0, 200);
        assert_eq!(get.1.len(), N);
        assert!(get.1 == peer::pattern(0, N), "download differs");
        assert!(up.seen().iter().any(|s| matches!(s,
            peer::Seen::Body { path, bytes, .. } if path == "/sha256" && *bytes == N as u64)));
        assert_healthy(&p);
    });
}

#[test]
fn trailers_both_ways() {
    rt().block_on(async {
        let mut p = Pump::new(vm("{}"));
        let (_c, client_io, up_io) = p.connect().unwrap();
        let _up = peer::serve(up_io);
        let (echo, fixed) = p
            .run(async move {
                let mut cl = Client::connect(client_io).await.unwrap();
                let mut t = http::HeaderMap::new();
                t.insert("x-checksum", "abc".parse().unwrap());
                let echo = cl.request("POST", "/echo", b"body", Some(t)).await.unwrap();
                let fixed = cl.request("GET", "/trailers", b"", None).await.unwrap();
                (echo, fixed)
            })
            .await
            .unwrap();
        assert_eq!(echo.1, b"body");
        assert_eq!(echo.2.unwrap()["x-checksum"], "abc");
        assert_eq!(fixed.1, b"with trailers\n");
        let t = fixed.2.expect("trailers");
        assert_eq!(t["grpc-status"], "0");
        assert_eq!(t["x-trailer"], "yes");
        assert_healthy(&p);
    });
}

#[test]
fn client_reset_mid_upload_reaches_upstream() {
    rt().block_on(async {
        let mut p = Pump::new(vm("{}"));
        let (_c, client_io, up_io) = p.connect().unwrap();
        let up = peer::serve(up_io);
        let up2 = up.clone();
        p.run(async move {
            let cl = Client::connect(client_io).await.unwrap();
            let (_resp, mut s) = peer::start(&cl.send, "POST", "/sha256", false)
                .await
                .unwrap();
            peer::send_all(&mut s, &body_of(1, 40_000), false)
                .await
                .unwrap();
            until(|| {
                up2.seen()
                    .iter()
                    .any(|e| matches!(e, peer::Seen::Request { .. }))
            })
            .await;
            s.send_reset(h2::Reason::CANCEL);
            until(|| {
                up2.seen()
                    .iter()
                    .any(|e| matches!(e, peer::Seen::Reset { .. }))
            })
            .await;
            // The connection still works.
            let mut cl = cl;
            let r = cl.request("GET", "/", b"", None).await.unwrap();
            assert_eq!(r.1, b"hello\n");
        })
        .await
        .unwrap();
        let reset = up
            .seen()
            .into_iter()
            .find(|e| matches!(e, peer::Seen::Reset { .. }))
            .unwrap();
        assert_eq!(
            reset,
            peer::Seen::Reset {
                path: "/sha256".into(),
                reason: Some(h2::Reason::CANCEL)
            }
        );
        assert_healthy(&p);
    });
}

#[test]
fn upstream_reset_reaches_client() {
    rt().block_on(async {
        let mut p = Pump::new(vm("{}"));
        let (_c, client_io, up_io) = p.connect().unwrap();
        let _up = peer::serve(up_io);
        let (got, err, after) = p
            .run(async move {
                let mut cl = Client::connect(client_io).await.unwrap();
                let (resp, _s) = peer::start(&cl.send, "GET", "/reset?code=8&after=1000", true)
                    .await
                    .unwrap();
                let resp = resp.await.unwrap();
                let mut body = resp.into_body();
                let mut got = 0;
                let err = loop {
                    match body.data().await {
                        Some(Ok(b)) => {
                            let _ = body.flow_control().release_capacity(b.len());
                            got += b.len();
                        }
                        Some(Err(e)) => break Some(e),
                        None => break None,
                    }
                };
                let after = cl.request("GET", "/", b"", None).await.unwrap();
                (got, err, after)
            })
            .await
            .unwrap();
        let err = err.expect("the stream ends with a reset");
        assert_eq!(err.reason(), Some(h2::Reason::CANCEL), "{err}");
        assert!(got <= 1000);
        assert_eq!(after.1, b"hello\n");
        assert_healthy(&p);
    });
}

#[test]
fn upstream_goaway_reaches_client() {
    rt().block_on(async {
        let mut p = Pump::new(vm("{}"));
        let (c, client_io, up_io) = p.connect().unwrap();
        let _up = peer::serve(up_io);
        let (r, ended, next) = p
            .run(async move {
                let mut cl = Client::connect(client_io).await.unwrap();
                let r = cl.request("GET", "/goaway", b"", None).await.unwrap();
                // The client's connection ends once GOAWAY arrives and nothing is open.
                let ended = (&mut cl.done).await.unwrap();
                let next = cl.request("GET", "/", b"", None).await;
                (r, ended, next)
            })
            .await
            .unwrap();
        assert_eq!(r.1, b"goodbye\n");
        assert!(
            ended.is_ok() || ended.as_ref().unwrap_err().is_go_away(),
            "{ended:?}"
        );
        assert!(next.is_err(), "a request after GOAWAY must fail");
        let goaways: i64 =
            p.vm.metrics()
                .iter()
                .filter(|(k, _)| k.starts_with("h2mux_client_goaways_sent"))
                .map(|(_, v)| *v)
                .sum();
        assert!(goaways >= 1, "{:?}", p.vm.metrics());
        let _ = c;
        assert_healthy(&p);
    });
}

#[test]
fn pings_are_answered_both_ways() {
    rt().block_on(async {
        let mut p = Pump::new(vm("{}"));
        let (_c, client_io, up_io) = p.connect().unwrap();
        let up = peer::serve(up_io);
        p.run(async move {
            let mut cl = Client::connect(client_io).await.unwrap();
            let r = cl.request("GET", "/", b"", None).await.unwrap();
            assert_eq!(r.0, 200);
            for _ in 0..3 {
                cl.ping().await.expect("client PING answered");
            }
            up.ping().await.expect("upstream PING answered");
        })
        .await
        .unwrap();
        assert_healthy(&p);
    });
}

#[test]
fn settings_change_mid_connection() {
    rt().block_on(async {
        let mut p = Pump::new(vm("{}"));
        let (_c, client_io, up_io) = p.connect().unwrap();
        let up = peer::serve(up_io);
        let upload = body_of(9, 300_000);
        let want = format!("{} {}\n", peer::sha256_hex(&upload), upload.len());
        let (a, b) = p
            .run(async move {
                let mut cl = Client::connect(client_io).await.unwrap();
                let _ = cl.request("GET", "/", b"", None).await.unwrap();
                // Smaller windows on both sides, mid-connection.
                cl.set_initial_window_size(8_192);
                up.set_initial_window_size(10_000);
                let a = cl.request("GET", "/bytes/300000", b"", None).await.unwrap();
                let b = cl.request("POST", "/sha256", &upload, None).await.unwrap();
                // And larger again.
                cl.set_initial_window_size(1 << 20);
                up.set_initial_window_size(1 << 20);
                let c = cl.request("GET", "/bytes/300000", b"", None).await.unwrap();
                assert!(c.1 == peer::pattern(0, 300_000));
                (a, b)
            })
            .await
            .unwrap();
        assert!(a.1 == peer::pattern(0, 300_000));
        assert_eq!(String::from_utf8_lossy(&b.1), want);
        assert_healthy(&p);
    });
}
