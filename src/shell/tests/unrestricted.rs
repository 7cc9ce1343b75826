//! A host without Envoy's limits: bytes go both ways at every event, no doorbell is ever
//! rung, nothing waits for a tick but timers and quota waiters, and a finished connection
//! closes in the event that finished it.

use std::sync::Arc;

use super::envoy_rules::{download_then_upstream_close, CLOSE_DELIMITED, H1_HELD_8M, LENGTH, MIB};
use super::model::{Host, HostEvent};
use super::net::{digest, pattern, Answer, Client, Net, Upstream};
use super::{count, goaway_codes, pings, preface};
use crate::conn::Connection;
use crate::error::ErrorCode;
use crate::frame::{self, flags, FrameType};
use crate::limits::Config;
use crate::shell::state::ClientBytes;
use crate::shell::Capabilities;
use crate::side::Side;

fn open_host(config: &str) -> Net {
    Net::new(config, Capabilities::unrestricted())
}

fn h2_upstream(net: &Net, answer: Answer) -> Upstream {
    let s = Connection::new(Side::Frontend, Arc::new(Config::default()), 0, net.host.now);
    Upstream::H2(Box::new(s), answer)
}

#[test]
fn without_limits_requests_cross_with_no_doorbell_and_no_tick() {
    let mut n = open_host("{}");
    let l = n.connect_h2(Answer::Echo);
    let body = pattern(300_000, 3);
    let post = n.request(l, "POST", "/echo", &body);
    let get = n.request(l, "GET", "/", b"");
    n.run();
    let r = n.response(l, post);
    assert_eq!((r.status, r.ended), (Some(200), true));
    assert!(r.body == body, "echoed body differs");
    assert!(n.response(l, get).ended);
    n.host.tick();
    assert_eq!(n.host.metric("h2mux_doorbells_total"), 0);
    assert_eq!(n.host.metric("h2mux_streams_total"), 2);
    assert!(
        n.host.envoy.refusals.is_empty(),
        "{:?}",
        n.host.envoy.refusals
    );
}

