//! Writes seed inputs for the fuzz targets, made from valid streams that h2mux itself
//! produces: `make-seeds [DIR]` (default `seeds`) writes DIR/{frontend,backend,relay,hpack}/*.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use h2mux::buffer::BufferPool;
use h2mux::conn::{Connection, Event};
use h2mux::frame::{FrameHeader, PREFACE};
use h2mux::hpack::Encoder;
use h2mux::limits::Config;
use h2mux::message::{Fields, Message};
use h2mux::testkit::Pair;
use h2mux::{Instant, Side};
use h2mux_fuzz::conn::{self, Script, *};
use h2mux_fuzz::hpack::{
    self, BLOCK_RAW, BLOCK_REQUEST, BLOCK_RESIZE_PAIR, BLOCK_RESPONSE, BLOCK_TRAILERS,
};
use h2mux_fuzz::relay::{self, Setup};

/// A request of the seeds: selector for `conn::request`, and a body length (0: none).
type Req = (u8, usize);

const REQS: &[Req] = &[(0, 0), (1, 300), (5, 0), (2, 0), (1, 20)];

fn pool() -> BufferPool {
    BufferPool::new(16_384, 64 * 16_384, 4)
}

fn trailers() -> Fields {
    let mut t = Fields::new();
    t.push(b"x-checksum", b"abc", false);
    t
}

fn open(c: &mut Connection, reqs: &[Req]) {
    for &(sel, body) in reqs {
        let mut m = conn::request(sel);
        m.fields.push(b"user-agent", b"seed/1.0", false);
        let id = c.open_stream(m, body == 0).expect("open_stream");
        if body > 0 {
            c.send_data(id, Bytes::from(vec![b'b'; body]), false)
                .expect("send_data");
            c.send_trailers(id, trailers()).expect("send_trailers");
        }
    }
}

/// What a client writes for `reqs`, preface included, before any answer.
fn client_bytes(reqs: &[Req]) -> Vec<u8> {
    let mut pool = pool();
    let mut c = Connection::new(Side::Backend, Arc::new(Config::default()), 1, Instant(0));
    open(&mut c, reqs);
    c.ping(*b"seedping");
    let mut out = Vec::new();
    c.drain_output(&mut pool, &mut out, usize::MAX, Instant(0));
    out
}

/// Drops the client preface (if any) and the first frame (SETTINGS).
fn strip_first_settings(mut b: &[u8]) -> &[u8] {
    if b.starts_with(PREFACE) {
        b = &b[PREFACE.len()..];
    }
    let h = FrameHeader::parse(b[..9].try_into().expect("frame header"));
    &b[9 + h.len as usize..]
}

/// What a server writes back while answering `reqs` from a client that behaves.
fn server_bytes(reqs: &[Req]) -> Vec<u8> {
    let mut p = Pair::new(Config::default(), Config::default());
    open(&mut p.client, reqs);
    let answer = |server: &mut Connection, e: Event| match e {
        Event::Headers {
            stream, message, ..
        } => {
            let head = message.method() == Some(b"HEAD".as_slice());
            let mut r = Message::response(200);
            r.fields.push(b"content-type", b"text/plain", false);
            server.send_headers(stream, r, head).expect("send_headers");
            if !head {
                server
                    .send_data(stream, Bytes::from_static(b"hello, world"), false)
                    .expect("send_data");
                server.send_trailers(stream, trailers()).expect("trailers");
            }
        }
        Event::Data { stream, data, .. } => server.release_capacity(stream, data.len()),
        _ => {}
    };
    for _ in 0..100 {
        if !p.round_trip(answer, |_, _| {}) {
            break;
        }
    }
    std::mem::take(&mut p.s2c_log)
}

/// Answers the first `n` tracked streams (frontend).
fn respond(s: &mut Script, n: u8) {
    for i in 0..n {
        s.op(HEAD, &[i, i, HEAD_FIELDS]);
        s.op(DATA, &[i, 12, 0]);
        s.op(TRAILERS, &[i]);
        s.op(DRAIN, &[0]);
    }
}

fn release_and_detach(s: &mut Script, n: u8) {
    for i in 0..n {
        s.op(RELEASE, &[i, 0, 0]);
        s.op(DETACH, &[i]);
    }
    s.op(DRAIN, &[0]);
}

