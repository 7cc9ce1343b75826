//! Socket mode: the filter between real TCP sockets, run the way a proxy worker runs a
//! network filter followed by a TCP proxy. One VM serves every connection and everything
//! happens on one thread: a single future polls the listener, every socket and the tick
//! timer, and calls into the VM between polls (never while a socket blocks).

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;

use crate::host::abi::{log_level, peer};
use crate::host::{ConnId, HostError, HostEvent, Vm, VmOptions};

/// How the socket host runs.
#[derive(Clone, Debug)]
pub struct Options {
    pub upstream: SocketAddr,
    /// The plugin configuration (JSON text).
    pub plugin_config: String,
    /// Held client bytes beyond this stop reading that client (per connection).
    pub buffer_limit: usize,
    /// One line on stderr per connection opened and closed.
    pub verbose: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            upstream: SocketAddr::from(([127, 0, 0, 1], 8080)),
            plugin_config: "{}".into(),
            buffer_limit: 1 << 20,
            verbose: false,
        }
    }
}

/// What the host saw, readable from other threads.
#[derive(Debug, Default)]
pub struct Counters {
    pub accepted: AtomicU64,
    pub closed: AtomicU64,
    /// The filter held client bytes (returned Pause).
    pub pauses: AtomicU64,
    /// The host stopped reading a client (held bytes past the buffer limit).
    pub reads_stopped: AtomicU64,
}

impl Counters {
    pub fn get(c: &AtomicU64) -> u64 {
        c.load(Ordering::Relaxed)
    }
}

/// Bytes taken from a socket per read.
const READ_CHUNK: usize = 64 * 1024;
/// A side stops being read while this much waits to be written to the other side.
const MAX_QUEUED: usize = 1 << 20;
/// A closed connection whose peer does not take its last bytes is dropped after this.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

type Connecting = Pin<Box<dyn Future<Output = io::Result<TcpStream>>>>;

enum Upstream {
    Connecting(Connecting),
    Open(TcpStream),
    Gone,
}

/// One side's socket and the bytes queued toward it.
#[derive(Default)]
struct Out {
    queued: BytesMut,
    /// FIN sent.
    shut: bool,
    /// End of stream (or an error) read from it.
    eof: bool,
    read: u64,
    written: u64,
}

struct Link {
    id: ConnId,
    peer: SocketAddr,
    opened: Instant,
    client: Option<TcpStream>,
    upstream: Upstream,
    c: Out,
    u: Out,
    closed_at: Option<Instant>,
    /// Times the host stopped reading the client (held bytes past the limit).
    reads_stopped: u32,
    /// Times the filter held client bytes (returned Pause).
    pauses: u32,
}

/// The listener, the VM and the connections in flight.
pub struct SocketHost {
    vm: Vm,
    listener: TcpListener,
    opts: Options,
    links: Vec<Link>,
    start: Instant,
    /// Milliseconds the VM clock has been moved since `start`.
    clock_ms: u64,
    timer: Pin<Box<Sleep>>,
    buf: Vec<u8>,
    counters: Arc<Counters>,
}

impl SocketHost {
    /// Loads the module (`H2MUX_WASM` or the default path) and configures it. Needs a
    /// tokio runtime with I/O and time enabled.
    pub fn new(listener: std::net::TcpListener, opts: Options) -> Result<SocketHost, HostError> {
        let start_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let vm = Vm::with_options(VmOptions {
            plugin_config: opts.plugin_config.clone(),
            buffer_limit: opts.buffer_limit,
            start_ns,
            // Printed from the records instead (see `records`).
            echo_logs: false,
            ..VmOptions::default()
        })?;
        if !vm.configured() {
            return Err(HostError::Load(format!(
                "the filter rejected its configuration {}",
                opts.plugin_config
            )));
        }
        let io = |e: io::Error| HostError::Load(format!("listener: {e}"));
        listener.set_nonblocking(true).map_err(io)?;
        let listener = TcpListener::from_std(listener).map_err(io)?;
        Ok(SocketHost {
            vm,
            listener,
            opts,
            links: Vec::new(),
            start: Instant::now(),
            clock_ms: 0,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
            buf: vec![0; READ_CHUNK],
            counters: Arc::default(),
        })
    }

    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until the VM traps.
    pub async fn run(mut self) -> Result<(), HostError> {
        poll_fn(|cx| self.poll_run(cx)).await
    }

