//! RFC 7541 Appendix C, round trips, limits and hostile input.

use super::encoder::HuffmanMode;
use super::*;
use crate::testkit::Rng;

type Field = (Vec<u8>, Vec<u8>, bool);

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(u8::is_ascii_hexdigit)
        .map(|c| (c as char).to_digit(16).unwrap() as u8)
        .collect();
    digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect()
}

fn decode_all(d: &mut Decoder, block: &[u8]) -> Result<Vec<Field>, HpackError> {
    let mut fields = Vec::new();
    let r = d.decode(block, usize::MAX, &mut |n, v, s| {
        fields.push((n.to_vec(), v.to_vec(), s))
    })?;
    assert_eq!(r, Decoded::Complete);
    Ok(fields)
}

fn plain(fields: &[(&str, &str)]) -> Vec<Field> {
    fields
        .iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec(), false))
        .collect()
}

fn pairs(fields: &[(&str, &str)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    fields
        .iter()
        .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
        .collect()
}

fn encode(e: &mut Encoder, fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    e.encode(
        fields
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes(), false)),
        &mut out,
    );
    out
}

/// One step of an RFC example: the block, the fields, the dynamic table after it (newest
/// first) and its size.
struct Step<'a> {
    block: &'a str,
    fields: &'a [(&'a str, &'a str)],
    table: &'a [(&'a str, &'a str)],
    size: usize,
}

fn check_decode_series(table_size: u32, steps: &[Step<'_>]) {
    let mut d = Decoder::new(table_size);
    for (i, step) in steps.iter().enumerate() {
        let got = decode_all(&mut d, &hex(step.block)).unwrap();
        assert_eq!(got, plain(step.fields), "fields of step {i}");
        assert_eq!(
            d.table().entries(),
            pairs(step.table),
            "table after step {i}"
        );
        assert_eq!(d.table_size(), step.size, "table size after step {i}");
    }
}

fn check_encode_series(e: &mut Encoder, steps: &[Step<'_>]) {
    for (i, step) in steps.iter().enumerate() {
        assert_eq!(encode(e, step.fields), hex(step.block), "block of step {i}");
        assert_eq!(
            e.table().entries(),
            pairs(step.table),
            "encoder table after step {i}"
        );
        assert_eq!(e.table().size(), step.size);
    }
}

// ---- C.1 integers ----

#[test]
fn c1_integers() {
    let cases: [(usize, u8, &[u8]); 3] = [
        (10, 5, &[0x0a]),
        (1337, 5, &[0x1f, 0x9a, 0x0a]),
        (42, 8, &[0x2a]),
    ];
    for (value, prefix, bytes) in cases {
        let mut out = Vec::new();
        encode_integer(&mut out, value, prefix, 0);
        assert_eq!(out, bytes, "encode {value}");
        let mut pos = 0;
        assert_eq!(decode_integer(bytes, &mut pos, prefix), Ok(value));
        assert_eq!(pos, bytes.len());
    }
    // The bits above the prefix are not part of the value.
    let mut pos = 0;
    assert_eq!(decode_integer(&[0xea], &mut pos, 5), Ok(10));
}

#[test]
fn integer_limits() {
    for prefix in 1..=8u8 {
        for value in [
            0usize,
            1,
            30,
            31,
            127,
            128,
            255,
            256,
            16383,
            1 << 20,
            u32::MAX as usize,
        ] {
            let mut out = Vec::new();
            encode_integer(&mut out, value, prefix, 0);
            let mut pos = 0;
            assert_eq!(
                decode_integer(&out, &mut pos, prefix),
                Ok(value),
                "{value}/{prefix}"
            );
            assert_eq!(pos, out.len());
            for cut in 0..out.len() {
                let mut pos = 0;
                assert_eq!(
                    decode_integer(&out[..cut], &mut pos, prefix),
                    Err(HpackError::Truncated)
                );
            }
        }
    }
    let mut pos = 0;
    // u32::MAX + 1.
    let mut over = Vec::new();
    encode_integer(&mut over, u32::MAX as usize + 1, 5, 0);
    assert_eq!(
        decode_integer(&over, &mut pos, 5),
        Err(HpackError::IntegerOverflow)
    );
    // Zero-valued continuation bytes: five are tolerated, a sixth is not.
    let mut pos = 0;
    assert_eq!(
        decode_integer(&[0x1f, 0x80, 0x80, 0x80, 0x80, 0x00], &mut pos, 5),
        Ok(31)
    );
    let mut pos = 0;
    assert_eq!(
        decode_integer(&[0x1f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], &mut pos, 5),
        Err(HpackError::IntegerOverflow)
    );
    let mut pos = 0;
    assert_eq!(
        decode_integer(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f], &mut pos, 7),
        Err(HpackError::IntegerOverflow)
    );
}

// ---- C.2 single representations ----

#[test]
fn c2_1_literal_with_indexing() {
    let block = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode_all(&mut d, &block).unwrap(),
        plain(&[("custom-key", "custom-header")])
    );
    assert_eq!(
        d.table().entries(),
        pairs(&[("custom-key", "custom-header")])
    );
    assert_eq!(d.table_size(), 55);

    let mut e = Encoder::new(4096);
    e.set_test_policy(true, HuffmanMode::Never);
    assert_eq!(encode(&mut e, &[("custom-key", "custom-header")]), block);
}

