//! The HTTP/1.1 codec through its connection: every rule with the answer it must get,
//! byte-at-a-time against all-at-once, both roles, and the smuggling corpus.

use std::sync::Arc;

use bytes::Bytes;

use super::*;
use crate::conn::Event;
use crate::error::{ErrorCode, Violation};
use crate::limits::Config;
use crate::message::Message;
use crate::side::Side;
use crate::stream::StreamId;
use crate::time::Instant;

/// A server that reads up to 16 pipelined requests ahead (the default is 1: the harness
/// here answers nothing until it has seen them all).
fn server() -> H1Conn {
    let cfg = Config {
        h1_max_pipelined: 16,
        ..Config::default()
    };
    H1Conn::new(Side::Frontend, Arc::new(cfg), Instant(0))
}

fn client() -> H1Conn {
    H1Conn::new(Side::Backend, Arc::new(Config::default()), Instant(0))
}

/// Feeds `input` as a host would: what is not consumed is kept and given again with the
/// next bytes, `step` bytes at a time. Returns the events, written as text, and the output.
fn feed(c: &mut H1Conn, input: &[u8], step: usize) -> (Vec<String>, Vec<u8>) {
    let mut events = Vec::new();
    let mut kept: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    for piece in input.chunks(step.max(1)) {
        kept.extend_from_slice(piece);
        // A request head goes to the owner before its body is read: give the rest again.
        loop {
            let b = Bytes::from(kept.clone());
            let n = c.recv(&b, Instant(0));
            kept.drain(..n);
            drain(c, &mut events, &mut out);
            if n == 0 || kept.is_empty() {
                break;
            }
        }
    }
    (events, out)
}

/// Events as text, body bytes joined per stream so that cuts do not matter; credit given
/// back as a relay would.
fn drain(c: &mut H1Conn, events: &mut Vec<String>, out: &mut Vec<u8>) {
    c.drain_output(out);
    while let Some(e) = c.poll_event() {
        match e {
            Event::Data {
                stream,
                data,
                end_stream,
            } => {
                c.release_capacity(stream, data.len());
                let text = format!("data {stream} {}", String::from_utf8_lossy(&data));
                match events.last_mut() {
                    Some(last)
                        if last.starts_with(&format!("data {stream} "))
                            && !last.ends_with(" END") =>
                    {
                        last.push_str(&String::from_utf8_lossy(&data));
                    }
                    _ if data.is_empty() && !end_stream => {}
                    _ => events.push(text),
                }
                if end_stream {
                    match events.last_mut() {
                        Some(last) if last.starts_with(&format!("data {stream} ")) => {
                            last.push_str(" END")
                        }
                        _ => events.push(format!("data {stream}  END")),
                    }
                }
            }
            Event::DataSent { .. } => {}
            other => events.push(format!("{other:?}")),
        }
    }
}

/// The status a request gets: 0 when it is accepted whole.
fn answer_to(input: &[u8]) -> (u16, Option<H1Error>) {
    let mut c = server();
    let (_, out) = feed(&mut c, input, input.len());
    let err = c.error().and_then(|e| match e.violation() {
        Some(Violation::Http1(e)) => Some(e),
        _ => None,
    });
    let status = if out.starts_with(b"HTTP/1.1 ") {
        std::str::from_utf8(&out[9..12]).unwrap().parse().unwrap()
    } else {
        0
    };
    (status, err)
}

#[track_caller]
fn refused(input: &[u8], status: u16, rule: H1Error) {
    let (got, err) = answer_to(input);
    assert_eq!(
        (got, err),
        (status, Some(rule)),
        "{}",
        String::from_utf8_lossy(input)
    );
}

#[track_caller]
fn accepted(input: &[u8]) -> Vec<String> {
    let mut c = server();
    let (events, out) = feed(&mut c, input, input.len());
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    assert_eq!(c.error(), None, "{}", String::from_utf8_lossy(input));
    events
}

