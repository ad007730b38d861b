//! Validated configuration built from the raw arguments.

use std::path::PathBuf;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use super::args::ScanArgs;
use crate::walk::WalkOptions;

/// Everything `vigil scan` needs, checked.
#[derive(Debug, Clone)]
pub struct ScanConfig {
    /// Databases named with `-d`; empty means the built-in set.
    pub databases: Vec<PathBuf>,
    pub threads: usize,
    pub show_clean: bool,
    pub show_summary: bool,
    pub json: bool,
    pub quiet: bool,
    pub walk: WalkOptions,
    pub max_filesize: Option<u64>,
    pub file_list: Option<PathBuf>,
    pub paths: Vec<PathBuf>,
    /// Read what would be hashed, hash nothing: `vigil bench`'s read-only
    /// limit (see `Inspector::read_only`). `vigil scan` never sets it.
    pub read_only: bool,
}

/// A bad option value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("--threads must be at least 1")]
    ZeroThreads,
    #[error("bad glob {glob:?} for {option}: {source}")]
    Glob {
        option: &'static str,
        glob: String,
        #[source]
        source: globset::Error,
    },
    #[error("bad size {0:?} for --max-filesize (expected e.g. 4096, 512K, 100M or 2G)")]
    Size(String),
}

/// The number of cores this process may use (honours cgroup quotas and affinity).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

impl ScanConfig {
    pub fn from_args(args: ScanArgs) -> Result<Self, ConfigError> {
        let threads = match args.threads {
            Some(0) => return Err(ConfigError::ZeroThreads),
            Some(n) => n,
            None => default_threads(),
        };
        let max_filesize = args.max_filesize.as_deref().map(parse_size).transpose()?;
        let mut paths = args.paths;
        if paths.is_empty() && args.file_list.is_none() {
            paths.push(PathBuf::from("."));
        }
        Ok(ScanConfig {
            databases: args.databases,
            threads,
            show_clean: !args.infected && !args.quiet,
            show_summary: !args.no_summary && !args.quiet,
            json: args.json,
            quiet: args.quiet,
            walk: WalkOptions {
                follow_symlinks: args.follow_symlinks,
                one_file_system: args.one_file_system,
                exclude: globs("--exclude", &args.exclude)?,
                exclude_dir: globs("--exclude-dir", &args.exclude_dir)?,
            },
            max_filesize,
            file_list: args.file_list,
            paths,
            read_only: false,
        })
    }
}

/// Builds a glob set; `*` does not cross `/`, so `*.log` means a file name
/// and `**/cache` any folder named cache.
fn globs(option: &'static str, patterns: &[String]) -> Result<Option<GlobSet>, ConfigError> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for p in patterns {
        let glob = GlobBuilder::new(p)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|source| ConfigError::Glob {
                option,
                glob: p.clone(),
                source,
            })?;
        builder.add(glob);
    }
    builder.build().map(Some).map_err(|source| ConfigError::Glob {
        option,
        glob: patterns.join(", "),
        source,
    })
}

/// Parses "4096", "512K", "100M", "2G", "1T" (optionally with "B" or "iB"),
/// case-insensitively, in powers of 1024.
pub fn parse_size(text: &str) -> Result<u64, ConfigError> {
    let bad = || ConfigError::Size(text.to_string());
    let t = text.trim();
    let upper = t.to_ascii_uppercase();
    let t = upper
        .strip_suffix("IB")
        .or_else(|| upper.strip_suffix('B'))
        .unwrap_or(&upper);
    let (digits, shift) = match t.as_bytes().last() {
        Some(b'K') => (&t[..t.len() - 1], 10),
        Some(b'M') => (&t[..t.len() - 1], 20),
        Some(b'G') => (&t[..t.len() - 1], 30),
        Some(b'T') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    n.checked_mul(1u64 << shift).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("100M").unwrap(), 100 << 20);
        assert_eq!(parse_size("2g").unwrap(), 2 << 30);
        assert_eq!(parse_size("512KiB").unwrap(), 512 << 10);
        assert_eq!(parse_size("7B").unwrap(), 7);
        for bad in ["", "M", "-1", "1.5M", "10X", "99999999999999T"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn glob_star_stays_within_a_component() {
        let set = globs("--exclude", &["*.log".into()]).unwrap().unwrap();
        assert!(set.is_match("a.log"));
        assert!(!set.is_match("dir/a.log"));
        assert!(globs("--exclude", &["a[".into()]).is_err());
    }
}
