//! The access-log line of one client stream: a JSON object on one line, written through the
//! host's log at info level after the prefix `h2mux access ` (so that it can be grepped out
//! of Envoy's log). Every byte a peer sent is escaped: quotes, backslashes and control bytes
//! as JSON escapes, and bytes that are not UTF-8 as `\u00XX` (their Latin-1 reading), so a
//! line is always valid JSON and always one line.

use std::fmt::Write;

use crate::relay::{Ending, Relay, StreamEnd, StreamLog};
use crate::time::Instant;

use super::ConnId;

/// The line for `end` (its `log` filled in), on connection `id`, at `now` (ms since the
/// Unix epoch, as the host's clock gives it).
pub(crate) fn line(id: ConnId, now: Instant, end: &StreamEnd, log: &StreamLog) -> String {
    let mut o = String::with_capacity(256 + log.path.len());
    o.push_str("{\"time\":\"");
    rfc3339(&mut o, now.as_millis());
    let _ = write!(
        o,
        "\",\"connection\":{id},\"client_stream\":{},\"upstream_stream\":{},\"protocol\":\"{}\"",
        end.stream,
        log.upstream_stream,
        if log.client_http1 {
            "HTTP/1.1"
        } else {
            "HTTP/2"
        }
    );
    o.push_str(",\"method\":");
    json_str(&mut o, &log.method);
    o.push_str(",\"authority\":");
    json_str(&mut o, &log.authority);
    o.push_str(",\"path\":");
    json_str(&mut o, &log.path);
    if log.path_cut {
        o.push_str(",\"path_cut\":true");
    }
    match end.status {
        Some(s) => {
            let _ = write!(o, ",\"status\":{s}");
        }
        None => o.push_str(",\"status\":null"),
    }
    let _ = write!(
        o,
        ",\"bytes_in\":{},\"bytes_out\":{},\"duration_ms\":{}",
        log.bytes_in, log.bytes_out, end.duration_ms
    );
    match end.first_byte_ms {
        Some(t) => {
            let _ = write!(o, ",\"ttfb_ms\":{t}");
        }
        None => o.push_str(",\"ttfb_ms\":null"),
    }
    if let Some((by, code)) = log.reset {
        let _ = write!(
            o,
            ",\"reset\":{{\"by\":\"{}\",\"code\":\"{}\"}}",
            by.name(),
            code.name()
        );
    }
    if let Some(ending) = log.ending {
        let (by, code, why) = match ending {
            Ending::Client(c, why) => ("client", c, why),
            Ending::Upstream(c, why) => ("upstream", c, why),
        };
        let _ = write!(
            o,
            ",\"goaway\":{{\"side\":\"{by}\",\"code\":\"{}\",\"rule\":",
            code.name()
        );
        json_str(&mut o, why.as_bytes());
        o.push('}');
    }
    o.push('}');
    o
}

/// A connection's summary: `{"streams", "protocol", "bytes_from_client", "bytes_to_client",
/// "bytes_from_upstream", "bytes_to_upstream", "ending"}`, `ending` being `null` while
/// nothing ended it (or a peer just closed), else `{"side", "code", "rule"}`.
pub(crate) fn summary(relay: &Relay) -> String {
    let (f, b) = (relay.front().stats(), relay.back().stats());
    let mut o = String::with_capacity(192);
    let _ = write!(
        o,
        "{{\"streams\":{},\"protocol\":\"{}\",\"bytes_from_client\":{},\"bytes_to_client\":{},\
         \"bytes_from_upstream\":{},\"bytes_to_upstream\":{},\"ending\":",
        relay.stats().streams,
        if relay.front().is_h1() {
            "HTTP/1.1"
        } else {
            "HTTP/2"
        },
        f.bytes_in,
        f.bytes_out,
        b.bytes_in,
        b.bytes_out
    );
    match relay.ending() {
        None => o.push_str("null"),
        Some(ending) => {
            let (side, code, why) = match ending {
                Ending::Client(c, why) => ("client", c, why),
                Ending::Upstream(c, why) => ("upstream", c, why),
            };
            let _ = write!(
                o,
                "{{\"side\":\"{side}\",\"code\":\"{}\",\"rule\":",
                code.name()
            );
            json_str(&mut o, why.as_bytes());
            o.push('}');
        }
    }
    o.push('}');
    o
}

