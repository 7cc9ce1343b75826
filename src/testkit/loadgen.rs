//! Small-GET traffic through a whole relay, recorded once and replayed: what the relay does
//! per request in the `make bench` h2load workload, measured without the peers' cost.
//!
//! A live run wires a client connection (requests as h2load sends them, `concurrency`
//! streams at a time), the relay and a server connection (answers shaped like nghttpd's for
//! a 100-byte file) through memory (a [`Chain`]), and records every call made on the relay.
//! The replay makes the same calls on a fresh relay; the core is deterministic, so it sees
//! the same bytes and writes the same bytes, which `replay` checks.

use std::sync::Arc;

use bytes::Bytes;

use super::chain::Chain;
pub use super::chain::{Recording, Step};
use crate::buffer::BufferPool;
use crate::conn::Event;
use crate::limits::Config;
use crate::message::Message;
use crate::relay::Relay;
use crate::time::Instant;

/// The response body: the size of `make bench`'s small file.
static BODY: [u8; 100] = [b'x'; 100];

fn pool() -> BufferPool {
    BufferPool::new(16_384, 256 * 16_384, 64)
}

/// Records `requests` small GETs, `concurrency` streams in flight at a time.
pub fn record(requests: u64, concurrency: usize) -> Recording {
    let mut c = Chain::with_pool(Config::default(), pool());
    c.start_recording();
    let mut opened = 0u64;
    let mut in_flight = 0usize;
    let mut done = 0u64;
    for _ in 0..requests.saturating_mul(8).saturating_add(1000) {
        while in_flight < concurrency && opened < requests {
            let mut m = Message::request(b"GET", b"http", b"127.0.0.1:10000", b"/small.txt");
            m.fields
                .push(b"user-agent", b"h2load nghttp2/1.52.0", false);
            if c.client.open_stream(m, true).is_err() {
                break;
            }
            opened += 1;
            in_flight += 1;
        }
        let moved = c.step();
        for e in std::mem::take(&mut c.server_events) {
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
                let ok = c.server.send_headers(stream, m, false).is_ok()
                    && c.server
                        .send_data(stream, Bytes::from_static(&BODY), true)
                        .is_ok();
                if ok {
                    c.server.detach(stream);
                }
            }
        }
        for e in std::mem::take(&mut c.client_events) {
            if let Event::Data {
                stream,
                data,
                end_stream,
            } = e
            {
                c.client.release_capacity(stream, data.len());
                if end_stream {
                    c.client.detach(stream);
                    in_flight = in_flight.saturating_sub(1);
                    done += 1;
                }
            }
        }
        if !moved && opened >= requests && in_flight == 0 {
            break;
        }
    }
    c.release();
    let mut rec = c.recording.take().unwrap_or_default();
    rec.requests = done;
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
        let n = step.apply(&mut relay, &mut pool, now, &mut out) as u64;
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
