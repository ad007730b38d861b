//! Entries planted in a vault by another user are never acted on. A vault
//! that was once open to others (mode 0777, or an entry folder left
//! writable) gets entries written into it by `nobody`: forged records naming
//! a root-owned file for `repair` to remove, a set-user-ID root record for
//! `restore` to create, a fake interrupted move, a symlink posing as an
//! entry, and content swapped in a real entry. Then `vigil quarantine` runs
//! as root: every one is listed as foreign and nothing is removed, restored
//! or finished. Legit entries still restore byte for byte; set-user-ID and
//! set-group-ID bits come back only with `--keep-setuid`.
//!
//! The tests run as root (CI does) and plant as `nobody` through `setpriv`.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use vigil::hash::Algorithm::Sha256;

use crate::testenv::{as_nobody, hex, run, Run, TestEnv, EICAR, NOBODY};

/// `vigil quarantine --dir VAULT ARGS...`, as root.
fn q(env: &TestEnv, vault: &Path, args: &[&str]) -> Run {
    let mut cmd = env.command();
    cmd.arg("quarantine").arg("--dir").arg(vault).args(args);
    run(cmd, None)
}

/// Runs the shell `script` in the test folder as `nobody` (no groups).
fn sh_as_nobody(env: &TestEnv, script: &str) {
    let mut cmd = as_nobody("sh");
    cmd.current_dir(env.root()).args(["-euc", script]);
    run(cmd, None).assert_code(0);
}

/// A record as vigil writes it, for `content` said to come from `path`.
fn forged_record(id: &str, path: &Path, content: &[u8], fields: Value) -> Vec<u8> {
    let mut record = json!({
        "version": 1,
        "id": id,
        "path": path.to_str().unwrap(),
        "size": content.len(),
        "mode": 0o644,
        "uid": 0,
        "gid": 0,
        "mtime": {"sec": 1_600_000_000, "nsec": 0},
        "atime": {"sec": 1_600_000_000, "nsec": 0},
        "dev": 1,
        "ino": 1,
        "signature": "Eicar-Test-Signature",
        "digests": {"sha256": hex(Sha256, content)},
        "quarantined_at": "2025-01-31T23:59:59.000000000Z",
        "host": "host",
        "vigil_version": "0.1.0",
    });
    for (k, v) in fields.as_object().unwrap() {
        record[k] = v.clone();
    }
    serde_json::to_vec_pretty(&record).unwrap()
}

/// `list --json`: entries by id, leftovers by name.
fn listing(env: &TestEnv, vault: &Path) -> (BTreeMap<String, Value>, BTreeMap<String, Value>) {
    let run = q(env, vault, &["list", "--json"]);
    run.assert_code(0);
    let mut entries = BTreeMap::new();
    let mut leftovers = BTreeMap::new();
    for v in run.json() {
        if v["type"] == "entry" {
            entries.insert(v["id"].as_str().unwrap().to_string(), v);
        } else {
            leftovers.insert(v["name"].as_str().unwrap().to_string(), v);
        }
    }
    (entries, leftovers)
}

/// Every file under `dir` with a set-user-ID or set-group-ID bit.
fn setid_files(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd {
        let path = e.unwrap().path();
        let meta = fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            setid_files(&path, found);
        } else if meta.is_file() && meta.mode() & 0o6000 != 0 {
            found.push(path);
        }
    }
}

