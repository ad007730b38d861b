//! ClamAV's signatures on its databases. Both are RSA signatures written as
//! a number in ClamAV's own base-64 digits (`a-z A-Z 0-9 + /`, least
//! significant digit first), checked against one of ClamAV's public keys:
//!
//! - a `.cvd` header's DSIG signs the archive's MD5 as it is: raised to the
//!   public exponent modulo the public modulus, it must be the 16 bytes of
//!   the MD5 the header gives (which the loader has checked against the
//!   archive);
//! - the DSIG line of a container's `.info` member signs the SHA-256 of the
//!   lines above it, padded as in PSS (RFC 8017's EMSA-PSS with SHA-256,
//!   MGF1-SHA-256, a 32-byte salt, in a 2048-bit block), under a second key.
//!
//! Production checks against ClamAV's keys (`Keys::clamav`); the keys are a
//! parameter so that tests can sign with keys of their own.

use std::sync::OnceLock;

use num_bigint::BigUint;
use sha2::{Digest as _, Sha256};

/// ClamAV's public modulus for `.cvd` signatures (decimal).
const CLAMAV_N: &str = "118640995551645342603070001658453189751527774412027743746599405743243142607464144767361060640655844749760788890022283424922762488917565551002467771109669598189410434699034532232228621591089508178591428456220796841621637175567590476666928698770143328137383952820383197532047771780196576957695822641224262693037";
/// ClamAV's public exponent (decimal).
const CLAMAV_E: &str = "100001027";
/// ClamAV's public modulus for `.info` signatures (decimal, 2047 bits).
const CLAMAV_INFO_N: &str = "11088894983048545473659556106627194923928941791795047620591658697413581043322715912172496806525381055880964520618400224333320534660299233983755341740679502866829909679955734391392668378361221524205396631090105151641270857277080310734320951653700508941717419168723942507890702904702707587451621691050754307850383399865346487203798464178537392211402786481359824461197231102895415093770394216666324484593935762408468516826633192140826667923494822045805347809932848454845886971706424360558667862775876072059437703365380209101697738577515476935085469455279994113145977994084618328482151013142393373316337519977244732747977";
/// ClamAV's public exponent for `.info` signatures (decimal).
const CLAMAV_INFO_E: &str = "100002049";
/// Bytes in a PSS-padded block (the `.info` key's 2048 bits).
const PSS_LEN: usize = 2048 / 8;
/// Bytes of salt in a PSS-padded block.
const SALT_LEN: usize = 32;
/// The masked part of a PSS block: all but the hash and the trailing 0xbc.
const DB_LEN: usize = PSS_LEN - 32 - 1;
/// The digits of the DSIG encoding, by value.
const DIGITS: &[u8; 64] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";

/// An RSA public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PublicKey {
    pub n: BigUint,
    pub e: BigUint,
}

impl PublicKey {
    fn from_decimal(n: &str, e: &str) -> PublicKey {
        PublicKey {
            n: BigUint::parse_bytes(n.as_bytes(), 10).expect("a decimal constant"),
            e: BigUint::parse_bytes(e.as_bytes(), 10).expect("a decimal constant"),
        }
    }
}

/// The keys a database's signatures are checked against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Keys {
    /// Signs a `.cvd` header's MD5.
    pub cvd: PublicKey,
    /// Signs the `.info` member of a `.cvd` or `.cld`.
    pub info: PublicKey,
}

impl Keys {
    /// ClamAV's keys, which sign the databases it publishes.
    pub fn clamav() -> &'static Keys {
        static KEYS: OnceLock<Keys> = OnceLock::new();
        KEYS.get_or_init(|| Keys {
            cvd: PublicKey::from_decimal(CLAMAV_N, CLAMAV_E),
            info: PublicKey::from_decimal(CLAMAV_INFO_N, CLAMAV_INFO_E),
        })
    }
}

/// Why a signature does not check.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DsigFault {
    #[error("the digital signature is empty")]
    Missing,
    #[error("the digital signature holds a character outside its alphabet")]
    Alphabet,
    #[error("the digital signature does not check against ClamAV's key")]
    Mismatch,
}

/// The number a DSIG field writes.
pub(crate) fn decode(sig: &str) -> Option<BigUint> {
    let mut value = BigUint::default();
    for (i, c) in sig.bytes().enumerate() {
        let digit = DIGITS.iter().position(|&d| d == c)?;
        value += BigUint::from(digit as u32) << (6 * i);
    }
    Some(value)
}

/// A number as a DSIG field writes it (the inverse of `decode`).
#[cfg(test)]
pub(crate) fn encode(value: &BigUint) -> String {
    let mut out = String::new();
    let mut v = value.clone();
    let mask = BigUint::from(63u32);
    while v != BigUint::default() {
        let digit = (&v & &mask).to_u32_digits().first().copied().unwrap_or(0);
        out.push(char::from(DIGITS[digit as usize]));
        v >>= 6;
    }
    out
}

