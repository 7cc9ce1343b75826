//! A connection's events as plain JS objects, one shape per `type` (the `H2Event` union of
//! the .d.ts).

use wasm_bindgen::prelude::*;

use super::convert::{fields_list, header_list, set_code};
use super::glue;
use crate::conn::Event;
use crate::error::ConnError;

/// An object with its `type` set.
fn typed(kind: &str) -> JsValue {
    let o: JsValue = glue::Object::new().into();
    glue::set(&o, "type", kind);
    o
}

/// What ended a connection, on an event or an error: its code, the rule, why.
pub fn set_failure(o: &JsValue, error: ConnError) {
    set_code(o, error.code());
    let rule = match error {
        ConnError::Violation(v) => v.name(),
        ConnError::Internal(_) => "internal",
        ConnError::Local(..) => "local",
    };
    glue::set(o, "rule", rule);
    glue::set(o, "reason", error.reason());
}

/// The event as a JS object.
pub fn to_js(e: &Event) -> JsValue {
    match e {
        Event::Headers {
            stream,
            message,
            end_stream,
        } => {
            let o = typed("headers");
            glue::set(&o, "streamId", stream.value());
            let mut status = [0u8; 3];
            glue::set(&o, "headers", header_list(message.h2_fields(&mut status)));
            glue::set(&o, "endStream", *end_stream);
            o
        }
        Event::Trailers { stream, fields } => {
            let o = typed("trailers");
            glue::set(&o, "streamId", stream.value());
            glue::set(&o, "headers", fields_list(fields));
            glue::set(&o, "endStream", true);
            o
        }
        Event::Data {
            stream,
            data,
            end_stream,
        } => {
            let o = typed("data");
            glue::set(&o, "streamId", stream.value());
            glue::set(&o, "data", glue::bytes(data));
            glue::set(&o, "endStream", *end_stream);
            o
        }
        Event::Reset {
            stream,
            code,
            remote,
        } => {
            let o = typed("reset");
            glue::set(&o, "streamId", stream.value());
            set_code(&o, *code);
            glue::set(&o, "remote", *remote);
            o
        }
        Event::DataSent { stream, len } => {
            let o = typed("dataSent");
            glue::set(&o, "streamId", stream.value());
            glue::set(&o, "length", *len as u32);
            o
        }
        Event::GoAway {
            last_stream,
            code,
            debug,
        } => {
            let o = typed("goaway");
            glue::set(&o, "lastStreamId", last_stream.value());
            set_code(&o, *code);
            glue::set(&o, "debugData", glue::bytes(debug));
            o
        }
        Event::PeerSettings {
            max_concurrent_streams,
        } => {
            let o = typed("settings");
            glue::set(&o, "maxConcurrentStreams", *max_concurrent_streams);
            o
        }
        Event::PingAck { payload } => {
            let o = typed("pingAck");
            glue::set(&o, "payload", glue::bytes(payload));
            o
        }
        Event::Failed { error } => {
            let o = typed("connectionTerminated");
            set_failure(&o, *error);
            o
        }
    }
}