#[test]
fn entries_planted_by_another_user_are_foreign_and_never_acted_on() {
    let env = TestEnv::new();
    let vault = env.path("q");

    // A real entry: a root-owned set-user-ID program, quarantined by root.
    let tool = env.write("t/suid-tool", EICAR);
    fs::set_permissions(&tool, fs::Permissions::from_mode(0o4755)).unwrap();
    let mut scan = env.command();
    scan.arg("scan").arg("--move").arg(&vault).arg("t");
    run(scan, None).assert_code(1);
    let (entries, _) = listing(&env, &vault);
    assert_eq!(entries.len(), 1, "{entries:?}");
    let real = entries.keys().next().unwrap().clone();

    // What root must not lose: a root-owned file, readable by everyone.
    let victim = env.write("precious/config", b"root's own settings\n");
    let vm = fs::metadata(&victim).unwrap();

    // The vault is left open to others, and so is the real entry's folder.
    env.chmod("q", 0o777);
    env.chmod(format!("q/{real}"), 0o777);

    // 1. A record naming the victim with its true identity, with content of
    //    its size, marked as a move whose original is still to be removed.
    let unlink_id = "20250101-000000-00000001";
    let filler = vec![b'x'; vm.len() as usize];
    env.write(
        "stage/1.json",
        forged_record(
            unlink_id,
            &victim,
            &filler,
            json!({
                "dev": vm.dev(), "ino": vm.ino(), "size": vm.len(),
                "mtime": {"sec": vm.mtime(), "nsec": vm.mtime_nsec()},
            }),
        ),
    );
    env.write("stage/1.data", &filler);
    // 2. A set-user-ID root program to be "restored" with the attacker's content.
    let suid_id = "20250101-000000-00000002";
    let suid_target = env.path("out/suid");
    env.mkdir("out");
    let payload = b"#!/bin/sh\necho owned\n";
    env.write(
        "stage/2.json",
        forged_record(suid_id, &suid_target, payload, json!({"mode": 0o4755})),
    );
    env.write("stage/2.data", payload);
    // 3. A fake interrupted move whose original is gone: repair would finish it.
    let tmp_id = "20250101-000000-00000003";
    env.write(
        "stage/3.json",
        forged_record(tmp_id, &env.path("gone/file"), payload, json!({})),
    );
    // 4. A symlink posing as an entry, to a root-owned folder that looks like one.
    let link_id = "20250101-000000-00000004";
    let decoy = env.mkdir("decoy");
    env.write(
        "decoy/meta.json",
        forged_record(
            link_id,
            &env.path("out/decoy"),
            payload,
            json!({"mode": 0o4755}),
        ),
    );
    env.write("decoy/data", payload);
    fs::set_permissions(&decoy, fs::Permissions::from_mode(0o700)).unwrap();
    // 5. The real entry's content swapped for the attacker's, of the same size.
    let mut swapped = b"#!/bin/sh\necho owned\n".to_vec();
    swapped.resize(EICAR.len(), b'#');
    env.write("stage/5.data", &swapped);

    let script = format!(
        "mkdir q/{unlink_id} q/{suid_id} q/.tmp-{tmp_id}
         cp stage/1.json q/{unlink_id}/meta.json; cp stage/1.data q/{unlink_id}/data
         : > q/{unlink_id}/unlink-pending
         cp stage/2.json q/{suid_id}/meta.json; cp stage/2.data q/{suid_id}/data
         cp stage/3.json q/.tmp-{tmp_id}/meta.json; cp stage/2.data q/.tmp-{tmp_id}/data
         ln -s {decoy} q/{link_id}
         rm -f q/{real}/data; cp stage/5.data q/{real}/data; chmod 0400 q/{real}/data",
        decoy = decoy.display()
    );
    sh_as_nobody(&env, &script);

    // Everything that went wrong, so that one run shows all of it.
    let mut harm: Vec<String> = Vec::new();

    let (entries, leftovers) = listing(&env, &vault);
    if !entries.is_empty() {
        harm.push(format!(
            "planted entries listed as entries: {:?}",
            entries.keys()
        ));
    }
    let planted = [
        unlink_id.to_string(),
        suid_id.to_string(),
        format!(".tmp-{tmp_id}"),
        link_id.to_string(),
        real.clone(),
    ];
    for name in &planted {
        match leftovers.get(name) {
            Some(l)
                if l["state"] == "foreign" && !l["reason"].as_str().unwrap_or("").is_empty() => {}
            other => harm.push(format!("{name} not listed as foreign: {other:?}")),
        }
    }
    if let Some(l) = leftovers.get(unlink_id) {
        let reason = l["reason"].as_str().unwrap_or("");
        if !reason.contains(&format!("uid {NOBODY}")) {
            harm.push(format!(
                "{unlink_id}: the reason does not name the owner: {reason}"
            ));
        }
    }
    if let Some(l) = leftovers.get(link_id) {
        let reason = l["reason"].as_str().unwrap_or("");
        if !reason.contains("symbolic link") {
            harm.push(format!(
                "{link_id}: the reason does not say symlink: {reason}"
            ));
        }
    }
    let text = q(&env, &vault, &["list"]);
    if !text
        .stdout()
        .contains(&format!("{unlink_id}: foreign entry"))
    {
        harm.push(format!("text list does not say foreign:\n{}", text.dump()));
    }

    for (args, what) in [
        (vec!["show", suid_id], "show"),
        (vec!["restore", suid_id], "restore"),
        (vec!["restore", &real], "restore of the swapped entry"),
        (
            vec!["restore", &real, "--keep-setuid"],
            "restore --keep-setuid of the swapped entry",
        ),
        (vec!["restore", link_id], "restore through a symlink"),
    ] {
        let r = q(&env, &vault, &args);
        if r.code != Some(2) || !r.stderr().contains("foreign") {
            harm.push(format!("{what} was not refused as foreign:\n{}", r.dump()));
        }
    }

    let repair = q(&env, &vault, &["repair"]);
    if repair.code != Some(2) || !repair.stdout().contains("foreign") {
        harm.push(format!(
            "repair did not report foreign entries:\n{}",
            repair.dump()
        ));
    }
    match fs::read(&victim) {
        Ok(bytes) if bytes == b"root's own settings\n" => {}
        other => harm.push(format!(
            "repair removed or changed the root-owned file: {other:?}"
        )),
    }
    let r = q(&env, &vault, &["delete", unlink_id]);
    if r.code != Some(2) || !r.stderr().contains("foreign") {
        harm.push(format!("delete was not refused as foreign:\n{}", r.dump()));
    }
    if !vault.join(unlink_id).join("meta.json").exists() {
        harm.push("delete removed a planted entry".into());
    }
    if !vault.join(format!(".tmp-{tmp_id}")).exists() || vault.join(tmp_id).exists() {
        harm.push("repair finished a planted move".into());
    }
    for target in [&suid_target, &tool, &env.path("out/decoy")] {
        if fs::symlink_metadata(target).is_ok() {
            harm.push(format!("restore created {}", target.display()));
        }
    }
    let mut setid = Vec::new();
    setid_files(env.root(), &mut setid);
    if !setid.is_empty() {
        harm.push(format!(
            "set-user-ID or set-group-ID files appeared: {setid:?}"
        ));
    }
    assert!(harm.is_empty(), "{}", harm.join("\n"));
}

