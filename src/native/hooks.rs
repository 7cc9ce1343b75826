//! The event hooks Envoy calls (`envoy_dynamic_module_on_*`). Each one turns Envoy's
//! pointers into handles, runs the worker under `catch_unwind`, and carries out the
//! worker's `Plan`s after the worker is released.
//!
//! Ownership across the boundary: a configuration is an `Arc<Config>` whose raw pointer
//! Envoy holds from `config_new` to `config_destroy`; each filter holds a clone. A filter
//! is a `Box<FilterCtx>` whose raw pointer Envoy holds from `filter_new` to
//! `filter_destroy`, after which Envoy calls nothing for it.

use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use bytes::Bytes;
use h2mux::shell::ConnId;

use crate::abi::{
    self, EnvoyBuffer, FilterConfigEnvoyPtr, FilterConfigModulePtr, FilterEnvoyPtr, FilterModulePtr,
};
use crate::clock::{self, TICK_EVENT};
use crate::config::Config;
use crate::envoy::{ConfigHandle, Filter};
use crate::logger;
use crate::worker::{self, Plan, CLOSE_EVENT};

/// What Envoy holds for one connection.
struct FilterCtx {
    config: Arc<Config>,
    id: ConnId,
    filter: Filter,
}

/// Where a plan is carried out: in the read or write hook (their buffers pass through
/// this filter) or elsewhere (a scheduled event).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Site {
    Read,
    Write,
    Elsewhere,
}

/// Carries out a plan. Returns whether the client's end of stream goes on with the read
/// buffer (`Site::Read` only).
fn carry_out(p: Plan, site: Site) -> bool {
    let f = p.filter;
    let mut eos_in_buffer = false;
    if let Some(up) = &p.to_upstream {
        if site == Site::Read {
            f.append_read(up);
            eos_in_buffer = p.upstream_eos;
        } else {
            f.inject_read(up, p.upstream_eos);
        }
    } else if p.upstream_eos {
        if site == Site::Read {
            eos_in_buffer = true;
        } else {
            f.inject_read(&[], true);
        }
    }
    if let Some(down) = &p.to_client {
        if site == Site::Write {
            f.append_write(down);
        } else {
            f.inject_write(down);
        }
    }
    if let Some(disable) = p.read_disable {
        f.read_disable(disable);
    }
    if p.close {
        if let Some(s) = &p.summary {
            f.set_filter_state(SUMMARY_KEY, s.as_bytes());
        }
        match (site, p.scheduler) {
            // The bytes of a read or write hook pass on after it returns: the close comes
            // from this connection's next scheduled event, after them.
            (Site::Read | Site::Write, Some(s)) => s.commit(CLOSE_EVENT),
            _ => f.close(),
        }
    }
    eos_in_buffer
}

/// The connection summary's filter state key: the .wasm's, so one access-log format
/// (`%FILTER_STATE(wasm.h2mux_summary:PLAIN)%`) serves both artifacts.
const SUMMARY_KEY: &str = "wasm.h2mux_summary";

/// A panic was caught in a hook of `ctx`'s connection: count it, close the connection.
fn panicked(ctx: &FilterCtx, hook: &str) {
    log::error!("h2mux[{}]: panic in {hook}: connection closed", ctx.id);
    ctx.config.count_panic();
    ctx.filter.close();
}

/// Envoy did not hand over a whole buffer: its bytes must not go on unread by h2mux (they
/// would reach the other peer unchecked), so the connection ends, counted.
fn refuse_buffer(ctx: &FilterCtx, which: &str) -> u32 {
    h2mux::invariant::broken("Envoy hands over every byte of a buffer");
    log::error!(
        "h2mux[{}]: the {which} buffer could not be read whole: closing",
        ctx.id
    );
    ctx.filter.close();
    abi::STOP_ITERATION
}

/// # Safety
/// `ptr` is a filter module pointer this module returned from `filter_new`, not destroyed.
unsafe fn ctx<'a>(ptr: FilterModulePtr) -> Option<&'a FilterCtx> {
    (ptr as *const FilterCtx).as_ref()
}

#[no_mangle]
pub extern "C" fn envoy_dynamic_module_on_program_init() -> *const c_char {
    abi::ABI_VERSION.as_ptr()
}

