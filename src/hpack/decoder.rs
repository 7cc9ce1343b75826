//! Header block decoding (RFC 7541 §3, §6).

use super::integer::decode_integer;
use super::table::{NewName, Table};
use super::{entry_size, huffman, static_table, HpackError};

const STATIC_LEN: usize = 61;

/// How a block ended, when it was valid HPACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// Every field was decoded and reported.
    Complete,
    /// The header list outgrew the limit; the fields past it were decoded only to keep the
    /// dynamic table in sync, and were not reported.
    ListTooLarge,
}

/// The decoding half of a connection's HPACK state: the peer's encoder writes this table.
#[derive(Debug)]
pub struct Decoder {
    table: Table,
    /// The SETTINGS_HEADER_TABLE_SIZE in effect; size updates may not exceed it.
    max_allowed: usize,
    /// Scratch for Huffman-coded names and values, reused across fields and blocks; each is
    /// bounded by 8/5 of the largest string seen.
    name_buf: Vec<u8>,
    value_buf: Vec<u8>,
}

/// A name, resolved lazily so that a dynamic-table name can be copied within the table.
#[derive(Clone, Copy)]
enum Name {
    Static(&'static [u8]),
    Dynamic(usize),
    Block(usize, usize),
    Scratch,
}

impl Decoder {
    /// A decoder whose table may grow to our SETTINGS_HEADER_TABLE_SIZE, `max_table_size`.
    pub fn new(max_table_size: u32) -> Decoder {
        let max = max_table_size as usize;
        Decoder {
            table: Table::new(max),
            max_allowed: max,
            name_buf: Vec::new(),
            value_buf: Vec::new(),
        }
    }

    /// Our SETTINGS_HEADER_TABLE_SIZE took effect (the peer acknowledged it). If it is below
    /// the table's current maximum, the next block must start with a size update (§4.2).
    pub fn set_max_table_size(&mut self, max: u32) {
        self.max_allowed = max as usize;
    }

    /// Whether this decoder is in the state `Decoder::new(max_table_size)` makes: an empty
    /// table at that size, and that size allowed. Such a decoder can be dropped and made
    /// again without the peer seeing a difference.
    pub fn is_pristine(&self, max_table_size: u32) -> bool {
        let max = max_table_size as usize;
        self.table.len() == 0 && self.table.max_size() == max && self.max_allowed == max
    }

    /// Gives back the Huffman scratch (an idle connection's memory); it grows again as
    /// needed.
    pub fn trim(&mut self) {
        self.name_buf = Vec::new();
        self.value_buf = Vec::new();
    }

    /// Current dynamic table size in RFC octets.
    pub fn table_size(&self) -> usize {
        self.table.size()
    }

    /// Number of dynamic table entries.
    pub fn table_len(&self) -> usize {
        self.table.len()
    }

    /// Decodes one complete header block, calling `f(name, value, sensitive)` per field while
    /// the header list (RFC 9113 §6.5.2 accounting) stays within `max_list_size`.
    #[allow(clippy::type_complexity)] // the callback's shape is the API; an alias would hide it
    pub fn decode(
        &mut self,
        block: &[u8],
        max_list_size: usize,
        f: &mut dyn FnMut(&[u8], &[u8], bool),
    ) -> Result<Decoded, HpackError> {
        self.decode_fields(block, max_list_size, &mut |n, v, s, _| {
            f(n, v, s);
            false
        })
    }

