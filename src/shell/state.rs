//! What state one connection is in, as a few enums: where the client's unconsumed bytes
//! are, whether the upstream ended, how far the connection is from closing, and whether it
//! moved bytes since the last idle scan.

use crate::time::Instant;

/// The client bytes the relay has not taken yet, and who keeps them.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) enum ClientBytes {
    /// Nothing waits: everything the host handed over was taken.
    #[default]
    Flowing,
    /// The host keeps them, paused (Envoy: our last answer to the downstream buffer was
    /// Pause). It hands them back, followed by any new ones, at the next event; until
    /// then upstream-bound bytes may be written into that buffer in their place.
    Held {
        /// The client's end of stream came with them.
        at_end: bool,
    },
    /// Nothing is held, but the host keeps the downstream paused (Envoy: the bytes went on
    /// from inside the callback, which then returned Pause): its buffer stays writable
    /// until the next downstream event, even after a resume, so upstream-bound bytes can be
    /// written from any event or wake-up (`Conn::park_if_idle`).
    Parked,
    /// The shell keeps them (never empty), in order, ahead of anything the host hands over
    /// next. With Envoy: at most one delivery, set aside to ring the upstream instead of
    /// pausing while client-bound bytes wait. With a host that cannot hold: every byte
    /// not taken, up to a bound.
    Kept {
        bytes: Vec<u8>,
        at_end: bool,
        /// The host keeps the downstream paused with nothing in its buffer, as `Parked`:
        /// what the kept bytes make for the upstream goes from any event, so a client that
        /// wrote its whole body and went silent still gets it through as credit comes back.
        parked: bool,
    },
}

/// Whether the upstream sent its end of stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum UpstreamEnd {
    Open,
    /// The relay hears of it once the upstream bytes kept before it were taken.
    Ended,
    /// The relay heard of it.
    Told,
}

/// How far the connection is from its close.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Relaying.
    Open,
    /// Nothing is left but delivering the last frames (the client connection failed, or the
    /// relay is ending with no stream left): closed at `close_by` even if they could not be
    /// delivered (a silent upstream brings no callback to carry them).
    Finishing { close_by: Instant },
    /// To be closed. Where a close drops the bytes set in the same callback, from the next
    /// idle scan's visit, after the last bytes went out in an earlier callback.
    Closing(CloseReason),
    /// The host was told to close; it will report the connection gone.
    Closed,
}

/// Why a connection is closing (the HTTP/1.x answer is given once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CloseReason {
    /// The client connection is done: its last bytes are out.
    Done,
    /// The upstream sent more than the shell may keep while the relay cannot take it.
    UpstreamOverflow,
    /// The client sent more than the shell may keep (a host that cannot hold bytes).
    ClientOverflow,
    /// An HTTP/1.x client got its plain-text answer.
    Http1Answered,
    /// Finished, and its last frames could not be delivered within the grace period.
    Undeliverable,
}

impl Phase {
    /// A close is decided (or made): the HTTP/1.x answer, if due, was given or is moot.
    pub(crate) fn http1_answered(self) -> bool {
        matches!(
            self,
            Phase::Closing(CloseReason::Http1Answered) | Phase::Closed
        )
    }

    /// Marks the connection for closing, unless it already is (the first reason stays).
    pub(crate) fn close_for(&mut self, why: CloseReason) {
        if matches!(self, Phase::Open | Phase::Finishing { .. }) {
            *self = Phase::Closing(why);
        }
    }
}

/// Whether bytes moved since the last idle scan: a quiet connection gives back its queue
/// memory (timers and quota resumptions do not count as bytes moving).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Activity {
    Busy,
    Quiet,
}