#[test]
fn c2_2_literal_without_indexing() {
    let block = hex("040c 2f73 616d 706c 652f 7061 7468");
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode_all(&mut d, &block).unwrap(),
        plain(&[(":path", "/sample/path")])
    );
    assert!(d.table().entries().is_empty());
    assert_eq!(d.table_size(), 0);
}

#[test]
fn c2_3_literal_never_indexed() {
    let block = hex("1008 7061 7373 776f 7264 0673 6563 7265 74");
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode_all(&mut d, &block).unwrap(),
        vec![(b"password".to_vec(), b"secret".to_vec(), true)]
    );
    assert_eq!(d.table_size(), 0);

    let mut e = Encoder::new(4096);
    e.set_test_policy(false, HuffmanMode::Never);
    let mut out = Vec::new();
    e.encode([(&b"password"[..], &b"secret"[..], true)], &mut out);
    assert_eq!(out, block);
    assert_eq!(e.table().size(), 0);
}

#[test]
fn c2_4_indexed() {
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode_all(&mut d, &[0x82]).unwrap(),
        plain(&[(":method", "GET")])
    );
    assert_eq!(d.table_size(), 0);
    assert_eq!(
        encode(&mut Encoder::new(4096), &[(":method", "GET")]),
        [0x82]
    );
}

// ---- C.3 / C.4 requests ----

const REQ1: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
];
const REQ2: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    (":authority", "www.example.com"),
    ("cache-control", "no-cache"),
];
const REQ3: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    (":authority", "www.example.com"),
    ("custom-key", "custom-value"),
];
const REQ_T1: &[(&str, &str)] = &[(":authority", "www.example.com")];
const REQ_T2: &[(&str, &str)] = &[
    ("cache-control", "no-cache"),
    (":authority", "www.example.com"),
];
const REQ_T3: &[(&str, &str)] = &[
    ("custom-key", "custom-value"),
    ("cache-control", "no-cache"),
    (":authority", "www.example.com"),
];

fn c3_steps() -> [Step<'static>; 3] {
    [
        Step {
            block: "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
            fields: REQ1,
            table: REQ_T1,
            size: 57,
        },
        Step {
            block: "8286 84be 5808 6e6f 2d63 6163 6865",
            fields: REQ2,
            table: REQ_T2,
            size: 110,
        },
        Step {
            block: "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
            fields: REQ3,
            table: REQ_T3,
            size: 164,
        },
    ]
}

fn c4_steps() -> [Step<'static>; 3] {
    [
        Step {
            block: "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
            fields: REQ1,
            table: REQ_T1,
            size: 57,
        },
        Step {
            block: "8286 84be 5886 a8eb 1064 9cbf",
            fields: REQ2,
            table: REQ_T2,
            size: 110,
        },
        Step {
            block: "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
            fields: REQ3,
            table: REQ_T3,
            size: 164,
        },
    ]
}

#[test]
fn c3_requests_without_huffman() {
    check_decode_series(4096, &c3_steps());
    // The default indexing policy makes the same choices as the RFC here.
    let mut e = Encoder::new(4096);
    e.set_test_policy(false, HuffmanMode::Never);
    check_encode_series(&mut e, &c3_steps());
}

#[test]
fn c4_requests_with_huffman() {
    check_decode_series(4096, &c4_steps());
    // The production policy, unchanged.
    check_encode_series(&mut Encoder::new(4096), &c4_steps());
}

// ---- C.5 / C.6 responses, table of 256 with eviction ----

const DATE1: &str = "Mon, 21 Oct 2013 20:13:21 GMT";
const DATE2: &str = "Mon, 21 Oct 2013 20:13:22 GMT";
const LOC: &str = "https://www.example.com";
const COOKIE: &str = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";

