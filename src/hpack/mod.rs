//! HPACK header compression (RFC 7541).
//!
//! [`Decoder`] turns header blocks from the peer into fields, [`Encoder`] does the reverse for
//! blocks we send. Each side owns one dynamic table; the two tables of a connection never mix.
//! Everything reachable from peer bytes reports errors instead of panicking.

mod decoder;
mod encoder;
pub mod huffman;
mod integer;
mod static_table;
mod table;

#[cfg(test)]
mod tests;

pub use decoder::{Decoded, Decoder};
pub use encoder::Encoder;
pub use integer::{decode_integer, encode_integer};

use crate::frame::ErrorCode;

/// Why a header block could not be decoded. Every cause is a connection error of type
/// COMPRESSION_ERROR (RFC 9113 §4.3); the variant only sharpens logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HpackError {
    /// Index 0, or an index past the end of the static plus dynamic table.
    BadIndex,
    /// An integer above `u32::MAX`, or one using more continuation bytes than any `u32` needs.
    IntegerOverflow,
    /// The block ended inside an integer or a string literal.
    Truncated,
    /// Invalid Huffman data: the EOS symbol, or padding longer than 7 bits or not all ones.
    BadHuffman,
    /// A dynamic table size update above the SETTINGS_HEADER_TABLE_SIZE we advertised.
    SizeUpdateTooLarge,
    /// A dynamic table size update after the first field of a block (§4.2).
    SizeUpdateNotAtStart,
    /// We lowered SETTINGS_HEADER_TABLE_SIZE below the table's size, and the next block did not
    /// start with the size update that §4.2 requires.
    SizeUpdateMissing,
}

impl HpackError {
    /// Always COMPRESSION_ERROR, a connection error (RFC 9113 §4.3).
    pub fn code(self) -> ErrorCode {
        ErrorCode::CompressionError
    }

    /// Why, in a few words, for the log line and GOAWAY debug data.
    pub fn reason(self) -> &'static str {
        match self {
            HpackError::BadIndex => "hpack: index out of table",
            HpackError::IntegerOverflow => "hpack: integer overflow",
            HpackError::Truncated => "hpack: truncated header block",
            HpackError::BadHuffman => "hpack: invalid huffman string",
            HpackError::SizeUpdateTooLarge => "hpack: table size update above advertised maximum",
            HpackError::SizeUpdateNotAtStart => "hpack: table size update after a field",
            HpackError::SizeUpdateMissing => "hpack: required table size update missing",
        }
    }
}

impl HpackError {
    /// A stable snake_case name, for metrics.
    pub fn name(self) -> &'static str {
        match self {
            HpackError::BadIndex => "hpack_bad_index",
            HpackError::IntegerOverflow => "hpack_integer_overflow",
            HpackError::Truncated => "hpack_truncated",
            HpackError::BadHuffman => "hpack_bad_huffman",
            HpackError::SizeUpdateTooLarge => "hpack_size_update_too_large",
            HpackError::SizeUpdateNotAtStart => "hpack_size_update_not_at_start",
            HpackError::SizeUpdateMissing => "hpack_size_update_missing",
        }
    }
}

impl core::fmt::Display for HpackError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for HpackError {}

/// Bytes an entry occupies by the RFC's accounting (§4.1): name, value and 32 of overhead.
#[inline]
pub(crate) fn entry_size(name_len: usize, value_len: usize) -> usize {
    name_len.saturating_add(value_len).saturating_add(32)
}