/// What a DSIG holds under `key`, as `len` bytes; a value that does not fit
/// in them was not made by the key's owner.
fn open<const LEN: usize>(key: &PublicKey, dsig: &str) -> Result<[u8; LEN], DsigFault> {
    let dsig = dsig.trim();
    if dsig.is_empty() {
        return Err(DsigFault::Missing);
    }
    let sig = decode(dsig).ok_or(DsigFault::Alphabet)?;
    let plain = sig.modpow(&key.e, &key.n).to_bytes_be();
    if plain.len() > LEN {
        return Err(DsigFault::Mismatch);
    }
    let mut out = [0u8; LEN];
    out[LEN - plain.len()..].copy_from_slice(&plain);
    Ok(out)
}

/// Checks a `.cvd` DSIG against the MD5 its header gives (raw bytes).
pub(crate) fn verify_md5(key: &PublicKey, md5: &[u8; 16], dsig: &str) -> Result<(), DsigFault> {
    if &open::<16>(key, dsig)? == md5 {
        Ok(())
    } else {
        Err(DsigFault::Mismatch)
    }
}

/// MGF1 with SHA-256: `LEN` bytes of mask from `seed`.
fn mgf1<const LEN: usize>(seed: &[u8]) -> [u8; LEN] {
    let mut mask = [0u8; LEN];
    for (i, chunk) in mask.chunks_mut(32).enumerate() {
        let block = Sha256::new()
            .chain_update(seed)
            .chain_update((i as u32).to_be_bytes())
            .finalize();
        chunk.copy_from_slice(&block[..chunk.len()]);
    }
    mask
}

/// The hash PSS compares: SHA-256 of eight zero bytes, the message's
/// SHA-256 and the salt.
fn pss_hash(sha256: &[u8; 32], salt: &[u8]) -> [u8; 32] {
    Sha256::new()
        .chain_update([0u8; 8])
        .chain_update(sha256)
        .chain_update(salt)
        .finalize()
        .into()
}

