//! The daemon's configuration: a TOML file (`--config`), then the command
//! line on top of it, checked into a typed `DaemonConfig`. An unknown key or
//! a bad value is an error that names the key. The file is read again on
//! SIGHUP, with the same command line on top.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::cli::args::{ActionArg, DaemonArgs, LogFormatArg};
use crate::cli::values::{default_threads, globs, parse_size, ValueError};
use crate::control::ControlSettings;
use crate::engine::walk::{WalkOptions, Walker};
use crate::engine::{Pipeline, PipelineParts};
use crate::quarantine::Quarantine;
use crate::signature::LoadLimits;
use crate::source::guard::{self, GuardError, GuardSettings, OnTimeout};

/// The file, as written. Every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    watch: Option<Vec<PathBuf>>,
    exclude: Option<Vec<String>>,
    exclude_dir: Option<Vec<String>>,
    databases: Option<Vec<PathBuf>>,
    max_db_size: Option<SizeValue>,
    max_db_lines: Option<u64>,
    threads: Option<usize>,
    io_depth: Option<usize>,
    queue_capacity: Option<usize>,
    max_filesize: Option<SizeValue>,
    scan_archive: Option<bool>,
    max_recursion: Option<u32>,
    max_files: Option<u64>,
    max_scansize: Option<SizeValue>,
    alert_exceeds_max: Option<bool>,
    settle: Option<String>,
    follow_symlinks: Option<bool>,
    one_file_system: Option<bool>,
    initial_scan: Option<bool>,
    socket: Option<PathBuf>,
    socket_mode: Option<ModeValue>,
    socket_group: Option<GroupValue>,
    check_peer_access: Option<bool>,
    max_connections: Option<usize>,
    max_open_connections: Option<usize>,
    command_timeout: Option<String>,
    idle_timeout: Option<String>,
    read_timeout: Option<String>,
    stream_max_length: Option<SizeValue>,
    tcp_socket: Option<u16>,
    tcp_addr: Option<String>,
    tcp_allow_path_scans: Option<bool>,
    tcp_allow_control: Option<bool>,
    tcp_allow: Option<Vec<String>>,
    state_dir: Option<PathBuf>,
    cache: Option<bool>,
    log_format: Option<LogFormat>,
    log_level: Option<String>,
    poll_interval: Option<String>,
    self_check: Option<String>,
    action: Option<Action>,
    quarantine_dir: Option<PathBuf>,
    metrics_file: Option<PathBuf>,
    metrics_interval: Option<String>,
    guard: Option<Vec<PathBuf>>,
    guard_timeout: Option<String>,
    guard_on_timeout: Option<OnTimeoutValue>,
    guard_max_marks: Option<usize>,
    watch_backend: Option<WatchBackend>,
}

/// `guard_on_timeout = "allow"` or `"deny"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum OnTimeoutValue {
    Allow,
    Deny,
}

/// How the daemon learns that a watched file changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchBackend {
    /// One inotify watch per folder; works without privileges.
    #[default]
    Inotify,
    /// fanotify marks on whole filesystems (files closed after writing;
    /// entries created or moved in, where the kernel reports them): no watch
    /// per folder and no watch limit; needs CAP_SYS_ADMIN.
    Fanotify,
}

/// What the daemon does with a detected file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Report it (an event), and leave it in place.
    #[default]
    Report,
    /// Move it into `quarantine_dir`, then report it with the quarantine id.
    Quarantine,
}

/// `max_filesize = 1048576` or `max_filesize = "100M"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum SizeValue {
    Bytes(u64),
    Text(String),
}

/// `socket_mode = 0o660` or `socket_mode = "0660"`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ModeValue {
    Bits(u32),
    Text(String),
}

/// `socket_group = "vigil"` or `socket_group = 123`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum GroupValue {
    Id(u32),
    Name(String),
}

/// How logs on stderr are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Everything the daemon needs, checked.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// The file this came from, if any (read again on reload).
    pub file: Option<PathBuf>,
    /// Roots, absolute.
    pub watch: Vec<PathBuf>,
    /// Databases; empty means the built-in set.
    pub databases: Vec<PathBuf>,
    /// How far loading each database may go.
    pub load_limits: LoadLimits,
    pub threads: usize,
    /// Files read ahead of the scan workers at most; `None`: automatic.
    pub io_depth: Option<usize>,
    pub queue_capacity: usize,
    pub max_filesize: Option<u64>,
    /// How far containers are unpacked (`scan_archive`, `max_recursion`, ...).
    pub containers: crate::container::Limits,
    pub settle: Duration,
    pub walk: WalkOptions,
    pub exclude: Vec<String>,
    /// As written (`walk` adds the quarantine folder when it is used).
    pub exclude_dir: Vec<String>,
    pub initial_scan: bool,
    pub socket: Option<PathBuf>,
    /// The TCP listener's address (`tcp_addr`, `tcp_socket`, or `--tcp`).
    pub tcp: Option<SocketAddr>,
    /// How the control socket behaves (`socket_mode`, `socket_group`, ...).
    pub control: ControlSettings,
    pub state_dir: Option<PathBuf>,
    /// The verdict cache file, absolute: `state_dir/cache.redb` unless
    /// `cache = false` (or no `state_dir`). Never walked or watched.
    pub cache: Option<PathBuf>,
    pub log_format: LogFormat,
    /// A tracing filter; `None` means VIGIL_LOG, else `info`.
    pub log_level: Option<String>,
    pub poll_interval: Duration,
    /// How often to look for changed databases (clamd's `SelfCheck`);
    /// `None` (`self_check = "off"`) never does.
    pub self_check: Option<Duration>,
    pub action: Action,
    /// The quarantine folder, absolute (used with `action = "quarantine"`,
    /// and then never walked or watched).
    pub quarantine_dir: PathBuf,
    /// Where the metrics are written (Prometheus' text format), if anywhere.
    pub metrics_file: Option<PathBuf>,
    /// How often they are written.
    pub metrics_interval: Duration,
    /// Folders whose files are checked when opened (the guard), absolute.
    pub guard: Vec<PathBuf>,
    /// How long an open waits for its verdict.
    pub guard_timeout: Duration,
    /// What an open that waited `guard_timeout` is answered.
    pub guard_on_timeout: OnTimeout,
    /// Ignore marks added before all are dropped and rebuilt.
    pub guard_max_marks: usize,
    pub watch_backend: WatchBackend,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {}", path.display(), crate::error::io_reason(source))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {}", file.display(), message)]
    Syntax { file: PathBuf, message: String },
    #[error("{}{key}: {message}", origin(file))]
    Value {
        file: Option<PathBuf>,
        key: String,
        message: String,
    },
    #[error("nothing to watch or guard: give `watch` or `guard` in the configuration, or --watch DIR or --guard DIR")]
    NoRoots,
}

