//! Validated configuration built from the raw arguments.

use std::path::PathBuf;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use super::args::{
    CtlArgs, CtlCommand, DbLimitArgs, QuarantineArgs, QuarantineCommand, ScanArgs, SigsArgs,
    SigsCommand,
};
use crate::hash::Algorithm;
use crate::quarantine::{EntryId, QuarantineError, RestoreOptions, DEFAULT_DIR};
use crate::signature::LoadLimits;
use crate::walk::WalkOptions;

/// Everything `vigil scan` needs, checked.
#[derive(Debug, Clone)]
pub struct ScanConfig {
    /// Databases named with `-d`; empty means the built-in set.
    pub databases: Vec<PathBuf>,
    /// How far loading each database may go.
    pub load_limits: LoadLimits,
    pub threads: usize,
    pub show_clean: bool,
    pub show_summary: bool,
    pub json: bool,
    pub quiet: bool,
    pub walk: WalkOptions,
    pub max_filesize: Option<u64>,
    pub file_list: Option<PathBuf>,
    /// Quarantine folder for detected files (`--move`).
    pub move_to: Option<PathBuf>,
    pub paths: Vec<PathBuf>,
    /// Read what would be hashed, hash nothing: `vigil bench`'s read-only
    /// limit (see `Inspector::read_only`). `vigil scan` never sets it.
    pub read_only: bool,
}

/// A `vigil quarantine` command, checked.
#[derive(Debug, Clone)]
pub struct QuarantineConfig {
    /// The vault.
    pub dir: PathBuf,
    pub action: QuarantineAction,
}

#[derive(Debug, Clone)]
pub enum QuarantineAction {
    List {
        json: bool,
    },
    Show {
        id: EntryId,
        json: bool,
    },
    Restore {
        id: EntryId,
        options: RestoreOptions,
    },
    Delete {
        id: EntryId,
    },
    Repair,
}

impl QuarantineConfig {
    pub fn from_args(args: QuarantineArgs) -> Result<Self, ConfigError> {
        let action = match args.command {
            QuarantineCommand::List { json } => QuarantineAction::List { json },
            QuarantineCommand::Show { id, json } => QuarantineAction::Show {
                id: EntryId::parse(&id)?,
                json,
            },
            QuarantineCommand::Restore { id, to, force } => QuarantineAction::Restore {
                id: EntryId::parse(&id)?,
                options: RestoreOptions { to, force },
            },
            QuarantineCommand::Delete { id } => QuarantineAction::Delete {
                id: EntryId::parse(&id)?,
            },
            QuarantineCommand::Repair => QuarantineAction::Repair,
        };
        Ok(QuarantineConfig {
            dir: args.dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DIR)),
            action,
        })
    }
}

/// A `vigil ctl` command, checked.
#[derive(Debug, Clone)]
pub struct CtlConfig {
    pub socket: PathBuf,
    pub action: CtlAction,
}

#[derive(Debug, Clone)]
pub enum CtlAction {
    Ping,
    Version,
    Stats,
    Reload,
    Shutdown,
    Scan {
        mode: CtlScanMode,
        paths: Vec<PathBuf>,
        show_summary: bool,
    },
}

/// How `vigil ctl scan` gets a file to the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtlScanMode {
    /// The daemon reads the path (MULTISCAN).
    Path,
    /// The content is sent (INSTREAM).
    Stream,
    /// The open descriptor is passed (FILDES).
    Fdpass,
}

impl CtlConfig {
    pub fn from_args(args: CtlArgs) -> Self {
        let action = match args.command {
            CtlCommand::Ping => CtlAction::Ping,
            CtlCommand::Version => CtlAction::Version,
            CtlCommand::Stats => CtlAction::Stats,
            CtlCommand::Reload => CtlAction::Reload,
            CtlCommand::Shutdown => CtlAction::Shutdown,
            CtlCommand::Scan {
                stream,
                fdpass,
                no_summary,
                paths,
            } => CtlAction::Scan {
                mode: if stream {
                    CtlScanMode::Stream
                } else if fdpass {
                    CtlScanMode::Fdpass
                } else {
                    CtlScanMode::Path
                },
                paths,
                show_summary: !no_summary,
            },
        };
        CtlConfig {
            socket: args
                .socket
                .unwrap_or_else(|| PathBuf::from(crate::control::DEFAULT_SOCKET)),
            action,
        }
    }
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
    #[error(transparent)]
    Quarantine(#[from] QuarantineError),
    #[error("unknown algorithm {0:?} (expected blake3, sha256, sha1 or md5)")]
    Algorithm(String),
    #[error(
        "ClamAV hash databases have no {0} signatures; drop --clamav or pick md5, sha1 or sha256"
    )]
    ClamavAlgorithm(Algorithm),
    #[error("bad signature name {0:?}: {1}")]
    Name(String, &'static str),
}

