//! The compiled index (`.vidx`): a signature set written as the very bytes
//! its tables are made of, so that loading is a memory map, a validation and
//! a checksum, with no parsing and no copying. Lookups binary-search the
//! mapped records in place.
//!
//! Layout (all integers little-endian; see docs/index-format.md):
//!
//! ```text
//! 0    magic "VIGILIDX"            8
//! 8    version (3)                 u32
//! 12   header length (544)         u32
//! 16   file length                 u64
//! 24   XXH3-128 of bytes 544..end  16
//! 40   flags (0)                   u32
//! 44   section count (19)          u32
//! 48   set counts                  22 x u64
//! 224  sections                    19 x (offset u64, length u64)
//! 528  XXH3-128 of bytes 0..528    16
//! 544  sections, each at an offset that is a multiple of 8, zero padding between
//! ```
//!
//! The checksums guard against damage (a bad disk, a cut copy), not against
//! a forger, who could recompute any unkeyed hash. XXH3-128 checks the body
//! at memory speed (13 ms for 344 MiB here, against 80 ms for BLAKE3), which
//! is what keeps opening a 10M-signature index well under 100 ms.
//!
//! Sections, in order: for md5, sha1, sha256 and blake3 in turn the sized
//! records (digest, size u64, tag u32), the any-size records (digest, tag
//! u32), the detection sizes (u64, sorted) and the allow-list sizes; then
//! the names: the stems (end u32, cut u32 each: where the stem's text ends
//! in the stem bytes and where its number goes), the stem bytes (UTF-8) and
//! one (stem u32, number u32) per name, number 0xffffffff for none. A tag is
//! the name id, with bit 31 set for an allow-list entry. Records are sorted
//! by (digest, size, tag) and unique. Version 1 stored every name's text
//! whole; it is refused with a request to compile the index again.
//!
//! Opening checks the magic, version, header checksum, file length, that
//! every section lies inside the file and holds whole records, the body
//! checksum, and the stem table. A name whose stem does not exist (a forged
//! index) reads as `?`; `verify` finds it. An index is replaced by writing a new file
//! and renaming it over the old one, never rewritten in place (see
//! `fileio::map_file`).

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::sync::Arc;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::names::Names;
use super::table::{Record, SizeIndex, Store, Table, ALLOW_BIT};
use super::{SetStats, SignatureSet};
use crate::fileio::{self, Mapping};

pub const MAGIC: &[u8; 8] = b"VIGILIDX";
pub const VERSION: u32 = 3;
/// The file extension vigil gives indexes and recognises in folders.
pub const EXTENSION: &str = "vidx";
pub const HEADER_LEN: usize = 544;
const SECTIONS: usize = 19;
const STAT_FIELDS: usize = 22;
const VERSION_AT: usize = 8;
const HEADER_LEN_AT: usize = 12;
const FILE_LEN_AT: usize = 16;
const BODY_SUM_AT: usize = 24;
const FLAGS_AT: usize = 40;
const SECTION_COUNT_AT: usize = 44;
const STATS_AT: usize = 48;
const SECTIONS_AT: usize = STATS_AT + STAT_FIELDS * 8;
const HEADER_SUM_AT: usize = SECTIONS_AT + SECTIONS * 16;
const _: () = assert!(HEADER_SUM_AT + 16 == HEADER_LEN);

/// The checksum of a byte range: XXH3-128, little-endian.
fn checksum(bytes: &[u8]) -> [u8; 16] {
    xxhash_rust::xxh3::xxh3_128(bytes).to_le_bytes()
}

