//! Stream contexts (h2s): identifiers, the RFC 9113 §5.1 state machine, and the store with
//! its wait queues.

mod queue;
mod state;
mod store;

use bytes::Bytes;

pub use crate::frame::StreamId;
pub use queue::InlineQueue;
pub use state::{Input, Refused, ResetBy, State};
pub use store::{Key, Queue, Store};

use crate::flow::{RecvWindow, StreamSendWindow};
use crate::message::{BodyLength, Fields, Message};

/// What the peer has sent of its message so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecvPhase {
    /// Waiting for the (final) head.
    Head,
    /// Head received; DATA or trailers may follow.
    Body,
    /// Trailers received (END_STREAM came with them).
    Done,
}

/// A header block waiting to be encoded and written, in the connection's header queue.
pub enum PendingBlock {
    /// A head to write, and whether END_STREAM goes with it.
    Head(Message, bool),
    /// Trailers to write; END_STREAM always goes with them.
    Trailers(Fields),
}

/// One live stream. Closed streams have no context at all.
pub struct Stream {
    /// The stream's id; the key in the store carries it too.
    pub id: StreamId,
    /// Changed only through `apply`, which is the transition table.
    state: State,
    /// Receive credit the peer has on this stream, and what is owed back to it.
    pub recv_window: RecvWindow,
    /// Send credit the peer gave us on this stream.
    pub send_window: StreamSendWindow,
    /// DATA waiting to be written, and its total length.
    pub send_queue: InlineQueue<Bytes>,
    /// Bytes of DATA in `send_queue`.
    pub send_queued: usize,
    /// END_STREAM goes after the queued DATA.
    pub send_end: bool,
    /// Header blocks waiting (a head, 1xx heads, or trailers after the DATA).
    pub pending: InlineQueue<PendingBlock>,
    /// Trailers wait here until the queued DATA is out.
    pub trailers: Option<Fields>,
    /// How far the peer's message has come: head, body, or done.
    pub recv_phase: RecvPhase,
    /// Received DATA counted against the peer's content-length.
    pub recv_body: BodyLength,
    /// The request was HEAD (a backend stream: its response has no body).
    pub head_request: bool,
    /// A final response head was written (frontend) or received (backend).
    pub responded: bool,
    /// The other side of the relay still works on this stream: its slot is kept and it
    /// keeps counting against concurrency even once closed for the protocol.
    pub attached: bool,
    /// The peer knows the stream: it opened it, or our HEADERS for it were written. Until
    /// then a reset is silent (an RST_STREAM on a stream the peer has never seen is a
    /// connection error for it, §6.4).
    pub on_wire: bool,
    /// Waiting for its own WINDOW_UPDATE before it can send.
    pub window_blocked: bool,
    /// Which wait queues hold it (a bit per `Queue`).
    pub queued: u8,
}

impl Stream {
    /// A stream in state Idle, with `recv_window` of receive credit for the peer.
    pub fn new(id: StreamId, recv_window: u32) -> Stream {
        Stream {
            id,
            state: State::Idle,
            recv_window: RecvWindow::new(recv_window),
            send_window: StreamSendWindow::default(),
            send_queue: InlineQueue::default(),
            send_queued: 0,
            send_end: false,
            pending: InlineQueue::default(),
            trailers: None,
            recv_phase: RecvPhase::Head,
            recv_body: BodyLength::new(None, false),
            head_request: false,
            responded: false,
            attached: true,
            on_wire: true,
            window_blocked: false,
            queued: 0,
        }
    }

    /// Where the stream is in its life (§5.1).
    pub fn state(&self) -> State {
        self.state
    }

    /// Moves the state machine; on a refusal the state is unchanged.
    #[inline(always)]
    pub fn apply(&mut self, input: Input) -> Result<State, Refused> {
        self.state = self.state.next(input)?;
        Ok(self.state)
    }

    /// Applies an input every state accepts (a reset, a drop, an RST written, a deferred
    /// reset): those rows of the table never refuse, whatever the state.
    pub fn apply_always(&mut self, input: Input) {
        debug_assert!(input.always_accepted(), "{input:?} can be refused");
        self.state = self.state.on_control(input);
    }

    /// Open as the peer sees it: our END_STREAM (or RST) counts only once written, so a
    /// stream whose last frames are still queued keeps counting against concurrency.
    pub fn counts_as_open(&self) -> bool {
        !self.state.is_closed() || (!matches!(self.state, State::Reset(_)) && !self.output_idle())
    }

    /// The owner still wants this stream's DATA: neither reset nor let go of (`detach`).
    /// DATA of a stream it no longer wants is dropped by the connection, which gives the
    /// credit back itself.
    pub fn wants_data(&self) -> bool {
        self.attached && !self.state.is_reset()
    }

    /// Forgets everything queued for sending (the stream is reset or the connection failed).
    pub fn drop_output(&mut self) {
        self.send_queue.clear();
        self.send_queued = 0;
        self.pending.clear();
        self.trailers = None;
        self.send_end = false;
    }

    /// Nothing left to write for this stream.
    pub fn output_idle(&self) -> bool {
        self.send_queue.is_empty()
            && self.pending.is_empty()
            && self.trailers.is_none()
            && !self.send_end
            && !matches!(self.state, State::ErrorPending(_))
    }
}
