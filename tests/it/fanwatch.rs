//! The fanotify watch backend, through the real binary: a file written in
//! any folder of the watched tree, one made after start too, is scanned; a
//! file that arrives in a watched folder without being written there (moved
//! in, hard-linked in, or inside a folder moved in) is scanned at once, not
//! at the next rescan; a move outside every watched folder is not reported.
//!
//! The tests run as root (CI does): fanotify needs CAP_SYS_ADMIN. Each test
//! has a tmpfs of its own holding the watched folder `w` and a folder beside
//! it that is not watched, so every move stays on one filesystem. There is
//! no initial scan, so only events can find the files. Each file is written
//! before the daemon starts: a close-write event read after the move would
//! name the file where it is by then, and find it without directory events.

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::guard::Tmpfs;
use crate::testenv::{Daemon, EICAR};

/// How long a detection may take to arrive (a bound, not a timing claim).
const WITHIN: Duration = Duration::from_secs(20);

/// A daemon watching `w` on `fs` with the fanotify backend.
fn watch_with_fanotify(fs: &Tmpfs) -> Daemon {
    fs::create_dir_all(fs.path("w")).unwrap();
    let mut d = Daemon::builder()
        .args([
            "--watch",
            fs.path("w").to_str().unwrap(),
            "--no-initial-scan",
        ])
        .config("watch_backend = \"fanotify\"\nsettle = \"50ms\"")
        .start();
    assert_eq!(d.wait_log("ready")["fields"]["watch_backend"], "Fanotify");
    d
}

/// Waits for one detection and returns what was seen.
fn one_detection(d: &Daemon) -> HashMap<String, usize> {
    d.detections(1, WITHIN)
}

#[track_caller]
fn assert_reported(seen: &HashMap<String, usize>, path: &Path) {
    assert!(
        seen.contains_key(path.to_str().unwrap()),
        "{} not reported: {seen:?}",
        path.display()
    );
}

#[test]
fn a_file_written_in_a_folder_made_after_start_is_scanned() {
    let fs = Tmpfs::new();
    fs::create_dir_all(fs.path("w/a/b")).unwrap();
    let d = watch_with_fanotify(&fs);
    fs::create_dir_all(fs.path("w/later/deeper")).unwrap();
    let written = fs.write("w/later/deeper/x.com", EICAR);
    fs.write("w/a/b/clean.txt", b"fine\n");
    assert_reported(&one_detection(&d), &written);
}

#[test]
fn a_file_written_elsewhere_and_moved_into_a_watched_folder_is_scanned() {
    let fs = Tmpfs::new();
    let outside = fs.write("out/x.com", EICAR);
    let d = watch_with_fanotify(&fs);
    let inside = fs.path("w/x.com");
    fs::rename(&outside, &inside).unwrap();
    assert_reported(&one_detection(&d), &inside);
}

#[test]
fn a_hard_link_into_a_watched_folder_is_scanned() {
    let fs = Tmpfs::new();
    let outside = fs.write("out/x.com", EICAR);
    let d = watch_with_fanotify(&fs);
    let inside = fs.path("w/x.com");
    fs::hard_link(&outside, &inside).unwrap();
    assert_reported(&one_detection(&d), &inside);
}

#[test]
fn a_folder_moved_into_a_watched_folder_is_walked() {
    let fs = Tmpfs::new();
    fs.write("out/d/e/x.com", EICAR);
    let d = watch_with_fanotify(&fs);
    fs::rename(fs.path("out/d"), fs.path("w/d")).unwrap();
    assert_reported(&one_detection(&d), &fs.path("w/d/e/x.com"));
}

#[test]
fn a_move_outside_the_watched_folders_is_not_reported() {
    let fs = Tmpfs::new();
    // A sibling whose name starts with the watched folder's.
    let written = fs.write("w-not/a.com", EICAR);
    let marker = fs.write("out/marker.com", EICAR);
    let mut d = watch_with_fanotify(&fs);
    let moved = fs.path("w-not/b.com");
    fs::rename(&written, &moved).unwrap();
    fs::create_dir_all(fs.path("w-not/sub")).unwrap();
    fs::hard_link(&moved, fs.path("w-not/sub/c.com")).unwrap();
    // Then one move into the watched folder, whose detection bounds the wait:
    // the kernel queues events in order.
    fs::rename(&marker, fs.path("w/marker.com")).unwrap();
    let mut seen = one_detection(&d);
    d.wait_idle();
    while let Some(ev) = d.next_event(Duration::ZERO) {
        if ev["type"] == "detection" {
            *seen.entry(ev["path"].as_str().unwrap().into()).or_insert(0) += 1;
        }
    }
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        [fs.path("w/marker.com").to_str().unwrap()],
        "{seen:?}"
    );
}
