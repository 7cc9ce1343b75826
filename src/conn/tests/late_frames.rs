//! Frames on streams we no longer track: those above our final GOAWAY's last id, and those we
//! refused or closed longer ago than we remember. They are discarded or cost their stream;
//! the connection goes on (RFC 9113 §5.1, §6.8).

use super::*;

/// A trailers block (no pseudo-header) from the raw client's encoder.
fn trailers(c: &mut RawClient) -> Vec<u8> {
    let mut b = Vec::new();
    c.enc
        .encode(vec![(&b"grpc-status"[..], &b"0"[..], false)], &mut b);
    b
}

#[test]
fn trailers_above_our_final_goaway_are_discarded() {
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    c.get(1, true);
    s.feed(c.take());
    // Our final GOAWAY names stream 1.
    s.conn
        .goaway_with_last(sid(1), ErrorCode::NoError, "going", s.now);
    s.pump();
    s.take_out();
    // The client had sent more in flight: a request and its trailers (a gRPC call with an
    // empty body, say); then DATA on another stream above the last id.
    c.get(3, false);
    let t = trailers(&mut c);
    c.raw(
        FrameType::Headers,
        flags::END_HEADERS | flags::END_STREAM,
        3,
        &t,
    );
    c.get(5, false);
    c.raw(FrameType::Data, flags::END_STREAM, 5, b"body");
    s.feed(c.take());
    assert_eq!(s.conn.error(), None);
    let out = s.take_out();
    assert!(goaway_code(&out).is_none());
    // Discarded, not answered (§6.8).
    assert_eq!(rst_codes(&out), vec![]);
    assert!(
        !s.events
            .iter()
            .any(|e| matches!(e, Event::Headers { stream, .. } if *stream == sid(3))),
        "a stream above the last id was accepted"
    );
}

#[test]
fn trailers_of_a_refused_stream_long_forgotten_cost_only_that_stream() {
    let mut s = Server::new(Config {
        max_concurrent_streams: 1,
        ..Config::default()
    });
    let mut c = RawClient::new();
    // Stream 1 is accepted; the next 40 are refused, more than the connection remembers.
    c.get(1, false);
    for i in 1..=40u32 {
        c.get(2 * i + 1, false);
    }
    s.feed(c.take());
    assert_eq!(s.conn.stats().refused_streams, 40);
    s.take_out();
    // The client had already sent the first refused stream's trailers.
    let t = trailers(&mut c);
    c.raw(
        FrameType::Headers,
        flags::END_HEADERS | flags::END_STREAM,
        3,
        &t,
    );
    s.feed(c.take());
    assert_eq!(s.conn.error(), None, "the connection was failed");
    assert!(goaway_code(&s.take_out()).is_none());
}

#[test]
fn a_new_request_below_a_used_id_is_still_a_protocol_error() {
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    c.get(5, true);
    s.feed(c.take());
    c.get(3, true);
    s.feed(c.take());
    assert_eq!(
        s.conn.error(),
        Some(ConnError::Violation(Violation::StreamIdRegression))
    );
    assert_eq!(goaway_code(&s.take_out()), Some(ErrorCode::ProtocolError));
}

#[test]
fn data_for_a_detached_stream_is_dropped_its_credit_back_and_its_end_still_closes_it() {
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    c.get(1, false);
    c.raw(FrameType::Data, 0, 1, &[1u8; 100]);
    s.feed(c.take());
    for e in std::mem::take(&mut s.events) {
        if let Event::Data { stream, data, .. } = e {
            s.conn.release_capacity(stream, data.len());
        }
    }
    // The owner lets go while the request is still arriving (it answered already).
    s.conn
        .send_headers(sid(1), Message::response(200), true)
        .unwrap();
    s.conn.detach(sid(1));
    s.pump();
    c.raw(FrameType::Data, flags::END_STREAM, 1, &[2u8; 300]);
    s.feed(c.take());
    assert!(
        !s.events.iter().any(|e| matches!(e, Event::Data { .. })),
        "DATA of a detached stream reached its owner: {:?}",
        s.events
    );
    // The peer's END_STREAM closed it, and it is gone; its credit all came back.
    assert_eq!(s.conn.stream_count(), 0);
    assert_eq!(s.conn.recv_credit_outstanding(), 0);
    assert_eq!(s.conn.error(), None);
}
