//! The RFC 9113 §5.1 stream states, plus "closing with a reset", "error pending" and
//! "reset", as one transition table: a stream's state changes only through `State::next`.
//!
//! Push is disabled in both directions, so the two "reserved" states never occur. The state
//! moves when a frame is *queued* by us (our END_STREAM counts from then), and when one is
//! *received* from the peer; `Stream::counts_as_open` adds what is still unwritten.

use crate::frame::ErrorCode;

/// Who ended a stream with RST_STREAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetBy {
    /// The peer's RST_STREAM: frames it sends after that are STREAM_CLOSED (§5.1).
    Peer,
    /// Ours, or the stream was dropped without one (the peer never saw it, the connection
    /// ended): frames in flight are ignored.
    Local,
}

/// A stream's state (RFC 9113 §5.1, plus the three of our own documented on each variant).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Not opened yet (§5.1): no frame sent or received on it.
    Idle,
    /// Both sides may send.
    Open,
    /// Our END_STREAM is queued; the peer may still send.
    HalfClosedLocal,
    /// The peer sent END_STREAM; we may still send.
    HalfClosedRemote,
    /// Both sides sent END_STREAM.
    Closed,
    /// Like `HalfClosedLocal`, and once our END_STREAM is written, RST_STREAM with this code
    /// follows: the other side finished its answer and wants no more of ours (§8.1, a
    /// complete response followed by RST_STREAM(NO_ERROR)).
    ClosingWithReset(ErrorCode),
    /// A stream error happened: an RST_STREAM with this code must be sent.
    ErrorPending(ErrorCode),
    /// RST_STREAM sent or received: closed, and never answered with another RST (§5.4.2).
    Reset(ResetBy),
}

/// What happens to a stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// A HEADERS or DATA frame arrives; `end` is its END_STREAM flag.
    Recv {
        /// The frame carries END_STREAM.
        end: bool,
    },
    /// We queue a HEADERS or DATA frame; `end` is its END_STREAM flag.
    Send {
        /// The frame carries END_STREAM.
        end: bool,
    },
    /// The peer reset the stream.
    RecvReset,
    /// A stream error, or the owner resets it: an RST_STREAM with this code is owed.
    Fail(ErrorCode),
    /// Our RST_STREAM was written.
    ResetSent,
    /// The stream ends without an RST_STREAM on the wire: the peer never saw it, the
    /// connection ended, or the peer's GOAWAY left it unprocessed.
    Drop,
    /// Reset with this code once our END_STREAM is written (see `ClosingWithReset`).
    ResetAfterEnd(ErrorCode),
    /// Our END_STREAM was written.
    EndWritten,
}

impl Input {
    /// Every state accepts this input (only frames, received or sent, can be refused).
    pub fn always_accepted(self) -> bool {
        !matches!(self, Input::Recv { .. } | Input::Send { .. })
    }
}

/// An input the state does not allow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The peer sent a frame after its END_STREAM (§5.1: STREAM_CLOSED).
    PeerEnded,
    /// We tried to send after our own END_STREAM: the caller must refuse that before.
    LocalEnded,
}

impl State {
    /// The whole state machine, in three parts by input: frames received, frames sent
    /// (the hot path: small and inlined where used), and everything else.
    #[inline(always)]
    pub fn next(self, input: Input) -> Result<State, Refused> {
        match input {
            Input::Recv { end } => self.on_recv(end),
            Input::Send { end } => self.on_send(end),
            other => Ok(self.on_control(other)),
        }
    }

    /// A HEADERS or DATA frame arrives (`end`: its END_STREAM).
    #[inline(always)]
    fn on_recv(self, end: bool) -> Result<State, Refused> {
        use State::*;
        Ok(match self {
            Idle | Open => {
                if end {
                    HalfClosedRemote
                } else {
                    Open
                }
            }
            HalfClosedLocal => {
                if end {
                    Closed
                } else {
                    HalfClosedLocal
                }
            }
            // The peer finished too: nothing is left to stop.
            ClosingWithReset(code) => {
                if end {
                    Closed
                } else {
                    ClosingWithReset(code)
                }
            }
            HalfClosedRemote | Closed => return Err(Refused::PeerEnded),
            // Once reset or in error, nothing changes: late frames are the caller's to handle.
            ErrorPending(_) | Reset(_) => self,
        })
    }

    /// We queue a HEADERS or DATA frame (`end`: its END_STREAM).
    #[inline(always)]
    fn on_send(self, end: bool) -> Result<State, Refused> {
        use State::*;
        Ok(match self {
            Idle | Open => {
                if end {
                    HalfClosedLocal
                } else {
                    Open
                }
            }
            HalfClosedRemote => {
                if end {
                    Closed
                } else {
                    HalfClosedRemote
                }
            }
            HalfClosedLocal | ClosingWithReset(_) | Closed => return Err(Refused::LocalEnded),
            ErrorPending(_) | Reset(_) => self,
        })
    }