/// Why an index is refused.
#[derive(Debug, thiserror::Error)]
pub enum IndexFault {
    #[error("cannot read index: {}", crate::error::io_reason(.0))]
    Io(#[from] io::Error),
    #[error("not a vigil index (bad magic number)")]
    Magic,
    #[error("index format version {0} is not supported (this vigil reads version {VERSION}); compile it again with `vigil sigs compile`")]
    Version(u32),
    #[error("truncated index: the header says {expected} bytes, the file has {actual}")]
    Truncated { expected: u64, actual: u64 },
    #[error("corrupt index: header checksum mismatch")]
    HeaderChecksum,
    #[error("corrupt index: checksum mismatch in the body")]
    BodyChecksum,
    #[error("corrupt index: {0}")]
    Layout(String),
}

fn layout(why: impl Into<String>) -> IndexFault {
    IndexFault::Layout(why.into())
}

/// The sections of a set, as bytes, in file order.
fn sections(set: &SignatureSet) -> [&[u8]; SECTIONS] {
    fn table<const N: usize>(t: &Table<N>) -> [&[u8]; 4] {
        [
            t.sized.as_bytes(),
            t.any.as_bytes(),
            t.detect.sizes.as_bytes(),
            t.allow.sizes.as_bytes(),
        ]
    }
    let [a, b, c, d] = [
        table(&set.md5),
        table(&set.sha1),
        table(&set.sha256),
        table(&set.blake3),
    ];
    [
        a[0],
        a[1],
        a[2],
        a[3],
        b[0],
        b[1],
        b[2],
        b[3],
        c[0],
        c[1],
        c[2],
        c[3],
        d[0],
        d[1],
        d[2],
        d[3],
        set.names.stems.as_bytes(),
        set.names.stem_bytes.as_bytes(),
        set.names.names.as_bytes(),
    ]
}

fn stats_fields(s: &SetStats) -> [u64; STAT_FIELDS] {
    let mut out = [0u64; STAT_FIELDS];
    let arrays = [
        s.detections,
        s.allows,
        s.detections_any_size,
        s.allows_any_size,
    ];
    for (i, a) in arrays.iter().enumerate() {
        for (j, v) in a.iter().enumerate() {
            out[i * 4 + j] = *v as u64;
        }
    }
    let rest = [
        s.names,
        s.outside_flevel,
        s.files,
        s.containers,
        s.container_members,
        s.skipped_members,
    ];
    for (i, v) in rest.iter().enumerate() {
        out[16 + i] = *v as u64;
    }
    out
}

fn stats_from(fields: &[u64; STAT_FIELDS]) -> Result<SetStats, IndexFault> {
    let mut v = [0usize; STAT_FIELDS];
    for (out, f) in v.iter_mut().zip(fields) {
        *out = usize::try_from(*f).map_err(|_| layout("a count does not fit in memory"))?;
    }
    let four = |i: usize| [v[i * 4], v[i * 4 + 1], v[i * 4 + 2], v[i * 4 + 3]];
    Ok(SetStats {
        detections: four(0),
        allows: four(1),
        detections_any_size: four(2),
        allows_any_size: four(3),
        names: v[16],
        outside_flevel: v[17],
        files: v[18],
        containers: v[19],
        container_members: v[20],
        skipped_members: v[21],
    })
}

fn align8(n: usize) -> usize {
    n.next_multiple_of(8)
}

/// Writes `set` as a compiled index at `path`: into a temporary file in the
/// same folder, synced, then renamed over `path`, so that a process that has
/// the old index mapped keeps reading the old file, intact.
pub fn write_index(set: &SignatureSet, path: &Path) -> io::Result<()> {
    let sections = sections(set);
    let mut placed = [(0u64, 0u64); SECTIONS];
    let mut end = HEADER_LEN;
    for (slot, bytes) in placed.iter_mut().zip(&sections) {
        let at = align8(end);
        *slot = (at as u64, bytes.len() as u64);
        end = at + bytes.len();
    }
    let mut body = xxhash_rust::xxh3::Xxh3::new();
    let mut pos = HEADER_LEN;
    for ((at, _), bytes) in placed.iter().zip(&sections) {
        body.update(&[0u8; 8][..*at as usize - pos]);
        body.update(bytes);
        pos = *at as usize + bytes.len();
    }
    let mut header = [0u8; HEADER_LEN];
    header[..8].copy_from_slice(MAGIC);
    header[VERSION_AT..VERSION_AT + 4].copy_from_slice(&VERSION.to_le_bytes());
    header[HEADER_LEN_AT..HEADER_LEN_AT + 4].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
    header[FILE_LEN_AT..FILE_LEN_AT + 8].copy_from_slice(&(end as u64).to_le_bytes());
    header[BODY_SUM_AT..BODY_SUM_AT + 16].copy_from_slice(&body.digest128().to_le_bytes());
    header[FLAGS_AT..FLAGS_AT + 4].copy_from_slice(&0u32.to_le_bytes());
    header[SECTION_COUNT_AT..SECTION_COUNT_AT + 4]
        .copy_from_slice(&(SECTIONS as u32).to_le_bytes());
    for (i, v) in stats_fields(set.stats()).iter().enumerate() {
        header[STATS_AT + i * 8..STATS_AT + i * 8 + 8].copy_from_slice(&v.to_le_bytes());
    }
    for (i, (at, len)) in placed.iter().enumerate() {
        let o = SECTIONS_AT + i * 16;
        header[o..o + 8].copy_from_slice(&at.to_le_bytes());
        header[o + 8..o + 16].copy_from_slice(&len.to_le_bytes());
    }
    let sum = checksum(&header[..HEADER_SUM_AT]);
    header[HEADER_SUM_AT..].copy_from_slice(&sum);

    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let file_name = path
        .file_name()
        .map_or_else(|| "index".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{file_name}.tmp{}", std::process::id()));
    let written = (|| {
        let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
        out.write_all(&header)?;
        let mut pos = HEADER_LEN;
        for ((at, _), bytes) in placed.iter().zip(&sections) {
            out.write_all(&[0u8; 8][..*at as usize - pos])?;
            out.write_all(bytes)?;
            pos = *at as usize + bytes.len();
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    // Make the rename itself durable; not every file system allows this.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A header that has passed its checks.
struct Header {
    stats: SetStats,
    sections: [(usize, usize); SECTIONS],
}

fn u32_at(h: &[u8; HEADER_LEN], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&h[at..at + 4]);
    u32::from_le_bytes(b)
}

fn u64_at(h: &[u8; HEADER_LEN], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&h[at..at + 8]);
    u64::from_le_bytes(b)
}

fn parse_header(h: &[u8; HEADER_LEN], file_len: u64) -> Result<Header, IndexFault> {
    if &h[..8] != MAGIC {
        return Err(IndexFault::Magic);
    }
    let version = u32_at(h, VERSION_AT);
    if version != VERSION {
        return Err(IndexFault::Version(version));
    }
    if checksum(&h[..HEADER_SUM_AT])[..] != h[HEADER_SUM_AT..] {
        return Err(IndexFault::HeaderChecksum);
    }
    if u32_at(h, HEADER_LEN_AT) as usize != HEADER_LEN
        || u32_at(h, SECTION_COUNT_AT) as usize != SECTIONS
    {
        return Err(layout("unexpected header or section count"));
    }
    if u32_at(h, FLAGS_AT) != 0 {
        return Err(layout("unknown flags"));
    }
    let expected = u64_at(h, FILE_LEN_AT);
    if expected != file_len {
        return Err(IndexFault::Truncated {
            expected,
            actual: file_len,
        });
    }
    let mut fields = [0u64; STAT_FIELDS];
    for (i, f) in fields.iter_mut().enumerate() {
        *f = u64_at(h, STATS_AT + i * 8);
    }
    let mut sections = [(0usize, 0usize); SECTIONS];
    let mut end = HEADER_LEN as u64;
    for (i, slot) in sections.iter_mut().enumerate() {
        let at = u64_at(h, SECTIONS_AT + i * 16);
        let len = u64_at(h, SECTIONS_AT + i * 16 + 8);
        let stop = at.checked_add(len);
        if at < end || stop.map_or(true, |s| s > file_len) {
            return Err(layout(format!(
                "section {i} lies outside the file or overlaps another"
            )));
        }
        end = stop.unwrap_or(file_len);
        let to_usize = |v: u64| usize::try_from(v).map_err(|_| layout("section too large"));
        *slot = (to_usize(at)?, to_usize(len)?);
    }
    Ok(Header {
        stats: stats_from(&fields)?,
        sections,
    })
}

/// A section as a store, after checking it holds whole records.
fn store<T: FromBytes + IntoBytes + KnownLayout + Immutable + Unaligned>(
    map: &Arc<Mapping>,
    (start, len): (usize, usize),
    what: &str,
) -> Result<Store<T>, IndexFault> {
    let bytes = map
        .get(start..start.saturating_add(len))
        .ok_or_else(|| layout(format!("{what} lies outside the file")))?;
    if <[T]>::ref_from_bytes(bytes).is_err() {
        return Err(layout(format!("{what} does not hold whole records")));
    }
    Ok(Store::Mapped {
        map: map.clone(),
        start,
        len,
    })
}

/// Opens a compiled index: maps it, checks it and returns the set, which
/// reads its records from the mapping.
pub(crate) fn open(path: &Path) -> Result<SignatureSet, IndexFault> {
    let mut file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut head = [0u8; HEADER_LEN];
    let got = read_up_to(&mut file, &mut head)?;
    if got < MAGIC.len() || &head[..MAGIC.len()] != MAGIC {
        return Err(IndexFault::Magic);
    }
    if got < HEADER_LEN {
        return Err(IndexFault::Truncated {
            expected: HEADER_LEN as u64,
            actual: got as u64,
        });
    }
    let header = parse_header(&head, file_len)?;
    let started = std::time::Instant::now();
    let map = Arc::new(fileio::map_file(&file)?);
    let mapped = started.elapsed();
    if map.len() as u64 != file_len || map.get(..HEADER_LEN) != Some(&head[..]) {
        return Err(layout("the file changed while it was being opened"));
    }
    if checksum(&map[HEADER_LEN..])[..] != head[BODY_SUM_AT..BODY_SUM_AT + 16] {
        return Err(IndexFault::BodyChecksum);
    }
    tracing::debug!(?mapped, checked = ?started.elapsed(), bytes = file_len, "index mapped and checksummed");
    let s = header.sections;
    let stats = header.stats;
    fn table<const N: usize>(
        map: &Arc<Mapping>,
        s: &[(usize, usize)],
        stats: &SetStats,
        algo: usize,
    ) -> Result<Table<N>, IndexFault> {
        Ok(Table {
            sized: store(map, s[0], "sized records")?,
            any: store(map, s[1], "any-size records")?,
            detect: SizeIndex {
                any: stats.detections_any_size[algo] > 0,
                sizes: store(map, s[2], "detection sizes")?,
            },
            allow: SizeIndex {
                any: stats.allows_any_size[algo] > 0,
                sizes: store(map, s[3], "allow-list sizes")?,
            },
        })
    }
    let names = Names {
        stems: store(&map, s[16], "name stems")?,
        stem_bytes: store(&map, s[17], "stem bytes")?,
        names: store(&map, s[18], "names")?,
    };
    check_names(&names)?;
    if names.len() != stats.names {
        return Err(layout("name count does not match the header"));
    }
    Ok(SignatureSet {
        md5: table(&map, &s[0..4], &stats, 0)?,
        sha1: table(&map, &s[4..8], &stats, 1)?,
        sha256: table(&map, &s[8..12], &stats, 2)?,
        blake3: table(&map, &s[12..16], &stats, 3)?,
        names,
        stats,
    })
}

/// Stem ends rise, stay inside the stem bytes and fall on character
/// boundaries of valid UTF-8, and so does each stem's cut, within its stem.
fn check_names(names: &Names) -> Result<(), IndexFault> {
    let text = std::str::from_utf8(names.stem_bytes.as_slice())
        .map_err(|_| layout("stem table is not UTF-8"))?;
    let mut prev = 0usize;
    for stem in names.stems.as_slice() {
        let (end, cut) = (stem.end.get() as usize, stem.cut.get() as usize);
        if end < prev
            || cut < prev
            || cut > end
            || !text.is_char_boundary(end)
            || !text.is_char_boundary(cut)
        {
            return Err(layout(
                "stem table offsets are out of order or out of range",
            ));
        }
        prev = end;
    }
    if prev != text.len() {
        return Err(layout("stem table has bytes past its last stem"));
    }
    Ok(())
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

impl SignatureSet {
    /// Checks what opening an index does not (it would cost a pass over every
    /// record): that records are sorted and unique, name ids are in range,
    /// size indexes list exactly the sizes of their records, and the counts
    /// agree. Returns every problem found; `sigs check` runs this.
    pub fn verify(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let names = self.names.len();
        let mut counts = SetStats::default();
        fn records<const N: usize, R: Record<N>>(
            algo: &str,
            what: &str,
            recs: &[R],
            names: usize,
            problems: &mut Vec<String>,
        ) -> (usize, usize) {
            if recs
                .windows(2)
                .any(|w| w[0].order(&w[1]) != std::cmp::Ordering::Less)
            {
                problems.push(format!("{algo} {what} records are not sorted and unique"));
            }
            if recs.iter().any(|r| r.name() as usize >= names) {
                problems.push(format!(
                    "{algo} {what} records name a signature that does not exist"
                ));
            }
            let allow = recs.iter().filter(|r| r.tag() & ALLOW_BIT != 0).count();
            (recs.len() - allow, allow)
        }
        fn sizes(idx: &SizeIndex, want: Vec<u64>) -> bool {
            let have: Vec<u64> = idx.sizes.as_slice().iter().map(|s| s.get()).collect();
            let mut want = want;
            want.sort_unstable();
            want.dedup();
            have == want
        }
        fn table<const N: usize>(
            algo: &str,
            i: usize,
            t: &Table<N>,
            names: usize,
            counts: &mut SetStats,
            problems: &mut Vec<String>,
        ) {
            let (ds, as_) = records(algo, "sized", t.sized.as_slice(), names, problems);
            let (da, aa) = records(algo, "any-size", t.any.as_slice(), names, problems);
            counts.detections[i] = ds + da;
            counts.allows[i] = as_ + aa;
            counts.detections_any_size[i] = da;
            counts.allows_any_size[i] = aa;
            let (mut d, mut a) = (Vec::new(), Vec::new());
            for r in t.sized.as_slice() {
                if r.is_allow() {
                    a.push(r.size.get())
                } else {
                    d.push(r.size.get())
                }
            }
            if !sizes(&t.detect, d)
                || !sizes(&t.allow, a)
                || t.detect.any != (da > 0)
                || t.allow.any != (aa > 0)
            {
                problems.push(format!("{algo} size index does not match its records"));
            }
        }
        table("md5", 0, &self.md5, names, &mut counts, &mut problems);
        table("sha1", 1, &self.sha1, names, &mut counts, &mut problems);
        table("sha256", 2, &self.sha256, names, &mut counts, &mut problems);
        table("blake3", 3, &self.blake3, names, &mut counts, &mut problems);
        let stems = self.names.stem_count();
        if self
            .names
            .names
            .as_slice()
            .iter()
            .any(|n| n.stem.get() as usize >= stems)
        {
            problems.push("names refer to a stem that does not exist".into());
        }
        let s = &self.stats;
        if (
            s.detections,
            s.allows,
            s.detections_any_size,
            s.allows_any_size,
            s.names,
        ) != (
            counts.detections,
            counts.allows,
            counts.detections_any_size,
            counts.allows_any_size,
            names,
        ) {
            problems.push("signature counts do not match the records".into());
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{hash_bytes, AlgoSet, Algorithm, MultiHasher};
    use crate::signature::{load_databases, Lookup, SigFault};

    const EICAR: &[u8] = br"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

    fn text_set(dir: &Path) -> Vec<std::path::PathBuf> {
        let md5 = hash_bytes(Algorithm::Md5, EICAR).to_hex();
        let sha1 = hash_bytes(Algorithm::Sha1, EICAR).to_hex();
        let b3 = hash_bytes(Algorithm::Blake3, EICAR).to_hex();
        let vsig = dir.join("a.vsig");
        fs::write(
            &vsig,
            format!(
                "md5:{md5}:68:Eicar.A\nblake3:{b3}:*:Eicar.B\nsha256:{}:7:Other\n",
                "ab".repeat(32)
            ),
        )
        .unwrap();
        let fp = dir.join("b.fp");
        fs::write(&fp, format!("{sha1}:69:Good\n")).unwrap();
        vec![vsig, fp]
    }

    fn compiled(dir: &Path) -> (SignatureSet, std::path::PathBuf) {
        let set = load_databases(&text_set(dir)).unwrap().set;
        let path = dir.join("all.vidx");
        write_index(&set, &path).unwrap();
        (set, path)
    }

    /// Recomputes both checksums, as a deliberate forger would.
    fn reseal(bytes: &mut [u8]) {
        let body = checksum(&bytes[HEADER_LEN..]);
        bytes[BODY_SUM_AT..BODY_SUM_AT + 16].copy_from_slice(&body);
        let head = checksum(&bytes[..HEADER_SUM_AT]);
        bytes[HEADER_SUM_AT..HEADER_LEN].copy_from_slice(&head);
    }

    #[test]
    fn an_index_maps_and_answers_like_the_text() {
        let dir = tempfile::tempdir().unwrap();
        let (text, path) = compiled(dir.path());
        let loaded = load_databases(&[path]).unwrap().set;
        assert!(loaded.is_mapped() && !text.is_mapped());
        assert_eq!(loaded.stats(), text.stats());
        assert!(loaded.verify().is_empty(), "{:?}", loaded.verify());
        let mut h = MultiHasher::new(AlgoSet::all());
        h.update(EICAR);
        let d = h.finish();
        for size in [67, 68, 69, 7] {
            assert_eq!(
                loaded.lookup(&d, size),
                text.lookup(&d, size),
                "size {size}"
            );
            assert_eq!(
                loaded.algorithms_for_size(size),
                text.algorithms_for_size(size)
            );
        }
        assert!(matches!(loaded.lookup(&d, 68), Lookup::Detected(m) if m.name == "Eicar.A"));
        assert_eq!(loaded.lookup(&d, 69), Lookup::Allowed);
        assert_eq!(
            loaded.algorithms_for_unknown_size(),
            text.algorithms_for_unknown_size()
        );
    }

    // These two rewrite one file in place (no truncation to zero, which
    // makes ext4 flush on close): hundreds of opens stay fast.
    #[test]
    fn every_truncation_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (_, path) = compiled(dir.path());
        let bytes = fs::read(&path).unwrap();
        let cut = dir.path().join("cut.vidx");
        fs::write(&cut, &bytes).unwrap();
        let file = fs::OpenOptions::new().write(true).open(&cut).unwrap();
        for len in (0..bytes.len()).rev() {
            file.set_len(len as u64).unwrap();
            let fault = open(&cut)
                .err()
                .unwrap_or_else(|| panic!("length {len} accepted"));
            assert!(
                matches!(fault, IndexFault::Magic | IndexFault::Truncated { .. }),
                "length {len}: {fault}"
            );
        }
    }

    #[test]
    fn every_flipped_byte_is_refused() {
        use std::os::unix::fs::FileExt;
        let dir = tempfile::tempdir().unwrap();
        let (_, path) = compiled(dir.path());
        let bytes = fs::read(&path).unwrap();
        let bad = dir.path().join("bad.vidx");
        fs::write(&bad, &bytes).unwrap();
        let file = fs::OpenOptions::new().write(true).open(&bad).unwrap();
        for (i, byte) in bytes.iter().enumerate() {
            file.write_all_at(&[byte ^ (1 << (i % 8))], i as u64)
                .unwrap();
            assert!(open(&bad).is_err(), "flip at byte {i} accepted");
            file.write_all_at(&[*byte], i as u64).unwrap();
        }
        assert!(open(&bad).is_ok());
        // And through the loader, with a clear message.
        let mut b = bytes.clone();
        let last = b.len() - 1;
        b[last] ^= 0xff;
        fs::write(&bad, &b).unwrap();
        let err = load_databases(&[bad]).err().unwrap();
        assert!(matches!(
            err.0[0].fault,
            SigFault::Index(IndexFault::BodyChecksum)
        ));
        assert!(err.to_string().contains("corrupt index"), "{err}");
    }

    #[test]
    fn other_versions_and_files_are_named_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let (_, path) = compiled(dir.path());
        let mut bytes = fs::read(&path).unwrap();
        // An index of the version before (whole names) is refused, with
        // the way out.
        bytes[VERSION_AT] = 1;
        reseal(&mut bytes);
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(open(&path), Err(IndexFault::Version(1))));
        let err = load_databases(std::slice::from_ref(&path)).err().unwrap();
        let text = err.to_string();
        assert!(text.contains("version 1 is not supported"), "{text}");
        assert!(text.contains("vigil sigs compile"), "{text}");
        let other = dir.path().join("x.vidx");
        fs::write(&other, b"#not an index at all, just text\n").unwrap();
        assert!(matches!(open(&other), Err(IndexFault::Magic)));
    }

    #[test]
    fn a_forged_index_with_valid_checksums_cannot_cause_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let (text, path) = compiled(dir.path());
        let mut bytes = fs::read(&path).unwrap();
        // Point the md5 record's name at a name that does not exist.
        let md5_sized = u64::from_le_bytes(bytes[SECTIONS_AT..SECTIONS_AT + 8].try_into().unwrap());
        let tag_at = md5_sized as usize + 16 + 8;
        bytes[tag_at..tag_at + 4].copy_from_slice(&1000u32.to_le_bytes());
        reseal(&mut bytes);
        fs::write(&path, &bytes).unwrap();
        let set = open(&path).unwrap();
        let mut h = MultiHasher::new(AlgoSet::all());
        h.update(EICAR);
        let d = h.finish();
        assert!(matches!(set.lookup(&d, 68), Lookup::Detected(m) if m.name == "?"));
        assert!(!set.verify().is_empty());
        assert!(text.verify().is_empty());
        // A section that claims to reach past the end is refused before use.
        let mut bytes = fs::read(&path).unwrap();
        bytes[SECTIONS_AT + 8..SECTIONS_AT + 16].copy_from_slice(&u64::MAX.to_le_bytes());
        reseal(&mut bytes);
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(open(&path), Err(IndexFault::Layout(_))));
    }

    #[test]
    fn writing_replaces_the_file_by_rename() {
        let dir = tempfile::tempdir().unwrap();
        let (set, path) = compiled(dir.path());
        let old = open(&path).unwrap();
        write_index(&set, &path).unwrap();
        // The old mapping still reads the old (unlinked) file.
        assert!(old.verify().is_empty());
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 3, "no temporary file is left: {names:?}");
    }
}
