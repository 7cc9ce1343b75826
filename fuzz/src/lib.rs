//! Fuzz drivers for h2mux. Each fuzz target hands its input to one function here; the seed
//! writer (`src/bin/make_seeds.rs`) builds inputs in the same formats.

pub mod conn;
pub mod h1;
pub mod hpack;
pub mod look;
pub mod relay;

/// Reads a fuzz input front to back; past the end every read yields zeros.
pub struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub fn new(data: &'a [u8]) -> Cursor<'a> {
        Cursor { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// A length: one byte below 255, or 255 and a little-endian u16.
    pub fn length(&mut self) -> usize {
        match self.u8() {
            255 => usize::from(self.u16()),
            b => usize::from(b),
        }
    }

    /// Up to `n` bytes (fewer at the end of the input).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (a, b) = self.data.split_at(n.min(self.data.len()));
        self.data = b;
        a
    }
}

/// The writing half of `Cursor::length` (lengths above 65535 are cut).
pub fn put_length(out: &mut Vec<u8>, n: usize) {
    if n < 255 {
        out.push(n as u8);
    } else {
        out.push(255);
        out.extend_from_slice(&(n.min(65_535) as u16).to_le_bytes());
    }
}

/// Appends a length-prefixed chunk (cut to 65535 bytes).
pub fn put_chunk(out: &mut Vec<u8>, b: &[u8]) {
    let b = &b[..b.len().min(65_535)];
    put_length(out, b.len());
    out.extend_from_slice(b);
}