#[test]
fn without_limits_a_ping_flood_ends_in_enhance_your_calm_at_once() {
    let mut n = open_host(r#"{"quota_bytes": 1048576}"#);
    let up = h2_upstream(&n, Answer::Echo);
    let l = n.connect(Client::Raw, up);
    let id = n.id(l);
    n.send_raw(l, &preface());
    n.run();
    n.send_raw(l, &pings(20_000));
    n.run();
    assert!(
        n.host.is_closed(id),
        "not closed in the event that finished it"
    );
    let raw = &n.links[l].raw_in;
    assert_eq!(goaway_codes(raw).last(), Some(&ErrorCode::EnhanceYourCalm));
    assert!(count(raw, FrameType::Ping, flags::ACK) < 5_000);
    n.host.tick();
    assert_eq!(n.host.metric("h2mux_doorbells_total"), 0);
    assert!(
        n.host.envoy.refusals.is_empty(),
        "{:?}",
        n.host.envoy.refusals
    );
}

#[test]
fn without_limits_an_http1_client_gets_its_505_and_the_close_together() {
    let mut n = open_host(r#"{"accept_http1": false}"#);
    let up = h2_upstream(&n, Answer::Echo);
    let l = n.connect(Client::Raw, up);
    let id = n.id(l);
    n.send_raw(l, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
    n.run();
    assert!(n.host.is_closed(id));
    let text = String::from_utf8_lossy(&n.links[l].raw_in).into_owned();
    assert!(text.starts_with("HTTP/1.1 505 "), "{text}");
    assert!(text.ends_with("over TLS).\n"), "{text}");
    assert!(
        n.host.envoy.refusals.is_empty(),
        "{:?}",
        n.host.envoy.refusals
    );
}

#[test]
fn without_limits_pipelined_http1_requests_are_answered_in_order() {
    let mut n = open_host("{}");
    let up = h2_upstream(&n, Answer::Echo);
    let l = n.connect(Client::Raw, up);
    let id = n.id(l);
    n.send_raw(
        l,
        b"POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\none\
          POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\ntwo\
          POST /3 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nConnection: close\r\n\r\nthree",
    );
    n.run();
    let text = String::from_utf8_lossy(&n.links[l].raw_in).into_owned();
    let one = text.find("3\r\none\r\n").expect(&text);
    let two = text.find("3\r\ntwo\r\n").expect(&text);
    let three = text.find("three").expect(&text);
    assert!(one < two && two < three, "{text}");
    assert_eq!(text.matches("HTTP/1.1 200 OK").count(), 3, "{text}");
    assert!(text.contains("connection: close"), "{text}");
    assert!(n.host.is_closed(id), "Connection: close was not honoured");
}

/// Two clients each send half of a control frame: their frontends hold an rx buffer
/// across events, every unreserved buffer of a three-buffer quota. Returns them, and the
/// rest of the frame each must send to give its buffer back.
fn hold_unreserved_buffers(n: &mut Net) -> (Vec<usize>, Vec<u8>) {
    let mut frame = Vec::new();
    frame::write_settings(&mut frame, &[(1, 4096), (3, 100)]);
    let (half, rest) = frame.split_at(12);
    let mut raws = Vec::new();
    for _ in 0..2 {
        let up = h2_upstream(n, Answer::Echo);
        let l = n.connect(Client::Raw, up);
        n.send_raw(l, &preface());
        n.run();
        n.send_raw(l, half);
        raws.push(l);
    }
    assert_eq!(n.host.shell.pool().available_unreserved(), 0);
    (raws, rest.to_vec())
}

/// Three buffers, one reserved for holders.
const STARVED: &str = r#"{"quota_bytes": 49152, "reserve_buffers": 1}"#;

/// Without write limits buffers are given back within each event, so only bytes that stay
/// across events hold them: a third connection waits until the tick resumes it.
#[test]
fn without_limits_quota_waiters_still_resume_from_the_tick() {
    let mut n = open_host(STARVED);
    let (raws, rest) = hold_unreserved_buffers(&mut n);
    let l = n.connect_h2(Answer::Digest);
    let body = pattern(200_000, 9);
    let s = n.request(l, "POST", "/sha", &body);
    n.run();
    assert!(n.host.shell.pool().waiters() > 0);
    assert!(n.host.shell.conn(n.id(l)).unwrap().holds_downstream());
    assert!(!n.response(l, s).ended);
    for r in raws {
        n.send_raw(r, &rest);
    }
    n.run_until(1_000, |n| n.response(l, s).ended);
    assert_eq!(
        String::from_utf8_lossy(&n.response(l, s).body),
        digest(&body)
    );
    assert!(n
        .host
        .envoy
        .events
        .iter()
        .any(|e| matches!(e, HostEvent::BufferVisit { conn, .. } if *conn == n.id(l))));
    assert!(n.host.metric("h2mux_quota_waits_total") > 0);
    assert!(n.host.metric("h2mux_quota_resumed_total") > 0);
    assert!(
        n.host.envoy.refusals.is_empty(),
        "{:?}",
        n.host.envoy.refusals
    );
}

/// A host that cannot hold client bytes: the shell keeps what the relay did not take, and
/// feeds it again once a buffer comes back.
#[test]
fn a_host_that_cannot_hold_client_bytes_has_them_kept_by_the_shell() {
    let caps = Capabilities {
        holds_paused_downstream: false,
        ..Capabilities::unrestricted()
    };
    let mut n = Net::with_host(Host::new(STARVED, caps));
    let (raws, rest) = hold_unreserved_buffers(&mut n);
    let l = n.connect_h2(Answer::Digest);
    let body = pattern(200_000, 11);
    let s = n.request(l, "POST", "/sha", &body);
    n.run();
    let kept = n.host.shell.conn(n.id(l)).unwrap().client_bytes();
    assert!(matches!(kept, ClientBytes::Kept { .. }), "{kept:?}");
    for r in raws {
        n.send_raw(r, &rest);
    }
    n.run_until(1_000, |n| n.response(l, s).ended);
    assert_eq!(
        String::from_utf8_lossy(&n.response(l, s).body),
        digest(&body)
    );
    let paused = n
        .host
        .envoy
        .events
        .iter()
        .any(|e| matches!(e, HostEvent::Paused(_)));
    assert!(!paused, "paused a host that cannot hold");
    assert!(
        n.host.envoy.refusals.is_empty(),
        "{:?}",
        n.host.envoy.refusals
    );
}

/// A host with its own timers asks the shell when to tick: a period after the last tick
/// while connections are open, never when none is.
#[test]
fn the_next_tick_is_due_a_period_after_the_last_while_connections_are_open() {
    let mut n = open_host(r#"{"tick_ms": 20}"#);
    assert_eq!(n.host.shell.next_deadline(), None);
    let l = n.connect_h2(Answer::Echo);
    let opened = n.host.now;
    assert_eq!(n.host.shell.next_deadline(), Some(opened.after(20)));
    n.run_for(50);
    assert_eq!(n.host.shell.next_deadline(), Some(n.host.now.after(20)));
    let id = n.id(l);
    n.host.client_close(id);
    n.run();
    assert!(n.host.is_closed(id));
    assert_eq!(n.host.shell.next_deadline(), None);
}

/// Upstream bytes kept past the relay's room go on within the upstream's last event here
/// too, and its end follows them.
#[test]
fn without_limits_a_large_download_ends_whole_at_the_upstream_close() {
    let (caps, reads) = (Capabilities::unrestricted(), [2 * MIB, 2 * MIB]);
    for head in [LENGTH, CLOSE_DELIMITED] {
        download_then_upstream_close(caps, H1_HELD_8M, head, &reads, true);
        download_then_upstream_close(caps, H1_HELD_8M, head, &reads, false);
    }
}
