//! Known HTTP/2 attacks replayed as raw frames against the built filter.
//!
//! Each test runs one VM (`quota_bytes` 1 MiB) with two connections, each with its own h2
//! upstream: a legitimate h2 client, served before, during and after the attack (byte-exact
//! bodies), and the attacker. Throughout, linear memory stays within `QUOTA + OVERHEAD` and
//! nothing traps.
//!
//! | attack | what the attacker sends | the filter's answer (asserted) |
//! |---|---|---|
//! | CVE-2019-9511 data dribble | stream windows of 1 byte, 100 big downloads, 1-byte WINDOW_UPDATEs | few DATA frames (no 1-byte dribble), ENHANCE_YOUR_CALM (tiny WINDOW_UPDATEs are glitches), close |
//! | CVE-2019-9512 ping flood | 20,000 PINGs, not reading | ACKs in place; while tx is full the relay stops reading, and the filter, which never pauses while client-bound bytes wait with no doorbell out, rings the upstream and keeps the unread PINGs in its stash; the upstream's answer brings the callback that drains the ACKs; PINGs are glitch points: GOAWAY NO_ERROR then ENHANCE_YOUR_CALM and a close |
//! | CVE-2019-9515 settings flood | 20,000 SETTINGS, not reading | at most 1,000 ACKs, then GOAWAY NO_ERROR, ENHANCE_YOUR_CALM, close; 2,000 entries in one frame: ENHANCE_YOUR_CALM at once |
//! | CVE-2019-9513 priority churn | 50,000 PRIORITY frames and prioritised HEADERS | ignored: no glitch, no answer, the connection keeps working |
//! | CVE-2019-9514 reset flood | requests with an upper-case field name (each a stream error) | RST_STREAM(PROTOCOL_ERROR) (at most `max_pending_resets` queued), then ENHANCE_YOUR_CALM, close; nothing upstream |
//! | CVE-2019-9516 0-length headers | requests with hundreds of empty names / values | RST_STREAM(PROTOCOL_ERROR) per stream, then ENHANCE_YOUR_CALM, close; nothing upstream |
//! | CVE-2019-9517 internal buffering | huge windows, big downloads, never reads | memory bounded; upstreams back-pressured; reading of the attacker stops once its answers cannot leave |
//! | CVE-2019-9518 empty frames | empty DATA on an open upload; empty CONTINUATIONs | DATA: GOAWAY NO_ERROR then ENHANCE_YOUR_CALM, close; CONTINUATION: ENHANCE_YOUR_CALM before decoding, close |
//! | CVE-2016-6581 HPACK bomb | a 4 KB table entry referenced 16,000 times per block | block decoded (table kept in sync), stream refused with RST_STREAM(PROTOCOL_ERROR); connection kept |
//! | CVE-2023-44487 rapid reset | HEADERS + RST_STREAM(CANCEL) pairs | ENHANCE_YOUR_CALM after ~100 pairs, close; no request reaches the upstream |
//! | VU#421644 CONTINUATION flood | HEADERS without END_HEADERS, then endless CONTINUATION | ENHANCE_YOUR_CALM (block size / fragment count bound) before decoding, close; nothing upstream |
//! | CVE-2025-8671 MadeYouReset | valid request, then WINDOW_UPDATE(0) on it | ENHANCE_YOUR_CALM after ~100 streams, close; no request reaches the upstream |
//! | flow-control violation | WINDOW_UPDATE overflowing the connection window | GOAWAY FLOW_CONTROL_ERROR, close |

mod common;
#[path = "common/h2raw.rs"]
mod h2raw;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use common::{assert_healthy, rt, vm};
use h2mux_wasm_tests::host::driver::Pump;
use h2mux_wasm_tests::host::peer::{self, Client, Seen};
use h2mux_wasm_tests::host::{ConnId, HostEvent};
use h2raw::*;

const QUOTA: usize = 1 << 20;
/// Linear memory beyond the quota: the module's own data, connection state, and the
/// filter's copies of held bytes. Measured: 1.1 MiB at start, peak 2.3 MiB (data dribble).
const OVERHEAD: usize = 4 << 20;
const CONFIG: &str = r#"{"quota_bytes": 1048576}"#;

