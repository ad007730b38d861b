//! The signature set: every known digest, stored as fixed-size binary records
//! in per-algorithm tables sorted for binary search, with the sizes that let
//! the engine skip a file without opening it. A set is immutable once built
//! and is shared read-only (`Arc<SignatureSet>`); reloading builds a new one
//! beside the old and swaps the pointer.
//!
//! A set is built from text (`SignatureSetBuilder`, fed in parallel by
//! `text`), or mapped in place from a compiled index (`index`). Lookups
//! allocate nothing and work the same on both.

mod cvd;
mod db;
mod diff;
mod dsig;
pub mod index;
mod info;
mod limits;
mod load;
mod names;
mod parse;
mod provenance;
mod table;
mod text;

use zerocopy::little_endian::{U32, U64};

use crate::hash::{AlgoSet, Algorithm, Digest, Digests};
use names::{NameInterner, Names};
use table::{AnyRec, SizedRec, Table, TableCounts, ALLOW_BIT, CLAMAV_BIT, FLAG_BITS, OFFICIAL_BIT};

pub use table::CapacityFault;

pub use cvd::CvdFault;
pub use db::{load_builtin, load_databases, LoadError, Loaded, Loader, SigError, SigFault};
pub use diff::{diff, Change, DiffCounts, Entry};
pub use index::{write_index, IndexFault};
pub use limits::{LoadLimits, DEFAULT_MAX_DB_BYTES, DEFAULT_MAX_DB_LINES, DEFAULT_MAX_FAULTS};
pub use load::load_signatures;
pub use names::SigName;
pub use parse::{parse_line, Format, LineFault, Parsed, SigLine, ENGINE_FLEVEL};
pub use provenance::Provenance;

/// Signed databases for tests elsewhere in the crate, and a loader that
/// trusts the key they are signed with.
#[cfg(test)]
pub(crate) mod testing {
    use super::{LoadLimits, Loader};

    /// A `.cld` holding `members`, whose `.info` (signed with the test key)
    /// lists `listed`.
    pub(crate) fn signed_cld(listed: &[(&str, &[u8])], members: &[(&str, &[u8])]) -> Vec<u8> {
        super::cvd::tests::cld(super::cvd::tests::CLD_HEAD, listed, members)
    }

    /// A loader that trusts the test key in place of ClamAV's.
    pub(crate) fn trusting_test_keys(limits: LoadLimits) -> Loader {
        Loader::new(limits).trusting(super::dsig::tests::test_key_set())
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
    pub name: SigName<'a>,
    pub digest: Digest,
    /// The signature comes from one of ClamAV's formats.
    pub clamav: bool,
    /// It comes from a database whose ClamAV signature checked.
    pub official: bool,
}

/// What ClamAV appends to the name of a signature it did not sign.
pub const UNOFFICIAL: &str = ".UNOFFICIAL";

impl Match<'_> {
    /// The name as ClamAV prints it: a ClamAV-format signature that is not
    /// from a database ClamAV signed gets `.UNOFFICIAL`; vigil's own
    /// formats are printed as written.
    pub fn label(&self) -> Box<str> {
        if self.clamav && !self.official {
            format!("{}{UNOFFICIAL}", self.name).into_boxed_str()
        } else {
            self.name.to_string().into_boxed_str()
        }
    }
}

/// Counts of what a set holds, for the summary and `sigs stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetStats {
    /// Detection signatures per algorithm (after de-duplication).
    pub detections: [usize; 4],
    /// Allow-list entries per algorithm.
    pub allows: [usize; 4],
    /// Of `detections`, those that match any size (`*`).
    pub detections_any_size: [usize; 4],
    /// Of `allows`, those that match any size (`*`).
    pub allows_any_size: [usize; 4],
    /// Signature names stored: distinct ones, but a name with a number
    /// (`Win.Trojan.Agent-6612345-0`) that recurs far from where it was
    /// last seen counts again.
    pub names: usize,
    /// Valid ClamAV lines skipped because their MINFL/MAXFL excludes this engine.
    pub outside_flevel: usize,
    /// Database files read (a container counts once).
    pub files: usize,
    /// ClamAV containers (`.cvd`, `.cld`, `.cud`) read.
    pub containers: usize,
    /// Hash database members loaded from containers.
    pub container_members: usize,
    /// Container members skipped because vigil does not read their format (`.ndb`, `.ldb`, ...).
    pub skipped_members: usize,
}

