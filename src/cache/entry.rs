//! One cache entry as stored: the digests computed for a file so far, what
//! is known of it being a container and, for a container, what unpacking
//! it saw (its members' names, sizes and digests), and when it was last
//! seen. Each entry carries a checksum over its key and its bytes, checked
//! on every read: an entry that was damaged, or moved under another key, is
//! a miss.
//!
//! Layout (little-endian; `v` is an unsigned LEB128 number):
//! `version u8 | flags u8 | algorithms u8 | 0 u8 | seen u64 | digests... |
//! [members] | xxh3-64`
//! where the digests follow in `Algorithm::ALL` order, each at its own
//! length, and the checksum covers the key and everything before it. The
//! members (flag `MEMBERS`) are
//! `limits u64 | exceeded u8 | exceeded_at v | containers v | members v |
//! count v | member...`, each member
//! `shared u8 | added u8 | added names (length v, bytes)... | kind u8 |
//! size v | algorithms u8 | digests... | containers v | members v`:
//! its names are those of the member before it, cut to `shared`, then
//! `added` more.

use std::sync::Arc;

use crate::container::members::{Member, Members};
use crate::container::Exceeded;
use crate::hash::{AlgoSet, Digest, Digests};

/// The entry layout this build writes and reads. Entries of another are
/// misses: the file is read and its entry written again.
pub const ENTRY_VERSION: u8 = 2;

const HEADER: usize = 12;
const CHECKSUM: usize = 8;
/// Flag: whether the file is a container is known.
const KNOWN: u8 = 1;
/// Flag: it is one.
const CONTAINER: u8 = 2;
/// Flag: what unpacking it saw follows the digests.
const MEMBERS: u8 = 4;
/// A member's kind: held whole (else streamed).
const HELD: u8 = 1;
/// A member's kind: a container itself.
const NESTED: u8 = 2;

/// What the cache remembers of one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    /// Every digest computed for this content so far.
    pub digests: Digests,
    /// Whether its first bytes make it a container; `None` if never looked
    /// (a detection ends the scan of a file before that question).
    pub container: Option<bool>,
    /// For a container, what unpacking it saw, when that fitted the bound
    /// and no signature steered it; `None`: it is unpacked again.
    pub members: Option<Arc<Members>>,
    /// When the file was last found unchanged (seconds since the epoch), for
    /// pruning.
    pub seen: u64,
}

impl Entry {
    /// The algorithms it has digests of.
    pub fn algorithms(&self) -> AlgoSet {
        self.digests.algorithms()
    }

    /// This entry with `newer`'s facts added: digests of the same content
    /// under the same key only grow.
    pub fn merged(mut self, newer: &Entry) -> Entry {
        for d in newer.digests.iter() {
            self.digests.insert(*d);
        }
        if newer.container.is_some() {
            self.container = newer.container;
        }
        self.members = match (self.members.take(), &newer.members) {
            (Some(old), Some(new)) => Some(merge_members(old, new)),
            (old, new) => new.clone().or(old),
        };
        self.seen = self.seen.max(newer.seen);
        self
    }

    pub fn encode(&self, key: &[u8]) -> Vec<u8> {
        let algos = self.algorithms();
        let mut out = Vec::with_capacity(HEADER + 100 + CHECKSUM);
        let mut flags = match self.container {
            None => 0,
            Some(false) => KNOWN,
            Some(true) => KNOWN | CONTAINER,
        };
        if self.members.is_some() {
            flags |= MEMBERS;
        }
        out.extend_from_slice(&[ENTRY_VERSION, flags, algos.bits(), 0]);
        out.extend_from_slice(&self.seen.to_le_bytes());
        put_digests(&mut out, &self.digests);
        if let Some(members) = &self.members {
            put_members(&mut out, members);
        }
        let sum = checksum(key, &out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// The entry stored under `key`, or `None` if the bytes are not one
    /// this build wrote there (damaged, another version, another key).
    pub fn decode(key: &[u8], bytes: &[u8]) -> Option<Entry> {
        if bytes.len() < HEADER + CHECKSUM {
            return None;
        }
        let (body, sum) = bytes.split_at(bytes.len() - CHECKSUM);
        if checksum(key, body).to_le_bytes() != sum {
            return None;
        }
        if body[0] != ENTRY_VERSION || body[3] != 0 {
            return None;
        }
        let container = match body[1] & !MEMBERS {
            0 => None,
            KNOWN => Some(false),
            f if f == KNOWN | CONTAINER => Some(true),
            _ => return None,
        };
        let seen = u64::from_le_bytes(body[4..12].try_into().ok()?);
        let mut r = Reader {
            bytes: body,
            at: HEADER,
        };
        let digests = r.digests(body[2])?;
        let members = if body[1] & MEMBERS != 0 {
            if container != Some(true) {
                return None;
            }
            Some(Arc::new(r.members()?))
        } else {
            None
        };
        if r.at != body.len() {
            return None;
        }
        Some(Entry {
            digests,
            container,
            members,
            seen,
        })
    }
}

/// `new` with the digests of `old` added where both record the same
/// members (the same content unpacked with the same limits, read again for
/// a set that needed other algorithms); else `new`.
fn merge_members(old: Arc<Members>, new: &Arc<Members>) -> Arc<Members> {
    let same = old.limits == new.limits
        && old.list.len() == new.list.len()
        && old
            .list
            .iter()
            .zip(&new.list)
            .all(|(a, b)| (&a.chain, a.size, a.held) == (&b.chain, b.size, b.held));
    if !same {
        return new.clone();
    }
    let mut merged = (**new).clone();
    for (m, o) in merged.list.iter_mut().zip(&old.list) {
        for d in o.digests.iter() {
            if m.digests.get(d.algorithm()).is_none() {
                m.digests.insert(*d);
            }
        }
    }
    Arc::new(merged)
}

fn put_digests(out: &mut Vec<u8>, digests: &Digests) {
    for algo in digests.algorithms().iter() {
        if let Some(d) = digests.get(algo) {
            out.extend_from_slice(d.as_bytes());
        }
    }
}

/// Appends `n` as unsigned LEB128.
fn put_number(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let low = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(low);
            return;
        }
        out.push(low | 0x80);
    }
}

