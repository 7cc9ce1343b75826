//! HTTP/1.1 on both sides through the real filter under Envoy's rules: uploads that reach
//! the filter in reads of every size must reach the upstream whole, with no upstream event
//! to wake the connection up (an HTTP/1.1 upstream says nothing until the body is in).

mod common;

use common::vm;
use h2mux_wasm_tests::host::{ConnId, Vm, VmOptions};

const H1_UPSTREAM: &str = r#"{"upstream_protocol": "http/1.1"}"#;

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// Moves what the filter lets through to the upstream, with ticks between, until `want`
/// bytes arrived or `ms` of ticks passed; returns what the upstream got.
fn upstream_collect(vm: &mut Vm, c: ConnId, got: &mut Vec<u8>, want: usize, ms: u64) {
    let mut waited = 0;
    loop {
        got.extend(vm.take_to_upstream(c));
        if got.len() >= want || waited >= ms {
            return;
        }
        vm.advance(10).unwrap();
        waited += 10;
    }
}

/// A PUT with `Expect: 100-continue` and a body of `size` bytes, written by the client in
/// pieces of `piece` bytes once the upstream's 100 came through (Envoy reads as much as
/// its buffer limit allows per event, so one piece can be a read of 1 MiB): every body byte
/// reaches the upstream, then its 201 reaches the client.
fn upload(size: usize, piece: usize) {
    upload_in(vm(H1_UPSTREAM), size, piece);
}

fn upload_in(mut vm: Vm, size: usize, piece: usize) {
    let c = vm.open().unwrap();
    let head = format!(
        "PUT /up HTTP/1.1\r\nHost: example.com\r\nContent-Length: {size}\r\n\
         Expect: 100-continue\r\n\r\n"
    );
    vm.client_send(c, head.as_bytes()).unwrap();
    let mut up = Vec::new();
    upstream_collect(&mut vm, c, &mut up, 1, 100);
    let text = String::from_utf8_lossy(&up).into_owned();
    assert!(text.starts_with("PUT /up HTTP/1.1\r\n"), "{text}");
    let head_len = up.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    vm.upstream_send(c, b"HTTP/1.1 100 Continue\r\n\r\n")
        .unwrap();
    let to_client = String::from_utf8_lossy(&vm.take_to_client(c)).into_owned();
    assert_eq!(to_client, "HTTP/1.1 100 Continue\r\n\r\n");
    let body = pattern(size);
    for p in body.chunks(piece) {
        vm.client_send(c, p).unwrap();
        up.extend(vm.take_to_upstream(c));
    }
    upstream_collect(&mut vm, c, &mut up, head_len + size, 2_000);
    assert_eq!(
        up.len() - head_len,
        size,
        "the upstream got {} of {size} body bytes (held downstream {}, unread {})",
        up.len() - head_len,
        vm.held_downstream(c),
        vm.unread_downstream(c)
    );
    assert!(up[head_len..] == body[..], "the body changed on the way");
    vm.upstream_send(c, b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
        .unwrap();
    let to_client = String::from_utf8_lossy(&vm.take_to_client(c)).into_owned();
    assert!(
        to_client.starts_with("HTTP/1.1 201 Created\r\n"),
        "{to_client}"
    );
    assert!(vm.trap().is_none());
}

#[test]
fn upload_in_small_reads() {
    upload(4 << 20, 16 << 10);
}

#[test]
fn upload_in_reads_of_the_buffer_limit() {
    upload(4 << 20, 1 << 20);
}

#[test]
fn upload_written_at_once() {
    upload((4 << 20) + 123, (4 << 20) + 123);
}

/// Envoy's reads overshoot its buffer limit (a read of 1,063,264 bytes was seen with the
/// default 1 MiB), so one callback can carry more than the upstream side's send queue
/// (`max_stream_send_queue`, 1 MiB). That read used to go to it in one piece, fail with a
/// full queue and reset the request halfway: the upstream waited for the rest of the body
/// and the client for an answer, both until their timeouts. Reads of 3 MiB here.
#[test]
fn upload_in_reads_larger_than_the_send_queue() {
    let vm = Vm::with_options(VmOptions {
        plugin_config: H1_UPSTREAM.into(),
        buffer_limit: 3 << 20,
        ..VmOptions::default()
    })
    .unwrap();
    upload_in(vm, (4 << 20) + 123, (4 << 20) + 123);
}

/// A small deterministic generator (xorshift), so that a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Uploads with the client's reads cut at random, the upstream's `100 Continue` arriving
/// at a random point of the body (a client sends its body anyway once its own wait for
/// the 100 ran out), and time passing at random between reads.
#[test]
fn uploads_with_random_reads_and_a_late_continue() {
    for seed in 1..=40u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let size = (1 << 20) + rng.below(3 << 20) as usize;
        let mut vm = vm(H1_UPSTREAM);
        let c = vm.open().unwrap();
        let head = format!(
            "PUT /up HTTP/1.1\r\nHost: example.com\r\nContent-Length: {size}\r\n\
             Expect: 100-continue\r\n\r\n"
        );
        vm.client_send(c, head.as_bytes()).unwrap();
        let mut up = Vec::new();
        upstream_collect(&mut vm, c, &mut up, 1, 100);
        let head_len = up
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("seed {seed}: no head upstream"))
            + 4;
        let body = pattern(size);
        let pieces: Vec<&[u8]> = {
            let mut v = Vec::new();
            let mut rest = &body[..];
            while !rest.is_empty() {
                let n = (1 + rng.below(1 << 21) as usize).min(rest.len());
                v.push(&rest[..n]);
                rest = &rest[n..];
            }
            v
        };
        let continue_at = rng.below(pieces.len() as u64 + 1) as usize;
        for (i, p) in pieces.iter().enumerate() {
            if i == continue_at {
                vm.upstream_send(c, b"HTTP/1.1 100 Continue\r\n\r\n")
                    .unwrap();
            }
            vm.client_send(c, p).unwrap();
            if rng.below(2) == 0 {
                vm.advance(rng.below(30)).unwrap();
            }
            up.extend(vm.take_to_upstream(c));
        }
        if continue_at == pieces.len() {
            vm.upstream_send(c, b"HTTP/1.1 100 Continue\r\n\r\n")
                .unwrap();
        }
        upstream_collect(&mut vm, c, &mut up, head_len + size, 2_000);
        assert_eq!(
            up.len() - head_len,
            size,
            "seed {seed}: the upstream got {} of {size} body bytes in {} pieces, 100 before \
             piece {continue_at} (held downstream {}, unread {})",
            up.len() - head_len,
            pieces.len(),
            vm.held_downstream(c),
            vm.unread_downstream(c)
        );
        assert!(up[head_len..] == body[..], "seed {seed}: the body changed");
        vm.upstream_send(c, b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
            .unwrap();
        let to_client = String::from_utf8_lossy(&vm.take_to_client(c)).into_owned();
        assert!(
            to_client.contains("HTTP/1.1 201 Created\r\n"),
            "seed {seed}: {to_client}"
        );
        assert!(vm.trap().is_none());
    }
}
