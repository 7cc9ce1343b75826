//! The backend (client role) against a hand-driven upstream.

use super::*;

/// A backend with `n` GET streams open (HEAD for the ones in `heads`), already past the
/// upstream's SETTINGS.
fn backend_with_streams(n: u32, heads: &[u32]) -> (Connection, BufferPool, Encoder) {
    let mut pool = pool();
    let mut b = Connection::new(Side::Backend, Arc::new(Config::default()), 1, Instant(0));
    for i in 0..n {
        let id = 2 * i + 1;
        let m = if heads.contains(&id) {
            Message::request(b"HEAD", b"https", b"x", b"/")
        } else {
            req("/")
        };
        b.open_stream(m, true).unwrap();
    }
    let mut out = Vec::new();
    b.drain_output(&mut pool, &mut out, usize::MAX, Instant(0));
    assert!(out.starts_with(PREFACE));
    let mut s = Vec::new();
    frame::write_settings(&mut s, &[]);
    assert_eq!(b.recv(&mut pool, &Bytes::from(s), Instant(0)), 9);
    (b, pool, Encoder::new(4096))
}

fn response_block(enc: &mut Encoder, status: &[u8], extra: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut fields: Vec<(&[u8], &[u8], bool)> = vec![(b":status", status, false)];
    fields.extend(extra.iter().map(|(n, v)| (*n, *v, false)));
    let mut out = Vec::new();
    enc.encode(fields, &mut out);
    out
}

fn feed_backend(
    b: &mut Connection,
    pool: &mut BufferPool,
    bytes: Vec<u8>,
) -> (Vec<Event>, Vec<u8>) {
    let n = b.recv(pool, &Bytes::from(bytes.clone()), Instant(0));
    assert_eq!(n, bytes.len());
    let mut out = Vec::new();
    b.drain_output(pool, &mut out, usize::MAX, Instant(0));
    let mut ev = Vec::new();
    while let Some(e) = b.poll_event() {
        ev.push(e);
    }
    (ev, out)
}

#[test]
fn backend_reads_informational_then_final_response_and_trailers() {
    let (mut b, mut pool, mut enc) = backend_with_streams(1, &[]);
    let mut up = Vec::new();
    let h103 = response_block(&mut enc, b"103", &[(b"link", b"</a.css>; rel=preload")]);
    frame::write_header_block(&mut up, sid(1), &h103, false, 16_384);
    let h200 = response_block(&mut enc, b"200", &[(b"content-length", b"5")]);
    frame::write_header_block(&mut up, sid(1), &h200, false, 16_384);
    frame::write_data(&mut up, sid(1), b"hello", false);
    let mut t = Vec::new();
    enc.encode(vec![(&b"grpc-status"[..], &b"0"[..], false)], &mut t);
    frame::write_header_block(&mut up, sid(1), &t, true, 16_384);
    let (ev, out) = feed_backend(&mut b, &mut pool, up);
    let statuses: Vec<u16> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Headers { message, .. } => message.status(),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, vec![103, 200]);
    assert!(ev.iter().any(|e| matches!(e, Event::Trailers { .. })));
    assert_eq!(rst_codes(&out), vec![]);
    assert_eq!(b.stream_state(sid(1)), Some(State::Closed));
}

#[test]
fn backend_head_response_carries_no_body() {
    let (mut b, mut pool, mut enc) = backend_with_streams(2, &[1]);
    let mut up = Vec::new();
    let h = response_block(&mut enc, b"200", &[(b"content-length", b"1000")]);
    frame::write_header_block(&mut up, sid(1), &h, true, 16_384);
    // Stream 3 was a GET: a body shorter than its content-length is malformed.
    let h = response_block(&mut enc, b"200", &[(b"content-length", b"1000")]);
    frame::write_header_block(&mut up, sid(3), &h, false, 16_384);
    frame::write_data(&mut up, sid(3), b"short", true);
    let (_, out) = feed_backend(&mut b, &mut pool, up);
    assert_eq!(rst_codes(&out), vec![(3, ErrorCode::ProtocolError)]);
}

