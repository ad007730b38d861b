//! Lookups allocate nothing, on a set parsed from text and on a mapped index
//! alike: a counting allocator watches them.
//!
//! A test binary of its own, outside `tests/it/`: the counting allocator is
//! the `#[global_allocator]` of the whole binary, so beside other tests
//! running in parallel threads it would count their allocations too.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use vigil::hash::{hash_bytes, AlgoSet, Algorithm, MultiHasher};
use vigil::signature::{load_databases, write_index, Lookup};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn lookups_allocate_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.vsig");
    let mut text = String::new();
    for i in 0..5000u32 {
        let algo = Algorithm::ALL[(i % 4) as usize];
        let hex = hash_bytes(algo, &i.to_le_bytes()).to_hex();
        let size = if i % 2 == 0 {
            "4".to_string()
        } else {
            "*".to_string()
        };
        text.push_str(&format!("{algo}:{hex}:{size}:Name.{}\n", i % 17));
    }
    std::fs::write(&db, text).unwrap();
    let owned = load_databases(&[db]).unwrap().set;
    let index = dir.path().join("a.vidx");
    write_index(&owned, &index).unwrap();
    let mapped = load_databases(&[index]).unwrap().set;
    assert!(mapped.is_mapped());

    let queries: Vec<_> = (0..5000u32)
        .map(|i| {
            let mut h = MultiHasher::new(AlgoSet::all());
            h.update(&i.to_le_bytes());
            h.finish()
        })
        .collect();
    for set in [&owned, &mapped] {
        let before = ALLOCATIONS.load(Ordering::Relaxed);
        let mut found = 0;
        for (i, d) in queries.iter().enumerate() {
            if matches!(set.lookup(d, 4), Lookup::Detected(_)) {
                found += 1;
            }
            std::hint::black_box(set.algorithms_for_size(i as u64));
            std::hint::black_box(set.algorithms_for_unknown_size());
        }
        assert_eq!(
            ALLOCATIONS.load(Ordering::Relaxed),
            before,
            "a lookup allocated"
        );
        assert_eq!(found, 5000);
    }
}