fn exceeded_code(e: Option<Exceeded>) -> u8 {
    match e {
        None => 0,
        Some(Exceeded::MaxRecursion) => 1,
        Some(Exceeded::MaxFiles) => 2,
        Some(Exceeded::MaxScanSize) => 3,
        Some(Exceeded::MaxFileSize) => 4,
    }
}

fn put_members(out: &mut Vec<u8>, m: &Members) {
    out.extend_from_slice(&m.limits.to_le_bytes());
    out.push(exceeded_code(m.exceeded.map(|(e, _)| e)));
    put_number(out, m.exceeded.map_or(0, |(_, at)| at));
    put_number(out, m.containers);
    put_number(out, m.members);
    put_number(out, m.list.len() as u64);
    let mut previous: &[Box<[u8]>] = &[];
    for member in &m.list {
        let shared = previous
            .iter()
            .zip(&member.chain)
            .take_while(|(a, b)| a == b)
            .count()
            .min(usize::from(u8::MAX));
        // `Recording` keeps no chain deeper than `u8::MAX`.
        let added = &member.chain[shared..];
        out.push(shared as u8);
        out.push(added.len() as u8);
        for name in added {
            put_number(out, name.len() as u64);
            out.extend_from_slice(name);
        }
        let mut kind = 0;
        if member.held {
            kind |= HELD;
        }
        if member.container {
            kind |= NESTED;
        }
        out.push(kind);
        put_number(out, member.size);
        out.push(member.digests.algorithms().bits());
        put_digests(out, &member.digests);
        put_number(out, member.containers);
        put_number(out, member.members);
        previous = &member.chain;
    }
}

/// Reads an entry's body front to back; every read is bounds-checked.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let end = self.at.checked_add(n)?;
        let out = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(out)
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn number(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f).checked_shl(shift)?;
            if b & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }

    fn digests(&mut self, bits: u8) -> Option<Digests> {
        let mut digests = Digests::default();
        for algo in AlgoSet::from_bits(bits)?.iter() {
            digests.insert(Digest::from_bytes(algo, self.take(algo.digest_len())?));
        }
        Some(digests)
    }

    fn members(&mut self) -> Option<Members> {
        let limits = u64::from_le_bytes(self.take(8)?.try_into().ok()?);
        let exceeded = match self.byte()? {
            0 => None,
            1 => Some(Exceeded::MaxRecursion),
            2 => Some(Exceeded::MaxFiles),
            3 => Some(Exceeded::MaxScanSize),
            4 => Some(Exceeded::MaxFileSize),
            _ => return None,
        };
        let at = self.number()?;
        let containers = self.number()?;
        let members = self.number()?;
        let count = self.number()?;
        // Each member takes at least a few bytes: a count larger than what
        // is left is not believed (nor allocated for).
        if count > (self.bytes.len() - self.at) as u64 {
            return None;
        }
        let mut list = Vec::with_capacity(count as usize);
        let mut previous: Vec<Box<[u8]>> = Vec::new();
        for _ in 0..count {
            let shared = usize::from(self.byte()?);
            let added = self.byte()?;
            if shared > previous.len() {
                return None;
            }
            let mut chain = previous[..shared].to_vec();
            for _ in 0..added {
                let len = usize::try_from(self.number()?).ok()?;
                chain.push(self.take(len)?.into());
            }
            let kind = self.byte()?;
            if kind & !(HELD | NESTED) != 0 {
                return None;
            }
            let size = self.number()?;
            let bits = self.byte()?;
            let digests = self.digests(bits)?;
            let member = Member {
                chain: chain.clone(),
                size,
                digests,
                held: kind & HELD != 0,
                container: kind & NESTED != 0,
                containers: self.number()?,
                members: self.number()?,
            };
            previous = chain;
            list.push(member);
        }
        Some(Members {
            limits,
            list,
            exceeded: exceeded.map(|e| (e, at)),
            containers,
            members,
        })
    }
}

