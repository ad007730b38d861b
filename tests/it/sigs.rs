//! `vigil sigs` and the database formats, through the real binary:
//! check, stats, add, import and compile, and `vigil scan -d` on a compiled
//! index and on ClamAV containers.

use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::process::Command;

use crate::testenv::{cvd, run, tar_of, Run, TestEnv, EICAR};

const EICAR_MD5: &str = "44d88612fea8a8f36de82e1278abb02f";
const EICAR_SHA256: &str = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";
const EICAR_BLAKE3: &str = "460c1ec9a3e1b5536927aac78cee9c39782626d30f0ae0917ce95dda77068e09";

/// `vigil ARGS...` in the folder, for arguments of mixed types.
fn vigil(env: &TestEnv, args: &[&dyn AsRef<OsStr>]) -> Run {
    env.vigil(args)
}

/// A ClamAV container holding `members`.
fn container(members: &[(&str, &[u8])], gzip: bool) -> Vec<u8> {
    cvd(&tar_of(members, gzip))
}

#[test]
fn check_lists_every_fault_with_file_and_line() {
    let env = TestEnv::new();
    let bad = env.write(
        "db/bad.hdb",
        format!("# c\n{EICAR_MD5}:68:Ok\nnot-a-line\n\n44d8:1:x\r\n"),
    );
    env.write("db/good.vsig", format!("sha256:{EICAR_SHA256}:*:Eicar\n"));
    let o = vigil(&env, &[&"sigs", &"check", &"db"]);
    assert_eq!(o.code(), 1, "{}", o.stderr());
    let out = o.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("db/bad.hdb:3: expected 3 to 5 (HEX"),
        "{out}"
    );
    assert!(lines[1].starts_with("db/bad.hdb:5: "), "{out}");
    assert!(o.stderr().contains("2 fault(s)"));

    fs::remove_file(&bad).unwrap();
    let o = vigil(&env, &[&"sigs", &"check", &"db"]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    assert!(o.stdout().contains("OK, 1 signatures"), "{}", o.stdout());
}

