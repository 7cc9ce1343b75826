//! The first request's authority, read from a client's first bytes before anything is
//! relayed: the host holds them until the connection's cluster is chosen.
//!
//! Only a look: the bytes then go through the relay as usual, which parses them again
//! and checks the request against the chosen route. Where the two could read a request
//! differently (a malformed one), the relay's answer stands: a 400, a GOAWAY, or a 421
//! when the look picked another cluster; never a request relayed to the wrong cluster.

use crate::h1::{parse_request, HeadLimits, HeadScan};
use crate::hpack::Decoder;
use crate::limits::Config;
use crate::relay::{detect, Detected};

/// What the first bytes say so far.
#[derive(Debug, PartialEq, Eq)]
pub enum FirstHead {
    /// Too few bytes to tell.
    More,
    /// A whole first request head, and its authority (or host field) if it has one.
    Request(Option<Vec<u8>>),
    /// No request head can be read from them (the relay answers them as usual).
    NotARequest,
}

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Frames before the first HEADERS looked through (SETTINGS, WINDOW_UPDATE, PRIORITY...).
const MAX_FRAMES: usize = 32;

/// The first request head in `bytes` (everything the client sent so far; `end`: it
/// closed), read under the client side's limits `cfg`.
pub fn first_head(bytes: &[u8], end: bool, cfg: &Config) -> FirstHead {
    let detected = if cfg.http1 {
        detect(bytes)
    } else {
        Detected::Http2
    };
    let found = match detected {
        Detected::Undecided => FirstHead::More,
        Detected::Http2 => h2(bytes, cfg),
        Detected::Http1 => h1(bytes, cfg),
    };
    match found {
        FirstHead::More if end => FirstHead::NotARequest,
        f => f,
    }
}

fn h2(bytes: &[u8], cfg: &Config) -> FirstHead {
    let Some(after) = bytes.get(PREFACE.len()..) else {
        return if PREFACE.starts_with(bytes) {
            FirstHead::More
        } else {
            FirstHead::NotARequest
        };
    };
    if !bytes.starts_with(PREFACE) {
        return FirstHead::NotARequest;
    }
    let mut rest = after;
    let mut block: Vec<u8> = Vec::new();
    let mut open = false;
    for _ in 0..MAX_FRAMES + cfg.max_continuation_frames as usize {
        let Some(&[l0, l1, l2, kind, flags, ..]) = rest.get(..9) else {
            return FirstHead::More;
        };
        let len = usize::from(l0) << 16 | usize::from(l1) << 8 | usize::from(l2);
        if len > cfg.max_frame_size as usize {
            return FirstHead::NotARequest;
        }
        let Some(payload) = rest.get(9..9 + len) else {
            return FirstHead::More;
        };
        rest = rest.get(9 + len..).unwrap_or_default();
        let fragment = match (open, kind) {
            (false, 0x1) => match headers_fragment(payload, flags) {
                Some(f) => f,
                None => return FirstHead::NotARequest,
            },
            (true, 0x9) => payload,
            (true, _) => return FirstHead::NotARequest,
            (false, _) => continue,
        };
        block.extend_from_slice(fragment);
        if block.len() > cfg.max_header_block {
            return FirstHead::NotARequest;
        }
        open = flags & 0x4 == 0;
        if !open {
            return decode(&block, cfg);
        }
    }
    FirstHead::NotARequest
}

/// A HEADERS payload without its padding and priority (RFC 9113 §6.2).
fn headers_fragment(payload: &[u8], flags: u8) -> Option<&[u8]> {
    let (pad, mut p) = if flags & 0x8 != 0 {
        let (&n, rest) = payload.split_first()?;
        (usize::from(n), rest)
    } else {
        (0, payload)
    };
    if flags & 0x20 != 0 {
        p = p.get(5..)?;
    }
    p.get(..p.len().checked_sub(pad)?)
}

fn decode(block: &[u8], cfg: &Config) -> FirstHead {
    let mut decoder = Decoder::new(cfg.header_table_size);
    let (mut authority, mut host) = (None, None);
    let decoded = decoder.decode(block, cfg.max_header_list_size as usize, &mut |n, v, _| {
        if n == b":authority" && authority.is_none() {
            authority = Some(v.to_vec());
        } else if n == b"host" && host.is_none() {
            host = Some(v.to_vec());
        }
    });
    match decoded {
        Ok(_) => FirstHead::Request(authority.or(host)),
        Err(_) => FirstHead::NotARequest,
    }
}

fn h1(bytes: &[u8], cfg: &Config) -> FirstHead {
    // Empty lines may come first (RFC 9112 §2.2).
    let mut head = bytes;
    while let [b'\r', b'\n', rest @ ..] = head {
        head = rest;
    }
    let lim = HeadLimits {
        max_line: cfg.h1_max_request_line,
        max_head: cfg.h1_max_head_bytes,
        max_fields: cfg.max_header_fields,
    };
    match HeadScan::default().scan(head, &lim) {
        Ok(None) => FirstHead::More,
        Ok(Some(n)) => match parse_request(head.get(..n).unwrap_or(head), b"http", &lim) {
            Ok(p) => FirstHead::Request(p.message.authority().map(<[u8]>::to_vec)),
            Err(_) => FirstHead::NotARequest,
        },
        Err(_) => FirstHead::NotARequest,
    }
}
