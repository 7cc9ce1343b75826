//! Routing by authority: which upstream cluster a client connection goes to, and which of
//! its requests that cluster may serve.
//!
//! Sans-IO and host-agnostic. The table comes from the plugin configuration (`routes`,
//! `default_cluster`); the host learns the connection's cluster before it connects upstream
//! (Envoy: the filter state `envoy.tcp_proxy.cluster`) from the client's TLS SNI, or else
//! from its first request's authority (`sniff`); afterwards the relay answers every request
//! whose authority routes elsewhere with 421 Misdirected Request (RFC 9110 §15.5.20), so
//! that a client which coalesced connections retries on another one.
//!
//! Authorities match case-insensitively, without their port (and userinfo, and one
//! trailing dot): the port a client names is the listener's, not the cluster's.

pub mod sniff;

use std::sync::Arc;

/// Routes a configuration may list: the table is searched on every request.
pub const MAX_ROUTES: usize = 10_000;

/// A cluster of the table: an index into its names, or `None` for the host's own (Envoy:
/// tcp_proxy's `cluster`), where no `default_cluster` is configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Target(Option<u16>);

/// How a connection's cluster was chosen (each one a metric).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PickedBy {
    /// The client's TLS SNI matched a route.
    Sni,
    /// The first request's authority matched a route.
    Authority,
    /// Nothing matched (an unknown name, no authority, bytes that are no request).
    Default,
    /// No request head came within `route_wait_ms`.
    Wait,
}

/// The route table.
#[derive(Debug, PartialEq, Eq)]
pub struct Routes {
    /// Cluster names, each once.
    clusters: Vec<String>,
    /// Normalised authorities (lowercase, no port), sorted, and their clusters.
    table: Vec<(Box<[u8]>, u16)>,
    default: Target,
    /// How long a connection is held for its first request head before the default
    /// cluster is used.
    pub wait_ms: u64,
}

/// A route the table cannot take: its entry (`None`: the default cluster), the field, and why.
#[derive(Debug, PartialEq, Eq)]
pub struct RouteError {
    /// The entry's place in the list, or `None` for the default cluster.
    pub entry: Option<usize>,
    /// `"authority"` or `"cluster"`.
    pub field: &'static str,
    /// What is wrong with it.
    pub message: String,
}

fn bad(entry: Option<usize>, field: &'static str, message: String) -> RouteError {
    RouteError {
        entry,
        field,
        message,
    }
}

/// The default wait for a first request head.
pub const DEFAULT_WAIT_MS: u64 = 200;

impl Routes {
    /// The table of `(authority, cluster)` routes, in the configuration's order, and the
    /// default cluster (`None`: the host's own). An authority is a host name or IP literal
    /// (a port is allowed and ignored) routed once; a cluster name is 1 to 256 bytes.
    pub fn new(
        entries: &[(&str, &str)],
        default: Option<&str>,
        wait_ms: u64,
    ) -> Result<Routes, RouteError> {
        if entries.len() > MAX_ROUTES {
            return Err(bad(None, "", format!("at most {MAX_ROUTES} routes")));
        }
        let mut clusters: Vec<String> = Vec::new();
        let mut index = |name: &str| -> u16 {
            match clusters.iter().position(|c| c == name) {
                Some(i) => i as u16,
                None => {
                    clusters.push(name.to_string());
                    // At most MAX_ROUTES + 1 names: fits.
                    (clusters.len() - 1) as u16
                }
            }
        };
        let mut table: Vec<(Box<[u8]>, u16, usize)> = Vec::with_capacity(entries.len());
        for (i, (authority, cluster)) in entries.iter().enumerate() {
            let key = authority_key(authority).map_err(|m| bad(Some(i), "authority", m))?;
            let c = cluster_name(cluster).map_err(|m| bad(Some(i), "cluster", m))?;
            table.push((key, index(c), i));
        }
        let default = match default {
            None => Target(None),
            Some(c) => Target(Some(index(
                cluster_name(c).map_err(|m| bad(None, "cluster", m))?,
            ))),
        };
        table.sort_by(|a, b| a.0.cmp(&b.0));
        for w in table.windows(2) {
            if let [(a, _, first), (b, _, dup)] = w {
                if a == b {
                    let (first, dup) = ((*first).min(*dup), (*first).max(*dup));
                    return Err(bad(
                        Some(dup),
                        "authority",
                        format!(
                            "{} is routed already by routes[{first}] (names match without case or port)",
                            String::from_utf8_lossy(a)
                        ),
                    ));
                }
            }
        }
        Ok(Routes {
            clusters,
            table: table.into_iter().map(|(a, c, _)| (a, c)).collect(),
            default,
            wait_ms,
        })
    }

