//! Prefixed integers (RFC 7541 §5.1).

use super::HpackError;

/// Continuation bytes a `u32` can need after any prefix: ceil(32 / 7).
const MAX_CONTINUATION: u32 = 5;

/// Reads an integer whose first byte is `block[*pos]`, using its low `prefix` bits (1..=8), and
/// advances `*pos` past it. Values above `u32::MAX` are refused: every HPACK integer is an
/// index, a length or a table size, and nothing legitimate comes near that.
#[inline]
pub fn decode_integer(block: &[u8], pos: &mut usize, prefix: u8) -> Result<usize, HpackError> {
    let mut i = *pos;
    let first = *block.get(i).ok_or(HpackError::Truncated)?;
    i += 1;
    let mask: u32 = (1u32 << (prefix.clamp(1, 8) as u32)) - 1;
    let mut value = u64::from(u32::from(first) & mask);
    if value < u64::from(mask) {
        *pos = i;
        return Ok(value as usize);
    }
    let mut shift = 0u32;
    loop {
        let b = *block.get(i).ok_or(HpackError::Truncated)?;
        i += 1;
        value += u64::from(b & 0x7f) << shift;
        if value > u64::from(u32::MAX) {
            return Err(HpackError::IntegerOverflow);
        }
        if b & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift >= 7 * MAX_CONTINUATION {
            return Err(HpackError::IntegerOverflow);
        }
    }
    *pos = i;
    usize::try_from(value).map_err(|_| HpackError::IntegerOverflow)
}

/// Appends `value` with a `prefix`-bit prefix (1..=8); `flags` holds the representation's bits
/// above the prefix.
#[inline]
pub fn encode_integer(out: &mut Vec<u8>, value: usize, prefix: u8, flags: u8) {
    let max = (1usize << prefix.clamp(1, 8)) - 1;
    if value < max {
        out.push(flags | value as u8);
        return;
    }
    out.push(flags | max as u8);
    let mut rest = value - max;
    while rest >= 0x80 {
        out.push((rest as u8 & 0x7f) | 0x80);
        rest >>= 7;
    }
    out.push(rest as u8);
}
