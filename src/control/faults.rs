//! A test hook, compiled into every build so that the tests drive the real
//! binary, and doing nothing unless its environment variable is set:
//! `VIGIL_TEST_PANIC=POINT` panics at the named point of the daemon's
//! control path, as a bug there would:
//!
//! - `reload`: while the daemon builds a reloaded signature set;
//! - `stats`: while a control connection answers `STATS`.
//!
//! `VIGIL_TEST_DELAY=POINT:MS` sleeps at a named point (see `delay_at`).
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

/// Names a point to slow down, and by how much: `VIGIL_TEST_DELAY=POINT:MS`.
pub const DELAY_ENV: &str = "VIGIL_TEST_DELAY";

/// Sleeps if `VIGIL_TEST_DELAY` names `point`:
///
/// - `guard`: before the guard answers an open it decided on the pool (a
///   slow decision, which `guard_timeout` must answer first);
/// - `guard-large`: the same, for files over 1 MiB only (slow large files,
///   which must not hold up the small ones).
pub fn delay_at(point: &str) {
    static AT: OnceLock<Option<(String, u64)>> = OnceLock::new();
    let at = AT.get_or_init(|| {
        let text = std::env::var(DELAY_ENV).ok()?;
        let (name, ms) = text.split_once(':')?;
        Some((name.to_string(), ms.parse().ok()?))
    });
    if let Some((name, ms)) = at {
        if name == point {
            std::thread::sleep(std::time::Duration::from_millis(*ms));
        }
    }
}
