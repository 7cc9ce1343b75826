use super::*;
use crate::frame::{self, flags, FrameType, PREFACE};
use crate::hpack::Encoder;
use crate::message::MessageError;
use crate::testkit::{RawClient, Rng};

fn walk(bytes: &[u8]) -> Report {
    inspect(bytes, &Options::default())
}

fn walk_as(bytes: &[u8], direction: Direction) -> Report {
    inspect(
        bytes,
        &Options {
            direction,
            ..Options::default()
        },
    )
}

fn kinds(r: &Report) -> Vec<FrameType> {
    r.frames.iter().map(|f| f.header.kind).collect()
}

fn fields(b: &HeaderBlock) -> Vec<(String, String)> {
    b.fields
        .iter()
        .map(|f| {
            (
                String::from_utf8_lossy(&f.name).into_owned(),
                String::from_utf8_lossy(&f.value).into_owned(),
            )
        })
        .collect()
}

fn failure(r: &Report) -> (Violation, ErrorCode) {
    let f = r.failure.expect("a connection error");
    assert_eq!(r.end, End::Failed);
    (f.violation, f.violation.code())
}

/// A block of these fields from one encoder (HPACK state carried across calls).
fn block(enc: &mut Encoder, list: &[(&str, &str)]) -> Vec<u8> {
    let mut b = Vec::new();
    enc.encode(
        list.iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes(), false)),
        &mut b,
    );
    b
}

fn server_start() -> Vec<u8> {
    let mut out = Vec::new();
    frame::write_settings(&mut out, &[(frame::setting::MAX_CONCURRENT_STREAMS, 100)]);
    out
}

#[test]
fn a_client_exchange_frame_by_frame() {
    let mut c = RawClient::new();
    c.out.truncate(PREFACE.len());
    frame::write_settings(
        &mut c.out,
        &[
            (frame::setting::ENABLE_PUSH, 0),
            (frame::setting::INITIAL_WINDOW_SIZE, 1 << 20),
        ],
    );
    frame::write_window_update(&mut c.out, StreamId::ZERO, 1_000_000);
    c.get(1, true);
    c.get(3, false);
    // DATA padded with 4 bytes: pad length 4, content "hello".
    c.raw(FrameType::Data, flags::PADDED, 3, b"\x04hello\0\0\0\0");
    c.raw(FrameType::Data, flags::END_STREAM, 3, b"!");
    c.raw(FrameType::Ping, 0, 0, b"12345678");
    c.raw(FrameType::Priority, 0, 5, &[0, 0, 0, 3, 15]);
    c.raw(FrameType::Unknown(0xfa), 0x3, 7, b"ext");
    c.raw(FrameType::Settings, flags::ACK, 0, b"");
    frame::write_goaway(&mut c.out, StreamId::new(3), ErrorCode::NoError, b"bye");
    let bytes = c.take();
    let r = walk(&bytes);
    assert_eq!(r.end, End::Complete);
    assert!(r.failure.is_none());
    assert!(r.preface);
    assert_eq!(r.direction, Direction::Client);
    assert_eq!(r.decoded, bytes.len());
    use FrameType as T;
    assert_eq!(
        kinds(&r),
        [
            T::Settings,
            T::WindowUpdate,
            T::Headers,
            T::Headers,
            T::Data,
            T::Data,
            T::Ping,
            T::Priority,
            T::Unknown(0xfa),
            T::Settings,
            T::GoAway
        ]
    );
    assert_eq!(r.frames[0].offset, PREFACE.len());
    assert_eq!(
        r.frames[0].payload,
        Payload::Settings {
            ack: false,
            entries: vec![(2, 0), (4, 1 << 20)]
        }
    );
    assert_eq!(r.frames[1].payload, Payload::WindowUpdate(1_000_000));
    assert_eq!(
        r.frames[4].payload,
        Payload::Data {
            len: 5,
            pad: Some(4)
        }
    );
    assert_eq!(r.frames[5].payload, Payload::Data { len: 1, pad: None });
    assert_eq!(
        r.frames[6].payload,
        Payload::Ping {
            ack: false,
            data: *b"12345678"
        }
    );
    assert!(matches!(r.frames[7].payload, Payload::Priority(p) if p.weight == 15));
    assert_eq!(r.frames[8].payload, Payload::Skipped);
    assert_eq!(
        r.frames[10].payload,
        Payload::GoAway {
            last_stream: StreamId::new(3),
            code: ErrorCode::NoError,
            debug: b"bye".to_vec(),
            debug_len: 3
        }
    );
    assert!(r.frames.iter().all(|f| f.stream_error.is_none()));
    // Two requests; the second block is shorter (indexed from the dynamic table) and
    // decodes to the same fields.
    assert_eq!(r.blocks.len(), 2);
    assert_eq!(r.frames[2].block, Some(0));
    assert_eq!(r.frames[3].block, Some(1));
    let want = [
        (":method", "GET"),
        (":scheme", "https"),
        (":authority", "example.com"),
        (":path", "/"),
    ]
    .map(|(n, v)| (n.to_string(), v.to_string()));
    assert_eq!(fields(&r.blocks[0]), want);
    assert_eq!(fields(&r.blocks[1]), want);
    assert!(r.frames[3].header.len < r.frames[2].header.len);
    assert!(r.blocks[0].table_entries > 0);
    assert_eq!(r.blocks[0].kind, Some(BlockKind::Request));
    assert!(r.blocks[0].end_stream);
    // The timeline: stream 1 ended by its head, 3 by DATA, 5 named by PRIORITY only.
    let streams: Vec<_> = r
        .streams
        .iter()
        .map(|s| (s.id.value(), s.frames.clone(), s.state))
        .collect();
    assert_eq!(
        streams,
        [
            (1, vec![2], StreamState::Ended),
            (3, vec![3, 4, 5], StreamState::Ended),
            (5, vec![7], StreamState::Idle),
            (7, vec![8], StreamState::Idle),
        ]
    );
}

