//! The figures the shell publishes, as operations the host turns into its own metrics
//! (Envoy: `wasmcustom.h2mux_*`). Connection counts, connection errors and per-code
//! counters go out with the event that moved them; byte, stream, doorbell, 502 and glitch
//! counters and the pool's figures are gathered and go out on the tick, so that a data
//! event costs the host no call for figures.

use crate::buffer::BufferPool;
use crate::conn::Note;
use crate::error::ErrorCode;

/// What kind of figure a metric is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricKind {
    /// Only grows.
    Counter,
    /// Goes both ways.
    Gauge,
    /// A distribution of values (Envoy keeps buckets and quantiles).
    Histogram,
}

/// A counter, gauge or histogram with a fixed name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Client connections opened.
    ConnectionsTotal,
    /// Client connections open now (gauge).
    ConnectionsActive,
    /// Client requests relayed, or queued for the upstream.
    StreamsTotal,
    /// Bytes read from clients.
    BytesFromClient,
    /// Bytes written to clients.
    BytesToClient,
    /// Bytes read from upstreams.
    BytesFromUpstream,
    /// Bytes written to upstreams.
    BytesToUpstream,
    /// Glitch points held against clients (see `limits::Glitch`).
    GlitchPoints,
    /// Bytes of pool buffers in use now (gauge).
    QuotaBytesInUse,
    /// Connections waiting for a pool buffer now (gauge).
    QuotaWaiters,
    /// Times a connection started waiting for a pool buffer.
    QuotaWaitsTotal,
    /// Waiting connections resumed when a buffer came free.
    QuotaResumedTotal,
    /// Doorbells rung: an empty SETTINGS to the upstream or a PING to the client.
    DoorbellsTotal,
    /// Malformed upstream responses answered with a 502.
    BadGatewayTotal,
    /// Connections that ended with an error code on either side.
    ConnectionErrorsTotal,
    /// Broken invariants of our own (each one failed its connection).
    InternalErrorsTotal,
    /// Requests from HTTP/2 clients.
    ClientHttp2Requests,
    /// Requests from HTTP/1.x clients.
    ClientHttp1Requests,
    /// Requests relayed to HTTP/2 upstreams.
    UpstreamHttp2Requests,
    /// Requests relayed to HTTP/1.1 upstreams.
    UpstreamHttp1Requests,
    /// Final responses to clients with a 2xx status.
    Responses2xx,
    /// ... 3xx.
    Responses3xx,
    /// ... 4xx (relayed, or h2mux's own).
    Responses4xx,
    /// ... 5xx (relayed, or h2mux's own: 502, 503).
    Responses5xx,
    /// From a request's arrival to its stream's end, in ms (histogram).
    RequestDurationMs,
    /// From a request's arrival to the first response head, in ms (histogram).
    TimeToFirstByteMs,
    /// Requests answered 421: their authority routes to another cluster than their
    /// connection's.
    MisdirectedTotal,
    /// Connections routed by their TLS SNI.
    RoutesBySni,
    /// Connections routed by their first request's authority.
    RoutesByAuthority,
    /// Connections sent to the default cluster: no route named their SNI or first
    /// authority, or their first bytes were no request.
    RoutesDefault,
    /// Connections sent to the default cluster because no request head came within
    /// `route_wait_ms`.
    RoutesAfterWait,
    /// Connections told to go away (graceful GOAWAY) because a listener update gave their
    /// listener to a newer h2mux configuration.
    TakeoverShutdownsTotal,
}

impl Metric {
    /// Every fixed metric, in the order a host defines them.
    pub const ALL: [Metric; 32] = [
        Metric::ConnectionsTotal,
        Metric::ConnectionsActive,
        Metric::StreamsTotal,
        Metric::BytesFromClient,
        Metric::BytesToClient,
        Metric::BytesFromUpstream,
        Metric::BytesToUpstream,
        Metric::GlitchPoints,
        Metric::QuotaBytesInUse,
        Metric::QuotaWaiters,
        Metric::QuotaWaitsTotal,
        Metric::QuotaResumedTotal,
        Metric::DoorbellsTotal,
        Metric::BadGatewayTotal,
        Metric::ConnectionErrorsTotal,
        Metric::InternalErrorsTotal,
        Metric::ClientHttp2Requests,
        Metric::ClientHttp1Requests,
        Metric::UpstreamHttp2Requests,
        Metric::UpstreamHttp1Requests,
        Metric::Responses2xx,
        Metric::Responses3xx,
        Metric::Responses4xx,
        Metric::Responses5xx,
        Metric::RequestDurationMs,
        Metric::TimeToFirstByteMs,
        Metric::MisdirectedTotal,
        Metric::RoutesBySni,
        Metric::RoutesByAuthority,
        Metric::RoutesDefault,
        Metric::RoutesAfterWait,
        Metric::TakeoverShutdownsTotal,
    ];

