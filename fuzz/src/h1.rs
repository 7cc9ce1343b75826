//! HTTP/1.1 drivers, one per role: the peer's bytes are arbitrary, cut anywhere; the owner
//! answers as the relay would. Checked: no panic, no broken invariant, credit conserved,
//! and the same events and output whatever the cuts (resumable at any byte).

use std::sync::Arc;

use bytes::Bytes;
use h2mux::conn::Event;
use h2mux::h1::H1Conn;
use h2mux::limits::Config;
use h2mux::message::Message;
use h2mux::side::Side;
use h2mux::stream::StreamId;
use h2mux::time::Instant;

fn config(sel: u8) -> Config {
    let mut c = Config::default();
    if sel & 1 == 1 {
        // Small limits, so that inputs reach them.
        c.h1_max_request_line = 64;
        c.h1_max_head_bytes = 256;
        c.max_header_fields = 8;
        c.h1_max_chunk_line = 24;
        c.h1_max_pipelined = 2;
        c.connection_window = 65_535;
    }
    c
}

/// The events and output of one run, normalised (DATA joined per stream, as bytes).
#[derive(Debug, PartialEq, Eq, Default)]
struct Log {
    events: Vec<(String, Vec<u8>)>,
    out: Vec<u8>,
}

impl Log {
    fn event(&mut self, e: &Event) {
        if let Event::Data {
            stream,
            data,
            end_stream,
        } = e
        {
            let tag = format!("data {stream}");
            if let Some((last, bytes)) = self.events.last_mut() {
                if *last == tag {
                    bytes.extend_from_slice(data);
                    if *end_stream {
                        last.push_str(" END");
                    }
                    return;
                }
            }
            if data.is_empty() && !end_stream {
                return;
            }
            let tag = if *end_stream {
                format!("{tag} END")
            } else {
                tag
            };
            self.events.push((tag, data.to_vec()));
            return;
        }
        if matches!(e, Event::DataSent { .. }) {
            return;
        }
        self.events.push((format!("{e:?}"), Vec::new()));
    }
}

/// Cut sizes for one run: `step` 0 means all at once.
fn run(role: Side, sel: u8, method: &[u8], input: &[u8], step: usize) -> Log {
    let mut c = H1Conn::new(role, Arc::new(config(sel)), Instant(0));
    let mut log = Log::default();
    let mut kept: Vec<u8> = Vec::new();
    let mut opened = 0u32;
    if role == Side::Backend {
        open(&mut c, method, &mut opened);
    }
    let pieces: Vec<&[u8]> = if step == 0 {
        vec![input]
    } else {
        input.chunks(step).collect()
    };
    for piece in pieces {
        kept.extend_from_slice(piece);
        // As a host does: what was not taken is offered again once the owner moved on.
        for _ in 0..64 {
            let b = Bytes::from(kept.clone());
            let n = c.recv(&b, Instant(0));
            assert!(n <= kept.len(), "consumed more than given");
            kept.drain(..n);
            owner(&mut c, role, method, &mut log, &mut opened);
            if n == 0 || kept.is_empty() {
                break;
            }
        }
    }
    c.recv_eof(Instant(0));
    owner(&mut c, role, method, &mut log, &mut opened);
    c.audit().expect("HTTP/1.1 audit");
    assert_eq!(c.recv_credit_outstanding(), 0, "credit not given back");
    log
}

/// One request per run: bytes after its answer are unexpected whatever the cuts (with a
/// second request out, where they were cut would decide whether they answer it).
fn open(c: &mut H1Conn, method: &[u8], opened: &mut u32) {
    if *opened < 1 && c.can_open_stream() {
        let end = method != b"POST";
        if let Ok(id) = c.open_stream(Message::request(method, b"http", b"up", b"/x"), end) {
            *opened += 1;
            if !end {
                let _ = c.send_data(id, Bytes::from_static(b"body"), true);
            }
        }
    }
}

/// What the relay would do: pass bodies on (credit back), answer requests, detach streams
/// whose work is done, open the next request.
fn owner(c: &mut H1Conn, role: Side, method: &[u8], log: &mut Log, opened: &mut u32) {
    for _ in 0..64 {
        let mut out = Vec::new();
        c.drain_output(&mut out);
        log.out.extend_from_slice(&out);
        let mut moved = !out.is_empty();
        let mut live: Vec<StreamId> = Vec::new();
        while let Some(e) = c.poll_event() {
            moved = true;
            log.event(&e);
            // A request is answered once it ended, as an upstream that reads it all would:
            // the answer then does not depend on where the input was cut.
            match e {
                Event::Data {
                    stream,
                    data,
                    end_stream,
                } => {
                    c.release_capacity(stream, data.len());
                    if end_stream {
                        live.push(stream);
                    }
                }
                Event::Headers {
                    stream,
                    end_stream: true,
                    ..
                }
                | Event::Trailers { stream, .. } => live.push(stream),
                _ => {}
            }
        }
        if role == Side::Frontend {
            for id in live {
                let _ = c.send_headers(id, Message::response(200), false);
                let _ = c.send_data(id, Bytes::from_static(b"ok"), true);
            }
        }
        for id in [1u32, 3, 5, 7, 9, 11, 13, 15, 17] {
            let id = StreamId::new(id);
            if matches!(
                c.stream_state(id),
                Some(h2mux::stream::State::Closed | h2mux::stream::State::Reset(_))
            ) {
                c.detach(id);
                moved = true;
            }
        }
        if role == Side::Backend {
            let before = *opened;
            open(c, method, opened);
            moved |= *opened != before;
        }
        if !moved {
            return;
        }
    }
}

fn both(role: Side, data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let method: &[u8] = match sel >> 1 & 3 {
        0 => b"GET",
        1 => b"HEAD",
        2 => b"POST",
        _ => b"OPTIONS",
    };
    let mut whole = run(role, sel, method, rest, 0);
    let step = usize::from(sel >> 3) % 7 + 1;
    let mut cut = run(role, sel, method, rest, step);
    // A response head written after a later request was found bad says it closes; one
    // written before that was read cannot: the only difference cuts may make.
    for log in [&mut whole, &mut cut] {
        log.out = without(&log.out, b"connection: close\r\n");
        if role == Side::Backend {
            // Bytes past a complete response are unexpected when they come with it, and the
            // start of the next response when they come after the next request went out:
            // either way the connection fails, with a reason and a stream that depend on
            // the cut. What came before the failure must not.
            if let Some(at) = log.events.iter().position(|(e, _)| e.starts_with("Failed")) {
                log.events.truncate(at);
                while log
                    .events
                    .last()
                    .is_some_and(|(e, _)| e.starts_with("Reset"))
                {
                    log.events.pop();
                }
                log.events.push(("Failed".into(), Vec::new()));
            }
            log.out.clear();
        }
    }
    assert_eq!(whole, cut, "cut every {step} bytes, the events differ");
}

fn without(hay: &[u8], needle: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(needle) {
            i += needle.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// Server role: the bytes are a client's.
pub fn server(data: &[u8]) {
    both(Side::Frontend, data);
}

/// Client role: the bytes are an upstream's answers.
pub fn client(data: &[u8]) {
    both(Side::Backend, data);
}
