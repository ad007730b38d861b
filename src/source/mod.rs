//! Sources turn the world into `ScanRequest`s and put them on the bounded
//! queue. None of them scans anything: `roots` feeds the paths of a one-shot
//! scan, `watcher` (with `dirty`, its coalescing set, and `coordinator`, the
//! thread that moves settled paths into the queue) feeds the daemon, and
//! `guard` holds opens until the pool has decided on them. The
//! request types belong to the engine (`engine::request`); they are
//! re-exported here for the sources' users.

pub mod coordinator;
pub mod dirty;
mod fanwatch;
pub mod guard;
pub mod roots;
pub mod watcher;

pub use crate::engine::request::{Admit, Origin, RequestId, ScanRequest};
