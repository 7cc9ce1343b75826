//! Every HTTP/1.1 rule a peer can break, with the status it is answered with.

use core::fmt;

use crate::message::MessageError;

/// A rule of RFC 9112 (or a limit of ours) that an HTTP/1.x message broke. A request that
/// breaks one gets `status()` and the connection closes; a response that breaks one gives
/// its stream a 502 and closes the upstream connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum H1Error {
    // ----- The start line -----
    /// The request line is not `method SP request-target SP HTTP-version` (§3).
    BadRequestLine,
    /// A method that is not a token (§3.1).
    BadMethod,
    /// A request-target with bytes outside the visible ASCII range, or of no known form
    /// (§3.2).
    BadTarget,
    /// An HTTP-version that is not `HTTP/` DIGIT `.` DIGIT (§2.3).
    BadVersion,
    /// A major version other than 1 (HTTP/2 arrives with its preface instead).
    UnsupportedVersion,
    /// The status line is not `HTTP-version SP 3DIGIT [SP reason]` (§4).
    BadStatusLine,
    /// 101: h2mux never asks an upstream to switch protocols.
    UnexpectedSwitch,
    /// A request line over the configured limit.
    RequestLineTooLong,

    // ----- Lines and fields -----
    /// A line ending in LF without CR: this parser accepts CRLF only (§2.2).
    BareLf,
    /// A CR not followed by LF (§2.2).
    BareCr,
    /// A field line starting with whitespace: obsolete line folding (§5.2).
    ObsFold,
    /// Whitespace between a field name and its colon (§5.1).
    SpaceBeforeColon,
    /// A field line without a colon.
    MissingColon,
    /// A field name that is not a token.
    BadFieldName,
    /// NUL, or a control byte other than HTAB, in a field value (RFC 9110 §5.5).
    BadFieldValue,
    /// A header section over the configured limit.
    HeadTooLarge,
    /// More fields than the configured limit.
    TooManyFields,
    /// The fields break a rule the version-agnostic message enforces.
    Message(MessageError),

    // ----- Host -----
    /// An HTTP/1.1 request without Host (§3.2).
    MissingHost,
    /// More than one Host field (§3.2).
    DuplicateHost,

    // ----- Framing (§6) -----
    /// Content-Length and Transfer-Encoding together (§6.1: a smuggling attempt).
    LengthWithTransferEncoding,
    /// Content-Length values that differ, or one that is not a number (§6.3).
    BadContentLength,
    /// Transfer-Encoding whose last coding is not chunked, or chunked twice (§6.3).
    ChunkedNotLast,
    /// Transfer-Encoding in an HTTP/1.0 message (§6.1: faulty framing).
    TransferEncodingInHttp10,
    /// A transfer coding other than chunked (§6.1: 501).
    UnknownTransferCoding,
    /// A chunk size that is not hex, is empty or overflows (§7.1).
    BadChunkSize,
    /// A chunk line (size and extensions) over the configured limit.
    ChunkLineTooLong,
    /// Chunk data not followed by CRLF (§7.1).
    BadChunkEnd,
    /// A body that ended before its length (the transport closed).
    Incomplete,
    /// Bytes after a response where none may come (no request was sent for them).
    UnexpectedBytes,

    // ----- What h2mux does not relay -----
    /// CONNECT: h2mux relays messages, not tunnels.
    ConnectNotSupported,
    /// An Upgrade h2mux does not perform (anything but h2c, which it ignores).
    UpgradeNotSupported,
}

impl H1Error {
    /// The status a client gets for a request that breaks this rule.
    pub fn status(self) -> u16 {
        use H1Error::*;
        match self {
            UnsupportedVersion => 505,
            RequestLineTooLong => 414,
            HeadTooLarge | TooManyFields => 431,
            Message(MessageError::TooManyFields) => 431,
            UnknownTransferCoding | ConnectNotSupported | UpgradeNotSupported => 501,
            _ => 400,
        }
    }