fn response_steps(huffman: bool) -> [Step<'static>; 3] {
    let (b1, b2, b3) = if huffman {
        (
            "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6
             2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
            "4883 640e ffc1 c0bf",
            "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab
             77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f
             9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        )
    } else {
        (
            "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133
             2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65 7861 6d70
             6c65 2e63 6f6d",
            "4803 3330 37c1 c0bf",
            "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220 474d
             54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157 454f 5049
             5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076 6572 7369 6f6e
             3d31",
        )
    };
    [
        Step {
            block: b1,
            fields: &[
                (":status", "302"),
                ("cache-control", "private"),
                ("date", DATE1),
                ("location", LOC),
            ],
            table: &[
                ("location", LOC),
                ("date", DATE1),
                ("cache-control", "private"),
                (":status", "302"),
            ],
            size: 222,
        },
        Step {
            block: b2,
            fields: &[
                (":status", "307"),
                ("cache-control", "private"),
                ("date", DATE1),
                ("location", LOC),
            ],
            table: &[
                (":status", "307"),
                ("location", LOC),
                ("date", DATE1),
                ("cache-control", "private"),
            ],
            size: 222,
        },
        Step {
            block: b3,
            fields: &[
                (":status", "200"),
                ("cache-control", "private"),
                ("date", DATE2),
                ("location", LOC),
                ("content-encoding", "gzip"),
                ("set-cookie", COOKIE),
            ],
            table: &[
                ("set-cookie", COOKIE),
                ("content-encoding", "gzip"),
                ("date", DATE2),
            ],
            size: 215,
        },
    ]
}

#[test]
fn c5_responses_without_huffman() {
    check_decode_series(256, &response_steps(false));
    let mut e = Encoder::new(4096);
    e.assume_table_size(256);
    e.set_test_policy(true, HuffmanMode::Never);
    check_encode_series(&mut e, &response_steps(false));
}

#[test]
fn c6_responses_with_huffman() {
    check_decode_series(256, &response_steps(true));
    let mut e = Encoder::new(4096);
    e.assume_table_size(256);
    e.set_test_policy(true, HuffmanMode::Always);
    check_encode_series(&mut e, &response_steps(true));
}

#[test]
fn rfc_examples_round_trip_with_production_policy() {
    for steps in [response_steps(false), response_steps(true)] {
        let mut e = Encoder::new(4096);
        e.set_peer_max_table_size(256);
        let mut d = Decoder::new(256);
        for step in &steps {
            let block = encode(&mut e, step.fields);
            assert_eq!(decode_all(&mut d, &block).unwrap(), plain(step.fields));
            assert_eq!(d.table().entries(), e.table().entries());
        }
    }
}

// ---- Table behaviour ----

#[test]
fn name_reference_to_an_entry_the_insertion_evicts() {
    let mut d = Decoder::new(70);
    // "aaaa: b" takes 37 of 70.
    decode_all(&mut d, &hex("4004 6161 6161 0162")).unwrap();
    // A 51-byte entry named after index 62 evicts that very entry.
    let got = decode_all(&mut d, &hex("7e0f 6363 6363 6363 6363 6363 6363 6363 63")).unwrap();
    assert_eq!(got, plain(&[("aaaa", "ccccccccccccccc")]));
    assert_eq!(d.table().entries(), pairs(&[("aaaa", "ccccccccccccccc")]));
    assert_eq!(d.table_size(), 51);
}

#[test]
fn entry_larger_than_table_empties_it() {
    let mut d = Decoder::new(64);
    decode_all(&mut d, &hex("4001 6101 62")).unwrap();
    assert_eq!(d.table_size(), 34);
    // 1 + 40 + 32 > 64: the table empties and the field is still delivered.
    let mut block = hex("4001 6128");
    block.extend_from_slice(&[b'x'; 40]);
    let got = decode_all(&mut d, &block).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(d.table_size(), 0);
    assert_eq!(d.table_len(), 0);
}

#[test]
fn table_memory_stays_bounded() {
    let mut e = Encoder::new(4096);
    let mut d = Decoder::new(4096);
    for i in 0..20_000u32 {
        let name = format!("x-header-{}", i % 97);
        let value = format!("value-{i}-{}", "v".repeat((i % 300) as usize));
        let mut out = Vec::new();
        e.encode([(name.as_bytes(), value.as_bytes(), false)], &mut out);
        let got = decode_all(&mut d, &out).unwrap();
        assert_eq!(got[0].1, value.as_bytes());
    }
    assert!(
        d.table().buf_capacity() <= 4 * 4096,
        "{}",
        d.table().buf_capacity()
    );
    assert!(e.table().buf_capacity() <= 4 * 4096);
}

// ---- Size updates ----

