//! HTTP/2 scenarios through the real filter, with an h2 client and an h2 upstream.

mod common;

use common::{assert_healthy, rt, vm};
use h2mux_wasm_tests::host::driver::Pump;
use h2mux_wasm_tests::host::peer::{self, Client};

#[test]
fn get_with_response() {
    rt().block_on(async {
        let mut p = Pump::new(vm("{}"));
        let (c, client_io, up_io) = p.connect().unwrap();
        let _up = peer::serve(up_io);
        let r = p
            .run(async move {
                let mut cl = Client::connect(client_io).await?;
                cl.request("GET", "/", b"", None).await
            })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.0, 200);
        assert_eq!(r.1, b"hello\n");
        assert_healthy(&p);
        assert!(!p.vm.is_closed(c));
        assert_eq!(p.vm.metric("h2mux_connections_total"), Some(1));
        assert!(p.vm.metric("h2mux_streams_total").unwrap() >= 1);
    });
}