#[test]
fn a_server_exchange_is_told_without_a_preface() {
    let mut enc = Encoder::new(4096);
    let mut out = server_start();
    let head = block(&mut enc, &[(":status", "200"), ("content-length", "3")]);
    frame::write_header_block(&mut out, StreamId::new(1), &head, false, 16_384);
    frame::write_data(&mut out, StreamId::new(1), b"abc", false);
    let trailers = block(&mut enc, &[("grpc-status", "0")]);
    frame::write_header_block(&mut out, StreamId::new(1), &trailers, true, 16_384);
    // A 1xx, then a 204 ending the stream.
    let early = block(&mut enc, &[(":status", "103"), ("link", "</a>")]);
    frame::write_header_block(&mut out, StreamId::new(3), &early, false, 16_384);
    let done = block(&mut enc, &[(":status", "204")]);
    frame::write_header_block(&mut out, StreamId::new(3), &done, true, 16_384);
    frame::write_rst_stream(&mut out, StreamId::new(5), ErrorCode::Cancel);
    for direction in [Direction::Auto, Direction::Server] {
        let r = walk_as(&out, direction);
        assert_eq!(r.end, End::Complete, "{direction:?}");
        assert!(!r.preface);
        assert_eq!(r.direction, Direction::Server);
        assert!(r.frames.iter().all(|f| f.stream_error.is_none()));
        assert_eq!(r.blocks.len(), 4);
        assert_eq!(r.blocks[1].kind, Some(BlockKind::Trailers));
        assert_eq!(fields(&r.blocks[1]), [("grpc-status".into(), "0".into())]);
        assert_eq!(fields(&r.blocks[2])[1], ("link".into(), "</a>".into()));
        let states: Vec<_> = r.streams.iter().map(|s| (s.id.value(), s.state)).collect();
        assert_eq!(
            states,
            [
                (1, StreamState::Ended),
                (3, StreamState::Ended),
                (5, StreamState::ResetBySender)
            ]
        );
        assert_eq!(r.frames[6].payload, Payload::RstStream(ErrorCode::Cancel));
    }
}