#[test]
fn size_updates() {
    // To 0 and back evicts everything.
    let mut d = Decoder::new(4096);
    decode_all(&mut d, &hex("4001 6101 62")).unwrap();
    assert_eq!(d.table_size(), 34);
    decode_all(&mut d, &hex("203f e11f 82")).unwrap();
    assert_eq!(d.table_size(), 0);
    assert_eq!(d.table().max_size(), 4096);

    // Above the advertised maximum.
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode_all(&mut d, &hex("3fe2 1f")),
        Err(HpackError::SizeUpdateTooLarge)
    );
    // After a field.
    let mut d = Decoder::new(4096);
    assert_eq!(
        decode_all(&mut d, &hex("8220")),
        Err(HpackError::SizeUpdateNotAtStart)
    );

    // Lowering our setting requires an update before the next field.
    let mut d = Decoder::new(4096);
    d.set_max_table_size(1024);
    assert_eq!(
        decode_all(&mut d, &[0x82]),
        Err(HpackError::SizeUpdateMissing)
    );
    let mut d = Decoder::new(4096);
    d.set_max_table_size(1024);
    assert_eq!(
        decode_all(&mut d, &hex("3fe1 1f82")),
        Err(HpackError::SizeUpdateTooLarge)
    );
    let mut d = Decoder::new(4096);
    d.set_max_table_size(1024);
    decode_all(&mut d, &hex("3fe1 0782")).unwrap();
    assert_eq!(d.table().max_size(), 1024);
    // Raising it needs nothing.
    let mut d = Decoder::new(4096);
    d.set_max_table_size(8192);
    decode_all(&mut d, &[0x82]).unwrap();
}

#[test]
fn encoder_signals_size_changes() {
    // A cap under the default shrinks the peer's table in the first block.
    let mut e = Encoder::new(1024);
    assert_eq!(encode(&mut e, &[(":method", "GET")]), hex("3fe1 0782"));
    assert_eq!(encode(&mut e, &[(":method", "GET")]), hex("82"));

    // Shrink then grow between two blocks: the minimum, then the final size.
    let mut e = Encoder::new(4096);
    let mut d = Decoder::new(4096);
    decode_all(&mut d, &encode(&mut e, &[("x-a", "b")])).unwrap();
    assert_eq!(e.table().size(), 36);
    e.set_peer_max_table_size(0);
    e.set_peer_max_table_size(4096);
    let block = encode(&mut e, &[("x-a", "b")]);
    assert_eq!(&block[..4], &hex("203f e11f")[..]);
    decode_all(&mut d, &block).unwrap();
    assert_eq!(d.table().entries(), e.table().entries());
    assert_eq!(d.table().entries(), pairs(&[("x-a", "b")]));

    // A change that comes back to the same size with no dip emits nothing.
    e.set_peer_max_table_size(8192);
    e.set_peer_max_table_size(4096);
    assert_eq!(encode(&mut e, &[("x-a", "b")]), hex("be"));

    // Growth is capped.
    e.set_peer_max_table_size(1 << 20);
    assert_eq!(encode(&mut e, &[]), Vec::<u8>::new());
}

// ---- Errors ----

#[test]
fn malformed_blocks() {
    let cases: &[(&str, HpackError)] = &[
        ("80", HpackError::BadIndex),
        ("be", HpackError::BadIndex),
        ("bf", HpackError::BadIndex),
        ("7e01 61", HpackError::BadIndex),
        ("0f2f 0161", HpackError::BadIndex),
        ("ff", HpackError::Truncated),
        ("ff80", HpackError::Truncated),
        ("40", HpackError::Truncated),
        ("400a 6375 7374", HpackError::Truncated),
        ("4001 61", HpackError::Truncated),
        ("4001 6105 6161", HpackError::Truncated),
        ("047f", HpackError::Truncated),
        ("3f", HpackError::Truncated),
        ("ffff ffff ffff 0f", HpackError::IntegerOverflow),
        ("ff80 8080 8080 00", HpackError::IntegerOverflow),
        ("047f ffff ffff 0f", HpackError::IntegerOverflow),
        // Huffman value "0" with zero padding, and with a whole byte of padding.
        ("0481 00", HpackError::BadHuffman),
        ("0482 07ff", HpackError::BadHuffman),
        // EOS inside a Huffman name.
        ("0084 ffff ffff 0161", HpackError::BadHuffman),
        ("4084 ffff ffff 0161", HpackError::BadHuffman),
        ("1084 ffff ffff 0161", HpackError::BadHuffman),
        ("3fe2 1f", HpackError::SizeUpdateTooLarge),
        ("8220", HpackError::SizeUpdateNotAtStart),
        ("8230", HpackError::SizeUpdateNotAtStart),
    ];
    for &(block, want) in cases {
        let mut d = Decoder::new(4096);
        assert_eq!(decode_all(&mut d, &hex(block)), Err(want), "{block}");
        assert_eq!(want.code(), crate::error::ErrorCode::CompressionError);
        assert!(!want.reason().is_empty());
    }
}