    /// The metric's published name, `h2mux_*`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::ConnectionsTotal => "h2mux_connections_total",
            Metric::ConnectionsActive => "h2mux_connections_active",
            Metric::StreamsTotal => "h2mux_streams_total",
            Metric::BytesFromClient => "h2mux_bytes_from_client",
            Metric::BytesToClient => "h2mux_bytes_to_client",
            Metric::BytesFromUpstream => "h2mux_bytes_from_upstream",
            Metric::BytesToUpstream => "h2mux_bytes_to_upstream",
            Metric::GlitchPoints => "h2mux_glitch_points_total",
            Metric::QuotaBytesInUse => "h2mux_quota_bytes_in_use",
            Metric::QuotaWaiters => "h2mux_quota_waiters",
            Metric::QuotaWaitsTotal => "h2mux_quota_waits_total",
            Metric::QuotaResumedTotal => "h2mux_quota_resumed_total",
            Metric::DoorbellsTotal => "h2mux_doorbells_total",
            Metric::BadGatewayTotal => "h2mux_bad_gateway_total",
            Metric::ConnectionErrorsTotal => "h2mux_connection_errors_total",
            Metric::InternalErrorsTotal => "h2mux_internal_errors_total",
            Metric::ClientHttp2Requests => "h2mux_client_requests_http2_total",
            Metric::ClientHttp1Requests => "h2mux_client_requests_http1_total",
            Metric::UpstreamHttp2Requests => "h2mux_upstream_requests_http2_total",
            Metric::UpstreamHttp1Requests => "h2mux_upstream_requests_http1_total",
            Metric::Responses2xx => "h2mux_responses_2xx",
            Metric::Responses3xx => "h2mux_responses_3xx",
            Metric::Responses4xx => "h2mux_responses_4xx",
            Metric::Responses5xx => "h2mux_responses_5xx",
            Metric::RequestDurationMs => "h2mux_request_duration_ms",
            Metric::TimeToFirstByteMs => "h2mux_time_to_first_byte_ms",
            Metric::MisdirectedTotal => "h2mux_misdirected_total",
            Metric::RoutesBySni => "h2mux_routes_by_sni_total",
            Metric::RoutesByAuthority => "h2mux_routes_by_authority_total",
            Metric::RoutesDefault => "h2mux_routes_default_total",
            Metric::RoutesAfterWait => "h2mux_routes_after_wait_total",
            Metric::TakeoverShutdownsTotal => "h2mux_takeover_shutdowns_total",
        }
    }

    /// The counter of a final response's status class (none for 1xx or out of range).
    pub fn response_class(status: u16) -> Option<Metric> {
        match status {
            200..=299 => Some(Metric::Responses2xx),
            300..=399 => Some(Metric::Responses3xx),
            400..=499 => Some(Metric::Responses4xx),
            500..=599 => Some(Metric::Responses5xx),
            _ => None,
        }
    }

    /// Counter, gauge or histogram.
    pub fn kind(self) -> MetricKind {
        match self {
            Metric::ConnectionsActive | Metric::QuotaBytesInUse | Metric::QuotaWaiters => {
                MetricKind::Gauge
            }
            Metric::RequestDurationMs | Metric::TimeToFirstByteMs => MetricKind::Histogram,
            _ => MetricKind::Counter,
        }
    }

    /// Its place in `ALL`, for a host's table of ids.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A per-code counter (a reset or GOAWAY sent or received) or a per-rule counter (a
/// violation), on the client's or the upstream's connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoteMetric {
    /// The note comes from the client's connection (else the upstream's).
    pub client: bool,
    /// The reset, GOAWAY or violation counted.
    pub note: Note,
}

