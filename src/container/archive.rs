//! Archives read by random access: zip (with the `zip` crate: stored,
//! deflate, deflate64, bzip2, zstd; also a zip after a program, as
//! self-extracting archives are), 7z (`sevenz-rust2`) and Microsoft cabinet
//! (`cab`). From a stream, a zip is read by its local headers; a 7z or a
//! cabinet is first held in memory within the per-item bound.
//!
//! A zip member compressed with LZMA is decoded here (`zip_lzma`, with
//! liblzma): the `zip` crate reads its data as an `.lzma` file, which it is
//! not, and so reads none of them.

use std::io::{self, BufRead, Cursor, Read, SeekFrom};

use super::{Flow, Input, Level, ReadSeek, Unpacker};

/// The end-of-central-directory record's signature and its largest
/// distance from the end (a 22-byte record and a 65535-byte comment).
const EOCD_SIG: &[u8; 4] = b"PK\x05\x06";
const EOCD_SPAN: u64 = 22 + 65535;

pub(super) fn zip(u: &mut Unpacker<'_>, input: Input<'_>, level: &Level) -> io::Result<()> {
    match input {
        Input::Seek(r, len) => {
            // The central directory is read into memory whole: past the
            // member limit, walk the local headers instead.
            let entries = eocd_entries(r, len)?;
            if entries.is_some_and(|n| n > u.max_files()) || entries.is_none() {
                r.rewind()?;
                return zip_stream(u, r, level);
            }
            r.rewind()?;
            let mut archive = match zip::ZipArchive::new(&mut *r) {
                Ok(a) => a,
                Err(_) => {
                    r.rewind()?;
                    return zip_stream(u, r, level);
                }
            };
            for i in 0..archive.len() {
                if u.done() {
                    break;
                }
                let lzma = archive.by_index_raw(i).is_ok_and(|f| {
                    f.compression() == zip::CompressionMethod::Lzma && !f.encrypted()
                });
                if lzma {
                    let mut raw = match archive.by_index_raw(i) {
                        Ok(f) => f,
                        Err(zip::result::ZipError::Io(e)) => return Err(e),
                        Err(_) => {
                            u.damaged();
                            continue;
                        }
                    };
                    if !raw.is_file() {
                        continue;
                    }
                    let name = raw.name_raw().to_vec();
                    let size = raw.size();
                    if lzma_member(u, level, &name, size, &mut raw)? == Flow::Stop {
                        break;
                    }
                    continue;
                }
                let mut file = match archive.by_index(i) {
                    Ok(f) => f,
                    // Encrypted, or a method not supported: the next one.
                    Err(zip::result::ZipError::Io(e)) => return Err(e),
                    Err(_) => {
                        u.damaged();
                        continue;
                    }
                };
                if !file.is_file() {
                    continue;
                }
                let name = file.name_raw().to_vec();
                let size = file.size();
                if u.member(level, &name, Some(size), &mut file)? == Flow::Stop {
                    break;
                }
            }
            Ok(())
        }
        Input::Stream(r) => zip_stream(u, r, level),
    }
}

/// Reads a zip front to back by its local headers.
fn zip_stream(u: &mut Unpacker<'_>, r: &mut dyn Read, level: &Level) -> io::Result<()> {
    let mut r = io::BufReader::with_capacity(64 * 1024, r);
    loop {
        // An LZMA member whose sizes are in its local header is read here;
        // any other header goes to the `zip` crate as it came.
        let mut head = [0u8; LOCAL_HEADER_LEN];
        let got = read_up_to(&mut r, &mut head)?;
        if let Some(local) = LzmaLocal::parse(&head[..got]) {
            let mut name = vec![0u8; local.name_len];
            r.read_exact(&mut name)?;
            io::copy(&mut (&mut r).take(local.extra_len), &mut io::sink())?;
            let mut raw = (&mut r).take(local.compressed);
            let flow = if name.ends_with(b"/") {
                Flow::Continue
            } else {
                lzma_member(u, level, &name, local.size, &mut raw)?
            };
            if flow == Flow::Stop {
                return Ok(());
            }
            io::copy(&mut raw, &mut io::sink())?;
            continue;
        }
        let mut chained = (&head[..got]).chain(&mut r);
        let mut file = match zip::read::read_zipfile_from_stream(&mut chained) {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(()),
            Err(zip::result::ZipError::Io(e)) => return Err(e),
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        };
        if !file.is_file() {
            continue;
        }
        let name = file.name_raw().to_vec();
        let size = file.size();
        if u.member(level, &name, Some(size), &mut file)? == Flow::Stop {
            return Ok(());
        }
    }
}

/// Bytes in a zip local header before the name.
const LOCAL_HEADER_LEN: usize = 30;

/// A local header of an LZMA member whose sizes it gives (no data
/// descriptor, not zip64, not encrypted).
struct LzmaLocal {
    compressed: u64,
    size: u64,
    name_len: usize,
    extra_len: u64,
}

