//! Peers around the model host, wired through memory: on the client's side a real client
//! connection (`Side::Backend`) or raw bytes, on the upstream's a real server connection
//! (`Side::Frontend`) that answers requests, or a silent one.

use std::sync::Arc;

use bytes::Bytes;

use super::model::Host;
use crate::buffer::BufferPool;
use crate::conn::{Connection, Event};
use crate::limits::Config;
use crate::message::Message;
use crate::shell::{Capabilities, ConnId};
use crate::side::Side;
use crate::stream::StreamId;

pub enum Client {
    H2(Box<Connection>),
    /// Bytes written by the test; what comes back is kept in `Link::raw_in`.
    Raw,
}

pub enum Upstream {
    /// Answers each request once it ended: 200 and the request body (`Echo`), or its
    /// length and a hash (`Digest`).
    H2(Box<Connection>, Answer),
    /// Accepts and never writes.
    Silent,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Echo,
    Digest,
}

/// A request body as the upstream received it.
#[derive(Default)]
pub(crate) struct Received {
    stream: StreamId,
    pub(crate) body: Vec<u8>,
    ended: bool,
}

/// One client connection and its upstream.
pub struct Link {
    pub id: ConnId,
    pub client: Client,
    pub upstream: Upstream,
    /// Bytes on their way to the client / upstream peer, not consumed yet.
    to_client: Vec<u8>,
    to_upstream: Vec<u8>,
    /// Everything a raw client received.
    pub raw_in: Vec<u8>,
    /// Everything a silent upstream received.
    pub silent_in: Vec<u8>,
    pub client_events: Vec<Event>,
    pub(crate) received: Vec<Received>,
    /// The upstream saw the end of the bytes toward it and closed.
    upstream_closed: bool,
    /// The upstream peer neither reads nor writes for now (bytes wait for it).
    pub stalled: bool,
}

/// A response as the client received it.
#[derive(Debug, Default, Clone)]
pub struct Response {
    pub status: Option<u16>,
    pub body: Vec<u8>,
    pub ended: bool,
}

/// The model host and the peers of every connection.
pub struct Net {
    pub host: Host,
    /// The peers' own pool (not the shell's).
    pool: BufferPool,
    pub links: Vec<Link>,
}

impl Net {
    pub fn new(config: &str, caps: Capabilities) -> Net {
        Net::with_host(Host::new(config, caps))
    }

    pub fn with_host(host: Host) -> Net {
        Net {
            host,
            pool: BufferPool::new(16_384, 4096 * 16_384, 1 << 16),
            links: Vec::new(),
        }
    }

    /// A new connection through the host: returns its link's index.
    pub fn connect(&mut self, client: Client, upstream: Upstream) -> usize {
        let id = self.host.open();
        self.links.push(Link {
            id,
            client,
            upstream,
            to_client: Vec::new(),
            to_upstream: Vec::new(),
            raw_in: Vec::new(),
            silent_in: Vec::new(),
            client_events: Vec::new(),
            received: Vec::new(),
            upstream_closed: false,
            stalled: false,
        });
        self.links.len() - 1
    }

    /// A real client and an upstream answering with `answer`.
    pub fn connect_h2(&mut self, answer: Answer) -> usize {
        let now = self.host.now;
        let client = Connection::new(Side::Backend, Arc::new(Config::default()), 0, now);
        let server = Connection::new(Side::Frontend, Arc::new(Config::default()), 0, now);
        self.connect(
            Client::H2(Box::new(client)),
            Upstream::H2(Box::new(server), answer),
        )
    }

    pub fn id(&self, link: usize) -> ConnId {
        self.links[link].id
    }

    pub fn client(&mut self, link: usize) -> &mut Connection {
        match &mut self.links[link].client {
            Client::H2(c) => c,
            Client::Raw => panic!("link {link} has a raw client"),
        }
    }

    /// Opens a request on the client with `body`.
    pub fn request(&mut self, link: usize, method: &str, path: &str, body: &[u8]) -> StreamId {
        let m = Message::request(method.as_bytes(), b"http", b"example.com", path.as_bytes());
        let c = self.client(link);
        let id = c.open_stream(m, body.is_empty()).unwrap();
        if !body.is_empty() {
            c.send_data(id, Bytes::copy_from_slice(body), true).unwrap();
        }
        id
    }

    /// Raw client bytes.
    pub fn send_raw(&mut self, link: usize, bytes: &[u8]) {
        let id = self.links[link].id;
        self.host.client_send(id, bytes);
    }

    /// Moves bytes until nothing moves (no clock change).
    pub fn run(&mut self) {
        for _ in 0..1_000_000 {
            let mut moved = false;
            for i in 0..self.links.len() {
                moved |= self.step(i);
            }
            if !moved {
                return;
            }
        }
        panic!("the peers did not settle");
    }

    /// Runs, then lets `ms` of clock pass tick by tick, running after each tick.
    pub fn run_for(&mut self, ms: u64) {
        let end = self.host.now.after(ms);
        self.run();
        while self.host.now < end {
            self.host.tick();
            self.run();
        }
    }

    /// Runs and ticks until `done` holds; panics after `max_ms` of clock.
    pub fn run_until(&mut self, max_ms: u64, mut done: impl FnMut(&mut Net) -> bool) {
        let end = self.host.now.after(max_ms);
        self.run();
        while !done(self) {
            assert!(self.host.now < end, "not done after {max_ms} ms");
            self.host.tick();
            self.run();
        }
    }

