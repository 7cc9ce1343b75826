//! The part of Envoy's dynamic-module C ABI (`source/extensions/dynamic_modules/abi/abi.h`,
//! "v0.2.0" in Envoy 1.40) this module uses, declared by hand: Envoy's Rust SDK is not
//! published as a crate. Types are `#[repr(C)]` and match the header's layout; enums that
//! Envoy passes in are plain integers (a value outside a Rust enum's variants would be
//! undefined behaviour), converted where they are read.

#![allow(non_camel_case_types, dead_code)]

use std::ffi::c_void;

/// The ABI this module is built for, returned from `envoy_dynamic_module_on_program_init`.
pub const ABI_VERSION: &std::ffi::CStr = c"v0.2.0";

/// Bytes owned by Envoy, valid as each callback documents (at most until the hook returns).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EnvoyBuffer {
    pub ptr: *const u8,
    pub length: usize,
}

/// Bytes owned by the module, read by Envoy during the call that receives them.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ModuleBuffer {
    pub ptr: *const u8,
    pub length: usize,
}

impl ModuleBuffer {
    pub fn of(bytes: &[u8]) -> ModuleBuffer {
        ModuleBuffer {
            ptr: bytes.as_ptr(),
            length: bytes.len(),
        }
    }
}

pub type FilterConfigEnvoyPtr = *mut c_void;
pub type FilterConfigModulePtr = *const c_void;
pub type FilterEnvoyPtr = *mut c_void;
pub type FilterModulePtr = *const c_void;
pub type SchedulerPtr = *mut c_void;

/// `envoy_dynamic_module_type_on_network_filter_data_status`.
pub const CONTINUE: u32 = 0;
pub const STOP_ITERATION: u32 = 1;

/// `envoy_dynamic_module_type_network_connection_event`.
pub const EVENT_REMOTE_CLOSE: u32 = 0;
pub const EVENT_LOCAL_CLOSE: u32 = 1;

/// `envoy_dynamic_module_type_network_connection_close_type`.
pub const CLOSE_FLUSH_WRITE: u32 = 0;

/// `envoy_dynamic_module_type_log_level`.
pub const LOG_TRACE: u32 = 0;
pub const LOG_DEBUG: u32 = 1;
pub const LOG_INFO: u32 = 2;
pub const LOG_WARN: u32 = 3;
pub const LOG_ERROR: u32 = 4;

/// `envoy_dynamic_module_type_metrics_result`: success.
pub const METRICS_SUCCESS: u32 = 0;

extern "C" {
    pub fn envoy_dynamic_module_callback_log_enabled(level: u32) -> bool;
    pub fn envoy_dynamic_module_callback_log(level: u32, message: ModuleBuffer);

    pub fn envoy_dynamic_module_callback_network_filter_get_read_buffer_size(
        f: FilterEnvoyPtr,
    ) -> usize;
    pub fn envoy_dynamic_module_callback_network_filter_get_write_buffer_size(
        f: FilterEnvoyPtr,
    ) -> usize;
    pub fn envoy_dynamic_module_callback_network_filter_get_read_buffer_chunks_size(
        f: FilterEnvoyPtr,
    ) -> usize;
    pub fn envoy_dynamic_module_callback_network_filter_get_read_buffer_chunks(
        f: FilterEnvoyPtr,
        out: *mut EnvoyBuffer,
    ) -> bool;
    pub fn envoy_dynamic_module_callback_network_filter_get_write_buffer_chunks_size(
        f: FilterEnvoyPtr,
    ) -> usize;
    pub fn envoy_dynamic_module_callback_network_filter_get_write_buffer_chunks(
        f: FilterEnvoyPtr,
        out: *mut EnvoyBuffer,
    ) -> bool;
    pub fn envoy_dynamic_module_callback_network_filter_drain_read_buffer(
        f: FilterEnvoyPtr,
        length: usize,
    ) -> bool;
    pub fn envoy_dynamic_module_callback_network_filter_drain_write_buffer(
        f: FilterEnvoyPtr,
        length: usize,
    ) -> bool;
    pub fn envoy_dynamic_module_callback_network_filter_append_read_buffer(
        f: FilterEnvoyPtr,
        data: ModuleBuffer,
    ) -> bool;
    pub fn envoy_dynamic_module_callback_network_filter_append_write_buffer(
        f: FilterEnvoyPtr,
        data: ModuleBuffer,
    ) -> bool;
    pub fn envoy_dynamic_module_callback_network_filter_inject_read_data(
        f: FilterEnvoyPtr,
        data: ModuleBuffer,
        end_stream: bool,
    );
    pub fn envoy_dynamic_module_callback_network_filter_inject_write_data(
        f: FilterEnvoyPtr,
        data: ModuleBuffer,
        end_stream: bool,
    );
    /// Returns `envoy_dynamic_module_type_network_read_disable_status`.
    pub fn envoy_dynamic_module_callback_network_filter_read_disable(
        f: FilterEnvoyPtr,
        disable: bool,
    ) -> u32;
    pub fn envoy_dynamic_module_callback_network_filter_close(f: FilterEnvoyPtr, close_type: u32);
    pub fn envoy_dynamic_module_callback_network_filter_is_ssl(f: FilterEnvoyPtr) -> bool;
    pub fn envoy_dynamic_module_callback_network_filter_get_buffer_limit(f: FilterEnvoyPtr) -> u32;

    pub fn envoy_dynamic_module_callback_network_filter_scheduler_new(
        f: FilterEnvoyPtr,
    ) -> SchedulerPtr;
    pub fn envoy_dynamic_module_callback_network_filter_scheduler_commit(
        s: SchedulerPtr,
        event_id: u64,
    );
    pub fn envoy_dynamic_module_callback_network_filter_scheduler_delete(s: SchedulerPtr);

    pub fn envoy_dynamic_module_callback_network_filter_config_define_counter(
        c: FilterConfigEnvoyPtr,
        name: ModuleBuffer,
        id: *mut usize,
    ) -> u32;
    pub fn envoy_dynamic_module_callback_network_filter_config_define_gauge(
        c: FilterConfigEnvoyPtr,
        name: ModuleBuffer,
        id: *mut usize,
    ) -> u32;
    pub fn envoy_dynamic_module_callback_network_filter_config_define_histogram(
        c: FilterConfigEnvoyPtr,
        name: ModuleBuffer,
        id: *mut usize,
    ) -> u32;
    pub fn envoy_dynamic_module_callback_network_filter_config_increment_counter(
        c: FilterConfigEnvoyPtr,
        id: usize,
        value: u64,
    ) -> u32;
    pub fn envoy_dynamic_module_callback_network_filter_config_increment_gauge(
        c: FilterConfigEnvoyPtr,
        id: usize,
        value: u64,
    ) -> u32;
    pub fn envoy_dynamic_module_callback_network_filter_config_decrement_gauge(
        c: FilterConfigEnvoyPtr,
        id: usize,
        value: u64,
    ) -> u32;
    pub fn envoy_dynamic_module_callback_network_filter_config_record_histogram_value(
        c: FilterConfigEnvoyPtr,
        id: usize,
        value: u64,
    ) -> u32;

    pub fn envoy_dynamic_module_callback_network_set_filter_state_bytes(
        f: FilterEnvoyPtr,
        key: ModuleBuffer,
        value: ModuleBuffer,
    ) -> bool;
}
