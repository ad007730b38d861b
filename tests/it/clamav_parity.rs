//! Parity with ClamAV: on a tree of plain, non-archive files and the same
//! `.hdb`/`.hsb` (and `.fp`/`.sfp`) databases, `vigil scan` detects exactly
//! what `clamscan -r --no-summary -i -d DB` detects, under the same names
//! (less ClamAV's `.UNOFFICIAL` suffix). clamscan must be installed (`.ci/run`
//! installs Debian's `clamav`): if it is missing this test fails, it does not
//! skip.
//!
//! One known difference is kept out of the tree on purpose: ClamAV ignores
//! files of 5 bytes or fewer ("File too small"), whatever the database says,
//! while vigil matches them. Every file here is empty or at least 6 bytes.

use std::collections::BTreeSet;
use std::process::Command;

use vigil::hash::Algorithm::{Md5, Sha1, Sha256};

use crate::testenv::{hex, vigil_bin, Rng, TestEnv};

/// ClamAV's minimum size for a file to be scanned at all.
const CLAMAV_MIN_SIZE: u64 = 6;

/// Three names for one content, detected under every name.
const COPIES: [&str; 3] = ["tree/copies/a", "tree/copies/deeper/b", "tree/d2/copy"];

type Detections = BTreeSet<(String, String)>;

/// `PATH: NAME FOUND` lines as (path, name), without `.UNOFFICIAL`.
fn parse_found(stdout: &str) -> Detections {
    stdout
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let rest = l
                .strip_suffix(" FOUND")
                .unwrap_or_else(|| panic!("not a detection line: {l:?}"));
            let (path, name) = rest.rsplit_once(": ").expect("PATH: NAME");
            let name = name.strip_suffix(".UNOFFICIAL").unwrap_or(name);
            (path.to_string(), name.to_string())
        })
        .collect()
}

struct Tree {
    env: TestEnv,
    /// Every file: (relative path, content).
    files: Vec<(String, Vec<u8>)>,
}

fn build_tree() -> Tree {
    let env = TestEnv::new();
    let mut rng = Rng::new(0x5eed_c1a3);
    let mut files = Vec::new();
    for i in 0..360 {
        let size = match rng.range(0, 100) {
            0..=59 => rng.range(CLAMAV_MIN_SIZE, 4096),
            60..=89 => rng.range(4096, 64 * 1024),
            90..=97 => rng.range(64 * 1024, 1024 * 1024),
            _ => rng.range(1024 * 1024, 3 * 1024 * 1024),
        } as usize;
        let data = if i % 10 == 3 {
            // Some plain text, which ClamAV types differently from binary data.
            let mut t = String::new();
            while t.len() < size {
                t += &format!("line {} of file {i}: {:x}\n", t.len(), rng.next_u64());
            }
            t.truncate(size);
            t.into_bytes()
        } else {
            rng.bytes(size)
        };
        let rel = format!("tree/d{}/s{}/f{i:03}.bin", i % 5, i % 3);
        files.push((rel, data));
    }
    // Identical copies (see `COPIES`), and empty files.
    let copy = rng.bytes(5000);
    for rel in COPIES {
        files.push((rel.to_string(), copy.clone()));
    }
    files.push(("tree/empty1".into(), Vec::new()));
    files.push(("tree/d1/empty2".into(), Vec::new()));
    for (rel, data) in &files {
        env.write(rel, data);
    }
    Tree { env, files }
}

