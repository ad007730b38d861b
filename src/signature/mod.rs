//! The signature set: every known digest, stored as fixed-size binary arrays in
//! per-algorithm tables sorted for binary search, with the sizes that let the
//! engine skip a file without opening it. A set is immutable once built and is
//! shared read-only (`Arc<SignatureSet>`); reloading builds a new one.

mod db;
mod parse;

use std::collections::HashMap;
use std::collections::HashSet;

use crate::hash::{AlgoSet, Algorithm, Digest, Digests};

pub use db::{load_builtin, load_databases, LoadError, Loaded, SigError, SigFault};
pub use parse::{parse_line, Format, LineFault, Parsed, SigLine, ENGINE_FLEVEL};

/// Size value of an entry that matches any size (`*`).
const ANY_SIZE: u64 = u64::MAX;

/// One signature in a table, 32 bytes for md5 and 48 for sha256/blake3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry<const N: usize> {
    digest: [u8; N],
    /// File size in bytes, or `ANY_SIZE`.
    size: u64,
    /// Index into `SignatureSet::names`.
    name: u32,
    allow: bool,
}

/// All signatures of one algorithm.
#[derive(Debug)]
struct Table<const N: usize> {
    /// Sorted by digest, so lookups are a binary search that allocates nothing.
    entries: Vec<Entry<N>>,
    detect: SizeIndex,
    allow: SizeIndex,
}

/// Which file sizes some signature of a table could match.
#[derive(Debug, Default)]
struct SizeIndex {
    any: bool,
    sizes: HashSet<u64>,
}

impl SizeIndex {
    fn add(&mut self, size: u64) {
        if size == ANY_SIZE {
            self.any = true;
        } else {
            self.sizes.insert(size);
        }
    }

    fn could_match(&self, size: u64) -> bool {
        self.any || self.sizes.contains(&size)
    }
}

impl<const N: usize> Table<N> {
    fn build(mut entries: Vec<Entry<N>>) -> Self {
        entries.sort_unstable();
        entries.dedup();
        entries.shrink_to_fit();
        let mut detect = SizeIndex::default();
        let mut allow = SizeIndex::default();
        for e in &entries {
            if e.allow {
                allow.add(e.size);
            } else {
                detect.add(e.size);
            }
        }
        Table {
            entries,
            detect,
            allow,
        }
    }

    /// Entries whose digest equals `digest` and whose size is `size` or `*`.
    fn matches<'a>(&'a self, digest: &[u8], size: u64) -> impl Iterator<Item = &'a Entry<N>> + 'a {
        let key: [u8; N] = digest.try_into().expect("digest length matches table");
        let start = self.entries.partition_point(|e| e.digest < key);
        self.entries[start..]
            .iter()
            .take_while(move |e| e.digest == key)
            .filter(move |e| e.size == ANY_SIZE || e.size == size)
    }
}

/// What the set says about a file's digests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// No signature matched.
    Clean,
    /// An allow-list entry matched; it wins over any detection.
    Allowed,
    /// A detection matched (and no allow-list entry did).
    Detected(Match<'a>),
}

/// A detection: which signature, and the digest that matched it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match<'a> {
    pub name: &'a str,
    pub digest: Digest,
}

/// Counts of what a set holds, for the summary and `sigs stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetStats {
    /// Detection signatures per algorithm (after de-duplication).
    pub detections: [usize; 4],
    /// Allow-list entries per algorithm.
    pub allows: [usize; 4],
    /// Valid ClamAV lines skipped because their MINFL/MAXFL excludes this engine.
    pub outside_flevel: usize,
    /// Database files read.
    pub files: usize,
}

impl SetStats {
    pub fn total_detections(&self) -> usize {
        self.detections.iter().sum()
    }
}

/// An immutable, shareable set of signatures.
#[derive(Debug)]
pub struct SignatureSet {
    md5: Table<16>,
    sha1: Table<20>,
    sha256: Table<32>,
    blake3: Table<32>,
    /// Interned signature names: feeds repeat them.
    names: Vec<Box<str>>,
    stats: SetStats,
}

impl SignatureSet {
    pub fn stats(&self) -> &SetStats {
        &self.stats
    }

