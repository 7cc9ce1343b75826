//! Plugin configuration and VM start-up.

mod common;

use h2mux_wasm_tests::host::{abi, Vm};

#[test]
fn unknown_key_is_rejected_with_its_name_logged() {
    let vm = Vm::new(r#"{"no_such_key":1}"#).unwrap();
    assert!(!vm.configured());
    assert!(vm.trap().is_none());
    let lines = vm.logs_matching("no_such_key");
    assert!(!lines.is_empty(), "{:?}", vm.logs());
    assert!(lines.iter().any(|l| l.level >= abi::log_level::WARN));
}

#[test]
fn good_configuration_starts_the_tick() {
    let mut vm = Vm::new(r#"{"quota_bytes": 131072, "tick_ms": 20}"#).unwrap();
    assert!(vm.configured());
    assert_eq!(vm.tick_period_ms(), 20);
    vm.advance(1000).unwrap();
    assert_eq!(vm.ticks(), 50);
    assert!(vm.tick().unwrap());
    assert_eq!(vm.elapsed_ms(), 1020);
    assert!(vm.memory_size() > 0);
    // Reconfiguring a running VM works, a bad one is refused and leaves it running.
    assert!(vm.configure(r#"{"quota_bytes": 262144}"#).unwrap());
    assert!(!vm.configure(r#"{"quota_bytes": "lots"}"#).unwrap());
    assert!(vm.trap().is_none());
}

#[test]
fn several_vms_are_independent() {
    let mut a = Vm::new("{}").unwrap();
    let b = Vm::new("{}").unwrap();
    let c = a.open().unwrap();
    assert_eq!(a.metric("h2mux_connections_total"), Some(1));
    assert_eq!(b.metric("h2mux_connections_total"), Some(0));
    a.client_close(c).unwrap();
    assert!(a.trap().is_none() && b.trap().is_none());
}

#[test]
fn malformed_routes_are_refused_with_the_key_logged() {
    for (config, key) in [
        (
            r#"{"routes": [{"authority": "a.example", "cluster": 7}]}"#,
            "routes[0].cluster",
        ),
        (
            r#"{"routes": [{"authority": "a.example", "cluster": "a", "port": 1}]}"#,
            "routes[0].port",
        ),
        (r#"{"routes": [{}]}"#, "routes[0].authority"),
        (r#"{"routes": []}"#, "routes"),
        (
            r#"{"routes": [{"authority": "a", "cluster": "a"}, {"authority": "A:1", "cluster": "b"}]}"#,
            "routes[1].authority",
        ),
        (r#"{"default_cluster": "d"}"#, "default_cluster"),
        (
            r#"{"routes": [{"authority": "a", "cluster": "a"}], "route_wait_ms": -1}"#,
            "route_wait_ms",
        ),
    ] {
        let vm = Vm::new(config).unwrap();
        assert!(!vm.configured(), "{config} accepted");
        let needle = format!("`{key}`");
        assert!(
            !vm.logs_matching(&needle).is_empty(),
            "{config}: {:?}",
            vm.logs()
        );
    }
}