/// One legitimate exchange: a download and an echoed upload, checked byte for byte.
async fn legit_round(send: &h2::client::SendRequest<Bytes>, i: usize) {
    let n = 20_000 + i * 37;
    let r = peer::request(send, "GET", &format!("/bytes/{n}"), b"", None)
        .await
        .unwrap_or_else(|e| panic!("legit download {i}: {e}"));
    assert_eq!(r.0, 200);
    assert!(
        r.1 == peer::pattern(0, n),
        "legit download {i}: body differs"
    );
    let body: Vec<u8> = (0..5000 + i).map(|j| (i * 7 + j * 13) as u8).collect();
    let r = peer::request(send, "POST", "/echo", &body, None)
        .await
        .unwrap_or_else(|e| panic!("legit echo {i}: {e}"));
    assert_eq!(r.0, 200);
    assert!(r.1 == body, "legit echo {i}: body differs");
}

struct Outcome {
    raw: Raw,
    attacker: ConnId,
    up: peer::Upstream,
    p: Pump,
}

impl Outcome {
    fn requests_upstream(&self) -> usize {
        self.up
            .seen()
            .iter()
            .filter(|s| matches!(s, Seen::Request { .. }))
            .count()
    }

    fn read_stops(&self) -> usize {
        self.p
            .vm
            .events()
            .iter()
            .filter(|e| **e == HostEvent::ReadDisabled(self.attacker.0))
            .count()
    }
}

/// Runs `attack` on one connection while a legitimate client uses another.
fn run_attack<F, Fut>(name: &str, config: &str, attack: F) -> Outcome
where
    F: FnOnce(Raw) -> Fut,
    Fut: Future<Output = Raw>,
{
    rt().block_on(async {
        let mut p = Pump::new(vm(config));
        let base = p.vm.memory_size();
        let (_legit, legit_io, legit_up) = p.connect().unwrap();
        let _lu = peer::serve(legit_up);
        let (attacker, att_io, att_up) = p.connect().unwrap();
        let up = peer::serve(att_up);
        let ((raw, during), peak) = drive(&mut p, QUOTA + OVERHEAD, async move {
            let cl = Client::connect(legit_io).await.unwrap();
            legit_round(&cl.send, 0).await;
            let stop = Arc::new(AtomicBool::new(false));
            let started = Arc::new(AtomicUsize::new(0));
            let task = {
                let (send, stop, started) = (cl.send.clone(), stop.clone(), started.clone());
                tokio::spawn(async move {
                    let mut i = 1;
                    while !stop.load(Ordering::SeqCst) {
                        started.fetch_add(1, Ordering::SeqCst);
                        legit_round(&send, i).await;
                        i += 1;
                    }
                })
            };
            let raw = attack(Raw::new(att_io)).await;
            stop.store(true, Ordering::SeqCst);
            task.await.unwrap();
            for i in 0..3 {
                legit_round(&cl.send, 1000 + i).await;
            }
            (raw, started.load(Ordering::SeqCst))
        })
        .await;
        eprintln!(
            "{name}: attacker {}; legit rounds during the attack {during}; \
             memory {} KiB at start, peak {} KiB (quota {} KiB); glitch points {:?}",
            raw.summary(),
            base / 1024,
            peak / 1024,
            QUOTA / 1024,
            p.vm.metric("h2mux_glitch_points_total"),
        );
        eprintln!(
            "{name}: attacker connection: closed {}, held {} B, unread {} B, read disabled {}; \
             pings {:?}; resets {:?}",
            p.vm.is_closed(attacker),
            p.vm.held_downstream(attacker),
            p.vm.unread_downstream(attacker),
            p.vm.is_read_disabled(attacker),
            raw.frames
                .iter()
                .filter(|f| f.ty == ty::PING)
                .map(|f| (f.flags, String::from_utf8_lossy(&f.payload).to_string()))
                .take(3)
                .collect::<Vec<_>>(),
            raw.frames
                .iter()
                .filter(|f| f.ty == ty::RST_STREAM)
                .map(|f| f.error_code())
                .take(3)
                .collect::<Vec<_>>(),
        );
        assert!(
            during >= 1,
            "{name}: no legitimate round overlapped the attack"
        );
        assert_healthy(&p);
        Outcome {
            raw,
            attacker,
            up,
            p,
        }
    })
}

