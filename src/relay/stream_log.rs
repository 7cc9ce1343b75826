//! What an access-log line says about one client stream. Captured only for the streams the
//! configuration samples (`access_log`), so that logging off costs a stream nothing.

use crate::error::ErrorCode;
use crate::message::Message;

use super::Ending;

/// Who reset a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetBy {
    /// The client sent RST_STREAM (or, HTTP/1.1, went away mid-message).
    Client,
    /// The upstream sent RST_STREAM.
    Upstream,
    /// h2mux: a rule the peer broke, a malformed response, a full queue.
    H2mux,
}

impl ResetBy {
    /// As the access log writes it.
    pub fn name(self) -> &'static str {
        match self {
            ResetBy::Client => "client",
            ResetBy::Upstream => "upstream",
            ResetBy::H2mux => "h2mux",
        }
    }
}

/// The request and what happened to it, beyond `StreamEnd`'s figures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamLog {
    /// `:method`.
    pub method: Vec<u8>,
    /// `:authority` (HTTP/1.1: from the absolute-form, else Host).
    pub authority: Vec<u8>,
    /// Cut to the configured `max_path` bytes (`path_cut` says so).
    pub path: Vec<u8>,
    /// The path was longer than `max_path`.
    pub path_cut: bool,
    /// The client spoke HTTP/1.x on this connection (else HTTP/2).
    pub client_http1: bool,
    /// The upstream stream that carried it (0: none, it never went upstream).
    pub upstream_stream: u32,
    /// Request body bytes from the client, response body bytes to it.
    pub bytes_in: u64,
    /// Response body bytes passed on to the client.
    pub bytes_out: u64,
    /// The first reset of the stream, and who sent it.
    pub reset: Option<(ResetBy, ErrorCode)>,
    /// The connection was ending (a GOAWAY) when the stream ended: who, the code, the rule.
    pub ending: Option<Ending>,
}

impl StreamLog {
    /// The request's part, from its head; the rest fills in as the stream goes.
    pub fn new(message: &Message, max_path: usize, client_http1: bool) -> StreamLog {
        let path = message.path().unwrap_or_default();
        let cut = path.len() > max_path;
        StreamLog {
            method: message.method().unwrap_or_default().to_vec(),
            authority: message.authority().unwrap_or_default().to_vec(),
            path: path.get(..max_path).unwrap_or(path).to_vec(),
            path_cut: cut,
            client_http1,
            upstream_stream: 0,
            bytes_in: 0,
            bytes_out: 0,
            reset: None,
            ending: None,
        }
    }
}

/// Whether a stream is logged at this sample rate: drawn from the connection and stream ids,
/// so that the choice needs no random source and a stream's answer never changes.
pub fn sampled(conn: u32, stream: u32, sample: f64) -> bool {
    if sample >= 1.0 {
        return true;
    }
    let h = u64::from(conn).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ u64::from(stream).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
    let h = (h ^ (h >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    ((h >> 32) as f64) < sample * 4_294_967_296.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_follows_the_rate_and_is_stable() {
        for rate in [0.0, 0.1, 0.5, 0.9] {
            let n = (1..=20_000u32)
                .filter(|&s| sampled(7, s * 2 - 1, rate))
                .count();
            let got = n as f64 / 20_000.0;
            assert!((got - rate).abs() < 0.02, "rate {rate}: {got}");
        }
        assert!((1..1000).all(|s| sampled(3, s, 1.0)));
        assert_eq!(sampled(9, 41, 0.3), sampled(9, 41, 0.3));
    }

    #[test]
    fn long_paths_are_cut() {
        let m = Message::request(b"GET", b"https", b"a.example", b"/0123456789");
        let l = StreamLog::new(&m, 4, false);
        assert_eq!((&l.path[..], l.path_cut), (&b"/012"[..], true));
        let l = StreamLog::new(&m, 64, true);
        assert_eq!((&l.path[..], l.path_cut), (&b"/0123456789"[..], false));
    }
}
