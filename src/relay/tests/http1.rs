//! An HTTP/2 client through the relay to an HTTP/1.1 upstream played by the test: one
//! request at a time, in order, from a bounded queue with a timeout; framing rewritten;
//! the upstream's close and its mistakes.

use bytes::Bytes;

use super::req;
use crate::conn::Event;
use crate::error::ErrorCode;
use crate::limits::Config;
use crate::testkit::{deliver, Chain};
use crate::time::Instant;

fn wire(c: &mut Chain) -> String {
    let w = c.upstream_wire.as_mut().unwrap();
    String::from_utf8(std::mem::take(w)).unwrap()
}

fn answer(c: &mut Chain, bytes: &[u8]) {
    c.server_raw = Some(bytes.to_vec());
    c.run();
}

fn status_of(c: &Chain, id: crate::stream::StreamId) -> Option<u16> {
    c.client_events.iter().find_map(|e| match e {
        Event::Headers {
            stream, message, ..
        } if *stream == id => message.status(),
        _ => None,
    })
}

#[test]
fn a_request_goes_out_as_http11_and_its_answer_comes_back() {
    let mut c = Chain::h1_upstream(Config::default());
    let mut m = req("GET", "/hello");
    m.fields.push(b"cookie", b"a=1", false);
    m.fields.push(b"cookie", b"b=2", false);
    let id = c.client.open_stream(m, true).unwrap();
    c.run();
    assert_eq!(
        wire(&mut c),
        "GET /hello HTTP/1.1\r\nhost: example.com\r\ncookie: a=1; b=2\r\n\r\n"
    );
    answer(
        &mut c,
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\nX-Up: 1\r\n\r\nhello",
    );
    assert_eq!(status_of(&c, id), Some(200));
    let fields = c.client_events.iter().find_map(|e| match e {
        Event::Headers { message, .. } => Some(format!("{:?}", message.fields)),
        _ => None,
    });
    let fields = fields.unwrap();
    assert!(
        fields.contains("x-up") && !fields.contains("connection"),
        "{fields}"
    );
    assert_eq!(c.client_bodies(), vec![(id, b"hello".to_vec(), true)]);
    c.run();
    assert_eq!(c.relay.stream_count(), 0);
}

#[test]
fn streams_take_turns_on_the_one_upstream_connection() {
    let mut c = Chain::h1_upstream(Config::default());
    let a = c.client.open_stream(req("GET", "/a"), true).unwrap();
    let b = c.client.open_stream(req("POST", "/b"), false).unwrap();
    c.client
        .send_data(b, Bytes::from_static(b"body"), true)
        .unwrap();
    c.run();
    let first = wire(&mut c);
    assert!(first.starts_with("GET /a "), "{first}");
    assert!(
        !first.contains("/b"),
        "second request sent before the first answer: {first}"
    );
    answer(
        &mut c,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nA\r\n0\r\n\r\n",
    );
    // The first pair ends, then the second request goes, its body chunked (no length).
    c.run();
    let second = wire(&mut c);
    assert_eq!(
        second,
        "POST /b HTTP/1.1\r\nhost: example.com\r\nexpect: 100-continue\r\n\
         transfer-encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n"
    );
    answer(
        &mut c,
        b"HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nB",
    );
    assert_eq!(status_of(&c, a), Some(200));
    assert_eq!(status_of(&c, b), Some(201));
    let mut bodies = c.client_bodies();
    bodies.sort();
    assert_eq!(
        bodies,
        vec![(a, b"A".to_vec(), true), (b, b"B".to_vec(), true)]
    );
}

#[test]
fn connection_close_finishes_the_answer_then_goes_away_gracefully() {
    let mut c = Chain::h1_upstream(Config::default());
    let a = c.client.open_stream(req("GET", "/a"), true).unwrap();
    let b = c.client.open_stream(req("GET", "/b"), true).unwrap();
    c.run();
    wire(&mut c);
    answer(
        &mut c,
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
    );
    assert_eq!(status_of(&c, a), Some(200));
    assert_eq!(c.client_bodies(), vec![(a, b"ok".to_vec(), true)]);
    let goaway = c.client_events.iter().find_map(|e| match e {
        Event::GoAway {
            code, last_stream, ..
        } => Some((*code, *last_stream)),
        _ => None,
    });
    assert_eq!(goaway, Some((ErrorCode::NoError, a)));
    let refused = c.client_events.iter().any(|e| {
        matches!(e, Event::Reset { stream, code: ErrorCode::RefusedStream, .. } if *stream == b)
    });
    assert!(refused, "{:?}", c.client_events);
    assert!(!wire(&mut c).contains("/b"));
}

