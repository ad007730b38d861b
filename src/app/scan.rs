//! The one-shot pipeline behind `vigil scan`: load the signature set, start
//! the walker source, the bounded queue and the pool, report every verdict to
//! the sink, and turn the totals into a summary and an exit status.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::{ConfigError, Error};
use crate::cache::{Cache, Options as CacheOptions};
use crate::cli::args::ScanArgs;
use crate::cli::values::{globs, parse_size, threads_or_default};
use crate::engine::inspect::Inspector;
use crate::engine::walk::{WalkOptions, Walker};
use crate::engine::{Outputs, Pipeline, PipelineParts};
use crate::error::ExitStatus;
use crate::quarantine::Quarantine;
use crate::report::json::JsonSink;
use crate::report::progress::Progress;
use crate::report::text::{TextOptions, TextSink};
use crate::report::{ErrorsOnly, Event, Sink, Summary};
use crate::signature::{load_signatures, LoadLimits, SignatureSet};
use crate::source::roots::{self, Roots};
use crate::stats::bump;

/// Everything `vigil scan` needs, checked.
#[derive(Debug, Clone)]
pub struct ScanConfig {
    /// Databases named with `-d`; empty means the built-in set.
    pub databases: Vec<PathBuf>,
    /// How far loading each database may go.
    pub load_limits: LoadLimits,
    pub threads: usize,
    /// Files read ahead of the scan workers at most; `None`: automatic.
    pub io_depth: Option<usize>,
    pub show_clean: bool,
    pub show_summary: bool,
    pub json: bool,
    pub quiet: bool,
    pub walk: WalkOptions,
    pub max_filesize: Option<u64>,
    /// How far containers are unpacked.
    pub containers: crate::container::Limits,
    pub file_list: Option<PathBuf>,
    /// Quarantine folder for detected files (`--move`).
    pub move_to: Option<PathBuf>,
    /// The verdict cache file (`--cache`).
    pub cache: Option<PathBuf>,
    /// Where to write the scan's metrics when done (`--metrics-file`).
    pub metrics_file: Option<PathBuf>,
    pub paths: Vec<PathBuf>,
    /// Read what would be hashed, hash nothing: `vigil bench`'s read-only
    /// limit (see `Inspector::read_only`). `vigil scan` never sets it.
    pub read_only: bool,
}

impl ScanConfig {
    pub fn from_args(args: ScanArgs) -> Result<Self, ConfigError> {
        let threads = threads_or_default(args.engine.threads)?;
        let max_filesize = (args.walk.max_filesize.as_deref())
            .map(parse_size)
            .transpose()?;
        let mut paths = args.paths;
        if paths.is_empty() && args.file_list.is_none() {
            paths.push(PathBuf::from("."));
        }
        Ok(ScanConfig {
            load_limits: super::load_limits(&args.db_limits, LoadLimits::default())?,
            databases: args.engine.databases,
            threads,
            io_depth: args.engine.io_depth,
            show_clean: !args.infected && !args.quiet,
            show_summary: !args.no_summary && !args.quiet,
            json: args.json,
            quiet: args.quiet,
            walk: WalkOptions {
                follow_symlinks: args.walk.follow_symlinks,
                one_file_system: args.walk.one_file_system,
                exclude: globs("--exclude", &args.walk.exclude)?,
                exclude_dir: globs("--exclude-dir", &args.walk.exclude_dir)?,
            },
            containers: super::container_limits(
                &args.containers,
                crate::container::Limits::default(),
            )?,
            max_filesize,
            file_list: args.file_list,
            move_to: args.move_to,
            cache: args.cache,
            metrics_file: args.metrics_file,
            paths,
            read_only: false,
        })
    }

    /// The engine this scan runs on, matching against `sigs`; opens the
    /// quarantine of `--move` and the cache of `--cache` (a cache that
    /// cannot be used is warned about, and the scan reads every file).
    pub fn pipeline(&self, sigs: Arc<SignatureSet>) -> Result<Pipeline, Error> {
        let quarantine = (self.move_to.as_deref())
            .map(Quarantine::open)
            .transpose()?;
        let cache = self.cache.as_deref().and_then(open_cache);
        Pipeline::new(PipelineParts {
            threads: self.threads,
            queue_capacity: None,
            io_depth: self.io_depth,
            walker: Walker::new(self.walk.clone()),
            inspector: Inspector::new(sigs, self.max_filesize)
                .read_only(self.read_only)
                .containers(self.containers, crate::container::Budget::default())
                .cache(cache),
            quarantine,
        })
        .map_err(Error::Pool)
    }
}

/// The cache at `path`, or `None` with a warning saying why it cannot be
/// used (the scan then goes on without it).
pub(crate) fn open_cache(path: &std::path::Path) -> Option<Arc<Cache>> {
    match Cache::open(path, &CacheOptions::default()) {
        Ok(cache) => Some(Arc::new(cache)),
        Err(e) => {
            tracing::warn!("cache not used: {e}");
            None
        }
    }
}

/// The output a configuration asks for, drawn around `progress` if given.
pub fn sink_for(config: &ScanConfig, progress: Option<Progress>) -> Box<dyn Sink> {
    let sink: Box<dyn Sink> = if config.json {
        Box::new(JsonSink::stdio(config.show_summary, progress))
    } else {
        Box::new(TextSink::stdio(
            TextOptions {
                show_clean: config.show_clean,
                show_summary: config.show_summary,
            },
            progress,
        ))
    };
    if config.quiet {
        Box::new(ErrorsOnly(sink))
    } else {
        sink
    }
}

