//! Containers: signatures matched against what is inside archives,
//! compressed files and mail, with the limits that keep hostile ones cheap.
//! Archives are made here with Python's own writers (`zipfile`, `tarfile`,
//! `gzip`, `bz2`, `lzma`) and Debian's tools; ClamAV's test files come from
//! Debian's `clamav-testfiles`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::testenv::{hex, Daemon, Rng, TestEnv};
use vigil::hash::Algorithm;

const TESTFILES: &str = "/usr/share/clamav-testfiles";

/// Under CI a missing tool fails the test; elsewhere it is skipped.
fn have(tool: &str, what: &str) -> bool {
    let found = Path::new(what).exists()
        || Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{tool} is missing under CI"
        );
        eprintln!("skipped: {tool} is not installed");
    }
    found
}

/// A one-line `.hsb` for `data`, sized.
fn hsb(env: &TestEnv, data: &[u8], name: &str) -> std::path::PathBuf {
    env.write(
        "sigs/test.hsb",
        format!("{}:{}:{name}\n", hex(Algorithm::Sha256, data), data.len()),
    )
}

#[test]
fn clamav_test_files_found_exactly() {
    if !have("clamav-testfiles", TESTFILES) {
        return;
    }
    let clam = std::fs::read(format!("{TESTFILES}/clam.exe")).unwrap();
    assert_eq!(clam.len(), 544);
    let env = TestEnv::new();
    let db = hsb(&env, &clam, "Clam.Test");
    let run = env.scan(["-i", "--no-summary", "-d", db.to_str().unwrap(), TESTFILES]);
    run.assert_code(1);
    let found: Vec<String> = run.sorted_results();
    let want: Vec<String> = [
        "clam.7z",
        "clam.bin-be.cpio",
        "clam.bin-le.cpio",
        "clam.bz2.zip",
        "clam.cab",
        "clam.d64.zip",
        "clam.exe",
        "clam.exe.binhex",
        "clam.exe.bz2",
        "clam.exe.mbox.base64",
        "clam.exe.mbox.uu",
        "clam.exe.szdd",
        "clam.mail",
        "clam.newc.cpio",
        "clam.odc.cpio",
        "clam.tar.gz",
        "clam.zip",
        "clam_cache_emax.tgz",
    ]
    .iter()
    .map(|f| format!("{TESTFILES}/{f}: Clam.Test.UNOFFICIAL FOUND"))
    .collect();
    let mut want = want;
    want.sort();
    assert_eq!(found, want, "{}", run.dump());
    // Off, only the program itself.
    let off = env.scan([
        "-i",
        "--no-summary",
        "--scan-archive=no",
        "-d",
        db.to_str().unwrap(),
        TESTFILES,
    ]);
    assert_eq!(
        off.sorted_results(),
        vec![format!("{TESTFILES}/clam.exe: Clam.Test.UNOFFICIAL FOUND")]
    );
}

