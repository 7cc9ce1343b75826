//! The 9-byte frame header (§4.1) and frame types (§6, §11.2).

use super::StreamId;

use super::HEADER_LEN;

/// A frame type. Types this implementation does not know are kept, so the caller can
/// skip them (§4.1: "Implementations MUST ignore and discard frames of unknown types").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameType {
    /// DATA (0x0, §6.1): message content.
    Data,
    /// HEADERS (0x1, §6.2): opens a stream and carries a field block.
    Headers,
    /// PRIORITY (0x2, §6.3): deprecated stream priority; parsed, not acted on.
    Priority,
    /// RST_STREAM (0x3, §6.4): ends one stream at once.
    RstStream,
    /// SETTINGS (0x4, §6.5): connection parameters, or their acknowledgement.
    Settings,
    /// PUSH_PROMISE (0x5, §6.6): server push, which we never enable.
    PushPromise,
    /// PING (0x6, §6.7): round-trip check, answered with an ACK.
    Ping,
    /// GOAWAY (0x7, §6.8): the sender opens no more streams; shutdown or connection error.
    GoAway,
    /// WINDOW_UPDATE (0x8, §6.9): flow-control credit for a stream or the connection.
    WindowUpdate,
    /// CONTINUATION (0x9, §6.10): the rest of a field block begun by HEADERS.
    Continuation,
    /// A type this implementation does not know, with its wire value; skipped.
    Unknown(u8),
}

impl FrameType {
    /// The type for a wire value; unknown values are kept in [`FrameType::Unknown`].
    pub fn from_u8(v: u8) -> Self {
        match v {
            0x0 => FrameType::Data,
            0x1 => FrameType::Headers,
            0x2 => FrameType::Priority,
            0x3 => FrameType::RstStream,
            0x4 => FrameType::Settings,
            0x5 => FrameType::PushPromise,
            0x6 => FrameType::Ping,
            0x7 => FrameType::GoAway,
            0x8 => FrameType::WindowUpdate,
            0x9 => FrameType::Continuation,
            other => FrameType::Unknown(other),
        }
    }

    /// The wire value, the exact inverse of [`FrameType::from_u8`].
    pub fn to_u8(self) -> u8 {
        match self {
            FrameType::Data => 0x0,
            FrameType::Headers => 0x1,
            FrameType::Priority => 0x2,
            FrameType::RstStream => 0x3,
            FrameType::Settings => 0x4,
            FrameType::PushPromise => 0x5,
            FrameType::Ping => 0x6,
            FrameType::GoAway => 0x7,
            FrameType::WindowUpdate => 0x8,
            FrameType::Continuation => 0x9,
            FrameType::Unknown(v) => v,
        }
    }

    /// The RFC name, for logs.
    pub fn name(self) -> &'static str {
        match self {
            FrameType::Data => "DATA",
            FrameType::Headers => "HEADERS",
            FrameType::Priority => "PRIORITY",
            FrameType::RstStream => "RST_STREAM",
            FrameType::Settings => "SETTINGS",
            FrameType::PushPromise => "PUSH_PROMISE",
            FrameType::Ping => "PING",
            FrameType::GoAway => "GOAWAY",
            FrameType::WindowUpdate => "WINDOW_UPDATE",
            FrameType::Continuation => "CONTINUATION",
            FrameType::Unknown(_) => "UNKNOWN",
        }
    }
}

/// Frame flags (§6). Several share a bit; which one applies depends on the frame type.
pub mod flags {
    /// DATA, HEADERS: the last frame the sender sends on this stream.
    pub const END_STREAM: u8 = 0x1;
    /// SETTINGS, PING: this frame acknowledges the peer's.
    pub const ACK: u8 = 0x1;
    /// HEADERS, CONTINUATION: the field block ends with this frame.
    pub const END_HEADERS: u8 = 0x4;
    /// DATA, HEADERS: a pad length byte leads the payload, padding follows it.
    pub const PADDED: u8 = 0x8;
    /// HEADERS: a priority block (deprecated) leads the field block.
    pub const PRIORITY: u8 = 0x20;
}

