//! Signature names, stored so that the names real feeds give cost little.
//! ClamAV names every signature on its own (`Win.Trojan.Agent-6612345-0`):
//! a few thousand distinct stems (`Win.Trojan.Agent-…-0`) with a signature
//! id cut out of them. A name is kept as a stem id and that number, 8 bytes,
//! whatever its length; the stems are interned once, as text.
//!
//! The number is the last run of 4 to 9 ASCII digits that does not start
//! with `0` (so that it prints back exactly); a name without one is its own
//! stem, and such names are interned exactly. A name with a number is
//! deduplicated against the recently seen ones (a small direct-mapped
//! table), not against all: a feed repeats a name on neighbouring lines, and
//! an exact table of ten million unique names would cost more than the names.
//! Either way a name reads back exactly as it was written.

use std::fmt;
use std::hash::BuildHasher;

use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::table::{CapacityFault, Store, MAX_NAMES, MAX_NAME_BYTES};

/// The number of a name that has none: it is its stem.
pub(crate) const NO_NUMBER: u32 = u32::MAX;
/// Digits a number may have: shorter runs belong to the family (`Win32`),
/// and nine digits always fit in a u32 below `NO_NUMBER`.
const MIN_DIGITS: usize = 4;
const MAX_DIGITS: usize = 9;
/// Slots of the table of recent numbered names (a power of two).
const RECENT_SLOTS: usize = 1 << 14;

/// A stem: where its text ends in the stem bytes (it starts where the one
/// before ends) and where in it the number goes.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub(crate) struct StemRec {
    pub end: U32,
    pub cut: U32,
}

/// A name: its stem and its number (`NO_NUMBER` for none).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub(crate) struct NameRec {
    pub stem: U32,
    pub number: U32,
}

/// Cuts a name into (head, number, tail); `(name, NO_NUMBER, "")` if it has
/// no number.
pub(crate) fn split(name: &str) -> (&str, u32, &str) {
    let b = name.as_bytes();
    let mut i = b.len();
    while i > 0 {
        if !b[i - 1].is_ascii_digit() {
            i -= 1;
            continue;
        }
        let end = i;
        while i > 0 && b[i - 1].is_ascii_digit() {
            i -= 1;
        }
        let digits = &b[i..end];
        if (MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()) && digits[0] != b'0' {
            let number = digits
                .iter()
                .fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
            // Digits are ASCII, so both cuts are character boundaries.
            return (&name[..i], number, &name[end..]);
        }
    }
    (name, NO_NUMBER, "")
}

/// A signature name as a set holds it; prints (and compares) as its text.
#[derive(Clone, Copy)]
pub struct SigName<'a> {
    head: &'a str,
    number: Option<u32>,
    tail: &'a str,
}

impl<'a> SigName<'a> {
    const UNKNOWN: SigName<'static> = SigName {
        head: "?",
        number: None,
        tail: "",
    };

    /// The name's bytes, without allocating.
    fn bytes(&self) -> impl Iterator<Item = u8> + '_ {
        let mut digits = [0u8; 10];
        let mut at = digits.len();
        if let Some(mut n) = self.number {
            loop {
                at -= 1;
                digits[at] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
        }
        let number = (at..digits.len()).map(move |i| digits[i]);
        self.head.bytes().chain(number).chain(self.tail.bytes())
    }
}

impl fmt::Display for SigName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.number {
            Some(n) => write!(f, "{}{n}{}", self.head, self.tail),
            None => write!(f, "{}{}", self.head, self.tail),
        }
    }
}

impl fmt::Debug for SigName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}

impl PartialEq for SigName<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.bytes().eq(other.bytes())
    }
}

impl Eq for SigName<'_> {}

impl PartialEq<&str> for SigName<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.bytes().eq(other.bytes())
    }
}

impl From<SigName<'_>> for String {
    fn from(n: SigName<'_>) -> String {
        n.to_string()
    }
}

impl From<SigName<'_>> for Box<str> {
    fn from(n: SigName<'_>) -> Box<str> {
        n.to_string().into_boxed_str()
    }
}

/// The names of a set: stems as text, and a stem id and number per name.
#[derive(Debug, Default)]
pub(crate) struct Names {
    pub stems: Store<StemRec>,
    /// UTF-8 text of every stem, back to back (checked on load).
    pub stem_bytes: Store<u8>,
    pub names: Store<NameRec>,
}

impl Names {
    pub fn len(&self) -> usize {
        self.names.as_slice().len()
    }

