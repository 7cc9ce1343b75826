//! A model of the host the shell runs in, written from Envoy 1.40's measured rules for a
//! proxy-wasm network filter (the same rules `wasm-tests/src/host` enforces on the .wasm):
//! - the downstream buffer is reachable inside `on_downstream_data`, and later while it is
//!   held (the callback returned Pause) from the connection's `on_upstream_data` or from
//!   the tick after `set_effective_context`; elsewhere it reads empty and refuses writes;
//! - `set_buffer` follows Envoy's copy rules (start 0 drains `size` bytes, then prepends);
//! - client-bound bytes only inside `on_upstream_data`, which fires only when upstream bytes
//!   arrive or at the upstream's end of stream;
//! - Pause keeps the bytes, and the next callback sees the whole accumulated buffer; held
//!   bytes above the buffer limit stop reading (no callback at all) until they drain to
//!   half of it;
//! - `continue_stream(Downstream)` forwards the buffer when the callback returns; from the
//!   tick without an effective context it does nothing;
//! - a close takes effect when the callback returns, dropping bytes set in that callback.
//!
//! With capabilities other than `Capabilities::envoy()`, the rules they lift are lifted:
//! bytes go straight to the peer, and a close keeps the bytes written before it.
//!
//! The adapter part (`carry_out` and the callbacks) turns the shell's `Ops` into these host
//! calls the way `src/filter` does.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

use crate::config::PluginConfig;
use crate::shell::{Capabilities, ConnId, MetricOp, Ops, Shell};
use crate::time::Instant;

/// Envoy's default `per_connection_buffer_limit_bytes`.
pub const BUFFER_LIMIT: usize = 1 << 20;

/// Socket reads take at most this much at a time, like Envoy's read slices.
const READ_SLICE: usize = 16 * 1024;

/// What the host did with its connections, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostEvent {
    /// `on_downstream_data` returned Pause, holding client bytes.
    Paused(ConnId),
    /// `on_downstream_data` let its bytes go from inside and returned Pause with nothing
    /// held (parked): the buffer stays writable.
    Parked(ConnId),
    /// The held downstream went on, from the tick or from an upstream callback.
    Resumed {
        conn: ConnId,
        from_tick: bool,
    },
    /// The tick visited a connection waiting for a buffer; `fifo` was the front of the
    /// wait queue and `holder` the first waiter holding buffers, `unreserved` whether an
    /// unreserved buffer was free, just before.
    BufferVisit {
        conn: ConnId,
        fifo: Option<ConnId>,
        holder: Option<ConnId>,
        unreserved: bool,
    },
    Closed(ConnId),
    /// Held client bytes went past the limit: the host stopped reading that socket.
    ReadDisabled(ConnId),
}

/// The callback running, which decides what host calls can reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ctx {
    Downstream(ConnId),
    Upstream(ConnId),
    /// The root's tick, with the effective context set by `set_effective_context`.
    Tick(Option<ConnId>),
}

#[derive(Clone, Copy, Debug)]
enum Deferred {
    Continue(ConnId),
    Close(ConnId),
}

/// One client connection seen from the host: its two sockets and the filter's buffers.
#[derive(Default, Debug)]
pub struct Sock {
    /// Client bytes not read from the socket yet.
    socket_in: VecDeque<u8>,
    socket_fin: bool,
    /// The downstream buffer: read bytes, kept while the filter holds them.
    read_buf: Vec<u8>,
    read_eos: bool,
    /// The last `on_downstream_data` returned Pause: the buffer stays reachable.
    held: bool,
    read_disabled: bool,
    /// The upstream buffer: what `on_upstream_data` sees.
    write_buf: Vec<u8>,
    /// What was let through, each way.
    pub to_upstream: Vec<u8>,
    pub upstream_fin: bool,
    pub to_client: Vec<u8>,
    pub client_fin: bool,
    upstream_gone: bool,
    pub closed: bool,
    /// When the connection closed.
    pub closed_at: Option<Instant>,
}

/// Envoy's side of things: sockets, buffers, deferred actions and records.
pub struct Envoy {
    caps: Capabilities,
    buffer_limit: usize,
    pub socks: BTreeMap<ConnId, Sock>,
    deferred: Vec<Deferred>,
    read_queue: VecDeque<ConnId>,
    /// Host calls refused: the shell (through the adapter) broke a rule.
    pub refusals: Vec<String>,
    pub events: Vec<HostEvent>,
    pub metrics: BTreeMap<String, i64>,
}

