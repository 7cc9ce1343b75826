//! One connection's policy: which bytes go where at each event, given what the host can do.
//!
//! With Envoy's capabilities, bytes for the client can only leave in an upstream event and
//! bytes for the upstream only in a downstream event or through a held downstream buffer.
//! So each side's output waits for that side's next event, and when nothing would bring
//! one, a doorbell asks the other peer for a reply. One rule keeps a connection from
//! wedging: output never waits behind held client bytes with nothing on its way to move it.
//! Client-bound bytes that wait, or upstream-bound bytes it made that sit in a pool buffer,
//! make the shell write upstream now, with a doorbell, and keep the unconsumed client bytes
//! itself (one delivery at a time); they go first next time.

use bytes::{Buf, Bytes};

use super::caps::{Capabilities, Rules};
use super::http1;
use super::metrics::{since, EndingReport, Metric, MetricOp, Metrics, NoteMetric, Reported};
use super::ops::Ops;
use super::state::{Activity, ClientBytes, CloseReason, Phase, UpstreamEnd};
use super::ConnId;
use crate::buffer::BufferPool;
use crate::error::ErrorCode;
use crate::relay::{Ending, Relay};
use crate::time::Instant;

/// How long a finished connection may wait for a chance to deliver its last frames.
pub const FINISH_GRACE_MS: u64 = 1000;

/// Rounds of feeding kept client bytes again after client-bound output made room.
const KEPT_RETRIES: usize = 8;

/// At most this many rounds of writing both ways for a host without write limits, within
/// one event: each write may release credit the other side answers, or make room for held
/// client bytes. Each round moves bytes, so input ends it long before.
const UNRESTRICTED_ROUNDS: usize = 1 << 16;

/// At most this many rounds of feeding kept upstream bytes again within one upstream event.
/// A round that takes none ends it, so the kept bytes end it long before.
const UPSTREAM_ROUNDS: usize = 1 << 16;

/// What one event on a connection may use from the VM-wide shell.
pub(crate) struct Env<'a, R> {
    pub pool: &'a mut BufferPool,
    pub metrics: &'a mut Metrics,
    pub rules: R,
    /// Bytes the shell may keep for a connection while the relay cannot take them.
    pub max_kept_bytes: usize,
    /// Client bytes the shell may keep for a parked HTTP/1.1 client (`set_aside_parked`).
    pub max_parked_bytes: usize,
    pub id: ConnId,
    pub now: Instant,
}

impl<R: Rules> Env<'_, R> {
    fn caps(&self) -> Capabilities {
        self.rules.caps()
    }
}

/// One client connection as the shell sees it: the relay and where its bytes wait.
pub struct Conn {
    relay: Relay,
    client: ClientBytes,
    /// Upstream bytes the relay could not take yet (in order): Envoy cannot resume a
    /// paused upstream, so the shell keeps them.
    up_pending: Vec<u8>,
    up_end: UpstreamEnd,
    phase: Phase,
    activity: Activity,
    /// Figures already published as metrics.
    reported: Reported,
    ending: EndingReport,
    /// Idle scans that gave back this connection's queue memory.
    #[cfg(test)]
    pub(crate) trims: u32,
}

impl Conn {
    pub(crate) fn new(relay: Relay) -> Conn {
        Conn {
            relay,
            client: ClientBytes::Flowing,
            up_pending: Vec::new(),
            up_end: UpstreamEnd::Open,
            phase: Phase::Open,
            activity: Activity::Busy,
            reported: Reported::default(),
            ending: EndingReport::Pending,
            #[cfg(test)]
            trims: 0,
        }
    }

    /// The relay: both HTTP/2 connections and the streams between them.
    pub fn relay(&self) -> &Relay {
        &self.relay
    }

    /// The connection's route (`relay::route`).
    pub(crate) fn set_routing(&mut self, routing: crate::relay::route::Routing) {
        self.relay.set_routing(routing);
    }

    /// The client's connection is TLS.
    pub(crate) fn set_client_tls(&mut self) {
        self.relay.set_client_tls();
    }

    /// The host keeps client bytes for this connection, paused.
    pub fn holds_downstream(&self) -> bool {
        matches!(
            self.client,
            ClientBytes::Held { .. } | ClientBytes::Parked | ClientBytes::Kept { parked: true, .. }
        )
    }