#[test]
fn detections_equal_clamscan() {
    let Tree { env, files } = build_tree();
    let mut hdb = String::from("# md5 with sizes\n");
    let mut hsb = String::new();
    let mut fp = String::new();
    let mut sfp = String::new();
    // (content index, name) of every expected detection before allow-listing.
    let mut detect: Vec<(usize, String)> = Vec::new();
    let mut allowed: BTreeSet<usize> = BTreeSet::new();
    let nonempty: Vec<usize> = (0..360).filter(|&i| !files[i].1.is_empty()).collect();
    for (k, &i) in nonempty.iter().enumerate() {
        let data = &files[i].1;
        let n = data.len();
        let name = format!("Parity.F{i:03}");
        match k % 12 {
            // md5 with size, lower and upper case.
            0 => {
                hdb += &format!("{}:{n}:{name}\n", hex(Md5, data));
                detect.push((i, name));
            }
            1 => {
                hdb += &format!("{}:{n}:{name}\n", hex(Md5, data).to_uppercase());
                detect.push((i, name));
            }
            // sha256 with size (CRLF line ends).
            2 => {
                hsb += &format!("{}:{n}:{name}\r\n", hex(Sha256, data));
                detect.push((i, name));
            }
            // sha256 with `*` and MINFL 73.
            3 => {
                hsb += &format!("{}:*:{name}:73\r\n", hex(Sha256, data));
                detect.push((i, name));
            }
            // sha1 with size, in the .hsb.
            4 if k % 24 == 4 => {
                hsb += &format!("{}:{n}:{name}\n", hex(Sha1, data));
                detect.push((i, name));
            }
            // Right digest, wrong size: no detection.
            5 => hdb += &format!("{}:{}:{name}.WrongSize\n", hex(Md5, data), n + 1),
            // A digest of other content with this file's size: opened, no match.
            6 => {
                hdb += &format!(
                    "{}:{n}:{name}.Decoy\n",
                    hex(Md5, &[data.as_slice(), b"x"].concat())
                )
            }
            // FLEVEL windows that exclude ClamAV 1.4.6 (216), and one that includes it.
            7 if k % 24 == 7 => hdb += &format!("{}:{n}:{name}.TooNew:217\n", hex(Md5, data)),
            7 => hdb += &format!("{}:{n}:{name}.TooOld:73:215\n", hex(Md5, data)),
            8 if k % 24 == 8 => {
                hdb += &format!("{}:{n}:{name}:73:216\n", hex(Md5, data));
                detect.push((i, name));
            }
            // Same name in two algorithms.
            9 if k % 24 == 9 => {
                hdb += &format!("{}:{n}:{name}\n", hex(Md5, data));
                hsb += &format!("{}:*:{name}:100\n", hex(Sha256, data));
                detect.push((i, name));
            }
            // Detected, then allow-listed by .fp (md5) or .sfp (sha256).
            10 => {
                hdb += &format!("{}:{n}:{name}\n", hex(Md5, data));
                fp += &format!("{}:{n}:{name}.Allowed\n", hex(Md5, data));
                detect.push((i, name));
                allowed.insert(i);
            }
            11 if k % 24 == 11 => {
                hsb += &format!("{}:*:{name}:73\n", hex(Sha256, data));
                sfp += &format!("{}:{n}:{name}.Allowed\n", hex(Sha256, data));
                detect.push((i, name));
                allowed.insert(i);
            }
            _ => {}
        }
    }
    let copy = &files.iter().find(|(p, _)| p == COPIES[0]).unwrap().1;
    hdb += &format!("{}:{}:Parity.Copied\n", hex(Md5, copy), copy.len());
    // Signatures of content that is not in the tree.
    for j in 0..50u32 {
        hdb += &format!(
            "{}:{}:Parity.Absent{j}\n",
            hex(Md5, &j.to_le_bytes()),
            100 + j
        );
    }
    env.write("db/parity.hdb", hdb);
    env.write("db/parity.hsb", hsb);
    env.write("db/parity.fp", fp);
    env.write("db/parity.sfp", sfp);

    let mut expected: Detections = BTreeSet::new();
    for (i, name) in &detect {
        if !allowed.contains(i) {
            expected.insert((files[*i].0.clone(), name.clone()));
        }
    }
    for rel in COPIES {
        expected.insert((rel.to_string(), "Parity.Copied".into()));
    }
    assert!(
        expected.len() > 60,
        "a meaningful number of detections: {}",
        expected.len()
    );

    let mut clam = Command::new("clamscan");
    clam.current_dir(env.root())
        .args(["-r", "--no-summary", "-i", "-d", "db", "tree"]);
    let clam = crate::testenv::run(clam, None);
    assert_eq!(
        clam.code,
        Some(1),
        "clamscan found something\n{}",
        clam.dump()
    );
    let clam_found = parse_found(&String::from_utf8_lossy(&clam.stdout));

    let mut vigil = Command::new(vigil_bin());
    vigil
        .current_dir(env.root())
        .args(["scan", "-i", "--no-summary", "-d", "db", "tree"]);
    let vigil = crate::testenv::run(vigil, None);
    vigil.assert_code(1);
    assert!(vigil.stderr.is_empty(), "{}", vigil.dump());
    let vigil_found = parse_found(&vigil.stdout());

    let only_clam: Vec<_> = clam_found.difference(&vigil_found).collect();
    let only_vigil: Vec<_> = vigil_found.difference(&clam_found).collect();
    assert!(
        only_clam.is_empty() && only_vigil.is_empty(),
        "detections differ\nonly clamscan: {only_clam:#?}\nonly vigil: {only_vigil:#?}"
    );
    assert_eq!(
        vigil_found, expected,
        "both agree, and on what this test planted"
    );
}

/// clamscan is really there, and is the ClamAV this parity is claimed for.
#[test]
fn clamscan_is_installed() {
    let out = Command::new("clamscan")
        .arg("--version")
        .output()
        .expect("clamscan must be installed for the parity test (.ci/run installs clamav)");
    assert!(out.status.success());
    let version = String::from_utf8_lossy(&out.stdout);
    assert!(version.starts_with("ClamAV "), "{version}");
}