/// A payload planted at depths 1 to 4 in several formats; a control tree of
/// the same archives without it gives nothing.
#[test]
fn nested_members_at_depths_one_to_four() {
    let env = TestEnv::new();
    let payload = Rng::new(7).bytes(3000);
    env.write("payload.bin", &payload);
    let db = hsb(&env, &payload, "Planted");
    env.python(
        r#"
import sys, os, io, zipfile, tarfile, gzip, bz2, lzma
root = sys.argv[1]
payload = open(os.path.join(root, 'payload.bin'), 'rb').read()
os.remove(os.path.join(root, 'payload.bin'))
def zipped(name, data, method=zipfile.ZIP_DEFLATED):
    b = io.BytesIO()
    with zipfile.ZipFile(b, 'w', method) as z:
        z.writestr('readme.txt', 'hello')
        z.writestr(name, data)
    return b.getvalue()
def tarred(name, data, fmt=tarfile.PAX_FORMAT):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode='w', format=fmt) as t:
        i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
    return b.getvalue()
def out(tree, name, data):
    d = os.path.join(root, tree); os.makedirs(d, exist_ok=True)
    open(os.path.join(d, name), 'wb').write(data)
for tree, p in (('planted', payload), ('control', payload[::-1])):
    out(tree, 'd1.zip', zipped('p.bin', p))
    out(tree, 'd1-stored.zip', zipped('p.bin', p, zipfile.ZIP_STORED))
    out(tree, 'd1-bzip2.zip', zipped('p.bin', p, zipfile.ZIP_BZIP2))
    out(tree, 'd1.gz', gzip.compress(p))
    out(tree, 'd1.bz2', bz2.compress(p))
    out(tree, 'd1.xz', lzma.compress(p))
    out(tree, 'd1-gnu.tar', tarred('p.bin', p, tarfile.GNU_FORMAT))
    out(tree, 'd2.tar.gz', gzip.compress(tarred('dir/p.bin', p)))
    out(tree, 'd2.tar.xz', lzma.compress(tarred('p.bin', p)))
    out(tree, 'd3.zip', zipped('inner.tar.gz', gzip.compress(tarred('p.bin', p))))
    out(tree, 'd4.zip', zipped('a.tar.bz2', bz2.compress(tarred('b.zip', zipped('c.gz', gzip.compress(p))))))
    out(tree, 'named.pdf', zipped('p.bin', p))
"#,
        &[],
    );
    let run = env.scan([
        "-i",
        "--no-summary",
        "--json",
        "-d",
        db.to_str().unwrap(),
        "planted",
    ]);
    run.assert_code(1);
    let mut found: Vec<(String, Vec<String>)> = run
        .json()
        .iter()
        .filter(|v| v["type"] == "detection")
        .map(|v| {
            let path = v["path"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_string();
            let chain = v["member"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m.as_str().unwrap().to_string())
                .collect();
            (path, chain)
        })
        .collect();
    found.sort();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        found,
        vec![
            ("d1-bzip2.zip".into(), s(&["p.bin"])),
            ("d1-gnu.tar".into(), s(&["p.bin"])),
            ("d1-stored.zip".into(), s(&["p.bin"])),
            ("d1.bz2".into(), s(&[""])),
            ("d1.gz".into(), s(&[""])),
            ("d1.xz".into(), s(&[""])),
            ("d1.zip".into(), s(&["p.bin"])),
            ("d2.tar.gz".into(), s(&["", "dir/p.bin"])),
            ("d2.tar.xz".into(), s(&["", "p.bin"])),
            ("d3.zip".into(), s(&["inner.tar.gz", "", "p.bin"])),
            ("d4.zip".into(), s(&["a.tar.bz2", "", "b.zip", "c.gz", ""])),
            ("named.pdf".into(), s(&["p.bin"])),
        ],
        "{}",
        run.dump()
    );
    let control = env.scan(["-i", "--no-summary", "-d", db.to_str().unwrap(), "control"]);
    control.assert_code(0);
    assert!(control.results().is_empty(), "{}", control.dump());
    // Depth: with --max-recursion 2 the depth-4 member is out of reach, and
    // --alert-exceeds-max says so.
    let shallow = env.scan([
        "-i",
        "--no-summary",
        "--max-recursion",
        "2",
        "--alert-exceeds-max",
        "-d",
        db.to_str().unwrap(),
        "planted/d4.zip",
    ]);
    assert_eq!(
        shallow.results(),
        vec!["planted/d4.zip: Heuristics.Limits.Exceeded.MaxRecursion FOUND"],
        "{}",
        shallow.dump()
    );
}

/// An allow-listed container is clean with all it holds.
#[test]
fn allow_listed_container_is_clean() {
    let env = TestEnv::new();
    let payload = Rng::new(9).bytes(2000);
    env.write("payload.bin", &payload);
    let db = hsb(&env, &payload, "Planted");
    env.python(
        r#"
import sys, os, zipfile
root = sys.argv[1]
with zipfile.ZipFile(os.path.join(root, 'a.zip'), 'w') as z:
    z.write(os.path.join(root, 'payload.bin'), 'p.bin')
os.remove(os.path.join(root, 'payload.bin'))
"#,
        &[],
    );
    let zip = std::fs::read(env.path("a.zip")).unwrap();
    env.write(
        "sigs/allow.sfp",
        format!("{}:{}:Ok\n", hex(Algorithm::Sha256, &zip), zip.len()),
    );
    let hit = env.scan(["-i", "--no-summary", "-d", db.to_str().unwrap(), "a.zip"]);
    hit.assert_code(1);
    let allowed = env.scan([
        "-i",
        "--no-summary",
        "-d",
        env.path("sigs").to_str().unwrap(),
        "a.zip",
    ]);
    allowed.assert_code(0);
}

