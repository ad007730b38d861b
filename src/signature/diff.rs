//! What changed between two signature sets: entries (digest, size, name,
//! detection or allow-list) in one and not the other. Both sets' tables are
//! sorted by digest and size, so this is one merge pass per table; the
//! entries of one digest and size are compared by name text, since name ids
//! differ between sets. Nothing is copied: memory stays the two sets.

use super::names::{Names, SigName};
use super::table::{Record, Table};
use super::SignatureSet;
use crate::hash::{Algorithm, Digest};

/// One entry of a set, as `sigs diff` lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    pub digest: Digest,
    /// `None` for any size (`*`).
    pub size: Option<u64>,
    pub name: SigName<'a>,
    /// An allow-list entry, not a detection.
    pub allow: bool,
}

/// Whether an entry was added (in the new set only) or removed (old only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Added,
    Removed,
}

/// Counts of a diff.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DiffCounts {
    pub added: usize,
    pub removed: usize,
    /// Entries in both sets.
    pub kept: usize,
}

/// Compares `old` with `new`, showing `each` every entry added or removed,
/// algorithm by algorithm (md5, sha1, sha256, blake3), in digest order.
pub fn diff<'a>(
    old: &'a SignatureSet,
    new: &'a SignatureSet,
    mut each: impl FnMut(Change, Entry<'a>),
) -> DiffCounts {
    let mut counts = DiffCounts::default();
    let mut c = Ctx {
        old: &old.names,
        new: &new.names,
        counts: &mut counts,
        each: &mut each,
    };
    c.table(Algorithm::Md5, &old.md5, &new.md5);
    c.table(Algorithm::Sha1, &old.sha1, &new.sha1);
    c.table(Algorithm::Sha256, &old.sha256, &new.sha256);
    c.table(Algorithm::Blake3, &old.blake3, &new.blake3);
    counts
}

struct Ctx<'a, 'c> {
    old: &'a Names,
    new: &'a Names,
    counts: &'c mut DiffCounts,
    each: &'c mut dyn FnMut(Change, Entry<'a>),
}

impl<'a> Ctx<'a, '_> {
    fn table<const N: usize>(&mut self, algo: Algorithm, old: &'a Table<N>, new: &'a Table<N>) {
        self.records(algo, old.sized.as_slice(), new.sized.as_slice());
        self.records(algo, old.any.as_slice(), new.any.as_slice());
    }

    /// Merges two sorted record slices, a group of equal (digest, size) at a time.
    fn records<const N: usize, R: Record<N>>(
        &mut self,
        algo: Algorithm,
        old: &'a [R],
        new: &'a [R],
    ) {
        let key = |r: &R| (*r.digest(), r.size());
        let group = |s: &'a [R], at: usize| {
            let k = key(&s[at]);
            let len = s[at..].iter().take_while(|r| key(r) == k).count();
            &s[at..at + len]
        };
        let (mut i, mut j) = (0, 0);
        while i < old.len() || j < new.len() {
            let order = match (old.get(i), new.get(j)) {
                (Some(a), Some(b)) => key(a).cmp(&key(b)),
                (Some(_), None) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            let a = if order.is_le() { group(old, i) } else { &[] };
            let b = if order.is_ge() { group(new, j) } else { &[] };
            i += a.len();
            j += b.len();
            self.group(algo, a, b);
        }
    }

    /// Entries of one digest and size: those whose (allow, name) is only on one side.
    fn group<const N: usize, R: Record<N>>(&mut self, algo: Algorithm, old: &'a [R], new: &'a [R]) {
        let entry = |names: &'a Names, r: &R| Entry {
            digest: Digest::from_bytes(algo, r.digest()),
            size: r.size(),
            name: names.get(r.name()),
            allow: r.is_allow(),
        };
        let same = |a: &Entry<'_>, b: &Entry<'_>| a.allow == b.allow && a.name == b.name;
        let olds: Vec<Entry<'a>> = old.iter().map(|r| entry(self.old, r)).collect();
        let news: Vec<Entry<'a>> = new.iter().map(|r| entry(self.new, r)).collect();
        for o in &olds {
            if news.iter().any(|n| same(o, n)) {
                self.counts.kept += 1;
            } else {
                self.counts.removed += 1;
                (self.each)(Change::Removed, *o);
            }
        }
        for n in &news {
            if !olds.iter().any(|o| same(o, n)) {
                self.counts.added += 1;
                (self.each)(Change::Added, *n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::hash_bytes;
    use crate::signature::{parse_line, Format, Parsed, SignatureSetBuilder};

    fn set_of(lines: &[(Format, String)]) -> SignatureSet {
        let mut b = SignatureSetBuilder::new();
        for (format, line) in lines {
            if let Parsed::Signature(sig) = parse_line(*format, line.as_bytes()).unwrap() {
                b.add(&sig, format.is_allow()).unwrap();
            }
        }
        b.build()
    }

    #[test]
    fn added_removed_and_kept_are_told_apart() {
        let h = |algo, s: &str| hash_bytes(algo, s.as_bytes()).to_hex();
        let (md5, sha) = (Algorithm::Md5, Algorithm::Sha256);
        let v = Format::Vsig;
        let old = set_of(&[
            (
                v,
                format!("md5:{}:3:Win.Trojan.Agent-6612345-0", h(md5, "a")),
            ),
            (v, format!("md5:{}:3:Kept", h(md5, "b"))),
            (v, format!("sha256:{}:*:Renamed.Old", h(sha, "c"))),
            (Format::Vallow, format!("md5:{}:3:Good", h(md5, "d"))),
        ]);
        let new = set_of(&[
            (v, format!("md5:{}:3:Kept", h(md5, "b"))),
            (v, format!("sha256:{}:*:Renamed.New", h(sha, "c"))),
            // Same digest and name, other size: a different entry.
            (v, format!("md5:{}:4:Kept", h(md5, "b"))),
            // Same digest, size and name, but a detection now.
            (v, format!("md5:{}:3:Good", h(md5, "d"))),
            (
                v,
                format!("md5:{}:3:Win.Trojan.Agent-6612346-0", h(md5, "e")),
            ),
        ]);
        let mut seen = Vec::new();
        let counts = diff(&old, &new, |c, e| {
            seen.push((c, e.name.to_string(), e.size, e.allow))
        });
        assert_eq!(
            counts,
            DiffCounts {
                added: 4,
                removed: 3,
                kept: 1
            }
        );
        for want in [
            (
                Change::Removed,
                "Win.Trojan.Agent-6612345-0",
                Some(3),
                false,
            ),
            (Change::Removed, "Renamed.Old", None, false),
            (Change::Removed, "Good", Some(3), true),
            (Change::Added, "Renamed.New", None, false),
            (Change::Added, "Kept", Some(4), false),
            (Change::Added, "Good", Some(3), false),
            (Change::Added, "Win.Trojan.Agent-6612346-0", Some(3), false),
        ] {
            let want = (want.0, want.1.to_string(), want.2, want.3);
            assert!(seen.contains(&want), "{want:?} not in {seen:?}");
        }
        assert_eq!(seen.len(), 7);
        // A set against itself: nothing changed.
        let same = diff(&new, &new, |_, _| panic!("no change expected"));
        assert_eq!((same.added, same.removed, same.kept), (0, 0, 5));
    }
}
