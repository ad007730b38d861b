//! Raw command-line arguments, as clap parses them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::hash::Algorithm;

/// vigil finds known files fast: it hashes files in parallel on every core and
/// matches them against hash signatures (vigil .vsig, ClamAV .hdb/.hsb/.fp...).
#[derive(Debug, Parser)]
#[command(name = "vigil", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan files and folders (recursively) against hash signatures.
    ///
    /// Output and exit codes follow clamscan: `PATH: NAME FOUND` for a
    /// detection, `PATH: OK` for a clean file, errors on stderr as
    /// `PATH: REASON ERROR`, then a summary. Exit 0: nothing found; 1: something
    /// found; 2: errors and nothing found.
    Scan(ScanArgs),
    /// Measure scan throughput at 1, 2, 4, ... workers beside the machine's
    /// limits (reading without hashing; hashing on one core).
    ///
    /// Runs the real scan pipeline over a generated (or given) corpus, with a
    /// signature that makes every byte be hashed, and prints files/s, MiB/s,
    /// speedup and parallel efficiency as median [min-max] over the repeats.
    Bench(BenchArgs),
    /// List, show, restore, delete and repair quarantined files (`scan --move`).
    ///
    /// Exit 0 on success; 2 on an error, or when `repair` left something for a
    /// person to look at.
    Quarantine(QuarantineArgs),
    /// Watch folders and scan what changes, as a service (in the foreground).
    ///
    /// Settings come from `--config FILE` (TOML; see `systemd/vigil.toml`),
    /// overridden by the options given here. Detections and errors are
    /// written to stdout as JSON lines; logs go to stderr. SIGHUP reloads the
    /// signatures and the configuration, SIGUSR1 logs statistics, SIGTERM or
    /// SIGINT stops (a second one stops at once).
    Daemon(DaemonArgs),
    /// Check, count, write and compile signature databases.
    Sigs(SigsArgs),
    /// Show, prune or clear a verdict cache (`scan --cache`, the daemon's
    /// `state_dir/cache.redb`).
    ///
    /// Exit 0 on success, 2 when the cache cannot be opened (missing, or
    /// held by a running scan or daemon).
    Cache(CacheArgs),
    /// Talk to a running `vigil daemon` through its control socket.
    ///
    /// The daemon speaks clamd's protocol there (`socket` in its
    /// configuration). `scan` prints as `vigil scan` does and exits alike:
    /// 0 nothing found, 1 something found, 2 errors and nothing found. Any
    /// other command exits 0 on success and 2 when the daemon cannot be reached.
    Ctl(CtlArgs),
    /// Write the man pages or the shell completions (bash, zsh, fish) into
    /// DIR, generated from these definitions (for packagers).
    #[command(hide = true)]
    Generate {
        /// What to write.
        #[arg(value_enum)]
        what: GenerateWhat,
        /// The folder to write into (made if missing).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

/// `vigil generate`: what to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GenerateWhat {
    /// `vigil.1` and one page per subcommand.
    Man,
    /// `vigil.bash`, `_vigil` (zsh) and `vigil.fish`.
    Completions,
}

#[derive(Debug, Args)]
pub struct CtlArgs {
    /// The daemon's control socket [default: /run/vigil/vigil.sock].
    #[arg(long, value_name = "PATH", global = true, conflicts_with = "tcp")]
    pub socket: Option<PathBuf>,

    /// Reach the daemon on TCP instead (its `tcp_socket`), e.g.
    /// 127.0.0.1:3310 or [::1]:3310.
    #[arg(long, value_name = "ADDR:PORT", global = true, value_parser = crate::cli::values::parse_socket_addr)]
    pub tcp: Option<std::net::SocketAddr>,

    #[command(subcommand)]
    pub command: CtlCommand,
}

