//! ClamAV database containers: `.cvd` (signed), `.cld` (a `.cvd` after
//! incremental updates) and `.cud` (unsigned). A container is a 512-byte
//! text header, `ClamAV-VDB:TIME:VERSION:SIGS:FLEVEL:MD5:DSIG:BUILDER:STIME`
//! padded with spaces, followed by a tar archive, gzip'd or not. The hash
//! members (`.hdb .hsb .hdu .hsu .fp .sfp`) are parsed as they stream out of
//! the archive; other members are counted and skipped.
//!
//! As in ClamAV, the MD5 in the header is checked against the archive bytes
//! of a `.cvd` only: `.cld` and `.cud` files keep a header that no longer
//! describes their body. The MD5 is checked in a first pass over the file,
//! before anything is unpacked, so a damaged or altered `.cvd` costs one read
//! of its bytes and nothing more. The RSA signature (DSIG) of a `.cvd` is
//! then checked against ClamAV's public key (`dsig`): if it checks, the
//! signatures are official (printed without `.UNOFFICIAL`); if not, they
//! load as unofficial, with a warning. A `.cld` is official when its `.info`
//! member is signed by ClamAV and lists every database member's size and
//! SHA-256 (`info`; the members are summed as they stream past); if not, it
//! loads as unofficial, with a warning that says why. A `.cud` is unofficial.
//!
//! What is unpacked is bounded by what it really holds: the archive is cut
//! off at the database size limit, tar members are read one block at a time,
//! and a GNU long name or pax header is read only if it is short (the `tar`
//! crate would read one whole, whatever size it claims).

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use md5::{Digest as _, Md5};

use super::db::{Budget, Faults, SigError, SigFault};
use super::dsig::{verify_md5, Keys, PublicKey};
use super::info::{self, Info, Sum, Summing, Unofficial};
use super::limits::Capped;
use super::parse::Format;
use super::provenance::Provenance;
use super::{text, SignatureSetBuilder, ENGINE_FLEVEL};

/// Size of the text header in front of the archive.
pub const HEADER_LEN: usize = 512;
/// The longest GNU long name read (Linux's PATH_MAX); a longer one is a fault.
const MAX_LONG_NAME: u64 = 4096;
/// The largest pax extended header read; a larger one is a fault.
const MAX_PAX_HEADER: u64 = 64 << 10;
const MAGIC: &str = "ClamAV-VDB:";

/// The kinds of container, by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerKind {
    /// `.cvd`: the header MD5 is checked.
    Cvd,
    /// `.cld`: updated in place by freshclam; the header MD5 is stale.
    Cld,
    /// `.cud`: unsigned.
    Cud,
}

impl ContainerKind {
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "cvd" => Self::Cvd,
            "cld" => Self::Cld,
            "cud" => Self::Cud,
            _ => return None,
        })
    }
}

/// Why a container is refused.
#[derive(Debug, thiserror::Error)]
pub enum CvdFault {
    #[error("not a ClamAV database container: {0}")]
    Header(String),
    #[error("archive MD5 is {actual} but the header says {expected}: the file is damaged or was altered")]
    Md5 { expected: String, actual: String },
    #[error("damaged archive: {0}")]
    Archive(String),
    #[error("the file changed while it was being read")]
    Changed,
}

/// The fields of a container header that vigil uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CvdHeader {
    pub build_time: String,
    pub version: u32,
    pub signatures: u64,
    pub flevel: u32,
    /// Lower-case hex MD5 of everything after the header.
    pub md5: String,
    /// The RSA signature of the MD5, in ClamAV's digits.
    pub dsig: String,
    pub builder: String,
    /// Build time in seconds since the epoch (0 in old headers without it).
    pub stime: u64,
}

