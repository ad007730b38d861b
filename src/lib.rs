//! vigil: a parallel file scanner that hashes files and matches them against
//! known-file signatures. One engine — sources, a bounded queue, a
//! work-stealing pool and sinks — serves `vigil scan`, `vigil daemon` and the
//! daemon's control socket (`vigil ctl`, clamd clients).
//! See `DESIGN.md` in the shared folder for the architecture.

pub mod access;
pub mod bench;
pub mod cli;
pub mod control;
pub mod daemon;
pub mod engine;
pub mod error;
pub mod fileio;
pub mod hash;
pub mod inspect;
pub mod pool;
pub mod progress;
pub mod quarantine;
pub mod queue;
pub mod report;
pub mod scan;
pub mod signature;
pub mod sigs;
pub mod source;
pub mod stats;
pub mod timefmt;
pub mod walk;

use cli::{BenchConfig, Cli, Command, CtlConfig, QuarantineConfig, ScanConfig, SigsConfig};
use error::{Error, ExitStatus};

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
        Command::Ctl(args) => control::client::run(&CtlConfig::from_args(args)),
        Command::Bench(args) => {
            let config = BenchConfig::from_args(args).map_err(|e| Error::Usage(e.to_string()))?;
            bench::run(&config)
        }
    }
}