#[test]
fn errors_are_reported_past_the_list_limit() {
    // Once over the limit strings are only validated, but invalid input still fails.
    for (block, want) in [
        ("8204 8100", HpackError::BadHuffman),
        ("8200 8100 0161", HpackError::BadHuffman),
        ("82be", HpackError::BadIndex),
        ("827f 0001 61", HpackError::BadIndex),
        ("8204 05", HpackError::Truncated),
    ] {
        let mut d = Decoder::new(4096);
        assert_eq!(
            d.decode(&hex(block), 10, &mut |_, _, _| {}),
            Err(want),
            "{block}"
        );
    }
}

// ---- List size limit and HPACK bomb ----

#[test]
fn list_limit_counts_per_rfc_9113() {
    // ":method: GET" is 7 + 3 + 32 = 42.
    let mut d = Decoder::new(4096);
    let mut n = 0;
    assert_eq!(
        d.decode(&[0x82, 0x82], 84, &mut |_, _, _| n += 1),
        Ok(Decoded::Complete)
    );
    assert_eq!(n, 2);
    let mut n = 0;
    assert_eq!(
        d.decode(&[0x82, 0x82], 83, &mut |_, _, _| n += 1),
        Ok(Decoded::ListTooLarge)
    );
    assert_eq!(n, 1);
    // No field is reported after the first one over, even a smaller one.
    let mut n = 0;
    let mut block = hex("4001 6128");
    block.extend_from_slice(&[b'('; 40]);
    block.push(0x82);
    assert_eq!(
        d.decode(&block, 60, &mut |_, _, _| n += 1),
        Ok(Decoded::ListTooLarge)
    );
    assert_eq!(n, 0);
    assert_eq!(d.table_len(), 1);
}

#[test]
fn hpack_bomb() {
    let mut d = Decoder::new(4096);
    let mut block = vec![0x40, 0x01, b'x', 0x7f];
    encode_integer(&mut block, 4000, 7, 0);
    block.truncate(3);
    encode_integer(&mut block, 4000, 7, 0);
    block.extend(std::iter::repeat_n(b'a', 4000));
    // 200 000 references to the 4033-byte entry: about 800 MB of headers.
    block.extend(std::iter::repeat_n(0xbe, 200_000));
    let mut calls = 0;
    let start = std::time::Instant::now();
    let r = d.decode(&block, 16 * 1024, &mut |n, v, _| {
        assert_eq!(n, b"x");
        assert_eq!(v.len(), 4000);
        calls += 1;
    });
    assert_eq!(r, Ok(Decoded::ListTooLarge));
    // 4 * 4033 fits in 16 KiB, a fifth does not.
    assert_eq!(calls, 4);
    assert!(start.elapsed() < std::time::Duration::from_millis(500));
    assert_eq!(d.table_len(), 1);

    // Still in sync: the entry is there for the next block, as is anything indexed while over.
    let got = decode_all(&mut d, &[0xbe]).unwrap();
    assert_eq!(got[0].1.len(), 4000);
    let block = hex("8240 0179 017a 4001 7901 7a");
    assert_eq!(
        d.decode(&block, 10, &mut |_, _, _| {}),
        Ok(Decoded::ListTooLarge)
    );
    assert_eq!(
        decode_all(&mut d, &[0xbe, 0xbf]).unwrap(),
        plain(&[("y", "z"), ("y", "z")])
    );
}

// ---- Property tests ----

const NAMES: &[&str] = &[
    ":method",
    ":path",
    ":authority",
    ":scheme",
    ":status",
    "content-type",
    "content-length",
    "cookie",
    "set-cookie",
    "date",
    "user-agent",
    "accept-encoding",
    "authorization",
    "x-request-id",
    "x-custom",
    "x-forwarded-for",
    "cache-control",
    "etag",
    "location",
    "www-authenticate",
];
const VALUES: &[&str] = &[
    "",
    "GET",
    "POST",
    "/",
    "/index.html",
    "/api/v1/items?id=1",
    "http",
    "https",
    "200",
    "404",
    "gzip, deflate",
    "text/html; charset=utf-8",
    "no-cache",
    "example.com",
    "1234",
];

