//! Hostile signature feeds load in bounded memory: each case runs the real
//! binary on a crafted database and asserts its peak resident set (from
//! `/usr/bin/time`), what it printed, and how it exited. The crafted containers are
//! small on disk and claim, or unpack to, far more: a tar long name that says
//! it is gigabytes, a `.cvd` whose MD5 is wrong, lines with megabyte-long
//! size fields, one valid line repeated past the line limit.
//!
//! Needs `/usr/bin/time` (Debian package `time`).

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::testenv::{cvd_header, vigil_bin, TestEnv, RUN_TIMEOUT};

/// Peak resident memory a load of a hostile database may reach. A debug
/// build with the built-in set peaks near 10 MiB; two 4 MiB read blocks, the
/// gzip window and the tar reader add little to that.
const RSS_BOUND_KIB: u64 = 96 * 1024;

/// Output kept from a child, per stream; the rest is only counted.
const KEEP_OUTPUT: usize = 1 << 20;

/// One run of the binary: exit code, peak RSS, and its output (the first
/// `KEEP_OUTPUT` bytes of each stream, and each stream's full length).
struct Measured {
    code: Option<i32>,
    peak_kib: u64,
    stdout: String,
    stdout_len: usize,
    stderr: String,
    stderr_len: usize,
}

impl Measured {
    fn dump(&self) -> String {
        format!(
            "exit {:?}, peak {} KiB\n--- stdout ({} bytes)\n{}\n--- stderr ({} bytes)\n{}",
            self.code,
            self.peak_kib,
            self.stdout_len,
            head(&self.stdout, 4000),
            self.stderr_len,
            head(&self.stderr, 4000)
        )
    }

    fn assert_bounded(&self) {
        eprintln!("peak RSS {} KiB", self.peak_kib);
        assert!(
            self.peak_kib < RSS_BOUND_KIB,
            "peak RSS {} KiB, bound {} KiB\n{}",
            self.peak_kib,
            RSS_BOUND_KIB,
            self.dump()
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.dump());
    }
}

fn head(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Drains a pipe, keeping the first `KEEP_OUTPUT` bytes and counting all.
fn drain(pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<(Vec<u8>, usize)> {
    std::thread::spawn(move || {
        let mut pipe = pipe;
        let mut kept = Vec::new();
        let mut total = 0;
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    total += n;
                    let room = KEEP_OUTPUT.saturating_sub(kept.len());
                    kept.extend_from_slice(&buf[..n.min(room)]);
                }
            }
        }
        (kept, total)
    })
}

/// Runs `vigil ARGS...` in `dir` under `/usr/bin/time`, which reports the
/// child's own peak resident set (`%M`, KiB). (`wait4` here would not do: a
/// child spawned from this large test process inherits its high-water mark.)
fn measured<S: AsRef<OsStr>>(dir: &Path, args: &[S]) -> Measured {
    let report = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(report.path())
        .arg(vigil_bin())
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run vigil under /usr/bin/time (Debian package `time`)");
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let deadline = Instant::now() + RUN_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            panic!("vigil timed out after {RUN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let (stdout, stdout_len) = out.join().unwrap();
    let (stderr, stderr_len) = err.join().unwrap();
    let report = std::fs::read_to_string(report.path()).unwrap();
    let peak_kib = report
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS from /usr/bin/time: {report:?}"));
    Measured {
        // `time` exits with the child's code; a child killed by a signal
        // is reported as "Command terminated by signal" in the report.
        code: status
            .code()
            .filter(|_| !report.contains("terminated by signal")),
        peak_kib,
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stdout_len,
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        stderr_len,
    }
}

/// Gzip, written as a stream so that large bodies never sit in memory.
fn gzip_into(out: impl Write) -> flate2::write::GzEncoder<impl Write> {
    flate2::write::GzEncoder::new(out, flate2::Compression::fast())
}

/// Writes `n` copies of `chunk` to `out`.
fn repeat(out: &mut (impl Write + ?Sized), chunk: &[u8], n: usize) {
    for _ in 0..n {
        out.write_all(chunk).unwrap();
    }
}

/// A 512-byte tar header block (GNU format) with its checksum set.
fn tar_header(name: &str, kind: tar::EntryType, size: u64) -> [u8; 512] {
    let mut h = tar::Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_size(size);
    h.set_cksum();
    *h.as_bytes()
}

/// Zero padding that ends a tar member of `len` bytes on a block boundary.
fn pad(len: u64) -> Vec<u8> {
    vec![0u8; ((512 - len % 512) % 512) as usize]
}

/// Writes a `.cld` (header, then a gzip'd tar that `body` writes).
fn write_cld(path: &Path, body: impl FnOnce(&mut dyn Write)) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    file.write_all(&cvd_header(&"0".repeat(32))).unwrap();
    let mut gz = gzip_into(file);
    body(&mut gz);
    gz.finish().unwrap().flush().unwrap();
}

