//! The `.info` member of a ClamAV container, and what makes a `.cld` official.
//!
//! freshclam keeps a `.cld` up to date by patching it, so the MD5 and DSIG in
//! its header no longer describe its body. What ClamAV signed is the `.info`
//! member, a text file:
//!
//! ```text
//! ClamAV-VDB:TIME:VERSION:SIGS:FLEVEL:MD5:DSIG:BUILDER:STIME
//! daily.hdb:SIZE:SHA256
//! ...
//! DSIG:SIGNATURE
//! ```
//!
//! The DSIG line signs the SHA-256 of every byte above it (`dsig`), and each
//! member line gives a member's size and SHA-256. As libclamav decides it, a
//! `.cld` is official when its `.info` is well formed and signed by ClamAV,
//! its header line agrees with the container's header, and every database
//! member (by extension, as libclamav counts them) is listed there with its
//! size and SHA-256. Where libclamav refuses a database that fails, vigil
//! loads it as unofficial and says why (`Unofficial`).

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read};

use sha2::{Digest as _, Sha256};

use super::cvd::CvdHeader;
use super::dsig::{self, DsigFault, PublicKey};

/// The largest `.info` read; a larger one is not ClamAV's.
pub(crate) const MAX_INFO_BYTES: u64 = 1 << 20;

/// The extensions libclamav loads from a container and checks against the
/// `.info` (a name ending in one of them, in any case).
const DATABASE_EXTENSIONS: &[&str] = &[
    ".db", ".hdb", ".hdu", ".fp", ".mdb", ".mdu", ".hsb", ".hsu", ".sfp", ".msb", ".msu", ".ndb",
    ".ndu", ".ldb", ".ldu", ".sdb", ".zmd", ".rmd", ".pdb", ".gdb", ".wdb", ".cbc", ".ftm", ".cfg",
    ".cvd", ".cld", ".cud", ".cdb", ".cat", ".crb", ".idb", ".ioc", ".yar", ".yara", ".pwdb",
    ".ign", ".ign2", ".imp",
];

/// Whether libclamav loads a member of this name (and so checks it).
pub(crate) fn is_database_member(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    DATABASE_EXTENSIONS.iter().any(|ext| lower.ends_with(ext))
}

/// Whether a member is the `.info` (the first such member is the one read).
pub(crate) fn is_info_member(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".info")
}

/// A member as it was read: its size and SHA-256.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sum {
    pub size: u64,
    pub sha256: [u8; 32],
}

/// A signed `.info`: the header fields it gives and the members it lists.
#[derive(Debug)]
pub(crate) struct Info {
    version: u64,
    signatures: u64,
    flevel: u64,
    stime: u64,
    members: HashMap<String, Sum>,
}