fn frontend_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let all = client_bytes(REQS);
    let body = strip_first_settings(&all);
    let n = REQS.len() as u8;
    let mut seeds = Vec::new();

    let mut s = Script::new(conn::setup(false, 0, 0, false));
    s.feed(&all, 100);
    respond(&mut s, n);
    release_and_detach(&mut s, n);
    seeds.push(("raw", s.0));

    let mut s = Script::new(conn::setup(true, 0, 0, false));
    s.feed(body, 37);
    respond(&mut s, n);
    release_and_detach(&mut s, n);
    s.op(TIME, &[0xff, 0xff]).op(TIME, &[0xff, 0xff]);
    s.op(DRAIN, &[0]);
    seeds.push(("prelude", s.0));

    let mut s = Script::new(conn::setup(true, 2, 0, false));
    s.op(HOG, &[]);
    s.feed(body, 500);
    s.op(CONSUME, &[20, 0]).op(UNHOG, &[]).op(RECV, &[]);
    respond(&mut s, n);
    seeds.push(("small-pool", s.0));

    let mut s = Script::new(conn::setup(true, 0, 1, true));
    s.feed(body, 1000);
    s.op(HEAD, &[0, 0, HEAD_FIELDS | HEAD_LENGTH, 5, 0]);
    s.op(DATA, &[0, 5, 1]);
    s.op(HEAD, &[1, 5, 0]);
    s.op(HEAD, &[1, 0, HEAD_BIG | HEAD_SENSITIVE, 0x20, 0x4e]);
    s.op(RESET, &[2, 8]);
    s.op(PING, &[3]).op(SHUTDOWN, &[]);
    s.op(TIME, &[0x80, 0x00]);
    release_and_detach(&mut s, n);
    seeds.push(("polite-small", s.0));

    let mut s = Script::new(conn::setup(true, 0, 2, false));
    s.feed(body, 4000);
    respond(&mut s, n);
    s.op(GOAWAY, &[0]).op(DRAIN, &[1]).op(EOF, &[]);
    seeds.push(("tiny-windows", s.0));

    let mut s = Script::new(conn::setup(true, 0, 3, true));
    s.feed(body, 9);
    respond(&mut s, 2);
    s.op(EOF, &[]);
    seeds.push(("byte-chunks", s.0));

    let mut s = Script::new(conn::setup(false, 0, 0, false));
    s.feed(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", 100);
    seeds.push(("http1", s.0));
    seeds
}

fn backend_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let reqs = &REQS[..4];
    let all = server_bytes(reqs);
    let body = strip_first_settings(&all);
    let open = |s: &mut Script| {
        for (i, &(sel, len)) in reqs.iter().enumerate() {
            let fl = if len == 0 { HEAD_END } else { HEAD_FIELDS };
            s.op(HEAD, &[sel, fl]);
            if len > 0 {
                s.op(DATA, &[i as u8, len.min(254) as u8, 0]);
                s.op(TRAILERS, &[i as u8]);
            }
        }
        s.op(DRAIN, &[0]);
    };
    let mut seeds = Vec::new();

    let mut s = Script::new(conn::setup(false, 0, 0, false));
    open(&mut s);
    s.feed(&all, 64);
    release_and_detach(&mut s, reqs.len() as u8);
    seeds.push(("raw", s.0));

    let mut s = Script::new(conn::setup(true, 0, 0, false));
    open(&mut s);
    s.feed(body, 200);
    release_and_detach(&mut s, reqs.len() as u8);
    s.op(SHUTDOWN, &[]).op(DRAIN, &[0]).op(TIME, &[0xff, 0xff]);
    seeds.push(("prelude", s.0));

    let mut s = Script::new(conn::setup(true, 3, 1, true));
    open(&mut s);
    s.feed(body, 13);
    s.op(PING, &[9]).op(RESET, &[1, 8]);
    seeds.push(("polite-small", s.0));

    let mut s = Script::new(conn::setup(true, 2, 2, false));
    s.op(HOG, &[]);
    open(&mut s);
    s.feed(body, 3000);
    s.op(CONSUME, &[9, 0])
        .op(UNHOG, &[])
        .op(RECV, &[])
        .op(EOF, &[]);
    seeds.push(("tiny-windows", s.0));
    seeds
}