/// `bytes` as a JSON string (see the module docs for the escapes).
pub(crate) fn json_str(o: &mut String, bytes: &[u8]) {
    o.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => o.push_str("\\\""),
                '\\' => o.push_str("\\\\"),
                '\n' => o.push_str("\\n"),
                '\r' => o.push_str("\\r"),
                '\t' => o.push_str("\\t"),
                c if (c as u32) < 0x20 || c == '\u{7f}' => {
                    let _ = write!(o, "\\u{:04x}", c as u32);
                }
                c => o.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(o, "\\u{:04x}", b);
        }
    }
    o.push('"');
}

/// `ms` since the Unix epoch as `YYYY-MM-DDThh:mm:ss.mmmZ` (proleptic Gregorian, UTC).
fn rfc3339(o: &mut String, ms: u64) {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let _ = write!(
        o,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::relay::ResetBy;

    fn end_with(log: StreamLog) -> (StreamEnd, StreamLog) {
        let end = StreamEnd {
            stream: 5,
            status: Some(404),
            duration_ms: 12,
            first_byte_ms: Some(3),
            log: None,
        };
        (end, log)
    }

    fn sample_log(method: &[u8], authority: &[u8], path: &[u8]) -> StreamLog {
        StreamLog {
            method: method.to_vec(),
            authority: authority.to_vec(),
            path: path.to_vec(),
            path_cut: false,
            client_http1: false,
            upstream_stream: 3,
            bytes_in: 10,
            bytes_out: 20,
            reset: None,
            ending: None,
        }
    }

    #[test]
    fn a_line_has_every_field() {
        let (end, log) = end_with(sample_log(b"GET", b"a.example", b"/x?y=1"));
        let l = line(7, Instant::from_millis(1_764_720_000_123), &end, &log);
        assert_eq!(
            l,
            "{\"time\":\"2025-12-03T00:00:00.123Z\",\"connection\":7,\"client_stream\":5,\
             \"upstream_stream\":3,\"protocol\":\"HTTP/2\",\"method\":\"GET\",\
             \"authority\":\"a.example\",\"path\":\"/x?y=1\",\"status\":404,\"bytes_in\":10,\
             \"bytes_out\":20,\"duration_ms\":12,\"ttfb_ms\":3}"
        );
    }

    #[test]
    fn peer_bytes_never_break_the_json() {
        let mut log = sample_log(
            b"G\"ET",
            b"a\\b\x01\x7f",
            b"/\xff\xfe\"\n\r\t\xc3\xa9\xe2\x82",
        );
        log.reset = Some((ResetBy::Client, ErrorCode::Cancel));
        log.ending = Some(Ending::Client(
            ErrorCode::ProtocolError,
            "a \"quoted\" rule",
        ));
        let (end, log) = end_with(log);
        let l = line(1, Instant::from_millis(0), &end, &log);
        assert!(!l.contains('\n') && !l.contains('\r'), "{l}");
        assert!(l.contains("\"method\":\"G\\\"ET\""), "{l}");
        assert!(l.contains("\"authority\":\"a\\\\b\\u0001\\u007f\""), "{l}");
        assert!(
            l.contains("\"path\":\"/\\u00ff\\u00fe\\\"\\n\\r\\té\\u00e2\\u0082\""),
            "{l}"
        );
        assert!(
            l.contains("\"reset\":{\"by\":\"client\",\"code\":\"cancel\"}"),
            "{l}"
        );
        assert!(l.contains("\"rule\":\"a \\\"quoted\\\" rule\"}"), "{l}");
        assert!(
            l.starts_with("{\"time\":\"1970-01-01T00:00:00.000Z\""),
            "{l}"
        );
        // Every byte value in every field: still one line, and parsed back by a JSON reader.
        let all: Vec<u8> = (0..=255).collect();
        let (end, log) = end_with(sample_log(&all, &all, &all));
        let l = line(1, Instant::from_millis(0), &end, &log);
        assert!(l.bytes().all(|b| b >= 0x20), "{l}");
        assert!(crate::config::json::parse(&l).is_ok(), "{l}");
    }

    #[test]
    fn a_connection_summary_is_json() {
        use std::sync::Arc;
        let cfg = Arc::new(crate::limits::Config::default());
        let relay = Relay::new(cfg.clone(), cfg, 1, Instant::from_millis(0));
        let s = summary(&relay);
        assert!(crate::config::json::parse(&s).is_ok(), "{s}");
        assert!(
            s.starts_with("{\"streams\":0,\"protocol\":\"HTTP/2\""),
            "{s}"
        );
        assert!(s.ends_with("\"ending\":null}"), "{s}");
    }

    #[test]
    fn dates_are_civil() {
        for (ms, want) in [
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (4_102_444_799_999, "2099-12-31T23:59:59.999Z"),
        ] {
            let mut s = String::new();
            rfc3339(&mut s, ms);
            assert_eq!(s, want);
        }
    }
}
