//! The HTTP/2 inspector: a sans-IO walk over the bytes of one direction of a connection,
//! decoded with the filter's own frame decoder (`frame`), HPACK decoder (`hpack`) and message
//! validation (`message`), applying the connection's rules that one direction can show.
//!
//! The walk reports every frame (offset, header, a summary of its payload), every header
//! block decoded with HPACK state carried across blocks, each stream's frames, the stream
//! errors the filter would answer with RST_STREAM (it reads on after those), and the first
//! connection error with its RFC 9113 code and rule, where it stops as the filter does.
//!
//! What one direction cannot show is not checked: flow-control windows and
//! MAX_CONCURRENT_STREAMS depend on what the receiver sent and consumed, and whether the
//! receiver opened a stream (a response on a stream never requested) is in the other
//! direction. The bytes are given all at once, so the answer does not depend on how they
//! arrived (the connection names a bad preface from the first bytes it is given).

mod walk;

#[cfg(test)]
mod tests;

use crate::error::Violation;
use crate::frame::{ErrorCode, FrameHeader, Priority, StreamId};
use crate::limits::Config;
use crate::message::BlockKind;

/// Whose bytes these are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Told by the bytes: the client preface, else the first header block (`:method` or not).
    Auto,
    /// A client's bytes, checked as h2mux's client side (the frontend) checks them.
    Client,
    /// A server's bytes, checked as h2mux's upstream side (the backend) checks them.
    Server,
}

/// What the walk may hold and how the bytes are read. Every bound has a default.
#[derive(Clone, Debug)]
pub struct Options {
    /// Whose bytes these are.
    pub direction: Direction,
    /// The receiver's settings and the filter's limits that apply to one direction:
    /// `max_frame_size`, `header_table_size`, `max_header_list_size`, `max_header_block`,
    /// `max_continuation_frames`, `max_header_fields`, `max_settings_entries`.
    pub limits: Config,
    /// Frames reported; the walk stops after this many.
    pub max_frames: usize,
    /// Input bytes decoded; the rest is not looked at.
    pub max_bytes: usize,
    /// Decoded names and values and GOAWAY debug data kept in the report, in bytes; past it
    /// header blocks are still decoded (HPACK state) and checked, their fields not kept.
    pub max_kept_bytes: usize,
    /// The bytes begin at the connection's start: the first frame must be SETTINGS.
    pub from_start: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            direction: Direction::Auto,
            limits: Config::default(),
            max_frames: 10_000,
            max_bytes: 16 << 20,
            max_kept_bytes: 4 << 20,
            from_start: true,
        }
    }
}

/// A frame's payload, summarised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// DATA: content bytes, and the pad length when PADDED (padding excluded from `len`).
    Data {
        /// Content bytes.
        len: u32,
        /// The Pad Length field, when PADDED.
        pad: Option<u8>,
    },
    /// HEADERS: the field block fragment's length, pad length and priority block.
    Headers {
        /// Bytes of the field block fragment.
        fragment: usize,
        /// The Pad Length field, when PADDED.
        pad: Option<u8>,
        /// The (deprecated) priority block, when PRIORITY.
        priority: Option<Priority>,
    },
    /// CONTINUATION: the fragment's length.
    Continuation {
        /// Bytes of the field block fragment.
        fragment: usize,
    },
    /// PRIORITY.
    Priority(Priority),
    /// RST_STREAM and its code.
    RstStream(ErrorCode),
    /// SETTINGS: the entries (identifier, value) in order, at most `max_settings_entries`.
    Settings {
        /// An acknowledgement (no entries).
        ack: bool,
        /// Entries in order.
        entries: Vec<(u16, u32)>,
    },
    /// PING and its opaque data.
    Ping {
        /// An answer to the peer's PING.
        ack: bool,
        /// The 8 bytes.
        data: [u8; 8],
    },
    /// GOAWAY: the last stream id, the code and the debug data (kept within the budget).
    GoAway {
        /// Streams above it were not processed.
        last_stream: StreamId,
        /// Why.
        code: ErrorCode,
        /// Debug data as sent (cut when the report's byte budget is spent).
        debug: Vec<u8>,
        /// Bytes of debug data on the wire.
        debug_len: usize,
    },
    /// WINDOW_UPDATE and its increment (reserved bit dropped).
    WindowUpdate(u32),
    /// A type the walk does not decode (PUSH_PROMISE, unknown types), or a payload it did
    /// not reach (the frame failed on its header).
    Skipped,
    /// The input ends inside this frame's payload.
    Partial {
        /// Payload bytes present.
        have: usize,
    },
}

