//! How the daemon's workers are kept honest: the two kinds of error, and the
//! rule for panics.
//!
//! A `Runtime` error is logged and the daemon goes on (a reload that failed,
//! a thread that was slow to stop). A `Critical` error ends the process with
//! a non-zero status, so that systemd restarts it: a daemon that scans but
//! no longer obeys SHUTDOWN, RELOAD or SIGTERM must never be left running.
//!
//! The panic rule, set by `install_panic_rule`: a panic on any thread ends
//! the process at once (`Critical::Panic`, exit status 70), with one
//! exception, the guarded reload. `guarded` runs the building of a reloaded
//! configuration and signature set; a panic there (on its thread, or on one
//! of the loader's helper threads while it runs) becomes an `Err` that the
//! caller logs as a failed reload, and the old set stays in use.

use std::any::Any;
use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};

/// The exit status of a daemon ended by a critical error (EX_SOFTWARE).
pub const CRITICAL_STATUS: i32 = 70;

/// Ends the daemon: logged, then the process exits with `CRITICAL_STATUS`.
#[derive(Debug, thiserror::Error)]
pub enum Critical {
    #[error("thread {thread} panicked: {message}; exiting so that the service is restarted")]
    Panic { thread: String, message: String },
}

/// Logged; the daemon goes on.
#[derive(Debug, thiserror::Error)]
pub enum Runtime {
    #[error("reload failed; keeping the current signatures and configuration: {0}")]
    Reload(String),
    #[error("reload failed (it panicked: {0}); keeping the current signatures and configuration")]
    ReloadPanicked(String),
    #[error("the file watcher's thread did not end in time")]
    WatcherStuck,
    #[error("scan workers did not end in time")]
    PoolStuck,
}

impl Runtime {
    /// Logs the error; the caller goes on.
    pub fn log(&self) {
        match self {
            Runtime::Reload(_) | Runtime::ReloadPanicked(_) => tracing::error!("{self}"),
            Runtime::WatcherStuck | Runtime::PoolStuck => tracing::warn!("{self}"),
        }
    }
}

thread_local! {
    /// Set on the thread running `guarded`.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

/// A guarded section runs somewhere: the loader's helper threads (rayon's
/// global workers, which are unnamed, and `vigil-sigread`) belong to it.
static GUARD_ACTIVE: AtomicBool = AtomicBool::new(false);

/// Installs the panic rule for the rest of the process's life.
pub fn install_panic_rule() {
    let default = panic::take_hook();
    panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("");
        let recoverable = GUARDED.with(Cell::get)
            || (GUARD_ACTIVE.load(Ordering::SeqCst) && is_loader_helper(name));
        let message = payload_message(info.payload());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        if recoverable {
            tracing::error!(thread = name, "panic in a guarded section{at}: {message}");
            return;
        }
        default(info);
        let critical = Critical::Panic {
            thread: name.to_string(),
            message: format!("{message}{at}"),
        };
        tracing::error!("{critical}");
        std::process::exit(CRITICAL_STATUS);
    }));
}

/// Whether a thread of this name is one of the signature loader's helpers
/// rather than one of the daemon's own (all named `vigil-…`).
fn is_loader_helper(name: &str) -> bool {
    name.is_empty() || name == "vigil-sigread" || !name.starts_with("vigil-")
}

/// Runs `f`; a panic in it becomes `Err` with the panic's message.
pub fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            GUARDED.with(|g| g.set(false));
            GUARD_ACTIVE.store(false, Ordering::SeqCst);
        }
    }
    GUARD_ACTIVE.store(true, Ordering::SeqCst);
    GUARDED.with(|g| g.set(true));
    let _reset = Reset;
    panic::catch_unwind(AssertUnwindSafe(f)).map_err(|p| payload_message(&*p))
}

fn payload_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}