/// The attacker was told ENHANCE_YOUR_CALM and its connection ended.
fn assert_calmed(o: &Outcome) {
    assert_eq!(
        o.raw.last_goaway_code(),
        Some(code::ENHANCE_YOUR_CALM),
        "{}",
        o.raw.summary()
    );
    assert!(o.raw.eof, "{}", o.raw.summary());
    assert!(o.p.vm.is_closed(o.attacker));
}

fn ping_flood() -> Outcome {
    run_attack("ping flood", CONFIG, |mut a| async move {
        a.handshake(&[]).await;
        let mut b = Vec::new();
        for i in 0..PINGS as u64 {
            b.extend(ping(i.to_be_bytes()));
        }
        a.send(&b).await;
        a.probe().await;
        a.read_to_end().await;
        a
    })
}

const PINGS: usize = 20_000;

/// The ACKs stay bounded (the relay stops reading while tx is full, and the glitch score
/// ends the flood) and the other connection is served.
#[test]
fn ping_flood_cve_2019_9512() {
    let o = ping_flood();
    assert!(o.raw.count(ty::PING) < PINGS / 4, "{}", o.raw.summary());
}

/// The flood ends in ENHANCE_YOUR_CALM and a close: every PING is a glitch point. When the tx
/// buffer is full of PING ACKs the filter does not pause (nothing would resume it): it rings
/// a doorbell toward the upstream and keeps the PINGs the relay did not read in its stash, so
/// the upstream's answer brings the callback that drains the ACKs and reads on (the stash
/// rule, ARCHITECTURE.md).
#[test]
fn ping_flood_gets_enhance_your_calm() {
    assert_calmed(&ping_flood());
}

#[test]
fn settings_flood_cve_2019_9515() {
    const N: usize = 20_000;
    let o = run_attack("settings flood", CONFIG, |mut a| async move {
        a.handshake(&[]).await;
        let mut b = Vec::new();
        for i in 0..N {
            b.extend(settings(&[(1, 4096), (2, 0), (4, 65_535 + (i as u32 % 7))]));
        }
        a.send(&b).await;
        a.probe().await;
        a.read_to_end().await;
        a
    });
    assert_calmed(&o);
    assert!(o.raw.count(ty::SETTINGS) < N / 4, "{}", o.raw.summary());
}

#[test]
fn settings_with_too_many_entries() {
    let o = run_attack("settings entries", CONFIG, |mut a| async move {
        a.handshake(&[]).await;
        let entries: Vec<(u16, u32)> = (0..2000).map(|i| (0x100 + i as u16, i)).collect();
        a.send(&settings(&entries)).await;
        a.probe().await;
        a.read_to_end().await;
        a
    });
    assert_calmed(&o);
}

#[test]
fn priority_churn_cve_2019_9513() {
    let o = run_attack("priority churn", CONFIG, |mut a| async move {
        a.handshake(&[]).await;
        let mut rng = Rng(9513);
        let mut b = Vec::new();
        for i in 0..50_000u32 {
            let s = 1 + 2 * rng.below(1 << 20) as u32;
            let dep = 2 * rng.below(1 << 20) as u32 + 1;
            if dep != s {
                b.extend(priority(s, dep | (i & 1) << 31, rng.next() as u8));
            }
        }
        a.send(&b).await;
        assert!(a.probe().await, "{}", a.summary());
        a
    });
    assert!(!o.p.vm.is_closed(o.attacker), "{}", o.raw.summary());
    assert_eq!(o.raw.count(ty::GOAWAY), 0, "{}", o.raw.summary());
}

/// Every stream is malformed (an upper-case field name): each costs us a RST_STREAM.
#[test]
fn reset_flood_cve_2019_9514() {
    const N: u32 = 5_000;
    let o = run_attack("reset flood", CONFIG, |mut a| async move {
        a.handshake(&[]).await;
        let mut b = Vec::new();
        for i in 0..N {
            let mut block = request_block("GET", "/");
            hp_lit(&mut block, b"X-Upper", b"v");
            b.extend(headers(1 + 2 * i, &block, true));
        }
        a.send(&b).await;
        a.probe().await;
        a.read_to_end().await;
        a
    });
    assert_calmed(&o);
    assert!(
        o.raw.resets(code::PROTOCOL_ERROR) > 0,
        "{}",
        o.raw.summary()
    );
    assert!(
        o.raw.count(ty::RST_STREAM) < N as usize / 4,
        "{}",
        o.raw.summary()
    );
    assert_eq!(o.requests_upstream(), 0);
}

