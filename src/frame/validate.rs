//! The per-type checks run on every received frame header before any state logic
//! (RFC 9113 §4.2, §6).

use super::{flags, FrameError, FrameHeader, FrameType};

/// Where a frame type may appear.
#[derive(Clone, Copy)]
enum On {
    /// Connection-level only (stream 0).
    Zero,
    /// Stream-level only.
    Stream,
    Either,
}

// Extra rules, as bits.
/// PADDED adds a 1-byte Pad Length field to the minimum.
const PAD: u8 = 1;
/// PRIORITY adds a 5-byte priority block to the minimum.
const PRI: u8 = 2;
/// ACK requires an empty payload.
const ACK0: u8 = 4;
/// Never acceptable: push is disabled on both sides (SETTINGS_ENABLE_PUSH = 0).
const NEVER: u8 = 8;

/// No length bound of its own beyond SETTINGS_MAX_FRAME_SIZE.
const ANY: u32 = u32::MAX;

struct Rule {
    on: On,
    min: u32,
    max: u32,
    multiple: u32,
    extra: u8,
}

const fn r(on: On, min: u32, max: u32, multiple: u32, extra: u8) -> Rule {
    Rule {
        on,
        min,
        max,
        multiple,
        extra,
    }
}

use On::{Either, Stream, Zero};

/// Indexed by frame type code (§6).
#[rustfmt::skip]
const RULES: [Rule; 10] = [
    //               on      min max  mult extra
    /* DATA     */ r(Stream, 0, ANY, 1, PAD),
    /* HEADERS  */ r(Stream, 0, ANY, 1, PAD | PRI),
    /* PRIORITY */ r(Stream, 5, 5,   1, 0),
    /* RST      */ r(Stream, 4, 4,   1, 0),
    /* SETTINGS */ r(Zero,   0, ANY, 6, ACK0),
    /* PUSH     */ r(Stream, 0, ANY, 1, NEVER),
    /* PING     */ r(Zero,   8, 8,   1, 0),
    /* GOAWAY   */ r(Zero,   8, ANY, 1, 0),
    /* WINDOW   */ r(Either, 4, 4,   1, 0),
    /* CONT     */ r(Stream, 0, ANY, 1, 0),
];

