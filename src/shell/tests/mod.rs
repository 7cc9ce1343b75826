//! The shell against a model of its host: real client and server connections from
//! `crate::conn` on either side, bytes through the model's sockets and buffers, the clock
//! moved tick by tick. With Envoy's capabilities the model refuses every host call Envoy
//! would refuse, and a refusal fails the test.

mod model;
mod net;

mod envoy_rules;
mod idle;
mod metrics;
mod quota;
mod unrestricted;

use crate::error::ErrorCode;
use crate::frame::{self, FrameType};

use net::frames;

/// The client preface and an empty SETTINGS frame.
fn preface() -> Vec<u8> {
    let mut b = frame::PREFACE.to_vec();
    frame::write_settings(&mut b, &[]);
    b
}

/// `n` PING frames.
fn pings(n: u64) -> Vec<u8> {
    let mut b = Vec::new();
    for i in 0..n {
        frame::write_ping(&mut b, false, i.to_be_bytes());
    }
    b
}

/// The error codes of the GOAWAY frames in raw bytes, in order.
fn goaway_codes(raw: &[u8]) -> Vec<ErrorCode> {
    frames(raw)
        .into_iter()
        .filter(|f| f.0 == FrameType::GoAway.to_u8())
        .filter_map(|f| frame::parse_goaway(&f.3).map(|g| g.code))
        .collect()
}

/// Frames of one type in raw bytes.
fn count(raw: &[u8], kind: FrameType, flags: u8) -> usize {
    frames(raw)
        .iter()
        .filter(|f| f.0 == kind.to_u8() && f.1 == flags)
        .count()
}
