//! GOAWAY, graceful shutdown, timeouts, and what an idle connection keeps.

use super::*;

#[test]
fn goaway_from_server_refuses_later_streams_on_client() {
    let mut p = Pair::new(Config::default(), Config::default());
    let a = p.client.open_stream(req("/a"), true).unwrap();
    p.run();
    let b = p.client.open_stream(req("/b"), true).unwrap();
    // The server goes away before it sees stream b.
    p.server.shutdown(p.now);
    let mut out = Vec::new();
    p.server
        .drain_output(&mut p.pool, &mut out, usize::MAX, p.now);
    let n = p.client.recv(&mut p.pool, &Bytes::from(out), p.now);
    assert!(n > 0);
    p.run();
    // First GOAWAY has the largest id; after the PING round trip the real last id is sent.
    let goaways: Vec<_> = p
        .client_events
        .iter()
        .filter_map(|e| match e {
            Event::GoAway {
                last_stream, code, ..
            } => Some((*last_stream, *code)),
            _ => None,
        })
        .collect();
    assert_eq!(goaways.first(), Some(&(StreamId::MAX, ErrorCode::NoError)));
    // The client's PING ACK overtook its HEADERS for b: the final GOAWAY names a, and b is
    // refused on the client, safe to retry elsewhere.
    assert_eq!(goaways.last(), Some(&(a, ErrorCode::NoError)));
    assert!(p.client_events.iter().any(
        |e| matches!(e, Event::Reset { stream, code: ErrorCode::RefusedStream, .. } if *stream == b)
    ));
    assert!(!p
        .server_events
        .iter()
        .any(|e| matches!(e, Event::Headers { stream, .. } if *stream == b)));
    assert!(p.client.open_stream(req("/c"), true).is_err());
}

#[test]
fn two_step_shutdown_then_done_when_streams_end() {
    let mut p = Pair::new(Config::default(), Config::default());
    let id = p.client.open_stream(req("/"), true).unwrap();
    p.run();
    p.server.shutdown(p.now);
    p.run();
    assert!(!p.server.is_done(), "a stream is still open");
    p.server
        .send_headers(id, Message::response(204), true)
        .unwrap();
    p.run();
    p.server.detach(id);
    p.run();
    assert!(p.server.is_done());
}

#[test]
fn settings_ack_timeout() {
    let mut s = Server::new(Config {
        settings_timeout_ms: 1000,
        ..Config::default()
    });
    let mut c = RawClient::new();
    s.feed(c.take());
    assert_eq!(s.conn.next_timeout(), Some(Instant(1000)));
    s.conn.handle_timeout(Instant(999));
    s.pump();
    assert_eq!(goaway_code(&s.take_out()), None);
    s.conn.handle_timeout(Instant(1000));
    s.pump();
    assert_eq!(goaway_code(&s.take_out()), Some(ErrorCode::SettingsTimeout));
}

#[test]
fn idle_timeout_shuts_down_gracefully() {
    let mut s = Server::new(Config {
        idle_timeout_ms: 5000,
        ..Config::default()
    });
    let mut c = RawClient::new();
    c.raw(FrameType::Settings, flags::ACK, 0, &[]);
    s.feed(c.take());
    s.take_out();
    assert_eq!(s.conn.next_timeout(), Some(Instant(5000)));
    s.conn.handle_timeout(Instant(5000));
    s.pump();
    let out = s.take_out();
    let f = frames(&out);
    assert!(f.iter().any(|(h, _)| h.kind == FrameType::GoAway));
    assert!(f
        .iter()
        .any(|(h, _)| h.kind == FrameType::Ping && !h.has(flags::ACK)));
    // The PING ACK completes the two steps.
    c.raw(FrameType::Ping, flags::ACK, 0, b"h2mux-sd");
    s.feed(c.take());
    let out = s.take_out();
    let g = frames(&out)
        .into_iter()
        .find(|(h, _)| h.kind == FrameType::GoAway)
        .unwrap();
    assert_eq!(
        frame::parse_goaway(&g.1).unwrap().last_stream,
        StreamId::ZERO
    );
    assert!(s.conn.is_done());
}

#[test]
fn shutdown_timeout_ends_a_stuck_shutdown() {
    let mut s = Server::new(Config {
        shutdown_timeout_ms: 2000,
        ..Config::default()
    });
    let mut c = RawClient::new();
    c.get(1, false);
    s.feed(c.take());
    s.conn.shutdown(Instant(0));
    s.pump();
    assert!(!s.conn.is_done());
    s.now = Instant(2000);
    s.conn.handle_timeout(Instant(2000));
    s.pump();
    assert!(s.conn.is_done());
}