/// The host: Envoy's side and the shell it drives.
pub struct Host {
    pub shell: Shell,
    pub envoy: Envoy,
    pub now: Instant,
    tick_ms: u64,
    next_tick: Instant,
    next_id: ConnId,
}

impl Host {
    pub fn new(config: &str, caps: Capabilities) -> Host {
        Host::with_limit(config, caps, BUFFER_LIMIT)
    }

    pub fn with_limit(config: &str, caps: Capabilities, buffer_limit: usize) -> Host {
        Host::build(config, caps, caps, buffer_limit)
    }

    /// A host following `host_caps` around a shell told `shell_caps` (to check the model
    /// catches a shell that breaks the host's rules).
    pub fn mismatched(config: &str, host_caps: Capabilities, shell_caps: Capabilities) -> Host {
        Host::build(config, host_caps, shell_caps, BUFFER_LIMIT)
    }

    fn build(
        config: &str,
        caps: Capabilities,
        shell_caps: Capabilities,
        buffer_limit: usize,
    ) -> Host {
        let cfg = PluginConfig::parse(config).unwrap_or_else(|e| panic!("{config}: {e}"));
        let tick_ms = cfg.tick_ms;
        let now = Instant(1_000_000);
        Host {
            shell: Shell::new(cfg, shell_caps),
            envoy: Envoy {
                caps,
                buffer_limit,
                socks: BTreeMap::new(),
                deferred: Vec::new(),
                read_queue: VecDeque::new(),
                refusals: Vec::new(),
                events: Vec::new(),
                metrics: BTreeMap::new(),
            },
            now,
            tick_ms,
            next_tick: now.after(tick_ms),
            // The root context is 1.
            next_id: 2,
        }
    }

    pub fn open(&mut self) -> ConnId {
        let id = self.next_id;
        self.next_id += 1;
        self.envoy.socks.insert(id, Sock::default());
        self.shell.open(id, self.now);
        self.publish();
        id
    }

    pub fn sock(&self, id: ConnId) -> &Sock {
        &self.envoy.socks[&id]
    }

    pub fn is_closed(&self, id: ConnId) -> bool {
        self.envoy.socks.get(&id).is_some_and(|s| s.closed)
    }

    pub fn metric(&self, name: &str) -> i64 {
        self.envoy.metrics.get(name).copied().unwrap_or(0)
    }

    /// Client bytes arrive on the socket; read unless reading is disabled.
    pub fn client_send(&mut self, id: ConnId, bytes: &[u8]) {
        let Some(s) = self.envoy.socks.get_mut(&id) else {
            return;
        };
        if s.closed || s.socket_fin {
            return;
        }
        s.socket_in.extend(bytes);
        self.envoy.read_queue.push_back(id);
        self.settle();
    }

    /// The client's FIN.
    pub fn client_close(&mut self, id: ConnId) {
        let Some(s) = self.envoy.socks.get_mut(&id) else {
            return;
        };
        if s.closed || s.socket_fin {
            return;
        }
        s.socket_fin = true;
        self.envoy.read_queue.push_back(id);
        self.settle();
    }

    /// Upstream bytes: `on_upstream_data` with everything not yet let through.
    pub fn upstream_send(&mut self, id: ConnId, bytes: &[u8]) {
        let Some(s) = self.envoy.socks.get_mut(&id) else {
            return;
        };
        if s.closed || s.upstream_gone {
            return;
        }
        s.write_buf.extend_from_slice(bytes);
        self.upstream_callback(id, false);
        self.settle();
    }

    /// The upstream closes its socket: `on_upstream_data` with end of stream, then the
    /// proxy closes the client connection after flushing what was let through.
    pub fn upstream_close(&mut self, id: ConnId) {
        self.upstream_send_and_close(id, b"");
    }

    /// The upstream's last bytes and its close read together: one `on_upstream_data` with
    /// both, as Envoy does when one read finds the data and the FIN.
    pub fn upstream_send_and_close(&mut self, id: ConnId, bytes: &[u8]) {
        let Some(s) = self.envoy.socks.get_mut(&id) else {
            return;
        };
        if s.closed || s.upstream_gone {
            return;
        }
        s.upstream_gone = true;
        s.write_buf.extend_from_slice(bytes);
        self.upstream_callback(id, true);
        self.close_conn(id);
        self.settle();
    }

