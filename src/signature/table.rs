//! The storage of a signature set: fixed-size binary records sorted for
//! binary search, size indexes and the name table. Every part is a `Store`,
//! which is either owned memory (a set parsed from text) or a range of a
//! mapped compiled index; lookups run on both through the same `&[T]` view,
//! so a mapped set is used in place and never copied.
//!
//! Records are plain byte arrays (`Unaligned`, little-endian integers), so a
//! mapped byte range is viewed as a record slice by `zerocopy`'s checked,
//! safe conversion: no `unsafe` here.

use std::cmp::Ordering;
use std::sync::Arc;

use rayon::slice::ParallelSliceMut;
use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::fileio::Mapping;

/// The high bit of a record's tag marks an allow-list entry.
pub(crate) const ALLOW_BIT: u32 = 1 << 31;
/// The signature comes from one of ClamAV's formats (its name is printed
/// with `.UNOFFICIAL` unless `OFFICIAL_BIT` is set too).
pub(crate) const CLAMAV_BIT: u32 = 1 << 30;
/// The signature comes from a database whose ClamAV signature checked.
pub(crate) const OFFICIAL_BIT: u32 = 1 << 29;
/// Every flag of a tag; the rest is the name id.
pub(crate) const FLAG_BITS: u32 = ALLOW_BIT | CLAMAV_BIT | OFFICIAL_BIT;
/// Largest name id a tag can carry.
pub(crate) const MAX_NAMES: usize = OFFICIAL_BIT as usize;
/// Most bytes of names a set can hold: name ends are u32 offsets.
pub(crate) const MAX_NAME_BYTES: usize = u32::MAX as usize;

/// A limit of the set's storage that the databases went past.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CapacityFault {
    #[error("the signature names take more than {} bytes in all", MAX_NAME_BYTES)]
    NameBytes,
    #[error("more than {} distinct signature names", MAX_NAMES)]
    NameCount,
}

/// A signature that matches a file of any size (`*`): digest and tag,
/// 36 bytes for sha256/blake3.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub(crate) struct AnyRec<const N: usize> {
    pub digest: [u8; N],
    pub tag: U32,
}

/// A signature for one file size: digest, size and tag, 44 bytes for sha256/blake3.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub(crate) struct SizedRec<const N: usize> {
    pub digest: [u8; N],
    pub size: U64,
    pub tag: U32,
}

/// What lookups and sorting need from a record.
pub(crate) trait Record<const N: usize>:
    Copy + Send + Sync + Eq + FromBytes + IntoBytes + KnownLayout + Immutable + Unaligned
{
    fn digest(&self) -> &[u8; N];
    /// `None` for a record that matches any size.
    fn size(&self) -> Option<u64>;
    fn tag(&self) -> u32;

    fn is_allow(&self) -> bool {
        self.tag() & ALLOW_BIT != 0
    }

    fn name(&self) -> u32 {
        self.tag() & !FLAG_BITS
    }

    /// Order: digest, then size, then tag. The first eight digest bytes are
    /// compared as one integer first: digests are random, so that settles
    /// almost every comparison.
    fn order(&self, other: &Self) -> Ordering {
        let key = |d: &[u8; N]| {
            let mut k = [0u8; 8];
            let n = N.min(8);
            k[..n].copy_from_slice(&d[..n]);
            u64::from_be_bytes(k)
        };
        key(self.digest())
            .cmp(&key(other.digest()))
            .then_with(|| self.digest().cmp(other.digest()))
            .then_with(|| self.size().cmp(&other.size()))
            .then_with(|| self.tag().cmp(&other.tag()))
    }
}

impl<const N: usize> Record<N> for AnyRec<N> {
    fn digest(&self) -> &[u8; N] {
        &self.digest
    }
    fn size(&self) -> Option<u64> {
        None
    }
    fn tag(&self) -> u32 {
        self.tag.get()
    }
}

impl<const N: usize> Record<N> for SizedRec<N> {
    fn digest(&self) -> &[u8; N] {
        &self.digest
    }
    fn size(&self) -> Option<u64> {
        Some(self.size.get())
    }
    fn tag(&self) -> u32 {
        self.tag.get()
    }
}

