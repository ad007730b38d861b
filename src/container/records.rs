//! Archives of records read in one pass, a header then the content: tar
//! (ustar, GNU and pax, through the `tar` crate) and cpio (newc, odc and the
//! old binary form in either byte order, parsed here: it is a few fixed
//! headers). Only regular files are members.

use std::io::{self, BufReader, Read};

use super::{Flow, Input, Level, Unpacker};

/// The longest member name read from a cpio header.
const CPIO_NAME_MAX: u64 = 4096;

pub(super) fn tar(u: &mut Unpacker<'_>, input: Input<'_>, level: &Level) -> io::Result<()> {
    let mut raw = input.into_read();
    let mut archive = tar::Archive::new(BufReader::with_capacity(64 * 1024, &mut raw));
    for entry in archive.entries()? {
        let mut entry = entry?;
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind == tar::EntryType::Continuous || kind.is_gnu_sparse()) {
            continue;
        }
        let name = entry.path_bytes().into_owned();
        let size = entry.header().size().ok();
        if u.member(level, &name, size, &mut entry)? == Flow::Stop {
            break;
        }
    }
    Ok(())
}

/// A cpio header's fields that matter here.
struct CpioHeader {
    mode: u64,
    name_len: u64,
    size: u64,
    /// Padding after the header and name, and after the content.
    align: u64,
}

pub(super) fn cpio(u: &mut Unpacker<'_>, input: Input<'_>, level: &Level) -> io::Result<()> {
    let mut raw = input.into_read();
    let mut r = Counted {
        inner: BufReader::with_capacity(64 * 1024, &mut raw),
        at: 0,
    };
    loop {
        let Some(h) = cpio_header(&mut r)? else {
            return Ok(());
        };
        if h.name_len == 0 || h.name_len > CPIO_NAME_MAX {
            return Err(invalid("cpio: bad name length"));
        }
        let mut name = vec![0u8; h.name_len as usize];
        r.read_exact(&mut name)?;
        if name.last() == Some(&0) {
            name.pop();
        }
        let gap = pad(r.at, h.align);
        skip(&mut r, gap)?;
        if name == b"TRAILER!!!" {
            return Ok(());
        }
        let regular = h.mode & 0o170000 == 0o100000;
        let mut content = (&mut r).take(h.size);
        if regular && h.size > 0 {
            let flow = u.member(level, &name, Some(h.size), &mut content)?;
            if flow == Flow::Stop {
                return Ok(());
            }
        } else if regular {
            u.member(level, &name, Some(0), &mut io::empty())?;
        }
        // Whatever the member did not read.
        io::copy(&mut content, &mut io::sink())?;
        if content.limit() > 0 {
            return Err(invalid("cpio: truncated"));
        }
        let gap = pad(r.at, h.align);
        skip(&mut r, gap)?;
    }
}

/// Reads one header, or `None` at a clean end of input.
fn cpio_header(r: &mut impl Read) -> io::Result<Option<CpioHeader>> {
    let mut magic = [0u8; 6];
    match r.read(&mut magic[..1])? {
        0 => return Ok(None),
        _ => r.read_exact(&mut magic[1..2])?,
    }
    if magic[..2] == [0xc7, 0x71] || magic[..2] == [0x71, 0xc7] {
        let little = magic[0] == 0xc7;
        let mut rest = [0u8; 24];
        r.read_exact(&mut rest)?;
        let half = |i: usize| {
            let b = [rest[i], rest[i + 1]];
            u64::from(if little {
                u16::from_le_bytes(b)
            } else {
                u16::from_be_bytes(b)
            })
        };
        // dev ino mode uid gid nlink rdev mtime[2] namesize filesize[2],
        // each a 16-bit word; the 32-bit ones most significant word first.
        return Ok(Some(CpioHeader {
            mode: half(4),
            name_len: half(18),
            size: (half(20) << 16) | half(22),
            align: 2,
        }));
    }
    r.read_exact(&mut magic[2..])?;
    match &magic {
        b"070701" | b"070702" => {
            let mut rest = [0u8; 104];
            r.read_exact(&mut rest)?;
            let field = |i: usize| number(&rest[i * 8..i * 8 + 8], 16);
            Ok(Some(CpioHeader {
                mode: field(1)?,
                size: field(6)?,
                name_len: field(11)?,
                align: 4,
            }))
        }
        b"070707" => {
            let mut rest = [0u8; 70];
            r.read_exact(&mut rest)?;
            Ok(Some(CpioHeader {
                mode: number(&rest[12..18], 8)?,
                name_len: number(&rest[53..59], 8)?,
                size: number(&rest[59..70], 8)?,
                align: 1,
            }))
        }
        _ => Err(invalid("cpio: bad header magic")),
    }
}

fn number(digits: &[u8], radix: u32) -> io::Result<u64> {
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| u64::from_str_radix(s, radix).ok())
        .ok_or_else(|| invalid("cpio: bad number in header"))
}

fn pad(at: u64, align: u64) -> u64 {
    (align - at % align) % align
}

fn skip(r: &mut impl Read, n: u64) -> io::Result<()> {
    let copied = io::copy(&mut r.take(n), &mut io::sink())?;
    if copied < n {
        return Err(invalid("cpio: truncated"));
    }
    Ok(())
}

fn invalid(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// A reader that knows its offset, for cpio's alignment.
struct Counted<R> {
    inner: R,
    at: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.at += n as u64;
        Ok(n)
    }
}
