//! Raw command-line arguments, as clap parses them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    Bench(super::bench::BenchArgs),
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Signature database file or folder; repeat for more. Without it, the
    /// built-in set (the EICAR test file) is used.
    #[arg(short = 'd', long = "database", value_name = "DB")]
    pub databases: Vec<PathBuf>,

    /// Number of scan workers [default: the number of available cores].
    #[arg(short = 'j', long, value_name = "N")]
    pub threads: Option<usize>,

    /// Print only infected files (no `PATH: OK` lines).
    #[arg(short = 'i', long)]
    pub infected: bool,

    /// Do not print the summary at the end.
    #[arg(long)]
    pub no_summary: bool,

    /// Print JSON lines (detections, errors, summary) instead of text.
    #[arg(long)]
    pub json: bool,

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

    /// Also scan the paths listed in FILE, one per line.
    #[arg(short = 'f', long, value_name = "FILE")]
    pub file_list: Option<PathBuf>,

    /// Print only error messages (no detections, OK lines, summary or progress);
    /// the exit code still tells the result.
    #[arg(long)]
    pub quiet: bool,

    /// Accepted for clamscan compatibility: vigil always scans folders recursively.
    #[arg(short = 'r', long, hide = true)]
    pub recursive: bool,

    /// Files and folders to scan; `-` reads standard input [default: the current folder].
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
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
