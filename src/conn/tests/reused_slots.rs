//! Regression tests for stream keys reused across a DATA frame that arrives in pieces, and
//! for connection credit that must come back when bytes are dropped.

use std::sync::Arc;

use bytes::Bytes;

use crate::buffer::BufferPool;
use crate::conn::{Connection, Event};
use crate::error::ErrorCode;
use crate::frame::{self, flags, FrameType, PREFACE};
use crate::hpack::Encoder;
use crate::limits::Config;
use crate::message::Message;
use crate::side::Side;
use crate::stream::StreamId;
use crate::time::Instant;

fn sid(v: u32) -> StreamId {
    StreamId::new(v)
}

fn pool() -> BufferPool {
    BufferPool::new(16_384, 256 * 16_384, 4096)
}

fn events(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

fn feed(c: &mut Connection, pool: &mut BufferPool, bytes: &[u8]) -> Vec<Event> {
    let n = c.recv(pool, &Bytes::copy_from_slice(bytes), Instant(0));
    assert_eq!(n, bytes.len());
    let mut out = Vec::new();
    c.drain_output(pool, &mut out, usize::MAX, Instant(0));
    events(c)
}

fn status_block(enc: &mut Encoder, status: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    enc.encode(vec![(&b":status"[..], status, false)], &mut out);
    out
}

/// A backend past the upstream's SETTINGS with stream 1 answered by a 200 head and the
/// first 10 bytes of a 100-byte DATA frame with END_STREAM; returns the frame's tail.
fn backend_mid_data() -> (Connection, BufferPool, Encoder, Vec<u8>) {
    let mut pool = pool();
    let mut b = Connection::new(Side::Backend, Arc::new(Config::default()), 1, Instant(0));
    let id = b
        .open_stream(Message::request(b"GET", b"https", b"x", b"/"), true)
        .unwrap();
    assert_eq!(id, sid(1));
    let mut out = Vec::new();
    b.drain_output(&mut pool, &mut out, usize::MAX, Instant(0));
    let mut enc = Encoder::new(4096);
    let mut up = Vec::new();
    frame::write_settings(&mut up, &[]);
    frame::write_header_block(
        &mut up,
        sid(1),
        &status_block(&mut enc, b"200"),
        false,
        16_384,
    );
    let mut data = Vec::new();
    frame::write_data(&mut data, sid(1), &[7u8; 100], true);
    let tail = data.split_off(9 + 10);
    up.extend_from_slice(&data);
    let ev = feed(&mut b, &mut pool, &up);
    assert!(ev.iter().any(
        |e| matches!(e, Event::Data { stream, data, .. } if *stream == sid(1) && data.len() == 10)
    ));
    (b, pool, enc, tail)
}

/// The owner gives up on a stream: reset, written, detached (what the relay does when the
/// client resets its side).
fn reset_and_detach(c: &mut Connection, pool: &mut BufferPool, id: StreamId) {
    c.reset(id, ErrorCode::Cancel);
    let mut out = Vec::new();
    c.drain_output(pool, &mut out, usize::MAX, Instant(0));
    c.detach(id);
    assert_eq!(c.stream_state(id), None, "the stream's slot is free");
}

#[test]
fn late_data_of_a_freed_stream_never_reaches_the_stream_in_its_slot() {
    let (mut b, mut pool, mut enc, tail) = backend_mid_data();
    let _ = events(&mut b);
    reset_and_detach(&mut b, &mut pool, sid(1));
    let id3 = b
        .open_stream(Message::request(b"GET", b"https", b"x", b"/next"), true)
        .unwrap();
    let mut out = Vec::new();
    b.drain_output(&mut pool, &mut out, usize::MAX, Instant(0));
    // The rest of stream 1's frame: discarded, it belongs to no live stream.
    let ev = feed(&mut b, &mut pool, &tail);
    assert!(
        ev.iter().all(|e| !matches!(e, Event::Data { .. })),
        "late DATA of a freed stream came out: {ev:?}"
    );
    // Stream 3's own answer is untouched.
    let mut up = Vec::new();
    frame::write_header_block(&mut up, id3, &status_block(&mut enc, b"200"), true, 16_384);
    let ev = feed(&mut b, &mut pool, &up);
    assert!(
        ev.iter().any(|e| matches!(e,
            Event::Headers { stream, message, end_stream: true } if *stream == id3 && message.status() == Some(200))),
        "stream 3 lost its response: {ev:?}"
    );
    assert_eq!(b.error(), None);
}

#[test]
fn late_data_of_a_freed_stream_returns_its_connection_credit_backend() {
    let (mut b, mut pool, _, tail) = backend_mid_data();
    // The 10 bytes handed out are passed on by the owner.
    b.release_capacity(sid(1), 10);
    reset_and_detach(&mut b, &mut pool, sid(1));
    let ev = feed(&mut b, &mut pool, &tail);
    assert!(
        ev.iter().all(|e| !matches!(e, Event::Data { .. })),
        "{ev:?}"
    );
    assert_eq!(b.stream_count(), 0);
    assert_eq!(b.recv_credit_outstanding(), 0, "connection credit leaked");
}

#[test]
fn late_data_of_a_freed_stream_returns_its_connection_credit_frontend() {
    let mut pool = pool();
    let mut s = Connection::new(Side::Frontend, Arc::new(Config::default()), 1, Instant(0));
    let mut enc = Encoder::new(4096);
    let mut c = PREFACE.to_vec();
    frame::write_settings(&mut c, &[]);
    let mut block = Vec::new();
    enc.encode(
        vec![
            (&b":method"[..], &b"POST"[..], false),
            (b":scheme", b"https", false),
            (b":authority", b"x", false),
            (b":path", b"/up", false),
        ],
        &mut block,
    );
    frame::write_header(
        &mut c,
        block.len() as u32,
        FrameType::Headers,
        flags::END_HEADERS,
        sid(1),
    );
    c.extend_from_slice(&block);
    let mut data = Vec::new();
    frame::write_data(&mut data, sid(1), &[5u8; 100], true);
    let tail = data.split_off(9 + 10);
    c.extend_from_slice(&data);
    let ev = feed(&mut s, &mut pool, &c);
    assert!(ev
        .iter()
        .any(|e| matches!(e, Event::Data { data, .. } if data.len() == 10)));
    s.release_capacity(sid(1), 10);
    // The other side gave up on the request (its upstream reset it): the stream is freed
    // while its DATA frame is still arriving.
    reset_and_detach(&mut s, &mut pool, sid(1));
    let ev = feed(&mut s, &mut pool, &tail);
    assert!(
        ev.iter().all(|e| !matches!(e, Event::Data { .. })),
        "{ev:?}"
    );
    assert_eq!(s.error(), None);
    assert_eq!(s.recv_credit_outstanding(), 0, "connection credit leaked");
}
