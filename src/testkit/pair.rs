//! Connections driven through memory with a fake clock: `Pair`, a backend (client role) and
//! a frontend (server role) talking to each other, and `Server`, a frontend fed whatever
//! bytes a test writes (see `RawClient`).

use std::sync::Arc;

use bytes::Bytes;

use crate::buffer::BufferPool;
use crate::conn::{Connection, Event, RxBlocked};
use crate::limits::Config;
use crate::side::Side;
use crate::stream::StreamId;
use crate::time::Instant;

/// A pool large enough never to be in the way: 256 buffers of 16 KiB.
pub fn pool() -> BufferPool {
    BufferPool::new(16_384, 256 * 16_384, 4096)
}

/// A frontend fed by a test; collects what it sends back and its events.
pub struct Server {
    pub conn: Connection,
    pub pool: BufferPool,
    pub now: Instant,
    pub out: Vec<u8>,
    pub events: Vec<Event>,
}

impl Server {
    pub fn new(cfg: Config) -> Server {
        Server {
            conn: Connection::new(Side::Frontend, Arc::new(cfg), 1, Instant(0)),
            pool: pool(),
            now: Instant(0),
            out: Vec::new(),
            events: Vec::new(),
        }
    }

    /// Feeds everything (retrying after draining output), returns bytes consumed.
    pub fn feed(&mut self, b: Bytes) -> usize {
        let mut pos = 0;
        for _ in 0..1_000_000 {
            let n = self.conn.recv(&mut self.pool, &b.slice(pos..), self.now);
            pos += n;
            let blocked = self.conn.rx_blocked();
            self.pump();
            if pos >= b.len() || (n == 0 && blocked != Some(RxBlocked::TxRoom)) {
                break;
            }
        }
        pos
    }

    /// Drains all output into `out` and the events into `events`.
    pub fn pump(&mut self) {
        self.conn
            .drain_output(&mut self.pool, &mut self.out, usize::MAX, self.now);
        while let Some(e) = self.conn.poll_event() {
            self.events.push(e);
        }
    }

    pub fn take_out(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.out)
    }
}

/// A backend (client role, id 1) and a frontend (server role, id 2) talking through memory.
pub struct Pair {
    pub client: Connection,
    pub server: Connection,
    pub pool: BufferPool,
    pub now: Instant,
    pub client_events: Vec<Event>,
    pub server_events: Vec<Event>,
    /// Everything the client sent, for replays.
    pub c2s_log: Vec<u8>,
    /// Everything the server sent.
    pub s2c_log: Vec<u8>,
    c2s: Vec<u8>,
    s2c: Vec<u8>,
}

impl Pair {
    pub fn new(client_cfg: Config, server_cfg: Config) -> Pair {
        Pair {
            client: Connection::new(Side::Backend, Arc::new(client_cfg), 1, Instant(0)),
            server: Connection::new(Side::Frontend, Arc::new(server_cfg), 2, Instant(0)),
            pool: pool(),
            now: Instant(0),
            client_events: Vec::new(),
            server_events: Vec::new(),
            c2s_log: Vec::new(),
            s2c_log: Vec::new(),
            c2s: Vec::new(),
            s2c: Vec::new(),
        }
    }

    /// Moves bytes both ways until nothing moves; events are collected.
    ///
    /// # Panics
    /// If the two never settle.
    pub fn run(&mut self) {
        for _ in 0..100_000 {
            let mut moved = false;
            self.drain_client();
            self.drain_server();
            moved |= self.deliver_c2s();
            moved |= self.deliver_s2c();
            while let Some(e) = self.client.poll_event() {
                moved = true;
                self.client_events.push(e);
            }
            while let Some(e) = self.server.poll_event() {
                moved = true;
                self.server_events.push(e);
            }
            if !moved && self.client.output().is_empty() && self.server.output().is_empty() {
                return;
            }
        }
        panic!("pair did not settle");
    }

