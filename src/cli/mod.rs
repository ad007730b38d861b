//! The command line as clap parses it (`args`) and the parsers of its option
//! values (`values`). The commands in `app` turn these into validated
//! configurations. Nothing here touches files, threads or sockets.

pub mod args;
pub mod values;

pub use args::{Cli, Command, DaemonArgs};

use clap::Parser;

/// Parses the process's arguments (exits with a usage message on error).
pub fn parse() -> Cli {
    Cli::parse()
}