impl SetStats {
    pub fn total_detections(&self) -> usize {
        self.detections.iter().sum()
    }

    pub fn total_allows(&self) -> usize {
        self.allows.iter().sum()
    }
}

/// Memory a set occupies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryUse {
    /// Bytes of heap owned by the set's tables and names.
    pub heap: usize,
    /// Bytes of a compiled index mapped in place.
    pub mapped: usize,
}

/// An immutable, shareable set of signatures.
#[derive(Debug)]
pub struct SignatureSet {
    md5: Table<16>,
    sha1: Table<20>,
    sha256: Table<32>,
    blake3: Table<32>,
    /// Signature names, as stems and numbers (see `names`).
    names: Names,
    stats: SetStats,
}

impl SignatureSet {
    pub fn stats(&self) -> &SetStats {
        &self.stats
    }

    /// How much memory the set's storage takes.
    pub fn memory(&self) -> MemoryUse {
        MemoryUse {
            heap: self.md5.heap_bytes()
                + self.sha1.heap_bytes()
                + self.sha256.heap_bytes()
                + self.blake3.heap_bytes()
                + self.names.heap_bytes(),
            mapped: self.md5.mapped_bytes()
                + self.sha1.mapped_bytes()
                + self.sha256.mapped_bytes()
                + self.blake3.mapped_bytes()
                + self.names.mapped_bytes(),
        }
    }

    /// True if the set is a compiled index used in place.
    pub fn is_mapped(&self) -> bool {
        self.memory().mapped > 0
    }

    /// The algorithms worth computing for a file of `size` bytes: those with a
    /// detection that could match that size, plus, when there is one, those
    /// with an allow-list entry that could. Empty means: do not open the file.
    pub fn algorithms_for_size(&self, size: u64) -> AlgoSet {
        // Most files match no detection size: settle that before searching
        // the allow-list sizes, which only matter when a detection could.
        let mut detect = AlgoSet::EMPTY;
        for algo in Algorithm::ALL {
            if self.size_indexes(algo).0.could_match(size) {
                detect.insert(algo);
            }
        }
        if detect.is_empty() {
            return AlgoSet::EMPTY;
        }
        let mut set = detect;
        for algo in Algorithm::ALL {
            if !set.contains(algo) && self.size_indexes(algo).1.could_match(size) {
                set.insert(algo);
            }
        }
        set
    }

    /// The algorithms with an allow-list entry that could match a file of
    /// `size` bytes, whether or not a detection could: a container on the
    /// allow-list is clean with everything in it, so it is hashed for that.
    pub fn allow_algorithms_for_size(&self, size: u64) -> AlgoSet {
        let mut set = AlgoSet::EMPTY;
        for algo in Algorithm::ALL {
            if self.size_indexes(algo).1.could_match(size) {
                set.insert(algo);
            }
        }
        set
    }

    /// The algorithms worth computing when the size is not known in advance
    /// (standard input): any algorithm with a detection or an allow-list
    /// entry at all (an allow-list match on one algorithm overrides a
    /// detection on another).
    pub fn algorithms_for_unknown_size(&self) -> AlgoSet {
        let mut set = AlgoSet::EMPTY;
        for algo in Algorithm::ALL {
            let (d, a) = self.size_indexes(algo);
            if !d.is_empty() || !a.is_empty() {
                set.insert(algo);
            }
        }
        set
    }

