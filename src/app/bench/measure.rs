//! Timing: one run of the real scan pipeline (`scan::scan_summary`) with a
//! sink that prints nothing, the hash-only rate of an algorithm on one core,
//! and the median/min/max of repeated samples.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::app::scan;
use crate::app::scan::ScanConfig;
use crate::app::Error;
use crate::fileio::READ_BUF_SIZE;
use crate::hash::{AlgoSet, Algorithm, MultiHasher};
use crate::report::NullSink;
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
    /// CPU time (user + system) the process used during the run, all threads
    /// together; `None` where /proc/self/stat cannot be read.
    pub cpu: Option<Duration>,
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
    let cpu_before = process_cpu_time();
    let summary = scan::scan_summary(config, sigs.clone(), &sink)?;
    let cpu = process_cpu_time()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    let sample = Sample {
        elapsed: summary.elapsed,
        files: summary.counts.files,
        bytes: summary.counts.bytes_hashed,
        errors: summary.counts.errors,
        cpu,
    };
    let first_error = sink
        .first_error()
        .map(|(path, reason)| format!("{}: {reason}", crate::report::escape_path(&path)));
    Ok((sample, first_error))
}

/// Clock ticks per second in /proc (`USER_HZ`, 100 on every Linux port).
const USER_HZ: u64 = 100;

/// User plus system CPU time of this process so far, all threads together
/// (including workers that have exited), from /proc/self/stat; 10 ms steps.
/// On a shared machine CPU time, unlike wall time, shows whether more
/// workers cost more work, whatever the neighbours are doing.
pub fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces), from field 3 on:
    // utime is field 14 and stime field 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 1000 / USER_HZ))
}

/// CPU ticks of the whole machine so far, from the `cpu` line of /proc/stat:
/// (busy, total), where busy is everything but idle and I/O wait, and includes
/// time stolen by the hypervisor.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let total: u64 = v.iter().sum();
    let idle = v.get(3)? + v.get(4)?;
    Some((total - idle, total))
}

/// Watches how much of the machine other processes use while the bench runs:
/// on a shared machine they take cores from the workers, and the figures
/// (the speedups above all) are then low.
pub struct LoadWatch {
    machine: Option<(u64, u64)>,
    own: Option<Duration>,
}

impl LoadWatch {
    pub fn start() -> Self {
        LoadWatch {
            machine: machine_ticks(),
            own: process_cpu_time(),
        }
    }

    /// The share of all CPUs' time, since `start`, that went to other
    /// processes (or to the hypervisor): 0.0 on an otherwise idle machine.
    pub fn others(&self) -> Option<f64> {
        let (busy0, total0) = self.machine?;
        let (busy1, total1) = machine_ticks()?;
        let own = process_cpu_time()?.saturating_sub(self.own?);
        let own_ticks = own.as_millis() as u64 * USER_HZ / 1000;
        let total = total1.checked_sub(total0).filter(|t| *t > 0)?;
        let others = (busy1 - busy0).saturating_sub(own_ticks);
        Some((others as f64 / total as f64).min(1.0))
    }
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
    fn cpu_time_grows_with_work() {
        let before = process_cpu_time().unwrap();
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_millis(60) {
            std::hint::black_box(hash_only(Algorithm::Md5, Duration::from_millis(5)));
        }
        assert!(process_cpu_time().unwrap() >= before + Duration::from_millis(30));
    }

    #[test]
    fn hash_only_measures_something() {
        assert!(hash_only(Algorithm::Md5, Duration::from_millis(20)) > 1.0);
    }
}