/// Parses the 512-byte header (ClamAV trims trailing spaces and newlines).
pub fn parse_header(raw: &[u8]) -> Result<CvdHeader, CvdFault> {
    let bad = |why: &str| CvdFault::Header(why.to_string());
    let text = String::from_utf8_lossy(raw);
    let text = text
        .split(['\n', '\r'])
        .next()
        .unwrap_or_default()
        .trim_end_matches([' ', '\0']);
    let rest = text
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("the header does not start with \"ClamAV-VDB:\""))?;
    let fields: Vec<&str> = rest.split(':').collect();
    if fields.len() < 7 {
        return Err(bad("the header has fewer than 8 fields"));
    }
    let number = |i: usize, what: &str| {
        fields[i]
            .trim()
            .parse::<u64>()
            .map_err(|_| CvdFault::Header(format!("bad {what} {:?}", fields[i])))
    };
    let version = u32::try_from(number(1, "version")?).map_err(|_| bad("version too large"))?;
    let signatures = number(2, "signature count")?;
    let flevel =
        u32::try_from(number(3, "functionality level")?).map_err(|_| bad("level too large"))?;
    let md5 = fields[4].trim().to_ascii_lowercase();
    if md5.len() != 32 || !md5.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(CvdFault::Header(format!("bad MD5 field {:?}", fields[4])));
    }
    // As libclamav reads it: absent or unreadable, 0.
    let stime = fields
        .get(7)
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    Ok(CvdHeader {
        build_time: fields[0].to_string(),
        version,
        signatures,
        flevel,
        md5,
        dsig: fields[5].trim().to_string(),
        builder: fields[6].to_string(),
        stime,
    })
}

/// Passes bytes through while hashing them, and keeps apart a failure to
/// read the file itself from a failure to make sense of its contents.
struct Md5Reader<R> {
    inner: R,
    md5: Md5,
    failed: Option<io::Error>,
}

impl<R: Read> Read for Md5Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.md5.update(&buf[..n]);
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                let kind = e.kind();
                self.failed.get_or_insert(e);
                Err(io::Error::new(kind, "read error"))
            }
        }
    }
}

/// What reading the archive found.
#[derive(Default)]
struct Members {
    loaded: usize,
    skipped: usize,
}

/// The MD5 of everything `file` has left to read.
fn md5_of_rest(file: &mut impl Read) -> io::Result<String> {
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(hex(&md5.finalize())),
            Ok(n) => md5.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// What checking a `.cld` against its `.info` found so far.
struct CldCheck<'k> {
    key: &'k PublicKey,
    /// The first `.info` member, parsed and its DSIG checked.
    info: Option<Result<Info, Unofficial>>,
    /// Every database member read, by name.
    read: Vec<(String, Sum)>,
}

impl CldCheck<'_> {
    /// Whether the container is official, once all of it was read.
    fn conclude(self, header: &CvdHeader) -> Result<(), Unofficial> {
        let info = self.info.unwrap_or(Err(Unofficial::NoInfo))?;
        info.check(header, &self.read)
    }
}

