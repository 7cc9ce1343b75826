//! HTTP/1.1 (RFC 9112), sans-IO, in both roles, on the same version-agnostic `message` as
//! HTTP/2: `head` (start lines and fields into a `Message`, framing from the hop-by-hop
//! fields it removes), `body` (Content-Length, chunked, until close), `write` (a `Message`
//! back out as HTTP/1.1), `conn` (a connection with the HTTP/2 connection's interface and
//! events), `error` (every rule, with its status).
//!
//! Strict by design, since a proxy that reads a message differently from the server behind
//! it is how requests are smuggled: CRLF only, no obs-fold, no whitespace before a colon,
//! exactly one Host, Content-Length and Transfer-Encoding never together, chunked last and
//! once, every chunk line bounded.

mod body;
mod conn;
mod error;
mod head;
mod write;

pub use body::{Body, Piece};
pub use conn::H1Conn;
pub use error::H1Error;
pub use head::{parse_request, parse_response, Framing, HeadLimits, HeadScan, Parsed, Version};

#[cfg(test)]
mod tests;

#[cfg(test)]
mod corpus_tests;
