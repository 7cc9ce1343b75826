//! Byte-level rules of RFC 9113 §8.2 / §8.3 and RFC 9110, and the error they produce.

use crate::frame::ErrorCode;
use core::fmt;

/// Why a header block is malformed (RFC 9113 §8.1.1) or a body does not match its framing.
/// Every variant is a stream error; the connection goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageError {
    /// A field name with no bytes.
    EmptyName,
    /// An uppercase letter in a field name; HTTP/2 names are lowercase (§8.2).
    UppercaseName,
    /// A byte outside the token set in a regular name, or outside §8.2.1 in a pseudo name.
    InvalidNameChar,
    /// NUL, CR or LF in a value.
    InvalidValueChar,
    /// Value starts or ends with SP or HTAB.
    ValueWhitespace,
    /// A pseudo-header this implementation does not define (§8.3).
    UnknownPseudo,
    /// The same pseudo-header twice in one block.
    DuplicatePseudo,
    /// A pseudo-header after a regular field; they must come first (§8.3).
    PseudoAfterRegular,
    /// :method, :scheme, :authority, :path or :protocol in a response.
    RequestPseudoInResponse,
    /// :status in a request.
    ResponsePseudoInRequest,
    /// Any pseudo-header in trailers (§8.1).
    PseudoInTrailers,
    /// A request without :method.
    MissingMethod,
    /// A :method that is not a token (RFC 9110 §9.1).
    InvalidMethod,
    /// A request other than plain CONNECT without :scheme (§8.3.1).
    MissingScheme,
    /// A :scheme that is not a URI scheme (RFC 3986 §3.1).
    InvalidScheme,
    /// A request other than plain CONNECT without :path (§8.3.1).
    MissingPath,
    /// An empty :path (§8.3.1).
    EmptyPath,
    /// `*` on a non-OPTIONS request, a http(s) path not starting with `/`, or a control byte.
    InvalidPath,
    /// No :authority (nor host) where one is required.
    MissingAuthority,
    /// Bad characters, empty for http(s), or userinfo for http(s).
    InvalidAuthority,
    /// :authority and host, or two host fields, disagree.
    HostMismatch,
    /// CONNECT without :protocol carrying :scheme or :path (§8.5).
    ConnectWithSchemeOrPath,
    /// :protocol on a method other than CONNECT (RFC 8441 §4).
    ProtocolWithoutConnect,
    /// A :protocol that is not an upgrade token.
    InvalidProtocol,
    /// A response without :status.
    MissingStatus,
    /// A :status other than three digits in 100..=599.
    InvalidStatus,
    /// 101 cannot be used in HTTP/2 (RFC 9113 §8.6).
    SwitchingProtocols,
    /// connection, proxy-connection, keep-alive, transfer-encoding or upgrade (§8.2.2).
    ConnectionSpecificField,
    /// A te field with a value other than "trailers" (§8.2.2).
    InvalidTe,
    /// A content-length that is not a decimal number (or list of them).
    InvalidContentLength,
    /// content-length values that disagree with each other.
    ContentLengthMismatch,
    /// More fields in one block than the configured limit.
    TooManyFields,
    /// More DATA than content-length announced.
    BodyTooLong,
    /// END_STREAM before content-length bytes arrived.
    BodyTooShort,
    /// DATA on a message that cannot carry content (HEAD response, 204, 304).
    UnexpectedBody,
}

impl MessageError {
    /// All of these make the stream malformed (RFC 9113 §8.1.1).
    pub fn code(self) -> ErrorCode {
        ErrorCode::ProtocolError
    }

    /// Why, in a few words, for the log line.
    pub fn reason(self) -> &'static str {
        use MessageError::*;
        match self {
            EmptyName => "empty field name",
            UppercaseName => "uppercase field name",
            InvalidNameChar => "invalid character in field name",
            InvalidValueChar => "NUL, CR or LF in field value",
            ValueWhitespace => "field value starts or ends with whitespace",
            UnknownPseudo => "unknown pseudo-header",
            DuplicatePseudo => "duplicate pseudo-header",
            PseudoAfterRegular => "pseudo-header after regular field",
            RequestPseudoInResponse => "request pseudo-header in response",
            ResponsePseudoInRequest => "response pseudo-header in request",
            PseudoInTrailers => "pseudo-header in trailers",
            MissingMethod => "missing :method",
            InvalidMethod => "invalid :method",
            MissingScheme => "missing :scheme",
            InvalidScheme => "invalid :scheme",
            MissingPath => "missing :path",
            EmptyPath => "empty :path",
            InvalidPath => "invalid :path",
            MissingAuthority => "missing :authority",
            InvalidAuthority => "invalid :authority or host",
            HostMismatch => "host disagrees with :authority or another host",
            ConnectWithSchemeOrPath => "CONNECT with :scheme or :path",
            ProtocolWithoutConnect => ":protocol without CONNECT",
            InvalidProtocol => "invalid :protocol",
            MissingStatus => "missing :status",
            InvalidStatus => "invalid :status",
            SwitchingProtocols => ":status 101 in HTTP/2",
            ConnectionSpecificField => "connection-specific field",
            InvalidTe => "te other than trailers",
            InvalidContentLength => "invalid content-length",
            ContentLengthMismatch => "conflicting content-length values",
            TooManyFields => "too many fields",
            BodyTooLong => "more data than content-length",
            BodyTooShort => "less data than content-length",
            UnexpectedBody => "data on a message without content",
        }
    }
}