    fn step(&mut self, i: usize) -> bool {
        let Net { host, pool, links } = self;
        let l = &mut links[i];
        let id = l.id;
        let now = host.now;
        let mut moved = false;
        let mut out = Vec::new();
        if let Client::H2(c) = &mut l.client {
            c.drain_output(pool, &mut out, usize::MAX, now);
            if !out.is_empty() {
                host.client_send(id, &out);
                moved = true;
            }
        }
        out.clear();
        if let (Upstream::H2(s, _), false) = (&mut l.upstream, l.stalled) {
            s.drain_output(pool, &mut out, usize::MAX, now);
            if !out.is_empty() {
                host.upstream_send(id, &out);
                moved = true;
            }
        }
        let up = host.take_to_upstream(id);
        if !up.is_empty() {
            moved = true;
            match &l.upstream {
                Upstream::H2(..) => l.to_upstream.extend_from_slice(&up),
                Upstream::Silent => l.silent_in.extend_from_slice(&up),
            }
        }
        let down = host.take_to_client(id);
        if !down.is_empty() {
            moved = true;
            match &l.client {
                Client::H2(_) => l.to_client.extend_from_slice(&down),
                Client::Raw => l.raw_in.extend_from_slice(&down),
            }
        }
        if let Client::H2(c) = &mut l.client {
            moved |= feed(&mut l.to_client, |b| c.recv(pool, b, now));
            while let Some(e) = c.poll_event() {
                moved = true;
                if let Event::Data { stream, data, .. } = &e {
                    c.release_capacity(*stream, data.len());
                }
                l.client_events.push(e);
            }
        }
        if let (Upstream::H2(s, answer), false) = (&mut l.upstream, l.stalled) {
            moved |= feed(&mut l.to_upstream, |b| s.recv(pool, b, now));
            moved |= serve(s, *answer, &mut l.received);
        }
        // A server closes once its client's bytes end.
        if !l.upstream_closed && host.sock(id).upstream_fin && !host.is_closed(id) {
            l.upstream_closed = true;
            host.upstream_close(id);
            moved = true;
        }
        moved
    }

    /// The responses the client of `link` received, by stream.
    pub fn responses(&self, link: usize) -> Vec<(StreamId, Response)> {
        let mut out: Vec<(StreamId, Response)> = Vec::new();
        for e in &self.links[link].client_events {
            let (stream, f): (StreamId, &dyn Fn(&mut Response)) = match e {
                Event::Headers {
                    stream,
                    message,
                    end_stream,
                } => (*stream, &|r: &mut Response| {
                    r.status = message.status();
                    r.ended |= *end_stream;
                }),
                Event::Data {
                    stream,
                    data,
                    end_stream,
                } => (*stream, &|r: &mut Response| {
                    r.body.extend_from_slice(data);
                    r.ended |= *end_stream;
                }),
                _ => continue,
            };
            match out.iter_mut().find(|(s, _)| *s == stream) {
                Some((_, r)) => f(r),
                None => {
                    let mut r = Response::default();
                    f(&mut r);
                    out.push((stream, r));
                }
            }
        }
        out
    }

    /// The one response on `link`'s stream `stream`.
    pub fn response(&self, link: usize, stream: StreamId) -> Response {
        self.responses(link)
            .into_iter()
            .find(|(s, _)| *s == stream)
            .map(|(_, r)| r)
            .unwrap_or_default()
    }
}

/// The upstream's answers: each request that ended gets its response.
fn serve(s: &mut Connection, answer: Answer, received: &mut Vec<Received>) -> bool {
    let mut moved = false;
    while let Some(e) = s.poll_event() {
        moved = true;
        match e {
            Event::Headers {
                stream, end_stream, ..
            } => received.push(Received {
                stream,
                body: Vec::new(),
                ended: end_stream,
            }),
            Event::Data {
                stream,
                data,
                end_stream,
            } => {
                s.release_capacity(stream, data.len());
                if let Some(r) = received.iter_mut().find(|r| r.stream == stream) {
                    r.body.extend_from_slice(&data);
                    r.ended |= end_stream;
                }
            }
            _ => {}
        }
    }
    for r in received.iter_mut().filter(|r| r.ended) {
        let body = match answer {
            Answer::Echo => std::mem::take(&mut r.body),
            Answer::Digest => digest(&r.body).into_bytes(),
        };
        s.send_headers(r.stream, Message::response(200), false)
            .unwrap();
        s.send_data(r.stream, Bytes::from(body), true).unwrap();
        s.detach(r.stream);
    }
    received.retain(|r| !r.ended);
    moved
}

/// Length and FNV-1a hash of a body, as text.
pub fn digest(body: &[u8]) -> String {
    let h = body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{} {h:016x}\n", body.len())
}

/// Feeds what `buf` holds to `recv`, keeping what it did not take.
fn feed(buf: &mut Vec<u8>, mut recv: impl FnMut(&Bytes) -> usize) -> bool {
    if buf.is_empty() {
        return false;
    }
    let b = Bytes::from(std::mem::take(buf));
    let n = recv(&b);
    *buf = b[n..].to_vec();
    n > 0
}

/// Bytes of a varied pattern.
pub fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ (i >> 8) as u8)
        .collect()
}

/// Splits raw bytes into frames (type, flags, stream, payload), skipping a preface.
pub fn frames(mut b: &[u8]) -> Vec<(u8, u8, u32, Vec<u8>)> {
    if b.starts_with(crate::frame::PREFACE) {
        b = &b[crate::frame::PREFACE.len()..];
    }
    let mut out = Vec::new();
    while b.len() >= 9 {
        let len = u32::from_be_bytes([0, b[0], b[1], b[2]]) as usize;
        if b.len() < 9 + len {
            break;
        }
        let stream = u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff;
        out.push((b[3], b[4], stream, b[9..9 + len].to_vec()));
        b = &b[9 + len..];
    }
    out
}
