//! `vigil cache stats|prune|clear`: looks after a verdict cache file. A
//! command of its own, not options of `vigil sigs`, because the cache is
//! about the files scanned, not about signature sets: a new set needs no
//! clearing (the cache keeps digests, not verdicts).

use std::path::PathBuf;
use std::time::Duration;

use crate::app::Error;
use crate::cache::{self, FileStats, DEFAULT_TTL, DEFAULT_WAIT};
use crate::cli::args::{CacheArgs, CacheCommand};
use crate::error::ExitStatus;

/// Where the daemon keeps its cache with the shipped configuration.
pub const DEFAULT_FILE: &str = "/var/lib/vigil/cache.redb";

/// A `vigil cache` command, checked.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    pub file: PathBuf,
    pub action: CacheAction,
}

#[derive(Debug, Clone)]
pub enum CacheAction {
    Stats { json: bool },
    Prune { older_than: Duration },
    Clear,
}

impl CacheConfig {
    pub fn from_args(args: CacheArgs) -> Result<Self, String> {
        let action = match args.command {
            CacheCommand::Stats { json } => CacheAction::Stats { json },
            CacheCommand::Prune { older_than } => CacheAction::Prune {
                older_than: match older_than {
                    Some(text) => parse_age(&text).map_err(|e| format!("--older-than: {e}"))?,
                    None => DEFAULT_TTL,
                },
            },
            CacheCommand::Clear => CacheAction::Clear,
        };
        Ok(CacheConfig {
            file: args.file.unwrap_or_else(|| PathBuf::from(DEFAULT_FILE)),
            action,
        })
    }
}

/// `30d` (days), or any duration the daemon's settings take (`12h`, `90m`).
fn parse_age(text: &str) -> Result<Duration, String> {
    if let Some(days) = text.trim().strip_suffix('d') {
        if let Ok(days) = days.trim().parse::<u64>() {
            return Ok(Duration::from_secs(days.saturating_mul(24 * 3600)));
        }
    }
    crate::app::daemon::config::parse_duration(text)
}

pub fn run(config: &CacheConfig) -> Result<ExitStatus, Error> {
    let path = &config.file;
    match config.action {
        CacheAction::Stats { json } => {
            let stats = cache::file_stats(path, DEFAULT_WAIT)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&stats).map_err(|e| Error::Output(e.into()))?
                );
            } else {
                print!("{}", describe(&stats));
            }
        }
        CacheAction::Prune { older_than } => {
            let n = cache::prune_file(path, older_than, DEFAULT_WAIT)?;
            println!("{}: {n} entries removed", path.display());
        }
        CacheAction::Clear => {
            let n = cache::clear_file(path, DEFAULT_WAIT)?;
            println!("{}: {n} entries removed", path.display());
        }
    }
    Ok(ExitStatus::Clean)
}

fn describe(s: &FileStats) -> String {
    let when = |t: Option<u64>| match t {
        Some(secs) => crate::timefmt::rfc3339_secs(secs as i64),
        None => "-".into(),
    };
    format!(
        "File: {}\nSize: {} bytes\nEntries: {} ({} with digests, {} known not to be containers, {} containers with their members, {} damaged)\nOldest seen: {}\nNewest seen: {}\nLast pruned: {}\n",
        s.path.display(),
        s.bytes,
        s.entries,
        s.with_digests,
        s.not_containers,
        s.with_members,
        s.damaged,
        when(s.oldest_seen),
        when(s.newest_seen),
        when(s.pruned_at),
    )
}
