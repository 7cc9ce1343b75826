//! The answer an HTTP/1.x client gets instead of a GOAWAY it could not read.

/// What an HTTP/1.x client reads when it connects to this HTTP/2-only port.
pub(crate) fn answer() -> Vec<u8> {
    let body = "This port speaks HTTP/2 only (h2c with prior knowledge, or h2 over TLS).\n";
    format!(
        "HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-type: text/plain\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{}",
        body.len(),
        body
    )
    .into_bytes()
}