#[test]
fn continuation_is_one_block() {
    let mut c = RawClient::new();
    let mut enc = Encoder::new(4096);
    let b = block(
        &mut enc,
        &[
            (":method", "POST"),
            (":scheme", "http"),
            (":authority", "a"),
            (":path", "/upload"),
            ("x-long", &"v".repeat(40)),
        ],
    );
    // HEADERS (padded, with a priority block) + two CONTINUATIONs.
    let (a, rest) = b.split_at(5);
    let (m, z) = rest.split_at(10);
    let mut p = vec![2u8, 0, 0, 0, 0, 7];
    p.extend_from_slice(a);
    p.extend_from_slice(&[0, 0]);
    c.raw(
        FrameType::Headers,
        flags::PADDED | flags::PRIORITY | flags::END_STREAM,
        1,
        &p,
    );
    c.raw(FrameType::Continuation, 0, 1, m);
    c.raw(FrameType::Continuation, flags::END_HEADERS, 1, z);
    let r = walk(&c.take());
    assert_eq!(r.end, End::Complete, "{:?}", r.failure);
    assert_eq!(r.blocks.len(), 1);
    let blk = &r.blocks[0];
    assert_eq!(blk.frames, [1, 2, 3]);
    assert!(blk.end_stream);
    assert_eq!(fields(blk)[4].1, "v".repeat(40));
    assert_eq!(r.frames[3].block, Some(0));
    assert_eq!(r.frames[1].block, None);
    let Payload::Headers {
        fragment,
        pad,
        priority,
    } = &r.frames[1].payload
    else {
        panic!("{:?}", r.frames[1].payload)
    };
    assert_eq!((*fragment, *pad), (5, Some(2)));
    assert_eq!(priority.map(|p| p.weight), Some(7));
    assert_eq!(r.frames[2].payload, Payload::Continuation { fragment: 10 });
}

#[test]
fn hpack_state_carries_across_blocks_and_size_updates() {
    let mut enc = Encoder::new(4096);
    let mut out = server_start();
    let first = block(&mut enc, &[(":status", "200"), ("x-custom", "one")]);
    frame::write_header_block(&mut out, StreamId::new(1), &first, true, 16_384);
    // The encoder shrinks its table to 0 (a size update at the block's start), then
    // indexes nothing more.
    enc.set_peer_max_table_size(0);
    let second = block(&mut enc, &[(":status", "200"), ("x-custom", "one")]);
    assert_eq!(second.first().map(|b| b & 0xe0), Some(0x20));
    frame::write_header_block(&mut out, StreamId::new(3), &second, true, 16_384);
    let r = walk(&out);
    assert_eq!(r.end, End::Complete, "{:?}", r.failure);
    assert_eq!(r.blocks[0].table_entries, 1);
    assert_eq!(r.blocks[1].table_entries, 0);
    assert_eq!(r.blocks[1].table_size, 0);
    assert_eq!(fields(&r.blocks[0]), fields(&r.blocks[1]));
    // A reference to the evicted entry is now out of the table.
    let mut bad = out.clone();
    frame::write_header_block(&mut bad, StreamId::new(5), &[0x88, 0xbe], true, 16_384);
    let r = walk(&bad);
    assert_eq!(
        failure(&r),
        (
            Violation::Hpack(crate::hpack::HpackError::BadIndex),
            ErrorCode::CompressionError
        )
    );
    assert_eq!(r.failure.map(|f| f.frame), Some(Some(3)));
}

