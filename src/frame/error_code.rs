//! Error codes of RFC 9113 §7, as carried by RST_STREAM and GOAWAY.

/// An RFC 9113 §7 error code, as carried by RST_STREAM and GOAWAY.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// NO_ERROR (0x0): graceful shutdown, or no error to report.
    NoError,
    /// PROTOCOL_ERROR (0x1): a protocol rule was broken, no more specific code applies.
    ProtocolError,
    /// INTERNAL_ERROR (0x2): the sender hit an error of its own.
    InternalError,
    /// FLOW_CONTROL_ERROR (0x3): the flow-control rules of §5.2 were broken.
    FlowControlError,
    /// SETTINGS_TIMEOUT (0x4): our SETTINGS were not acknowledged in time (§6.5.3).
    SettingsTimeout,
    /// STREAM_CLOSED (0x5): a frame arrived on a half-closed stream (§5.1).
    StreamClosed,
    /// FRAME_SIZE_ERROR (0x6): a frame had an invalid size (§4.2).
    FrameSizeError,
    /// REFUSED_STREAM (0x7): the stream was refused before any processing; safe to retry (§8.7).
    RefusedStream,
    /// CANCEL (0x8): the stream is no longer needed.
    Cancel,
    /// COMPRESSION_ERROR (0x9): the field-block compression state cannot be kept.
    CompressionError,
    /// CONNECT_ERROR (0xa): the tunnel of a CONNECT request was reset or closed abnormally.
    ConnectError,
    /// ENHANCE_YOUR_CALM (0xb): the peer's behaviour looks abusive, e.g. too many glitches.
    EnhanceYourCalm,
    /// INADEQUATE_SECURITY (0xc): the transport does not meet the security requirements.
    InadequateSecurity,
    /// HTTP_1_1_REQUIRED (0xd): the request must be retried over HTTP/1.1.
    Http11Required,
    /// A code this implementation does not know; §7 says treat it as INTERNAL_ERROR
    /// when acting on it, but it is relayed as received.
    Other(u32),
}

impl ErrorCode {
    /// The code for a wire value; values not in §7 become [`ErrorCode::Other`].
    pub fn from_u32(code: u32) -> ErrorCode {
        match code {
            0x0 => ErrorCode::NoError,
            0x1 => ErrorCode::ProtocolError,
            0x2 => ErrorCode::InternalError,
            0x3 => ErrorCode::FlowControlError,
            0x4 => ErrorCode::SettingsTimeout,
            0x5 => ErrorCode::StreamClosed,
            0x6 => ErrorCode::FrameSizeError,
            0x7 => ErrorCode::RefusedStream,
            0x8 => ErrorCode::Cancel,
            0x9 => ErrorCode::CompressionError,
            0xa => ErrorCode::ConnectError,
            0xb => ErrorCode::EnhanceYourCalm,
            0xc => ErrorCode::InadequateSecurity,
            0xd => ErrorCode::Http11Required,
            other => ErrorCode::Other(other),
        }
    }

    /// The wire value, the exact inverse of [`ErrorCode::from_u32`].
    pub fn to_u32(self) -> u32 {
        match self {
            ErrorCode::NoError => 0x0,
            ErrorCode::ProtocolError => 0x1,
            ErrorCode::InternalError => 0x2,
            ErrorCode::FlowControlError => 0x3,
            ErrorCode::SettingsTimeout => 0x4,
            ErrorCode::StreamClosed => 0x5,
            ErrorCode::FrameSizeError => 0x6,
            ErrorCode::RefusedStream => 0x7,
            ErrorCode::Cancel => 0x8,
            ErrorCode::CompressionError => 0x9,
            ErrorCode::ConnectError => 0xa,
            ErrorCode::EnhanceYourCalm => 0xb,
            ErrorCode::InadequateSecurity => 0xc,
            ErrorCode::Http11Required => 0xd,
            ErrorCode::Other(c) => c,
        }
    }

    /// A short stable name, used in logs and metric names.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::NoError => "no_error",
            ErrorCode::ProtocolError => "protocol_error",
            ErrorCode::InternalError => "internal_error",
            ErrorCode::FlowControlError => "flow_control_error",
            ErrorCode::SettingsTimeout => "settings_timeout",
            ErrorCode::StreamClosed => "stream_closed",
            ErrorCode::FrameSizeError => "frame_size_error",
            ErrorCode::RefusedStream => "refused_stream",
            ErrorCode::Cancel => "cancel",
            ErrorCode::CompressionError => "compression_error",
            ErrorCode::ConnectError => "connect_error",
            ErrorCode::EnhanceYourCalm => "enhance_your_calm",
            ErrorCode::InadequateSecurity => "inadequate_security",
            ErrorCode::Http11Required => "http_1_1_required",
            ErrorCode::Other(_) => "unknown",
        }
    }
}

impl core::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ErrorCode::Other(c) => write!(f, "unknown(0x{c:x})"),
            other => f.write_str(other.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for c in 0..=0x20u32 {
            assert_eq!(ErrorCode::from_u32(c).to_u32(), c);
        }
        assert_eq!(
            ErrorCode::from_u32(0xdead_beef),
            ErrorCode::Other(0xdead_beef)
        );
    }
}
