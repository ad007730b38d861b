//! vigil: a parallel file scanner that hashes files and matches them against
//! known-file signatures. One engine — sources, a bounded queue, a
//! work-stealing pool and sinks — serves `vigil scan`, `vigil daemon` and the
//! daemon's control socket (`vigil ctl`, clamd clients).
//! See the Layout section of the README for where each part lives.

// The commands, and the command line they read.
pub mod app;
pub mod cli;

// The engine and what feeds it and reads from it.
pub mod control;
pub mod engine;
pub mod quarantine;
pub mod report;
pub mod signature;
pub mod source;

// Small helpers every layer uses.
pub mod error;
pub mod fileio;
pub mod hash;
pub mod stats;
pub mod timefmt;

pub use app::run;
