//! The host side of one VM: everything the imports read and write, kept apart from
//! wasmtime so the buffer rules can be tested without a guest.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::abi::{buffer, metric, status};

/// One `proxy_log` line (or a line the guest wrote to stdout/stderr, at info/error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub level: u32,
    /// The context whose callback was running (0 outside callbacks).
    pub context: u32,
    pub message: String,
}

/// A host call that answered something other than Ok: the guest SDK panics on most of
/// these, so they explain traps and reveal calls made at the wrong moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub call: &'static str,
    pub status: i32,
    pub context: u32,
    pub detail: String,
}

/// What the filter did with its connections, in order (to check orderings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostEvent {
    /// `on_downstream_data` returned Pause.
    Paused(u32),
    /// `on_downstream_data` let its bytes go (`continue_stream` inside the callback) and
    /// returned Pause: parked, the buffer stays writable (Envoy 1.40, measured).
    Parked(u32),
    /// `continue_stream(Downstream)` for `conn`, called while `from`'s callback ran
    /// (the root's tick, or the connection's own `on_upstream_data`).
    Resumed {
        conn: u32,
        from: u32,
    },
    Closed(u32),
    /// Held client bytes went past the limit: the host stopped reading that socket.
    ReadDisabled(u32),
}

/// Actions the guest asks for during a callback; like Envoy, the host runs them when the
/// outermost call into the VM has returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Deferred {
    Continue(u32),
    Close(u32),
}

/// One client connection, seen from the host: two sockets and the filter's buffers.
#[derive(Default, Debug)]
pub(crate) struct ConnState {
    /// The client socket's read buffer: what `on_downstream_data` sees (held bytes stay).
    pub read_buf: Vec<u8>,
    /// End of stream was read from the client (delivered to the filter).
    pub read_eos: bool,
    /// The downstream buffer is reachable by host calls: set by `on_downstream_data`,
    /// cleared only when that callback returns Continue (Envoy keeps the pointer on Pause).
    pub down_ptr: bool,
    /// Bytes the client sent that the host has not read yet (reading disabled).
    pub socket_in: VecDeque<u8>,
    pub socket_fin: bool,
    /// Reading is disabled while the read buffer is above the connection's limit.
    pub read_disabled: bool,
    /// The upstream socket's read buffer: what `on_upstream_data` sees.
    pub write_buf: Vec<u8>,
    pub up_ptr: bool,
    /// What the filter let through, each way.
    pub to_upstream: Vec<u8>,
    pub upstream_fin: bool,
    pub to_client: Vec<u8>,
    pub client_fin: bool,
    /// The upstream closed its socket.
    pub upstream_gone: bool,
    pub closed: bool,
    /// `proxy_on_new_connection` returned Pause and the chain has not gone on since: Envoy
    /// has not shown the connection to tcp_proxy, which has not connected upstream.
    pub chain_paused: bool,
    /// Filter state set through `set_envoy_filter_state`: (path, value), in order.
    pub filter_state: Vec<(String, String)>,
    /// The chain went on (tcp_proxy connects): `envoy.tcp_proxy.cluster` at that moment.
    pub cluster_at_connect: Option<Option<String>>,
}

impl ConnState {
    /// What tcp_proxy would read as its cluster now.
    pub fn cluster(&self) -> Option<String> {
        self.filter_state
            .iter()
            .rev()
            .find(|(p, _)| p == "envoy.tcp_proxy.cluster")
            .map(|(_, v)| v.clone())
    }
}

/// Envoy's `SetEnvoyFilterStateArguments` (path = 1, value = 2, span = 3), read by hand:
/// (path, value, span), or None if it is not that message.
pub(crate) fn parse_filter_state_args(mut b: &[u8]) -> Option<(String, String, u64)> {
    fn varint(b: &mut &[u8]) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let (&x, rest) = b.split_first()?;
            *b = rest;
            n |= u64::from(x & 0x7f) << shift;
            if x & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }
    let (mut path, mut value, mut span) = (None, None, 0);
    while !b.is_empty() {
        let tag = varint(&mut b)?;
        match (tag >> 3, tag & 7) {
            (1 | 2, 2) => {
                let len = usize::try_from(varint(&mut b)?).ok()?;
                let s = String::from_utf8(b.get(..len)?.to_vec()).ok()?;
                b = b.get(len..)?;
                if tag >> 3 == 1 {
                    path = Some(s);
                } else {
                    value = Some(s);
                }
            }
            (3, 0) => span = varint(&mut b)?,
            _ => return None,
        }
    }
    Some((path?, value.unwrap_or_default(), span))
}

