//! Signature lookup, hit and miss, in sets of 1M signatures, and of 10M when
//! `VIGIL_BENCH_10M=1` is set (building a 10M set takes about a gigabyte of
//! memory and some seconds, so it is opt-in).
//!
//! `cargo bench --bench signatures`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use vigil::app::bench::corpus::SplitMix64;
use vigil::hash::{AlgoSet, Algorithm, Digest, Digests, MultiHasher};
use vigil::signature::{SigLine, SignatureSet, SignatureSetBuilder};

/// Distinct probes, so lookups do not all hit the same cache lines.
const PROBES: usize = 1024;
const PROBE_LEN: u64 = 64;

fn digests_of(blob: &[u8]) -> Digests {
    let mut h = MultiHasher::new(AlgoSet::EMPTY.with(Algorithm::Sha256));
    h.update(blob);
    h.finish()
}

fn blob(i: usize, salt: u64) -> Vec<u8> {
    let mut b = vec![0u8; PROBE_LEN as usize];
    SplitMix64::new(i as u64 ^ salt).fill(&mut b);
    b
}

/// `n` sha256 signatures with distinct names and sizes like ClamAV's `.hsb`:
/// `PROBES` of them are the digests of the hit probes, the rest random.
fn set_of(n: usize, hits: &[Digests]) -> SignatureSet {
    let mut rng = SplitMix64::new(42);
    let mut builder = SignatureSetBuilder::new();
    let mut bytes = [0u8; 32];
    for i in 0..n {
        let (digest, size) = match hits.get(i) {
            Some(d) => (*d.get(Algorithm::Sha256).unwrap(), PROBE_LEN),
            None => {
                rng.fill(&mut bytes);
                (
                    Digest::from_bytes(Algorithm::Sha256, &bytes),
                    1 + rng.below(1 << 24),
                )
            }
        };
        let name = format!("Bench.Sig-{i}");
        builder
            .add(
                &SigLine {
                    digest,
                    size: Some(size),
                    name: &name,
                },
                false,
            )
            .expect("bench names fit");
    }
    builder.build()
}

fn lookup(c: &mut Criterion) {
    let hits: Vec<Digests> = (0..PROBES).map(|i| digests_of(&blob(i, 1))).collect();
    let misses: Vec<Digests> = (0..PROBES).map(|i| digests_of(&blob(i, 2))).collect();
    let mut sizes = vec![1_000_000];
    if std::env::var_os("VIGIL_BENCH_10M").is_some_and(|v| v == "1") {
        sizes.push(10_000_000);
    }
    let mut group = c.benchmark_group("lookup_sha256");
    group.throughput(Throughput::Elements(PROBES as u64));
    for n in sizes {
        let set = set_of(n, &hits);
        let label = format!("{}M", n / 1_000_000);
        for (kind, probes) in [("hit", &hits), ("miss", &misses)] {
            group.bench_with_input(BenchmarkId::new(kind, &label), probes, |b, probes| {
                b.iter(|| {
                    for d in probes.iter() {
                        black_box(set.lookup(d, PROBE_LEN));
                    }
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, lookup);
criterion_main!(benches);
