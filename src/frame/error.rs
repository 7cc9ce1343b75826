//! What a malformed frame costs, decided from the frame alone (RFC 9113 §4.2, §6).

use super::{setting, ErrorCode, FrameType};

/// A frame-level rule the peer broke. Every one is a connection error except a PRIORITY
/// frame of the wrong length, which only costs its stream (§6.3): see `stream_scoped`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Longer than the SETTINGS_MAX_FRAME_SIZE we advertised.
    TooLarge,
    /// A stream-level type on stream 0, or a connection-level type on a stream.
    WrongStream(FrameType),
    /// PUSH_PROMISE, while push is disabled on both sides.
    PushPromise,
    /// A SETTINGS ACK carrying a payload.
    AckWithPayload,
    /// A payload length the type does not allow (too short for its pad length or
    /// priority block, or not the fixed size).
    BadLength(FrameType),
    /// Padding as long as what it pads, or longer.
    PaddingTooLong(FrameType),
    /// A SETTINGS value out of its range (§6.5.2), by setting identifier.
    BadSetting(u16),
}

impl FrameError {
    /// The RFC 9113 §7 code this error is sent with.
    pub fn code(self) -> ErrorCode {
        match self {
            FrameError::TooLarge | FrameError::AckWithPayload | FrameError::BadLength(_) => {
                ErrorCode::FrameSizeError
            }
            FrameError::BadSetting(setting::INITIAL_WINDOW_SIZE) => ErrorCode::FlowControlError,
            FrameError::WrongStream(_)
            | FrameError::PushPromise
            | FrameError::PaddingTooLong(_)
            | FrameError::BadSetting(_) => ErrorCode::ProtocolError,
        }
    }

    /// Only this stream pays (an RST_STREAM), not the connection.
    pub fn stream_scoped(self) -> bool {
        self == FrameError::BadLength(FrameType::Priority)
    }

    /// A stable name for metrics.
    pub fn name(self) -> &'static str {
        match self {
            FrameError::TooLarge => "frame_too_large",
            FrameError::WrongStream(_) => "frame_on_wrong_stream",
            FrameError::PushPromise => "push_promise",
            FrameError::AckWithPayload => "settings_ack_with_payload",
            FrameError::BadLength(_) => "frame_bad_length",
            FrameError::PaddingTooLong(_) => "padding_too_long",
            FrameError::BadSetting(_) => "bad_setting_value",
        }
    }

    /// Why, for the log line and GOAWAY debug data.
    pub fn reason(self) -> &'static str {
        use FrameType as T;
        match self {
            FrameError::TooLarge => "frame larger than SETTINGS_MAX_FRAME_SIZE",
            FrameError::WrongStream(t) => match t {
                T::Data => "DATA on stream 0",
                T::Headers => "HEADERS on stream 0",
                T::Priority => "PRIORITY on stream 0",
                T::RstStream => "RST_STREAM on stream 0",
                T::Settings => "SETTINGS on a stream",
                T::PushPromise => "PUSH_PROMISE on stream 0",
                T::Ping => "PING on a stream",
                T::GoAway => "GOAWAY on a stream",
                T::Continuation => "CONTINUATION on stream 0",
                T::WindowUpdate | T::Unknown(_) => "frame on the wrong stream",
            },
            FrameError::PushPromise => "PUSH_PROMISE received with push disabled",
            FrameError::AckWithPayload => "SETTINGS ACK with a payload",
            FrameError::BadLength(t) => match t {
                T::Data => "PADDED DATA without a pad length",
                T::Headers => "HEADERS too short for pad length or priority",
                T::Priority => "PRIORITY length is not 5",
                T::RstStream => "RST_STREAM length is not 4",
                T::Settings => "SETTINGS length is not a multiple of 6",
                T::Ping => "PING length is not 8",
                T::GoAway => "GOAWAY shorter than 8",
                T::WindowUpdate => "WINDOW_UPDATE length is not 4",
                T::PushPromise | T::Continuation | T::Unknown(_) => "bad frame length",
            },
            FrameError::PaddingTooLong(T::Data) => "DATA padding as long as the payload",
            FrameError::PaddingTooLong(_) => "HEADERS padding exceeds the field block fragment",
            FrameError::BadSetting(id) => match id {
                setting::ENABLE_PUSH => "SETTINGS_ENABLE_PUSH above 1",
                setting::INITIAL_WINDOW_SIZE => "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1",
                setting::MAX_FRAME_SIZE => "SETTINGS_MAX_FRAME_SIZE out of range",
                setting::ENABLE_CONNECT_PROTOCOL => "SETTINGS_ENABLE_CONNECT_PROTOCOL above 1",
                _ => "SETTINGS value out of range",
            },
        }
    }
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.reason(), self.code())
    }
}

impl std::error::Error for FrameError {}
