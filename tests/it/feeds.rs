//! Feeds as they ship: names of their own per signature survive a load, a
//! compiled index and a scan exactly, and `vigil sigs diff` says what an
//! update adds and removes.

use crate::testenv::{hex, Daemon, TestEnv, EICAR, GUARD};
use vigil::hash::Algorithm;

/// A `.hdb` of `n` sized md5 signatures with ClamAV-style names, EICAR's first.
fn feed(env: &TestEnv, file: &str, first_id: u32, n: u32) -> std::path::PathBuf {
    let mut text = format!(
        "{}:68:Win.Test.Eicar-{first_id}-0\n",
        hex(Algorithm::Md5, EICAR)
    );
    for i in 1..n {
        let data = format!("sample {i}");
        text.push_str(&format!(
            "{}:{}:Win.Trojan.Agent-{}-{}\n",
            hex(Algorithm::Md5, data.as_bytes()),
            data.len(),
            first_id + i,
            i % 3
        ));
    }
    env.write(file, text)
}

#[test]
fn unique_names_read_back_exactly_from_text_and_from_an_index() {
    let env = TestEnv::new();
    let db = feed(&env, "main.hdb", 6612345, 2000);
    env.write("t/eicar.com", EICAR);
    env.write("t/other", "sample 1234");
    let want = |run: &crate::testenv::Run| {
        let out = run.stdout();
        assert!(
            out.contains("Win.Test.Eicar-6612345-0.UNOFFICIAL FOUND"),
            "{}",
            run.dump()
        );
        assert!(
            out.contains("Win.Trojan.Agent-6613579-1.UNOFFICIAL FOUND"),
            "{}",
            run.dump()
        );
    };
    want(&env.scan(["-d".as_ref(), db.as_os_str(), env.path("t").as_os_str()]));
    let index = env.path("main.vidx");
    env.vigil([
        "sigs".as_ref(),
        "compile".as_ref(),
        "-o".as_ref(),
        index.as_os_str(),
        db.as_os_str(),
    ])
    .assert_code(0);
    want(&env.scan(["-d".as_ref(), index.as_os_str(), env.path("t").as_os_str()]));
}

#[test]
fn sigs_diff_counts_and_lists_what_changed() {
    let env = TestEnv::new();
    let old = feed(&env, "old.hdb", 500000, 10);
    // The update drops the last signature, renames one and adds two.
    let mut text = std::fs::read_to_string(&old).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let renamed = lines[3].replace("-500003-0", "-500003-1");
    let mut new = lines[..9].to_vec();
    new[3] = &renamed;
    let added = [
        format!("{}:3:Win.Trojan.New-700001-0", hex(Algorithm::Md5, b"new")),
        format!("{}:4:Win.Trojan.New-700002-0", hex(Algorithm::Md5, b"new2")),
    ];
    new.extend(added.iter().map(String::as_str));
    text = new.join("\n") + "\n";
    let new_db = env.write("new.hdb", text);
    let args = |list: bool| {
        let mut a = vec![
            "sigs".into(),
            "diff".into(),
            old.clone().into_os_string(),
            new_db.clone().into_os_string(),
        ];
        if list {
            a.push("--list".into());
        }
        a
    };
    let run = env.vigil(args(false));
    run.assert_code(1);
    assert!(
        run.stdout().contains("3 added, 2 removed, 8 unchanged"),
        "{}",
        run.dump()
    );
    assert_eq!(run.stdout().lines().count(), 1, "{}", run.dump());

    let run = env.vigil(args(true));
    run.assert_code(1);
    let out = run.stdout();
    let md5 = |s: &str| hex(Algorithm::Md5, s.as_bytes());
    for want in [
        format!("+ md5:{}:3:Win.Trojan.New-700001-0", md5("new")),
        format!("+ md5:{}:8:Win.Trojan.Agent-500003-1", md5("sample 3")),
        format!("- md5:{}:8:Win.Trojan.Agent-500003-0", md5("sample 3")),
        format!("- md5:{}:8:Win.Trojan.Agent-500009-0", md5("sample 9")),
    ] {
        assert!(
            out.lines().any(|l| l == want),
            "{want} not in\n{}",
            run.dump()
        );
    }
    assert_eq!(out.lines().filter(|l| l.starts_with(['+', '-'])).count(), 5);

    // The same set twice, as text against its index: no change, exit 0.
    let index = env.path("old.vidx");
    env.vigil([
        "sigs".as_ref(),
        "compile".as_ref(),
        "-o".as_ref(),
        index.as_os_str(),
        old.as_os_str(),
    ])
    .assert_code(0);
    let run = env.vigil([
        "sigs".as_ref(),
        "diff".as_ref(),
        old.as_os_str(),
        index.as_os_str(),
    ]);
    run.assert_code(0);
    assert!(
        run.stdout().contains("0 added, 0 removed, 10 unchanged"),
        "{}",
        run.dump()
    );

    // A set that does not load is an error, not a diff.
    let bad = env.write("bad.hdb", "not a line\n");
    env.vigil([
        "sigs".as_ref(),
        "diff".as_ref(),
        old.as_os_str(),
        bad.as_os_str(),
    ])
    .assert_code(2);
}

