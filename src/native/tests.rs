//! The hooks against a fake Envoy: the ABI's callbacks defined here, in the test binary,
//! over plain Rust state. What only the real Envoy can show (its buffers, its scheduler,
//! its close events) is in the e2e suite (`E2E_ARTIFACT=native`); these tests pin what the
//! module itself decides: configuration errors, replies written in the event that caused
//! them, the deferred close, a caught panic, and every scheduler given back.

#![allow(clippy::missing_safety_doc)]

use std::ffi::c_void;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::abi::{self, EnvoyBuffer, ModuleBuffer};
use crate::hooks::*;

// ---------------------------------------------------------------- the fake Envoy

/// One connection as Envoy would hold it.
#[derive(Default)]
struct FakeFilter {
    /// The read buffer passing through `on_read` (what tcp_proxy gets on Continue).
    read: Vec<u8>,
    /// The write buffer passing through `on_write` (what the client gets).
    write: Vec<u8>,
    /// Injected toward tcp_proxy, and whether with the end of stream.
    injected_up: Vec<u8>,
    injected_up_eos: bool,
    /// Injected toward the client.
    injected_down: Vec<u8>,
    read_disabled: i32,
    closed: bool,
    state: Vec<(String, Vec<u8>)>,
    /// A host fault: reports more read chunks than memory can hold.
    bogus_chunks: bool,
    /// A host fault: the chunks handed over miss the buffer's last byte.
    short_chunks: bool,
    /// Schedulers made for this connection and not deleted yet.
    schedulers: Arc<AtomicIsize>,
    /// Ticks committed to this connection's scheduler (none is delivered by the fake).
    ticks: Arc<AtomicIsize>,
}

struct FakeScheduler {
    events: Mutex<Vec<u64>>,
    owner: Arc<AtomicIsize>,
    ticks: Arc<AtomicIsize>,
}

#[derive(Default)]
struct FakeConfig {
    metrics: Mutex<Vec<(String, i64)>>,
}

static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

unsafe fn filter<'a>(f: *mut c_void) -> &'a mut FakeFilter {
    &mut *(f as *mut FakeFilter)
}

unsafe fn bytes<'a>(b: ModuleBuffer) -> &'a [u8] {
    if b.ptr.is_null() {
        &[]
    } else {
        std::slice::from_raw_parts(b.ptr, b.length)
    }
}

unsafe fn chunks_of(v: &[u8], out: *mut EnvoyBuffer) -> bool {
    *out = EnvoyBuffer {
        ptr: v.as_ptr(),
        length: v.len(),
    };
    true
}