impl LzmaLocal {
    fn parse(head: &[u8]) -> Option<LzmaLocal> {
        if head.len() < LOCAL_HEADER_LEN || &head[..4] != b"PK\x03\x04" {
            return None;
        }
        let u16_at = |i: usize| u16::from_le_bytes([head[i], head[i + 1]]);
        let u32_at =
            |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let flags = u16_at(6);
        let (compressed, size) = (u32_at(18), u32_at(22));
        let described = flags & 0x0001 == 0 && flags & 0x0008 == 0;
        let small = compressed != u32::MAX && size != u32::MAX;
        (u16_at(8) == 14 && described && small).then(|| LzmaLocal {
            compressed: u64::from(compressed),
            size: u64::from(size),
            name_len: usize::from(u16_at(26)),
            extra_len: u64::from(u16_at(28)),
        })
    }
}

/// Reads into `buf` until it is full or the input ends: how many bytes.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// One zip member compressed with LZMA (method 14), from its raw data: a
/// version (2 bytes), the size of the properties (2 bytes, 5), the LZMA
/// properties (lc/lp/pb, dictionary size), then raw LZMA data that ends with
/// an end marker (as Python's `zipfile` writes it) or at the member's size.
fn lzma_member(
    u: &mut Unpacker<'_>,
    level: &Level,
    name: &[u8],
    size: u64,
    raw: &mut dyn Read,
) -> io::Result<Flow> {
    let mut head = [0u8; 9];
    let decoder = match raw.read_exact(&mut head) {
        Ok(()) => lzma_decoder(u, &head),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Err(invalid("zip: LZMA header cut short"))
        }
        Err(e) => return Err(e),
    };
    let stream = match decoder {
        Ok(Some(stream)) => stream,
        Ok(None) => return Ok(Flow::Continue),
        Err(_) => {
            u.damaged();
            return Ok(Flow::Continue);
        }
    };
    let raw: Box<dyn BufRead + '_> = Box::new(io::BufReader::new(raw));
    // Without an end marker the data ends at the member's size.
    let mut data = liblzma::bufread::XzDecoder::new_stream(raw, stream).take(size);
    u.member(level, name, Some(size), &mut data)
}

/// A raw LZMA decoder for the properties in a zip LZMA header; `None` if
/// its dictionary is over the memory limit (counted as a limit hit).
fn lzma_decoder(u: &Unpacker<'_>, head: &[u8; 9]) -> io::Result<Option<liblzma::stream::Stream>> {
    if u16::from_le_bytes([head[2], head[3]]) != 5 {
        return Err(invalid("zip: LZMA properties are not 5 bytes"));
    }
    let props = u32::from(head[4]);
    if props >= 9 * 5 * 5 {
        return Err(invalid("zip: bad LZMA properties"));
    }
    let dict = u32::from_le_bytes([head[5], head[6], head[7], head[8]]);
    if u64::from(dict) > u.item_memory() {
        u.over_memory("zip: LZMA dictionary larger than the memory limit");
        return Ok(None);
    }
    let mut opts = liblzma::stream::LzmaOptions::new_preset(6).map_err(io::Error::from)?;
    opts.dict_size(dict.max(4096))
        .literal_context_bits(props % 9)
        .literal_position_bits(props / 9 % 5)
        .position_bits(props / 45);
    let mut filters = liblzma::stream::Filters::new();
    filters.lzma1(&opts);
    let stream = liblzma::stream::Stream::new_raw_decoder(&filters).map_err(io::Error::from)?;
    Ok(Some(stream))
}

/// The entry count the end-of-central-directory record gives, if there is
/// one (`None`: none found, or a zip64 count).
fn eocd_entries(r: &mut dyn ReadSeek, len: u64) -> io::Result<Option<u64>> {
    let span = len.min(EOCD_SPAN);
    r.seek(SeekFrom::Start(len - span))?;
    let mut tail = vec![0u8; span as usize];
    r.read_exact(&mut tail)?;
    let Some(at) = memchr::memmem::rfind(&tail, EOCD_SIG) else {
        return Ok(None);
    };
    let Some(rec) = tail.get(at..at + 22) else {
        return Ok(None);
    };
    let count = u16::from_le_bytes([rec[10], rec[11]]);
    Ok((count != 0xffff).then_some(u64::from(count)))
}

/// The largest LZMA dictionary a 7z may ask for.
fn dict_cap(u: &Unpacker<'_>) -> u64 {
    u.item_memory()
}

pub(super) fn sevenz(u: &mut Unpacker<'_>, input: Input<'_>, level: &Level) -> io::Result<()> {
    match input {
        Input::Seek(r, len) => sevenz_seek(u, r, len, level),
        Input::Stream(r) => {
            let Some(held) = u.whole(Input::Stream(r))? else {
                return Ok(());
            };
            let len = held.len() as u64;
            sevenz_seek(u, &mut Cursor::new(&held[..]), len, level)
        }
    }
}