/// A tar member holding `n` copies of `line`, as `name`.
fn lines_member(out: &mut dyn Write, name: &str, line: &[u8], n: usize) {
    let len = (line.len() * n) as u64;
    out.write_all(&tar_header(name, tar::EntryType::Regular, len))
        .unwrap();
    repeat(out, line, n);
    out.write_all(&pad(len)).unwrap();
}

fn end_of_archive(out: &mut dyn Write) {
    out.write_all(&[0u8; 1024]).unwrap();
}

const EICAR_MD5_LINE: &[u8] = b"44d88612fea8a8f36de82e1278abb02f:68:Eicar.Md5\n";

fn db_path(env: &TestEnv, name: &str) -> PathBuf {
    env.path(name)
}

/// A GNU long-name member that claims 8 GiB, with 256 MiB of it present
/// before the archive ends: the name must not be read into memory whole.
#[test]
fn a_long_name_claiming_gigabytes_is_refused_in_bounded_memory() {
    let env = TestEnv::new();
    let cld = db_path(&env, "daily.cld");
    write_cld(&cld, |out| {
        out.write_all(&tar_header(
            "././@LongLink",
            tar::EntryType::GNULongName,
            8 << 30,
        ))
        .unwrap();
        repeat(out, &[b'a'; 1 << 20], 256);
    });
    let size = std::fs::metadata(&cld).unwrap().len();
    assert!(size < 2 << 20, "the .cld is {size} bytes");
    let run = measured(env.root(), &["sigs", "check", "daily.cld"]);
    run.assert_bounded();
    assert_eq!(run.code, Some(1), "{}", run.dump());
    assert!(run.stdout.contains("long name"), "{}", run.dump());
}

/// A `.cvd` whose body would unpack to 256 MiB of valid lines, but whose
/// header MD5 is wrong, is refused before any of it is parsed.
#[test]
fn a_cvd_with_a_wrong_md5_is_refused_before_parsing() {
    let env = TestEnv::new();
    let cvd = db_path(&env, "main.cvd");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&cvd).unwrap());
    file.write_all(&cvd_header(&"0".repeat(32))).unwrap();
    let mut gz = gzip_into(file);
    let n = (256 << 20) / EICAR_MD5_LINE.len();
    lines_member(&mut gz, "main.hdb", EICAR_MD5_LINE, n);
    end_of_archive(&mut gz);
    gz.finish().unwrap().flush().unwrap();
    let run = measured(env.root(), &["sigs", "check", "main.cvd"]);
    run.assert_bounded();
    assert_eq!(run.code, Some(1), "{}", run.dump());
    assert!(run.stdout.contains("MD5"), "{}", run.dump());
}

/// Lines whose size field is 4 MB of digits: each is one fault with a short
/// excerpt, and a scan prints a bounded number of them.
#[test]
fn megabyte_size_fields_fault_with_short_excerpts() {
    let env = TestEnv::new();
    let cld = db_path(&env, "daily.cld");
    let mut line = b"44d88612fea8a8f36de82e1278abb02f:".to_vec();
    line.extend(std::iter::repeat(b'9').take(4_000_000));
    line.extend_from_slice(b":Huge.Size\n");
    const LINES: usize = 40;
    write_cld(&cld, |out| {
        lines_member(out, "daily.hdb", &line, LINES);
        end_of_archive(out);
    });
    env.write("clean.txt", b"clean");
    let run = measured(env.root(), &["scan", "-d", "daily.cld", "clean.txt"]);
    run.assert_bounded();
    assert_eq!(run.code, Some(2), "{}", run.dump());
    assert!(run.stderr_len < 16 << 10, "{}", run.dump());
    assert!(run.stderr.contains("bad size"), "{}", run.dump());
    // `sigs check` lists every fault, each one short.
    let run = measured(env.root(), &["sigs", "check", "daily.cld"]);
    run.assert_bounded();
    assert_eq!(run.code, Some(1), "{}", run.dump());
    assert_eq!(run.stdout.lines().count(), LINES, "{}", run.dump());
    assert!(run.stdout_len < LINES * 300, "{}", run.dump());
}

