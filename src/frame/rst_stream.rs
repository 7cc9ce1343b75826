//! RST_STREAM (§6.4).

use super::ErrorCode;
use super::StreamId;

use super::{frame_len, write_header, FrameType};

/// Bytes on the wire of a RST_STREAM frame.
pub const RST_STREAM_FRAME_LEN: usize = frame_len(4);

/// The error code; None unless the payload is exactly 4 bytes.
pub fn parse_rst_stream(p: &[u8]) -> Option<ErrorCode> {
    let b: [u8; 4] = p.try_into().ok()?;
    Some(ErrorCode::from_u32(u32::from_be_bytes(b)))
}

/// Appends a RST_STREAM frame ending `stream` with `code`.
pub fn write_rst_stream(out: &mut Vec<u8>, stream: StreamId, code: ErrorCode) {
    write_header(out, 4, FrameType::RstStream, 0, stream);
    out.extend_from_slice(&code.to_u32().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{validate, FrameHeader, HEADER_LEN};

    #[test]
    fn round_trip() {
        for code in [
            ErrorCode::NoError,
            ErrorCode::Cancel,
            ErrorCode::Other(0xffff_ffff),
        ] {
            let mut out = Vec::new();
            write_rst_stream(&mut out, StreamId::new(9), code);
            assert_eq!(out.len(), RST_STREAM_FRAME_LEN);
            let h = FrameHeader::parse(out[..HEADER_LEN].try_into().unwrap());
            assert_eq!((h.kind, h.stream.value()), (FrameType::RstStream, 9));
            assert!(validate(&h, 16_384).is_ok());
            assert_eq!(parse_rst_stream(&out[HEADER_LEN..]), Some(code));
        }
    }

    #[test]
    fn wrong_lengths() {
        assert_eq!(parse_rst_stream(&[0; 3]), None);
        assert_eq!(parse_rst_stream(&[0; 5]), None);
    }
}