impl MessageError {
    /// A stable snake_case name, for metrics.
    pub fn name(self) -> &'static str {
        use MessageError::*;
        match self {
            EmptyName => "empty_name",
            UppercaseName => "uppercase_name",
            InvalidNameChar => "invalid_name_char",
            InvalidValueChar => "invalid_value_char",
            ValueWhitespace => "value_whitespace",
            UnknownPseudo => "unknown_pseudo",
            DuplicatePseudo => "duplicate_pseudo",
            PseudoAfterRegular => "pseudo_after_regular",
            RequestPseudoInResponse => "request_pseudo_in_response",
            ResponsePseudoInRequest => "response_pseudo_in_request",
            PseudoInTrailers => "pseudo_in_trailers",
            MissingMethod => "missing_method",
            InvalidMethod => "invalid_method",
            MissingScheme => "missing_scheme",
            InvalidScheme => "invalid_scheme",
            MissingPath => "missing_path",
            EmptyPath => "empty_path",
            InvalidPath => "invalid_path",
            MissingAuthority => "missing_authority",
            InvalidAuthority => "invalid_authority",
            HostMismatch => "host_mismatch",
            ConnectWithSchemeOrPath => "connect_with_scheme_or_path",
            ProtocolWithoutConnect => "protocol_without_connect",
            InvalidProtocol => "invalid_protocol",
            MissingStatus => "missing_status",
            InvalidStatus => "invalid_status",
            SwitchingProtocols => "switching_protocols",
            ConnectionSpecificField => "connection_specific_field",
            InvalidTe => "invalid_te",
            InvalidContentLength => "invalid_content_length",
            ContentLengthMismatch => "content_length_mismatch",
            TooManyFields => "too_many_fields",
            BodyTooLong => "body_too_long",
            BodyTooShort => "body_too_short",
            UnexpectedBody => "unexpected_body",
        }
    }
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for MessageError {}

/// RFC 9110 §5.6.2 tchar.
pub(crate) const fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// RFC 9113 §8.2.1 for the bytes of a name after an optional leading ':'. Uppercase is reported
/// apart since it is the likeliest mistake of a sender.
fn check_name_bytes(s: &[u8]) -> Result<(), MessageError> {
    for &b in s {
        if b.is_ascii_uppercase() {
            return Err(MessageError::UppercaseName);
        }
        if b <= 0x20 || b >= 0x7f {
            return Err(MessageError::InvalidNameChar);
        }
    }
    Ok(())
}

/// What a byte may be in a regular field name: one table lookup a byte on the hot path.
const NAME_OK: u8 = 1;
const NAME_UPPER: u8 = 2;
const NAME_CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = if b.is_ascii_uppercase() {
            NAME_UPPER
        } else if is_tchar(b) {
            NAME_OK
        } else {
            0
        };
        i += 1;
    }
    t
};

/// A regular field name: non-empty lowercase token.
pub(crate) fn check_regular_name(name: &[u8]) -> Result<(), MessageError> {
    if name.is_empty() {
        return Err(MessageError::EmptyName);
    }
    for &b in name {
        match NAME_CLASS[b as usize] {
            NAME_OK => {}
            NAME_UPPER => return Err(MessageError::UppercaseName),
            _ => return Err(MessageError::InvalidNameChar),
        }
    }
    Ok(())
}

/// A pseudo-header name's syntax (the caller matches the known ones).
pub(crate) fn check_pseudo_name(name: &[u8]) -> Result<(), MessageError> {
    match name.split_first() {
        Some((b':', rest)) if !rest.is_empty() => check_name_bytes(rest),
        _ => Err(MessageError::UnknownPseudo),
    }
}

/// RFC 9113 §8.2.1 for values: no NUL/CR/LF anywhere, no SP/HTAB at either end.
pub(crate) fn check_value(value: &[u8]) -> Result<(), MessageError> {
    // Most bytes are above CR: one comparison each on the common path.
    if value
        .iter()
        .any(|&b| b <= b'\r' && matches!(b, 0 | b'\r' | b'\n'))
    {
        return Err(MessageError::InvalidValueChar);
    }
    let ws = |b: &u8| matches!(*b, b' ' | b'\t');
    if value.first().is_some_and(ws) || value.last().is_some_and(ws) {
        return Err(MessageError::ValueWhitespace);
    }
    Ok(())
}

/// RFC 3986 §3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
pub(crate) fn is_scheme(s: &[u8]) -> bool {
    match s.split_first() {
        Some((first, rest)) => {
            first.is_ascii_alphabetic()
                && rest
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        }
        None => false,
    }
}

