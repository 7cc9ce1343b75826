//! What a broken rule costs (RFC 9113 §5.4): every rule a peer can break is a `Violation`
//! variant with the RFC code it is answered with, so tests assert which rule fired and
//! metrics count by rule. `H2Error` adds the scope (the connection or one stream), and
//! `ConnError` says why a connection ended: a violation, one of our own invariants, or the
//! owner's decision.

pub use crate::frame::{ErrorCode, FrameError, StreamId};
use crate::hpack::HpackError;
use crate::message::MessageError;

/// A rule of RFC 9113, 7541 or 9110 the peer broke, or a limit of ours it pushed past.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Violation {
    // ----- The preface and the first frame (§3.4) -----
    /// The client's first bytes are not the HTTP/2 preface.
    InvalidPreface,
    /// The client sent an HTTP/1.x request instead of the preface.
    Http1Request,
    /// The upstream answered with HTTP/1.x.
    Http1Response,
    /// The upstream's first frame is not SETTINGS.
    UpstreamNotHttp2,
    /// An HTTP/1.1 message broke a rule of RFC 9112.
    Http1(crate::h1::H1Error),
    /// The client's first frame after the preface is not SETTINGS.
    FirstFrameNotSettings,

    // ----- Framing -----
    /// A frame-level rule (length, stream 0, padding, setting values).
    Frame(FrameError),
    /// Another frame between HEADERS and its last CONTINUATION (§6.10).
    HeaderBlockInterrupted,
    /// CONTINUATION with no header block open.
    ContinuationWithoutHeaders,
    /// A header block over `max_header_block` bytes (CONTINUATION flood).
    HeaderBlockTooLarge,
    /// More than `max_continuation_frames` frames in one header block.
    TooManyContinuations,

    // ----- Header blocks -----
    /// The block cannot be decoded (RFC 7541).
    Hpack(HpackError),
    /// The decoded list is above the SETTINGS_MAX_HEADER_LIST_SIZE we advertised.
    HeaderListTooLarge,
    /// The fields break RFC 9113 §8 (or the body its content-length).
    Message(MessageError),
    /// A first header block that is not a request.
    NotARequest,
    /// A first header block that is not a response.
    NotAResponse,
    /// A second header block that is not trailers.
    NotTrailers,
    /// Trailers without END_STREAM.
    TrailersWithoutEndStream,
    /// A header block where none may come (before a final response is read).
    UnexpectedHeaderBlock,
    /// A 1xx response with END_STREAM.
    InformationalWithEndStream,
    /// A client-initiated stream with an even id.
    EvenStreamId,
    /// A server-initiated stream (push is disabled).
    PushedStream,
    /// A response on a stream we never opened.
    HeadersOnUnopenedStream,
    /// HEADERS on a stream that ended normally.
    HeadersOnClosedStream,
    /// A new stream id lower than one already used.
    StreamIdRegression,
    /// HEADERS after the peer's own RST_STREAM.
    HeadersAfterReset,
    /// HEADERS after the peer's END_STREAM.
    HeadersAfterEndStream,
    /// A stream that depends on itself (§5.3.1).
    SelfDependency,

    // ----- DATA -----
    /// DATA on a stream never opened.
    DataOnIdleStream,
    /// DATA on a stream that ended.
    DataOnClosedStream,
    /// DATA after the peer's own RST_STREAM.
    DataAfterReset,
    /// DATA after the peer's END_STREAM.
    DataAfterEndStream,
    /// DATA before the head or after trailers.
    DataOutsideBody,
    /// DATA beyond the connection's receive window.
    ConnectionWindowExceeded,
    /// DATA beyond the stream's receive window.
    StreamWindowExceeded,

    // ----- Control frames -----
    /// More than `max_settings_entries` in one SETTINGS frame.
    TooManySettingsEntries,
    /// A server sent SETTINGS_ENABLE_PUSH = 1.
    ServerEnabledPush,
    /// A new SETTINGS_INITIAL_WINDOW_SIZE pushes a stream window above 2^31-1.
    InitialWindowOverflow,
    /// WINDOW_UPDATE of 0 on the connection.
    ZeroConnectionWindowUpdate,
    /// WINDOW_UPDATE of 0 on a stream.
    ZeroWindowUpdate,
    /// WINDOW_UPDATE pushes the connection window above 2^31-1.
    ConnectionWindowOverflow,
    /// WINDOW_UPDATE pushes a stream window above 2^31-1.
    StreamWindowOverflow,
    /// WINDOW_UPDATE on a stream never opened.
    WindowUpdateOnIdleStream,
    /// RST_STREAM on a stream never opened.
    RstStreamOnIdleStream,
    /// Our SETTINGS were not acknowledged in time.
    SettingsTimeout,

    // ----- Limits -----
    /// A new stream beyond our SETTINGS_MAX_CONCURRENT_STREAMS.
    OverMaxConcurrentStreams,
    /// The glitch score passed its threshold.
    TooManyGlitches,
    /// The buffer pool's wait queue is full.
    BufferWaitQueueFull,
}