impl NoteMetric {
    /// `h2mux_<side>_<what>_<code>`, e.g. `h2mux_client_resets_received_cancel`, or
    /// `h2mux_<side>_violations_<rule>`, e.g. `h2mux_client_violations_data_after_end_stream`.
    /// Bounded: 2 sides x (4 kinds x 15 codes + the rules of `Violation`).
    pub fn name(&self) -> String {
        let side = if self.client { "client" } else { "upstream" };
        let (what, code) = match self.note {
            Note::ResetSent(c) => ("resets_sent", c),
            Note::ResetReceived(c) => ("resets_received", c),
            Note::GoAwaySent(c) => ("goaways_sent", c),
            Note::GoAwayReceived(c) => ("goaways_received", c),
            Note::Violation(v) => return format!("h2mux_{side}_violations_{}", v.name()),
        };
        let code = match code {
            ErrorCode::Other(_) => "unknown",
            c => c.name(),
        };
        format!("h2mux_{side}_{what}_{code}")
    }
}

/// One thing for the host to do with its metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricOp {
    /// Add to a counter, or move a gauge (never by 0). Gauges only move: several VMs
    /// share one.
    Add(Metric, i64),
    /// One value of a histogram.
    Record(Metric, u64),
    /// Add one to a per-code counter (defined on first use).
    Note(NoteMetric),
}

/// Histogram values kept per VM between two ticks.
const MAX_SAMPLES: usize = 16_384;

/// Metric operations for the host, and the counters gathered until the next tick.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// Ready for the host, in order.
    out: Vec<MetricOp>,
    /// Counter increments gathered since the last flush, by `Metric::index`.
    gathered: [i64; Metric::ALL.len()],
    /// Histogram values gathered since the last flush (at most `MAX_SAMPLES`).
    samples: Vec<(Metric, u32)>,
    /// Pool figures as last published: a gauge moves only when its value did.
    last_in_use: i64,
    last_waiters: i64,
    last_waits: u64,
    last_resumed: u64,
    last_broken: u32,
}

impl Metrics {
    /// An operation for the host now.
    pub(crate) fn emit(&mut self, op: MetricOp) {
        if let MetricOp::Add(_, 0) = op {
            return;
        }
        self.out.push(op);
    }

    /// A histogram value, recorded at the next flush (the tick); past `MAX_SAMPLES` in one
    /// tick, values are dropped (a histogram is a distribution: a sample of it still is).
    pub(crate) fn sample(&mut self, m: Metric, value: u32) {
        if self.samples.len() < MAX_SAMPLES {
            self.samples.push((m, value));
        }
    }

    /// Adds to a counter at the next flush (the tick).
    pub(crate) fn gather(&mut self, m: Metric, by: i64) {
        if let Some(n) = self.gathered.get_mut(m.index()) {
            *n = n.saturating_add(by);
        }
    }

    /// Publishes what was gathered, then the pool's figures that moved.
    pub(crate) fn flush(&mut self, pool: &BufferPool) {
        for (m, v) in self.samples.drain(..) {
            self.out.push(MetricOp::Record(m, u64::from(v)));
        }
        if self.samples.capacity() > MAX_SAMPLES / 8 {
            self.samples = Vec::new();
        }
        for (m, n) in Metric::ALL.iter().zip(self.gathered.iter_mut()) {
            let by = std::mem::take(n);
            if by != 0 {
                self.out.push(MetricOp::Add(*m, by));
            }
        }
        // Gauges move by differences: every VM (one per Envoy worker) adds its own share to
        // the one stat of that name, which a VM setting its own figure would overwrite.
        let (in_use, waiters) = (pool.in_use_bytes() as i64, pool.waiters() as i64);
        for (m, now, last) in [
            (Metric::QuotaBytesInUse, in_use, &mut self.last_in_use),
            (Metric::QuotaWaiters, waiters, &mut self.last_waiters),
        ] {
            if now != *last {
                self.out.push(MetricOp::Add(m, now - *last));
                *last = now;
            }
        }
        let st = pool.stats();
        if st.waits > self.last_waits {
            let by = (st.waits - self.last_waits) as i64;
            self.out.push(MetricOp::Add(Metric::QuotaWaitsTotal, by));
            self.last_waits = st.waits;
        }
        if st.resumed > self.last_resumed {
            let by = (st.resumed - self.last_resumed) as i64;
            self.out.push(MetricOp::Add(Metric::QuotaResumedTotal, by));
            self.last_resumed = st.resumed;
        }
        // Counted wherever an invariant broke, connection or not (see `invariant`).
        let broken = crate::invariant::broken_count();
        if broken > self.last_broken {
            let by = i64::from(broken - self.last_broken);
            self.out
                .push(MetricOp::Add(Metric::InternalErrorsTotal, by));
            self.last_broken = broken;
        }
    }

