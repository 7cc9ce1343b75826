//! A client connection, a relay and a server connection wired through memory: the relay
//! between two real peers, without the host's write rules (wasm-tests models those). The
//! calls made on the relay can be recorded, to be replayed on a fresh relay.

use std::sync::Arc;

use bytes::Bytes;

use super::pair::{deliver, take_data};
use crate::buffer::BufferPool;
use crate::conn::{Connection, Event};
use crate::limits::Config;
use crate::message::Message;
use crate::relay::Relay;
use crate::side::Side;
use crate::stream::StreamId;
use crate::time::Instant;

/// One call on the relay.
#[derive(Clone, Debug)]
pub enum Step {
    FromClient(Bytes),
    FromUpstream(Bytes),
    ClientOutput,
    UpstreamOutput,
}

impl Step {
    /// Makes the call on `relay`: bytes consumed for input, bytes written to `out` for
    /// output.
    pub fn apply(
        &self,
        relay: &mut Relay,
        pool: &mut BufferPool,
        now: Instant,
        out: &mut Vec<u8>,
    ) -> usize {
        match self {
            Step::FromClient(b) => relay.from_client(pool, b, now),
            Step::FromUpstream(b) => relay.from_upstream(pool, b, now),
            Step::ClientOutput => relay.client_output(pool, out, now),
            Step::UpstreamOutput => relay.upstream_output(pool, out, now),
        }
    }
}

/// A recorded run and the outcome a replay must reproduce.
#[derive(Clone, Debug, Default)]
pub struct Recording {
    pub steps: Vec<Step>,
    pub requests: u64,
    /// Bytes the relay wrote to the client and to the upstream.
    pub to_client: u64,
    pub to_upstream: u64,
}

/// Client (id 1), relay (id 2) and server (id 3), with the bytes in flight between them.
pub struct Chain {
    pub client: Connection,
    pub relay: Relay,
    pub server: Connection,
    pub pool: BufferPool,
    pub now: Instant,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
    /// Raw bytes the server writes instead of its connection's (a non-HTTP/2 upstream).
    pub server_raw: Option<Vec<u8>>,
    /// Client to relay, server to relay, relay to client, relay to server.
    pub c2r: Vec<u8>,
    pub s2r: Vec<u8>,
    pub r2c: Vec<u8>,
    pub r2s: Vec<u8>,
    /// Every call made on the relay, once `start_recording` was called.
    pub recording: Option<Recording>,
    /// When set, the upstream is the test itself: what the relay writes upstream lands
    /// here instead of in `server` (an HTTP/1.1 upstream, say), and `server_raw` answers.
    pub upstream_wire: Option<Vec<u8>>,
}

impl Chain {
    /// Default configurations for the client and both sides of the relay; a pool of 512
    /// buffers of 16 KiB.
    pub fn new(server_cfg: Config) -> Chain {
        Chain::with_pool(server_cfg, BufferPool::new(16_384, 512 * 16_384, 64))
    }

    pub fn with_pool(server_cfg: Config, pool: BufferPool) -> Chain {
        Chain::with_relay(server_cfg, Config::default(), Config::default(), pool)
    }

    /// An HTTP/2 client in front of a relay whose upstream side speaks HTTP/1.1, and the
    /// test as that upstream (`upstream_wire`, `server_raw`).
    pub fn h1_upstream(front: Config) -> Chain {
        let back = Config {
            http1: true,
            ..Config::default()
        };
        let mut c = Chain::with_relay(
            Config::default(),
            front,
            back,
            BufferPool::new(16_384, 512 * 16_384, 64),
        );
        c.upstream_wire = Some(Vec::new());
        c
    }

    /// Every configuration given.
    pub fn with_relay(server_cfg: Config, front: Config, back: Config, pool: BufferPool) -> Chain {
        Chain {
            client: Connection::new(Side::Backend, Arc::new(Config::default()), 1, Instant(0)),
            relay: Relay::new(Arc::new(front), Arc::new(back), 2, Instant(0)),
            server: Connection::new(Side::Frontend, Arc::new(server_cfg), 3, Instant(0)),
            pool,
            now: Instant(0),
            client_events: Vec::new(),
            server_events: Vec::new(),
            server_raw: None,
            c2r: Vec::new(),
            s2r: Vec::new(),
            r2c: Vec::new(),
            r2s: Vec::new(),
            recording: None,
            upstream_wire: None,
        }
    }

    /// Records the relay calls of every later step.
    pub fn start_recording(&mut self) {
        self.recording = Some(Recording::default());
    }

