//! The JS package (feature `js`, `wasm32-unknown-unknown`, glue made by wasm-bindgen): the
//! same core for Node, Deno and browsers.
//!
//! - `Connection` (`connection.rs`): one HTTP/2 connection in either role, in the shape of
//!   python-hyper h2's events API (`events.rs` turns the core's events into JS objects).
//! - `RelayGroup` and `Relay` (`relay.rs`): the shell for many client connections (each with
//!   its upstream) sharing one buffer quota, or for one, for a host that can write both ways
//!   at any time (`Capabilities::unrestricted()`), taking the filter's JSON configuration.
//! - `inspect()` (`inspect.rs`): the HTTP/2 inspector's walk (`crate::inspect`) as a plain
//!   object, for the inspector page and for tests of captured bytes.
//! - `convert.rs`: values across the boundary and errors as JS `Error`s with their RFC code
//!   and rule; `glue.rs`: the JS built-ins imported.
//!
//! The TypeScript declarations below complete the generated `.d.ts`: every event, the
//! options, and the errors thrown.

// The `#[wasm_bindgen]` expansions are unsafe code of wasm-bindgen's; this module writes none.
#![allow(unsafe_code)]

mod connection;
mod convert;
mod events;
mod glue;
mod inspect;
mod relay;

use wasm_bindgen::prelude::*;

pub use connection::Connection;
pub use inspect::inspect;
pub use relay::{Relay, RelayGroup};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** A header list: `[name, value]` pairs in order, pseudo-headers first. Names are lower
 * case; values are strings of code points 0-255 (latin1), as in Node's HTTP modules. */
export type HeaderList = [string, string][];

/** RFC 9113 §7 error code names; an unknown code reads `UNKNOWN_0x...`. */
export type ErrorCodeName =
  | "NO_ERROR" | "PROTOCOL_ERROR" | "INTERNAL_ERROR" | "FLOW_CONTROL_ERROR"
  | "SETTINGS_TIMEOUT" | "STREAM_CLOSED" | "FRAME_SIZE_ERROR" | "REFUSED_STREAM" | "CANCEL"
  | "COMPRESSION_ERROR" | "CONNECT_ERROR" | "ENHANCE_YOUR_CALM" | "INADEQUATE_SECURITY"
  | "HTTP_1_1_REQUIRED" | string;

/** Limits shared with the filter's configuration (see README, "Limits and their defaults"). */
export interface Limits {
  header_table_size?: number;
  max_concurrent_streams?: number;
  initial_window_size?: number;
  connection_window?: number;
  max_frame_size?: number;
  max_header_list_size?: number;
  encoder_table_size?: number;
  max_header_block?: number;
  max_continuation_frames?: number;
  max_header_fields?: number;
  max_settings_entries?: number;
  max_stream_send_queue?: number;
  max_pending_resets?: number;
  glitch_threshold?: number;
  glitch_decay_per_sec?: number;
  settings_timeout_ms?: number;
  idle_timeout_ms?: number;
  shutdown_timeout_ms?: number;
}

/** Options of a `Connection`: its role, and any limit. `buffer_size` and `quota_bytes`
 * size its own buffer pool. An unknown key or a bad value throws `H2ConfigError`. */
export interface ConnectionOptions extends Limits {
  role: "server" | "client";
  buffer_size?: number;
  quota_bytes?: number;
}

/** The filter's configuration, as JSON text or as an object (README, "Plugin configuration"). */
export type RelayConfig = string | (Limits & {
  buffer_size?: number;
  quota_bytes?: number;
  reserve_buffers?: number;
  max_waiters?: number;
  tick_ms?: number;
  max_held_upstream_bytes?: number;
  max_parked_client_bytes?: number;
  upstream_protocol?: "h2" | "http/1.1";
  accept_http1?: boolean;
  log_level?: "error" | "warn" | "info" | "debug" | "trace";
  frontend?: Limits;
  backend?: Limits;
}) | undefined;

/** A request head (server role) or a response head, 1xx or final (client role). */
export interface HeadersEvent {
  type: "headers";
  streamId: number;
  headers: HeaderList;
  /** The peer ended the stream with this head: no body follows. */
  endStream: boolean;
}