    /// Bytes the filter let through toward the upstream since the last call.
    pub fn take_to_upstream(&mut self, id: ConnId) -> Vec<u8> {
        self.envoy
            .socks
            .get_mut(&id)
            .map(|s| std::mem::take(&mut s.to_upstream))
            .unwrap_or_default()
    }

    /// Bytes the filter let through toward the client since the last call.
    pub fn take_to_client(&mut self, id: ConnId) -> Vec<u8> {
        self.envoy
            .socks
            .get_mut(&id)
            .map(|s| std::mem::take(&mut s.to_client))
            .unwrap_or_default()
    }

    /// A wake-up from the root outside any callback of the connection (the filter's takeover
    /// shutdown): `set_effective_context`, then the shell's graceful shutdown.
    pub fn shutdown(&mut self, id: ConnId) {
        let now = self.now;
        let Host { shell, envoy, .. } = self;
        if envoy.socks.get(&id).is_none_or(|s| s.closed) {
            return;
        }
        let ctx = Ctx::Tick(Some(id));
        let mut len = None;
        let ops = shell.shutdown(id, now, || envoy.read_held(ctx, id, &mut len));
        envoy.carry_out(ctx, id, len, 0, ops);
        self.run_deferred();
        self.publish();
        self.settle();
    }

    /// Moves the clock to the next tick and fires it.
    pub fn tick(&mut self) {
        self.now = self.now.max(self.next_tick);
        self.fire_tick();
    }

    fn fire_tick(&mut self) {
        let now = self.now;
        let Host { shell, envoy, .. } = self;
        let mut tick = shell.tick(now);
        loop {
            let before = waiters(tick.shell());
            let Some(id) = tick.next_conn() else {
                break;
            };
            if tick.is_buffer_visit() {
                let (fifo, holder, unreserved) = before;
                envoy.events.push(HostEvent::BufferVisit {
                    conn: id,
                    fifo,
                    holder,
                    unreserved,
                });
            }
            // `set_effective_context`: refused for a connection that is gone.
            if envoy.socks.get(&id).is_none_or(|s| s.closed) {
                tick.skip();
                continue;
            }
            let ctx = Ctx::Tick(Some(id));
            let mut len = None;
            let ops = tick.visit(|| envoy.read_held(ctx, id, &mut len));
            envoy.carry_out(ctx, id, len, 0, ops);
        }
        drop(tick);
        self.next_tick = now.after(self.tick_ms);
        self.run_deferred();
        self.publish();
        self.settle();
    }

    fn publish(&mut self) {
        for op in self.shell.take_metrics() {
            let m = &mut self.envoy.metrics;
            match op {
                MetricOp::Add(k, by) => *m.entry(k.name().into()).or_default() += by,
                // A histogram as Envoy's summary lines: how many values, and their sum.
                MetricOp::Record(k, v) => {
                    *m.entry(format!("{}_count", k.name())).or_default() += 1;
                    *m.entry(format!("{}_sum", k.name())).or_default() += v as i64;
                }
                MetricOp::Note(n) => *m.entry(n.name()).or_default() += 1,
            }
        }
    }

    /// Reads what the sockets hold for connections queued for reading.
    fn settle(&mut self) {
        while let Some(id) = self.envoy.read_queue.pop_front() {
            self.read_socket(id);
        }
    }

    /// One read event: slices of the socket into the read buffer until it reaches the
    /// limit, then `on_downstream_data` with the whole buffer.
    fn read_socket(&mut self, id: ConnId) {
        let limit = self.envoy.buffer_limit;
        loop {
            let Some(s) = self.envoy.socks.get_mut(&id) else {
                return;
            };
            if s.closed || s.read_disabled || s.read_eos {
                return;
            }
            let mut moved = 0;
            while !s.socket_in.is_empty() {
                let n = s.socket_in.len().min(READ_SLICE);
                s.read_buf.extend(s.socket_in.drain(..n));
                moved += n;
                if s.read_buf.len() >= limit {
                    break;
                }
            }
            let eos = s.socket_in.is_empty() && s.socket_fin;
            if moved == 0 && !eos {
                return;
            }
            s.read_eos = eos;
            if s.read_buf.len() > limit {
                // Reading stops at the high watermark; this read still reaches the filter.
                s.read_disabled = true;
                self.envoy.events.push(HostEvent::ReadDisabled(id));
            }
            self.downstream_callback(id);
        }
    }