#[test]
fn backend_refuses_what_a_server_may_not_send() {
    type Case = (
        &'static str,
        fn(&mut Encoder, &mut Vec<u8>),
        Result<(), (u32, ErrorCode)>,
        Option<ErrorCode>,
    );
    let cases: Vec<Case> = vec![
        (
            "PUSH_PROMISE",
            |_, up| {
                frame::write_header(up, 5, FrameType::PushPromise, flags::END_HEADERS, sid(1));
                up.extend_from_slice(&[0, 0, 0, 2, 0x88]);
            },
            Ok(()),
            Some(ErrorCode::ProtocolError),
        ),
        (
            "server-initiated stream",
            |e, up| {
                let h = response_block(e, b"200", &[]);
                frame::write_header_block(up, sid(2), &h, true, 16_384);
            },
            Ok(()),
            Some(ErrorCode::ProtocolError),
        ),
        (
            "ENABLE_PUSH from a server",
            |_, up| frame::write_settings(up, &[(setting::ENABLE_PUSH, 1)]),
            Ok(()),
            Some(ErrorCode::ProtocolError),
        ),
        (
            "response on a stream never opened",
            |e, up| {
                let h = response_block(e, b"200", &[]);
                frame::write_header_block(up, sid(9), &h, true, 16_384);
            },
            Ok(()),
            Some(ErrorCode::ProtocolError),
        ),
        (
            "DATA before the response head",
            |_, up| frame::write_data(up, sid(1), b"x", false),
            Err((1, ErrorCode::ProtocolError)),
            None,
        ),
        (
            "1xx with END_STREAM",
            |e, up| {
                let h = response_block(e, b"100", &[]);
                frame::write_header_block(up, sid(1), &h, true, 16_384);
            },
            Err((1, ErrorCode::ProtocolError)),
            None,
        ),
        (
            "101 is not HTTP/2",
            |e, up| {
                let h = response_block(e, b"101", &[]);
                frame::write_header_block(up, sid(1), &h, false, 16_384);
            },
            Err((1, ErrorCode::ProtocolError)),
            None,
        ),
        (
            "request pseudo-header in a response",
            |e, up| {
                let h = response_block(e, b"200", &[(b":path", b"/")]);
                frame::write_header_block(up, sid(1), &h, true, 16_384);
            },
            Err((1, ErrorCode::ProtocolError)),
            None,
        ),
    ];
    for (name, build, rst, goaway) in cases {
        let (mut b, mut pool, mut enc) = backend_with_streams(1, &[]);
        let mut up = Vec::new();
        build(&mut enc, &mut up);
        let (_, out) = feed_backend(&mut b, &mut pool, up);
        assert_eq!(goaway_code(&out), goaway, "{name}");
        match rst {
            Ok(()) => {}
            Err(r) => assert_eq!(rst_codes(&out), vec![r], "{name}"),
        }
    }
}

#[test]
fn backend_respects_peer_concurrency_and_frame_size() {
    let mut pool = pool();
    let mut b = Connection::new(Side::Backend, Arc::new(Config::default()), 1, Instant(0));
    let mut s = Vec::new();
    frame::write_settings(
        &mut s,
        &[
            (setting::MAX_CONCURRENT_STREAMS, 2),
            (setting::MAX_FRAME_SIZE, 16_384),
        ],
    );
    b.recv(&mut pool, &Bytes::from(s), Instant(0));
    assert!(b.open_stream(req("/1"), true).is_ok());
    assert!(b.open_stream(req("/2"), false).is_ok());
    assert_eq!(
        b.open_stream(req("/3"), true),
        Err(SendError::ConcurrencyLimit)
    );
    b.send_data(sid(3), Bytes::from(vec![0u8; 40_000]), true)
        .unwrap();
    let mut out = Vec::new();
    b.drain_output(&mut pool, &mut out, usize::MAX, Instant(0));
    let f = frames(&out);
    assert!(f.iter().all(|(h, _)| h.len <= 16_384));
    let sent: usize = f
        .iter()
        .filter(|(h, _)| h.kind == FrameType::Data)
        .map(|(h, _)| h.len as usize)
        .sum();
    assert_eq!(sent, 40_000);
}

#[test]
fn a_stream_reset_before_its_headers_left_is_dropped_silently() {
    let (mut b, mut pool, _) = backend_with_streams(0, &[]);
    let id = b.open_stream(req("/"), false).unwrap();
    b.reset(id, ErrorCode::Cancel);
    let id2 = b.open_stream(req("/next"), true).unwrap();
    let mut out = Vec::new();
    b.drain_output(&mut pool, &mut out, usize::MAX, Instant(0));
    let f = frames(&out);
    // No RST_STREAM for a stream the peer never saw, and no HEADERS for it either.
    assert!(
        f.iter().all(|(h, _)| h.kind != FrameType::RstStream),
        "{f:?}"
    );
    let heads: Vec<u32> = f
        .iter()
        .filter(|(h, _)| h.kind == FrameType::Headers)
        .map(|(h, _)| h.stream.value())
        .collect();
    assert_eq!(heads, vec![id2.value()]);
    assert_eq!(b.stream_state(id), Some(State::Reset(ResetBy::Local)));
    b.detach(id);
    assert_eq!(b.stream_state(id), None);
}