fn random_field(rng: &mut Rng) -> Field {
    let lower = b"abcdefghijklmnopqrstuvwxyz-0123456789";
    let name = match rng.below(4) {
        0 | 1 => NAMES[rng.below(NAMES.len())].as_bytes().to_vec(),
        2 => {
            let len = 1 + rng.below(24);
            rng.bytes_from(len, lower)
        }
        _ => {
            let len = rng.below(12);
            rng.bytes(len)
        }
    };
    let value = match rng.below(6) {
        0 | 1 => VALUES[rng.below(VALUES.len())].as_bytes().to_vec(),
        2 => {
            let len = rng.below(80);
            rng.bytes_from(len, lower)
        }
        3 => {
            let len = rng.below(100);
            rng.bytes(len)
        }
        4 => Vec::new(),
        _ => {
            let len = 200 + rng.below(3000);
            rng.bytes_from(len, b"ab")
        }
    };
    (name, value, rng.one_in(10))
}

#[test]
fn round_trip_random_header_lists() {
    let sizes = [0u32, 1, 33, 64, 100, 256, 1024, 4096, 8192, 65536];
    for (pair, cap) in [4096u32, 0, 100, 65536, 300].into_iter().enumerate() {
        let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15 ^ pair as u64);
        let mut e = Encoder::new(cap);
        let mut d = Decoder::new(4096);
        let mut history: Vec<Field> = Vec::new();
        for _ in 0..3000 {
            if rng.one_in(20) {
                for _ in 0..1 + rng.below(3) {
                    let s = sizes[rng.below(sizes.len())];
                    d.set_max_table_size(s);
                    e.set_peer_max_table_size(s);
                }
            }
            let n = rng.below(20);
            let mut fields = Vec::with_capacity(n);
            for _ in 0..n {
                // Repeat earlier fields often, so that the dynamic table gets hits.
                if !history.is_empty() && rng.one_in(2) {
                    fields.push(history[rng.below(history.len())].clone());
                } else {
                    fields.push(random_field(&mut rng));
                }
            }
            let mut block = Vec::new();
            e.encode(
                fields.iter().map(|(n, v, s)| (&n[..], &v[..], *s)),
                &mut block,
            );
            let got = decode_all(&mut d, &block).unwrap();
            assert_eq!(got, fields);
            assert_eq!(d.table_size(), e.table().size());
            assert_eq!(d.table().max_size(), e.table().max_size());
            assert!(e.table().max_size() <= cap as usize);
            history.extend(fields);
            if history.len() > 200 {
                history.drain(..100);
            }
        }
        assert_eq!(d.table().entries(), e.table().entries());
    }
}

#[test]
fn huffman_round_trip_random() {
    let mut rng = Rng::new(42);
    let mut enc = Vec::new();
    let mut dec = Vec::new();
    for _ in 0..20_000 {
        let len = rng.below(64);
        let s = rng.bytes(len);
        enc.clear();
        dec.clear();
        huffman::encode(&s, &mut enc);
        assert_eq!(enc.len(), huffman::encoded_len(&s));
        huffman::decode(&enc, &mut dec).unwrap();
        assert_eq!(dec, s);
    }
}

#[test]
fn hostile_input_never_panics() {
    let mut rng = Rng::new(0xdead_beef_cafe_f00d);
    // Valid blocks to mutate, with a shared table so references resolve.
    let mut e = Encoder::new(4096);
    let mut seeds: Vec<Vec<u8>> = [c3_steps(), c4_steps()]
        .iter()
        .flat_map(|s| s.iter().map(|st| hex(st.block)))
        .collect();
    for _ in 0..50 {
        let fields: Vec<Field> = (0..rng.below(12))
            .map(|_| random_field(&mut rng))
            .filter(|f| f.1.len() < 200)
            .collect();
        let mut block = Vec::new();
        e.encode(
            fields.iter().map(|(n, v, s)| (&n[..], &v[..], *s)),
            &mut block,
        );
        seeds.push(block);
    }

    let mut total = 0usize;
    let mut d = Decoder::new(4096);
    let mut sink = |n: &[u8], v: &[u8], _s: bool| {
        std::hint::black_box((n.len(), v.len()));
    };
    let mut block = Vec::new();
    let mut outcomes = std::collections::BTreeMap::new();
    for _ in 0..1_000_000 {
        block.clear();
        match rng.below(3) {
            0 => {
                let len = rng.below(64);
                block.extend(rng.bytes(len));
            }
            _ => {
                block.extend_from_slice(&seeds[rng.below(seeds.len())]);
                for _ in 0..1 + rng.below(4) {
                    if block.is_empty() {
                        break;
                    }
                    let at = rng.below(block.len());
                    match rng.below(4) {
                        0 => block[at] = rng.next_u64() as u8,
                        1 => block[at] ^= 1 << rng.below(8),
                        2 => block.truncate(at),
                        _ => block.insert(at, rng.next_u64() as u8),
                    }
                }
            }
        }
        total += block.len();
        let limit = if rng.one_in(4) { 100 } else { usize::MAX };
        let r = d.decode(&block, limit, &mut sink);
        *outcomes.entry(format!("{r:?}")).or_insert(0usize) += 1;
        if rng.one_in(50) {
            d = Decoder::new(if rng.one_in(2) {
                4096
            } else {
                rng.below(300) as u32
            });
        }
        if rng.one_in(100) {
            d.set_max_table_size(rng.below(5000) as u32);
        }
    }
    // Every outcome shows up, so the mutations reach past the first bytes.
    assert!(outcomes.len() >= 8, "{outcomes:?}");
    assert!(total > 2_000_000);
    println!("{total} bytes: {outcomes:?}");
    // Huffman alone on random data.
    let mut out = Vec::new();
    for _ in 0..100_000 {
        let len = rng.below(32);
        let s = rng.bytes(len);
        out.clear();
        if let Ok(()) = huffman::decode(&s, &mut out) {
            assert_eq!(huffman::validate(&s), Ok(out.len()));
        } else {
            assert_eq!(huffman::validate(&s), Err(HpackError::BadHuffman));
        }
    }
}