#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Check that the daemon answers (prints PONG).
    Ping,
    /// Print the daemon's version, signature count and when they were loaded.
    Version,
    /// Print the daemon's statistics.
    Stats {
        /// Print them in Prometheus' text format instead (the metrics the
        /// daemon writes to `metrics_file`).
        #[arg(long)]
        prometheus: bool,
    },
    /// Reload signatures and configuration, as SIGHUP does.
    Reload,
    /// Stop the daemon, as SIGTERM does.
    Shutdown,
    /// Scan files and folders with the daemon's engine.
    ///
    /// The daemon reads the paths itself, unless --stream or --fdpass is given:
    /// then this command reads each file and sends its content (INSTREAM) or
    /// its open descriptor (FILDES), for files the daemon may not read.
    Scan {
        /// Send each file's content over the socket.
        #[arg(long, conflicts_with = "fdpass")]
        stream: bool,
        /// Pass each file's open descriptor to the daemon.
        #[arg(long)]
        fdpass: bool,
        /// Do not print the summary at the end.
        #[arg(long)]
        no_summary: bool,
        /// Files and folders to scan.
        #[arg(value_name = "PATH", required = true)]
        paths: Vec<PathBuf>,
    },
}

#[derive(Debug, Args, Clone, Default)]
pub struct DaemonArgs {
    /// Configuration file (TOML).
    #[arg(short = 'c', long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Limits on loading each database. Replace `max_db_size` and `max_db_lines`.
    #[command(flatten)]
    pub db_limits: DbLimitArgs,

    /// Folder to watch (recursively); repeat for more. Replaces `watch` in the file.
    #[arg(short = 'w', long, value_name = "DIR")]
    pub watch: Vec<PathBuf>,

    /// Folder to guard: opening or running a detected file under it fails
    /// (EPERM); repeat for more. Needs CAP_SYS_ADMIN. Replaces `guard` in the file.
    #[arg(long, value_name = "DIR")]
    pub guard: Vec<PathBuf>,

    #[command(flatten)]
    pub engine: EngineArgs,

    #[command(flatten)]
    pub walk: WalkArgs,

    #[command(flatten)]
    pub containers: ContainerArgs,

    /// Control socket (clamd protocol, `vigil ctl`); replaces `socket` in the file.
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// Also serve the control protocol on TCP (e.g. 127.0.0.1:3310 or
    /// [::1]:3310); replaces `tcp_addr` and `tcp_socket` in the file.
    #[arg(long, value_name = "ADDR:PORT", value_parser = crate::cli::values::parse_socket_addr)]
    pub tcp: Option<std::net::SocketAddr>,

    /// Scan requests that may wait in the queue [default: 16 per worker].
    #[arg(long, value_name = "N")]
    pub queue_capacity: Option<usize>,

    /// Quiet time after a file's last change before it is scanned (e.g. 250ms, 2s).
    #[arg(long, value_name = "TIME")]
    pub settle: Option<String>,

    /// Walk the watched folders at start (the default).
    #[arg(long, overrides_with = "no_initial_scan")]
    pub initial_scan: bool,

    /// Do not walk the watched folders at start.
    #[arg(long, overrides_with = "initial_scan")]
    pub no_initial_scan: bool,

    /// Folder for state: the verdict cache (created by systemd's StateDirectory).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Log format on stderr.
    #[arg(long, value_name = "FORMAT", value_enum)]
    pub log_format: Option<LogFormatArg>,

    /// Log level or filter (error, warn, info, debug, trace, or a tracing filter).
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// How often a folder that could not be watched (watch limit) is walked (e.g. 60s).
    #[arg(long, value_name = "TIME")]
    pub poll_interval: Option<String>,

    /// What to do with a detected file: report it, or move it into the
    /// quarantine folder and report that. Replaces `action`.
    #[arg(long, value_name = "ACTION", value_enum)]
    pub action: Option<ActionArg>,

    /// The quarantine folder [default: STATE_DIR/quarantine, else
    /// /var/lib/vigil/quarantine]. Replaces `quarantine_dir`.
    #[arg(long, value_name = "DIR")]
    pub quarantine_dir: Option<PathBuf>,
}

/// How far loading one signature database may go.
#[derive(Debug, Default, Clone, Args)]
pub struct DbLimitArgs {
    /// Refuse a signature database that unpacks to more than SIZE (bytes, or
    /// with a K, M, G or T suffix; a container counts its whole archive) [default: 2G].
    #[arg(long, value_name = "SIZE")]
    pub max_db_size: Option<String>,

    /// Refuse a signature database of more than N lines [default: 20000000].
    #[arg(long, value_name = "N")]
    pub max_db_lines: Option<u64>,
}

