//! Property tests for signature databases: a compiled index answers
//! exactly like the text it was compiled from, and no input — random bytes,
//! or a valid container or index with damage — makes loading panic. Case
//! counts are small so that the suite stays fast.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use vigil::hash::{hash_bytes, AlgoSet, Algorithm, Digests, MultiHasher};
use vigil::signature::{load_databases, write_index, SignatureSet};

use crate::testenv::{cvd, tar_of};

/// Sample files whose digests the generated signatures use.
fn blob(i: usize) -> Vec<u8> {
    format!("sample file number {i}").into_bytes()
}
const BLOBS: usize = 6;
const SIZES: [Option<u64>; 4] = [None, Some(0), Some(20), Some(21)];

#[derive(Clone, Debug)]
struct Sig {
    algo: Algorithm,
    blob: usize,
    size: Option<u64>,
    name: usize,
    allow: bool,
    clamav: bool,
}

fn sig() -> impl Strategy<Value = Sig> {
    (
        0..4usize,
        0..BLOBS,
        0..SIZES.len(),
        0..5usize,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(a, blob, s, name, allow, clamav)| {
            let algo = Algorithm::ALL[a];
            Sig {
                algo,
                blob,
                size: SIZES[s],
                name,
                allow,
                // ClamAV lines have no blake3.
                clamav: clamav && algo != Algorithm::Blake3,
            }
        })
}

/// Writes the signatures as up to four database files, in a fixed order.
fn write_text(dir: &Path, sigs: &[Sig]) -> Vec<PathBuf> {
    let mut files: Vec<(PathBuf, String)> = ["a.vsig", "b.vallow", "c.hdb", "d.fp"]
        .iter()
        .map(|n| (dir.join(n), String::new()))
        .collect();
    for s in sigs {
        let hex = hash_bytes(s.algo, &blob(s.blob)).to_hex();
        let size = s.size.map_or("*".to_string(), |n| n.to_string());
        let name = format!("Name.{}", s.name);
        let (i, line) = match (s.clamav, s.allow) {
            (false, allow) => (
                usize::from(allow),
                format!("{}:{hex}:{size}:{name}\n", s.algo),
            ),
            (true, allow) => (2 + usize::from(allow), format!("{hex}:{size}:{name}:73\n")),
        };
        files[i].1.push_str(&line);
    }
    files
        .into_iter()
        .map(|(path, text)| {
            fs::write(&path, text).unwrap();
            path
        })
        .collect()
}

fn digests(data: &[u8], algos: AlgoSet) -> Digests {
    let mut h = MultiHasher::new(algos);
    h.update(data);
    h.finish()
}

/// Every question the engine asks of a set, for every sample and size.
fn same_answers(a: &SignatureSet, b: &SignatureSet) -> Result<(), TestCaseError> {
    let files = |s: &SignatureSet| {
        let mut stats = s.stats().clone();
        stats.files = 0;
        stats
    };
    prop_assert_eq!(files(a), files(b));
    prop_assert_eq!(
        a.algorithms_for_unknown_size(),
        b.algorithms_for_unknown_size()
    );
    let mut sets = vec![AlgoSet::all()];
    sets.extend(Algorithm::ALL.iter().map(|x| AlgoSet::EMPTY.with(*x)));
    for i in 0..BLOBS + 1 {
        let data = blob(i);
        for size in [0, 1, 20, 21, 22] {
            prop_assert_eq!(a.algorithms_for_size(size), b.algorithms_for_size(size));
            for algos in &sets {
                let d = digests(&data, *algos);
                prop_assert_eq!(
                    a.lookup(&d, size),
                    b.lookup(&d, size),
                    "blob {} size {}",
                    i,
                    size
                );
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// text → compile → load answers exactly like loading the text.
    #[test]
    fn compiled_index_matches_text(sigs in prop::collection::vec(sig(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let files = write_text(dir.path(), &sigs);
        let text = match load_databases(&files) {
            Ok(l) => l.set,
            // Only allow-list entries: refused as empty, by both paths.
            Err(_) => return Ok(()),
        };
        let index = dir.path().join("all.vidx");
        write_index(&text, &index).unwrap();
        let mapped = load_databases(std::slice::from_ref(&index)).unwrap().set;
        prop_assert!(mapped.is_mapped());
        prop_assert!(mapped.verify().is_empty());
        prop_assert_eq!(text.stats(), mapped.stats());
        same_answers(&text, &mapped)?;
        // An index loaded beside another database (here, itself) is merged
        // into memory, not mapped; it still answers the same.
        let twice = load_databases(&[index.clone(), index]).unwrap().set;
        prop_assert!(!twice.is_mapped());
        same_answers(&text, &twice)?;
    }
}

fn valid_cvd() -> Vec<u8> {
    cvd(&tar_of(
        &[
            ("main.hdb", b"44d88612fea8a8f36de82e1278abb02f:68:Eicar\n"),
            ("main.ndb", b"x\n"),
        ],
        true,
    ))
}

fn valid_index(dir: &Path) -> Vec<u8> {
    let db = dir.join("src.hdb");
    fs::write(&db, "44d88612fea8a8f36de82e1278abb02f:68:Eicar\n").unwrap();
    let set = load_databases(&[db]).unwrap().set;
    let path = dir.join("src.vidx");
    write_index(&set, &path).unwrap();
    fs::read(path).unwrap()
}

/// Loads `bytes` as a file named `name`; must not panic, whatever the bytes.
fn load_as(dir: &Path, name: &str, bytes: &[u8]) -> bool {
    let path = dir.join(name);
    fs::write(&path, bytes).unwrap();
    load_databases(&[path]).is_ok()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let dir = tempfile::tempdir().unwrap();
        for name in ["x.hdb", "x.vsig", "x.fp", "x.cvd", "x.cld", "x.vidx"] {
            load_as(dir.path(), name, &bytes);
        }
        // Behind a header that parses, and behind the index magic.
        load_as(dir.path(), "y.cvd", &cvd(&bytes));
        load_as(dir.path(), "y.cld", &cvd(&bytes));
        // A gzip stream of garbage, and garbage that claims to be gzip.
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&bytes).unwrap();
        load_as(dir.path(), "g.cvd", &cvd(&gz.finish().unwrap()));
        let mut fake = vec![0x1f, 0x8b];
        fake.extend_from_slice(&bytes);
        load_as(dir.path(), "g.cld", &cvd(&fake));
        let mut idx = b"VIGILIDX".to_vec();
        idx.extend_from_slice(&bytes);
        prop_assert!(!load_as(dir.path(), "y.vidx", &idx));
    }

    #[test]
    fn damaged_containers_and_indexes_never_panic(
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1..=255u8), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        for (name, good) in [("z.cvd", valid_cvd()), ("z.vidx", valid_index(dir.path()))] {
            prop_assert!(load_as(dir.path(), name, &good));
            let mut bad = good.clone();
            for (at, x) in &flips {
                bad[at.index(good.len())] ^= x;
            }
            let loaded = load_as(dir.path(), name, &bad);
            // An index catches every change; a container's MD5 does too,
            // except in the 512-byte header's padding.
            if name.ends_with("vidx") {
                prop_assert!(!loaded, "a damaged index was accepted");
            }
            let short = &good[..cut.index(good.len())];
            prop_assert!(!load_as(dir.path(), name, short), "a truncated {} was accepted", name);
        }
    }
}
