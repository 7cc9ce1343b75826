//! DATA (§6.1). Payloads are moved piecewise by the caller, so only the padding rule and
//! the encoder live here.

use super::StreamId;

use super::header::wire_len;
use super::{flags, write_header, FrameError, FrameHeader, FrameType};

/// For DATA moved piecewise: given the first payload byte when PADDED, the number of
/// padding bytes at the end of the payload (0 when not PADDED; the first byte is then
/// data). The caller skips that first byte itself: the data is `len - 1 - padding` bytes.
///
/// §6.1: padding as long as the payload or longer is a connection PROTOCOL_ERROR.
pub fn data_padding(h: &FrameHeader, first_byte: u8) -> Result<u32, FrameError> {
    if !h.has(flags::PADDED) {
        return Ok(0);
    }
    if h.len == 0 {
        // validate() already refuses this; kept so the function stands on its own.
        return Err(FrameError::BadLength(FrameType::Data));
    }
    let pad = u32::from(first_byte);
    if pad >= h.len {
        return Err(FrameError::PaddingTooLong(FrameType::Data));
    }
    Ok(pad)
}

/// Appends a DATA frame (never padded). The caller keeps `data` within the peer's
/// SETTINGS_MAX_FRAME_SIZE and its flow-control windows.
pub fn write_data(out: &mut Vec<u8>, stream: StreamId, data: &[u8], end_stream: bool) {
    let fl = if end_stream { flags::END_STREAM } else { 0 };
    write_header(out, wire_len(data.len()), FrameType::Data, fl, stream);
    out.extend_from_slice(data);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::ErrorCode;
    use crate::frame::{validate, HEADER_LEN};

    fn padded(len: u32) -> FrameHeader {
        FrameHeader {
            len,
            kind: FrameType::Data,
            flags: flags::PADDED,
            stream: StreamId::new(1),
        }
    }

    #[test]
    fn padding_edges() {
        // Pad = len - 1: no data at all, still legal.
        assert_eq!(data_padding(&padded(10), 9), Ok(9));
        assert_eq!(data_padding(&padded(1), 0), Ok(0));
        assert_eq!(data_padding(&padded(256), 255), Ok(255));
        // Pad >= len: the pad length byte itself leaves no room.
        for (len, pad) in [(10, 10), (10, 11), (1, 1), (1, 255), (255, 255)] {
            let e = data_padding(&padded(len), pad).unwrap_err();
            assert_eq!(e.code(), ErrorCode::ProtocolError);
            assert!(!e.stream_scoped());
        }
        assert_eq!(
            data_padding(&padded(0), 0).unwrap_err().code(),
            ErrorCode::FrameSizeError
        );
    }

    #[test]
    fn unpadded_first_byte_is_data() {
        let h = FrameHeader {
            flags: flags::END_STREAM,
            ..padded(0)
        };
        assert_eq!(data_padding(&h, 200), Ok(0));
    }

    #[test]
    fn round_trip() {
        for (data, end) in [(&b""[..], true), (&b"hello"[..], false)] {
            let mut out = Vec::new();
            write_data(&mut out, StreamId::new(7), data, end);
            let h = FrameHeader::parse(out[..HEADER_LEN].try_into().unwrap());
            assert_eq!(h.kind, FrameType::Data);
            assert_eq!(h.len as usize, data.len());
            assert_eq!(h.has(flags::END_STREAM), end);
            assert!(!h.has(flags::PADDED));
            assert_eq!(h.stream.value(), 7);
            assert!(validate(&h, 16_384).is_ok());
            assert_eq!(&out[HEADER_LEN..], data);
        }
    }
}