/// Relay scripts. Requests: selector 0 is a GET, 1 a POST (see `conn::request`); a pick of
/// 0 is the peer's most recent stream, 1 the one before.
fn relay_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use relay::{
        ANSWER_CONTINUE, ANSWER_EARLY, ANSWER_LENGTH, ANSWER_TRAILERS, BUFFERS, C_DATA, C_PING,
        C_RESET, DOORBELL, HOG, HOLD, OPEN_END, OPEN_KEEP, OPEN_LENGTH, OPEN_TRAILERS, OUTPUT,
        SETTINGS, TICK, TRIM, WIRE_C2R, WIRE_R2C, WIRE_R2S, WIRE_S2R,
    };
    let mut seeds = Vec::new();

    // A POST with a body and trailers crosses while its answer, also with a body and
    // trailers, comes back; then a GET.
    let mut s = relay::Script::new(Setup::default());
    s.open(1, OPEN_TRAILERS | OPEN_LENGTH, 3000).pump(8);
    s.answer(0, ANSWER_TRAILERS | ANSWER_LENGTH, 5000).pump(8);
    s.open(0, OPEN_END, 0).pump(8);
    s.answer(0, ANSWER_CONTINUE, 100).pump(8);
    seeds.push(("crossing", s.0));

    // An upstream that takes one stream at a time: two request bodies wait in the relay,
    // one of them still growing, and go up as answers free the slot.
    let mut s = relay::Script::new(Setup {
        upstream_streams: 1,
        ..Setup::default()
    });
    s.pump(4);
    s.open(1, OPEN_KEEP, 2000)
        .open(1, OPEN_KEEP, 3000)
        .open(0, OPEN_END, 0)
        .pump(4);
    s.data(C_DATA, 1, 500, true)
        .data(C_DATA, 2, 700, false)
        .pump(4);
    s.data(C_DATA, 2, 10, true).pump(4);
    for _ in 0..3 {
        s.answer(0, ANSWER_TRAILERS, 1200).pump(8);
    }
    seeds.push(("queued-behind-one", s.0));

    // The client resets its stream while an upstream DATA frame is half delivered to the
    // relay; the rest of the frame arrives after the reset.
    let mut s = relay::Script::new(Setup::default());
    s.open(0, OPEN_END, 0).pump(8);
    s.answer(0, 0, 20_000);
    s.deliver(WIRE_S2R, 200)
        .op(OUTPUT, &[3])
        .deliver(WIRE_R2C, 0);
    s.op(C_RESET, &[0, 8]).deliver(WIRE_C2R, 0);
    s.deliver(WIRE_S2R, 100).deliver(WIRE_S2R, 0).pump(8);
    seeds.push(("reset-mid-data", s.0));

    // Many small frames, delivered seven bytes at a time through a small pool.
    let mut s = relay::Script::new(Setup {
        pool: 2,
        ..Setup::default()
    });
    s.open(1, OPEN_KEEP, 1);
    for _ in 0..40 {
        s.data(C_DATA, 0, 1, false);
    }
    for i in 0..5 {
        s.op(C_PING, &[i]).open(0, OPEN_END, 0);
    }
    s.data(C_DATA, 5, 1, true);
    for _ in 0..80 {
        s.deliver(WIRE_C2R, 7).op(OUTPUT, &[3]);
    }
    s.pump(8);
    for i in 0..6 {
        s.answer(i, 0, 10);
    }
    s.pump(8);
    seeds.push(("small-frame-flood", s.0));

    // Two buffers and no reserve, one of them taken by another connection: the relay waits
    // for buffers and small windows make it hold credit. The body waits for the relay's
    // SETTINGS: sent in the first flight, a body above the relay's 1024-byte stream window
    // would be reset (the client may use 65535 until then).
    let mut s = relay::Script::new(Setup {
        pool: 3,
        small_send_queue: true,
        relay_small_window: true,
        ..Setup::default()
    });
    s.pump(4).op(HOG, &[]).open(1, 0, 5000);
    s.deliver(WIRE_C2R, 0).op(OUTPUT, &[3]).op(BUFFERS, &[0]);
    s.deliver(WIRE_C2R, 0).pump(8);
    s.op(HOLD, &[3]).answer(0, 0, 3000).pump(8);
    s.op(HOLD, &[1]).pump(8);
    seeds.push(("tight-pool", s.0));

    // The upstream lowers its stream window and concurrency mid-body, then restores them.
    let mut s = relay::Script::new(Setup {
        upstream_streams: 2,
        ..Setup::default()
    });
    s.pump(4).op(SETTINGS, &[0, 10, 0]);
    s.open(1, 0, 4000).pump(4);
    s.op(SETTINGS, &[1, 0, 0]).op(SETTINGS, &[2, 0, 0]);
    s.deliver(WIRE_S2R, 0).open(0, OPEN_END, 0).pump(4);
    s.op(SETTINGS, &[3, 0, 0]).pump(4);
    s.answer(0, 0, 100).answer(1, 0, 100).pump(8);
    seeds.push(("upstream-settings", s.0));

    // Doorbells: a request waits in the relay for the upstream, so the client is asked for
    // its next bytes with a PING; an answer waits for the client, so the upstream is asked
    // with an empty SETTINGS. Then time passes and the relay trims.
    let mut s = relay::Script::new(Setup::default());
    s.pump(8).open(0, OPEN_END, 0).deliver(WIRE_C2R, 0);
    s.op(DOORBELL, &[2])
        .deliver(WIRE_R2C, 0)
        .deliver(WIRE_C2R, 0);
    s.op(OUTPUT, &[2]).deliver(WIRE_R2S, 0);
    s.answer(0, ANSWER_EARLY, 30).deliver(WIRE_S2R, 0);
    s.op(DOORBELL, &[1])
        .deliver(WIRE_R2S, 0)
        .deliver(WIRE_S2R, 0);
    s.pump(8).op(TICK, &[0x10, 0x27]).pump(8).op(TRIM, &[]);
    seeds.push(("doorbells", s.0));

    // Frames no well-behaved peer sends: DATA on the client's stream behind its back, a
    // huge WINDOW_UPDATE from the upstream, then garbage.
    let mut s = relay::Script::new(Setup::default());
    s.open(1, OPEN_KEEP, 10).pump(8);
    s.inject_frame(false, 0, 0, 0, &[0x55; 100]);
    s.inject_frame(true, 8, 0, 0, &[0x7f, 0xff, 0xff, 0xff]);
    s.pump(8).answer(0, 0, 10).pump(4);
    s.inject_raw(true, b"\x00\x00\x04\x03\x00\x00\x00\x00\x01junk");
    s.pump(8);
    seeds.push(("hostile", s.0));
    seeds
}

