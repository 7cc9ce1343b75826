//! Core benchmarks on a realistic browser-like request stream (see `h2mux::testkit::corpus`).

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use h2mux::hpack::{Decoder, Encoder};
use h2mux::limits::Config;
use h2mux::testkit::corpus::{browser_client_stream, browser_requests, header_blocks, replay};

const REQUESTS: usize = 2000;
const SEED: u64 = 1;
const CHUNK: usize = 16_384;

type FieldList = Vec<(Vec<u8>, Vec<u8>, bool)>;

fn modest(g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
        .sample_size(20);
}

/// Decodes the blocks in order with one fresh decoder, as a new connection would.
fn decode_all(blocks: &[Vec<u8>], max_list: usize) -> usize {
    let mut d = Decoder::new(4096);
    let mut n = 0;
    for b in blocks {
        d.decode(b, max_list, &mut |name, value, _| {
            n += name.len() + value.len()
        })
        .expect("generated blocks decode");
    }
    n
}

/// Encodes the lists in order with one fresh encoder; returns the block bytes.
fn encode_all(lists: &[FieldList], out: &mut Vec<u8>) -> usize {
    let mut e = Encoder::new(4096);
    let mut n = 0;
    for list in lists {
        out.clear();
        e.encode(
            list.iter()
                .map(|(k, v, s)| (k.as_slice(), v.as_slice(), *s)),
            out,
        );
        n += out.len();
    }
    n
}

fn hpack(c: &mut Criterion) {
    let blocks = header_blocks(&browser_client_stream(REQUESTS, SEED));
    assert_eq!(blocks.len(), REQUESTS);
    let block_bytes: usize = blocks.iter().map(Vec::len).sum();
    let max_list = Config::default().max_header_list_size as usize;

    let mut g = c.benchmark_group("hpack_decode");
    modest(&mut g);
    g.throughput(Throughput::Bytes(block_bytes as u64));
    g.bench_function("block_bytes", |b| {
        b.iter(|| decode_all(black_box(&blocks), max_list))
    });
    g.throughput(Throughput::Elements(blocks.len() as u64));
    g.bench_function("blocks", |b| {
        b.iter(|| decode_all(black_box(&blocks), max_list))
    });
    g.finish();

    let lists: Vec<FieldList> = browser_requests(REQUESTS, SEED)
        .iter()
        .map(|r| {
            let mut l = Vec::new();
            r.message
                .for_each_h2_field(&mut |k, v, s| l.push((k.to_vec(), v.to_vec(), s)));
            l
        })
        .collect();
    let mut out = Vec::new();
    // Same encoder, same order as the client that wrote the stream: the same blocks.
    assert_eq!(encode_all(&lists, &mut out), block_bytes);

    let mut g = c.benchmark_group("hpack_encode");
    modest(&mut g);
    g.throughput(Throughput::Bytes(block_bytes as u64));
    g.bench_function("block_bytes", |b| {
        b.iter(|| encode_all(black_box(&lists), &mut out))
    });
    g.throughput(Throughput::Elements(lists.len() as u64));
    g.bench_function("blocks", |b| {
        b.iter(|| encode_all(black_box(&lists), &mut out))
    });
    g.finish();
}

fn frontend_demux(c: &mut Criterion) {
    let stream = Bytes::from(browser_client_stream(REQUESTS, SEED));
    let r = replay(&stream, CHUNK);
    assert!(
        r.error.is_none() && r.requests == REQUESTS as u64 && r.stalled == 0,
        "replay went wrong: {r:?}"
    );

    let mut g = c.benchmark_group("frontend_demux");
    modest(&mut g);
    g.throughput(Throughput::Bytes(stream.len() as u64));
    g.bench_function("stream_bytes", |b| {
        b.iter(|| replay(black_box(&stream), CHUNK))
    });
    g.throughput(Throughput::Elements(REQUESTS as u64));
    g.bench_function("requests", |b| b.iter(|| replay(black_box(&stream), CHUNK)));
    g.finish();
}

criterion_group!(benches, hpack, frontend_demux);
criterion_main!(benches);
