//! h2mux: a sans-IO HTTP/2 (RFC 9113) connection multiplexer.
//!
//! Bytes and time go in, bytes and events come out: no sockets, no clocks, no threads, no
//! async runtime. The same core runs natively (tests, benchmarks), inside a proxy-wasm
//! filter (feature `filter`, the default) and in JS runtimes through wasm-bindgen (feature
//! `js`). Every byte from a peer is treated as hostile: nothing reachable from input panics.
//! See ARCHITECTURE.md for the module map and the path of a byte.

// wasm-bindgen's generated glue is `unsafe` code the crate does not write: with `js` the
// lint is `deny`, allowed in `js` alone, so the rest stays as free of it as under `forbid`.
#![cfg_attr(not(feature = "js"), forbid(unsafe_code))]
#![cfg_attr(feature = "js", deny(unsafe_code))]
#![warn(missing_docs)]

pub mod buffer;
pub mod byte_str;
pub mod config;
pub mod conn;
pub mod error;
#[cfg(all(target_arch = "wasm32", feature = "filter"))]
mod filter;
pub mod flow;
pub mod frame;
pub mod h1;
pub mod hpack;
/// The HTTP/2 inspector's decoding walk (the JS package's `inspect` and its page).
#[cfg(any(test, feature = "js", feature = "testkit"))]
pub mod inspect;
pub mod invariant;
#[cfg(all(target_arch = "wasm32", feature = "js"))]
pub mod js;
pub mod limits;
pub mod message;
pub mod relay;
pub mod shell;
pub mod side;
pub mod stream;
pub mod time;

/// Test and bench support (the corpus generator, the relay load generator, the in-memory
/// harness and the seeded RNG): built for the crate's own tests, and for benches and the
/// fuzz crate with the `testkit` feature. Never part of the filter.
#[cfg(any(test, feature = "testkit"))]
#[doc(hidden)]
pub mod testkit;

pub use error::{ConnError, ErrorCode, H2Error, Violation};
pub use side::Side;
pub use stream::StreamId;
pub use time::Instant;
