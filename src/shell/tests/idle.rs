//! The idle scan: a connection that moved no bytes for a whole scan period gives back its
//! queue memory; one in use keeps it; timers do not count as use.

use super::net::{Answer, Net};
use crate::shell::Capabilities;

fn trims(n: &Net, link: usize) -> u32 {
    n.host.shell.conn(n.id(link)).unwrap().trims
}

#[test]
fn a_quiet_connection_gives_back_its_queue_memory_after_a_scan_period() {
    // A scan every 10 ticks of 10 ms.
    let mut n = Net::new("{}", Capabilities::envoy());
    let l = n.connect_h2(Answer::Echo);
    let s = n.request(l, "GET", "/", b"");
    n.run();
    assert!(n.response(l, s).ended);
    // Bytes moved since the last scan: the first scan only marks the connection quiet.
    n.run_for(100);
    assert_eq!(trims(&n, l), 0, "trimmed right after being used");
    n.run_for(100);
    assert_eq!(trims(&n, l), 1, "not trimmed after a quiet scan period");
    // Requests keep it in use: no trim while a request arrives every 50 ms.
    for _ in 0..10 {
        let s = n.request(l, "GET", "/", b"");
        n.run_for(50);
        assert!(n.response(l, s).ended);
    }
    assert_eq!(trims(&n, l), 1, "trimmed while in use");
    n.run_for(200);
    assert!(trims(&n, l) >= 2);
    assert!(
        n.host.envoy.refusals.is_empty(),
        "{:?}",
        n.host.envoy.refusals
    );
}