#[derive(Clone, Debug)]
pub(crate) struct Metric {
    pub kind: u32,
    pub value: i64,
    pub samples: Vec<u64>,
}

#[derive(Default)]
pub(crate) struct Metrics {
    next: [u32; 3],
    ids: HashMap<u32, String>,
    pub by_name: BTreeMap<String, Metric>,
}

impl Metrics {
    pub fn define(&mut self, kind: u32, name: &str) -> Result<u32, i32> {
        if kind > metric::HISTOGRAM {
            return Err(status::BAD_ARGUMENT);
        }
        let slot = &mut self.next[kind as usize];
        let id = *slot * metric::ID_STEP + kind;
        *slot += 1;
        self.ids.insert(id, name.to_string());
        self.by_name.entry(name.to_string()).or_insert(Metric {
            kind,
            value: 0,
            samples: Vec::new(),
        });
        Ok(id)
    }

    fn get_mut(&mut self, id: u32) -> Option<&mut Metric> {
        let name = self.ids.get(&id)?;
        self.by_name.get_mut(name)
    }

    /// Counters take only positive offsets; gauges go both ways; histograms refuse.
    pub fn increment(&mut self, id: u32, offset: i64) -> i32 {
        let kind = id & metric::TYPE_MASK;
        if kind >= metric::HISTOGRAM {
            return status::BAD_ARGUMENT;
        }
        let Some(m) = self.get_mut(id) else {
            return status::NOT_FOUND;
        };
        if kind == metric::COUNTER && offset <= 0 {
            return status::BAD_ARGUMENT;
        }
        m.value = m.value.wrapping_add(offset);
        status::OK
    }

    /// Counters add, gauges set, histograms record.
    pub fn record(&mut self, id: u32, value: u64) -> i32 {
        let kind = id & metric::TYPE_MASK;
        let Some(m) = self.get_mut(id) else {
            return status::NOT_FOUND;
        };
        match kind {
            metric::COUNTER => m.value = m.value.wrapping_add(value as i64),
            metric::GAUGE => m.value = value as i64,
            _ => m.samples.push(value),
        }
        status::OK
    }

    pub fn get(&mut self, id: u32) -> Result<u64, i32> {
        let kind = id & metric::TYPE_MASK;
        if kind != metric::COUNTER && kind != metric::GAUGE {
            return Err(status::BAD_ARGUMENT);
        }
        self.get_mut(id)
            .map(|m| m.value as u64)
            .ok_or(status::NOT_FOUND)
    }
}

/// Which bytes a buffer type names for the context a host call acts on.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Buf {
    /// No such buffer: NotFound.
    Missing,
    /// A buffer Envoy wraps around nothing: reads as empty, writes are BadArgument.
    Null,
    /// Read-only bytes (configuration).
    Const(Vec<u8>),
    Downstream(u32),
    Upstream(u32),
}

pub(crate) struct State {
    pub now_ns: u64,
    pub tick_period_ms: u32,
    pub log_level: u32,
    pub echo_logs: bool,
    pub logs: Vec<LogLine>,
    pub refusals: Vec<Refusal>,
    pub root_id: u32,
    /// The context whose callback runs (0 between calls).
    pub current: u32,
    /// Set by `proxy_set_effective_context` for the rest of the current call.
    pub effective: u32,
    /// The plugin configuration, readable during `proxy_on_configure` only.
    pub configuring: Option<Vec<u8>>,
    pub vm_config: Vec<u8>,
    pub conns: BTreeMap<u32, ConnState>,
    pub deferred: Vec<Deferred>,
    pub events: Vec<HostEvent>,
    pub metrics: Metrics,
    pub properties: HashMap<Vec<u8>, Vec<u8>>,
    pub shared: HashMap<Vec<u8>, (Vec<u8>, u32)>,
    pub queues: Vec<(Vec<u8>, VecDeque<Vec<u8>>)>,
    pub done_calls: u32,
    pub memory: Option<wasmtime::Memory>,
    pub alloc: Option<wasmtime::TypedFunc<i32, i32>>,
}

impl State {
    pub fn new(now_ns: u64, log_level: u32, echo_logs: bool, vm_config: Vec<u8>) -> State {
        State {
            now_ns,
            tick_period_ms: 0,
            log_level,
            echo_logs,
            logs: Vec::new(),
            refusals: Vec::new(),
            root_id: 1,
            current: 0,
            effective: 0,
            configuring: None,
            vm_config,
            conns: BTreeMap::new(),
            deferred: Vec::new(),
            events: Vec::new(),
            metrics: Metrics::default(),
            properties: HashMap::new(),
            shared: HashMap::new(),
            queues: Vec::new(),
            done_calls: 0,
            memory: None,
            alloc: None,
        }
    }

