//! Hashing throughput per algorithm, from memory, at sizes from 1 KiB to
//! 64 MiB, fed the way a scan worker feeds it: one `MultiHasher`, reset per
//! file, updated in read-buffer-sized chunks.
//!
//! `cargo bench --bench hashing`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use vigil::app::bench::corpus::SplitMix64;
use vigil::fileio::READ_BUF_SIZE;
use vigil::hash::{AlgoSet, Algorithm, MultiHasher};

const SIZES: [(usize, &str); 6] = [
    (1 << 10, "1KiB"),
    (16 << 10, "16KiB"),
    (256 << 10, "256KiB"),
    (1 << 20, "1MiB"),
    (16 << 20, "16MiB"),
    (64 << 20, "64MiB"),
];

fn hashing(c: &mut Criterion) {
    let mut data = vec![0u8; SIZES[SIZES.len() - 1].0];
    SplitMix64::new(7).fill(&mut data);
    for algo in Algorithm::ALL {
        let mut group = c.benchmark_group(format!("hash_{}", algo.name()));
        let mut hasher = MultiHasher::new(AlgoSet::EMPTY.with(algo));
        for (size, label) in SIZES {
            if size >= 16 << 20 {
                group
                    .sample_size(10)
                    .measurement_time(Duration::from_secs(4));
            }
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_with_input(
                BenchmarkId::from_parameter(label),
                &data[..size],
                |b, input| {
                    b.iter(|| {
                        hasher.reset(AlgoSet::EMPTY.with(algo));
                        for chunk in input.chunks(READ_BUF_SIZE) {
                            hasher.update(chunk);
                        }
                        black_box(hasher.finish())
                    })
                },
            );
        }
        group.finish();
    }
}

criterion_group!(benches, hashing);
criterion_main!(benches);