    /// The host was told to close this connection.
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    #[cfg(test)]
    pub(crate) fn client_bytes(&self) -> &ClientBytes {
        &self.client
    }

    #[cfg(test)]
    pub(crate) fn phase(&self) -> Phase {
        self.phase
    }

    pub(crate) fn release(&mut self, pool: &mut BufferPool) {
        self.relay.release(pool);
    }

    // ----- Events ----------------------------------------------------------------------

    /// Client bytes: `input` is everything the host has for this connection's downstream
    /// (bytes it held first).
    pub(crate) fn on_downstream(
        &mut self,
        env: &mut Env<impl Rules>,
        input: Bytes,
        eos: bool,
    ) -> Ops {
        let mut ops = Ops::default();
        self.activity = Activity::Busy;
        self.take_client_bytes(env, input, eos, &mut ops);
        self.write_unrestricted(env, &mut ops);
        if !eos {
            self.park_if_idle(env, &mut ops);
        }
        // This event's own answer says whether the downstream goes on.
        ops.resume = false;
        self.finish_event(env, &mut ops);
        ops
    }

    /// A connection with no stream open is parked after its client's bytes: what they
    /// carry upstream goes now, and the downstream stays paused with nothing held, so the
    /// host keeps its buffer writable. A later wake-up without any peer speaking (a shutdown,
    /// the idle timeout) can then write upstream, ring the upstream for the frames the
    /// client is owed, and go on; otherwise an idle connection could be reached by no one.
    /// An HTTP/1.1 client is parked at its request too: it says nothing until it has the
    /// response, so the replies the upstream is owed meanwhile (the ACK of its SETTINGS)
    /// could otherwise wait for the next request, for ever on an idle connection.
    /// (Envoy: `continue_stream(Downstream)` inside the callback, then Pause; measured in
    /// ARCHITECTURE.md, "Envoy's write rules".)
    /// Client bytes the shell set aside (a request body past the upstream's window) park
    /// it the same way: their upstream-bound bytes then go as credit comes back, whether or
    /// not the client writes again.
    fn park_if_idle(&mut self, env: &mut Env<impl Rules>, ops: &mut Ops) {
        if env.caps().parks()
            && ops.hold.is_none()
            && matches!(self.client, ClientBytes::Flowing | ClientBytes::Kept { .. })
            && self.phase == Phase::Open
            && (self.relay.stream_count() == 0 || self.relay.front().is_h1())
            && !self.relay.has_upstream_output()
        {
            ops.park = true;
            self.park();
        }
    }

    /// The host keeps the downstream paused with nothing held from now on.
    fn park(&mut self) {
        match &mut self.client {
            ClientBytes::Flowing => self.client = ClientBytes::Parked,
            ClientBytes::Kept { parked, .. } => *parked = true,
            ClientBytes::Held { .. } | ClientBytes::Parked => {}
        }
    }

    /// Upstream bytes. `read_held` gives the client bytes the host holds, when asked.
    pub(crate) fn on_upstream(
        &mut self,
        env: &mut Env<impl Rules>,
        data: Bytes,
        eos: bool,
        read_held: impl FnOnce() -> Bytes,
    ) -> Ops {
        let mut ops = Ops::default();
        self.activity = Activity::Busy;
        if self.up_pending.is_empty() {
            let n = self.relay.from_upstream(env.pool, &data, env.now);
            if n < data.len() {
                self.up_pending = data.slice(n..).to_vec();
            }
        } else {
            self.up_pending.extend_from_slice(&data);
            self.retry_upstream_pending(env);
        }
        self.feed_upstream_pending(env, &mut ops);
        if eos && self.up_end == UpstreamEnd::Open {
            self.up_end = UpstreamEnd::Ended;
        }
        if self.up_pending.len() > env.max_kept_bytes {
            log::warn!(
                "h2mux[{}]: upstream sent {} bytes the relay cannot take: closing",
                env.id,
                self.up_pending.len()
            );
            self.up_pending = Vec::new();
            // The relay ends with the close, once.
            if self.up_end == UpstreamEnd::Open {
                self.up_end = UpstreamEnd::Ended;
            }
            self.phase.close_for(CloseReason::UpstreamOverflow);
        }
        self.tell_upstream_end(env);
        // Upstream-bound bytes made now go through a held downstream buffer, or wait for the
        // client's next bytes (asked for with a PING when nothing else would bring them).
        self.resume_host(env, read_held, true, &mut ops);
        self.write_client(env, &mut ops);
        // Writing to the client released upstream credit: if upstream-bound bytes now wait
        // and no held buffer can carry them, the client's PING ACK will.
        if self.holds_downstream() {
            // The host holds what the first resume left (its `hold`), nothing else.
            let held = ops.hold.take().unwrap_or_default();
            self.resume_held(env, held, true, &mut ops);
        } else if env.caps().upstream_writes_only_in_downstream_events {
            if let Some(bell) = self.relay.client_doorbell() {
                ops.client_bytes().extend_from_slice(&bell);
            }
        }
        self.write_unrestricted(env, &mut ops);
        self.finish_event(env, &mut ops);
        ops
    }

