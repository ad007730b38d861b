//! Digests and hashing: the four algorithms vigil matches on, a fixed-size
//! binary `Digest`, and a `MultiHasher` that feeds one read of a file to every
//! algorithm a signature could need. This module never opens files.

use std::fmt;

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest as _, Sha256};

/// A hash algorithm a signature can be written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    Md5,
    Sha1,
    Sha256,
    Blake3,
}

impl Algorithm {
    /// Every algorithm, in the order of `index()`.
    pub const ALL: [Algorithm; 4] = [Self::Md5, Self::Sha1, Self::Sha256, Self::Blake3];

    /// Length of the binary digest in bytes.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Md5 => 16,
            Self::Sha1 => 20,
            Self::Sha256 | Self::Blake3 => 32,
        }
    }

    /// The lower-case name used in `.vsig` files, JSON output and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Md5 => "md5",
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Blake3 => "blake3",
        }
    }

    /// Parses a name as written by `name()`, case-insensitively.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }

    /// The algorithm ClamAV infers from a hex digest's length (md5, sha1 or sha256).
    pub fn from_clamav_hex_len(len: usize) -> Option<Self> {
        match len {
            32 => Some(Self::Md5),
            40 => Some(Self::Sha1),
            64 => Some(Self::Sha256),
            _ => None,
        }
    }

    /// A dense index, 0..4, for per-algorithm arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A small set of algorithms, as a bit mask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AlgoSet(u8);

impl AlgoSet {
    pub const EMPTY: AlgoSet = AlgoSet(0);

    pub fn all() -> Self {
        AlgoSet(0b1111)
    }

    pub fn insert(&mut self, algo: Algorithm) {
        self.0 |= 1 << algo.index();
    }

    pub fn with(mut self, algo: Algorithm) -> Self {
        self.insert(algo);
        self
    }

    pub fn union(self, other: AlgoSet) -> Self {
        AlgoSet(self.0 | other.0)
    }

    pub fn contains(self, algo: Algorithm) -> bool {
        self.0 & (1 << algo.index()) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Algorithm> {
        Algorithm::ALL
            .into_iter()
            .filter(move |a| self.contains(*a))
    }

    /// Whether every algorithm of `self` is in `other`.
    pub fn is_subset(self, other: AlgoSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// The mask, bit `Algorithm::index()` per algorithm (for storing).
    pub fn bits(self) -> u8 {
        self.0
    }

    /// The set a mask from `bits` stands for; `None` if it names no algorithm.
    pub fn from_bits(bits: u8) -> Option<Self> {
        (bits & !0b1111 == 0).then_some(AlgoSet(bits))
    }
}

/// A binary digest of one algorithm. The bytes past `algo.digest_len()` are zero.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest {
    algo: Algorithm,
    bytes: [u8; 32],
}

/// Why a hex string is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    #[error("digest has {got} hex digits, {algo} needs {want}")]
    Length {
        algo: Algorithm,
        got: usize,
        want: usize,
    },
    #[error("digest contains a character that is not a hex digit: {0:?}")]
    NotHex(char),
}

impl Digest {
    /// Builds a digest from its binary bytes; `bytes.len()` must equal `algo.digest_len()`.
    pub fn from_bytes(algo: Algorithm, bytes: &[u8]) -> Self {
        assert_eq!(bytes.len(), algo.digest_len(), "digest length for {algo}");
        let mut buf = [0u8; 32];
        buf[..bytes.len()].copy_from_slice(bytes);
        Digest { algo, bytes: buf }
    }

