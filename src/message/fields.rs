//! Ordered regular fields kept in one byte arena.

use core::fmt;
use std::cell::RefCell;

/// Where one field lives in the arena. Ends are stored rather than lengths so that
/// reading a field needs no arithmetic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    start: usize,
    name_end: usize,
    value_end: usize,
    sensitive: bool,
}

/// Regular (non-pseudo) fields in arrival order. Names are lowercase; `push` does not check
/// that (the builder validates peer input before pushing, other callers own their input).
/// All bytes share one arena, so a block costs two allocations however many fields it holds.
#[derive(Clone, Default)]
pub struct Fields {
    buf: Vec<u8>,
    entries: Vec<Entry>,
}

impl Fields {
    /// An empty list; it allocates at the first `push`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Pre-sizes for `fields` fields totalling `bytes` bytes of names and values, reusing the
    /// arena of a dropped list when one is spare.
    pub fn with_capacity(fields: usize, bytes: usize) -> Self {
        let spare = SPARE.with(|s| s.try_borrow_mut().ok().and_then(|mut s| s.pop()));
        let (mut buf, mut entries) = spare.unwrap_or_default();
        buf.reserve(bytes);
        entries.reserve(fields);
        Fields { buf, entries }
    }

    /// The number of fields.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends a field, unchecked; `sensitive` means never indexed by HPACK (RFC 7541 §7.1.3).
    pub fn push(&mut self, name: &[u8], value: &[u8], sensitive: bool) {
        let start = self.buf.len();
        self.buf.extend_from_slice(name);
        let name_end = self.buf.len();
        self.buf.extend_from_slice(value);
        let value_end = self.buf.len();
        self.entries.push(Entry {
            start,
            name_end,
            value_end,
            sensitive,
        });
    }

    fn entry(&self, e: &Entry) -> (&[u8], &[u8], bool) {
        // The ranges were recorded by `push`, so `get` cannot miss.
        match (
            self.buf.get(e.start..e.name_end),
            self.buf.get(e.name_end..e.value_end),
        ) {
            (Some(name), Some(value)) => (name, value, e.sensitive),
            _ => {
                crate::invariant::broken("a field's ranges are within its list");
                (&[], &[], e.sensitive)
            }
        }
    }

    /// (name, value, sensitive) in arrival order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8], bool)> + '_ {
        self.entries.iter().map(move |e| self.entry(e))
    }

    /// The value of the first field called `name` (give it in lowercase).
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.iter().find(|(n, _, _)| *n == name).map(|(_, v, _)| v)
    }

    /// Every value of the fields called `name`, in order.
    pub fn get_all<'a, 'n>(
        &'a self,
        name: &'n [u8],
    ) -> impl Iterator<Item = &'a [u8]> + use<'a, 'n> {
        self.iter()
            .filter(move |(n, _, _)| *n == name)
            .map(|(_, v, _)| v)
    }

    /// Whether a field called `name` exists (give it in lowercase).
    pub fn contains(&self, name: &[u8]) -> bool {
        self.get(name).is_some()
    }

    /// HPACK's accounting (RFC 7541 §4.1): name + value + 32 per field, as used for
    /// SETTINGS_MAX_HEADER_LIST_SIZE.
    pub fn byte_size(&self) -> usize {
        let overhead = self.entries.len().saturating_mul(32);
        self.buf.len().saturating_add(overhead)
    }

    /// Removes every field, keeping the arena for reuse.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.entries.clear();
    }

    /// All `cookie` crumbs joined with "; " (RFC 9113 §8.2.3), for HTTP/1 which wants one
    /// field. None when there is no cookie.
    pub fn joined_cookie(&self) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        for crumb in self.get_all(b"cookie") {
            match out.as_mut() {
                None => out = Some(crumb.to_vec()),
                Some(v) => {
                    v.extend_from_slice(b"; ");
                    v.extend_from_slice(crumb);
                }
            }
        }
        out
    }
}

/// Most spare arenas kept, and the largest kept (a huge head is not worth keeping).
const SPARE_MAX: usize = 16;
const SPARE_BYTES_MAX: usize = 4096;