    /// A pool buffer came free for this connection (a tick popped it from the waiters).
    pub(crate) fn on_buffer_available(
        &mut self,
        env: &mut Env<impl Rules>,
        read_held: impl FnOnce() -> Bytes,
    ) -> Ops {
        let mut ops = Ops::default();
        self.relay.on_buffer_available(env.pool, env.now);
        self.retry_upstream_pending(env);
        self.resume_host(env, read_held, false, &mut ops);
        self.write_unrestricted(env, &mut ops);
        self.finish_event(env, &mut ops);
        ops
    }

    /// The idle scan found something due: a timer, a close, the end of the grace period.
    pub(crate) fn on_due(
        &mut self,
        env: &mut Env<impl Rules>,
        read_held: impl FnOnce() -> Bytes,
    ) -> Ops {
        let mut ops = Ops::default();
        self.relay.tick(env.pool, env.now);
        self.resume_host(env, read_held, false, &mut ops);
        self.write_unrestricted(env, &mut ops);
        if let Phase::Finishing { close_by } = self.phase {
            if close_by <= env.now {
                // Its last frames wait for a callback that is not coming (a silent
                // upstream): close anyway.
                log::info!(
                    "h2mux[{}]: finished, last frames undeliverable: closing",
                    env.id
                );
                self.phase = Phase::Closing(CloseReason::Undeliverable);
            }
        }
        if let Phase::Closing(_) = self.phase {
            // The last bytes were set in an earlier callback: closing now flushes them.
            self.close(&mut ops);
        }
        self.finish_event(env, &mut ops);
        ops
    }

    /// The host is going away: a graceful shutdown of the client's connection.
    pub(crate) fn on_shutdown(
        &mut self,
        env: &mut Env<impl Rules>,
        read_held: impl FnOnce() -> Bytes,
    ) -> Ops {
        let mut ops = Ops::default();
        self.relay.shutdown(env.pool, env.now);
        self.resume_host(env, read_held, false, &mut ops);
        self.write_unrestricted(env, &mut ops);
        self.finish_event(env, &mut ops);
        ops
    }

    /// Something is due at this time: a close, the relay's timer, the end of the grace
    /// period.
    pub(crate) fn is_due(&self, now: Instant) -> bool {
        match self.phase {
            Phase::Closed => false,
            Phase::Closing(_) => true,
            Phase::Finishing { close_by } if close_by <= now => true,
            Phase::Open | Phase::Finishing { .. } => {
                self.relay.next_timeout().is_some_and(|t| t <= now)
            }
        }
    }

    /// The idle scan: a connection that moved no bytes since the last scan gives back its
    /// queue memory (thousands of idle ones add up). Not after every event: between two
    /// bursts of streams it would be freed and taken again each time.
    pub(crate) fn scan_idle(&mut self, pool: &mut BufferPool) {
        if self.activity == Activity::Quiet {
            self.relay.trim(pool);
            #[cfg(test)]
            {
                self.trims += 1;
            }
        }
        self.activity = Activity::Quiet;
    }

    // ----- Client bytes ----------------------------------------------------------------

