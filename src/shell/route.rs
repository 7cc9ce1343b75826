//! Routing by authority in the shell: a connection is held (the host pauses it before it
//! connects upstream) until its cluster is chosen from its TLS SNI, its first request head,
//! or, after `route_wait_ms` without one, the default; then its relay checks every request
//! against that choice (`relay::route`).

use crate::relay::route::sniff::{first_head, FirstHead};
use crate::relay::route::{PickedBy, Routes, Routing, Target};
use crate::time::Instant;

use super::{ConnId, Metric, Rules, Shell};

/// What the host does next about a held connection's route.
#[derive(Debug, PartialEq, Eq)]
pub enum RouteStep {
    /// Keep holding the client's bytes: no request head yet.
    Wait,
    /// Send the connection to this cluster (`None`: the host's own, tcp_proxy's `cluster`),
    /// then relay its bytes as usual.
    Go(Option<String>),
}

impl<R: Rules> Shell<R> {
    /// The connection waits for its route: the host must not connect it upstream yet.
    pub fn route_pending(&self, id: ConnId) -> bool {
        self.route_waits.contains_key(&id)
    }

    /// A held connection's client bytes so far (`end`: the client closed) and its TLS
    /// server name, if it sent one: its route, once one can be chosen. `None` when the
    /// connection does not wait for one.
    pub fn route(
        &mut self,
        id: ConnId,
        bytes: &[u8],
        end: bool,
        sni: Option<&[u8]>,
        _now: Instant,
    ) -> Option<RouteStep> {
        if !self.route_pending(id) {
            return None;
        }
        let Some(routes) = self.cfg.routes.clone() else {
            // Configured away while the connection waited: tcp_proxy's own cluster.
            self.route_waits.remove(&id);
            return Some(RouteStep::Go(None));
        };
        let (target, by) = match sni.filter(|s| !s.is_empty()) {
            Some(name) => routes.pick(Some(name), None),
            None => match first_head(bytes, end, &self.front_cfg) {
                FirstHead::More => return Some(RouteStep::Wait),
                FirstHead::Request(authority) => routes.pick(None, Some(authority.as_deref())),
                FirstHead::NotARequest => routes.pick(None, None),
            },
        };
        Some(self.choose(id, &routes, target, by))
    }

    /// Held connections whose wait for a request head is over.
    pub fn routes_due(&self, now: Instant) -> Vec<ConnId> {
        self.route_waits
            .iter()
            .filter(|(_, due)| **due <= now)
            .map(|(id, _)| *id)
            .collect()
    }

    /// The default route for a connection whose wait is over (`routes_due`).
    pub fn route_after_wait(&mut self, id: ConnId) -> Option<RouteStep> {
        if !self.route_pending(id) {
            return None;
        }
        let Some(routes) = self.cfg.routes.clone() else {
            // Configured away while the connection waited: tcp_proxy's own cluster.
            self.route_waits.remove(&id);
            return Some(RouteStep::Go(None));
        };
        let (target, by) = routes.after_wait();
        Some(self.choose(id, &routes, target, by))
    }

    fn choose(
        &mut self,
        id: ConnId,
        routes: &std::sync::Arc<Routes>,
        target: Target,
        by: PickedBy,
    ) -> RouteStep {
        self.route_waits.remove(&id);
        if let Some(c) = self.conns.get_mut(&id) {
            c.set_routing(Routing::new(routes.clone(), target));
        }
        let metric = match by {
            PickedBy::Sni => Metric::RoutesBySni,
            PickedBy::Authority => Metric::RoutesByAuthority,
            PickedBy::Default => Metric::RoutesDefault,
            PickedBy::Wait => Metric::RoutesAfterWait,
        };
        self.metrics.gather(metric, 1);
        let cluster = routes.cluster_name(target).map(str::to_string);
        log::debug!("h2mux[{id}]: routed to {cluster:?} ({by:?})");
        RouteStep::Go(cluster)
    }
}