    /// The algorithms worth computing for a file of `size` bytes: those with a
    /// detection that could match that size, plus, when there is one, those
    /// with an allow-list entry that could. Empty means: do not open the file.
    pub fn algorithms_for_size(&self, size: u64) -> AlgoSet {
        let mut detect = AlgoSet::EMPTY;
        let mut allow = AlgoSet::EMPTY;
        for algo in Algorithm::ALL {
            let (d, a) = self.size_indexes(algo);
            if d.could_match(size) {
                detect.insert(algo);
            }
            if a.could_match(size) {
                allow.insert(algo);
            }
        }
        if detect.is_empty() {
            AlgoSet::EMPTY
        } else {
            detect.union(allow)
        }
    }

    /// The algorithms worth computing when the size is not known in advance
    /// (standard input): any algorithm that has a detection at all.
    pub fn algorithms_for_unknown_size(&self) -> AlgoSet {
        let mut set = AlgoSet::EMPTY;
        for algo in Algorithm::ALL {
            let (d, a) = self.size_indexes(algo);
            if d.any || !d.sizes.is_empty() || a.any || !a.sizes.is_empty() {
                set.insert(algo);
            }
        }
        set
    }

    fn size_indexes(&self, algo: Algorithm) -> (&SizeIndex, &SizeIndex) {
        match algo {
            Algorithm::Md5 => (&self.md5.detect, &self.md5.allow),
            Algorithm::Sha1 => (&self.sha1.detect, &self.sha1.allow),
            Algorithm::Sha256 => (&self.sha256.detect, &self.sha256.allow),
            Algorithm::Blake3 => (&self.blake3.detect, &self.blake3.allow),
        }
    }

    /// Matches a file's digests. An allow-list match on any algorithm wins;
    /// otherwise the first detection, in the order md5, sha1, sha256, blake3.
    pub fn lookup(&self, digests: &Digests, size: u64) -> Lookup<'_> {
        let mut found = None;
        for digest in digests.iter() {
            let (allowed, detected) = self.lookup_one(digest, size);
            if allowed {
                return Lookup::Allowed;
            }
            if found.is_none() {
                found = detected.map(|name| Match {
                    name: &self.names[name as usize],
                    digest: *digest,
                });
            }
        }
        found.map_or(Lookup::Clean, Lookup::Detected)
    }

    /// (any allow-list match, first detection's name index) for one digest.
    fn lookup_one(&self, digest: &Digest, size: u64) -> (bool, Option<u32>) {
        fn scan<'a, const N: usize>(it: impl Iterator<Item = &'a Entry<N>>) -> (bool, Option<u32>) {
            let mut detected = None;
            for e in it {
                if e.allow {
                    return (true, None);
                }
                detected.get_or_insert(e.name);
            }
            (false, detected)
        }
        let bytes = digest.as_bytes();
        match digest.algorithm() {
            Algorithm::Md5 => scan(self.md5.matches(bytes, size)),
            Algorithm::Sha1 => scan(self.sha1.matches(bytes, size)),
            Algorithm::Sha256 => scan(self.sha256.matches(bytes, size)),
            Algorithm::Blake3 => scan(self.blake3.matches(bytes, size)),
        }
    }
}

/// Collects signatures, interning names, then freezes them into a `SignatureSet`.
#[derive(Default)]
pub struct SignatureSetBuilder {
    md5: Vec<Entry<16>>,
    sha1: Vec<Entry<20>>,
    sha256: Vec<Entry<32>>,
    blake3: Vec<Entry<32>>,
    names: Vec<Box<str>>,
    name_ids: HashMap<Box<str>, u32>,
    outside_flevel: usize,
    files: usize,
}

