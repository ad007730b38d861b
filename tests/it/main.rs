//! The integration tests: one binary, so that the crate and the shared
//! helpers in `testenv` are compiled and linked once. Each module holds the
//! tests of one area and runs the real `vigil` binary through `testenv`.
//!
//! Two test files stay separate binaries, each for a reason given at its
//! top: `tests/loom_coordinator.rs` (built only with `--cfg loom`) and
//! `tests/sigs_alloc.rs` (a counting global allocator).

mod testenv;

mod bench;
mod cache;
mod clamav_parity;
mod clamd_parity;
mod containers;
mod control;
mod daemon;
mod docs;
mod fanwatch;
mod feeds;
mod first_use;
mod guard;
mod journal;
mod metrics;
mod output;
mod packaging;
mod quarantine;
mod quarantine_trust;
mod readahead;
mod scan_files;
mod signatures;
mod sigs;
mod sigs_bounded;
mod sigs_props;
mod systemd;
mod tcp;
