//! Timing: one run of the real scan pipeline (`scan::scan_summary`) with a
//! sink that prints nothing, the hash-only rate of an algorithm on one core,
//! and the median/min/max of repeated samples.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::cli::ScanConfig;
use crate::error::Error;
use crate::fileio::READ_BUF_SIZE;
use crate::hash::{AlgoSet, Algorithm, MultiHasher};
use crate::report::NullSink;
use crate::scan;
use crate::signature::SignatureSet;

use super::corpus::SplitMix64;

const MIB: f64 = 1024.0 * 1024.0;

/// What one timed scan did.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub elapsed: Duration,
    /// Regular files examined.
    pub files: u64,
    /// Bytes read (and, unless read-only, hashed).
    pub bytes: u64,
    /// Files that could not be read.
    pub errors: u64,
}

impl Sample {
    fn secs(&self) -> f64 {
        self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn files_per_sec(&self) -> f64 {
        self.files as f64 / self.secs()
    }

    pub fn mib_per_sec(&self) -> f64 {
        self.bytes as f64 / MIB / self.secs()
    }
}

/// Runs the scan pipeline once, exactly as `vigil scan` would with `config`,
/// discarding its output. The first error reported, if any, is returned too.
pub fn scan_once(
    config: &ScanConfig,
    sigs: &Arc<SignatureSet>,
) -> Result<(Sample, Option<String>), Error> {
    let sink = NullSink::new();
    let summary = scan::scan_summary(config, sigs.clone(), &sink)?;
    let sample = Sample {
        elapsed: summary.elapsed,
        files: summary.counts.files,
        bytes: summary.counts.bytes_hashed,
        errors: summary.counts.errors,
    };
    let first_error = sink
        .first_error()
        .map(|(path, reason)| format!("{}: {reason}", crate::report::escape_path(&path)));
    Ok((sample, first_error))
}

/// MiB/s of one algorithm hashing a buffer already in memory, on the calling
/// thread, for about `budget`. The buffer is the size of a scan worker's read
/// buffer and is fed the same way, so this is the per-core ceiling of a scan.
pub fn hash_only(algo: Algorithm, budget: Duration) -> f64 {
    let mut buf = vec![0u8; READ_BUF_SIZE];
    SplitMix64::new(0x5eed).fill(&mut buf);
    let mut hasher = MultiHasher::new(AlgoSet::EMPTY.with(algo));
    // One pass to warm up caches and state.
    hasher.update(&buf);
    hasher.finish();
    let mut bytes = 0u64;
    let started = Instant::now();
    while started.elapsed() < budget {
        // 16 MiB between clock reads, as 64 reads of one file.
        hasher.reset(AlgoSet::EMPTY.with(algo));
        for _ in 0..64 {
            hasher.update(&buf);
        }
        std::hint::black_box(hasher.finish());
        bytes += 64 * buf.len() as u64;
    }
    bytes as f64 / MIB / started.elapsed().as_secs_f64()
}

/// Median, smallest and largest of some samples.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// The spread of `values` (not empty); the median of an even count is the
    /// mean of the middle two.
    pub fn of(values: impl IntoIterator<Item = f64>) -> Self {
        let mut v: Vec<f64> = values.into_iter().collect();
        assert!(!v.is_empty(), "a spread needs at least one value");
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        };
        Spread {
            median,
            min: v[0],
            max: v[v.len() - 1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads() {
        assert_eq!(
            Spread::of([3.0, 1.0, 2.0]),
            Spread {
                median: 2.0,
                min: 1.0,
                max: 3.0
            }
        );
        assert_eq!(Spread::of([4.0, 1.0]).median, 2.5);
        assert_eq!(
            Spread::of([7.0]),
            Spread {
                median: 7.0,
                min: 7.0,
                max: 7.0
            }
        );
    }

    #[test]
    fn hash_only_measures_something() {
        assert!(hash_only(Algorithm::Md5, Duration::from_millis(20)) > 1.0);
    }
}