impl SignatureSetBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, sig: &SigLine<'_>, allow: bool) {
        let name = self.intern(sig.name);
        let size = sig.size.unwrap_or(ANY_SIZE);
        let bytes = sig.digest.as_bytes();
        fn entry<const N: usize>(bytes: &[u8], size: u64, name: u32, allow: bool) -> Entry<N> {
            Entry {
                digest: bytes.try_into().expect("digest length"),
                size,
                name,
                allow,
            }
        }
        match sig.digest.algorithm() {
            Algorithm::Md5 => self.md5.push(entry(bytes, size, name, allow)),
            Algorithm::Sha1 => self.sha1.push(entry(bytes, size, name, allow)),
            Algorithm::Sha256 => self.sha256.push(entry(bytes, size, name, allow)),
            Algorithm::Blake3 => self.blake3.push(entry(bytes, size, name, allow)),
        }
    }

    pub(crate) fn note_outside_flevel(&mut self) {
        self.outside_flevel += 1;
    }

    pub(crate) fn note_file(&mut self) {
        self.files += 1;
    }

    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.name_ids.get(name) {
            return id;
        }
        let id = u32::try_from(self.names.len()).expect("fewer than 2^32 distinct names");
        self.names.push(name.into());
        self.name_ids.insert(name.into(), id);
        id
    }

    pub fn build(self) -> SignatureSet {
        let md5 = Table::build(self.md5);
        let sha1 = Table::build(self.sha1);
        let sha256 = Table::build(self.sha256);
        let blake3 = Table::build(self.blake3);
        fn count<const N: usize>(t: &Table<N>, allow: bool) -> usize {
            t.entries.iter().filter(|e| e.allow == allow).count()
        }
        let stats = SetStats {
            detections: [
                count(&md5, false),
                count(&sha1, false),
                count(&sha256, false),
                count(&blake3, false),
            ],
            allows: [
                count(&md5, true),
                count(&sha1, true),
                count(&sha256, true),
                count(&blake3, true),
            ],
            outside_flevel: self.outside_flevel,
            files: self.files,
        };
        let mut names = self.names;
        names.shrink_to_fit();
        SignatureSet {
            md5,
            sha1,
            sha256,
            blake3,
            names,
            stats,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{hash_bytes, MultiHasher};

    fn set_of(lines: &[(Format, &str)]) -> SignatureSet {
        let mut b = SignatureSetBuilder::new();
        for (format, line) in lines {
            if let Parsed::Signature(sig) = parse_line(*format, line.as_bytes()).unwrap() {
                b.add(&sig, format.is_allow());
            }
        }
        b.build()
    }

    fn digests(data: &[u8], algos: AlgoSet) -> Digests {
        let mut h = MultiHasher::new(algos);
        h.update(data);
        h.finish()
    }

    #[test]
    fn size_prefilter_selects_only_possible_algorithms() {
        let md5 = hash_bytes(Algorithm::Md5, b"abc").to_hex();
        let b3 = hash_bytes(Algorithm::Blake3, b"xyz").to_hex();
        let set = set_of(&[
            (Format::Vsig, &format!("md5:{md5}:3:A")),
            (Format::Vsig, &format!("blake3:{b3}:*:B")),
        ]);
        assert_eq!(
            set.algorithms_for_size(3),
            AlgoSet::EMPTY.with(Algorithm::Md5).with(Algorithm::Blake3)
        );
        assert_eq!(
            set.algorithms_for_size(4),
            AlgoSet::EMPTY.with(Algorithm::Blake3)
        );
        let md5_only = set_of(&[(Format::Vsig, &format!("md5:{md5}:3:A"))]);
        assert!(md5_only.algorithms_for_size(4).is_empty());
    }

    #[test]
    fn allow_list_wins_and_sizes_must_agree() {
        let md5 = hash_bytes(Algorithm::Md5, b"abc").to_hex();
        let sha1 = hash_bytes(Algorithm::Sha1, b"abc").to_hex();
        let detect = set_of(&[(Format::Vsig, &format!("md5:{md5}:3:Bad"))]);
        let d = digests(b"abc", AlgoSet::all());
        match detect.lookup(&d, 3) {
            Lookup::Detected(m) => {
                assert_eq!(m.name, "Bad");
                assert_eq!(m.digest.algorithm(), Algorithm::Md5);
            }
            other => panic!("expected a detection, got {other:?}"),
        }
        assert_eq!(detect.lookup(&d, 4), Lookup::Clean);

        let allowed = set_of(&[
            (Format::Vsig, &format!("md5:{md5}:3:Bad")),
            (Format::ClamAllow, &format!("{sha1}:*:Good:73")),
        ]);
        assert_eq!(allowed.lookup(&d, 3), Lookup::Allowed);
        // An allow-list algorithm is computed alongside a possible detection.
        assert!(allowed.algorithms_for_size(3).contains(Algorithm::Sha1));
        // ...but never on its own.
        assert!(allowed.algorithms_for_size(5).is_empty());
    }

    #[test]
    fn names_are_interned_and_duplicates_dropped() {
        let md5 = hash_bytes(Algorithm::Md5, b"abc").to_hex();
        let set = set_of(&[
            (Format::Vsig, &format!("md5:{md5}:3:Same")),
            (Format::Vsig, &format!("md5:{md5}:3:Same")),
            (Format::ClamHash, &format!("{md5}:*:Same:73")),
        ]);
        assert_eq!(set.names.len(), 1);
        assert_eq!(set.stats().detections[Algorithm::Md5.index()], 2);
    }
}
