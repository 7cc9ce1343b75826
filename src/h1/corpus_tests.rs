//! The smuggling corpus (`tests/h1-corpus/`): raw requests that must be refused with their
//! status, and requests real clients send that must pass; raw responses likewise. The files
//! are data; their format is in the corpus README.

use std::sync::Arc;

use bytes::Bytes;

use super::H1Conn;
use crate::conn::Event;
use crate::limits::Config;
use crate::message::Message;
use crate::side::Side;
use crate::time::Instant;

struct Case {
    name: String,
    expect: String,
    count: usize,
    body: Option<Vec<u8>>,
    raw: Vec<u8>,
}

fn unescape(text: &str) -> Vec<u8> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let c = b[i + 1];
        i += 2;
        match c {
            b'r' => out.push(b'\r'),
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'0' => out.push(0),
            b'\\' => out.push(b'\\'),
            b'x' => {
                let h = std::str::from_utf8(&b[i..i + 2]).unwrap();
                out.push(u8::from_str_radix(h, 16).unwrap());
                i += 2;
            }
            b'{' => {
                let end = i + b[i..].iter().position(|&x| x == b'}').unwrap();
                let inner = std::str::from_utf8(&b[i..end]).unwrap();
                let (n, text) = inner.split_once('*').unwrap();
                let piece = unescape(text);
                for _ in 0..n.parse::<usize>().unwrap() {
                    out.extend_from_slice(&piece);
                }
                i = end + 1;
            }
            other => panic!("unknown escape \\{}", other as char),
        }
    }
    out
}

fn cases(file: &str) -> Vec<Case> {
    let mut out: Vec<Case> = Vec::new();
    for line in file.lines() {
        if let Some(name) = line.strip_prefix("== ") {
            out.push(Case {
                name: name.trim().to_string(),
                expect: String::new(),
                count: 1,
                body: None,
                raw: Vec::new(),
            });
            continue;
        }
        let Some(c) = out.last_mut() else { continue };
        if c.raw.is_empty() {
            if let Some(v) = line.strip_prefix("expect: ") {
                c.expect = v.trim().to_string();
                continue;
            }
            if let Some(v) = line
                .strip_prefix("requests: ")
                .or_else(|| line.strip_prefix("responses: "))
            {
                c.count = v.trim().parse().unwrap();
                continue;
            }
            if line.starts_with("why: ") {
                continue;
            }
            if let Some(v) = line.strip_prefix("body: ") {
                c.body = Some(unescape(v));
                continue;
            }
        }
        c.raw.extend_from_slice(&unescape(line));
    }
    out
}

/// Events and output of a connection fed `raw` as a host would (unconsumed bytes kept).
fn run(c: &mut H1Conn, raw: &[u8], step: usize, eof: bool) -> (Vec<Event>, Vec<u8>) {
    let mut kept = Vec::new();
    let mut events = Vec::new();
    let mut out = Vec::new();
    for piece in raw.chunks(step) {
        kept.extend_from_slice(piece);
        loop {
            let n = c.recv(&Bytes::from(kept.clone()), Instant(0));
            kept.drain(..n);
            c.drain_output(&mut out);
            while let Some(e) = c.poll_event() {
                if let Event::Data { stream, data, .. } = &e {
                    c.release_capacity(*stream, data.len());
                }
                events.push(e);
            }
            if n == 0 || kept.is_empty() {
                break;
            }
        }
    }
    if eof {
        c.recv_eof(Instant(0));
        c.drain_output(&mut out);
        events.extend(std::iter::from_fn(|| c.poll_event()));
    }
    (events, out)
}

fn first_body(events: &[Event]) -> Vec<u8> {
    let first = events.iter().find_map(|e| match e {
        Event::Headers {
            stream, message, ..
        } if !message.is_informational() => Some(*stream),
        _ => None,
    });
    let mut body = Vec::new();
    for e in events {
        if let Event::Data { stream, data, .. } = e {
            if Some(*stream) == first {
                body.extend_from_slice(data);
            }
        }
    }
    body
}

