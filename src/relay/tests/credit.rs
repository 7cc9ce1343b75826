//! Regression tests through the whole relay: a stream key reused while an upstream DATA frame
//! is still arriving, credit of a queued request body that is reset, a transport closed in
//! the middle of a frame, and a message the other side cannot take.

use std::sync::Arc;

use bytes::Bytes;

use crate::buffer::BufferPool;
use crate::conn::{Connection, Event};
use crate::error::ErrorCode;
use crate::frame::{FrameHeader, FrameType, PREFACE};
use crate::limits::Config;
use crate::message::Message;
use crate::relay::Relay;
use crate::side::Side;
use crate::stream::StreamId;
use crate::time::Instant;

/// Client, relay and server wired by hand, so that a test decides when each byte moves.
struct Wires {
    client: Connection,
    relay: Relay,
    server: Connection,
    pool: BufferPool,
    client_events: Vec<Event>,
    server_events: Vec<Event>,
}

const T0: Instant = Instant(0);

impl Wires {
    fn new(server_cfg: Config) -> Wires {
        Wires::with(Config::default(), Config::default(), server_cfg)
    }

    /// The client's configuration, the relay's (both sides), the server's.
    fn with(client_cfg: Config, relay_cfg: Config, server_cfg: Config) -> Wires {
        let relay_cfg = Arc::new(relay_cfg);
        Wires {
            client: Connection::new(Side::Backend, Arc::new(client_cfg), 1, T0),
            relay: Relay::new(relay_cfg.clone(), relay_cfg, 2, T0),
            server: Connection::new(Side::Frontend, Arc::new(server_cfg), 3, T0),
            pool: BufferPool::new(16_384, 512 * 16_384, 64),
            client_events: Vec::new(),
            server_events: Vec::new(),
        }
    }

    fn client_to_relay(&mut self) {
        let mut b = Vec::new();
        self.client
            .drain_output(&mut self.pool, &mut b, usize::MAX, Instant(0));
        let n = self
            .relay
            .from_client(&mut self.pool, &Bytes::from(b.clone()), T0);
        assert_eq!(n, b.len());
    }

    fn relay_to_client(&mut self) {
        let mut b = Vec::new();
        self.relay.client_output(&mut self.pool, &mut b, Instant(0));
        let n = self
            .client
            .recv(&mut self.pool, &Bytes::from(b.clone()), T0);
        assert_eq!(n, b.len());
        self.client_events
            .extend(std::iter::from_fn(|| self.client.poll_event()));
    }

    fn relay_to_server(&mut self) {
        let mut b = Vec::new();
        self.relay
            .upstream_output(&mut self.pool, &mut b, Instant(0));
        let n = self
            .server
            .recv(&mut self.pool, &Bytes::from(b.clone()), T0);
        assert_eq!(n, b.len());
        self.server_events
            .extend(std::iter::from_fn(|| self.server.poll_event()));
    }

    fn server_bytes(&mut self) -> Vec<u8> {
        let mut b = Vec::new();
        self.server
            .drain_output(&mut self.pool, &mut b, usize::MAX, Instant(0));
        b
    }

    fn server_to_relay(&mut self, b: &[u8]) {
        let n = self
            .relay
            .from_upstream(&mut self.pool, &Bytes::copy_from_slice(b), T0);
        assert_eq!(n, b.len());
    }

    /// Moves everything every way until nothing moves.
    fn settle(&mut self) {
        for _ in 0..64 {
            self.client_to_relay();
            let b = self.server_bytes();
            self.server_to_relay(&b);
            self.relay_to_server();
            self.relay_to_client();
        }
    }

    fn server_heads(&self) -> Vec<StreamId> {
        self.server_events
            .iter()
            .filter_map(|e| match e {
                Event::Headers { stream, .. } => Some(*stream),
                _ => None,
            })
            .collect()
    }
}

fn get(path: &str) -> Message {
    Message::request(b"GET", b"https", b"example.com", path.as_bytes())
}

/// Where the first DATA frame starts in `b` (after a preface, if any).
fn data_frame_start(b: &[u8]) -> usize {
    let mut pos = if b.starts_with(PREFACE) {
        PREFACE.len()
    } else {
        0
    };
    while pos + 9 <= b.len() {
        let h = FrameHeader::parse(b[pos..pos + 9].try_into().unwrap());
        if h.kind == FrameType::Data {
            return pos;
        }
        pos += 9 + h.len as usize;
    }
    panic!("no DATA frame");
}

