//! vigil: a parallel file scanner that hashes files and matches them against
//! known-file signatures. One engine — sources, a bounded queue, a
//! work-stealing pool and sinks — serves `vigil scan` and the later front ends.
//! See `DESIGN.md` in the shared folder for the architecture.

pub mod bench;
pub mod cli;
pub mod engine;
pub mod error;
pub mod fileio;
pub mod hash;
pub mod inspect;
pub mod pool;
pub mod progress;
pub mod queue;
pub mod report;
pub mod scan;
pub mod signature;
pub mod source;
pub mod stats;
pub mod walk;

use cli::{BenchConfig, Cli, Command, ScanConfig};
use error::{Error, ExitStatus};

/// Runs one command line.
pub fn run(cli: Cli) -> Result<ExitStatus, Error> {
    match cli.command {
        Command::Scan(args) => {
            let config = ScanConfig::from_args(args).map_err(|e| Error::Usage(e.to_string()))?;
            scan::run(&config)
        }
        Command::Bench(args) => {
            let config = BenchConfig::from_args(args).map_err(|e| Error::Usage(e.to_string()))?;
            bench::run(&config)
        }
    }
}