    /// Parses a hex digest (either case) of the given algorithm.
    pub fn from_hex(algo: Algorithm, hex: &str) -> Result<Self, HexError> {
        let want = algo.digest_len() * 2;
        if hex.len() != want {
            if let Some(c) = hex.chars().find(|c| !c.is_ascii_hexdigit()) {
                return Err(HexError::NotHex(c));
            }
            return Err(HexError::Length {
                algo,
                got: hex.len(),
                want,
            });
        }
        // Table look-ups without a branch per digit: random hex digits make
        // a digit-or-letter branch mispredict often, and feeds hold millions.
        let mut bytes = [0u8; 32];
        let mut bad = 0u8;
        for (out, pair) in bytes.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
            let (hi, lo) = (
                HEX_VALUE[usize::from(pair[0])],
                HEX_VALUE[usize::from(pair[1])],
            );
            bad |= hi | lo;
            *out = (hi << 4) | (lo & 0xf);
        }
        if bad & 0xf0 != 0 {
            let c = hex.chars().find(|c| !c.is_ascii_hexdigit()).unwrap_or('?');
            return Err(HexError::NotHex(c));
        }
        Ok(Digest { algo, bytes })
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algo
    }

    /// The digest's bytes, exactly `algorithm().digest_len()` of them.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.algo.digest_len()]
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(self.algo.digest_len() * 2);
        for b in self.as_bytes() {
            s.push(DIGITS[usize::from(b >> 4)] as char);
            s.push(DIGITS[usize::from(b & 0xf)] as char);
        }
        s
    }
}

/// The value of each hex digit byte; 0xff for bytes that are not hex digits.
const HEX_VALUE: [u8; 256] = {
    let mut table = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algo, self.to_hex())
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The digests one pass produced, indexed by `Algorithm::index()`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Digests([Option<Digest>; 4]);

impl Digests {
    pub fn get(&self, algo: Algorithm) -> Option<&Digest> {
        self.0[algo.index()].as_ref()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Digest> {
        self.0.iter().flatten()
    }

    /// Adds (or replaces) the digest of `d`'s algorithm.
    pub fn insert(&mut self, d: Digest) {
        self.0[d.algorithm().index()] = Some(d);
    }

    /// The algorithms present.
    pub fn algorithms(&self) -> AlgoSet {
        let mut set = AlgoSet::EMPTY;
        for d in self.iter() {
            set.insert(d.algorithm());
        }
        set
    }
}

/// Feeds one stream of bytes to every selected algorithm at once, so a file is
/// read a single time however many algorithms its size calls for.
#[derive(Default)]
pub struct MultiHasher {
    md5: Option<Md5>,
    sha1: Option<Sha1>,
    sha256: Option<Sha256>,
    blake3: Option<Box<blake3::Hasher>>,
    /// The algorithms fed since the last reset; others keep idle state for reuse.
    selected: AlgoSet,
}

impl MultiHasher {
    /// A hasher for the given algorithms.
    pub fn new(algos: AlgoSet) -> Self {
        MultiHasher {
            md5: algos.contains(Algorithm::Md5).then(Md5::new),
            sha1: algos.contains(Algorithm::Sha1).then(Sha1::new),
            sha256: algos.contains(Algorithm::Sha256).then(Sha256::new),
            blake3: algos
                .contains(Algorithm::Blake3)
                .then(|| Box::new(blake3::Hasher::new())),
            selected: algos,
        }
    }

    /// Resets every algorithm and selects a new set, reusing the existing state
    /// so that a worker hashing thousands of files allocates nothing per file.
    pub fn reset(&mut self, algos: AlgoSet) {
        fn pick<T: Default>(slot: &mut Option<T>, on: bool, reset: impl FnOnce(&mut T)) {
            match slot.as_mut() {
                Some(state) if on => reset(state),
                None if on => *slot = Some(T::default()),
                _ => {}
            }
        }
        pick(&mut self.md5, algos.contains(Algorithm::Md5), |h| {
            sha2::Digest::reset(h)
        });
        pick(&mut self.sha1, algos.contains(Algorithm::Sha1), |h| {
            sha2::Digest::reset(h)
        });
        pick(&mut self.sha256, algos.contains(Algorithm::Sha256), |h| {
            sha2::Digest::reset(h)
        });
        pick(&mut self.blake3, algos.contains(Algorithm::Blake3), |h| {
            h.reset();
        });
        self.selected = algos;
    }

    pub fn selected(&self) -> AlgoSet {
        self.selected
    }

