//! The answer an HTTP/1.x client gets instead of a GOAWAY it could not read.

/// What an HTTP/1.x client reads when it connects to this HTTP/2-only port (a constant:
/// no formatting code in the module for a message this rare).
pub(crate) const ANSWER: &[u8] = b"HTTP/1.1 505 HTTP Version Not Supported\r\n\
content-type: text/plain\r\nconnection: close\r\ncontent-length: 73\r\n\r\n\
This port speaks HTTP/2 only (h2c with prior knowledge, or h2 over TLS).\n";

#[cfg(test)]
mod tests {
    use super::ANSWER;

    #[test]
    fn content_length_is_the_body_length() {
        let text = std::str::from_utf8(ANSWER).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 505 HTTP Version Not Supported\r\n"));
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), body.len());
        assert!(body.ends_with("over TLS).\n"));
    }
}
