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
    /// Check, count, write and compile signature databases.
    Sigs(SigsArgs),
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
        /// signature, which costs memory for every one.
        #[arg(long)]
        numbered: bool,
        /// Write to FILE (atomically, only if the whole list is valid) instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// The list; `-` reads standard input.
        #[arg(value_name = "LIST")]
        list: PathBuf,
    },
    /// Compile databases into one binary index that `-d` maps in place.
    Compile {
        /// The index to write (by convention `.vidx`); replaced atomically.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Database files or folders.
        #[arg(value_name = "DB", required = true)]
        databases: Vec<PathBuf>,
    },
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