// ---- Throughput (run with --ignored --nocapture in release) ----

const BROWSER_REQUEST: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":authority", "www.example.com"),
    (":path", "/static/js/app.3f9c2e1b.js"),
    ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"),
    ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"),
    ("accept-language", "en-US,en;q=0.9"),
    ("accept-encoding", "gzip, deflate, br"),
    ("referer", "https://www.example.com/index.html"),
    ("cookie", "session=8f2a9c1e7b3d4f5a6c7e8d9f0a1b2c3d; theme=dark; consent=yes"),
    ("sec-fetch-mode", "no-cors"),
    ("sec-fetch-site", "same-origin"),
    ("x-request-id", "6f1c2d3e-4a5b-6c7d-8e9f-0a1b2c3d4e5f"),
];

#[test]
#[ignore]
fn throughput() {
    use std::time::Instant;
    let raw: usize = BROWSER_REQUEST.iter().map(|(n, v)| n.len() + v.len()).sum();
    let fields = || {
        BROWSER_REQUEST
            .iter()
            .map(|(n, v)| (n.as_bytes(), v.as_bytes(), false))
    };
    let report = |what: &str, bytes: usize, start: Instant| {
        let secs = start.elapsed().as_secs_f64();
        println!("{what}: {:.0} MB/s", bytes as f64 / secs / 1e6);
    };
    const N: usize = 200_000;

    // Cold: every field is a literal and gets inserted (a connection's first request).
    let mut cold = Vec::new();
    Encoder::new(4096).encode(fields(), &mut cold);
    let start = Instant::now();
    for _ in 0..N {
        let mut d = Decoder::new(4096);
        d.decode(std::hint::black_box(&cold), usize::MAX, &mut |n, v, _| {
            std::hint::black_box((n, v));
        })
        .unwrap();
    }
    report(
        &format!("decode cold block ({} B encoded)", cold.len()),
        cold.len() * N,
        start,
    );
    report("decode cold block, header bytes", raw * N, start);

    // Warm: the same connection's later requests, only the path and request id changing.
    let mut e = Encoder::new(4096);
    let mut blocks = Vec::new();
    for i in 0..64 {
        let path = format!("/static/img/{i}.png");
        let id = format!("6f1c2d3e-4a5b-6c7d-8e9f-0a1b2c3d{i:04}");
        let mut block = Vec::new();
        e.encode(
            fields().map(|(n, v, s)| match n {
                b":path" => (n, path.as_bytes(), s),
                b"x-request-id" => (n, id.as_bytes(), s),
                _ => (n, v, s),
            }),
            &mut block,
        );
        blocks.push(block);
    }
    let warm_len: usize = blocks[1..].iter().map(Vec::len).sum();
    let start = Instant::now();
    for _ in 0..N / 64 {
        let mut d = Decoder::new(4096);
        for b in &blocks {
            d.decode(std::hint::black_box(b), usize::MAX, &mut |n, v, _| {
                std::hint::black_box((n, v));
            })
            .unwrap();
        }
    }
    report(
        &format!("decode warm blocks (avg {} B)", warm_len / 63),
        raw * (N / 64) * 64,
        start,
    );
    println!(
        "  (header bytes per second; the blocks average {} B for {raw} B of headers)",
        warm_len / 63
    );

    // Encoding, header bytes per second.
    let start = Instant::now();
    let mut out = Vec::with_capacity(1024);
    for _ in 0..N {
        let mut e = Encoder::new(4096);
        out.clear();
        e.encode(fields(), &mut out);
        std::hint::black_box(&out);
    }
    report("encode cold", raw * N, start);
    let mut e = Encoder::new(4096);
    let start = Instant::now();
    for _ in 0..N {
        out.clear();
        e.encode(fields(), &mut out);
        std::hint::black_box(&out);
    }
    report(
        &format!("encode warm ({} B out)", out.len()),
        raw * N,
        start,
    );

    // Huffman alone.
    let text = BROWSER_REQUEST
        .iter()
        .map(|(_, v)| *v)
        .collect::<Vec<_>>()
        .concat();
    let mut enc = Vec::new();
    huffman::encode(text.as_bytes(), &mut enc);
    let mut dec = Vec::with_capacity(text.len());
    let start = Instant::now();
    for _ in 0..N {
        dec.clear();
        huffman::decode(std::hint::black_box(&enc), &mut dec).unwrap();
    }
    report("huffman decode (output bytes)", text.len() * N, start);
    let start = Instant::now();
    for _ in 0..N {
        enc.clear();
        huffman::encode(std::hint::black_box(text.as_bytes()), &mut enc);
    }
    report("huffman encode (input bytes)", text.len() * N, start);
}

