//! `inspect(bytes, options)`: the inspector's walk (`crate::inspect`) as a plain JS object,
//! the `Inspection` of the .d.ts; the inspector page and `h2mux-node --capture` files meet
//! here.

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::convert::{argument, code_name, config_error, json_of, set_code};
use super::glue;
use super::{InspectOptions, Inspection};
use crate::config::json::Value;
use crate::config::PluginConfig;
use crate::error::Violation;
use crate::frame::{flags, setting, FrameType};
use crate::inspect::{self, Direction, End, Frame, HeaderBlock, Options, Payload, Report};
use crate::message::BlockKind;

/// Walks the bytes of one direction of an HTTP/2 connection with the filter's own decoders.
/// Throws `H2ArgumentError` or `H2ConfigError` for bad options, never for bad bytes: those
/// are the report's `error`.
#[wasm_bindgen]
pub fn inspect(bytes: &[u8], options: Option<InspectOptions>) -> Result<Inspection, JsValue> {
    let opts = match options {
        Some(o) => options_of(o.as_ref())?,
        None => Options::default(),
    };
    let report = inspect::inspect(bytes, &opts);
    Ok(to_js(&report, bytes.len()).unchecked_into())
}

fn count(v: &Value, key: &str) -> Result<usize, JsValue> {
    match v {
        Value::Number(n) if n.fract() == 0.0 && *n >= 1.0 && *n <= 4_294_967_295.0 => {
            Ok(*n as usize)
        }
        _ => Err(argument(&format!(
            "options.{key}: must be a whole number from 1 to 2^32-1"
        ))),
    }
}

fn options_of(v: &JsValue) -> Result<Options, JsValue> {
    let Value::Object(fields) = json_of(v, "options")? else {
        return Err(argument("options: must be an object"));
    };
    let mut o = Options::default();
    for (key, value) in fields {
        match key.as_str() {
            "direction" => {
                o.direction = match &value {
                    Value::String(s) if s == "auto" => Direction::Auto,
                    Value::String(s) if s == "client" => Direction::Client,
                    Value::String(s) if s == "server" => Direction::Server,
                    _ => {
                        return Err(argument(
                            r#"options.direction: must be "auto", "client" or "server""#,
                        ))
                    }
                }
            }
            "maxFrames" => o.max_frames = count(&value, &key)?,
            "maxBytes" => o.max_bytes = count(&value, &key)?,
            "maxKeptBytes" => o.max_kept_bytes = count(&value, &key)?,
            "fromStart" => match value {
                Value::Bool(b) => o.from_start = b,
                _ => return Err(argument("options.fromStart: must be a boolean")),
            },
            // The receiver's limits, read by the filter configuration's own reader.
            "limits" => {
                let cfg = PluginConfig::from_value(value).map_err(|e| config_error(&e))?;
                o.limits = cfg.frontend.clone();
            }
            other => return Err(argument(&format!("options: unknown key `{other}`"))),
        }
    }
    Ok(o)
}

fn num(n: usize) -> JsValue {
    JsValue::from(n as f64)
}

fn array(items: impl IntoIterator<Item = JsValue>) -> JsValue {
    let a = glue::Array::new();
    for item in items {
        a.push(&item);
    }
    a.into()
}

fn object() -> JsValue {
    glue::Object::new().into()
}

/// Bytes as a string of code points 0-255, as header values are given.
fn latin1(b: &[u8]) -> String {
    b.iter().map(|&c| char::from(c)).collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|c| format!("{c:02x}")).collect()
}

/// A violation as `{code, errorCode, rule, reason}`.
fn violation(v: Violation) -> JsValue {
    let o = object();
    set_code(&o, v.code());
    glue::set(&o, "rule", v.name());
    glue::set(&o, "reason", v.reason());
    o
}

fn setting_name(id: u16) -> String {
    match id {
        setting::HEADER_TABLE_SIZE => "HEADER_TABLE_SIZE".into(),
        setting::ENABLE_PUSH => "ENABLE_PUSH".into(),
        setting::MAX_CONCURRENT_STREAMS => "MAX_CONCURRENT_STREAMS".into(),
        setting::INITIAL_WINDOW_SIZE => "INITIAL_WINDOW_SIZE".into(),
        setting::MAX_FRAME_SIZE => "MAX_FRAME_SIZE".into(),
        setting::MAX_HEADER_LIST_SIZE => "MAX_HEADER_LIST_SIZE".into(),
        setting::ENABLE_CONNECT_PROTOCOL => "ENABLE_CONNECT_PROTOCOL".into(),
        other => format!("0x{other:x}"),
    }
}