#[test]
fn zero_length_headers_cve_2019_9516() {
    const N: u32 = 2_000;
    let o = run_attack("0-length headers", CONFIG, |mut a| async move {
        a.handshake(&[]).await;
        let mut b = Vec::new();
        for i in 0..N {
            let mut block = request_block("GET", "/");
            for _ in 0..500 {
                if i % 2 == 0 {
                    hp_lit(&mut block, b"", b"");
                } else {
                    hp_lit(&mut block, b"x", b"");
                }
            }
            b.extend(headers(1 + 2 * i, &block, true));
        }
        a.send(&b).await;
        a.probe().await;
        a.read_to_end().await;
        a
    });
    assert_calmed(&o);
    assert_eq!(o.requests_upstream(), 0);
}

/// Opens big windows, asks for big bodies and never reads; then floods PINGs, whose ACKs
/// cannot leave.
#[test]
fn internal_buffering_cve_2019_9517() {
    let o = run_attack("internal buffering", CONFIG, |mut a| async move {
        a.send(PREFACE).await;
        a.send(&settings(&[(4, 16 << 20)])).await;
        a.send(&settings_ack()).await;
        a.send(&window_update(0, 1 << 30)).await;
        for i in 0..100u32 {
            a.send(&get(1 + 2 * i, "/bytes/4000000")).await;
        }
        for _ in 0..20_000 {
            tokio::task::yield_now().await;
        }
        let mut b = Vec::new();
        for i in 0..5_000u64 {
            b.extend(ping(i.to_be_bytes()));
        }
        a.send(&b).await;
        for _ in 0..20_000 {
            tokio::task::yield_now().await;
        }
        a
    });
    let held = o.p.vm.held_downstream(o.attacker) + o.p.vm.unread_downstream(o.attacker);
    eprintln!(
        "internal buffering: upstream requests {}, read stops {}, {held} B of the attacker's \
         not consumed",
        o.requests_upstream(),
        o.read_stops(),
    );
    assert_eq!(o.requests_upstream(), 100);
    // The filter stopped taking the attacker's bytes once its answers could not leave.
    assert!(held > 0);
}

#[test]
fn empty_data_frames_cve_2019_9518() {
    let o = run_attack("empty DATA", CONFIG, |mut a| async move {
        a.handshake(&[]).await;
        a.send(&headers(1, &request_block("POST", "/sha256"), false))
            .await;
        let mut b = Vec::new();
        for _ in 0..10_000 {
            b.extend(data(1, &[], false));
        }
        a.send(&b).await;
        a.probe().await;
        a.read_to_end().await;
        a
    });
    assert_calmed(&o);
}

#[test]
fn empty_continuation_frames_cve_2019_9518() {
    let o = run_attack("empty CONTINUATION", CONFIG, |mut a| async move {
        a.handshake(&[]).await;
        let mut b = frame(ty::HEADERS, flag::END_STREAM, 1, &request_block("GET", "/"));
        for _ in 0..10_000 {
            b.extend(frame(ty::CONTINUATION, 0, 1, &[]));
        }
        a.send(&b).await;
        a.probe().await;
        a.read_to_end().await;
        a
    });
    assert!(o.raw.last_goaway_code().is_some(), "{}", o.raw.summary());
    assert!(o.raw.eof);
    assert_eq!(o.requests_upstream(), 0);
}

#[test]
fn hpack_bomb_cve_2016_6581() {
    let o = run_attack("HPACK bomb", CONFIG, |mut a| async move {
        a.handshake(&[]).await;
        let mut first = request_block("GET", "/");
        hp_lit_indexed(&mut first, b"x-bomb", &[b'a'; 4000]);
        a.send(&headers(1, &first, true)).await;
        let mut b = Vec::new();
        for i in 1..50u32 {
            let mut block = request_block("GET", "/");
            for _ in 0..16_000 {
                hp_indexed(&mut block, 62);
            }
            block.truncate(16_384);
            b.extend(headers(1 + 2 * i, &block, true));
        }
        a.send(&b).await;
        assert!(a.probe().await, "{}", a.summary());
        a
    });
    // Each bomb is decoded (the table stays in sync) but refused, before any upstream work.
    assert_eq!(
        o.raw.resets(code::PROTOCOL_ERROR),
        49,
        "{}",
        o.raw.summary()
    );
    assert!(o.requests_upstream() <= 1);
}

