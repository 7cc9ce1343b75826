//! Requests and responses end to end: bodies, trailers, large transfers, many streams, PING.

use super::*;

#[test]
fn request_response_with_body_and_trailers() {
    let mut p = Pair::new(Config::default(), Config::default());
    let mut m = post("/upload");
    m.fields.push(b"x-test", b"1", false);
    let id = p.client.open_stream(m, false).unwrap();
    p.client
        .send_data(id, Bytes::from_static(b"hello "), false)
        .unwrap();
    p.client
        .send_data(id, Bytes::from_static(b"world"), true)
        .unwrap();
    p.run();
    let head = p.server_events.iter().find_map(|e| match e {
        Event::Headers {
            stream, message, ..
        } => Some((*stream, message.path().map(|x| x.to_vec()))),
        _ => None,
    });
    assert_eq!(head, Some((id, Some(b"/upload".to_vec()))));
    let data = p.server_take_data();
    assert_eq!(data, vec![(id, b"hello world".to_vec(), true)]);

    let mut resp = Message::response(200);
    resp.fields.push(b"content-type", b"text/plain", false);
    p.server.send_headers(id, resp, false).unwrap();
    p.server
        .send_data(id, Bytes::from_static(b"ok"), false)
        .unwrap();
    let mut t = Fields::new();
    t.push(b"grpc-status", b"0", false);
    p.server.send_trailers(id, t).unwrap();
    p.run();
    let got = p.client_take_data();
    assert_eq!(got, vec![(id, b"ok".to_vec(), false)]);
    assert!(p
        .client_events
        .iter()
        .any(|e| matches!(e, Event::Headers { message, .. } if message.status() == Some(200))));
    let trailers = p.client_events.iter().find_map(|e| match e {
        Event::Trailers { fields, .. } => fields.get(b"grpc-status").map(|v| v.to_vec()),
        _ => None,
    });
    assert_eq!(trailers, Some(b"0".to_vec()));
    // Both sides closed: once detached, no context remains.
    assert_eq!(p.server.stream_state(id), Some(State::Closed));
    p.server.detach(id);
    p.client.detach(id);
    assert_eq!(p.server.stream_count(), 0);
    assert_eq!(p.client.stream_count(), 0);
    // Idle connections hold no buffer.
    p.run();
    assert_eq!(p.client.buffers_held() + p.server.buffers_held(), 0);
    assert_eq!(p.pool.in_use(), 0);
}

#[test]
fn large_transfers_cross_every_window() {
    let mut p = Pair::new(Config::default(), Config::default());
    let up = body(3 << 20, 7);
    let id = p.client.open_stream(post("/big"), false).unwrap();
    let mut sent = 0;
    let mut received = Vec::new();
    let mut done = false;
    for _ in 0..100_000 {
        // Feed the client send queue in 256 KiB steps, as a relay would under back-pressure.
        if sent < up.len() && p.client.stream_send_window(id).is_some() {
            let n = (up.len() - sent).min(256 << 10);
            let end = sent + n == up.len();
            match p
                .client
                .send_data(id, Bytes::copy_from_slice(&up[sent..sent + n]), end)
            {
                Ok(()) => sent += n,
                Err(SendError::QueueFull) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        p.run();
        for (_, d, end) in p.server_take_data() {
            received.extend_from_slice(&d);
            done |= end;
        }
        if done {
            break;
        }
    }
    assert!(done);
    assert_eq!(received.len(), up.len());
    assert!(received == up);
}

#[test]
fn many_concurrent_streams() {
    let mut p = Pair::new(Config::default(), Config::default());
    p.run();
    let mut ids = Vec::new();
    for i in 0..100 {
        let id = p.client.open_stream(req(&format!("/s/{i}")), true).unwrap();
        ids.push(id);
    }
    assert_eq!(
        p.client.open_stream(req("/too-many"), true),
        Err(SendError::ConcurrencyLimit)
    );
    p.run();
    let heads = p
        .server_events
        .iter()
        .filter(|e| matches!(e, Event::Headers { .. }))
        .count();
    assert_eq!(heads, 100);
    for (i, id) in ids.iter().enumerate() {
        p.server
            .send_headers(*id, Message::response(200), false)
            .unwrap();
        p.server
            .send_data(*id, Bytes::from(body(1000 + i, i as u8)), true)
            .unwrap();
    }
    p.run();
    let data = p.client_take_data();
    assert_eq!(data.len(), 100);
    for (id, d, end) in data {
        let i = ids.iter().position(|x| *x == id).unwrap();
        assert!(end);
        assert_eq!(d, body(1000 + i, i as u8));
    }
}

#[test]
fn ping_is_answered_and_ack_reported() {
    let mut p = Pair::new(Config::default(), Config::default());
    p.client.ping(*b"12345678");
    p.run();
    assert!(p
        .client_events
        .iter()
        .any(|e| matches!(e, Event::PingAck { payload } if payload == b"12345678")));
}

#[test]
fn detach_with_output_queued_keeps_the_stream_until_written() {
    let mut p = Pair::new(Config::default(), Config::default());
    let id = p.client.open_stream(req("/"), true).unwrap();
    p.run();
    p.server
        .send_headers(id, Message::response(200), false)
        .unwrap();
    p.server
        .send_data(id, Bytes::from(vec![9u8; 200_000]), true)
        .unwrap();
    // The relay is done with the stream before its response is out.
    p.server.detach(id);
    assert_eq!(p.server.stream_count(), 1);
    for _ in 0..100 {
        p.run();
        let d = p.client_take_data();
        if d.iter().any(|(_, _, end)| *end) {
            break;
        }
    }
    assert_eq!(p.client.stream_state(id), Some(State::Closed));
    assert_eq!(p.server.stream_count(), 0);
}