/// Sorts records (in parallel, in place) and drops exact duplicates.
///
/// A large table is first cut into 256 buckets by the first digest byte,
/// in place (American flag sort: a count, then each record swapped straight
/// into its bucket), and the buckets are sorted in parallel. Digests are
/// random, so the buckets are even, and each is small enough to stay in
/// cache while it is sorted: on ten million sha256 records this takes
/// about 30% less CPU than one parallel sort of the whole, and no memory.
pub(crate) fn sort_dedup<const N: usize, R: Record<N>>(records: &mut Vec<R>) {
    use rayon::prelude::*;
    if records.len() < 1 << 16 || N == 0 {
        records.par_sort_unstable_by(R::order);
    } else {
        let mut ends = [0usize; 256];
        for r in records.iter() {
            ends[usize::from(r.digest()[0])] += 1;
        }
        let mut next = [0usize; 256];
        let mut at = 0;
        for (b, end) in ends.iter_mut().enumerate() {
            next[b] = at;
            at += *end;
            *end = at;
        }
        let starts = next;
        for b in 0..256 {
            while next[b] < ends[b] {
                let mut r = records[next[b]];
                loop {
                    let d = usize::from(r.digest()[0]);
                    if d == b {
                        break;
                    }
                    std::mem::swap(&mut r, &mut records[next[d]]);
                    next[d] += 1;
                }
                records[next[b]] = r;
                next[b] += 1;
            }
        }
        let mut buckets = Vec::with_capacity(256);
        let mut rest = &mut records[..];
        for b in 0..256 {
            let (bucket, tail) = rest.split_at_mut(ends[b] - starts[b]);
            buckets.push(bucket);
            rest = tail;
        }
        buckets
            .into_par_iter()
            .for_each(|b| b.sort_unstable_by(R::order));
    }
    records.dedup();
    records.shrink_to_fit();
}

/// An array of plain records: owned, or a byte range of a mapped index.
pub(crate) enum Store<T> {
    Owned(Vec<T>),
    Mapped {
        map: Arc<Mapping>,
        /// Byte offset of the first record in the mapping.
        start: usize,
        /// Length in bytes: a multiple of the record size (checked on load).
        len: usize,
    },
}

impl<T> Default for Store<T> {
    fn default() -> Self {
        Store::Owned(Vec::new())
    }
}

impl<T> std::fmt::Debug for Store<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Store::Owned(v) => write!(f, "Owned({} records)", v.len()),
            Store::Mapped { start, len, .. } => write!(f, "Mapped({start}+{len})"),
        }
    }
}

impl<T: FromBytes + IntoBytes + KnownLayout + Immutable + Unaligned> Store<T> {
    /// The records. A mapped range that does not fit (impossible once the
    /// index is validated) reads as empty rather than panicking.
    pub fn as_slice(&self) -> &[T] {
        match self {
            Store::Owned(v) => v,
            Store::Mapped { map, start, len } => map
                .get(*start..start.saturating_add(*len))
                .and_then(|bytes| <[T]>::ref_from_bytes(bytes).ok())
                .unwrap_or(&[]),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.as_slice().as_bytes()
    }

    /// Bytes of heap this store owns (capacity, not length).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Store::Owned(v) => v.capacity() * std::mem::size_of::<T>(),
            Store::Mapped { .. } => 0,
        }
    }

    /// Bytes of mapped file this store spans.
    pub fn mapped_bytes(&self) -> usize {
        match self {
            Store::Owned(_) => 0,
            Store::Mapped { len, .. } => *len,
        }
    }
}

/// Which file sizes some signature of a table could match.
#[derive(Debug, Default)]
pub(crate) struct SizeIndex {
    /// Some signature matches any size.
    pub any: bool,
    /// The distinct sizes of the sized signatures, sorted.
    pub sizes: Store<U64>,
}

impl SizeIndex {
    pub fn could_match(&self, size: u64) -> bool {
        self.any
            || self
                .sizes
                .as_slice()
                .binary_search_by(|s| s.get().cmp(&size))
                .is_ok()
    }

    pub fn is_empty(&self) -> bool {
        !self.any && self.sizes.as_slice().is_empty()
    }