#[test]
fn rapid_reset_cve_2023_44487() {
    const N: u32 = 10_000;
    let o = run_attack("rapid reset", CONFIG, |mut a| async move {
        a.handshake(&[]).await;
        let mut b = Vec::new();
        for i in 0..N {
            b.extend(get(1 + 2 * i, "/bytes/100000"));
            b.extend(rst(1 + 2 * i, code::CANCEL));
        }
        a.send(&b).await;
        a.probe().await;
        a.read_to_end().await;
        a
    });
    eprintln!(
        "rapid reset: upstream saw {} requests",
        o.requests_upstream()
    );
    assert_calmed(&o);
    assert!(o.requests_upstream() < 300, "{}", o.requests_upstream());
}

#[test]
fn continuation_flood_vu_421644() {
    let o = run_attack("CONTINUATION flood", CONFIG, |mut a| async move {
        a.handshake(&[]).await;
        let mut b = frame(ty::HEADERS, flag::END_STREAM, 1, &request_block("GET", "/"));
        let mut frag = Vec::new();
        hp_lit(&mut frag, b"x-flood", &[b'z'; 1000]);
        for _ in 0..20_000 {
            b.extend(frame(ty::CONTINUATION, 0, 1, &frag));
        }
        a.send(&b).await;
        a.probe().await;
        a.read_to_end().await;
        a
    });
    assert!(o.raw.last_goaway_code().is_some(), "{}", o.raw.summary());
    assert!(o.raw.eof);
    assert_eq!(o.requests_upstream(), 0);
}

#[test]
fn tiny_continuation_flood_vu_421644() {
    let o = run_attack("tiny CONTINUATION flood", CONFIG, |mut a| async move {
        a.handshake(&[]).await;
        let block = request_block("GET", "/");
        let mut b = frame(ty::HEADERS, flag::END_STREAM, 1, &block[..1]);
        for _ in 0..100_000 {
            b.extend(frame(ty::CONTINUATION, 0, 1, &[0x00]));
        }
        a.send(&b).await;
        a.probe().await;
        a.read_to_end().await;
        a
    });
    assert!(o.raw.last_goaway_code().is_some(), "{}", o.raw.summary());
    assert!(o.raw.eof);
}

#[test]
fn made_you_reset_cve_2025_8671() {
    const N: u32 = 5_000;
    let o = run_attack("MadeYouReset", CONFIG, |mut a| async move {
        a.handshake(&[]).await;
        let mut b = Vec::new();
        for i in 0..N {
            b.extend(get(1 + 2 * i, "/bytes/1000000"));
            b.extend(window_update(1 + 2 * i, 0));
        }
        a.send(&b).await;
        a.probe().await;
        a.read_to_end().await;
        a
    });
    eprintln!(
        "MadeYouReset: upstream saw {} requests",
        o.requests_upstream()
    );
    assert_calmed(&o);
    assert!(o.requests_upstream() < 300, "{}", o.requests_upstream());
}

#[test]
fn data_dribble_cve_2019_9511() {
    let o = run_attack("data dribble", CONFIG, |mut a| async move {
        a.handshake(&[(4, 1)]).await;
        for i in 0..100u32 {
            a.send(&get(1 + 2 * i, "/bytes/1000000")).await;
        }
        let mut b = Vec::new();
        for _ in 0..30 {
            for i in 0..100u32 {
                b.extend(window_update(1 + 2 * i, 1));
            }
        }
        a.send(&b).await;
        a.probe().await;
        a.read_to_end().await;
        a
    });
    let tiny = o
        .raw
        .frames
        .iter()
        .filter(|f| f.ty == ty::DATA && f.payload.len() <= 1)
        .count();
    eprintln!("data dribble: {tiny} DATA frames of at most 1 byte");
    assert_calmed(&o);
}

#[test]
fn window_overflow_is_flow_control_error() {
    let o = run_attack("window overflow", CONFIG, |mut a| async move {
        a.handshake(&[]).await;
        a.send(&window_update(0, 0x7fff_ffff)).await;
        a.send(&window_update(0, 0x7fff_ffff)).await;
        a.probe().await;
        a.read_to_end().await;
        a
    });
    assert_eq!(
        o.raw.last_goaway_code(),
        Some(code::FLOW_CONTROL_ERROR),
        "{}",
        o.raw.summary()
    );
}
