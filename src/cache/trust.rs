//! Which file systems the cache may be used on. The cache trusts that a
//! file's content does not change without its ctime changing, stamped by the
//! kernel that wrote it. On a network or user-space file system the times
//! come from another machine's clock or another program, and content can
//! change behind the local kernel's back (another client writes, the server
//! restores a snapshot): there, files are always read.

/// File systems whose times the cache does not trust, by `statfs` magic.
const UNTRUSTED: &[(u32, &str)] = &[
    (0x6969, "nfs"),
    (0xFF53_4D42, "cifs"),
    (0xFE53_4D42, "smb2"),
    (0x517B, "smb"),
    (0x6573_5546, "fuse"),
    (0x0102_1997, "9p"),
    (0x00C3_6400, "ceph"),
    (0x5346_414F, "afs"),
    (0x6B41_4653, "kafs"),
    (0x7375_7245, "coda"),
    (0x4750_4653, "gpfs"),
    (0x0BD0_0BD0, "lustre"),
    (0x5346_314D, "ocfs2"),
    (0x0116_1970, "gfs2"),
    (0x564C, "ncp"),
];

/// The name of the file system type of magic `f_type` if the cache does not
/// trust it, else `None`.
pub fn untrusted_kind(f_type: u64) -> Option<&'static str> {
    let magic = (f_type & 0xFFFF_FFFF) as u32;
    UNTRUSTED
        .iter()
        .find(|(m, _)| *m == magic)
        .map(|(_, name)| *name)
}

/// The `statfs` type magic of the file system holding `path`.
pub fn fs_type(path: &std::path::Path) -> std::io::Result<u64> {
    Ok(rustix::fs::statfs(path)?.f_type as u64)
}

/// The `fstatfs` type magic of the file system holding an open file.
pub fn fs_type_of(file: &std::fs::File) -> std::io::Result<u64> {
    Ok(rustix::fs::fstatfs(file)?.f_type as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_file_systems_are_not_trusted_and_local_ones_are() {
        assert_eq!(untrusted_kind(0x6969), Some("nfs"));
        assert_eq!(untrusted_kind(0x6573_5546), Some("fuse"));
        assert_eq!(untrusted_kind(0xFFFF_FFFF_FF53_4D42), Some("cifs"));
        assert_eq!(untrusted_kind(0xEF53), None, "ext4");
        assert_eq!(untrusted_kind(0x0102_1994), None, "tmpfs");
        assert!(fs_type(std::path::Path::new(env!("CARGO_MANIFEST_DIR"))).is_ok());
    }
}