#[test]
fn legit_entries_restore_byte_for_byte_and_set_id_bits_only_with_keep_setuid() {
    let env = TestEnv::new();
    let vault = env.path("q");
    let a = env.write("t/a", EICAR);
    let b = env.write("t/b", EICAR);
    let c = env.write("t/c", EICAR);
    fs::set_permissions(&a, fs::Permissions::from_mode(0o4755)).unwrap();
    fs::set_permissions(&b, fs::Permissions::from_mode(0o2750)).unwrap();
    std::os::unix::fs::chown(&c, Some(NOBODY), Some(NOBODY)).unwrap();
    fs::set_permissions(&c, fs::Permissions::from_mode(0o640)).unwrap();
    let mut scan = env.command();
    scan.arg("scan").arg("--move").arg(&vault).arg("t");
    run(scan, None).assert_code(1);
    let (entries, leftovers) = listing(&env, &vault);
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let id_of = |p: &Path| {
        entries
            .values()
            .find(|e| e["path"] == p.to_str().unwrap())
            .unwrap_or_else(|| panic!("no entry for {}: {entries:?}", p.display()))["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (ia, ib, ic) = (id_of(&a), id_of(&b), id_of(&c));

    // By default the set-user-ID bit is dropped, and the output says so.
    let r = q(&env, &vault, &["restore", &ia]);
    r.assert_code(0);
    assert!(
        r.stdout().contains("set-user-ID/set-group-ID bits removed"),
        "{}",
        r.dump()
    );
    let meta = fs::symlink_metadata(&a).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o755);
    assert_eq!((meta.uid(), meta.gid()), (0, 0));
    assert_eq!(fs::read(&a).unwrap(), EICAR);

    // With --keep-setuid, a root-owned entry keeps its set-group-ID bit.
    let r = q(&env, &vault, &["restore", &ib, "--keep-setuid"]);
    r.assert_code(0);
    assert!(!r.stdout().contains("removed"), "{}", r.dump());
    let meta = fs::symlink_metadata(&b).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o2750);
    assert_eq!(fs::read(&b).unwrap(), EICAR);

    // Another user's file (moved by rename, so still theirs) is no foreign entry.
    let r = q(&env, &vault, &["restore", &ic]);
    r.assert_code(0);
    let meta = fs::symlink_metadata(&c).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o640);
    assert_eq!((meta.uid(), meta.gid()), (NOBODY, NOBODY));
    assert_eq!(fs::read(&c).unwrap(), EICAR);
    assert_eq!(fs::read_dir(&vault).unwrap().count(), 0);
}
