//! The command line: clap's raw arguments (`args`) become validated, typed
//! configurations (`config`). Nothing here touches files, threads or sockets.

pub mod args;
pub mod bench;
pub mod config;

pub use args::{Cli, Command, DaemonArgs, SigsArgs, SigsCommand};
pub use bench::BenchConfig;
pub use config::{ConfigError, CtlConfig, QuarantineConfig, ScanConfig, SigsConfig};

use clap::Parser;

/// Parses the process's arguments (exits with a usage message on error).
pub fn parse() -> Cli {
    Cli::parse()
}