    fn poll_run(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), HostError>> {
        loop {
            let mut moved = self.accept(cx)?;
            moved |= self.clock()?;
            for i in 0..self.links.len() {
                moved |= self.pump(i, cx)?;
            }
            self.records();
            self.reap();
            if moved {
                continue;
            }
            // Every socket polled returned Pending (and will wake us): wait for the next
            // tick or drain deadline too.
            let deadline = self.deadline();
            self.timer.as_mut().reset(deadline.into());
            if self.timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
    }

    fn accept(&mut self, cx: &mut Context<'_>) -> Result<bool, HostError> {
        let mut moved = false;
        loop {
            let (client, peer_addr) = match self.listener.poll_accept(cx) {
                Poll::Pending => return Ok(moved),
                Poll::Ready(Ok(a)) => a,
                Poll::Ready(Err(e)) => {
                    eprintln!("h2mux-socket-host: accept: {e}");
                    return Ok(moved);
                }
            };
            moved = true;
            self.counters.accepted.fetch_add(1, Ordering::Relaxed);
            let _ = client.set_nodelay(true);
            // The filter sees the connection before the upstream is reached; the client is
            // read only once it is.
            let id = self.vm.open()?;
            if self.opts.verbose {
                eprintln!("conn {} open from {peer_addr}", id.0);
            }
            let addr = self.opts.upstream;
            self.links.push(Link {
                id,
                peer: peer_addr,
                opened: Instant::now(),
                client: Some(client),
                upstream: Upstream::Connecting(Box::pin(TcpStream::connect(addr))),
                c: Out::default(),
                u: Out::default(),
                closed_at: None,
                reads_stopped: 0,
                pauses: 0,
            });
        }
    }

    /// Moves the VM clock to the real one, firing the ticks due. True if any fired.
    fn clock(&mut self) -> Result<bool, HostError> {
        let now = self.start.elapsed().as_millis() as u64;
        if now <= self.clock_ms {
            return Ok(false);
        }
        let before = self.vm.ticks();
        self.vm.advance(now - self.clock_ms)?;
        self.clock_ms = now;
        Ok(self.vm.ticks() != before)
    }

    fn deadline(&self) -> Instant {
        let mut at = self.start + Duration::from_millis(self.clock_ms) + Duration::from_secs(3600);
        if let Some(ms) = self.vm.next_tick_in_ms() {
            at = at.min(self.start + Duration::from_millis(self.clock_ms + ms.max(1)));
        }
        for l in &self.links {
            if let Some(t) = l.closed_at {
                at = at.min(t + DRAIN_TIMEOUT);
            }
        }
        at
    }

    /// One pass over one connection: connect, read each side into the filter, write what it
    /// let through. True if anything moved.
    fn pump(&mut self, i: usize, cx: &mut Context<'_>) -> Result<bool, HostError> {
        let upstream_addr = self.opts.upstream;
        let SocketHost { vm, links, buf, .. } = self;
        let l = &mut links[i];
        let id = l.id;
        let mut moved = false;
        if let Upstream::Connecting(f) = &mut l.upstream {
            if vm.is_closed(id) {
                l.upstream = Upstream::Gone;
            } else if let Poll::Ready(r) = f.as_mut().poll(cx) {
                moved = true;
                match r {
                    Ok(s) => {
                        let _ = s.set_nodelay(true);
                        l.upstream = Upstream::Open(s);
                    }
                    Err(e) => {
                        eprintln!("conn {}: upstream {upstream_addr}: {e}", id.0);
                        l.upstream = Upstream::Gone;
                        vm.close(id, peer::LOCAL)?;
                    }
                }
            }
        }
        if let (Upstream::Open(up), Some(client)) = (&mut l.upstream, &mut l.client) {
            // Client to filter, unless the host stopped reading (held bytes past the
            // limit) or the upstream is not taking what it already has.
            let readable = !l.c.eof
                && !vm.is_closed(id)
                && !vm.is_read_disabled(id)
                && vm.unread_downstream(id) == 0
                && l.u.queued.len() < MAX_QUEUED;
            if readable {
                if let Poll::Ready(r) = read(client, cx, buf) {
                    moved = true;
                    match r {
                        Ok(0) => {
                            l.c.eof = true;
                            vm.client_close(id)?;
                        }
                        Ok(n) => {
                            l.c.read += n as u64;
                            vm.client_send(id, &buf[..n])?;
                        }
                        Err(_) => {
                            l.c.eof = true;
                            vm.close(id, peer::REMOTE)?;
                        }
                    }
                }
            }
            if !l.u.eof && !vm.is_closed(id) && l.c.queued.len() < MAX_QUEUED {
                if let Poll::Ready(r) = read(up, cx, buf) {
                    moved = true;
                    match r {
                        Ok(n) if n > 0 => {
                            l.u.read += n as u64;
                            vm.upstream_send(id, &buf[..n])?;
                        }
                        _ => {
                            l.u.eof = true;
                            vm.upstream_close(id)?;
                        }
                    }
                }
            }
        }
        l.u.queued.extend_from_slice(&vm.take_to_upstream(id));
        l.c.queued.extend_from_slice(&vm.take_to_client(id));
        if let Upstream::Open(up) = &mut l.upstream {
            match flush(up, &mut l.u, vm.upstream_eof(id), cx) {
                Ok(m) => moved |= m,
                Err(_) => {
                    moved = true;
                    l.upstream = Upstream::Gone;
                    l.u.queued.clear();
                    if !l.u.eof {
                        l.u.eof = true;
                        vm.upstream_close(id)?;
                    }
                    l.c.queued.extend_from_slice(&vm.take_to_client(id));
                }
            }
        }
        if let Some(client) = &mut l.client {
            match flush(client, &mut l.c, vm.client_eof(id), cx) {
                Ok(m) => moved |= m,
                Err(_) => {
                    moved = true;
                    l.client = None;
                    l.c.queued.clear();
                    if !vm.is_closed(id) {
                        vm.close(id, peer::REMOTE)?;
                    }
                }
            }
        }
        if vm.is_closed(id) && l.closed_at.is_none() {
            l.closed_at = Some(Instant::now());
            moved = true;
        }
        Ok(moved)
    }

    /// Prints the filter's log lines (warnings and worse, everything when verbose) and
    /// counts stopped reads per connection; the VM keeps none of it.
    fn records(&mut self) {
        let (logs, events, refusals) = self.vm.take_records();
        for l in logs {
            if self.opts.verbose || l.level >= log_level::WARN {
                let level = log_level::name(l.level);
                eprintln!("[filter {level}] ctx {}: {}", l.context, l.message);
            }
        }
        for r in refusals {
            if r.call != "proxy_get_property" {
                eprintln!(
                    "[host] ctx {}: {} refused ({}): {}",
                    r.context, r.call, r.status, r.detail
                );
            }
        }
        for e in events {
            let (HostEvent::ReadDisabled(id) | HostEvent::Paused(id)) = e else {
                continue;
            };
            if let Some(l) = self.links.iter_mut().find(|l| l.id.0 == id) {
                let (mine, all) = match e {
                    HostEvent::Paused(_) => (&mut l.pauses, &self.counters.pauses),
                    _ => (&mut l.reads_stopped, &self.counters.reads_stopped),
                };
                *mine += 1;
                all.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Drops connections that are closed and have delivered their last bytes (or given up).
    fn reap(&mut self) {
        let verbose = self.opts.verbose;
        let counters = &self.counters;
        self.links.retain(|l| {
            let Some(at) = l.closed_at else {
                return true;
            };
            let client_done = l.client.is_none() || l.c.queued.is_empty();
            let upstream_done = !matches!(l.upstream, Upstream::Open(_)) || l.u.queued.is_empty();
            let done = (client_done && upstream_done) || at.elapsed() >= DRAIN_TIMEOUT;
            if done {
                counters.closed.fetch_add(1, Ordering::Relaxed);
            }
            if done && verbose {
                eprintln!(
                    "conn {} closed ({}): {} bytes in, {} bytes out, upstream {} in, {} out, \
                     {} pauses, reads stopped {} times, {} ms",
                    l.id.0,
                    l.peer,
                    l.c.read,
                    l.c.written,
                    l.u.read,
                    l.u.written,
                    l.pauses,
                    l.reads_stopped,
                    l.opened.elapsed().as_millis()
                );
            }
            !done
        });
    }

    /// Connections not yet dropped.
    pub fn connections(&self) -> usize {
        self.links.len()
    }
}

fn read(s: &mut TcpStream, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
    let mut rb = ReadBuf::new(buf);
    match Pin::new(s).poll_read(cx, &mut rb) {
        Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

/// Writes what is queued, then FIN once `eof` and everything is out. Err: the peer is gone.
fn flush(s: &mut TcpStream, out: &mut Out, eof: bool, cx: &mut Context<'_>) -> io::Result<bool> {
    let mut moved = false;
    while !out.queued.is_empty() {
        match Pin::new(&mut *s).poll_write(cx, &out.queued) {
            Poll::Ready(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
            Poll::Ready(Ok(n)) => {
                out.queued.advance(n);
                out.written += n as u64;
                moved = true;
            }
            Poll::Ready(Err(e)) => return Err(e),
            Poll::Pending => return Ok(moved),
        }
    }
    if eof && !out.shut && Pin::new(s).poll_shutdown(cx).is_ready() {
        out.shut = true;
        moved = true;
    }
    Ok(moved)
}

/// Runs a socket host on its own thread (with its own current-thread runtime), listening
/// on `listen` (port 0 picks one). Returns the address and the host's counters once the
/// module is loaded.
pub fn spawn(listen: &str, opts: Options) -> io::Result<(SocketAddr, Arc<Counters>)> {
    let listener = std::net::TcpListener::bind(listen)?;
    let addr = listener.local_addr()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name(format!("socket-host-{}", addr.port()))
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return tx.send(Err(e.to_string())).unwrap_or(()),
            };
            let host = {
                let _guard = rt.enter();
                SocketHost::new(listener, opts)
            };
            match host {
                Ok(h) => {
                    let _ = tx.send(Ok(h.counters()));
                    if let Err(e) = rt.block_on(h.run()) {
                        eprintln!("h2mux-socket-host: {e}");
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e.to_string()));
                }
            }
        })?;
    match rx.recv() {
        Ok(Ok(counters)) => Ok((addr, counters)),
        Ok(Err(e)) => Err(io::Error::other(e)),
        Err(_) => Err(io::Error::other("the socket host thread died")),
    }
}