#[derive(Debug, Args)]
pub struct SigsArgs {
    #[command(subcommand)]
    pub command: SigsCommand,
}

#[derive(Debug, Subcommand)]
pub enum SigsCommand {
    /// Load databases and report every fault as FILE:LINE: REASON (exit 1 if any).
    ///
    /// A compiled index is also checked record by record.
    Check {
        /// Database files or folders.
        #[arg(value_name = "DB", required = true)]
        databases: Vec<PathBuf>,
        #[command(flatten)]
        limits: DbLimitArgs,
    },
    /// Count the signatures of databases: per algorithm, sized and any-size,
    /// distinct names, and the memory the loaded set takes.
    Stats {
        /// Database files or folders.
        #[arg(value_name = "DB", required = true)]
        databases: Vec<PathBuf>,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        limits: DbLimitArgs,
    },
    /// Print signature lines (`ALGO:HEX:SIZE:NAME`) for sample files, like `sigtool --sha256`.
    Add {
        /// Algorithm to hash with; repeat for more [default: sha256].
        #[arg(long = "algo", value_name = "ALGO")]
        algos: Vec<String>,
        /// Signature name [default: the file's name].
        #[arg(long)]
        name: Option<String>,
        /// Print ClamAV `.hdb`/`.hsb` lines (`HEX:SIZE:NAME`; md5, sha1, sha256 only).
        #[arg(long)]
        clamav: bool,
        /// Sample files.
        #[arg(value_name = "FILE", required = true)]
        files: Vec<PathBuf>,
    },
    /// Turn a plain list of hashes (one per line, `#` comments) into `.vsig` lines.
    Import {
        /// Algorithm of the hashes [default: by length: 32 md5, 40 sha1, 64 sha256].
        #[arg(long, value_name = "ALGO")]
        algo: Option<String>,
        /// Name given to every signature (feeds repeat names; one name costs one entry).
        #[arg(long, value_name = "NAME")]
        name: String,
        /// Name each signature NAME.LINE (its line in the list) instead: one name per
        /// signature, 8 bytes each in memory (a stem and the line number).
        #[arg(long)]
        numbered: bool,
        /// Write to FILE (atomically, only if the whole list is valid) instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// The list; `-` reads standard input.
        #[arg(value_name = "LIST")]
        list: PathBuf,
    },
    /// What an update changes: signatures added and removed between two sets.
    ///
    /// Prints the counts; with `--list`, every entry added (`+`) or removed
    /// (`-`) first, as `.vsig` lines (allow-list entries marked `allow`).
    /// Exits 0 if the sets hold the same entries, 1 if they differ.
    Diff {
        /// The old set: a database file or folder (a compiled index too).
        #[arg(value_name = "OLD")]
        old: PathBuf,
        /// The new set.
        #[arg(value_name = "NEW")]
        new: PathBuf,
        /// List every entry added or removed.
        #[arg(long)]
        list: bool,
        #[command(flatten)]
        limits: DbLimitArgs,
    },
    /// Compile databases into one binary index that `-d` maps in place.
    Compile {
        /// The index to write (by convention `.vidx`); replaced atomically.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Database files or folders.
        #[arg(value_name = "DB", required = true)]
        databases: Vec<PathBuf>,
        #[command(flatten)]
        limits: DbLimitArgs,
    },
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub engine: EngineArgs,

    #[command(flatten)]
    pub walk: WalkArgs,

    #[command(flatten)]
    pub containers: ContainerArgs,

    #[command(flatten)]
    pub db_limits: DbLimitArgs,

    /// Print only infected files (no `PATH: OK` lines).
    #[arg(short = 'i', long)]
    pub infected: bool,

    /// Do not print the summary at the end.
    #[arg(long)]
    pub no_summary: bool,

    /// Print JSON lines (detections, errors, summary) instead of text.
    #[arg(long)]
    pub json: bool,

    /// Also scan the paths listed in FILE, one per line.
    #[arg(short = 'f', long, value_name = "FILE")]
    pub file_list: Option<PathBuf>,

    /// Print only error messages (no detections, OK lines, summary or progress);
    /// the exit code still tells the result.
    #[arg(long)]
    pub quiet: bool,

