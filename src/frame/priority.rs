//! PRIORITY (§6.3), whose 5-byte block also appears in HEADERS (§6.2).
//!
//! RFC 9113 deprecates the priority scheme; the fields are still parsed so a stream that
//! depends on itself can be refused (§5.3.1).

use super::StreamId;

use super::{frame_len, write_header, FrameType};

/// Bytes on the wire of a PRIORITY frame.
pub const PRIORITY_FRAME_LEN: usize = frame_len(5);

/// A priority block (§5.3.2, deprecated): read only to catch a self-dependency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Priority {
    /// The stream this one depends on; a stream may not depend on itself (§5.3.1).
    pub dependency: StreamId,
    /// The exclusive bit, taken from the high bit of the dependency.
    pub exclusive: bool,
    /// As on the wire: the weight minus one (0..=255 stands for 1..=256).
    pub weight: u8,
}

/// Parses a 5-byte priority block; None for any other length.
pub fn parse_priority(p: &[u8]) -> Option<Priority> {
    let [d0, d1, d2, d3, weight]: [u8; 5] = p.try_into().ok()?;
    let dep = u32::from_be_bytes([d0, d1, d2, d3]);
    Some(Priority {
        dependency: StreamId::new(dep),
        exclusive: dep & 0x8000_0000 != 0,
        weight,
    })
}

pub(super) fn put_priority(out: &mut Vec<u8>, p: &Priority) {
    let mut dep = p.dependency.value();
    if p.exclusive {
        dep |= 0x8000_0000;
    }
    out.extend_from_slice(&dep.to_be_bytes());
    out.push(p.weight);
}

/// Appends a PRIORITY frame.
pub fn write_priority(out: &mut Vec<u8>, stream: StreamId, p: &Priority) {
    write_header(out, 5, FrameType::Priority, 0, stream);
    put_priority(out, p);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{validate, FrameHeader, HEADER_LEN};

    #[test]
    fn round_trip() {
        for (dep, exclusive, weight) in [(0, false, 0), (0x7fff_ffff, true, 255), (5, true, 15)] {
            let p = Priority {
                dependency: StreamId::new(dep),
                exclusive,
                weight,
            };
            let mut out = Vec::new();
            write_priority(&mut out, StreamId::new(3), &p);
            assert_eq!(out.len(), PRIORITY_FRAME_LEN);
            let h = FrameHeader::parse(out[..HEADER_LEN].try_into().unwrap());
            assert_eq!(h.kind, FrameType::Priority);
            assert!(validate(&h, 16_384).is_ok());
            assert_eq!(parse_priority(&out[HEADER_LEN..]), Some(p));
        }
    }

    #[test]
    fn exclusive_bit_is_not_part_of_the_id() {
        let p = parse_priority(&[0x80, 0, 0, 3, 7]).unwrap();
        assert_eq!(p.dependency.value(), 3);
        assert!(p.exclusive);
        assert_eq!(p.weight, 7);
    }

    #[test]
    fn wrong_lengths() {
        assert_eq!(parse_priority(&[]), None);
        assert_eq!(parse_priority(&[0; 4]), None);
        assert_eq!(parse_priority(&[0; 6]), None);
    }
}
