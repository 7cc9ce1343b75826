//! The proxy-wasm network filter: Envoy's callbacks turned into calls on the relay.
//!
//! Envoy's rules shape everything here (see ARCHITECTURE.md): bytes toward the client can
//! only be written inside `on_upstream_data`, bytes toward the upstream inside
//! `on_downstream_data` or into a downstream buffer we hold paused. So each side's output
//! waits for that side's next callback, and when nothing would bring one, a doorbell asks
//! the other peer for a reply. A connection that cannot get a pool buffer pauses its
//! downstream (Envoy keeps the bytes; past its buffer limit it stops reading the socket) and
//! is resumed from the root tick when buffers come back, in FIFO order.

mod host;
mod metrics;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use proxy_wasm::traits::{Context, RootContext, StreamContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, PeerType};

use crate::buffer::BufferPool;
use crate::config::PluginConfig;
use crate::limits::Config;
use crate::relay::Relay;
use crate::time::Instant;

use metrics::Metrics;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root::new()) });
}}

/// How long a finished connection may wait for a chance to deliver its last frames.
const FINISH_GRACE_MS: u64 = 1000;

const NEVER: Instant = Instant(u64::MAX);

/// What an HTTP/1.x client reads when it connects to this HTTP/2-only port.
fn http1_answer() -> Vec<u8> {
    let body = "This port speaks HTTP/2 only (h2c with prior knowledge, or h2 over TLS).\n";
    format!(
        "HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-type: text/plain\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{}",
        body.len(),
        body
    )
    .into_bytes()
}

/// One client connection as the filter sees it.
struct Conn {
    relay: Relay,
    /// Our last `on_downstream_data` returned Pause: Envoy holds the client's unconsumed
    /// bytes, and we may write upstream-bound bytes into that buffer and resume.
    down_held: bool,
    /// The held downstream callback carried end of stream.
    down_eos: bool,
    /// Client bytes taken out of Envoy's buffer but not yet by the relay (in order, before
    /// anything Envoy holds).
    down_stash: Vec<u8>,
    /// Upstream bytes Envoy gave us that the relay could not take yet (in order).
    up_pending: Vec<u8>,
    up_eos: bool,
    /// An HTTP/1.x client got its plain-text answer.
    http1_answered: bool,
    /// Close from a later callback (bytes set in the closing callback are dropped).
    close_wanted: bool,
    /// Once the connection has nothing left to do but deliver its last frames: when it is
    /// closed even if they could not be (`NEVER` until then; an Option would take twice
    /// the room).
    close_by: Instant,
    closed: bool,
    /// Bytes came or went since the last idle scan: the connection is in use, so its queue
    /// memory stays (timers and quota resumptions do not count).
    busy: bool,
    /// Figures already published as metrics.
    reported: Reported,
}

/// Counters as last published, by their low 32 bits: a connection moves far less than 4 GiB
/// between two callbacks, so the wrapping difference is the exact increment.
#[derive(Default, Clone, Copy)]
struct Reported {
    from_client: u32,
    to_client: u32,
    from_upstream: u32,
    to_upstream: u32,
    streams: u32,
    glitches: u32,
    doorbells: u32,
    bad_gateway: u32,
    failed: bool,
}

/// The increment of a counter since it was published as `reported` (its low 32 bits).
fn since(now: u64, reported: u32) -> i64 {
    i64::from((now as u32).wrapping_sub(reported))
}

/// Everything one VM shares: configuration, the buffer pool and its waiters, connections.
struct Vm {
    cfg: PluginConfig,
    front_cfg: Arc<Config>,
    back_cfg: Arc<Config>,
    pool: BufferPool,
    /// Boxed: B-tree leaves fill to about half on rising ids, and a connection is large.
    conns: BTreeMap<u32, Box<Conn>>,
    metrics: Metrics,
    ticks: u64,
    last_waits: u64,
    last_resumed: u64,
    /// Gauges as last recorded: a host call only when they move (this runs every callback).
    last_in_use: Option<usize>,
    last_waiters: Option<usize>,
}