/// Hostile containers finish quickly, without a panic, and the next file is
/// still scanned.
#[test]
fn hostile_containers_finish_and_the_scan_goes_on() {
    let env = TestEnv::new();
    let payload = Rng::new(11).bytes(1500);
    env.write("payload.bin", &payload);
    let db = hsb(&env, &payload, "Planted");
    env.python(
        r#"
import sys, os, io, zipfile, gzip, tarfile, zlib
root = sys.argv[1]
payload = open(os.path.join(root, 'payload.bin'), 'rb').read()
os.remove(os.path.join(root, 'payload.bin'))
d = os.path.join(root, 'h'); os.makedirs(d)
def w(name, data): open(os.path.join(d, name), 'wb').write(data)
# Nested zip bomb: 16 x 16 x 16 members of 2.5 MiB of zeros (~10 GiB).
leaf = io.BytesIO()
with zipfile.ZipFile(leaf, 'w', zipfile.ZIP_DEFLATED) as z:
    for i in range(16): z.writestr('%d.bin' % i, b'\0' * (5 << 19))
layer = leaf.getvalue()
for level in range(2):
    b = io.BytesIO()
    with zipfile.ZipFile(b, 'w', zipfile.ZIP_STORED) as z:
        for i in range(16): z.writestr('%d.zip' % i, layer)
    layer = b.getvalue()
w('a-bomb.zip', layer)
# Endless gzip: a stream of zeros far past any limit.
c = zlib.compressobj(9, zlib.DEFLATED, 31)
chunk = c.compress(b'\0' * (64 << 20))
w('b-endless.gz', chunk + b''.join(c.compress(b'\0' * (64 << 20)) for _ in range(15)) + c.flush())
# Truncated archive, and a header that lies about sizes.
good = io.BytesIO()
with zipfile.ZipFile(good, 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('x.bin', os.urandom(100000))
w('c-truncated.zip', good.getvalue()[:50000])
t = io.BytesIO()
with tarfile.open(fileobj=t, mode='w', format=tarfile.USTAR_FORMAT) as tf:
    i = tarfile.TarInfo('big'); i.size = 10; tf.addfile(i, io.BytesIO(b'0123456789'))
raw = bytearray(t.getvalue())
raw[124:136] = b'77777777777\0'
w('d-lying.tar', bytes(raw))
# Overlapping entries: two central-directory records for one local entry.
o = io.BytesIO()
with zipfile.ZipFile(o, 'w', zipfile.ZIP_STORED) as z:
    z.writestr('one', b'A' * 1000)
data = o.getvalue()
cd = data.index(b'PK\x01\x02'); end = data.index(b'PK\x05\x06')
rec = data[cd:end]
eocd = bytearray(data[end:])
eocd[8:10] = (2).to_bytes(2, 'little'); eocd[10:12] = (2).to_bytes(2, 'little')
eocd[12:16] = (2 * len(rec)).to_bytes(4, 'little')
w('e-overlap.zip', data[:cd] + rec + rec + bytes(eocd))
# Names with ../, NUL and newlines (Python's writer ends a name at a NUL,
# so the NUL is put in afterwards, in the local and the central header).
n = io.BytesIO()
with zipfile.ZipFile(n, 'w') as z:
    z.writestr('../../etc/evil', b'x')
    z.writestr('new\nline#nul', payload)
w('f-names.zip', n.getvalue().replace(b'line#nul', b'line\x00nul'))
# A 7z whose coder claims a dictionary of 3.75 GiB (headers left plain, and
# their checksums made right again, so only the dictionary is wrong).
import subprocess, struct
src = os.path.join(root, 'seven'); os.makedirs(src)
open(os.path.join(src, 'p.bin'), 'wb').write(payload)
subprocess.run(['7z', 'a', '-bd', '-t7z', '-m0=lzma', '-md=1m', '-mhc=off',
                os.path.join(root, 'seven.7z'), os.path.join(src, 'p.bin')],
               check=True, stdout=subprocess.DEVNULL)
seven = bytearray(open(os.path.join(root, 'seven.7z'), 'rb').read())
offset, size = struct.unpack('<QQ', seven[12:28])
start = 32 + offset
props = seven.index(b'\x03\x01\x01\x05', start) + 4
seven[props + 1:props + 5] = struct.pack('<I', 0xF0000000)
seven[28:32] = struct.pack('<I', zlib.crc32(bytes(seven[start:start + size])))
seven[8:12] = struct.pack('<I', zlib.crc32(bytes(seven[12:32])))
w('h-dictionary.7z', bytes(seven))
# 100,000 empty members.
m = io.BytesIO()
with zipfile.ZipFile(m, 'w', zipfile.ZIP_STORED) as z:
    for i in range(100000): z.writestr('%d' % i, b'')
w('g-many.zip', m.getvalue())
# The next file: a plain zip with the payload.
with zipfile.ZipFile(os.path.join(d, 'z-last.zip'), 'w') as z:
    z.writestr('p.bin', payload)
"#,
        &[],
    );
    let started = Instant::now();
    let run = env.scan([
        "-i",
        "--no-summary",
        "--json",
        "--threads",
        "1",
        "-d",
        db.to_str().unwrap(),
        "h",
    ]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(90), "took {took:?}");
    assert!(!run.stderr().contains("panick"), "{}", run.dump());
    let found: Vec<(String, serde_json::Value)> = run
        .json()
        .iter()
        .filter(|v| v["type"] == "detection")
        .map(|v| (v["path"].as_str().unwrap().to_string(), v["member"].clone()))
        .collect();
    let mut paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
    paths.sort();
    assert_eq!(
        paths,
        vec!["h/f-names.zip", "h/z-last.zip"],
        "{}",
        run.dump()
    );
    let names = &found.iter().find(|(p, _)| p == "h/f-names.zip").unwrap().1;
    assert_eq!(names[0], "new\nline\u{0}nul");
    // The limits are counted, and with --alert-exceeds-max reported.
    let alert = env.scan([
        "-i",
        "--no-summary",
        "--alert-exceeds-max",
        "-d",
        db.to_str().unwrap(),
        "h/a-bomb.zip",
        "h/b-endless.gz",
        "h/g-many.zip",
    ]);
    let mut lines = alert.results();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            "h/a-bomb.zip: Heuristics.Limits.Exceeded.MaxScanSize FOUND",
            "h/b-endless.gz: Heuristics.Limits.Exceeded.MaxScanSize FOUND",
            "h/g-many.zip: Heuristics.Limits.Exceeded.MaxFiles FOUND",
        ],
        "{}",
        alert.dump()
    );
    assert!(!Path::new("/etc/evil").exists());
}