    /// One round trip, events handed over as they come instead of collected: the client's
    /// output to the server, the server's events to `on_server`, the server's output (what
    /// `on_server` queued included) to the client, the client's events to `on_client`.
    /// True if any bytes were read or any event came.
    pub fn round_trip(
        &mut self,
        mut on_server: impl FnMut(&mut Connection, Event),
        mut on_client: impl FnMut(&mut Connection, Event),
    ) -> bool {
        self.drain_client();
        let mut moved = self.deliver_c2s();
        while let Some(e) = self.server.poll_event() {
            moved = true;
            on_server(&mut self.server, e);
        }
        self.drain_server();
        moved |= self.deliver_s2c();
        while let Some(e) = self.client.poll_event() {
            moved = true;
            on_client(&mut self.client, e);
        }
        moved
    }

    /// Request bodies the server received, per stream, with credit released as read.
    pub fn server_take_data(&mut self) -> Vec<(StreamId, Vec<u8>, bool)> {
        take_data(&mut self.server, &mut self.server_events)
    }

    /// Response bodies the client received, per stream, with credit released as read.
    pub fn client_take_data(&mut self) -> Vec<(StreamId, Vec<u8>, bool)> {
        take_data(&mut self.client, &mut self.client_events)
    }

    /// Releases both connections' buffers to the pool.
    pub fn release(&mut self) {
        self.client.release(&mut self.pool);
        self.server.release(&mut self.pool);
    }

    fn drain_client(&mut self) {
        let before = self.c2s.len();
        self.client
            .drain_output(&mut self.pool, &mut self.c2s, usize::MAX, self.now);
        self.c2s_log.extend_from_slice(&self.c2s[before..]);
    }

    fn drain_server(&mut self) {
        let before = self.s2c.len();
        self.server
            .drain_output(&mut self.pool, &mut self.s2c, usize::MAX, self.now);
        self.s2c_log.extend_from_slice(&self.s2c[before..]);
    }

    /// The client's pending bytes into the server; true if some were read.
    fn deliver_c2s(&mut self) -> bool {
        let (server, pool, now) = (&mut self.server, &mut self.pool, self.now);
        deliver(&mut self.c2s, |b| server.recv(pool, b, now))
    }

    fn deliver_s2c(&mut self) -> bool {
        let (client, pool, now) = (&mut self.client, &mut self.pool, self.now);
        deliver(&mut self.s2c, |b| client.recv(pool, b, now))
    }
}

/// Hands `pending` to a reader that returns how much it consumed; the rest stays pending.
/// True if anything was consumed.
pub fn deliver(pending: &mut Vec<u8>, read: impl FnOnce(&Bytes) -> usize) -> bool {
    if pending.is_empty() {
        return false;
    }
    let b = Bytes::from(std::mem::take(pending));
    let n = read(&b);
    *pending = b[n..].to_vec();
    n > 0
}

/// Takes the DATA events out of `events`, joined per stream in arrival order, releasing
/// their credit on `conn`.
pub fn take_data(conn: &mut Connection, events: &mut Vec<Event>) -> Vec<(StreamId, Vec<u8>, bool)> {
    let mut out: Vec<(StreamId, Vec<u8>, bool)> = Vec::new();
    events.retain(|e| match e {
        Event::Data {
            stream,
            data,
            end_stream,
        } => {
            conn.release_capacity(*stream, data.len());
            match out.iter_mut().find(|(s, _, _)| s == stream) {
                Some(entry) => {
                    entry.1.extend_from_slice(data);
                    entry.2 |= *end_stream;
                }
                None => out.push((*stream, data.to_vec(), *end_stream)),
            }
            false
        }
        _ => true,
    });
    out
}

/// What must hold when a test's connections go away: each one passes its audit (keys,
/// queues, credit), and once released the pool has every buffer back. Checked in debug
/// builds when a harness is dropped, unless the test is already failing.
pub fn check_on_drop(conns: &[&Connection], pool: &BufferPool, what: &str) {
    if !cfg!(debug_assertions) || std::thread::panicking() {
        return;
    }
    for c in conns {
        if let Err(rule) = c.audit() {
            panic!("{what}: {} connection audit: {rule}", c.side().name());
        }
    }
    assert_eq!(
        pool.in_use(),
        0,
        "{what}: buffers left in use after release"
    );
    assert_eq!(pool.waiters(), 0, "{what}: waiters left after release");
}

impl Drop for Server {
    fn drop(&mut self) {
        self.conn.release(&mut self.pool);
        check_on_drop(&[&self.conn], &self.pool, "Server");
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        self.release();
        check_on_drop(&[&self.client, &self.server], &self.pool, "Pair");
    }
}
