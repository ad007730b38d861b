//! Test hooks. They are compiled into every build so that the tests drive the
//! real binary, and do nothing unless their environment variable is set:
//!
//! - `VIGIL_FAULT_AT=STEP` makes the process `abort()` right after the named
//!   step of a move, restore or delete (the steps are listed below), as a
//!   crash there would. The crash-safety tests kill every step this way.
//! - `VIGIL_TEST_PAUSE_BEFORE_MOVE=FIFO` makes each move wait, after the file
//!   was hashed and before its path is looked at again, until the FIFO has
//!   been opened for writing and closed, so a test can swap the file in between.
//!
//! Neither is meant for anything but tests.

use std::io::Read;
use std::sync::OnceLock;

/// Names a step at which to abort.
pub const FAULT_ENV: &str = "VIGIL_FAULT_AT";
/// Names a FIFO to wait on before each move.
pub const PAUSE_ENV: &str = "VIGIL_TEST_PAUSE_BEFORE_MOVE";

/// Steps of a move on one file system, in order.
pub const RENAME_STEPS: &[&str] = &[
    "tmp-dir",   // .tmp-ID/ made
    "record",    // .tmp-ID/meta.json written and synced
    "renamed",   // the file renamed to .tmp-ID/data
    "sealed",    // data made 0400; both folders synced
    "published", // .tmp-ID renamed to ID, vault synced
];

/// Steps of a move across file systems, in order.
pub const COPY_STEPS: &[&str] = &[
    "tmp-dir",       // .tmp-ID/ made
    "record",        // .tmp-ID/meta.json written and synced
    "copy-partial",  // the first block of .tmp-ID/data.part written
    "copy-synced",   // data.part complete, 0400 and synced
    "copy-complete", // data.part renamed to data
    "marked",        // .tmp-ID/unlink-pending made; folder synced
    "published",     // .tmp-ID renamed to ID, vault synced
    "unlinked",      // the original removed and its folder synced
];

/// Steps of a restore, in order (`restore-attrs` on one file system,
/// `restore-partial` across file systems).
pub const RESTORE_STEPS: &[&str] = &[
    "restore-begin",   // ID renamed to .restore-ID
    "restore-noted",   // .restore-ID/target written
    "restore-attrs",   // the content given back its owner, mode and times
    "restore-partial", // the first block of the copy in the target folder written
    "restore-placed",  // the file is at its target; folder synced
];

/// Steps of a delete.
pub const DELETE_STEPS: &[&str] = &["delete-begin"]; // ID renamed to .delete-ID

/// Aborts the process if `VIGIL_FAULT_AT` names `step`.
pub(crate) fn fault(step: &str) {
    static AT: OnceLock<Option<String>> = OnceLock::new();
    let at = AT.get_or_init(|| std::env::var(FAULT_ENV).ok());
    if at.as_deref() == Some(step) {
        eprintln!("vigil: {FAULT_ENV}={step}: aborting here (test hook)");
        std::process::abort();
    }
}

/// Waits on the FIFO named by `VIGIL_TEST_PAUSE_BEFORE_MOVE`, if set: opening
/// it for reading blocks until a writer opens it, and reading returns once
/// that writer closes it.
pub(crate) fn pause_before_move() {
    let Some(fifo) = std::env::var_os(PAUSE_ENV) else {
        return;
    };
    match std::fs::File::open(&fifo) {
        Ok(mut f) => {
            let mut sink = Vec::new();
            let _ = f.read_to_end(&mut sink);
        }
        Err(e) => tracing::warn!(fifo = ?fifo, error = %e, "cannot open the pause FIFO"),
    }
}
