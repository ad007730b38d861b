//! Handoff through the bounded queue into the work-stealing pool: a producer
//! thread sends small jobs, the pool admits and runs them (doing almost
//! nothing), so the time is the cost of queueing, admission and scheduling.
//!
//! `cargo bench --bench handoff`

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use vigil::engine::pool::{JobRunner, ScanPool};
use vigil::engine::queue;

const JOBS: u64 = 10_000;

/// Adds each job's number to a counter.
struct Sum(AtomicU64);

impl JobRunner for Sum {
    type Job = u64;

    fn run(&self, job: u64, _spawn: &mut Vec<u64>) {
        self.0.fetch_add(black_box(job), Ordering::Relaxed);
    }
}

fn handoff(c: &mut Criterion) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut threads = vec![1];
    if cores > 1 {
        threads.push(cores);
    }
    let mut group = c.benchmark_group("queue_to_pool");
    group.throughput(Throughput::Elements(JOBS));
    for t in threads {
        let pool = ScanPool::new(t, 0).unwrap();
        group.bench_with_input(
            BenchmarkId::from_parameter(format!("{t}_workers")),
            &t,
            |b, &t| {
                b.iter(|| {
                    // The same sizes as a scan: 16 queue slots and 2 admissions per worker.
                    let (tx, rx) = queue::bounded(t * 16);
                    let runner = Sum(AtomicU64::new(0));
                    let quit = AtomicBool::new(false);
                    std::thread::scope(|s| {
                        s.spawn(move || {
                            for i in 0..JOBS {
                                tx.send(i).unwrap();
                            }
                        });
                        pool.run(&rx, &runner, &quit, t * 2);
                    });
                    assert_eq!(runner.0.into_inner(), JOBS * (JOBS - 1) / 2);
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, handoff);
criterion_main!(benches);
