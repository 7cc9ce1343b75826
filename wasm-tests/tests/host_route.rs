//! Routing by authority in `dist/h2mux.wasm`, under the host's model of Envoy: the chain
//! stopped at `proxy_on_new_connection`, `set_envoy_filter_state` through the foreign
//! function, and the chain going on (tcp_proxy connecting) only once the cluster is set.

mod common;
#[path = "common/h2raw.rs"]
mod h2raw;

use h2raw::{headers, hp_int, hp_str, settings, PREFACE};

const ROUTES: &str = r#"{"routes": [{"authority": "a.example", "cluster": "a"},
    {"authority": "b.example", "cluster": "b"}], "default_cluster": "d", "route_wait_ms": 100,
    "tick_ms": 10}"#;

/// A GET for `authority`, as a client's HEADERS frame.
fn get_for(stream: u32, authority: &str) -> Vec<u8> {
    let mut b = vec![0x82, 0x86, 0x84]; // GET, http, /
    hp_int(&mut b, 4, 0, 1);
    hp_str(&mut b, authority.as_bytes());
    headers(stream, &b, true)
}

#[test]
fn the_cluster_is_set_from_the_first_head_before_the_chain_goes_on() {
    let mut vm = common::vm(ROUTES);
    let c = vm.open().unwrap();
    assert!(
        vm.chain_paused(c),
        "tcp_proxy must not connect before the route is known"
    );
    let mut first = PREFACE.to_vec();
    first.extend(settings(&[]));
    first.extend(get_for(1, "B.Example:10000"));
    // The head in two pieces: the first is held, nothing goes upstream.
    vm.client_send(c, &first[..40]).unwrap();
    assert!(vm.chain_paused(c));
    assert_eq!(vm.upstream_cluster(c), None);
    assert!(vm.take_to_upstream(c).is_empty());
    vm.client_send(c, &first[40..]).unwrap();
    assert!(!vm.chain_paused(c));
    assert_eq!(vm.upstream_cluster(c), Some(Some("b".to_string())));
    let up = vm.take_to_upstream(c);
    assert!(
        up.starts_with(PREFACE),
        "the relay's own preface goes upstream: {up:?}"
    );
    vm.advance(20).unwrap();
    assert_eq!(vm.metric("h2mux_routes_by_authority_total"), Some(1));
    assert!(vm.trap().is_none(), "{:?}", vm.trap());
    assert!(vm
        .refusals()
        .iter()
        .all(|r| r.call != "set_envoy_filter_state"));
}

#[test]
fn an_http11_client_is_routed_by_its_host() {
    let mut vm = common::vm(ROUTES);
    let c = vm.open().unwrap();
    vm.client_send(c, b"GET /x HTTP/1.1\r\nHost: a.example\r\n\r\n")
        .unwrap();
    assert_eq!(vm.upstream_cluster(c), Some(Some("a".to_string())));
    assert!(vm.take_to_upstream(c).starts_with(PREFACE));
}

#[test]
fn a_silent_connection_goes_to_the_default_after_the_wait() {
    let mut vm = common::vm(ROUTES);
    let c = vm.open().unwrap();
    vm.advance(60).unwrap();
    assert!(vm.chain_paused(c));
    // Part of a preface is no head: the wait's end sends it on to the default cluster.
    vm.client_send(c, &PREFACE[..10]).unwrap();
    vm.advance(60).unwrap();
    assert!(!vm.chain_paused(c));
    assert_eq!(vm.upstream_cluster(c), Some(Some("d".to_string())));
    assert_eq!(vm.metric("h2mux_routes_after_wait_total"), Some(1));
    assert!(vm.trap().is_none(), "{:?}", vm.trap());
}

#[test]
fn bytes_that_are_no_request_go_to_the_default_at_once() {
    let mut vm = common::vm(ROUTES);
    let c = vm.open().unwrap();
    vm.client_send(
        c,
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 and more than a preface",
    )
    .unwrap();
    assert_eq!(vm.upstream_cluster(c), Some(Some("d".to_string())));
}

#[test]
fn without_routes_the_chain_is_not_stopped() {
    let mut vm = common::vm("{}");
    let c = vm.open().unwrap();
    assert!(!vm.chain_paused(c));
    vm.client_send(c, b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n")
        .unwrap();
    assert_eq!(vm.upstream_cluster(c), Some(None));
}
