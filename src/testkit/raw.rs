//! Frames by hand: a client that writes exactly the frames a test asks for (what a
//! well-behaved peer never sends included), and splitters that read frames back out of
//! what a connection wrote. The splitters trust their input: they are for tests.

use bytes::Bytes;

use crate::error::ErrorCode;
use crate::frame::{self, flags, FrameHeader, FrameType, HEADER_LEN, PREFACE};
use crate::hpack::Encoder;
use crate::stream::StreamId;

/// Splits bytes into frames (the client preface, if first, is skipped); a truncated last
/// frame is left out.
pub fn frames(mut b: &[u8]) -> Vec<(FrameHeader, Vec<u8>)> {
    if b.starts_with(PREFACE) {
        b = &b[PREFACE.len()..];
    }
    let mut out = Vec::new();
    while let Some((head, rest)) = b.split_first_chunk::<HEADER_LEN>() {
        let h = FrameHeader::parse(head);
        let Some((payload, rest)) = rest.split_at_checked(h.len as usize) else {
            break;
        };
        out.push((h, payload.to_vec()));
        b = rest;
    }
    out
}

/// The type of every frame header in `b`, a truncated last frame included (no preface
/// expected).
pub fn frame_kinds(mut b: &[u8]) -> Vec<FrameType> {
    let mut out = Vec::new();
    while let Some((head, _)) = b.split_first_chunk::<HEADER_LEN>() {
        let h = FrameHeader::parse(head);
        out.push(h.kind);
        b = &b[(HEADER_LEN + h.len as usize).min(b.len())..];
    }
    out
}

/// The code of the first GOAWAY in `out`.
pub fn goaway_code(out: &[u8]) -> Option<ErrorCode> {
    frames(out)
        .iter()
        .find(|(h, _)| h.kind == FrameType::GoAway)
        .map(|(_, p)| frame::parse_goaway(p).unwrap().code)
}

/// Stream id and code of every RST_STREAM in `out`.
pub fn rst_codes(out: &[u8]) -> Vec<(u32, ErrorCode)> {
    frames(out)
        .iter()
        .filter(|(h, _)| h.kind == FrameType::RstStream)
        .map(|(h, p)| (h.stream.value(), frame::parse_rst_stream(p).unwrap()))
        .collect()
}

/// A hand-driven client: the preface and an empty SETTINGS, then exactly the frames a test
/// asks for, gathered in `out` until taken.
pub struct RawClient {
    pub enc: Encoder,
    pub out: Vec<u8>,
}

impl Default for RawClient {
    fn default() -> RawClient {
        RawClient::new()
    }
}

impl RawClient {
    pub fn new() -> RawClient {
        let mut out = PREFACE.to_vec();
        frame::write_settings(&mut out, &[]);
        RawClient {
            enc: Encoder::new(4096),
            out,
        }
    }

    /// The HPACK block of a GET of `path` on https://example.com.
    pub fn block(&mut self, path: &str) -> Vec<u8> {
        let mut b = Vec::new();
        let fields: Vec<(&[u8], &[u8], bool)> = vec![
            (b":method", b"GET", false),
            (b":scheme", b"https", false),
            (b":authority", b"example.com", false),
            (b":path", path.as_bytes(), false),
        ];
        self.enc.encode(fields, &mut b);
        b
    }

    /// A HEADERS frame with a GET of `/` on stream `id`.
    pub fn get(&mut self, id: u32, end: bool) {
        let b = self.block("/");
        let fl = flags::END_HEADERS | if end { flags::END_STREAM } else { 0 };
        frame::write_header(
            &mut self.out,
            b.len() as u32,
            FrameType::Headers,
            fl,
            StreamId::new(id),
        );
        self.out.extend_from_slice(&b);
    }

    /// Any frame, as given.
    pub fn raw(&mut self, kind: FrameType, fl: u8, id: u32, payload: &[u8]) {
        frame::write_header(
            &mut self.out,
            payload.len() as u32,
            kind,
            fl,
            StreamId::new(id),
        );
        self.out.extend_from_slice(payload);
    }

    /// The bytes written so far.
    pub fn take(&mut self) -> Bytes {
        Bytes::from(std::mem::take(&mut self.out))
    }
}
