//! A buffer quota far below what the connections want at once: waiters are resumed from the
//! tick in FIFO order, and a waiter that already holds buffers is served from the reserve.

use super::model::{Host, HostEvent};
use super::net::{digest, pattern, Answer, Net, Upstream};
use crate::shell::{Capabilities, ConnId};

/// Checks every waiter visit against the rule: the front of the queue while an
/// unreserved buffer is free, else the first waiter holding buffers. Returns (FIFO visits,
/// reserve visits).
fn check_waiter_order(events: &[HostEvent]) -> (usize, usize) {
    let (mut fifo, mut reserve) = (0, 0);
    for e in events {
        if let HostEvent::BufferVisit {
            conn,
            fifo: front,
            holder,
            unreserved,
        } = *e
        {
            if unreserved {
                assert_eq!(Some(conn), front, "waiter {conn} visited out of FIFO order");
                fifo += 1;
            } else {
                assert_eq!(Some(conn), holder, "waiter {conn} is not the first holder");
                reserve += 1;
            }
        }
    }
    (fifo, reserve)
}

#[test]
fn quota_exhaustion_every_upload_arrives_with_waiters_in_fifo_order() {
    const CONNS: usize = 30;
    const SIZE: usize = 256 * 1024;
    // 8 buffers of 16 KiB for every connection.
    let mut n = Net::new(r#"{"quota_bytes": 131072}"#, Capabilities::envoy());
    let mut jobs = Vec::new();
    for i in 0..CONNS {
        let l = n.connect_h2(Answer::Digest);
        let body = pattern(SIZE, i as u8);
        let s = n.request(l, "POST", "/sha", &body);
        jobs.push((l, s, digest(&body)));
    }
    n.run_until(120_000, |n| {
        jobs.iter().all(|(l, s, _)| n.response(*l, *s).ended)
    });
    for (l, s, want) in &jobs {
        let r = n.response(*l, *s);
        assert_eq!(r.status, Some(200), "link {l}");
        assert_eq!(String::from_utf8_lossy(&r.body), *want, "link {l}");
    }
    let (fifo, reserve) = check_waiter_order(&n.host.envoy.events);
    eprintln!("waiters resumed: {fifo} in FIFO order, {reserve} from the reserve");
    assert!(fifo > 0, "no waiter resumed from the tick");
    assert!(n.host.metric("h2mux_quota_waits_total") > 0);
    assert!(n.host.metric("h2mux_quota_resumed_total") > 0);
    assert!(n.host.metric("h2mux_quota_bytes_in_use") <= 131_072);
    assert!(
        n.host.envoy.refusals.is_empty(),
        "{:?}",
        n.host.envoy.refusals
    );
}

/// Three buffers, one of them reserved. A connection holding a buffer waits behind one
/// holding none; when a single buffer comes free, only a holder may take it (the reserve),
/// so the holder is resumed first, out of FIFO order: it can finish its step and give
/// buffers back. The other waiter goes once an unreserved buffer is free.
#[test]
fn a_waiter_holding_buffers_is_served_from_the_reserve_first() {
    let config = r#"{"quota_bytes": 49152, "reserve_buffers": 1}"#;
    let mut n = Net::new(config, Capabilities::envoy());
    let (a, c) = (n.connect_h2(Answer::Echo), n.connect_h2(Answer::Echo));
    n.run_for(20);
    let (ia, ic) = (n.id(a), n.id(c));
    let held = |n: &Net, id: ConnId| n.host.shell.conn(id).unwrap().relay().buffers_held();
    assert_eq!(n.host.shell.pool().in_use(), 0);
    // `a`'s PING ACK waits for an upstream event that does not come: `a` holds a buffer.
    n.links[a].stalled = true;
    n.client(a).ping(*b"ping-ack");
    n.run();
    assert_eq!(held(&n, ia), 1);
    // The test takes the last unreserved buffer: `c`'s request must wait, holding nothing.
    let mine = n.host.shell.pool.try_take().unwrap();
    let sc = n.request(c, "GET", "/c", b"");
    n.run();
    assert_eq!(held(&n, ic), 0);
    assert_eq!(
        n.host.shell.pool().waiter_ids().collect::<Vec<_>>(),
        vec![ic]
    );
    // The reserve too: `a`'s request waits, behind `c`, though `a` holds a buffer.
    let reserve = n.host.shell.pool.try_take_reserved().unwrap();
    let sa = n.request(a, "GET", "/a", b"");
    n.run();
    let queue: Vec<ConnId> = n.host.shell.pool().waiter_ids().collect();
    assert_eq!(queue, vec![ic, ia]);
    // One buffer back, and it is a reserved one: the holder goes first.
    n.host.shell.pool.release(reserve);
    n.host.tick();
    n.run();
    let visits: Vec<ConnId> = n
        .host
        .envoy
        .events
        .iter()
        .filter_map(|e| match e {
            HostEvent::BufferVisit { conn, .. } => Some(*conn),
            _ => None,
        })
        .collect();
    assert_eq!(visits, vec![ia], "the holder first");
    assert_eq!(
        n.host.shell.pool().waiter_ids().collect::<Vec<_>>(),
        vec![ic]
    );
    // An unreserved buffer back: `c` in its turn. Then everything completes.
    n.host.shell.pool.release(mine);
    n.links[a].stalled = false;
    n.run_until(1_000, |n| {
        n.response(a, sa).ended && n.response(c, sc).ended
    });
    let (fifo, reserve) = check_waiter_order(&n.host.envoy.events);
    assert_eq!(reserve, 1);
    assert!(fifo >= 1);
    assert!(
        n.host.envoy.refusals.is_empty(),
        "{:?}",
        n.host.envoy.refusals
    );
}

/// Held client bytes past the host's per-connection buffer limit stop reads (no callback
/// at all, not even end of stream): the shell must resume them from its tick, or the
/// uploads never finish.
#[test]
fn uploads_finish_when_held_bytes_stop_reads_at_the_buffer_limit() {
    const CONNS: usize = 12;
    const SIZE: usize = 300 * 1024;
    let host = Host::with_limit(
        r#"{"quota_bytes": 131072}"#,
        Capabilities::envoy(),
        32 * 1024,
    );
    let mut n = Net::with_host(host);
    let mut jobs = Vec::new();
    for i in 0..CONNS {
        let l = n.connect_h2(Answer::Digest);
        let body = pattern(SIZE, 100 + i as u8);
        let s = n.request(l, "POST", "/sha", &body);
        jobs.push((l, s, digest(&body)));
    }
    n.run_until(120_000, |n| {
        jobs.iter().all(|(l, s, _)| n.response(*l, *s).ended)
    });
    for (l, s, want) in &jobs {
        assert_eq!(String::from_utf8_lossy(&n.response(*l, *s).body), *want);
    }
    let stops = n
        .host
        .envoy
        .events
        .iter()
        .filter(|e| matches!(e, HostEvent::ReadDisabled(_)))
        .count();
    assert!(stops > 0, "the read limit was never reached");
    check_waiter_order(&n.host.envoy.events);
    assert!(
        n.host.envoy.refusals.is_empty(),
        "{:?}",
        n.host.envoy.refusals
    );
}

/// Connections that hold pool buffers with upstream-bound bytes in them, paused while they
/// wait for a buffer (hold and wait): once such connections hold every buffer, no waiter
/// can be served, and the upstream, which got nothing, says nothing. Bytes already made
/// must not wait for a buffer: they go out, the buffers come back, and every request is
/// answered.
#[test]
fn connections_holding_every_buffer_still_send_what_they_made() {
    const CONNS: usize = 4;
    // Four buffers, none reserved.
    let config = r#"{"quota_bytes": 65536, "reserve_buffers": 0}"#;
    let mut n = Net::new(config, Capabilities::envoy());
    let links: Vec<usize> = (0..CONNS).map(|_| n.connect_h2(Answer::Echo)).collect();
    // Every buffer taken: the first bytes each way make the connections wait for one.
    let taken: Vec<_> = (0..4)
        .map(|_| n.host.shell.pool.try_take().unwrap())
        .collect();
    let streams: Vec<_> = links
        .iter()
        .map(|&l| n.request(l, "POST", "/echo", &pattern(40_000, l as u8)))
        .collect();
    n.run();
    let waiting = |n: &Net| n.host.shell.pool().waiters();
    assert_eq!(waiting(&n), CONNS, "every connection waits for a buffer");
    // The buffers come back, and before any tick the upstreams speak (a PING each): the
    // connections take the buffers in those events.
    for b in taken {
        n.host.shell.pool.release(b);
    }
    for &l in &links {
        if let Upstream::H2(s, _) = &mut n.links[l].upstream {
            s.ping(*b"upstream");
        }
    }
    n.run();
    n.run_until(5_000, |n| {
        links
            .iter()
            .zip(&streams)
            .all(|(&l, &s)| n.response(l, s).ended)
    });
    for (&l, &s) in links.iter().zip(&streams) {
        assert_eq!(n.response(l, s).body, pattern(40_000, l as u8), "link {l}");
    }
    assert_eq!(n.host.shell.pool().in_use(), 0);
}
