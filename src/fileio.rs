//! Opening and reading the files being scanned, safely. Only regular files are
//! read: the open uses `O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC` (so neither a
//! symlink nor a FIFO swapped in after the walk can redirect or block it) and
//! the handle is re-checked with `fstat`. Reads go through the caller's reused
//! buffer and must deliver exactly the size `fstat` reported.
//!
//! It also maps compiled signature indexes into memory (`map_file`): the
//! crate's only `unsafe` code.

use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use crate::hash::MultiHasher;

/// Size of each worker's read buffer.
pub const READ_BUF_SIZE: usize = 256 * 1024;

/// What kind of file a directory entry or handle is, for skip reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Regular,
    Directory,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Unknown,
}

impl FileKind {
    pub fn of(ft: std::fs::FileType) -> Self {
        if ft.is_file() {
            Self::Regular
        } else if ft.is_dir() {
            Self::Directory
        } else if ft.is_symlink() {
            Self::Symlink
        } else if ft.is_fifo() {
            Self::Fifo
        } else if ft.is_socket() {
            Self::Socket
        } else if ft.is_char_device() {
            Self::CharDevice
        } else if ft.is_block_device() {
            Self::BlockDevice
        } else {
            Self::Unknown
        }
    }

    /// The kind of a file type as `fstat` reports it through rustix.
    pub fn of_raw(ft: rustix::fs::FileType) -> Self {
        use rustix::fs::FileType;
        match ft {
            FileType::RegularFile => Self::Regular,
            FileType::Directory => Self::Directory,
            FileType::Symlink => Self::Symlink,
            FileType::Fifo => Self::Fifo,
            FileType::Socket => Self::Socket,
            FileType::CharacterDevice => Self::CharDevice,
            FileType::BlockDevice => Self::BlockDevice,
            _ => Self::Unknown,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::Regular => "regular file",
            Self::Directory => "directory",
            Self::Symlink => "symbolic link",
            Self::Fifo => "FIFO",
            Self::Socket => "socket",
            Self::CharDevice => "character device",
            Self::BlockDevice => "block device",
            Self::Unknown => "file of unknown type",
        }
    }
}

/// Why a file could not be opened for scanning.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{}", crate::error::io_reason(.0))]
    Io(#[from] io::Error),
    /// The path no longer names a regular file (it was swapped after the walk).
    #[error("not a regular file ({})", .0.describe())]
    NotRegular(FileKind),
}

/// Why reading an open file failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{}", crate::error::io_reason(.0))]
    Io(#[from] io::Error),
    #[error("file changed size while being read (expected {expected} bytes, read {read})")]
    SizeChanged { expected: u64, read: u64 },
}

/// Opens `path` for reading if, and only if, it is a regular file. With
/// `follow` false a symlink in the last component is refused (`ELOOP`).
pub fn open_regular(path: &Path, follow: bool) -> Result<(File, Metadata), OpenError> {
    let mut flags = libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY;
    if !follow {
        flags |= libc::O_NOFOLLOW;
    }
    let file = match OpenOptions::new().read(true).custom_flags(flags).open(path) {
        Ok(f) => f,
        Err(e) if !follow && e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(OpenError::NotRegular(FileKind::Symlink))
        }
        Err(e) => return Err(OpenError::Io(e)),
    };
    let meta = file.metadata()?;
    let kind = FileKind::of(meta.file_type());
    if kind != FileKind::Regular {
        return Err(OpenError::NotRegular(kind));
    }
    Ok((file, meta))
}

/// Opens `path` for one small read of its first bytes, with the flags of
/// `open_regular` but no `fstat`: what the walk saw stands until the bytes
/// say the file is worth more (a directory or FIFO swapped in fails the
/// read, or reads nothing).
pub fn open_quick(path: &Path, follow: bool) -> io::Result<File> {
    let mut flags = libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY;
    if !follow {
        flags |= libc::O_NOFOLLOW;
    }
    OpenOptions::new().read(true).custom_flags(flags).open(path)
}

/// Whether a file's first page is in the page cache, so that reading it
/// would not wait on the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Residency {
    Resident,
    /// Reading it would wait on the disk (or on a read already under way).
    NotResident,
    /// The file system cannot say (it refuses non-blocking reads).
    Unknown,
}

/// `statfs` magics of file systems whose files live in memory.
const IN_MEMORY: &[u64] = &[0x0102_1994 /* tmpfs */, 0x8584_58f6 /* ramfs */];

