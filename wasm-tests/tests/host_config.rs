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
