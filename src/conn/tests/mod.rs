//! Connection tests: a client (backend) and a server (frontend) wired together with a fake
//! clock (`testkit::Pair`), and raw frames from a hand-driven peer (`testkit::RawClient`
//! into `testkit::Server`) for what a well-behaved peer never sends. One file per topic.

use std::sync::Arc;

use bytes::Bytes;

use super::{Connection, Event, RxBlocked, SendError};
use crate::buffer::BufferPool;
use crate::error::{ConnError, ErrorCode, Violation};
use crate::frame::{self, flags, setting, FrameType, PREFACE};
use crate::hpack::Encoder;
use crate::limits::Config;
use crate::message::{Fields, Message};
use crate::side::Side;
use crate::stream::{ResetBy, State, StreamId};
use crate::testkit::{frames, goaway_code, pool, rst_codes, Pair, RawClient, Rng, Server};
use crate::time::Instant;

mod attacks;
mod backend;
mod errors;
mod exchange;
mod flow;
mod header_blocks;
mod invariants;
mod late_frames;
mod lifecycle;
mod quota;
mod reused_slots;
mod robustness;

fn sid(v: u32) -> StreamId {
    StreamId::new(v)
}

fn req(path: &str) -> Message {
    Message::request(b"GET", b"https", b"example.com", path.as_bytes())
}

fn post(path: &str) -> Message {
    Message::request(b"POST", b"https", b"example.com", path.as_bytes())
}

fn body(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}