/// One frame as found in the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Where its 9-byte header starts in the input.
    pub offset: usize,
    /// Length, type, flags and stream as received.
    pub header: FrameHeader,
    /// Its payload, summarised.
    pub payload: Payload,
    /// A stream error it caused: the filter resets that stream (RST_STREAM with the rule's
    /// code) and reads on.
    pub stream_error: Option<Violation>,
    /// The header block it completed (END_HEADERS), as an index into `Report::blocks`.
    pub block: Option<usize>,
}

/// A decoded field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    /// The name as decoded.
    pub name: Vec<u8>,
    /// The value as decoded.
    pub value: Vec<u8>,
    /// Never indexed (a literal the sender marked sensitive).
    pub sensitive: bool,
}

/// A header block: HEADERS and its CONTINUATIONs, decoded as one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderBlock {
    /// Its stream.
    pub stream: StreamId,
    /// Its frames, as indices into `Report::frames`: HEADERS first.
    pub frames: Vec<usize>,
    /// The HEADERS frame carried END_STREAM.
    pub end_stream: bool,
    /// What it was validated as; None when it was decoded only to keep HPACK in sync (its
    /// stream was already reset) or failed before validation.
    pub kind: Option<BlockKind>,
    /// The fields, in order (within `max_header_list_size` and the report's budget).
    pub fields: Vec<Field>,
    /// Fields were decoded but not kept: the report's byte budget was spent.
    pub fields_cut: bool,
    /// The HPACK dynamic table after this block: size in RFC octets, and entries.
    pub table_size: usize,
    /// Entries in the dynamic table after this block.
    pub table_entries: usize,
    /// The stream error the block is answered with, if any (also on its last frame).
    pub error: Option<Violation>,
}

/// Where a stream stands at the end of the walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamState {
    /// Frames named it, none opened it (PRIORITY, or frames of a stream closed before).
    Idle,
    /// The sender may still send on it.
    Open,
    /// The sender ended it (END_STREAM).
    Ended,
    /// The sender reset it (RST_STREAM).
    ResetBySender,
    /// The receiver resets it: a stream error.
    ResetByReceiver,
}

impl StreamState {
    /// A stable name, for the page.
    pub fn name(self) -> &'static str {
        match self {
            StreamState::Idle => "idle",
            StreamState::Open => "open",
            StreamState::Ended => "ended",
            StreamState::ResetBySender => "reset_by_sender",
            StreamState::ResetByReceiver => "reset_by_receiver",
        }
    }
}

/// One stream's frames in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamSummary {
    /// The stream.
    pub id: StreamId,
    /// Indices into `Report::frames`.
    pub frames: Vec<usize>,
    /// Its state after the last frame.
    pub state: StreamState,
}

/// The connection error that stopped the walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The rule; its `code()` is what the GOAWAY would carry.
    pub violation: Violation,
    /// Where the offending frame (or the bytes) start in the input.
    pub offset: usize,
    /// The offending frame, as an index into `Report::frames`, when it got that far.
    pub frame: Option<usize>,
}

/// How the walk ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Every byte was decoded.
    Complete,
    /// The input ends inside a frame (or the preface): the filter would wait for more.
    Incomplete {
        /// Where the unfinished part starts.
        offset: usize,
    },
    /// A connection error: the filter sends GOAWAY and reads no more.
    Failed,
    /// `max_frames` frames were reported.
    FrameLimit,
    /// `max_bytes` of input were decoded; more was given.
    ByteLimit,
}

/// What the walk found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Whose bytes: `Auto` when nothing told.
    pub direction: Direction,
    /// The bytes began with the client preface.
    pub preface: bool,
    /// Every frame reached, in order.
    pub frames: Vec<Frame>,
    /// Every header block completed, in order.
    pub blocks: Vec<HeaderBlock>,
    /// Each stream's frames, by ascending id.
    pub streams: Vec<StreamSummary>,
    /// The connection error, if any.
    pub failure: Option<Failure>,
    /// How the walk ended.
    pub end: End,
    /// Input bytes decoded (up to the failing frame's end of header, or the last whole frame).
    pub decoded: usize,
}

/// Walks `bytes` (one direction of one connection, from its start when
/// `options.from_start`) and reports what the filter's decoder makes of them.
pub fn inspect(bytes: &[u8], options: &Options) -> Report {
    walk::Walk::new(options).run(bytes)
}
