//! Stream identifiers (RFC 9113 §5.1.1) as a type, never a bare integer.

/// A 31-bit stream identifier. Zero is the connection itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(u32);

impl StreamId {
    /// Stream 0: the connection itself, for connection-level frames.
    pub const ZERO: StreamId = StreamId(0);
    /// The highest id, 2^31-1; also the last-stream id of a first, graceful GOAWAY (§6.8).
    pub const MAX: StreamId = StreamId(0x7fff_ffff);

    /// Builds an id from the wire value; the reserved high bit is dropped (§4.1).
    pub fn new(v: u32) -> StreamId {
        StreamId(v & 0x7fff_ffff)
    }

    /// The id as a number, without the reserved bit.
    pub fn value(self) -> u32 {
        self.0
    }

    /// Whether this is stream 0, the connection.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Client-initiated streams are odd (§5.1.1).
    pub fn is_client_initiated(self) -> bool {
        self.0 % 2 == 1
    }

    /// The next id of the same parity, or None once the 31-bit space is used up.
    pub fn next(self) -> Option<StreamId> {
        let n = self.0.checked_add(2)?;
        if n > Self::MAX.0 {
            None
        } else {
            Some(StreamId(n))
        }
    }
}

impl core::fmt::Display for StreamId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_bit_is_dropped_and_space_ends() {
        assert_eq!(StreamId::new(0x8000_0001).value(), 1);
        assert!(StreamId::new(3).is_client_initiated());
        assert!(!StreamId::new(2).is_client_initiated());
        assert_eq!(StreamId::MAX.next(), None);
        assert_eq!(StreamId::new(0x7fff_fffd).next(), Some(StreamId::MAX));
    }
}
