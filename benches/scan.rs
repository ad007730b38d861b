//! End to end: `scan::scan_summary` (walk, queue, pool, open, read, hash,
//! match) over a generated 64 MiB tree, with the bench's any-size blake3
//! signature so every byte is hashed, at one worker and at every core.
//! The tree is generated once, in a temporary folder, and is in the page cache.
//!
//! `cargo bench --bench scan`

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use vigil::app::bench::corpus::{Corpus, Shape};
use vigil::app::bench::{bench_signatures, scan_config};
use vigil::app::scan::scan_summary;
use vigil::hash::Algorithm;
use vigil::report::NullSink;

const BYTES: u64 = 64 << 20;

fn scan(c: &mut Criterion) {
    let corpus = Corpus::generate(Shape {
        bytes: BYTES,
        files: None,
        seed: 1,
    })
    .expect("generate the corpus");
    let sigs = Arc::new(bench_signatures(Algorithm::Blake3));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut threads = vec![1];
    if cores > 1 {
        threads.push(cores);
    }
    let mut group = c.benchmark_group("scan_64MiB_tree");
    group.sample_size(20).throughput(Throughput::Bytes(BYTES));
    for t in threads {
        let config = scan_config(Vec::new(), t, corpus.path(), false);
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{t}_workers")),
            &config,
            |b, config| {
                b.iter(|| {
                    let summary = scan_summary(config, sigs.clone(), &NullSink::new()).unwrap();
                    assert_eq!(summary.counts.bytes_hashed, BYTES);
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, scan);
criterion_main!(benches);