impl Violation {
    /// The RFC 9113 §7 code this violation is answered with.
    pub fn code(self) -> ErrorCode {
        use ErrorCode as E;
        use Violation::*;
        match self {
            Frame(e) => e.code(),
            Hpack(e) => e.code(),
            Message(e) => e.code(),
            HeaderBlockTooLarge
            | TooManyContinuations
            | TooManySettingsEntries
            | TooManyGlitches
            | BufferWaitQueueFull => E::EnhanceYourCalm,
            HeadersOnClosedStream
            | HeadersAfterReset
            | HeadersAfterEndStream
            | DataOnClosedStream
            | DataAfterReset
            | DataAfterEndStream => E::StreamClosed,
            ConnectionWindowExceeded
            | StreamWindowExceeded
            | InitialWindowOverflow
            | ConnectionWindowOverflow
            | StreamWindowOverflow => E::FlowControlError,
            SettingsTimeout => E::SettingsTimeout,
            OverMaxConcurrentStreams => E::RefusedStream,
            InvalidPreface
            | Http1(_)
            | Http1Request
            | Http1Response
            | UpstreamNotHttp2
            | FirstFrameNotSettings
            | HeaderBlockInterrupted
            | ContinuationWithoutHeaders
            | HeaderListTooLarge
            | NotARequest
            | NotAResponse
            | NotTrailers
            | TrailersWithoutEndStream
            | UnexpectedHeaderBlock
            | InformationalWithEndStream
            | EvenStreamId
            | PushedStream
            | HeadersOnUnopenedStream
            | StreamIdRegression
            | SelfDependency
            | DataOnIdleStream
            | DataOutsideBody
            | ServerEnabledPush
            | ZeroConnectionWindowUpdate
            | ZeroWindowUpdate
            | WindowUpdateOnIdleStream
            | RstStreamOnIdleStream => E::ProtocolError,
        }
    }

