//! Random headers and payloads through validate and every parser: nothing may panic, and
//! what validate accepts the parsers must be able to read.

use super::*;
use crate::error::ErrorCode;
use crate::stream::StreamId;
use crate::testkit::Rng;

fn random_header(rng: &mut Rng) -> [u8; 9] {
    let mut b = [0u8; 9];
    b.iter_mut().for_each(|x| *x = rng.byte());
    // Most lengths small so payloads can match them; most types known.
    if rng.below(4) != 0 {
        let len = rng.below(40) as u32;
        b[..3].copy_from_slice(&len.to_be_bytes()[1..]);
    }
    if rng.below(4) != 0 {
        b[3] = rng.below(11) as u8;
    }
    if rng.below(3) == 0 {
        b[5..].fill(0);
    }
    b
}

#[test]
fn random_frames_never_panic() {
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let mut accepted = 0u32;
    for _ in 0..200_000 {
        let raw = random_header(&mut rng);
        let h = FrameHeader::parse(&raw);
        let max = match rng.below(4) {
            0 => rng.next_u64() as u32,
            1 => MAX_MAX_FRAME_SIZE,
            _ => DEFAULT_MAX_FRAME_SIZE,
        };
        let verdict = validate(&h, max);
        // Usually the payload the header announces, sometimes a mismatched one.
        let plen = if rng.below(8) == 0 || h.len > 64 {
            rng.below(64)
        } else {
            h.len as usize
        };
        let p = rng.bytes(plen);
        let first = p.first().copied().unwrap_or(0);

        let _ = parse_priority(&p);
        let _ = headers_fragment(&h, &p);
        let _ = data_padding(&h, first);
        let _ = parse_rst_stream(&p);
        let _ = parse_ping(&p);
        let _ = parse_goaway(&p);
        let _ = parse_window_update(&p);
        for (id, v) in settings_entries(&p) {
            let _ = check_setting(id, v);
        }

        if verdict.is_err() || plen != h.len as usize {
            continue;
        }
        accepted += 1;
        match h.kind {
            FrameType::Priority => assert!(parse_priority(&p).is_some()),
            FrameType::RstStream => assert!(parse_rst_stream(&p).is_some()),
            FrameType::Ping => assert!(parse_ping(&p).is_some()),
            FrameType::GoAway => assert!(parse_goaway(&p).is_some()),
            FrameType::WindowUpdate => assert!(parse_window_update(&p).is_some()),
            FrameType::Settings => assert_eq!(settings_entries(&p).count() * 6, p.len()),
            FrameType::Headers => {
                // Only the padding rule is left for headers_fragment to catch.
                if let Err(e) = headers_fragment(&h, &p) {
                    assert_eq!(e.code(), ErrorCode::ProtocolError, "{h:?}");
                }
            }
            FrameType::Data => {
                if let Err(e) = data_padding(&h, first) {
                    assert_eq!(e.code(), ErrorCode::ProtocolError, "{h:?}");
                }
            }
            _ => {}
        }
    }
    assert!(
        accepted > 10_000,
        "too few frames got past validate: {accepted}"
    );
}

#[test]
fn random_header_blocks_round_trip() {
    let mut rng = Rng::new(42);
    for _ in 0..2_000 {
        let n = rng.below(300);
        let block = rng.bytes(n);
        let max = rng.below(70) as u32; // includes 0, clamped to 1
        let mut out = Vec::new();
        write_header_block(&mut out, StreamId::new(1), &block, rng.below(2) == 0, max);
        assert_eq!(out.len(), header_block_len(block.len(), max));
        let mut wire = out.as_slice();
        let mut joined = Vec::new();
        let mut first = true;
        while let Some((raw, rest)) = wire.split_first_chunk::<HEADER_LEN>() {
            let h = FrameHeader::parse(raw);
            let want = if first {
                FrameType::Headers
            } else {
                FrameType::Continuation
            };
            assert_eq!(h.kind, want);
            assert!(h.len <= max.max(1));
            let (payload, rest) = rest.split_at(h.len as usize);
            joined.extend_from_slice(payload);
            wire = rest;
            first = false;
            assert_eq!(h.has(flags::END_HEADERS), wire.is_empty());
        }
        assert!(wire.is_empty());
        assert_eq!(joined, block);
    }
}