    /// Why, for logs and the error page.
    pub fn reason(self) -> &'static str {
        use H1Error::*;
        match self {
            BadRequestLine => "malformed request line",
            BadMethod => "the method is not a token",
            BadTarget => "malformed request-target",
            BadVersion => "malformed HTTP version",
            UnsupportedVersion => "HTTP version not supported",
            BadStatusLine => "malformed status line",
            UnexpectedSwitch => "101 Switching Protocols was never asked for",
            RequestLineTooLong => "request line too long",
            BareLf => "line ends in LF without CR",
            BareCr => "CR without LF",
            ObsFold => "obsolete line folding",
            SpaceBeforeColon => "whitespace between a field name and its colon",
            MissingColon => "field line without a colon",
            BadFieldName => "field name is not a token",
            BadFieldValue => "control character in a field value",
            HeadTooLarge => "header section too large",
            TooManyFields => "too many header fields",
            Message(e) => e.reason(),
            MissingHost => "HTTP/1.1 request without Host",
            DuplicateHost => "more than one Host field",
            LengthWithTransferEncoding => "Content-Length with Transfer-Encoding",
            BadContentLength => "invalid or conflicting Content-Length",
            ChunkedNotLast => "Transfer-Encoding does not end with a single chunked",
            TransferEncodingInHttp10 => "Transfer-Encoding in an HTTP/1.0 message",
            UnknownTransferCoding => "transfer coding not implemented",
            BadChunkSize => "invalid chunk size",
            ChunkLineTooLong => "chunk line too long",
            BadChunkEnd => "chunk data not followed by CRLF",
            Incomplete => "the message ended before its body",
            UnexpectedBytes => "bytes after the message",
            ConnectNotSupported => "CONNECT is not supported",
            UpgradeNotSupported => "Upgrade is not supported",
        }
    }

    /// The rule's metric name: rejected messages count as
    /// `h2mux_client_violations_http1_<rule>` (or `upstream_`).
    pub fn name(self) -> &'static str {
        use H1Error::*;
        match self {
            BadRequestLine => "http1_bad_request_line",
            BadMethod => "http1_bad_method",
            BadTarget => "http1_bad_target",
            BadVersion => "http1_bad_version",
            UnsupportedVersion => "http1_unsupported_version",
            BadStatusLine => "http1_bad_status_line",
            UnexpectedSwitch => "http1_unexpected_switch",
            RequestLineTooLong => "http1_request_line_too_long",
            BareLf => "http1_bare_lf",
            BareCr => "http1_bare_cr",
            ObsFold => "http1_obs_fold",
            SpaceBeforeColon => "http1_space_before_colon",
            MissingColon => "http1_missing_colon",
            BadFieldName => "http1_bad_field_name",
            BadFieldValue => "http1_bad_field_value",
            HeadTooLarge => "http1_head_too_large",
            TooManyFields => "http1_too_many_fields",
            Message(_) => "http1_malformed_message",
            MissingHost => "http1_missing_host",
            DuplicateHost => "http1_duplicate_host",
            LengthWithTransferEncoding => "http1_length_with_transfer_encoding",
            BadContentLength => "http1_bad_content_length",
            ChunkedNotLast => "http1_chunked_not_last",
            TransferEncodingInHttp10 => "http1_transfer_encoding_in_http10",
            UnknownTransferCoding => "http1_unknown_transfer_coding",
            BadChunkSize => "http1_bad_chunk_size",
            ChunkLineTooLong => "http1_chunk_line_too_long",
            BadChunkEnd => "http1_bad_chunk_end",
            Incomplete => "http1_incomplete",
            UnexpectedBytes => "http1_unexpected_bytes",
            ConnectNotSupported => "http1_connect_not_supported",
            UpgradeNotSupported => "http1_upgrade_not_supported",
        }
    }
}

impl fmt::Display for H1Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason(), self.status())
    }
}
