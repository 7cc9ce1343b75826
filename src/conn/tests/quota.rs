//! The buffer pool: connections wait in order for a buffer and lose nothing meanwhile.

use super::*;

#[test]
fn exhausted_pool_makes_connections_wait_and_resume_in_order() {
    // Two buffers for three clients: each needs a tx buffer to write its preface.
    let mut pool = BufferPool::new(16_384, 2 * 16_384, 16);
    let cfg = Arc::new(Config::default());
    let mut conns: Vec<Connection> = (0..3)
        .map(|i| Connection::new(Side::Backend, cfg.clone(), i, Instant(0)))
        .collect();
    for c in conns.iter_mut() {
        c.flush(&mut pool, Instant(0));
    }
    assert!(!conns[0].output().is_empty());
    assert!(!conns[1].output().is_empty());
    assert!(conns[2].output().is_empty());
    assert!(conns[2].is_waiting_for_buffer());
    assert_eq!(pool.waiters(), 1);
    assert_eq!(pool.pop_waiter(), None, "nothing free yet");

    // A fourth connection gets in line behind the third.
    let mut c3 = Connection::new(Side::Backend, cfg.clone(), 3, Instant(0));
    c3.flush(&mut pool, Instant(0));
    assert!(c3.is_waiting_for_buffer());
    conns.push(c3);

    // The first connection's output is written: its buffer goes back, the third resumes first.
    let n = conns[0].output().len();
    conns[0].consume_output(n, &mut pool);
    assert_eq!(conns[0].buffers_held(), 0);
    let w = pool.pop_waiter().unwrap();
    assert_eq!(w, 2);
    conns[w as usize].on_buffer_available(&mut pool, Instant(0));
    assert!(!conns[2].output().is_empty());
    assert!(!conns[2].is_waiting_for_buffer());
    assert_eq!(pool.pop_waiter(), None);

    let n = conns[1].output().len();
    conns[1].consume_output(n, &mut pool);
    assert_eq!(pool.pop_waiter(), Some(3));
    conns[3].on_buffer_available(&mut pool, Instant(0));
    assert!(!conns[3].output().is_empty());
    assert_eq!(pool.in_use(), 2);
}

#[test]
fn rx_waits_for_a_buffer_and_nothing_is_lost() {
    // One buffer in all: the server takes it for tx; a split control frame then needs rx.
    let mut pool = BufferPool::new(16_384, 16_384, 16);
    let cfg = Arc::new(Config::default());
    let mut s = Connection::new(Side::Frontend, cfg, 9, Instant(0));
    let mut c = RawClient::new();
    c.get(1, false);
    let mut stream = c.take().to_vec();
    // A GOAWAY split in two parts needs the payload gathered.
    let mut g = Vec::new();
    frame::write_goaway(&mut g, StreamId::ZERO, ErrorCode::NoError, b"bye now");
    stream.extend_from_slice(&g[..12]);
    let b = Bytes::from(stream.clone());
    let n = s.recv(&mut pool, &b, Instant(0));
    // The tx buffer holds our SETTINGS and ACK: no buffer is left for rx.
    assert!(n < b.len());
    assert_eq!(s.rx_blocked(), Some(RxBlocked::Buffer));
    assert!(s.is_waiting_for_buffer());
    let out = s.output().len();
    s.consume_output(out, &mut pool);
    assert_eq!(pool.pop_waiter(), Some(9));
    s.on_buffer_available(&mut pool, Instant(0));
    let rest = b.slice(n..);
    assert_eq!(s.recv(&mut pool, &rest, Instant(0)), rest.len());
    let tail = Bytes::copy_from_slice(&g[12..]);
    assert_eq!(s.recv(&mut pool, &tail, Instant(0)), tail.len());
    let mut got_goaway = false;
    let mut got_headers = false;
    while let Some(e) = s.poll_event() {
        got_goaway |= matches!(e, Event::GoAway { ref debug, .. } if &debug[..] == b"bye now");
        got_headers |= matches!(e, Event::Headers { .. });
    }
    assert!(got_goaway && got_headers);
}