    pub fn update(&mut self, data: &[u8]) {
        let sel = self.selected;
        if sel.contains(Algorithm::Md5) {
            if let Some(h) = &mut self.md5 {
                h.update(data);
            }
        }
        if sel.contains(Algorithm::Sha1) {
            if let Some(h) = &mut self.sha1 {
                h.update(data);
            }
        }
        if sel.contains(Algorithm::Sha256) {
            if let Some(h) = &mut self.sha256 {
                h.update(data);
            }
        }
        if sel.contains(Algorithm::Blake3) {
            if let Some(h) = &mut self.blake3 {
                h.update(data);
            }
        }
    }

    /// The digests of everything fed since the last `reset`.
    pub fn finish(&mut self) -> Digests {
        let sel = self.selected;
        let mut out = Digests::default();
        if sel.contains(Algorithm::Md5) {
            if let Some(h) = &mut self.md5 {
                let d = h.finalize_reset();
                out.0[Algorithm::Md5.index()] = Some(Digest::from_bytes(Algorithm::Md5, &d));
            }
        }
        if sel.contains(Algorithm::Sha1) {
            if let Some(h) = &mut self.sha1 {
                let d = h.finalize_reset();
                out.0[Algorithm::Sha1.index()] = Some(Digest::from_bytes(Algorithm::Sha1, &d));
            }
        }
        if sel.contains(Algorithm::Sha256) {
            if let Some(h) = &mut self.sha256 {
                let d = h.finalize_reset();
                out.0[Algorithm::Sha256.index()] = Some(Digest::from_bytes(Algorithm::Sha256, &d));
            }
        }
        if sel.contains(Algorithm::Blake3) {
            if let Some(h) = &mut self.blake3 {
                let d = h.finalize();
                h.reset();
                out.0[Algorithm::Blake3.index()] =
                    Some(Digest::from_bytes(Algorithm::Blake3, d.as_bytes()));
            }
        }
        out
    }
}

/// Hashes a byte slice with one algorithm (used by tests, `sigs add` and the bench).
pub fn hash_bytes(algo: Algorithm, data: &[u8]) -> Digest {
    let mut h = MultiHasher::new(AlgoSet::EMPTY.with(algo));
    h.update(data);
    h.finish().get(algo).copied().expect("selected algorithm")
}

#[cfg(test)]
mod tests {
    use super::*;

    const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

    #[test]
    fn eicar_digests() {
        assert_eq!(EICAR.len(), 68);
        assert_eq!(
            hash_bytes(Algorithm::Md5, EICAR).to_hex(),
            "44d88612fea8a8f36de82e1278abb02f"
        );
        assert_eq!(
            hash_bytes(Algorithm::Sha1, EICAR).to_hex(),
            "3395856ce81f2b7382dee72602f798b642f14140"
        );
        assert_eq!(
            hash_bytes(Algorithm::Sha256, EICAR).to_hex(),
            "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
        );
        assert_eq!(
            hash_bytes(Algorithm::Blake3, EICAR).to_hex(),
            "460c1ec9a3e1b5536927aac78cee9c39782626d30f0ae0917ce95dda77068e09"
        );
    }

    #[test]
    fn reset_reuses_state_and_selects() {
        let mut h = MultiHasher::new(AlgoSet::all());
        h.update(b"junk");
        h.finish();
        h.reset(AlgoSet::EMPTY.with(Algorithm::Md5).with(Algorithm::Blake3));
        h.update(EICAR);
        let d = h.finish();
        assert!(d.get(Algorithm::Sha256).is_none());
        assert_eq!(
            d.get(Algorithm::Md5),
            Some(&hash_bytes(Algorithm::Md5, EICAR))
        );
        assert_eq!(
            d.get(Algorithm::Blake3),
            Some(&hash_bytes(Algorithm::Blake3, EICAR))
        );
    }

    #[test]
    fn hex_round_trip_and_errors() {
        let d = Digest::from_hex(Algorithm::Md5, "44D88612FEA8A8F36DE82E1278ABB02F").unwrap();
        assert_eq!(d.to_hex(), "44d88612fea8a8f36de82e1278abb02f");
        assert!(matches!(
            Digest::from_hex(Algorithm::Md5, "44d8"),
            Err(HexError::Length { .. })
        ));
        assert!(matches!(
            Digest::from_hex(Algorithm::Md5, "g4d88612fea8a8f36de82e1278abb02f"),
            Err(HexError::NotHex('g'))
        ));
    }
}