    /// The cluster of a request's authority (none: the default).
    pub fn lookup(&self, authority: Option<&[u8]>) -> Target {
        let Some(host) = authority.map(host_of) else {
            return self.default;
        };
        let found = self.table.binary_search_by(|(key, _)| {
            key.iter()
                .copied()
                .cmp(host.iter().map(u8::to_ascii_lowercase))
        });
        match found.ok().and_then(|i| self.table.get(i)) {
            Some((_, c)) => Target(Some(*c)),
            None => self.default,
        }
    }

    /// A connection's cluster: its SNI's route when the client named a server (every
    /// request must then agree with it), else its first request's. `first` is the first
    /// request's authority (`None` inside: a request without one); `None`: no request
    /// could be read.
    pub fn pick(&self, sni: Option<&[u8]>, first: Option<Option<&[u8]>>) -> (Target, PickedBy) {
        let named = sni.or(first.flatten());
        let target = self.lookup(named);
        let by = match (sni, self.matches(named)) {
            (_, false) => PickedBy::Default,
            (Some(_), true) => PickedBy::Sni,
            (None, true) => PickedBy::Authority,
        };
        (target, by)
    }

    /// The default cluster, once the wait for a first request head is over.
    pub fn after_wait(&self) -> (Target, PickedBy) {
        (self.default, PickedBy::Wait)
    }

    /// Whether a route names this authority (rather than the default standing in).
    fn matches(&self, authority: Option<&[u8]>) -> bool {
        let Some(host) = authority.map(host_of) else {
            return false;
        };
        self.table
            .binary_search_by(|(key, _)| {
                key.iter()
                    .copied()
                    .cmp(host.iter().map(u8::to_ascii_lowercase))
            })
            .is_ok()
    }

    /// The cluster's name, for the host (`None`: the host's own).
    pub fn cluster_name(&self, t: Target) -> Option<&str> {
        t.0.and_then(|i| self.clusters.get(usize::from(i)))
            .map(String::as_str)
    }
}

/// A connection's route: its cluster, and the table later requests are checked against.
#[derive(Debug)]
pub struct Routing {
    routes: Arc<Routes>,
    target: Target,
}

impl Routing {
    /// The route of a connection sent to `target`.
    pub fn new(routes: Arc<Routes>, target: Target) -> Routing {
        Routing { routes, target }
    }

    /// The connection's cluster may serve a request for this authority: else 421, so that
    /// the client asks on another connection (RFC 9110 §15.5.20, RFC 9113 §9.1.1).
    pub fn admits(&self, authority: Option<&[u8]>) -> bool {
        self.routes.lookup(authority) == self.target
    }
}

/// The host of an authority (or SNI): without userinfo, port and one trailing dot; an IPv6
/// literal keeps its brackets. Case is left as is (lookups compare without it).
pub fn host_of(authority: &[u8]) -> &[u8] {
    let a = match authority.iter().rposition(|&b| b == b'@') {
        Some(at) => authority.get(at + 1..).unwrap_or_default(),
        None => authority,
    };
    let host = if a.first() == Some(&b'[') {
        match a.iter().position(|&b| b == b']') {
            Some(end) => a.get(..=end).unwrap_or(a),
            None => a,
        }
    } else {
        match a.iter().rposition(|&b| b == b':') {
            Some(colon)
                if a.get(colon + 1..)
                    .unwrap_or_default()
                    .iter()
                    .all(u8::is_ascii_digit) =>
            {
                a.get(..colon).unwrap_or(a)
            }
            _ => a,
        }
    };
    match host {
        [rest @ .., b'.'] if !rest.is_empty() => rest,
        h => h,
    }
}

/// A route's `authority`: a host name or IP literal (a port is allowed and ignored),
/// normalised to its lowercase host.
fn authority_key(s: &str) -> Result<Box<[u8]>, String> {
    let host = host_of(s.as_bytes());
    let ok_byte = |b: &u8| b.is_ascii_alphanumeric() || b"-._~[]:".contains(b);
    if host.is_empty() || !host.iter().all(ok_byte) || s.contains('@') {
        return Err(format!(
            "{s:?} is not a host name or IP literal (with an optional port)"
        ));
    }
    Ok(host.to_ascii_lowercase().into_boxed_slice())
}

/// A cluster name: 1 to 256 bytes.
fn cluster_name(s: &str) -> Result<&str, String> {
    if s.is_empty() || s.len() > 256 {
        return Err("must be a cluster name of 1 to 256 bytes".into());
    }
    Ok(s)
}

#[cfg(test)]
mod tests;
