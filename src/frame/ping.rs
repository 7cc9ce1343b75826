//! PING (§6.7).

use super::StreamId;

use super::{flags, frame_len, write_header, FrameType};

/// Bytes on the wire of a PING frame.
pub const PING_FRAME_LEN: usize = frame_len(8);

/// The 8 opaque bytes; None unless the payload is exactly 8 bytes.
pub fn parse_ping(p: &[u8]) -> Option<[u8; 8]> {
    p.try_into().ok()
}

/// Appends a PING, or its ACK echoing `data`.
pub fn write_ping(out: &mut Vec<u8>, ack: bool, data: [u8; 8]) {
    let fl = if ack { flags::ACK } else { 0 };
    write_header(out, 8, FrameType::Ping, fl, StreamId::ZERO);
    out.extend_from_slice(&data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{validate, FrameHeader, HEADER_LEN};

    #[test]
    fn round_trip() {
        for ack in [false, true] {
            let data = [1, 2, 3, 4, 5, 6, 7, 0xff];
            let mut out = Vec::new();
            write_ping(&mut out, ack, data);
            assert_eq!(out.len(), PING_FRAME_LEN);
            let h = FrameHeader::parse(out[..HEADER_LEN].try_into().unwrap());
            assert_eq!((h.kind, h.has(flags::ACK)), (FrameType::Ping, ack));
            assert!(validate(&h, 16_384).is_ok());
            assert_eq!(parse_ping(&out[HEADER_LEN..]), Some(data));
        }
    }

    #[test]
    fn wrong_lengths() {
        assert_eq!(parse_ping(&[0; 7]), None);
        assert_eq!(parse_ping(&[0; 9]), None);
        assert_eq!(parse_ping(&[]), None);
    }
}
