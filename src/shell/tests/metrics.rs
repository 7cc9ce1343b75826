//! What the shell publishes about ended streams: the class of each response, and the
//! request duration and time to first byte as histogram values, all on the tick.

use super::net::{Answer, Net};
use crate::shell::Capabilities;

#[test]
fn ended_streams_count_their_response_class_and_durations() {
    for caps in [Capabilities::envoy(), Capabilities::unrestricted()] {
        let mut n = Net::new("{}", caps);
        let l = n.connect_h2(Answer::Echo);
        let ids: Vec<_> = (0..5).map(|_| n.request(l, "GET", "/", b"")).collect();
        n.run();
        n.run_for(50);
        assert!(ids.iter().all(|&s| n.response(l, s).ended));
        let m = |name: &str| n.host.metric(name);
        assert_eq!(m("h2mux_responses_2xx"), 5);
        assert_eq!(m("h2mux_responses_4xx") + m("h2mux_responses_5xx"), 0);
        assert_eq!(m("h2mux_request_duration_ms_count"), 5);
        assert_eq!(m("h2mux_time_to_first_byte_ms_count"), 5);
        // The model's clock moves in ticks: nothing here takes a second.
        assert!(m("h2mux_request_duration_ms_sum") < 5_000);
    }
}