/// What a case writes after the preface, and the rule it must break.
type Case = (&'static str, Box<dyn Fn(&mut RawClient)>, Violation);

#[test]
fn connection_errors_stop_the_walk() {
    use crate::frame::FrameError as F;
    use crate::hpack::HpackError as H;
    let cases: Vec<Case> = vec![
        (
            "SETTINGS of 5 bytes",
            Box::new(|c| c.raw(FrameType::Settings, 0, 0, &[0; 5])),
            Violation::Frame(F::BadLength(FrameType::Settings)),
        ),
        (
            "SETTINGS on a stream",
            Box::new(|c| c.raw(FrameType::Settings, 0, 1, b"")),
            Violation::Frame(F::WrongStream(FrameType::Settings)),
        ),
        (
            "index out of range",
            Box::new(|c| c.raw(FrameType::Headers, flags::END_HEADERS, 1, &[0xff, 0x7f])),
            Violation::Hpack(H::BadIndex),
        ),
        (
            "truncated literal",
            Box::new(|c| {
                c.raw(
                    FrameType::Headers,
                    flags::END_HEADERS,
                    1,
                    &[0x40, 0x05, b'a'],
                )
            }),
            Violation::Hpack(H::Truncated),
        ),
        (
            "frame above max_frame_size",
            Box::new(|c| c.raw(FrameType::Data, 0, 1, &[0; 16_385])),
            Violation::Frame(F::TooLarge),
        ),
        (
            "PUSH_PROMISE",
            Box::new(|c| c.raw(FrameType::PushPromise, flags::END_HEADERS, 1, &[0, 0, 0, 2])),
            Violation::Frame(F::PushPromise),
        ),
        (
            "CONTINUATION alone",
            Box::new(|c| c.raw(FrameType::Continuation, flags::END_HEADERS, 1, b"")),
            Violation::ContinuationWithoutHeaders,
        ),
        (
            "block interrupted",
            Box::new(|c| {
                let b = c.block("/");
                c.raw(FrameType::Headers, 0, 1, &b);
                c.raw(FrameType::Ping, 0, 0, &[0; 8]);
            }),
            Violation::HeaderBlockInterrupted,
        ),
        (
            "DATA on an idle stream",
            Box::new(|c| c.raw(FrameType::Data, 0, 1, b"x")),
            Violation::DataOnIdleStream,
        ),
        (
            "padding too long",
            Box::new(|c| {
                c.get(1, false);
                c.raw(FrameType::Data, flags::PADDED, 1, &[3, 0, 0]);
            }),
            Violation::Frame(F::PaddingTooLong(FrameType::Data)),
        ),
        (
            "zero connection WINDOW_UPDATE",
            Box::new(|c| c.raw(FrameType::WindowUpdate, 0, 0, &[0; 4])),
            Violation::ZeroConnectionWindowUpdate,
        ),
        (
            "even stream",
            Box::new(|c| c.get(2, true)),
            Violation::EvenStreamId,
        ),
        (
            "stream id regression",
            Box::new(|c| {
                c.get(5, true);
                c.get(3, true);
            }),
            Violation::StreamIdRegression,
        ),
        (
            "RST_STREAM on an idle stream",
            Box::new(|c| c.raw(FrameType::RstStream, 0, 9, &[0, 0, 0, 8])),
            Violation::RstStreamOnIdleStream,
        ),
        (
            "bad setting",
            Box::new(|c| c.raw(FrameType::Settings, 0, 0, &[0, 2, 0, 0, 0, 2])),
            Violation::Frame(F::BadSetting(frame::setting::ENABLE_PUSH)),
        ),
        (
            "too many settings",
            Box::new(|c| c.raw(FrameType::Settings, 0, 0, &[0; 6 * 33])),
            Violation::TooManySettingsEntries,
        ),
        (
            "headers after the sender's reset",
            Box::new(|c| {
                c.get(1, false);
                c.raw(FrameType::RstStream, 0, 1, &[0, 0, 0, 8]);
                let b = c.block("/");
                c.raw(
                    FrameType::Headers,
                    flags::END_HEADERS | flags::END_STREAM,
                    1,
                    &b,
                );
            }),
            Violation::HeadersAfterReset,
        ),
        (
            "too many CONTINUATIONs",
            Box::new(|c| {
                c.raw(FrameType::Headers, 0, 1, b"");
                for _ in 0..40 {
                    c.raw(FrameType::Continuation, 0, 1, b"");
                }
            }),
            Violation::TooManyContinuations,
        ),
        (
            "header block too large",
            Box::new(|c| {
                c.raw(FrameType::Headers, 0, 1, &[0x82; 16_000]);
                c.raw(FrameType::Continuation, 0, 1, &[0x82; 16_000]);
                c.raw(FrameType::Continuation, 0, 1, &[0x82; 16_000]);
            }),
            Violation::HeaderBlockTooLarge,
        ),
    ];
    for (what, build, want) in cases {
        let mut c = RawClient::new();
        build(&mut c);
        // A frame after the error that must not be reached.
        c.raw(FrameType::Ping, 0, 0, b"unseen!!");
        let bytes = c.take();
        let r = walk(&bytes);
        let (got, code) = failure(&r);
        assert_eq!(got, want, "{what}");
        assert_eq!(code, want.code(), "{what}");
        assert!(!want.name().is_empty());
        let f = r.failure.unwrap();
        let last = r.frames.last().unwrap();
        assert_eq!(
            Some(r.frames.len() - 1),
            f.frame,
            "{what}: stops at the frame"
        );
        assert_eq!(last.offset, f.offset, "{what}");
        assert!(
            !matches!(last.payload, Payload::Ping { data, .. } if &data == b"unseen!!"),
            "{what}"
        );
        assert!(r.decoded < bytes.len(), "{what}");
    }
}

#[test]
fn the_first_frame_and_the_preface() {
    // Not SETTINGS first.
    let mut c = RawClient::new();
    c.out.truncate(PREFACE.len());
    c.raw(FrameType::Ping, 0, 0, &[0; 8]);
    assert_eq!(
        failure(&walk(&c.take())).0,
        Violation::FirstFrameNotSettings
    );
    let mut ping = Vec::new();
    frame::write_ping(&mut ping, false, [0; 8]);
    assert_eq!(
        failure(&walk_as(&ping, Direction::Server)).0,
        Violation::UpstreamNotHttp2
    );
    // Mid-connection bytes are fine when not from the start.
    let r = inspect(
        &ping,
        &Options {
            from_start: false,
            ..Options::default()
        },
    );
    assert_eq!(r.end, End::Complete);
    // A broken preface, an HTTP/1.1 request and response: the same answer however the
    // bytes would have been cut.
    let r = walk(b"PRI * HTTP/1.1\r\n\r\nSM\r\n\r\n");
    assert_eq!(failure(&r).0, Violation::InvalidPreface);
    assert_eq!(r.failure.unwrap().frame, None);
    let r = walk(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(failure(&r).0, Violation::Http1Request);
    assert_eq!(r.direction, Direction::Client);
    assert_eq!(
        failure(&walk(b"HTTP/1.1 200 OK\r\n\r\n")).0,
        Violation::Http1Response
    );
    // A preface cut short waits for more.
    assert_eq!(walk(&PREFACE[..10]).end, End::Incomplete { offset: 0 });
    assert_eq!(walk(b"").end, End::Complete);
}

#[test]
fn stream_errors_reset_one_stream_and_the_walk_goes_on() {
    let mut c = RawClient::new();
    c.get(1, true);
    c.raw(FrameType::Data, 0, 1, b"late");
    c.raw(FrameType::Data, 0, 1, b"dropped");
    // A malformed request: an upper-case name.
    let b = block(
        &mut c.enc,
        &[
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", "a"),
            (":path", "/"),
            ("Bad", "x"),
        ],
    );
    c.raw(
        FrameType::Headers,
        flags::END_HEADERS | flags::END_STREAM,
        3,
        &b,
    );
    // content-length 2 with 3 bytes of DATA.
    let b = block(
        &mut c.enc,
        &[
            (":method", "POST"),
            (":scheme", "http"),
            (":authority", "a"),
            (":path", "/"),
            ("content-length", "2"),
        ],
    );
    c.raw(FrameType::Headers, flags::END_HEADERS, 5, &b);
    c.raw(FrameType::Data, flags::END_STREAM, 5, b"abc");
    c.get(7, false);
    c.raw(FrameType::WindowUpdate, 0, 7, &[0; 4]);
    // PRIORITY of the wrong length: the one frame error that costs only its stream; a
    // request may still open that stream.
    c.raw(FrameType::Priority, 0, 9, &[0, 0, 0, 1]);
    c.get(9, true);
    c.raw(FrameType::Ping, 0, 0, b"reached!");
    let r = walk(&c.take());
    assert_eq!(r.end, End::Complete, "{:?}", r.failure);
    let errors: Vec<_> = r
        .frames
        .iter()
        .enumerate()
        .filter_map(|(i, f)| f.stream_error.map(|v| (i, f.header.stream.value(), v)))
        .collect();
    use crate::frame::FrameError as F;
    assert_eq!(
        errors,
        [
            (2, 1, Violation::DataAfterEndStream),
            (4, 3, Violation::Message(MessageError::UppercaseName)),
            (6, 5, Violation::Message(MessageError::BodyTooLong)),
            (8, 7, Violation::ZeroWindowUpdate),
            (9, 9, Violation::Frame(F::BadLength(FrameType::Priority))),
        ]
    );
    assert_eq!(errors[0].2.code(), ErrorCode::StreamClosed);
    assert_eq!(errors[4].2.code(), ErrorCode::FrameSizeError);
    assert_eq!(
        r.blocks[1].error,
        Some(Violation::Message(MessageError::UppercaseName))
    );
    assert_eq!(fields(&r.blocks[1])[4], ("Bad".into(), "x".into()));
    let states: Vec<_> = r.streams.iter().map(|s| (s.id.value(), s.state)).collect();
    assert_eq!(
        states,
        [
            (1, StreamState::ResetByReceiver),
            (3, StreamState::ResetByReceiver),
            (5, StreamState::ResetByReceiver),
            (7, StreamState::ResetByReceiver),
            (9, StreamState::Ended),
        ]
    );
    assert_eq!(
        r.blocks.last().map(|b| (b.stream.value(), b.error)),
        Some((9, None))
    );
    assert!(matches!(r.frames[11].payload, Payload::Ping { data, .. } if &data == b"reached!"));
}

#[test]
fn bounds() {
    let mut c = RawClient::new();
    for i in 0..10 {
        c.get(1 + 2 * i, true);
    }
    let bytes = c.take();
    let opts = |f: &dyn Fn(&mut Options)| {
        let mut o = Options::default();
        f(&mut o);
        o
    };
    let r = inspect(&bytes, &opts(&|o| o.max_frames = 3));
    assert_eq!((r.end, r.frames.len()), (End::FrameLimit, 3));
    assert_eq!(
        r.decoded,
        r.frames[2].offset + 9 + r.frames[2].header.len as usize
    );
    let r = inspect(&bytes, &opts(&|o| o.max_bytes = 60));
    assert_eq!(r.end, End::ByteLimit);
    assert!(r.decoded <= 60);
    let third = walk(&bytes).frames[2].offset;
    let r = inspect(&bytes, &opts(&|o| o.max_bytes = third));
    assert_eq!(
        (r.end, r.frames.len(), r.decoded),
        (End::ByteLimit, 2, third)
    );
    // The field budget: blocks are still decoded and checked, their fields not kept.
    let r = inspect(&bytes, &opts(&|o| o.max_kept_bytes = 100));
    assert_eq!(r.end, End::Complete);
    assert_eq!(r.blocks.len(), 10);
    assert!(!r.blocks[0].fields_cut);
    assert!(r.blocks[9].fields_cut && r.blocks[9].fields.is_empty());
    assert!(
        r.blocks
            .iter()
            .map(|b| b
                .fields
                .iter()
                .map(|f| f.name.len() + f.value.len())
                .sum::<usize>())
            .sum::<usize>()
            <= 100
    );
    // The input ends inside a payload and inside a header.
    let r = walk(&bytes[..bytes.len() - 3]);
    let last = r.frames.last().unwrap();
    assert_eq!(
        r.end,
        End::Incomplete {
            offset: last.offset
        }
    );
    assert!(
        matches!(last.payload, Payload::Partial { have } if have + 3 == last.header.len as usize)
    );
    let r = walk(&bytes[..PREFACE.len() + 4]);
    assert_eq!(
        r.end,
        End::Incomplete {
            offset: PREFACE.len()
        }
    );
    assert!(r.frames.is_empty());
}

#[test]
fn hostile_bytes_never_panic() {
    let mut rng = Rng::new(11);
    let mut c = RawClient::new();
    for i in 0..20 {
        c.get(1 + 2 * i, i % 2 == 0);
        c.raw(FrameType::Data, flags::END_STREAM, 3 + 4 * i, b"body");
    }
    let good = c.take().to_vec();
    for round in 0..3000 {
        let mut b = good.clone();
        let n = 1 + rng.below(8);
        for _ in 0..n {
            let at = rng.below(b.len());
            b[at] = rng.byte();
        }
        if round % 3 == 0 {
            b.truncate(rng.below(b.len() + 1));
        }
        let direction = rng.pick(&[Direction::Auto, Direction::Client, Direction::Server]);
        let r = walk_as(&b, direction);
        assert!(r.decoded <= b.len());
        assert!(r.frames.len() <= Options::default().max_frames);
        if r.end == End::Failed {
            assert!(r.failure.is_some());
        }
        // Random bytes too.
        let junk: Vec<u8> = (0..rng.below(300)).map(|_| rng.byte()).collect();
        let _ = walk_as(&junk, direction);
    }
}
