//! Every knob of the core, with safe defaults, and the glitch meter that turns suspicious but
//! legal peer behaviour into a graceful GOAWAY and then ENHANCE_YOUR_CALM.

use crate::time::Instant;

/// Configuration of one connection context. Values we advertise to the peer come first, then
/// the limits that bound what a peer can make us hold or do.
#[derive(Clone, Debug)]
pub struct Config {
    /// SETTINGS_HEADER_TABLE_SIZE we advertise: the HPACK table the peer may make us keep.
    pub header_table_size: u32,
    /// SETTINGS_MAX_CONCURRENT_STREAMS we advertise. Streams beyond it are refused, and
    /// streams the peer has reset keep counting until the other side is done with them.
    pub max_concurrent_streams: u32,
    /// SETTINGS_INITIAL_WINDOW_SIZE we advertise (per-stream receive window).
    pub initial_window_size: u32,
    /// The connection-level receive window we open right after the preface.
    pub connection_window: u32,
    /// SETTINGS_MAX_FRAME_SIZE we advertise; also the largest payload we send.
    pub max_frame_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE we advertise and enforce on decoded blocks.
    pub max_header_list_size: u32,
    /// The most HPACK table memory we use for the peer, whatever it allows.
    pub encoder_table_size: u32,
    /// The largest header block (HEADERS + CONTINUATION payloads) we accept before decoding.
    pub max_header_block: usize,
    /// The most frames one header block may be split into.
    pub max_continuation_frames: u32,
    /// The most fields a decoded header block may hold.
    pub max_header_fields: usize,
    /// The most entries one SETTINGS frame may carry.
    pub max_settings_entries: usize,
    /// The most bytes a stream may queue for sending before `send_data` pushes back.
    pub max_stream_send_queue: usize,
    /// RST_STREAM frames for streams without a context (closed, refused) that may wait to be
    /// written; past it the connection stops reading until they are out.
    pub max_pending_resets: usize,
    /// Glitch points after which the connection ends with ENHANCE_YOUR_CALM; a graceful
    /// GOAWAY is sent at three quarters of it.
    pub glitch_threshold: u32,
    /// Glitch points forgiven per second, so that a long, healthy connection does not add up
    /// rare glitches forever.
    pub glitch_decay_per_sec: u32,
    /// How long a SETTINGS frame may wait for its ACK.
    pub settings_timeout_ms: u64,
    /// A connection with no stream and no frame for this long is closed gracefully (0: never).
    pub idle_timeout_ms: u64,
    /// How long a graceful shutdown waits for open streams before closing anyway.
    pub shutdown_timeout_ms: u64,
    /// HTTP/1.1 on this side: the frontend accepts HTTP/1.1 clients (told from their first
    /// bytes), the backend speaks HTTP/1.1 to the upstream instead of HTTP/2.
    pub http1: bool,
    /// HTTP/1.1: the longest request line (414 beyond).
    pub h1_max_request_line: usize,
    /// HTTP/1.1: the longest head, start line and fields (431 beyond).
    pub h1_max_head_bytes: usize,
    /// HTTP/1.1 clients: requests forwarded before the earlier ones are answered. Later
    /// answers wait in h2mux for their turn, each up to `max_stream_send_queue`. Requests
    /// read in one callback all go upstream in it: under Envoy's rules a request read later,
    /// in an upstream callback, could not be written upstream.
    pub h1_max_pipelined: usize,
    /// HTTP/1.1: the longest chunk-size line, extensions included.
    pub h1_max_chunk_line: usize,
    /// How long a request may wait for the upstream's concurrency (an HTTP/1.1 upstream
    /// takes one at a time) before the client gets a 503.
    pub queue_timeout_ms: u64,
    /// The client side only: which streams get an access-log line (set by the plugin
    /// configuration's `access_log`, not a limit key).
    pub access_log: Option<AccessLog>,
}

/// Access logging of client streams: one line per sampled stream.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AccessLog {
    /// The share of streams logged, 0.0..=1.0 (each stream's lot is drawn from its
    /// connection and stream ids: the same stream always gets the same answer).
    pub sample: f64,
    /// Paths are cut to this many bytes in the line.
    pub max_path: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            header_table_size: 4096,
            max_concurrent_streams: 100,
            initial_window_size: 65_535,
            connection_window: 1 << 20,
            max_frame_size: 16_384,
            max_header_list_size: 32 * 1024,
            encoder_table_size: 4096,
            max_header_block: 32 * 1024,
            max_continuation_frames: 32,
            max_header_fields: 256,
            max_settings_entries: 32,
            max_stream_send_queue: 1 << 20,
            max_pending_resets: 64,
            glitch_threshold: 1000,
            glitch_decay_per_sec: 100,
            settings_timeout_ms: 10_000,
            idle_timeout_ms: 300_000,
            shutdown_timeout_ms: 10_000,
            http1: false,
            h1_max_request_line: 8 * 1024,
            h1_max_head_bytes: 32 * 1024,
            h1_max_pipelined: 16,
            h1_max_chunk_line: 1024,
            queue_timeout_ms: 30_000,
            access_log: None,
        }
    }
}