/// Loads a container's hash members into `builder`, checking its signatures
/// against `keys`; faults go to `faults`. Whether its signatures are
/// official, and why; `None` if it was refused (a fault says why).
pub(crate) fn load(
    builder: &mut SignatureSetBuilder,
    path: &Path,
    kind: ContainerKind,
    budget: &mut Budget,
    faults: &mut Faults<'_>,
    keys: &Keys,
) -> Option<Provenance> {
    let fault = |fault: SigFault| SigError {
        file: path.to_path_buf(),
        line: None,
        fault,
    };
    let mut file = match File::open(path) {
        Ok(f) => BufReader::with_capacity(1 << 20, f),
        Err(e) => return refuse(faults, fault(e.into())),
    };
    let mut raw = [0u8; HEADER_LEN];
    if let Err(e) = file.read_exact(&mut raw) {
        return refuse(
            faults,
            match e.kind() {
                io::ErrorKind::UnexpectedEof => {
                    fault(CvdFault::Header("shorter than the 512-byte header".into()).into())
                }
                _ => fault(e.into()),
            },
        );
    }
    let header = match parse_header(&raw) {
        Ok(h) => h,
        Err(f) => return refuse(faults, fault(f.into())),
    };
    if header.flevel > ENGINE_FLEVEL {
        tracing::warn!(
            path = %path.display(),
            "container wants functionality level {}; vigil has {}",
            header.flevel,
            ENGINE_FLEVEL
        );
    }
    if kind == ContainerKind::Cvd {
        // A damaged archive's contents say nothing useful: check the MD5
        // before unpacking any of it, and report the MD5 only.
        let checked = md5_of_rest(&mut file).and_then(|actual| {
            file.seek(SeekFrom::Start(HEADER_LEN as u64))
                .map(|_| actual)
        });
        match checked {
            Err(e) => return refuse(faults, fault(e.into())),
            Ok(actual) if actual != header.md5 => {
                return refuse(
                    faults,
                    fault(
                        CvdFault::Md5 {
                            expected: header.md5,
                            actual,
                        }
                        .into(),
                    ),
                )
            }
            Ok(_) => {}
        }
    }
    let cvd_signed = (kind == ContainerKind::Cvd).then(|| {
        let mut md5 = [0u8; 16];
        for (i, b) in md5.iter_mut().enumerate() {
            *b = u8::from_str_radix(&header.md5[2 * i..2 * i + 2], 16).unwrap_or(0);
        }
        verify_md5(&keys.cvd, &md5, &header.dsig)
    });
    let mut cld_check = (kind == ContainerKind::Cld).then(|| CldCheck {
        key: &keys.info,
        info: None,
        read: Vec::new(),
    });
    let mark = builder.mark();
    let mut body = Md5Reader {
        inner: file,
        md5: Md5::new(),
        failed: None,
    };
    let mut members = Members::default();
    let read = read_archive(
        builder,
        path,
        &mut body,
        budget,
        faults,
        &mut members,
        cld_check.as_mut(),
    );
    if let Some(e) = body.failed.take() {
        return refuse(faults, fault(e.into()));
    }
    if let Err(Failed::TooLarge) = read {
        return refuse(
            faults,
            fault(SigFault::TooLarge {
                limit: budget.limits.max_db_bytes,
            }),
        );
    }
    if kind == ContainerKind::Cvd && !budget.stopped {
        // Hash the rest (tar padding, gzip trailer, or what a damaged
        // archive left unread): the bytes unpacked must be the ones checked.
        match io::copy(&mut body, &mut io::sink()) {
            Err(e) => return refuse(faults, fault(e.into())),
            Ok(_) if hex(&body.md5.finalize()) != header.md5 => {
                return refuse(faults, fault(CvdFault::Changed.into()))
            }
            Ok(_) => {}
        }
    }
    match read {
        Ok(()) => builder.note_container(members.loaded, members.skipped),
        Err(Failed::TooLarge) => return None,
        Err(Failed::Archive(e)) => return refuse(faults, fault(CvdFault::Archive(e).into())),
    }
    let provenance = match (kind, cvd_signed, cld_check) {
        (ContainerKind::Cvd, Some(Ok(())), _) => {
            Provenance::Official("CVD signature by ClamAV's key verified")
        }
        (ContainerKind::Cvd, Some(Err(why)), _) => {
            Provenance::Unofficial(format!("CVD signature: {why}"))
        }
        (ContainerKind::Cld, _, Some(check)) => match check.conclude(&header) {
            Ok(()) => Provenance::Official(
                ".info signature by ClamAV's key and every member's SHA-256 verified",
            ),
            Err(why) => Provenance::Unofficial(why.to_string()),
        },
        _ => Provenance::Unofficial(".cud databases are unsigned".into()),
    };
    match &provenance {
        Provenance::Official(_) => builder.set_official_since(&mark),
        Provenance::Unofficial(why) if kind != ContainerKind::Cud => tracing::warn!(
            path = %path.display(),
            "{why}: its signatures load as unofficial (named with .UNOFFICIAL)"
        ),
        _ => {}
    }
    Some(provenance)
}

/// Records why a container is refused.
fn refuse(faults: &mut Faults<'_>, fault: SigError) -> Option<Provenance> {
    faults.push(fault);
    None
}

/// Why reading an archive stopped short.
enum Failed {
    /// It unpacks past the size limit.
    TooLarge,
    /// It is damaged, or not what a container holds: why.
    Archive(String),
}

impl From<io::Error> for Failed {
    fn from(e: io::Error) -> Self {
        if super::limits::is_too_large(&e) {
            Failed::TooLarge
        } else {
            Failed::Archive(crate::error::io_reason(&e))
        }
    }
}

