//! Floods and limits: Rapid Reset, MadeYouReset, CONTINUATION and PING floods, HPACK bombs, glitch points.

use super::*;

#[test]
fn rapid_reset_is_held_by_live_work_then_calmed() {
    let mut s = Server::new(Config {
        max_concurrent_streams: 10,
        ..Config::default()
    });
    let mut c = RawClient::new();
    for i in 0..1000u32 {
        let id = 2 * i + 1;
        c.get(id, false);
        c.raw(FrameType::RstStream, 0, id, &[0, 0, 0, 8]);
    }
    let input = c.take();
    let n = s.feed(input.clone());
    // Reset streams keep counting while the other side works on them: reading stopped at 10.
    assert!(n < input.len());
    assert_eq!(s.conn.rx_blocked(), Some(RxBlocked::Streams));
    assert_eq!(s.conn.stream_count(), 10);
    // The relay finishes its work as fast as it can: the early resets add up to a calm-down.
    let mut pos = n;
    for _ in 0..1000 {
        let ids: Vec<StreamId> = s
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Headers { stream, .. } => Some(*stream),
                _ => None,
            })
            .collect();
        s.events.clear();
        for id in ids {
            s.conn.detach(id);
        }
        if pos >= input.len() || s.conn.error().is_some() {
            break;
        }
        pos += s.feed(input.slice(pos..));
    }
    let out = s.take_out();
    let f = frames(&out);
    let goaways: Vec<ErrorCode> = f
        .iter()
        .filter(|(h, _)| h.kind == FrameType::GoAway)
        .map(|(_, p)| frame::parse_goaway(p).unwrap().code)
        .collect();
    assert_eq!(goaways.first(), Some(&ErrorCode::NoError), "graceful first");
    assert_eq!(goaways.last(), Some(&ErrorCode::EnhanceYourCalm));
    assert!(s.conn.is_done());
}

#[test]
fn made_you_reset_is_counted_and_calmed() {
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    // Each stream is valid, then provoked into a reset by a zero WINDOW_UPDATE.
    for i in 0..200u32 {
        let id = 2 * i + 1;
        c.get(id, true);
        c.raw(FrameType::WindowUpdate, 0, id, &[0; 4]);
    }
    let input = c.take();
    let mut pos = 0;
    for _ in 0..1000 {
        pos += s.feed(input.slice(pos..));
        let ids: Vec<StreamId> = s
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Headers { stream, .. } => Some(*stream),
                _ => None,
            })
            .collect();
        s.events.clear();
        for id in ids {
            s.conn.detach(id);
        }
        if pos >= input.len() || s.conn.error().is_some() {
            break;
        }
    }
    assert_eq!(
        s.conn.error().map(|e| e.code()),
        Some(ErrorCode::EnhanceYourCalm)
    );
    assert!(s.conn.stats().resets_sent < 200);
}

#[test]
fn continuation_flood_closes_before_decoding() {
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    let b = c.block("/");
    c.raw(FrameType::Headers, 0, 1, &b);
    for _ in 0..100 {
        c.raw(FrameType::Continuation, 0, 1, &[0x40, 1, b'a', 1, b'b']);
    }
    s.feed(c.take());
    assert_eq!(goaway_code(&s.take_out()), Some(ErrorCode::EnhanceYourCalm));
    assert!(!s.events.iter().any(|e| matches!(e, Event::Headers { .. })));

    // Few frames but too many bytes.
    let mut s = Server::new(Config {
        max_header_block: 4096,
        ..Config::default()
    });
    let mut c = RawClient::new();
    let b = c.block("/");
    c.raw(FrameType::Headers, 0, 1, &b);
    for _ in 0..3 {
        c.raw(FrameType::Continuation, 0, 1, &[0u8; 2000]);
    }
    s.feed(c.take());
    assert_eq!(goaway_code(&s.take_out()), Some(ErrorCode::EnhanceYourCalm));
}

