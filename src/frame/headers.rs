//! HEADERS (§6.2) and CONTINUATION (§6.10): stripping padding and priority on receipt,
//! splitting a header block into frames on send.

use super::StreamId;

use super::header::wire_len;
use super::priority::parse_priority;
use super::MAX_MAX_FRAME_SIZE;
use super::{flags, write_header, FrameError, FrameHeader, FrameType, Priority, HEADER_LEN};

/// Strips padding and the priority block from a HEADERS payload, returning the field
/// block fragment. Any other frame type (CONTINUATION) is returned whole: PADDED and
/// PRIORITY mean nothing there and must be ignored.
///
/// §6.2: padding that exceeds what remains for the fragment is a connection
/// PROTOCOL_ERROR; an empty fragment is legal (the block may follow in CONTINUATION).
/// A connection error, not a stream one, because the block must still reach the
/// decoder to keep the HPACK state in step.
pub fn headers_fragment<'a>(
    h: &FrameHeader,
    p: &'a [u8],
) -> Result<(&'a [u8], Option<Priority>), FrameError> {
    if h.kind != FrameType::Headers {
        return Ok((p, None));
    }
    let too_short = FrameError::BadLength(FrameType::Headers);
    let mut rest = p;
    let mut pad = 0usize;
    if h.has(flags::PADDED) {
        let (&first, tail) = rest.split_first().ok_or(too_short)?;
        pad = usize::from(first);
        rest = tail;
    }
    let mut priority = None;
    if h.has(flags::PRIORITY) {
        let (block, tail) = rest.split_at_checked(5).ok_or(too_short)?;
        priority = parse_priority(block);
        rest = tail;
    }
    let fragment_len = rest
        .len()
        .checked_sub(pad)
        .ok_or(FrameError::PaddingTooLong(FrameType::Headers))?;
    let (fragment, _padding) = rest
        .split_at_checked(fragment_len)
        .ok_or(FrameError::PaddingTooLong(FrameType::Headers))?;
    Ok((fragment, priority))
}

/// A usable payload limit: the peer's setting is validated elsewhere, but a zero here
/// would never finish splitting.
fn payload_limit(max_frame_size: u32) -> usize {
    max_frame_size.clamp(1, MAX_MAX_FRAME_SIZE) as usize
}

/// Writes a header block as one HEADERS frame and as many CONTINUATION frames as needed,
/// each payload <= `max_frame_size`; END_HEADERS on the last one, END_STREAM (if asked)
/// on the HEADERS frame (§6.2, §6.10). An empty block is one empty HEADERS frame.
pub fn write_header_block(
    out: &mut Vec<u8>,
    stream: StreamId,
    block: &[u8],
    end_stream: bool,
    max_frame_size: u32,
) {
    let limit = payload_limit(max_frame_size);
    let mut kind = FrameType::Headers;
    let mut fl = if end_stream { flags::END_STREAM } else { 0 };
    let mut rest = block;
    loop {
        let (chunk, tail) = rest.split_at_checked(limit).unwrap_or((rest, &[]));
        if tail.is_empty() {
            fl |= flags::END_HEADERS;
        }
        write_header(out, wire_len(chunk.len()), kind, fl, stream);
        out.extend_from_slice(chunk);
        if tail.is_empty() {
            return;
        }
        rest = tail;
        kind = FrameType::Continuation;
        fl = 0;
    }
}

