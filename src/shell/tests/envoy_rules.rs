//! The shell under Envoy's rules: requests crossing, a PING flood, an HTTP/1.x client, a
//! silent upstream, and the model itself catching a shell that ignores the rules.

use std::sync::Arc;

use super::model::{Host, HostEvent};
use super::net::{frames, pattern, Answer, Client, Net, Upstream};
use super::{count, goaway_codes, pings, preface};
use crate::conn::Connection;
use crate::error::ErrorCode;
use crate::frame::{flags, FrameType};
use crate::limits::Config;
use crate::shell::state::{CloseReason, Phase};
use crate::shell::{Capabilities, ConnId, FINISH_GRACE_MS};
use crate::side::Side;

fn envoy(config: &str) -> Net {
    Net::new(config, Capabilities::envoy())
}

fn h2_upstream(net: &Net) -> Upstream {
    let s = Connection::new(Side::Frontend, Arc::new(Config::default()), 0, net.host.now);
    Upstream::H2(Box::new(s), Answer::Echo)
}

/// A raw HTTP/2 client through Envoy's rules to an HTTP/2 upstream, its preface sent and
/// h2mux's SETTINGS acknowledged.
fn handshaken_raw(config: &str) -> (Net, usize, ConnId) {
    let mut n = envoy(config);
    let up = h2_upstream(&n);
    let l = n.connect(Client::Raw, up);
    let id = n.id(l);
    n.send_raw(l, &preface());
    n.run();
    n.send_raw(l, &[0, 0, 0, 4, 1, 0, 0, 0, 0]); // SETTINGS ACK
    n.run_for(100);
    (n, l, id)
}

#[test]
fn a_request_and_its_response_cross_under_envoy_rules() {
    let mut n = envoy("{}");
    let l = n.connect_h2(Answer::Echo);
    let get = n.request(l, "GET", "/", b"");
    let body = pattern(300_000, 7);
    let post = n.request(l, "POST", "/echo", &body);
    n.run_for(100);
    let r = n.response(l, get);
    assert_eq!((r.status, r.ended, r.body.len()), (Some(200), true, 0));
    let r = n.response(l, post);
    assert_eq!((r.status, r.ended), (Some(200), true));
    assert!(r.body == body, "echoed body differs");
    assert!(
        n.host.envoy.refusals.is_empty(),
        "{:?}",
        n.host.envoy.refusals
    );
    // Counters are published on the tick.
    assert_eq!(n.host.metric("h2mux_streams_total"), 2);
    assert!(n.host.metric("h2mux_bytes_from_client") > 300_000);
    assert!(n.host.metric("h2mux_bytes_to_client") > 300_000);
    assert_eq!(n.host.metric("h2mux_connections_active"), 1);
    assert!(!n.host.is_closed(n.id(l)));
}

#[test]
fn a_client_leaving_ends_the_connection() {
    let mut n = envoy("{}");
    let l = n.connect_h2(Answer::Echo);
    let s = n.request(l, "GET", "/", b"");
    n.run_for(20);
    assert_eq!(n.response(l, s).status, Some(200));
    let id = n.id(l);
    n.host.client_close(id);
    n.run_until(2_000, |n| n.host.is_closed(id));
    assert_eq!(n.host.metric("h2mux_connections_active"), 0);
    assert_eq!(n.host.shell.connections(), 0);
    assert!(
        n.host.envoy.refusals.is_empty(),
        "{:?}",
        n.host.envoy.refusals
    );
}