#[test]
fn each_smuggling_rule_gets_its_answer() {
    use H1Error::*;
    let cases: &[(&[u8], u16, H1Error)] = &[
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400, LengthWithTransferEncoding),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400, BadContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 4\r\n\r\n", 400, BadContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400, BadContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400, BadContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400, ChunkedNotLast),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400, ChunkedNotLast),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400, ChunkedNotLast),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: foo, chunked\r\n\r\n", 501, UnknownTransferCoding),
        (b"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 400, TransferEncodingInHttp10),
        (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, SpaceBeforeColon),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400, ObsFold),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", 400, BareCr),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n\r\n", 400, BadFieldValue),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\nc\r\n\r\n", 400, BareLf),
        (b"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400, BareLf),
        (b"GET / HTTP/1.1\r\n\r\n", 400, MissingHost),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, DuplicateHost),
        (b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400, DuplicateHost),
        (b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, BadMethod),
        (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, BadRequestLine),
        (b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, BadRequestLine),
        (b"GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400, BadTarget),
        (b"GET a HTTP/1.1\r\nHost: a\r\n\r\n", 400, BadTarget),
        (b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, BadTarget),
        (b"GET / http/1.1\r\nHost: a\r\n\r\n", 400, BadVersion),
        (b"GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 400, BadVersion),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, UnsupportedVersion),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-A\r\n\r\n", 400, MissingColon),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX(A: b\r\n\r\n", 400, BadFieldName),
        (b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, Message(crate::message::MessageError::InvalidAuthority)),
        (b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501, ConnectNotSupported),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", 501, UpgradeNotSupported),
    ];
    for &(input, status, rule) in cases {
        refused(input, status, rule);
    }
}

#[test]
fn bad_chunks_get_400() {
    use H1Error::*;
    let head = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (body, rule) in [
        (&b"x\r\n"[..], BadChunkSize),
        (b"\r\n", BadChunkSize),
        (b"0x10\r\n", BadChunkSize),
        (b"-1\r\n", BadChunkSize),
        (b"11111111111111111\r\n", BadChunkSize),
        (b"3\r\nabcX\r\n", BadChunkEnd),
        (b"3\nabc", BareLf),
        (b"3 x\r\nabc\r\n", BadChunkSize),
    ] {
        let mut input = head.to_vec();
        input.extend_from_slice(body);
        refused(&input, 400, rule);
    }
    // Extensions are tolerated, within the chunk line's bound.
    let mut input = head.to_vec();
    input.extend_from_slice(b"3;a=b;c\r\nabc\r\n0\r\n\r\n");
    let ev = accepted(&input);
    assert!(ev.iter().any(|e| e == "data 1 abc END"), "{ev:?}");
    let mut input = head.to_vec();
    input.extend_from_slice(b"3;");
    input.extend_from_slice(&[b'a'; 2000]);
    input.extend_from_slice(b"\r\nabc\r\n0\r\n\r\n");
    refused(&input, 400, ChunkLineTooLong);
}