/// Bytes `write_header_block` will append for a block of `block_len` bytes.
pub fn header_block_len(block_len: usize, max_frame_size: u32) -> usize {
    let frames = block_len.div_ceil(payload_limit(max_frame_size)).max(1);
    block_len.saturating_add(frames.saturating_mul(HEADER_LEN))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::validate;
    use crate::frame::ErrorCode;

    fn hdr(fl: u8, len: usize) -> FrameHeader {
        FrameHeader {
            len: len as u32,
            kind: FrameType::Headers,
            flags: fl,
            stream: StreamId::new(1),
        }
    }

    #[test]
    fn plain_fragment() {
        let p = b"abc";
        assert_eq!(headers_fragment(&hdr(0, 3), p), Ok((&p[..], None)));
    }

    #[test]
    fn padded_fragment() {
        let p = [2, b'a', b'b', 0, 0];
        assert_eq!(
            headers_fragment(&hdr(flags::PADDED, 5), &p),
            Ok((&b"ab"[..], None))
        );
        // Pad = everything after the pad length: an empty fragment, legal.
        let p = [4, 0, 0, 0, 0];
        assert_eq!(
            headers_fragment(&hdr(flags::PADDED, 5), &p),
            Ok((&b""[..], None))
        );
        let p = [0];
        assert_eq!(
            headers_fragment(&hdr(flags::PADDED, 1), &p),
            Ok((&b""[..], None))
        );
        // Pad one past the end, and the largest pad on the smallest frame.
        for p in [&[5u8, 0, 0, 0, 0][..], &[255u8][..]] {
            let e = headers_fragment(&hdr(flags::PADDED, p.len()), p).unwrap_err();
            assert_eq!(e.code(), ErrorCode::ProtocolError);
            assert!(!e.stream_scoped());
        }
        let e = headers_fragment(&hdr(flags::PADDED, 0), &[]).unwrap_err();
        assert_eq!(e.code(), ErrorCode::FrameSizeError);
    }

    #[test]
    fn priority_fragment() {
        let p = [0x80, 0, 0, 3, 9, b'x'];
        let (frag, pri) = headers_fragment(&hdr(flags::PRIORITY, 6), &p).unwrap();
        assert_eq!(frag, b"x");
        let pri = pri.unwrap();
        assert_eq!(
            (pri.dependency.value(), pri.exclusive, pri.weight),
            (3, true, 9)
        );
        let e = headers_fragment(&hdr(flags::PRIORITY, 4), &p[..4]).unwrap_err();
        assert_eq!(e.code(), ErrorCode::FrameSizeError);
    }

    #[test]
    fn padded_and_priority_fragment() {
        let both = flags::PADDED | flags::PRIORITY;
        let p = [1, 0, 0, 0, 5, 16, b'y', 0];
        let (frag, pri) = headers_fragment(&hdr(both, p.len()), &p).unwrap();
        assert_eq!(frag, b"y");
        assert_eq!(pri.unwrap().dependency.value(), 5);
        // The padding is measured after the priority block.
        let p = [2, 0, 0, 0, 5, 16, 0, 0];
        assert_eq!(headers_fragment(&hdr(both, 8), &p).unwrap().0, b"");
        let p = [3, 0, 0, 0, 5, 16, 0, 0];
        assert_eq!(
            headers_fragment(&hdr(both, 8), &p).unwrap_err().code(),
            ErrorCode::ProtocolError
        );
        let e = headers_fragment(&hdr(both, 5), &p[..5]).unwrap_err();
        assert_eq!(e.code(), ErrorCode::FrameSizeError);
    }

    #[test]
    fn continuation_flags_are_ignored() {
        let h = FrameHeader {
            kind: FrameType::Continuation,
            ..hdr(flags::PADDED | flags::PRIORITY, 2)
        };
        assert_eq!(headers_fragment(&h, &[200, 1]), Ok((&[200u8, 1][..], None)));
    }

    /// Parses back what write_header_block wrote: (kind, flags, payload) per frame.
    fn frames(mut wire: &[u8]) -> Vec<(FrameType, u8, Vec<u8>)> {
        let mut v = Vec::new();
        while !wire.is_empty() {
            let h = FrameHeader::parse(wire[..HEADER_LEN].try_into().unwrap());
            assert_eq!(h.stream.value(), 5);
            assert!(validate(&h, 16).is_ok());
            let end = HEADER_LEN + h.len as usize;
            v.push((h.kind, h.flags, wire[HEADER_LEN..end].to_vec()));
            wire = &wire[end..];
        }
        v
    }

    #[test]
    fn block_split() {
        use FrameType::{Continuation as C, Headers as H};
        let es = flags::END_STREAM;
        let eh = flags::END_HEADERS;
        let block: Vec<u8> = (0..=255).collect();
        for (len, end, want) in [
            (0, true, vec![(H, es | eh, 0)]),
            (1, false, vec![(H, eh, 1)]),
            (16, true, vec![(H, es | eh, 16)]),
            (17, true, vec![(H, es, 16), (C, eh, 1)]),
            (32, false, vec![(H, 0, 16), (C, eh, 16)]),
            (48, true, vec![(H, es, 16), (C, 0, 16), (C, eh, 16)]),
            (
                49,
                true,
                vec![(H, es, 16), (C, 0, 16), (C, 0, 16), (C, eh, 1)],
            ),
        ] {
            let mut out = vec![0xaa];
            write_header_block(&mut out, StreamId::new(5), &block[..len], end, 16);
            assert_eq!(out.len() - 1, header_block_len(len, 16), "len {len}");
            let got = frames(&out[1..]);
            let shape: Vec<_> = got.iter().map(|(k, f, p)| (*k, *f, p.len())).collect();
            assert_eq!(shape, want, "len {len}");
            let joined: Vec<u8> = got.into_iter().flat_map(|(_, _, p)| p).collect();
            assert_eq!(joined, &block[..len]);
        }
    }

    #[test]
    fn block_len_edges() {
        assert_eq!(header_block_len(0, 16_384), 9);
        assert_eq!(header_block_len(16_384, 16_384), 16_384 + 9);
        assert_eq!(header_block_len(16_385, 16_384), 16_385 + 18);
        // A zero limit is treated as one byte per frame rather than looping forever.
        assert_eq!(header_block_len(3, 0), 3 + 27);
        let mut out = Vec::new();
        write_header_block(&mut out, StreamId::new(1), b"abc", false, 0);
        assert_eq!(out.len(), 30);
        assert_eq!(header_block_len(usize::MAX, 1), usize::MAX);
    }
}