    /// The index of the sizes `sizes()` yields (a pass that can be run
    /// again). When they span a range no wider than 64 per size, a bitmap
    /// of the range finds the distinct ones in two passes, without sorting
    /// and in at most the memory a list of them all would take; otherwise
    /// they are collected, sorted and de-duplicated.
    fn build<I: Iterator<Item = u64>>(any: bool, sizes: impl Fn() -> I) -> Self {
        let (mut count, mut min, mut max) = (0u64, u64::MAX, 0u64);
        for s in sizes() {
            count += 1;
            min = min.min(s);
            max = max.max(s);
        }
        let mut out: Vec<U64> = Vec::new();
        if count > 0 && (max - min) / 64 < count {
            let mut bits = vec![0u64; ((max - min) / 64 + 1) as usize];
            for s in sizes() {
                let at = s - min;
                bits[(at / 64) as usize] |= 1 << (at % 64);
            }
            let distinct = bits.iter().map(|w| w.count_ones() as usize).sum();
            out.reserve_exact(distinct);
            for (i, word) in bits.iter().enumerate() {
                let mut word = *word;
                while word != 0 {
                    out.push(U64::new(
                        min + i as u64 * 64 + u64::from(word.trailing_zeros()),
                    ));
                    word &= word - 1;
                }
            }
        } else if count > 0 {
            out = sizes().map(U64::new).collect();
            out.par_sort_unstable_by_key(|s| s.get());
            out.dedup();
            out.shrink_to_fit();
        }
        SizeIndex {
            any,
            sizes: Store::Owned(out),
        }
    }
}

/// All signatures of one algorithm whose digests are `N` bytes.
#[derive(Debug, Default)]
pub(crate) struct Table<const N: usize> {
    /// Signatures for one file size, sorted by (digest, size, tag).
    pub sized: Store<SizedRec<N>>,
    /// Signatures for any size, sorted by (digest, tag).
    pub any: Store<AnyRec<N>>,
    /// Sizes the detections could match.
    pub detect: SizeIndex,
    /// Sizes the allow-list entries could match.
    pub allow: SizeIndex,
}

/// Counts of one table, by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct TableCounts {
    pub detect_sized: usize,
    pub detect_any: usize,
    pub allow_sized: usize,
    pub allow_any: usize,
}

impl<const N: usize> Table<N> {
    /// Freezes sorted, de-duplicated records into a table and builds its size indexes.
    pub fn build(sized: Vec<SizedRec<N>>, any: Vec<AnyRec<N>>) -> (Self, TableCounts) {
        let mut counts = TableCounts::default();
        counts.allow_sized = sized.iter().filter(|r| r.is_allow()).count();
        counts.detect_sized = sized.len() - counts.allow_sized;
        counts.allow_any = any.iter().filter(|r| r.is_allow()).count();
        counts.detect_any = any.len() - counts.allow_any;
        let sizes = |allow: bool| {
            let sized = &sized;
            move || {
                sized
                    .iter()
                    .filter(move |r| r.is_allow() == allow)
                    .map(|r| r.size.get())
            }
        };
        let (detect, allow) = rayon::join(
            || SizeIndex::build(counts.detect_any > 0, sizes(false)),
            || SizeIndex::build(counts.allow_any > 0, sizes(true)),
        );
        let table = Table {
            detect,
            allow,
            sized: Store::Owned(sized),
            any: Store::Owned(any),
        };
        (table, counts)
    }

    /// Calls `each` with the tag of every detection that matches one digest
    /// and file size (sized entries first, then any-size ones); `true` if an
    /// allow-list entry matches.
    pub fn each_detection(&self, digest: &[u8], size: u64, mut each: impl FnMut(u32)) -> bool {
        let Ok(key) = <&[u8; N]>::try_from(digest) else {
            return false;
        };
        let mut allowed = false;
        let sized = self.sized.as_slice();
        let start = sized.partition_point(|r| r.digest < *key);
        for r in sized[start..].iter().take_while(|r| r.digest == *key) {
            if r.size.get() == size {
                allowed |= r.is_allow();
                if !r.is_allow() {
                    each(r.tag());
                }
            }
        }
        let any = self.any.as_slice();
        let start = any.partition_point(|r| r.digest < *key);
        for r in any[start..].iter().take_while(|r| r.digest == *key) {
            allowed |= r.is_allow();
            if !r.is_allow() {
                each(r.tag());
            }
        }
        allowed
    }

