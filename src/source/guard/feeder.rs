//! Admits waiting opens to the scan pool. Most are small and go straight
//! in. A large one (more than `LARGE_FILE` bytes) takes a slot, and at most
//! workers − 1 slots exist, so one worker is always left for the small
//! files: a process opening a big download does not hold up every other
//! open. Large opens beyond the slots wait here, in arrival order.

use std::collections::VecDeque;
use std::sync::Arc;

use crossbeam_channel::{select, Receiver, Sender};

use super::reply::Pending;
use crate::engine::request::{Admit, GuardedOpen, ScanRequest};

/// Bytes above which an open counts as large.
pub const LARGE_FILE: u64 = 1 << 20;

/// An open on its way to the pool.
pub struct ToPool {
    pub(super) open: GuardedOpen,
    pub(super) pending: Arc<Pending>,
    pub(super) size: u64,
}

/// A large file's slot; dropping it frees the slot.
pub(super) struct LargeSlot(Sender<()>);

impl Drop for LargeSlot {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// Admits what `incoming` brings until the reader ends, with at most
/// `workers − 1` (at least 1) large files in the pool at once.
pub fn feed(incoming: &Receiver<ToPool>, admission: &dyn Admit, workers: usize) {
    let slots = workers.saturating_sub(1).max(1);
    let (freed_tx, freed) = crossbeam_channel::unbounded::<()>();
    let mut busy = 0usize;
    let mut deferred: VecDeque<ToPool> = VecDeque::new();
    let admit = |item: ToPool, large: bool| -> bool {
        if large {
            let mut slot = item.pending.large.lock().unwrap_or_else(|p| p.into_inner());
            *slot = Some(LargeSlot(freed_tx.clone()));
        }
        admission.admit(ScanRequest::Open(item.open))
    };
    loop {
        select! {
            recv(incoming) -> item => {
                let Ok(item) = item else { return };
                let large = item.size > LARGE_FILE;
                if large && busy >= slots {
                    deferred.push_back(item);
                    continue;
                }
                busy += usize::from(large);
                if !admit(item, large) {
                    return;
                }
            }
            recv(freed) -> _ => {
                busy = busy.saturating_sub(1);
                // Those a timeout answered meanwhile are not decided any more.
                while let Some(item) = deferred.pop_front() {
                    if item.pending.is_answered() {
                        continue;
                    }
                    busy += 1;
                    if !admit(item, true) {
                        return;
                    }
                    break;
                }
            }
        }
    }
}
