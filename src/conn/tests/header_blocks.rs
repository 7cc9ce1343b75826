//! A header block we write is one run of frames on the wire: HEADERS and its CONTINUATIONs,
//! nothing else between them (RFC 9113 §6.10), whatever else is due meanwhile.

use super::*;

/// Frames of `out` between a HEADERS without END_HEADERS and the frame that ends its
/// block must all be CONTINUATIONs of the same stream.
fn assert_blocks_contiguous(out: &[u8]) {
    let mut open: Option<StreamId> = None;
    for (h, _) in frames(out) {
        if let Some(id) = open {
            assert!(
                h.kind == FrameType::Continuation && h.stream == id,
                "{} on stream {} inside the header block of stream {}",
                h.kind.name(),
                h.stream,
                id
            );
        }
        if matches!(h.kind, FrameType::Headers | FrameType::Continuation) {
            open = (!h.has(flags::END_HEADERS)).then_some(h.stream);
        }
    }
    assert_eq!(open, None, "a header block was left open");
}

/// A server with a response head larger than a tx buffer half written: the first frame
/// of the block filled the buffer, and a little room was made since.
fn server_mid_block() -> Server {
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    c.get(1, true);
    s.feed(c.take());
    s.take_out();
    let mut resp = Message::response(200);
    let big = vec![b'v'; 20_000];
    resp.fields.push(b"x-big", &big, false);
    s.conn.send_headers(sid(1), resp, true).unwrap();
    s.conn.flush(&mut s.pool, s.now);
    let room = 100;
    s.out.extend_from_slice(&s.conn.output()[..room]);
    s.conn.consume_output(room, &mut s.pool);
    s
}

#[test]
fn a_ping_answer_waits_for_the_header_block_in_progress() {
    let mut s = server_mid_block();
    let mut c = RawClient::new();
    c.out.clear();
    c.raw(FrameType::Ping, 0, 0, b"12345678");
    s.feed(c.take());
    s.pump();
    let out = s.take_out();
    assert_blocks_contiguous(&out);
    assert!(frames(&out)
        .iter()
        .any(|(h, _)| h.kind == FrameType::Ping && h.has(flags::ACK)));
}

#[test]
fn control_frames_we_owe_wait_for_the_header_block_in_progress() {
    let mut s = server_mid_block();
    // A PING of ours (a doorbell) and a reset of another stream fall due mid-block.
    s.conn.ping(*b"doorbell");
    s.conn.flush(&mut s.pool, s.now);
    s.pump();
    let out = s.take_out();
    assert_blocks_contiguous(&out);
    assert!(frames(&out).iter().any(|(h, _)| h.kind == FrameType::Ping));
}

#[test]
fn a_connection_error_mid_block_still_ends_the_block_before_its_goaway() {
    let mut s = server_mid_block();
    let mut c = RawClient::new();
    c.out.clear();
    // WINDOW_UPDATE of 0 on the connection: a connection error.
    c.raw(FrameType::WindowUpdate, 0, 0, &0u32.to_be_bytes());
    s.feed(c.take());
    s.pump();
    let out = s.take_out();
    assert_blocks_contiguous(&out);
    assert_eq!(goaway_code(&out), Some(ErrorCode::ProtocolError));
}

#[test]
fn a_block_waiting_for_room_for_its_first_frame_does_not_stop_reading() {
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    c.get(1, true);
    c.get(3, true);
    s.feed(c.take());
    s.take_out();
    // Stream 1's body fills the tx buffer but for a little room.
    s.conn
        .send_headers(sid(1), Message::response(200), false)
        .unwrap();
    s.conn
        .send_data(sid(1), Bytes::from(vec![1u8; 40_000]), true)
        .unwrap();
    s.conn.flush(&mut s.pool, s.now);
    let room = 16_384 - s.conn.output().len();
    assert!(room < 1024 + 9, "room left: {room}");
    // Stream 3's head is encoded but has no room for its first frame yet.
    let mut resp = Message::response(200);
    resp.fields.push(b"x-big", &[b'v'; 2000], false);
    s.conn.send_headers(sid(3), resp, true).unwrap();
    s.conn.flush(&mut s.pool, s.now);
    assert!(!s.conn.header_block_open());
    // A PING is read and answered meanwhile, if the room allows: nothing of the block is
    // on the wire, so nothing is interleaved.
    c.out.clear();
    c.raw(FrameType::Ping, 0, 0, b"12345678");
    let ping = c.take();
    let n = s.conn.recv(&mut s.pool, &ping, s.now);
    if room >= 17 {
        assert_eq!(n, ping.len());
        assert_eq!(s.conn.rx_blocked(), None);
    }
    s.pump();
    let out = s.take_out();
    assert_blocks_contiguous(&out);
}