#[test]
fn hpack_bomb_costs_one_stream() {
    let mut s = Server::new(Config {
        max_header_list_size: 16 * 1024,
        ..Config::default()
    });
    let mut c = RawClient::new();
    // One 4000-byte entry inserted, then referenced 3000 times (12 MB decoded).
    let mut b = Vec::new();
    let big = vec![b'z'; 4000];
    c.enc.encode(
        vec![
            (&b":method"[..], &b"GET"[..], false),
            (b":scheme", b"https", false),
            (b":path", b"/", false),
            (b":authority", b"x", false),
        ],
        &mut b,
    );
    b.extend_from_slice(&[0x40, 0x01, b'b', 0x7f]);
    crate::hpack::encode_integer(&mut b, 4000 - 127, 7, 0);
    b.extend_from_slice(&big);
    let entry_index = 62u8; // the newest dynamic entry
    for _ in 0..3000 {
        b.push(0x80 | entry_index);
    }
    c.raw(
        FrameType::Headers,
        flags::END_HEADERS | flags::END_STREAM,
        1,
        &b[..],
    );
    s.feed(c.take());
    assert_eq!(
        rst_codes(&s.take_out()),
        vec![(1, ErrorCode::ProtocolError)]
    );
    // HPACK state is still in sync: the next request decodes.
    c.get(3, true);
    s.feed(c.take());
    assert!(s
        .events
        .iter()
        .any(|e| matches!(e, Event::Headers { stream, .. } if stream.value() == 3)));
}

#[test]
fn ping_flood_stops_reading_while_tx_is_full() {
    let mut s = Server::new(Config {
        glitch_threshold: 1_000_000,
        ..Config::default()
    });
    let mut c = RawClient::new();
    for i in 0..5000u32 {
        c.raw(FrameType::Ping, 0, 0, &(i as u64).to_be_bytes());
    }
    let input = c.take();
    // Nobody consumes output: reading stops once the tx buffer is full.
    let n = s.conn.recv(&mut s.pool, &input, Instant(0));
    assert!(n < input.len());
    assert_eq!(s.conn.rx_blocked(), Some(RxBlocked::TxRoom));
    assert!(s.conn.output().len() <= 16_384);
    // Draining lets it go on; every PING is answered exactly once.
    let m = s.feed(input.slice(n..));
    assert_eq!(s.conn.error(), None);
    assert_eq!(n + m, input.len());
    let acks = frames(&s.out)
        .iter()
        .filter(|(h, _)| h.kind == FrameType::Ping && h.has(flags::ACK))
        .count();
    assert_eq!(acks, 5000);
}

#[test]
fn ping_and_settings_floods_are_calmed() {
    for kind in [FrameType::Ping, FrameType::Settings] {
        let mut s = Server::new(Config::default());
        let mut c = RawClient::new();
        for _ in 0..2000 {
            if kind == FrameType::Ping {
                c.raw(FrameType::Ping, 0, 0, &[1; 8]);
            } else {
                c.raw(FrameType::Settings, 0, 0, &[]);
            }
        }
        s.feed(c.take());
        assert_eq!(
            s.conn.error().map(|e| e.code()),
            Some(ErrorCode::EnhanceYourCalm),
            "{kind:?}"
        );
    }
}

#[test]
fn empty_frame_flood_is_calmed() {
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    c.get(1, false);
    for _ in 0..1000 {
        c.raw(FrameType::Data, 0, 1, &[]);
    }
    s.feed(c.take());
    assert_eq!(
        s.conn.error().map(|e| e.code()),
        Some(ErrorCode::EnhanceYourCalm)
    );
}

#[test]
fn too_many_settings_entries() {
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    c.raw(FrameType::Settings, 0, 0, &[0u8; 6 * 33]);
    s.feed(c.take());
    assert_eq!(goaway_code(&s.take_out()), Some(ErrorCode::EnhanceYourCalm));
}

#[test]
fn own_reset_flood_is_bounded() {
    // Frames on closed streams each make us reset: a bounded queue, then a calm-down.
    let mut s = Server::new(Config::default());
    let mut c = RawClient::new();
    c.get(1001, true);
    for i in 0..500u32 {
        c.raw(
            FrameType::Priority,
            0,
            2 * i + 1,
            &[0, 0, 0, (2 * i + 1) as u8, 16],
        );
    }
    s.feed(c.take());
    assert!(s.conn.stats().resets_sent <= 100);
    assert_eq!(
        s.conn.error().map(|e| e.code()),
        Some(ErrorCode::EnhanceYourCalm)
    );
}

#[test]
fn glitches_warn_with_a_graceful_goaway_first() {
    let mut s = Server::new(Config {
        glitch_threshold: 100,
        ..Config::default()
    });
    let mut c = RawClient::new();
    for _ in 0..40 {
        c.raw(FrameType::Unknown(0xfa), 0, 0, b"?");
    }
    s.feed(c.take());
    let out = s.take_out();
    assert_eq!(goaway_code(&out), Some(ErrorCode::NoError));
    assert!(s.conn.error().is_none());
    for _ in 0..20 {
        c.raw(FrameType::Unknown(0xfa), 0, 0, b"?");
    }
    s.feed(c.take());
    assert_eq!(goaway_code(&s.take_out()), Some(ErrorCode::EnhanceYourCalm));
}
