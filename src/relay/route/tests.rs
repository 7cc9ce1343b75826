use std::sync::Arc;

use super::sniff::{first_head, FirstHead};
use super::*;
use crate::buffer::BufferPool;
use crate::config::PluginConfig;
use crate::conn::{Connection, Event};
use crate::limits::Config;
use crate::message::Message;
use crate::side::Side;
use crate::testkit::Chain;
use crate::time::Instant;

fn routes(text: &str) -> Result<Arc<Routes>, crate::config::ConfigError> {
    Ok(PluginConfig::parse(text)?.routes.unwrap())
}

const AB: &str = r#"{"routes": [{"authority": "a.example", "cluster": "a"},
    {"authority": "B.Example:8443", "cluster": "b"}, {"authority": "a2.example", "cluster": "a"},
    {"authority": "[::1]", "cluster": "b"}], "default_cluster": "d"}"#;

#[test]
fn authorities_match_without_case_port_or_trailing_dot() {
    let r = routes(AB).unwrap();
    let name = |a: &[u8]| r.cluster_name(r.lookup(Some(a)));
    assert_eq!(name(b"a.example"), Some("a"));
    assert_eq!(name(b"A.EXAMPLE:10000"), Some("a"));
    assert_eq!(name(b"a.example."), Some("a"));
    assert_eq!(name(b"user@a.example:1"), Some("a"));
    assert_eq!(name(b"b.example"), Some("b"));
    assert_eq!(name(b"[::1]:443"), Some("b"));
    assert_eq!(name(b"a2.example"), Some("a"));
    assert_eq!(name(b"c.example"), Some("d"));
    assert_eq!(name(b"a.example.evil"), Some("d"));
    assert_eq!(name(b"a.example:80x"), Some("d"));
    assert_eq!(name(b""), Some("d"));
    assert_eq!(r.cluster_name(r.lookup(None)), Some("d"));
    // Two authorities of one cluster are one target.
    assert_eq!(r.lookup(Some(b"a.example")), r.lookup(Some(b"a2.example")));
    // Without default_cluster, the host's own cluster stands in.
    let r = routes(r#"{"routes": [{"authority": "a.example", "cluster": "a"}]}"#).unwrap();
    assert_eq!(r.cluster_name(r.lookup(Some(b"zzz"))), None);
    assert_eq!(host_of(b"[::1]:80"), b"[::1]");
    assert_eq!(host_of(b"h:"), b"h");
    assert_eq!(host_of(b"."), b".");
}

#[test]
fn sni_picks_when_present_and_the_first_authority_otherwise() {
    let r = routes(AB).unwrap();
    let name = |p: (Target, PickedBy)| (r.cluster_name(p.0), p.1);
    assert_eq!(
        name(r.pick(None, Some(Some(b"b.example")))),
        (Some("b"), PickedBy::Authority)
    );
    assert_eq!(
        name(r.pick(None, Some(Some(b"zz")))),
        (Some("d"), PickedBy::Default)
    );
    assert_eq!(
        name(r.pick(None, Some(None))),
        (Some("d"), PickedBy::Default)
    );
    assert_eq!(name(r.pick(None, None)), (Some("d"), PickedBy::Default));
    assert_eq!(
        name(r.pick(Some(b"a.example"), Some(Some(b"b.example")))),
        (Some("a"), PickedBy::Sni)
    );
    assert_eq!(
        name(r.pick(Some(b"x.example"), Some(Some(b"b.example")))),
        (Some("d"), PickedBy::Default)
    );
    assert_eq!(name(r.after_wait()), (Some("d"), PickedBy::Wait));
}

#[test]
fn the_421_decision_follows_the_connections_cluster() {
    let r = routes(AB).unwrap();
    let a = Routing::new(r.clone(), r.lookup(Some(b"a.example")));
    assert!(a.admits(Some(b"a.example")));
    assert!(a.admits(Some(b"A2.example:10000")));
    assert!(!a.admits(Some(b"b.example")));
    assert!(!a.admits(Some(b"other.example")));
    assert!(!a.admits(None));
    let d = Routing::new(r.clone(), r.lookup(None));
    assert!(d.admits(Some(b"other.example")) && d.admits(None));
    assert!(!d.admits(Some(b"a.example")));
}

#[test]
fn malformed_routes_are_refused_by_key() {
    let cases = [
        (r#"{"routes": {}}"#, "routes"),
        (r#"{"routes": []}"#, "routes"),
        (r#"{"routes": [{}]}"#, "routes[0].authority"),
        (r#"{"routes": [1]}"#, "routes[0]"),
        (r#"{"routes": [{"authority": "a"}]}"#, "routes[0].cluster"),
        (r#"{"routes": [{"cluster": "a"}]}"#, "routes[0].authority"),
        (
            r#"{"routes": [{"authority": "a", "cluster": 7}]}"#,
            "routes[0].cluster",
        ),
        (
            r#"{"routes": [{"authority": "a", "cluster": ""}]}"#,
            "routes[0].cluster",
        ),
        (
            r#"{"routes": [{"authority": 1, "cluster": "a"}]}"#,
            "routes[0].authority",
        ),
        (
            r#"{"routes": [{"authority": "a/b", "cluster": "a"}]}"#,
            "routes[0].authority",
        ),
        (
            r#"{"routes": [{"authority": "", "cluster": "a"}]}"#,
            "routes[0].authority",
        ),
        (
            r#"{"routes": [{"authority": "u@a", "cluster": "a"}]}"#,
            "routes[0].authority",
        ),
        (
            r#"{"routes": [{"authority": "a", "cluster": "a", "weight": 1}]}"#,
            "routes[0].weight",
        ),
        (
            r#"{"routes": [{"authority": "a", "cluster": "a"}, {"authority": "x", "cluster": "x"}, {"authority": "A:80", "cluster": "b"}]}"#,
            "routes[2].authority",
        ),
        (
            r#"{"routes": [{"authority": "a", "cluster": "a"}], "default_cluster": 1}"#,
            "default_cluster",
        ),
    ];
    for (text, key) in cases {
        let e = PluginConfig::parse(text).unwrap_err();
        assert_eq!(e.key, key, "{text}: {e}");
        assert!(e.to_string().contains(key), "{e}");
    }
    for (text, key) in [
        (r#"{"default_cluster": "d"}"#, "default_cluster"),
        (r#"{"route_wait_ms": 100}"#, "route_wait_ms"),
        (
            r#"{"routes": [{"authority": "a", "cluster": "a"}], "route_wait_ms": 0}"#,
            "route_wait_ms",
        ),
        (
            r#"{"routes": [{"authority": "a", "cluster": "a"}], "route_wait_ms": "1s"}"#,
            "route_wait_ms",
        ),
    ] {
        let e = PluginConfig::parse(text).unwrap_err();
        assert_eq!(e.key, key, "{text}: {e}");
    }
    let pc = PluginConfig::parse(AB).unwrap();
    let r = pc.routes.unwrap();
    assert_eq!(r.wait_ms, DEFAULT_WAIT_MS);
    let pc = PluginConfig::parse(
        r#"{"routes": [{"authority": "a", "cluster": "a"}], "route_wait_ms": 50}"#,
    )
    .unwrap();
    assert_eq!(pc.routes.unwrap().wait_ms, 50);
    assert!(PluginConfig::parse("{}").unwrap().routes.is_none());
}

/// A real client's first bytes: its preface, SETTINGS and a request for `authority`.
fn h2_client_bytes(authority: &[u8]) -> Vec<u8> {
    let now = Instant(0);
    let mut pool = BufferPool::new(16_384, 1 << 20, 8);
    let mut client = Connection::new(Side::Backend, Arc::new(Config::default()), 1, now);
    let m = Message::request(b"GET", b"https", authority, b"/");
    client.open_stream(m, true).unwrap();
    let mut out = Vec::new();
    client.drain_output(&mut pool, &mut out, usize::MAX, now);
    client.release(&mut pool);
    out
}

#[test]
fn the_first_head_is_read_from_http2_and_http1_bytes() {
    let cfg = PluginConfig::default().frontend;
    let h2 = h2_client_bytes(b"b.example:10000");
    let want = FirstHead::Request(Some(b"b.example:10000".to_vec()));
    assert_eq!(first_head(&h2, false, &cfg), want);
    // Every shorter prefix asks for more, or (closed) reads as no request.
    for n in 0..h2.len() {
        assert_eq!(first_head(&h2[..n], false, &cfg), FirstHead::More, "{n}");
        assert_eq!(
            first_head(&h2[..n], true, &cfg),
            FirstHead::NotARequest,
            "{n}"
        );
    }
    let h1 = b"\r\nGET / HTTP/1.1\r\nhost: A.example:10000\r\naccept: */*\r\n\r\n";
    let want = FirstHead::Request(Some(b"A.example:10000".to_vec()));
    assert_eq!(first_head(h1, false, &cfg), want);
    assert_eq!(first_head(&h1[..30], false, &cfg), FirstHead::More);
    let abs = b"GET http://b.example/x HTTP/1.1\r\nhost: a.example\r\n\r\n";
    assert_eq!(
        first_head(abs, false, &cfg),
        FirstHead::Request(Some(b"b.example".to_vec()))
    );
    assert_eq!(
        first_head(b"GET / HTTP/1.0\r\n\r\n", false, &cfg),
        FirstHead::Request(None)
    );
    for junk in [
        &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..],
        b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n",
        b"GET / HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n",
        b"GET / HTTP/1.1\nhost: a\n\n",
    ] {
        assert_eq!(
            first_head(junk, false, &cfg),
            FirstHead::NotARequest,
            "{junk:?}"
        );
    }
    // A HEADERS frame that is not followed by its CONTINUATION is no request.
    let mut cut = h2.clone();
    let headers = headers_at(&h2);
    // Clear END_HEADERS and put a PING after it.
    cut[headers + 4] &= !0x4;
    cut.extend_from_slice(&[0, 0, 8, 6, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(first_head(&cut, false, &cfg), FirstHead::NotARequest);
}

/// Where the first HEADERS frame starts.
fn headers_at(h2: &[u8]) -> usize {
    let mut at = 24;
    while h2[at + 3] != 1 {
        at += 9
            + (usize::from(h2[at]) << 16 | usize::from(h2[at + 1]) << 8 | usize::from(h2[at + 2]));
    }
    at
}

/// Through a real relay: a request for the connection's cluster is relayed, one for
/// another cluster is answered 421 on its own stream.
#[test]
fn a_request_routed_elsewhere_gets_421_on_its_stream_only() {
    let r = routes(AB).unwrap();
    let mut c = Chain::new(Config::default());
    c.relay
        .set_routing(Routing::new(r.clone(), r.lookup(Some(b"a.example"))));
    let ask = |c: &mut Chain, authority: &[u8]| {
        let m = Message::request(b"GET", b"https", authority, b"/");
        c.client.open_stream(m, true).unwrap()
    };
    let ok = ask(&mut c, b"a.example");
    let other = ask(&mut c, b"b.example");
    let same = ask(&mut c, b"A2.example:443");
    c.run();
    let upstream: Vec<_> = c
        .server_events
        .iter()
        .filter_map(|e| match e {
            Event::Headers { message, .. } => message.authority().map(<[u8]>::to_vec),
            _ => None,
        })
        .collect();
    assert_eq!(
        upstream,
        vec![b"a.example".to_vec(), b"A2.example:443".to_vec()]
    );
    let status = |c: &Chain, id| {
        c.client_events.iter().find_map(|e| match e {
            Event::Headers {
                stream, message, ..
            } if *stream == id => message.status(),
            _ => None,
        })
    };
    assert_eq!(status(&c, other), Some(421));
    assert_eq!(status(&c, ok), None, "waits for its upstream answer");
    assert_eq!(c.relay.take_misdirected(), 1);
    assert_eq!(c.relay.take_misdirected(), 0);
    let _ = same;
    c.release();
}

/// The first head is read from peer bytes: real clients' bytes damaged at random, and
/// random bytes, never panic, and whatever is read stays within the limits.
#[test]
fn damaged_first_bytes_never_panic() {
    let cfg = PluginConfig::default().frontend;
    let mut rng = crate::testkit::Rng::new(12);
    let h2 = h2_client_bytes(b"a.example");
    let h1 = b"GET / HTTP/1.1\r\nHost: a.example\r\nx: y\r\n\r\n".to_vec();
    let mut requests = 0;
    for i in 0..20_000 {
        let mut b = match i % 3 {
            0 => h2.clone(),
            1 => h1.clone(),
            _ => {
                let n = rng.below(200);
                rng.bytes(n)
            }
        };
        let damage = rng.below(4);
        for _ in 0..damage {
            if !b.is_empty() {
                let at = rng.below(b.len());
                b[at] = rng.byte();
            }
        }
        let cut = if rng.one_in(2) {
            b.len()
        } else {
            rng.below(b.len() + 1)
        };
        let end = rng.one_in(2);
        if let FirstHead::Request(Some(a)) = first_head(&b[..cut], end, &cfg) {
            assert!(a.len() <= cfg.max_header_list_size as usize);
            requests += 1;
        }
    }
    assert!(requests > 100, "{requests}");
}
