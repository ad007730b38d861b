//! A model test of the daemon's coordinator under loom: one producer (the
//! watcher's callback), the coordinator thread feeding a bounded queue, two
//! workers, and a shutdown, in every interleaving (up to a preemption bound).
//! It checks that nothing deadlocks, and that no path is lost: every path
//! marked dirty is scanned by a worker or reported as abandoned by shutdown.
//!
//! Run it with (it is not part of the normal suite, and a test binary of its
//! own, outside `tests/it/`: it is built only with `--cfg loom`, under which
//! the library's coordinator uses loom's primitives that only work inside a
//! loom model):
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test --release --test loom_coordinator
//! ```
//!
//! Under `--cfg loom` the coordinator's lock, condition variable and stop
//! flag are loom's (see `src/source/coordinator.rs`); the queue here is a
//! loom-visible bounded queue with the same contract as `queue::bounded`
//! (`admit` waits for room; closing wakes every waiter).
#![cfg(loom)]

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::Duration;

use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;
use vigil::source::coordinator::{Admit, Shared};
use vigil::source::dirty::{Change, DirtySet, Settle};
use vigil::source::ScanRequest;

struct Queue {
    state: Mutex<(VecDeque<ScanRequest>, bool)>,
    changed: Condvar,
    capacity: usize,
}

impl Queue {
    fn new(capacity: usize) -> Self {
        Queue {
            state: Mutex::new((VecDeque::new(), false)),
            changed: Condvar::new(),
            capacity,
        }
    }

    fn close(&self) {
        self.state.lock().unwrap().1 = true;
        self.changed.notify_all();
    }

    fn recv(&self) -> Option<ScanRequest> {
        let mut st = self.state.lock().unwrap();
        loop {
            if let Some(r) = st.0.pop_front() {
                self.changed.notify_all();
                return Some(r);
            }
            if st.1 {
                return None;
            }
            st = self.changed.wait(st).unwrap();
        }
    }
}

impl Admit for Queue {
    fn admit(&self, request: ScanRequest) -> bool {
        let mut st = self.state.lock().unwrap();
        while st.0.len() >= self.capacity && !st.1 {
            st = self.changed.wait(st).unwrap();
        }
        if st.1 {
            return false;
        }
        st.0.push_back(request);
        self.changed.notify_all();
        true
    }
}

fn path_of(r: &ScanRequest) -> PathBuf {
    match r {
        ScanRequest::Watched { path, .. } => path.clone(),
        other => panic!("{other:?}"),
    }
}

/// One producer marks /w/a, /w/b, then /w/a again; shutdown comes at any
/// point. Every path ends up delivered, or abandoned (left over by the
/// coordinator or still pending); /w/b is delivered at most once, /w/a at
/// most twice (once per change after its scan started).
fn model(stop_after_producer: bool) {
    let settle = Settle {
        quiet: Duration::ZERO,
        hold: Duration::ZERO,
    };
    let shared = Arc::new(Shared::new(DirtySet::new(vec!["/w".into()], settle, 16)));
    let queue = Arc::new(Queue::new(1));

    let coordinator = {
        let (shared, queue) = (shared.clone(), queue.clone());
        thread::spawn(move || {
            let left = shared.run(&*queue, &mut |_| None);
            queue.close();
            left.iter().map(path_of).collect::<Vec<_>>()
        })
    };
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (shared, queue) = (shared.clone(), queue.clone());
            thread::spawn(move || {
                let mut got = Vec::new();
                while let Some(r) = queue.recv() {
                    let p = path_of(&r);
                    shared.started(&p);
                    got.push(p);
                }
                got
            })
        })
        .collect();
    let producer = {
        let shared = shared.clone();
        thread::spawn(move || {
            shared.touch(Path::new("/w/a"), Change::Closed);
            shared.touch(Path::new("/w/b"), Change::Closed);
            shared.touch(Path::new("/w/a"), Change::Closed);
        })
    };
    if stop_after_producer {
        producer.join().unwrap();
        shared.stop();
    } else {
        shared.stop();
        producer.join().unwrap();
    }
    let left = coordinator.join().unwrap();
    let mut delivered: HashMap<PathBuf, usize> = HashMap::new();
    for w in workers {
        for p in w.join().unwrap() {
            *delivered.entry(p).or_default() += 1;
        }
    }
    let pending = shared.pending_paths();
    for p in ["/w/a", "/w/b"] {
        let p = PathBuf::from(p);
        assert!(
            delivered.contains_key(&p) || left.contains(&p) || pending.contains(&p),
            "lost {p:?}: delivered {delivered:?}, left {left:?}, pending {pending:?}"
        );
    }
    assert!(delivered.get(Path::new("/w/b")).copied().unwrap_or(0) <= 1);
    assert!(delivered.get(Path::new("/w/a")).copied().unwrap_or(0) <= 2);
}

/// A bounded search (LOOM_MAX_PREEMPTIONS overrides): with the shutdown
/// after the producer the state space is much larger, so it gets a lower bound.
fn builder(bound: usize) -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(bound);
    }
    b
}

#[test]
fn shutdown_at_any_time_loses_no_path() {
    builder(2).check(|| model(false));
}

#[test]
fn shutdown_after_the_producer_loses_no_path() {
    builder(1).check(|| model(true));
}
