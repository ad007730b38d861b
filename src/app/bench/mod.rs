//! `vigil bench`: scan throughput against the number of workers, beside the
//! machine's own limits. It has no scan path of its own: every timed run is
//! `scan::scan_summary`, the pipeline behind `vigil scan`, with output
//! discarded. By default the signature set is one signature of any size that
//! matches nothing, so every byte of every file is read and hashed.
//!
//! The limits are measured the same way: *read-only* is the same pipeline
//! with `ScanConfig::read_only` (same walk, same workers, every byte read,
//! none hashed), and *hash-only* is each algorithm's rate on one core over a
//! buffer in memory.
//!
//! `corpus` makes or opens the files, `measure` times runs, `output` writes
//! the table, JSON and CSV, and `plot` the SVG.

pub mod config;
pub mod corpus;
pub mod measure;
pub mod output;
pub mod plot;

use std::fs::OpenOptions;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::app::bench::config::{BenchConfig, CorpusSource};
use crate::app::scan::ScanConfig;
use crate::app::Error;
use crate::engine::walk::WalkOptions;
use crate::error::ExitStatus;
use crate::hash::{hash_bytes, Algorithm};
use crate::signature::{SigLine, SignatureSet, SignatureSetBuilder};

use corpus::{CacheError, Corpus, CorpusError};
use measure::{Sample, Spread};
use output::Report;

/// Name of the built-in bench signature.
pub const BENCH_SIGNATURE: &str = "Vigil.Bench.MatchesNothing";

/// How long each hash-only sample hashes.
const HASH_ONLY_BUDGET: Duration = Duration::from_millis(250);

/// Why the bench could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error("cannot write the {what} file {}: {}", .path.display(), crate::error::io_reason(.source))]
    Output {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot draw the plot {}: {reason}", .path.display())]
    Plot { path: PathBuf, reason: String },
    #[error("the corpus {} holds no file that the signatures make vigil read", .0.display())]
    NothingRead(PathBuf),
}

