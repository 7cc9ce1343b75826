//! The proxy-wasm network filter: a thin adapter between Envoy and `crate::shell`.
//!
//! Envoy's callbacks become shell events (the buffers read, the time passed in), and the
//! shell's `Ops` become Envoy's host calls: the downstream buffer carries upstream-bound
//! bytes (Continue) or the client bytes to hold (Pause), the upstream buffer carries
//! client-bound bytes, `continue_stream` resumes a held downstream, `close_stream` closes.
//! The root's tick drives the shell's visits, each made reachable with
//! `set_effective_context`. Every rule of Envoy's the shell follows is in
//! `Capabilities::envoy()`; the policy itself is tested natively in `crate::shell`.

mod host;
mod metrics;

use std::cell::RefCell;
use std::rc::Rc;

use bytes::Bytes;
use proxy_wasm::traits::{Context, RootContext, StreamContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, PeerType};

use crate::config::PluginConfig;
use crate::shell::{ConnId, EnvoyRules, Ops, RouteStep, Shell, Takeovers};
use crate::time::Instant;

use metrics::MetricIds;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|id| -> Box<dyn RootContext> { Box::new(Root {
        id,
        vm: None,
        next_takeover_check: Instant::from_millis(0),
    }) });
}}

/// What one root context's connections share: the shell and the host's metric ids.
struct Vm {
    /// The root context's id.
    root: u32,
    /// Envoy's rules as a type: what only other hosts need is left out of the module.
    shell: Shell<EnvoyRules>,
    metrics: MetricIds,
}

impl Vm {
    /// Carries out the metric operations of the last callback.
    fn publish(&mut self) {
        for op in self.shell.take_metrics() {
            self.metrics.apply(op);
        }
    }
}

/// The client bytes Envoy holds for the connection whose context is current; `len` keeps
/// how many, for the write that replaces them.
fn read_held(len: &mut usize) -> Bytes {
    let held = host::get(BufferType::DownstreamData, usize::MAX);
    *len = held.len();
    Bytes::from(held)
}

/// The downstream buffer (`len` bytes as Envoy gave them) after an event: the client
/// bytes to hold, or the upstream-bound bytes. Returns true when it holds.
fn write_downstream(id: ConnId, len: usize, ops: &Ops) -> bool {
    if ops.park {
        // Parked: the bytes go now through a continue inside the callback, and the Pause
        // that follows keeps the buffer writable for a later wake-up (measured in Envoy
        // 1.40: ARCHITECTURE.md, "Envoy's write rules").
        let up = ops.to_upstream.as_deref().unwrap_or_default();
        if let Err(s) = host::replace(BufferType::DownstreamData, len, up) {
            log::warn!("h2mux[{id}]: writing upstream-bound bytes failed: {:?}", s);
        }
        if !up.is_empty() {
            if let Err(s) = host::resume_downstream() {
                log::warn!("h2mux[{id}]: letting parked bytes go failed: {:?}", s);
            }
        }
        return true;
    }
    if let Some(rest) = &ops.hold {
        // Envoy keeps the rest, and stops reading the socket at its buffer limit.
        if let Err(s) = host::replace(BufferType::DownstreamData, len, rest) {
            log::warn!("h2mux[{id}]: holding the downstream buffer failed: {:?}", s);
        }
        return true;
    }
    if let Some(up) = &ops.to_upstream {
        if let Err(s) = host::replace(BufferType::DownstreamData, len, up) {
            log::warn!("h2mux[{id}]: writing upstream-bound bytes failed: {:?}", s);
        }
    }
    false
}

/// Carries out a route decision: the cluster as tcp_proxy's filter state (none: tcp_proxy's
/// own `cluster`). Returns false while the connection must stay held.
fn go_to(id: ConnId, step: Option<RouteStep>) -> bool {
    match step {
        Some(RouteStep::Wait) => false,
        Some(RouteStep::Go(Some(cluster))) => {
            if let Err(s) = host::set_upstream_cluster(&cluster) {
                // tcp_proxy then connects to its own cluster; requests for others get 421.
                log::warn!("h2mux[{id}]: setting the upstream cluster {cluster:?} failed: {s:?}");
            }
            true
        }
        Some(RouteStep::Go(None)) | None => true,
    }
}

/// One line per callback at debug level (`"log_level": "debug"`): what came in and what
/// the host was told to do, to follow a connection's bytes through Envoy.
fn debug_ops(id: ConnId, what: &str, len: usize, eos: bool, ops: &Ops) {
    log::debug!(
        "h2mux[{id}]: {what} {len} B{}: hold {:?}, to upstream {:?}, to client {:?}{}{}{}",
        if eos { " +eos" } else { "" },
        ops.hold.as_ref().map(Bytes::len),
        ops.to_upstream.as_ref().map(Vec::len),
        ops.to_client.as_ref().map(Vec::len),
        if ops.park { ", park" } else { "" },
        if ops.resume { ", resume" } else { "" },
        if ops.close { ", close" } else { "" }
    );
}