    /// Move each detected file into the quarantine folder DIR (made, mode
    /// 0700, if missing), with a record to restore it from.
    #[arg(long = "move", value_name = "DIR")]
    pub move_to: Option<PathBuf>,

    /// Remember each file's digests in FILE (made if missing), and match
    /// files unchanged since (same device, inode, size, mtime and ctime)
    /// from it without reading them. See docs/cache.md.
    #[arg(long, value_name = "FILE")]
    pub cache: Option<PathBuf>,

    /// When done, write the scan's counters to FILE in Prometheus' text
    /// format (atomically; for node_exporter's textfile collector).
    #[arg(long, value_name = "FILE")]
    pub metrics_file: Option<PathBuf>,

    /// Accepted for clamscan compatibility: vigil always scans folders recursively.
    #[arg(short = 'r', long, hide = true)]
    pub recursive: bool,

    /// Files and folders to scan; `-` reads standard input [default: the current folder].
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CacheArgs {
    /// The cache file [default: /var/lib/vigil/cache.redb].
    #[arg(long, value_name = "FILE", global = true)]
    pub file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: CacheCommand,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Print the cache's size, entries, and how old they are.
    Stats {
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Remove the entries of files not seen for a while (and damaged ones).
    Prune {
        /// How long an entry may go unseen, e.g. 30d, 12h [default: 30d].
        #[arg(long, value_name = "DURATION")]
        older_than: Option<String>,
    },
    /// Remove every entry: the next scan reads every file again.
    Clear,
}

#[derive(Debug, Args)]
pub struct QuarantineArgs {
    /// The quarantine folder [default: /var/lib/vigil/quarantine].
    #[arg(long, value_name = "DIR", global = true)]
    pub dir: Option<PathBuf>,

    #[command(subcommand)]
    pub command: QuarantineCommand,
}

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// List the entries, and anything an interrupted move, restore or delete left.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Show one entry's record.
    Show {
        id: String,
        /// As one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Put a file back with its content, mode, owner and times, and drop the entry.
    Restore {
        id: String,
        /// Restore to PATH instead of where the file came from.
        #[arg(long, value_name = "PATH")]
        to: Option<PathBuf>,
        /// Replace a file that is already there.
        #[arg(long)]
        force: bool,
        /// Give the file back its set-user-ID and set-group-ID bits (dropped
        /// by default).
        #[arg(long)]
        keep_setuid: bool,
    },
    /// Delete an entry for good.
    Delete { id: String },
    /// Finish or undo what an interrupted move, restore or delete left behind.
    Repair,
}

/// The signature set and the workers, shared by `scan` and `daemon`.
#[derive(Debug, Args, Clone, Default)]
pub struct EngineArgs {
    /// Signature database file or folder; repeat for more. Without any, the
    /// built-in set (the EICAR test file) is used. In the daemon, replaces
    /// `databases` in the file.
    #[arg(short = 'd', long = "database", value_name = "DB")]
    pub databases: Vec<PathBuf>,

    /// Number of scan workers [default: the number of available cores].
    #[arg(short = 'j', long, value_name = "N")]
    pub threads: Option<usize>,

    /// Files opened and read ahead of the scan workers at most, so that a
    /// cold disk has many reads in flight (files found in memory are not
    /// read ahead); 0 reads each file only when a worker gets to it
    /// [default: automatic, 512 or a quarter of the open files allowed].
    #[arg(long, value_name = "N")]
    pub io_depth: Option<usize>,
}

/// How far containers (archives, compressed files, mail) are unpacked,
/// shared by `scan` and `daemon` (where each replaces the file's key of the
/// same name, with `_` for `-`). clamscan's names and defaults.
#[derive(Debug, Args, Clone, Default)]
pub struct ContainerArgs {
    /// Look inside archives, compressed files and mail (yes or no) [default: yes].
    #[arg(long, value_name = "yes|no", value_parser = clap::builder::BoolishValueParser::new())]
    pub scan_archive: Option<bool>,

    /// Containers nested deeper than N are not opened [default: 17].
    #[arg(long, value_name = "N")]
    pub max_recursion: Option<u32>,

    /// Read at most N members from one container [default: 10000].
    #[arg(long, value_name = "N")]
    pub max_files: Option<u64>,

    /// Unpack at most SIZE bytes per scanned file, all members and depths
    /// together [default: 400M].
    #[arg(long, value_name = "SIZE")]
    pub max_scansize: Option<String>,

    /// Report a file cut short by a container limit as
    /// Heuristics.Limits.Exceeded.<Limit> (a detection).
    #[arg(long)]
    pub alert_exceeds_max: bool,
}

/// What the walk enters and what it skips, shared by `scan` and `daemon`
/// (where each replaces the file's key of the same name).
#[derive(Debug, Args, Clone, Default)]
pub struct WalkArgs {
    /// Skip files whose name or path matches GLOB; repeat for more.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,

    /// Do not enter folders whose name or path matches GLOB; repeat for more.
    #[arg(long, value_name = "GLOB")]
    pub exclude_dir: Vec<String>,

    /// Skip files larger than SIZE (bytes, or with a K, M, G or T suffix, powers of 1024).
    #[arg(long, value_name = "SIZE")]
    pub max_filesize: Option<String>,

    /// Follow symbolic links inside folders (loops are detected and reported).
    #[arg(long)]
    pub follow_symlinks: bool,

    /// Do not descend into folders on other file systems.
    #[arg(short = 'x', long)]
    pub one_file_system: bool,
}

/// `daemon --log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

/// `daemon --action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ActionArg {
    Report,
    Quarantine,
}

/// `bench --algo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AlgoArg {
    Blake3,
    Sha256,
    Sha1,
    Md5,
}