    /// For one digest and file size: whether an allow-list entry matches,
    /// else the tag of the first matching detection (sized entries first,
    /// then any-size ones; by tag within each).
    pub fn lookup(&self, digest: &[u8], size: u64) -> (bool, Option<u32>) {
        let Ok(key) = <&[u8; N]>::try_from(digest) else {
            return (false, None);
        };
        let mut detected = None;
        let sized = self.sized.as_slice();
        let start = sized.partition_point(|r| r.digest < *key);
        for r in sized[start..].iter().take_while(|r| r.digest == *key) {
            if r.size.get() == size {
                if r.is_allow() {
                    return (true, None);
                }
                detected.get_or_insert(r.tag());
            }
        }
        let any = self.any.as_slice();
        let start = any.partition_point(|r| r.digest < *key);
        for r in any[start..].iter().take_while(|r| r.digest == *key) {
            if r.is_allow() {
                return (true, None);
            }
            detected.get_or_insert(r.tag());
        }
        (false, detected)
    }

    pub fn heap_bytes(&self) -> usize {
        self.sized.heap_bytes()
            + self.any.heap_bytes()
            + self.detect.sizes.heap_bytes()
            + self.allow.sizes.heap_bytes()
    }

    pub fn mapped_bytes(&self) -> usize {
        self.sized.mapped_bytes()
            + self.any.mapped_bytes()
            + self.detect.sizes.mapped_bytes()
            + self.allow.sizes.mapped_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any(d: u8, tag: u32) -> AnyRec<16> {
        AnyRec {
            digest: [d; 16],
            tag: U32::new(tag),
        }
    }

    #[test]
    fn records_have_the_expected_sizes() {
        assert_eq!(std::mem::size_of::<AnyRec<32>>(), 36);
        assert_eq!(std::mem::size_of::<SizedRec<32>>(), 44);
        assert_eq!(std::mem::size_of::<SizedRec<16>>(), 28);
    }

    /// The bucketed sort of a large table orders exactly as a plain sort.
    #[test]
    fn bucketed_sort_agrees_with_a_plain_sort() {
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut v: Vec<AnyRec<16>> = (0..200_000u32)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let mut digest = [0u8; 16];
                digest[..8].copy_from_slice(&state.to_le_bytes());
                // Some digests again, under another tag or the same.
                if i % 10 == 0 {
                    digest = [(i % 7) as u8; 16];
                }
                AnyRec {
                    digest,
                    tag: U32::new(i % 3),
                }
            })
            .collect();
        let mut want = v.clone();
        want.sort_unstable_by(Record::order);
        want.dedup();
        sort_dedup(&mut v);
        assert_eq!(v, want);
    }

    #[test]
    fn sort_orders_by_digest_then_tag_and_dedups() {
        let mut v = vec![any(3, 1), any(1, 5), any(3, 0), any(1, 5), any(2, 9)];
        sort_dedup(&mut v);
        assert_eq!(v, vec![any(1, 5), any(2, 9), any(3, 0), any(3, 1)]);
    }

    #[test]
    fn size_index_finds_listed_sizes() {
        let sizes = |v: Vec<u64>| SizeIndex::build(false, move || v.clone().into_iter());
        let listed = |idx: &SizeIndex| {
            idx.sizes
                .as_slice()
                .iter()
                .map(|s| s.get())
                .collect::<Vec<_>>()
        };
        // Narrow range: the bitmap path.
        let idx = sizes(vec![9, 3, 9, 70, 3]);
        assert!(idx.could_match(3) && idx.could_match(9) && !idx.could_match(4));
        assert_eq!(listed(&idx), vec![3, 9, 70]);
        // Wide range: the sorting path, extremes included.
        let idx = sizes(vec![u64::MAX - 1, 0, 1 << 40, 0]);
        assert_eq!(listed(&idx), vec![0, 1 << 40, u64::MAX - 1]);
        assert!(sizes(vec![]).sizes.as_slice().is_empty());
        assert!(SizeIndex::build(true, std::iter::empty).could_match(12345));
        // Both paths agree on many sizes.
        let many: Vec<u64> = (0..5000u64).map(|i| (i * 7919) % 3001 + 1000).collect();
        let mut want = many.clone();
        want.sort_unstable();
        want.dedup();
        assert_eq!(listed(&sizes(many.clone())), want);
        let mut spread = many;
        spread.push(1 << 50);
        want.push(1 << 50);
        assert_eq!(listed(&sizes(spread)), want);
    }
}
