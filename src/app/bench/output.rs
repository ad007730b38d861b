//! What a bench found, and its three renderings: the text table on stdout,
//! JSON (`Report` as it is serialized) and CSV (one row per worker count).
//! The field names are documented in docs/bench.md.

use std::fs;
use std::io;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::corpus::Corpus;
use super::measure::{Sample, Spread};
use crate::app::bench::config::{BenchConfig, CorpusSource};
use crate::hash::Algorithm;
use crate::signature::SignatureSet;

/// The timed runs at one worker count.
#[derive(Clone, Debug)]
pub struct Runs {
    pub threads: usize,
    /// Full scans.
    pub scans: Vec<Sample>,
    /// Read-only runs (same walk and workers, no hashing).
    pub reads: Vec<Sample>,
}

/// Everything the bench measured, as written to JSON.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub vigil_version: &'static str,
    /// When the bench ran, UTC, e.g. `2025-11-26T21:40:00Z`.
    pub date: String,
    pub machine: Machine,
    pub corpus: CorpusInfo,
    pub signatures: SignatureInfo,
    /// Timed runs per worker count (after one warm-up run).
    pub repeat: usize,
    /// `warm`, or `cold` with `--drop-caches`.
    pub cache: &'static str,
    pub rows: Vec<Row>,
    pub limits: Limits,
    /// Files that could not be read, over all timed runs.
    pub errors: u64,
    /// Share of all CPUs' time that other processes (and the hypervisor) used
    /// during the timed runs: near 0 on a quiet machine.
    pub other_load: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// Cores this process may use.
    pub cores: usize,
    /// `model name` from /proc/cpuinfo.
    pub cpu: String,
    /// Kernel release.
    pub kernel: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct CorpusInfo {
    pub path: String,
    pub generated: bool,
    /// Seed of a generated corpus.
    pub seed: Option<u64>,
    /// A generated corpus is removed afterwards unless kept (`--keep`).
    pub kept: bool,
    /// Files examined by each run.
    pub files: u64,
    /// Bytes read by each run.
    pub bytes: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct SignatureInfo {
    /// `bench` (one signature of any size that matches nothing) or `databases` (`-d`).
    pub source: &'static str,
    /// The bench signature's algorithm.
    pub algorithm: Option<&'static str>,
    pub databases: Vec<String>,
    /// Detection signatures loaded.
    pub count: usize,
}

/// One worker count.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub threads: usize,
    pub files_per_sec: Spread,
    pub mib_per_sec: Spread,
    pub elapsed_secs: Spread,
    /// CPU seconds (user + system, all threads) per scan: flat across rows
    /// when more workers add no overhead, whatever the wall time does.
    pub cpu_secs: Option<Spread>,
    /// Median MiB/s over the one-worker median.
    pub speedup: f64,
    /// Speedup ÷ workers.
    pub efficiency: f64,
    /// The read-only limit at this worker count.
    pub read_only_mib_per_sec: Spread,
    pub read_only_files_per_sec: Spread,
    /// Workers × the one-core hash-only rate of the bench algorithm (none with `-d`).
    pub hash_bound_mib_per_sec: Option<f64>,
    /// The rate if every byte cost its read (read-only median) plus its hash
    /// (hash bound) on the same cores: `1 / (1/read_only + 1/hash_bound)`.
    pub read_plus_hash_mib_per_sec: Option<f64>,
    /// Median MiB/s ÷ `read_plus_hash_mib_per_sec` (÷ the read-only median with `-d`).
    pub of_limit: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Limits {
    /// MiB/s of each algorithm hashing a buffer in memory on one core.
    pub hash_only_mib_per_sec: HashOnly,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct HashOnly {
    pub blake3: f64,
    pub sha256: f64,
    pub sha1: f64,
    pub md5: f64,
}

impl HashOnly {
    pub fn get(&self, algo: Algorithm) -> f64 {
        match algo {
            Algorithm::Blake3 => self.blake3,
            Algorithm::Sha256 => self.sha256,
            Algorithm::Sha1 => self.sha1,
            Algorithm::Md5 => self.md5,
        }
    }
}

impl Report {
    /// Assembles the report; `hash_only` is indexed by `Algorithm::index()`.
    pub fn new(
        config: &BenchConfig,
        corpus: &Corpus,
        sigs: &SignatureSet,
        hash_only: [f64; 4],
        runs: Vec<Runs>,
    ) -> Self {
        let hash_only = HashOnly {
            md5: hash_only[Algorithm::Md5.index()],
            sha1: hash_only[Algorithm::Sha1.index()],
            sha256: hash_only[Algorithm::Sha256.index()],
            blake3: hash_only[Algorithm::Blake3.index()],
        };
        let bench_algo = config.databases.is_empty().then_some(config.algorithm);
        let spread = |samples: &[Sample], f: fn(&Sample) -> f64| Spread::of(samples.iter().map(f));
        let base = runs
            .iter()
            .find(|r| r.threads == 1)
            .map(|r| spread(&r.scans, Sample::mib_per_sec).median);
        let rows: Vec<Row> = runs
            .iter()
            .map(|r| {
                let mib = spread(&r.scans, Sample::mib_per_sec);
                let read_only = spread(&r.reads, Sample::mib_per_sec);
                let speedup = base.map_or(f64::NAN, |b| mib.median / b);
                let hash_bound = bench_algo.map(|a| r.threads as f64 * hash_only.get(a));
                let read_plus_hash = hash_bound.map(|h| 1.0 / (1.0 / read_only.median + 1.0 / h));
                Row {
                    threads: r.threads,
                    files_per_sec: spread(&r.scans, Sample::files_per_sec),
                    mib_per_sec: mib,
                    elapsed_secs: spread(&r.scans, |s| s.elapsed.as_secs_f64()),
                    cpu_secs: r
                        .scans
                        .iter()
                        .map(|s| s.cpu.map(|c| c.as_secs_f64()))
                        .collect::<Option<Vec<f64>>>()
                        .map(Spread::of),
                    speedup,
                    efficiency: speedup / r.threads as f64,
                    read_only_mib_per_sec: read_only,
                    read_only_files_per_sec: spread(&r.reads, Sample::files_per_sec),
                    hash_bound_mib_per_sec: hash_bound,
                    read_plus_hash_mib_per_sec: read_plus_hash,
                    of_limit: mib.median / read_plus_hash.unwrap_or(read_only.median),
                }
            })
            .collect();
        let first = runs.first().and_then(|r| r.scans.first());
        let errors = runs
            .iter()
            .flat_map(|r| r.scans.iter().chain(&r.reads))
            .map(|s| s.errors)
            .sum();
        let generated = corpus.generated();
        Report {
            vigil_version: env!("CARGO_PKG_VERSION"),
            date: utc_now(),
            machine: Machine {
                cores: crate::cli::values::default_threads(),
                cpu: cpu_model(),
                kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
                    .map_or_else(|_| "unknown".into(), |s| s.trim().to_string()),
            },
            corpus: CorpusInfo {
                path: corpus.path().display().to_string(),
                generated: generated.is_some(),
                seed: generated.map(|(shape, _)| shape.seed),
                kept: matches!(config.corpus, CorpusSource::Generate { keep: true, .. }),
                files: first.map_or(0, |s| s.files),
                bytes: first.map_or(0, |s| s.bytes),
            },
            signatures: SignatureInfo {
                source: if bench_algo.is_some() {
                    "bench"
                } else {
                    "databases"
                },
                algorithm: bench_algo.map(Algorithm::name),
                databases: config
                    .databases
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
                count: sigs.stats().total_detections(),
            },
            repeat: config.repeat,
            cache: if config.drop_caches { "cold" } else { "warm" },
            rows,
            limits: Limits {
                hash_only_mib_per_sec: hash_only,
            },
            errors,
            other_load: None,
        }
    }

    /// The row with the most workers.
    pub fn top(&self) -> Option<&Row> {
        self.rows.iter().max_by_key(|r| r.threads)
    }

    /// The table printed on stdout.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let c = &self.corpus;
        out += &format!(
            "vigil bench {} | {} cores ({}) | Linux {} | {}\n",
            self.vigil_version, m.cores, m.cpu, m.kernel, self.date
        );
        let what = match c.seed {
            Some(seed) => format!(
                "generated (seed {seed}) in {}, {}",
                c.path,
                if c.kept { "kept" } else { "removed afterwards" }
            ),
            None => c.path.clone(),
        };
        out += &format!(
            "corpus   {} files, {} read per run; {what}\n",
            thousands(c.files as f64),
            indicatif::HumanBytes(c.bytes)
        );
        out += &match self.signatures.algorithm {
            Some(a) => format!("scan     one {a} signature of any size that matches nothing: every byte is hashed\n"),
            None => format!(
                "scan     {} signature(s) from {}\n",
                thousands(self.signatures.count as f64),
                self.signatures.databases.join(", ")
            ),
        };
        match self.other_load {
            Some(load) if load > 0.05 => {
                out += &format!(
                    "warning  other processes used {:.0}% of the CPUs during the runs: figures, above all speedups, may be low (see min-max); a quiet machine gives truer ones\n",
                    load * 100.0
                )
            }
            Some(load) => {
                out += &format!(
                    "machine  quiet: other processes used {:.0}% of the CPUs during the runs\n",
                    load * 100.0
                )
            }
            None => {}
        }
        out += &format!(
            "runs     median [min-max] of {} timed run(s) per row, taken in turn across the rows after one warm-up run; page cache {}\n\n",
            self.repeat,
            if self.cache == "cold" {
                "dropped before each run (cold)"
            } else {
                "warm"
            }
        );

        let header = [
            "threads",
            "files/s",
            "MiB/s",
            "speedup",
            "efficiency",
            "CPU s",
            "|",
            "read-only",
            "hash-only xN",
            "read+hash",
            "reached",
        ];
        let mut rows = vec![header.map(String::from).to_vec()];
        for r in &self.rows {
            rows.push(vec![
                r.threads.to_string(),
                spread_text(&r.files_per_sec),
                spread_text(&r.mib_per_sec),
                format!("{:.2}", r.speedup),
                format!("{:.2}", r.efficiency),
                r.cpu_secs
                    .map_or("-".into(), |c| format!("{:.2}", c.median)),
                "|".into(),
                rate(r.read_only_mib_per_sec.median),
                r.hash_bound_mib_per_sec.map_or("-".into(), rate),
                r.read_plus_hash_mib_per_sec.map_or("-".into(), rate),
                format!("{:.0}%", r.of_limit * 100.0),
            ]);
        }
        let widths: Vec<usize> = (0..header.len())
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        for row in &rows {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:>w$}"))
                .collect();
            out += cells.join("  ").trim_end();
            out.push('\n');
        }

        let h = &self.limits.hash_only_mib_per_sec;
        out +=
            "\nCPU s    user + system CPU seconds per scan, all workers together (10 ms steps)\n";
        out += "limits   MiB/s, medians, measured like the rows:\n";
        out += "         read-only     the same walk and workers, every byte read, none hashed\n";
        match self.signatures.algorithm {
            Some(a) => {
                out += &format!(
                    "         hash-only xN  N workers x {a} hashing on one core from memory\n"
                );
                out += "         read+hash     1/(1/read-only + 1/hash-only xN): each byte costs its read plus its hash\n";
                out += "         reached       vigil's MiB/s over read+hash\n";
            }
            None => out += "         reached       vigil's MiB/s over read-only\n",
        }
        out += &format!(
            "         one core, from memory: blake3 {}, sha256 {}, sha1 {}, md5 {}\n",
            rate(h.blake3),
            rate(h.sha256),
            rate(h.sha1),
            rate(h.md5)
        );
        if let Some(top) = self.top() {
            let bound = match top.hash_bound_mib_per_sec {
                Some(h) if h < top.read_only_mib_per_sec.median => {
                    "hashing costs more than reading (CPU-bound)"
                }
                Some(_) => "reading costs more than hashing",
                None => "mixed signature set",
            };
            out += &format!(
                "verdict  at {} worker(s): {bound}; vigil reaches {:.0}% of the limit; parallel efficiency {:.2}",
                top.threads,
                top.of_limit * 100.0,
                top.efficiency
            );
            let one = self.rows.iter().find(|r| r.threads == 1);
            if let (Some(c1), Some(cn)) = (one.and_then(|r| r.cpu_secs), top.cpu_secs) {
                out += &format!(
                    "; CPU time x{:.2} that of one worker",
                    cn.median / c1.median
                );
            }
            out.push('\n');
        }
        out
    }

    pub fn write_json(&self, path: &Path) -> io::Result<()> {
        let mut text = serde_json::to_string_pretty(self).map_err(io::Error::other)?;
        text.push('\n');
        fs::write(path, text)
    }

    /// The CSV columns, in order.
    pub const CSV_HEADER: &'static str = "threads,files,bytes,\
        files_per_sec_median,files_per_sec_min,files_per_sec_max,\
        mib_per_sec_median,mib_per_sec_min,mib_per_sec_max,\
        elapsed_secs_median,cpu_secs_median,speedup,efficiency,\
        read_only_mib_per_sec_median,read_only_mib_per_sec_min,read_only_mib_per_sec_max,\
        hash_bound_mib_per_sec,read_plus_hash_mib_per_sec,of_limit";

    pub fn write_csv(&self, path: &Path) -> io::Result<()> {
        let mut text = String::from(Self::CSV_HEADER);
        text.push('\n');
        for r in &self.rows {
            let s = |x: &Spread| format!("{:.1},{:.1},{:.1}", x.median, x.min, x.max);
            text += &format!(
                "{},{},{},{},{},{:.4},{},{:.3},{:.3},{},{},{},{:.3}\n",
                r.threads,
                self.corpus.files,
                self.corpus.bytes,
                s(&r.files_per_sec),
                s(&r.mib_per_sec),
                r.elapsed_secs.median,
                r.cpu_secs
                    .map_or(String::new(), |c| format!("{:.2}", c.median)),
                r.speedup,
                r.efficiency,
                s(&r.read_only_mib_per_sec),
                opt(r.hash_bound_mib_per_sec),
                opt(r.read_plus_hash_mib_per_sec),
                r.of_limit
            );
        }
        fs::write(path, text)
    }
}

/// A rate with thousands separators: 1 decimal below 100, none above.
pub fn rate(x: f64) -> String {
    if x < 100.0 {
        format!("{x:.1}")
    } else {
        thousands(x)
    }
}

/// An optional CSV value: empty when absent.
fn opt(x: Option<f64>) -> String {
    x.map_or(String::new(), |x| format!("{x:.1}"))
}

fn spread_text(s: &Spread) -> String {
    format!("{} [{}-{}]", rate(s.median), rate(s.min), rate(s.max))
}

/// 18393.4 -> "18,393".
pub fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// The CPU model from /proc/cpuinfo, or "unknown CPU".
pub fn cpu_model() -> String {
    fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Now, UTC, as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    utc(secs)
}

fn utc(secs: u64) -> String {
    crate::timefmt::rfc3339_secs(i64::try_from(secs).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(18393.4), "18,393");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1_000_000.0), "1,000,000");
        assert_eq!(rate(12.345), "12.3");
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_764_195_661), "2025-11-26T22:21:01Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
    }
}