/// Whether `file`'s first page is in memory: a one-byte read that may not
/// wait (`preadv2(RWF_NOWAIT)`), into a buffer of its own. A file system
/// that refuses such reads is `Unknown`, unless it keeps its files in
/// memory (tmpfs, ramfs). The kernel may start reading a page that is not
/// there, which is what a scan about to read it wants anyway.
pub fn residency(file: &File) -> Residency {
    use rustix::io::{Errno, ReadWriteFlags};
    let mut byte = [0u8; 1];
    loop {
        let bufs = &mut [io::IoSliceMut::new(&mut byte)];
        return match rustix::io::preadv2(file, bufs, 0, ReadWriteFlags::NOWAIT) {
            Ok(_) => Residency::Resident,
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => Residency::NotResident,
            Err(_) => match rustix::fs::fstatfs(file) {
                Ok(fs) if IN_MEMORY.contains(&(fs.f_type as u64)) => Residency::Resident,
                _ => Residency::Unknown,
            },
        };
    }
}

/// Reads the first bytes of `file` (up to `head.len()`) with one `pread`.
pub fn read_head(file: &File, head: &mut [u8]) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    loop {
        match file.read_at(head, 0) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// The zip end-of-central-directory record with no comment: 22 bytes.
const ZIP_END_LEN: u64 = 22;

/// True if the last bytes of a file of `size` are a zip's end record (an
/// archive appended to a program): one `pread` of 22 bytes.
pub fn has_zip_end(file: &File, size: u64) -> bool {
    use std::os::unix::fs::FileExt;
    let mut tail = [0u8; ZIP_END_LEN as usize];
    size >= ZIP_END_LEN
        && file.read_exact_at(&mut tail, size - ZIP_END_LEN).is_ok()
        && tail.starts_with(b"PK\x05\x06")
}

/// `has_zip_end` for any seekable handle.
pub fn has_zip_end_in(file: &mut (impl Read + std::io::Seek), size: u64) -> bool {
    let mut tail = [0u8; ZIP_END_LEN as usize];
    size >= ZIP_END_LEN
        && file
            .seek(std::io::SeekFrom::Start(size - ZIP_END_LEN))
            .is_ok()
        && file.read_exact(&mut tail).is_ok()
        && tail.starts_with(b"PK\x05\x06")
}

/// What `fstat` said about a file that was hashed: enough to tell later
/// whether a path still names that very file, unchanged (the quarantine checks
/// it before moving). `ctime` is left out on purpose: moving one hard link of
/// a file changes it for every other link.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    /// Modification time: seconds since the epoch, and nanoseconds.
    pub mtime_sec: i64,
    pub mtime_nsec: u32,
}

impl Identity {
    pub fn of(meta: &Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime_sec: meta.mtime(),
            mtime_nsec: u32::try_from(meta.mtime_nsec()).unwrap_or(0),
        }
    }
}

/// Feeds the whole of `file`, which `fstat` said is `expected` bytes long,
/// to `hasher`, through `buf`. Returns the bytes read.
///
/// Each read asks for one byte more than should remain, so a short read
/// proves the end of the file without a separate read that returns 0: for
/// small files this is one `read` call. A file that grew or shrank since the
/// `fstat` is an error, never a digest of a partial file.
pub fn hash_file(
    file: &mut impl Read,
    expected: u64,
    buf: &mut [u8],
    hasher: &mut MultiHasher,
) -> Result<u64, ReadError> {
    let mut total: u64 = 0;
    loop {
        let remaining = expected.saturating_sub(total);
        let want = usize::try_from(remaining + 1).map_or(buf.len(), |r| r.min(buf.len()));
        let n = match file.read(&mut buf[..want]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::Io(e)),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
        if total > expected {
            return Err(ReadError::SizeChanged {
                expected,
                read: total,
            });
        }
        if n < want {
            break;
        }
    }
    if total != expected {
        return Err(ReadError::SizeChanged {
            expected,
            read: total,
        });
    }
    Ok(total)
}

/// Feeds a stream to `hasher` until end of input, or until it passes `limit`
/// bytes (a file that keeps growing is not read forever).
pub fn hash_stream(
    reader: &mut impl Read,
    buf: &mut [u8],
    hasher: &mut MultiHasher,
    limit: Option<u64>,
) -> Result<u64, ReadError> {
    let mut total: u64 = 0;
    loop {
        let n = match reader.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::Io(e)),
        };
        hasher.update(&buf[..n]);
        total += n as u64;
        if let Some(expected) = limit {
            if total > expected {
                return Err(ReadError::SizeChanged {
                    expected,
                    read: total,
                });
            }
        }
    }
}