impl Vm {
    fn new(cfg: PluginConfig) -> Vm {
        let mut pool = BufferPool::new(cfg.buffer_size, cfg.quota_bytes, cfg.max_waiters);
        pool.set_reserve(cfg.reserve_buffers);
        Vm {
            front_cfg: Arc::new(cfg.frontend.clone()),
            back_cfg: Arc::new(cfg.backend.clone()),
            pool,
            cfg,
            conns: BTreeMap::new(),
            metrics: Metrics::default(),
            ticks: 0,
            last_waits: 0,
            last_resumed: 0,
            last_in_use: None,
            last_waiters: None,
        }
    }

    fn reconfigure(&mut self, cfg: PluginConfig) {
        self.front_cfg = Arc::new(cfg.frontend.clone());
        self.back_cfg = Arc::new(cfg.backend.clone());
        self.pool.set_quota(cfg.quota_bytes);
        self.pool.set_reserve(cfg.reserve_buffers);
        // The buffer size of a live pool does not change; a new size applies to a new VM.
        self.cfg = cfg;
    }

    fn open(&mut self, id: u32) {
        let mut relay = Relay::new(
            self.front_cfg.clone(),
            self.back_cfg.clone(),
            id,
            host::now(),
        );
        relay.record_notes();
        self.conns.insert(
            id,
            Box::new(Conn {
                relay,
                down_held: false,
                down_eos: false,
                down_stash: Vec::new(),
                up_pending: Vec::new(),
                up_eos: false,
                http1_answered: false,
                close_wanted: false,
                close_by: NEVER,
                closed: false,
                busy: true,
                reported: Reported::default(),
            }),
        );
        host::increment(self.metrics.connections_total, 1);
        host::increment(self.metrics.connections_active, 1);
        log::debug!("h2mux[{id}]: new connection");
    }

    fn close(&mut self, id: u32) {
        if let Some(mut c) = self.conns.remove(&id) {
            c.relay.release(&mut self.pool);
            self.publish(id, &mut c);
            host::increment(self.metrics.connections_active, -1);
            log::debug!("h2mux[{id}]: connection done");
        }
        self.publish_pool();
    }

    fn on_downstream(&mut self, id: u32, size: usize, eos: bool) -> Action {
        let now = host::now();
        let Some(mut c) = self.conns.remove(&id) else {
            return Action::Continue;
        };
        c.busy = true;
        let input = Bytes::from(host::get(BufferType::DownstreamData, size));
        let action = self.downstream_bytes(id, &mut c, input, eos, now);
        self.after(id, c);
        action
    }