    fn size_indexes(&self, algo: Algorithm) -> (&table::SizeIndex, &table::SizeIndex) {
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
                found = detected.map(|tag| self.matched(tag, digest));
            }
        }
        found.map_or(Lookup::Clean, Lookup::Detected)
    }

    fn matched(&self, tag: u32, digest: &Digest) -> Match<'_> {
        Match {
            name: self.names.get(tag & !FLAG_BITS),
            digest: *digest,
            clamav: tag & CLAMAV_BIT != 0,
            official: tag & OFFICIAL_BIT != 0,
        }
    }

    /// Every detection that matches a file's digests, in the order `lookup`
    /// prefers them (its first is `lookup`'s), each signature name once;
    /// none if an allow-list entry matches. Allocates only the list.
    pub fn lookup_all(&self, digests: &Digests, size: u64) -> Vec<Match<'_>> {
        let mut all: Vec<Match<'_>> = Vec::new();
        for digest in digests.iter() {
            let bytes = digest.as_bytes();
            let mut each = |tag: u32| {
                let m = self.matched(tag, digest);
                if !all.iter().any(|o| o.name == m.name && o.clamav == m.clamav) {
                    all.push(m);
                }
            };
            let allowed = match digest.algorithm() {
                Algorithm::Md5 => self.md5.each_detection(bytes, size, &mut each),
                Algorithm::Sha1 => self.sha1.each_detection(bytes, size, &mut each),
                Algorithm::Sha256 => self.sha256.each_detection(bytes, size, &mut each),
                Algorithm::Blake3 => self.blake3.each_detection(bytes, size, &mut each),
            };
            if allowed {
                return Vec::new();
            }
        }
        all
    }

    /// (any allow-list match, first detection's name id) for one digest.
    fn lookup_one(&self, digest: &Digest, size: u64) -> (bool, Option<u32>) {
        let bytes = digest.as_bytes();
        match digest.algorithm() {
            Algorithm::Md5 => self.md5.lookup(bytes, size),
            Algorithm::Sha1 => self.sha1.lookup(bytes, size),
            Algorithm::Sha256 => self.sha256.lookup(bytes, size),
            Algorithm::Blake3 => self.blake3.lookup(bytes, size),
        }
    }
}

/// Records of one algorithm waiting to be sorted.
#[derive(Debug, Default)]
struct Pending<const N: usize> {
    sized: Vec<SizedRec<N>>,
    any: Vec<AnyRec<N>>,
}

impl<const N: usize> Pending<N> {
    fn push(&mut self, bytes: &[u8], size: Option<u64>, tag: u32) {
        let Ok(digest) = <[u8; N]>::try_from(bytes) else {
            return;
        };
        match size {
            // Every u64 is a size; only `None` (`*`) matches any size.
            Some(size) => self.sized.push(SizedRec {
                digest,
                size: U64::new(size),
                tag: U32::new(tag),
            }),
            None => self.any.push(AnyRec {
                digest,
                tag: U32::new(tag),
            }),
        }
    }

    /// Rewrites name ids from `first` on through `map` (`first + i` becomes
    /// `map[i]`); smaller ids are left alone.
    fn remap(&mut self, first: u32, map: &[u32]) {
        let fix = |tag: &mut U32| {
            let t = tag.get();
            let name = t & !FLAG_BITS;
            if let Some(i) = name.checked_sub(first) {
                let name = map.get(i as usize).copied().unwrap_or(0);
                tag.set((t & FLAG_BITS) | name);
            }
        };
        self.sized.iter_mut().for_each(|r| fix(&mut r.tag));
        self.any.iter_mut().for_each(|r| fix(&mut r.tag));
    }