/// # Safety
/// Called by Envoy with its configuration object and two buffers valid for the call.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_network_filter_config_new(
    envoy: FilterConfigEnvoyPtr,
    _name: EnvoyBuffer,
    config: EnvoyBuffer,
) -> FilterConfigModulePtr {
    let text: &[u8] = if config.ptr.is_null() {
        &[]
    } else {
        // SAFETY: Envoy's buffer of `length` bytes, valid during this call.
        unsafe { std::slice::from_raw_parts(config.ptr, config.length) }
    };
    // Errors are logged at once: Envoy's own message does not say which key was wrong.
    logger::init("info");
    let made = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: Envoy's configuration object, alive until `config_destroy`.
        let handle = unsafe { ConfigHandle::new(envoy) }.ok_or("no configuration object")?;
        let text = std::str::from_utf8(text).map_err(|_| "not UTF-8 text".to_string())?;
        let text = if text.trim().is_empty() { "{}" } else { text };
        Config::new(handle, text)
    }));
    match made {
        Ok(Ok(config)) => {
            logger::init(&config.plugin.log_level);
            log::info!(
                "h2mux: native module configured: {} buffers of {} bytes per worker, tick {} ms",
                config.plugin.quota_bytes / config.plugin.buffer_size.max(1),
                config.plugin.buffer_size,
                config.plugin.tick_ms
            );
            clock::acquire();
            Arc::into_raw(Arc::new(config)) as FilterConfigModulePtr
        }
        Ok(Err(why)) => {
            log::error!("h2mux: configuration rejected: {why}");
            std::ptr::null()
        }
        Err(_) => {
            log::error!("h2mux: configuration rejected: a panic while reading it");
            std::ptr::null()
        }
    }
}

/// # Safety
/// `ptr` came from `config_new` and is destroyed once.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_network_filter_config_destroy(
    ptr: FilterConfigModulePtr,
) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: the `Arc` made in `config_new`; Envoy gives it back once.
    let config = unsafe { Arc::from_raw(ptr as *const Config) };
    config.mark_destroyed();
    drop(config);
    clock::release();
}

/// # Safety
/// `config` came from `config_new`; `envoy` is the new connection's filter object.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_network_filter_new(
    config: FilterConfigModulePtr,
    envoy: FilterEnvoyPtr,
) -> FilterModulePtr {
    if config.is_null() {
        return std::ptr::null();
    }
    // SAFETY: `config` is a live `Arc<Config>` raw pointer (Envoy destroys it after its
    // filters): one more strong count for this filter.
    let config = unsafe {
        Arc::increment_strong_count(config as *const Config);
        Arc::from_raw(config as *const Config)
    };
    // SAFETY: Envoy's filter object, alive until `filter_destroy`.
    let Some(filter) = (unsafe { Filter::new(envoy) }) else {
        return std::ptr::null();
    };
    let made = catch_unwind(AssertUnwindSafe(|| {
        let scheduler = filter.new_scheduler();
        worker::with(&config, |w| w.open(filter, scheduler))
    }));
    match made {
        Ok(Some(id)) => {
            Box::into_raw(Box::new(FilterCtx { config, id, filter })) as FilterModulePtr
        }
        // Envoy closes a connection whose filter is null.
        _ => {
            config.count_panic();
            std::ptr::null()
        }
    }
}

/// # Safety
/// Pointers as Envoy passes them: a live filter of ours.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_network_filter_new_connection(
    _envoy: FilterEnvoyPtr,
    ptr: FilterModulePtr,
) -> u32 {
    // SAFETY: a filter of ours, not destroyed (Envoy's contract).
    let Some(ctx) = (unsafe { ctx(ptr) }) else {
        return abi::CONTINUE;
    };
    let r = catch_unwind(AssertUnwindSafe(|| {
        if ctx.filter.is_ssl() {
            worker::with(&ctx.config, |w| w.set_client_tls(ctx.id));
        }
    }));
    if r.is_err() {
        panicked(ctx, "new_connection");
    }
    abi::CONTINUE
}

/// The buffer passing through a read (`Site::Read`) or write (`Site::Write`) hook: all of
/// it is taken (the shell keeps what the relay cannot take yet) and replaced by the bytes
/// for that buffer's peer; the other peer's bytes are injected.
fn on_data(ctx: &FilterCtx, site: Site, end_stream: bool) -> u32 {
    let read = site == Site::Read;
    let r = catch_unwind(AssertUnwindSafe(|| {
        let data = if read {
            ctx.filter.read_buffer()
        } else {
            ctx.filter.write_buffer()
        };
        let Some(data) = data else {
            return refuse_buffer(ctx, if read { "read" } else { "write" });
        };
        if read {
            ctx.filter.drain_read(data.len());
        } else {
            ctx.filter.drain_write(data.len());
        }
        let plan = worker::with(&ctx.config, |w| {
            let data = Bytes::from(data);
            if read {
                w.downstream(ctx.id, data, end_stream)
            } else {
                w.upstream(ctx.id, data, end_stream)
            }
        })
        .flatten();
        // No plan: the connection is unknown to its worker or already closed; its bytes
        // were taken, nothing goes on.
        let Some(plan) = plan else {
            ctx.filter.close();
            return abi::STOP_ITERATION;
        };
        let eos = carry_out(plan, site);
        // The client's end of stream waits while bytes before it are kept here.
        if read && end_stream && !eos {
            abi::STOP_ITERATION
        } else {
            abi::CONTINUE
        }
    }));
    r.unwrap_or_else(|_| {
        panicked(ctx, if read { "read" } else { "write" });
        abi::STOP_ITERATION
    })
}