#[test]
fn limits_give_414_and_431() {
    let mut long = b"GET /".to_vec();
    long.extend_from_slice(&[b'a'; 9000]);
    long.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
    refused(&long, 414, H1Error::RequestLineTooLong);
    // Incomplete, but already over the limit: answered without waiting for the rest.
    refused(&long[..8500], 414, H1Error::RequestLineTooLong);
    let mut big = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..400 {
        big.extend_from_slice(format!("x-f{i}: {}\r\n", "v".repeat(100)).as_bytes());
    }
    big.extend_from_slice(b"\r\n");
    refused(&big, 431, H1Error::HeadTooLarge);
    let mut many = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..300 {
        many.extend_from_slice(format!("x-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    refused(&many, 431, H1Error::TooManyFields);
}

#[test]
fn request_forms_become_the_same_message() {
    let ev = accepted(b"GET http://b.example:8080/p?q=1 HTTP/1.1\r\nHost: a.example\r\n\r\n");
    assert!(
        ev[0].contains("authority: Some(\"b.example:8080\")"),
        "{ev:?}"
    );
    assert!(ev[0].contains("path: Some(\"/p?q=1\")"), "{ev:?}");
    let ev = accepted(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(ev[0].contains("path: Some(\"*\")"), "{ev:?}");
    let ev = accepted(b"GET / HTTP/1.0\r\n\r\n");
    assert!(ev[0].contains("authority: None"), "{ev:?}");
    // Hop-by-hop fields go, and those Connection names; te: trailers is remembered.
    let ev = accepted(
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: 5\r\n\
          X-Hop: 1\r\nTE: trailers\r\nUpgrade: h2c\r\nHTTP2-Settings: AAA\r\nX-End: 2\r\n\r\n",
    );
    let e = &ev[0];
    for gone in [
        "x-hop",
        "keep-alive",
        "connection",
        "upgrade",
        "http2-settings",
        "\"te\"",
    ] {
        assert!(!e.contains(gone), "{gone} in {e}");
    }
    assert!(e.contains("x-end"), "{e}");
    // A leading empty line is ignored (RFC 9112 §2.2).
    let ev = accepted(b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert!(ev[0].starts_with("Headers"), "{ev:?}");
}

#[test]
fn same_repeated_content_length_is_one() {
    let ev = accepted(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3, 3\r\n\r\nabc",
    );
    assert!(ev.iter().any(|e| e == "data 1 abc END"), "{ev:?}");
    assert_eq!(ev[0].matches("content-length").count(), 1, "{ev:?}");
}

/// Requests real clients send, in many shapes, pipelined: the events are the same whether
/// the bytes come all at once or one at a time.
#[test]
fn byte_at_a_time_equals_all_at_once() {
    let input: &[u8] = b"GET /a HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\n\r\n\
        POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world\
        PUT /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTE: trailers\r\n\r\n\
        5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nx-sum: 1\r\nx-other: 2\r\n\r\n\
        \r\nDELETE /d HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    let mut whole = server();
    let all = feed(&mut whole, input, input.len());
    // Answer each stream so that the pipeline moves on.
    for step in [1, 2, 3, 7, 64] {
        let mut c = server();
        let got = feed(&mut c, input, step);
        assert_eq!(got, all, "step {step}");
    }
    let heads = all.0.iter().filter(|e| e.starts_with("Headers")).count();
    assert_eq!(heads, 4, "{:?}", all.0);
    assert!(all.0.iter().any(|e| e.contains("x-sum")), "{:?}", all.0);
}

#[test]
fn responses_are_written_in_request_order() {
    let mut c = server();
    let (ev, _) = feed(
        &mut c,
        b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nHEAD /2 HTTP/1.1\r\nHost: a\r\n\r\n",
        100,
    );
    assert_eq!(ev.iter().filter(|e| e.starts_with("Headers")).count(), 2);
    let (s1, s2) = (StreamId::new(1), StreamId::new(3));
    // The second answer comes first: it waits.
    let mut m = Message::response(200);
    m.fields.push(b"content-length", b"5", false);
    m.content_length = Some(5);
    c.send_headers(s2, m, true).unwrap();
    let mut out = Vec::new();
    c.drain_output(&mut out);
    assert!(out.is_empty());
    c.send_headers(s1, Message::response(200), false).unwrap();
    c.send_data(s1, Bytes::from_static(b"one"), true).unwrap();
    c.drain_output(&mut out);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\none\r\n0\r\n\r\n\
         HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"
    );
}

#[test]
fn http10_clients_get_close_delimited_bodies() {
    let mut c = server();
    feed(&mut c, b"GET / HTTP/1.0\r\n\r\n", 100);
    let s = StreamId::new(1);
    c.send_headers(s, Message::response(200), false).unwrap();
    c.send_data(s, Bytes::from_static(b"body"), true).unwrap();
    let mut out = Vec::new();
    c.drain_output(&mut out);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nbody"
    );
    c.detach(s);
    assert!(c.is_done());
}

#[test]
fn trailers_reach_a_client_that_asked_for_them() {
    for (te, want) in [("TE: trailers\r\n", true), ("", false)] {
        let mut c = server();
        feed(
            &mut c,
            format!("GET / HTTP/1.1\r\nHost: a\r\n{te}\r\n").as_bytes(),
            100,
        );
        let s = StreamId::new(1);
        c.send_headers(s, Message::response(200), false).unwrap();
        c.send_data(s, Bytes::from_static(b"x"), false).unwrap();
        let mut t = crate::message::Fields::new();
        t.push(b"grpc-status", b"0", false);
        c.send_trailers(s, t).unwrap();
        let mut out = Vec::new();
        c.drain_output(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("0\r\n\r\n") || text.ends_with("grpc-status: 0\r\n\r\n"));
        assert_eq!(text.contains("grpc-status: 0\r\n"), want, "{text}");
    }
}

// ----- Client role ---------------------------------------------------------------------

fn request(c: &mut H1Conn, m: Message, end: bool) -> (StreamId, String) {
    let id = c.open_stream(m, end).unwrap();
    let mut out = Vec::new();
    c.drain_output(&mut out);
    (id, String::from_utf8(out).unwrap())
}

#[test]
fn requests_go_out_as_http11() {
    let mut c = client();
    let mut m = Message::request(b"POST", b"https", b"up.example", b"/x?y");
    m.fields.push(b"cookie", b"a=1", false);
    m.fields.push(b"accept", b"*/*", false);
    m.fields.push(b"cookie", b"b=2", false);
    let (id, text) = request(&mut c, m, false);
    assert_eq!(
        text,
        "POST /x?y HTTP/1.1\r\nhost: up.example\r\ncookie: a=1; b=2\r\naccept: */*\r\n\
         transfer-encoding: chunked\r\n\r\n"
    );
    assert!(!c.can_open_stream(), "one request at a time");
    c.send_data(id, Bytes::from_static(b"hello"), true).unwrap();
    let mut out = Vec::new();
    c.drain_output(&mut out);
    assert_eq!(out, b"5\r\nhello\r\n0\r\n\r\n");
}

#[test]
fn responses_are_read_in_every_framing() {
    let cases: &[(&str, &[u8], &str)] = &[
        (
            "GET",
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc",
            "data 1 abc END",
        ),
        (
            "GET",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            "data 1 abc END",
        ),
        (
            "HEAD",
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
            "Headers",
        ),
        ("GET", b"HTTP/1.1 204 No Content\r\n\r\n", "Headers"),
        (
            "GET",
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n",
            "Headers",
        ),
        (
            "GET",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nz",
            "data 1 z END",
        ),
    ];
    for &(method, input, want) in cases {
        let mut c = client();
        request(
            &mut c,
            Message::request(method.as_bytes(), b"http", b"a", b"/"),
            true,
        );
        let (ev, _) = feed(&mut c, input, input.len());
        assert!(ev.last().unwrap().starts_with(want), "{method} {ev:?}");
        assert_eq!(c.error(), None);
        assert!(c.can_open_stream() || c.stream_count() == 1);
        let (ev1, _) = {
            let mut c1 = client();
            request(
                &mut c1,
                Message::request(method.as_bytes(), b"http", b"a", b"/"),
                true,
            );
            feed(&mut c1, input, 1)
        };
        assert_eq!(ev1, ev, "byte at a time");
    }
}

#[test]
fn a_close_delimited_response_ends_with_the_transport() {
    let mut c = client();
    request(&mut c, Message::request(b"GET", b"http", b"a", b"/"), true);
    let (mut ev, mut out) = feed(&mut c, b"HTTP/1.1 200 OK\r\n\r\nall of it", 4);
    c.recv_eof(Instant(0));
    drain(&mut c, &mut ev, &mut out);
    assert!(ev.iter().any(|e| e == "data 1 all of it END"), "{ev:?}");
    assert_eq!(c.error(), None);
    assert!(!c.can_open_stream(), "no request after the close");
}

#[test]
fn malformed_responses_reset_their_stream_and_fail_the_connection() {
    for input in [
        &b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab",
    ] {
        let mut c = client();
        request(&mut c, Message::request(b"GET", b"http", b"a", b"/"), true);
        let (ev, _) = feed(&mut c, input, input.len());
        // A response already whole stays whole; otherwise its stream is reset.
        assert!(
            ev.iter()
                .any(|e| e.contains("Reset") && e.contains("ProtocolError"))
                || ev.iter().any(|e| e.ends_with(" END")),
            "{} {ev:?}",
            String::from_utf8_lossy(input)
        );
        assert!(ev.last().unwrap().starts_with("Failed"), "{ev:?}");
        assert!(!c.can_open_stream());
    }
}

#[test]
fn an_upstream_that_closes_mid_body_fails() {
    let mut c = client();
    request(&mut c, Message::request(b"GET", b"http", b"a", b"/"), true);
    let (mut ev, mut out) = feed(
        &mut c,
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
        100,
    );
    c.recv_eof(Instant(0));
    drain(&mut c, &mut ev, &mut out);
    assert!(ev.last().unwrap().starts_with("Failed"), "{ev:?}");
}

#[test]
fn connection_close_ends_reuse() {
    let mut c = client();
    let (id, _) = request(&mut c, Message::request(b"GET", b"http", b"a", b"/"), true);
    let (ev, _) = feed(
        &mut c,
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        100,
    );
    assert!(ev[0].starts_with("Headers"), "{ev:?}");
    assert_eq!(c.stream_state(id), Some(crate::stream::State::Closed));
    c.detach(id);
    assert!(!c.can_open_stream());
    assert!(c.is_done());
    let _ = ErrorCode::NoError;
}

#[test]
fn expect_100_continue_is_answered_at_once_and_not_passed_on() {
    let mut c = server();
    let (ev, out) = feed(
        &mut c,
        b"PUT /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        100,
    );
    assert_eq!(out, b"HTTP/1.1 100 Continue\r\n\r\n");
    assert!(!ev[0].contains("expect"), "{ev:?}");
    // Not to an HTTP/1.0 client, and not ahead of an earlier answer.
    let mut c = server();
    let (_, out) = feed(
        &mut c,
        b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n\
          PUT /u HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        100,
    );
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    let mut c = server();
    let (_, out) = feed(
        &mut c,
        b"PUT /u HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        100,
    );
    assert!(out.is_empty());
}
