//! Safe handles on Envoy's objects. Each wraps a pointer Envoy gave us and is made only
//! where the ABI says the pointer is valid; the module keeps a handle no longer than
//! that (a filter's until its `on_network_filter_destroy`, a scheduler's until we delete
//! it, a configuration's until `on_network_filter_config_destroy`), which is what makes
//! each call below sound.

use std::ffi::c_void;
use std::ptr::NonNull;

use crate::abi::{self, EnvoyBuffer, ModuleBuffer};

/// Envoy's network filter object of one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Filter(NonNull<c_void>);

impl Filter {
    /// # Safety
    /// `ptr` is a `filter_envoy_ptr` Envoy passed to a hook, and the handle is used only on
    /// that connection's worker thread until `on_network_filter_destroy`.
    pub unsafe fn new(ptr: *mut c_void) -> Option<Filter> {
        NonNull::new(ptr).map(Filter)
    }

    fn ptr(self) -> *mut c_void {
        self.0.as_ptr()
    }

    /// The bytes of the read buffer (client bytes) passing through this hook; `None` if
    /// Envoy did not hand over all of them (the caller must not let the buffer go on: its
    /// bytes would bypass h2mux).
    pub fn read_buffer(self) -> Option<Vec<u8>> {
        // SAFETY: a live filter (type invariant); the chunk array has exactly the count
        // Envoy just reported and the buffer is not changed in between; the chunks are
        // copied before this returns, while Envoy's memory is valid.
        unsafe {
            let size =
                abi::envoy_dynamic_module_callback_network_filter_get_read_buffer_size(self.ptr());
            copy_chunks(
                size,
                abi::envoy_dynamic_module_callback_network_filter_get_read_buffer_chunks_size(
                    self.ptr(),
                ),
                |out| {
                    abi::envoy_dynamic_module_callback_network_filter_get_read_buffer_chunks(
                        self.ptr(),
                        out,
                    )
                },
            )
        }
    }

    /// The bytes of the write buffer (upstream bytes for the client) passing through;
    /// `None` as for `read_buffer`.
    pub fn write_buffer(self) -> Option<Vec<u8>> {
        // SAFETY: as for `read_buffer`.
        unsafe {
            let size =
                abi::envoy_dynamic_module_callback_network_filter_get_write_buffer_size(self.ptr());
            copy_chunks(
                size,
                abi::envoy_dynamic_module_callback_network_filter_get_write_buffer_chunks_size(
                    self.ptr(),
                ),
                |out| {
                    abi::envoy_dynamic_module_callback_network_filter_get_write_buffer_chunks(
                        self.ptr(),
                        out,
                    )
                },
            )
        }
    }

    pub fn drain_read(self, n: usize) {
        if n > 0 {
            // SAFETY: a live filter; Envoy drains at most what the buffer has.
            unsafe {
                abi::envoy_dynamic_module_callback_network_filter_drain_read_buffer(self.ptr(), n);
            }
        }
    }

    pub fn drain_write(self, n: usize) {
        if n > 0 {
            // SAFETY: as for `drain_read`.
            unsafe {
                abi::envoy_dynamic_module_callback_network_filter_drain_write_buffer(self.ptr(), n);
            }
        }
    }

    pub fn append_read(self, data: &[u8]) {
        if !data.is_empty() {
            // SAFETY: a live filter; Envoy copies `data` during the call.
            unsafe {
                abi::envoy_dynamic_module_callback_network_filter_append_read_buffer(
                    self.ptr(),
                    ModuleBuffer::of(data),
                );
            }
        }
    }

    pub fn append_write(self, data: &[u8]) {
        if !data.is_empty() {
            // SAFETY: as for `append_read`.
            unsafe {
                abi::envoy_dynamic_module_callback_network_filter_append_write_buffer(
                    self.ptr(),
                    ModuleBuffer::of(data),
                );
            }
        }
    }

    /// Bytes to the filters after this one (tcp_proxy: the upstream), from any hook.
    pub fn inject_read(self, data: &[u8], end_stream: bool) {
        if !data.is_empty() || end_stream {
            // SAFETY: a live filter; Envoy copies `data` during the call.
            unsafe {
                abi::envoy_dynamic_module_callback_network_filter_inject_read_data(
                    self.ptr(),
                    ModuleBuffer::of(data),
                    end_stream,
                );
            }
        }
    }