#[test]
fn every_request_in_the_corpus_gets_its_answer() {
    let mut wrong = Vec::new();
    for case in cases(include_str!("../../tests/h1-corpus/requests.txt")) {
        // Byte at a time, or in odd pieces for the long cases (each piece copies what is kept).
        let small = if case.raw.len() > 8192 { 997 } else { 1 };
        for step in [case.raw.len().max(1), small] {
            // Pipelined cases are read whole: the harness answers nothing.
            let cfg = Config {
                h1_max_pipelined: 64,
                ..Config::default()
            };
            let mut c = H1Conn::new(Side::Frontend, Arc::new(cfg), Instant(0));
            let (events, out) = run(&mut c, &case.raw, step, false);
            let heads = events
                .iter()
                .filter(|e| matches!(e, Event::Headers { .. }))
                .count();
            // An answer to a bad request waits behind the earlier requests' answers.
            let waiting = c.error().and_then(|e| match e.violation() {
                Some(crate::error::Violation::Http1(e)) => Some(e.status().to_string()),
                _ => None,
            });
            // Our own go-ahead for `Expect: 100-continue` is no answer.
            let out = out
                .strip_prefix(&b"HTTP/1.1 100 Continue\r\n\r\n"[..])
                .unwrap_or(&out);
            let got = if out.starts_with(b"HTTP/1.1 ") {
                String::from_utf8_lossy(&out[9..12]).into_owned()
            } else if let Some(status) = waiting {
                status
            } else if c.error().is_none() && heads == case.count {
                "pass".to_string()
            } else {
                format!("{heads} requests, error {:?}", c.error())
            };
            let body_ok = case.body.as_ref().is_none_or(|b| *b == first_body(&events));
            if got != case.expect || (got == "pass" && !body_ok) {
                wrong.push(format!(
                    "{} (step {step}): expected {}, got {got}{}",
                    case.name,
                    case.expect,
                    if body_ok { "" } else { " with another body" }
                ));
                break;
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cases:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn every_response_in_the_corpus_is_read_or_refused() {
    let mut wrong = Vec::new();
    for case in cases(include_str!("../../tests/h1-corpus/responses.txt")) {
        // Byte at a time, or in odd pieces for the long cases (each piece copies what is kept).
        let small = if case.raw.len() > 8192 { 997 } else { 1 };
        for step in [case.raw.len().max(1), small] {
            let mut c = H1Conn::new(Side::Backend, Arc::new(Config::default()), Instant(0));
            let method: &[u8] = if case.name.starts_with("head_") {
                b"HEAD"
            } else {
                b"GET"
            };
            c.open_stream(Message::request(method, b"http", b"a", b"/"), true)
                .unwrap();
            c.drain_output(&mut Vec::new());
            let eof = case.name.contains("close_delimited");
            let (events, _) = run(&mut c, &case.raw, step, eof);
            let failed = events.iter().any(|e| matches!(e, Event::Failed { .. }));
            let heads = events
                .iter()
                .filter(|e| matches!(e, Event::Headers { .. }))
                .count();
            let ended = events.iter().any(|e| {
                matches!(
                    e,
                    Event::Headers {
                        end_stream: true,
                        ..
                    } | Event::Data {
                        end_stream: true,
                        ..
                    } | Event::Trailers { .. }
                )
            });
            let got = if failed {
                "502".to_string()
            } else if heads == case.count && ended {
                "pass".to_string()
            } else {
                format!("{heads} heads, ended {ended}")
            };
            let body_ok = case.body.as_ref().is_none_or(|b| *b == first_body(&events));
            if got != case.expect || (got == "pass" && !body_ok) {
                wrong.push(format!(
                    "{} (step {step}): expected {}, got {got}{}",
                    case.name,
                    case.expect,
                    if body_ok { "" } else { " with another body" }
                ));
                break;
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cases:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