/// A load that fails prints at most a screenful of faults and the count of
/// the rest; `sigs check` lists them all.
#[test]
fn a_failed_load_shows_some_faults_and_check_lists_all() {
    let env = TestEnv::new();
    let mut text = String::from("44d88612fea8a8f36de82e1278abb02f:68:Good\n");
    for i in 0..500 {
        text.push_str(&format!("not a signature {i}\n"));
    }
    env.write("bad.hdb", &text);
    env.write("clean.txt", b"clean");
    let run = measured(env.root(), &["scan", "-d", "bad.hdb", "clean.txt"]);
    assert_eq!(run.code, Some(2), "{}", run.dump());
    let lines = run.stderr.lines().count();
    assert!(lines <= 30, "{lines} lines\n{}", run.dump());
    assert!(run.stderr.contains("480 more"), "{}", run.dump());
    assert!(run.stderr.contains("vigil sigs check"), "{}", run.dump());
    let run = measured(env.root(), &["sigs", "check", "bad.hdb"]);
    assert_eq!(run.code, Some(1), "{}", run.dump());
    assert_eq!(run.stdout.lines().count(), 500, "{}", run.dump());
}

/// One valid line repeated two million times: refused past the line limit
/// (lowered here to keep the test fast), in bounded memory.
#[test]
fn a_database_past_the_line_limit_is_refused() {
    let env = TestEnv::new();
    let cld = db_path(&env, "daily.cld");
    write_cld(&cld, |out| {
        lines_member(out, "daily.hdb", EICAR_MD5_LINE, 2_000_000);
        end_of_archive(out);
    });
    let run = measured(
        env.root(),
        &["sigs", "check", "--max-db-lines", "100000", "daily.cld"],
    );
    run.assert_bounded();
    assert_eq!(run.code, Some(1), "{}", run.dump());
    assert!(
        run.stdout.contains("more than 100000 lines"),
        "{}",
        run.dump()
    );
    env.write("clean.txt", b"clean");
    let run = measured(
        env.root(),
        &[
            "scan",
            "--max-db-lines",
            "100000",
            "-d",
            "daily.cld",
            "clean.txt",
        ],
    );
    run.assert_bounded();
    assert_eq!(run.code, Some(2), "{}", run.dump());
    assert!(run.stderr.contains("--max-db-lines"), "{}", run.dump());
    // Under the limit, the same database loads.
    let run = measured(
        env.root(),
        &["sigs", "check", "--max-db-lines", "2000000", "daily.cld"],
    );
    assert_eq!(run.code, Some(0), "{}", run.dump());
}

/// A container that unpacks past the size limit is refused, whatever its
/// members are (here one that vigil would only skip).
#[test]
fn a_database_past_the_unpacked_size_limit_is_refused() {
    let env = TestEnv::new();
    let cld = db_path(&env, "daily.cld");
    write_cld(&cld, |out| {
        lines_member(out, "daily.hdb", EICAR_MD5_LINE, 1);
        lines_member(out, "daily.ndb", &[b'x'; 1 << 20], 64);
        end_of_archive(out);
    });
    let run = measured(
        env.root(),
        &["sigs", "check", "--max-db-size", "16M", "daily.cld"],
    );
    run.assert_bounded();
    assert_eq!(run.code, Some(1), "{}", run.dump());
    assert!(
        run.stdout.contains("unpacks to more than"),
        "{}",
        run.dump()
    );
    let run = measured(
        env.root(),
        &["sigs", "check", "--max-db-size", "80M", "daily.cld"],
    );
    assert_eq!(run.code, Some(0), "{}", run.dump());
}