fn origin(file: &Option<PathBuf>) -> String {
    file.as_ref()
        .map(|f| format!("{}: ", f.display()))
        .unwrap_or_default()
}

impl DaemonConfig {
    /// The engine the daemon runs on, reading the reloadable parts from
    /// `live`. With `action = "quarantine"`, a vault that cannot be opened is
    /// fatal: better not to start than to leave detections where they are
    /// unnoticed.
    pub fn pipeline(&self, live: &super::Live) -> Result<Pipeline, crate::app::Error> {
        let quarantine = match self.action {
            Action::Quarantine => Some(Quarantine::open(&self.quarantine_dir)?),
            Action::Report => None,
        };
        Pipeline::new(PipelineParts {
            threads: self.threads,
            queue_capacity: Some(self.queue_capacity),
            io_depth: self.io_depth,
            walker: Walker::live(live.walk.clone()),
            inspector: live.inspector(),
            quarantine,
        })
        .map_err(crate::app::Error::Pool)
    }

    /// What the guard runs with: the folders resolved as the kernel names
    /// them. A folder that does not exist is an error.
    pub fn guard_settings(&self) -> Result<GuardSettings, GuardError> {
        Ok(GuardSettings {
            dirs: guard::resolve_dirs(&self.guard)?,
            timeout: self.guard_timeout,
            on_timeout: self.guard_on_timeout,
            max_marks: self.guard_max_marks,
        })
    }

    /// Reads `args.config` (if any) and applies `args` on top.
    pub fn load(args: &DaemonArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            None => FileConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                let file = parse_file(&text, path)?;
                return merge(file, args).map_err(|e| with_line(e, &text));
            }
        };
        merge(file, args)
    }

    /// Keys that changed but only take effect on restart: they size or bind
    /// what is made once at start: the pool and the queue (`threads`,
    /// `io_depth`, `queue_capacity`), the control socket, the log's format, the state
    /// folder, notify's watcher (`follow_symlinks`, `poll_interval`) and the
    /// quarantine vault (`action`, `quarantine_dir`, which the walk keeps
    /// excluding).
    pub fn needs_restart(&self, new: &DaemonConfig) -> Vec<&'static str> {
        let mut keys = Vec::new();
        let mut check = |changed: bool, key| {
            if changed {
                keys.push(key);
            }
        };
        check(self.threads != new.threads, "threads");
        check(self.io_depth != new.io_depth, "io_depth");
        check(self.queue_capacity != new.queue_capacity, "queue_capacity");
        check(
            self.walk.follow_symlinks != new.walk.follow_symlinks,
            "follow_symlinks",
        );
        check(self.socket != new.socket, "socket");
        check(self.tcp != new.tcp, "tcp_socket, tcp_addr");
        check(
            self.control != new.control,
            "socket_mode, socket_group, check_peer_access, ...",
        );
        check(
            self.containers != new.containers,
            "scan_archive, max_recursion, max_files, max_scansize, ...",
        );
        check(self.state_dir != new.state_dir, "state_dir");
        check(self.cache != new.cache, "cache");
        check(self.log_format != new.log_format, "log_format");
        check(self.poll_interval != new.poll_interval, "poll_interval");
        check(self.action != new.action, "action");
        check(self.quarantine_dir != new.quarantine_dir, "quarantine_dir");
        check(self.self_check != new.self_check, "self_check");
        check(
            (&self.metrics_file, self.metrics_interval)
                != (&new.metrics_file, new.metrics_interval),
            "metrics_file, metrics_interval",
        );
        check(self.guard.is_empty() != new.guard.is_empty(), "guard");
        check(self.watch_backend != new.watch_backend, "watch_backend");
        keys
    }

    /// What runs after a reload to `new`: its keys that apply on reload
    /// (`watch`, `initial_scan`, `databases`, `max_db_size`, `max_db_lines`, `settle`, `log_level`,
    /// `max_filesize`, `exclude`, `exclude_dir`, `one_file_system`, and the guard's keys while
    /// a guard runs), and this configuration's
    /// restart-only keys (see `needs_restart`). The walk's rules are built
    /// again from both, so that the running vault stays excluded.
    pub fn reloaded(&self, new: DaemonConfig) -> Result<DaemonConfig, ConfigError> {
        let bad = |key: &str, message: String| ConfigError::Value {
            file: new.file.clone(),
            key: key.to_string(),
            message,
        };
        let walk = walk_options(
            &new.exclude,
            &new.exclude_dir,
            self.walk.follow_symlinks,
            new.walk.one_file_system,
            self.vault(),
            self.cache.as_deref(),
            &bad,
        )?;
        Ok(DaemonConfig {
            watch: new.watch,
            initial_scan: new.initial_scan,
            databases: new.databases,
            load_limits: new.load_limits,
            max_filesize: new.max_filesize,
            settle: new.settle,
            walk,
            exclude: new.exclude,
            exclude_dir: new.exclude_dir,
            log_level: new.log_level,
            guard: if self.guard.is_empty() || new.guard.is_empty() {
                self.guard.clone()
            } else {
                new.guard
            },
            guard_timeout: new.guard_timeout,
            guard_on_timeout: new.guard_on_timeout,
            guard_max_marks: new.guard_max_marks,
            ..self.clone()
        })
    }

    /// The quarantine folder, if detected files are moved there.
    fn vault(&self) -> Option<&Path> {
        (self.action == Action::Quarantine).then_some(self.quarantine_dir.as_path())
    }
}