#[no_mangle]
extern "C" fn envoy_dynamic_module_callback_log_enabled(_level: u32) -> bool {
    true
}
#[no_mangle]
unsafe extern "C" fn envoy_dynamic_module_callback_log(_level: u32, m: ModuleBuffer) {
    let line = String::from_utf8_lossy(bytes(m)).into_owned();
    LOG.lock().unwrap().push(line);
}
#[no_mangle]
unsafe extern "C" fn envoy_dynamic_module_callback_network_filter_get_read_buffer_size(
    f: *mut c_void,
) -> usize {
    filter(f).read.len()
}
#[no_mangle]
unsafe extern "C" fn envoy_dynamic_module_callback_network_filter_get_write_buffer_size(
    f: *mut c_void,
) -> usize {
    filter(f).write.len()
}
#[no_mangle]
unsafe extern "C" fn envoy_dynamic_module_callback_network_filter_get_read_buffer_chunks_size(
    f: *mut c_void,
) -> usize {
    let f = filter(f);
    if f.bogus_chunks {
        usize::MAX
    } else {
        usize::from(!f.read.is_empty())
    }
}
#[no_mangle]
unsafe extern "C" fn envoy_dynamic_module_callback_network_filter_get_read_buffer_chunks(
    f: *mut c_void,
    out: *mut EnvoyBuffer,
) -> bool {
    let f = filter(f);
    let n = f.read.len() - usize::from(f.short_chunks);
    chunks_of(&f.read[..n], out)
}
#[no_mangle]
unsafe extern "C" fn envoy_dynamic_module_callback_network_filter_get_write_buffer_chunks_size(
    f: *mut c_void,
) -> usize {
    usize::from(!filter(f).write.is_empty())
}
#[no_mangle]
unsafe extern "C" fn envoy_dynamic_module_callback_network_filter_get_write_buffer_chunks(
    f: *mut c_void,
    out: *mut EnvoyBuffer,
) -> bool {
    chunks_of(&filter(f).write, out)
}
#[no_mangle]
unsafe extern "C" fn envoy_dynamic_module_callback_network_filter_drain_read_buffer(
    f: *mut c_void,
    n: usize,
) -> bool {
    let r = &mut filter(f).read;
    r.drain(..n.min(r.len()));
    true
}
#[no_mangle]
unsafe extern "C" fn envoy_dynamic_module_callback_network_filter_drain_write_buffer(
    f: *mut c_void,
    n: usize,
) -> bool {
    let w = &mut filter(f).write;
    w.drain(..n.min(w.len()));
    true
}
#[no_mangle]
unsafe extern "C" fn envoy_dynamic_module_callback_network_filter_append_read_buffer(
    f: *mut c_void,
    d: ModuleBuffer,
) -> bool {
    filter(f).read.extend_from_slice(bytes(d));
    true
}
#[no_mangle]
unsafe extern "C" fn envoy_dynamic_module_callback_network_filter_append_write_buffer(
    f: *mut c_void,
    d: ModuleBuffer,
) -> bool {
    filter(f).write.extend_from_slice(bytes(d));
    true
}
#[no_mangle]
unsafe extern "C" fn envoy_dynamic_module_callback_network_filter_inject_read_data(
    f: *mut c_void,
    d: ModuleBuffer,
    eos: bool,
) {
    let f = filter(f);
    f.injected_up.extend_from_slice(bytes(d));
    f.injected_up_eos |= eos;
}
#[no_mangle]
unsafe extern "C" fn envoy_dynamic_module_callback_network_filter_inject_write_data(
    f: *mut c_void,
    d: ModuleBuffer,
    _eos: bool,
) {
    filter(f).injected_down.extend_from_slice(bytes(d));
}
#[no_mangle]
unsafe extern "C" fn envoy_dynamic_module_callback_network_filter_read_disable(
    f: *mut c_void,
    disable: bool,
) -> u32 {
    filter(f).read_disabled += if disable { 1 } else { -1 };
    0
}
#[no_mangle]
unsafe extern "C" fn envoy_dynamic_module_callback_network_filter_close(f: *mut c_void, _t: u32) {
    filter(f).closed = true;
}
#[no_mangle]
extern "C" fn envoy_dynamic_module_callback_network_filter_is_ssl(_f: *mut c_void) -> bool {
    false
}
#[no_mangle]
extern "C" fn envoy_dynamic_module_callback_network_filter_get_buffer_limit(
    _f: *mut c_void,
) -> u32 {
    1 << 20
}
#[no_mangle]
unsafe extern "C" fn envoy_dynamic_module_callback_network_filter_scheduler_new(
    f: *mut c_void,
) -> *mut c_void {
    let owner = filter(f).schedulers.clone();
    owner.fetch_add(1, Ordering::SeqCst);
    Box::into_raw(Box::new(FakeScheduler {
        events: Mutex::new(Vec::new()),
        owner,
        ticks: filter(f).ticks.clone(),
    })) as *mut c_void
}
#[no_mangle]
unsafe extern "C" fn envoy_dynamic_module_callback_network_filter_scheduler_commit(
    s: *mut c_void,
    e: u64,
) {
    let s = &*(s as *mut FakeScheduler);
    s.events.lock().unwrap().push(e);
    if e == crate::clock::TICK_EVENT {
        s.ticks.fetch_add(1, Ordering::SeqCst);
    }
}
#[no_mangle]
unsafe extern "C" fn envoy_dynamic_module_callback_network_filter_scheduler_delete(s: *mut c_void) {
    let s = Box::from_raw(s as *mut FakeScheduler);
    s.owner.fetch_sub(1, Ordering::SeqCst);
}
unsafe fn define(c: *mut c_void, name: ModuleBuffer, id: *mut usize) -> u32 {
    let c = &*(c as *const FakeConfig);
    let mut m = c.metrics.lock().unwrap();
    m.push((String::from_utf8_lossy(bytes(name)).into_owned(), 0));
    *id = m.len(); // 1-based, as Envoy 1.40's
    abi::METRICS_SUCCESS
}
unsafe fn add(c: *mut c_void, id: usize, by: i64) -> u32 {
    let c = &*(c as *const FakeConfig);
    match c.metrics.lock().unwrap().get_mut(id.wrapping_sub(1)) {
        Some(m) => {
            m.1 += by;
            abi::METRICS_SUCCESS
        }
        None => 1,
    }
}
#[no_mangle]
unsafe extern "C" fn envoy_dynamic_module_callback_network_filter_config_define_counter(
    c: *mut c_void,
    n: ModuleBuffer,
    id: *mut usize,
) -> u32 {
    define(c, n, id)
}
#[no_mangle]
unsafe extern "C" fn envoy_dynamic_module_callback_network_filter_config_define_gauge(
    c: *mut c_void,
    n: ModuleBuffer,
    id: *mut usize,
) -> u32 {
    define(c, n, id)
}
#[no_mangle]
unsafe extern "C" fn envoy_dynamic_module_callback_network_filter_config_define_histogram(
    c: *mut c_void,
    n: ModuleBuffer,
    id: *mut usize,
) -> u32 {
    define(c, n, id)
}
#[no_mangle]
unsafe extern "C" fn envoy_dynamic_module_callback_network_filter_config_increment_counter(
    c: *mut c_void,
    id: usize,
    v: u64,
) -> u32 {
    add(c, id, v as i64)
}
#[no_mangle]
unsafe extern "C" fn envoy_dynamic_module_callback_network_filter_config_increment_gauge(
    c: *mut c_void,
    id: usize,
    v: u64,
) -> u32 {
    add(c, id, v as i64)
}
#[no_mangle]
unsafe extern "C" fn envoy_dynamic_module_callback_network_filter_config_decrement_gauge(
    c: *mut c_void,
    id: usize,
    v: u64,
) -> u32 {
    add(c, id, -(v as i64))
}
#[no_mangle]
unsafe extern "C" fn envoy_dynamic_module_callback_network_filter_config_record_histogram_value(
    c: *mut c_void,
    id: usize,
    _v: u64,
) -> u32 {
    add(c, id, 1)
}
#[no_mangle]
unsafe extern "C" fn envoy_dynamic_module_callback_network_set_filter_state_bytes(
    f: *mut c_void,
    k: ModuleBuffer,
    v: ModuleBuffer,
) -> bool {
    let key = String::from_utf8_lossy(bytes(k)).into_owned();
    filter(f).state.push((key, bytes(v).to_vec()));
    true
}