/// Outside a downstream callback: the held buffer rewritten, and resumed when taken.
fn write_held(id: ConnId, len: usize, ops: &Ops) {
    if ops.hold.is_none() && ops.to_upstream.is_none() {
        return;
    }
    write_downstream(id, len, ops);
    if ops.resume {
        if let Err(s) = host::resume_downstream() {
            log::warn!("h2mux[{id}]: resuming the downstream failed: {:?}", s);
        }
    }
}

/// What the shell asked for a connection reached from the root (its context made
/// effective): the held buffer rewritten and resumed, then the close, with the summary set
/// first for tcp_proxy's access log.
fn carry_out_from_root(
    id: ConnId,
    len: usize,
    ops: &Ops,
    summary: impl FnOnce() -> Option<String>,
) {
    write_held(id, len, ops);
    if ops.close {
        if let Some(s) = summary() {
            host::set_summary(&s);
        }
        // A connection paused at end of stream would stay open: resume it first.
        if ops.holds() {
            let _ = host::resume_downstream();
        }
        if let Err(s) = host::close_downstream() {
            log::warn!("h2mux[{id}]: close failed: {:?}", s);
        }
    }
}

struct Root {
    /// The root context's id, its name in `TAKEOVERS`.
    id: u32,
    vm: Option<Rc<RefCell<Vm>>>,
    /// When the tick next asks whether a newer configuration took this one over.
    next_takeover_check: Instant,
}

/// How often a root with connections asks whether it was taken over (a read of Envoy's
/// shared data per listener it served).
const TAKEOVER_CHECK_MS: u64 = 100;

thread_local! {
    /// The VM's roots (one per h2mux configuration alive in it), to see listener updates.
    static TAKEOVERS: RefCell<Takeovers> = RefCell::new(Takeovers::default());
}

impl Context for Root {
    // Envoy calls this once the plugin's filter chains are gone: after its drain time, when
    // it has closed their connections itself (or at its shutdown). Nothing is left to tell.
    fn on_done(&mut self) -> bool {
        TAKEOVERS.with(|t| t.borrow_mut().gone(self.id));
        true
    }
}