    /// Why, for the log line and GOAWAY debug data.
    pub fn reason(self) -> &'static str {
        use Violation::*;
        match self {
            InvalidPreface => "invalid connection preface",
            Http1Request => "not HTTP/2: the client sent an HTTP/1.x request",
            Http1Response => "upstream is not HTTP/2: it answered with HTTP/1.x",
            Http1(e) => e.reason(),
            UpstreamNotHttp2 => "upstream is not HTTP/2: its first frame is not SETTINGS",
            FirstFrameNotSettings => "the first frame after the preface must be SETTINGS",
            Frame(e) => e.reason(),
            HeaderBlockInterrupted => "header block interrupted by another frame",
            ContinuationWithoutHeaders => "CONTINUATION without a header block",
            HeaderBlockTooLarge => "header block too large",
            TooManyContinuations => "too many CONTINUATION frames",
            Hpack(e) => e.reason(),
            HeaderListTooLarge => "header list larger than advertised",
            Message(e) => e.reason(),
            NotARequest => "not a request",
            NotAResponse => "not a response",
            NotTrailers => "not trailers",
            TrailersWithoutEndStream => "trailers without END_STREAM",
            UnexpectedHeaderBlock => "unexpected header block",
            InformationalWithEndStream => "1xx response with END_STREAM",
            EvenStreamId => "client used an even stream id",
            PushedStream => "server-initiated stream (push is disabled)",
            HeadersOnUnopenedStream => "HEADERS on a stream we never opened",
            HeadersOnClosedStream => "HEADERS on a closed stream",
            StreamIdRegression => "stream id lower than a previous one",
            HeadersAfterReset => "HEADERS after RST_STREAM",
            HeadersAfterEndStream => "HEADERS after END_STREAM",
            SelfDependency => "stream depends on itself",
            DataOnIdleStream => "DATA on an idle stream",
            DataOnClosedStream => "DATA on a closed stream",
            DataAfterReset => "DATA after RST_STREAM",
            DataAfterEndStream => "DATA after END_STREAM",
            DataOutsideBody => "DATA outside a message body",
            ConnectionWindowExceeded => "DATA beyond the connection window",
            StreamWindowExceeded => "DATA beyond the stream window",
            TooManySettingsEntries => "too many SETTINGS entries",
            ServerEnabledPush => "a server cannot enable push",
            InitialWindowOverflow => "SETTINGS_INITIAL_WINDOW_SIZE overflows a stream window",
            ZeroConnectionWindowUpdate => "WINDOW_UPDATE of 0 on the connection",
            ZeroWindowUpdate => "WINDOW_UPDATE of 0",
            ConnectionWindowOverflow => "connection window above 2^31-1",
            StreamWindowOverflow => "stream window above 2^31-1",
            WindowUpdateOnIdleStream => "WINDOW_UPDATE on an idle stream",
            RstStreamOnIdleStream => "RST_STREAM on an idle stream",
            SettingsTimeout => "SETTINGS not acknowledged in time",
            OverMaxConcurrentStreams => "over MAX_CONCURRENT_STREAMS",
            TooManyGlitches => "too many glitches",
            BufferWaitQueueFull => "buffer wait queue full",
        }
    }

    /// A stable snake_case name, for metrics (`h2mux_client_violations_<name>`).
    pub fn name(self) -> &'static str {
        use Violation::*;
        match self {
            InvalidPreface => "invalid_preface",
            Http1Request => "http1_request",
            Http1Response => "http1_response",
            Http1(e) => e.name(),
            UpstreamNotHttp2 => "upstream_not_http2",
            FirstFrameNotSettings => "first_frame_not_settings",
            Frame(e) => e.name(),
            HeaderBlockInterrupted => "header_block_interrupted",
            ContinuationWithoutHeaders => "continuation_without_headers",
            HeaderBlockTooLarge => "header_block_too_large",
            TooManyContinuations => "too_many_continuations",
            Hpack(e) => e.name(),
            HeaderListTooLarge => "header_list_too_large",
            Message(e) => e.name(),
            NotARequest => "not_a_request",
            NotAResponse => "not_a_response",
            NotTrailers => "not_trailers",
            TrailersWithoutEndStream => "trailers_without_end_stream",
            UnexpectedHeaderBlock => "unexpected_header_block",
            InformationalWithEndStream => "informational_with_end_stream",
            EvenStreamId => "even_stream_id",
            PushedStream => "pushed_stream",
            HeadersOnUnopenedStream => "headers_on_unopened_stream",
            HeadersOnClosedStream => "headers_on_closed_stream",
            StreamIdRegression => "stream_id_regression",
            HeadersAfterReset => "headers_after_reset",
            HeadersAfterEndStream => "headers_after_end_stream",
            SelfDependency => "self_dependency",
            DataOnIdleStream => "data_on_idle_stream",
            DataOnClosedStream => "data_on_closed_stream",
            DataAfterReset => "data_after_reset",
            DataAfterEndStream => "data_after_end_stream",
            DataOutsideBody => "data_outside_body",
            ConnectionWindowExceeded => "connection_window_exceeded",
            StreamWindowExceeded => "stream_window_exceeded",
            TooManySettingsEntries => "too_many_settings_entries",
            ServerEnabledPush => "server_enabled_push",
            InitialWindowOverflow => "initial_window_overflow",
            ZeroConnectionWindowUpdate => "zero_connection_window_update",
            ZeroWindowUpdate => "zero_window_update",
            ConnectionWindowOverflow => "connection_window_overflow",
            StreamWindowOverflow => "stream_window_overflow",
            WindowUpdateOnIdleStream => "window_update_on_idle_stream",
            RstStreamOnIdleStream => "rst_stream_on_idle_stream",
            SettingsTimeout => "settings_timeout",
            OverMaxConcurrentStreams => "over_max_concurrent_streams",
            TooManyGlitches => "too_many_glitches",
            BufferWaitQueueFull => "buffer_wait_queue_full",
        }
    }
}

