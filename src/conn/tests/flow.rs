//! Flow control and settings: windows made negative by SETTINGS, overflow, DATA beyond a window, the queues a blocked stream waits in.

use super::*;

#[test]
fn settings_change_makes_windows_negative_then_recovers() {
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    c.get(1, true);
    s.feed(c.take());
    s.conn
        .send_headers(sid(1), Message::response(200), false)
        .unwrap();
    s.conn
        .send_data(sid(1), Bytes::from(vec![7u8; 60_000]), true)
        .unwrap();
    s.pump();
    let sent: usize = frames(&s.take_out())
        .iter()
        .filter(|(h, _)| h.kind == FrameType::Data)
        .map(|(h, _)| h.len as usize)
        .sum();
    assert_eq!(sent, 60_000);
    // Lower the initial window to 1000: the stream's window becomes 1000 - 60000.
    let mut p = Vec::new();
    p.extend_from_slice(&setting::INITIAL_WINDOW_SIZE.to_be_bytes());
    p.extend_from_slice(&1000u32.to_be_bytes());
    c.raw(FrameType::Settings, 0, 0, &p);
    s.feed(c.take());
    assert_eq!(s.conn.stream_send_window(sid(1)), Some(1000 - 60_000));
    // More data cannot flow until the window is positive again.
    assert!(frames(&s.take_out())
        .iter()
        .any(|(h, _)| h.kind == FrameType::Settings && h.has(flags::ACK)));
}

#[test]
fn window_overflow_is_detected() {
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    c.get(1, false);
    c.raw(FrameType::WindowUpdate, 0, 1, &0x7fff_ff00u32.to_be_bytes());
    s.feed(c.take());
    assert_eq!(
        rst_codes(&s.take_out()),
        vec![(1, ErrorCode::FlowControlError)]
    );
    c.raw(FrameType::WindowUpdate, 0, 0, &0x7fff_ffffu32.to_be_bytes());
    s.feed(c.take());
    assert_eq!(
        goaway_code(&s.take_out()),
        Some(ErrorCode::FlowControlError)
    );
}

#[test]
fn data_beyond_the_stream_window_is_a_stream_error() {
    let mut s = Server::new(Config {
        initial_window_size: 100,
        ..Config::default()
    });
    let mut c = RawClient::new();
    c.get(1, false);
    c.raw(FrameType::Data, 0, 1, &[0u8; 101]);
    c.get(3, true);
    s.feed(c.take());
    assert_eq!(
        rst_codes(&s.take_out()),
        vec![(1, ErrorCode::FlowControlError)]
    );
    // The connection goes on: stream 3 arrives.
    assert!(s
        .events
        .iter()
        .any(|e| matches!(e, Event::Headers { stream, .. } if stream.value() == 3)));
}

