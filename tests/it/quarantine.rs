//! Quarantine, through the real binary: `scan --move` on one file system and
//! across file systems (a tmpfs in a private mount namespace), restore round
//! trips with mode, owner and times, refusing to overwrite, files swapped or
//! folders replaced by symlinks between hashing and moving (with the
//! `VIGIL_TEST_PAUSE_BEFORE_MOVE` hook), and crash safety: the process is
//! aborted after every step of a move, restore and delete (`VIGIL_FAULT_AT`),
//! and afterwards the file must exist in at least one place, `list` must
//! agree with what is on disk, and `repair` must settle it.
//!
//! The tests run as root (CI does): they chown files, and mount a tmpfs with
//! `unshare -m`.

use std::collections::BTreeSet;
use std::fs::{self, File, FileTimes};
use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, UNIX_EPOCH};

use serde_json::Value;
use vigil::hash::Algorithm::Sha256;
use vigil::quarantine::hooks::{
    COPY_STEPS, DELETE_STEPS, FAULT_ENV, PAUSE_ENV, RENAME_STEPS, RESTORE_STEPS,
};

use crate::testenv::{
    bytes_path, hex, run, vigil_bin, wait_with_output, Rng, Run, TestEnv, EICAR, EICAR_NAME,
    NOBODY, RUN_TIMEOUT,
};

/// A tmpfs mounted in a private mount namespace, kept alive by a sleeping
/// process; vigil runs inside it through `nsenter`, and the test looks at
/// the namespace's files through `/proc/PID/root`.
struct MountNs {
    holder: Child,
}

impl MountNs {
    fn tmpfs(at: &Path) -> Self {
        fs::create_dir_all(at).unwrap();
        let mut holder = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c"])
            .arg(r#"mount -t tmpfs -o mode=0755 vigil-test "$1" && echo ready && exec sleep 600"#)
            .arg("sh")
            .arg(at)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run unshare (util-linux)");
        let mut line = String::new();
        BufReader::new(holder.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "ready",
            "cannot mount a tmpfs in a mount namespace"
        );
        MountNs { holder }
    }

    /// `program` to run inside the namespace, in `cwd`.
    fn command(&self, program: &Path, cwd: &Path) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--mount=/proc/{}/ns/mnt", self.holder.id()))
            .arg(format!("--wd={}", cwd.display()))
            .arg("--")
            .arg(program);
        cmd
    }

    /// `path` as the namespace sees it.
    fn view(&self, path: &Path) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.holder.id()))
            .join(path.strip_prefix("/").unwrap())
    }
}

impl Drop for MountNs {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// A test's world: a folder, a vault in it, and maybe a mount namespace in
/// which the vault is a tmpfs (another file system than the scanned files).
struct World {
    env: TestEnv,
    vault: PathBuf,
    ns: Option<MountNs>,
}

impl World {
    /// Vault and files on one file system.
    fn same_fs() -> Self {
        let env = TestEnv::new();
        let vault = env.path("q");
        World {
            env,
            vault,
            ns: None,
        }
    }

    /// The vault on a tmpfs of its own.
    fn cross_fs() -> Self {
        let env = TestEnv::new();
        let mnt = env.path("mnt");
        let ns = MountNs::tmpfs(&mnt);
        World {
            vault: mnt.join("q"),
            env,
            ns: Some(ns),
        }
    }

    fn command(&self) -> Command {
        match &self.ns {
            Some(ns) => ns.command(&vigil_bin(), self.env.root()),
            None => self.env.command(),
        }
    }

    /// `vigil ARGS...` with extra environment variables.
    fn vigil_with(&self, envs: &[(&str, &str)], args: &[&str]) -> Run {
        let mut cmd = self.command();
        cmd.args(args).envs(envs.iter().copied());
        run(cmd, None)
    }

    fn scan_move(&self, envs: &[(&str, &str)], extra: &[&str]) -> Run {
        let vault = self.vault.to_str().unwrap();
        let mut args = vec!["scan", "--move", vault];
        args.extend_from_slice(extra);
        self.vigil_with(envs, &args)
    }

    /// `vigil quarantine --dir VAULT ARGS...`
    fn q(&self, args: &[&str]) -> Run {
        self.q_with(&[], args)
    }

    fn q_with(&self, envs: &[(&str, &str)], args: &[&str]) -> Run {
        let mut all = vec!["quarantine", "--dir", self.vault.to_str().unwrap()];
        all.extend_from_slice(args);
        self.vigil_with(envs, &all)
    }

