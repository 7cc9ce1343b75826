//! Test and bench support, outside the shipped filter: compiled for the crate's own tests,
//! and with the `testkit` feature for the bench binaries, the criterion benches and the
//! fuzz crate.
//!
//! - [`Pair`] and [`Server`]: a client and a server connection through memory, or a server
//!   fed by hand; [`Chain`]: client, relay and server through memory, its relay calls
//!   recordable.
//! - [`RawClient`] writes frames by hand; [`frames`], [`frame_kinds`], [`goaway_code`] and
//!   [`rst_codes`] read them back.
//! - [`Rng`]: the one seeded generator.
//! - [`corpus`]: browser-like client byte streams and their replay into a frontend;
//!   [`loadgen`]: small GETs through a relay, recorded and replayed.
//!
//! Nothing here reads a clock: time is an argument, so every run is reproducible.

pub mod chain;
pub mod corpus;
pub mod loadgen;
pub mod pair;
pub mod raw;
pub mod rng;

pub use chain::{Chain, Recording, Step};
pub use pair::{deliver, pool, take_data, Pair, Server};
pub use raw::{frame_kinds, frames, goaway_code, rst_codes, RawClient};
pub use rng::Rng;