/// One tar member of a hostile container: its type, the size its header
/// claims, and the bytes that follow it.
#[derive(Clone, Debug)]
struct Member {
    kind: u8,
    name: String,
    claimed: u64,
    data: Vec<u8>,
    /// Zero bytes appended to `data` (compressed away when gzip'd).
    zeros: usize,
}

fn member() -> impl proptest::strategy::Strategy<Value = Member> {
    use proptest::prelude::*;
    let kind = prop_oneof![
        Just(b'0'),
        Just(b'L'),
        Just(b'K'),
        Just(b'x'),
        Just(b'g'),
        Just(b'S'),
        Just(b'5'),
        any::<u8>(),
    ];
    let name = prop_oneof![
        Just("daily.hdb".to_string()),
        Just("daily.ndb".to_string()),
        Just("././@LongLink".to_string()),
        "[a-z./]{0,99}",
    ];
    let data = prop_oneof![
        Just(EICAR_MD5_LINE.to_vec()),
        Just(b"30 path=x/daily.hsb\n".to_vec()),
        Just(b"14 size=99999\n".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..2048),
    ];
    let claimed = prop_oneof![
        Just(None),
        Just(Some(8u64 << 30)),
        Just(Some(u64::from(u32::MAX))),
        (0u64..1 << 20).prop_map(Some),
    ];
    (kind, name, data, claimed, 0usize..(16 << 20)).prop_map(
        |(kind, name, data, claimed, zeros)| {
            let zeros = if kind == b'L' || kind == b'x' {
                zeros
            } else {
                zeros % 4096
            };
            Member {
                kind,
                name,
                claimed: claimed.unwrap_or((data.len() + zeros) as u64),
                data,
                zeros,
            }
        },
    )
}

/// Writes the tar stream of `members` to `out`, cut after `keep` bytes.
fn hostile_tar(out: &mut dyn Write, members: &[Member], keep: u64) {
    let mut written = 0u64;
    let mut put = |out: &mut dyn Write, bytes: &[u8]| {
        let room = keep.saturating_sub(written).min(bytes.len() as u64) as usize;
        out.write_all(&bytes[..room]).unwrap();
        written += room as u64;
    };
    let zeros = vec![0u8; 1 << 20];
    for m in members {
        let mut h = tar::Header::new_gnu();
        let name = m.name.as_bytes();
        h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name);
        h.as_gnu_mut().unwrap().typeflag[0] = m.kind;
        h.set_mode(0o644);
        h.set_size(m.claimed);
        h.set_cksum();
        put(out, h.as_bytes());
        put(out, &m.data);
        let mut left = m.zeros;
        while left > 0 {
            let n = left.min(zeros.len());
            put(out, &zeros[..n]);
            left -= n;
        }
        put(out, &pad((m.data.len() + m.zeros) as u64));
    }
    put(out, &[0u8; 1024]);
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config {
        cases: 24,
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    })]

    /// Whatever the tar members claim and however the archive is cut, a
    /// load ends in a verdict (loaded, or faults) in bounded memory.
    #[test]
    fn hostile_containers_load_or_fault_in_bounded_memory(
        members in proptest::collection::vec(member(), 1..5),
        keep in proptest::prop_oneof![proptest::strategy::Just(u64::MAX), 0u64..40_000],
        gzip in proptest::bool::ANY,
        cvd in proptest::bool::ANY,
    ) {
        let env = TestEnv::new();
        let mut body: Vec<u8> = Vec::new();
        if gzip {
            let mut gz = gzip_into(&mut body);
            hostile_tar(&mut gz, &members, keep);
            gz.finish().unwrap();
        } else {
            hostile_tar(&mut body, &members, keep);
        }
        // A .cvd gets the right MD5, so that its archive is read.
        let md5 = vigil::hash::hash_bytes(vigil::hash::Algorithm::Md5, &body).to_hex();
        let name = if cvd { "db.cvd" } else { "db.cld" };
        let mut file = cvd_header(&md5);
        file.extend_from_slice(&body);
        env.write(name, &file);
        let run = measured(env.root(), &["sigs", "check", name]);
        run.assert_bounded();
        proptest::prop_assert!(matches!(run.code, Some(0 | 1)), "{}", run.dump());
    }
}
