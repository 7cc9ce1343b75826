//! Protocol violations and stream errors: the RFC 9113 code for each, what costs only a stream, refusals, peers that are not HTTP/2.

use super::*;

#[test]
fn peer_reset_reaches_the_owner_and_is_never_answered() {
    let mut p = Pair::new(Config::default(), Config::default());
    let id = p.client.open_stream(post("/"), false).unwrap();
    p.client
        .send_data(id, Bytes::from_static(b"partial"), false)
        .unwrap();
    p.run();
    p.client.reset(id, ErrorCode::Cancel);
    p.run();
    assert!(p.server_events.iter().any(|e| matches!(e, Event::Reset { stream, code: ErrorCode::Cancel, remote: true } if *stream == id)));
    assert_eq!(p.client.stats().resets_sent, 1);
    assert_eq!(p.server.stats().resets_sent, 0);
    assert_eq!(p.server.stream_state(id), Some(State::Reset(ResetBy::Peer)));
}

#[test]
fn refused_stream_beyond_max_concurrent() {
    let mut s = Server::new(Config {
        max_concurrent_streams: 2,
        ..Config::default()
    });
    let mut c = RawClient::new();
    c.get(1, false);
    c.get(3, false);
    c.get(5, false);
    s.feed(c.take());
    assert_eq!(
        rst_codes(&s.take_out()),
        vec![(5, ErrorCode::RefusedStream)]
    );
    assert_eq!(
        s.events
            .iter()
            .filter(|e| matches!(e, Event::Headers { .. }))
            .count(),
        2
    );
}

#[test]
fn frame_size_and_header_list_limits() {
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    c.raw(FrameType::Ping, 0, 0, &[0u8; 9]);
    s.feed(c.take());
    assert_eq!(goaway_code(&s.take_out()), Some(ErrorCode::FrameSizeError));

    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    c.raw(FrameType::Data, 0, 1, &vec![0u8; 16_385]);
    s.feed(c.take());
    assert_eq!(goaway_code(&s.take_out()), Some(ErrorCode::FrameSizeError));

    // A header list over MAX_HEADER_LIST_SIZE costs only its stream.
    let mut s = Server::new(Config {
        max_header_list_size: 1000,
        ..Config::default()
    });
    let mut c = RawClient::new();
    let mut b = Vec::new();
    let big = vec![b'a'; 2000];
    c.enc.encode(
        vec![
            (&b":method"[..], &b"GET"[..], false),
            (b":scheme", b"https", false),
            (b":authority", b"x", false),
            (b":path", b"/", false),
            (b"x-big", &big[..], false),
        ],
        &mut b,
    );
    c.raw(
        FrameType::Headers,
        flags::END_HEADERS | flags::END_STREAM,
        1,
        &b,
    );
    c.get(3, true);
    s.feed(c.take());
    assert_eq!(
        rst_codes(&s.take_out()),
        vec![(1, ErrorCode::ProtocolError)]
    );
    assert!(s
        .events
        .iter()
        .any(|e| matches!(e, Event::Headers { stream, .. } if stream.value() == 3)));
}

