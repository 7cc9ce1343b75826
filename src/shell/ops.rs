//! What the host does for one connection once the shell has handled an event.

use bytes::Bytes;

/// Host operations for one connection, the result of one event (a downstream or upstream
/// event, or a tick's visit). The shell only fills in what its `Capabilities` allow at that
/// moment. Empty by default: nothing to do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Ops {
    /// Bytes for the upstream, in order. `Some` (even empty) when the client bytes the host
    /// handed over were all taken: in Envoy they become the downstream buffer's content,
    /// which drains what the host gave.
    pub to_upstream: Option<Vec<u8>>,
    /// Client bytes the shell did not take: the host keeps them (pauses the downstream),
    /// in place of what it held, and hands them back, followed by new ones, at the next
    /// downstream event or when the shell asks for them. Envoy: the downstream buffer's
    /// content, and the callback returns Pause.
    pub hold: Option<Bytes>,
    /// Bytes for the client, in order. In Envoy, always `Some` in an upstream event: the
    /// upstream buffer's content (it drains what the upstream sent).
    pub to_client: Option<Vec<u8>>,
    /// The client bytes the host held were all taken outside a downstream event: the
    /// downstream goes on (Envoy: `continue_stream(Downstream)`, the buffer carrying
    /// `to_upstream`).
    pub resume: bool,
    /// The downstream stays reachable after this event (a parked connection): the host lets
    /// `to_upstream` go now and keeps the downstream paused with nothing held, so that a
    /// later event or wake-up can still write upstream and resume. Envoy: the downstream
    /// buffer gets `to_upstream`, `continue_stream(Downstream)` is called inside the
    /// callback, and the callback returns Pause.
    pub park: bool,
    /// Close the client connection (and with it the upstream) after these bytes. A host
    /// that must resume a paused downstream before closing it (Envoy) does so first.
    pub close: bool,
}

impl Ops {
    /// Where upstream-bound bytes are appended. Makes `to_upstream` `Some` even if nothing
    /// is appended: the client bytes handed over were taken.
    pub(crate) fn upstream_bytes(&mut self) -> &mut Vec<u8> {
        self.to_upstream.get_or_insert_with(Vec::new)
    }

    /// Where client-bound bytes are appended (`Some` from then on, as for `upstream_bytes`).
    pub(crate) fn client_bytes(&mut self) -> &mut Vec<u8> {
        self.to_client.get_or_insert_with(Vec::new)
    }

    /// True when the host keeps the downstream paused after this event (client bytes held,
    /// or parked).
    pub fn holds(&self) -> bool {
        self.hold.is_some() || self.park
    }
}
