//! Exit codes and the short form of an I/O error: the two things every layer
//! needs. This module imports nothing from the crate, so that depending on it
//! never means depending on a command. Nothing here prints.

use std::io;
use std::process::ExitCode;

/// How a scan ended, as the process exit code (ClamAV's convention).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// Nothing found, no errors.
    Clean = 0,
    /// Something found (wins over errors).
    Found = 1,
    /// Errors, and nothing found.
    Error = 2,
}

impl ExitStatus {
    /// The status for a finished scan.
    pub fn from_counts(detections: u64, errors: u64) -> Self {
        if detections > 0 {
            Self::Found
        } else if errors > 0 {
            Self::Error
        } else {
            Self::Clean
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> Self {
        ExitCode::from(s as u8)
    }
}

/// An `io::Error` as a short reason, without Rust's "(os error N)" suffix:
/// "Permission denied", "No such file or directory".
pub fn io_reason(e: &io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_wins_over_errors() {
        assert_eq!(ExitStatus::from_counts(0, 0), ExitStatus::Clean);
        assert_eq!(ExitStatus::from_counts(0, 3), ExitStatus::Error);
        assert_eq!(ExitStatus::from_counts(1, 3), ExitStatus::Found);
    }

    #[test]
    fn io_reason_drops_os_error_suffix() {
        let e = io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(io_reason(&e), "Permission denied");
    }
}
