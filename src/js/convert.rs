//! Values across the boundary: time, stream ids, error codes and header lists in, JS
//! `Error`s and header lists out. Header names and values are byte strings; in JS they are
//! strings of code points 0-255 (latin1, as Node's own HTTP modules give them).

use wasm_bindgen::prelude::*;

use super::glue;
use crate::config::json::{self, Value};
use crate::config::ConfigError;
use crate::conn::SendError;
use crate::error::{ConnError, ErrorCode};
use crate::message::{Block, BlockKind, Fields, MessageBuilder, MessageError};
use crate::stream::StreamId;
use crate::time::Instant;

/// Milliseconds from the caller's clock. Negative, NaN or fractional times are clamped:
/// time is the caller's to give, and a wrong one must not trap.
pub fn instant(ms: f64) -> Instant {
    Instant(if ms.is_finite() && ms > 0.0 {
        ms as u64
    } else {
        0
    })
}

/// A time for JS: milliseconds as a number.
pub fn ms(t: Instant) -> f64 {
    t.as_millis() as f64
}

/// A stream id from JS: a whole number within 1..=2^31-1.
pub fn stream_id(v: f64) -> Result<StreamId, JsValue> {
    if v.fract() == 0.0 && (1.0..=f64::from(StreamId::MAX.value())).contains(&v) {
        Ok(StreamId::new(v as u32))
    } else {
        Err(argument(&format!("{v} is not a stream id (1..=2^31-1)")))
    }
}

/// The RFC 9113 name of an error code, as the RFC writes it.
pub fn code_name(code: ErrorCode) -> String {
    match code {
        ErrorCode::Other(c) => format!("UNKNOWN_0x{c:x}"),
        c => c.name().to_ascii_uppercase(),
    }
}

/// Sets `code` (the RFC name) and `errorCode` (the number) on a JS object.
pub fn set_code(target: &JsValue, code: ErrorCode) {
    glue::set(target, "code", code_name(code));
    glue::set(target, "errorCode", code.to_u32());
}

/// A JS `Error` named `name`, with the rule that fired and, when there is one, its code.
fn error(name: &str, message: &str, rule: &str, code: Option<ErrorCode>) -> JsValue {
    let e: JsValue = glue::Error::new(message).into();
    glue::set(&e, "name", name);
    glue::set(&e, "rule", rule);
    if let Some(code) = code {
        set_code(&e, code);
    }
    e
}

/// The connection ended: the peer broke a rule (its RFC code and name), or the owner or an
/// invariant of ours ended it.
pub fn protocol_error(e: ConnError) -> JsValue {
    let rule = match e {
        ConnError::Violation(v) => v.name(),
        ConnError::Internal(_) => "internal",
        ConnError::Local(..) => "local",
    };
    error(
        "H2ProtocolError",
        &format!("connection error: {e}"),
        rule,
        Some(e.code()),
    )
}

/// A send call refused: back-pressure or a call the stream's state does not allow.
pub fn send_error(e: SendError) -> JsValue {
    let rule = match e {
        SendError::UnknownStream => "unknown_stream",
        SendError::NotSendable => "not_sendable",
        SendError::QueueFull => "queue_full",
        SendError::ConcurrencyLimit => "concurrency_limit",
        SendError::NoMoreStreams => "no_more_streams",
        SendError::ConnectionClosed => "connection_closed",
        SendError::WrongSide => "wrong_side",
    };
    // The codes a peer would see for the same mistake on the wire.
    let code = match e {
        SendError::UnknownStream | SendError::NotSendable => Some(ErrorCode::StreamClosed),
        SendError::ConcurrencyLimit => Some(ErrorCode::RefusedStream),
        _ => None,
    };
    error("H2SendError", &e.to_string(), rule, code)
}

/// Headers the caller asked to send break RFC 9113 §8: they are not sent.
pub fn message_error(e: MessageError) -> JsValue {
    error(
        "H2SendError",
        &format!("headers not sent: {e}"),
        e.name(),
        Some(e.code()),
    )
}

/// A configuration refused; the rule is the key.
pub fn config_error(e: &ConfigError) -> JsValue {
    let err = error(
        "H2ConfigError",
        &format!("configuration rejected: {e}"),
        "config",
        None,
    );
    glue::set(&err, "key", e.key.as_str());
    err
}

/// An argument of the wrong shape.
pub fn argument(message: &str) -> JsValue {
    error("H2ArgumentError", message, "argument", None)
}

/// Reads a JS value as JSON with the configuration's reader.
pub fn json_of(v: &JsValue, what: &str) -> Result<Value, JsValue> {
    if v.is_undefined() || v.is_null() {
        return Ok(Value::Object(Vec::new()));
    }
    let text = glue::stringify(v).ok_or_else(|| argument(&format!("{what}: not JSON data")))?;
    json::parse(&text).map_err(|m| argument(&format!("{what}: {m}")))
}

/// A string of code points 0-255 as bytes.
fn latin1(s: &str, what: &str) -> Result<Vec<u8>, JsValue> {
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| argument(&format!("{what}: a character above U+00FF")))
}

/// Bytes as a string of code points 0-255.
fn text(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// `[name, value][]` from JS, validated as a block of `kind` (RFC 9113 §8).
pub fn block(headers: &JsValue, kind: BlockKind) -> Result<Block, JsValue> {
    let Value::Array(list) = json_of(headers, "headers")? else {
        return Err(argument("headers: must be an array of [name, value] pairs"));
    };
    let mut b = MessageBuilder::new(kind);
    for pair in &list {
        let (name, value) = match pair {
            Value::Array(nv) => match nv.as_slice() {
                [Value::String(n), Value::String(v)] => (n, v),
                _ => {
                    return Err(argument(
                        "headers: each entry is [name, value], two strings",
                    ))
                }
            },
            _ => {
                return Err(argument(
                    "headers: each entry is [name, value], two strings",
                ))
            }
        };
        b.push(
            &latin1(name, "header name")?,
            &latin1(value, "header value")?,
            false,
        );
    }
    b.finish().map_err(message_error)
}

/// A header list as `[name, value][]`.
pub fn header_list<'a>(fields: impl Iterator<Item = (&'a [u8], &'a [u8], bool)>) -> JsValue {
    let list = glue::Array::new();
    for (name, value, _) in fields {
        let pair = glue::Array::new();
        pair.push(&JsValue::from(text(name)));
        pair.push(&JsValue::from(text(value)));
        list.push(&pair.into());
    }
    list.into()
}

/// Trailer fields as `[name, value][]`.
pub fn fields_list(fields: &Fields) -> JsValue {
    header_list(fields.iter())
}