/** Trailers: they always end the stream. */
export interface TrailersEvent {
  type: "trailers";
  streamId: number;
  headers: HeaderList;
  endStream: true;
}

/** Body bytes (padding removed). Give the credit back with `releaseCapacity(streamId,
 * data.length)` once consumed: that is the flow control the peer sees. */
export interface DataEvent {
  type: "data";
  streamId: number;
  data: Uint8Array;
  endStream: boolean;
}

/** A stream was reset: by the peer (`remote`), or by this side after a stream error. */
export interface ResetEvent {
  type: "reset";
  streamId: number;
  code: ErrorCodeName;
  errorCode: number;
  remote: boolean;
}

/** Queued DATA of a stream went out: `length` more bytes may be queued. */
export interface DataSentEvent {
  type: "dataSent";
  streamId: number;
  length: number;
}

/** The peer sent GOAWAY: streams above `lastStreamId` were not processed. */
export interface GoAwayEvent {
  type: "goaway";
  lastStreamId: number;
  code: ErrorCodeName;
  errorCode: number;
  debugData: Uint8Array;
}

/** The peer's SETTINGS were applied (and acknowledged). */
export interface SettingsEvent {
  type: "settings";
  /** How many streams this side may open now. */
  maxConcurrentStreams: number;
}

/** A PING of ours was answered. */
export interface PingAckEvent {
  type: "pingAck";
  payload: Uint8Array;
}

/** The connection ended with an error: a GOAWAY with `code` is in `dataToSend()`. */
export interface ConnectionTerminatedEvent {
  type: "connectionTerminated";
  code: ErrorCodeName;
  errorCode: number;
  /** The rule that fired (`data_after_end_stream`, `hpack_bad_index`, ...), `local` when
   * this side ended it, `internal` for a broken invariant of h2mux's own. */
  rule: string;
  reason: string;
}

/** Every event `pollEvent` returns, told apart by `type`. */
export type H2Event =
  | HeadersEvent | TrailersEvent | DataEvent | ResetEvent | DataSentEvent | GoAwayEvent
  | SettingsEvent | PingAckEvent | ConnectionTerminatedEvent;

/** What every h2mux error carries besides its message. `name` is `H2ProtocolError` (the
 * peer broke a rule: the connection failed), `H2SendError` (a send call refused),
 * `H2ConfigError` (a bad option; `key` names it) or `H2ArgumentError`. */
export interface H2muxError extends Error {
  name: "H2ProtocolError" | "H2SendError" | "H2ConfigError" | "H2ArgumentError";
  /** The rule that fired (snake_case), `config` or `argument`. */
  rule: string;
  /** The RFC 9113 code, when the error has one. */
  code?: ErrorCodeName;
  errorCode?: number;
  key?: string;
}

/** Options of `inspect`. */
export interface InspectOptions {
  /** Whose bytes: a client's (checked as h2mux checks a client's), a server's (as h2mux
   * checks an upstream's), or `"auto"` (default): the client preface, else the first
   * header block (`:method` or not), tells. */
  direction?: "auto" | "client" | "server";
  /** The bytes begin at the connection's start, so the first frame must be SETTINGS
   * (default true). The client preface is optional either way. */
  fromStart?: boolean;
  /** Frames reported (default 10000); the walk stops there (`end: "frame_limit"`). */
  maxFrames?: number;
  /** Input bytes decoded (default 16 MiB); the rest is not looked at (`end: "byte_limit"`). */
  maxBytes?: number;
  /** Decoded names and values and GOAWAY debug data kept, in bytes (default 4 MiB); past
   * it blocks are still decoded and checked, their `headers` empty and `fieldsCut` set. */
  maxKeptBytes?: number;
  /** The receiver's settings and limits (`max_frame_size`, `header_table_size`,
   * `max_header_list_size`, `max_header_block`, `max_continuation_frames`,
   * `max_header_fields`, `max_settings_entries`), with the filter's defaults. */
  limits?: Limits;
}

/** A rule broken, with the RFC 9113 code it is answered with. */
export interface InspectedViolation {
  code: ErrorCodeName;
  errorCode: number;
  /** The rule (`frame_bad_length`, `hpack_bad_index`, ...), as in the filter's metrics. */
  rule: string;
  reason: string;
}