#[test]
fn blocked_streams_wait_in_their_queue_and_are_woken_by_the_right_event() {
    use crate::stream::Queue;
    let data_sent = |out: &[u8], id: u32| -> usize {
        frames(out)
            .iter()
            .filter(|(h, _)| h.kind == FrameType::Data && h.stream.value() == id)
            .map(|(h, _)| h.len as usize)
            .sum()
    };
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    // The client opens stream windows of 100 bytes.
    c.raw(FrameType::Settings, 0, 0, &[0, 4, 0, 0, 0, 100]);
    c.get(1, true);
    s.feed(c.take());
    s.take_out();

    // Stream window: 100 bytes go, then the stream waits for its own WINDOW_UPDATE.
    s.conn
        .send_headers(sid(1), Message::response(200), false)
        .unwrap();
    s.conn
        .send_data(sid(1), Bytes::from(vec![1u8; 1000]), true)
        .unwrap();
    s.pump();
    assert_eq!(data_sent(&s.take_out(), 1), 100);
    let k1 = s.conn.streams.find(sid(1)).unwrap();
    assert!(s.conn.streams.get(k1).unwrap().window_blocked);
    // A WINDOW_UPDATE for another stream or the connection does not wake it.
    c.raw(FrameType::WindowUpdate, 0, 0, &500u32.to_be_bytes());
    s.feed(c.take());
    assert_eq!(data_sent(&s.take_out(), 1), 0);
    c.raw(FrameType::WindowUpdate, 0, 1, &500u32.to_be_bytes());
    s.feed(c.take());
    assert_eq!(data_sent(&s.take_out(), 1), 500);

    // Connection window: stream windows are large now, the connection's is what is left.
    c.raw(FrameType::Settings, 0, 0, &[0, 4, 0, 0x10, 0, 0]);
    c.get(3, true);
    s.feed(c.take());
    s.take_out();
    let left = s.conn.conn_send_window() as usize;
    s.conn
        .send_headers(sid(3), Message::response(200), false)
        .unwrap();
    s.conn
        .send_data(sid(3), Bytes::from(vec![3u8; left + 5000]), true)
        .unwrap();
    s.pump();
    assert_eq!(data_sent(&s.take_out(), 3), left);
    let k3 = s.conn.streams.find(sid(3)).unwrap();
    assert!(s.conn.streams.is_queued(Queue::ConnWindow, k3));
    c.raw(FrameType::WindowUpdate, 0, 0, &100_000u32.to_be_bytes());
    s.feed(c.take());
    assert!(!s.conn.streams.is_queued(Queue::ConnWindow, k3));
    assert_eq!(data_sent(&s.take_out(), 3), 5000);

    // Tx room: nobody drains the output; the stream waits for room, not for a window.
    c.raw(FrameType::WindowUpdate, 0, 0, &1_000_000u32.to_be_bytes());
    c.get(5, true);
    s.feed(c.take());
    s.take_out();
    s.conn
        .send_headers(sid(5), Message::response(200), false)
        .unwrap();
    s.conn
        .send_data(sid(5), Bytes::from(vec![5u8; 100_000]), true)
        .unwrap();
    s.conn.flush(&mut s.pool, Instant(0));
    let k5 = s.conn.streams.find(sid(5)).unwrap();
    assert!(s.conn.streams.is_queued(Queue::TxRoom, k5));
    assert!(s.conn.output().len() <= 16_384);
    let n = s.conn.output().len();
    s.out.extend_from_slice(s.conn.output());
    s.conn.consume_output(n, &mut s.pool);
    assert!(s.conn.streams.is_queued(Queue::Send, k5));
    s.pump();
    assert_eq!(data_sent(&s.take_out(), 5), 100_000);
}

#[test]
fn a_stream_counts_as_open_until_our_end_stream_is_written() {
    let mut s = Server::new(Config {
        max_concurrent_streams: 2,
        ..Config::default()
    });
    let mut c = RawClient::new();
    // No window: response bodies cannot leave.
    c.raw(FrameType::Settings, 0, 0, &[0, 4, 0, 0, 0, 0]);
    c.get(1, true);
    c.get(3, true);
    s.feed(c.take());
    for id in [1, 3] {
        s.conn
            .send_headers(sid(id), Message::response(200), false)
            .unwrap();
        s.conn
            .send_data(sid(id), Bytes::from_static(b"body"), true)
            .unwrap();
        s.conn.detach(sid(id));
    }
    s.pump();
    s.take_out();
    // Both are closed for us, but the client has not seen their END_STREAM: a third is refused.
    c.get(5, true);
    s.feed(c.take());
    assert_eq!(
        rst_codes(&s.take_out()),
        vec![(5, ErrorCode::RefusedStream)]
    );
    // Once the window opens and the ends are written, a new stream is welcome.
    c.raw(FrameType::WindowUpdate, 0, 1, &100u32.to_be_bytes());
    c.raw(FrameType::WindowUpdate, 0, 3, &100u32.to_be_bytes());
    s.feed(c.take());
    assert_eq!(s.conn.stream_count(), 0);
    c.get(7, true);
    s.feed(c.take());
    assert!(s
        .events
        .iter()
        .any(|e| matches!(e, Event::Headers { stream, .. } if stream.value() == 7)));
}
