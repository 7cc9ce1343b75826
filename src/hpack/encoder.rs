//! Header block encoding (RFC 7541 §6), with the indexing policy.

use super::integer::encode_integer;
use super::static_table::{self, STATIC_TABLE};
use super::table::{NewName, Table};
use super::{entry_size, huffman};
use crate::byte_str::bytes_eq;

/// The table size both ends assume before any SETTINGS (RFC 9113 §6.5.2).
const DEFAULT_TABLE_SIZE: usize = 4096;

/// When string literals are Huffman-coded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HuffmanMode {
    /// Only when strictly shorter than the raw string: the normal policy.
    Shorter,
    #[cfg(test)]
    Never,
    #[cfg(test)]
    Always,
}

/// The encoding half of a connection's HPACK state: this table mirrors the peer's decoder.
#[derive(Debug)]
pub struct Encoder {
    table: Table,
    /// The most table memory we spend on this peer, whatever it allows.
    cap: usize,
    /// Size changes not yet signalled: the smallest and the latest effective size since the
    /// last block (§4.2 wants the minimum signalled when the size dipped in between).
    pending: Option<(usize, usize)>,
    /// Index every field that fits, whatever its name (reproduces the RFC examples).
    index_all: bool,
    huffman: HuffmanMode,
}

impl Encoder {
    /// An encoder spending at most `cap` bytes of table on the peer, whatever it allows.
    pub fn new(cap: u32) -> Encoder {
        let mut e = Encoder {
            table: Table::new(DEFAULT_TABLE_SIZE),
            cap: cap as usize,
            pending: None,
            index_all: false,
            huffman: HuffmanMode::Shorter,
        };
        // With a cap below the default, the first block shrinks the peer's table.
        e.set_peer_max_table_size(DEFAULT_TABLE_SIZE as u32);
        e
    }

    /// An encoder taking over from one that was dropped (an idle connection gives its
    /// table's memory back): the peer's table may still hold that encoder's entries, so the
    /// first block evicts them with a size update to 0, then sets `min(peer, cap)` (RFC 7541
    /// §4.2 lets an encoder signal any size up to the peer's limit at a block's start).
    pub fn after_reset(cap: u32, peer: u32) -> Encoder {
        let mut e = Encoder::new(cap);
        e.set_peer_max_table_size(peer);
        if let Some((_, last)) = e.pending {
            e.pending = Some((0, last));
        }
        e
    }

    /// The peer's SETTINGS_HEADER_TABLE_SIZE changed; the table uses at most min(peer, cap).
    pub fn set_peer_max_table_size(&mut self, peer: u32) {
        let size = (peer as usize).min(self.cap);
        let current = self.table.max_size();
        let (min, _) = self.pending.unwrap_or((current, current));
        self.pending = Some((min.min(size), size));
    }

    /// Appends the block encoding `fields` (name, value, sensitive) to `out`.
    pub fn encode<'a, I>(&mut self, fields: I, out: &mut Vec<u8>)
    where
        I: IntoIterator<Item = (&'a [u8], &'a [u8], bool)>,
    {
        if let Some((min, last)) = self.pending.take() {
            if min < self.table.max_size() && min < last {
                encode_integer(out, min, 5, 0x20);
                self.table.set_max_size(min);
            }
            if last != self.table.max_size() {
                encode_integer(out, last, 5, 0x20);
                self.table.set_max_size(last);
            }
        }
        for (name, value, sensitive) in fields {
            self.encode_field(name, value, sensitive, out);
        }
    }

    fn encode_field(&mut self, name: &[u8], value: &[u8], sensitive: bool, out: &mut Vec<u8>) {
        let static_name = static_table::find_name(name);
        if !sensitive {
            if let Some((first, count)) = static_name {
                for index in first..first + count {
                    if STATIC_TABLE
                        .get(index - 1)
                        .is_some_and(|e| bytes_eq(e.1, value))
                    {
                        encode_integer(out, index, 7, 0x80);
                        return;
                    }
                }
            }
        }

        let mut name_index = static_name.map(|(first, _)| first);
        let hashes = |name: &[u8], value: &[u8]| {
            let name_hash = hash(0, name);
            (name_hash, hash(u64::from(name_hash) | 1 << 32, value))
        };
        let mut hashed = None;
        if self.table.len() > 0 {
            let (name_hash, field_hash) = hashes(name, value);
            hashed = Some((name_hash, field_hash));
            let (exact, by_name) = self.table.find(name, value, name_hash, field_hash);
            if let (Some(i), false) = (exact, sensitive) {
                encode_integer(out, STATIC_TABLE.len() + 1 + i, 7, 0x80);
                return;
            }
            if name_index.is_none() {
                name_index = by_name.map(|i| STATIC_TABLE.len() + 1 + i);
            }
        }
        // Asked only on a miss: a field found in the table is not inserted again.
        let indexing = !sensitive && self.worth_indexing(name, value);

        let (flags, prefix) = if sensitive {
            (0x10, 4)
        } else if indexing {
            (0x40, 6)
        } else {
            (0x00, 4)
        };
        match name_index {
            Some(i) => encode_integer(out, i, prefix, flags),
            None => {
                encode_integer(out, 0, prefix, flags);
                self.write_string(name, out);
            }
        }
        self.write_string(value, out);
        if indexing {
            let (name_hash, field_hash) = hashed.unwrap_or_else(|| hashes(name, value));
            // The name is given as bytes, not as a table reference: nothing can miss.
            if self
                .table
                .insert(NewName::Bytes(name), value, name_hash, field_hash, false)
                .is_err()
            {
                crate::invariant::broken("an insertion by bytes succeeds");
            }
        }
    }