/// The walk's rules. With a `vault`, it is never walked: it may sit inside
/// a watched tree. Nor is the `cache` file, which changes as files are scanned.
fn walk_options(
    exclude: &[String],
    exclude_dir: &[String],
    follow_symlinks: bool,
    one_file_system: bool,
    vault: Option<&Path>,
    cache: Option<&Path>,
    bad: &dyn Fn(&str, String) -> ConfigError,
) -> Result<WalkOptions, ConfigError> {
    let mut exclude_dir = exclude_dir.to_vec();
    if let Some(vault) = vault {
        exclude_dir.push(globset::escape(&vault.to_string_lossy()));
    }
    let mut exclude = exclude.to_vec();
    if let Some(cache) = cache {
        exclude.push(globset::escape(&cache.to_string_lossy()));
    }
    let exclude = &exclude[..];
    let glob_err = |key: &str, e: ValueError| bad(key, e.to_string());
    Ok(WalkOptions {
        follow_symlinks,
        one_file_system,
        exclude: globs("exclude", exclude).map_err(|e| glob_err("exclude", e))?,
        exclude_dir: globs("exclude_dir", &exclude_dir).map_err(|e| glob_err("exclude_dir", e))?,
    })
}

fn parse_file(text: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    let de = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        // toml's message shows the line; name the key first when known.
        let message = inner.message().to_string();
        let place = inner
            .span()
            .map(|s| {
                let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                format!(" (line {line})")
            })
            .unwrap_or_default();
        if key == "." || key.is_empty() {
            ConfigError::Syntax {
                file: path.to_path_buf(),
                message: format!("{message}{place}"),
            }
        } else {
            ConfigError::Value {
                file: Some(path.to_path_buf()),
                key,
                message: format!("{message}{place}"),
            }
        }
    })
}

/// A bad value found after parsing names its key; add the line the key
/// is on, as parse errors have.
fn with_line(e: ConfigError, text: &str) -> ConfigError {
    match e {
        ConfigError::Value { file, key, message } if !message.contains("(line ") => {
            let message = match key_line(text, &key) {
                Some(line) => format!("{message} (line {line})"),
                None => message,
            };
            ConfigError::Value { file, key, message }
        }
        other => other,
    }
}