/// Why a `.cld`'s signatures are not official.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unofficial {
    #[error("it has no .info member")]
    NoInfo,
    #[error(".info is larger than {} bytes", MAX_INFO_BYTES)]
    InfoTooLarge,
    #[error(".info has no DSIG line")]
    NoDsig,
    #[error(".info signature: {0}")]
    Dsig(DsigFault),
    #[error(".info line {line}: {why}")]
    Malformed { line: usize, why: &'static str },
    #[error(".info header does not match the container's header ({0} differs)")]
    Header(&'static str),
    #[error("{0} is not listed in the .info")]
    Unlisted(String),
    #[error(".info size mismatch for {name}: {actual} bytes, .info says {listed}")]
    Size {
        name: String,
        actual: u64,
        listed: u64,
    },
    #[error(".info SHA-256 mismatch for {0}")]
    Sha256(String),
}

/// Reads a member whole, if it is no larger than the `.info` limit.
pub(crate) fn read_info(member: &mut impl Read, size: u64) -> io::Result<Option<Vec<u8>>> {
    if size > MAX_INFO_BYTES {
        return Ok(None);
    }
    let mut data = Vec::with_capacity(size as usize);
    member.take(MAX_INFO_BYTES).read_to_end(&mut data)?;
    Ok(Some(data))
}

/// Parses an `.info` and checks its DSIG against `key`.
pub(crate) fn parse(data: &[u8], key: &PublicKey) -> Result<Info, Unofficial> {
    let mut sha = Sha256::new();
    let mut header: Option<[u64; 4]> = None;
    let mut members = HashMap::new();
    let mut rest = data;
    let mut line_no = 0;
    while !rest.is_empty() {
        line_no += 1;
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let (raw, next) = rest.split_at(end);
        rest = next;
        let malformed = |why| Unofficial::Malformed { line: line_no, why };
        let line = std::str::from_utf8(raw).map_err(|_| malformed("not text"))?;
        let line = line.trim_end_matches(['\n', '\r']);
        if let Some(sig) = line.strip_prefix("DSIG:") {
            let signed: [u8; 32] = sha.finalize().into();
            return match dsig::verify_sha256(key, &signed, sig) {
                Ok(()) => {
                    let [version, signatures, flevel, stime] =
                        header.ok_or(Unofficial::Malformed {
                            line: 1,
                            why: "no ClamAV-VDB header line",
                        })?;
                    Ok(Info {
                        version,
                        signatures,
                        flevel,
                        stime,
                        members,
                    })
                }
                Err(fault) => Err(Unofficial::Dsig(fault)),
            };
        }
        sha.update(raw);
        if raw.last() != Some(&b'\n') {
            // The signed lines each end in a newline, as libclamav reads them.
            sha.update(b"\n");
        }
        if line.starts_with("ClamAV-VDB:") {
            if header.is_some() {
                return Err(malformed("a second ClamAV-VDB header line"));
            }
            header = Some(header_numbers(line).ok_or(malformed("unreadable header line"))?);
            continue;
        }
        if header.is_none() {
            return Err(malformed("a member line before the ClamAV-VDB header line"));
        }
        let fields: Vec<&str> = line.split(':').collect();
        let [name, size, hex] = fields[..] else {
            return Err(malformed("expected NAME:SIZE:SHA256"));
        };
        if size.is_empty() || !size.bytes().all(|b| b.is_ascii_digit()) {
            return Err(malformed("the size is not a number"));
        }
        let size = size
            .parse()
            .map_err(|_| malformed("the size is too large"))?;
        let sha256 = sha256_of_hex(hex).ok_or(malformed("the SHA-256 is not 64 hex digits"))?;
        members.insert(name.to_string(), Sum { size, sha256 });
    }
    Err(Unofficial::NoDsig)
}

/// Version, signature count, functionality level and build time (seconds;
/// 0 when the line has none) of a `ClamAV-VDB:` line, as libclamav reads
/// them to compare with the container's header.
fn header_numbers(line: &str) -> Option<[u64; 4]> {
    let fields: Vec<&str> = line.strip_prefix("ClamAV-VDB:")?.split(':').collect();
    if fields.len() < 7 {
        return None;
    }
    let number = |s: &str| s.trim().parse::<u64>().ok();
    let stime = match fields.get(7) {
        Some(s) => number(s)?,
        None => 0,
    };
    Some([
        number(fields[1])?,
        number(fields[2])?,
        number(fields[3])?,
        stime,
    ])
}

fn sha256_of_hex(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl Info {
    /// Whether the container's header and the members read agree with this
    /// signed `.info`.
    pub(crate) fn check(
        &self,
        header: &CvdHeader,
        read: &[(String, Sum)],
    ) -> Result<(), Unofficial> {
        let fields = [
            ("version", self.version, u64::from(header.version)),
            ("signature count", self.signatures, header.signatures),
            ("functionality level", self.flevel, u64::from(header.flevel)),
            ("build time", self.stime, header.stime),
        ];
        if let Some((what, _, _)) = fields.iter().find(|(_, a, b)| a != b) {
            return Err(Unofficial::Header(what));
        }
        for (name, sum) in read {
            let listed = self
                .members
                .get(name)
                .ok_or_else(|| Unofficial::Unlisted(name.clone()))?;
            if listed.size != sum.size {
                return Err(Unofficial::Size {
                    name: name.clone(),
                    actual: sum.size,
                    listed: listed.size,
                });
            }
            if listed.sha256 != sum.sha256 {
                return Err(Unofficial::Sha256(name.clone()));
            }
        }
        Ok(())
    }
}

/// Passes a member's bytes through, summing them if asked to.
pub(crate) struct Summing<R> {
    inner: R,
    sha: Option<Sha256>,
    size: u64,
}

impl<R: Read> Summing<R> {
    pub fn new(inner: R, sum: bool) -> Self {
        Summing {
            inner,
            sha: sum.then(Sha256::new),
            size: 0,
        }
    }

    /// If summing: reads what is left, then the size and SHA-256 of all
    /// that passed.
    pub fn finish(mut self) -> io::Result<Option<Sum>> {
        if self.sha.is_none() {
            return Ok(None);
        }
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.sha.map(|sha| Sum {
            size: self.size,
            sha256: sha.finalize().into(),
        }))
    }
}

impl<R: Read> Read for Summing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(sha) = &mut self.sha {
            sha.update(&buf[..n]);
            self.size += n as u64;
        }
        Ok(n)
    }
}