/// The 9-byte frame header (§4.1): payload length, type, flags and stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length, 24 bits on the wire.
    pub len: u32,
    /// The frame type; an unknown one is kept so the frame can be skipped.
    pub kind: FrameType,
    /// All flag bits as received; the ones a type does not define are ignored (§4.1).
    pub flags: u8,
    /// The reserved bit is dropped.
    pub stream: StreamId,
}

impl FrameHeader {
    /// Decodes the 9 header bytes as received; validation comes after (`frame::validate`).
    pub fn parse(b: &[u8; 9]) -> FrameHeader {
        let [l0, l1, l2, kind, flags, s0, s1, s2, s3] = *b;
        FrameHeader {
            len: u32::from_be_bytes([0, l0, l1, l2]),
            kind: FrameType::from_u8(kind),
            flags,
            stream: StreamId::new(u32::from_be_bytes([s0, s1, s2, s3])),
        }
    }

    /// Whether a flag bit is set; see [`flags`] for which bits mean what per type.
    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }
}

/// Appends a frame header. `len` must fit in 24 bits; the caller keeps payloads within
/// the peer's SETTINGS_MAX_FRAME_SIZE.
pub fn write_header(out: &mut Vec<u8>, len: u32, kind: FrameType, flags: u8, stream: StreamId) {
    debug_assert!(
        len <= super::MAX_MAX_FRAME_SIZE,
        "frame length {len} exceeds 24 bits"
    );
    let [_, l0, l1, l2] = len.to_be_bytes();
    out.extend_from_slice(&[l0, l1, l2, kind.to_u8(), flags]);
    out.extend_from_slice(&stream.value().to_be_bytes());
}

/// Bytes on the wire of a frame carrying `payload_len` payload bytes.
pub const fn frame_len(payload_len: usize) -> usize {
    HEADER_LEN.saturating_add(payload_len)
}

/// A payload length as the 24-bit wire field; our own payloads never exceed it, and an
/// oversized one is clamped rather than wrapped so it cannot alias a short frame.
pub(super) fn wire_len(n: usize) -> u32 {
    u32::try_from(n)
        .unwrap_or(u32::MAX)
        .min(super::MAX_MAX_FRAME_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_codes_round_trip() {
        for v in 0..=255u8 {
            let t = FrameType::from_u8(v);
            assert_eq!(t.to_u8(), v);
            if v > 9 {
                assert_eq!(t, FrameType::Unknown(v));
                assert_eq!(t.name(), "UNKNOWN");
            }
        }
        assert_eq!(FrameType::WindowUpdate.name(), "WINDOW_UPDATE");
    }

    #[test]
    fn header_round_trip() {
        let mut out = Vec::new();
        write_header(
            &mut out,
            0x12_3456,
            FrameType::Headers,
            flags::END_HEADERS | flags::PADDED,
            StreamId::new(0x7fff_fffe),
        );
        assert_eq!(out, [0x12, 0x34, 0x56, 1, 0x0c, 0x7f, 0xff, 0xff, 0xfe]);
        let b: [u8; 9] = out.as_slice().try_into().unwrap();
        let h = FrameHeader::parse(&b);
        assert_eq!(h.len, 0x12_3456);
        assert_eq!(h.kind, FrameType::Headers);
        assert!(h.has(flags::END_HEADERS));
        assert!(h.has(flags::PADDED));
        assert!(!h.has(flags::END_STREAM));
        assert_eq!(h.stream.value(), 0x7fff_fffe);
    }

    #[test]
    fn reserved_bit_is_dropped() {
        let h = FrameHeader::parse(&[0, 0, 0, 0xff, 0xff, 0x80, 0, 0, 1]);
        assert_eq!(h.stream.value(), 1);
        assert_eq!(h.kind, FrameType::Unknown(0xff));
        assert_eq!(h.flags, 0xff);
        assert_eq!(h.len, 0);
    }

    #[test]
    fn wire_len_clamps() {
        assert_eq!(wire_len(5), 5);
        assert_eq!(wire_len(usize::MAX), super::super::MAX_MAX_FRAME_SIZE);
        assert_eq!(frame_len(8), 17);
    }
}
