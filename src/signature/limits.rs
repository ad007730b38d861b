//! How far one load may go: the unpacked size and the line count of each
//! database, and how many faults a failed load keeps. The bounds are on what
//! a database really holds as it is read, never on what a header claims, so
//! a small hostile file cannot make a load take more memory or time than
//! these allow.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Bytes a database may unpack to: 2 GiB. ClamAV's `main.cvd` unpacks to a
/// few hundred MB and ten million sha256 lines are about 900 MB.
pub const DEFAULT_MAX_DB_BYTES: u64 = 2 << 30;
/// Lines a database may have: 20 million, twice the ten million signatures
/// vigil is measured with, and three times ClamAV's `main.cvd`.
pub const DEFAULT_MAX_DB_LINES: u64 = 20_000_000;
/// Faults a failed load keeps and prints; `vigil sigs check` lists them all.
pub const DEFAULT_MAX_FAULTS: usize = 20;

/// The bounds of a load. Each database (a file, or a container with all
/// its members) is held to them on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadLimits {
    /// Bytes a database may hold once unpacked: a text file's size, or the
    /// whole archive of a container, members vigil skips included.
    pub max_db_bytes: u64,
    /// Lines of signature text a database may have (a container's hash
    /// members together).
    pub max_db_lines: u64,
    /// Faults a failed load keeps; the rest are counted.
    pub max_faults: usize,
}

impl Default for LoadLimits {
    fn default() -> Self {
        LoadLimits {
            max_db_bytes: DEFAULT_MAX_DB_BYTES,
            max_db_lines: DEFAULT_MAX_DB_LINES,
            max_faults: DEFAULT_MAX_FAULTS,
        }
    }
}

/// The error a `Capped` reader returns past its limit.
#[derive(Debug)]
pub(crate) struct TooLarge;

impl std::fmt::Display for TooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("database too large")
    }
}

impl std::error::Error for TooLarge {}

/// True if `e` is (or wraps) a `Capped` reader's refusal.
pub(crate) fn is_too_large(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<TooLarge>())
}

/// Passes at most `left` bytes through; past that, every read fails with
/// `TooLarge` and `hit` is set (for readers whose errors get rewrapped).
pub(crate) struct Capped<R> {
    pub inner: R,
    left: u64,
    hit: Arc<AtomicBool>,
}

impl<R> Capped<R> {
    pub fn new(inner: R, limit: u64) -> Self {
        Capped {
            inner,
            left: limit,
            hit: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A flag that turns true once the limit is passed.
    pub fn flag(&self) -> Arc<AtomicBool> {
        self.hit.clone()
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.hit.load(Ordering::Relaxed) {
            return Err(io::Error::other(TooLarge));
        }
        // One byte more than allowed tells "exactly at the limit" from "past it".
        let want = buf
            .len()
            .min(usize::try_from(self.left.saturating_add(1)).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.left {
            self.hit.store(true, Ordering::Relaxed);
            return Err(io::Error::other(TooLarge));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_passes_the_limit_exactly_and_refuses_past_it() {
        let mut out = Vec::new();
        Capped::new(&[7u8; 100][..], 100)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out.len(), 100);
        let mut capped = Capped::new(&[7u8; 101][..], 100);
        let flag = capped.flag();
        let err = capped.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(is_too_large(&err), "{err}");
        assert!(flag.load(Ordering::Relaxed));
    }
}
