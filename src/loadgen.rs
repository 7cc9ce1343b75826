//! Small-GET traffic through a whole relay, recorded once and replayed: what the relay does
//! per request in the `make bench` h2load workload, measured without the peers' cost.
//!
//! A live run wires a client connection (requests as h2load sends them, `concurrency`
//! streams at a time), the relay and a server connection (answers shaped like nghttpd's for
//! a 100-byte file) through memory, and records every call made on the relay. The replay
//! makes the same calls on a fresh relay; the core is deterministic, so it sees the same
//! bytes and writes the same bytes, which `replay` checks.

use std::sync::Arc;

use bytes::Bytes;

use crate::buffer::BufferPool;
use crate::conn::{Connection, Event};
use crate::limits::Config;
use crate::message::Message;
use crate::relay::Relay;
use crate::side::Side;
use crate::time::Instant;

/// One call on the relay.
#[derive(Clone, Debug)]
pub enum Step {
    FromClient(Bytes),
    FromUpstream(Bytes),
    ClientOutput,
    UpstreamOutput,
}

/// A recorded run and the outcome the replay must reproduce.
#[derive(Clone, Debug, Default)]
pub struct Recording {
    pub steps: Vec<Step>,
    pub requests: u64,
    /// Bytes the relay wrote to the client and to the upstream.
    pub to_client: u64,
    pub to_upstream: u64,
}

/// The response body: the size of `make bench`'s small file.
static BODY: [u8; 100] = [b'x'; 100];

fn pool() -> BufferPool {
    BufferPool::new(16_384, 256 * 16_384, 64)
}

/// Makes one call on the relay: bytes consumed for input, bytes written for output.
fn apply(relay: &mut Relay, pool: &mut BufferPool, step: &Step, out: &mut Vec<u8>) -> usize {
    let now = Instant(0);
    match step {
        Step::FromClient(b) => relay.from_client(pool, b, now),
        Step::FromUpstream(b) => relay.from_upstream(pool, b, now),
        Step::ClientOutput => relay.client_output(pool, out, now),
        Step::UpstreamOutput => relay.upstream_output(pool, out, now),
    }
}

/// Records `requests` small GETs, `concurrency` streams in flight at a time.
pub fn record(requests: u64, concurrency: usize) -> Recording {
    let cfg = Arc::new(Config::default());
    let now = Instant(0);
    let mut pool = pool();
    let mut client = Connection::new(Side::Backend, cfg.clone(), 1, now);
    let mut relay = Relay::new(cfg.clone(), cfg.clone(), 2, now);
    let mut server = Connection::new(Side::Frontend, cfg, 3, now);
    let mut rec = Recording::default();
    let (mut c2r, mut s2r, mut r2c, mut r2s) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut opened = 0u64;
    let mut in_flight = 0usize;
    let mut done = 0u64;
    for _ in 0..requests.saturating_mul(8).saturating_add(1000) {
        while in_flight < concurrency && opened < requests {
            let mut m = Message::request(b"GET", b"http", b"127.0.0.1:10000", b"/small.txt");
            m.fields
                .push(b"user-agent", b"h2load nghttp2/1.52.0", false);
            if client.open_stream(m, true).is_err() {
                break;
            }
            opened += 1;
            in_flight += 1;
        }
        client.drain_output(&mut pool, &mut c2r, usize::MAX, now);
        server.drain_output(&mut pool, &mut s2r, usize::MAX, now);
        let mut moved = false;
        for (pending, from_upstream) in [(&mut c2r, false), (&mut s2r, true)] {
            if pending.is_empty() {
                continue;
            }
            let b = Bytes::from(std::mem::take(pending));
            let step = if from_upstream {
                Step::FromUpstream(b.clone())
            } else {
                Step::FromClient(b.clone())
            };
            let n = apply(&mut relay, &mut pool, &step, &mut Vec::new());
            pending.extend_from_slice(b.get(n..).unwrap_or_default());
            moved |= n > 0;
            rec.steps.push(step);
        }
        rec.to_client += apply(&mut relay, &mut pool, &Step::ClientOutput, &mut r2c) as u64;
        rec.to_upstream += apply(&mut relay, &mut pool, &Step::UpstreamOutput, &mut r2s) as u64;
        rec.steps.push(Step::ClientOutput);
        rec.steps.push(Step::UpstreamOutput);
        if !r2c.is_empty() {
            let n = client.recv(&mut pool, &Bytes::from(std::mem::take(&mut r2c)), now);
            moved |= n > 0;
        }
        if !r2s.is_empty() {
            let n = server.recv(&mut pool, &Bytes::from(std::mem::take(&mut r2s)), now);
            moved |= n > 0;
        }
        while let Some(e) = server.poll_event() {
            moved = true;
            if let Event::Headers {
                stream,
                end_stream: true,
                ..
            } = e
            {
                let mut m = Message::response(200);
                m.fields.push(b"server", b"nghttpd nghttp2/1.52.0", false);
                m.fields
                    .push(b"date", b"Thu, 26 Nov 2026 08:00:00 GMT", false);
                m.fields.push(b"content-length", b"100", false);
                m.fields
                    .push(b"last-modified", b"Wed, 25 Nov 2026 10:00:00 GMT", false);
                m.content_length = Some(100);
                let ok = server.send_headers(stream, m, false).is_ok()
                    && server
                        .send_data(stream, Bytes::from_static(&BODY), true)
                        .is_ok();
                if ok {
                    server.detach(stream);
                }
            }
        }
        while let Some(e) = client.poll_event() {
            moved = true;
            if let Event::Data {
                stream,
                data,
                end_stream,
            } = e
            {
                client.release_capacity(stream, data.len());
                if end_stream {
                    client.detach(stream);
                    in_flight = in_flight.saturating_sub(1);
                    done += 1;
                }
            }
        }
        if !moved && opened >= requests && in_flight == 0 {
            break;
        }
    }
    rec.requests = done;
    relay.release(&mut pool);
    client.release(&mut pool);
    server.release(&mut pool);
    rec
}

/// Makes the recorded calls on a fresh relay. Returns the bytes written to the client and to
/// the upstream, which equal the recording's when the core is deterministic.
pub fn replay(rec: &Recording) -> (u64, u64) {
    let cfg = Arc::new(Config::default());
    let now = Instant(0);
    let mut pool = pool();
    let mut relay = Relay::new(cfg.clone(), cfg, 2, now);
    let mut out = Vec::with_capacity(64 * 1024);
    let (mut to_client, mut to_upstream) = (0u64, 0u64);
    for step in &rec.steps {
        out.clear();
        let n = apply(&mut relay, &mut pool, step, &mut out) as u64;
        match step {
            Step::ClientOutput => to_client += n,
            Step::UpstreamOutput => to_upstream += n,
            _ => {}
        }
    }
    relay.release(&mut pool);
    (to_client, to_upstream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_answered_and_replay_is_exact() {
        let rec = record(250, 10);
        assert_eq!(rec.requests, 250);
        assert!(rec.to_client > 250 * 100, "{rec:?}");
        assert_eq!(replay(&rec), (rec.to_client, rec.to_upstream));
    }
}