fn checksum(key: &[u8], body: &[u8]) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(key);
    h.update(body);
    h.digest()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{hash_bytes, Algorithm};

    fn sample() -> Entry {
        let mut digests = Digests::default();
        digests.insert(hash_bytes(Algorithm::Sha256, b"x"));
        digests.insert(hash_bytes(Algorithm::Md5, b"x"));
        Entry {
            digests,
            container: Some(false),
            members: None,
            seen: 1_700_000_000,
        }
    }

    /// A container of two members, one a container holding a third.
    fn container() -> Entry {
        let member = |chain: &[&str], data: &[u8], held: bool, n: u64| Member {
            chain: chain.iter().map(|s| s.as_bytes().into()).collect(),
            size: data.len() as u64,
            digests: {
                let mut d = Digests::default();
                d.insert(hash_bytes(Algorithm::Sha256, data));
                if held {
                    d.insert(hash_bytes(Algorithm::Md5, data));
                }
                d
            },
            held,
            container: n == 2,
            containers: n,
            members: n + 1,
        };
        Entry {
            container: Some(true),
            members: Some(Arc::new(Members {
                limits: 0x0123_4567_89ab_cdef,
                list: vec![
                    member(&["a.txt"], b"a", true, 1),
                    member(&["b.tar", "c.exe"], b"c", true, 2),
                    member(&["b.tar"], b"bb", false, 2),
                ],
                exceeded: Some((Exceeded::MaxFiles, 2)),
                containers: 2,
                members: 3,
            })),
            ..sample()
        }
    }

    #[test]
    fn a_container_reads_back_with_its_members() {
        let e = container();
        let bytes = e.encode(b"key");
        assert_eq!(Entry::decode(b"key", &bytes), Some(e));
    }

    #[test]
    fn any_damage_to_a_container_entry_is_a_miss() {
        let bytes = container().encode(b"key");
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x20;
            assert_eq!(Entry::decode(b"key", &bad), None, "byte {i}");
        }
        for len in 0..bytes.len() {
            assert_eq!(Entry::decode(b"key", &bytes[..len]), None);
        }
    }

    #[test]
    fn an_entry_of_the_previous_layout_is_a_miss() {
        let mut bytes = sample().encode(b"key");
        bytes.truncate(bytes.len() - CHECKSUM);
        bytes[0] = 1;
        let sum = checksum(b"key", &bytes);
        bytes.extend_from_slice(&sum.to_le_bytes());
        assert_eq!(Entry::decode(b"key", &bytes), None);
    }

    #[test]
    fn members_read_again_for_another_algorithm_keep_the_first_digests() {
        let old = container();
        let mut new = container();
        let mut list = new.members.as_deref().unwrap().clone();
        for m in &mut list.list {
            m.digests = Digests::default();
            m.digests.insert(hash_bytes(Algorithm::Sha1, b"x"));
        }
        new.members = Some(Arc::new(list));
        let merged = old.merged(&new);
        for m in &merged.members.as_deref().unwrap().list {
            assert!(m.digests.get(Algorithm::Sha1).is_some());
            assert!(m.digests.get(Algorithm::Sha256).is_some());
        }
    }

    #[test]
    fn an_entry_reads_back_as_written() {
        let e = sample();
        let bytes = e.encode(b"key");
        assert_eq!(Entry::decode(b"key", &bytes), Some(e));
    }

    #[test]
    fn any_flipped_bit_or_another_key_is_a_miss() {
        let bytes = sample().encode(b"key");
        assert_eq!(Entry::decode(b"other", &bytes), None);
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut bad = bytes.clone();
                bad[i] ^= 1 << bit;
                assert_eq!(Entry::decode(b"key", &bad), None, "byte {i} bit {bit}");
            }
        }
        for len in 0..bytes.len() {
            assert_eq!(Entry::decode(b"key", &bytes[..len]), None);
        }
    }

    #[test]
    fn merging_keeps_every_digest() {
        let mut a = Entry::default();
        a.digests.insert(hash_bytes(Algorithm::Sha256, b"x"));
        let mut b = Entry {
            container: Some(false),
            seen: 5,
            ..Entry::default()
        };
        b.digests.insert(hash_bytes(Algorithm::Md5, b"x"));
        let m = a.merged(&b);
        assert_eq!(
            m.algorithms(),
            AlgoSet::EMPTY.with(Algorithm::Sha256).with(Algorithm::Md5)
        );
        assert_eq!(m.container, Some(false));
        assert_eq!(m.seen, 5);
    }
}