impl Root {
    /// A newer configuration took this one's listeners over: every connection hears the
    /// graceful GOAWAY now, and streams under way finish within `shutdown_timeout_ms`.
    fn shut_down_taken_over(vm: &mut Vm, now: Instant) {
        let ids = vm.shell.conn_ids();
        log::info!(
            "h2mux: a newer configuration took this one's listeners over: {} connections told to go away",
            ids.len()
        );
        for id in ids {
            if host::set_effective_context(id).is_err() {
                continue;
            }
            let mut len = 0;
            let ops = vm
                .shell
                .shutdown_taken_over(id, now, || read_held(&mut len));
            debug_ops(id, "taken over, held", len, false, &ops);
            carry_out_from_root(id, len, &ops, || vm.shell.summary(id));
        }
    }
}

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
            Some(vm) => vm.borrow_mut().shell.reconfigure(cfg),
            None => {
                let shell = Shell::new(cfg, EnvoyRules);
                let metrics = MetricIds::define();
                let root = self.id;
                self.vm = Some(Rc::new(RefCell::new(Vm {
                    root,
                    shell,
                    metrics,
                })));
                TAKEOVERS.with(|t| t.borrow_mut().born(root, &mut host::SharedData));
            }
        }
        true
    }

    fn on_tick(&mut self) {
        let Some(vm) = self.vm.clone() else { return };
        let now = host::now();
        let mut vm = vm.borrow_mut();
        if vm.shell.config().drain_on_update
            && vm.shell.connections() > 0
            && now >= self.next_takeover_check
        {
            self.next_takeover_check = now.after(TAKEOVER_CHECK_MS);
            if TAKEOVERS.with(|t| t.borrow_mut().taken_over(self.id, &mut host::SharedData)) {
                Root::shut_down_taken_over(&mut vm, now);
            }
        }
        // Held connections whose wait for a request head is over go to the default cluster,
        // with what they sent so far.
        for id in vm.shell.routes_due(now) {
            let reachable = host::set_effective_context(id).is_ok();
            let step = vm.shell.route_after_wait(id);
            if !reachable {
                continue;
            }
            go_to(id, step);
            let mut len = 0;
            let held = read_held(&mut len);
            let holds = !held.is_empty() && {
                let ops = vm.shell.downstream(id, held, false, now);
                debug_ops(id, "route wait over, held", len, false, &ops);
                write_downstream(id, len, &ops)
            };
            // Without bytes the shell holds, the chain goes on: tcp_proxy connects now.
            if !holds {
                if let Err(s) = host::resume_downstream() {
                    log::warn!("h2mux[{id}]: resuming the downstream failed: {:?}", s);
                }
            }
        }
        let mut tick = vm.shell.tick(now);
        while let Some(id) = tick.next_conn() {
            if host::set_effective_context(id).is_err() {
                tick.skip();
                continue;
            }
            let mut len = 0;
            let ops = tick.visit(|| read_held(&mut len));
            debug_ops(id, "tick, held", len, false, &ops);
            carry_out_from_root(id, len, &ops, || tick.summary(id));
        }
        drop(tick);
        vm.publish();
    }

    fn create_stream_context(&self, context_id: u32) -> Option<Box<dyn StreamContext>> {
        let vm = self.vm.clone()?;
        {
            let mut v = vm.borrow_mut();
            v.shell.open(context_id, host::now());
            v.publish();
        }
        Some(Box::new(Filter {
            id: context_id,
            vm,
            tls_known: false,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::StreamContext)
    }
}

/// The stream context of one connection: a handle into the VM's shell.
struct Filter {
    id: ConnId,
    vm: Rc<RefCell<Vm>>,
    /// Whether the client's connection is TLS was asked (at its first bytes: the handshake
    /// is over by then).
    tls_known: bool,
}

impl Context for Filter {
    fn on_done(&mut self) -> bool {
        let mut vm = self.vm.borrow_mut();
        vm.shell.connection_closed(self.id, host::now());
        vm.publish();
        true
    }
}

impl StreamContext for Filter {
    // With routes, tcp_proxy must not connect before the cluster is chosen: the chain
    // stops here until a request head (or the wait's end) lets it go on.
    fn on_new_connection(&mut self) -> Action {
        let vm = self.vm.borrow();
        if let Some(key) = host::listener_key() {
            TAKEOVERS.with(|t| {
                t.borrow_mut()
                    .connection(vm.root, key, &mut host::SharedData)
            });
        }
        if vm.shell.route_pending(self.id) {
            Action::Pause
        } else {
            Action::Continue
        }
    }

    fn on_downstream_data(&mut self, size: usize, eos: bool) -> Action {
        let now = host::now();
        let mut vm = self.vm.borrow_mut();
        let mut sni = None;
        if !self.tls_known {
            self.tls_known = true;
            if host::client_tls() {
                vm.shell.set_client_tls(self.id);
                sni = host::requested_server_name();
            }
        }
        let input = Bytes::from(host::get(BufferType::DownstreamData, size));
        if vm.shell.route_pending(self.id) {
            // Envoy keeps what a paused callback left and hands it back with what follows.
            let step = vm.shell.route(self.id, &input, eos, sni.as_deref(), now);
            if !go_to(self.id, step) {
                vm.publish();
                return Action::Pause;
            }
        }
        let len = input.len();
        let ops = vm.shell.downstream(self.id, input, eos, now);
        debug_ops(self.id, "downstream", len, eos, &ops);
        let held = write_downstream(self.id, len, &ops);
        vm.publish();
        if held {
            Action::Pause
        } else {
            Action::Continue
        }
    }

    fn on_upstream_data(&mut self, size: usize, eos: bool) -> Action {
        let now = host::now();
        let mut vm = self.vm.borrow_mut();
        let data = Bytes::from(host::get(BufferType::UpstreamData, size));
        let mut len = 0;
        let ops = vm
            .shell
            .upstream(self.id, data, eos, now, || read_held(&mut len));
        debug_ops(self.id, "upstream", size, eos, &ops);
        if len > 0 {
            log::debug!("h2mux[{}]: held downstream was {len} B", self.id);
        }
        write_held(self.id, len, &ops);
        if let Some(out) = &ops.to_client {
            if let Err(s) = host::replace(BufferType::UpstreamData, size, out) {
                log::warn!(
                    "h2mux[{}]: writing client-bound bytes failed: {:?}",
                    self.id,
                    s
                );
            }
        }
        vm.publish();
        Action::Continue
    }

    // A side closed: the summary goes where tcp_proxy's access log, written when the
    // connection is gone, can read it.
    fn on_downstream_close(&mut self, _peer: PeerType) {
        if let Some(s) = self.vm.borrow().shell.summary(self.id) {
            host::set_summary(&s);
        }
    }

    fn on_upstream_close(&mut self, _peer: PeerType) {
        if let Some(s) = self.vm.borrow().shell.summary(self.id) {
            host::set_summary(&s);
        }
    }
}