    /// One pass: both peers' output into the relay, the relay's output in both directions
    /// into the peers, the peers' events collected. True if anything moved.
    pub fn step(&mut self) -> bool {
        let mut moved = false;
        self.client
            .drain_output(&mut self.pool, &mut self.c2r, usize::MAX, self.now);
        match self.server_raw.take() {
            Some(raw) => self.s2r.extend_from_slice(&raw),
            None => {
                self.server
                    .drain_output(&mut self.pool, &mut self.s2r, usize::MAX, self.now);
            }
        }
        let (relay, pool, now, rec) = (
            &mut self.relay,
            &mut self.pool,
            self.now,
            &mut self.recording,
        );
        moved |= deliver(&mut self.c2r, |b| {
            call(
                rec,
                relay,
                pool,
                now,
                Step::FromClient(b.clone()),
                &mut Vec::new(),
            )
        });
        moved |= deliver(&mut self.s2r, |b| {
            call(
                rec,
                relay,
                pool,
                now,
                Step::FromUpstream(b.clone()),
                &mut Vec::new(),
            )
        });
        call(rec, relay, pool, now, Step::ClientOutput, &mut self.r2c);
        call(rec, relay, pool, now, Step::UpstreamOutput, &mut self.r2s);
        let client = &mut self.client;
        moved |= deliver(&mut self.r2c, |b| client.recv(pool, b, now));
        if let Some(wire) = self.upstream_wire.as_mut() {
            moved |= !self.r2s.is_empty();
            wire.append(&mut self.r2s);
        }
        let server = &mut self.server;
        moved |= deliver(&mut self.r2s, |b| server.recv(pool, b, now));
        while let Some(e) = self.client.poll_event() {
            moved = true;
            self.client_events.push(e);
        }
        while let Some(e) = self.server.poll_event() {
            moved = true;
            self.server_events.push(e);
        }
        moved
    }

    /// Steps until nothing moves.
    ///
    /// # Panics
    /// If the chain never settles.
    pub fn run(&mut self) {
        for _ in 0..100_000 {
            if !self.step() {
                return;
            }
        }
        panic!("chain did not settle");
    }

    /// The server side of a test: answers every request head with 200 and a body echoing
    /// what it received, once the request ended. Returns the bodies received.
    ///
    /// # Panics
    /// If a request body has not ended yet.
    pub fn serve_echo(&mut self) -> Vec<(StreamId, Vec<u8>)> {
        let mut done = Vec::new();
        let mut bodies: Vec<(StreamId, Vec<u8>, bool)> = Vec::new();
        for e in std::mem::take(&mut self.server_events) {
            match e {
                Event::Headers {
                    stream, end_stream, ..
                } => bodies.push((stream, Vec::new(), end_stream)),
                Event::Data {
                    stream,
                    data,
                    end_stream,
                } => {
                    self.server.release_capacity(stream, data.len());
                    if let Some(b) = bodies.iter_mut().find(|b| b.0 == stream) {
                        b.1.extend_from_slice(&data);
                        b.2 |= end_stream;
                    }
                }
                other => self.server_events.push(other),
            }
        }
        for (stream, body, ended) in bodies {
            assert!(ended, "request body still open in this helper");
            self.server
                .send_headers(stream, Message::response(200), false)
                .unwrap();
            self.server
                .send_data(stream, Bytes::from(body.clone()), true)
                .unwrap();
            // This owner is done with the stream once its answer is queued.
            self.server.detach(stream);
            done.push((stream, body));
        }
        done
    }

    /// Response bodies the client received, per stream, with credit released as read.
    pub fn client_bodies(&mut self) -> Vec<(StreamId, Vec<u8>, bool)> {
        take_data(&mut self.client, &mut self.client_events)
    }

    /// Releases every connection's buffers to the pool.
    pub fn release(&mut self) {
        self.relay.release(&mut self.pool);
        self.client.release(&mut self.pool);
        self.server.release(&mut self.pool);
    }
}

/// Makes one relay call, recording it (and the bytes written) when recording.
fn call(
    rec: &mut Option<Recording>,
    relay: &mut Relay,
    pool: &mut BufferPool,
    now: Instant,
    step: Step,
    out: &mut Vec<u8>,
) -> usize {
    let n = step.apply(relay, pool, now, out);
    if let Some(rec) = rec {
        match step {
            Step::ClientOutput => rec.to_client += n as u64,
            Step::UpstreamOutput => rec.to_upstream += n as u64,
            _ => {}
        }
        rec.steps.push(step);
    }
    n
}

impl Drop for Chain {
    fn drop(&mut self) {
        self.release();
        if cfg!(debug_assertions) && !std::thread::panicking() {
            if let Err(rule) = self.relay.audit() {
                panic!("Chain: relay audit: {rule}");
            }
        }
        super::pair::check_on_drop(&[&self.client, &self.server], &self.pool, "Chain");
    }
}