    /// Resets, drops and deferred resets: every state accepts them.
    pub(crate) fn on_control(self, input: Input) -> State {
        use Input::*;
        use State::*;
        match (self, input) {
            (Reset(by), _) => Reset(by),
            (_, RecvReset) => Reset(ResetBy::Peer),
            (ErrorPending(_), ResetSent | Drop) => Reset(ResetBy::Local),
            (ErrorPending(c), _) => ErrorPending(c),
            (_, Drop) => Reset(ResetBy::Local),
            (_, Fail(code)) => ErrorPending(code),
            (HalfClosedLocal, ResetAfterEnd(code)) => ClosingWithReset(code),
            (ClosingWithReset(code), EndWritten) => ErrorPending(code),
            // Only an error pending has an RST to write; nothing to stop on a stream closed
            // both ways, nor an end to wait for on one that has not ended our side.
            (s, ResetSent | ResetAfterEnd(_) | EndWritten) => s,
            // Frames are handled by `on_recv` and `on_send`.
            (s, Recv { .. } | Send { .. }) => s,
        }
    }

    /// The peer may still send HEADERS or DATA on it.
    pub fn can_recv(self) -> bool {
        matches!(
            self,
            State::Open | State::HalfClosedLocal | State::ClosingWithReset(_)
        )
    }

    /// We may still queue HEADERS or DATA on it.
    pub fn can_send(self) -> bool {
        matches!(self, State::Open | State::HalfClosedRemote)
    }

    /// Closed for the protocol: counts no more against MAX_CONCURRENT_STREAMS (§5.1.2).
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            State::Closed | State::Reset(_) | State::ErrorPending(_)
        )
    }

    /// Reset, or about to be: frames from the peer are no longer wanted.
    pub fn is_reset(self) -> bool {
        matches!(self, State::Reset(_) | State::ErrorPending(_))
    }

    /// The peer's END_STREAM came.
    pub fn peer_ended(self) -> bool {
        matches!(self, State::HalfClosedRemote | State::Closed)
    }

    /// Our END_STREAM is queued (or written).
    pub fn local_ended(self) -> bool {
        matches!(
            self,
            State::HalfClosedLocal | State::ClosingWithReset(_) | State::Closed
        )
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
        assert_eq!(s.next(Recv { end: false }), Err(Refused::PeerEnded));
        let s = s.next(Send { end: false }).unwrap();
        assert_eq!(s.next(Send { end: true }).unwrap(), Closed);
        assert_eq!(Closed.next(Recv { end: false }), Err(Refused::PeerEnded));
        assert_eq!(Closed.next(Send { end: true }), Err(Refused::LocalEnded));
    }

    #[test]
    fn errors_and_resets_are_sticky() {
        let s = Open.next(Fail(ErrorCode::FlowControlError)).unwrap();
        assert_eq!(s, ErrorPending(ErrorCode::FlowControlError));
        assert_eq!(s.next(Recv { end: true }).unwrap(), s);
        assert_eq!(s.next(ResetSent).unwrap(), Reset(ResetBy::Local));
        let r = Reset(ResetBy::Local);
        assert_eq!(r.next(Fail(ErrorCode::Cancel)).unwrap(), r);
        assert_eq!(r.next(RecvReset).unwrap(), r);
        assert_eq!(
            HalfClosedLocal.next(RecvReset).unwrap(),
            Reset(ResetBy::Peer)
        );
        assert_eq!(Open.next(Drop).unwrap(), Reset(ResetBy::Local));
        assert!(r.is_closed() && !r.can_send() && !r.can_recv());
    }

    #[test]
    fn a_reset_can_wait_for_our_end_stream() {
        let code = ErrorCode::NoError;
        let s = HalfClosedLocal.next(ResetAfterEnd(code)).unwrap();
        assert_eq!(s, ClosingWithReset(code));
        assert!(s.can_recv() && !s.can_send() && !s.is_closed());
        assert_eq!(s.next(Recv { end: false }).unwrap(), s);
        assert_eq!(s.next(EndWritten).unwrap(), ErrorPending(code));
        // The peer ended too: the stream simply closes.
        assert_eq!(s.next(Recv { end: true }).unwrap(), Closed);
        // Without our end queued there is nothing to wait for.
        assert_eq!(Open.next(ResetAfterEnd(code)).unwrap(), Open);
        assert_eq!(HalfClosedLocal.next(EndWritten).unwrap(), HalfClosedLocal);
    }
}