    /// Feeds client bytes (new, or held since an earlier pause) and decides what becomes
    /// of the rest: taken (upstream-bound bytes for the host), held by the host, or kept.
    fn take_client_bytes(
        &mut self,
        env: &mut Env<impl Rules>,
        input: Bytes,
        eos: bool,
        ops: &mut Ops,
    ) {
        let caps = env.caps();
        // Kept bytes go first (the host never holds any while the shell keeps some).
        let (input, eos, was_kept) = match std::mem::take(&mut self.client) {
            ClientBytes::Kept {
                mut bytes, at_end, ..
            } => {
                bytes.extend_from_slice(&input);
                (Bytes::from(bytes), eos || at_end, true)
            }
            _ => (input, eos, false),
        };
        let size = input.len();
        let n = self.relay.from_client(env.pool, &input, env.now);
        if eos && n == size {
            self.relay.client_eof(env.pool, env.now);
        }
        self.retry_upstream_pending(env);
        if n < size || self.relay.is_waiting_for_buffer() {
            let rest = input.slice(n.min(size)..);
            if self.set_aside_parked(env, &rest, eos, ops) {
                return;
            }
            if caps.client_writes_only_in_upstream_events
                && !eos
                && rest.len() <= env.max_kept_bytes
                && self.send_instead_of_holding(env, &rest, was_kept, ops)
            {
                return;
            }
            if caps.holds_paused_downstream {
                // The host holds the rest (Envoy stops reading at its buffer limit).
                // Upstream-bound output waits in the relay, or goes now where the host can
                // write it apart from the held bytes.
                ops.hold = Some(rest);
                self.client = ClientBytes::Held { at_end: eos };
            } else {
                self.keep_client_bytes(env, rest, eos);
                self.relay
                    .upstream_output(env.pool, ops.upstream_bytes(), env.now);
            }
            return;
        }
        self.write_upstream(env, ops, true);
        ops.hold = None;
    }

    /// Upstream-bound output into `ops`, then, when `ring` and client-bound bytes wait for
    /// an upstream event, a doorbell: after the output, since writing releases credit and
    /// creates replies.
    fn write_upstream(&mut self, env: &mut Env<impl Rules>, ops: &mut Ops, ring: bool) {
        let up = ops.upstream_bytes();
        self.relay.upstream_output(env.pool, up, env.now);
        if ring && env.caps().client_writes_only_in_upstream_events {
            if let Some(bell) = self.relay.upstream_doorbell(env.now) {
                up.extend_from_slice(&bell);
            }
        }
    }

    /// Output must not wait behind held client bytes. Client-bound bytes need an upstream
    /// event. Upstream-bound bytes already in a pool buffer could leave only when the host
    /// resumes: a connection paused with them, and waiting for one more buffer, would wait
    /// for ever once such connections held every buffer (hold and wait). So the output goes
    /// now with a doorbell, the downstream goes on, and the shell keeps the rest of the
    /// client bytes (one delivery) until the doorbell's answer. Without a doorbell (one is
    /// out, or a SETTINGS of ours awaits its ACK) upstream-bound bytes still go, and the
    /// rest is kept if the upstream owes that reply and nothing was kept already (one
    /// delivery at a time). Returns false, with nothing written, when nothing waits that way
    /// or no reply would feed kept bytes again: the host holds the rest.
    fn send_instead_of_holding(
        &mut self,
        env: &mut Env<impl Rules>,
        rest: &Bytes,
        was_kept: bool,
        ops: &mut Ops,
    ) -> bool {
        let upstream_bytes_wait = env.caps().upstream_writes_only_in_downstream_events
            && self.relay.back().output_pending();
        let client_bytes_wait = !rest.is_empty() && self.relay.has_client_output();
        if !upstream_bytes_wait && !client_bytes_wait {
            return false;
        }
        let bell = self.relay.ring_upstream(env.now);
        if bell.is_none() {
            // A reply already among the upstream bytes kept here brings no new event.
            let owed = self.relay.upstream_reply_owed() && self.up_pending.is_empty();
            let may_go = upstream_bytes_wait && (rest.is_empty() || (owed && !was_kept));
            if !may_go {
                return false;
            }
        }
        let up = ops.upstream_bytes();
        if let Some(bell) = bell {
            up.extend_from_slice(&bell);
        }
        self.relay.upstream_output(env.pool, up, env.now);
        ops.hold = None;
        self.client = if rest.is_empty() {
            ClientBytes::Flowing
        } else {
            ClientBytes::Kept {
                bytes: rest.to_vec(),
                at_end: false,
                parked: false,
            }
        };
        true
    }