/// Upstream stream 1 answered with a head and the first 10 bytes of a 100-byte DATA frame
/// with END_STREAM; then the client resets its stream. Returns the frame's tail.
fn upstream_data_cut_by_a_client_reset(w: &mut Wires) -> Vec<u8> {
    w.settle();
    let c1 = w.client.open_stream(get("/first"), true).unwrap();
    w.client_to_relay();
    w.relay_to_server();
    let s1 = w.server_heads()[0];
    w.server
        .send_headers(s1, Message::response(200), false)
        .unwrap();
    w.server
        .send_data(s1, Bytes::from(vec![7u8; 100]), true)
        .unwrap();
    let mut up = w.server_bytes();
    let tail = up.split_off(data_frame_start(&up) + 9 + 10);
    w.server_to_relay(&up);
    w.relay_to_client();
    assert!(w.client_events.iter().any(
        |e| matches!(e, Event::Data { stream, data, .. } if *stream == c1 && data.len() == 10)
    ));
    for e in std::mem::take(&mut w.client_events) {
        if let Event::Data { stream, data, .. } = e {
            w.client.release_capacity(stream, data.len());
        }
    }
    w.client.reset(c1, ErrorCode::Cancel);
    w.client_to_relay();
    w.relay_to_server();
    assert!(w
        .server_events
        .iter()
        .any(|e| matches!(e, Event::Reset { stream, .. } if *stream == s1)));
    assert_eq!(w.relay.stream_count(), 0, "the pair is over on both sides");
    tail
}