    /// The vault as this process sees it.
    fn vault_view(&self) -> PathBuf {
        match &self.ns {
            Some(ns) => ns.view(&self.vault),
            None => self.vault.clone(),
        }
    }

    /// `list --json`: (entries, leftovers).
    fn list(&self) -> (Vec<Value>, Vec<Value>) {
        let run = self.q(&["list", "--json"]);
        run.assert_code(0);
        let all = run.json();
        let entries = all
            .iter()
            .filter(|v| v["type"] == "entry")
            .cloned()
            .collect();
        let leftovers = all
            .iter()
            .filter(|v| v["type"] == "leftover")
            .cloned()
            .collect();
        (entries, leftovers)
    }

    /// The one entry's id.
    fn only_id(&self) -> String {
        let (entries, leftovers) = self.list();
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert!(leftovers.is_empty(), "{leftovers:?}");
        entries[0]["id"].as_str().unwrap().to_string()
    }

    /// Checks that `list` tells exactly what is in the vault: each entry is
    /// a folder with the recorded content in it, and every other name is a
    /// leftover.
    fn assert_list_consistent(&self, content: &[u8]) -> (Vec<Value>, Vec<Value>) {
        let (entries, leftovers) = self.list();
        let vault = self.vault_view();
        let on_disk: BTreeSet<String> = match fs::read_dir(&vault) {
            Ok(rd) => rd
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect(),
            Err(_) => BTreeSet::new(),
        };
        let listed: BTreeSet<String> = entries
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .chain(
                leftovers
                    .iter()
                    .map(|l| l["name"].as_str().unwrap().to_string()),
            )
            .collect();
        assert_eq!(listed, on_disk, "list must name everything in the vault");
        for e in &entries {
            let data = vault.join(e["id"].as_str().unwrap()).join("data");
            assert_eq!(fs::read(&data).unwrap(), content, "a listed entry is whole");
            assert_eq!(e["size"], content.len());
        }
        for l in &leftovers {
            assert!(l["name"].as_str().unwrap().starts_with('.'), "{l}");
            assert_ne!(l["state"], "unknown");
        }
        (entries, leftovers)
    }

    /// Every file under the folder and the vault with exactly `content`.
    fn copies_of(&self, content: &[u8]) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for top in [self.env.path("t"), self.vault_view()] {
            collect_copies(&top, content, &mut found);
        }
        found
    }
}

fn collect_copies(dir: &Path, content: &[u8], found: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd {
        let path = e.unwrap().path();
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            collect_copies(&path, content, found);
        } else if meta.is_file() && fs::read(&path).unwrap() == content {
            found.push(path);
        }
    }
}

/// A file of `len` pseudo-random bytes and a signature database detecting it
/// as `Big` (more than one copy block, so a partial copy is partial).
fn big_detected_file(env: &TestEnv, rel: &str, len: usize) -> Vec<u8> {
    let data = Rng::new(7).bytes(len);
    env.write(rel, &data);
    env.write(
        "big.vsig",
        format!("sha256:{}:{len}:Big\n", hex(Sha256, &data)),
    );
    data
}

/// Gives `path` an owner, mode and times that a restore must bring back.
fn set_attributes(path: &Path, mode: u32) -> (i64, i64) {
    std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY)).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    let mtime = UNIX_EPOCH + Duration::new(1_600_000_000, 123_456_789);
    let atime = UNIX_EPOCH + Duration::new(1_600_000_100, 987_654_321);
    File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_times(FileTimes::new().set_modified(mtime).set_accessed(atime))
        .unwrap();
    (1_600_000_000, 123_456_789)
}

/// The access time a record holds (vigil's own read may have updated it
/// before the move, so it is the one at the move, not the one set above).
fn recorded_atime(record: &Value) -> (i64, i64) {
    (
        record["atime"]["sec"].as_i64().unwrap(),
        record["atime"]["nsec"].as_i64().unwrap(),
    )
}

#[track_caller]
fn assert_attributes(path: &Path, content: &[u8], mode: u32, mtime: (i64, i64), atime: (i64, i64)) {
    // Times first: reading the content may update the access time.
    let meta = fs::symlink_metadata(path).unwrap();
    assert!(meta.is_file());
    assert_eq!(meta.mode() & 0o7777, mode, "mode");
    assert_eq!((meta.uid(), meta.gid()), (NOBODY, NOBODY), "owner");
    assert_eq!((meta.mtime(), meta.mtime_nsec()), mtime, "mtime");
    assert_eq!((meta.atime(), meta.atime_nsec()), atime, "atime");
    assert_eq!(fs::read(path).unwrap(), content, "byte-identical");
}

