//! One cache entry as stored: the digests computed for a file so far, what
//! is known of it being a container, and when it was last seen. Each entry
//! carries a checksum over its key and its bytes, checked on every read: an
//! entry that was damaged, or moved under another key, is a miss.
//!
//! Layout (little-endian):
//! `version u8 | flags u8 | algorithms u8 | 0 u8 | seen u64 | digests... | xxh3-64`
//! where the digests follow in `Algorithm::ALL` order, each at its own
//! length, and the checksum covers the key and everything before it.

use crate::hash::{AlgoSet, Digest, Digests};

/// The entry layout this build writes and reads.
pub const ENTRY_VERSION: u8 = 1;

const HEADER: usize = 12;
const CHECKSUM: usize = 8;
/// Flag: whether the file is a container is known.
const KNOWN: u8 = 1;
/// Flag: it is one.
const CONTAINER: u8 = 2;

/// What the cache remembers of one file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    /// Every digest computed for this content so far.
    pub digests: Digests,
    /// Whether its first bytes make it a container; `None` if never looked
    /// (a detection ends the scan of a file before that question).
    pub container: Option<bool>,
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
        self.seen = self.seen.max(newer.seen);
        self
    }

    pub fn encode(&self, key: &[u8]) -> Vec<u8> {
        let algos = self.algorithms();
        let mut out = Vec::with_capacity(HEADER + 100 + CHECKSUM);
        let flags = match self.container {
            None => 0,
            Some(false) => KNOWN,
            Some(true) => KNOWN | CONTAINER,
        };
        out.extend_from_slice(&[ENTRY_VERSION, flags, algos.bits(), 0]);
        out.extend_from_slice(&self.seen.to_le_bytes());
        for algo in algos.iter() {
            if let Some(d) = self.digests.get(algo) {
                out.extend_from_slice(d.as_bytes());
            }
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
        let container = match body[1] {
            0 => None,
            KNOWN => Some(false),
            f if f == KNOWN | CONTAINER => Some(true),
            _ => return None,
        };
        let algos = AlgoSet::from_bits(body[2])?;
        let seen = u64::from_le_bytes(body[4..12].try_into().ok()?);
        let mut digests = Digests::default();
        let mut at = HEADER;
        for algo in algos.iter() {
            let end = at + algo.digest_len();
            digests.insert(Digest::from_bytes(algo, body.get(at..end)?));
            at = end;
        }
        if at != body.len() {
            return None;
        }
        Some(Entry {
            digests,
            container,
            seen,
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
            seen: 1_700_000_000,
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