/// 20,000 PINGs in one delivery: the ACKs fill the tx buffer and reading stops. The shell
/// must not pause then (client-bound bytes wait and no upstream event would come): it
/// rings the upstream and keeps the rest itself, and the flood ends in ENHANCE_YOUR_CALM.
#[test]
fn a_ping_flood_ends_in_enhance_your_calm_without_wedging() {
    const PINGS: u64 = 20_000;
    let mut n = envoy(r#"{"quota_bytes": 1048576}"#);
    let up = h2_upstream(&n);
    let l = n.connect(Client::Raw, up);
    let id = n.id(l);
    // The handshake first, as a client would do it.
    n.send_raw(l, &preface());
    n.run();
    n.send_raw(l, &pings(PINGS));
    n.run_until(5_000, |n| n.host.is_closed(id));
    let raw = &n.links[l].raw_in;
    let codes = goaway_codes(raw);
    assert_eq!(
        codes.last(),
        Some(&ErrorCode::EnhanceYourCalm),
        "GOAWAYs {codes:?}"
    );
    let acks = count(raw, FrameType::Ping, flags::ACK);
    assert!(
        acks > 0 && acks < PINGS as usize / 4,
        "{acks} PING ACKs for {PINGS} PINGs"
    );
    assert!(n.host.metric("h2mux_doorbells_total") > 0);
    assert!(
        !n.host.envoy.events.contains(&HostEvent::Paused(id)),
        "paused with client-bound bytes waiting"
    );
    assert!(
        n.host.envoy.refusals.is_empty(),
        "{:?}",
        n.host.envoy.refusals
    );
}

/// A shutdown no peer's bytes would carry (a listener update reaching an idle connection):
/// the connection was parked at its client's last bytes (they went upstream from inside the
/// callback, which then paused with nothing held), so the wake-up can ring the upstream,
/// whose answer carries the first GOAWAY and its PING; the PING's ACK then brings the final
/// GOAWAY, and the connection closes.
#[test]
fn a_shutdown_reaches_an_idle_connection_with_the_two_step_goaway() {
    let (mut n, l, id) = handshaken_raw("{}");
    assert!(
        n.host.envoy.events.contains(&HostEvent::Parked(id)),
        "an idle connection is parked: {:?}",
        n.host.envoy.events
    );
    n.links[l].raw_in.clear();
    n.host.shutdown(id);
    n.run_for(20);
    let first = frames(&n.links[l].raw_in);
    let goaway = first.iter().find(|f| f.0 == 7); // GOAWAY
    assert_eq!(
        goaway.map(|f| f.3[..4].to_vec()),
        Some(vec![0x7f, 0xff, 0xff, 0xff]),
        "first GOAWAY: {first:?}"
    );
    let ping = first
        .iter()
        .find(|f| f.0 == 6 && f.1 & flags::ACK == 0)
        .map(|f| f.3.clone())
        .expect("a PING with the first GOAWAY");
    n.links[l].raw_in.clear();
    let mut ack = vec![0, 0, 8, 6, flags::ACK, 0, 0, 0, 0];
    ack.extend_from_slice(&ping);
    n.send_raw(l, &ack);
    n.run_until(2_000, |n| n.host.is_closed(id));
    let last = frames(&n.links[l].raw_in);
    let goaway = last.iter().find(|f| f.0 == 7); // GOAWAY
    assert_eq!(
        goaway.map(|f| f.3[..8].to_vec()),
        Some(vec![0; 8]),
        "final GOAWAY: last stream 0, NO_ERROR: {last:?}"
    );
    assert!(n.host.is_closed(id));
    assert!(
        n.host.envoy.refusals.is_empty(),
        "{:?}",
        n.host.envoy.refusals
    );
}

/// The limit of Envoy's rules: a connection whose client's last bytes opened a stream (a
/// request) is not parked, and once the upstream's answer ended that stream, no one can
/// reach it. Its shutdown waits for the client's next bytes, and without them it ends at
/// `shutdown_timeout_ms`, closed without the GOAWAY it could not be given.
#[test]
fn a_shutdown_of_an_unreachable_idle_connection_ends_at_the_shutdown_timeout() {
    let (mut n, l, id) = handshaken_raw(r#"{"shutdown_timeout_ms": 500}"#);
    // GET / on stream 1 (static table: :method GET, :scheme http, :path /; :authority "a"),
    // END_STREAM | END_HEADERS; then nothing more from the client.
    let block = [0x82, 0x86, 0x84, 0x41, 0x01, b'a'];
    let mut get = vec![0, 0, block.len() as u8, 1, 0x5, 0, 0, 0, 1];
    get.extend_from_slice(&block);
    n.send_raw(l, &get);
    n.run_for(100);
    let answered = frames(&n.links[l].raw_in);
    assert!(
        answered.iter().any(|f| f.0 == 1 && f.2 == 1),
        "no response: {answered:?}"
    );
    let parks = |n: &Net| {
        let e = &n.host.envoy.events;
        e.iter().filter(|e| **e == HostEvent::Parked(id)).count()
    };
    let parked = parks(&n);
    n.links[l].raw_in.clear();
    let start = n.host.now;
    n.host.shutdown(id);
    n.run_until(5_000, |n| n.host.is_closed(id));
    assert_eq!(parks(&n), parked, "no client bytes came, so no park");
    let took = n.host.now.as_millis() - start.as_millis();
    assert!(
        (500..500 + FINISH_GRACE_MS + 100).contains(&took),
        "closed after {took} ms"
    );
    assert!(goaway_codes(&n.links[l].raw_in).is_empty());
}

/// An HTTP/1.1 client is served through an HTTP/2 upstream: its response can only leave in
/// an upstream event (the upstream's answer is one), and the connection stays open for the
/// next request (keep-alive).
#[test]
fn an_http1_client_is_answered_and_kept_alive() {
    let mut n = envoy("{}");
    let up = h2_upstream(&n);
    let l = n.connect(Client::Raw, up);
    let id = n.id(l);
    n.send_raw(
        l,
        b"POST /a HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello",
    );
    n.run();
    let text = String::from_utf8_lossy(&n.links[l].raw_in).into_owned();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\n5\r\nhello\r\n0\r\n\r\n"), "{text}");
    assert!(!n.host.is_closed(id), "keep-alive connection closed");
    // A chunked upload on the same connection, echoed back.
    n.links[l].raw_in.clear();
    n.send_raw(
        l,
        b"PUT /b HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n\
          3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n",
    );
    n.run();
    let text = String::from_utf8_lossy(&n.links[l].raw_in).into_owned();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\n5\r\nabcde\r\n0\r\n\r\n"), "{text}");
    n.run_for(100);
    assert_eq!(n.host.metric("h2mux_client_requests_http1_total"), 2);
    assert_eq!(n.host.metric("h2mux_client_requests_http2_total"), 0);
    assert_eq!(n.host.metric("h2mux_upstream_requests_http2_total"), 2);
    assert!(
        n.host.envoy.refusals.is_empty(),
        "{:?}",
        n.host.envoy.refusals
    );
}

/// An HTTP/1.1 upload larger than every window: credit comes back as the upstream takes
/// the bytes, the client's held bytes are fed again, and the echo comes back whole, in
/// chunks (the upstream's answer has no length).
#[test]
fn a_large_http1_upload_flows_through_the_windows() {
    // The client writes as it goes (a read per piece). Written all at once and then
    // silent, the part beyond the upstream's window would wait: under Envoy's rules a
    // filter writes toward the upstream only in a downstream callback or by resuming a
    // held buffer, once (README, "HTTP/1.1 clients and upstreams").
    upload_through_the_windows(false);
}

/// The same upload written at once, the client then silent: the body beyond the upstream's
/// window goes on as credit comes back, through the paused downstream buffer, which stays
/// writable after the shell let its bytes go (it was stuck at one window before).
#[test]
fn a_large_http1_upload_written_at_once_flows_through_the_windows() {
    upload_through_the_windows(true);
}

/// A body that outruns the upstream's window by more than `max_parked_client_bytes` ends
/// the connection (the kept bytes are bounded); no HTTP/1.1 byte reaches the HTTP/2 upstream.
#[test]
fn a_body_outrunning_the_window_past_the_parked_bound_closes() {
    let mut n =
        envoy(r#"{"frontend": {"connection_window": 65535}, "max_parked_client_bytes": 200000}"#);
    let up = h2_upstream(&n);
    let l = n.connect(Client::Raw, up);
    let id = n.id(l);
    let mut req =
        b"POST /up HTTP/1.1\r\nHost: example.com\r\nContent-Length: 1000000\r\n\r\n".to_vec();
    req.extend_from_slice(&pattern(1_000_000, 9));
    n.send_raw(l, &req);
    n.run_until(5_000, |n| {
        n.host.envoy.events.contains(&HostEvent::Closed(id))
    });
    assert!(!n.links[l].raw_in.starts_with(b"HTTP/1.1 200"));
    let Upstream::H2(up, _) = &n.links[l].upstream else {
        unreachable!()
    };
    assert_eq!(
        up.error(),
        None,
        "the upstream saw bytes that are not HTTP/2"
    );
    assert!(
        n.host.envoy.refusals.is_empty(),
        "{:?}",
        n.host.envoy.refusals
    );
}

fn upload_through_the_windows(all_at_once: bool) {
    // The HTTP/1.1 side reads at most a connection window of body bytes ahead of the
    // upstream; the echo upstream queues a whole answer at once, so under 1 MiB.
    let mut n = envoy(r#"{"frontend": {"connection_window": 65535}}"#);
    let up = h2_upstream(&n);
    let l = n.connect(Client::Raw, up);
    let body = pattern(1_000_000, 9);
    let mut req = format!(
        "POST /up HTTP/1.1\r\nHost: example.com\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    if all_at_once {
        n.send_raw(l, &req);
        n.run();
    } else {
        for piece in req.chunks(64 * 1024) {
            n.send_raw(l, piece);
            n.run();
        }
    }
    n.run_until(5_000, |n| n.links[l].raw_in.ends_with(b"0\r\n\r\n"));
    let text = &n.links[l].raw_in;
    let head_end = text.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(text.starts_with(b"HTTP/1.1 200 OK\r\n"));
    // Undo the chunked framing.
    let mut got = Vec::new();
    let mut rest = &text[head_end..];
    loop {
        let nl = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..nl]).unwrap(), 16).unwrap();
        rest = &rest[nl + 2..];
        if size == 0 {
            break;
        }
        got.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
    assert_eq!(got.len(), body.len());
    assert!(got == body, "the echo differs");
    assert!(
        n.host.envoy.refusals.is_empty(),
        "{:?}",
        n.host.envoy.refusals
    );
}

/// A request that breaks a rule gets its status, then the close: the answer can only leave
/// in an upstream event (a doorbell brings one) and a close drops the bytes set in its own
/// callback, so the close comes from a later tick. Nothing of the request went upstream.
#[test]
fn a_smuggling_attempt_gets_400_then_a_close() {
    let mut n = envoy("{}");
    let up = h2_upstream(&n);
    let l = n.connect(Client::Raw, up);
    let id = n.id(l);
    n.send_raw(
        l,
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n\
          0\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    n.run();
    n.run_until(2_000, |n| n.host.is_closed(id));
    assert!(n.host.is_closed(id));
    let text = String::from_utf8_lossy(&n.links[l].raw_in).into_owned();
    assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
    assert!(text.contains("connection: close\r\n"), "{text}");
    assert_eq!(text.matches("HTTP/1.1").count(), 1, "{text}");
    assert_eq!(
        n.host
            .metric("h2mux_client_violations_http1_length_with_transfer_encoding"),
        1
    );
    assert_eq!(
        n.host.metric("h2mux_streams_total"),
        0,
        "nothing went upstream"
    );
    assert!(
        n.host.envoy.refusals.is_empty(),
        "{:?}",
        n.host.envoy.refusals
    );
}

/// With HTTP/1.1 turned off, the 505 can only leave in an upstream event, and a close drops
/// the bytes set in its own callback: the answer must be out before the close, which comes
/// from a later tick.
#[test]
fn an_http1_client_gets_a_505_then_a_close() {
    let mut n = envoy(r#"{"accept_http1": false}"#);
    let up = h2_upstream(&n);
    let l = n.connect(Client::Raw, up);
    let id = n.id(l);
    n.send_raw(l, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n");
    n.run();
    assert!(
        !n.host.is_closed(id),
        "closed in the callback that wrote the answer"
    );
    let phase = n.host.shell.conn(id).unwrap().phase();
    assert_eq!(phase, Phase::Closing(CloseReason::Http1Answered));
    n.run_until(1_000, |n| n.host.is_closed(id));
    let text = String::from_utf8_lossy(&n.links[l].raw_in).into_owned();
    assert!(text.starts_with("HTTP/1.1 505 "), "{text}");
    let body = "This port speaks HTTP/2 only (h2c with prior knowledge, or h2 over TLS).\n";
    assert!(text.ends_with(body), "{text}");
    assert_eq!(
        text.matches("HTTP/1.1").count(),
        1,
        "answered twice: {text}"
    );
    assert!(
        n.host.envoy.refusals.is_empty(),
        "{:?}",
        n.host.envoy.refusals
    );
}

/// An upstream that accepts and never writes: the relay gives up at its SETTINGS timeout,
/// but the client's GOAWAY has no upstream event to ride on. The finished connection is
/// closed once the grace period is over.
#[test]
fn a_silent_upstream_is_closed_after_the_grace_period() {
    let mut n = envoy(r#"{"settings_timeout_ms": 2000}"#);
    let client = Connection::new(Side::Backend, Arc::new(Config::default()), 0, n.host.now);
    let l = n.connect(Client::H2(Box::new(client)), Upstream::Silent);
    let id = n.id(l);
    let start = n.host.now;
    n.request(l, "GET", "/", b"");
    n.run_for(2_000 + FINISH_GRACE_MS / 2);
    assert!(
        !n.host.is_closed(id),
        "closed before the grace period ended"
    );
    let phase = n.host.shell.conn(id).unwrap().phase();
    assert!(matches!(phase, Phase::Finishing { .. }), "{phase:?}");
    n.run_until(10_000, |n| n.host.is_closed(id));
    let closed = n.host.sock(id).closed_at.unwrap();
    let after = closed.as_millis() - start.as_millis();
    assert!(
        (2_000 + FINISH_GRACE_MS..=2_000 + FINISH_GRACE_MS + 300).contains(&after),
        "closed {after} ms after the request"
    );
    // The upstream heard the preface and the request, and never answered.
    assert!(!n.links[l].silent_in.is_empty());
    assert!(
        n.host.envoy.refusals.is_empty(),
        "{:?}",
        n.host.envoy.refusals
    );
}

/// The model is strict: a shell told it may write both ways at any time breaks Envoy's
/// rules, and the model refuses those writes.
#[test]
fn the_model_refuses_a_shell_that_ignores_envoy_rules() {
    let host = Host::mismatched("{}", Capabilities::envoy(), Capabilities::unrestricted());
    let mut n = Net::with_host(host);
    let l = n.connect_h2(Answer::Echo);
    n.request(l, "GET", "/", b"");
    n.run_for(50);
    let refused = &n.host.envoy.refusals;
    assert!(
        refused.iter().any(|r| r.contains("set_buffer(upstream)")),
        "{refused:?}"
    );
}

/// A client with curl's windows (32 MiB): flow control never holds the response back.
fn wide_client(net: &Net) -> Client {
    let cfg = Config {
        initial_window_size: 32 << 20,
        connection_window: 32 << 20,
        ..Config::default()
    };
    Client::H2(Box::new(Connection::new(
        Side::Backend,
        Arc::new(cfg),
        0,
        net.host.now,
    )))
}

/// A download of several MiB from an HTTP/1.x upstream in reads of `reads` bytes (the
/// last read has the rest), more than the relay takes at once, the last read with the
/// upstream's close (`close_with_last`) or the close alone after it. No upstream event
/// follows the close, and only an upstream event may write to the client: that event must
/// deliver the rest of the body the shell kept, and the stream's end.
pub(super) fn download_then_upstream_close(
    caps: Capabilities,
    config: &str,
    head: &str,
    reads: &[usize],
    close_with_last: bool,
) {
    let mut n = Net::new(config, caps);
    let client = wide_client(&n);
    let l = n.connect(client, Upstream::Silent);
    let id = n.id(l);
    let get = n.request(l, "GET", "/10mb", b"");
    n.run();
    assert!(n.links[l].silent_in.starts_with(b"GET /10mb HTTP/1.1\r\n"));
    let body = pattern((6 << 20) + 1234, 5);
    let mut answer = head.replace("{len}", &body.len().to_string()).into_bytes();
    answer.extend_from_slice(&body);
    let mut rest = &answer[..];
    for &len in reads {
        let (read, after) = rest.split_at(len.min(rest.len()));
        n.host.upstream_send(id, read);
        n.run();
        rest = after;
    }
    if close_with_last {
        n.host.upstream_send_and_close(id, rest);
    } else {
        n.host.upstream_send(id, rest);
        n.run();
        n.host.upstream_close(id);
    }
    n.run();
    let r = n.response(l, get);
    assert_eq!(r.status, Some(200));
    assert_eq!(r.body.len(), body.len(), "body bytes delivered");
    assert!(r.body == body, "the body differs");
    assert!(r.ended, "no END_STREAM");
    assert!(
        n.host.envoy.refusals.is_empty(),
        "{:?}",
        n.host.envoy.refusals
    );
}

pub(super) const LENGTH: &str = "HTTP/1.0 200 OK\r\nContent-Length: {len}\r\n\r\n";
pub(super) const CLOSE_DELIMITED: &str =
    "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n";
pub(super) const MIB: usize = 1 << 20;
const H1: &str = r#"{"upstream_protocol": "http/1.1"}"#;
/// Room to keep 2 MiB reads the relay takes 1 MiB of at a time.
pub(super) const H1_HELD_8M: &str =
    r#"{"upstream_protocol": "http/1.1", "max_held_upstream_bytes": 8388608}"#;

/// Reads of 1 MiB with one of 1.5 MiB before the last: the shell keeps what the relay did
/// not take (within `max_held_upstream_bytes`), and the last read adds to it.
#[test]
fn a_large_download_ends_whole_when_the_upstream_closes_with_its_last_bytes() {
    let reads = [MIB, MIB, MIB, MIB, MIB + MIB / 2];
    download_then_upstream_close(Capabilities::envoy(), H1, LENGTH, &reads, true);
}

/// Reads of 2 MiB: more is kept at the close than the relay takes at once, and the close
/// comes alone, with no bytes.
#[test]
fn a_large_download_ends_whole_when_the_upstream_closes_after_its_last_bytes() {
    let reads = [2 * MIB, 2 * MIB];
    download_then_upstream_close(Capabilities::envoy(), H1_HELD_8M, LENGTH, &reads, false);
}

/// HTTP/1.0 without a length: the upstream's close ends the body, once the kept bytes
/// before it went through.
#[test]
fn a_close_delimited_download_ends_whole_at_the_upstream_close() {
    let (caps, reads) = (Capabilities::envoy(), [2 * MIB, 2 * MIB]);
    download_then_upstream_close(caps, H1_HELD_8M, CLOSE_DELIMITED, &reads, true);
    download_then_upstream_close(caps, H1_HELD_8M, CLOSE_DELIMITED, &reads, false);
}