/// Runs `vigil scan` with output to stdout/stderr.
pub fn run(config: &ScanConfig) -> Result<ExitStatus, Error> {
    let loading = Instant::now();
    let sigs = match load_signatures(&config.databases, config.load_limits) {
        Ok(set) => Arc::new(set),
        Err(e) => {
            if config.json {
                print_load_errors_json(&e);
            }
            return Err(e.into());
        }
    };
    let load_time = loading.elapsed();
    let progress = Progress::if_wanted(config.quiet);
    let sink = sink_for(config, progress.clone());
    let summary = scan_observed(config, sigs, &*sink, progress.as_ref())?;
    let status = finish(&summary, &*sink);
    match &config.metrics_file {
        Some(path) => Ok(write_metrics(path, &summary, load_time, status)),
        None => Ok(status),
    }
}

/// With `--json`, a failed load is told on stdout too: one error object
/// per fault (`"kind":"database"`), as a reader of the JSON lines expects.
fn print_load_errors_json(e: &crate::signature::LoadError) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for fault in &e.0 {
        let record = serde_json::json!({
            "type": "error",
            "path": fault.file.to_string_lossy(),
            "line": fault.line,
            "reason": fault.fault.to_string(),
            "kind": "database",
        });
        let _ = writeln!(out, "{record}");
    }
    let _ = out.flush();
}

/// Writes `--metrics-file`; a failure is an error of the scan (exit 2
/// unless something was found).
fn write_metrics(
    path: &std::path::Path,
    summary: &Summary,
    load_time: std::time::Duration,
    status: ExitStatus,
) -> ExitStatus {
    let mut readings = crate::metrics::Readings::new();
    readings.scan_counts(&summary.counts);
    readings.count("signatures", summary.signatures as u64);
    readings.set("signature_load_seconds", load_time.as_secs_f64());
    readings.count("threads", summary.threads as u64);
    readings.set("duration_seconds", summary.elapsed.as_secs_f64());
    match crate::metrics::write_atomically(path, &readings.to_prometheus()) {
        Ok(()) => status,
        Err(e) => {
            eprintln!(
                "vigil: cannot write metrics to {}: {}",
                path.display(),
                crate::error::io_reason(&e)
            );
            ExitStatus::from_counts(summary.counts.detections, summary.counts.errors + 1)
        }
    }
}

/// Reports the summary and turns it into the exit status.
fn finish(summary: &Summary, sink: &dyn Sink) -> ExitStatus {
    sink.summary(summary);
    sink.flush();
    if sink.is_closed() {
        // Output went away (e.g. `| head`): stop quietly, like other Unix tools.
        return ExitStatus::Clean;
    }
    ExitStatus::from_counts(summary.counts.detections, summary.counts.errors)
}

/// Runs the pipeline and returns its summary without printing it.
pub fn scan_summary(
    config: &ScanConfig,
    sigs: Arc<SignatureSet>,
    sink: &dyn Sink,
) -> Result<Summary, Error> {
    scan_observed(config, sigs, sink, None)
}

/// As `scan_summary`, drawing `progress` while the scan runs.
pub fn scan_observed(
    config: &ScanConfig,
    sigs: Arc<SignatureSet>,
    sink: &dyn Sink,
    progress: Option<&Progress>,
) -> Result<Summary, Error> {
    let file_list: Option<Box<dyn BufRead + Send>> = match &config.file_list {
        None => None,
        Some(path) => {
            let file = File::open(path).map_err(|source| Error::FileList {
                path: path.clone(),
                source,
            })?;
            Some(Box::new(BufReader::new(file)))
        }
    };
    let started = Instant::now();
    let pipeline = config.pipeline(sigs.clone())?;
    let stats = pipeline.stats();
    let admission = pipeline.admission();
    let roots = Roots {
        paths: config.paths.clone(),
        file_list,
    };
    let progress_done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let progress = progress.map(|p| {
            std::thread::Builder::new()
                .name("vigil-progress".into())
                .spawn_scoped(scope, || p.run(stats, &progress_done))
                .expect("spawn progress thread")
        });
        let source = std::thread::Builder::new()
            .name("vigil-walker".into())
            .spawn_scoped(scope, move || roots::feed(roots, &admission))
            .expect("spawn source thread");
        pipeline.run(Outputs::sink(sink));
        if let Ok(Err(e)) = source.join() {
            let path = config.file_list.clone().unwrap_or_default();
            bump(&stats.local().errors);
            sink.event(&Event::Error {
                path: &path,
                reason: &crate::error::io_reason(&e),
                kind: crate::report::ErrorKind::of_io(&e),
            });
        }
        progress_done.store(true, Ordering::Relaxed);
        if let Some(p) = progress {
            p.thread().unpark();
            let _ = p.join();
        }
    });
    let stats_set = sigs.stats();
    // The built-in set is one file (EICAR) under each algorithm: one virus.
    let known = if config.databases.is_empty() {
        stats_set.names
    } else {
        stats_set.total_detections()
    };
    Ok(Summary {
        signatures: known,
        allow_entries: stats_set.allows.iter().sum(),
        threads: pipeline.threads(),
        counts: stats.snapshot(),
        elapsed: started.elapsed(),
    })
}
