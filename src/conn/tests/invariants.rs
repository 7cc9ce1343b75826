//! Broken invariants of our own: loud in debug builds, contained to one connection in
//! release builds.

use super::*;

#[test]
fn a_broken_invariant_fails_only_its_connection_in_release_builds() {
    let mut pool = pool();
    let mut b = Connection::new(Side::Backend, Arc::new(Config::default()), 1, Instant(0));
    let mut out = Vec::new();
    b.drain_output(&mut pool, &mut out, usize::MAX, Instant(0));
    crate::invariant::contained(|| b.broken("a rule of ours"));
    assert_eq!(
        b.error(),
        Some(crate::error::ConnError::Internal("a rule of ours"))
    );
    assert_eq!(b.stats().internal_errors, 1);
    out.clear();
    b.drain_output(&mut pool, &mut out, usize::MAX, Instant(0));
    let g = frame::parse_goaway(&out[9..]).expect("a GOAWAY");
    assert_eq!(g.code, ErrorCode::InternalError);
    assert_eq!(g.debug, b"a rule of ours");
}

#[test]
#[should_panic(expected = "h2mux invariant broken: a rule of ours")]
fn a_broken_invariant_is_loud_in_debug_builds() {
    let mut b = Connection::new(Side::Backend, Arc::new(Config::default()), 1, Instant(0));
    b.broken("a rule of ours");
}