#[test]
fn idle_connection_is_small() {
    // Measured, not a target here: the figure the host pays per idle connection.
    let size = std::mem::size_of::<Connection>();
    eprintln!("size_of::<Connection>() = {size}");
    assert!(size < 2048, "Connection is {size} bytes");
}

#[test]
fn trim_between_callbacks_keeps_a_header_block_in_progress() {
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    let block = c.block("/split");
    let (a, b) = block.split_at(block.len() / 2);
    c.raw(FrameType::Headers, flags::END_STREAM, 1, a);
    s.feed(c.take());
    // The host trims between callbacks: the half block must survive.
    s.conn.trim();
    c.raw(FrameType::Continuation, flags::END_HEADERS, 1, b);
    s.feed(c.take());
    assert_eq!(s.conn.error(), None);
    assert!(s.events.iter().any(
        |e| matches!(e, Event::Headers { message, .. } if message.path() == Some(&b"/split"[..]))
    ));
}

/// The SETTINGS timer waits for an ACK that may sit in bytes we have not read: while our
/// own limits keep us from reading the peer (no pool buffer here), it is put off instead of
/// failing the connection. Reading again, it runs as before.
#[test]
fn settings_timeout_is_put_off_while_we_are_not_reading() {
    // One buffer in all: our SETTINGS and ACK fill it, and a split frame then needs rx.
    let mut pool = BufferPool::new(16_384, 16_384, 16);
    let cfg = Arc::new(Config {
        settings_timeout_ms: 1000,
        ..Config::default()
    });
    let mut s = Connection::new(Side::Frontend, cfg, 9, Instant(0));
    let mut c = RawClient::new();
    let mut g = Vec::new();
    frame::write_goaway(&mut g, StreamId::ZERO, ErrorCode::NoError, b"bye now");
    let mut first = c.take().to_vec();
    first.extend_from_slice(&g[..12]);
    let first = Bytes::from(first);
    let n = s.recv(&mut pool, &first, Instant(0));
    assert_eq!(s.rx_blocked(), Some(RxBlocked::Buffer));
    s.handle_timeout(Instant(1000));
    assert_eq!(s.error(), None, "timed out while we were not reading");
    // Reading again (no ACK among the bytes): the timer runs from where it was put off.
    let out = s.output().len();
    s.consume_output(out, &mut pool);
    s.on_buffer_available(&mut pool, Instant(1500));
    let rest = Bytes::from([&first[n..], &g[12..]].concat());
    assert_eq!(s.recv(&mut pool, &rest, Instant(1500)), rest.len());
    s.handle_timeout(Instant(1999));
    assert_eq!(s.error(), None);
    s.handle_timeout(Instant(2000));
    assert_eq!(
        s.error().map(|e| e.code()),
        Some(ErrorCode::SettingsTimeout)
    );
}

/// A SETTINGS ACK an idle connection cannot deliver yet (the host writes that way only in
/// the other peer's callbacks) leaves its pool buffer for a small allocation of its own,
/// and goes out first, unchanged, at the next flush.
#[test]
fn idle_output_gives_its_pool_buffer_back_and_goes_first_later() {
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    c.raw(FrameType::Settings, 0, 0, &[0, 4, 0, 1, 0, 0]);
    s.feed(c.take());
    s.take_out();
    // The peer's second SETTINGS: its ACK waits in the tx buffer, not taken by the host.
    c.raw(FrameType::Settings, 0, 0, &[0, 4, 0, 2, 0, 0]);
    let n = s.conn.recv(&mut s.pool, &c.take(), s.now);
    assert!(n > 0);
    s.conn.flush(&mut s.pool, s.now);
    let waiting = s.conn.output().to_vec();
    assert!(!waiting.is_empty());
    assert_eq!(s.conn.buffers_held(), 1);
    assert!(s.conn.park_output(&mut s.pool));
    assert_eq!(s.conn.buffers_held(), 0, "the pool buffer went back");
    assert!(s.conn.has_output(), "the bytes are still owed");
    s.conn.ping(*b"after!!!");
    let mut out = Vec::new();
    s.conn
        .drain_output(&mut s.pool, &mut out, usize::MAX, s.now);
    assert!(out.starts_with(&waiting), "parked bytes first");
    assert_eq!(
        crate::testkit::frame_kinds(&out[waiting.len()..]),
        vec![FrameType::Ping]
    );
    assert_eq!(s.conn.buffers_held(), 0);
}