impl From<FrameError> for Violation {
    fn from(e: FrameError) -> Violation {
        Violation::Frame(e)
    }
}

impl From<HpackError> for Violation {
    fn from(e: HpackError) -> Violation {
        Violation::Hpack(e)
    }
}

impl From<MessageError> for Violation {
    fn from(e: MessageError) -> Violation {
        Violation::Message(e)
    }
}

impl core::fmt::Display for Violation {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.reason(), self.code())
    }
}

impl std::error::Error for Violation {}

/// What a violation costs (RFC 9113 §5.4): the whole connection, or one stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum H2Error {
    /// §5.4.1: GOAWAY with the violation's code, then close.
    Connection(Violation),
    /// §5.4.2: RST_STREAM on this stream; the connection goes on.
    Stream(StreamId, Violation),
}

impl H2Error {
    /// The rule that was broken.
    pub fn violation(&self) -> Violation {
        match *self {
            H2Error::Connection(v) | H2Error::Stream(_, v) => v,
        }
    }

    /// The violation's RFC code, for GOAWAY (connection) or RST_STREAM (stream).
    pub fn code(&self) -> ErrorCode {
        self.violation().code()
    }

    /// The violation's reason, for the log line and debug data.
    pub fn reason(&self) -> &'static str {
        self.violation().reason()
    }
}

impl core::fmt::Display for H2Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            H2Error::Connection(v) => write!(f, "connection error: {v}"),
            H2Error::Stream(s, v) => write!(f, "stream {s} error: {v}"),
        }
    }
}

impl std::error::Error for H2Error {}

/// Why a connection ended with an error GOAWAY.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnError {
    /// The peer broke a rule (or pushed a limit too far).
    Violation(Violation),
    /// One of our own invariants broke: a bug, contained to this connection
    /// (INTERNAL_ERROR); the rule names it.
    Internal(&'static str),
    /// The owner ended the connection with this code (the relay, when the other side
    /// failed).
    Local(ErrorCode, &'static str),
}

impl ConnError {
    /// The code our GOAWAY carries.
    pub fn code(&self) -> ErrorCode {
        match *self {
            ConnError::Violation(v) => v.code(),
            ConnError::Internal(_) => ErrorCode::InternalError,
            ConnError::Local(c, _) => c,
        }
    }

    /// Why, in a few words: the violation's reason, the broken rule, or the owner's.
    pub fn reason(&self) -> &'static str {
        match *self {
            ConnError::Violation(v) => v.reason(),
            ConnError::Internal(r) | ConnError::Local(_, r) => r,
        }
    }

    /// The peer's violation, when that is what ended it.
    pub fn violation(&self) -> Option<Violation> {
        match *self {
            ConnError::Violation(v) => Some(v),
            _ => None,
        }
    }
}

impl From<Violation> for ConnError {
    fn from(v: Violation) -> ConnError {
        ConnError::Violation(v)
    }
}

impl core::fmt::Display for ConnError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ConnError::Violation(v) => write!(f, "{v}"),
            ConnError::Internal(r) => write!(f, "internal error: {r}"),
            ConnError::Local(c, r) => write!(f, "{r} ({c})"),
        }
    }
}

impl std::error::Error for ConnError {}