    /// Feeds client bytes (new, or held since an earlier Pause) and decides what the
    /// downstream buffer carries on: upstream-bound bytes (Continue), or the unconsumed rest
    /// (Pause). `input` is the whole downstream buffer Envoy holds right now.
    ///
    /// One rule keeps a connection from wedging: it never pauses while client-bound bytes
    /// wait for an upstream callback unless a doorbell is already on its way. When one must
    /// be rung, the filter writes it upstream (Continue) and keeps the unconsumed client bytes
    /// itself (`down_stash`, at most one delivery of Envoy's); they go first next time.
    fn downstream_bytes(
        &mut self,
        id: u32,
        c: &mut Conn,
        input: Bytes,
        eos: bool,
        now: Instant,
    ) -> Action {
        let envoy_len = input.len();
        let input = if c.down_stash.is_empty() {
            input
        } else {
            let mut all = std::mem::take(&mut c.down_stash);
            all.extend_from_slice(&input);
            Bytes::from(all)
        };
        let size = input.len();
        let n = c.relay.from_client(&mut self.pool, &input, now);
        if eos && n == size {
            c.relay.client_eof(&mut self.pool, now);
        }
        self.retry_upstream_pending(c, now);
        if n < size || c.relay.is_waiting_for_buffer() {
            let rest = input.slice(n..);
            if !rest.is_empty() && !eos && c.relay.has_client_output() {
                if let Some(bell) = c.relay.upstream_doorbell(now) {
                    let mut up = Vec::new();
                    c.relay.upstream_output(&mut self.pool, &mut up, now);
                    up.extend_from_slice(&bell);
                    if let Err(s) = host::replace(BufferType::DownstreamData, envoy_len, &up) {
                        log::warn!("h2mux[{id}]: writing upstream-bound bytes failed: {:?}", s);
                    }
                    c.down_stash = rest.to_vec();
                    c.down_held = false;
                    return Action::Continue;
                }
            }
            // Hold the rest (stashed bytes first): Envoy keeps it, and stops reading the
            // socket at its buffer limit. Upstream-bound output waits in the backend's tx
            // buffer; the tick or the next upstream callback resumes us through this buffer.
            if let Err(s) = host::replace(BufferType::DownstreamData, envoy_len, &rest) {
                log::warn!("h2mux[{id}]: holding the downstream buffer failed: {:?}", s);
            }
            c.down_held = true;
            c.down_eos = eos;
            return Action::Pause;
        }
        // Writing releases credit and creates replies: decide on the doorbell after it.
        let mut up = Vec::new();
        c.relay.upstream_output(&mut self.pool, &mut up, now);
        if let Some(bell) = c.relay.upstream_doorbell(now) {
            up.extend_from_slice(&bell);
        }
        if let Err(s) = host::replace(BufferType::DownstreamData, envoy_len, &up) {
            log::warn!("h2mux[{id}]: writing upstream-bound bytes failed: {:?}", s);
        }
        c.down_held = false;
        Action::Continue
    }

    /// Client bytes set aside by `downstream_bytes`, fed again from an upstream callback
    /// (its client-bound output is written right after); what is still not taken stays.
    fn retry_stash(&mut self, c: &mut Conn, now: Instant) {
        if c.down_stash.is_empty() || c.down_held {
            return;
        }
        let stash = Bytes::from(std::mem::take(&mut c.down_stash));
        let n = c.relay.from_client(&mut self.pool, &stash, now);
        if n < stash.len() {
            c.down_stash = stash.slice(n..).to_vec();
        }
    }

    /// Processes the held downstream buffer again (after a buffer came free, or from the
    /// upstream callback) and resumes it when everything in it was taken.
    fn resume_held(&mut self, id: u32, c: &mut Conn, now: Instant) {
        if !c.down_held {
            return;
        }
        let held = Bytes::from(host::get(BufferType::DownstreamData, usize::MAX));
        let eos = c.down_eos;
        if let Action::Continue = self.downstream_bytes(id, c, held, eos, now) {
            if let Err(s) = host::resume_downstream() {
                log::warn!("h2mux[{id}]: resuming the downstream failed: {:?}", s);
            }
        }
    }

