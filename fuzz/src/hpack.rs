//! HPACK decoding of arbitrary blocks, with round trips through the encoder.
//!
//! Input: a setup byte (decoder table size in bits 0-2, header list limit in bits 3-5,
//! encoder cap in bits 6-7), then blocks: a control byte (see `BLOCK_*`), optional u16
//! arguments, and a length-prefixed block. One decoder sees every block, so the dynamic
//! table carries over. Every field list that decodes is re-encoded and decoded by a second
//! decoder, which must yield the same fields; fields also go through a `MessageBuilder`, and
//! a message it accepts must survive encoding and building again unchanged.

use h2mux::hpack::{Decoded, Decoder, Encoder};
use h2mux::message::{Block, BlockKind, MessageBuilder};

use crate::{put_chunk, Cursor};

/// Bits 0-1 of a block's control byte: what the `MessageBuilder` parses (3: none).
pub const BLOCK_REQUEST: u8 = 0;
pub const BLOCK_RESPONSE: u8 = 1;
pub const BLOCK_TRAILERS: u8 = 2;
pub const BLOCK_RAW: u8 = 3;
/// First lower the first decoder's allowed table size to a u16 argument (an ACKed SETTINGS).
pub const BLOCK_RESIZE: u8 = 4;
/// First change the peer table size of the round-trip encoder and decoder (u16 argument).
pub const BLOCK_RESIZE_PAIR: u8 = 8;

const TABLE_SIZES: [u32; 8] = [4096, 0, 64, 256, 1024, 65_536, 4096, 100];
const LIST_SIZES: [usize; 8] = [usize::MAX, 0, 64, 512, 4096, 16_384, usize::MAX, 32_768];
const ENCODER_CAPS: [u32; 4] = [4096, 0, 256, 65_536];

pub fn setup(table: u8, list: u8, cap: u8) -> u8 {
    (table & 7) | (list & 7) << 3 | (cap & 3) << 6
}

/// Appends a block to a script.
pub fn put_block(out: &mut Vec<u8>, ctl: u8, args: &[u16], block: &[u8]) {
    out.push(ctl);
    for a in args {
        out.extend_from_slice(&a.to_le_bytes());
    }
    put_chunk(out, block);
}

type FieldList = Vec<(Vec<u8>, Vec<u8>, bool)>;

fn entry_size(name: &[u8], value: &[u8]) -> usize {
    name.len() + value.len() + 32
}

struct RoundTrip {
    encoder: Encoder,
    decoder: Decoder,
    buf: Vec<u8>,
}

impl RoundTrip {
    /// Encodes `fields`, decodes them again and returns what came out.
    fn run(&mut self, fields: &FieldList) -> FieldList {
        self.buf.clear();
        self.encoder.encode(
            fields
                .iter()
                .map(|(n, v, s)| (n.as_slice(), v.as_slice(), *s)),
            &mut self.buf,
        );
        let mut got = FieldList::new();
        let r = self.decoder.decode(&self.buf, usize::MAX, &mut |n, v, s| {
            got.push((n.to_vec(), v.to_vec(), s));
        });
        assert_eq!(
            r,
            Ok(Decoded::Complete),
            "re-encoded block does not decode: {:02x?}",
            self.buf
        );
        got
    }
}

pub fn run(data: &[u8]) {
    let mut c = Cursor::new(data);
    let s = c.u8();
    let mut dec = Decoder::new(TABLE_SIZES[usize::from(s & 7)]);
    let max_list = LIST_SIZES[usize::from((s >> 3) & 7)];
    let mut rt = RoundTrip {
        encoder: Encoder::new(ENCODER_CAPS[usize::from(s >> 6)]),
        decoder: Decoder::new(4096),
        buf: Vec::new(),
    };
    while !c.is_empty() {
        let ctl = c.u8();
        if ctl & BLOCK_RESIZE != 0 {
            dec.set_max_table_size(u32::from(c.u16()));
        }
        if ctl & BLOCK_RESIZE_PAIR != 0 {
            let size = u32::from(c.u16());
            rt.encoder.set_peer_max_table_size(size);
            rt.decoder.set_max_table_size(size);
        }
        let kind = match ctl & 3 {
            BLOCK_REQUEST => Some(BlockKind::Request),
            BLOCK_RESPONSE => Some(BlockKind::Response),
            BLOCK_TRAILERS => Some(BlockKind::Trailers),
            _ => None,
        };
        let n = c.length();
        let block = c.bytes(n);

        let mut fields = FieldList::new();
        let mut builder = kind.map(MessageBuilder::new);
        let r = dec.decode(block, max_list, &mut |n, v, s| {
            fields.push((n.to_vec(), v.to_vec(), s));
            if let Some(b) = builder.as_mut() {
                b.push(n, v, s);
            }
        });
        let Ok(how) = r else {
            // A decoding error ends the connection; the table may be out of sync now, which
            // is fine: the next blocks are still arbitrary bytes.
            continue;
        };
        let size = fields
            .iter()
            .fold(0usize, |a, (n, v, _)| a.saturating_add(entry_size(n, v)));
        assert!(
            size <= max_list,
            "reported {size} bytes of fields over the limit {max_list}"
        );
        assert!(dec.table_size() <= 65_536, "table over its maximum");

        let again = rt.run(&fields);
        assert_eq!(fields, again, "fields changed in a round trip");

        if how != Decoded::Complete {
            continue;
        }
        let (Some(kind), Some(builder)) = (kind, builder) else {
            continue;
        };
        let Ok(msg) = builder.finish() else {
            continue;
        };
        let mut list = FieldList::new();
        let wire_size = match &msg {
            Block::Request(m) | Block::Response(m) => {
                m.for_each_h2_field(&mut |n, v, s| list.push((n.to_vec(), v.to_vec(), s)));
                Some(m.h2_header_list_size())
            }
            Block::Trailers(f) => {
                list.extend(f.iter().map(|(n, v, s)| (n.to_vec(), v.to_vec(), s)));
                None
            }
        };
        let list_size = list.iter().map(|(n, v, _)| entry_size(n, v)).sum::<usize>();
        if let Some(w) = wire_size {
            assert_eq!(
                w, list_size,
                "h2_header_list_size disagrees with the fields"
            );
        }
        let decoded = rt.run(&list);
        assert_eq!(list, decoded, "message fields changed in a round trip");
        let mut b2 = MessageBuilder::new(kind);
        for (n, v, s) in &decoded {
            b2.push(n, v, *s);
        }
        match b2.finish() {
            Ok(m2) => assert_eq!(msg, m2, "message changed when built again"),
            Err(e) => panic!("a message that was accepted is refused when built again: {e:?}"),
        }
    }
}
