//! Any way bytes arrive gives the same result, and no input panics.

use super::*;

/// Merges consecutive DATA chunks of a stream: how DATA is cut depends on how bytes arrive,
/// everything else must not.
fn normalize(events: &[Event]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut data: Option<(StreamId, Vec<u8>, bool)> = None;
    let flush = |data: &mut Option<(StreamId, Vec<u8>, bool)>, out: &mut Vec<String>| {
        if let Some((s, d, e)) = data.take() {
            out.push(format!(
                "data {} {} {:?} {}",
                s,
                d.len(),
                &d[..d.len().min(16)],
                e
            ));
        }
    };
    for e in events {
        match e {
            Event::Data {
                stream,
                data: d,
                end_stream,
            } => match &mut data {
                Some((s, buf, end)) if s == stream && !*end => {
                    buf.extend_from_slice(d);
                    *end |= end_stream;
                }
                _ => {
                    flush(&mut data, &mut out);
                    data = Some((*stream, d.to_vec(), *end_stream));
                }
            },
            other => {
                flush(&mut data, &mut out);
                out.push(format!("{other:?}"));
            }
        }
    }
    flush(&mut data, &mut out);
    out
}

fn recorded_client_stream() -> Vec<u8> {
    let mut p = Pair::new(Config::default(), Config::default());
    for i in 0..60 {
        let mut m = if i % 3 == 0 {
            post(&format!("/p/{i}"))
        } else {
            req(&format!("/g/{i}?q={i}"))
        };
        m.fields.push(
            b"user-agent",
            b"Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0",
            false,
        );
        m.fields
            .push(b"cookie", format!("session={i:08}").as_bytes(), false);
        let id = p.client.open_stream(m, i % 3 != 0).unwrap();
        if i % 3 == 0 {
            p.client
                .send_data(id, Bytes::from(body(5000 + i * 7, i as u8)), false)
                .unwrap();
            let mut t = Fields::new();
            t.push(b"x-checksum", b"abc", false);
            p.client.send_trailers(id, t).unwrap();
        }
        if i % 10 == 0 {
            p.client.ping([i as u8; 8]);
        }
        p.run();
        p.server_take_data();
    }
    std::mem::take(&mut p.c2s_log)
}

#[test]
fn byte_at_a_time_equals_all_at_once() {
    let stream = recorded_client_stream();
    assert!(stream.len() > 50_000);

    // Windows large enough that the replay needs no WINDOW_UPDATE timing of its own.
    let cfg = || Config {
        initial_window_size: 0x7fff_ffff,
        connection_window: 0x7fff_ffff,
        ..Config::default()
    };
    let mut whole = Server::new(cfg());
    assert_eq!(whole.feed(Bytes::from(stream.clone())), stream.len());

    let mut bytewise = Server::new(cfg());
    for b in &stream {
        assert_eq!(bytewise.feed(Bytes::copy_from_slice(&[*b])), 1);
    }
    assert_eq!(whole.conn.error(), None);
    assert_eq!(normalize(&whole.events), normalize(&bytewise.events));
    assert_eq!(whole.out, bytewise.out);
    assert_eq!(
        whole
            .events
            .iter()
            .filter(|e| matches!(e, Event::Headers { .. }))
            .count(),
        60
    );
    assert_eq!(
        whole
            .events
            .iter()
            .filter(|e| matches!(e, Event::Trailers { .. }))
            .count(),
        20
    );

    // And at a few odd chunk sizes.
    for chunk in [2usize, 7, 9, 10, 100, 4095] {
        let mut s = Server::new(cfg());
        for c in stream.chunks(chunk) {
            assert_eq!(s.feed(Bytes::copy_from_slice(c)), c.len());
        }
        assert_eq!(
            normalize(&whole.events),
            normalize(&s.events),
            "chunk {chunk}"
        );
        assert_eq!(whole.out, s.out, "chunk {chunk}");
    }
}

/// Arbitrary and mutated bytes into both polarities: no panic, and the connection either
/// goes on or fails with a GOAWAY.
#[test]
fn arbitrary_bytes_never_panic() {
    let valid = recorded_client_stream();
    let mut rng = Rng::from_state(0x9e37_79b9_7f4a_7c15);
    for round in 0..400 {
        let side = if round % 2 == 0 {
            Side::Frontend
        } else {
            Side::Backend
        };
        let mut conn = Connection::new(side, Arc::new(Config::default()), 1, Instant(0));
        let mut pool = pool();
        let mut input: Vec<u8> = if side == Side::Frontend {
            valid[..(rng.next_u64() as usize % valid.len())].to_vec()
        } else {
            let mut v = Vec::new();
            frame::write_settings(&mut v, &[]);
            v
        };
        // Mutate: flip bytes, then append random frames and noise.
        for _ in 0..(rng.next_u64() % 8) {
            if !input.is_empty() {
                let i = rng.next_u64() as usize % input.len();
                input[i] = rng.next_u64() as u8;
            }
        }
        for _ in 0..(rng.next_u64() % 40) {
            let len = (rng.next_u64() % 64) as usize;
            let kind = (rng.next_u64() % 12) as u8;
            let fl = rng.next_u64() as u8;
            let id = (rng.next_u64() % 8) as u32;
            frame::write_header(
                &mut input,
                len as u32,
                FrameType::from_u8(kind),
                fl,
                sid(id),
            );
            for _ in 0..len {
                input.push(rng.next_u64() as u8);
            }
        }
        if side == Side::Backend {
            let _ = conn.open_stream(req("/"), false);
        }
        let b = Bytes::from(input);
        let mut pos = 0;
        while pos < b.len() {
            let step = 1 + (rng.next_u64() as usize % 3000);
            let end = (pos + step).min(b.len());
            let n = conn.recv(&mut pool, &b.slice(pos..end), Instant(round));
            let mut out = Vec::new();
            conn.drain_output(&mut pool, &mut out, usize::MAX, Instant(0));
            while conn.poll_event().is_some() {}
            pos += n.max(if conn.rx_blocked().is_some() {
                0
            } else {
                end - pos
            });
            if n == 0 && conn.rx_blocked().is_some() {
                break;
            }
        }
        conn.handle_timeout(Instant(1_000_000));
        conn.release(&mut pool);
    }
}