    fn append(&mut self, other: &mut Pending<N>) {
        fn take<T>(to: &mut Vec<T>, from: &mut Vec<T>) {
            if to.is_empty() {
                // No copy (and no second buffer) when there is nothing yet.
                std::mem::swap(to, from);
            } else {
                to.append(from);
            }
        }
        take(&mut self.sized, &mut other.sized);
        take(&mut self.any, &mut other.any);
    }

    fn build(mut self) -> (Table<N>, TableCounts) {
        rayon::join(
            || table::sort_dedup(&mut self.sized),
            || table::sort_dedup(&mut self.any),
        );
        Table::build(self.sized, self.any)
    }
}

/// Records of every algorithm.
#[derive(Debug, Default)]
struct PendingSet {
    md5: Pending<16>,
    sha1: Pending<20>,
    sha256: Pending<32>,
    blake3: Pending<32>,
}

impl PendingSet {
    fn push(&mut self, digest: &Digest, size: Option<u64>, tag: u32) {
        let bytes = digest.as_bytes();
        match digest.algorithm() {
            Algorithm::Md5 => self.md5.push(bytes, size, tag),
            Algorithm::Sha1 => self.sha1.push(bytes, size, tag),
            Algorithm::Sha256 => self.sha256.push(bytes, size, tag),
            Algorithm::Blake3 => self.blake3.push(bytes, size, tag),
        }
    }

    fn remap(&mut self, first: u32, map: &[u32]) {
        self.md5.remap(first, map);
        self.sha1.remap(first, map);
        self.sha256.remap(first, map);
        self.blake3.remap(first, map);
    }

    fn append(&mut self, other: &mut PendingSet) {
        self.md5.append(&mut other.md5);
        self.sha1.append(&mut other.sha1);
        self.sha256.append(&mut other.sha256);
        self.blake3.append(&mut other.blake3);
    }
}

/// Where a builder's records ended at some point (see `mark`).
pub(crate) struct Mark([usize; 8]);

/// Collects signatures, interning names, then freezes them into a `SignatureSet`.
#[derive(Default)]
pub struct SignatureSetBuilder {
    pending: PendingSet,
    names: NameInterner,
    /// Counts carried into `SetStats` (the per-algorithm ones are computed in `build`).
    stats: SetStats,
}

fn tag(name: u32, allow: bool, format: Option<Format>) -> u32 {
    let mut tag = name;
    if allow {
        tag |= ALLOW_BIT;
    }
    if matches!(format, Some(Format::ClamHash | Format::ClamAllow)) {
        tag |= CLAMAV_BIT;
    }
    tag
}