    /// The operations ready for the host.
    pub(crate) fn take(&mut self) -> std::vec::Drain<'_, MetricOp> {
        self.out.drain(..)
    }
}

/// A connection's counters as last published, by their low 32 bits: a connection moves far
/// less than 4 GiB between two events, so the wrapping difference is the exact increment.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Reported {
    pub from_client: u32,
    pub to_client: u32,
    pub from_upstream: u32,
    pub to_upstream: u32,
    pub streams: u32,
    pub glitches: u32,
    pub doorbells: u32,
    pub bad_gateway: u32,
}

/// Whether the relay's ending was counted and logged: once per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndingReport {
    Pending,
    Done,
}

/// The increment of a counter since it was published as `reported` (its low 32 bits).
pub(crate) fn since(now: u64, reported: u32) -> i64 {
    i64::from((now as u32).wrapping_sub(reported))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_sits_at_its_index_with_a_distinct_name() {
        for (i, m) in Metric::ALL.iter().enumerate() {
            assert_eq!(m.index(), i, "{m:?}");
            assert!(m.name().starts_with("h2mux_"));
        }
        let mut names: Vec<_> = Metric::ALL.iter().map(|m| m.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Metric::ALL.len());
    }

    #[test]
    fn gathered_counters_go_out_at_the_flush_and_zero_is_never_sent() {
        let pool = BufferPool::new(16_384, 1 << 20, 8);
        let mut m = Metrics::default();
        m.gather(Metric::StreamsTotal, 2);
        m.gather(Metric::BytesFromClient, 0);
        m.gather(Metric::StreamsTotal, 3);
        m.emit(MetricOp::Add(Metric::ConnectionsTotal, 0));
        assert_eq!(m.take().count(), 0);
        m.flush(&pool);
        let ops: Vec<_> = m.take().collect();
        assert_eq!(ops[0], MetricOp::Add(Metric::StreamsTotal, 5));
        m.flush(&pool);
        assert_eq!(m.take().count(), 0, "nothing moved since");
    }

    /// Envoy runs one VM per worker, and every VM's metric of a name is the same stat: a
    /// gauge must move by differences, or each VM's figure would replace the others'.
    #[test]
    fn gauges_of_several_vms_add_up() {
        // Envoy's stat, shared by the VMs: an increment moves it, a record sets it.
        let mut shared = [0i64; Metric::ALL.len()];
        let apply = |shared: &mut [i64; Metric::ALL.len()], ops: Vec<MetricOp>| {
            for op in ops {
                if let MetricOp::Add(m, by) = op {
                    shared[m.index()] += by;
                }
            }
        };
        let (mut a, mut b) = (
            BufferPool::new(16_384, 1 << 20, 8),
            BufferPool::new(16_384, 1 << 20, 8),
        );
        let (mut ma, mut mb) = (Metrics::default(), Metrics::default());
        let held_a: Vec<_> = (0..2).filter_map(|_| a.try_take()).collect();
        let mut held_b: Vec<_> = (0..3).filter_map(|_| b.try_take()).collect();
        ma.flush(&a);
        apply(&mut shared, ma.take().collect());
        mb.flush(&b);
        apply(&mut shared, mb.take().collect());
        assert_eq!(shared[Metric::QuotaBytesInUse.index()], 5 * 16_384);
        // One VM gives a buffer back: the sum follows.
        if let Some(buf) = held_b.pop() {
            b.release(buf);
        }
        mb.flush(&b);
        apply(&mut shared, mb.take().collect());
        ma.flush(&a);
        apply(&mut shared, ma.take().collect());
        assert_eq!(shared[Metric::QuotaBytesInUse.index()], 4 * 16_384);
        for buf in held_a {
            a.release(buf);
        }
        for buf in held_b {
            b.release(buf);
        }
    }
}
