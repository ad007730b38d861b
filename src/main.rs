//! The `vigil` binary: parse the command line, start logging, run, and map
//! the result to an exit code.

use std::process::ExitCode;

use tracing_subscriber::EnvFilter;
use vigil::app::Error;
use vigil::error::ExitStatus;

fn main() -> ExitCode {
    let cli = vigil::cli::parse();
    // The daemon sets up its own logging, from its configuration.
    let is_daemon = matches!(cli.command, vigil::cli::Command::Daemon(_));
    if !is_daemon {
        tracing_subscriber::fmt()
            .with_env_filter(
                EnvFilter::try_from_env("VIGIL_LOG").unwrap_or_else(|_| EnvFilter::new("warn")),
            )
            .with_writer(std::io::stderr)
            .without_time()
            .with_target(false)
            .init();
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