    /// An HTTP/1.1 client's bytes the relay cannot take yet (a body past the upstream's
    /// window) while upstream-bound bytes wait, under rules that park (Envoy). Nothing can
    /// ask such a client for its next bytes, and resuming Envoy's buffer forwards all of it:
    /// held there, the waiting bytes could go only with the client's next bytes, which may
    /// never come (it wrote its whole body). So the shell keeps the rest, the upstream-bound
    /// bytes go now, and the connection parks (the caller's event decides how): the kept
    /// bytes are fed again at every event as credit comes back. The next client bytes join
    /// them in Envoy's buffer, whose limit then stops its reading, so each round keeps at
    /// most what Envoy read; an upstream whose window lets less through per round trip than
    /// Envoy reads makes them grow, and past `max_parked_bytes` the connection is closed.
    /// Returns false when this does not apply.
    fn set_aside_parked(
        &mut self,
        env: &mut Env<impl Rules>,
        rest: &Bytes,
        eos: bool,
        ops: &mut Ops,
    ) -> bool {
        if !env.caps().parks()
            || !self.relay.front().is_h1()
            || self.phase != Phase::Open
            || !self.relay.back().output_pending()
        {
            return false;
        }
        // Written in either case: what the host had goes nowhere else (a close drops it).
        self.relay
            .upstream_output(env.pool, ops.upstream_bytes(), env.now);
        ops.hold = None;
        if rest.len() > env.max_parked_bytes {
            log::warn!(
                "h2mux[{}]: the client's body outruns the upstream's window by {} bytes \
                 (max_parked_client_bytes {}): closing",
                env.id,
                rest.len(),
                env.max_parked_bytes
            );
            self.phase.close_for(CloseReason::ClientOverflow);
            return true;
        }
        self.client = ClientBytes::Kept {
            bytes: rest.to_vec(),
            at_end: eos,
            parked: false,
        };
        true
    }

    /// A host that cannot hold client bytes: the shell keeps them, within its bound.
    fn keep_client_bytes(&mut self, env: &mut Env<impl Rules>, rest: Bytes, eos: bool) {
        if rest.is_empty() {
            return;
        }
        if rest.len() > env.max_kept_bytes {
            log::warn!(
                "h2mux[{}]: client sent {} bytes the relay cannot take: closing",
                env.id,
                rest.len()
            );
            self.phase.close_for(CloseReason::ClientOverflow);
            return;
        }
        self.client = ClientBytes::Kept {
            bytes: rest.to_vec(),
            at_end: eos,
            parked: false,
        };
    }

    /// What the host holds goes on: a parked connection writes what waits for the upstream
    /// (its host buffer is empty by construction, so it is not read: an upstream event of
    /// a parked connection costs no host call), held bytes are read and processed again.
    fn resume_host(
        &mut self,
        env: &mut Env<impl Rules>,
        read_held: impl FnOnce() -> Bytes,
        in_upstream_event: bool,
        ops: &mut Ops,
    ) {
        match self.client {
            ClientBytes::Parked => self.write_parked(env, in_upstream_event, ops),
            ClientBytes::Kept { parked: true, .. } => {
                // Room may have come (a pool buffer, credit): the kept bytes go on first.
                self.retry_kept(env);
                self.write_parked(env, in_upstream_event, ops);
            }
            ClientBytes::Held { .. } => self.resume_held(env, read_held(), in_upstream_event, ops),
            ClientBytes::Flowing | ClientBytes::Kept { parked: false, .. } => {}
        }
    }