#[test]
fn late_upstream_data_of_a_reset_stream_does_not_turn_the_next_answer_into_502() {
    let mut w = Wires::new(Config::default());
    let tail = upstream_data_cut_by_a_client_reset(&mut w);
    let c3 = w.client.open_stream(get("/second"), true).unwrap();
    w.client_to_relay();
    w.relay_to_server();
    let s3 = *w.server_heads().last().unwrap();
    assert_ne!(s3, StreamId::new(1));
    // The rest of stream 1's frame arrives only now, then stream 3's answer.
    w.server_to_relay(&tail);
    w.server
        .send_headers(s3, Message::response(200), false)
        .unwrap();
    w.server
        .send_data(s3, Bytes::from_static(b"hello"), true)
        .unwrap();
    w.settle();
    let status = w.client_events.iter().find_map(|e| match e {
        Event::Headers {
            stream, message, ..
        } if *stream == c3 => message.status(),
        _ => None,
    });
    assert_eq!(status, Some(200), "client events: {:?}", w.client_events);
    let body: Vec<u8> = w
        .client_events
        .iter()
        .filter_map(|e| match e {
            Event::Data { stream, data, .. } if *stream == c3 => Some(data.to_vec()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(body, b"hello");
    assert_eq!(w.relay.stats().bad_gateway, 0);
}

#[test]
fn late_upstream_data_of_a_reset_stream_returns_the_upstream_credit() {
    let mut w = Wires::new(Config::default());
    let tail = upstream_data_cut_by_a_client_reset(&mut w);
    w.server_to_relay(&tail);
    w.settle();
    assert_eq!(w.relay.stream_count(), 0);
    assert_eq!(
        w.relay.back().recv_credit_outstanding(),
        0,
        "upstream credit leaked"
    );
    assert_eq!(
        w.relay.front().recv_credit_outstanding(),
        0,
        "client credit leaked"
    );
}

#[test]
fn a_queued_request_body_reset_midway_returns_all_its_client_credit() {
    // The upstream takes one stream at a time, with 100-byte stream windows.
    let mut w = Wires::new(Config {
        max_concurrent_streams: 1,
        initial_window_size: 100,
        ..Config::default()
    });
    w.settle();
    let c1 = w.client.open_stream(get("/slow"), true).unwrap();
    let c3 = w
        .client
        .open_stream(
            Message::request(b"POST", b"https", b"example.com", b"/up"),
            false,
        )
        .unwrap();
    w.client
        .send_data(c3, Bytes::from(vec![3u8; 1000]), true)
        .unwrap();
    w.settle();
    // Only the first request reached the upstream; the second waits with its body.
    assert_eq!(w.server_heads().len(), 1);
    let s1 = w.server_heads()[0];
    w.server
        .send_headers(s1, Message::response(204), true)
        .unwrap();
    w.server.detach(s1);
    w.settle();
    // The queued request went up; its body is stuck behind the upstream's window.
    assert_eq!(w.server_heads().len(), 2);
    let got: usize = w
        .server_events
        .iter()
        .map(|e| match e {
            Event::Data { data, .. } => data.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(got, 100);
    w.client.reset(c3, ErrorCode::Cancel);
    w.settle();
    assert_eq!(w.relay.stream_count(), 0);
    assert!(w
        .client_events
        .iter()
        .any(|e| matches!(e, Event::Headers { stream, .. } if *stream == c1)));
    assert_eq!(
        w.relay.front().recv_credit_outstanding(),
        0,
        "client credit leaked"
    );
}

#[test]
fn a_client_gone_in_the_middle_of_a_data_frame_leaves_no_credit_out() {
    let mut w = Wires::new(Config::default());
    w.settle();
    let c1 = w
        .client
        .open_stream(
            Message::request(b"POST", b"https", b"example.com", b"/up"),
            false,
        )
        .unwrap();
    w.client
        .send_data(c1, Bytes::from(vec![5u8; 100]), true)
        .unwrap();
    let mut b = Vec::new();
    w.client.drain_output(&mut w.pool, &mut b, usize::MAX, T0);
    let cut = data_frame_start(&b) + 9 + 10;
    let n = w
        .relay
        .from_client(&mut w.pool, &Bytes::copy_from_slice(&b[..cut]), T0);
    assert_eq!(n, cut);
    // The client's transport closes: the other 90 bytes of the frame never come.
    w.relay.client_eof(&mut w.pool, T0);
    w.relay_to_server();
    w.settle();
    assert_eq!(w.relay.stream_count(), 0);
    assert_eq!(w.relay.front().recv_credit_outstanding(), 0);
}

/// A relay whose streams may queue only 1 KiB each way, between peers that open 64 KiB
/// stream windows to it but take bytes from it only 100 at a time.
fn small_queues() -> Wires {
    let slow = Config {
        initial_window_size: 100,
        ..Config::default()
    };
    let relay = Config {
        max_stream_send_queue: 1024,
        ..Config::default()
    };
    Wires::with(slow.clone(), relay, slow)
}

fn data_len(events: &[Event], id: StreamId) -> (usize, bool) {
    events.iter().fold((0, false), |(n, end), e| match e {
        Event::Data {
            stream,
            data,
            end_stream,
        } if *stream == id => (n + data.len(), end || *end_stream),
        _ => (n, end),
    })
}

#[test]
fn a_request_body_the_upstream_side_cannot_take_resets_both_streams() {
    let mut w = small_queues();
    w.settle();
    let c1 = w
        .client
        .open_stream(
            Message::request(b"POST", b"https", b"example.com", b"/up"),
            false,
        )
        .unwrap();
    // The head reaches the upstream first; the body then comes in one read.
    w.settle();
    for i in 0..3 {
        w.client
            .send_data(c1, Bytes::from(vec![i; 1000]), i == 2)
            .unwrap();
    }
    w.settle();
    let s1 = w.server_heads()[0];
    let (got, ended) = data_len(&w.server_events, s1);
    assert!(
        !(ended && got < 3000),
        "the upstream got a truncated body as complete: {got} bytes"
    );
    assert!(
        w.server_events
            .iter()
            .any(|e| matches!(e, Event::Reset { stream, .. } if *stream == s1)),
        "the upstream's stream was not reset: {:?}",
        w.server_events
    );
    assert!(w
        .client_events
        .iter()
        .any(|e| matches!(e, Event::Reset { stream, .. } if *stream == c1)));
    assert_eq!(w.relay.stream_count(), 0);
}

#[test]
fn a_response_body_the_client_side_cannot_take_resets_both_streams() {
    let mut w = small_queues();
    w.settle();
    let c1 = w.client.open_stream(get("/big"), true).unwrap();
    w.settle();
    let s1 = w.server_heads()[0];
    w.server
        .send_headers(s1, Message::response(200), false)
        .unwrap();
    w.server
        .send_data(s1, Bytes::from(vec![9u8; 3000]), false)
        .unwrap();
    let mut t = crate::message::Fields::new();
    t.push(b"grpc-status", b"0", false);
    w.server.send_trailers(s1, t).unwrap();
    // The upstream's window is small too: its bytes come 100 at a time as credit returns.
    for _ in 0..50 {
        w.settle();
        for e in std::mem::take(&mut w.client_events) {
            if let Event::Data { stream, data, .. } = &e {
                w.client.release_capacity(*stream, data.len());
            }
            w.client_events.push(e);
        }
    }
    let trailers = w
        .client_events
        .iter()
        .any(|e| matches!(e, Event::Trailers { stream, .. } if *stream == c1));
    let (got, _) = data_len(&w.client_events, c1);
    assert!(
        !(trailers && got < 3000),
        "the client got trailers after a truncated body: {got} bytes"
    );
    let reset = w
        .client_events
        .iter()
        .any(|e| matches!(e, Event::Reset { stream, .. } if *stream == c1));
    assert!(
        reset || got == 3000,
        "the client's stream hangs: {got} bytes, no reset"
    );
    assert_eq!(w.relay.stream_count(), 0, "the pair never ended");
}