    /// Bytes to the client, from any hook; this filter's own `on_write` does not see them.
    pub fn inject_write(self, data: &[u8]) {
        if !data.is_empty() {
            // SAFETY: as for `inject_read`.
            unsafe {
                abi::envoy_dynamic_module_callback_network_filter_inject_write_data(
                    self.ptr(),
                    ModuleBuffer::of(data),
                    false,
                );
            }
        }
    }

    /// Stops (or resumes) reading the client's socket. Envoy counts these: every `true`
    /// is matched by one `false` (the worker keeps a flag).
    pub fn read_disable(self, disable: bool) {
        // SAFETY: a live filter.
        unsafe {
            abi::envoy_dynamic_module_callback_network_filter_read_disable(self.ptr(), disable);
        }
    }

    /// Closes the client connection once its pending bytes are written (tcp_proxy then
    /// closes the upstream).
    pub fn close(self) {
        // SAFETY: a live filter; the close event it raises comes back through our
        // `on_network_filter_event`, which finds the worker table free.
        unsafe {
            abi::envoy_dynamic_module_callback_network_filter_close(
                self.ptr(),
                abi::CLOSE_FLUSH_WRITE,
            );
        }
    }

    pub fn is_ssl(self) -> bool {
        // SAFETY: a live filter.
        unsafe { abi::envoy_dynamic_module_callback_network_filter_is_ssl(self.ptr()) }
    }

    /// The connection's buffer limit (`per_connection_buffer_limit_bytes`), if set.
    pub fn buffer_limit(self) -> Option<usize> {
        // SAFETY: a live filter.
        let n = unsafe {
            abi::envoy_dynamic_module_callback_network_filter_get_buffer_limit(self.ptr())
        };
        (n > 0).then_some(n as usize)
    }

    /// A scheduler delivering `on_network_filter_scheduled` on this connection's worker.
    pub fn new_scheduler(self) -> Option<Scheduler> {
        // SAFETY: a live filter; Envoy returns a new object we own (or null).
        let s =
            unsafe { abi::envoy_dynamic_module_callback_network_filter_scheduler_new(self.ptr()) };
        NonNull::new(s).map(Scheduler)
    }

    /// Bytes as filter state on the connection (tcp_proxy's access log can print them).
    pub fn set_filter_state(self, key: &str, value: &[u8]) {
        // SAFETY: a live filter; Envoy copies key and value.
        unsafe {
            abi::envoy_dynamic_module_callback_network_set_filter_state_bytes(
                self.ptr(),
                ModuleBuffer::of(key.as_bytes()),
                ModuleBuffer::of(value),
            );
        }
    }
}

/// Copies Envoy's buffer of `size` bytes in `count` chunks. `None` unless every byte came.
///
/// # Safety
/// `fill` writes at most `count` chunks of Envoy memory valid until the hook returns.
unsafe fn copy_chunks(
    size: usize,
    count: usize,
    fill: impl FnOnce(*mut EnvoyBuffer) -> bool,
) -> Option<Vec<u8>> {
    if size == 0 {
        return Some(Vec::new());
    }
    let mut chunks = vec![
        EnvoyBuffer {
            ptr: std::ptr::null(),
            length: 0,
        };
        count
    ];
    if count == 0 || !fill(chunks.as_mut_ptr()) {
        return None;
    }
    let mut out = Vec::with_capacity(size);
    for c in &chunks {
        if !c.ptr.is_null() && c.length > 0 {
            // SAFETY: Envoy's slice of `length` bytes, valid during this hook.
            out.extend_from_slice(unsafe { std::slice::from_raw_parts(c.ptr, c.length) });
        }
    }
    (out.len() == size).then_some(out)
}

/// A scheduler Envoy made for one connection. `commit` may be called from any thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scheduler(NonNull<c_void>);

// SAFETY: Envoy's scheduler commit is documented as callable from any thread (it posts to
// the connection's dispatcher through a weak reference); the handle is deleted only on the
// worker, after the clock has let go of it under its lock.
unsafe impl Send for Scheduler {}
// SAFETY: as above.
unsafe impl Sync for Scheduler {}

