//! One VM: a wasmtime store and instance of the filter, driven the way Envoy drives a
//! network filter, with an in-memory model of each connection's two sockets.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::path::PathBuf;
use std::sync::OnceLock;

use wasmtime::{Engine, Instance, Linker, Module, Store, TypedFunc};

use super::abi::{action, log_level, peer};
use super::imports;
use super::state::{ConnState, Deferred, HostEvent, LogLine, Refusal, State};

/// A failure of the host or of the guest. A trap poisons the VM: every later call fails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostError {
    /// The module could not be read, compiled or instantiated.
    Load(String),
    /// The guest trapped (a panic in the filter, `proc_exit`, an unknown import...).
    Trap(String),
    /// A connection id this VM does not know.
    NoConnection(u32),
    /// The driver saw no progress for too long.
    Stalled(String),
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Load(m) => write!(f, "loading the module failed: {m}"),
            HostError::Trap(m) => write!(f, "the VM trapped: {m}"),
            HostError::NoConnection(c) => write!(f, "no connection {c}"),
            HostError::Stalled(m) => write!(f, "stalled: {m}"),
        }
    }
}

impl std::error::Error for HostError {}

pub type Result<T> = std::result::Result<T, HostError>;

/// A connection of one VM (its stream context id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u32);

/// How a VM is set up.
#[derive(Clone, Debug)]
pub struct VmOptions {
    /// The plugin configuration given to `proxy_on_configure` (JSON text).
    pub plugin_config: String,
    pub vm_config: String,
    /// Envoy's `per_connection_buffer_limit_bytes`: held client bytes beyond it stop reads.
    pub buffer_limit: usize,
    /// What `proxy_get_log_level` answers (Envoy's default: info).
    pub log_level: u32,
    /// The clock's start, in nanoseconds since the Unix epoch.
    pub start_ns: u64,
    /// Print guest logs to stderr (also on when `H2MUX_HOST_LOG=1`).
    pub echo_logs: bool,
}

impl Default for VmOptions {
    fn default() -> Self {
        VmOptions {
            plugin_config: "{}".into(),
            vm_config: String::new(),
            buffer_limit: 1 << 20,
            log_level: log_level::INFO,
            start_ns: 1_700_000_000_000_000_000,
            echo_logs: std::env::var("H2MUX_HOST_LOG").is_ok_and(|v| v == "1"),
        }
    }
}

/// Socket reads take at most this much at a time, like Envoy's read slices.
const READ_SLICE: usize = 16 * 1024;

struct Loaded {
    engine: Engine,
    module: Module,
}

/// The module under test: `H2MUX_WASM`, else `dist/h2mux.wasm` at the repository root.
pub fn module_path() -> PathBuf {
    match std::env::var_os("H2MUX_WASM") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../dist/h2mux.wasm"),
    }
}

/// Compiles the module once per process (compiling costs far more than instantiating).
fn loaded() -> Result<&'static Loaded> {
    static LOADED: OnceLock<std::result::Result<Loaded, String>> = OnceLock::new();
    LOADED
        .get_or_init(|| {
            let path = module_path();
            let bytes = std::fs::read(&path).map_err(|e| {
                format!(
                    "{}: {e} (build it with `make wasm` at the repository root)",
                    path.display()
                )
            })?;
            let engine = Engine::default();
            let module = Module::new(&engine, &bytes).map_err(|e| format!("{e:?}"))?;
            Ok(Loaded { engine, module })
        })
        .as_ref()
        .map_err(|e| HostError::Load(e.clone()))
}

struct Exports {
    on_context_create: TypedFunc<(i32, i32), ()>,
    on_vm_start: TypedFunc<(i32, i32), i32>,
    on_configure: TypedFunc<(i32, i32), i32>,
    on_new_connection: TypedFunc<i32, i32>,
    on_downstream_data: TypedFunc<(i32, i32, i32), i32>,
    on_upstream_data: TypedFunc<(i32, i32, i32), i32>,
    on_downstream_close: TypedFunc<(i32, i32), ()>,
    on_upstream_close: TypedFunc<(i32, i32), ()>,
    on_tick: TypedFunc<i32, ()>,
    on_done: TypedFunc<i32, i32>,
    on_log: TypedFunc<i32, ()>,
    on_delete: TypedFunc<i32, ()>,
}

