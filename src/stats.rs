//! Scan counters, sharded per worker so that the hot path never contends on a
//! shared cache line; a snapshot sums the shards.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;
use serde::Serialize;

/// One shard of counters. Every field counts events since the scan started.
#[derive(Debug, Default)]
pub struct Counters {
    pub directories: AtomicU64,
    /// Regular files examined (hashed, cleared by size, or reused from a hard link).
    pub files: AtomicU64,
    /// Files opened and hashed.
    pub hashed: AtomicU64,
    pub bytes_hashed: AtomicU64,
    /// Files cleared by size: no signature could match, never opened.
    pub cleared_by_size: AtomicU64,
    /// Hard links whose inode was already hashed under another name.
    pub hardlinks_reused: AtomicU64,
    /// Files answered from the verdict cache, never opened.
    pub from_cache: AtomicU64,
    /// Files whose reads were started ahead of hashing (from a cold disk).
    pub read_ahead: AtomicU64,
    pub skipped_special: AtomicU64,
    pub skipped_too_large: AtomicU64,
    pub skipped_excluded: AtomicU64,
    pub skipped_symlink: AtomicU64,
    pub skipped_other_fs: AtomicU64,
    pub detections: AtomicU64,
    pub errors: AtomicU64,
    /// Detected files moved into quarantine (`--move`).
    pub moved: AtomicU64,
    /// Detected files that should have been moved and were not.
    pub not_moved: AtomicU64,
    /// Containers opened, nested ones included.
    pub containers: AtomicU64,
    /// Members of containers examined.
    pub members: AtomicU64,
    /// Files whose unpacking a limit cut short (the rest was skipped).
    pub limits_exceeded: AtomicU64,
    /// How long each file took to inspect.
    pub latency: Latency,
}

/// Upper bounds of the latency histogram's buckets, in seconds (a last
/// bucket takes the rest).
pub const LATENCY_BOUNDS: [f64; 11] = [
    0.000_1, 0.000_5, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0,
];

/// A histogram of durations: one counter per bucket and their sum.
#[derive(Debug, Default)]
pub struct Latency {
    buckets: [AtomicU64; LATENCY_BOUNDS.len() + 1],
    sum_nanos: AtomicU64,
}

impl Latency {
    pub fn record(&self, took: std::time::Duration) {
        let secs = took.as_secs_f64();
        let i = LATENCY_BOUNDS.partition_point(|&bound| bound < secs);
        bump(&self.buckets[i]);
        add(
            &self.sum_nanos,
            took.as_nanos().min(u64::MAX as u128) as u64,
        );
    }
}

/// A latency histogram at one moment: per-bucket counts (not cumulative).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencySnapshot {
    pub buckets: [u64; LATENCY_BOUNDS.len() + 1],
    pub sum_nanos: u64,
}

impl LatencySnapshot {
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

/// Adds one to a counter.
pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Adds `n` to a counter.
pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// Per-worker counter shards, plus one for threads outside the pool.
#[derive(Debug)]
pub struct Stats {
    shards: Box<[CachePadded<Counters>]>,
}

impl Stats {
    pub fn new(workers: usize) -> Self {
        Stats {
            shards: (0..=workers)
                .map(|_| CachePadded::new(Counters::default()))
                .collect(),
        }
    }

    /// The shard of the calling thread (pool workers have their own).
    pub fn local(&self) -> &Counters {
        let last = self.shards.len() - 1;
        let i = rayon::current_thread_index().map_or(last, |i| i.min(last));
        &self.shards[i]
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut s = Snapshot::default();
        for c in self.shards.iter() {
            let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
            s.directories += get(&c.directories);
            s.files += get(&c.files);
            s.hashed += get(&c.hashed);
            s.bytes_hashed += get(&c.bytes_hashed);
            s.cleared_by_size += get(&c.cleared_by_size);
            s.hardlinks_reused += get(&c.hardlinks_reused);
            s.from_cache += get(&c.from_cache);
            s.read_ahead += get(&c.read_ahead);
            s.skipped.special += get(&c.skipped_special);
            s.skipped.too_large += get(&c.skipped_too_large);
            s.skipped.excluded += get(&c.skipped_excluded);
            s.skipped.symlink += get(&c.skipped_symlink);
            s.skipped.other_fs += get(&c.skipped_other_fs);
            s.detections += get(&c.detections);
            s.errors += get(&c.errors);
            s.moved += get(&c.moved);
            s.not_moved += get(&c.not_moved);
            s.containers += get(&c.containers);
            s.members += get(&c.members);
            s.limits_exceeded += get(&c.limits_exceeded);
            for (total, bucket) in s.latency.buckets.iter_mut().zip(&c.latency.buckets) {
                *total += get(bucket);
            }
            s.latency.sum_nanos += get(&c.latency.sum_nanos);
        }
        s
    }
}

/// Totals at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    pub directories: u64,
    pub files: u64,
    pub hashed: u64,
    pub bytes_hashed: u64,
    pub cleared_by_size: u64,
    pub hardlinks_reused: u64,
    pub from_cache: u64,
    pub read_ahead: u64,
    pub skipped: Skipped,
    pub detections: u64,
    pub errors: u64,
    pub moved: u64,
    pub not_moved: u64,
    pub containers: u64,
    pub members: u64,
    pub limits_exceeded: u64,
    #[serde(skip)]
    pub latency: LatencySnapshot,
}

/// Entries not examined, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// FIFOs, sockets and devices.
    pub special: u64,
    /// Larger than `--max-filesize`.
    pub too_large: u64,
    /// Matched `--exclude` or `--exclude-dir`.
    pub excluded: u64,
    /// Symbolic links not followed.
    pub symlink: u64,
    /// Directories on another file system with `--one-file-system`.
    pub other_fs: u64,
}

impl Skipped {
    pub fn total(&self) -> u64 {
        self.special + self.too_large + self.excluded + self.symlink + self.other_fs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_sums_every_shard() {
        let stats = Stats::new(2);
        bump(&stats.local().files);
        bump(&stats.shards[0].files);
        add(&stats.shards[1].bytes_hashed, 10);
        let s = stats.snapshot();
        assert_eq!(s.files, 2);
        assert_eq!(s.bytes_hashed, 10);
    }

    #[test]
    fn latency_falls_in_the_first_bucket_that_holds_it() {
        use std::time::Duration;
        let stats = Stats::new(1);
        for micros in [50, 100, 101, 2_000, 20_000_000] {
            stats.local().latency.record(Duration::from_micros(micros));
        }
        let l = stats.snapshot().latency;
        assert_eq!(l.buckets[0], 2); // <= 0.1 ms, the bound included
        assert_eq!(l.buckets[1], 1);
        assert_eq!(l.buckets[3], 1); // <= 5 ms
        assert_eq!(l.buckets[LATENCY_BOUNDS.len()], 1); // over 10 s
        assert_eq!(l.count(), 5);
        assert_eq!(l.sum_nanos, 20_002_251_000);
    }
}
