//! The RFC 9113 §5.1 stream states, plus "error pending" and "reset", as one transition table.
//!
//! Push is disabled in both directions, so the two "reserved" states never occur.

use crate::error::ErrorCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Idle,
    Open,
    /// We sent END_STREAM; the peer may still send.
    HalfClosedLocal,
    /// The peer sent END_STREAM; we may still send.
    HalfClosedRemote,
    /// Both sides sent END_STREAM.
    Closed,
    /// A stream error happened: an RST_STREAM with this code must be sent.
    ErrorPending(ErrorCode),
    /// RST_STREAM sent or received: closed, and never answered with another RST (§5.4.2).
    Reset,
}

/// What happens to a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// A HEADERS or DATA frame arrives; `end` is its END_STREAM flag.
    Recv { end: bool },
    /// We write a HEADERS or DATA frame; `end` is its END_STREAM flag.
    Send { end: bool },
    /// The peer reset the stream.
    RecvReset,
    /// We detected a stream error.
    Fail(ErrorCode),
    /// Our RST_STREAM was written.
    ResetSent,
}

impl State {
    /// The whole state machine. `Err` is the stream error the input causes (§5.1: frames
    /// after the peer's END_STREAM are STREAM_CLOSED).
    pub fn next(self, input: Input) -> Result<State, ErrorCode> {
        use Input::*;
        use State::*;
        Ok(match (self, input) {
            // Once reset, nothing changes: late frames are ignored by the caller.
            (Reset, _) => Reset,
            (ErrorPending(_), ResetSent) => Reset,
            (ErrorPending(_), RecvReset) => Reset,
            (ErrorPending(c), _) => ErrorPending(c),
            (_, RecvReset) => Reset,
            (_, Fail(code)) => ErrorPending(code),
            (_, ResetSent) => Reset,

            (Idle, Recv { end: false }) | (Idle, Send { end: false }) => Open,
            (Idle, Recv { end: true }) => HalfClosedRemote,
            (Idle, Send { end: true }) => HalfClosedLocal,

            (Open, Recv { end }) => {
                if end {
                    HalfClosedRemote
                } else {
                    Open
                }
            }
            (Open, Send { end }) => {
                if end {
                    HalfClosedLocal
                } else {
                    Open
                }
            }
            (HalfClosedLocal, Recv { end }) => {
                if end {
                    Closed
                } else {
                    HalfClosedLocal
                }
            }
            (HalfClosedRemote, Send { end }) => {
                if end {
                    Closed
                } else {
                    HalfClosedRemote
                }
            }
            (HalfClosedRemote, Recv { .. }) | (Closed, Recv { .. }) => {
                return Err(ErrorCode::StreamClosed)
            }
            // Sending after our own END_STREAM is a bug of the caller, refused before here.
            (HalfClosedLocal, Send { .. }) | (Closed, Send { .. }) => {
                return Err(ErrorCode::InternalError)
            }
        })
    }

    pub fn can_recv(self) -> bool {
        matches!(self, State::Open | State::HalfClosedLocal)
    }

    pub fn can_send(self) -> bool {
        matches!(self, State::Open | State::HalfClosedRemote)
    }

    /// Closed for the protocol: counts no more against MAX_CONCURRENT_STREAMS (§5.1.2).
    pub fn is_closed(self) -> bool {
        matches!(self, State::Closed | State::Reset | State::ErrorPending(_))
    }
}

#[cfg(test)]
mod tests {
    use super::Input::*;
    use super::State::*;
    use super::*;

    #[test]
    fn request_response_lifecycle() {
        let s = Idle.next(Recv { end: false }).unwrap();
        assert_eq!(s, Open);
        let s = s.next(Recv { end: true }).unwrap();
        assert_eq!(s, HalfClosedRemote);
        assert_eq!(s.next(Recv { end: false }), Err(ErrorCode::StreamClosed));
        let s = s.next(Send { end: false }).unwrap();
        assert_eq!(s.next(Send { end: true }).unwrap(), Closed);
        assert_eq!(
            Closed.next(Recv { end: false }),
            Err(ErrorCode::StreamClosed)
        );
    }

    #[test]
    fn errors_and_resets_are_sticky() {
        let s = Open.next(Fail(ErrorCode::FlowControlError)).unwrap();
        assert_eq!(s, ErrorPending(ErrorCode::FlowControlError));
        assert_eq!(s.next(Recv { end: true }).unwrap(), s);
        assert_eq!(s.next(ResetSent).unwrap(), Reset);
        assert_eq!(Reset.next(Fail(ErrorCode::Cancel)).unwrap(), Reset);
        assert_eq!(HalfClosedLocal.next(RecvReset).unwrap(), Reset);
        assert!(Reset.is_closed() && !Reset.can_send() && !Reset.can_recv());
    }
}