/// Parked bytes share the buffer a header block is encoded into: they survive the idle trim
/// (which frees that buffer otherwise) and go out, whole and first, before the next request's
/// header block, which then decodes at the peer.
#[test]
fn parked_bytes_survive_the_trim_and_go_before_the_next_header_block() {
    let mut p = Pair::new(Config::default(), Config::default());
    let id = p.client.open_stream(req("/first"), true).unwrap();
    p.run();
    p.server
        .send_headers(id, Message::response(200), true)
        .unwrap();
    p.run();
    p.client.detach(id);
    p.server.detach(id);
    p.client_events.clear();
    p.server_events.clear();
    // The server's SETTINGS arrive; the client's ACK is made but not taken by its host.
    let mut settings = Vec::new();
    crate::frame::write_settings(
        &mut settings,
        &[(crate::frame::setting::MAX_CONCURRENT_STREAMS, 7)],
    );
    assert!(p.client.recv(&mut p.pool, &Bytes::from(settings), p.now) > 0);
    p.client.flush(&mut p.pool, p.now);
    let waiting = p.client.output().to_vec();
    assert!(!waiting.is_empty());
    assert!(p.client.park_output(&mut p.pool));
    while p.client.poll_event().is_some() {}
    assert!(
        p.client.trim(),
        "an idle connection with parked bytes trims"
    );
    assert!(p.client.has_output(), "the parked bytes are still owed");
    let id = p.client.open_stream(req("/second"), true).unwrap();
    let mut out = Vec::new();
    p.client
        .drain_output(&mut p.pool, &mut out, usize::MAX, p.now);
    assert!(out.starts_with(&waiting), "parked bytes first, unchanged");
    assert_eq!(
        crate::testkit::frame_kinds(&out[waiting.len()..]),
        vec![FrameType::Headers]
    );
    assert!(p.server.recv(&mut p.pool, &Bytes::from(out), p.now) > 0);
    let path = std::iter::from_fn(|| p.server.poll_event()).find_map(|e| match e {
        Event::Headers {
            stream, message, ..
        } if stream == id => message.path().map(<[u8]>::to_vec),
        _ => None,
    });
    assert_eq!(path, Some(b"/second".to_vec()));
}

/// An idle connection's `trim` drops its HPACK encoder (the largest part of an idle
/// connection after its first requests). The next block must first empty the peer's copy of
/// the old table (size update to 0, then back), or the peer would read our new indices
/// against old entries. Requests and responses across trims, on both ends, arrive intact,
/// and the peer's table holds only what the new encoder put there.
#[test]
fn trim_drops_the_hpack_tables_and_the_next_blocks_still_decode() {
    let mut p = Pair::new(Config::default(), Config::default());
    for round in 0..4 {
        let mut m = req(&format!("/r{round}"));
        m.fields
            .push(b"x-custom", format!("v{}", round % 2).as_bytes(), false);
        m.fields.push(b"user-agent", b"h2mux-test/1", false);
        let id = p.client.open_stream(m, true).unwrap();
        p.run();
        let got = p.server_events.drain(..).find_map(|e| match e {
            Event::Headers { message, .. } => Some((
                message.path().map(<[u8]>::to_vec),
                message.fields.get(b"x-custom").map(<[u8]>::to_vec),
                message.fields.get(b"user-agent").map(<[u8]>::to_vec),
            )),
            _ => None,
        });
        let want = (
            Some(format!("/r{round}").into_bytes()),
            Some(format!("v{}", round % 2).into_bytes()),
            Some(b"h2mux-test/1".to_vec()),
        );
        assert_eq!(got, Some(want), "round {round}");
        let mut resp = Message::response(200);
        resp.fields.push(b"x-served-by", b"one", false);
        p.server.send_headers(id, resp, true).unwrap();
        p.run();
        let status = p.client_events.drain(..).find_map(|e| match e {
            Event::Headers { message, .. } => Some((
                message.status(),
                message.fields.get(b"x-served-by").map(<[u8]>::to_vec),
            )),
            _ => None,
        });
        assert_eq!(
            status,
            Some((Some(200), Some(b"one".to_vec()))),
            "round {round}"
        );
        p.client.detach(id);
        p.server.detach(id);
        assert!(p.client.encoder.is_some() && p.server.encoder.is_some());
        if round % 2 == 0 {
            // Trimmed: both encoders go; the client's decoder holds the server's indexed
            // field and stays, the server's holds the client's and stays too.
            assert!(
                p.client.trim() && p.server.trim(),
                "round {round}: not idle"
            );
            assert!(p.client.encoder.is_none() && p.server.encoder.is_none());
            assert!(p.client.decoder.is_some() && p.server.decoder.is_some());
        }
        assert_eq!(p.client.error(), None);
        assert_eq!(p.server.error(), None);
    }
    // After the last trim (round 2) the server's table was emptied by the size update to 0
    // and holds only what round 3 indexed: as many entries as a new connection's first
    // request of the same shape leaves.
    let mut fresh = Pair::new(Config::default(), Config::default());
    let mut m = req("/r3");
    m.fields.push(b"x-custom", b"v1", false);
    m.fields.push(b"user-agent", b"h2mux-test/1", false);
    fresh.client.open_stream(m, true).unwrap();
    fresh.run();
    let want = fresh.server.decoder.as_ref().unwrap().table_len();
    assert!(want > 0);
    assert_eq!(p.server.decoder.as_ref().unwrap().table_len(), want);
}