fn sevenz_seek(
    u: &mut Unpacker<'_>,
    r: &mut dyn ReadSeek,
    len: u64,
    level: &Level,
) -> io::Result<()> {
    // The header is read into memory and may itself be compressed: check
    // its size and its dictionary before the crate allocates either.
    r.rewind()?;
    let mut start = [0u8; 32];
    r.read_exact(&mut start)?;
    let offset = u64::from_le_bytes(start[12..20].try_into().unwrap_or_default());
    let size = u64::from_le_bytes(start[20..28].try_into().unwrap_or_default());
    let fits = 32u64
        .checked_add(offset)
        .and_then(|o| o.checked_add(size))
        .is_some_and(|end| end <= len);
    if !fits {
        return Err(invalid("7z: header out of bounds"));
    }
    if size > u.item_memory() {
        u.over_memory("7z: header larger than the memory limit");
        return Ok(());
    }
    r.seek(SeekFrom::Start(32 + offset))?;
    let mut header = vec![0u8; size as usize];
    r.read_exact(&mut header)?;
    if header.first() == Some(&0x17) && too_big_dict(&header, dict_cap(u)) {
        u.over_memory("7z: dictionary larger than the memory limit");
        return Ok(());
    }
    drop(header);
    r.rewind()?;
    let mut reader = sevenz_rust2::SevenZReader::new(&mut *r, len, sevenz_rust2::Password::empty())
        .map_err(seven_err)?;
    let cap = dict_cap(u);
    for folder in &reader.archive().folders {
        for coder in &folder.coders {
            if coder_dict(coder.decompression_method_id(), &coder.properties)
                .is_some_and(|d| d > cap)
            {
                u.over_memory("7z: dictionary larger than the memory limit");
                return Ok(());
            }
        }
    }
    let mut fault = None;
    let walked = reader.for_each_entries(|entry, content| {
        if entry.is_directory() || !entry.has_stream() {
            return Ok(true);
        }
        let name = entry.name().as_bytes().to_vec();
        match u.member(level, &name, Some(entry.size()), content) {
            Ok(flow) => Ok(flow == Flow::Continue),
            Err(e) => {
                fault = Some(e);
                Ok(false)
            }
        }
    });
    if let Some(e) = fault {
        return Err(e);
    }
    walked.map_err(seven_err)
}

/// The dictionary an LZMA or LZMA2 coder asks for.
fn coder_dict(id: &[u8], props: &[u8]) -> Option<u64> {
    match id {
        [0x03, 0x01, 0x01] if props.len() >= 5 => Some(u64::from(u32::from_le_bytes([
            props[1], props[2], props[3], props[4],
        ]))),
        [0x21] if !props.is_empty() => {
            let bits = u64::from(props[0] & 0x3f);
            Some(if bits >= 40 {
                u64::from(u32::MAX)
            } else {
                (2 | (bits & 1)) << (bits / 2 + 11)
            })
        }
        _ => None,
    }
}

/// Looks through an encoded 7z header for an LZMA or LZMA2 coder record
/// asking for more than `cap`: the coder list of the folder that holds
/// the real header is stored plain.
fn too_big_dict(header: &[u8], cap: u64) -> bool {
    let lzma = [0x23, 0x03, 0x01, 0x01, 0x05];
    let lzma2 = [0x21, 0x21, 0x01];
    header.windows(lzma.len()).enumerate().any(|(i, w)| {
        w == lzma
            && coder_dict(&[3, 1, 1], header.get(i + 5..i + 10).unwrap_or(&[]))
                .is_some_and(|d| d > cap)
    }) || header.windows(lzma2.len()).enumerate().any(|(i, w)| {
        w == lzma2
            && coder_dict(&[0x21], header.get(i + 3..i + 4).unwrap_or(&[])).is_some_and(|d| d > cap)
    })
}

fn seven_err(e: sevenz_rust2::Error) -> io::Error {
    match e {
        sevenz_rust2::Error::Io(e, _) => e,
        other => io::Error::new(io::ErrorKind::InvalidData, other.to_string()),
    }
}

fn invalid(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

pub(super) fn cab(u: &mut Unpacker<'_>, input: Input<'_>, level: &Level) -> io::Result<()> {
    match input {
        Input::Seek(r, _) => cab_seek(u, r, level),
        Input::Stream(r) => {
            let Some(held) = u.whole(Input::Stream(r))? else {
                return Ok(());
            };
            cab_seek(u, &mut Cursor::new(&held[..]), level)
        }
    }
}

fn cab_seek(u: &mut Unpacker<'_>, r: &mut dyn ReadSeek, level: &Level) -> io::Result<()> {
    r.rewind()?;
    let mut cabinet = cab::Cabinet::new(r)?;
    let files: Vec<(String, u64)> = cabinet
        .folder_entries()
        .flat_map(|folder| folder.file_entries())
        .take(u.max_files().saturating_add(1) as usize)
        .map(|f| (f.name().to_string(), u64::from(f.uncompressed_size())))
        .collect();
    for (name, size) in files {
        let mut content = match cabinet.read_file(&name) {
            Ok(c) => c,
            Err(_) => {
                u.damaged();
                continue;
            }
        };
        if u.member(level, name.as_bytes(), Some(size), &mut content)? == Flow::Stop {
            break;
        }
    }
    Ok(())
}