/// One instance of the filter, as one Envoy worker runs it.
pub struct Vm {
    store: Store<State>,
    ex: Exports,
    opts: VmOptions,
    configured: bool,
    next_context: u32,
    next_tick_ns: Option<u64>,
    ticks: u64,
    trap: Option<String>,
    /// Connections whose socket may be read again (reading re-enabled, or new bytes).
    read_queue: VecDeque<u32>,
}

impl Vm {
    /// A VM configured with `plugin_config`; see [`Vm::configured`] for the verdict.
    pub fn new(plugin_config: &str) -> Result<Vm> {
        Vm::with_options(VmOptions {
            plugin_config: plugin_config.into(),
            ..VmOptions::default()
        })
    }

    /// Instantiates, then `_initialize`, `proxy_on_context_create(root, 0)`,
    /// `proxy_on_vm_start`, `proxy_on_configure`, as Envoy starts a plugin.
    pub fn with_options(opts: VmOptions) -> Result<Vm> {
        let l = loaded()?;
        let load = |e: wasmtime::Error| HostError::Load(format!("{e:?}"));
        let state = State::new(
            opts.start_ns,
            opts.log_level,
            opts.echo_logs,
            opts.vm_config.clone().into_bytes(),
        );
        let mut store = Store::new(&l.engine, state);
        let mut linker = Linker::new(&l.engine);
        imports::define(&mut linker, &l.module).map_err(load)?;
        let instance: Instance = linker.instantiate(&mut store, &l.module).map_err(load)?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| HostError::Load("no exported memory".into()))?;
        let alloc = instance
            .get_typed_func::<i32, i32>(&mut store, "proxy_on_memory_allocate")
            .or_else(|_| instance.get_typed_func::<i32, i32>(&mut store, "malloc"))
            .map_err(load)?;
        store.data_mut().memory = Some(memory);
        store.data_mut().alloc = Some(alloc);
        macro_rules! f {
            ($name:literal) => {
                instance
                    .get_typed_func(&mut store, $name)
                    .map_err(|e| HostError::Load(format!("{}: {e:?}", $name)))?
            };
        }
        let ex = Exports {
            on_context_create: f!("proxy_on_context_create"),
            on_vm_start: f!("proxy_on_vm_start"),
            on_configure: f!("proxy_on_configure"),
            on_new_connection: f!("proxy_on_new_connection"),
            on_downstream_data: f!("proxy_on_downstream_data"),
            on_upstream_data: f!("proxy_on_upstream_data"),
            on_downstream_close: f!("proxy_on_downstream_connection_close"),
            on_upstream_close: f!("proxy_on_upstream_connection_close"),
            on_tick: f!("proxy_on_tick"),
            on_done: f!("proxy_on_done"),
            on_log: f!("proxy_on_log"),
            on_delete: f!("proxy_on_delete"),
        };
        let init = instance
            .get_typed_func::<(), ()>(&mut store, "_initialize")
            .ok();
        let root = store.data().root_id;
        let mut vm = Vm {
            store,
            ex,
            opts,
            configured: false,
            next_context: root + 1,
            next_tick_ns: None,
            ticks: 0,
            trap: None,
            read_queue: VecDeque::new(),
        };
        if let Some(init) = init {
            vm.call(0, |s, _| init.call(s, ()))?;
        }
        let create = vm.ex.on_context_create.clone();
        vm.call(root, |s, _| create.call(s, (root as i32, 0)))?;
        let start = vm.ex.on_vm_start.clone();
        let vm_len = vm.opts.vm_config.len() as i32;
        vm.call(root, |s, _| start.call(s, (root as i32, vm_len)))?;
        let cfg = vm.opts.plugin_config.clone();
        vm.configure(&cfg)?;
        Ok(vm)
    }

    /// Calls `proxy_on_configure` with a new plugin configuration; returns its verdict.
    pub fn configure(&mut self, plugin_config: &str) -> Result<bool> {
        self.opts.plugin_config = plugin_config.into();
        self.store.data_mut().configuring = Some(plugin_config.as_bytes().to_vec());
        let f = self.ex.on_configure.clone();
        let root = self.root_id();
        let len = plugin_config.len() as i32;
        let r = self.call(root, |s, _| f.call(s, (root as i32, len)));
        self.store.data_mut().configuring = None;
        self.configured = r? != 0;
        self.schedule_tick();
        Ok(self.configured)
    }

    /// The last `proxy_on_configure` returned true.
    pub fn configured(&self) -> bool {
        self.configured
    }

    pub fn root_id(&self) -> u32 {
        self.store.data().root_id
    }

    /// Runs one call into the guest with `ctx` as the current context, then the actions
    /// it deferred. A trap is kept and reported by every later call.
    fn call<T>(
        &mut self,
        ctx: u32,
        f: impl FnOnce(&mut Store<State>, u32) -> wasmtime::Result<T>,
    ) -> Result<T> {
        if let Some(t) = &self.trap {
            return Err(HostError::Trap(t.clone()));
        }
        let saved = (self.store.data().current, self.store.data().effective);
        {
            let d = self.store.data_mut();
            d.current = ctx;
            d.effective = 0;
        }
        let r = f(&mut self.store, ctx);
        {
            let d = self.store.data_mut();
            d.current = saved.0;
            d.effective = saved.1;
        }
        match r {
            Ok(v) => Ok(v),
            Err(e) => {
                let msg = format!("{e:?}");
                self.trap = Some(msg.clone());
                Err(HostError::Trap(msg))
            }
        }
    }

    /// The guest trapped earlier: the message.
    pub fn trap(&self) -> Option<&str> {
        self.trap.as_deref()
    }

    fn check(&self) -> Result<()> {
        match &self.trap {
            Some(t) => Err(HostError::Trap(t.clone())),
            None => Ok(()),
        }
    }

    fn conn(&self, c: ConnId) -> Result<&ConnState> {
        self.store
            .data()
            .conns
            .get(&c.0)
            .ok_or(HostError::NoConnection(c.0))
    }

    fn conn_mut(&mut self, c: ConnId) -> Result<&mut ConnState> {
        self.store
            .data_mut()
            .conns
            .get_mut(&c.0)
            .ok_or(HostError::NoConnection(c.0))
    }

    /// A new client connection: creates its stream context and calls
    /// `proxy_on_new_connection`.
    pub fn open(&mut self) -> Result<ConnId> {
        self.check()?;
        let id = self.next_context;
        self.next_context += 1;
        self.store.data_mut().conns.insert(id, ConnState::default());
        let root = self.root_id() as i32;
        let create = self.ex.on_context_create.clone();
        self.call(id, |s, id| create.call(s, (id as i32, root)))?;
        let f = self.ex.on_new_connection.clone();
        let r = self.call(id, |s, id| f.call(s, id as i32))?;
        if r != action::CONTINUE {
            if let Some(st) = self.store.data_mut().conns.get_mut(&id) {
                st.chain_paused = true;
            }
        }
        self.settle()?;
        Ok(ConnId(id))
    }

    /// Bytes from the client arrive on the socket; read and handed to the filter unless
    /// reading is disabled (held bytes over the limit).
    pub fn client_send(&mut self, c: ConnId, bytes: &[u8]) -> Result<()> {
        self.check()?;
        let st = self.conn_mut(c)?;
        if st.closed || st.socket_fin {
            return Ok(());
        }
        st.socket_in.extend(bytes);
        self.read_queue.push_back(c.0);
        self.settle()
    }

    /// The client half-closes (FIN): the filter gets end of stream once earlier bytes are read.
    pub fn client_close(&mut self, c: ConnId) -> Result<()> {
        self.check()?;
        let st = self.conn_mut(c)?;
        if st.closed || st.socket_fin {
            return Ok(());
        }
        st.socket_fin = true;
        self.read_queue.push_back(c.0);
        self.settle()
    }

    /// Bytes from the upstream: `proxy_on_upstream_data` with everything not yet let through.
    pub fn upstream_send(&mut self, c: ConnId, bytes: &[u8]) -> Result<()> {
        self.check()?;
        let st = self.conn_mut(c)?;
        if st.closed || st.upstream_gone {
            return Ok(());
        }
        st.write_buf.extend_from_slice(bytes);
        self.upstream_callback(c.0, false)?;
        self.settle()
    }

    /// The upstream closes its socket: `proxy_on_upstream_data(size, eos)` (size 0 when
    /// nothing is held), `proxy_on_upstream_connection_close`, then the proxy closes the
    /// client connection after flushing what was let through.
    pub fn upstream_close(&mut self, c: ConnId) -> Result<()> {
        self.check()?;
        let st = self.conn_mut(c)?;
        if st.closed || st.upstream_gone {
            return Ok(());
        }
        st.upstream_gone = true;
        self.upstream_callback(c.0, true)?;
        let f = self.ex.on_upstream_close.clone();
        self.call(c.0, |s, id| f.call(s, (id as i32, peer::UNKNOWN)))?;
        self.run_deferred()?;
        self.close_conn(c.0, peer::LOCAL)?;
        self.settle()
    }

    fn upstream_callback(&mut self, id: u32, eos: bool) -> Result<()> {
        let st = self.store.data_mut().conns.get_mut(&id).expect("live");
        st.up_ptr = true;
        let len = st.write_buf.len() as i32;
        let f = self.ex.on_upstream_data.clone();
        let r = self.call(id, |s, id| f.call(s, (id as i32, len, eos as i32)))?;
        self.run_deferred()?;
        let st = self.store.data_mut().conns.get_mut(&id).expect("live");
        if st.closed {
            return Ok(());
        }
        if r == action::CONTINUE {
            let bytes = std::mem::take(&mut st.write_buf);
            st.to_client.extend_from_slice(&bytes);
            st.client_fin |= eos;
            st.up_ptr = false;
        }
        Ok(())
    }

    /// Reads what the sockets hold for connections queued for reading.
    fn settle(&mut self) -> Result<()> {
        while let Some(id) = self.read_queue.pop_front() {
            self.read_socket(id)?;
        }
        Ok(())
    }

    /// One read event: slices of the socket into the read buffer until it reaches the
    /// limit, then `proxy_on_downstream_data` with the whole buffer.
    fn read_socket(&mut self, id: u32) -> Result<()> {
        let limit = self.opts.buffer_limit;
        loop {
            let st = self.store.data_mut().conns.get_mut(&id).expect("live");
            if st.closed || st.read_disabled || st.read_eos {
                return Ok(());
            }
            let mut moved = 0;
            while !st.socket_in.is_empty() {
                let n = st.socket_in.len().min(READ_SLICE);
                st.read_buf.extend(st.socket_in.drain(..n));
                moved += n;
                if st.read_buf.len() >= limit {
                    break;
                }
            }
            let eos = st.socket_in.is_empty() && st.socket_fin;
            if moved == 0 && !eos {
                return Ok(());
            }
            st.read_eos = eos;
            if st.read_buf.len() > limit {
                // Envoy disables reading at the high watermark; this read still reaches
                // the filter.
                st.read_disabled = true;
                self.store
                    .data_mut()
                    .events
                    .push(HostEvent::ReadDisabled(id));
            }
            let st = self.store.data_mut().conns.get_mut(&id).expect("live");
            st.down_ptr = true;
            let len = st.read_buf.len() as i32;
            let f = self.ex.on_downstream_data.clone();
            let seen = self.store.data().events.len();
            let r = self.call(id, |s, id| f.call(s, (id as i32, len, eos as i32)))?;
            let own_continue = self
                .store
                .data()
                .events
                .get(seen..)
                .unwrap_or_default()
                .contains(&HostEvent::Resumed { conn: id, from: id });
            self.run_deferred()?;
            let st = self.store.data_mut().conns.get_mut(&id).expect("live");
            if st.closed {
                return Ok(());
            }
            if r == action::CONTINUE {
                st.down_ptr = false;
                self.forward_upstream(id);
            } else if own_continue {
                self.store.data_mut().events.push(HostEvent::Parked(id));
            } else {
                self.store.data_mut().events.push(HostEvent::Paused(id));
            }
            self.watermarks(id);
            self.maybe_finish(id)?;
        }
    }

    /// The proxy takes the read buffer toward the upstream (with FIN once read).
    fn forward_upstream(&mut self, id: u32) {
        let st = self.store.data_mut().conns.get_mut(&id).expect("live");
        if std::mem::take(&mut st.chain_paused) || st.cluster_at_connect.is_none() {
            // The chain goes on: tcp_proxy sees the connection and connects, to the
            // cluster the filter state names at this moment.
            st.cluster_at_connect = Some(st.cluster());
        }
        let bytes = std::mem::take(&mut st.read_buf);
        st.to_upstream.extend_from_slice(&bytes);
        st.upstream_fin |= st.read_eos;
    }

    /// Reading stops above the limit and resumes at half of it, like Envoy's watermarks.
    fn watermarks(&mut self, id: u32) {
        let limit = self.opts.buffer_limit;
        let st = self.store.data_mut().conns.get_mut(&id).expect("live");
        if st.read_buf.len() > limit {
            if !st.read_disabled {
                st.read_disabled = true;
                self.store
                    .data_mut()
                    .events
                    .push(HostEvent::ReadDisabled(id));
            }
        } else if st.read_disabled && st.read_buf.len() <= limit / 2 {
            st.read_disabled = false;
            self.read_queue.push_back(id);
        }
    }

    /// Both directions ended (half-closes each way): the connection closes.
    fn maybe_finish(&mut self, id: u32) -> Result<()> {
        let st = &self.store.data().conns[&id];
        if !st.closed && st.upstream_fin && st.client_fin {
            self.close_conn(id, peer::REMOTE)?;
        }
        Ok(())
    }

    /// Runs what the guest deferred during the last call.
    fn run_deferred(&mut self) -> Result<()> {
        loop {
            let actions = std::mem::take(&mut self.store.data_mut().deferred);
            if actions.is_empty() {
                return Ok(());
            }
            for a in actions {
                match a {
                    Deferred::Continue(id) => {
                        let live = self.store.data().conns.get(&id).is_some_and(|c| !c.closed);
                        if live {
                            self.forward_upstream(id);
                            self.watermarks(id);
                            // New socket bytes may be waiting even below the limit.
                            self.read_queue.push_back(id);
                        }
                    }
                    Deferred::Close(id) => self.close_conn(id, peer::LOCAL)?,
                }
            }
        }
    }

    /// Closes the client connection (flushing what was let through; the upstream sees EOF)
    /// and ends the stream context: connection close, `on_done`, `on_log`, `on_delete`.
    fn close_conn(&mut self, id: u32, peer_type: i32) -> Result<()> {
        let Some(st) = self.store.data_mut().conns.get_mut(&id) else {
            return Ok(());
        };
        if st.closed {
            return Ok(());
        }
        st.closed = true;
        self.store.data_mut().events.push(HostEvent::Closed(id));
        let st = self.store.data_mut().conns.get_mut(&id).expect("live");
        st.client_fin = true;
        st.upstream_fin = true;
        st.down_ptr = false;
        st.up_ptr = false;
        st.read_buf.clear();
        st.write_buf.clear();
        st.socket_in.clear();
        let e = &self.ex;
        let (close, done, log, delete) = (
            e.on_downstream_close.clone(),
            e.on_done.clone(),
            e.on_log.clone(),
            e.on_delete.clone(),
        );
        self.call(id, |s, id| close.call(s, (id as i32, peer_type)))?;
        self.call(id, |s, id| done.call(s, id as i32))?;
        self.call(id, |s, id| log.call(s, id as i32))?;
        self.call(id, |s, id| delete.call(s, id as i32))?;
        // Actions asked for by a context being deleted have nothing left to act on.
        self.store.data_mut().deferred.retain(|a| match a {
            Deferred::Continue(c) | Deferred::Close(c) => *c != id,
        });
        self.run_deferred()
    }

    /// The host closes the connection itself (a socket error, an upstream that could not be
    /// reached): like a close by the filter, with `peer_type` (`abi::peer`) telling who.
    pub fn close(&mut self, c: ConnId, peer_type: i32) -> Result<()> {
        self.check()?;
        self.conn(c)?;
        self.close_conn(c.0, peer_type)?;
        self.settle()
    }

    /// Bytes the filter let through toward the upstream since the last call.
    pub fn take_to_upstream(&mut self, c: ConnId) -> Vec<u8> {
        self.conn_mut(c)
            .map(|s| std::mem::take(&mut s.to_upstream))
            .unwrap_or_default()
    }

    /// Bytes the filter let through toward the client since the last call.
    pub fn take_to_client(&mut self, c: ConnId) -> Vec<u8> {
        self.conn_mut(c)
            .map(|s| std::mem::take(&mut s.to_client))
            .unwrap_or_default()
    }

    /// The upstream has been sent end of stream (after the bytes taken so far).
    pub fn upstream_eof(&self, c: ConnId) -> bool {
        self.conn(c).is_ok_and(|s| s.upstream_fin)
    }

    /// The client has been sent end of stream (after the bytes taken so far).
    pub fn client_eof(&self, c: ConnId) -> bool {
        self.conn(c).is_ok_and(|s| s.client_fin)
    }

    /// The client connection is closed and its context deleted.
    pub fn is_closed(&self, c: ConnId) -> bool {
        self.conn(c).is_ok_and(|s| s.closed)
    }

    /// Reading the client socket is disabled (held bytes above the buffer limit).
    pub fn is_read_disabled(&self, c: ConnId) -> bool {
        self.conn(c).is_ok_and(|s| s.read_disabled)
    }

    /// The filter stopped the chain at `proxy_on_new_connection` and has not let it go on:
    /// tcp_proxy has not connected upstream.
    pub fn chain_paused(&self, c: ConnId) -> bool {
        self.store
            .data()
            .conns
            .get(&c.0)
            .is_some_and(|s| s.chain_paused)
    }

    /// The chain went on (tcp_proxy connected): the cluster set as `envoy.tcp_proxy.cluster`
    /// by then (`Some(None)`: none, tcp_proxy's own). `None` while it has not gone on.
    pub fn upstream_cluster(&self, c: ConnId) -> Option<Option<String>> {
        self.store
            .data()
            .conns
            .get(&c.0)
            .and_then(|s| s.cluster_at_connect.clone())
    }

    /// Client bytes read but not let through (the filter paused).
    pub fn held_downstream(&self, c: ConnId) -> usize {
        self.conn(c).map_or(0, |s| s.read_buf.len())
    }

    /// Client bytes not yet read from the socket.
    pub fn unread_downstream(&self, c: ConnId) -> usize {
        self.conn(c).map_or(0, |s| s.socket_in.len())
    }

    pub fn connections(&self) -> Vec<ConnId> {
        self.store
            .data()
            .conns
            .iter()
            .filter(|(_, s)| !s.closed)
            .map(|(id, _)| ConnId(*id))
            .collect()
    }

    /// The tick period the root context asked for (0: none).
    pub fn tick_period_ms(&self) -> u32 {
        self.store.data().tick_period_ms
    }

    fn schedule_tick(&mut self) {
        let p = self.tick_period_ms() as u64;
        self.next_tick_ns = match (p, self.next_tick_ns) {
            (0, _) => None,
            (p, None) => Some(self.store.data().now_ns + p * 1_000_000),
            (_, t) => t,
        };
    }

    /// Moves the clock to the next tick and fires `proxy_on_tick` on the root context.
    /// Returns false when no tick period is set (nothing fires).
    pub fn tick(&mut self) -> Result<bool> {
        self.check()?;
        self.schedule_tick();
        let Some(at) = self.next_tick_ns else {
            return Ok(false);
        };
        let d = self.store.data_mut();
        d.now_ns = d.now_ns.max(at);
        self.fire_tick()?;
        Ok(true)
    }

    fn fire_tick(&mut self) -> Result<()> {
        let root = self.root_id();
        let f = self.ex.on_tick.clone();
        self.call(root, |s, root| f.call(s, root as i32))?;
        self.ticks += 1;
        self.run_deferred()?;
        let p = self.tick_period_ms() as u64 * 1_000_000;
        let now = self.store.data().now_ns;
        self.next_tick_ns = (p > 0).then_some(now + p);
        self.settle()
    }

    /// Advances the clock by `ms`, firing every tick that falls due on the way.
    pub fn advance(&mut self, ms: u64) -> Result<()> {
        self.check()?;
        let end = self.store.data().now_ns + ms * 1_000_000;
        loop {
            self.schedule_tick();
            match self.next_tick_ns {
                Some(at) if at <= end => {
                    self.store.data_mut().now_ns = at;
                    self.fire_tick()?;
                }
                _ => break,
            }
        }
        self.store.data_mut().now_ns = end;
        Ok(())
    }

    /// Milliseconds of clock until the next tick falls due (None: no tick period).
    pub fn next_tick_in_ms(&self) -> Option<u64> {
        let p = self.tick_period_ms() as u64 * 1_000_000;
        let now = self.store.data().now_ns;
        let at = self.next_tick_ns.or((p > 0).then_some(now + p))?;
        Some(at.saturating_sub(now).div_ceil(1_000_000))
    }

    /// Ticks fired so far.
    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    /// The clock, in milliseconds since it started.
    pub fn elapsed_ms(&self) -> u64 {
        (self.store.data().now_ns - self.opts.start_ns) / 1_000_000
    }

    /// Linear memory size in bytes.
    pub fn memory_size(&self) -> usize {
        self.store
            .data()
            .memory
            .map_or(0, |m| m.data_size(&self.store))
    }

    /// A counter or gauge by name (a histogram answers its sample count).
    pub fn metric(&self, name: &str) -> Option<i64> {
        self.store
            .data()
            .metrics
            .by_name
            .get(name)
            .map(|m| match m.kind {
                super::abi::metric::HISTOGRAM => m.samples.len() as i64,
                _ => m.value,
            })
    }

    /// Every metric defined, by name.
    pub fn metrics(&self) -> BTreeMap<String, i64> {
        self.store
            .data()
            .metrics
            .by_name
            .keys()
            .map(|k| (k.clone(), self.metric(k).unwrap_or(0)))
            .collect()
    }

    pub fn logs(&self) -> &[LogLine] {
        &self.store.data().logs
    }

    /// Log lines containing `needle`.
    pub fn logs_matching(&self, needle: &str) -> Vec<&LogLine> {
        self.logs()
            .iter()
            .filter(|l| l.message.contains(needle))
            .collect()
    }

    /// Host calls that answered something other than Ok.
    pub fn refusals(&self) -> &[Refusal] {
        &self.store.data().refusals
    }

    /// Pauses, resumes and closes, in order.
    pub fn events(&self) -> &[HostEvent] {
        &self.store.data().events
    }

    /// Takes the log lines, events and refusals recorded so far (a long-running host
    /// would otherwise keep them all).
    pub fn take_records(&mut self) -> (Vec<LogLine>, Vec<HostEvent>, Vec<Refusal>) {
        let d = self.store.data_mut();
        (
            std::mem::take(&mut d.logs),
            std::mem::take(&mut d.events),
            std::mem::take(&mut d.refusals),
        )
    }

    /// Calls to `proxy_done`.
    pub fn done_calls(&self) -> u32 {
        self.store.data().done_calls
    }
}
