//! The version-neutral HTTP message passed between the two sides of a connection.
//!
//! A decoded header list becomes a `Message` through `MessageBuilder`, which enforces the
//! RFC 9113 §8 rules field by field; a malformed block is a `MessageError`, which is always a
//! stream error. A `Message` goes back out as a header list via `Message::for_each_h2_field`.
//! `BodyLength` then holds the body to the announced content-length.

mod body;
mod build;
mod fields;
mod head;
mod validate;

pub use body::BodyLength;
pub use build::{Block, BlockKind, MessageBuilder, DEFAULT_MAX_FIELDS};
pub use fields::Fields;
pub use head::{FieldSink, Head, Message, Method, Scheme};
pub use validate::MessageError;
pub(crate) use validate::{is_tchar, is_token, parse_content_length, trim_ows};

#[cfg(test)]
mod tests;
