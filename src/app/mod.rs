//! The commands: each turns its command-line arguments into a validated
//! configuration and runs the library with it. This is the only layer that
//! sees `cli`.

pub mod bench;
pub mod cache;
pub mod console_log;
pub mod ctl;
pub mod daemon;
pub mod generate;
pub mod quarantine;
pub mod scan;
pub mod sigs;

use crate::cli::{Cli, Command};
use bench::config::BenchConfig;
use ctl::CtlConfig;
use quarantine::QuarantineConfig;
use scan::ScanConfig;
use sigs::SigsConfig;
use std::io;

use crate::error::ExitStatus;

/// Runs one command line.
pub fn run(cli: Cli) -> Result<ExitStatus, Error> {
    match cli.command {
        Command::Scan(args) => {
            let config = ScanConfig::from_args(args).map_err(|e| Error::Usage(e.to_string()))?;
            scan::run(&config)
        }
        Command::Quarantine(args) => {
            let config =
                QuarantineConfig::from_args(args).map_err(|e| Error::Usage(e.to_string()))?;
            quarantine::run(&config)
        }
        Command::Daemon(args) => daemon::run(args),
        Command::Sigs(args) => {
            let config = SigsConfig::from_args(args).map_err(|e| Error::Usage(e.to_string()))?;
            sigs::run(&config)
        }
        Command::Ctl(args) => ctl::run(&CtlConfig::from_args(args)),
        Command::Cache(args) => {
            let config = cache::CacheConfig::from_args(args).map_err(Error::Usage)?;
            cache::run(&config)
        }
        Command::Generate { what, dir } => generate::run(what, &dir),
        Command::Bench(args) => {
            let config = BenchConfig::from_args(args).map_err(|e| Error::Usage(e.to_string()))?;
            bench::run(&config)
        }
    }
}

/// A fatal error: the command could not run at all (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Signatures(#[from] crate::signature::LoadError),
    #[error("cannot start the scan pool: {0}")]
    Pool(#[source] io::Error),
    #[error("cannot read file list {path}: {source}")]
    FileList {
        path: std::path::PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Quarantine(#[from] crate::quarantine::QuarantineError),
    #[error("output error: {0}")]
    Output(#[source] io::Error),
    #[error("{0}")]
    Config(#[from] daemon::config::ConfigError),
    #[error("{0}")]
    Watch(#[from] crate::source::watcher::WatchError),
    #[error("{0}")]
    Guard(#[from] crate::source::guard::GuardError),
    #[error("cannot set up signal handling: {0}")]
    Signals(#[source] io::Error),
    #[error("cannot use NOTIFY_SOCKET: {0}")]
    Notify(#[source] io::Error),
    #[error("cannot write index {}: {}", path.display(), crate::error::io_reason(source))]
    WriteIndex {
        path: std::path::PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Control(#[from] crate::control::ServerError),
    #[error("{0}")]
    Ctl(#[from] ctl::ClientError),
    #[error(transparent)]
    Bench(#[from] bench::BenchError),
    #[error("{0}")]
    Cache(#[from] crate::cache::StoreError),
    #[error("cannot write into {}: {}", path.display(), crate::error::io_reason(source))]
    Generate {
        path: std::path::PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The load limits the flags ask for, on top of `base` (the defaults, or a
/// configuration file's).
pub(crate) fn load_limits(
    args: &crate::cli::args::DbLimitArgs,
    base: crate::signature::LoadLimits,
) -> Result<crate::signature::LoadLimits, crate::cli::values::ValueError> {
    use crate::cli::values::{parse_size, ValueError};
    Ok(crate::signature::LoadLimits {
        max_db_bytes: match &args.max_db_size {
            Some(text) => parse_size(text).map_err(|_| ValueError::DbSize(text.clone()))?,
            None => base.max_db_bytes,
        },
        max_db_lines: args.max_db_lines.unwrap_or(base.max_db_lines),
        ..base
    })
}

/// Container limits from the command line over `base` (the daemon's file,
/// or the defaults); `max_filesize` is also the per-member limit.
pub(crate) fn container_limits(
    args: &crate::cli::args::ContainerArgs,
    base: crate::container::Limits,
) -> Result<crate::container::Limits, crate::cli::values::ValueError> {
    use crate::cli::values::{parse_size, ValueError};
    Ok(crate::container::Limits {
        enabled: args.scan_archive.unwrap_or(base.enabled),
        max_recursion: args.max_recursion.unwrap_or(base.max_recursion),
        max_files: args.max_files.unwrap_or(base.max_files),
        max_scansize: match &args.max_scansize {
            Some(text) => parse_size(text).map_err(|_| ValueError::ScanSize(text.clone()))?,
            None => base.max_scansize,
        },
        alert_exceeds_max: args.alert_exceeds_max || base.alert_exceeds_max,
        ..base
    })
}

/// A bad command-line value, found while building a command's configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Value(#[from] crate::cli::values::ValueError),
    #[error(transparent)]
    Quarantine(#[from] crate::quarantine::QuarantineError),
    #[error("unknown algorithm {0:?} (expected blake3, sha256, sha1 or md5)")]
    Algorithm(String),
    #[error(
        "ClamAV hash databases have no {0} signatures; drop --clamav or pick md5, sha1 or sha256"
    )]
    ClamavAlgorithm(crate::hash::Algorithm),
    #[error("bad signature name {0:?}: {1}")]
    Name(String, &'static str),
}