/// Reads the archive: gzip'd if it starts with the gzip magic, else plain
/// tar; either way cut off at the size limit.
fn read_archive(
    builder: &mut SignatureSetBuilder,
    path: &Path,
    body: &mut impl Read,
    budget: &mut Budget,
    faults: &mut Faults<'_>,
    members: &mut Members,
    check: Option<&mut CldCheck<'_>>,
) -> Result<(), Failed> {
    let mut magic = [0u8; 2];
    let mut got = 0;
    while got < magic.len() {
        match body.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let stream = (&magic[..got]).chain(body);
    let limit = budget.limits.max_db_bytes;
    let (read, hit) = if magic[..got] == [0x1f, 0x8b] {
        let capped = Capped::new(flate2::read::GzDecoder::new(stream), limit);
        let hit = capped.flag();
        (
            walk_tar(builder, path, capped, budget, faults, members, check),
            hit,
        )
    } else {
        let capped = Capped::new(stream, limit);
        let hit = capped.flag();
        (
            walk_tar(builder, path, capped, budget, faults, members, check),
            hit,
        )
    };
    // The tar reader may wrap the size limit's error in its own.
    if hit.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(Failed::TooLarge);
    }
    read
}

/// Reads the data of a GNU long name or pax header, if it is no longer
/// than `limit`.
fn read_extension(
    entry: &mut impl Read,
    size: u64,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>, Failed> {
    if size > limit {
        return Err(Failed::Archive(format!(
            "a tar {what} claims {size} bytes; vigil reads at most {limit}"
        )));
    }
    let mut data = Vec::with_capacity(size as usize);
    entry.take(limit).read_to_end(&mut data)?;
    Ok(data)
}

/// Walks the tar members as raw entries (so that the `tar` crate never
/// reads a long name or pax header whole): GNU long names and pax `path`
/// records name the next member, as in GNU tar. With `check`, the `.info`
/// is read and every database member summed on the way.
fn walk_tar(
    builder: &mut SignatureSetBuilder,
    path: &Path,
    archive: impl Read,
    budget: &mut Budget,
    faults: &mut Faults<'_>,
    members: &mut Members,
    mut check: Option<&mut CldCheck<'_>>,
) -> Result<(), Failed> {
    let mut archive = tar::Archive::new(archive);
    let mut next_name: Option<Vec<u8>> = None;
    for entry in archive.entries()?.raw(true) {
        let mut entry = entry?;
        let kind = entry.header().entry_type();
        let size = entry.header().entry_size()?;
        if kind.is_gnu_longname() {
            let mut name = read_extension(&mut entry, size, MAX_LONG_NAME, "long name")?;
            while name.last() == Some(&0) {
                name.pop();
            }
            next_name = Some(name);
            continue;
        }
        if kind.is_pax_local_extensions() {
            let data = read_extension(&mut entry, size, MAX_PAX_HEADER, "pax header")?;
            for record in tar::PaxExtensions::new(&data) {
                let record = record?;
                match record.key_bytes() {
                    b"path" => next_name = Some(record.value_bytes().to_vec()),
                    // The `tar` crate and GNU tar disagree on what this
                    // means for the data that follows: refuse it.
                    b"size" => {
                        return Err(Failed::Archive(
                            "a pax header overrides a member's size".into(),
                        ))
                    }
                    _ => {}
                }
            }
            continue;
        }
        if kind.is_gnu_longlink() || kind.is_pax_global_extensions() {
            continue;
        }
        let name = next_name.take();
        if !kind.is_file() {
            continue;
        }
        let name = match name {
            Some(name) => String::from_utf8_lossy(&name).into_owned(),
            None => String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
        };
        let check = match check.as_deref_mut() {
            Some(c) if c.info.is_none() && info::is_info_member(&name) => {
                let parsed = match info::read_info(&mut entry, size)? {
                    Some(data) => info::parse(&data, c.key),
                    None => Err(Unofficial::InfoTooLarge),
                };
                c.info = Some(parsed);
                members.skipped += 1;
                continue;
            }
            other => other,
        };
        let summed = check.filter(|_| info::is_database_member(&name));
        let mut member = Summing::new(&mut entry, summed.is_some());
        match Format::from_path(Path::new(&name)) {
            Some(format) => {
                let shown = member_path(path, &name);
                text::load(builder, &shown, format, &mut member, budget, faults)?;
                members.loaded += 1;
                if budget.stopped {
                    return Ok(());
                }
            }
            None => members.skipped += 1,
        }
        if let (Some(check), Some(sum)) = (summed, member.finish()?) {
            check.read.push((name, sum));
        }
    }
    Ok(())
}

/// How a member is named in faults: `CONTAINER[MEMBER]`.
fn member_path(container: &Path, member: &str) -> PathBuf {
    let mut s = container.as_os_str().to_owned();
    s.push(format!("[{member}]"));
    PathBuf::from(s)
}

/// Lower-case hex of an MD5, through the one hex encoder the project has.
fn hex(md5: &[u8]) -> String {
    crate::hash::Digest::from_bytes(crate::hash::Algorithm::Md5, md5).to_hex()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::signature::{load_databases, SigFault};
    use std::io::Write;

    /// A container as ClamAV lays it out: header (MD5 of the body) + tar.
    pub(crate) fn container(members: &[(&str, &[u8])], gzip: bool, md5: Option<&str>) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        for (name, data) in members {
            let mut h = tar::Header::new_ustar();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            tar.append_data(&mut h, name, *data).unwrap();
        }
        let tar = tar.into_inner().unwrap();
        let body = if gzip {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&tar).unwrap();
            gz.finish().unwrap()
        } else {
            tar
        };
        with_header(&body, md5)
    }

    /// A header (with the body's MD5, or the one given) followed by `body`.
    pub(crate) fn with_header(body: &[u8], md5: Option<&str>) -> Vec<u8> {
        let sum = md5.map_or_else(|| hex(&Md5::digest(body)), str::to_string);
        let mut head = format!(
            "ClamAV-VDB:26 Nov 2025 10-00 +0000:27000:3:90:{sum}:FakeDsig:tester:1764151200"
        )
        .into_bytes();
        head.resize(HEADER_LEN, b' ');
        head.extend_from_slice(body);
        head
    }

    /// `container`, its header signed as ClamAV signs (the MD5 of the body
    /// under the test key), or with `dsig` in its place.
    fn signed(members: &[(&str, &[u8])], dsig: Option<&str>) -> Vec<u8> {
        let raw = container(members, true, None);
        let body = &raw[HEADER_LEN..];
        let md5: [u8; 16] = Md5::digest(body).into();
        let sig = dsig.map_or_else(
            || crate::signature::dsig::tests::sign_md5(&md5),
            str::to_string,
        );
        let mut head = format!(
            "ClamAV-VDB:26 Nov 2025 10-00 +0000:27000:3:90:{}:{sig}:tester:1764151200",
            hex(&md5)
        )
        .into_bytes();
        head.resize(HEADER_LEN, b' ');
        head.extend_from_slice(body);
        head
    }

    /// Loads one container with the test keys: the set, its faults, and
    /// what it says of the container's signatures.
    fn load_checked(path: &Path) -> (crate::signature::SignatureSet, usize, Option<Provenance>) {
        let keys = crate::signature::dsig::tests::test_key_set();
        let mut builder = SignatureSetBuilder::new();
        let mut budget = Budget::new(Default::default());
        let mut faults = Faults::new(usize::MAX, None);
        let kind = ContainerKind::from_path(path).unwrap();
        let provenance = load(&mut builder, path, kind, &mut budget, &mut faults, keys);
        (builder.build(), faults.into_kept().len(), provenance)
    }

    /// Loads one container with the test keys: the set and its faults.
    fn load_signed(path: &Path) -> (crate::signature::SignatureSet, usize) {
        let (set, faults, _) = load_checked(path);
        (set, faults)
    }

    fn label_of(set: &crate::signature::SignatureSet) -> (String, bool) {
        let data: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
        let mut h = crate::hash::MultiHasher::new(
            crate::hash::AlgoSet::EMPTY.with(crate::hash::Algorithm::Md5),
        );
        h.update(data);
        let digests = h.finish();
        match set.lookup(&digests, data.len() as u64) {
            crate::signature::Lookup::Detected(m) => (m.label().into(), m.official),
            other => panic!("not detected: {other:?}"),
        }
    }

    #[test]
    fn a_signed_cvd_is_official_and_a_tampered_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let members: &[(&str, &[u8])] = &[("main.hdb", HDB)];
        let good = write(dir.path(), "good.cvd", &signed(members, None));
        let (set, faults) = load_signed(&good);
        assert_eq!(faults, 0);
        assert_eq!(label_of(&set), ("Eicar.Md5".into(), true));
        // ClamAV's own key does not accept the test key's signature.
        let set = load_databases(std::slice::from_ref(&good)).unwrap().set;
        assert_eq!(label_of(&set), ("Eicar.Md5.UNOFFICIAL".into(), false));
        // A header whose signature is of another body (the MD5 still
        // matches the body: only the signature fails).
        let other = signed(&[("main.hdb", HSB)], None);
        let other_sig = std::str::from_utf8(&other[..HEADER_LEN])
            .unwrap()
            .split(':')
            .nth(6)
            .unwrap()
            .to_string();
        let tampered = write(dir.path(), "t.cvd", &signed(members, Some(&other_sig)));
        let (set, faults) = load_signed(&tampered);
        assert_eq!(faults, 0);
        assert_eq!(label_of(&set), ("Eicar.Md5.UNOFFICIAL".into(), false));
        // A tampered body fails its MD5 and is refused, as before.
        let mut bytes = signed(members, None);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let bad = write(dir.path(), "bad.cvd", &bytes);
        assert_eq!(load_signed(&bad).1, 1);
        // A .cld is not official by its header's signature: it has no .info.
        let cld = write(dir.path(), "good.cld", &signed(members, None));
        let (set, faults, provenance) = load_checked(&cld);
        assert_eq!(faults, 0);
        assert!(!label_of(&set).1);
        assert_eq!(
            provenance,
            Some(Provenance::Unofficial("it has no .info member".into()))
        );
    }

    /// The header line of the containers `cld` makes.
    pub(crate) const CLD_HEAD: &str = "ClamAV-VDB:27 Nov 2025 09-00 +0000:27001:2:90:00000000000000000000000000000000:X:tester:1764234000";

    /// A `.cld` as freshclam leaves one: `header`, then a tar of `members`
    /// with a `daily.info` (signed with the test key) listing `listed`.
    pub(crate) fn cld(
        header: &str,
        listed: &[(&str, &[u8])],
        members: &[(&str, &[u8])],
    ) -> Vec<u8> {
        let info = crate::signature::info::tests::signed_info(CLD_HEAD, listed);
        cld_with_info(header, &info, members)
    }

    fn cld_with_info(header: &str, info: &[u8], members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut all: Vec<(&str, &[u8])> = vec![("COPYING", b"licence"), ("daily.info", info)];
        all.extend_from_slice(members);
        let raw = container(&all, true, None);
        let mut head = header.as_bytes().to_vec();
        head.resize(HEADER_LEN, b' ');
        head.extend_from_slice(&raw[HEADER_LEN..]);
        head
    }

    #[test]
    fn a_cld_is_official_when_its_info_is_signed_and_every_member_matches() {
        let dir = tempfile::tempdir().unwrap();
        let members: &[(&str, &[u8])] = &[("daily.hdb", HDB), ("daily.ndb", b"Sig:0:*:41\n")];
        let good = write(dir.path(), "daily.cld", &cld(CLD_HEAD, members, members));
        let (set, faults, provenance) = load_checked(&good);
        assert_eq!(faults, 0);
        assert_eq!(label_of(&set), ("Eicar.Md5".into(), true));
        assert!(provenance.unwrap().is_official());
        // Under ClamAV's own key the test key's .info is not signed.
        let set = load_databases(std::slice::from_ref(&good)).unwrap().set;
        assert_eq!(label_of(&set), ("Eicar.Md5.UNOFFICIAL".into(), false));
    }

    #[test]
    fn a_cld_that_fails_its_info_loads_unofficial_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let listed: &[(&str, &[u8])] = &[("daily.hdb", HDB), ("daily.ndb", b"Sig:0:*:41\n")];
        // The same size, another byte: only the SHA-256 tells.
        let mut bent = HDB.to_vec();
        bent[44] = b'X'; // "Eicar.Md5" -> "Eicar.MdX"
        let other_ndb: &[u8] = b"Sig:0:*:42\n";
        let info = crate::signature::info::tests::signed_info(CLD_HEAD, listed);
        let mut bad_info = info.clone();
        let at = bad_info.iter().position(|&b| b == b'\n').unwrap() + 1;
        bad_info[at] = b'D'; // "daily.hdb" -> "Daily.hdb", above the DSIG line
        let text = String::from_utf8(info.clone()).unwrap();
        let unsigned = text.split("DSIG:").next().unwrap().to_string();
        let foreign = format!("{unsigned}DSIG:{}\n", "ab".repeat(170));
        let newer = CLD_HEAD.replace(":27001:", ":27002:");
        let cases: Vec<(&str, Vec<u8>, String)> = vec![
            (
                "member",
                cld(CLD_HEAD, listed, &[("daily.hdb", &bent), listed[1]]),
                ".info SHA-256 mismatch for daily.hdb".into(),
            ),
            (
                "skipped member",
                cld(CLD_HEAD, listed, &[listed[0], ("daily.ndb", other_ndb)]),
                ".info SHA-256 mismatch for daily.ndb".into(),
            ),
            (
                "info",
                cld_with_info(CLD_HEAD, &bad_info, listed),
                ".info signature: the digital signature does not check against ClamAV's key".into(),
            ),
            (
                "dsig",
                cld_with_info(CLD_HEAD, foreign.as_bytes(), listed),
                ".info signature: the digital signature does not check against ClamAV's key".into(),
            ),
            (
                "no dsig",
                cld_with_info(CLD_HEAD, unsigned.as_bytes(), listed),
                ".info has no DSIG line".into(),
            ),
            (
                "no info",
                container(listed, true, None),
                "it has no .info member".into(),
            ),
            (
                "unlisted",
                cld(CLD_HEAD, &listed[..1], listed),
                "daily.ndb is not listed in the .info".into(),
            ),
            (
                "header",
                cld(&newer, listed, listed),
                ".info header does not match the container's header (version differs)".into(),
            ),
        ];
        for (what, bytes, why) in cases {
            let path = write(dir.path(), "daily.cld", &bytes);
            let (set, faults, provenance) = load_checked(&path);
            assert_eq!(faults, 0, "{what}");
            assert!(!label_of(&set).1, "{what}");
            assert_eq!(provenance, Some(Provenance::Unofficial(why)), "{what}");
        }
    }

    const HDB: &[u8] = b"44d88612fea8a8f36de82e1278abb02f:68:Eicar.Md5\n";
    const HSB: &[u8] =
        b"275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f:68:Eicar.Sha256\n";
    const FP: &[u8] = b"3395856ce81f2b7382dee72602f798b642f14140:68:Eicar.Good\n";

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn header_fields() {
        let raw = container(&[], true, None);
        let h = parse_header(&raw[..HEADER_LEN]).unwrap();
        assert_eq!((h.version, h.signatures, h.flevel), (27000, 3, 90));
        assert_eq!(h.builder, "tester");
        assert!(matches!(
            parse_header(b"ClamAV-VDB:x:1"),
            Err(CvdFault::Header(_))
        ));
        assert!(matches!(
            parse_header(&[b' '; 512]),
            Err(CvdFault::Header(_))
        ));
        let bad_md5 = b"ClamAV-VDB:t:1:2:3:nothex:d:b:4";
        assert!(matches!(parse_header(bad_md5), Err(CvdFault::Header(_))));
    }

    #[test]
    fn cvd_hash_members_load_and_others_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let cvd = container(
            &[
                ("COPYING", b"licence"),
                ("main.info", b"info"),
                ("main.hdb", HDB),
                ("main.hsb", HSB),
                ("main.fp", FP),
                ("main.ndb", b"Sig:0:*:41414141\n"),
            ],
            true,
            None,
        );
        let path = write(dir.path(), "main.cvd", &cvd);
        let set = load_databases(&[path]).unwrap().set;
        let s = set.stats();
        assert_eq!(s.detections, [1, 0, 1, 0]);
        assert_eq!(s.allows, [0, 1, 0, 0]);
        assert_eq!((s.files, s.containers), (1, 1));
        assert_eq!((s.container_members, s.skipped_members), (3, 3));
    }

    #[test]
    fn cld_may_be_plain_tar_and_its_md5_is_not_checked() {
        let dir = tempfile::tempdir().unwrap();
        let cld = container(&[("daily.hdb", HDB)], false, Some(&"0".repeat(32)));
        let path = write(dir.path(), "daily.cld", &cld);
        let set = load_databases(&[dir.path().to_path_buf()]).unwrap().set;
        assert_eq!(set.stats().detections[0], 1);
        // The same bytes as a .cvd are refused: the MD5 does not match.
        std::fs::rename(&path, dir.path().join("daily.cvd")).unwrap();
        let err = load_databases(&[dir.path().join("daily.cvd")])
            .err()
            .unwrap();
        assert!(
            matches!(err.0[0].fault, SigFault::Container(CvdFault::Md5 { .. })),
            "{err}"
        );
    }

    #[test]
    fn a_damaged_body_is_refused_by_its_md5() {
        let dir = tempfile::tempdir().unwrap();
        let mut cvd = container(&[("main.hdb", HDB)], true, None);
        let last = cvd.len() - 10;
        cvd[last] ^= 0x40;
        let path = write(dir.path(), "main.cvd", &cvd);
        let err = load_databases(&[path]).err().unwrap();
        assert_eq!(err.0.len(), 1);
        assert!(err.to_string().contains("MD5"), "{err}");
        // Cut short: refused too.
        let cvd = container(&[("main.hdb", HDB)], true, None);
        let path = write(dir.path(), "short.cvd", &cvd[..cvd.len() - 20]);
        assert!(load_databases(&[path]).is_err());
        let path = write(dir.path(), "tiny.cvd", b"ClamAV-VDB:");
        let err = load_databases(&[path]).err().unwrap();
        assert!(err.to_string().contains("512-byte header"), "{err}");
    }

    /// Long member names (GNU long names and pax `path` records) name the
    /// next member, as `tar` writes them; over-long ones are refused.
    #[test]
    fn long_member_names_are_read_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let long = format!("{}/main.hdb", "d".repeat(150));
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(HDB.len() as u64);
        h.set_mode(0o644);
        tar.append_data(&mut h, &long, HDB).unwrap();
        let mut h = tar::Header::new_ustar();
        h.set_size(HSB.len() as u64);
        h.set_mode(0o644);
        tar.append_pax_extensions([("path", format!("{}/x.hsb", "p".repeat(200)).as_bytes())])
            .unwrap();
        tar.append_data(&mut h, "x.ndb", HSB).unwrap();
        let path = write(
            dir.path(),
            "long.cvd",
            &with_header(&tar.into_inner().unwrap(), None),
        );
        let set = load_databases(&[path]).unwrap().set;
        assert_eq!(set.stats().detections, [1, 0, 1, 0]);

        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::GNULongName);
        h.set_size(MAX_LONG_NAME + 1);
        h.set_cksum();
        tar.append(&h, &vec![b'a'; MAX_LONG_NAME as usize + 1][..])
            .unwrap();
        let path = write(
            dir.path(),
            "longer.cvd",
            &with_header(&tar.into_inner().unwrap(), None),
        );
        let err = load_databases(&[path]).err().unwrap();
        assert!(
            err.to_string().contains("long name claims 4097 bytes"),
            "{err}"
        );
    }

    #[test]
    fn a_broken_archive_with_matching_md5_is_an_archive_fault() {
        let dir = tempfile::tempdir().unwrap();
        let raw = with_header(&[0x1f, 0x8b, 1, 2, 3], None);
        let path = write(dir.path(), "x.cvd", &raw);
        let err = load_databases(&[path]).err().unwrap();
        assert!(
            matches!(err.0[0].fault, SigFault::Container(CvdFault::Archive(_))),
            "{err}"
        );
    }

    #[test]
    fn member_faults_name_the_container_member_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let bad = b"44d88612fea8a8f36de82e1278abb02f:68:Ok\nnot a line\n";
        let cvd = container(&[("main.hdb", bad)], true, None);
        let path = write(dir.path(), "main.cvd", &cvd);
        let err = load_databases(std::slice::from_ref(&path)).err().unwrap();
        assert_eq!(err.0.len(), 1);
        let want = format!("{}[main.hdb]:2:", path.display());
        assert!(err.to_string().starts_with(&want), "{err}");
    }
}