    /// `decode` for a consumer that validates fields and wants to do it once per table entry:
    /// `f(name, value, sensitive, known_clean)` returns whether it accepted the field's bytes;
    /// an entry inserted from an accepted literal is marked, and a later reference to it comes
    /// with `known_clean` set. Static entries are all clean.
    #[allow(clippy::type_complexity)]
    pub fn decode_fields(
        &mut self,
        block: &[u8],
        max_list_size: usize,
        f: &mut dyn FnMut(&[u8], &[u8], bool, bool) -> bool,
    ) -> Result<Decoded, HpackError> {
        let Decoder {
            table,
            max_allowed,
            name_buf,
            value_buf,
        } = self;
        let mut pos = 0usize;
        let mut seen_field = false;
        let mut list_size = 0usize;
        let mut over = false;

        while let Some(&first) = block.get(pos) {
            if first & 0xe0 == 0x20 {
                // Dynamic table size update (§6.3).
                if seen_field {
                    return Err(HpackError::SizeUpdateNotAtStart);
                }
                let size = decode_integer(block, &mut pos, 5)?;
                if size > *max_allowed {
                    return Err(HpackError::SizeUpdateTooLarge);
                }
                table.set_max_size(size);
                continue;
            }
            if !seen_field {
                if table.max_size() > *max_allowed {
                    return Err(HpackError::SizeUpdateMissing);
                }
                seen_field = true;
            }

            if first & 0x80 != 0 {
                // Indexed field (§6.1).
                let index = decode_integer(block, &mut pos, 7)?;
                if over {
                    // Validate only: a bomb of references costs a bounds check each.
                    if index == 0 || index > STATIC_LEN + table.len() {
                        return Err(HpackError::BadIndex);
                    }
                    continue;
                }
                let (name, value, clean) = lookup(table, index)?;
                list_size = list_size.saturating_add(entry_size(name.len(), value.len()));
                if list_size > max_list_size {
                    over = true;
                } else {
                    f(name, value, false, clean);
                }
                continue;
            }

            // Literal field (§6.2): with incremental indexing, never indexed, or without.
            let (prefix, indexing, sensitive) = match first & 0xf0 {
                0x00 => (4, false, false),
                0x10 => (4, false, true),
                _ => (6, true, false),
            };
            let name_index = decode_integer(block, &mut pos, prefix)?;

            if over && !indexing {
                // Nothing will see this field and the table does not change: check the strings
                // without copying them.
                if name_index == 0 {
                    skip_string(block, &mut pos)?;
                } else if name_index > STATIC_LEN + table.len() {
                    return Err(HpackError::BadIndex);
                }
                skip_string(block, &mut pos)?;
                continue;
            }

            let name = if name_index == 0 {
                let (huffman, raw) = read_string(block, &mut pos)?;
                if huffman {
                    name_buf.clear();
                    huffman::decode(raw, name_buf)?;
                    Name::Scratch
                } else {
                    let end = pos;
                    Name::Block(end - raw.len(), end)
                }
            } else if name_index <= STATIC_LEN {
                Name::Static(static_table::get(name_index).ok_or(HpackError::BadIndex)?.0)
            } else {
                let i = name_index - STATIC_LEN - 1;
                if i >= table.len() {
                    return Err(HpackError::BadIndex);
                }
                Name::Dynamic(i)
            };

            let (huffman, raw) = read_string(block, &mut pos)?;
            let value: &[u8] = if huffman {
                value_buf.clear();
                huffman::decode(raw, value_buf)?;
                &value_buf[..]
            } else {
                raw
            };

            let mut clean = false;
            if !over {
                let name_bytes = resolve(name, block, name_buf, table)?;
                list_size = list_size.saturating_add(entry_size(name_bytes.len(), value.len()));
                if list_size > max_list_size {
                    over = true;
                } else {
                    clean = f(name_bytes, value, sensitive, false);
                }
            }
            if indexing {
                let new_name = match name {
                    Name::Dynamic(i) => NewName::Entry(i),
                    Name::Static(s) => NewName::Bytes(s),
                    Name::Block(start, end) => {
                        NewName::Bytes(block.get(start..end).ok_or(HpackError::Truncated)?)
                    }
                    Name::Scratch => NewName::Bytes(name_buf),
                };
                table.insert(new_name, value, 0, 0, clean)?;
            }
        }

        Ok(if over {
            Decoded::ListTooLarge
        } else {
            Decoded::Complete
        })
    }

    #[cfg(test)]
    pub(crate) fn table(&self) -> &Table {
        &self.table
    }
}

#[inline]
fn lookup(table: &Table, index: usize) -> Result<(&[u8], &[u8], bool), HpackError> {
    if index <= STATIC_LEN {
        static_table::get(index)
            .map(|(n, v)| (n, v, true))
            .ok_or(HpackError::BadIndex)
    } else {
        table
            .get_marked(index - STATIC_LEN - 1)
            .ok_or(HpackError::BadIndex)
    }
}

#[inline]
fn resolve<'a>(
    name: Name,
    block: &'a [u8],
    name_buf: &'a [u8],
    table: &'a Table,
) -> Result<&'a [u8], HpackError> {
    match name {
        Name::Static(s) => Ok(s),
        Name::Dynamic(i) => table.get(i).map(|(n, _)| n).ok_or(HpackError::BadIndex),
        Name::Block(start, end) => block.get(start..end).ok_or(HpackError::Truncated),
        Name::Scratch => Ok(name_buf),
    }
}

/// Reads a string literal's header and returns whether it is Huffman-coded and its raw bytes.
#[inline]
fn read_string<'a>(block: &'a [u8], pos: &mut usize) -> Result<(bool, &'a [u8]), HpackError> {
    let huffman = block.get(*pos).ok_or(HpackError::Truncated)? & 0x80 != 0;
    let len = decode_integer(block, pos, 7)?;
    let end = pos.checked_add(len).ok_or(HpackError::Truncated)?;
    let raw = block.get(*pos..end).ok_or(HpackError::Truncated)?;
    *pos = end;
    Ok((huffman, raw))
}

fn skip_string(block: &[u8], pos: &mut usize) -> Result<(), HpackError> {
    let (huffman, raw) = read_string(block, pos)?;
    if huffman {
        huffman::validate(raw)?;
    }
    Ok(())
}
