//! A test hook, compiled into every build so that the tests drive the real
//! binary, and doing nothing unless its environment variable is set:
//! `VIGIL_TEST_PANIC=POINT` panics at the named point of the daemon's
//! control path, as a bug there would:
//!
//! - `reload`: while the daemon builds a reloaded signature set;
//! - `stats`: while a control connection answers `STATS`.
//!
//! Not meant for anything but tests.

use std::sync::OnceLock;

/// Names the point at which to panic.
pub const PANIC_ENV: &str = "VIGIL_TEST_PANIC";

/// Panics if `VIGIL_TEST_PANIC` names `point`.
pub fn panic_at(point: &str) {
    static AT: OnceLock<Option<String>> = OnceLock::new();
    let at = AT.get_or_init(|| std::env::var(PANIC_ENV).ok());
    if at.as_deref() == Some(point) {
        panic!("{PANIC_ENV}={point}: panicking here (test hook)");
    }
}