    /// Processes the bytes the host holds again and lets the downstream go on when they
    /// were all taken.
    /// `in_upstream_event`: client-bound bytes leave in this very event, so no doorbell is
    /// wanted for them.
    fn resume_held(
        &mut self,
        env: &mut Env<impl Rules>,
        held: Bytes,
        in_upstream_event: bool,
        ops: &mut Ops,
    ) {
        if matches!(
            self.client,
            ClientBytes::Parked | ClientBytes::Kept { parked: true, .. }
        ) {
            self.write_parked(env, in_upstream_event, ops);
            return;
        }
        let ClientBytes::Held { at_end } = self.client else {
            return;
        };
        self.take_client_bytes(env, held, at_end, ops);
        if !ops.holds() {
            ops.resume = true;
            // Outside a downstream callback a resume leaves the host's buffer paused and
            // writable: the connection is parked, with what the shell kept, if anything.
            if env.caps().parks() {
                self.park();
            }
        }
    }

    /// A parked connection: nothing is held, so only what waits for the upstream goes (with
    /// a doorbell when client-bound bytes wait and no upstream event is under way), and it
    /// stays parked, the host's buffer writable after the resume as before.
    fn write_parked(&mut self, env: &mut Env<impl Rules>, in_upstream_event: bool, ops: &mut Ops) {
        self.write_upstream(env, ops, !in_upstream_event);
        if ops.to_upstream.as_ref().is_some_and(Vec::is_empty) {
            ops.to_upstream = None;
        } else {
            ops.resume = true;
        }
    }

    /// Feeds kept client bytes again once client-bound output made room; what is still
    /// not taken stays.
    fn retry_kept(&mut self, env: &mut Env<impl Rules>) {
        let ClientBytes::Kept {
            bytes,
            at_end,
            parked,
        } = std::mem::take(&mut self.client)
        else {
            return;
        };
        let kept = Bytes::from(bytes);
        let n = self.relay.from_client(env.pool, &kept, env.now);
        if n < kept.len() {
            self.client = ClientBytes::Kept {
                bytes: kept.slice(n..).to_vec(),
                at_end,
                parked,
            };
        } else {
            if parked {
                self.client = ClientBytes::Parked;
            }
            if at_end {
                self.relay.client_eof(env.pool, env.now);
            }
        }
    }

    fn kept_len(&self) -> Option<usize> {
        match &self.client {
            ClientBytes::Kept { bytes, .. } => Some(bytes.len()),
            _ => None,
        }
    }

    // ----- Output ----------------------------------------------------------------------

    /// Moves client-bound output into `ops` (making `to_client` `Some`); with room made,
    /// kept client bytes go on and their replies leave too. An HTTP/1.x client gets an
    /// answer it can read instead, once.
    fn write_client(&mut self, env: &mut Env<impl Rules>, ops: &mut Ops) {
        let out = ops.client_bytes();
        self.relay.client_output(env.pool, out, env.now);
        for _ in 0..KEPT_RETRIES {
            let Some(before) = self.kept_len() else {
                break;
            };
            self.retry_kept(env);
            self.relay.client_output(env.pool, out, env.now);
            if self.kept_len() == Some(before) {
                break;
            }
        }
        if self.relay.front().peer_is_http1() {
            // A GOAWAY means nothing to an HTTP/1.x client: it gets an answer it can read.
            out.clear();
            if !self.phase.http1_answered() {
                out.extend_from_slice(http1::ANSWER);
                self.phase = Phase::Closing(CloseReason::Http1Answered);
                log::info!(
                    "h2mux[{}]: an HTTP/1.x client was told this port speaks HTTP/2",
                    env.id
                );
            }
        }
    }