#[test]
fn stats_counts_per_algorithm_sized_and_any_size() {
    let env = TestEnv::new();
    env.write(
        "a.vsig",
        format!(
            "md5:{EICAR_MD5}:68:Eicar\nsha256:{EICAR_SHA256}:*:Eicar\nblake3:{EICAR_BLAKE3}:*:Other\n"
        ),
    );
    env.write("b.fp", format!("{EICAR_SHA256}:68:Good\n"));
    let o = vigil(&env, &[&"sigs", &"stats", &"a.vsig", &"b.fp", &"--json"]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let v: serde_json::Value = serde_json::from_str(o.stdout().trim()).unwrap();
    assert_eq!(v["detections"], 3);
    assert_eq!(v["allows"], 1);
    assert_eq!(v["names"], 3);
    assert_eq!(v["files"], 2);
    let sha = &v["algorithms"][2];
    assert_eq!(sha["algorithm"], "sha256");
    assert_eq!(
        (
            sha["detections_any_size"].as_u64(),
            sha["allows_sized"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(v["algorithms"][0]["detections_sized"], 1);
    assert!(v["rss_bytes"].as_u64().unwrap() > 0);

    let o = vigil(&env, &[&"sigs", &"stats", &"a.vsig"]);
    let out = o.stdout();
    assert!(out.contains("distinct names: 2"), "{out}");
    // The set's own bytes per signature, not the process's: tens, not millions.
    let per_signature: f64 = out
        .lines()
        .find_map(|l| {
            l.strip_suffix(" bytes per signature)")?
                .rsplit('(')
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("{out}"));
    assert!(per_signature > 0.0 && per_signature < 10_000.0, "{out}");
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["md5", "1", "1", "0", "0", "0", "0"]),
        "{out}"
    );
}

#[test]
fn add_prints_lines_that_detect_the_sample() {
    let env = TestEnv::new();
    let sample = env.write("eicar.com", EICAR);
    let o = vigil(&env, &[&"sigs", &"add", &sample]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    assert_eq!(o.stdout(), format!("sha256:{EICAR_SHA256}:68:eicar.com\n"));

    let o = vigil(
        &env,
        &[
            &"sigs",
            &"add",
            &"--algo",
            &"md5",
            &"--algo",
            &"blake3",
            &"--name",
            &"Test.Eicar",
            &sample,
        ],
    );
    assert_eq!(
        o.stdout(),
        format!("md5:{EICAR_MD5}:68:Test.Eicar\nblake3:{EICAR_BLAKE3}:68:Test.Eicar\n")
    );
    env.write("new.vsig", o.stdout());
    let o = vigil(
        &env,
        &[&"scan", &"-d", &"new.vsig", &"--no-summary", &sample],
    );
    assert_eq!(o.code(), 1, "{}", o.stderr());
    assert!(o.stdout().contains("Test.Eicar FOUND"));

    let o = vigil(
        &env,
        &[&"sigs", &"add", &"--clamav", &"--algo", &"md5", &sample],
    );
    assert_eq!(o.stdout(), format!("{EICAR_MD5}:68:eicar.com\n"));
    let o = vigil(
        &env,
        &[&"sigs", &"add", &"--clamav", &"--algo", &"blake3", &sample],
    );
    assert_eq!(o.code(), 2);
    let o = vigil(&env, &[&"sigs", &"add", &sample, &"missing"]);
    assert_eq!(o.code(), 2);
    assert!(o.stderr().contains("missing: "), "{}", o.stderr());
    assert_eq!(o.stdout().lines().count(), 1);
}

#[test]
fn import_turns_a_hash_list_into_vsig() {
    let env = TestEnv::new();
    let list = env.write(
        "list.txt",
        format!(
            "# VirusShare-style list\n{}\n\n{EICAR_SHA256}  eicar.com\r\n",
            EICAR_SHA256.to_uppercase()
        ),
    );
    let o = vigil(
        &env,
        &[
            &"sigs",
            &"import",
            &"--algo",
            &"sha256",
            &"--name",
            &"Feed.Sha256",
            &list,
        ],
    );
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let line = format!("sha256:{EICAR_SHA256}:*:Feed.Sha256\n");
    assert_eq!(o.stdout(), line.repeat(2));

    let o = vigil(
        &env,
        &[&"sigs", &"import", &"--name", &"Feed", &"--numbered", &list],
    );
    assert_eq!(
        o.stdout(),
        format!("sha256:{EICAR_SHA256}:*:Feed.2\nsha256:{EICAR_SHA256}:*:Feed.4\n")
    );

    // `-` reads the list from standard input.
    let mut cmd = env.command();
    cmd.args(["sigs", "import", "--algo", "blake3", "--name", "Piped", "-"]);
    let o = run(cmd, Some(format!("{EICAR_BLAKE3}\n").into_bytes()));
    assert_eq!(o.stdout(), format!("blake3:{EICAR_BLAKE3}:*:Piped\n"));

    // The algorithm follows from the length when not given.
    env.write("md5.txt", format!("{EICAR_MD5}\n"));
    let o = vigil(&env, &[&"sigs", &"import", &"--name", &"F", &"md5.txt"]);
    assert_eq!(o.stdout(), format!("md5:{EICAR_MD5}:*:F\n"));

    // -o writes atomically, and only a fully valid list.
    let o = vigil(
        &env,
        &[
            &"sigs",
            &"import",
            &"--name",
            &"Feed",
            &"-o",
            &"feed.vsig",
            &list,
        ],
    );
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let o = vigil(&env, &[&"sigs", &"check", &"feed.vsig"]);
    assert_eq!(o.code(), 0, "{}", o.stdout());
    env.write("bad.txt", format!("{EICAR_MD5}\nxyz\n{EICAR_SHA256}0\n"));
    let o = vigil(
        &env,
        &[
            &"sigs",
            &"import",
            &"--name",
            &"F",
            &"-o",
            &"bad.vsig",
            &"bad.txt",
        ],
    );
    assert_eq!(o.code(), 1);
    let err = o.stderr();
    assert!(
        err.contains("bad.txt:2: ") && err.contains("bad.txt:3: "),
        "{err}"
    );
    assert!(!env.path("bad.vsig").exists());
    // list.txt, md5.txt, feed.vsig, bad.txt: no temporary file is left.
    assert_eq!(fs::read_dir(env.root()).unwrap().count(), 4);
}

#[test]
fn compile_writes_an_index_that_scan_maps() {
    let env = TestEnv::new();
    env.write("db/a.hdb", format!("{EICAR_MD5}:68:Eicar.Md5\n"));
    env.write("db/b.vsig", format!("blake3:{EICAR_BLAKE3}:*:Eicar.B3\n"));
    env.write(
        "db/main.cvd",
        container(
            &[(
                "main.hsb",
                format!("{EICAR_SHA256}:*:Eicar.Sha:73\n").as_bytes(),
            )],
            true,
        ),
    );
    let sample = env.write("files/eicar.com", EICAR);
    env.write("files/clean.txt", b"hello");
    let o = vigil(&env, &[&"sigs", &"compile", &"-o", &"all.vidx", &"db"]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    assert!(o.stdout().contains("3 signatures"), "{}", o.stdout());

    let o = vigil(&env, &[&"sigs", &"stats", &"all.vidx"]);
    assert!(
        o.stdout().contains("mapped from a compiled index"),
        "{}",
        o.stdout()
    );
    assert!(o.stdout().contains("1 ClamAV containers"), "{}", o.stdout());
    let o = vigil(&env, &[&"sigs", &"check", &"all.vidx"]);
    assert_eq!(o.code(), 0, "{}", o.stdout());

    let o = vigil(
        &env,
        &[&"scan", &"-d", &"all.vidx", &"--no-summary", &"files"],
    );
    assert_eq!(o.code(), 1, "{}", o.stderr());
    assert!(
        o.stdout().contains("eicar.com: Eicar.Md5.UNOFFICIAL FOUND"),
        "{}",
        o.stdout()
    );
    assert!(o.stdout().contains("clean.txt: OK"));

    // Found by its magic whatever its name; a folder holding it loads it too.
    fs::copy(env.path("all.vidx"), env.path("renamed.bin")).unwrap();
    let o = vigil(
        &env,
        &[&"scan", &"-d", &"renamed.bin", &"--no-summary", &sample],
    );
    assert_eq!(o.code(), 1, "{}", o.stderr());
    fs::create_dir(env.path("idx")).unwrap();
    fs::copy(env.path("all.vidx"), env.path("idx/all.vidx")).unwrap();
    let o = vigil(&env, &[&"scan", &"-d", &"idx", &"--no-summary", &sample]);
    assert_eq!(o.code(), 1, "{}", o.stderr());
}

#[test]
fn a_truncated_or_damaged_index_is_refused() {
    let env = TestEnv::new();
    env.write("a.hdb", format!("{EICAR_MD5}:68:Eicar\n"));
    let o = vigil(&env, &[&"sigs", &"compile", &"-o", &"a.vidx", &"a.hdb"]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let good = fs::read(env.path("a.vidx")).unwrap();
    env.write("files/eicar.com", EICAR);

    env.write("cut.vidx", &good[..good.len() - 3]);
    let o = vigil(&env, &[&"scan", &"-d", &"cut.vidx", &"files"]);
    assert_eq!(o.code(), 2);
    assert!(
        o.stderr().contains("cut.vidx: truncated index"),
        "{}",
        o.stderr()
    );

    let mut flipped = good.clone();
    let mid = good.len() - 20;
    flipped[mid] ^= 0x10;
    env.write("flip.vidx", &flipped);
    let o = vigil(&env, &[&"sigs", &"check", &"flip.vidx"]);
    assert_eq!(o.code(), 1);
    assert!(
        o.stdout()
            .contains("flip.vidx: corrupt index: checksum mismatch"),
        "{}",
        o.stdout()
    );
}

#[test]
fn clamav_folder_with_containers_scans() {
    let env = TestEnv::new();
    env.write(
        "clamav/main.cvd",
        container(
            &[
                ("COPYING", b"text"),
                (
                    "main.hdb",
                    format!("{EICAR_MD5}:68:Eicar.Main\n").as_bytes(),
                ),
                ("main.ndb", b"Body:0:*:41\n"),
            ],
            true,
        ),
    );
    env.write(
        "clamav/daily.cld",
        container(
            &[
                ("daily.fp", b"0123456789abcdef0123456789abcdef:5:Fine\n"),
                ("daily.ldb", b"x\n"),
            ],
            false,
        ),
    );
    env.write("clamav/freshclam.dat", b"state");
    let sample = env.write("eicar.com", EICAR);
    let o = vigil(&env, &[&"scan", &"-d", &"clamav", &"--no-summary", &sample]);
    assert_eq!(o.code(), 1, "{}", o.stderr());
    assert!(o.stdout().contains("Eicar.Main.UNOFFICIAL FOUND"));
    let o = vigil(&env, &[&"sigs", &"stats", &"--json", &"clamav"]);
    let v: serde_json::Value = serde_json::from_str(o.stdout().trim()).unwrap();
    assert_eq!(
        (v["containers"].as_u64(), v["container_members"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(
        (v["skipped_members"].as_u64(), v["ignored_files"].as_u64()),
        (Some(3), Some(1))
    );

    // A tampered .cvd is refused, naming the file.
    let mut bytes = fs::read(env.path("clamav/main.cvd")).unwrap();
    let n = bytes.len();
    bytes[n - 30] ^= 1;
    env.write("clamav/main.cvd", bytes);
    let o = vigil(&env, &[&"sigs", &"check", &"clamav"]);
    assert_eq!(o.code(), 1);
    assert!(
        o.stdout().contains("main.cvd: archive MD5"),
        "{}",
        o.stdout()
    );
}

/// `sigs check` says of each database whether its names are official and
/// why; without ClamAV's private keys the test can only make unofficial ones
/// (the official case is checked with a test key inside the crate).
#[test]
fn check_says_why_each_database_is_unofficial() {
    let env = TestEnv::new();
    let hdb = format!("{EICAR_MD5}:68:Eicar.Daily\n");
    let members: &[(&str, &[u8])] = &[("daily.hdb", hdb.as_bytes())];
    env.write("db/main.cvd", container(members, true));
    // A .info listing the member, with a DSIG ClamAV's key did not make.
    let header = String::from_utf8(crate::testenv::cvd_header(&"0".repeat(32))).unwrap();
    let info = format!(
        "{}\ndaily.hdb:{}:{}\nDSIG:{}\n",
        header.trim_end(),
        hdb.len(),
        crate::testenv::hex(vigil::hash::Algorithm::Sha256, hdb.as_bytes()),
        "ab".repeat(170)
    );
    let mut cld = crate::testenv::cvd_header(&"0".repeat(32));
    cld.extend_from_slice(&tar_of(
        &[("daily.info", info.as_bytes()), members[0]],
        true,
    ));
    env.write("db/daily.cld", cld);
    env.write("db/old.cld", container(members, false));
    env.write("db/local.hsb", format!("{EICAR_SHA256}:68:Local\n"));
    env.write("db/own.vsig", format!("sha256:{EICAR_SHA256}:*:Own\n"));
    let o = vigil(&env, &[&"sigs", &"check", &"db"]);
    assert_eq!(o.code(), 0, "{}", o.stderr());
    let out = o.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..5],
        [
            "db/daily.cld: unofficial: .info signature: the digital signature does not check against ClamAV's key",
            "db/local.hsb: unofficial: .hsb text databases are never official",
            "db/main.cvd: unofficial: CVD signature: the digital signature does not check against ClamAV's key",
            "db/old.cld: unofficial: it has no .info member",
            "db/own.vsig: unofficial: .vsig is vigil's own format; its names are printed as written",
        ],
        "{out}"
    );
    assert!(lines[5].starts_with("db: OK, "), "{out}");
    // The scan warns why, and names the signatures as ClamAV would.
    let sample = env.write("eicar.com", EICAR);
    let o = vigil(
        &env,
        &[&"scan", &"-d", &"db/daily.cld", &"--no-summary", &sample],
    );
    assert_eq!(o.code(), 1, "{}", o.stderr());
    assert!(
        o.stdout().contains("Eicar.Daily.UNOFFICIAL FOUND"),
        "{}",
        o.stdout()
    );
    assert!(
        o.stderr().contains(".info signature: the digital signature does not check against ClamAV's key: its signatures load as unofficial"),
        "{}",
        o.stderr()
    );
}

#[test]
fn usage_errors_exit_2() {
    let env = TestEnv::new();
    let o = vigil(&env, &[&"sigs", &"add", &"--algo", &"crc32", &"x"]);
    assert_eq!(o.code(), 2);
    assert!(o.stderr().contains("unknown algorithm"));
    let o = vigil(&env, &[&"sigs", &"import", &"--name", &"", &"x"]);
    assert_eq!(o.code(), 2);
    let o = vigil(
        &env,
        &[&"sigs", &"compile", &"-o", &"x.vidx", &"missing.hdb"],
    );
    assert_eq!(o.code(), 2);
    assert!(!Path::new(&env.path("x.vidx")).exists());
}

/// A container built by ClamAV's own `sigtool` loads, and its header MD5 is
/// the one vigil computes. Skipped where ClamAV is not installed.
#[test]
fn a_container_built_by_sigtool_loads() {
    if Command::new("sigtool").arg("--version").output().is_err() {
        eprintln!("sigtool not installed; skipped");
        return;
    }
    let env = TestEnv::new();
    env.write(
        "build/test.hdb",
        format!("{EICAR_MD5}:68:Eicar.FromSigtool\n"),
    );
    env.write("build/test.ndb", "Sig.Ndb:0:*:414243\n");
    env.write("build/COPYING", "test\n");
    let mut cmd = Command::new("sigtool");
    cmd.args(["--build=test.cud", "--unsigned"])
        .arg(format!("--datadir={}", env.path("build").display()))
        .current_dir(env.path("build"));
    // sigtool asks for a version number and a builder name.
    let built = run(cmd, Some(b"1\ntester\n".to_vec()));
    let cud = env.path("build/test.cud");
    assert!(cud.exists(), "sigtool failed: {}", built.dump());
    fs::create_dir(env.path("db")).unwrap();
    fs::copy(&cud, env.path("db/test.cud")).unwrap();
    // As a .cvd the header MD5 is checked (the RSA signature is not).
    fs::copy(&cud, env.path("db/same.cvd")).unwrap();
    let sample = env.write("eicar.com", EICAR);
    let o = vigil(&env, &[&"scan", &"-d", &"db", &"--no-summary", &sample]);
    assert_eq!(o.code(), 1, "{}", o.stderr());
    assert!(o.stdout().contains("Eicar.FromSigtool.UNOFFICIAL FOUND"));
    let o = vigil(&env, &[&"sigs", &"stats", &"--json", &"db"]);
    let v: serde_json::Value = serde_json::from_str(o.stdout().trim()).unwrap();
    // test.info, test.ndb and COPYING are skipped in each container.
    assert_eq!(
        (v["containers"].as_u64(), v["skipped_members"].as_u64()),
        (Some(2), Some(6))
    );
}