#[test]
fn a_request_that_waits_too_long_gets_503() {
    let front = Config {
        queue_timeout_ms: 1_000,
        ..Config::default()
    };
    let mut c = Chain::h1_upstream(front);
    let a = c.client.open_stream(req("GET", "/slow"), true).unwrap();
    let b = c.client.open_stream(req("GET", "/b"), true).unwrap();
    c.run();
    // The timeout is the backend's knob: the queue is the upstream's.
    assert!(c.relay.next_timeout().is_some());
    c.now = Instant(31_000);
    c.relay.tick(&mut c.pool, c.now);
    c.run();
    assert_eq!(status_of(&c, b), Some(503));
    assert_eq!(status_of(&c, a), None);
    answer(&mut c, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(status_of(&c, a), Some(200));
    assert!(
        !wire(&mut c).contains("/b"),
        "a request answered 503 went upstream"
    );
    // What the host's metrics hear of both: the 503 after its 31 s wait, the 200 after
    // the same time, both with a first byte.
    c.client.detach(a);
    c.client.detach(b);
    c.run();
    let mut ended = c.relay.take_ended();
    ended.sort_by_key(|e| e.status);
    let shapes: Vec<_> = ended
        .iter()
        .map(|e| (e.status, e.duration_ms, e.first_byte_ms))
        .collect();
    assert_eq!(
        shapes,
        vec![
            (Some(200), 31_000, Some(31_000)),
            (Some(503), 31_000, Some(31_000))
        ]
    );
    assert!(c.relay.take_ended().is_empty(), "taken twice");
}

#[test]
fn a_malformed_response_is_a_502_and_the_end_of_the_connection() {
    let mut c = Chain::h1_upstream(Config::default());
    let a = c.client.open_stream(req("GET", "/a"), true).unwrap();
    c.run();
    answer(
        &mut c,
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    assert_eq!(status_of(&c, a), Some(502));
    assert!(c
        .client_events
        .iter()
        .any(|e| matches!(e, Event::GoAway { .. })));
}

#[test]
fn a_body_that_breaks_the_rules_after_the_head_resets_the_stream() {
    let mut c = Chain::h1_upstream(Config::default());
    let a = c.client.open_stream(req("GET", "/a"), true).unwrap();
    c.run();
    answer(
        &mut c,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX",
    );
    // Whatever of the answer got out, the stream ends as cut off, never as whole.
    let reset = c.client_events.iter().any(|e| {
        matches!(e, Event::Reset { stream, code: ErrorCode::InternalError, .. } if *stream == a)
    });
    assert!(reset, "{:?}", c.client_events);
}

#[test]
fn head_through_an_http11_upstream_has_no_body() {
    let mut c = Chain::h1_upstream(Config::default());
    let a = c.client.open_stream(req("HEAD", "/"), true).unwrap();
    c.run();
    answer(&mut c, b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
    assert_eq!(status_of(&c, a), Some(200));
    assert!(c.client_events.iter().any(|e| matches!(
        e,
        Event::Headers {
            end_stream: true,
            ..
        }
    )));
    // The connection is reusable: no body was expected.
    let b = c.client.open_stream(req("GET", "/next"), true).unwrap();
    c.run();
    let w = wire(&mut c);
    assert!(w.starts_with("HEAD / ") && w.contains("GET /next "), "{w}");
    answer(&mut c, b"HTTP/1.1 204 No Content\r\n\r\n");
    assert_eq!(status_of(&c, b), Some(204));
}

#[test]
fn a_close_delimited_answer_ends_with_the_upstream() {
    let mut c = Chain::h1_upstream(Config::default());
    let a = c.client.open_stream(req("GET", "/a"), true).unwrap();
    c.run();
    answer(&mut c, b"HTTP/1.1 200 OK\r\n\r\nuntil the end");
    c.relay.upstream_eof(&mut c.pool, c.now);
    c.run();
    assert_eq!(
        c.client_bodies(),
        vec![(a, b"until the end".to_vec(), true)]
    );
}

/// A silent HTTP/1.1 upstream brings no upstream event, and only in one may a proxy-wasm
/// filter write to the client: with no request in flight, the doorbell is an `OPTIONS /`,
/// whose answer (any answer) is read and dropped and the connection goes on. Not before the
/// upstream has answered a request and kept the connection (some close on such a request).
#[test]
fn the_doorbell_of_an_idle_http11_upstream_is_options() {
    let mut c = Chain::h1_upstream(Config::default());
    c.run();
    let ping = |c: &mut Chain, data: &[u8; 8]| {
        c.client.ping(*data);
        c.client
            .drain_output(&mut c.pool, &mut c.c2r, usize::MAX, Instant(0));
        deliver(&mut c.c2r, |b| {
            c.relay.from_client(&mut c.pool, b, Instant(0))
        });
        assert!(c.relay.has_client_output());
    };
    ping(&mut c, b"12345678");
    assert!(
        c.relay.upstream_doorbell(Instant(0)).is_none(),
        "no probe before a first answer"
    );
    let a = c.client.open_stream(req("GET", "/a"), true).unwrap();
    c.run();
    assert!(wire(&mut c).starts_with("GET /a "));
    answer(&mut c, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(status_of(&c, a), Some(200));
    ping(&mut c, b"23456789");
    let bell = c.relay.upstream_doorbell(Instant(0)).expect("a probe");
    assert_eq!(&bell[..], b"OPTIONS / HTTP/1.1\r\nhost: localhost\r\n\r\n");
    assert!(c.relay.upstream_reply_owed());
    assert!(
        c.relay.upstream_doorbell(Instant(0)).is_none(),
        "one at a time"
    );
    answer(
        &mut c,
        b"HTTP/1.1 405 Not Allowed\r\nContent-Length: 4\r\n\r\nnope",
    );
    assert!(!c.relay.upstream_reply_owed());
    // The probe's answer reached nobody, and a request goes out next on the same connection.
    let heads = |c: &Chain| {
        c.client_events
            .iter()
            .filter(|e| matches!(e, Event::Headers { .. }))
            .count()
    };
    assert_eq!(heads(&c), 1);
    let b = c.client.open_stream(req("GET", "/b"), true).unwrap();
    c.run();
    assert!(wire(&mut c).starts_with("GET /b "));
    answer(&mut c, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(status_of(&c, b), Some(200));
    // No probe while a request is in flight: its answer is the event.
    let _c3 = c.client.open_stream(req("GET", "/c"), true).unwrap();
    c.run();
    ping(&mut c, b"87654321");
    assert!(c.relay.upstream_doorbell(Instant(0)).is_none());
}

#[test]
fn a_large_body_asks_for_100_continue_and_the_100_reaches_the_client() {
    let mut c = Chain::h1_upstream(Config::default());
    let mut m = req("PUT", "/big");
    m.content_length = Some(100_000);
    m.fields.push(b"content-length", b"100000", false);
    let a = c.client.open_stream(m, false).unwrap();
    c.run();
    let head = wire(&mut c);
    assert!(head.contains("expect: 100-continue\r\n"), "{head}");
    answer(&mut c, b"HTTP/1.1 100 Continue\r\n\r\n");
    assert_eq!(status_of(&c, a), Some(100));
    // A small body with a length does not ask.
    let mut c = Chain::h1_upstream(Config::default());
    let mut m = req("PUT", "/small");
    m.content_length = Some(10);
    m.fields.push(b"content-length", b"10", false);
    c.client.open_stream(m, false).unwrap();
    c.run();
    assert!(!wire(&mut c).contains("expect"));
}

/// Windows opened wide for an HTTP/1.1 upstream do not bound what a queued request holds:
/// past `max_stream_send_queue`, the request is refused (it was never processed).
#[test]
fn a_queued_request_that_sends_too_much_is_refused() {
    let front = Config {
        initial_window_size: 0x7fff_ffff,
        connection_window: 0x7fff_ffff,
        max_stream_send_queue: 64 * 1024,
        ..Config::default()
    };
    let mut c = Chain::h1_upstream(front);
    let _a = c.client.open_stream(req("GET", "/a"), true).unwrap();
    let b = c.client.open_stream(req("POST", "/b"), false).unwrap();
    c.run();
    for _ in 0..8 {
        let _ = c
            .client
            .send_data(b, Bytes::from(vec![7u8; 16 * 1024]), false);
        c.run();
    }
    let refused = c.client_events.iter().any(|e| {
        matches!(e, Event::Reset { stream, code: ErrorCode::RefusedStream, .. } if *stream == b)
    });
    assert!(refused, "{:?}", c.client_events);
    assert!(!wire(&mut c).contains("/b"));
}

#[test]
fn the_first_bytes_tell_the_protocol() {
    use crate::relay::{detect, Detected};
    for (bytes, want) in [
        (&b"PRI * HTTP/2.0\r\n"[..], Detected::Http2),
        (b"PRI", Detected::Http2),
        (b"GET / HTTP/1.1\r\n", Detected::Http1),
        (b"\r\nGET ", Detected::Http1),
        (b"GE", Detected::Undecided),
        (b"\r\n", Detected::Undecided),
        // Broken request lines are HTTP/1.1's to answer with a 400.
        (b" GET / HTTP/1.1\r\n", Detected::Http1),
        (b"G(T / HTTP/1.1\r\n", Detected::Http1),
        (b"GET\t/\tHTTP/1.1\r\n", Detected::Http1),
        (b"\nGET / HTTP/1.1\r\n", Detected::Http1),
        // No HTTP at all.
        (b"\x16\x03\x01\x02\x00\x01", Detected::Http2),
        (b"hello there\r\n", Detected::Http1),
        (b"GET /\0 HTTP/1.1\r\n", Detected::Http1),
        (b" \x01\r\n", Detected::Http2),
        (b"G\x01T / HTTP/1.1\r\n", Detected::Http1),
        (b"\r\n\r\n/x http/1.1\r\n", Detected::Http2),
        (b"\x00\x01\x02", Detected::Http2),
    ] {
        assert_eq!(detect(bytes), want, "{}", String::from_utf8_lossy(bytes));
    }
}

/// An HTTP/1.1 client's pipelined requests go to an HTTP/1.1 upstream pipelined, in the
/// callback that read them (later, in an upstream callback, nothing could carry them), and
/// the answers come back in order.
#[test]
fn pipelined_requests_go_upstream_pipelined() {
    use std::sync::Arc;

    use crate::buffer::BufferPool;
    use crate::relay::Relay;

    let front = Config {
        http1: true,
        ..Config::default()
    };
    let back = Config {
        http1: true,
        ..Config::default()
    };
    let mut pool = BufferPool::new(16_384, 64 * 16_384, 8);
    let mut r = Relay::new(Arc::new(front), Arc::new(back), 1, Instant(0));
    let reqs = Bytes::from_static(
        b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n\
          GET /3 HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    let n = r.from_client(&mut pool, &reqs, Instant(0));
    assert_eq!(n, reqs.len());
    let mut up = Vec::new();
    r.upstream_output(&mut pool, &mut up, Instant(0));
    let up = String::from_utf8(up).unwrap();
    assert_eq!(up.matches("GET /").count(), 3, "{up}");
    let answers = Bytes::from_static(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nA\
          HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nB\
          HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nC",
    );
    assert_eq!(
        r.from_upstream(&mut pool, &answers, Instant(0)),
        answers.len()
    );
    let mut down = Vec::new();
    r.client_output(&mut pool, &mut down, Instant(0));
    let down = String::from_utf8(down).unwrap();
    let (a, b, c) = (
        down.find("\r\n\r\nA").unwrap(),
        down.find("\r\n\r\nB").unwrap(),
        down.find("\r\n\r\nC").unwrap(),
    );
    assert!(a < b && b < c, "{down}");
    assert_eq!(r.stream_count(), 0);
    r.release(&mut pool);
}

/// One client read can be larger than Envoy's buffer limit (reads overshoot it), and so
/// larger than the HTTP/1.1 upstream side's send queue (`max_stream_send_queue`): the body
/// is handed over in pieces the queue takes, all in the same call, and reaches the upstream
/// whole. It used to go in one piece, fail with a full queue and reset the request halfway.
#[test]
fn a_client_read_larger_than_the_upstream_send_queue_goes_whole() {
    use std::sync::Arc;

    use crate::buffer::BufferPool;
    use crate::relay::Relay;

    let front = Config {
        http1: true,
        ..Config::default()
    };
    let back = Config {
        http1: true,
        max_stream_send_queue: 64 * 1024,
        ..Config::default()
    };
    let mut pool = BufferPool::new(16_384, 64 * 16_384, 8);
    let mut r = Relay::new(Arc::new(front), Arc::new(back), 1, Instant(0));
    let body = super::pattern(300_000, 7);
    let mut req = format!(
        "PUT /up HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    let head_len = req.len();
    req.extend_from_slice(&body);
    let req = Bytes::from(req);
    // The head alone first (the request opens upstream), then the whole body in one read.
    assert_eq!(
        r.from_client(&mut pool, &req.slice(..head_len), Instant(0)),
        head_len
    );
    let mut up = Vec::new();
    r.upstream_output(&mut pool, &mut up, Instant(0));
    let n = r.from_client(&mut pool, &req.slice(head_len..), Instant(0));
    assert_eq!(n, body.len(), "the client's read was not all taken");
    r.upstream_output(&mut pool, &mut up, Instant(0));
    let at = up.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(up.len() - at, body.len(), "body bytes upstream");
    assert!(up[at..] == body[..]);
    let answer = Bytes::from_static(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(
        r.from_upstream(&mut pool, &answer, Instant(0)),
        answer.len()
    );
    let mut down = Vec::new();
    r.client_output(&mut pool, &mut down, Instant(0));
    let down = String::from_utf8(down).unwrap();
    assert!(down.starts_with("HTTP/1.1 201 Created\r\n"), "{down}");
    r.release(&mut pool);
}