    /// The context host calls act on: the effective one if set, else the running one.
    pub fn acting(&self) -> u32 {
        if self.effective != 0 {
            self.effective
        } else {
            self.current
        }
    }

    pub fn refuse(&mut self, call: &'static str, status: i32, detail: String) -> i32 {
        let context = self.acting();
        self.refusals.push(Refusal {
            call,
            status,
            context,
            detail,
        });
        status
    }

    pub fn log(&mut self, level: u32, message: String) {
        if self.echo_logs {
            eprintln!(
                "[wasm {} ctx {}] {}",
                super::abi::log_level::name(level),
                self.current,
                message
            );
        }
        self.logs.push(LogLine {
            level,
            context: self.current,
            message,
        });
    }

    pub fn buffer(&self, kind: i32) -> Buf {
        let ctx = self.acting();
        let conn = self.conns.get(&ctx).filter(|c| !c.closed);
        match kind {
            buffer::DOWNSTREAM_DATA => match conn {
                Some(c) if c.down_ptr => Buf::Downstream(ctx),
                _ => Buf::Null,
            },
            buffer::UPSTREAM_DATA => match conn {
                Some(c) if c.up_ptr => Buf::Upstream(ctx),
                _ => Buf::Null,
            },
            buffer::PLUGIN_CONFIGURATION => match &self.configuring {
                Some(b) => Buf::Const(b.clone()),
                None => Buf::Missing,
            },
            buffer::VM_CONFIGURATION => Buf::Const(self.vm_config.clone()),
            buffer::HTTP_REQUEST_BODY
            | buffer::HTTP_RESPONSE_BODY
            | buffer::GRPC_RECEIVE_BUFFER => Buf::Null,
            buffer::HTTP_CALL_RESPONSE_BODY | buffer::CALL_DATA => Buf::Missing,
            _ => Buf::Missing,
        }
    }

    fn bytes_mut(&mut self, b: &Buf) -> Option<&mut Vec<u8>> {
        match b {
            Buf::Downstream(id) => self.conns.get_mut(id).map(|c| &mut c.read_buf),
            Buf::Upstream(id) => self.conns.get_mut(id).map(|c| &mut c.write_buf),
            _ => None,
        }
    }

    /// `proxy_get_buffer_bytes`: up to `max` bytes from `start`; Ok with nothing when empty.
    pub fn get_buffer(&mut self, kind: i32, start: u32, max: u32) -> Result<Vec<u8>, i32> {
        if !(0..=buffer::CALL_DATA).contains(&kind) {
            return Err(status::BAD_ARGUMENT);
        }
        let b = self.buffer(kind);
        let whole: &[u8] = match &b {
            Buf::Missing => return Err(status::NOT_FOUND),
            Buf::Null => &[],
            Buf::Const(v) => v,
            Buf::Downstream(_) | Buf::Upstream(_) => {
                let v = self.bytes_mut(&b).expect("buffer of a live connection");
                return slice(v, start, max).map(<[u8]>::to_vec);
            }
        };
        slice(whole, start, max).map(<[u8]>::to_vec)
    }

    /// `proxy_set_buffer_bytes` with Envoy's copy rules: `start == 0` drains `size` bytes
    /// then prepends, `start >= len` appends, anything in between is BadArgument.
    pub fn set_buffer(&mut self, kind: i32, start: u32, size: u32, data: &[u8]) -> i32 {
        if !(0..=buffer::CALL_DATA).contains(&kind) {
            return status::BAD_ARGUMENT;
        }
        let b = self.buffer(kind);
        if b == Buf::Missing {
            return status::NOT_FOUND;
        }
        let Some(v) = self.bytes_mut(&b) else {
            return status::BAD_ARGUMENT;
        };
        let (start, size) = (start as usize, size as usize);
        if start == 0 {
            v.drain(..size.min(v.len()));
            v.splice(0..0, data.iter().copied());
            status::OK
        } else if start >= v.len() {
            v.extend_from_slice(data);
            status::OK
        } else {
            status::BAD_ARGUMENT
        }
    }
}