    pub fn stem_count(&self) -> usize {
        self.stems.as_slice().len()
    }

    /// The text of stem `id`, cut where its number goes.
    fn stem(&self, id: u32) -> Option<(&str, &str)> {
        stem_text(self.stems.as_slice(), self.stem_bytes.as_slice(), id)
    }

    /// Name `id`; a bad id or range (impossible once validated) reads as `"?"`.
    pub fn get(&self, id: u32) -> SigName<'_> {
        let Some(rec) = self.names.as_slice().get(id as usize) else {
            return SigName::UNKNOWN;
        };
        match self.stem(rec.stem.get()) {
            Some((head, tail)) => SigName {
                head,
                number: Some(rec.number.get()).filter(|&n| n != NO_NUMBER),
                tail,
            },
            None => SigName::UNKNOWN,
        }
    }

    /// Name `id` as (head, number, tail), to intern elsewhere.
    pub fn parts(&self, id: u32) -> (&str, u32, &str) {
        let n = self.get(id);
        (n.head, n.number.unwrap_or(NO_NUMBER), n.tail)
    }

    pub fn heap_bytes(&self) -> usize {
        self.stems.heap_bytes() + self.stem_bytes.heap_bytes() + self.names.heap_bytes()
    }

    pub fn mapped_bytes(&self) -> usize {
        self.stems.mapped_bytes() + self.stem_bytes.mapped_bytes() + self.names.mapped_bytes()
    }
}

fn stem_text<'a>(stems: &[StemRec], bytes: &'a [u8], id: u32) -> Option<(&'a str, &'a str)> {
    let id = id as usize;
    let start = match id {
        0 => 0,
        _ => stems.get(id - 1)?.end.get() as usize,
    };
    let rec = stems.get(id)?;
    let (end, cut) = (rec.end.get() as usize, rec.cut.get() as usize);
    let text = std::str::from_utf8(bytes.get(start..end)?).ok()?;
    let cut = cut.checked_sub(start)?;
    if !text.is_char_boundary(cut) {
        return None;
    }
    Some(text.split_at(cut))
}

/// Builds `Names`: interns stems exactly (a hash table of stem ids that
/// compares against the stem bytes, so no text is stored twice), bare names
/// exactly, and numbered names against the recent ones.
pub(crate) struct NameInterner {
    stems: Vec<StemRec>,
    stem_bytes: Vec<u8>,
    /// Per stem: the id of the name that is the stem alone, or `NO_NUMBER`.
    bare: Vec<u32>,
    table: hashbrown::HashTable<u32>,
    hasher: hashbrown::DefaultHashBuilder,
    names: Vec<NameRec>,
    /// Recently interned numbered names: (stem, number, id) by a hash of
    /// (stem, number). Fixed size, so unique names cost nothing here.
    recent: Vec<(u32, u32, u32)>,
    /// `MAX_NAMES` and `MAX_NAME_BYTES`, lowered by tests.
    max_names: usize,
    max_bytes: usize,
}

impl Default for NameInterner {
    fn default() -> Self {
        NameInterner {
            stems: Vec::new(),
            stem_bytes: Vec::new(),
            bare: Vec::new(),
            table: hashbrown::HashTable::new(),
            hasher: hashbrown::DefaultHashBuilder::default(),
            names: Vec::new(),
            recent: vec![(u32::MAX, NO_NUMBER, 0); RECENT_SLOTS],
            max_names: MAX_NAMES,
            max_bytes: MAX_NAME_BYTES,
        }
    }
}

