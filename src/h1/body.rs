//! Message bodies (RFC 9112 §6, §7): Content-Length, chunked (extensions tolerated and
//! bounded, trailers), or until the connection closes. Resumable at any byte: a chunk line
//! or a trailer section that is not complete yet is left unconsumed for the next call, and
//! body bytes come out as ranges of the input (no copy).

use super::error::H1Error;
use super::head::{Framing, HeadLimits, HeadScan};
use crate::message::Fields;

/// What the decoder found at the front of its input.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    /// Body bytes: `input[at..at + len]`; `consumed` covers them and any framing before.
    Data {
        /// Where the bytes start in the input.
        at: usize,
        /// How many.
        len: usize,
    },
    /// Framing only (a chunk line, a CRLF): nothing for the owner.
    Framing,
    /// The trailer section, parsed.
    Trailers(Fields),
    /// The body is complete (after trailers, if any came).
    End,
    /// More input is needed to go on; nothing was consumed.
    NeedMore,
}

/// Where a chunked body is.
#[derive(Clone, Copy, Debug)]
pub enum Chunk {
    /// Reading a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// The trailer section after the last chunk.
    Trailers(HeadScan),
}

/// The body decoder of one message.
#[derive(Clone, Copy, Debug)]
pub enum Body {
    /// This many bytes left.
    Length(u64),
    /// Chunked, at this step.
    Chunked(Chunk),
    /// Everything until the transport ends.
    UntilClose,
    /// Nothing more: the message is complete.
    Done,
}

impl Body {
    /// The decoder for a message with this framing.
    pub fn new(framing: Framing) -> Body {
        match framing {
            Framing::Empty | Framing::Length(0) => Body::Done,
            Framing::Length(n) => Body::Length(n),
            Framing::Chunked => Body::Chunked(Chunk::Size),
            Framing::UntilClose => Body::UntilClose,
        }
    }

    /// The message is complete.
    pub fn is_done(&self) -> bool {
        matches!(self, Body::Done)
    }

    /// Decodes the next piece at the front of `input`; returns it with the bytes consumed.
    /// `max_data` caps the body bytes handed out (the owner's back-pressure).
    pub fn next(
        &mut self,
        input: &[u8],
        max_data: usize,
        max_chunk_line: usize,
        lim: &HeadLimits,
    ) -> Result<(usize, Piece), H1Error> {
        match self {
            Body::Done => Ok((0, Piece::End)),
            Body::Length(left) => {
                let n = clamp(*left, input.len(), max_data);
                if n == 0 {
                    return Ok((0, Piece::NeedMore));
                }
                *left -= n as u64;
                if *left == 0 {
                    *self = Body::Done;
                }
                Ok((n, Piece::Data { at: 0, len: n }))
            }
            Body::UntilClose => {
                let n = input.len().min(max_data);
                if n == 0 {
                    return Ok((0, Piece::NeedMore));
                }
                Ok((n, Piece::Data { at: 0, len: n }))
            }
            Body::Chunked(step) => {
                let (n, piece, next) = chunked(*step, input, max_data, max_chunk_line, lim)?;
                *self = next;
                Ok((n, piece))
            }
        }
    }
}

fn clamp(left: u64, avail: usize, max: usize) -> usize {
    let n = avail.min(max);
    if (n as u64) > left {
        left as usize
    } else {
        n
    }
}

fn chunked(
    step: Chunk,
    input: &[u8],
    max_data: usize,
    max_line: usize,
    lim: &HeadLimits,
) -> Result<(usize, Piece, Body), H1Error> {
    let stay = Body::Chunked(step);
    match step {
        Chunk::Size => {
            let Some(nl) = input.iter().position(|&b| b == b'\n') else {
                if input.len() >= max_line {
                    return Err(H1Error::ChunkLineTooLong);
                }
                return Ok((0, Piece::NeedMore, stay));
            };
            if nl + 1 > max_line {
                return Err(H1Error::ChunkLineTooLong);
            }
            if nl == 0 || input[nl - 1] != b'\r' {
                return Err(H1Error::BareLf);
            }
            let size = chunk_size(&input[..nl - 1])?;
            let next = if size == 0 {
                Body::Chunked(Chunk::Trailers(HeadScan::default()))
            } else {
                Body::Chunked(Chunk::Data(size))
            };
            Ok((nl + 1, Piece::Framing, next))
        }
        Chunk::Data(left) => {
            let n = clamp(left, input.len(), max_data);
            if n == 0 {
                return Ok((0, Piece::NeedMore, stay));
            }
            let left = left - n as u64;
            let next = if left == 0 {
                Chunk::DataEnd
            } else {
                Chunk::Data(left)
            };
            Ok((n, Piece::Data { at: 0, len: n }, Body::Chunked(next)))
        }
        Chunk::DataEnd => match input {
            [b'\r', b'\n', ..] => Ok((2, Piece::Framing, Body::Chunked(Chunk::Size))),
            [] | [b'\r'] => Ok((0, Piece::NeedMore, stay)),
            _ => Err(H1Error::BadChunkEnd),
        },
        Chunk::Trailers(mut scan) => {
            // No trailers: the last chunk is followed by a bare CRLF.
            match input {
                [b'\r', b'\n', ..] => return Ok((2, Piece::End, Body::Done)),
                [] | [b'\r'] => return Ok((0, Piece::NeedMore, stay)),
                [b'\n', ..] => return Err(H1Error::BareLf),
                _ => {}
            }
            // A trailer section is a head without a start line: scan it as one whose first
            // line is its first field.
            let tl = HeadLimits {
                max_line: lim.max_head,
                ..*lim
            };
            match scan.scan(input, &tl)? {
                None => Ok((0, Piece::NeedMore, Body::Chunked(Chunk::Trailers(scan)))),
                Some(end) => {
                    let fields = super::head::parse_trailers(&input[..end], lim)?;
                    Ok((end, Piece::Trailers(fields), Body::Done))
                }
            }
        }
    }
}

/// `1*HEXDIG [ chunk-ext ]` (§7.1): the size, with extensions checked and ignored.
fn chunk_size(line: &[u8]) -> Result<u64, H1Error> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return Err(H1Error::BadChunkSize);
    }
    let mut n: u64 = 0;
    for &b in &line[..digits] {
        let d = (b as char).to_digit(16).unwrap_or(0);
        n = (n << 4) | u64::from(d);
    }
    let ext = &line[digits..];
    // BWS may come only before a ';' (§7.1.1): "5 " alone is not a chunk line.
    let ext = crate::message::trim_ows(ext);
    if ext.is_empty() && digits < line.len() {
        return Err(H1Error::BadChunkSize);
    }
    if !ext.is_empty() {
        if ext.first() != Some(&b';') {
            return Err(H1Error::BadChunkSize);
        }
        if ext.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(H1Error::BadChunkSize);
        }
    }
    Ok(n)
}