    /// The indexing policy. Entries must be small (a quarter of the table at most, so one field
    /// cannot flush the table) and likely to recur on this connection. Not indexed:
    /// - values that change with every message: `content-length`, `expires`, `etag`, `age`,
    ///   conditional request headers, `content-range`, and the request and trace ids proxies
    ///   add. `date` (once a second) and `last-modified` (once per resource) repeat across
    ///   responses and are indexed: a reference is one byte, a literal
    ///   about 24 and a Huffman encoding each time;
    /// - `:path` with a query or over 64 bytes (resource ids and queries seldom repeat);
    /// - credentials (`authorization`, `proxy-authorization`), `set-cookie`, and short
    ///   `cookie` values, which the table would expose to compression oracles (RFC 7541
    ///   §7.1.3) unless the caller marks them sensitive, and which seldom repeat anyway.
    fn worth_indexing(&self, name: &[u8], value: &[u8]) -> bool {
        let size = entry_size(name.len(), value.len());
        if self.index_all {
            return size <= self.table.max_size();
        }
        if size > self.table.max_size() / 4 {
            return false;
        }
        match name {
            b":path" => value.len() <= 64 && !value.contains(&b'?'),
            b"cookie" => value.len() >= 20,
            b"content-length"
            | b"expires"
            | b"etag"
            | b"age"
            | b"if-modified-since"
            | b"if-unmodified-since"
            | b"if-none-match"
            | b"if-match"
            | b"if-range"
            | b"content-range"
            | b"authorization"
            | b"proxy-authorization"
            | b"set-cookie"
            | b"x-request-id"
            | b"x-amzn-trace-id"
            | b"traceparent"
            | b"tracestate"
            | b"x-b3-traceid"
            | b"x-b3-spanid"
            | b"x-b3-parentspanid"
            | b"x-cloud-trace-context" => false,
            _ => true,
        }
    }

    fn write_string(&self, s: &[u8], out: &mut Vec<u8>) {
        let huffman_len = match self.huffman {
            HuffmanMode::Shorter => Some(huffman::encoded_len(s)).filter(|&n| n < s.len()),
            #[cfg(test)]
            HuffmanMode::Never => None,
            #[cfg(test)]
            HuffmanMode::Always => Some(huffman::encoded_len(s)),
        };
        match huffman_len {
            Some(n) => {
                encode_integer(out, n, 7, 0x80);
                huffman::encode(s, out);
            }
            None => {
                encode_integer(out, s.len(), 7, 0);
                out.extend_from_slice(s);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn set_test_policy(&mut self, index_all: bool, huffman: HuffmanMode) {
        self.index_all = index_all;
        self.huffman = huffman;
    }

    /// Starts from a table of `size` without signalling it, as the RFC examples do.
    #[cfg(test)]
    pub(crate) fn assume_table_size(&mut self, size: usize) {
        self.pending = None;
        self.table.set_max_size(size);
    }

    #[cfg(test)]
    pub(crate) fn table(&self) -> &Table {
        &self.table
    }
}

/// A fast non-cryptographic hash over 8-byte words. Collisions only cost a byte comparison.
fn hash(seed: u64, bytes: &[u8]) -> u32 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = seed ^ (bytes.len() as u64).wrapping_mul(K);
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        if let Ok(w) = <[u8; 8]>::try_from(w) {
            h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
    }
    let tail = words
        .remainder()
        .iter()
        .fold(0u64, |acc, &b| acc << 8 | u64::from(b));
    h = (h.rotate_left(5) ^ tail).wrapping_mul(K);
    (h >> 32) as u32 ^ h as u32
}