impl NameInterner {
    #[cfg(test)]
    pub fn with_limits(max_names: usize, max_bytes: usize) -> Self {
        NameInterner {
            max_names,
            max_bytes,
            ..NameInterner::default()
        }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn stem_count(&self) -> usize {
        self.stems.len()
    }

    fn hash(&self, head: &str, tail: &str) -> u64 {
        self.hasher.hash_one((head, tail))
    }

    /// The id of the stem (head, tail), if known.
    pub fn find_stem(&self, head: &str, tail: &str) -> Option<u32> {
        let hash = self.hash(head, tail);
        let (head, tail) = (head.as_bytes(), tail.as_bytes());
        self.table
            .find(hash, |&id| {
                // Bytes, not text: these were checked when they were added.
                let rec = &self.stems[id as usize];
                let start = match id {
                    0 => 0,
                    _ => self.stems[id as usize - 1].end.get() as usize,
                };
                let (cut, end) = (rec.cut.get() as usize, rec.end.get() as usize);
                &self.stem_bytes[start..cut] == head && &self.stem_bytes[cut..end] == tail
            })
            .copied()
    }

    /// The id of the name that is stem `stem` alone, if known.
    pub fn bare_name(&self, stem: u32) -> Option<u32> {
        self.bare
            .get(stem as usize)
            .copied()
            .filter(|&id| id != NO_NUMBER)
    }

    /// The id of the stem (head, tail), adding it if new.
    pub fn intern_stem(&mut self, head: &str, tail: &str) -> Result<u32, CapacityFault> {
        if let Some(id) = self.find_stem(head, tail) {
            return Ok(id);
        }
        let cut = self.stem_bytes.len() + head.len();
        let end = cut + tail.len();
        let (cut, end) = match (u32::try_from(cut), u32::try_from(end)) {
            (Ok(cut), Ok(e)) if e as usize <= self.max_bytes => (cut, e),
            _ => return Err(CapacityFault::NameBytes),
        };
        if self.stems.len() >= self.max_names {
            return Err(CapacityFault::NameCount);
        }
        let id = self.stems.len() as u32;
        self.stem_bytes.extend_from_slice(head.as_bytes());
        self.stem_bytes.extend_from_slice(tail.as_bytes());
        self.stems.push(StemRec {
            end: U32::new(end),
            cut: U32::new(cut),
        });
        self.bare.push(NO_NUMBER);
        let hash = self.hash(head, tail);
        let (stems, bytes, hasher) = (&self.stems, &self.stem_bytes, &self.hasher);
        self.table.insert_unique(hash, id, |&id| {
            let (h, t) = stem_text(stems, bytes, id).unwrap_or(("", ""));
            hasher.hash_one((h, t))
        });
        Ok(id)
    }

    fn slot(stem: u32, number: u32) -> usize {
        let key = (u64::from(stem) << 32) | u64::from(number);
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - RECENT_SLOTS.trailing_zeros())) as usize
    }

    /// The id of the name (stem, number), adding it if it is not a bare
    /// name already known or a numbered name seen recently.
    pub fn intern_parts(&mut self, stem: u32, number: u32) -> Result<u32, CapacityFault> {
        let slot = Self::slot(stem, number);
        if number == NO_NUMBER {
            if let Some(id) = self.bare_name(stem) {
                return Ok(id);
            }
        } else {
            let (s, n, id) = self.recent[slot];
            if (s, n) == (stem, number) {
                return Ok(id);
            }
        }
        if self.names.len() >= self.max_names {
            return Err(CapacityFault::NameCount);
        }
        let id = self.names.len() as u32;
        self.names.push(NameRec {
            stem: U32::new(stem),
            number: U32::new(number),
        });
        if number == NO_NUMBER {
            if let Some(b) = self.bare.get_mut(stem as usize) {
                *b = id;
            }
        } else {
            self.recent[slot] = (stem, number, id);
        }
        Ok(id)
    }

    /// The id of a name given in parts, adding what is new.
    pub fn intern_split(
        &mut self,
        head: &str,
        number: u32,
        tail: &str,
    ) -> Result<u32, CapacityFault> {
        let stem = self.intern_stem(head, tail)?;
        self.intern_parts(stem, number)
    }

    /// The id of `name`, adding it if new.
    pub fn intern(&mut self, name: &str) -> Result<u32, CapacityFault> {
        let (head, number, tail) = split(name);
        self.intern_split(head, number, tail)
    }

    /// The names, without the lookup tables.
    pub fn into_names(self) -> Names {
        let (mut stems, mut bytes, mut names) = (self.stems, self.stem_bytes, self.names);
        stems.shrink_to_fit();
        bytes.shrink_to_fit();
        names.shrink_to_fit();
        Names {
            stems: Store::Owned(stems),
            stem_bytes: Store::Owned(bytes),
            names: Store::Owned(names),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_at_their_last_long_number() {
        assert_eq!(
            split("Win.Trojan.Agent-6612345-0"),
            ("Win.Trojan.Agent-", 6612345, "-0")
        );
        assert_eq!(
            split("Win.Exploit.CVE_2017_11882-6349014-1"),
            ("Win.Exploit.CVE_2017_11882-", 6349014, "-1")
        );
        assert_eq!(split("Feed.Family17"), ("Feed.Family17", NO_NUMBER, ""));
        assert_eq!(split("Win32.Agent"), ("Win32.Agent", NO_NUMBER, ""));
        // Leading zeros and runs too long for the number stay in the stem.
        assert_eq!(split("X-0123456"), ("X-0123456", NO_NUMBER, ""));
        assert_eq!(split("X-1234567890"), ("X-1234567890", NO_NUMBER, ""));
        assert_eq!(split("1234"), ("", 1234, ""));
        assert_eq!(split("Café-98765-0"), ("Café-", 98765, "-0"));
    }

    #[test]
    fn names_read_back_exactly_and_compare_as_text() {
        let mut i = NameInterner::default();
        let all = [
            "Win.Trojan.Agent-6612345-0",
            "Win.Trojan.Agent-6612346-0",
            "Feed.Family17",
            "1234",
            "Café-98765-0",
            "",
            "X-0123456",
        ];
        let ids: Vec<u32> = all.iter().map(|n| i.intern(n).unwrap()).collect();
        assert_eq!(ids, (0..all.len() as u32).collect::<Vec<_>>());
        // The two Agent names share a stem, and so do "1234" and "".
        assert_eq!(i.stem_count(), all.len() - 2);
        let names = i.into_names();
        for (id, want) in ids.iter().zip(all) {
            let got = names.get(*id);
            assert_eq!(got.to_string(), want);
            assert!(got == want);
            assert_eq!(got, names.get(*id));
        }
        assert!(names.get(0) != "Win.Trojan.Agent-6612345-1");
        assert!(names.get(0) != names.get(1));
        assert_eq!(names.get(99).to_string(), "?");
        assert_eq!(Box::<str>::from(names.get(4)), "Café-98765-0".into());
    }

    #[test]
    fn repeated_names_are_stored_once() {
        let mut i = NameInterner::default();
        let a = i.intern("Win.Trojan.Agent-6612345-0").unwrap();
        let b = i.intern("Feed.Family17").unwrap();
        assert_eq!(i.intern("Win.Trojan.Agent-6612345-0"), Ok(a));
        assert_eq!(i.intern("Feed.Family17"), Ok(b));
        for k in 0..100_000u32 {
            i.intern(&format!("Win.Malware.X-{}-0", 100_000 + k))
                .unwrap();
        }
        // A bare name is known however long ago it was seen.
        assert_eq!(i.intern("Feed.Family17"), Ok(b));
        assert_eq!(i.len(), 100_002);
        assert_eq!(i.stem_count(), 3);
    }

    /// Unique 4 MiB names past 4 GiB in all: an error, not a panic. Takes
    /// over 4 GiB of memory, so it runs only when asked for
    /// (`cargo test --lib -- --ignored names_past`).
    #[test]
    #[ignore = "needs over 4 GiB of memory"]
    fn names_past_4_gib_are_refused_without_a_panic() {
        let mut interner = NameInterner::default();
        let mut name = "n".repeat(4 << 20);
        let mut refused = 0;
        for k in 0..1100u32 {
            name.replace_range(..10, &format!("{k:010}"));
            if interner.intern(&name) == Err(CapacityFault::NameBytes) {
                refused += 1;
            }
        }
        assert!(interner.stem_bytes.len() <= u32::MAX as usize);
        assert_eq!(interner.len(), 1023);
        assert_eq!(refused, 1100 - 1023);
    }

    /// Past the limits: a fault, not a panic, and names known still resolve.
    #[test]
    fn names_past_the_limits_are_refused() {
        let mut i = NameInterner::with_limits(3, 10);
        assert_eq!(i.intern("abcd"), Ok(0));
        assert_eq!(i.intern("efgh"), Ok(1));
        assert_eq!(i.intern("ijk"), Err(CapacityFault::NameBytes));
        assert_eq!(i.intern("ij"), Ok(2));
        assert_eq!(i.intern("k"), Err(CapacityFault::NameBytes));
        assert_eq!(i.intern("efgh"), Ok(1));
        let mut i = NameInterner::with_limits(2, 100);
        assert_eq!(i.intern("A-1000"), Ok(0));
        assert_eq!(i.intern("A-1001"), Ok(1));
        assert_eq!(i.intern("A-1002"), Err(CapacityFault::NameCount));
        assert_eq!(i.intern("A-1001"), Ok(1));
        let names = i.into_names();
        assert_eq!(
            (names.len(), names.get(1).to_string()),
            (2, "A-1001".into())
        );
    }
}
