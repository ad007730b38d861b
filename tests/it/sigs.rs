//! `vigil sigs` and the database formats, through the real binary (issue 7):
//! check, stats, add, import and compile, and `vigil scan -d` on a compiled
//! index and on ClamAV containers.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use md5::{Digest as _, Md5};

const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
const EICAR_MD5: &str = "44d88612fea8a8f36de82e1278abb02f";
const EICAR_SHA256: &str = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";
const EICAR_BLAKE3: &str = "460c1ec9a3e1b5536927aac78cee9c39782626d30f0ae0917ce95dda77068e09";

/// A scratch folder and the binary.
struct TestEnv {
    dir: tempfile::TempDir,
}

impl TestEnv {
    fn new() -> Self {
        TestEnv {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        fs::write(&path, bytes).unwrap();
        path
    }

    fn vigil(&self, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(args.iter().map(|a| a.as_ref()))
            .current_dir(self.dir.path())
            .output()
            .unwrap()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

/// A ClamAV container: 512-byte header with the body's MD5, then a tar.
fn container(members: &[(&str, &[u8])], gzip: bool) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, data) in members {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, *data).unwrap();
    }
    let tar = tar.into_inner().unwrap();
    let body = if gzip {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar).unwrap();
        gz.finish().unwrap()
    } else {
        tar
    };
    let sum: String = Md5::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut out =
        format!("ClamAV-VDB:26 Nov 2025 10-00 +0000:62:7:90:{sum}:dsig:tester:1764151200")
            .into_bytes();
    out.resize(512, b' ');
    out.extend_from_slice(&body);
    out
}

