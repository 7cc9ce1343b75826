//! SETTINGS (§6.5).

use super::StreamId;

use super::header::wire_len;
use super::{flags, frame_len, write_header, FrameError, FrameType};
use super::{DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE, MAX_WINDOW};

/// Setting identifiers (§6.5.2, RFC 8441 §3).
pub mod setting {
    /// SETTINGS_HEADER_TABLE_SIZE: the largest HPACK dynamic table the sender's decoder allows.
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
    /// SETTINGS_ENABLE_PUSH: 0 or 1; whether the peer may push to the sender (§8.4).
    pub const ENABLE_PUSH: u16 = 0x2;
    /// SETTINGS_MAX_CONCURRENT_STREAMS: how many streams the peer may open towards the sender.
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    /// SETTINGS_INITIAL_WINDOW_SIZE: each stream's initial receive window, at most 2^31-1.
    pub const INITIAL_WINDOW_SIZE: u16 = 0x4;
    /// SETTINGS_MAX_FRAME_SIZE: the largest payload the sender accepts, 2^14..=2^24-1.
    pub const MAX_FRAME_SIZE: u16 = 0x5;
    /// SETTINGS_MAX_HEADER_LIST_SIZE: advisory limit on a field section's size.
    pub const MAX_HEADER_LIST_SIZE: u16 = 0x6;
    /// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441): 0 or 1; extended CONNECT allowed.
    pub const ENABLE_CONNECT_PROTOCOL: u16 = 0x8;
}

/// Bytes on the wire of a SETTINGS ACK.
pub const SETTINGS_ACK_FRAME_LEN: usize = frame_len(0);

/// Bytes on the wire of a SETTINGS frame with `entries` entries.
pub const fn settings_frame_len(entries: usize) -> usize {
    frame_len(entries.saturating_mul(6))
}

/// The (identifier, value) pairs of a SETTINGS payload, in order (later ones win,
/// §6.5.3). A trailing partial entry, which validate() refuses anyway, is skipped.
pub fn settings_entries(p: &[u8]) -> impl Iterator<Item = (u16, u32)> + '_ {
    p.chunks_exact(6).filter_map(|c| {
        let [i0, i1, v0, v1, v2, v3]: [u8; 6] = c.try_into().ok()?;
        Some((
            u16::from_be_bytes([i0, i1]),
            u32::from_be_bytes([v0, v1, v2, v3]),
        ))
    })
}

/// Checks one setting's value (§6.5.2); every failure is a connection error. Unknown
/// identifiers pass: §6.5.2 says ignore them. Whether ENABLE_PUSH = 1 is acceptable
/// depends on who sent it, which the caller knows.
pub fn check_setting(id: u16, value: u32) -> Result<(), FrameError> {
    let ok = match id {
        setting::ENABLE_PUSH | setting::ENABLE_CONNECT_PROTOCOL => value <= 1,
        setting::INITIAL_WINDOW_SIZE => value <= MAX_WINDOW,
        setting::MAX_FRAME_SIZE => (DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&value),
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        Err(FrameError::BadSetting(id))
    }
}

/// Appends a SETTINGS frame carrying `entries`.
pub fn write_settings(out: &mut Vec<u8>, entries: &[(u16, u32)]) {
    let len = wire_len(entries.len().saturating_mul(6));
    write_header(out, len, FrameType::Settings, 0, StreamId::ZERO);
    for &(id, value) in entries {
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&value.to_be_bytes());
    }
}

/// Appends an empty SETTINGS frame with ACK.
pub fn write_settings_ack(out: &mut Vec<u8>) {
    write_header(out, 0, FrameType::Settings, flags::ACK, StreamId::ZERO);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::ErrorCode;
    use crate::frame::{validate, FrameHeader, HEADER_LEN};

    #[test]
    fn round_trip() {
        let entries = [
            (setting::HEADER_TABLE_SIZE, 0),
            (setting::ENABLE_PUSH, 0),
            (setting::MAX_CONCURRENT_STREAMS, 100),
            (setting::INITIAL_WINDOW_SIZE, MAX_WINDOW),
            (setting::MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE),
            (setting::MAX_HEADER_LIST_SIZE, u32::MAX),
            (setting::ENABLE_CONNECT_PROTOCOL, 1),
            (0xffff, 0xdead_beef),
        ];
        let mut out = Vec::new();
        write_settings(&mut out, &entries);
        assert_eq!(out.len(), settings_frame_len(entries.len()));
        let h = FrameHeader::parse(out[..HEADER_LEN].try_into().unwrap());
        assert_eq!((h.kind, h.flags, h.len), (FrameType::Settings, 0, 48));
        assert!(h.stream.is_zero());
        assert!(validate(&h, 16_384).is_ok());
        let back: Vec<_> = settings_entries(&out[HEADER_LEN..]).collect();
        assert_eq!(back, entries);
        assert!(back.iter().all(|&(id, v)| check_setting(id, v).is_ok()));
    }

    #[test]
    fn empty_and_ack() {
        let mut out = Vec::new();
        write_settings(&mut out, &[]);
        assert_eq!(out, [0, 0, 0, 4, 0, 0, 0, 0, 0]);
        out.clear();
        write_settings_ack(&mut out);
        assert_eq!(out, [0, 0, 0, 4, 1, 0, 0, 0, 0]);
        assert_eq!(out.len(), SETTINGS_ACK_FRAME_LEN);
        assert_eq!(settings_entries(&[]).count(), 0);
    }

    #[test]
    fn partial_entry_is_skipped() {
        let p = [0, 3, 0, 0, 0, 7, 0, 4, 0];
        assert_eq!(settings_entries(&p).collect::<Vec<_>>(), [(3, 7)]);
    }

    #[test]
    fn value_checks() {
        use ErrorCode::{FlowControlError as Fc, ProtocolError as Pe};
        let cases: &[(u16, u32, Option<ErrorCode>)] = &[
            (setting::ENABLE_PUSH, 0, None),
            (setting::ENABLE_PUSH, 1, None),
            (setting::ENABLE_PUSH, 2, Some(Pe)),
            (setting::INITIAL_WINDOW_SIZE, MAX_WINDOW, None),
            (setting::INITIAL_WINDOW_SIZE, MAX_WINDOW + 1, Some(Fc)),
            (setting::INITIAL_WINDOW_SIZE, u32::MAX, Some(Fc)),
            (setting::MAX_FRAME_SIZE, 16_383, Some(Pe)),
            (setting::MAX_FRAME_SIZE, 16_384, None),
            (setting::MAX_FRAME_SIZE, 16_777_215, None),
            (setting::MAX_FRAME_SIZE, 16_777_216, Some(Pe)),
            (setting::MAX_FRAME_SIZE, 0, Some(Pe)),
            (setting::ENABLE_CONNECT_PROTOCOL, 1, None),
            (setting::ENABLE_CONNECT_PROTOCOL, 2, Some(Pe)),
            (setting::HEADER_TABLE_SIZE, u32::MAX, None),
            (setting::MAX_CONCURRENT_STREAMS, 0, None),
            (setting::MAX_HEADER_LIST_SIZE, 0, None),
            (0, u32::MAX, None),
            (7, u32::MAX, None),
        ];
        for &(id, value, want) in cases {
            match (check_setting(id, value), want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) if e.code() == w && !e.stream_scoped() => {}
                (got, _) => panic!("setting {id}={value}: got {got:?}, want {want:?}"),
            }
        }
    }
}