/// Zip members compressed with LZMA, as Python's `zipfile` writes them (an
/// end marker after the data), are read by path and from a stream, beside
/// other members; a damaged one is counted and the scan goes on.
#[test]
fn zip_lzma_members_are_read() {
    let env = TestEnv::new();
    let payload = Rng::new(13).bytes(5000);
    let db = hsb(&env, &payload, "Planted");
    env.write("payload.bin", &payload);
    env.python(
        r#"
import sys, os, zipfile
root = sys.argv[1]
payload = open(os.path.join(root, 'payload.bin'), 'rb').read()
os.remove(os.path.join(root, 'payload.bin'))
with zipfile.ZipFile(os.path.join(root, 'lzma.zip'), 'w', zipfile.ZIP_LZMA) as z:
    z.writestr('p.bin', payload)
with zipfile.ZipFile(os.path.join(root, 'mixed.zip'), 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('a.txt', b'nothing here' * 100)
    z.writestr('dir/', b'')
    z.writestr('p.bin', payload, compress_type=zipfile.ZIP_LZMA)
with zipfile.ZipFile(os.path.join(root, 'clean.zip'), 'w', zipfile.ZIP_LZMA) as z:
    z.writestr('q.bin', payload[::-1])
raw = bytearray(open(os.path.join(root, 'lzma.zip'), 'rb').read())
at = raw.index(b'p.bin') + len('p.bin') + 40
raw[at:at + 64] = bytes(64)
open(os.path.join(root, 'bent.zip'), 'wb').write(bytes(raw))
# A dictionary of 3.75 GiB in the member's LZMA properties.
raw = bytearray(open(os.path.join(root, 'lzma.zip'), 'rb').read())
at = raw.index(b'p.bin') + len('p.bin')
assert raw[at:at + 4] == b'\x09\x04\x05\x00', raw[at:at + 4]
raw[at + 5:at + 9] = (0xF0000000).to_bytes(4, 'little')
open(os.path.join(root, 'huge.zip'), 'wb').write(bytes(raw))
"#,
        &[],
    );
    let d = db.to_str().unwrap();
    let run = env.scan([
        "--no-summary",
        "-d",
        d,
        "lzma.zip",
        "mixed.zip",
        "clean.zip",
    ]);
    run.assert_code(1);
    assert_eq!(
        run.sorted_results(),
        [
            "clean.zip: OK",
            "lzma.zip: Planted.UNOFFICIAL FOUND",
            "mixed.zip: Planted.UNOFFICIAL FOUND",
        ],
        "{}",
        run.dump()
    );
    for name in ["lzma.zip", "mixed.zip"] {
        let bytes = std::fs::read(env.path(name)).unwrap();
        let run = env.scan_stdin(["--no-summary", "-d", d, "-"], &bytes);
        assert_eq!(
            run.results(),
            ["stdin: Planted.UNOFFICIAL FOUND"],
            "{name}\n{}",
            run.dump()
        );
    }
    let run = env.scan(["--no-summary", "-d", d, "bent.zip", "lzma.zip"]);
    assert!(!run.stderr().contains("panick"), "{}", run.dump());
    assert_eq!(
        run.sorted_results(),
        ["bent.zip: OK", "lzma.zip: Planted.UNOFFICIAL FOUND"],
        "{}",
        run.dump()
    );
    let run = env.scan(["--no-summary", "--alert-exceeds-max", "-d", d, "huge.zip"]);
    assert_eq!(
        run.results(),
        ["huge.zip: Heuristics.Limits.Exceeded.MaxFileSize FOUND"],
        "{}",
        run.dump()
    );
}

/// A 7z whose dictionary is larger than the memory limit is not unpacked,
/// and is counted as cut short by a limit, as other limit hits are (and with
/// `--alert-exceeds-max`, reported as one).
#[test]
fn a_7z_dictionary_past_the_memory_limit_is_a_limit_hit() {
    let env = TestEnv::new();
    let payload = Rng::new(12).bytes(1500);
    let db = hsb(&env, &payload, "Planted");
    env.write("payload.bin", &payload);
    env.python(
        r#"
import sys, os, struct, subprocess, zlib
root = sys.argv[1]
src = os.path.join(root, 'seven'); os.makedirs(src)
os.rename(os.path.join(root, 'payload.bin'), os.path.join(src, 'p.bin'))
out = os.path.join(root, 'seven.7z')
subprocess.run(['7z', 'a', '-bd', '-t7z', '-m0=lzma', '-md=1m', '-mhc=off', out,
                os.path.join(src, 'p.bin')], check=True, stdout=subprocess.DEVNULL)
seven = bytearray(open(out, 'rb').read())
offset, size = struct.unpack('<QQ', seven[12:28])
start = 32 + offset
props = seven.index(b'\x03\x01\x01\x05', start) + 4
# 3.75 GiB, and the header checksums made right again.
seven[props + 1:props + 5] = struct.pack('<I', 0xF0000000)
seven[28:32] = struct.pack('<I', zlib.crc32(bytes(seven[start:start + size])))
seven[8:12] = struct.pack('<I', zlib.crc32(bytes(seven[12:32])))
open(os.path.join(root, 'dict.7z'), 'wb').write(bytes(seven))
"#,
        &[],
    );
    let d = db.to_str().unwrap();
    // The untouched archive is read: the member is found.
    let run = env.scan(["--no-summary", "-d", d, "seven.7z"]);
    assert_eq!(
        run.results(),
        ["seven.7z: Planted.UNOFFICIAL FOUND"],
        "{}",
        run.dump()
    );
    let run = env.scan(["--json", "-d", d, "dict.7z"]);
    run.assert_code(0);
    let summary = run
        .json()
        .into_iter()
        .find(|v| v["type"] == "summary")
        .expect("a summary");
    assert_eq!(
        (
            summary["containers"].as_u64(),
            summary["limits_exceeded"].as_u64()
        ),
        (Some(1), Some(1)),
        "{}",
        run.dump()
    );
    let text = env.scan(["-d", d, "dict.7z"]);
    assert!(
        text.stdout().contains("1 files cut short by a limit"),
        "{}",
        text.dump()
    );
    let alert = env.scan(["--no-summary", "--alert-exceeds-max", "-d", d, "dict.7z"]);
    assert_eq!(
        alert.results(),
        ["dict.7z: Heuristics.Limits.Exceeded.MaxFileSize FOUND"],
        "{}",
        alert.dump()
    );
}

/// `--max-filesize` holds for each member too: a small zip whose member is
/// larger than the limit has that member skipped (or, with
/// `--alert-exceeds-max`, reported as clamscan reports it).
#[test]
fn max_filesize_applies_to_members() {
    let env = TestEnv::new();
    let payload = vec![0u8; 4000];
    let db = hsb(&env, &payload, "Zeros");
    env.python(
        r#"
import sys, os, zipfile
with zipfile.ZipFile(os.path.join(sys.argv[1], 'z.zip'), 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('zeros.bin', b'\0' * 4000)
"#,
        &[],
    );
    assert!(std::fs::metadata(env.path("z.zip")).unwrap().len() < 1000);
    let scan = |extra: &[&str]| {
        let mut args = vec!["--no-summary", "-d", db.to_str().unwrap()];
        args.extend(extra);
        args.push("z.zip");
        env.scan(args)
    };
    let within = scan(&["--max-filesize", "8K"]);
    assert_eq!(
        within.results(),
        vec!["z.zip: Zeros.UNOFFICIAL FOUND"],
        "{}",
        within.dump()
    );
    let over = scan(&["--max-filesize", "1K"]);
    over.assert_code(0);
    assert_eq!(over.results(), vec!["z.zip: OK"], "{}", over.dump());
    let alert = scan(&["--max-filesize", "1K", "--alert-exceeds-max"]);
    assert_eq!(
        alert.results(),
        vec!["z.zip: Heuristics.Limits.Exceeded.MaxFileSize FOUND"],
        "{}",
        alert.dump()
    );
}

/// Members reached through standard input, the stream path INSTREAM takes.
#[test]
fn stream_input_is_unpacked() {
    let env = TestEnv::new();
    let payload = Rng::new(13).bytes(1200);
    env.write("payload.bin", &payload);
    let db = hsb(&env, &payload, "Planted");
    env.python(
        r#"
import sys, os, zipfile
root = sys.argv[1]
with zipfile.ZipFile(os.path.join(root, 'a.zip'), 'w', zipfile.ZIP_DEFLATED) as z:
    z.write(os.path.join(root, 'payload.bin'), 'p.bin')
"#,
        &[],
    );
    let zip = std::fs::read(env.path("a.zip")).unwrap();
    let run = env.scan_stdin(["--no-summary", "-d", db.to_str().unwrap(), "-"], &zip);
    run.assert_code(1);
    assert_eq!(
        run.results(),
        vec!["stdin: Planted.UNOFFICIAL FOUND"],
        "{}",
        run.dump()
    );
}

/// Random trees of members, packed as zip and tar.gz, find exactly the
/// planted ones.
#[test]
fn random_trees_find_exactly_the_planted_members() {
    let env = TestEnv::new();
    let payload = Rng::new(17).bytes(777);
    env.write("payload.bin", &payload);
    let db = hsb(&env, &payload, "Planted");
    env.python(
        r#"
import sys, os, io, random, zipfile, tarfile, gzip
root = sys.argv[1]
payload = open(os.path.join(root, 'payload.bin'), 'rb').read()
os.remove(os.path.join(root, 'payload.bin'))
rnd = random.Random(5)
def pack(kind, members):
    b = io.BytesIO()
    if kind == 'zip':
        with zipfile.ZipFile(b, 'w', zipfile.ZIP_DEFLATED) as z:
            for n, d in members: z.writestr(n, d)
        return b.getvalue()
    with tarfile.open(fileobj=b, mode='w') as t:
        for n, d in members:
            i = tarfile.TarInfo(n); i.size = len(d); t.addfile(i, io.BytesIO(d))
    return gzip.compress(b.getvalue())
def tree(depth):
    members, planted = [], False
    for k in range(rnd.randint(1, 4)):
        r = rnd.random()
        if depth < 3 and r < 0.3:
            data, p = tree(depth + 1)
            kind = rnd.choice(['zip', 'tgz'])
            members.append(('n%d.%s' % (k, kind), pack(kind, data)))
            planted |= p
        elif r < 0.45:
            members.append(('m%d' % k, payload)); planted = True
        else:
            members.append(('m%d' % k, os.urandom(rnd.randint(0, 3000))))
    return members, planted
os.makedirs(os.path.join(root, 't'))
with open(os.path.join(root, 'expected'), 'w') as e:
    for case in range(24):
        members, planted = tree(1)
        kind = rnd.choice(['zip', 'tgz'])
        name = 'case%02d.%s' % (case, kind)
        open(os.path.join(root, 't', name), 'wb').write(pack(kind, members))
        if planted: e.write('t/%s: Planted.UNOFFICIAL FOUND\n' % name)
"#,
        &[],
    );
    let expected: Vec<String> = std::fs::read_to_string(env.path("expected"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let run = env.scan(["-i", "--no-summary", "-d", db.to_str().unwrap(), "t"]);
    assert_eq!(run.sorted_results(), expected, "{}", run.dump());
}

/// Debian's tools as writers: 7z, cpio, cabinet.
#[test]
fn tool_made_archives() {
    if !(have("7z", "/usr/bin/7z")
        && have("cpio", "/usr/bin/cpio")
        && have("gcab", "/usr/bin/gcab"))
    {
        return;
    }
    let env = TestEnv::new();
    let payload = Rng::new(19).bytes(4000);
    env.write("in/p.bin", &payload);
    let db = hsb(&env, &payload, "Planted");
    let sh = |cmd: &str| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .current_dir(env.root())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    sh("mkdir out && cd in && 7z a -bd ../out/a.7z p.bin >/dev/null");
    sh("cd in && 7z a -bd -m0=lzma ../out/lzma.7z p.bin >/dev/null");
    sh("cd in && echo p.bin | cpio -o -H newc > ../out/n.cpio 2>/dev/null");
    sh("cd in && echo p.bin | cpio -o -H odc > ../out/o.cpio 2>/dev/null");
    sh("cd in && echo p.bin | cpio -o -H bin > ../out/b.cpio 2>/dev/null");
    sh("cd in && gcab -c -z ../out/a.cab p.bin");
    sh("cd out && 7z a -bd nested.7z a.cab n.cpio >/dev/null");
    let run = env.scan(["-i", "--no-summary", "-d", db.to_str().unwrap(), "out"]);
    let want: Vec<String> = [
        "a.7z",
        "a.cab",
        "b.cpio",
        "lzma.7z",
        "n.cpio",
        "nested.7z",
        "o.cpio",
    ]
    .iter()
    .map(|f| format!("out/{f}: Planted.UNOFFICIAL FOUND"))
    .collect();
    assert_eq!(run.sorted_results(), want, "{}", run.dump());
}

/// Over the control socket, by content (INSTREAM) and by descriptor
/// (FILDES), with the real `clamdscan` and with `vigil ctl`: a member's
/// signature is reported against the file that holds it, and the same
/// archives without the member are clean.
#[test]
fn members_are_found_over_the_socket() {
    if !have("clamdscan", "/usr/bin/clamdscan") {
        return;
    }
    let env = TestEnv::new();
    let payload = Rng::new(23).bytes(5000);
    env.write("payload.bin", &payload);
    let db = hsb(&env, &payload, "Planted");
    env.python(
        r#"
import sys, os, io, zipfile, tarfile
root = sys.argv[1]
payload = open(os.path.join(root, 'payload.bin'), 'rb').read()
os.remove(os.path.join(root, 'payload.bin'))
filler = bytes(range(256)) * 40
for sub, member in (('hit', payload), ('clean', filler)):
    d = os.path.join(root, 'data', sub)
    os.makedirs(d)
    with zipfile.ZipFile(os.path.join(d, 'a.zip'), 'w', zipfile.ZIP_DEFLATED) as z:
        z.writestr('readme.txt', b'hello\n' * 100)
        z.writestr('dir/p.bin', member)
    with tarfile.open(os.path.join(d, 'b.tar.gz'), 'w:gz') as t:
        for n, data in (('x/readme.txt', b'hello\n' * 100), ('x/p.bin', member)):
            i = tarfile.TarInfo(n); i.size = len(data); t.addfile(i, io.BytesIO(data))
"#,
        &[],
    );
    let d = Daemon::builder()
        .env(env)
        .config(&format!("databases = [{:?}]", db.to_str().unwrap()))
        .start();
    let data = std::fs::canonicalize(d.env.path("data")).unwrap();
    let path = |rel: &str| data.join(rel).to_str().unwrap().to_string();
    let (zip, tgz) = (path("hit/a.zip"), path("hit/b.tar.gz"));

    // The cases clamd clients use most: a zip sent as content, a .tar.gz
    // passed as a descriptor.
    let stream = d.clamdscan(&["--no-summary", "--stream", &zip]);
    stream.assert_code(1);
    assert_eq!(
        stream.stdout(),
        format!("{zip}: Planted.UNOFFICIAL FOUND\n"),
        "{}",
        stream.dump()
    );
    let fdpass = d.clamdscan(&["--no-summary", "--fdpass", &tgz]);
    fdpass.assert_code(1);
    assert_eq!(
        fdpass.stdout(),
        format!("{tgz}: Planted.UNOFFICIAL FOUND\n"),
        "{}",
        fdpass.dump()
    );

    // Both archives, every way a client can send them, clamdscan and ctl.
    for mode in ["--stream", "--fdpass"] {
        for file in [&zip, &tgz] {
            let run = d.clamdscan(&["--no-summary", mode, file]);
            run.assert_code(1);
            assert_eq!(
                run.stdout(),
                format!("{file}: Planted.UNOFFICIAL FOUND\n"),
                "{mode}\n{}",
                run.dump()
            );
            let ctl = d.ctl(&["scan", "--no-summary", mode, file]);
            ctl.assert_code(1);
            assert_eq!(
                ctl.stdout(),
                format!("{file}: Planted.UNOFFICIAL FOUND\n"),
                "ctl {mode}\n{}",
                ctl.dump()
            );
        }
        // The control tree: the same archives without the member.
        for file in [path("clean/a.zip"), path("clean/b.tar.gz")] {
            let run = d.clamdscan(&["--no-summary", mode, &file]);
            run.assert_code(0);
            assert_eq!(
                run.stdout(),
                format!("{file}: OK\n"),
                "{mode}\n{}",
                run.dump()
            );
            let ctl = d.ctl(&["scan", "--no-summary", mode, &file]);
            ctl.assert_code(0);
            assert_eq!(
                ctl.stdout(),
                format!("{file}: OK\n"),
                "ctl {mode}\n{}",
                ctl.dump()
            );
        }
    }
    // A whole folder by path (CONTSCAN) and spread over the pool
    // (MULTISCAN), and by content and descriptor in one session.
    let want = format!("{zip}: Planted.UNOFFICIAL FOUND\n{tgz}: Planted.UNOFFICIAL FOUND\n");
    for args in [
        &["--no-summary", "-i"][..],
        &["--no-summary", "-i", "--multiscan"],
        &["--no-summary", "-i", "--multiscan", "--stream"],
        &["--no-summary", "-i", "--multiscan", "--fdpass"],
    ] {
        let run = d.clamdscan(&[args, &[data.to_str().unwrap()]].concat());
        run.assert_code(1);
        let stdout = run.stdout();
        let mut lines: Vec<&str> = stdout.lines().collect();
        lines.sort();
        let got: String = lines.iter().map(|l| format!("{l}\n")).collect();
        assert_eq!(got, want, "{args:?}\n{}", run.dump());
    }
}