    /// A host without a write limit gets output both ways with every event. Writing makes
    /// room (the relay stops reading while its tx buffer is full), so client bytes held in
    /// this event go on at once, for as long as that makes progress.
    fn write_unrestricted(&mut self, env: &mut Env<impl Rules>, ops: &mut Ops) {
        let caps = env.caps();
        let (to_client, to_upstream) = (
            !caps.client_writes_only_in_upstream_events,
            !caps.upstream_writes_only_in_downstream_events,
        );
        if !to_client && !to_upstream {
            return;
        }
        for _ in 0..UNRESTRICTED_ROUNDS {
            // Progress is bytes written, or kept client bytes taken: kept bytes the relay
            // cannot take yet (no buffer, too many live streams) wait for a later event.
            let mut moved = false;
            if to_client && self.client_output_due() {
                let (out, kept) = (ops.client_bytes().len(), self.kept_len());
                self.write_client(env, ops);
                moved |= ops.client_bytes().len() != out || self.kept_len() != kept;
            }
            if to_client && !self.up_pending.is_empty() {
                // Writing gave the relay room (credit from the client, say): upstream bytes
                // kept after the upstream's last event would otherwise wait for ever.
                let pending = self.up_pending.len();
                self.retry_upstream_pending(env);
                self.tell_upstream_end(env);
                moved |= self.up_pending.len() != pending;
            }
            if to_upstream && self.relay.has_upstream_output() {
                let out = ops.upstream_bytes().len();
                self.relay
                    .upstream_output(env.pool, ops.upstream_bytes(), env.now);
                moved |= ops.upstream_bytes().len() != out;
            }
            if moved {
                if let Some(held) = ops.hold.take() {
                    self.resume_held(env, held, false, ops);
                }
            }
            if !moved {
                return;
            }
        }
        // Every round moved bytes, and bytes are bounded by the input: a loop of ours.
        self.relay
            .broken("writing both ways settles within one event");
    }

    /// Client-bound bytes wait, kept client bytes may go on, or an HTTP/1.x answer is due.
    fn client_output_due(&self) -> bool {
        self.relay.has_client_output()
            || self.kept_len().is_some()
            || (self.relay.front().peer_is_http1() && !self.phase.http1_answered())
    }

    // ----- Upstream bytes --------------------------------------------------------------

    /// Feeds the kept upstream bytes again for as long as writing client-bound output makes
    /// room for them (the relay takes an upstream body as fast as the client side sends it
    /// on). No upstream event may follow this one (none after the upstream's end), and
    /// under Envoy's rules only an upstream event writes to the client. Bytes the client's
    /// flow control holds back stop it; they wait. Each round writes what the relay took,
    /// so one event writes at most the kept bytes (bounded by `max_kept_bytes`) and its own.
    /// The kept bytes are sliced, not copied, from round to round.
    fn feed_upstream_pending(&mut self, env: &mut Env<impl Rules>, ops: &mut Ops) {
        if self.up_pending.is_empty() {
            return;
        }
        let mut input = Bytes::from(std::mem::take(&mut self.up_pending));
        for _ in 0..UPSTREAM_ROUNDS {
            self.write_client(env, ops);
            let n = self.relay.from_upstream(env.pool, &input, env.now);
            input.advance(n.min(input.len()));
            if n == 0 || input.is_empty() {
                break;
            }
        }
        if !input.is_empty() {
            self.up_pending = Vec::from(input);
        }
    }

    /// The relay hears of the upstream's end once, after the upstream bytes before it.
    fn tell_upstream_end(&mut self, env: &mut Env<impl Rules>) {
        if self.up_end == UpstreamEnd::Ended && self.up_pending.is_empty() {
            self.up_end = UpstreamEnd::Told;
            self.relay.upstream_eof(env.pool, env.now);
        }
    }

    fn retry_upstream_pending(&mut self, env: &mut Env<impl Rules>) {
        if self.up_pending.is_empty() {
            return;
        }
        let mut input = Bytes::from(std::mem::take(&mut self.up_pending));
        let n = self.relay.from_upstream(env.pool, &input, env.now);
        // The rest moves to the front of the same allocation.
        input.advance(n.min(input.len()));
        if !input.is_empty() {
            self.up_pending = Vec::from(input);
        }
    }

    // ----- Lifecycle -------------------------------------------------------------------

    /// Tells the host to close. A paused downstream is let go with it.
    fn close(&mut self, ops: &mut Ops) {
        ops.close = true;
        self.phase = Phase::Closed;
        if self.holds_downstream() {
            self.client = ClientBytes::Flowing;
        }
    }

    /// Bookkeeping after every event, then the close a host without Envoy's close rule
    /// makes right after the last bytes.
    fn finish_event(&mut self, env: &mut Env<impl Rules>, ops: &mut Ops) {
        self.settle(env);
        if !env.caps().close_drops_same_event_writes {
            if let Phase::Closing(_) = self.phase {
                self.close(ops);
            }
        }
    }

