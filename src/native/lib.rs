//! h2mux as a native Envoy dynamic module (`envoy.filters.network.dynamic_modules`): the
//! same core and shell as `h2mux.wasm`, with a host that may write either way at any time
//! (`Capabilities::unrestricted()`): no doorbells, replies written at once, client bytes
//! the relay cannot take yet kept here (Envoy stops reading the client past the
//! connection's buffer limit).
//!
//! The core keeps `forbid(unsafe_code)`; the only unsafe code is here: the ABI
//! declarations (`abi`), the handles that call them (`envoy`) and the hooks (`hooks`).
//! Every hook catches panics: one never crosses into Envoy; the connection it happened on
//! is closed and counted.

mod abi;
mod clock;
mod config;
mod envoy;
pub(crate) mod hooks;
mod logger;
mod worker;

#[cfg(test)]
mod tests;