impl BenchError {
    fn output(what: &'static str, path: &Path, source: io::Error) -> Self {
        BenchError::Output {
            what,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// One signature of `algo`, of any size, whose digest no real file has: the
/// digest of a fixed phrase. It makes every file be opened and hashed in full.
pub fn bench_signatures(algo: Algorithm) -> SignatureSet {
    let mut builder = SignatureSetBuilder::new();
    builder
        .add(
            &SigLine {
                digest: hash_bytes(algo, b"vigil bench: this digest matches no corpus file"),
                size: None,
                name: BENCH_SIGNATURE,
            },
            false,
        )
        .expect("one name fits");
    builder.build()
}

/// The scan a bench times: `threads` workers over the tree at `root`, with
/// nothing printed and default walk options.
pub fn scan_config(
    databases: Vec<PathBuf>,
    threads: usize,
    root: &Path,
    read_only: bool,
) -> ScanConfig {
    ScanConfig {
        databases,
        load_limits: Default::default(),
        threads,
        io_depth: None,
        show_clean: false,
        show_summary: false,
        json: false,
        quiet: true,
        walk: WalkOptions::default(),
        max_filesize: None,
        containers: crate::container::Limits::default(),
        file_list: None,
        move_to: None,
        cache: None,
        metrics_file: None,
        paths: vec![root.to_path_buf()],
        read_only,
    }
}

/// Checks that `path` can be written, without leaving anything behind.
fn check_writable(what: &'static str, path: &Path) -> Result<(), BenchError> {
    let existed = path.exists();
    OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .map_err(|e| BenchError::output(what, path, e))?;
    if !existed {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

/// Prints a progress note on stderr when it is a terminal.
fn note(text: &str) {
    if io::stderr().is_terminal() {
        eprintln!("vigil bench: {text}");
    }
}

/// Runs `vigil bench`: prints the table on stdout and writes the files asked for.
pub fn run(config: &BenchConfig) -> Result<ExitStatus, Error> {
    // Everything that can be refused is refused before any work.
    for (what, path) in [
        ("JSON", &config.json),
        ("CSV", &config.csv),
        ("plot", &config.plot),
    ] {
        if let Some(path) = path {
            check_writable(what, path)?;
        }
    }
    if config.drop_caches {
        corpus::check_drop_caches().map_err(BenchError::from)?;
    }
    let sigs = Arc::new(if config.databases.is_empty() {
        bench_signatures(config.algorithm)
    } else {
        crate::signature::load_signatures(&config.databases, Default::default())?
    });
    let mut corpus = match &config.corpus {
        CorpusSource::Dir(dir) => Corpus::existing(dir).map_err(BenchError::from)?,
        CorpusSource::Generate { shape, .. } => {
            note(&format!(
                "generating a {} corpus (seed {})",
                indicatif::HumanBytes(shape.bytes),
                shape.seed
            ));
            Corpus::generate(*shape).map_err(BenchError::from)?
        }
    };
    if let CorpusSource::Generate { keep: true, .. } = config.corpus {
        corpus.keep();
    }

    let max_threads = *config
        .threads
        .iter()
        .max()
        .expect("at least one thread count");
    let scan_config = |threads: usize, read_only: bool| {
        scan_config(config.databases.clone(), threads, corpus.path(), read_only)
    };
    let mut first_error = None;
    let mut timed = |threads: usize, read_only: bool| -> Result<Sample, Error> {
        if config.drop_caches {
            corpus::drop_caches().map_err(BenchError::from)?;
        }
        let (sample, error) = measure::scan_once(&scan_config(threads, read_only), &sigs)?;
        if first_error.is_none() {
            first_error = error;
        }
        Ok(sample)
    };

    note("warm-up run");
    let warm = timed(max_threads, false)?;
    if warm.bytes == 0 {
        return Err(BenchError::NothingRead(corpus.path().to_path_buf()).into());
    }
    note("hash-only limits");
    let hash_only = Algorithm::ALL.map(|a| {
        Spread::of((0..config.repeat).map(|_| measure::hash_only(a, HASH_ONLY_BUDGET))).median
    });
    // Round-robin over the worker counts (and scan, then read-only, at each),
    // so that a disturbance on a shared machine spreads over every row
    // instead of spoiling one and skewing the speedups.
    let mut runs: Vec<output::Runs> = config
        .threads
        .iter()
        .map(|&threads| output::Runs {
            threads,
            scans: Vec::new(),
            reads: Vec::new(),
        })
        .collect();
    let load = measure::LoadWatch::start();
    for round in 1..=config.repeat {
        note(&format!("round {round} of {}", config.repeat));
        for row in &mut runs {
            row.scans.push(timed(row.threads, false)?);
            row.reads.push(timed(row.threads, true)?);
        }
    }

    let mut report = Report::new(config, &corpus, &sigs, hash_only, runs);
    report.other_load = load.others();
    print!("{}", report.table());
    if let Some(path) = &config.json {
        report
            .write_json(path)
            .map_err(|e| BenchError::output("JSON", path, e))?;
    }
    if let Some(path) = &config.csv {
        report
            .write_csv(path)
            .map_err(|e| BenchError::output("CSV", path, e))?;
    }
    if let Some(path) = &config.plot {
        plot::draw(&report, path)?;
    }
    if report.errors > 0 {
        eprintln!(
            "vigil bench: {} file(s) could not be read in some run, e.g. {}; the figures leave them out",
            report.errors,
            first_error.as_deref().unwrap_or("?")
        );
        return Ok(ExitStatus::Error);
    }
    Ok(ExitStatus::Clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_signature_forces_hashing_and_matches_nothing() {
        for algo in Algorithm::ALL {
            let set = bench_signatures(algo);
            assert_eq!(
                set.algorithms_for_size(0),
                crate::hash::AlgoSet::EMPTY.with(algo)
            );
            assert_eq!(
                set.algorithms_for_size(1 << 40),
                crate::hash::AlgoSet::EMPTY.with(algo)
            );
            assert_eq!(set.stats().total_detections(), 1);
        }
    }

    #[test]
    fn unwritable_outputs_are_refused_and_nothing_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let ok = dir.path().join("out.json");
        check_writable("JSON", &ok).unwrap();
        assert!(!ok.exists());
        let e = check_writable("plot", &dir.path().join("no/such/dir/p.svg")).unwrap_err();
        assert!(
            e.to_string().starts_with("cannot write the plot file "),
            "{e}"
        );
        assert!(
            check_writable("CSV", dir.path()).is_err(),
            "a folder is not a file"
        );
    }
}
