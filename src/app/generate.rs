//! `vigil generate man|completions DIR`: the man pages and the shell
//! completions, written from the clap definitions so that they never drift
//! from `--help`. The package ships the copies kept in `packaging/`; a test
//! writes them again and compares.

use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::app::Error;
use crate::cli::args::GenerateWhat;
use crate::cli::Cli;
use crate::error::ExitStatus;

/// Writes what `what` names into `dir`.
pub fn run(what: GenerateWhat, dir: &Path) -> Result<ExitStatus, Error> {
    let fail = |source| Error::Generate {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    match what {
        GenerateWhat::Man => clap_mangen::generate_to(Cli::command(), dir).map_err(fail)?,
        GenerateWhat::Completions => {
            for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
                clap_complete::generate_to(shell, &mut Cli::command(), "vigil", dir)
                    .map_err(fail)?;
            }
        }
    }
    Ok(ExitStatus::Clean)
}