// ----- Validation memo: table entries remember that their field was accepted ------------

use crate::message::{BlockKind, MessageBuilder};

/// The verdict of a one-field block, with the byte-level checks run or skipped.
fn verdict(kind: BlockKind, name: &[u8], value: &[u8], known_clean: bool) -> String {
    let mut b = MessageBuilder::new(kind);
    b.push_field(name, value, false, known_clean);
    format!("{:?}", b.error())
}

#[test]
fn static_entries_are_clean_in_every_block_kind() {
    // Skipping the byte checks for a static entry must never change the verdict.
    for (name, value) in static_table::STATIC_TABLE {
        for kind in [BlockKind::Request, BlockKind::Response, BlockKind::Trailers] {
            assert_eq!(
                verdict(kind, name, value, false),
                verdict(kind, name, value, true),
                "{:?}: {:?} in {kind:?}",
                String::from_utf8_lossy(name),
                String::from_utf8_lossy(value)
            );
        }
    }
}

#[test]
fn a_rejected_literal_stays_rejected_when_referenced() {
    // A literal with incremental indexing enters the table even when the message is
    // malformed; every reference to it must be checked again.
    let bad: [(&[u8], &[u8]); 4] = [
        (b"x-a", b" leading space"),
        (b"x-a", b"nul\0"),
        (b"X-Upper", b"v"),
        (b"host", b"a b"),
    ];
    for (name, value) in bad {
        let mut block = vec![0x40, name.len() as u8];
        block.extend_from_slice(name);
        block.push(value.len() as u8);
        block.extend_from_slice(value);
        block.push(0x80 | 62); // the entry just inserted
        let mut d = Decoder::new(4096);
        let mut b = MessageBuilder::new(BlockKind::Request);
        let mut marks = Vec::new();
        d.decode_fields(&block, usize::MAX, &mut |n, v, s, clean| {
            marks.push(clean);
            b.push_field(n, v, s, clean)
        })
        .unwrap();
        assert_eq!(marks, [false, false], "{:?}", String::from_utf8_lossy(name));
        assert!(b.error().is_some());
        // The same entry referenced in a later block is still not clean.
        let mut marks = Vec::new();
        d.decode_fields(&[0x80 | 62], usize::MAX, &mut |_, _, _, clean| {
            marks.push(clean);
            true
        })
        .unwrap();
        assert_eq!(marks, [false]);
    }
}

#[test]
fn an_accepted_literal_is_marked_for_later_references() {
    let mut d = Decoder::new(4096);
    // Literal with indexing, then a reference to it; the consumer accepts both.
    let block = [0x40, 3, b'x', b'-', b'a', 1, b'v', 0x80 | 62];
    let mut marks = Vec::new();
    d.decode_fields(&block, usize::MAX, &mut |_, _, _, clean| {
        marks.push(clean);
        true
    })
    .unwrap();
    assert_eq!(marks, [false, true]);
    // A host field accepted in a response skipped the authority check: not clean.
    let mut b = MessageBuilder::new(BlockKind::Response);
    assert!(!b.push_field(b"host", b"a b", false, false));
    let mut b = MessageBuilder::new(BlockKind::Request);
    assert!(b.push_field(b"host", b"example.com", false, false));
}