    /// `on_downstream_data`, as the adapter handles it.
    fn downstream_callback(&mut self, id: ConnId) {
        let ctx = Ctx::Downstream(id);
        let Some(s) = self.envoy.socks.get(&id) else {
            return;
        };
        let (len, eos) = (s.read_buf.len(), s.read_eos);
        let input = Bytes::from(self.envoy.get_downstream(ctx, id));
        let ops = self.shell.downstream(id, input, eos, self.now);
        let park = ops.park;
        let pause = self.envoy.carry_out(ctx, id, Some(len), 0, ops);
        self.run_deferred();
        self.publish();
        let Some(s) = self.envoy.socks.get_mut(&id) else {
            return;
        };
        if s.closed {
            return;
        }
        if pause {
            s.held = true;
            let e = if park {
                HostEvent::Parked(id)
            } else {
                HostEvent::Paused(id)
            };
            self.envoy.events.push(e);
        } else {
            s.held = false;
            self.envoy.forward_upstream(id);
        }
        self.envoy.watermarks(id);
    }

    /// `on_upstream_data` with everything the upstream sent and was not let through.
    fn upstream_callback(&mut self, id: ConnId, eos: bool) {
        let ctx = Ctx::Upstream(id);
        let Some(s) = self.envoy.socks.get(&id) else {
            return;
        };
        let size = s.write_buf.len();
        let data = Bytes::from(s.write_buf.clone());
        let now = self.now;
        let Host { shell, envoy, .. } = self;
        let mut len = None;
        let ops = shell.upstream(id, data, eos, now, || envoy.read_held(ctx, id, &mut len));
        envoy.carry_out(ctx, id, len, size, ops);
        self.run_deferred();
        self.publish();
        let Some(s) = self.envoy.socks.get_mut(&id) else {
            return;
        };
        if s.closed {
            return;
        }
        // Continue: the upstream buffer goes to the client.
        let bytes = std::mem::take(&mut s.write_buf);
        s.to_client.extend_from_slice(&bytes);
        s.client_fin |= eos;
    }

    /// Runs what the filter asked for during the last callback.
    fn run_deferred(&mut self) {
        loop {
            let actions = std::mem::take(&mut self.envoy.deferred);
            if actions.is_empty() {
                return;
            }
            for a in actions {
                match a {
                    Deferred::Continue(id) => {
                        if self.envoy.socks.get(&id).is_some_and(|s| !s.closed) {
                            // Measured in Envoy 1.40: the buffer stays writable after a
                            // resume, until a downstream callback returns Continue.
                            self.envoy.forward_upstream(id);
                            self.envoy.watermarks(id);
                            self.envoy.read_queue.push_back(id);
                        }
                    }
                    Deferred::Close(id) => self.close_conn(id),
                }
            }
        }
    }

    /// Closes the client connection: what was let through is delivered, what the buffers
    /// hold now is dropped; then the filter hears the connection is gone.
    fn close_conn(&mut self, id: ConnId) {
        let Some(s) = self.envoy.socks.get_mut(&id) else {
            return;
        };
        if s.closed {
            return;
        }
        s.closed = true;
        s.closed_at = Some(self.now);
        s.client_fin = true;
        s.upstream_fin = true;
        s.held = false;
        s.read_buf.clear();
        s.write_buf.clear();
        s.socket_in.clear();
        self.envoy.events.push(HostEvent::Closed(id));
        self.shell.connection_closed(id, self.now);
        self.envoy.deferred.retain(|a| match a {
            Deferred::Continue(c) | Deferred::Close(c) => *c != id,
        });
        self.publish();
    }
}

/// The front of the wait queue, its first waiter holding buffers, and whether an
/// unreserved buffer is free.
fn waiters(shell: &Shell) -> (Option<ConnId>, Option<ConnId>, bool) {
    let pool = shell.pool();
    let holder = pool
        .waiter_ids()
        .find(|w| shell.conn(*w).is_some_and(|c| c.relay().buffers_held() > 0));
    (
        pool.waiter_ids().next(),
        holder,
        pool.available_unreserved() > 0,
    )
}