/// Waits for the next reload and checks that it loaded.
fn reloaded(d: &mut Daemon) {
    let v = d.wait_log("reload");
    let m = v["fields"]["message"].as_str().unwrap_or("");
    assert!(m.starts_with("reloaded"), "{v}");
}

/// Waits for the daemon to notice a change of `kind` to `file`.
fn changed(d: &mut Daemon, kind: &str, file: &str) {
    let v = d.wait_log("signature databases changed");
    let what = v["fields"]["changed"].as_str().unwrap_or("");
    assert!(what.starts_with(kind) && what.contains(file), "{v}");
}

/// The next detection's signature name.
fn detection(d: &Daemon) -> String {
    loop {
        let ev = d.next_event(GUARD).expect("a detection");
        if ev["type"] == "detection" {
            return ev["signature"].as_str().unwrap().to_string();
        }
    }
}

fn sig_line(content: &[u8], name: &str) -> String {
    format!(
        "{}:{}:{name}\n",
        hex(Algorithm::Md5, content),
        content.len()
    )
}

/// The daemon reloads by itself when its database folder changes: a file
/// replaced by rename (as freshclam does), a file edited in place; a broken
/// new file keeps the old set and says why; a file still being written is
/// never loaded.
#[test]
fn the_daemon_reloads_when_its_databases_change() {
    use std::io::Write;
    let env = TestEnv::new();
    let dbs = env.mkdir("dbs");
    let main = env.write("dbs/main.hdb", sig_line(b"alpha", "Test.Alpha-100001-0"));
    let mut d = Daemon::builder()
        .env(env)
        .config(&format!(
            "databases = [{dbs:?}]\nsettle = \"100ms\"\nself_check = \"300ms\"\n"
        ))
        .start();
    let watch = d.env.path("watch");
    let write = |path: std::path::PathBuf, text: &str| std::fs::write(path, text).unwrap();

    // Replaced by rename.
    let tmp = dbs.join(".main.hdb.tmp");
    write(
        tmp.clone(),
        &(sig_line(b"alpha", "Test.Alpha-100001-0") + &sig_line(b"beta", "Test.Beta-100002-0")),
    );
    std::fs::rename(tmp, &main).unwrap();
    changed(&mut d, "replaced", "main.hdb");
    reloaded(&mut d);
    write(watch.join("b"), "beta");
    assert_eq!(detection(&d), "Test.Beta-100002-0.UNOFFICIAL");

    // Edited in place.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&main)
        .unwrap();
    f.write_all(sig_line(b"gamma", "Test.Gamma-100003-0").as_bytes())
        .unwrap();
    drop(f);
    changed(&mut d, "changed", "main.hdb");
    reloaded(&mut d);
    write(watch.join("c"), "gamma");
    assert_eq!(detection(&d), "Test.Gamma-100003-0.UNOFFICIAL");

    // A broken new file: the fault is logged, the old set stays.
    write(dbs.join("bad.hdb"), "not a signature line\n");
    changed(&mut d, "added", "bad.hdb");
    let v = d.wait_log("reload");
    assert!(
        v["fields"]["message"]
            .as_str()
            .unwrap_or("")
            .starts_with("reload failed"),
        "{v}"
    );
    assert!(v.to_string().contains("bad.hdb:1"), "{v}");
    write(watch.join("c2"), "gamma");
    assert_eq!(detection(&d), "Test.Gamma-100003-0.UNOFFICIAL");
    std::fs::remove_file(dbs.join("bad.hdb")).unwrap();
    changed(&mut d, "removed", "bad.hdb");
    reloaded(&mut d);

    // Written a few bytes at a time, more often than the check: loaded only
    // once whole (half of it would be a fault: a line cut short).
    let line = sig_line(b"delta", "Test.Delta-100004-0");
    let mut f = std::fs::File::create(dbs.join("late.hdb")).unwrap();
    for piece in line.as_bytes().chunks(4) {
        f.write_all(piece).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(f);
    changed(&mut d, "added", "late.hdb");
    reloaded(&mut d);
    write(watch.join("d"), "delta");
    assert_eq!(detection(&d), "Test.Delta-100004-0.UNOFFICIAL");
}