    /// Bookkeeping after every event (also for a waiter the host could not reach).
    pub(crate) fn settle(&mut self, env: &mut Env<impl Rules>) {
        if self.relay.is_done() {
            self.phase.close_for(CloseReason::Done);
        }
        let finished = self.relay.front().error().is_some()
            || (self.relay.ending().is_some() && self.relay.stream_count() == 0)
            || self.relay.is_done_but_output();
        if finished && self.phase == Phase::Open {
            self.phase = Phase::Finishing {
                close_by: env.now.after(FINISH_GRACE_MS),
            };
        }
        self.publish(env);
        if self.up_pending.is_empty() && self.up_pending.capacity() > 0 {
            self.up_pending = Vec::new();
        }
    }

    /// Publishes what changed on this connection since the last time.
    pub(crate) fn publish(&mut self, env: &mut Env<impl Rules>) {
        let m = &mut *env.metrics;
        // Ended streams: their response class, duration and time to first byte.
        for end in self.relay.take_ended() {
            if let Some(log) = &end.log {
                log::info!(
                    "h2mux access {}",
                    super::access_log::line(env.id, env.now, &end, log)
                );
            }
            if let Some(class) = end.status.and_then(Metric::response_class) {
                m.gather(class, 1);
            }
            m.sample(Metric::RequestDurationMs, end.duration_ms);
            if let Some(t) = end.first_byte_ms {
                m.sample(Metric::TimeToFirstByteMs, t);
            }
        }
        let misdirected = self.relay.take_misdirected();
        m.gather(Metric::MisdirectedTotal, i64::from(misdirected));
        let r = &mut self.reported;
        let fs = self.relay.front().stats();
        let bs = self.relay.back().stats();
        let rs = self.relay.stats();
        let glitches = self.relay.front().glitch_total();
        m.gather(Metric::BytesFromClient, since(fs.bytes_in, r.from_client));
        m.gather(Metric::BytesToClient, since(fs.bytes_out, r.to_client));
        m.gather(
            Metric::BytesFromUpstream,
            since(bs.bytes_in, r.from_upstream),
        );
        m.gather(Metric::BytesToUpstream, since(bs.bytes_out, r.to_upstream));
        let streams = since(rs.streams.into(), r.streams);
        m.gather(Metric::StreamsTotal, streams);
        let (client, upstream) = (
            if self.relay.front().is_h1() {
                Metric::ClientHttp1Requests
            } else {
                Metric::ClientHttp2Requests
            },
            if self.relay.back().is_h1() {
                Metric::UpstreamHttp1Requests
            } else {
                Metric::UpstreamHttp2Requests
            },
        );
        m.gather(client, streams);
        m.gather(upstream, streams);
        m.gather(
            Metric::DoorbellsTotal,
            since(rs.doorbells.into(), r.doorbells),
        );
        m.gather(
            Metric::BadGatewayTotal,
            since(rs.bad_gateway.into(), r.bad_gateway),
        );
        m.gather(Metric::GlitchPoints, since(glitches, r.glitches));

        *r = Reported {
            from_client: fs.bytes_in as u32,
            to_client: fs.bytes_out as u32,
            from_upstream: bs.bytes_in as u32,
            to_upstream: bs.bytes_out as u32,
            streams: rs.streams,
            glitches: glitches as u32,
            doorbells: rs.doorbells,
            bad_gateway: rs.bad_gateway,
        };
        if self.ending == EndingReport::Pending {
            if let Some(ending) = self.relay.ending() {
                self.ending = EndingReport::Done;
                let (Ending::Client(code, _) | Ending::Upstream(code, _)) = ending;
                if code != ErrorCode::NoError {
                    m.emit(MetricOp::Add(Metric::ConnectionErrorsTotal, 1));
                    log::info!("h2mux[{}]: connection ending: {:?}", env.id, ending);
                } else {
                    log::debug!("h2mux[{}]: connection ending: {:?}", env.id, ending);
                }
            }
        }
        let (front_notes, back_notes) = self.relay.take_notes();
        for note in front_notes {
            m.emit(MetricOp::Note(NoteMetric { client: true, note }));
        }
        for note in back_notes {
            m.emit(MetricOp::Note(NoteMetric {
                client: false,
                note,
            }));
        }
    }
}