    fn on_upstream(&mut self, id: u32, size: usize, eos: bool) -> Action {
        let now = host::now();
        let Some(mut c) = self.conns.remove(&id) else {
            return Action::Continue;
        };
        c.busy = true;
        let data = host::get(BufferType::UpstreamData, size);
        if c.up_pending.is_empty() {
            let input = Bytes::from(data);
            let n = c.relay.from_upstream(&mut self.pool, &input, now);
            if n < input.len() {
                c.up_pending = input.slice(n..).to_vec();
            }
        } else {
            c.up_pending.extend_from_slice(&data);
            self.retry_upstream_pending(&mut c, now);
        }
        c.up_eos |= eos;
        if c.up_pending.len() > self.cfg.max_held_upstream_bytes {
            log::warn!(
                "h2mux[{id}]: upstream sent {} bytes the relay cannot take: closing",
                c.up_pending.len()
            );
            c.relay.upstream_eof(&mut self.pool, now);
            c.up_pending = Vec::new();
            c.close_wanted = true;
        }
        if c.up_eos && c.up_pending.is_empty() {
            c.relay.upstream_eof(&mut self.pool, now);
        }
        // Upstream-bound bytes produced now go through a held downstream buffer, or wait for
        // the client's next bytes (asked for with a PING when nothing else would bring them).
        if c.down_held {
            self.resume_held(id, &mut c, now);
        }
        let mut out = Vec::new();
        c.relay.client_output(&mut self.pool, &mut out, now);
        // With room made, client bytes set aside can go on; their replies leave right now.
        for _ in 0..8 {
            if c.down_stash.is_empty() || c.down_held {
                break;
            }
            let before = c.down_stash.len();
            self.retry_stash(&mut c, now);
            c.relay.client_output(&mut self.pool, &mut out, now);
            if c.down_stash.len() == before {
                break;
            }
        }
        if c.relay.front().peer_is_http1() {
            // A GOAWAY means nothing to an HTTP/1.x client: it gets an answer it can read.
            out.clear();
            if !c.http1_answered {
                out.extend_from_slice(&http1_answer());
                c.http1_answered = true;
                c.close_wanted = true;
                log::info!("h2mux[{id}]: an HTTP/1.x client was told this port speaks HTTP/2");
            }
        }
        // Writing to the client released upstream credit: if upstream-bound bytes now wait
        // and no held buffer can carry them, the client's PING ACK will.
        if c.down_held {
            self.resume_held(id, &mut c, now);
        } else if let Some(bell) = c.relay.client_doorbell() {
            out.extend_from_slice(&bell);
        }
        if let Err(s) = host::replace(BufferType::UpstreamData, size, &out) {
            log::warn!("h2mux[{id}]: writing client-bound bytes failed: {:?}", s);
        }
        self.after(id, c);
        Action::Continue
    }

    fn retry_upstream_pending(&mut self, c: &mut Conn, now: Instant) {
        if c.up_pending.is_empty() {
            return;
        }
        let input = Bytes::from(std::mem::take(&mut c.up_pending));
        let n = c.relay.from_upstream(&mut self.pool, &input, now);
        if n < input.len() {
            c.up_pending = input.slice(n..).to_vec();
        }
    }

    /// Bookkeeping after every callback on a connection.
    fn after(&mut self, id: u32, mut c: Box<Conn>) {
        if c.relay.is_done() && !c.closed {
            c.close_wanted = true;
        }
        let finished = c.relay.front().error().is_some()
            || (c.relay.ending().is_some() && c.relay.stream_count() == 0);
        if finished && c.close_by == NEVER {
            c.close_by = host::now().after(FINISH_GRACE_MS);
        }
        self.publish(id, &mut c);
        // Queue memory is given back by the idle scan in `on_tick`, not here: between two
        // bursts of streams it would be freed and taken again on every callback.
        if c.up_pending.is_empty() && c.up_pending.capacity() > 0 {
            c.up_pending = Vec::new();
        }
        self.conns.insert(id, c);
    }