impl Envoy {
    fn refuse(&mut self, what: String) {
        self.refusals.push(what);
    }

    /// The downstream buffer is reachable from this callback.
    fn reaches_downstream(&self, ctx: Ctx, id: ConnId) -> bool {
        let held = self.socks.get(&id).is_some_and(|s| s.held && !s.closed);
        match ctx {
            Ctx::Downstream(c) => c == id,
            Ctx::Upstream(c) | Ctx::Tick(Some(c)) => c == id && held,
            Ctx::Tick(None) => false,
        }
    }

    /// `get_buffer(DownstreamData)`: empty where the buffer is not reachable.
    fn get_downstream(&self, ctx: Ctx, id: ConnId) -> Vec<u8> {
        if !self.reaches_downstream(ctx, id) {
            return Vec::new();
        }
        self.socks
            .get(&id)
            .map(|s| s.read_buf.clone())
            .unwrap_or_default()
    }

    /// The adapter reading the held buffer when the shell asks; `len` keeps its length.
    fn read_held(&mut self, ctx: Ctx, id: ConnId, len: &mut Option<usize>) -> Bytes {
        if !self.reaches_downstream(ctx, id) {
            self.refuse(format!(
                "{ctx:?}: the shell asked for held bytes of {id}, none held"
            ));
        }
        let b = self.get_downstream(ctx, id);
        *len = Some(b.len());
        Bytes::from(b)
    }

    /// `set_buffer(DownstreamData, 0, drain, data)` with Envoy's copy rules.
    fn set_downstream(&mut self, ctx: Ctx, id: ConnId, drain: usize, data: &[u8]) {
        if !self.reaches_downstream(ctx, id) {
            self.refuse(format!("{ctx:?}: set_buffer(downstream) of {id}"));
            return;
        }
        if let Some(s) = self.socks.get_mut(&id) {
            s.read_buf.drain(..drain.min(s.read_buf.len()));
            s.read_buf.splice(0..0, data.iter().copied());
        }
    }

    /// The adapter's write of the downstream buffer: over the `held_len` bytes it read, or,
    /// not read (a parked connection, whose buffer the shell knows empty), in front of
    /// nothing: bytes there would be client bytes the shell never saw.
    fn write_downstream(&mut self, ctx: Ctx, id: ConnId, held_len: Option<usize>, data: &[u8]) {
        match held_len {
            Some(len) => self.set_downstream(ctx, id, len, data),
            None if self.get_downstream(ctx, id).is_empty() => {
                self.set_downstream(ctx, id, 0, data)
            }
            None => self.refuse(format!(
                "{ctx:?}: downstream write for {id} over client bytes unread"
            )),
        }
    }

    /// `set_buffer(UpstreamData, 0, drain, data)`: only inside `on_upstream_data`.
    fn set_upstream(&mut self, ctx: Ctx, id: ConnId, drain: usize, data: &[u8]) {
        if ctx != Ctx::Upstream(id) {
            self.refuse(format!("{ctx:?}: set_buffer(upstream) of {id}"));
            return;
        }
        if let Some(s) = self.socks.get_mut(&id) {
            s.write_buf.drain(..drain.min(s.write_buf.len()));
            s.write_buf.splice(0..0, data.iter().copied());
        }
    }

    /// `continue_stream(Downstream)`: deferred; does nothing from the root without an
    /// effective context. Inside `on_downstream_data` the callback's answer says it.
    fn continue_downstream(&mut self, ctx: Ctx, id: ConnId) {
        match ctx {
            Ctx::Downstream(_) => self.refuse(format!("{ctx:?}: continue_stream of {id}")),
            Ctx::Tick(None) => {}
            Ctx::Upstream(_) | Ctx::Tick(Some(_)) => {
                self.deferred.push(Deferred::Continue(id));
                self.events.push(HostEvent::Resumed {
                    conn: id,
                    from_tick: matches!(ctx, Ctx::Tick(_)),
                });
            }
        }
    }