thread_local! {
    /// Arenas of dropped field lists. A relay decodes a head on one connection and drops it
    /// once the other has encoded it, so a few arenas circulate instead of two allocations
    /// per message. Bounded: at most `SPARE_MAX` of at most `SPARE_BYTES_MAX` bytes each.
    static SPARE: RefCell<Vec<(Vec<u8>, Vec<Entry>)>> = const { RefCell::new(Vec::new()) };
}

impl Drop for Fields {
    fn drop(&mut self) {
        if self.buf.capacity() == 0 || self.buf.capacity() > SPARE_BYTES_MAX {
            return;
        }
        let mut buf = core::mem::take(&mut self.buf);
        let mut entries = core::mem::take(&mut self.entries);
        buf.clear();
        entries.clear();
        SPARE.with(|s| {
            if let Ok(mut s) = s.try_borrow_mut() {
                if s.len() < SPARE_MAX {
                    s.push((buf, entries));
                }
            }
        });
    }
}

// Equality is over the logical content, not the arena layout.
impl PartialEq for Fields {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Fields {}

/// Bytes shown as an escaped ASCII string in debug output.
pub(crate) struct Escaped<'a>(pub(crate) &'a [u8]);

impl fmt::Debug for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"")?;
        for &b in self.0 {
            fmt::Display::fmt(&core::ascii::escape_default(b), f)?;
        }
        f.write_str("\"")
    }
}

// Sensitive values stay out of logs.
impl fmt::Debug for Fields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for (name, value, sensitive) in self.iter() {
            if sensitive {
                list.entry(&(Escaped(name), "<sensitive>"));
            } else {
                list.entry(&(Escaped(name), Escaped(value)));
            }
        }
        list.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_iter_get() {
        let mut f = Fields::new();
        assert!(f.is_empty());
        f.push(b"accept", b"*/*", false);
        f.push(b"x-empty", b"", false);
        f.push(b"authorization", b"secret", true);
        f.push(b"accept", b"text/html", false);
        assert_eq!(f.len(), 4);
        let all: Vec<_> = f.iter().collect();
        assert_eq!(
            all,
            vec![
                (&b"accept"[..], &b"*/*"[..], false),
                (b"x-empty", b"", false),
                (b"authorization", b"secret", true),
                (b"accept", b"text/html", false),
            ]
        );
        assert_eq!(f.get(b"accept"), Some(&b"*/*"[..]));
        assert_eq!(f.get(b"x-empty"), Some(&b""[..]));
        assert_eq!(f.get(b"missing"), None);
        assert_eq!(f.get_all(b"accept").count(), 2);
        assert!(f.contains(b"authorization"));
        let dbg = format!("{f:?}");
        assert!(!dbg.contains("secret"));
    }

    #[test]
    fn byte_size_and_clear() {
        let mut f = Fields::new();
        assert_eq!(f.byte_size(), 0);
        f.push(b"ab", b"cde", false);
        f.push(b"f", b"", false);
        assert_eq!(f.byte_size(), 2 + 3 + 32 + 1 + 32);
        f.clear();
        assert!(f.is_empty());
        assert_eq!(f.byte_size(), 0);
        assert_eq!(f.iter().count(), 0);
    }

    #[test]
    fn cookie_crumbs_join() {
        let mut f = Fields::new();
        assert_eq!(f.joined_cookie(), None);
        f.push(b"cookie", b"a=1", false);
        f.push(b"x", b"y", false);
        f.push(b"cookie", b"b=2", true);
        f.push(b"cookie", b"c=3", false);
        assert_eq!(f.joined_cookie().as_deref(), Some(&b"a=1; b=2; c=3"[..]));
        // Crumbs stay separate fields.
        assert_eq!(f.get_all(b"cookie").count(), 3);
    }

    #[test]
    fn equality_ignores_arena_history() {
        let mut a = Fields::new();
        a.push(b"zzzzzzzz", b"long value", false);
        a.clear();
        a.push(b"k", b"v", false);
        let mut b = Fields::with_capacity(4, 64);
        b.push(b"k", b"v", false);
        assert_eq!(a, b);
        b.push(b"k", b"v", false);
        assert_ne!(a, b);
        let mut c = Fields::new();
        c.push(b"k", b"v", true);
        assert_ne!(a, c);
    }
}
