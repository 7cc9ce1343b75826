//! Serializing the version-agnostic message as HTTP/1.1: request and status lines, fields
//! (cookie crumbs joined, §8.2.3 of RFC 9113), framing chosen for the receiver, chunks and
//! trailers.

use super::head::{format_u64, Framing};
use crate::message::{Fields, Message};

/// The reason phrase sent with a status (clients ignore it, §4).
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        414 => "URI Too Long",
        421 => "Misdirected Request",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

fn field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Writes the message's fields; `skip` drops some, cookies become one field.
fn fields(out: &mut Vec<u8>, f: &Fields, skip: impl Fn(&[u8]) -> bool) {
    let mut cookie_done = false;
    for (name, value, _) in f.iter() {
        if skip(name) {
            continue;
        }
        if name == b"cookie" {
            if cookie_done {
                continue;
            }
            cookie_done = true;
            match f.joined_cookie() {
                Some(joined) => field(out, b"cookie", &joined),
                None => field(out, name, value),
            }
            continue;
        }
        field(out, name, value);
    }
}

/// How a request's body goes to an HTTP/1.1 upstream: its content-length, none, or chunked.
pub fn request_framing(m: &Message, end_stream: bool) -> Framing {
    match m.content_length {
        Some(n) => Framing::Length(n),
        None if end_stream => Framing::Empty,
        None => Framing::Chunked,
    }
}

/// A request head for an HTTP/1.1 upstream. `:authority` becomes Host (RFC 9113 §8.3.1).
pub fn request_head(out: &mut Vec<u8>, m: &Message, framing: Framing, expect_continue: bool) {
    out.extend_from_slice(m.method().unwrap_or(b"GET"));
    out.push(b' ');
    out.extend_from_slice(m.path().unwrap_or(b"/"));
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if let Some(a) = m.authority() {
        field(out, b"host", a);
    }
    fields(out, &m.fields, |n| {
        n == b"host" || n == b"content-length" || n == b"te"
    });
    if expect_continue && !m.fields.contains(b"expect") {
        field(out, b"expect", b"100-continue");
    }
    let mut digits = [0u8; 20];
    match framing {
        Framing::Length(n) => field(out, b"content-length", format_u64(n, &mut digits)),
        Framing::Chunked => field(out, b"transfer-encoding", b"chunked"),
        Framing::Empty => {
            if matches!(m.method(), Some(b"POST" | b"PUT" | b"PATCH")) {
                field(out, b"content-length", b"0");
            }
        }
        Framing::UntilClose => {}
    }
    out.extend_from_slice(b"\r\n");
}

/// A response head for an HTTP/1.x client. `framing` is what this side will send;
/// `connection` a Connection value to add (close, keep-alive), if any.
pub fn response_head(out: &mut Vec<u8>, m: &Message, framing: Framing, connection: Option<&[u8]>) {
    let status = m.status().unwrap_or(500).min(999);
    let mut digits = [0u8; 20];
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(format_u64(u64::from(status), &mut digits));
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\n");
    let chunked = framing == Framing::Chunked;
    fields(out, &m.fields, |n| chunked && n == b"content-length");
    if chunked {
        field(out, b"transfer-encoding", b"chunked");
    }
    if let Some(c) = connection {
        field(out, b"connection", c);
    }
    out.extend_from_slice(b"\r\n");
}

/// A complete answer of h2mux's own (an error page): status, a text body, and the close.
pub fn error_response(out: &mut Vec<u8>, status: u16, text: &str) {
    let mut digits = [0u8; 20];
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(format_u64(u64::from(status), &mut digits));
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\ncontent-type: text/plain\r\nconnection: close\r\ncontent-length: ");
    out.extend_from_slice(format_u64(text.len() as u64 + 1, &mut digits));
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(text.as_bytes());
    out.push(b'\n');
}

/// The line before a chunk's data.
pub fn chunk_start(out: &mut Vec<u8>, len: usize) {
    let mut hex = [0u8; 16];
    let mut i = hex.len();
    let mut n = len;
    loop {
        i -= 1;
        hex[i] = b"0123456789abcdef"[n & 15];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&hex[i..]);
    out.extend_from_slice(b"\r\n");
}

/// The last chunk, the trailers (when the receiver takes them) and the end.
pub fn last_chunk(out: &mut Vec<u8>, trailers: Option<&Fields>) {
    out.extend_from_slice(b"0\r\n");
    if let Some(t) = trailers {
        fields(out, t, |_| false);
    }
    out.extend_from_slice(b"\r\n");
}