    /// Publishes what changed on a connection since the last time.
    fn publish(&mut self, id: u32, c: &mut Conn) {
        let m = &mut self.metrics;
        let r = &mut c.reported;
        let fs = c.relay.front().stats();
        let bs = c.relay.back().stats();
        let rs = c.relay.stats();
        let glitches = c.relay.front().glitch_total();
        m.add(m.bytes_from_client, since(fs.bytes_in, r.from_client));
        m.add(m.bytes_to_client, since(fs.bytes_out, r.to_client));
        m.add(m.bytes_from_upstream, since(bs.bytes_in, r.from_upstream));
        m.add(m.bytes_to_upstream, since(bs.bytes_out, r.to_upstream));
        m.add(m.streams_total, since(rs.streams.into(), r.streams));
        m.add(m.doorbells_total, since(rs.doorbells.into(), r.doorbells));
        m.add(
            m.bad_gateway_total,
            since(rs.bad_gateway.into(), r.bad_gateway),
        );
        m.add(m.glitch_points, since(glitches, r.glitches));
        *r = Reported {
            from_client: fs.bytes_in as u32,
            to_client: fs.bytes_out as u32,
            from_upstream: bs.bytes_in as u32,
            to_upstream: bs.bytes_out as u32,
            streams: rs.streams,
            glitches: glitches as u32,
            doorbells: rs.doorbells,
            bad_gateway: rs.bad_gateway,
            failed: r.failed,
        };
        if !r.failed {
            if let Some(ending) = c.relay.ending() {
                r.failed = true;
                let code = match ending {
                    crate::relay::Ending::Client(c, _) | crate::relay::Ending::Upstream(c, _) => c,
                };
                if code != crate::error::ErrorCode::NoError {
                    host::increment(m.connection_errors_total, 1);
                    log::info!("h2mux[{id}]: connection ending: {:?}", ending);
                } else {
                    log::debug!("h2mux[{id}]: connection ending: {:?}", ending);
                }
            }
        }
        let (front_notes, back_notes) = c.relay.take_notes();
        for n in front_notes {
            m.note(true, n);
        }
        for n in back_notes {
            m.note(false, n);
        }
    }

    /// Publishes the pool's figures and the counters gathered since the last tick.
    fn publish_pool(&mut self) {
        self.metrics.flush();
        let (in_use, waiters) = (self.pool.in_use_bytes(), self.pool.waiters());
        if self.last_in_use != Some(in_use) {
            host::record(self.metrics.quota_bytes_in_use, in_use as u64);
            self.last_in_use = Some(in_use);
        }
        if self.last_waiters != Some(waiters) {
            host::record(self.metrics.quota_waiters, waiters as u64);
            self.last_waiters = Some(waiters);
        }
        let st = self.pool.stats();
        if st.waits > self.last_waits {
            host::increment(
                self.metrics.quota_waits_total,
                (st.waits - self.last_waits) as i64,
            );
            self.last_waits = st.waits;
        }
        if st.resumed > self.last_resumed {
            host::increment(
                self.metrics.quota_resumed_total,
                (st.resumed - self.last_resumed) as i64,
            );
            self.last_resumed = st.resumed;
        }
    }

    fn on_tick(&mut self) {
        let now = host::now();
        self.ticks += 1;
        // Waiters first: in FIFO order while unreserved buffers are free; then a waiter that
        // holds buffers may take the reserve, finish its step and give them back.
        let mut budget = self.pool.waiters();
        while budget > 0 {
            budget -= 1;
            let id = if let Some(id) = self.pool.pop_waiter() {
                id
            } else if self.pool.available() > 0 {
                let holder = self.pool.waiter_ids().find(|w| {
                    self.conns
                        .get(w)
                        .is_some_and(|c| c.relay.buffers_held() > 0)
                });
                match holder {
                    Some(id) if self.pool.take_waiter(id) => id,
                    _ => break,
                }
            } else {
                break;
            };
            let Some(mut c) = self.conns.remove(&id) else {
                continue;
            };
            if host::set_effective_context(id).is_ok() {
                c.relay.on_buffer_available(&mut self.pool, now);
                self.retry_upstream_pending(&mut c, now);
                self.resume_held(id, &mut c, now);
            }
            self.after(id, c);
        }
        // Timers about every 100 ms: a scan, bounded by the connections of this VM.
        if self.ticks.is_multiple_of((100 / self.cfg.tick_ms).max(1)) {
            // Connections without a callback since the last scan give back their queue
            // memory: thousands of idle ones add up.
            for c in self.conns.values_mut() {
                if !c.busy {
                    c.relay.trim();
                }
                c.busy = false;
            }
            let due: Vec<u32> = self
                .conns
                .iter()
                .filter(|(_, c)| {
                    c.close_wanted
                        || c.relay.next_timeout().is_some_and(|t| t <= now)
                        || c.close_by <= now
                })
                .map(|(id, _)| *id)
                .collect();
            for id in due {
                let Some(mut c) = self.conns.remove(&id) else {
                    continue;
                };
                if host::set_effective_context(id).is_err() {
                    self.conns.insert(id, c);
                    continue;
                }
                c.relay.tick(&mut self.pool, now);
                self.resume_held(id, &mut c, now);
                if c.close_by <= now && !c.closed {
                    // Its last frames wait for a callback that is not coming (a silent
                    // upstream): close anyway.
                    log::info!("h2mux[{id}]: finished, last frames undeliverable: closing");
                    c.close_wanted = true;
                }
                if c.close_wanted && !c.closed {
                    // The last bytes were set in an earlier callback: closing now flushes them.
                    if c.down_held {
                        let _ = host::resume_downstream();
                        c.down_held = false;
                    }
                    if let Err(s) = host::close_downstream() {
                        log::warn!("h2mux[{id}]: close failed: {:?}", s);
                    }
                    c.closed = true;
                }
                self.after(id, c);
            }
        }
        self.publish_pool();
    }
}