// ---------------------------------------------------------------- helpers

struct Module {
    envoy_config: Box<FakeConfig>,
    config: abi::FilterConfigModulePtr,
}

impl Module {
    fn new(json: &str) -> Option<Module> {
        let envoy_config = Box::<FakeConfig>::default();
        let ptr = &*envoy_config as *const FakeConfig as *mut c_void;
        let config = unsafe {
            envoy_dynamic_module_on_network_filter_config_new(
                ptr,
                buf(b"h2mux"),
                buf(json.as_bytes()),
            )
        };
        (!config.is_null()).then_some(Module {
            envoy_config,
            config,
        })
    }

    fn metric(&self, name: &str) -> i64 {
        let m = self.envoy_config.metrics.lock().unwrap();
        m.iter().filter(|(n, _)| n == name).map(|(_, v)| v).sum()
    }

    fn connect(&self) -> Conn {
        let mut fake = Box::<FakeFilter>::default();
        let envoy = &mut *fake as *mut FakeFilter as *mut c_void;
        let ptr = unsafe { envoy_dynamic_module_on_network_filter_new(self.config, envoy) };
        assert!(!ptr.is_null());
        let status = unsafe { envoy_dynamic_module_on_network_filter_new_connection(envoy, ptr) };
        assert_eq!(status, abi::CONTINUE);
        Conn { fake, ptr }
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        unsafe { envoy_dynamic_module_on_network_filter_config_destroy(self.config) };
    }
}

struct Conn {
    fake: Box<FakeFilter>,
    ptr: abi::FilterModulePtr,
}

impl Conn {
    fn envoy(&mut self) -> *mut c_void {
        &mut *self.fake as *mut FakeFilter as *mut c_void
    }

    /// Client bytes arrive: returns the hook's status; `fake.read` is then what goes on to
    /// tcp_proxy.
    fn client_sends(&mut self, data: &[u8]) -> u32 {
        self.fake.read = data.to_vec();
        let (e, p) = (self.envoy(), self.ptr);
        unsafe { envoy_dynamic_module_on_network_filter_read(e, p, data.len(), false) }
    }

    fn scheduled(&mut self, event: u64) {
        let (e, p) = (self.envoy(), self.ptr);
        unsafe { envoy_dynamic_module_on_network_filter_scheduled(e, p, event) };
    }

    fn destroy(mut self) {
        let (e, p) = (self.envoy(), self.ptr);
        unsafe {
            envoy_dynamic_module_on_network_filter_event(e, p, abi::EVENT_REMOTE_CLOSE);
            envoy_dynamic_module_on_network_filter_destroy(p);
        }
    }
}

