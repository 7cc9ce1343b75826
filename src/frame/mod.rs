//! The HTTP/2 wire format (RFC 9113 §4, §6): frame headers, the per-type validation table,
//! payload parsers and encoders, stream identifiers and error codes. No connection state
//! lives here, and nothing here depends on the layers above.
//!
//! Parsers take whole payloads whose length `validate` has already checked, yet each one
//! re-checks what it reads, so none can panic on any input.

mod data;
mod error;
mod error_code;
mod goaway;
mod header;
mod headers;
mod ping;
mod priority;
mod rst_stream;
mod settings;
mod stream_id;
mod validate;
mod window_update;

#[cfg(test)]
mod fuzz_tests;

pub use data::{data_padding, write_data};
pub use error::FrameError;
pub use error_code::ErrorCode;
pub use goaway::{goaway_frame_len, parse_goaway, write_goaway, GoAway};
pub use header::{flags, frame_len, write_header, FrameHeader, FrameType};
pub use headers::{header_block_len, headers_fragment, write_header_block};
pub use ping::{parse_ping, write_ping, PING_FRAME_LEN};
pub use priority::{parse_priority, write_priority, Priority, PRIORITY_FRAME_LEN};
pub use rst_stream::{parse_rst_stream, write_rst_stream, RST_STREAM_FRAME_LEN};
pub use settings::{
    check_setting, setting, settings_entries, settings_frame_len, write_settings,
    write_settings_ack, SETTINGS_ACK_FRAME_LEN,
};
pub use stream_id::StreamId;
pub use validate::validate;
pub use window_update::{parse_window_update, write_window_update, WINDOW_UPDATE_FRAME_LEN};

/// Length of the fixed frame header (§4.1).
pub const HEADER_LEN: usize = 9;
/// The client connection preface (§3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Initial SETTINGS_MAX_FRAME_SIZE, also its lowest legal value (§6.5.2).
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;
/// Highest legal SETTINGS_MAX_FRAME_SIZE: 2^24-1, the most the 24-bit length can carry.
pub const MAX_MAX_FRAME_SIZE: u32 = 16_777_215;
/// Initial flow-control window of the connection and of every stream (§6.9.2).
pub const DEFAULT_WINDOW: u32 = 65_535;
/// Largest flow-control window: 2^31-1 (§6.9.1).
pub const MAX_WINDOW: u32 = 0x7fff_ffff;
