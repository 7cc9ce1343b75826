//! Shared set-up for the host tests.
#![allow(dead_code)]

use h2mux_wasm_tests::host::driver::Pump;
use h2mux_wasm_tests::host::{Vm, VmOptions};

pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

pub fn vm(config: &str) -> Vm {
    let vm = Vm::with_options(VmOptions {
        plugin_config: config.into(),
        ..VmOptions::default()
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(vm.configured(), "configuration {config} rejected");
    vm
}

/// No trap, and no host call refused (the SDK panics on most refusals anyway).
pub fn assert_healthy(p: &Pump) {
    assert!(p.vm.trap().is_none(), "trap: {:?}", p.vm.trap());
    let refused: Vec<_> =
        p.vm.refusals()
            .iter()
            .filter(|r| r.call != "proxy_get_property")
            .collect();
    assert!(refused.is_empty(), "host calls refused: {refused:?}");
}