fn hpack_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let req = |path: &str, extra: &[(&str, &str)]| {
        let mut m = Message::request(b"GET", b"https", b"www.example.com", path.as_bytes());
        for (n, v) in extra {
            m.fields.push(n.as_bytes(), v.as_bytes(), false);
        }
        m
    };
    let msgs = [
        req("/", &[]),
        req("/", &[("cache-control", "no-cache")]),
        req("/index.html", &[("custom-key", "custom-value")]),
        req(
            "/search?q=1",
            &[("cookie", "a=1; b=2; session=0123456789abcdef")],
        ),
    ];
    let mut seeds = Vec::new();
    for (name, table, cap) in [("requests", 0, 0), ("small-table", 2, 2)] {
        let mut enc = Encoder::new(4096);
        if cap != 0 {
            enc.set_peer_max_table_size(256);
        }
        let mut out = vec![hpack::setup(table, 0, cap)];
        for m in &msgs {
            let mut b = Vec::new();
            let mut fields: Vec<(Vec<u8>, Vec<u8>, bool)> = Vec::new();
            m.for_each_h2_field(&mut |n, v, s| fields.push((n.to_vec(), v.to_vec(), s)));
            enc.encode(
                fields
                    .iter()
                    .map(|(n, v, s)| (n.as_slice(), v.as_slice(), *s)),
                &mut b,
            );
            hpack::put_block(&mut out, BLOCK_REQUEST, &[], &b);
        }
        seeds.push((name, out));
    }

    let mut enc = Encoder::new(4096);
    let mut out = vec![hpack::setup(0, 3, 0)];
    for status in [100u16, 200, 404] {
        let mut m = Message::response(status);
        m.fields.push(b"set-cookie", b"id=42; Secure", true);
        m.fields.push(b"content-length", b"5", false);
        let mut fields: Vec<(Vec<u8>, Vec<u8>, bool)> = Vec::new();
        m.for_each_h2_field(&mut |n, v, s| fields.push((n.to_vec(), v.to_vec(), s)));
        let mut b = Vec::new();
        enc.encode(
            fields
                .iter()
                .map(|(n, v, s)| (n.as_slice(), v.as_slice(), *s)),
            &mut b,
        );
        hpack::put_block(&mut out, BLOCK_RESPONSE | BLOCK_RESIZE_PAIR, &[512], &b);
    }
    seeds.push(("responses", out));

    // Literal fields without Huffman, a size update, and an index into the dynamic table.
    let mut out = vec![hpack::setup(0, 0, 0)];
    let block = [
        0x3f, 0xe1, 0x1f, // size update to 4096
        0x82, // :method GET
        0x40, 0x03, b'f', b'o', b'o', 0x03, b'b', b'a', b'r', // foo: bar, indexed
        0x10, 0x01, b'x', 0x01, b'y', // never indexed
        0xbe, // dynamic index 62
    ];
    hpack::put_block(&mut out, BLOCK_RAW, &[], &block);
    hpack::put_block(&mut out, BLOCK_TRAILERS, &[], &[0xbe, 0xbe]);
    seeds.push(("literals", out));
    seeds
}

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "seeds".into());
    for (target, seeds) in [
        ("frontend", frontend_seeds()),
        ("backend", backend_seeds()),
        ("relay", relay_seeds()),
        ("hpack", hpack_seeds()),
    ] {
        let d = Path::new(&dir).join(target);
        std::fs::create_dir_all(&d).expect("create seed dir");
        for (name, bytes) in seeds {
            // A seed must run clean before it is written.
            match target {
                "frontend" => conn::frontend(&bytes),
                "backend" => conn::backend(&bytes),
                "relay" => println!("relay/{name}: {:?}", relay::run_and_report(&bytes)),
                _ => hpack::run(&bytes),
            }
            std::fs::write(d.join(name), &bytes).expect("write seed");
        }
        println!("{}: seeds written", d.display());
    }
}