impl From<AlgoArg> for Algorithm {
    fn from(a: AlgoArg) -> Self {
        match a {
            AlgoArg::Blake3 => Algorithm::Blake3,
            AlgoArg::Sha256 => Algorithm::Sha256,
            AlgoArg::Sha1 => Algorithm::Sha1,
            AlgoArg::Md5 => Algorithm::Md5,
        }
    }
}

/// Most workers `bench --threads` accepts: beyond this it is surely a typo.
pub const MAX_THREADS: usize = 1024;

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Benchmark this folder (it is only read).
    #[arg(long, value_name = "DIR", conflicts_with = "generate")]
    pub corpus: Option<PathBuf>,

    /// Generate a corpus of SIZE bytes (K, M, G suffixes), optionally of FILES
    /// files, in a temporary folder: many small files, some large, seeded so
    /// that the same arguments give the same tree [default: 500M].
    #[arg(long, value_name = "SIZE[:FILES]")]
    pub generate: Option<String>,

    /// Seed of the generated corpus.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,

    /// Keep the generated corpus (its path is printed) instead of removing it.
    #[arg(long)]
    pub keep: bool,

    /// Worker counts to measure, comma-separated, e.g. 1,2,4,8 [default: 1, 2,
    /// 4, ... up to the number of cores, and the number of cores]. One worker
    /// is always measured: it is the baseline for speedup.
    #[arg(short = 'j', long, value_name = "LIST")]
    pub threads: Option<String>,

    /// Hash algorithm of the built-in bench signature (one signature of any
    /// size that matches nothing, so every byte is hashed).
    #[arg(
        long,
        value_name = "ALGO",
        value_enum,
        default_value_t = AlgoArg::Blake3,
        conflicts_with = "databases"
    )]
    pub algo: AlgoArg,

    /// Scan with these signature databases instead of the bench signature
    /// (files whose size no signature has are then not read at all).
    #[arg(short = 'd', long = "database", value_name = "DB")]
    pub databases: Vec<PathBuf>,

    /// Timed runs per worker count; the table gives their median, min and max.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub repeat: usize,

    /// Write the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Write one CSV row per worker count to FILE.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,

    /// Draw throughput against workers, with the ideal line and the limits, as SVG.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,

    /// Empty the page cache before every timed run (`sync`, then 3 into
    /// /proc/sys/vm/drop_caches), for cold-cache figures: what a first scan
    /// from the disk reaches, beside the read-only limit measured cold too
    /// (needs root).
    #[arg(long = "cold", visible_alias = "drop-caches")]
    pub drop_caches: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn clap_definition_is_valid() {
        Cli::command().debug_assert();
    }
}