impl Config {
    /// Checks values that would make the protocol or the core inconsistent; says which knob.
    pub fn validate(&self) -> Result<(), &'static str> {
        if !(16_384..=16_777_215).contains(&self.max_frame_size) {
            return Err("max_frame_size must be within 16384..=16777215");
        }
        if self.initial_window_size > 0x7fff_ffff {
            return Err("initial_window_size must be at most 2^31-1");
        }
        if self.connection_window < 65_535 || self.connection_window > 0x7fff_ffff {
            return Err("connection_window must be within 65535..=2^31-1");
        }
        if self.max_concurrent_streams == 0 {
            return Err("max_concurrent_streams must be at least 1");
        }
        if self.max_header_block < 1024 {
            return Err("max_header_block must be at least 1024");
        }
        if self.max_continuation_frames == 0 {
            return Err("max_continuation_frames must be at least 1");
        }
        if self.glitch_threshold == 0 {
            return Err("glitch_threshold must be at least 1");
        }
        if self.h1_max_request_line < 64 || self.h1_max_request_line > self.h1_max_head_bytes {
            return Err("h1_max_request_line must be within 64..=h1_max_head_bytes");
        }
        if self.h1_max_pipelined == 0 {
            return Err("h1_max_pipelined must be at least 1");
        }
        if self.h1_max_chunk_line < 16 {
            return Err("h1_max_chunk_line must be at least 16");
        }
        if self.max_settings_entries < 7 {
            return Err("max_settings_entries must be at least 7 (one per known setting)");
        }
        Ok(())
    }
}

/// Suspicious but legal events and their cost in glitch points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Glitch {
    /// The peer reset a stream it opened before any response (rapid reset).
    EarlyReset,
    /// The peer made us reset a stream (MadeYouReset and friends).
    OwnReset,
    /// A new stream over our MAX_CONCURRENT_STREAMS; a client may do it legitimately before
    /// it has seen our SETTINGS, so it costs little.
    RefusedStream,
    /// DATA without payload and without END_STREAM, or HEADERS/CONTINUATION fragment of 0 bytes.
    EmptyFrame,
    /// A CONTINUATION fragment smaller than a header field could be.
    TinyContinuation,
    /// A frame of a type we do not know.
    IgnoredFrame,
    /// A PING or SETTINGS frame: legal, but each costs us an ACK.
    ControlFrame,
    /// A WINDOW_UPDATE that opens less than a useful amount.
    TinyWindowUpdate,
}

impl Glitch {
    /// What this glitch adds to the peer's score.
    pub fn points(self) -> u32 {
        match self {
            Glitch::EarlyReset => 10,
            Glitch::OwnReset => 10,
            Glitch::RefusedStream => 2,
            Glitch::EmptyFrame => 5,
            Glitch::TinyContinuation => 10,
            Glitch::IgnoredFrame => 2,
            Glitch::ControlFrame => 1,
            Glitch::TinyWindowUpdate => 1,
        }
    }
}

/// What the glitch meter says after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GlitchVerdict {
    /// Below three quarters of the threshold: nothing to do.
    Fine,
    /// Three quarters of the threshold: ask the peer to go (graceful GOAWAY).
    Warn,
    /// Threshold reached: connection error ENHANCE_YOUR_CALM.
    Exceeded,
}

/// A score that rises with glitches and decays with time.
#[derive(Clone, Debug, Default)]
pub struct GlitchMeter {
    score: u32,
    /// Saturating: it only feeds a metric, and every connection carries it.
    total: u32,
    last: Instant,
}

impl GlitchMeter {
    /// Adds a glitch after decaying the score for the time since the last one; says what to do.
    pub fn add(&mut self, g: Glitch, now: Instant, cfg: &Config) -> GlitchVerdict {
        let elapsed_ms = now.as_millis().saturating_sub(self.last.as_millis());
        if elapsed_ms > 0 {
            let forgiven = elapsed_ms.saturating_mul(u64::from(cfg.glitch_decay_per_sec)) / 1000;
            if forgiven > 0 {
                self.score = self
                    .score
                    .saturating_sub(u32::try_from(forgiven).unwrap_or(u32::MAX));
                self.last = now;
            }
        }
        self.score = self.score.saturating_add(g.points());
        self.total = self.total.saturating_add(g.points());
        if self.score >= cfg.glitch_threshold {
            GlitchVerdict::Exceeded
        } else if u64::from(self.score) * 4 >= u64::from(cfg.glitch_threshold) * 3 {
            GlitchVerdict::Warn
        } else {
            GlitchVerdict::Fine
        }
    }

    /// The score now, decayed only as of the last glitch.
    pub fn score(&self) -> u32 {
        self.score
    }

    /// All points ever added, for metrics.
    pub fn total(&self) -> u64 {
        u64::from(self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Config::default().validate(), Ok(()));
        let bad = Config {
            max_frame_size: 1000,
            ..Config::default()
        };
        assert!(bad.validate().is_err());
    }

    #[test]
    fn glitches_warn_then_exceed_and_decay() {
        let cfg = Config {
            glitch_threshold: 100,
            glitch_decay_per_sec: 10,
            ..Config::default()
        };
        let mut m = GlitchMeter::default();
        let t = Instant(0);
        for _ in 0..7 {
            assert_eq!(m.add(Glitch::EarlyReset, t, &cfg), GlitchVerdict::Fine);
        }
        assert_eq!(m.add(Glitch::EarlyReset, t, &cfg), GlitchVerdict::Warn);
        // Five seconds forgive fifty points.
        assert_eq!(
            m.add(Glitch::ControlFrame, Instant(5000), &cfg),
            GlitchVerdict::Fine
        );
        assert_eq!(m.score(), 31);
        for _ in 0..7 {
            m.add(Glitch::OwnReset, Instant(5000), &cfg);
        }
        assert_eq!(
            m.add(Glitch::OwnReset, Instant(5000), &cfg),
            GlitchVerdict::Exceeded
        );
    }
}
