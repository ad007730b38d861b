//! Escaping file names for line-oriented output.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::Path;

/// A path as one printable line: `\n`, `\r`, `\t` and `\\` are escaped with a
/// backslash, other control characters and bytes that are not UTF-8 as
/// `\xNN`. Valid non-ASCII text is kept. Borrowed when nothing needs escaping.
pub fn escape_path(path: &Path) -> Cow<'_, str> {
    let bytes = path.as_os_str().as_encoded_bytes();
    if let Ok(s) = std::str::from_utf8(bytes) {
        if !s.chars().any(needs_escape) {
            return Cow::Borrowed(s);
        }
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        let _ = write!(out, "\\x{b:02x}");
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c == '\\' || c.is_control()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    fn esc(bytes: &[u8]) -> String {
        escape_path(Path::new(OsStr::from_bytes(bytes))).into_owned()
    }

    #[test]
    fn plain_paths_are_borrowed() {
        assert!(matches!(escape_path(Path::new("/a/b é")), Cow::Borrowed(_)));
    }

    #[test]
    fn controls_backslashes_and_bad_bytes_are_escaped() {
        assert_eq!(esc(b"a\nb: EICAR FOUND"), "a\\nb: EICAR FOUND");
        assert_eq!(esc(b"back\\slash\ttab\r"), "back\\\\slash\\ttab\\r");
        assert_eq!(esc(b"bad\xff\xfe"), "bad\\xff\\xfe");
        assert_eq!(esc(b"esc\x1b[31m\x7f"), "esc\\x1b[31m\\x7f");
        assert_eq!(esc("c1\u{85}".as_bytes()), "c1\\xc2\\x85");
        assert_eq!(esc("ünï".as_bytes()), "ünï");
    }
}