/// What `vigil sigs` is asked to do, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigsConfig {
    Check {
        databases: Vec<PathBuf>,
        limits: LoadLimits,
    },
    Stats {
        databases: Vec<PathBuf>,
        json: bool,
        limits: LoadLimits,
    },
    Add {
        /// At least one, in the order given, without repeats.
        algos: Vec<Algorithm>,
        name: Option<String>,
        clamav: bool,
        files: Vec<PathBuf>,
    },
    Import {
        /// `None`: by hex length, as in ClamAV databases.
        algo: Option<Algorithm>,
        name: String,
        /// Append `.LINE` to the name.
        numbered: bool,
        output: Option<PathBuf>,
        list: PathBuf,
    },
    Compile {
        output: PathBuf,
        databases: Vec<PathBuf>,
        limits: LoadLimits,
    },
}

/// The load limits the flags ask for, on top of `base` (the defaults, or a
/// configuration file's).
pub fn load_limits(args: &DbLimitArgs, base: LoadLimits) -> Result<LoadLimits, ConfigError> {
    Ok(LoadLimits {
        max_db_bytes: match &args.max_db_size {
            Some(text) => parse_size(text)?,
            None => base.max_db_bytes,
        },
        max_db_lines: args.max_db_lines.unwrap_or(base.max_db_lines),
        ..base
    })
}

fn algorithm(name: &str) -> Result<Algorithm, ConfigError> {
    Algorithm::from_name(name.trim()).ok_or_else(|| ConfigError::Algorithm(name.to_string()))
}

/// A name must survive a round trip through a database line: not empty,
/// no control characters, no surrounding blanks, and no `:` in ClamAV lines.
pub fn check_name(name: &str, clamav: bool) -> Result<(), ConfigError> {
    let bad = |why| Err(ConfigError::Name(name.to_string(), why));
    if name.trim().is_empty() {
        return bad("it is empty");
    }
    if name.trim() != name {
        return bad("it starts or ends with a blank");
    }
    if name.chars().any(char::is_control) {
        return bad("it contains a control character");
    }
    if clamav && name.contains(':') {
        return bad("ClamAV lines cannot hold ':' in a name");
    }
    Ok(())
}

impl SigsConfig {
    pub fn from_args(args: SigsArgs) -> Result<Self, ConfigError> {
        Ok(match args.command {
            SigsCommand::Check { databases, limits } => SigsConfig::Check {
                databases,
                limits: load_limits(&limits, LoadLimits::default())?,
            },
            SigsCommand::Stats {
                databases,
                json,
                limits,
            } => SigsConfig::Stats {
                databases,
                json,
                limits: load_limits(&limits, LoadLimits::default())?,
            },
            SigsCommand::Add {
                algos,
                name,
                clamav,
                files,
            } => {
                let mut picked = Vec::new();
                for a in &algos {
                    let a = algorithm(a)?;
                    if clamav && a == Algorithm::Blake3 {
                        return Err(ConfigError::ClamavAlgorithm(a));
                    }
                    if !picked.contains(&a) {
                        picked.push(a);
                    }
                }
                if picked.is_empty() {
                    picked.push(Algorithm::Sha256);
                }
                if let Some(n) = &name {
                    check_name(n, clamav)?;
                }
                SigsConfig::Add {
                    algos: picked,
                    name,
                    clamav,
                    files,
                }
            }
            SigsCommand::Import {
                algo,
                name,
                numbered,
                output,
                list,
            } => {
                check_name(&name, false)?;
                SigsConfig::Import {
                    algo: algo.as_deref().map(algorithm).transpose()?,
                    name,
                    numbered,
                    output,
                    list,
                }
            }
            SigsCommand::Compile {
                output,
                databases,
                limits,
            } => SigsConfig::Compile {
                output,
                databases,
                limits: load_limits(&limits, LoadLimits::default())?,
            },
        })
    }
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
            load_limits: load_limits(&args.db_limits, LoadLimits::default())?,
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
            move_to: args.move_to,
            paths,
            read_only: false,
        })
    }
}

/// Builds a glob set; `*` does not cross `/`, so `*.log` means a file name
/// and `**/cache` any folder named cache.
pub(crate) fn globs(
    option: &'static str,
    patterns: &[String],
) -> Result<Option<GlobSet>, ConfigError> {
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
    builder
        .build()
        .map(Some)
        .map_err(|source| ConfigError::Glob {
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
