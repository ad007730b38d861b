//! ClamAV's signature on a `.cvd`: the header's DSIG field is an RSA
//! signature of the archive's MD5, written as a number in ClamAV's own
//! base-64 digits (`a-z A-Z 0-9 + /`, least significant digit first).
//! Raised to the public exponent modulo the public modulus, its low 16
//! bytes must be the MD5 the header gives (which the loader has checked
//! against the archive). Production checks against ClamAV's public key; the
//! key is a parameter so that tests can sign with a key of their own.

use std::sync::OnceLock;

use num_bigint::BigUint;

/// ClamAV's public modulus for `.cvd` signatures (decimal).
const CLAMAV_N: &str = "118640995551645342603070001658453189751527774412027743746599405743243142607464144767361060640655844749760788890022283424922762488917565551002467771109669598189410434699034532232228621591089508178591428456220796841621637175567590476666928698770143328137383952820383197532047771780196576957695822641224262693037";
/// ClamAV's public exponent (decimal).
const CLAMAV_E: &str = "100001027";
/// The digits of the DSIG encoding, by value.
const DIGITS: &[u8; 64] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/";

/// An RSA public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PublicKey {
    pub n: BigUint,
    pub e: BigUint,
}

impl PublicKey {
    /// ClamAV's key, which signs the databases it publishes.
    pub fn clamav() -> &'static PublicKey {
        static KEY: OnceLock<PublicKey> = OnceLock::new();
        KEY.get_or_init(|| PublicKey {
            n: BigUint::parse_bytes(CLAMAV_N.as_bytes(), 10).expect("a decimal constant"),
            e: BigUint::parse_bytes(CLAMAV_E.as_bytes(), 10).expect("a decimal constant"),
        })
    }
}

/// Why a signature does not check.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DsigFault {
    #[error("the header has no digital signature")]
    Missing,
    #[error("the digital signature holds a character outside its alphabet")]
    Alphabet,
    #[error("the digital signature does not match the archive's MD5 under ClamAV's key")]
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

/// Checks a `.cvd` DSIG against the MD5 its header gives (raw bytes).
pub(crate) fn verify_md5(key: &PublicKey, md5: &[u8; 16], dsig: &str) -> Result<(), DsigFault> {
    let dsig = dsig.trim();
    if dsig.is_empty() {
        return Err(DsigFault::Missing);
    }
    let sig = decode(dsig).ok_or(DsigFault::Alphabet)?;
    let plain = sig.modpow(&key.e, &key.n).to_bytes_be();
    // As libclamav does, the low 16 bytes are the message.
    let mut low = [0u8; 16];
    let take = plain.len().min(16);
    low[16 - take..].copy_from_slice(&plain[plain.len() - take..]);
    if &low == md5 {
        Ok(())
    } else {
        Err(DsigFault::Mismatch)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A test key pair: two Mersenne primes (2^521-1, 2^607-1), e = 65537.
    pub(crate) fn test_keys() -> (PublicKey, BigUint) {
        let one = BigUint::from(1u32);
        let p = (BigUint::from(1u32) << 521) - &one;
        let q = (BigUint::from(1u32) << 607) - &one;
        let n = &p * &q;
        let phi = (&p - &one) * (&q - &one);
        let e = BigUint::from(65537u32);
        let d = e.modinv(&phi).expect("e is prime to phi");
        (PublicKey { n, e }, d)
    }

    /// Signs an MD5 as ClamAV's signing does, with the test key.
    pub(crate) fn sign_md5(md5: &[u8; 16]) -> String {
        let (key, d) = test_keys();
        encode(&BigUint::from_bytes_be(md5).modpow(&d, &key.n))
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
            verify_md5(PublicKey::clamav(), &md5, &sig),
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