/// The per-type validation table, run on every received frame header before any state
/// logic. `max_frame_size`: the SETTINGS_MAX_FRAME_SIZE we advertised.
///
/// Unknown types pass (the caller discards them); unknown flags are ignored. Only a
/// PRIORITY of the wrong length is a stream error (`FrameError::stream_scoped`).
pub fn validate(h: &FrameHeader, max_frame_size: u32) -> Result<(), FrameError> {
    if h.len > max_frame_size {
        return Err(FrameError::TooLarge);
    }
    let rule = match h.kind {
        FrameType::Unknown(_) => return Ok(()),
        known => match RULES.get(usize::from(known.to_u8())) {
            Some(rule) => rule,
            None => return Ok(()),
        },
    };
    let stream_ok = match rule.on {
        Zero => h.stream.is_zero(),
        Stream => !h.stream.is_zero(),
        Either => true,
    };
    if !stream_ok {
        return Err(FrameError::WrongStream(h.kind));
    }
    if rule.extra & NEVER != 0 {
        return Err(FrameError::PushPromise);
    }
    if rule.extra & ACK0 != 0 && h.has(flags::ACK) && h.len != 0 {
        return Err(FrameError::AckWithPayload);
    }
    let mut min = rule.min;
    if rule.extra & PAD != 0 && h.has(flags::PADDED) {
        min += 1;
    }
    if rule.extra & PRI != 0 && h.has(flags::PRIORITY) {
        min += 5;
    }
    if h.len < min || h.len > rule.max || !h.len.is_multiple_of(rule.multiple.max(1)) {
        return Err(FrameError::BadLength(h.kind));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{ErrorCode, StreamId, DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE};
    use FrameType as T;

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Want {
        Ok,
        Conn(ErrorCode),
        Strm(ErrorCode),
    }
    use Want::Ok as Pass;

    const FSE: ErrorCode = ErrorCode::FrameSizeError;
    const PE: ErrorCode = ErrorCode::ProtocolError;
    const PAD_F: u8 = flags::PADDED;
    const PRI_F: u8 = flags::PRIORITY;

    fn check(kind: FrameType, fl: u8, stream: u32, len: u32, want: Want) {
        let h = FrameHeader {
            len,
            kind,
            flags: fl,
            stream: StreamId::new(stream),
        };
        let got = match validate(&h, DEFAULT_MAX_FRAME_SIZE) {
            Ok(()) => Want::Ok,
            Err(e) if e.stream_scoped() => Want::Strm(e.code()),
            Err(e) => {
                assert!(!e.reason().is_empty(), "{h:?}: empty reason");
                Want::Conn(e.code())
            }
        };
        assert_eq!(got, want, "{h:?}");
    }

    #[test]
    #[rustfmt::skip]
    fn every_rule() {
        let m = DEFAULT_MAX_FRAME_SIZE;
        let cases: &[(FrameType, u8, u32, u32, Want)] = &[
            // Size limit, for every type including unknown ones.
            (T::Data, 0, 1, m, Pass),
            (T::Data, 0, 1, m + 1, Want::Conn(FSE)),
            (T::Settings, 0, 0, m + 1, Want::Conn(FSE)),
            (T::Unknown(0xee), 0, 0, m + 1, Want::Conn(FSE)),
            (T::Unknown(0xee), 0xff, 7, 3, Pass),
            // Stream-only types on stream 0.
            (T::Data, 0, 0, 0, Want::Conn(PE)),
            (T::Headers, 0, 0, 0, Want::Conn(PE)),
            (T::Priority, 0, 0, 5, Want::Conn(PE)),
            (T::Priority, 0, 0, 4, Want::Conn(PE)),
            (T::RstStream, 0, 0, 4, Want::Conn(PE)),
            (T::Continuation, 0, 0, 0, Want::Conn(PE)),
            (T::PushPromise, 0, 0, 4, Want::Conn(PE)),
            // Connection-only types on a stream.
            (T::Settings, 0, 1, 0, Want::Conn(PE)),
            (T::Ping, 0, 1, 8, Want::Conn(PE)),
            (T::GoAway, 0, 1, 8, Want::Conn(PE)),
            // WINDOW_UPDATE goes anywhere.
            (T::WindowUpdate, 0, 0, 4, Pass),
            (T::WindowUpdate, 0, 3, 4, Pass),
            (T::WindowUpdate, 0, 3, 3, Want::Conn(FSE)),
            (T::WindowUpdate, 0, 0, 5, Want::Conn(FSE)),
            // SETTINGS.
            (T::Settings, 0, 0, 0, Pass),
            (T::Settings, 0, 0, 12, Pass),
            (T::Settings, 0, 0, 7, Want::Conn(FSE)),
            (T::Settings, 0, 0, 5, Want::Conn(FSE)),
            (T::Settings, flags::ACK, 0, 0, Pass),
            (T::Settings, flags::ACK, 0, 6, Want::Conn(FSE)),
            // PING.
            (T::Ping, 0, 0, 8, Pass),
            (T::Ping, flags::ACK, 0, 8, Pass),
            (T::Ping, 0, 0, 7, Want::Conn(FSE)),
            (T::Ping, 0, 0, 9, Want::Conn(FSE)),
            (T::Ping, 0, 0, 0, Want::Conn(FSE)),
            // GOAWAY.
            (T::GoAway, 0, 0, 8, Pass),
            (T::GoAway, 0, 0, 100, Pass),
            (T::GoAway, 0, 0, 7, Want::Conn(FSE)),
            // RST_STREAM.
            (T::RstStream, 0, 1, 4, Pass),
            (T::RstStream, 0, 1, 3, Want::Conn(FSE)),
            (T::RstStream, 0, 1, 5, Want::Conn(FSE)),
            // PRIORITY: the one stream-level size error.
            (T::Priority, 0, 3, 5, Pass),
            (T::Priority, 0, 3, 4, Want::Strm(FSE)),
            (T::Priority, 0, 3, 6, Want::Strm(FSE)),
            // PUSH_PROMISE is always refused.
            (T::PushPromise, 0, 2, 4, Want::Conn(PE)),
            (T::PushPromise, flags::END_HEADERS, 2, 100, Want::Conn(PE)),
            // Padding and priority minimums.
            (T::Data, PAD_F, 1, 0, Want::Conn(FSE)),
            (T::Data, PAD_F, 1, 1, Pass),
            (T::Data, PRI_F, 1, 0, Pass),
            (T::Headers, PAD_F, 1, 0, Want::Conn(FSE)),
            (T::Headers, PAD_F, 1, 1, Pass),
            (T::Headers, PRI_F, 1, 4, Want::Conn(FSE)),
            (T::Headers, PRI_F, 1, 5, Pass),
            (T::Headers, PAD_F | PRI_F, 1, 5, Want::Conn(FSE)),
            (T::Headers, PAD_F | PRI_F, 1, 6, Pass),
            (T::Headers, 0, 1, 0, Pass),
            (T::Continuation, PAD_F | PRI_F, 1, 0, Pass),
            // Unknown flags are ignored.
            (T::Data, 0xf6, 1, 0, Pass),
            (T::RstStream, 0xff, 1, 4, Pass),
            (T::Ping, 0xfe, 0, 8, Pass),
        ];
        for (kind, fl, stream, len, want) in cases {
            check(*kind, *fl, *stream, *len, *want);
        }
    }

    #[test]
    fn limit_is_the_advertised_size() {
        let h = FrameHeader {
            len: MAX_MAX_FRAME_SIZE,
            kind: FrameType::Data,
            flags: 0,
            stream: StreamId::new(1),
        };
        assert!(validate(&h, MAX_MAX_FRAME_SIZE).is_ok());
        assert!(validate(&h, MAX_MAX_FRAME_SIZE - 1).is_err());
        let h = FrameHeader { len: u32::MAX, ..h };
        assert!(validate(&h, u32::MAX).is_ok());
    }
}
