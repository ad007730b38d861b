//! Single compressed streams: gzip, bzip2, xz, zstd and SZDD (the LZSS of
//! Microsoft's `COMPRESS.EXE`). Each has one member, decoded as it is read;
//! the decoders' own windows are their only memory (xz and zstd are given a
//! ceiling, see `XZ_MEMLIMIT` and `ZSTD_WINDOW_LOG_MAX`).

use std::io::{self, BufReader, Read};

use super::{Format, Input, Level, Unpacker};

/// The most memory the xz decoder may use for one stream.
const XZ_MEMLIMIT: u64 = 128 << 20;
/// The largest zstd window accepted (2^26 = 64 MiB).
const ZSTD_WINDOW_LOG_MAX: u32 = 26;

/// Reads one compressed stream and passes its content on as one member.
pub(super) fn single(
    u: &mut Unpacker<'_>,
    format: Format,
    input: Input<'_>,
    level: &Level,
) -> io::Result<()> {
    let mut raw = input.into_read();
    let raw = BufReader::with_capacity(64 * 1024, &mut raw);
    match format {
        Format::Gzip => {
            let mut d = flate2::bufread::MultiGzDecoder::new(raw);
            let name = d
                .header()
                .and_then(|h| h.filename())
                .map(<[u8]>::to_vec)
                .unwrap_or_default();
            u.member(level, &name, None, &mut d)?;
        }
        Format::Bzip2 => {
            let mut d = bzip2::bufread::MultiBzDecoder::new(raw);
            u.member(level, b"", None, &mut d)?;
        }
        Format::Xz => {
            let stream = liblzma::stream::Stream::new_stream_decoder(
                XZ_MEMLIMIT,
                liblzma::stream::CONCATENATED,
            )
            .map_err(io::Error::other)?;
            let mut d = liblzma::bufread::XzDecoder::new_stream(raw, stream);
            u.member(level, b"", None, &mut d)?;
        }
        Format::Zstd => {
            let mut d = zstd::stream::read::Decoder::with_buffer(raw)?;
            d.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
            u.member(level, b"", None, &mut d)?;
        }
        Format::Szdd => {
            let mut d = Szdd::new(raw)?;
            let size = d.declared;
            u.member(level, b"", Some(size), &mut d)?;
        }
        _ => {}
    }
    Ok(())
}

/// An SZDD stream: a 14-byte header, then LZSS with a 4 KiB window that
/// starts filled with spaces.
struct Szdd<R> {
    inner: R,
    /// The unpacked size the header gives.
    declared: u64,
    window: Box<[u8; 4096]>,
    pos: usize,
    /// Bytes decoded and not yet handed out.
    pending: Vec<u8>,
    control: u8,
    bits: u8,
    ended: bool,
}

impl<R: Read> Szdd<R> {
    fn new(mut inner: R) -> io::Result<Self> {
        let mut header = [0u8; 14];
        inner.read_exact(&mut header)?;
        if header[8] != b'A' {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "SZDD: unknown mode",
            ));
        }
        let declared = u64::from(u32::from_le_bytes([
            header[10], header[11], header[12], header[13],
        ]));
        Ok(Szdd {
            inner,
            declared,
            window: Box::new([b' '; 4096]),
            pos: 4096 - 16,
            pending: Vec::with_capacity(64),
            control: 0,
            bits: 0,
            ended: false,
        })
    }

    fn byte(&mut self) -> io::Result<Option<u8>> {
        let mut b = [0u8; 1];
        loop {
            return match self.inner.read(&mut b) {
                Ok(0) => Ok(None),
                Ok(_) => Ok(Some(b[0])),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => Err(e),
            };
        }
    }

    fn put(&mut self, b: u8) {
        self.window[self.pos] = b;
        self.pos = (self.pos + 1) & 4095;
        self.pending.push(b);
    }

    /// Decodes one control byte's worth (up to 8 items).
    fn step(&mut self) -> io::Result<()> {
        if self.bits == 0 {
            match self.byte()? {
                Some(c) => {
                    self.control = c;
                    self.bits = 8;
                }
                None => {
                    self.ended = true;
                    return Ok(());
                }
            }
        }
        while self.bits > 0 {
            let literal = self.control & 1 == 1;
            self.control >>= 1;
            self.bits -= 1;
            if literal {
                let Some(b) = self.byte()? else {
                    self.ended = true;
                    return Ok(());
                };
                self.put(b);
            } else {
                let (Some(lo), Some(hi)) = (self.byte()?, self.byte()?) else {
                    self.ended = true;
                    return Ok(());
                };
                let mut from = usize::from(lo) | (usize::from(hi & 0xf0) << 4);
                for _ in 0..(usize::from(hi & 0x0f) + 3) {
                    let b = self.window[from];
                    self.put(b);
                    from = (from + 1) & 4095;
                }
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for Szdd<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pending.is_empty() && !self.ended {
            self.step()?;
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}