/// Envoy's `set_envoy_filter_state` foreign function argument, the protobuf message
/// `envoy.source.extensions.common.wasm.SetEnvoyFilterStateArguments` (`path` = 1,
/// `value` = 2, `span` = 3) with the span `DownstreamConnection` (2): written by hand, it
/// is three fields.
pub fn envoy_filter_state_args(path: &str, value: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len() + value.len() + 8);
    for (tag, s) in [(0x0a, path), (0x12, value)] {
        out.push(tag);
        varint(&mut out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
    out.extend_from_slice(&[0x18, 2]);
    out
}

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PluginConfig;
    use crate::shell::{Capabilities, MetricOp};

    #[test]
    fn the_filter_state_argument_is_the_protobuf_message() {
        let got = envoy_filter_state_args("envoy.tcp_proxy.cluster", "a");
        let mut want = vec![0x0a, 23];
        want.extend_from_slice(b"envoy.tcp_proxy.cluster");
        want.extend_from_slice(&[0x12, 1, b'a', 0x18, 2]);
        assert_eq!(got, want);
        let long = "c".repeat(200);
        let got = envoy_filter_state_args("p", &long);
        assert_eq!(&got[..5], &[0x0a, 1, b'p', 0x12, 0xc8]);
        assert_eq!(got[5], 0x01);
        assert_eq!(got.len(), 3 + 3 + 200 + 2);
    }

    fn shell() -> Shell<Capabilities> {
        let cfg = PluginConfig::parse(
            r#"{"routes": [{"authority": "a.example", "cluster": "a"},
                {"authority": "b.example", "cluster": "b"}], "default_cluster": "d",
                "route_wait_ms": 100}"#,
        )
        .unwrap();
        Shell::new(cfg, Capabilities::envoy())
    }

    fn gathered(s: &mut Shell<Capabilities>, m: Metric) -> i64 {
        s.metrics.flush(&s.pool);
        s.take_metrics()
            .filter_map(|op| match op {
                MetricOp::Add(x, n) if x == m => Some(n),
                _ => None,
            })
            .sum()
    }

    #[test]
    fn a_held_connection_is_routed_by_its_first_head_sni_or_the_wait() {
        let mut s = shell();
        s.open(1, Instant(0));
        assert!(s.route_pending(1));
        let head = b"GET / HTTP/1.1\r\nHost: B.example:10000\r\n\r\n";
        assert_eq!(
            s.route(1, &head[..20], false, None, Instant(5)),
            Some(RouteStep::Wait)
        );
        assert_eq!(
            s.route(1, head, false, None, Instant(6)),
            Some(RouteStep::Go(Some("b".into())))
        );
        assert!(!s.route_pending(1));
        assert_eq!(s.route(1, head, false, None, Instant(7)), None);
        assert_eq!(gathered(&mut s, Metric::RoutesByAuthority), 1);

        s.open(2, Instant(10));
        assert_eq!(
            s.route(2, b"", false, Some(b"a.example"), Instant(11)),
            Some(RouteStep::Go(Some("a".into())))
        );
        assert_eq!(gathered(&mut s, Metric::RoutesBySni), 1);

        s.open(3, Instant(20));
        s.open(4, Instant(20));
        assert_eq!(
            s.route(4, b"\x16\x03\x01 not http", false, None, Instant(21)),
            Some(RouteStep::Go(Some("d".into())))
        );
        assert_eq!(gathered(&mut s, Metric::RoutesDefault), 1);
        assert!(s.routes_due(Instant(119)).is_empty());
        assert_eq!(s.routes_due(Instant(120)), vec![3]);
        assert_eq!(s.route_after_wait(3), Some(RouteStep::Go(Some("d".into()))));
        assert!(s.routes_due(Instant(500)).is_empty());
        assert_eq!(gathered(&mut s, Metric::RoutesAfterWait), 1);

        // Gone before its route was chosen: nothing waits for it.
        s.open(5, Instant(30));
        s.connection_closed(5, Instant(31));
        assert!(!s.route_pending(5) && s.routes_due(Instant(1000)).is_empty());
    }

    #[test]
    fn a_connection_waiting_when_routes_are_configured_away_goes_on() {
        let mut s = shell();
        s.open(1, Instant(0));
        s.open(2, Instant(0));
        s.reconfigure(PluginConfig::default());
        assert_eq!(
            s.route(1, b"", false, None, Instant(1)),
            Some(RouteStep::Go(None))
        );
        assert_eq!(s.routes_due(Instant(1000)), vec![2]);
        assert_eq!(s.route_after_wait(2), Some(RouteStep::Go(None)));
        assert!(!s.route_pending(1) && !s.route_pending(2));
        assert!(s.routes_due(Instant(1000)).is_empty());
    }

    #[test]
    fn without_routes_nothing_is_held() {
        let mut s = Shell::new(PluginConfig::default(), Capabilities::envoy());
        s.open(1, Instant(0));
        assert!(!s.route_pending(1));
        assert_eq!(
            s.route(1, b"GET / HTTP/1.1\r\n\r\n", false, None, Instant(0)),
            None
        );
        assert!(s.routes_due(Instant(10_000)).is_empty());
    }
}