/// The flags a type defines, by name; other bits as hex.
fn flag_names(kind: FrameType, bits: u8) -> Vec<String> {
    let defined: &[(u8, &str)] = match kind {
        FrameType::Data => &[(flags::END_STREAM, "END_STREAM"), (flags::PADDED, "PADDED")],
        FrameType::Headers => &[
            (flags::END_STREAM, "END_STREAM"),
            (flags::END_HEADERS, "END_HEADERS"),
            (flags::PADDED, "PADDED"),
            (flags::PRIORITY, "PRIORITY"),
        ],
        FrameType::Continuation => &[(flags::END_HEADERS, "END_HEADERS")],
        FrameType::Settings | FrameType::Ping => &[(flags::ACK, "ACK")],
        _ => &[],
    };
    let mut names: Vec<String> = defined
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, n)| (*n).to_string())
        .collect();
    let rest = defined.iter().fold(bits, |b, (bit, _)| b & !bit);
    if rest != 0 {
        names.push(format!("0x{rest:02x}"));
    }
    names
}

/// The payload's fields on the frame object, and a one-line summary.
fn payload(o: &JsValue, p: &Payload) -> String {
    match p {
        Payload::Data { len, pad } => {
            glue::set(o, "dataLength", *len);
            if let Some(pad) = pad {
                glue::set(o, "padLength", u32::from(*pad));
                format!("{len} bytes, {pad} of padding")
            } else {
                format!("{len} bytes")
            }
        }
        Payload::Headers {
            fragment,
            pad,
            priority,
        } => {
            glue::set(o, "fragmentLength", num(*fragment));
            let mut s = format!("{fragment} bytes of header block");
            if let Some(pad) = pad {
                glue::set(o, "padLength", u32::from(*pad));
                s.push_str(&format!(", {pad} of padding"));
            }
            if let Some(pr) = priority {
                glue::set(o, "priority", priority_js(pr));
                s.push_str(&format!(", depends on {}", pr.dependency));
            }
            s
        }
        Payload::Continuation { fragment } => {
            glue::set(o, "fragmentLength", num(*fragment));
            format!("{fragment} bytes of header block")
        }
        Payload::Priority(pr) => {
            glue::set(o, "priority", priority_js(pr));
            format!(
                "depends on {}{}, weight {}",
                pr.dependency,
                if pr.exclusive { " (exclusive)" } else { "" },
                u32::from(pr.weight) + 1
            )
        }
        Payload::RstStream(code) => {
            set_code(o, *code);
            code_name(*code)
        }
        Payload::Settings { ack, entries } => {
            let list = entries.iter().map(|&(id, value)| {
                let e = object();
                glue::set(&e, "id", u32::from(id));
                glue::set(&e, "name", setting_name(id));
                glue::set(&e, "value", value);
                e
            });
            glue::set(o, "settings", array(list));
            if *ack {
                "ACK".into()
            } else if entries.is_empty() {
                "no entries".into()
            } else {
                entries
                    .iter()
                    .map(|&(id, v)| format!("{}={v}", setting_name(id)))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        }
        Payload::Ping { ack, data } => {
            glue::set(o, "pingData", hex(data));
            format!("{}{}", if *ack { "ACK " } else { "" }, hex(data))
        }
        Payload::GoAway {
            last_stream,
            code,
            debug,
            debug_len,
        } => {
            glue::set(o, "lastStreamId", last_stream.value());
            set_code(o, *code);
            glue::set(o, "debugData", latin1(debug));
            glue::set(o, "debugLength", num(*debug_len));
            let mut s = format!("last stream {last_stream}, {}", code_name(*code));
            if *debug_len > 0 {
                s.push_str(&format!(" \"{}\"", latin1(debug)));
            }
            s
        }
        Payload::WindowUpdate(inc) => {
            glue::set(o, "increment", *inc);
            format!("+{inc}")
        }
        Payload::Skipped => String::new(),
        Payload::Partial { have } => {
            glue::set(o, "partial", num(*have));
            format!("cut off: {have} bytes of the payload present")
        }
    }
}

fn priority_js(pr: &crate::frame::Priority) -> JsValue {
    let o = object();
    glue::set(&o, "dependency", pr.dependency.value());
    glue::set(&o, "exclusive", pr.exclusive);
    glue::set(&o, "weight", u32::from(pr.weight) + 1);
    o
}

fn frame_js(i: usize, f: &Frame) -> JsValue {
    let o = object();
    let h = &f.header;
    glue::set(&o, "index", num(i));
    glue::set(&o, "offset", num(f.offset));
    glue::set(&o, "type", h.kind.name());
    glue::set(&o, "typeCode", u32::from(h.kind.to_u8()));
    glue::set(&o, "flags", u32::from(h.flags));
    glue::set(
        &o,
        "flagNames",
        array(flag_names(h.kind, h.flags).into_iter().map(JsValue::from)),
    );
    glue::set(&o, "streamId", h.stream.value());
    glue::set(&o, "length", h.len);
    let mut summary = payload(&o, &f.payload);
    if let (FrameType::Unknown(t), Payload::Skipped) = (h.kind, &f.payload) {
        summary = format!("type 0x{t:02x}: ignored (RFC 9113 §4.1)");
    }
    glue::set(&o, "summary", summary);
    glue::set(&o, "block", f.block.map_or(JsValue::NULL, num));
    glue::set(
        &o,
        "streamError",
        f.stream_error.map_or(JsValue::NULL, violation),
    );
    o
}

fn block_js(i: usize, b: &HeaderBlock) -> JsValue {
    let o = object();
    glue::set(&o, "index", num(i));
    glue::set(&o, "streamId", b.stream.value());
    glue::set(&o, "frames", array(b.frames.iter().map(|&f| num(f))));
    glue::set(&o, "endStream", b.end_stream);
    let kind = match b.kind {
        Some(BlockKind::Request) => JsValue::from("request"),
        Some(BlockKind::Response) => JsValue::from("response"),
        Some(BlockKind::Trailers) => JsValue::from("trailers"),
        None => JsValue::NULL,
    };
    glue::set(&o, "kind", kind);
    let headers = b.fields.iter().map(|f| {
        array([
            JsValue::from(latin1(&f.name)),
            JsValue::from(latin1(&f.value)),
        ])
    });
    glue::set(&o, "headers", array(headers));
    let sensitive = b
        .fields
        .iter()
        .filter(|f| f.sensitive)
        .map(|f| JsValue::from(latin1(&f.name)));
    glue::set(&o, "sensitive", array(sensitive));
    glue::set(&o, "fieldsCut", b.fields_cut);
    glue::set(&o, "tableSize", num(b.table_size));
    glue::set(&o, "tableEntries", num(b.table_entries));
    glue::set(&o, "error", b.error.map_or(JsValue::NULL, violation));
    o
}

fn to_js(r: &Report, length: usize) -> JsValue {
    let o = object();
    let direction = match r.direction {
        Direction::Auto => "unknown",
        Direction::Client => "client",
        Direction::Server => "server",
    };
    glue::set(&o, "direction", direction);
    glue::set(&o, "preface", r.preface);
    glue::set(&o, "length", num(length));
    glue::set(&o, "decoded", num(r.decoded));
    let (end, at) = match r.end {
        End::Complete => ("complete", None),
        End::Incomplete { offset } => ("incomplete", Some(offset)),
        End::Failed => ("failed", None),
        End::FrameLimit => ("frame_limit", None),
        End::ByteLimit => ("byte_limit", None),
    };
    glue::set(&o, "end", end);
    glue::set(&o, "incompleteAt", at.map_or(JsValue::NULL, num));
    let frames = r.frames.iter().enumerate().map(|(i, f)| frame_js(i, f));
    glue::set(&o, "frames", array(frames));
    let blocks = r.blocks.iter().enumerate().map(|(i, b)| block_js(i, b));
    glue::set(&o, "blocks", array(blocks));
    let streams = r.streams.iter().map(|s| {
        let t = object();
        glue::set(&t, "streamId", s.id.value());
        glue::set(&t, "state", s.state.name());
        glue::set(&t, "frames", array(s.frames.iter().map(|&f| num(f))));
        t
    });
    glue::set(&o, "streams", array(streams));
    let error = r.failure.map_or(JsValue::NULL, |f| {
        let e = violation(f.violation);
        glue::set(&e, "offset", num(f.offset));
        glue::set(&e, "frame", f.frame.map_or(JsValue::NULL, num));
        e
    });
    glue::set(&o, "error", error);
    o
}