impl SignatureSetBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one signature; an error if the set cannot hold its name.
    pub fn add(&mut self, sig: &SigLine<'_>, allow: bool) -> Result<(), CapacityFault> {
        let name = self.names.intern(sig.name)?;
        self.pending
            .push(&sig.digest, sig.size, tag(name, allow, None));
        Ok(())
    }

    /// Where the records added so far end, to mark those added after.
    pub(crate) fn mark(&self) -> Mark {
        let p = &self.pending;
        Mark([
            p.md5.sized.len(),
            p.md5.any.len(),
            p.sha1.sized.len(),
            p.sha1.any.len(),
            p.sha256.sized.len(),
            p.sha256.any.len(),
            p.blake3.sized.len(),
            p.blake3.any.len(),
        ])
    }

    /// Flags every record added since `mark` as from a database ClamAV signed.
    pub(crate) fn set_official_since(&mut self, mark: &Mark) {
        fn flag<const N: usize>(p: &mut Pending<N>, sized: usize, any: usize) {
            let set = |t: &mut U32| t.set(t.get() | OFFICIAL_BIT);
            p.sized.iter_mut().skip(sized).for_each(|r| set(&mut r.tag));
            p.any.iter_mut().skip(any).for_each(|r| set(&mut r.tag));
        }
        let m = mark.0;
        let p = &mut self.pending;
        flag(&mut p.md5, m[0], m[1]);
        flag(&mut p.sha1, m[2], m[3]);
        flag(&mut p.sha256, m[4], m[5]);
        flag(&mut p.blake3, m[6], m[7]);
    }

    pub(crate) fn note_file(&mut self) {
        self.stats.files += 1;
    }

    pub(crate) fn note_container(&mut self, members: usize, skipped: usize) {
        self.stats.containers += 1;
        self.stats.container_members += members;
        self.stats.skipped_members += skipped;
    }

    /// Adds parsed chunks, in file order. A chunk's records already carry
    /// the ids of names the builder knew when it was parsed; names new to
    /// it were numbered from `first_new` on. Those are interned here in
    /// order (so ids follow first appearance, as if parsed serially), and
    /// the records that use them are renumbered in parallel. If the set
    /// cannot hold the names, nothing is added.
    fn add_chunks(&mut self, chunks: &mut [text::Chunk<'_>]) -> Result<(), CapacityFault> {
        use rayon::prelude::*;
        let names = &mut self.names;
        let maps = chunks
            .iter()
            .map(|c| {
                let stems = c
                    .new_stems
                    .iter()
                    .map(|(head, tail)| names.intern_stem(head, tail))
                    .collect::<Result<Vec<u32>, _>>()?;
                c.new_names
                    .iter()
                    .map(|&(stem, number)| {
                        let stem = match stem.checked_sub(c.known_stems) {
                            Some(i) => stems.get(i as usize).copied().unwrap_or(0),
                            None => stem,
                        };
                        names.intern_parts(stem, number)
                    })
                    .collect()
            })
            .collect::<Result<Vec<Vec<u32>>, _>>()?;
        chunks
            .par_iter_mut()
            .zip(maps.par_iter())
            .filter(|(_, map)| !map.is_empty())
            .for_each(|(c, map)| c.records.remap(c.first_new, map));
        for c in chunks {
            self.pending.append(&mut c.records);
            self.stats.outside_flevel += c.outside_flevel;
        }
        Ok(())
    }

    /// Adds every signature of another set (a compiled index merged with
    /// other databases), with its counts of files and containers; an error
    /// (and nothing added) if the set cannot hold its names.
    pub fn add_set(&mut self, set: &SignatureSet) -> Result<(), CapacityFault> {
        let count = u32::try_from(set.names.len()).map_err(|_| CapacityFault::NameCount)?;
        let map = (0..count)
            .map(|id| {
                let (head, number, tail) = set.names.parts(id);
                self.names.intern_split(head, number, tail)
            })
            .collect::<Result<Vec<u32>, _>>()?;
        fn copy<const N: usize>(to: &mut Pending<N>, from: &Table<N>, map: &[u32]) {
            let mut add = Pending::<N> {
                sized: from.sized.as_slice().to_vec(),
                any: from.any.as_slice().to_vec(),
            };
            add.remap(0, map);
            to.append(&mut add);
        }
        copy(&mut self.pending.md5, &set.md5, &map);
        copy(&mut self.pending.sha1, &set.sha1, &map);
        copy(&mut self.pending.sha256, &set.sha256, &map);
        copy(&mut self.pending.blake3, &set.blake3, &map);
        let s = &set.stats;
        self.stats.outside_flevel += s.outside_flevel;
        self.stats.files += s.files;
        self.stats.containers += s.containers;
        self.stats.container_members += s.container_members;
        self.stats.skipped_members += s.skipped_members;
        Ok(())
    }

    /// Sorts and de-duplicates every table (in parallel) and freezes the set.
    pub fn build(self) -> SignatureSet {
        let started = std::time::Instant::now();
        let PendingSet {
            md5,
            sha1,
            sha256,
            blake3,
        } = self.pending;
        let (((md5, c0), (sha1, c1)), ((sha256, c2), (blake3, c3))) = rayon::join(
            || rayon::join(|| md5.build(), || sha1.build()),
            || rayon::join(|| sha256.build(), || blake3.build()),
        );
        let counts = [c0, c1, c2, c3];
        let mut stats = self.stats;
        for (i, c) in counts.iter().enumerate() {
            stats.detections[i] = c.detect_sized + c.detect_any;
            stats.allows[i] = c.allow_sized + c.allow_any;
            stats.detections_any_size[i] = c.detect_any;
            stats.allows_any_size[i] = c.allow_any;
        }
        stats.names = self.names.len();
        tracing::debug!(elapsed = ?started.elapsed(), "signature tables sorted");
        SignatureSet {
            md5,
            sha1,
            sha256,
            blake3,
            names: self.names.into_names(),
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
                b.add(&sig, format.is_allow()).unwrap();
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

    /// A size is a size: the largest u64 is one file size like any other,
    /// and only `*` matches any size.
    #[test]
    fn the_largest_size_is_a_size_not_a_wildcard() {
        let md5 = hash_bytes(Algorithm::Md5, b"abc").to_hex();
        for (format, line) in [
            (Format::ClamHash, format!("{md5}:18446744073709551615:Max")),
            (Format::Vsig, format!("md5:{md5}:18446744073709551615:Max")),
        ] {
            let set = set_of(&[(format, &line)]);
            let i = Algorithm::Md5.index();
            assert_eq!(set.stats().detections[i], 1, "{line}");
            assert_eq!(set.stats().detections_any_size[i], 0, "{line}");
            let d = digests(b"abc", AlgoSet::all());
            assert_eq!(set.lookup(&d, 3), Lookup::Clean, "{line}");
            assert!(set.algorithms_for_size(3).is_empty(), "{line}");
            assert!(set.algorithms_for_size(u64::MAX).contains(Algorithm::Md5));
            assert!(matches!(set.lookup(&d, u64::MAX), Lookup::Detected(_)));
        }
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

    /// Reload readiness: a new set is built on another thread while lookups
    /// go on against the current one, then swapped in as an `Arc`; scans
    /// that hold the old `Arc` finish on it.
    #[test]
    fn a_new_set_builds_beside_the_old_and_swaps_as_an_arc() {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        use std::sync::{Arc, Mutex};
        fn shareable<T: Send + Sync + 'static>() {}
        shareable::<SignatureSet>();

        let eicar = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
        let current = Mutex::new(Arc::new(crate::signature::load_builtin()));
        let done = AtomicBool::new(false);
        let lookups = AtomicUsize::new(0);
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("new.vsig");
        let md5 = hash_bytes(Algorithm::Md5, eicar).to_hex();
        let mut text = format!("md5:{md5}:68:Reloaded\n");
        for i in 0..20_000u32 {
            let hex = hash_bytes(Algorithm::Sha256, &i.to_le_bytes()).to_hex();
            text.push_str(&format!("sha256:{hex}:*:Filler\n"));
        }
        std::fs::write(&db, text).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                let d = digests(eicar, AlgoSet::all());
                while !done.load(Ordering::Relaxed) {
                    // A scan takes the current set once and keeps it.
                    let set = current.lock().unwrap().clone();
                    assert!(matches!(set.lookup(&d, 68), Lookup::Detected(_)));
                    lookups.fetch_add(1, Ordering::Relaxed);
                }
            });
            s.spawn(|| {
                let new = crate::signature::load_databases(std::slice::from_ref(&db))
                    .unwrap()
                    .set;
                let old = std::mem::replace(&mut *current.lock().unwrap(), Arc::new(new));
                drop(old);
                done.store(true, Ordering::Relaxed);
            });
        });
        assert!(lookups.load(Ordering::Relaxed) > 0);
        let d = digests(eicar, AlgoSet::all());
        let set = current.lock().unwrap().clone();
        assert!(matches!(set.lookup(&d, 68), Lookup::Detected(m) if m.name == "Reloaded"));
    }
}
