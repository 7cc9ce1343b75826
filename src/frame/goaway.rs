//! GOAWAY (§6.8).

use super::ErrorCode;
use super::StreamId;

use super::header::wire_len;
use super::{frame_len, write_header, FrameType};

/// A parsed GOAWAY payload: the last stream the sender processed, its code, debug data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoAway<'a> {
    /// Reserved bit dropped.
    pub last_stream: StreamId,
    /// Why the sender is closing the connection.
    pub code: ErrorCode,
    /// Opaque diagnostic bytes, possibly empty.
    pub debug: &'a [u8],
}

/// Bytes on the wire of a GOAWAY frame carrying `debug_len` bytes of debug data.
pub const fn goaway_frame_len(debug_len: usize) -> usize {
    frame_len(debug_len.saturating_add(8))
}

/// None when the payload is shorter than 8 bytes.
pub fn parse_goaway(p: &[u8]) -> Option<GoAway<'_>> {
    let (fixed, debug) = p.split_at_checked(8)?;
    let [l0, l1, l2, l3, c0, c1, c2, c3]: [u8; 8] = fixed.try_into().ok()?;
    Some(GoAway {
        last_stream: StreamId::new(u32::from_be_bytes([l0, l1, l2, l3])),
        code: ErrorCode::from_u32(u32::from_be_bytes([c0, c1, c2, c3])),
        debug,
    })
}

/// Appends a GOAWAY; the caller keeps `debug` within the peer's SETTINGS_MAX_FRAME_SIZE
/// minus 8.
pub fn write_goaway(out: &mut Vec<u8>, last: StreamId, code: ErrorCode, debug: &[u8]) {
    write_header(
        out,
        wire_len(debug.len().saturating_add(8)),
        FrameType::GoAway,
        0,
        StreamId::ZERO,
    );
    out.extend_from_slice(&last.value().to_be_bytes());
    out.extend_from_slice(&code.to_u32().to_be_bytes());
    out.extend_from_slice(debug);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{validate, FrameHeader, HEADER_LEN};

    #[test]
    fn round_trip() {
        for (last, code, debug) in [
            (0, ErrorCode::NoError, &b""[..]),
            (
                0x7fff_ffff,
                ErrorCode::EnhanceYourCalm,
                &b"too many resets"[..],
            ),
            (5, ErrorCode::Other(0x42), &b"x"[..]),
        ] {
            let mut out = Vec::new();
            write_goaway(&mut out, StreamId::new(last), code, debug);
            assert_eq!(out.len(), goaway_frame_len(debug.len()));
            let h = FrameHeader::parse(out[..HEADER_LEN].try_into().unwrap());
            assert_eq!(h.kind, FrameType::GoAway);
            assert!(h.stream.is_zero());
            assert!(validate(&h, 16_384).is_ok());
            let g = parse_goaway(&out[HEADER_LEN..]).unwrap();
            assert_eq!(
                g,
                GoAway {
                    last_stream: StreamId::new(last),
                    code,
                    debug
                }
            );
        }
    }

    #[test]
    fn short_and_reserved() {
        assert_eq!(parse_goaway(&[0; 7]), None);
        let g = parse_goaway(&[0x80, 0, 0, 3, 0, 0, 0, 1]).unwrap();
        assert_eq!(g.last_stream.value(), 3);
        assert_eq!(g.code, ErrorCode::ProtocolError);
        assert!(g.debug.is_empty());
    }
}