/// Checks an `.info` DSIG against the SHA-256 of what it signs.
pub(crate) fn verify_sha256(
    key: &PublicKey,
    sha256: &[u8; 32],
    dsig: &str,
) -> Result<(), DsigFault> {
    let block = open::<PSS_LEN>(key, dsig)?;
    if block[PSS_LEN - 1] != 0xbc {
        return Err(DsigFault::Mismatch);
    }
    let (masked, rest) = block.split_at(DB_LEN);
    let hash = &rest[..32];
    let mut db = mgf1::<DB_LEN>(hash);
    db.iter_mut().zip(masked).for_each(|(d, m)| *d ^= m);
    db[0] &= 0x7f;
    // The salt follows the first 0x01, and is the block's last SALT_LEN bytes.
    let salt_at = db.iter().position(|&b| b == 1).map(|i| i + 1);
    if salt_at != Some(DB_LEN - SALT_LEN) {
        return Err(DsigFault::Mismatch);
    }
    if pss_hash(sha256, &db[DB_LEN - SALT_LEN..]) == hash {
        Ok(())
    } else {
        Err(DsigFault::Mismatch)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A test key pair with a 2048-bit modulus, room for the 256-byte block
    /// an `.info` signs: the product of six Mersenne primes (2^k-1 for k = 1279, 607,
    /// 107, 31, 17, 7; the k add up to 2048), e = 65537.
    pub(crate) fn test_keys() -> (PublicKey, BigUint) {
        static KEYS: OnceLock<(PublicKey, BigUint)> = OnceLock::new();
        KEYS.get_or_init(|| {
            let one = BigUint::from(1u32);
            let (mut n, mut phi) = (one.clone(), one.clone());
            for k in [1279, 607, 107, 31, 17, 7] {
                let p = (BigUint::from(1u32) << k) - &one;
                phi *= &p - &one;
                n *= p;
            }
            assert_eq!(n.bits(), 2048);
            let e = BigUint::from(65537u32);
            let d = e.modinv(&phi).expect("e is prime to phi");
            (PublicKey { n, e }, d)
        })
        .clone()
    }

    /// The test key in both roles, as `Keys::clamav` holds ClamAV's.
    pub(crate) fn test_key_set() -> &'static Keys {
        static KEYS: OnceLock<Keys> = OnceLock::new();
        KEYS.get_or_init(|| {
            let (key, _) = test_keys();
            Keys {
                cvd: key.clone(),
                info: key,
            }
        })
    }

    fn sign_number(message: &[u8]) -> String {
        let (key, d) = test_keys();
        encode(&BigUint::from_bytes_be(message).modpow(&d, &key.n))
    }

    /// Signs an MD5 as ClamAV's signing does, with the test key.
    pub(crate) fn sign_md5(md5: &[u8; 16]) -> String {
        sign_number(md5)
    }

    /// Signs a SHA-256 as ClamAV signs an `.info`, with the test key and
    /// a salt made from `seed`.
    pub(crate) fn sign_sha256(sha256: &[u8; 32], seed: u8) -> String {
        let salt: [u8; SALT_LEN] = Sha256::digest([seed]).into();
        let hash = pss_hash(sha256, &salt);
        let mut db = [0u8; DB_LEN];
        db[DB_LEN - SALT_LEN - 1] = 1;
        db[DB_LEN - SALT_LEN..].copy_from_slice(&salt);
        let mask = mgf1::<DB_LEN>(&hash);
        db.iter_mut().zip(mask).for_each(|(d, m)| *d ^= m);
        db[0] &= 0x7f;
        let mut block = Vec::with_capacity(PSS_LEN);
        block.extend_from_slice(&db);
        block.extend_from_slice(&hash);
        block.push(0xbc);
        sign_number(&block)
    }

    #[test]
    fn an_info_signature_made_with_the_key_checks_and_others_do_not() {
        let (key, _) = test_keys();
        let sha: [u8; 32] = Sha256::digest(b"lines").into();
        let sig = sign_sha256(&sha, 1);
        assert_eq!(verify_sha256(&key, &sha, &sig), Ok(()));
        // Another salt is as good.
        assert_eq!(verify_sha256(&key, &sha, &sign_sha256(&sha, 2)), Ok(()));
        let other: [u8; 32] = Sha256::digest(b"lines!").into();
        assert_eq!(verify_sha256(&key, &other, &sig), Err(DsigFault::Mismatch));
        assert_eq!(
            verify_sha256(&Keys::clamav().info, &sha, &sig),
            Err(DsigFault::Mismatch)
        );
        // A signature of the bare hash (no padding) is not one.
        assert_eq!(
            verify_sha256(&key, &sha, &sign_number(&sha)),
            Err(DsigFault::Mismatch)
        );
        // One digit changed.
        let mut bent = sig.clone().into_bytes();
        bent[3] = if bent[3] == b'a' { b'b' } else { b'a' };
        let bent = String::from_utf8(bent).unwrap();
        assert_eq!(verify_sha256(&key, &sha, &bent), Err(DsigFault::Mismatch));
        assert_eq!(verify_sha256(&key, &sha, ""), Err(DsigFault::Missing));
        assert_eq!(verify_sha256(&key, &sha, "a-b"), Err(DsigFault::Alphabet));
    }

    #[test]
    fn clamavs_keys_are_the_published_ones() {
        let keys = Keys::clamav();
        assert_eq!(keys.cvd.n.bits(), 1024);
        assert_eq!(keys.info.n.bits(), 2047);
        assert_eq!(keys.info.e, BigUint::from(100_002_049u32));
    }

    #[test]
    fn a_signature_made_with_the_key_checks_and_others_do_not() {
        let (key, _) = test_keys();
        let md5 = [7u8; 16];
        let sig = sign_md5(&md5);
        assert_eq!(
            decode(&sig),
            Some(BigUint::from_bytes_be(&sign_bytes(&sig)))
        );
        assert_eq!(verify_md5(&key, &md5, &sig), Ok(()));
        assert_eq!(verify_md5(&key, &[8u8; 16], &sig), Err(DsigFault::Mismatch));
        // Under ClamAV's key the same signature means nothing.
        assert_eq!(
            verify_md5(&Keys::clamav().cvd, &md5, &sig),
            Err(DsigFault::Mismatch)
        );
        // A value larger than an MD5 is not a signature of one, whatever
        // its low bytes.
        let mut long = vec![1u8];
        long.extend_from_slice(&md5);
        assert_eq!(
            verify_md5(&key, &md5, &sign_number(&long)),
            Err(DsigFault::Mismatch)
        );
        assert_eq!(verify_md5(&key, &md5, "ab-c"), Err(DsigFault::Alphabet));
        assert_eq!(verify_md5(&key, &md5, ""), Err(DsigFault::Missing));
    }

    fn sign_bytes(sig: &str) -> Vec<u8> {
        decode(sig).unwrap().to_bytes_be()
    }

    #[test]
    fn digits_are_least_significant_first() {
        assert_eq!(decode("b"), Some(BigUint::from(1u32)));
        assert_eq!(decode("ab"), Some(BigUint::from(64u32)));
        assert_eq!(encode(&BigUint::from(64u32 * 63 + 1)), "b/");
    }
}
