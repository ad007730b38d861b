//! The commands: each turns its command-line arguments into a validated
//! configuration and runs the library with it. This is the only layer that
//! sees `cli`.

pub mod bench;
pub mod ctl;
pub mod daemon;
pub mod quarantine;
pub mod scan;
pub mod sigs;

use crate::cli::{BenchConfig, Cli, Command, CtlConfig, QuarantineConfig, ScanConfig, SigsConfig};
use crate::error::{Error, ExitStatus};

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
        Command::Ctl(args) => ctl::run(&CtlConfig::from_args(args)),
        Command::Bench(args) => {
            let config = BenchConfig::from_args(args).map_err(|e| Error::Usage(e.to_string()))?;
            bench::run(&config)
        }
    }
}