#[test]
fn check_lists_every_fault_with_file_and_line() {
    let env = TestEnv::new();
    let bad = env.write(
        "db/bad.hdb",
        format!("# c\n{EICAR_MD5}:68:Ok\nnot-a-line\n\n44d8:1:x\r\n"),
    );
    env.write("db/good.vsig", format!("sha256:{EICAR_SHA256}:*:Eicar\n"));
    let o = env.vigil(&[&"sigs", &"check", &"db"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("db/bad.hdb:3: expected 3 to 5 (HEX"),
        "{out}"
    );
    assert!(lines[1].starts_with("db/bad.hdb:5: "), "{out}");
    assert!(stderr(&o).contains("2 fault(s)"));

    fs::remove_file(&bad).unwrap();
    let o = env.vigil(&[&"sigs", &"check", &"db"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("OK, 1 signatures"), "{}", stdout(&o));
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
    let o = env.vigil(&[&"sigs", &"stats", &"a.vsig", &"b.fp", &"--json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
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

    let o = env.vigil(&[&"sigs", &"stats", &"a.vsig"]);
    let out = stdout(&o);
    assert!(out.contains("distinct names: 2"), "{out}");
    assert!(out.contains("bytes per signature"), "{out}");
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
    let o = env.vigil(&[&"sigs", &"add", &sample]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stdout(&o), format!("sha256:{EICAR_SHA256}:68:eicar.com\n"));

    let o = env.vigil(&[
        &"sigs",
        &"add",
        &"--algo",
        &"md5",
        &"--algo",
        &"blake3",
        &"--name",
        &"Test.Eicar",
        &sample,
    ]);
    assert_eq!(
        stdout(&o),
        format!("md5:{EICAR_MD5}:68:Test.Eicar\nblake3:{EICAR_BLAKE3}:68:Test.Eicar\n")
    );
    env.write("new.vsig", stdout(&o));
    let o = env.vigil(&[&"scan", &"-d", &"new.vsig", &"--no-summary", &sample]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stdout(&o).contains("Test.Eicar FOUND"));

    let o = env.vigil(&[&"sigs", &"add", &"--clamav", &"--algo", &"md5", &sample]);
    assert_eq!(stdout(&o), format!("{EICAR_MD5}:68:eicar.com\n"));
    let o = env.vigil(&[&"sigs", &"add", &"--clamav", &"--algo", &"blake3", &sample]);
    assert_eq!(code(&o), 2);
    let o = env.vigil(&[&"sigs", &"add", &sample, &"missing"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("missing: "), "{}", stderr(&o));
    assert_eq!(stdout(&o).lines().count(), 1);
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
    let o = env.vigil(&[
        &"sigs",
        &"import",
        &"--algo",
        &"sha256",
        &"--name",
        &"Feed.Sha256",
        &list,
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let line = format!("sha256:{EICAR_SHA256}:*:Feed.Sha256\n");
    assert_eq!(stdout(&o), line.repeat(2));

    let o = env.vigil(&[&"sigs", &"import", &"--name", &"Feed", &"--numbered", &list]);
    assert_eq!(
        stdout(&o),
        format!("sha256:{EICAR_SHA256}:*:Feed.2\nsha256:{EICAR_SHA256}:*:Feed.4\n")
    );

    // `-` reads the list from standard input.
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["sigs", "import", "--algo", "blake3", "--name", "Piped", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{EICAR_BLAKE3}\n").as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(stdout(&o), format!("blake3:{EICAR_BLAKE3}:*:Piped\n"));

    // The algorithm follows from the length when not given.
    env.write("md5.txt", format!("{EICAR_MD5}\n"));
    let o = env.vigil(&[&"sigs", &"import", &"--name", &"F", &"md5.txt"]);
    assert_eq!(stdout(&o), format!("md5:{EICAR_MD5}:*:F\n"));

    // -o writes atomically, and only a fully valid list.
    let o = env.vigil(&[
        &"sigs",
        &"import",
        &"--name",
        &"Feed",
        &"-o",
        &"feed.vsig",
        &list,
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let o = env.vigil(&[&"sigs", &"check", &"feed.vsig"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    env.write("bad.txt", format!("{EICAR_MD5}\nxyz\n{EICAR_SHA256}0\n"));
    let o = env.vigil(&[
        &"sigs",
        &"import",
        &"--name",
        &"F",
        &"-o",
        &"bad.vsig",
        &"bad.txt",
    ]);
    assert_eq!(code(&o), 1);
    let err = stderr(&o);
    assert!(
        err.contains("bad.txt:2: ") && err.contains("bad.txt:3: "),
        "{err}"
    );
    assert!(!env.path("bad.vsig").exists());
    // list.txt, md5.txt, feed.vsig, bad.txt: no temporary file is left.
    assert_eq!(fs::read_dir(env.dir.path()).unwrap().count(), 4);
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
    let o = env.vigil(&[&"sigs", &"compile", &"-o", &"all.vidx", &"db"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("3 signatures"), "{}", stdout(&o));

    let o = env.vigil(&[&"sigs", &"stats", &"all.vidx"]);
    assert!(
        stdout(&o).contains("mapped from a compiled index"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("1 ClamAV containers"), "{}", stdout(&o));
    let o = env.vigil(&[&"sigs", &"check", &"all.vidx"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));

    let o = env.vigil(&[&"scan", &"-d", &"all.vidx", &"--no-summary", &"files"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("eicar.com: Eicar.Md5 FOUND"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("clean.txt: OK"));

    // Found by its magic whatever its name; a folder holding it loads it too.
    fs::copy(env.path("all.vidx"), env.path("renamed.bin")).unwrap();
    let o = env.vigil(&[&"scan", &"-d", &"renamed.bin", &"--no-summary", &sample]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    fs::create_dir(env.path("idx")).unwrap();
    fs::copy(env.path("all.vidx"), env.path("idx/all.vidx")).unwrap();
    let o = env.vigil(&[&"scan", &"-d", &"idx", &"--no-summary", &sample]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
}

#[test]
fn a_truncated_or_damaged_index_is_refused() {
    let env = TestEnv::new();
    env.write("a.hdb", format!("{EICAR_MD5}:68:Eicar\n"));
    let o = env.vigil(&[&"sigs", &"compile", &"-o", &"a.vidx", &"a.hdb"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let good = fs::read(env.path("a.vidx")).unwrap();
    env.write("files/eicar.com", EICAR);

    env.write("cut.vidx", &good[..good.len() - 3]);
    let o = env.vigil(&[&"scan", &"-d", &"cut.vidx", &"files"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("cut.vidx: truncated index"),
        "{}",
        stderr(&o)
    );

    let mut flipped = good.clone();
    let mid = good.len() - 20;
    flipped[mid] ^= 0x10;
    env.write("flip.vidx", &flipped);
    let o = env.vigil(&[&"sigs", &"check", &"flip.vidx"]);
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).contains("flip.vidx: corrupt index: checksum mismatch"),
        "{}",
        stdout(&o)
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
    let o = env.vigil(&[&"scan", &"-d", &"clamav", &"--no-summary", &sample]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stdout(&o).contains("Eicar.Main FOUND"));
    let o = env.vigil(&[&"sigs", &"stats", &"--json", &"clamav"]);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
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
    let o = env.vigil(&[&"sigs", &"check", &"clamav"]);
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).contains("main.cvd: archive MD5"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn usage_errors_exit_2() {
    let env = TestEnv::new();
    let o = env.vigil(&[&"sigs", &"add", &"--algo", &"crc32", &"x"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("unknown algorithm"));
    let o = env.vigil(&[&"sigs", &"import", &"--name", &"", &"x"]);
    assert_eq!(code(&o), 2);
    let o = env.vigil(&[&"sigs", &"compile", &"-o", &"x.vidx", &"missing.hdb"]);
    assert_eq!(code(&o), 2);
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
    let mut child = Command::new("sigtool")
        .args(["--build=test.cud", "--unsigned"])
        .arg(format!("--datadir={}", env.path("build").display()))
        .current_dir(env.path("build"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // sigtool asks for a version number and a builder name.
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"1\ntester\n")
        .unwrap();
    let built = child.wait_with_output().unwrap();
    let cud = env.path("build/test.cud");
    assert!(
        cud.exists(),
        "sigtool failed: {}{}",
        stdout(&built),
        stderr(&built)
    );
    fs::create_dir(env.path("db")).unwrap();
    fs::copy(&cud, env.path("db/test.cud")).unwrap();
    // As a .cvd the header MD5 is checked (the RSA signature is not).
    fs::copy(&cud, env.path("db/same.cvd")).unwrap();
    let sample = env.write("eicar.com", EICAR);
    let o = env.vigil(&[&"scan", &"-d", &"db", &"--no-summary", &sample]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stdout(&o).contains("Eicar.FromSigtool FOUND"));
    let o = env.vigil(&[&"sigs", &"stats", &"--json", &"db"]);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    // test.info, test.ndb and COPYING are skipped in each container.
    assert_eq!(
        (v["containers"].as_u64(), v["skipped_members"].as_u64()),
        (Some(2), Some(6))
    );
}