fn buf(b: &[u8]) -> EnvoyBuffer {
    EnvoyBuffer {
        ptr: b.as_ptr(),
        length: b.len(),
    }
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
    f.extend([kind, flags]);
    f.extend(stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// The frames in `bytes`, as (type, flags, payload).
fn frames(mut bytes: &[u8]) -> Vec<(u8, u8, Vec<u8>)> {
    let mut out = Vec::new();
    while bytes.len() >= 9 {
        let len = u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]) as usize;
        out.push((bytes[3], bytes[4], bytes[9..9 + len].to_vec()));
        bytes = &bytes[9 + len..];
    }
    out
}

fn client_hello() -> Vec<u8> {
    let mut b = PREFACE.to_vec();
    b.extend(frame(4, 0, 0, &[]));
    b
}

// ---------------------------------------------------------------- tests

#[test]
fn a_bad_configuration_is_refused_naming_its_key() {
    assert!(Module::new(r#"{"no_such_key_in_h2mux": 1}"#).is_none());
    let log = LOG.lock().unwrap();
    assert!(
        log.iter().any(|l| l.contains("no_such_key_in_h2mux")),
        "no log line names the key: {log:?}"
    );
}

#[test]
fn routes_are_refused_naming_the_key() {
    let cfg = r#"{"routes": [{"authority": "a.example", "cluster": "a"}]}"#;
    assert!(Module::new(cfg).is_none());
    let log = LOG.lock().unwrap();
    assert!(
        log.iter()
            .any(|l| l.contains("key `routes`") && l.contains("native module")),
        "no log line names the key: {log:?}"
    );
}

#[test]
fn every_metric_name_is_defined_when_the_configuration_is_made() {
    let m = Module::new("{}").unwrap();
    for name in [
        "h2mux_connections_total",
        "h2mux_request_duration_ms",
        "h2mux_client_resets_received_cancel",
        "h2mux_upstream_goaways_received_unknown",
        "h2mux_client_violations_http1_bare_cr",
        "h2mux_client_violations_hpack_bad_index",
        "h2mux_client_violations_invalid_preface",
    ] {
        let defined = m
            .envoy_config
            .metrics
            .lock()
            .unwrap()
            .iter()
            .any(|(n, _)| n == name);
        assert!(defined, "{name} not defined");
    }
}

#[test]
fn a_client_ping_is_answered_in_the_event_that_brought_it() {
    let m = Module::new("{}").unwrap();
    let mut c = m.connect();
    assert_eq!(c.client_sends(&client_hello()), abi::CONTINUE);
    // Upstream-bound: our own preface, in the read buffer that goes on to tcp_proxy.
    assert!(
        c.fake.read.starts_with(PREFACE),
        "upstream got {:?}",
        c.fake.read
    );
    // Client-bound, at once: our SETTINGS and the ACK of the client's.
    let down = frames(&c.fake.injected_down);
    assert!(
        down.iter().any(|f| f.0 == 4 && f.1 == 0),
        "no SETTINGS: {down:?}"
    );
    assert!(
        down.iter().any(|f| f.0 == 4 && f.1 == 1),
        "no SETTINGS ACK: {down:?}"
    );
    c.fake.injected_down.clear();
    // A PING, with the upstream silent: answered in the same event.
    assert_eq!(c.client_sends(&frame(6, 0, 0, b"h2mux-t1")), abi::CONTINUE);
    let down = frames(&c.fake.injected_down);
    assert_eq!(down, vec![(6, 1, b"h2mux-t1".to_vec())]);
    assert!(
        c.fake.read.is_empty(),
        "the PING went upstream: {:?}",
        c.fake.read
    );
    assert_eq!(m.metric("h2mux_doorbells_total"), 0);
    c.destroy();
}

#[test]
fn a_close_asked_in_a_read_event_comes_from_the_next_scheduled_event() {
    let m = Module::new("{}").unwrap();
    let mut c = m.connect();
    // Not HTTP at all: GOAWAY(PROTOCOL_ERROR), then a close.
    c.client_sends(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not a preface");
    let down = frames(&c.fake.injected_down);
    assert!(
        down.iter()
            .any(|f| f.0 == 7 && f.2.get(4..8) == Some(&[0, 0, 0, 1])),
        "no GOAWAY(PROTOCOL_ERROR): {down:?}"
    );
    assert!(!c.fake.closed, "closed inside the read hook");
    c.scheduled(crate::worker::CLOSE_EVENT);
    assert!(c.fake.closed);
    assert!(
        c.fake
            .state
            .iter()
            .any(|(k, v)| k == "wasm.h2mux_summary" && !v.is_empty()),
        "no summary before the close"
    );
    c.destroy();
}

#[test]
fn a_panic_in_a_hook_closes_only_its_connection_and_is_counted() {
    let m = Module::new("{}").unwrap();
    let mut bad = m.connect();
    let mut good = m.connect();
    bad.fake.bogus_chunks = true;
    assert_eq!(bad.client_sends(&client_hello()), abi::STOP_ITERATION);
    assert!(bad.fake.closed, "the connection that panicked stays open");
    assert_eq!(m.metric("h2mux_internal_errors_total"), 1);
    // The worker goes on serving its other connections.
    good.client_sends(&client_hello());
    good.fake.injected_down.clear();
    good.client_sends(&frame(6, 0, 0, b"still-up"));
    assert_eq!(
        frames(&good.fake.injected_down),
        vec![(6, 1, b"still-up".to_vec())]
    );
    assert!(!good.fake.closed);
    bad.destroy();
    good.destroy();
}

#[test]
fn every_connection_is_counted_and_every_scheduler_given_back() {
    let m = Module::new("{}").unwrap();
    let conns: Vec<Conn> = (0..5).map(|_| m.connect()).collect();
    assert_eq!(m.metric("h2mux_connections_total"), 5);
    assert_eq!(m.metric("h2mux_connections_active"), 5);
    let schedulers: Vec<_> = conns.iter().map(|c| c.fake.schedulers.clone()).collect();
    assert!(schedulers.iter().all(|s| s.load(Ordering::SeqCst) == 1));
    // The first connection carries the worker's ticks: destroyed first, the clock must
    // move to another one before its scheduler is deleted.
    for c in conns {
        c.destroy();
    }
    assert_eq!(m.metric("h2mux_connections_active"), 0);
    assert!(
        schedulers.iter().all(|s| s.load(Ordering::SeqCst) == 0),
        "a scheduler was not deleted"
    );
}

/// Waits until `n` has reached `at_least`, for at most 5 s.
fn wait_for(n: &AtomicIsize, at_least: isize, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while n.load(Ordering::SeqCst) < at_least {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within 5 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

#[test]
fn the_clock_ticks_the_worker_through_a_live_connection() {
    let m = Module::new(r#"{"tick_ms": 5}"#).unwrap();
    let mut first = m.connect();
    let second = m.connect();
    let first_ticks = first.fake.ticks.clone();
    let second_ticks = second.fake.ticks.clone();
    // The first connection carries the ticks. The fake never delivers them, so one stays
    // outstanding and no second one is committed.
    wait_for(&first_ticks, 1, "a tick for the first connection");
    std::thread::sleep(std::time::Duration::from_millis(30));
    assert_eq!(
        first_ticks.load(Ordering::SeqCst),
        1,
        "ticks piled up undelivered"
    );
    // Delivered: the next one follows.
    first.scheduled(crate::clock::TICK_EVENT);
    wait_for(&first_ticks, 2, "the tick after a delivered one");
    // The carrier goes with a tick outstanding (Envoy drops it with its scheduler): the
    // next live connection carries the ticks from now on.
    first.destroy();
    wait_for(&second_ticks, 1, "a tick for the second connection");
    second.destroy();
}

#[test]
fn a_replaced_configuration_leaves_this_worker_at_its_next_hook() {
    let old = Module::new("{}").unwrap();
    old.connect().destroy();
    assert_eq!(crate::worker::configs_here(), 1);
    // A listener update: the new configuration comes first, the old one goes once its
    // connections are gone.
    let new = Module::new("{}").unwrap();
    drop(old);
    let c = new.connect();
    assert_eq!(
        crate::worker::configs_here(),
        1,
        "the old configuration's worker stayed"
    );
    c.destroy();
}

#[test]
fn a_buffer_not_handed_over_whole_never_goes_on_unread() {
    let m = Module::new("{}").unwrap();
    let mut c = m.connect();
    c.fake.short_chunks = true;
    let hello = client_hello();
    assert_eq!(c.client_sends(&hello), abi::STOP_ITERATION);
    assert_eq!(c.fake.read, hello, "the buffer was changed");
    assert!(c.fake.closed, "the connection stays open");
    assert!(c.fake.injected_up.is_empty() && c.fake.injected_down.is_empty());
    assert_eq!(m.metric("h2mux_internal_errors_total"), 1);
    c.destroy();
}