struct Root {
    vm: Option<Rc<RefCell<Vm>>>,
}

impl Root {
    fn new() -> Root {
        Root { vm: None }
    }
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let text = host::get(BufferType::PluginConfiguration, usize::MAX);
        let text = match std::str::from_utf8(&text) {
            Ok(t) => t,
            Err(_) => {
                log::error!("h2mux: configuration rejected: not UTF-8 text");
                return false;
            }
        };
        let cfg = match PluginConfig::parse(text) {
            Ok(c) => c,
            Err(e) => {
                log::error!("h2mux: configuration rejected: {}", e);
                return false;
            }
        };
        let level = match cfg.log_level.as_str() {
            "error" => LogLevel::Error,
            "warn" => LogLevel::Warn,
            "debug" => LogLevel::Debug,
            "trace" => LogLevel::Trace,
            _ => LogLevel::Info,
        };
        proxy_wasm::set_log_level(level);
        host::set_tick_period(cfg.tick_ms);
        log::info!(
            "h2mux: configured: {} buffers of {} bytes, tick {} ms",
            cfg.quota_bytes / cfg.buffer_size,
            cfg.buffer_size,
            cfg.tick_ms
        );
        match &self.vm {
            Some(vm) => vm.borrow_mut().reconfigure(cfg),
            None => {
                let mut vm = Vm::new(cfg);
                vm.metrics = Metrics::define();
                self.vm = Some(Rc::new(RefCell::new(vm)));
            }
        }
        true
    }

    fn on_tick(&mut self) {
        if let Some(vm) = &self.vm {
            vm.borrow_mut().on_tick();
        }
    }

    fn create_stream_context(&self, context_id: u32) -> Option<Box<dyn StreamContext>> {
        let vm = self.vm.clone()?;
        vm.borrow_mut().open(context_id);
        Some(Box::new(Filter { id: context_id, vm }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::StreamContext)
    }
}

/// The stream context of one connection: a handle into the VM's state.
struct Filter {
    id: u32,
    vm: Rc<RefCell<Vm>>,
}

impl Context for Filter {
    fn on_done(&mut self) -> bool {
        self.vm.borrow_mut().close(self.id);
        true
    }
}

impl StreamContext for Filter {
    fn on_downstream_data(&mut self, size: usize, eos: bool) -> Action {
        self.vm.borrow_mut().on_downstream(self.id, size, eos)
    }

    fn on_upstream_data(&mut self, size: usize, eos: bool) -> Action {
        self.vm.borrow_mut().on_upstream(self.id, size, eos)
    }

    fn on_downstream_close(&mut self, _peer: PeerType) {}

    fn on_upstream_close(&mut self, _peer: PeerType) {}
}