#[test]
fn protocol_violations_get_the_rfc_code() {
    type Case = (&'static str, fn(&mut RawClient), ErrorCode);
    let cases: Vec<Case> = vec![
        (
            "HEADERS on stream 0",
            |c| c.raw(FrameType::Headers, flags::END_HEADERS, 0, &[0x82]),
            ErrorCode::ProtocolError,
        ),
        (
            "even stream id",
            |c| {
                let b = c.block("/");
                c.raw(FrameType::Headers, flags::END_HEADERS, 2, &b)
            },
            ErrorCode::ProtocolError,
        ),
        (
            "DATA on idle stream",
            |c| c.raw(FrameType::Data, 0, 1, b"x"),
            ErrorCode::ProtocolError,
        ),
        (
            "bad HPACK",
            |c| c.raw(FrameType::Headers, flags::END_HEADERS, 1, &[0x80]),
            ErrorCode::CompressionError,
        ),
        (
            "CONTINUATION without HEADERS",
            |c| c.raw(FrameType::Continuation, flags::END_HEADERS, 1, &[0x82]),
            ErrorCode::ProtocolError,
        ),
        (
            "frame inside a header block",
            |c| {
                let b = c.block("/");
                c.raw(FrameType::Headers, 0, 1, &b);
                c.raw(FrameType::Ping, 0, 0, &[0; 8]);
            },
            ErrorCode::ProtocolError,
        ),
        (
            "PUSH_PROMISE from a client",
            |c| {
                c.raw(
                    FrameType::PushPromise,
                    flags::END_HEADERS,
                    1,
                    &[0, 0, 0, 2, 0x82],
                )
            },
            ErrorCode::ProtocolError,
        ),
        (
            "SETTINGS with bad length",
            |c| c.raw(FrameType::Settings, 0, 0, &[0; 5]),
            ErrorCode::FrameSizeError,
        ),
        (
            "SETTINGS ENABLE_PUSH=2",
            |c| c.raw(FrameType::Settings, 0, 0, &[0, 2, 0, 0, 0, 2]),
            ErrorCode::ProtocolError,
        ),
        (
            "SETTINGS window too large",
            |c| c.raw(FrameType::Settings, 0, 0, &[0, 4, 0x80, 0, 0, 0]),
            ErrorCode::FlowControlError,
        ),
        (
            "WINDOW_UPDATE 0 on the connection",
            |c| c.raw(FrameType::WindowUpdate, 0, 0, &[0; 4]),
            ErrorCode::ProtocolError,
        ),
        (
            "self-dependent PRIORITY on an idle stream",
            |c| c.raw(FrameType::Priority, 0, 1, &[0, 0, 0, 1, 16]),
            ErrorCode::ProtocolError,
        ),
        (
            "RST_STREAM on idle",
            |c| c.raw(FrameType::RstStream, 0, 1, &[0, 0, 0, 8]),
            ErrorCode::ProtocolError,
        ),
        (
            "decreasing stream id",
            |c| {
                c.get(5, true);
                c.get(3, true);
            },
            ErrorCode::ProtocolError,
        ),
        (
            "HEADERS after END_STREAM on a closed stream",
            |c| {
                c.get(1, true);
                c.raw(FrameType::RstStream, 0, 1, &[0, 0, 0, 8]);
                c.get(1, true);
            },
            ErrorCode::StreamClosed,
        ),
    ];
    for (name, build, code) in cases {
        let mut s = Server::new(Config::default());
        let mut c = RawClient::new();
        build(&mut c);
        s.feed(c.take());
        assert_eq!(goaway_code(&s.take_out()), Some(code), "{name}");
        assert!(s.conn.is_done(), "{name}");
    }
}

#[test]
fn stream_errors_keep_the_connection() {
    type Case = (&'static str, fn(&mut RawClient), ErrorCode);
    let cases: Vec<Case> = vec![
        (
            "uppercase header name",
            |c| {
                let mut b = Vec::new();
                c.enc.encode(
                    vec![
                        (&b":method"[..], &b"GET"[..], false),
                        (b":scheme", b"https", false),
                        (b":path", b"/", false),
                        (b":authority", b"x", false),
                        (b"X-Up", b"1", false),
                    ],
                    &mut b,
                );
                c.raw(
                    FrameType::Headers,
                    flags::END_HEADERS | flags::END_STREAM,
                    1,
                    &b,
                );
            },
            ErrorCode::ProtocolError,
        ),
        (
            "connection header",
            |c| {
                let mut b = Vec::new();
                c.enc.encode(
                    vec![
                        (&b":method"[..], &b"GET"[..], false),
                        (b":scheme", b"https", false),
                        (b":path", b"/", false),
                        (b":authority", b"x", false),
                        (b"connection", b"close", false),
                    ],
                    &mut b,
                );
                c.raw(
                    FrameType::Headers,
                    flags::END_HEADERS | flags::END_STREAM,
                    1,
                    &b,
                );
            },
            ErrorCode::ProtocolError,
        ),
        (
            "content-length mismatch",
            |c| {
                let mut b = Vec::new();
                c.enc.encode(
                    vec![
                        (&b":method"[..], &b"POST"[..], false),
                        (b":scheme", b"https", false),
                        (b":path", b"/", false),
                        (b":authority", b"x", false),
                        (b"content-length", b"10", false),
                    ],
                    &mut b,
                );
                c.raw(FrameType::Headers, flags::END_HEADERS, 1, &b);
                c.raw(FrameType::Data, flags::END_STREAM, 1, b"short");
            },
            ErrorCode::ProtocolError,
        ),
        (
            "self-dependent PRIORITY",
            |c| {
                c.get(1, false);
                c.raw(FrameType::Priority, 0, 1, &[0, 0, 0, 1, 16]);
            },
            ErrorCode::ProtocolError,
        ),
        (
            "WINDOW_UPDATE 0 on a stream",
            |c| {
                c.get(1, false);
                c.raw(FrameType::WindowUpdate, 0, 1, &[0; 4]);
            },
            ErrorCode::ProtocolError,
        ),
        (
            "DATA after END_STREAM",
            |c| {
                c.get(1, true);
                c.raw(FrameType::Data, 0, 1, b"x");
            },
            ErrorCode::StreamClosed,
        ),
        (
            "trailers without END_STREAM",
            |c| {
                c.get(1, false);
                let mut b = Vec::new();
                c.enc.encode(vec![(&b"x-t"[..], &b"1"[..], false)], &mut b);
                c.raw(FrameType::Headers, flags::END_HEADERS, 1, &b);
            },
            ErrorCode::ProtocolError,
        ),
    ];
    for (name, build, code) in cases {
        let mut s = Server::new(Config::default());
        let mut c = RawClient::new();
        build(&mut c);
        c.get(101, true);
        s.feed(c.take());
        let out = s.take_out();
        assert_eq!(rst_codes(&out), vec![(1, code)], "{name}");
        assert_eq!(goaway_code(&out), None, "{name}");
        assert!(
            s.events
                .iter()
                .any(|e| matches!(e, Event::Headers { stream, .. } if stream.value() == 101)),
            "{name}"
        );
    }
}

#[test]
fn frames_after_our_reset_are_ignored_not_answered() {
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    c.get(1, false);
    c.raw(FrameType::WindowUpdate, 0, 1, &[0; 4]);
    s.feed(c.take());
    assert_eq!(
        rst_codes(&s.take_out()),
        vec![(1, ErrorCode::ProtocolError)]
    );
    s.conn.detach(sid(1));
    // In-flight DATA for the reset stream: no second RST, connection fine.
    c.raw(FrameType::Data, 0, 1, b"late");
    c.raw(FrameType::RstStream, 0, 1, &[0, 0, 0, 8]);
    s.feed(c.take());
    let out = s.take_out();
    assert_eq!(rst_codes(&out), vec![]);
    assert_eq!(goaway_code(&out), None);
}

#[test]
fn http1_request_is_refused_clearly() {
    let mut s = Server::new(Config::default());
    s.feed(Bytes::from_static(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    assert_eq!(
        s.conn.error(),
        Some(ConnError::Violation(Violation::Http1Request))
    );
    assert_eq!(
        s.conn.error().map(|e| e.code()),
        Some(ErrorCode::ProtocolError)
    );
    assert!(s.conn.peer_is_http1());
    // Garbage that is not a request line is just an invalid preface.
    let mut s = Server::new(Config::default());
    s.feed(Bytes::from_static(b"\x16\x03\x01\x00 TLS hello"));
    assert!(!s.conn.peer_is_http1());
    assert!(s.conn.error().is_some());
}

#[test]
fn refusals_before_our_settings_are_cheap() {
    let mut s = Server::new(Config {
        max_concurrent_streams: 1,
        ..Config::default()
    });
    let mut c = RawClient::new();
    c.get(1, false);
    for i in 1..150u32 {
        c.get(2 * i + 1, false);
    }
    s.feed(c.take());
    assert_eq!(s.conn.error(), None);
    assert_eq!(s.conn.stats().refused_streams, 149);
}

#[test]
fn a_server_says_nothing_before_the_client_preface() {
    let mut s = Server::new(Config::default());
    s.pump();
    assert!(s.take_out().is_empty());
    s.feed(Bytes::from_static(b"GET / HTTP/1.1\r\n\r\n"));
    let out = s.take_out();
    // The failure's SETTINGS and GOAWAY only (no doorbell PING); the filter sends an
    // HTTP/1.x client a 505 instead of these frames.
    assert!(frames(&out).iter().all(|(h, _)| h.kind != FrameType::Ping));
    let mut c = RawClient::new();
    let mut s = Server::new(Config::default());
    s.feed(c.take());
    assert_eq!(frames(&s.take_out())[0].0.kind, FrameType::Settings);
}
