//! Byte-string equality for hot paths. In wasm, `memcmp` is a byte-at-a-time loop from
//! libc, so slice equality costs a call and a byte per step; this compares eight bytes at a
//! time, inline. (Natively memcmp is faster: use this only where the wasm build runs it
//! often, and measure.)

/// `a == b`, eight bytes per step.
#[inline]
pub fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut ac, mut bc) = (a.chunks_exact(8), b.chunks_exact(8));
    for (x, y) in (&mut ac).zip(&mut bc) {
        if word(x) != word(y) {
            return false;
        }
    }
    let (ar, br) = (ac.remainder(), bc.remainder());
    tail(ar) == tail(br)
}

#[inline]
fn word(s: &[u8]) -> u64 {
    match <[u8; 8]>::try_from(s) {
        Ok(w) => u64::from_le_bytes(w),
        Err(_) => 0,
    }
}

/// Up to 7 bytes as one integer (the length is compared before).
#[inline]
fn tail(s: &[u8]) -> u64 {
    s.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equality_matches_slices() {
        let words: [&[u8]; 9] = [
            b"",
            b"a",
            b"ab",
            b"abcdefg",
            b"abcdefgh",
            b"abcdefgi",
            b"abcdefghijklmnopq",
            b"abcdefghijklmnopr",
            b"\0\0",
        ];
        for a in words {
            for b in words {
                assert_eq!(bytes_eq(a, b), a == b, "{a:?} {b:?}");
            }
        }
        // Leading zero bytes in the tail are told apart by the length check.
        assert!(!bytes_eq(b"\0a", b"a"));
    }
}