/// RFC 3986 §3.2 authority characters: unreserved, pct-encoded, sub-delims, ':', '@', '[', ']'.
/// Whatever else could smuggle a path or a line break into a Host line.
pub(crate) fn is_authority_chars(s: &[u8]) -> bool {
    s.iter().all(|&b| {
        b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'%'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
                    | b':'
                    | b'@'
                    | b'['
                    | b']'
            )
    })
}

/// A path must not carry controls, SP or DEL: they would split an HTTP/1 request line.
pub(crate) fn is_path_chars(s: &[u8]) -> bool {
    s.iter().all(|&b| b > 0x20 && b != 0x7f)
}

/// RFC 8441 :protocol: an upgrade token, `name ["/" version]`.
pub(crate) fn is_protocol(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b) || b == b'/')
}

/// `:status`: exactly three digits, 100..=599, and not 101.
pub(crate) fn parse_status(s: &[u8]) -> Result<u16, MessageError> {
    let [a, b, c] = *s else {
        return Err(MessageError::InvalidStatus);
    };
    if !(a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit()) {
        return Err(MessageError::InvalidStatus);
    }
    let code = u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0');
    match code {
        101 => Err(MessageError::SwitchingProtocols),
        100..=599 => Ok(code),
        _ => Err(MessageError::InvalidStatus),
    }
}

/// content-length (RFC 9110 §8.6): digits, or a comma list of identical digit runs.
/// Empty elements are refused: nothing legitimate sends them.
pub(crate) fn parse_content_length(s: &[u8]) -> Result<u64, MessageError> {
    let mut found: Option<u64> = None;
    for part in s.split(|&b| b == b',') {
        let n = parse_digits(trim_ows(part)).ok_or(MessageError::InvalidContentLength)?;
        match found {
            Some(prev) if prev != n => return Err(MessageError::ContentLengthMismatch),
            _ => found = Some(n),
        }
    }
    found.ok_or(MessageError::InvalidContentLength)
}

/// Optional whitespace (SP, HTAB) off both ends (RFC 9110 §5.6.3).
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn parse_digits(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        // Compared rather than checked_mul: a checked u64 multiply is a 128-bit one in wasm.
        let d = u64::from(b - b'0');
        if n > u64::MAX / 10 || (n == u64::MAX / 10 && d > u64::MAX % 10) {
            return None;
        }
        n = n * 10 + d;
    }
    Some(n)
}

/// Fields that belong to one HTTP/1 connection and are malformed in HTTP/2 (RFC 9113 §8.2.2).
pub(crate) fn is_connection_specific(name: &[u8]) -> bool {
    matches!(
        name,
        b"connection" | b"proxy-connection" | b"keep-alive" | b"transfer-encoding" | b"upgrade"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_up_to_u64_max() {
        assert_eq!(parse_digits(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_digits(b"18446744073709551616"), None);
        assert_eq!(parse_digits(b"99999999999999999999"), None);
        assert_eq!(parse_digits(b"0"), Some(0));
        assert_eq!(parse_digits(b"007"), Some(7));
    }

    #[test]
    fn status_parsing() {
        assert_eq!(parse_status(b"200"), Ok(200));
        assert_eq!(parse_status(b"100"), Ok(100));
        assert_eq!(parse_status(b"599"), Ok(599));
        assert_eq!(parse_status(b"101"), Err(MessageError::SwitchingProtocols));
        for bad in [
            &b"099"[..],
            b"600",
            b"999",
            b"20",
            b"2000",
            b"",
            b"2a0",
            b"+20",
            b" 200",
        ] {
            assert_eq!(
                parse_status(bad),
                Err(MessageError::InvalidStatus),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn content_length_parsing() {
        assert_eq!(parse_content_length(b"0"), Ok(0));
        assert_eq!(parse_content_length(b"007"), Ok(7));
        assert_eq!(parse_content_length(b"5, 5,5"), Ok(5));
        assert_eq!(parse_content_length(b"18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            parse_content_length(b"18446744073709551616"),
            Err(MessageError::InvalidContentLength)
        );
        assert_eq!(
            parse_content_length(b"5, 6"),
            Err(MessageError::ContentLengthMismatch)
        );
        for bad in [
            &b""[..],
            b"-1",
            b"+1",
            b"1.0",
            b"0x10",
            b"5,,5",
            b"5,",
            b",",
            b"1 2",
        ] {
            assert_eq!(
                parse_content_length(bad),
                Err(MessageError::InvalidContentLength),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn every_error_is_protocol_error_with_reason() {
        for e in [
            MessageError::EmptyName,
            MessageError::TooManyFields,
            MessageError::BodyTooShort,
        ] {
            assert_eq!(e.code(), ErrorCode::ProtocolError);
            assert!(!e.reason().is_empty());
            assert_eq!(e.to_string(), e.reason());
        }
    }
}
