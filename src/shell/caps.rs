//! What the host can do with a connection's bytes, and when.

/// The host's write and pause rules, as flags. The shell follows them: where a flag says the
/// host cannot do something, the shell waits, rings a doorbell, or keeps bytes itself.
///
/// `Capabilities::envoy()` is Envoy's proxy-wasm network filter (measured on Envoy 1.40);
/// `Capabilities::unrestricted()` is a host that can write either way at any time (a native
/// Envoy dynamic module, a Node host): no doorbells, no stash, closes at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Client-bound bytes can be written only while the host delivers an upstream event
    /// (Envoy: the upstream buffer is reachable only inside `on_upstream_data`). Output for
    /// the client then waits for the next upstream event, and when none is due the shell
    /// rings the upstream (an empty SETTINGS it must acknowledge). Off: client-bound bytes
    /// go out with every event.
    pub client_writes_only_in_upstream_events: bool,
    /// Upstream-bound bytes can be written only during a downstream event, or into a held
    /// (paused) downstream buffer, which then carries them instead of the held client bytes
    /// (Envoy: the downstream buffer is the only way upstream). When neither is at hand the
    /// shell pings the client so that its PING ACK brings a downstream event. Off:
    /// upstream-bound bytes go out with every event.
    pub upstream_writes_only_in_downstream_events: bool,
    /// Bytes written in the same callback as a close are dropped (Envoy): a finished
    /// connection is closed from a later tick, after its last bytes went out. Off: it is
    /// closed in the event that finished it, after its last bytes.
    pub close_drops_same_event_writes: bool,
    /// The host can pause the downstream and keep the client bytes the shell did not take,
    /// handing them back, followed by any new ones, at the next downstream event (Envoy:
    /// Pause; it stops reading the socket at its per-connection buffer limit). Off: the
    /// shell keeps them itself, up to `max_kept_bytes`, and the connection is closed past
    /// that.
    pub holds_paused_downstream: bool,
}

impl Capabilities {
    /// A downstream paused with nothing held can be written toward the upstream from any
    /// event, and stays so after a resume (Envoy: the buffer stays reachable until a
    /// downstream callback returns Continue; ARCHITECTURE.md, "Envoy's write rules"): the
    /// shell parks connections there.
    pub const fn parks(self) -> bool {
        self.holds_paused_downstream && self.upstream_writes_only_in_downstream_events
    }

    /// Envoy 1.40 running the proxy-wasm network filter (see ARCHITECTURE.md).
    pub const fn envoy() -> Capabilities {
        Capabilities {
            client_writes_only_in_upstream_events: true,
            upstream_writes_only_in_downstream_events: true,
            close_drops_same_event_writes: true,
            holds_paused_downstream: true,
        }
    }

    /// A host without Envoy's write limits: it writes both ways whenever output exists and
    /// closes right after the last bytes; it can still pause the client and keep bytes.
    pub const fn unrestricted() -> Capabilities {
        Capabilities {
            client_writes_only_in_upstream_events: false,
            upstream_writes_only_in_downstream_events: false,
            close_drops_same_event_writes: false,
            holds_paused_downstream: true,
        }
    }
}

/// The host's rules as a type: `Capabilities` chosen at run time, or a host's constant
/// rules (`EnvoyRules`), with which the compiler leaves out what that host never needs.
pub trait Rules: Copy {
    /// The rules in effect, as flags.
    fn caps(self) -> Capabilities;
}

impl Rules for Capabilities {
    #[inline]
    fn caps(self) -> Capabilities {
        self
    }
}

/// `Capabilities::envoy()` as a type, for the proxy-wasm build.
#[derive(Clone, Copy, Debug, Default)]
pub struct EnvoyRules;

impl Rules for EnvoyRules {
    #[inline(always)]
    fn caps(self) -> Capabilities {
        Capabilities::envoy()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envoy_rules_are_envoy_capabilities() {
        assert_eq!(EnvoyRules.caps(), Capabilities::envoy());
        assert_eq!(Capabilities::envoy().caps(), Capabilities::envoy());
        let open = Capabilities::unrestricted();
        assert!(!open.client_writes_only_in_upstream_events);
        assert!(!open.upstream_writes_only_in_downstream_events);
        assert!(!open.close_drops_same_event_writes);
        assert!(open.holds_paused_downstream);
    }
}
