//! The dynamic table (RFC 7541 §2.3.2, §4).
//!
//! Entry bytes live in one append-only buffer; eviction only moves a start mark, and the live
//! bytes are moved to the front when the buffer reaches twice the table size. So there is no
//! allocation per entry, every entry is one contiguous slice, and memory stays within a small
//! multiple of the table size.

use std::collections::VecDeque;

use super::{entry_size, HpackError};
use crate::byte_str::bytes_eq;

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Offset of the name in `buf`; the value follows it.
    off: usize,
    name_len: usize,
    value_len: usize,
    /// Hashes of the name and of the name and value, for the encoder's lookups (0 otherwise).
    name_hash: u32,
    field_hash: u32,
    /// The decoder's consumer accepted this field's bytes (see `Decoder::decode_fields`).
    clean: bool,
}

/// Where the name of a new entry comes from.
pub(crate) enum NewName<'a> {
    Bytes(&'a [u8]),
    /// The name of the entry at this 0-based dynamic position, which this very insertion may
    /// evict (§4.4).
    Entry(usize),
}

#[derive(Debug)]
pub(crate) struct Table {
    buf: Vec<u8>,
    entries: VecDeque<Entry>,
    /// Size in RFC octets (§4.1).
    size: usize,
    max_size: usize,
}

impl Table {
    pub(crate) fn new(max_size: usize) -> Table {
        Table {
            buf: Vec::new(),
            entries: VecDeque::new(),
            size: 0,
            max_size,
        }
    }

    pub(crate) fn size(&self) -> usize {
        self.size
    }

    pub(crate) fn max_size(&self) -> usize {
        self.max_size
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entry at 0-based dynamic position `i` (0 is the newest, HPACK index 62).
    #[inline]
    pub(crate) fn get(&self, i: usize) -> Option<(&[u8], &[u8])> {
        self.get_marked(i).map(|(n, v, _)| (n, v))
    }

    /// `get`, and whether the entry was marked clean when inserted.
    #[inline]
    pub(crate) fn get_marked(&self, i: usize) -> Option<(&[u8], &[u8], bool)> {
        let e = self.entries.get(i)?;
        let mid = e.off.checked_add(e.name_len)?;
        let end = mid.checked_add(e.value_len)?;
        Some((self.buf.get(e.off..mid)?, self.buf.get(mid..end)?, e.clean))
    }

    /// Lengths of the name and value at position `i`, without touching the bytes.
    #[inline]
    pub(crate) fn lens(&self, i: usize) -> Option<(usize, usize)> {
        self.entries.get(i).map(|e| (e.name_len, e.value_len))
    }

    pub(crate) fn set_max_size(&mut self, max: usize) {
        self.max_size = max;
        self.evict_to(max);
        if self.entries.is_empty() {
            self.buf.clear();
        }
        // A table that shrank for good should not keep the memory of its larger self.
        let keep = max.saturating_mul(4).max(256);
        if self.buf.capacity() > keep {
            self.compact();
            self.buf.shrink_to(max.saturating_mul(2));
        }
    }

    /// Adds an entry at the front, evicting from the back as needed (§4.4). An entry larger
    /// than the table empties it and is not added. Errors only if `name` names no entry.
    pub(crate) fn insert(
        &mut self,
        name: NewName<'_>,
        value: &[u8],
        name_hash: u32,
        field_hash: u32,
        clean: bool,
    ) -> Result<(), HpackError> {
        let name_len = match name {
            NewName::Bytes(n) => n.len(),
            NewName::Entry(i) => self.lens(i).ok_or(HpackError::BadIndex)?.0,
        };
        let esize = entry_size(name_len, value.len());
        if esize > self.max_size {
            self.clear();
            return Ok(());
        }
        let add = name_len + value.len();
        if self.buf.len().saturating_add(add) > self.max_size.saturating_mul(2) {
            self.compact();
        }
        // Copy first: the referenced name may belong to an entry evicted below.
        let off = self.buf.len();
        match name {
            NewName::Bytes(n) => self.buf.extend_from_slice(n),
            NewName::Entry(i) => {
                let e = self.entries.get(i).ok_or(HpackError::BadIndex)?;
                let range = e.off..e.off.saturating_add(e.name_len);
                if self.buf.get(range.clone()).is_none() {
                    return Err(HpackError::BadIndex);
                }
                self.buf.extend_from_within(range);
            }
        }
        self.buf.extend_from_slice(value);
        self.evict_to(self.max_size - esize);
        self.entries.push_front(Entry {
            off,
            name_len,
            value_len: value.len(),
            name_hash,
            field_hash,
            clean,
        });
        self.size += esize;
        Ok(())
    }

    /// Position of the newest entry equal to (name, value), and of the newest entry with this
    /// name, comparing hashes before bytes.
    pub(crate) fn find(
        &self,
        name: &[u8],
        value: &[u8],
        name_hash: u32,
        field_hash: u32,
    ) -> (Option<usize>, Option<usize>) {
        let mut name_pos = None;
        for (i, e) in self.entries.iter().enumerate() {
            if e.name_hash != name_hash || e.name_len != name.len() {
                continue;
            }
            let Some((n, v)) = self.get(i) else { continue };
            if !bytes_eq(n, name) {
                continue;
            }
            if e.field_hash == field_hash && bytes_eq(v, value) {
                return (Some(i), name_pos.or(Some(i)));
            }
            if name_pos.is_none() {
                name_pos = Some(i);
            }
        }
        (None, name_pos)
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.buf.clear();
        self.size = 0;
    }

    /// Drops the oldest entries until the size is at most `target`. Leaves the bytes alone, as
    /// an insertion may have just appended its own.
    fn evict_to(&mut self, target: usize) {
        while self.size > target {
            let Some(e) = self.entries.pop_back() else {
                crate::invariant::broken("the table size is the sum of its entries");
                self.size = 0;
                break;
            };
            let Some(size) = self.size.checked_sub(entry_size(e.name_len, e.value_len)) else {
                crate::invariant::broken("the table size is the sum of its entries");
                self.size = 0;
                break;
            };
            self.size = size;
        }
    }

    /// Moves the live bytes (from the oldest entry on) to the front of the buffer.
    fn compact(&mut self) {
        let Some(head) = self.entries.back().map(|e| e.off) else {
            self.buf.clear();
            return;
        };
        if head == 0 || head > self.buf.len() {
            return;
        }
        self.buf.copy_within(head.., 0);
        self.buf.truncate(self.buf.len() - head);
        // The oldest entry starts first: every offset is at or past it.
        let mut behind = false;
        for e in self.entries.iter_mut() {
            match e.off.checked_sub(head) {
                Some(off) => e.off = off,
                None => behind = true,
            }
        }
        if behind {
            crate::invariant::broken("table entries start at or after the oldest one");
        }
    }

    #[cfg(test)]
    pub(crate) fn entries(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        (0..self.len())
            .filter_map(|i| self.get(i))
            .map(|(n, v)| (n.to_vec(), v.to_vec()))
            .collect()
    }

    #[cfg(test)]
    pub(crate) fn buf_capacity(&self) -> usize {
        self.buf.capacity()
    }
}