/// A whole file mapped read-only into memory.
pub struct Mapping {
    map: memmap2::Mmap,
}

impl std::ops::Deref for Mapping {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.map
    }
}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mapping({} bytes)", self.map.len())
    }
}

/// Maps the whole of `file` read-only and private (`MAP_PRIVATE`), with its
/// pages read in up front (`MAP_POPULATE`): the caller checksums every byte
/// next, and populated pages make that pass faster.
pub fn map_file(file: &File) -> io::Result<Mapping> {
    // SAFETY: memmap2 marks mapping `unsafe` because Rust hands out `&[u8]`
    // into memory that another process could change or cut short:
    // - if the file is truncated while mapped, touching a page past its new
    //   end raises SIGBUS and kills the process;
    // - if it is rewritten in place, the bytes behind the slice change under
    //   us (`MAP_PRIVATE` copies pages only when *we* write, which we never
    //   do, so it does not shield us from other writers).
    // vigil only maps its compiled indexes, and its own writer
    // (`signature::write_index`) never rewrites one: it writes a new file and
    // `rename`s it over the old path, so a process holding the old mapping
    // keeps the old, unlinked inode, intact. docs/index-format.md states the same rule
    // for anyone who updates indexes by other means. Everything read from the
    // mapping is validated (checksums, bounds) before use, and all access is
    // through safe slices, so a *consistent* corrupt file is refused rather
    // than misread.
    let map = unsafe {
        memmap2::MmapOptions::new()
            .populate()
            .map_copy_read_only(file)?
    };
    Ok(Mapping { map })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::{hash_bytes, AlgoSet, Algorithm};
    use std::os::unix::fs::symlink;

    #[test]
    fn residency_tells_a_file_in_memory_from_one_on_disk() {
        // Beside the test binary, on the build's (disk) file system.
        let exe = std::env::current_exe().unwrap();
        let dir = tempfile::tempdir_in(exe.parent().unwrap()).unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, vec![1u8; 64 << 10]).unwrap();
        let file = File::open(&path).unwrap();
        assert_eq!(residency(&file), Residency::Resident, "just written");
        // Written back and dropped from the page cache.
        file.sync_all().unwrap();
        rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).unwrap();
        let f_type = rustix::fs::fstatfs(&file).unwrap().f_type as u64;
        let expected = match IN_MEMORY.contains(&f_type) {
            true => Residency::Resident,
            false => Residency::NotResident,
        };
        assert_eq!(residency(&file), expected, "dropped (fs {f_type:#x})");
        std::fs::write(dir.path().join("empty"), b"").unwrap();
        let empty = File::open(dir.path().join("empty")).unwrap();
        assert_eq!(residency(&empty), Residency::Resident, "nothing to read");
    }

    #[test]
    fn reads_regular_files_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data = vec![7u8; READ_BUF_SIZE * 2 + 3];
        std::fs::write(&path, &data).unwrap();
        let (mut file, meta) = open_regular(&path, false).unwrap();
        let mut buf = vec![0u8; READ_BUF_SIZE];
        let mut h = MultiHasher::new(AlgoSet::all());
        assert_eq!(
            hash_file(&mut file, meta.len(), &mut buf, &mut h).unwrap(),
            data.len() as u64
        );
        assert_eq!(
            h.finish().get(Algorithm::Sha1),
            Some(&hash_bytes(Algorithm::Sha1, &data))
        );
        // A size that does not match what is read is an error, not a digest.
        let (mut file, _) = open_regular(&path, false).unwrap();
        let err = hash_file(&mut file, 10, &mut buf, &mut h).unwrap_err();
        assert!(matches!(err, ReadError::SizeChanged { expected: 10, .. }));
    }

    #[test]
    fn refuses_fifos_symlinks_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        // Opening a FIFO without O_NONBLOCK would block here forever.
        assert!(matches!(
            open_regular(&fifo, false),
            Err(OpenError::NotRegular(FileKind::Fifo))
        ));
        let target = dir.path().join("target");
        std::fs::write(&target, b"x").unwrap();
        let link = dir.path().join("link");
        symlink(&target, &link).unwrap();
        assert!(matches!(
            open_regular(&link, false),
            Err(OpenError::NotRegular(FileKind::Symlink))
        ));
        assert!(open_regular(&link, true).is_ok());
        assert!(matches!(
            open_regular(dir.path(), false),
            Err(OpenError::NotRegular(FileKind::Directory))
        ));
    }
}