fn slice(v: &[u8], start: u32, max: u32) -> Result<&[u8], i32> {
    let start = start as usize;
    if start > v.len() {
        return Err(status::BAD_ARGUMENT);
    }
    let end = start.saturating_add(max as usize).min(v.len());
    Ok(&v[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_conn() -> State {
        let mut s = State::new(0, 2, false, Vec::new());
        s.conns.insert(2, ConnState::default());
        s
    }

    #[test]
    fn downstream_copy_rules() {
        let mut s = with_conn();
        s.current = 2;
        // Not inside on_downstream_data and nothing held: reads empty, refuses writes.
        assert_eq!(
            s.get_buffer(buffer::DOWNSTREAM_DATA, 0, u32::MAX),
            Ok(vec![])
        );
        assert_eq!(
            s.set_buffer(buffer::DOWNSTREAM_DATA, 0, 0, b"x"),
            status::BAD_ARGUMENT
        );
        let c = s.conns.get_mut(&2).unwrap();
        c.down_ptr = true;
        c.read_buf = b"abcdef".to_vec();
        assert_eq!(
            s.set_buffer(buffer::DOWNSTREAM_DATA, 0, 2, b"XY"),
            status::OK
        );
        assert_eq!(s.conns[&2].read_buf, b"XYcdef");
        assert_eq!(
            s.set_buffer(buffer::DOWNSTREAM_DATA, 6, 0, b"!"),
            status::OK
        );
        assert_eq!(s.conns[&2].read_buf, b"XYcdef!");
        assert_eq!(
            s.set_buffer(buffer::DOWNSTREAM_DATA, 3, 1, b"?"),
            status::BAD_ARGUMENT
        );
        // Draining more than there is empties the buffer.
        assert_eq!(
            s.set_buffer(buffer::DOWNSTREAM_DATA, 0, 100, b""),
            status::OK
        );
        assert!(s.conns[&2].read_buf.is_empty());
        assert_eq!(
            s.get_buffer(buffer::DOWNSTREAM_DATA, 0, 0),
            Ok(vec![]),
            "zero length"
        );
    }

    #[test]
    fn upstream_buffer_only_while_reachable() {
        let mut s = with_conn();
        s.current = 2;
        s.conns.get_mut(&2).unwrap().down_ptr = true;
        // Inside on_downstream_data the client-bound buffer cannot be written.
        assert_eq!(
            s.set_buffer(buffer::UPSTREAM_DATA, 0, 0, b"x"),
            status::BAD_ARGUMENT
        );
        s.conns.get_mut(&2).unwrap().up_ptr = true;
        assert_eq!(s.set_buffer(buffer::UPSTREAM_DATA, 0, 0, b"x"), status::OK);
    }

    #[test]
    fn root_reaches_a_connection_only_through_the_effective_context() {
        let mut s = with_conn();
        s.current = s.root_id;
        let c = s.conns.get_mut(&2).unwrap();
        c.down_ptr = true;
        c.read_buf = b"held".to_vec();
        assert_eq!(s.get_buffer(buffer::DOWNSTREAM_DATA, 0, 100), Ok(vec![]));
        s.effective = 2;
        assert_eq!(
            s.get_buffer(buffer::DOWNSTREAM_DATA, 1, 2),
            Ok(b"el".to_vec())
        );
    }

    #[test]
    fn configuration_is_read_only_and_only_during_configure() {
        let mut s = with_conn();
        s.current = 1;
        assert_eq!(
            s.get_buffer(buffer::PLUGIN_CONFIGURATION, 0, u32::MAX),
            Err(status::NOT_FOUND)
        );
        s.configuring = Some(b"{}".to_vec());
        assert_eq!(
            s.get_buffer(buffer::PLUGIN_CONFIGURATION, 0, u32::MAX),
            Ok(b"{}".to_vec())
        );
        assert_eq!(
            s.set_buffer(buffer::PLUGIN_CONFIGURATION, 0, 0, b"x"),
            status::BAD_ARGUMENT
        );
        assert_eq!(s.get_buffer(99, 0, 1), Err(status::BAD_ARGUMENT));
    }

    #[test]
    fn metric_rules() {
        let mut m = Metrics::default();
        let c = m.define(metric::COUNTER, "c").unwrap();
        let g = m.define(metric::GAUGE, "g").unwrap();
        let h = m.define(metric::HISTOGRAM, "h").unwrap();
        assert_eq!(m.increment(c, 0), status::BAD_ARGUMENT);
        assert_eq!(m.increment(c, -1), status::BAD_ARGUMENT);
        assert_eq!(m.increment(c, 3), status::OK);
        assert_eq!(m.increment(g, -2), status::OK);
        assert_eq!(m.increment(h, 1), status::BAD_ARGUMENT);
        assert_eq!(m.record(g, 7), status::OK);
        assert_eq!(m.record(c, 2), status::OK);
        assert_eq!(m.record(h, 9), status::OK);
        assert_eq!(m.get(c), Ok(5));
        assert_eq!(m.get(g), Ok(7));
        assert_eq!(m.get(h), Err(status::BAD_ARGUMENT));
        assert_eq!(m.increment(c + 4, 1), status::NOT_FOUND);
    }
}
