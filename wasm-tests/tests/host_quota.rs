//! A VM whose buffer quota is far below what its connections want at once.

mod common;

use common::{assert_healthy, rt, vm};
use h2mux_wasm_tests::host::driver::Pump;
use h2mux_wasm_tests::host::peer::{self, Client};
use h2mux_wasm_tests::host::HostEvent;

#[test]
fn quota_exhaustion_every_upload_arrives() {
    const CONNS: usize = 30;
    const SIZE: usize = 256 * 1024;
    rt().block_on(async {
        // 8 buffers of 16 KiB for the whole VM.
        let mut p = Pump::new(vm(r#"{"quota_bytes": 131072}"#));
        let mut jobs = Vec::new();
        for i in 0..CONNS {
            let (_c, client_io, up_io) = p.connect().unwrap();
            let up = peer::serve(up_io);
            let body: Vec<u8> = (0..SIZE)
                .map(|j| (i * 31 + j * 7 + j / 251) as u8)
                .collect();
            jobs.push((client_io, up, body));
        }
        let wants: Vec<String> = jobs
            .iter()
            .map(|(_, _, b)| format!("{} {SIZE}\n", peer::sha256_hex(b)))
            .collect();
        let ups: Vec<_> = jobs.iter().map(|(_, u, _)| u.clone()).collect();
        let replies = p
            .run(async move {
                let tasks: Vec<_> = jobs
                    .into_iter()
                    .map(|(io, _up, body)| {
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
            assert_eq!(r.0, 200, "connection {i}");
            assert_eq!(String::from_utf8_lossy(&r.1), wants[i], "connection {i}");
            assert!(ups[i].seen().iter().any(|s| matches!(s,
                peer::Seen::Body { bytes, .. } if *bytes == SIZE as u64)));
        }
        let waits = p.vm.metric("h2mux_quota_waits_total").unwrap_or(0);
        let resumed = p.vm.metric("h2mux_quota_resumed_total").unwrap_or(0);
        assert!(waits > 0, "{:?}", p.vm.metrics());
        assert!(resumed > 0, "{:?}", p.vm.metrics());
        let in_use = p.vm.metric("h2mux_quota_bytes_in_use").unwrap_or(0);
        assert!(in_use <= 131072, "{in_use}");
        fifo_where_observable(p.vm.events(), p.vm.root_id());
        eprintln!(
            "quota: waits {waits}, resumed {resumed}, ticks {}, VM clock {} ms, memory {} KiB",
            p.vm.ticks(),
            p.vm.elapsed_ms(),
            p.vm.memory_size() / 1024
        );
        assert_healthy(&p);
    });
}

/// Connections resumed from the tick come back in the order they paused: replays the
/// events through a FIFO of paused connections (a resume from the connection's own
/// callback leaves the queue without taking a turn). Only a connection's first wait
/// counts: once resumed it holds buffers, and the reserve (`reserve_buffers`) lets a
/// holder go before connections that hold none, by design (no deadlock). A parked
/// connection holds nothing and never joins the queue.
fn fifo_where_observable(events: &[HostEvent], root: u32) {
    let mut queue: std::collections::VecDeque<u32> = Default::default();
    let mut resumed_once = std::collections::HashSet::new();
    let (mut in_order, mut out_of_order) = (0, 0);
    for e in events {
        match *e {
            HostEvent::Paused(c) => {
                if !queue.contains(&c) && !resumed_once.contains(&c) {
                    queue.push_back(c);
                }
            }
            HostEvent::Resumed { conn, from } => {
                if from == root && queue.contains(&conn) {
                    resumed_once.insert(conn);
                    if queue.front() == Some(&conn) {
                        in_order += 1;
                    } else {
                        out_of_order += 1;
                    }
                }
                queue.retain(|c| *c != conn);
            }
            HostEvent::Closed(c) => queue.retain(|x| *x != c),
            HostEvent::ReadDisabled(_) | HostEvent::Parked(_) => {}
        }
    }
    eprintln!("tick resumes in FIFO order: {in_order}, out of order: {out_of_order}");
    assert!(in_order > 0, "no resume from the tick observed");
    assert!(
        out_of_order * 10 <= in_order,
        "resumes out of FIFO order: {out_of_order} of {}",
        in_order + out_of_order
    );
}
