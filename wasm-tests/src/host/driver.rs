//! Connects real HTTP/2 peers through a [`Vm`] with in-memory sockets: the bytes each
//! peer writes are handed to the filter, and what the filter lets through is written to
//! the other peer. Meant for a current-thread tokio runtime, where the pump, the peers and
//! the test's own future take turns, so runs repeat.

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};

use super::vm::{ConnId, HostError, Result, Vm};

/// In-memory socket buffer size, each way.
pub const PIPE_BYTES: usize = 256 * 1024;
/// The proxy stops reading one side while this much waits to be written to the other
/// (the proxy's own back-pressure).
const MAX_QUEUED: usize = 1 << 20;

struct Side {
    io: Option<DuplexStream>,
    /// Bytes for this peer, not yet written into its socket.
    out: Vec<u8>,
    eof_read: bool,
    shut: bool,
}

impl Side {
    fn new(io: DuplexStream) -> Side {
        Side {
            io: Some(io),
            out: Vec::new(),
            eof_read: false,
            shut: false,
        }
    }

    /// Reads what the peer wrote: Some(bytes), or an empty vector at EOF.
    fn read(&mut self, cx: &mut Context<'_>) -> Option<Vec<u8>> {
        let io = self.io.as_mut()?;
        if self.eof_read {
            return None;
        }
        let mut buf = vec![0u8; 64 * 1024];
        let mut rb = ReadBuf::new(&mut buf);
        match Pin::new(io).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => {
                let n = rb.filled().len();
                if n == 0 {
                    self.eof_read = true;
                }
                buf.truncate(n);
                Some(buf)
            }
            Poll::Ready(Err(_)) => {
                self.eof_read = true;
                Some(Vec::new())
            }
            Poll::Pending => None,
        }
    }

    /// Writes queued bytes; then the end of stream or the close. True if anything moved.
    fn flush(&mut self, cx: &mut Context<'_>, eof: bool, closed: bool) -> bool {
        let Some(io) = self.io.as_mut() else {
            return false;
        };
        let mut moved = false;
        while !self.out.is_empty() {
            match Pin::new(&mut *io).poll_write(cx, &self.out) {
                Poll::Ready(Ok(n)) if n > 0 => {
                    self.out.drain(..n);
                    moved = true;
                }
                Poll::Ready(Ok(_)) | Poll::Ready(Err(_)) => {
                    // The peer is gone: what it did not take is lost, as on a socket.
                    self.out.clear();
                    self.io = None;
                    return true;
                }
                Poll::Pending => return moved,
            }
        }
        if closed {
            self.io = None;
            return true;
        }
        if eof && !self.shut && Pin::new(io).poll_shutdown(cx).is_ready() {
            self.shut = true;
            moved = true;
        }
        moved
    }
}

struct Link {
    conn: ConnId,
    client: Side,
    upstream: Side,
}

/// A VM and the connections pumped through it.
pub struct Pump {
    pub vm: Vm,
    links: Vec<Link>,
    /// A tick fires after this many rounds without progress (and every `busy_tick` rounds).
    pub idle_rounds_per_tick: u32,
    pub busy_tick: u32,
    /// Fail after this many ticks in a row with nothing moving.
    pub max_idle_ticks: u32,
}

impl Pump {
    pub fn new(vm: Vm) -> Pump {
        Pump {
            vm,
            links: Vec::new(),
            idle_rounds_per_tick: 3,
            busy_tick: 64,
            max_idle_ticks: 3_000,
        }
    }

    /// Opens a connection: returns its id, the client's socket and the upstream's socket.
    pub fn connect(&mut self) -> Result<(ConnId, DuplexStream, DuplexStream)> {
        let conn = self.vm.open()?;
        let (client_peer, client_host) = tokio::io::duplex(PIPE_BYTES);
        let (up_peer, up_host) = tokio::io::duplex(PIPE_BYTES);
        self.links.push(Link {
            conn,
            client: Side::new(client_host),
            upstream: Side::new(up_host),
        });
        Ok((conn, client_peer, up_peer))
    }

    /// One pass over every connection, without waiting. True if any byte moved.
    pub fn step(&mut self) -> Result<bool> {
        let mut cx = Context::from_waker(Waker::noop());
        let mut moved = false;
        for l in &mut self.links {
            let vm = &mut self.vm;
            let c = l.conn;
            if l.upstream.out.len() < MAX_QUEUED {
                if let Some(b) = l.client.read(&mut cx) {
                    moved = true;
                    if b.is_empty() {
                        vm.client_close(c)?;
                    } else {
                        vm.client_send(c, &b)?;
                    }
                }
            }
            if l.client.out.len() < MAX_QUEUED {
                if let Some(b) = l.upstream.read(&mut cx) {
                    moved = true;
                    if b.is_empty() {
                        vm.upstream_close(c)?;
                    } else {
                        vm.upstream_send(c, &b)?;
                    }
                }
            }
            l.upstream.out.extend(vm.take_to_upstream(c));
            l.client.out.extend(vm.take_to_client(c));
            let closed = vm.is_closed(c);
            moved |= l.upstream.flush(&mut cx, vm.upstream_eof(c), closed);
            moved |= l.client.flush(&mut cx, vm.client_eof(c), closed);
        }
        Ok(moved)
    }

    /// Pumps until `fut` completes, firing ticks when nothing moves (and now and then
    /// while busy, as a real clock would). Fails on a trap or when everything stalls.
    pub async fn run<F: Future>(&mut self, fut: F) -> Result<F::Output> {
        let mut fut = pin!(fut);
        let (mut idle, mut rounds, mut idle_ticks) = (0u32, 0u32, 0u32);
        loop {
            let polled = poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
            if let Poll::Ready(v) = polled {
                return Ok(v);
            }
            let moved = self.step()?;
            tokio::task::yield_now().await;
            rounds += 1;
            if moved {
                idle = 0;
                idle_ticks = 0;
            } else {
                idle += 1;
            }
            if idle >= self.idle_rounds_per_tick || rounds % self.busy_tick == 0 {
                if idle > 0 {
                    idle_ticks += 1;
                }
                idle = 0;
                if !self.vm.tick()? {
                    // No tick period: nothing will ever fire; count rounds instead.
                    idle_ticks += 1;
                }
                if idle_ticks > self.max_idle_ticks {
                    return Err(HostError::Stalled(format!(
                        "nothing moved for {idle_ticks} ticks ({} ms on the VM clock)",
                        self.vm.elapsed_ms()
                    )));
                }
            }
        }
    }
}