    /// The adapter: the shell's `Ops` as host calls. `held_len` is the length of the
    /// downstream bytes handed to the shell (None: not handed over), `up_len` that of the
    /// upstream buffer in an upstream callback. Returns true when the downstream holds.
    fn carry_out(
        &mut self,
        ctx: Ctx,
        id: ConnId,
        held_len: Option<usize>,
        up_len: usize,
        ops: Ops,
    ) -> bool {
        let caps = self.caps;
        let holds = ops.holds();
        if ops.park {
            // Parked: only in a downstream callback, where the filter writes the bytes,
            // continues inside the callback and returns Pause (the buffer stays writable).
            if ctx != Ctx::Downstream(id) || ops.hold.is_some() || ops.resume || ops.close {
                self.refuse(format!(
                    "{ctx:?}: park for {id} outside a plain downstream answer"
                ));
            }
            let up = ops.to_upstream.as_deref().unwrap_or_default();
            self.write_downstream(ctx, id, held_len, up);
            self.forward_upstream(id);
            return true;
        }
        // The downstream buffer: in Envoy the only way upstream, so it carries either the
        // held client bytes or the upstream-bound bytes.
        if caps.upstream_writes_only_in_downstream_events {
            if holds && ops.to_upstream.is_some() {
                self.refuse(format!(
                    "{ctx:?}: held bytes and upstream-bound bytes for {id}"
                ));
            }
            let content = ops.hold.as_deref().or(ops.to_upstream.as_deref());
            if let Some(content) = content {
                self.write_downstream(ctx, id, held_len, content);
            }
        } else {
            if let Some(len) = held_len {
                let rest = ops.hold.as_deref().unwrap_or_default();
                self.set_downstream(ctx, id, len, rest);
            } else if holds {
                self.refuse(format!("{ctx:?}: hold for {id} without bytes handed over"));
            }
            if let Some(up) = &ops.to_upstream {
                if let Some(s) = self.socks.get_mut(&id) {
                    s.to_upstream.extend_from_slice(up);
                }
            }
        }
        if let Some(out) = &ops.to_client {
            if caps.client_writes_only_in_upstream_events {
                self.set_upstream(ctx, id, up_len, out);
            } else if let Some(s) = self.socks.get_mut(&id) {
                if ctx == Ctx::Upstream(id) {
                    s.write_buf.drain(..up_len.min(s.write_buf.len()));
                }
                s.to_client.extend_from_slice(out);
            }
        } else if ctx == Ctx::Upstream(id) && !caps.client_writes_only_in_upstream_events {
            if let Some(s) = self.socks.get_mut(&id) {
                s.write_buf.drain(..up_len.min(s.write_buf.len()));
            }
        }
        if ops.resume {
            if caps.upstream_writes_only_in_downstream_events {
                self.continue_downstream(ctx, id);
            } else if let Some(s) = self.socks.get_mut(&id) {
                s.held = false;
                self.read_queue.push_back(id);
                self.events.push(HostEvent::Resumed {
                    conn: id,
                    from_tick: matches!(ctx, Ctx::Tick(_)),
                });
            }
        }
        if holds && !caps.upstream_writes_only_in_downstream_events {
            if let Some(s) = self.socks.get_mut(&id) {
                s.held = true;
            }
        }
        if ops.close {
            // A connection paused at end of stream would stay open: resume it first.
            if holds && caps.upstream_writes_only_in_downstream_events {
                self.continue_downstream(ctx, id);
            }
            self.deferred.push(Deferred::Close(id));
        }
        holds
    }

    /// The proxy takes the read buffer toward the upstream (with FIN once read).
    fn forward_upstream(&mut self, id: ConnId) {
        if let Some(s) = self.socks.get_mut(&id) {
            let bytes = std::mem::take(&mut s.read_buf);
            s.to_upstream.extend_from_slice(&bytes);
            s.upstream_fin |= s.read_eos;
        }
    }

    /// Reading stops above the limit and resumes at half of it.
    fn watermarks(&mut self, id: ConnId) {
        let limit = self.buffer_limit;
        let Some(s) = self.socks.get_mut(&id) else {
            return;
        };
        if s.read_buf.len() > limit {
            if !s.read_disabled {
                s.read_disabled = true;
                self.events.push(HostEvent::ReadDisabled(id));
            }
        } else if s.read_disabled && s.read_buf.len() <= limit / 2 {
            s.read_disabled = false;
            self.read_queue.push_back(id);
        }
    }
}