/// Client bytes, on their way to tcp_proxy (the upstream).
///
/// # Safety
/// Pointers as Envoy passes them: a live filter of ours.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_network_filter_read(
    _envoy: FilterEnvoyPtr,
    ptr: FilterModulePtr,
    _length: usize,
    end_stream: bool,
) -> u32 {
    // SAFETY: a filter of ours, not destroyed.
    match unsafe { ctx(ptr) } {
        Some(ctx) => on_data(ctx, Site::Read, end_stream),
        None => abi::CONTINUE,
    }
}

/// Upstream bytes, on their way to the client.
///
/// # Safety
/// Pointers as Envoy passes them: a live filter of ours.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_network_filter_write(
    _envoy: FilterEnvoyPtr,
    ptr: FilterModulePtr,
    _length: usize,
    end_stream: bool,
) -> u32 {
    // SAFETY: a filter of ours, not destroyed.
    match unsafe { ctx(ptr) } {
        Some(ctx) => on_data(ctx, Site::Write, end_stream),
        None => abi::CONTINUE,
    }
}

/// # Safety
/// Pointers as Envoy passes them: a live filter of ours.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_network_filter_event(
    _envoy: FilterEnvoyPtr,
    ptr: FilterModulePtr,
    event: u32,
) {
    // SAFETY: a filter of ours, not destroyed.
    let Some(ctx) = (unsafe { ctx(ptr) }) else {
        return;
    };
    if event != abi::EVENT_REMOTE_CLOSE && event != abi::EVENT_LOCAL_CLOSE {
        return;
    }
    let r = catch_unwind(AssertUnwindSafe(|| {
        // The summary goes where tcp_proxy's access log, written later, can read it.
        if let Some((f, s)) = worker::with(&ctx.config, |w| w.closed(ctx.id)).flatten() {
            f.set_filter_state(SUMMARY_KEY, s.as_bytes());
        }
    }));
    if r.is_err() {
        log::error!("h2mux[{}]: panic in event", ctx.id);
        ctx.config.count_panic();
    }
}

/// A scheduled event: the clock's tick (every connection of this worker the shell visits)
/// or this connection's deferred close.
///
/// # Safety
/// Pointers as Envoy passes them: a live filter of ours.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_network_filter_scheduled(
    _envoy: FilterEnvoyPtr,
    ptr: FilterModulePtr,
    event: u64,
) {
    // SAFETY: a filter of ours, not destroyed.
    let Some(ctx) = (unsafe { ctx(ptr) }) else {
        return;
    };
    let r = catch_unwind(AssertUnwindSafe(|| match event {
        TICK_EVENT => {
            let plans = worker::with(&ctx.config, |w| w.tick()).unwrap_or_default();
            for p in plans {
                carry_out(p, Site::Elsewhere);
            }
        }
        CLOSE_EVENT if worker::with(&ctx.config, |w| !w.is_closed(ctx.id)).unwrap_or(false) => {
            ctx.filter.close();
        }
        _ => {}
    }));
    if r.is_err() {
        panicked(ctx, "scheduled");
    }
}

/// # Safety
/// `ptr` came from `filter_new`; Envoy calls nothing for it afterwards.
#[no_mangle]
pub unsafe extern "C" fn envoy_dynamic_module_on_network_filter_destroy(ptr: FilterModulePtr) {
    if ptr.is_null() {
        return;
    }
    // SAFETY: the box made in `filter_new`, given back once.
    let ctx = unsafe { Box::from_raw(ptr as *mut FilterCtx) };
    let r = catch_unwind(AssertUnwindSafe(|| {
        if let Some(Some(s)) = worker::with(&ctx.config, |w| w.destroy(ctx.id)) {
            // SAFETY: the worker took it off the clock (under the clock's lock) and nothing
            // else holds it; deleted once.
            unsafe { s.delete() };
        }
    }));
    if r.is_err() {
        log::error!("h2mux[{}]: panic in destroy", ctx.id);
        ctx.config.count_panic();
    }
}

// The optional hooks this module does not use are left out: Envoy skips a missing one.