impl Scheduler {
    pub fn commit(self, event: u64) {
        // SAFETY: not deleted yet (see `delete`).
        unsafe {
            abi::envoy_dynamic_module_callback_network_filter_scheduler_commit(
                self.0.as_ptr(),
                event,
            )
        }
    }

    /// # Safety
    /// Called once, after every holder of a copy (the clock) has let go of it.
    pub unsafe fn delete(self) {
        abi::envoy_dynamic_module_callback_network_filter_scheduler_delete(self.0.as_ptr());
    }
}

/// Envoy's filter configuration object: metric definitions and updates.
#[derive(Clone, Copy, Debug)]
pub struct ConfigHandle(NonNull<c_void>);

// SAFETY: metric updates go to Envoy's thread-safe stats through the configuration, which
// outlives every filter and worker using it (Envoy destroys it after its last filter).
unsafe impl Send for ConfigHandle {}
// SAFETY: as above.
unsafe impl Sync for ConfigHandle {}

/// Counter, gauge or histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl ConfigHandle {
    /// # Safety
    /// `ptr` is the `filter_config_envoy_ptr` of `on_network_filter_config_new`, used no
    /// later than `on_network_filter_config_destroy`.
    pub unsafe fn new(ptr: *mut c_void) -> Option<ConfigHandle> {
        NonNull::new(ptr).map(ConfigHandle)
    }

    /// Defines a metric (only during `on_network_filter_config_new`): its id.
    pub fn define(self, kind: Kind, name: &str) -> Option<usize> {
        let mut id = 0usize;
        let name = ModuleBuffer::of(name.as_bytes());
        // SAFETY: a live configuration; `id` is a valid out pointer for the call.
        let r = unsafe {
            match kind {
                Kind::Counter => {
                    abi::envoy_dynamic_module_callback_network_filter_config_define_counter(
                        self.0.as_ptr(),
                        name,
                        &mut id,
                    )
                }
                Kind::Gauge => {
                    abi::envoy_dynamic_module_callback_network_filter_config_define_gauge(
                        self.0.as_ptr(),
                        name,
                        &mut id,
                    )
                }
                Kind::Histogram => {
                    abi::envoy_dynamic_module_callback_network_filter_config_define_histogram(
                        self.0.as_ptr(),
                        name,
                        &mut id,
                    )
                }
            }
        };
        (r == abi::METRICS_SUCCESS).then_some(id)
    }

    pub fn add(self, kind: Kind, id: usize, by: i64) {
        let p = self.0.as_ptr();
        // SAFETY: a live configuration and an id it gave.
        unsafe {
            match kind {
                Kind::Counter if by > 0 => {
                    abi::envoy_dynamic_module_callback_network_filter_config_increment_counter(
                        p, id, by as u64,
                    );
                }
                Kind::Gauge if by > 0 => {
                    abi::envoy_dynamic_module_callback_network_filter_config_increment_gauge(
                        p, id, by as u64,
                    );
                }
                Kind::Gauge if by < 0 => {
                    abi::envoy_dynamic_module_callback_network_filter_config_decrement_gauge(
                        p,
                        id,
                        by.unsigned_abs(),
                    );
                }
                _ => {}
            }
        }
    }

    pub fn record(self, id: usize, value: u64) {
        // SAFETY: a live configuration and an id it gave.
        unsafe {
            abi::envoy_dynamic_module_callback_network_filter_config_record_histogram_value(
                self.0.as_ptr(),
                id,
                value,
            );
        }
    }
}

/// Envoy's log, at `level` (the ABI's numbering).
pub fn log(level: u32, message: &str) {
    // SAFETY: Envoy copies the message during the call; both calls are thread-safe.
    unsafe {
        if abi::envoy_dynamic_module_callback_log_enabled(level) {
            abi::envoy_dynamic_module_callback_log(level, ModuleBuffer::of(message.as_bytes()));
        }
    }
}

/// Whether Envoy logs at `level` (ABI numbering).
pub fn log_enabled(level: u32) -> bool {
    // SAFETY: thread-safe, no pointers.
    unsafe { abi::envoy_dynamic_module_callback_log_enabled(level) }
}