/// The first block after a trim starts with a size update to 0 and one back to the peer's
/// size (RFC 7541 §4.2, §6.3); a decoder that never held an entry is dropped by `trim`.
#[test]
fn first_block_after_trim_evicts_the_peers_table() {
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    c.get(1, true);
    s.feed(c.take());
    s.pump();
    let mut resp = Message::response(200);
    resp.fields.push(b"x-indexed", b"yes", false);
    s.conn.send_headers(sid(1), resp, true).unwrap();
    s.pump();
    let first = s.take_out();
    s.conn.detach(sid(1));
    assert!(s.conn.trim());
    assert!(s.conn.encoder.is_none());
    c.get(3, true);
    s.feed(c.take());
    s.pump();
    s.conn
        .send_headers(sid(3), Message::response(204), true)
        .unwrap();
    s.pump();
    let out = s.take_out();
    let block = |out: &[u8], id: u32| {
        frames(out)
            .into_iter()
            .find(|(h, _)| h.kind == FrameType::Headers && h.stream == sid(id))
            .map(|(_, p)| p)
            .unwrap()
    };
    // 0x20: size update to 0; 0x3f 0xe1 0x1f: size update to 4096.
    assert!(!block(&first, 1).starts_with(&[0x20]));
    assert!(
        block(&out, 3).starts_with(&[0x20, 0x3f, 0xe1, 0x1f]),
        "{:02x?}",
        block(&out, 3)
    );
}

/// `trim` forgets normally closed streams but not the ones we reset: a late DATA on a stream
/// we reset is still ignored (§5.1: frames in flight when we reset), a HEADERS reusing a
/// closed stream's id is still a connection error, and the memory goes back.
#[test]
fn trim_forgets_closed_streams_but_not_our_resets() {
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    c.get(1, true);
    c.get(3, false);
    s.feed(c.take());
    s.pump();
    s.conn
        .send_headers(sid(1), Message::response(200), true)
        .unwrap();
    s.conn.reset(sid(3), ErrorCode::Cancel);
    s.pump();
    s.take_out();
    s.conn.detach(sid(1));
    s.conn.detach(sid(3));
    s.pump();
    assert!(s.conn.trim());
    let cold = s.conn.cold.as_ref().expect("our reset is remembered");
    assert_eq!(cold.recent.len, 1);
    // DATA in flight on the stream we reset: ignored, no RST_STREAM for it.
    c.raw(FrameType::Data, flags::END_STREAM, 3, b"late");
    s.feed(c.take());
    s.pump();
    assert!(rst_codes(&s.take_out()).is_empty());
    assert_eq!(s.conn.error(), None);
    // A request reusing stream 1's id.
    c.get(1, true);
    s.feed(c.take());
    s.pump();
    assert_eq!(
        s.conn.error().map(|e| e.code()),
        Some(ErrorCode::ProtocolError)
    );

    // With no reset of ours, nothing is left.
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    c.get(1, true);
    s.feed(c.take());
    s.pump();
    s.conn
        .send_headers(sid(1), Message::response(204), true)
        .unwrap();
    s.pump();
    s.take_out();
    s.conn.detach(sid(1));
    assert!(s.conn.trim());
    assert!(s.conn.cold.is_none());
}
