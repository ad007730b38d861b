//! The `vigil` binary: parse the command line, start logging, run, and map
//! the result to an exit code.

use std::process::ExitCode;

use vigil::app::Error;
use vigil::error::ExitStatus;

fn main() -> ExitCode {
    let cli = vigil::cli::parse();
    // The daemon sets up its own logging, from its configuration.
    let is_daemon = matches!(cli.command, vigil::cli::Command::Daemon(_));
    if !is_daemon {
        vigil::app::console_log::init();
    }
    match vigil::run(cli) {
        Ok(status) => status.into(),
        Err(Error::Signatures(load)) => {
            eprintln!("vigil: cannot load signatures; nothing was scanned:");
            for e in &load.0 {
                eprintln!("  {e}");
            }
            ExitStatus::Error.into()
        }
        Err(e) => {
            eprintln!("vigil: {e}");
            ExitStatus::Error.into()
        }
    }
}