/// The line where a top-level `key = ...` is written.
fn key_line(text: &str, key: &str) -> Option<usize> {
    let name = key.split(['.', '[']).next().unwrap_or(key);
    text.lines()
        .position(|line| {
            line.trim_start()
                .strip_prefix(name)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

/// A list from the command line if given there, else from the file.
fn pick_list<T: Clone>(cli: &[T], file: Option<Vec<T>>) -> Vec<T> {
    if cli.is_empty() {
        file.unwrap_or_default()
    } else {
        cli.to_vec()
    }
}

fn merge(file: FileConfig, args: &DaemonArgs) -> Result<DaemonConfig, ConfigError> {
    let src = args.config.clone();
    let bad = |key: &str, message: String| ConfigError::Value {
        file: src.clone(),
        key: key.to_string(),
        message,
    };
    let control = control_settings(&file, &bad)?;
    let tcp = tcp_address(args, &file, &bad)?;
    let watch: Vec<PathBuf> = pick_list(&args.watch, file.watch);
    let mut guard = Vec::new();
    for dir in pick_list(&args.guard, file.guard) {
        let abs = std::path::absolute(&dir)
            .map_err(|e| bad("guard", format!("{}: {e}", dir.display())))?;
        if !guard.contains(&abs) {
            guard.push(abs);
        }
    }
    if watch.is_empty() && guard.is_empty() {
        return Err(ConfigError::NoRoots);
    }
    let guard_timeout = match &file.guard_timeout {
        Some(text) => parse_duration(text).map_err(|m| bad("guard_timeout", m))?,
        None => guard::DEFAULT_TIMEOUT,
    };
    if guard_timeout.is_zero() {
        return Err(bad("guard_timeout", "must be more than 0".into()));
    }
    let guard_on_timeout = match file.guard_on_timeout {
        Some(OnTimeoutValue::Deny) => OnTimeout::Deny,
        Some(OnTimeoutValue::Allow) | None => OnTimeout::Allow,
    };
    let guard_max_marks = match file.guard_max_marks {
        Some(0) => return Err(bad("guard_max_marks", "must be at least 1".into())),
        Some(n) => n,
        None => guard::DEFAULT_MAX_MARKS,
    };
    let mut roots = Vec::new();
    for w in watch {
        let abs =
            std::path::absolute(&w).map_err(|e| bad("watch", format!("{}: {e}", w.display())))?;
        if !roots.contains(&abs) {
            roots.push(abs);
        }
    }
    let threads = match args.engine.threads.or(file.threads) {
        Some(0) => return Err(bad("threads", "must be at least 1".into())),
        Some(n) => n,
        None => default_threads(),
    };
    let queue_capacity = match args.queue_capacity.or(file.queue_capacity) {
        Some(0) => return Err(bad("queue_capacity", "must be at least 1".into())),
        Some(n) => n,
        None => threads * crate::engine::QUEUE_PER_THREAD,
    };
    let size_text = match (&args.walk.max_filesize, &file.max_filesize) {
        (Some(text), _) | (None, Some(SizeValue::Text(text))) => Some(text.as_str()),
        _ => None,
    };
    let max_filesize = match (size_text, &file.max_filesize) {
        (Some(text), _) => Some(parse_size(text).map_err(|_| {
            bad(
                "max_filesize",
                format!("bad size {text:?} (expected e.g. 4096, 512K, 100M or 2G)"),
            )
        })?),
        (None, Some(SizeValue::Bytes(n))) => Some(*n),
        (None, _) => None,
    };
    let mut base = crate::container::Limits::default();
    base.enabled = file.scan_archive.unwrap_or(base.enabled);
    base.max_recursion = file.max_recursion.unwrap_or(base.max_recursion);
    base.max_files = file.max_files.unwrap_or(base.max_files);
    base.alert_exceeds_max = file.alert_exceeds_max.unwrap_or(false);
    match &file.max_scansize {
        Some(SizeValue::Bytes(n)) => base.max_scansize = *n,
        Some(SizeValue::Text(text)) => {
            base.max_scansize = parse_size(text).map_err(|_| {
                bad(
                    "max_scansize",
                    format!("bad size {text:?} (expected e.g. 400M or 1G)"),
                )
            })?;
        }
        None => {}
    }
    let containers = crate::app::container_limits(&args.containers, base)
        .map_err(|e| bad("max_scansize", e.to_string()))?;
    let mut file_limits = LoadLimits::default();
    match &file.max_db_size {
        Some(SizeValue::Bytes(n)) => file_limits.max_db_bytes = *n,
        Some(SizeValue::Text(text)) => {
            file_limits.max_db_bytes = parse_size(text).map_err(|_| {
                bad(
                    "max_db_size",
                    format!("bad size {text:?} (expected e.g. 500M or 2G)"),
                )
            })?
        }
        None => {}
    }
    if let Some(n) = file.max_db_lines {
        file_limits.max_db_lines = n;
    }
    let load_limits = crate::app::load_limits(&args.db_limits, file_limits)
        .map_err(|e| bad("max_db_size", e.to_string()))?;
    let self_check = match file.self_check.as_deref().map(str::trim) {
        Some("off") => None,
        Some(text) => {
            Some(parse_duration(text).map_err(|m| bad("self_check", m))?).filter(|d| !d.is_zero())
        }
        None => Some(DEFAULT_SELF_CHECK),
    };
    let settle = match args.settle.as_deref().or(file.settle.as_deref()) {
        Some(text) => parse_duration(text).map_err(|m| bad("settle", m))?,
        None => Duration::from_millis(250),
    };
    let poll_interval = match args
        .poll_interval
        .as_deref()
        .or(file.poll_interval.as_deref())
    {
        Some(text) => parse_duration(text).map_err(|m| bad("poll_interval", m))?,
        None => Duration::from_secs(60),
    };
    if poll_interval.is_zero() {
        return Err(bad("poll_interval", "must be more than 0".into()));
    }
    let metrics_interval = match file.metrics_interval.as_deref() {
        Some(text) => parse_duration(text).map_err(|m| bad("metrics_interval", m))?,
        None => Duration::from_secs(15),
    };
    if metrics_interval.is_zero() {
        return Err(bad("metrics_interval", "must be more than 0".into()));
    }
    let exclude = pick_list(&args.walk.exclude, file.exclude);
    let exclude_dir = pick_list(&args.walk.exclude_dir, file.exclude_dir);
    let action = match args.action {
        Some(ActionArg::Quarantine) => Action::Quarantine,
        Some(ActionArg::Report) => Action::Report,
        None => file.action.unwrap_or_default(),
    };
    let state_dir = args.state_dir.clone().or(file.state_dir);
    let quarantine_dir = match args.quarantine_dir.clone().or(file.quarantine_dir) {
        Some(dir) => dir,
        None => match &state_dir {
            Some(state) => state.join("quarantine"),
            None => PathBuf::from(crate::quarantine::DEFAULT_DIR),
        },
    };
    let quarantine_dir = std::path::absolute(&quarantine_dir).map_err(|e| {
        bad(
            "quarantine_dir",
            format!("{}: {e}", quarantine_dir.display()),
        )
    })?;
    let cache = match (&state_dir, file.cache) {
        (Some(state), None | Some(true)) => {
            let path = state.join(crate::cache::FILE_NAME);
            Some(
                std::path::absolute(&path)
                    .map_err(|e| bad("state_dir", format!("{}: {e}", path.display())))?,
            )
        }
        _ => None,
    };
    let walk = walk_options(
        &exclude,
        &exclude_dir,
        args.walk.follow_symlinks || file.follow_symlinks.unwrap_or(false),
        args.walk.one_file_system || file.one_file_system.unwrap_or(false),
        (action == Action::Quarantine).then_some(quarantine_dir.as_path()),
        cache.as_deref(),
        &bad,
    )?;
    let initial_scan = if args.no_initial_scan {
        false
    } else if args.initial_scan {
        true
    } else {
        file.initial_scan.unwrap_or(true)
    };
    let log_format = match args.log_format {
        Some(LogFormatArg::Json) => LogFormat::Json,
        Some(LogFormatArg::Text) => LogFormat::Text,
        None => file.log_format.unwrap_or_default(),
    };
    let log_level = args.log_level.clone().or(file.log_level);
    if let Some(level) = &log_level {
        crate::cli::values::check_log_filter(level).map_err(|e| bad("log_level", e))?;
    }
    Ok(DaemonConfig {
        file: args.config.clone(),
        watch: roots,
        databases: pick_list(&args.engine.databases, file.databases),
        load_limits,
        threads,
        io_depth: args.engine.io_depth.or(file.io_depth),
        queue_capacity,
        max_filesize,
        containers,
        settle,
        walk,
        exclude,
        exclude_dir,
        initial_scan,
        socket: args.socket.clone().or(file.socket),
        tcp,
        control,
        state_dir,
        cache,
        log_format,
        log_level,
        poll_interval,
        self_check,
        action,
        quarantine_dir,
        metrics_file: file.metrics_file,
        metrics_interval,
        guard,
        guard_timeout,
        guard_on_timeout,
        guard_max_marks,
        watch_backend: file.watch_backend.unwrap_or_default(),
    })
}

/// The control socket's keys, with their defaults.
fn control_settings(
    file: &FileConfig,
    bad: &dyn Fn(&str, String) -> ConfigError,
) -> Result<ControlSettings, ConfigError> {
    let mut c = ControlSettings::default();
    match &file.socket_mode {
        Some(ModeValue::Bits(bits)) if *bits <= 0o7777 => c.mode = *bits,
        Some(ModeValue::Text(text)) => {
            c.mode = u32::from_str_radix(text.trim_start_matches("0o"), 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .ok_or_else(|| {
                    bad(
                        "socket_mode",
                        format!("bad mode {text:?} (expected e.g. \"0660\")"),
                    )
                })?;
        }
        Some(ModeValue::Bits(bits)) => {
            return Err(bad("socket_mode", format!("bad mode {bits:o}")));
        }
        None => {}
    }
    c.group = match &file.socket_group {
        Some(GroupValue::Id(gid)) => Some(*gid),
        Some(GroupValue::Name(name)) => Some(
            crate::control::resolve_group(name)
                .ok_or_else(|| bad("socket_group", format!("no group {name:?}")))?,
        ),
        None => None,
    };
    if let Some(check) = file.check_peer_access {
        c.check_peer_access = check;
    }
    match file.max_connections {
        Some(0) => return Err(bad("max_connections", "must be at least 1".into())),
        Some(n) => c.max_connections = n,
        None => {}
    }
    match file.max_open_connections {
        Some(n) if n < c.max_connections => {
            let why = format!("must be at least max_connections ({})", c.max_connections);
            return Err(bad("max_open_connections", why));
        }
        Some(n) => c.max_open_connections = n,
        None => {}
    }
    for (key, text, field) in [
        (
            "command_timeout",
            &file.command_timeout,
            &mut c.command_timeout,
        ),
        ("idle_timeout", &file.idle_timeout, &mut c.idle_timeout),
        ("read_timeout", &file.read_timeout, &mut c.read_timeout),
    ] {
        if let Some(text) = text {
            *field = parse_duration(text).map_err(|m| bad(key, m))?;
            if field.is_zero() {
                return Err(bad(key, "must be more than 0".into()));
            }
        }
    }
    match &file.stream_max_length {
        Some(SizeValue::Bytes(n)) => c.stream_max_length = *n,
        Some(SizeValue::Text(text)) => {
            c.stream_max_length = parse_size(text).map_err(|_| {
                bad(
                    "stream_max_length",
                    format!("bad size {text:?} (expected e.g. 4096, 512K, 100M or 2G)"),
                )
            })?;
        }
        None => {}
    }
    c.tcp_allow_path_scans = file.tcp_allow_path_scans.unwrap_or(false);
    c.tcp_allow_control = file.tcp_allow_control.unwrap_or(false);
    for text in file.tcp_allow.iter().flatten() {
        let network = text
            .parse()
            .map_err(|e: crate::control::network::BadNetwork| bad("tcp_allow", e.to_string()))?;
        c.tcp_allow.push(network);
    }
    Ok(c)
}

/// The TCP listener: `--tcp ADDR:PORT`, else `tcp_socket` (a port) on
/// `tcp_addr` (default 127.0.0.1, as clamd's `TCPAddr` should be set).
fn tcp_address(
    args: &DaemonArgs,
    file: &FileConfig,
    bad: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Option<SocketAddr>, ConfigError> {
    if let Some(addr) = args.tcp {
        return Ok(Some(addr));
    }
    let addr = match &file.tcp_addr {
        Some(text) => text
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .map_err(|_| {
                bad(
                    "tcp_addr",
                    format!("bad address {text:?} (expected e.g. \"127.0.0.1\" or \"::1\")"),
                )
            })?,
        None => IpAddr::from([127, 0, 0, 1]),
    };
    match file.tcp_socket {
        Some(0) => Err(bad("tcp_socket", "must be a port from 1 to 65535".into())),
        Some(port) => Ok(Some(SocketAddr::new(addr, port))),
        None if file.tcp_addr.is_some() => {
            Err(bad("tcp_addr", "needs tcp_socket (the port)".into()))
        }
        None => Ok(None),
    }
}

/// Parses "250ms", "2s", "1.5s", "1m", "1h 30m" with jiff's friendly
/// duration format; negative durations are refused.
/// How often the daemon looks for changed databases unless told otherwise.
pub const DEFAULT_SELF_CHECK: Duration = Duration::from_secs(10);

pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("bad duration {text:?} (expected e.g. 250ms, 2s or 1m)");
    let span: jiff::SignedDuration = text.trim().parse().map_err(|_| bad())?;
    Duration::try_from(span).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from_toml(text: &str) -> Result<DaemonConfig, ConfigError> {
        let path = Path::new("vigil.toml");
        let file = parse_file(text, path)?;
        merge(
            file,
            &DaemonArgs {
                config: Some(path.into()),
                ..Default::default()
            },
        )
        .map_err(|e| with_line(e, text))
    }

    #[test]
    fn bad_values_name_their_line() {
        for (text, key, line) in [
            (
                "watch = [\"/a\"]\nmax_filesize = \"lots\"\n",
                "max_filesize",
                2,
            ),
            ("watch = [\"/a\"]\n\n  settle = \"5\"\n", "settle", 3),
            (
                "watch = [\"/a\"]\nsocket_mode = \"999\"\n",
                "socket_mode",
                2,
            ),
            (
                "command_timeout = \"forever\"\nwatch = [\"/a\"]\n",
                "command_timeout",
                1,
            ),
            (
                "watch = [\"/a\"]\nmetrics_interval = \"0s\"\n",
                "metrics_interval",
                2,
            ),
            (
                "watch = [\"/a\"]\nlog_level = \"warning\"\n",
                "log_level",
                2,
            ),
        ] {
            let e = from_toml(text).unwrap_err().to_string();
            assert!(e.starts_with(&format!("vigil.toml: {key}: ")), "{e}");
            assert!(e.ends_with(&format!("(line {line})")), "{e}");
        }
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let text = include_str!("../../../systemd/vigil.toml");
        let c = from_toml(text).unwrap();
        assert!(!c.watch.is_empty());
        assert!(c.initial_scan);
    }

    #[test]
    fn the_cache_lives_in_state_dir_unless_turned_off() {
        let on = from_toml("watch = [\"/a\"]\nstate_dir = \"/var/lib/vigil\"\n").unwrap();
        assert_eq!(on.cache, Some(PathBuf::from("/var/lib/vigil/cache.redb")));
        let a_file = Path::new("/var/lib/vigil/cache.redb");
        assert!(on.walk.exclude.as_ref().is_some_and(|g| g.is_match(a_file)));
        let off = from_toml("watch = [\"/a\"]\nstate_dir = \"/s\"\ncache = false\n").unwrap();
        assert_eq!(off.cache, None);
        let nowhere = from_toml("watch = [\"/a\"]\n").unwrap();
        assert_eq!(nowhere.cache, None);
        let changed = on.needs_restart(&off);
        assert!(changed.contains(&"cache"), "{changed:?}");
    }

    #[test]
    fn every_key_is_read() {
        let c = from_toml(
            r#"
            watch = ["/srv", "/srv"]
            exclude = ["*.tmp"]
            exclude_dir = ["cache"]
            databases = ["/var/lib/vigil/db"]
            threads = 3
            queue_capacity = 7
            max_filesize = "10M"
            settle = "1.5s"
            follow_symlinks = true
            one_file_system = true
            initial_scan = false
            socket = "/run/vigil/vigil.sock"
            socket_mode = "0600"
            socket_group = 0
            check_peer_access = false
            max_connections = 5
            max_open_connections = 50
            command_timeout = "3s"
            idle_timeout = "5s"
            read_timeout = "4s"
            stream_max_length = "1M"
            state_dir = "/var/lib/vigil"
            log_format = "json"
            log_level = "debug"
            poll_interval = "2m"
            "#,
        )
        .unwrap();
        assert_eq!(c.watch, vec![PathBuf::from("/srv")]);
        assert_eq!((c.threads, c.queue_capacity), (3, 7));
        assert_eq!(c.max_filesize, Some(10 << 20));
        assert_eq!(c.settle, Duration::from_millis(1500));
        assert!(c.walk.follow_symlinks && c.walk.one_file_system && !c.initial_scan);
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.poll_interval, Duration::from_secs(120));
        let k = &c.control;
        assert_eq!(
            (k.mode, k.group, k.check_peer_access),
            (0o600, Some(0), false)
        );
        assert_eq!(k.max_connections, 5);
        assert_eq!(k.max_open_connections, 50);
        assert_eq!(k.command_timeout, Duration::from_secs(3));
        assert_eq!(k.idle_timeout, Duration::from_secs(5));
        assert_eq!(k.read_timeout, Duration::from_secs(4));
        assert_eq!(k.stream_max_length, 1 << 20);
        let d = from_toml("watch = [\"/a\"]\nsocket_mode = 0o640\n").unwrap();
        assert_eq!(d.control.mode, 0o640);
        assert_eq!(
            d.control,
            ControlSettings {
                mode: 0o640,
                ..Default::default()
            }
        );
    }

    #[test]
    fn tcp_keys() {
        let c = from_toml("watch = [\"/a\"]\n").unwrap();
        assert_eq!(c.tcp, None);
        assert!(!c.control.tcp_allow_path_scans && !c.control.tcp_allow_control);
        let c = from_toml("watch = [\"/a\"]\ntcp_socket = 3310\n").unwrap();
        assert_eq!(c.tcp, Some("127.0.0.1:3310".parse().unwrap()));
        let c = from_toml(
            "watch = [\"/a\"]\ntcp_socket = 3310\ntcp_addr = \"::1\"\ntcp_allow_path_scans = true\n\
             tcp_allow_control = true\ntcp_allow = [\"10.0.0.0/8\", \"::1\"]\n",
        )
        .unwrap();
        assert_eq!(c.tcp, Some("[::1]:3310".parse().unwrap()));
        assert!(c.control.tcp_allow_path_scans && c.control.tcp_allow_control);
        assert_eq!(
            c.control.tcp_allow,
            vec!["10.0.0.0/8".parse().unwrap(), "::1".parse().unwrap()]
        );
        let c = from_toml("watch = [\"/a\"]\ntcp_socket = 1\ntcp_addr = \"[::]\"\n").unwrap();
        assert_eq!(c.tcp, Some("[::]:1".parse().unwrap()));
        let err = |t: &str| {
            from_toml(&format!("watch = [\"/a\"]\n{t}"))
                .unwrap_err()
                .to_string()
        };
        assert!(err("tcp_socket = 0\n").starts_with("vigil.toml: tcp_socket: "));
        assert!(err("tcp_socket = 70000\n").contains("tcp_socket"));
        assert!(
            err("tcp_addr = \"127.0.0.1\"\n").starts_with("vigil.toml: tcp_addr: needs tcp_socket")
        );
        assert!(
            err("tcp_socket = 1\ntcp_addr = \"localhost\"\n").starts_with("vigil.toml: tcp_addr: ")
        );
        assert!(err("tcp_allow = [\"10.0.0.0/33\"]\n")
            .starts_with("vigil.toml: tcp_allow: bad network"));
        // --tcp replaces the file's address.
        let file =
            parse_file("watch = [\"/a\"]\ntcp_socket = 3310\n", Path::new("v.toml")).unwrap();
        let args = DaemonArgs {
            tcp: Some("[::1]:9".parse().unwrap()),
            ..Default::default()
        };
        assert_eq!(
            merge(file, &args).unwrap().tcp,
            Some("[::1]:9".parse().unwrap())
        );
    }

    #[test]
    fn errors_name_the_key() {
        let err = |t: &str| from_toml(t).unwrap_err().to_string();
        let e = err("watch = [\"/a\"]\nthreds = 2\n");
        assert!(e.contains("threds") && e.contains("line 2"), "{e}");
        let e = err("watch = [\"/a\"]\nthreads = \"two\"\n");
        assert!(e.starts_with("vigil.toml: threads: "), "{e}");
        let e = err("watch = [\"/a\"]\nsettle = \"soon\"\n");
        assert!(e.starts_with("vigil.toml: settle: bad duration"), "{e}");
        let e = err("watch = [\"/a\"]\nlog_format = \"xml\"\n");
        assert!(e.starts_with("vigil.toml: log_format: "), "{e}");
        let e = err("watch = [\"/a\"]\nmax_filesize = \"big\"\n");
        assert!(e.starts_with("vigil.toml: max_filesize: "), "{e}");
        let e = err("watch = [\"/a\"]\nthreads = 0\n");
        assert!(e.starts_with("vigil.toml: threads: "), "{e}");
        let e = err("watch = [\"/a\"]\nexclude = [\"a[\"]\n");
        assert!(e.starts_with("vigil.toml: exclude: "), "{e}");
        let e = err("watch = [\"/a\"]\nsocket_mode = \"rw\"\n");
        assert!(e.starts_with("vigil.toml: socket_mode: "), "{e}");
        let e = err("watch = [\"/a\"]\nsocket_group = \"no-such-group-here\"\n");
        assert!(e.starts_with("vigil.toml: socket_group: "), "{e}");
        let e = err("watch = [\"/a\"]\nmax_connections = 0\n");
        assert!(e.starts_with("vigil.toml: max_connections: "), "{e}");
        let e = err("watch = [\"/a\"]\nmax_connections = 8\nmax_open_connections = 4\n");
        assert!(e.starts_with("vigil.toml: max_open_connections: "), "{e}");
        let e = err("watch = \"/a\"\n");
        assert!(e.starts_with("vigil.toml: watch: "), "{e}");
        assert!(matches!(
            from_toml("threads = 2"),
            Err(ConfigError::NoRoots)
        ));
    }

    #[test]
    fn the_command_line_overrides_the_file() {
        let file = parse_file(
            "watch = [\"/a\"]\nthreads = 2\ninitial_scan = false\n",
            Path::new("f"),
        )
        .unwrap();
        let c = merge(
            file,
            &DaemonArgs {
                watch: vec!["/b".into()],
                engine: crate::cli::args::EngineArgs {
                    threads: Some(5),
                    ..Default::default()
                },
                initial_scan: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(c.watch, vec![PathBuf::from("/b")]);
        assert_eq!(c.threads, 5);
        assert!(c.initial_scan);
    }

    #[test]
    fn a_reload_takes_the_reloadable_keys_and_keeps_the_rest() {
        let running = from_toml(
            "watch = [\"/a\"]\nthreads = 2\naction = \"quarantine\"\nquarantine_dir = \"/q\"\n",
        )
        .unwrap();
        let new = from_toml(
            "watch = [\"/b\"]\nthreads = 3\nquarantine_dir = \"/r\"\nexclude = [\"*.tmp\"]\n\
             exclude_dir = [\"cache\"]\nmax_filesize = 10\none_file_system = true\n\
             follow_symlinks = true\nsettle = \"1s\"\n",
        )
        .unwrap();
        assert_eq!(
            running.needs_restart(&new),
            [
                "threads",
                "queue_capacity", // threads × 16
                "follow_symlinks",
                "action",
                "quarantine_dir"
            ]
        );
        let c = running.reloaded(new).unwrap();
        assert_eq!(
            (c.max_filesize, c.settle),
            (Some(10), Duration::from_secs(1))
        );
        assert_eq!(
            (c.exclude, c.exclude_dir),
            (vec!["*.tmp".to_string()], vec!["cache".to_string()])
        );
        assert!(c.walk.one_file_system && !c.walk.follow_symlinks);
        assert_eq!(
            (c.watch, c.threads, c.action),
            (vec![PathBuf::from("/b")], 2, Action::Quarantine)
        );
        // The running vault stays out of the walk.
        let skip_dir = c.walk.exclude_dir.unwrap();
        assert!(skip_dir.is_match("/q") && skip_dir.is_match("cache") && !skip_dir.is_match("/r"));
        assert!(c.walk.exclude.unwrap().is_match("x.tmp"));
        assert!(running.needs_restart(&running.clone()).is_empty());
    }

    #[test]
    fn guard_keys() {
        let c = from_toml("guard = [\"/g\", \"/g\"]\n").unwrap();
        assert!(c.watch.is_empty(), "a guard needs no watch");
        assert_eq!(c.guard, vec![PathBuf::from("/g")]);
        assert_eq!(c.guard_timeout, Duration::from_secs(5));
        assert_eq!(c.guard_on_timeout, OnTimeout::Allow);
        assert_eq!(c.watch_backend, WatchBackend::Inotify);
        let c = from_toml(
            "guard = [\"/g\"]\nguard_timeout = \"750ms\"\nguard_on_timeout = \"deny\"\n\
             guard_max_marks = 10\nwatch_backend = \"fanotify\"\n",
        )
        .unwrap();
        assert_eq!(c.guard_timeout, Duration::from_millis(750));
        assert_eq!(c.guard_on_timeout, OnTimeout::Deny);
        assert_eq!(c.guard_max_marks, 10);
        assert_eq!(c.watch_backend, WatchBackend::Fanotify);
        let err = |t: &str| from_toml(t).unwrap_err().to_string();
        assert!(err("guard = [\"/g\"]\nguard_timeout = \"0s\"\n").contains("guard_timeout"));
        assert!(
            err("guard = [\"/g\"]\nguard_on_timeout = \"maybe\"\n").contains("guard_on_timeout")
        );
        assert!(err("guard = [\"/g\"]\nguard_max_marks = 0\n").contains("guard_max_marks"));
        assert!(err("guard = [\"/g\"]\nwatch_backend = \"poll\"\n").contains("watch_backend"));
        // The guard's keys reload; turning the guard on or off needs a restart.
        let running = from_toml("guard = [\"/g\"]\n").unwrap();
        let new = from_toml("guard = [\"/h\"]\nguard_timeout = \"1s\"\n").unwrap();
        assert!(running.needs_restart(&new).is_empty());
        let c = running.reloaded(new).unwrap();
        assert_eq!(c.guard, vec![PathBuf::from("/h")]);
        assert_eq!(c.guard_timeout, Duration::from_secs(1));
        let watching = from_toml("watch = [\"/w\"]\n").unwrap();
        let guarding = from_toml("watch = [\"/w\"]\nguard = [\"/g\"]\n").unwrap();
        assert_eq!(watching.needs_restart(&guarding), ["guard"]);
        assert!(watching.reloaded(guarding).unwrap().guard.is_empty());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("0.5s").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        for bad in ["", "5", "ms", "1x", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