#[track_caller]
fn mode_of(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

#[test]
fn same_fs_move_renames_and_restore_brings_everything_back() {
    let w = World::same_fs();
    let original = w.env.write("t/sub/eicar.com", EICAR);
    w.env.write("t/clean.txt", b"nothing to see");
    let mtime = set_attributes(&original, 0o640);
    let ino = fs::metadata(&original).unwrap().ino();

    let run = w.scan_move(&[], &["t"]);
    run.assert_code(1);
    let id = w.only_id();
    let dest = w.vault.join(&id).join("data");
    let lines = run.results();
    let found = format!("t/sub/eicar.com: {EICAR_NAME} FOUND");
    let at = lines.iter().position(|l| *l == found).expect("FOUND line");
    assert_eq!(
        lines[at + 1],
        format!("t/sub/eicar.com: moved to '{}'", dest.display())
    );
    assert!(lines.contains(&"t/clean.txt: OK".to_string()));
    assert!(
        run.stdout().contains("Quarantined: 1 moved, 0 not moved\n"),
        "{}",
        run.dump()
    );
    assert!(run.stderr.is_empty(), "{}", run.dump());

    // Renamed, not copied: the very inode, sealed 0400 in a 0700 vault.
    assert!(!original.exists());
    assert_eq!(fs::metadata(&dest).unwrap().ino(), ino);
    assert_eq!(fs::read(&dest).unwrap(), EICAR);
    assert_eq!(mode_of(&w.vault), 0o700);
    assert_eq!(mode_of(&dest), 0o400);
    assert_eq!(mode_of(&w.vault.join(&id)), 0o700);

    // The record.
    let show = w.q(&["show", &id, "--json"]);
    show.assert_code(0);
    let r = &show.json()[0];
    assert_eq!(r["id"], id.as_str());
    assert_eq!(r["path"], original.to_str().unwrap());
    assert!(r.get("path_bytes").is_none());
    assert_eq!(r["size"], EICAR.len());
    assert_eq!(r["mode"], 0o640);
    assert_eq!(
        (r["uid"].as_u64(), r["gid"].as_u64()),
        (Some(NOBODY.into()), Some(NOBODY.into()))
    );
    assert_eq!(
        (r["mtime"]["sec"].as_i64(), r["mtime"]["nsec"].as_i64()),
        (Some(mtime.0), Some(mtime.1))
    );
    assert_eq!(r["ino"], ino);
    assert_eq!(r["signature"], EICAR_NAME);
    assert_eq!(r["digests"]["md5"], hex(vigil::hash::Algorithm::Md5, EICAR));
    assert!(r["quarantined_at"].as_str().unwrap().ends_with('Z'));
    assert!(!r["host"].as_str().unwrap().is_empty());
    assert_eq!(r["content"], dest.to_str().unwrap());
    assert_eq!(r["pending_unlink"], false);
    let text = w.q(&["show", &id]);
    assert!(text.stdout().contains("mode: 0640\n"), "{}", text.dump());
    let list = w.q(&["list"]);
    assert!(
        list.stdout().starts_with(&format!("{id}  ")),
        "{}",
        list.dump()
    );
    assert!(list
        .stdout()
        .ends_with(&format!("  68 B  {EICAR_NAME}  {}\n", original.display())));

    // Restore: the same bytes, mode, owner and times, and the entry is gone.
    let back = w.q(&["restore", &id]);
    back.assert_code(0);
    assert_eq!(
        back.stdout(),
        format!("{id}: restored to '{}'\n", original.display())
    );
    assert_attributes(&original, EICAR, 0o640, mtime, recorded_atime(r));
    assert_eq!(fs::metadata(&original).unwrap().ino(), ino);
    assert_eq!(w.list(), (vec![], vec![]));
    assert_eq!(fs::read_dir(&w.vault).unwrap().count(), 0);
}

#[test]
fn json_output_carries_the_quarantine_entry() {
    let w = World::same_fs();
    w.env.write("t/eicar", EICAR);
    let run = w.scan_move(&[], &["--json", "t"]);
    run.assert_code(1);
    let id = w.only_id();
    let det = &run.json_of("detection")[0];
    assert_eq!(det["path"], "t/eicar");
    assert_eq!(det["quarantine"]["id"], id.as_str());
    assert_eq!(
        det["quarantine"]["path"],
        w.vault.join(&id).join("data").to_str().unwrap()
    );
    let s = run.json_summary();
    assert_eq!(
        (s["moved"].as_u64(), s["not_moved"].as_u64()),
        (Some(1), Some(0))
    );
    // Without --move nothing is moved and no quarantine object appears.
    w.env.write("t/eicar", EICAR);
    let plain = w.env.scan(["--json", "t"]);
    assert!(plain.json_of("detection")[0].get("quarantine").is_none());
    assert_eq!(plain.json_summary()["moved"], 0);
}

#[test]
fn non_utf8_names_come_back_byte_for_byte() {
    let w = World::same_fs();
    let name = bytes_path(b"t/bad\xff\nname");
    let original = w.env.write(&name, EICAR);
    let run = w.scan_move(&[], &["t"]);
    run.assert_code(1);
    assert!(
        run.stdout().contains("t/bad\\xff\\nname: moved to '"),
        "{}",
        run.dump()
    );
    let (entries, _) = w.list();
    let path_bytes = entries[0]["path_bytes"]
        .as_str()
        .expect("path_bytes for a non-UTF-8 path");
    assert!(!path_bytes.is_empty());
    let id = entries[0]["id"].as_str().unwrap();
    w.q(&["restore", id]).assert_code(0);
    assert_eq!(fs::read(&original).unwrap(), EICAR);
    assert!(original.as_os_str().as_bytes().ends_with(b"bad\xff\nname"));
}

#[test]
fn restore_refuses_to_overwrite_unless_forced() {
    let w = World::same_fs();
    let original = w.env.write("t/eicar", EICAR);
    w.scan_move(&[], &["t"]).assert_code(1);
    let id = w.only_id();
    w.env.write("t/eicar", b"a new file the user wrote since");

    let refused = w.q(&["restore", &id]);
    refused.assert_code(2);
    assert!(
        refused
            .stderr()
            .contains("exists; use --force to replace it"),
        "{}",
        refused.dump()
    );
    assert_eq!(
        fs::read(&original).unwrap(),
        b"a new file the user wrote since"
    );
    assert_eq!(w.only_id(), id, "the entry is still there, whole");

    // --to elsewhere: fine, and a folder on the way that is a symlink is refused.
    fs::create_dir(w.env.path("real")).unwrap();
    symlink(w.env.path("real"), w.env.path("link")).unwrap();
    let via_link = w.q(&["restore", &id, "--to", "link/eicar"]);
    via_link.assert_code(2);
    assert!(
        via_link.stderr().contains("is a symbolic link"),
        "{}",
        via_link.dump()
    );
    assert!(!w.env.path("real/eicar").exists());

    let forced = w.q(&["restore", &id, "--force"]);
    forced.assert_code(0);
    assert_eq!(fs::read(&original).unwrap(), EICAR);
    assert_eq!(w.list(), (vec![], vec![]));

    // Restoring to a new place with --to.
    w.scan_move(&[], &["t"]).assert_code(1);
    let id = w.only_id();
    w.q(&["restore", &id, "--to", "real/back"]).assert_code(0);
    assert_eq!(fs::read(w.env.path("real/back")).unwrap(), EICAR);
    assert!(!original.exists());
}

#[test]
fn cross_fs_move_copies_then_unlinks_and_restores_across() {
    let w = World::cross_fs();
    let original = w.env.write("t/eicar", EICAR);
    let mtime = set_attributes(&original, 0o751);
    let ino = fs::metadata(&original).unwrap().ino();
    let run = w.scan_move(&[], &["t"]);
    run.assert_code(1);
    assert!(run.stderr.is_empty(), "{}", run.dump());
    let id = w.only_id();
    let dest = w.vault_view().join(&id).join("data");
    assert!(run.stdout().contains(&format!(
        "t/eicar: moved to '{}'",
        w.vault.join(&id).join("data").display()
    )));
    assert!(
        !original.exists(),
        "the original is removed once the copy is in place"
    );
    assert_eq!(fs::read(&dest).unwrap(), EICAR);
    let vault_dev = fs::metadata(w.vault_view()).unwrap().dev();
    assert_ne!(
        vault_dev,
        fs::metadata(w.env.root()).unwrap().dev(),
        "really another file system"
    );
    assert_eq!(mode_of(&dest), 0o400);
    assert!(!w.vault_view().join(&id).join("unlink-pending").exists());
    let (entries, _) = w.list();
    assert_eq!(entries[0]["ino"], ino);
    assert_eq!(entries[0]["mode"], 0o751);
    let atime = recorded_atime(&entries[0]);

    // Back across file systems, with everything.
    w.q(&["restore", &id]).assert_code(0);
    assert_attributes(&original, EICAR, 0o751, mtime, atime);
    assert_eq!(w.list(), (vec![], vec![]));
    let leftovers: Vec<_> = fs::read_dir(w.env.path("t"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        vec![std::ffi::OsString::from("eicar")],
        "no temporary file left"
    );
}

/// Runs `scan --move` with the pause hook, calls `swap` while vigil waits
/// between hashing and moving, and returns the finished run.
fn scan_with_swap(w: &World, args: &[&str], swap: impl FnOnce()) -> Run {
    let fifo = w.env.path("pause.fifo");
    let _ = fs::remove_file(&fifo);
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let mut cmd = w.command();
    cmd.args(["scan", "--move", w.vault.to_str().unwrap()])
        .args(args)
        .env(PAUSE_ENV, &fifo)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    // Opening the FIFO for writing succeeds once vigil has opened it for
    // reading: then it has hashed the file and waits.
    let deadline = Instant::now() + RUN_TIMEOUT;
    let writer = loop {
        match fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
        {
            Ok(f) => break f,
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Err(e) => panic!("vigil never paused before the move: {e}"),
        }
    };
    swap();
    drop(writer);
    wait_with_output(child, RUN_TIMEOUT, "scan --move with a pause")
}

#[test]
fn a_file_swapped_between_hash_and_move_is_not_moved() {
    let w = World::same_fs();
    let outside = w.env.write("outside/secret", EICAR);
    let outside_ino = fs::metadata(&outside).unwrap().ino();
    let eicar = w.env.path("t/eicar");
    // What is done while vigil waits, what the error says, and how to tell
    // that what is at the path afterwards is what the swap left there.
    type Swap<'a> = (&'a str, Box<dyn Fn() + 'a>, &'a str, Box<dyn Fn(u64) + 'a>);
    let swaps: Vec<Swap<'_>> = vec![
        (
            "another file renamed over it",
            Box::new(|| {
                let other = w.env.write("t/other", EICAR);
                fs::rename(other, &eicar).unwrap();
            }),
            "the path now names a different file",
            Box::new(|hashed_ino| {
                let meta = fs::symlink_metadata(&eicar).unwrap();
                assert!(meta.is_file() && meta.ino() != hashed_ino);
                assert_eq!(fs::read(&eicar).unwrap(), EICAR);
            }),
        ),
        (
            "a symlink to a file outside",
            Box::new(|| {
                fs::remove_file(&eicar).unwrap();
                symlink(&outside, &eicar).unwrap();
            }),
            "is a symbolic link",
            Box::new(|_| {
                assert_eq!(fs::read_link(&eicar).unwrap(), outside);
            }),
        ),
        (
            "appended to",
            Box::new(|| {
                let mut f = File::options().append(true).open(&eicar).unwrap();
                std::io::Write::write_all(&mut f, b"more").unwrap();
            }),
            "size 68 is now 72",
            Box::new(|hashed_ino| {
                assert_eq!(fs::metadata(&eicar).unwrap().ino(), hashed_ino);
                assert_eq!(fs::read(&eicar).unwrap().len(), EICAR.len() + 4);
            }),
        ),
    ];
    for (what, swap, reason, check) in swaps {
        let _ = fs::remove_file(&eicar);
        w.env.write("t/eicar", EICAR);
        let hashed_ino = fs::symlink_metadata(&eicar).unwrap().ino();
        let run = scan_with_swap(&w, &["t/eicar"], swap);
        run.assert_code(1);
        assert_eq!(
            run.results()[0],
            format!("t/eicar: {EICAR_NAME} FOUND"),
            "{what}"
        );
        assert!(!run.stdout().contains("moved to"), "{what}\n{}", run.dump());
        let err = run.stderr();
        assert!(
            err.starts_with("t/eicar: not moved to quarantine: "),
            "{what}\n{}",
            run.dump()
        );
        assert!(err.contains(reason), "{what}: {err}");
        assert!(
            run.stdout().contains("Quarantined: 0 moved, 1 not moved"),
            "{what}"
        );
        // Nothing was touched: what is at the path stays, the file outside
        // too, and the vault is empty.
        check(hashed_ino);
        assert_eq!(fs::read(&outside).unwrap(), EICAR);
        assert_eq!(fs::metadata(&outside).unwrap().ino(), outside_ino);
        assert_eq!(w.list(), (vec![], vec![]), "{what}");
    }
}

#[test]
fn a_folder_replaced_by_a_symlink_between_hash_and_move_redirects_nothing() {
    // The folder outside holds a hard link to the very file that was hashed,
    // so only the refusal to follow symlinks keeps the move from going there.
    for replaced in ["t", "t/sub"] {
        let w = World::same_fs();
        let file = w.env.write("t/sub/eicar", EICAR);
        w.env.mkdir("outside/sub");
        let outside = w.env.path("outside/sub/eicar");
        fs::hard_link(&file, &outside).unwrap();
        let ino = fs::metadata(&file).unwrap().ino();
        let target = if replaced == "t" {
            w.env.path("outside")
        } else {
            w.env.path("outside/sub")
        };
        let run = scan_with_swap(&w, &["t/sub/eicar"], || {
            fs::rename(w.env.path(replaced), w.env.path(format!("{replaced}.real"))).unwrap();
            symlink(&target, w.env.path(replaced)).unwrap();
        });
        run.assert_code(1);
        let err = run.stderr();
        assert!(
            err.contains(&format!(
                "{} is a symbolic link",
                w.env.path(replaced).display()
            )),
            "{replaced}\n{}",
            run.dump()
        );
        assert!(run.stdout().contains("Quarantined: 0 moved, 1 not moved"));
        assert_eq!(
            fs::read(&outside).unwrap(),
            EICAR,
            "nothing outside the tree touched"
        );
        assert_eq!(fs::metadata(&outside).unwrap().ino(), ino);
        assert_eq!(fs::metadata(&outside).unwrap().nlink(), 2);
        let moved_away = w
            .env
            .path(format!("{replaced}.real"))
            .join(if replaced == "t" {
                "sub/eicar"
            } else {
                "eicar"
            });
        assert_eq!(fs::read(&moved_away).unwrap(), EICAR);
        assert_eq!(w.list(), (vec![], vec![]));
    }
}

#[test]
fn files_already_in_the_vault_are_not_moved_again() {
    let w = World::same_fs();
    w.env.write("t/eicar", EICAR);
    w.scan_move(&[], &["t"]).assert_code(1);
    let id = w.only_id();
    let run = w.scan_move(&[], &["q"]);
    run.assert_code(1);
    assert!(
        run.stderr()
            .contains("not moved to quarantine: already in the quarantine folder"),
        "{}",
        run.dump()
    );
    assert_eq!(w.only_id(), id);
}

#[test]
fn bad_ids_missing_entries_and_missing_vaults_are_errors() {
    let w = World::same_fs();
    // Nothing quarantined yet: an empty list, and no vault made.
    let none = w.q(&["list"]);
    none.assert_code(0);
    assert_eq!(none.stdout(), "", "{}", none.dump());
    assert!(!w.vault.exists(), "list does not create a vault");
    let none = w.q(&["show", "20250131-235959-0123abcd"]);
    none.assert_code(2);
    assert!(none.stderr().contains("does not exist"), "{}", none.dump());
    fs::create_dir(&w.vault).unwrap();
    let bad = w.q(&["show", "../../etc/passwd"]);
    bad.assert_code(2);
    assert!(
        bad.stderr().contains("is not a quarantine id"),
        "{}",
        bad.dump()
    );
    let missing = w.q(&["delete", "20250131-235959-0123abcd"]);
    missing.assert_code(2);
    assert!(
        missing.stderr().contains("no quarantine entry"),
        "{}",
        missing.dump()
    );
    // A vault owned by someone else is refused.
    std::os::unix::fs::chown(&w.vault, Some(NOBODY), None).unwrap();
    let theirs = w.q(&["list"]);
    theirs.assert_code(2);
    assert!(
        theirs.stderr().contains("owned by uid 65534"),
        "{}",
        theirs.dump()
    );
}

#[test]
fn delete_removes_an_entry_for_good() {
    let w = World::same_fs();
    w.env.write("t/eicar", EICAR);
    w.scan_move(&[], &["t"]).assert_code(1);
    let id = w.only_id();
    let run = w.q(&["delete", &id]);
    run.assert_code(0);
    assert_eq!(run.stdout(), format!("{id}: deleted\n"));
    assert_eq!(w.list(), (vec![], vec![]));
    assert!(w.copies_of(EICAR).is_empty());
}

/// Aborts a move after `step`, then checks what the brief asks: the file
/// exists in at least one place, `list` agrees with the disk, and `repair`
/// leaves it in exactly one place with nothing left over. Returns whether
/// repair left it in quarantine (true) or in place (false).
fn crash_move_at(w: &World, step: &str, content: &[u8], scan_args: &[&str]) -> bool {
    let original = w.env.path("t/file");
    let run = w.scan_move(&[(FAULT_ENV, step)], scan_args);
    assert_eq!(
        run.code,
        None,
        "{step}: vigil must have aborted\n{}",
        run.dump()
    );
    assert!(
        run.stderr()
            .contains(&format!("{FAULT_ENV}={step}: aborting")),
        "{step}\n{}",
        run.dump()
    );

    let copies = w.copies_of(content);
    assert!(!copies.is_empty(), "{step}: the file must exist somewhere");
    let (entries, leftovers) = w.assert_list_consistent(content);
    assert!(
        entries.len() + leftovers.len() <= 1,
        "{step}: {entries:?} {leftovers:?}"
    );

    let repair = w.q(&["repair"]);
    repair.assert_code(0);
    let (entries, leftovers) = w.assert_list_consistent(content);
    assert!(
        leftovers.is_empty(),
        "{step}: repair leaves nothing over: {leftovers:?}"
    );
    let in_place = original.exists();
    assert!(
        in_place != (entries.len() == 1),
        "{step}: in exactly one place\n{}",
        repair.dump()
    );
    assert_eq!(w.copies_of(content).len(), 1, "{step}: one copy");
    if in_place {
        assert_eq!(fs::read(&original).unwrap(), content);
    } else {
        assert_eq!(entries[0]["pending_unlink"], false);
    }
    let again = w.q(&["repair"]);
    again.assert_code(0);
    assert_eq!(
        again.stdout(),
        "nothing to repair\n",
        "{step}: repair settles everything at once"
    );
    !in_place
}

#[test]
fn a_same_fs_move_killed_at_any_step_loses_nothing() {
    for (i, step) in RENAME_STEPS.iter().enumerate() {
        let w = World::same_fs();
        w.env.write("t/file", EICAR);
        let quarantined = crash_move_at(&w, step, EICAR, &["t/file"]);
        // Before the rename the move is undone; from it on, finished.
        let renamed = RENAME_STEPS.iter().position(|s| *s == "renamed").unwrap();
        assert_eq!(quarantined, i >= renamed, "{step}");
    }
}

#[test]
fn a_cross_fs_move_killed_at_any_step_loses_nothing() {
    // Big enough that a partial copy is really partial.
    for (i, step) in COPY_STEPS.iter().enumerate() {
        let w = World::cross_fs();
        let data = big_detected_file(&w.env, "t/file", 600_000);
        if *step == "published" {
            // The entry is complete but the original not yet removed: both
            // are there, and list says the move is unfinished.
            let run = w.scan_move(&[(FAULT_ENV, step)], &["-d", "big.vsig", "t/file"]);
            assert_eq!(run.code, None);
            let (entries, _) = w.assert_list_consistent(&data);
            assert_eq!(entries[0]["pending_unlink"], true);
            assert_eq!(w.copies_of(&data).len(), 2);
            let text = w.q(&["list"]);
            assert!(text.stdout().contains("unfinished move"), "{}", text.dump());
            let id = entries[0]["id"].as_str().unwrap().to_string();
            let refused = w.q(&["restore", &id]);
            refused.assert_code(2);
            assert!(refused
                .stderr()
                .contains("run `vigil quarantine repair` first"));
            let repair = w.q(&["repair"]);
            repair.assert_code(0);
            assert!(
                repair.stdout().contains("the original was removed"),
                "{}",
                repair.dump()
            );
            assert!(!w.env.path("t/file").exists());
            assert_eq!(w.copies_of(&data).len(), 1);
            continue;
        }
        let quarantined = crash_move_at(&w, step, &data, &["-d", "big.vsig", "t/file"]);
        let published = COPY_STEPS.iter().position(|s| *s == "published").unwrap();
        assert_eq!(quarantined, i >= published, "{step}");
    }
}

#[test]
fn repair_finishes_from_a_whole_copy_but_never_deletes_the_only_copy() {
    // Killed after the copy was complete, and then the original vanished
    // (someone removed it): the copy is the only one left, and it is whole,
    // so repair finishes the entry from it.
    let w = World::cross_fs();
    let data = big_detected_file(&w.env, "t/file", 600_000);
    let run = w.scan_move(
        &[(FAULT_ENV, "copy-complete")],
        &["-d", "big.vsig", "t/file"],
    );
    assert_eq!(run.code, None);
    fs::remove_file(w.env.path("t/file")).unwrap();
    let repair = w.q(&["repair"]);
    repair.assert_code(0);
    assert!(
        repair.stdout().contains("finished from its complete copy"),
        "{}",
        repair.dump()
    );
    let (entries, leftovers) = w.assert_list_consistent(&data);
    assert_eq!((entries.len(), leftovers.len()), (1, 0));

    // Killed in the middle of the copy, and the original vanished: the
    // partial copy is all there is. Repair keeps it, says so, and exits 2.
    let w = World::cross_fs();
    let data = big_detected_file(&w.env, "t/file", 600_000);
    let run = w.scan_move(
        &[(FAULT_ENV, "copy-partial")],
        &["-d", "big.vsig", "t/file"],
    );
    assert_eq!(run.code, None);
    fs::remove_file(w.env.path("t/file")).unwrap();
    let (_, leftovers) = w.list();
    let name = leftovers[0]["name"].as_str().unwrap().to_string();
    let part = w.vault_view().join(&name).join("data.part");
    let partial = fs::read(&part).unwrap();
    assert!(!partial.is_empty() && partial.len() < data.len() && data.starts_with(&partial));
    let repair = w.q(&["repair"]);
    repair.assert_code(2);
    assert!(
        repair.stdout().contains("kept for a person to look at"),
        "{}",
        repair.dump()
    );
    assert_eq!(
        fs::read(&part).unwrap(),
        partial,
        "the partial copy is kept"
    );
    assert_eq!(w.list().1.len(), 1, "and still listed as a leftover");
}

/// Aborts a restore of a quarantined `t/file` after `step`, then checks that
/// the file exists somewhere, `list` agrees, and `repair` settles it.
fn crash_restore_at(w: &World, step: &str, content: &[u8], args: &[&str]) {
    let id = w.only_id();
    let mut all = vec!["restore", id.as_str()];
    all.extend_from_slice(args);
    let run = w.q_with(&[(FAULT_ENV, step)], &all);
    assert_eq!(
        run.code,
        None,
        "{step}: vigil must have aborted\n{}",
        run.dump()
    );
    assert!(
        !w.copies_of(content).is_empty(),
        "{step}: the file must exist somewhere"
    );
    let (entries, leftovers) = w.assert_list_consistent(content);
    assert_eq!(
        entries.len() + leftovers.len(),
        1,
        "{step}: {entries:?} {leftovers:?}"
    );
    w.q(&["repair"]).assert_code(0);
    let (entries, leftovers) = w.assert_list_consistent(content);
    assert!(leftovers.is_empty(), "{step}");
    let original = w.env.path("t/file");
    assert!(original.exists() || entries.len() == 1, "{step}");
    // No temporary copy left next to the target.
    let names: Vec<_> = fs::read_dir(w.env.path("t"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        names
            .iter()
            .all(|n| !n.to_string_lossy().starts_with(".vigil-restore")),
        "{step}: {names:?}"
    );
    if original.exists() {
        assert_eq!(fs::read(&original).unwrap(), content);
    }
}

#[test]
fn a_restore_or_delete_killed_at_any_step_is_settled_by_repair() {
    for step in RESTORE_STEPS.iter().filter(|s| **s != "restore-partial") {
        let w = World::same_fs();
        w.env.write("t/file", EICAR);
        w.scan_move(&[], &["t/file"]).assert_code(1);
        crash_restore_at(&w, step, EICAR, &[]);
        // Killed once the file was in place: the restore is finished.
        let placed = *step == "restore-placed";
        assert_eq!(w.env.path("t/file").exists(), placed, "{step}");
        assert_eq!(w.list().0.len(), usize::from(!placed), "{step}");
    }
    for step in ["restore-partial", "restore-placed"] {
        let w = World::cross_fs();
        let data = big_detected_file(&w.env, "t/file", 600_000);
        w.scan_move(&[], &["-d", "big.vsig", "t/file"])
            .assert_code(1);
        crash_restore_at(&w, step, &data, &[]);
        // Across file systems the entry stays until the copy is in place;
        // after that crash the file is in both places (nothing is lost).
        assert_eq!(w.list().0.len(), 1, "{step}");
        assert_eq!(
            w.env.path("t/file").exists(),
            step == "restore-placed",
            "{step}"
        );
    }
    for step in DELETE_STEPS {
        let w = World::same_fs();
        w.env.write("t/file", EICAR);
        w.scan_move(&[], &["t/file"]).assert_code(1);
        let id = w.only_id();
        let run = w.q_with(&[(FAULT_ENV, step)], &["delete", &id]);
        assert_eq!(run.code, None);
        let (entries, leftovers) = w.list();
        assert_eq!(
            (entries.len(), leftovers.len()),
            (0, 1),
            "{step}: no longer listed as an entry"
        );
        assert_eq!(leftovers[0]["state"], "delete");
        let repair = w.q(&["repair"]);
        repair.assert_code(0);
        assert_eq!(w.list(), (vec![], vec![]));
        assert_eq!(fs::read_dir(&w.vault).unwrap().count(), 0);
    }
}