/** One frame as found in the input. Fields past `summary` are set by type. */
export interface InspectedFrame {
  index: number;
  /** Where its 9-byte header starts in the input. */
  offset: number;
  /** `DATA`, `HEADERS`, ..., `UNKNOWN`. */
  type: string;
  typeCode: number;
  flags: number;
  /** The flags its type defines, by name (`END_STREAM`, `ACK`...); other bits in hex. */
  flagNames: string[];
  streamId: number;
  /** Payload length from the header. */
  length: number;
  /** The payload in one line. */
  summary: string;
  /** The header block this frame completed (END_HEADERS): an index into `blocks`. */
  block: number | null;
  /** A stream error: h2mux resets this stream (RST_STREAM with `code`) and reads on. */
  streamError: InspectedViolation | null;
  /** DATA: content bytes, padding excluded. */
  dataLength?: number;
  /** DATA, HEADERS: the Pad Length field. */
  padLength?: number;
  /** HEADERS, CONTINUATION: bytes of header block in this frame. */
  fragmentLength?: number;
  /** HEADERS with PRIORITY, PRIORITY. */
  priority?: { dependency: number; exclusive: boolean; weight: number };
  /** SETTINGS. */
  settings?: { id: number; name: string; value: number }[];
  /** WINDOW_UPDATE. */
  increment?: number;
  /** RST_STREAM, GOAWAY. */
  code?: ErrorCodeName;
  errorCode?: number;
  /** PING: the 8 bytes in hex. */
  pingData?: string;
  /** GOAWAY. */
  lastStreamId?: number;
  debugData?: string;
  debugLength?: number;
  /** The input ends inside this frame: payload bytes present. */
  partial?: number;
}

/** A header block (HEADERS and its CONTINUATIONs) decoded with the HPACK state of every
 * block before it. */
export interface InspectedBlock {
  index: number;
  streamId: number;
  /** Its frames, as indices into `frames`. */
  frames: number[];
  endStream: boolean;
  /** What it was checked as; null when decoded only to keep HPACK in sync. */
  kind: "request" | "response" | "trailers" | null;
  headers: HeaderList;
  /** Names of the never-indexed fields. */
  sensitive: string[];
  fieldsCut: boolean;
  /** The HPACK dynamic table after this block. */
  tableSize: number;
  tableEntries: number;
  /** The stream error the block is answered with. */
  error: InspectedViolation | null;
}

/** What `inspect` found. */
export interface Inspection {
  direction: "client" | "server" | "unknown";
  /** The bytes began with the client preface. */
  preface: boolean;
  /** Input bytes given, and decoded. */
  length: number;
  decoded: number;
  /** `incomplete`: the input ends inside a frame (at `incompleteAt`); `failed`: see `error`. */
  end: "complete" | "incomplete" | "failed" | "frame_limit" | "byte_limit";
  incompleteAt: number | null;
  frames: InspectedFrame[];
  blocks: InspectedBlock[];
  /** Each stream's frames in order, by ascending id. */
  streams: { streamId: number; state: "idle" | "open" | "ended" | "reset_by_sender" | "reset_by_receiver"; frames: number[] }[];
  /** The connection error that stopped the walk, where h2mux would stop: a GOAWAY with
   * `code`. `frame` is null when the bytes failed before any frame (the preface). */
  error: (InspectedViolation & { offset: number; frame: number | null }) | null;
}
"#;

#[wasm_bindgen]
extern "C" {
    /// `ConnectionOptions` of the .d.ts.
    #[wasm_bindgen(typescript_type = "ConnectionOptions")]
    pub type ConnectionOptions;
    /// `RelayConfig` of the .d.ts.
    #[wasm_bindgen(typescript_type = "RelayConfig")]
    pub type RelayConfig;
    /// `HeaderList` of the .d.ts.
    #[wasm_bindgen(typescript_type = "HeaderList")]
    pub type HeaderList;
    /// `InspectOptions` of the .d.ts.
    #[wasm_bindgen(typescript_type = "InspectOptions")]
    pub type InspectOptions;
    /// `Inspection` of the .d.ts.
    #[wasm_bindgen(typescript_type = "Inspection")]
    pub type Inspection;
    /// An event, or null.
    #[wasm_bindgen(typescript_type = "H2Event | null")]
    pub type MaybeEvent;
}
