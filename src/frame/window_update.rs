//! WINDOW_UPDATE (§6.9).

use super::StreamId;

use super::{frame_len, write_header, FrameType, MAX_WINDOW};

/// Bytes on the wire of a WINDOW_UPDATE frame.
pub const WINDOW_UPDATE_FRAME_LEN: usize = frame_len(4);

/// The increment with the reserved bit dropped; None unless the payload is exactly 4
/// bytes. Zero is returned as is: the caller maps it to a connection PROTOCOL_ERROR on
/// stream 0 and a stream PROTOCOL_ERROR elsewhere (§6.9).
pub fn parse_window_update(p: &[u8]) -> Option<u32> {
    let b: [u8; 4] = p.try_into().ok()?;
    Some(u32::from_be_bytes(b) & MAX_WINDOW)
}

/// Appends a WINDOW_UPDATE; `increment` must be 1..=2^31-1.
pub fn write_window_update(out: &mut Vec<u8>, stream: StreamId, increment: u32) {
    debug_assert!(
        (1..=MAX_WINDOW).contains(&increment),
        "bad increment {increment}"
    );
    write_header(out, 4, FrameType::WindowUpdate, 0, stream);
    out.extend_from_slice(&(increment & MAX_WINDOW).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{validate, FrameHeader, HEADER_LEN};

    #[test]
    fn round_trip() {
        for (stream, inc) in [(0, 1), (1, MAX_WINDOW), (3, 65_535)] {
            let mut out = Vec::new();
            write_window_update(&mut out, StreamId::new(stream), inc);
            assert_eq!(out.len(), WINDOW_UPDATE_FRAME_LEN);
            let h = FrameHeader::parse(out[..HEADER_LEN].try_into().unwrap());
            assert_eq!(
                (h.kind, h.stream.value()),
                (FrameType::WindowUpdate, stream)
            );
            assert!(validate(&h, 16_384).is_ok());
            assert_eq!(parse_window_update(&out[HEADER_LEN..]), Some(inc));
        }
    }

    #[test]
    fn reserved_bit_and_zero() {
        assert_eq!(parse_window_update(&[0x80, 0, 0, 1]), Some(1));
        assert_eq!(parse_window_update(&[0x80, 0, 0, 0]), Some(0));
        assert_eq!(parse_window_update(&[0, 0, 0, 0]), Some(0));
        assert_eq!(parse_window_update(&[0; 3]), None);
        assert_eq!(parse_window_update(&[0; 5]), None);
    }
}