impl fmt::Display for Sum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.size)?;
        self.sha256.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::signature::dsig::tests::{sign_sha256, test_keys};

    /// An `.info` as ClamAV writes one: `header` (a container's header
    /// line), a line per member, and a DSIG line signed with the test key.
    pub(crate) fn signed_info(header: &str, members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut text = format!("{}\n", header.trim_end());
        for (name, data) in members {
            let sum = Sum {
                size: data.len() as u64,
                sha256: Sha256::digest(data).into(),
            };
            text.push_str(&format!("{name}:{sum}\n"));
        }
        let sha: [u8; 32] = Sha256::digest(text.as_bytes()).into();
        text.push_str(&format!("DSIG:{}\n", sign_sha256(&sha, 7)));
        text.into_bytes()
    }

    const HEAD: &str = "ClamAV-VDB:26 Nov 2025 10-00 +0000:27000:3:90:X:X:tester:1764151200";

    #[test]
    fn a_signed_info_parses_and_any_change_breaks_it() {
        let (key, _) = test_keys();
        let info = signed_info(HEAD, &[("daily.hdb", b"one\n"), ("daily.ndb", b"")]);
        let parsed = parse(&info, &key).unwrap();
        assert_eq!(parsed.members.len(), 2);
        assert_eq!(parsed.members["daily.hdb"].size, 4);
        assert_eq!((parsed.version, parsed.stime), (27000, 1764151200));
        // Anything after the DSIG line is not read.
        let mut more = info.clone();
        more.extend_from_slice(b"junk\n");
        assert!(parse(&more, &key).is_ok());
        // A changed byte above the DSIG line.
        let text = String::from_utf8(info.clone()).unwrap();
        let bent = text.replacen("daily.hdb:4:", "daily.hdb:5:", 1);
        assert_eq!(
            parse(bent.as_bytes(), &key).unwrap_err(),
            Unofficial::Dsig(DsigFault::Mismatch)
        );
        // ClamAV's key did not sign it.
        assert_eq!(
            parse(&info, &crate::signature::dsig::Keys::clamav().info).unwrap_err(),
            Unofficial::Dsig(DsigFault::Mismatch)
        );
        let unsigned = text.split("DSIG:").next().unwrap();
        assert_eq!(
            parse(unsigned.as_bytes(), &key).unwrap_err(),
            Unofficial::NoDsig
        );
    }

    #[test]
    fn malformed_lines_are_named() {
        let (key, _) = test_keys();
        let cases: &[(&str, usize)] = &[
            ("daily.hdb:1:00\n", 1),
            ("HEAD\ndaily.hdb:x:00\n", 2),
            ("HEAD\ndaily.hdb:1\n", 2),
            ("HEAD\na:1:b:c\n", 2),
            ("HEAD\n\n", 2),
            ("HEAD\nHEAD\n", 2),
        ];
        for (text, line) in cases {
            let text = format!("{}DSIG:x\n", text.replace("HEAD", HEAD));
            match parse(text.as_bytes(), &key) {
                Err(Unofficial::Malformed { line: l, .. }) => assert_eq!(l, *line, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn members_are_checked_by_size_and_sha256() {
        let (key, _) = test_keys();
        let info = signed_info(HEAD, &[("daily.hdb", b"one\n")]);
        let info = parse(&info, &key).unwrap();
        // A container's header has an MD5 where the .info's has X.
        let line = HEAD.replace(":X:X:", &format!(":{}:X:", "0".repeat(32)));
        let header = crate::signature::cvd::parse_header(line.as_bytes()).unwrap();
        let sum = |data: &[u8]| Sum {
            size: data.len() as u64,
            sha256: Sha256::digest(data).into(),
        };
        let read = |data: &[u8]| vec![("daily.hdb".to_string(), sum(data))];
        assert_eq!(info.check(&header, &read(b"one\n")), Ok(()));
        assert_eq!(
            info.check(&header, &read(b"two\n")),
            Err(Unofficial::Sha256("daily.hdb".into()))
        );
        assert!(matches!(
            info.check(&header, &read(b"three\n")),
            Err(Unofficial::Size { .. })
        ));
        let other = vec![("daily.ldb".to_string(), sum(b""))];
        assert_eq!(
            info.check(&header, &other),
            Err(Unofficial::Unlisted("daily.ldb".into()))
        );
        let newer = CvdHeader {
            version: header.version + 1,
            ..header
        };
        assert_eq!(
            info.check(&newer, &read(b"one\n")),
            Err(Unofficial::Header("version"))
        );
    }

    #[test]
    fn database_members_are_told_by_extension() {
        assert!(is_database_member("daily.hdb"));
        assert!(is_database_member("DAILY.LDB"));
        assert!(is_database_member("bytecode.cbc"));
        assert!(!is_database_member("COPYING"));
        assert!(!is_database_member("daily.info"));
        assert!(is_info_member("daily.INFO"));
    }
}
