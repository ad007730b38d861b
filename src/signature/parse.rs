//! Line formats: vigil's native `.vsig`/`.vallow` and ClamAV's whole-file hash
//! databases (`.hdb`, `.hsb`, `.hdu`, `.hsu`, `.fp`, `.sfp`). A line parses to a
//! `SigLine` or to a `LineFault` saying exactly what is wrong with it.

use std::path::Path;

use crate::hash::{Algorithm, Digest, HexError};

/// The functionality level vigil claims when a ClamAV line carries MINFL/MAXFL
/// fields: that of ClamAV 1.4.6 (FLEVEL 216). Lines outside their window are skipped, as ClamAV does.
pub const ENGINE_FLEVEL: u32 = 216;

/// A signature database format, known by the file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `ALGO:HEX:SIZE:NAME`, detections.
    Vsig,
    /// `ALGO:HEX:SIZE:NAME`, allow-list.
    Vallow,
    /// ClamAV `HEX:SIZE:NAME[:MINFL[:MAXFL]]` (hdb/hsb/hdu/hsu), detections.
    ClamHash,
    /// ClamAV `HEX:SIZE:NAME[:MINFL[:MAXFL]]` (fp/sfp), allow-list.
    ClamAllow,
}

impl Format {
    /// The format of a database file, from its extension.
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "vsig" => Self::Vsig,
            "vallow" => Self::Vallow,
            "hdb" | "hsb" | "hdu" | "hsu" => Self::ClamHash,
            "fp" | "sfp" => Self::ClamAllow,
            _ => return None,
        })
    }

    pub fn is_allow(self) -> bool {
        matches!(self, Self::Vallow | Self::ClamAllow)
    }
}

/// One parsed signature line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigLine<'a> {
    pub digest: Digest,
    /// `None` for `*`: any size.
    pub size: Option<u64>,
    pub name: &'a str,
}

/// What a line holds once comments and blanks are set aside.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// A blank line or a `#` comment.
    Nothing,
    Signature(SigLine<'a>),
    /// A valid ClamAV line whose MINFL/MAXFL window excludes `ENGINE_FLEVEL`.
    OutsideFlevel,
}

/// Why a line is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineFault {
    #[error("expected {expected} fields separated by ':', found {found}")]
    FieldCount {
        expected: &'static str,
        found: usize,
    },
    #[error("unknown algorithm {0:?} (expected blake3, sha256, sha1 or md5)")]
    Algorithm(String),
    #[error("digest of {0} hex digits matches no algorithm (32 md5, 40 sha1, 64 sha256)")]
    ClamHexLength(usize),
    #[error("bad digest: {0}")]
    Digest(#[from] HexError),
    #[error("bad size {0:?} (expected decimal bytes or *)")]
    Size(String),
    #[error("empty signature name")]
    EmptyName,
    #[error("signature name contains a control character")]
    NameControl,
    #[error("bad functionality level {0:?} (expected a decimal number)")]
    Flevel(String),
    #[error("line is not valid UTF-8")]
    NotUtf8,
    #[error("line longer than {0} bytes")]
    TooLong(usize),
    #[error("a wildcard size (*) needs a minimum functionality level (MINFL) of at least 73, as in ClamAV")]
    WildcardWithoutFlevel,
}

/// Parses one line (without its `\n`; a trailing `\r` is accepted) of `format`.
pub fn parse_line(format: Format, raw: &[u8]) -> Result<Parsed<'_>, LineFault> {
    match parse_fast(format, raw) {
        Some(parsed) => Ok(parsed),
        None => parse_general(format, raw),
    }
}

/// The common case, fast: a line of printable ASCII without blanks, whose
/// fields are all well-formed, split with `memchr` and nothing allocated.
/// `None` hands the line to `parse_general`, which also explains any fault;
/// whatever this accepts, `parse_general` parses the same way (a property
/// test checks it).
fn parse_fast(format: Format, raw: &[u8]) -> Option<Parsed<'_>> {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    // No short circuit, so that the check vectorizes.
    let odd = raw
        .iter()
        .fold(false, |odd, &b| odd | (b <= b' ') | (b >= 0x7f));
    if odd || raw.first().map_or(true, |&b| b == b'#') {
        return None;
    }
    let line = std::str::from_utf8(raw).ok()?;
    let mut colons = memchr::memchr_iter(b':', raw);
    match format {
        Format::Vsig | Format::Vallow => {
            let (a, h, z) = (colons.next()?, colons.next()?, colons.next()?);
            let algo = Algorithm::from_name(&line[..a])?;
            let name = &line[z + 1..];
            if name.is_empty() {
                return None;
            }
            Some(Parsed::Signature(SigLine {
                digest: Digest::from_hex(algo, &line[a + 1..h]).ok()?,
                size: fast_size(&line[h + 1..z])?,
                name,
            }))
        }
        Format::ClamHash | Format::ClamAllow => {
            let mut fields = [""; 5];
            let mut count = 0;
            let mut start = 0;
            for end in colons.chain(std::iter::once(raw.len())) {
                *fields.get_mut(count)? = &line[start..end];
                count += 1;
                start = end + 1;
            }
            if count < 3 || fields[2].is_empty() {
                return None;
            }
            let hex = fields[0];
            let algo = Algorithm::from_clamav_hex_len(hex.len())?;
            let sig = SigLine {
                digest: Digest::from_hex(algo, hex).ok()?,
                size: fast_size(fields[1])?,
                name: fields[2],
            };
            let flevel = |f: &str| match f {
                "" => Some(None),
                _ if f.bytes().all(|b| b.is_ascii_digit()) => f.parse::<u32>().ok().map(Some),
                _ => None,
            };
            let (min, max) = (flevel(fields[3])?, flevel(fields[4])?);
            if sig.size.is_none() && !min.is_some_and(|m| m >= 73) {
                return None;
            }
            if min.is_some_and(|m| m > ENGINE_FLEVEL) || max.is_some_and(|m| m < ENGINE_FLEVEL) {
                return Some(Parsed::OutsideFlevel);
            }
            Some(Parsed::Signature(sig))
        }
    }
}

/// `*`, or decimal digits that fit in a u64.
fn fast_size(field: &str) -> Option<Option<u64>> {
    match field {
        "*" => Some(None),
        _ if !field.is_empty() && field.bytes().all(|b| b.is_ascii_digit()) => {
            field.parse::<u64>().ok().map(Some)
        }
        _ => None,
    }
}

/// Any line: blanks trimmed, every field checked, every fault named.
fn parse_general(format: Format, raw: &[u8]) -> Result<Parsed<'_>, LineFault> {
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    let line = std::str::from_utf8(raw).map_err(|_| LineFault::NotUtf8)?;
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(Parsed::Nothing);
    }
    match format {
        Format::Vsig | Format::Vallow => parse_native(trimmed).map(Parsed::Signature),
        Format::ClamHash | Format::ClamAllow => parse_clamav(trimmed),
    }
}

fn parse_native(line: &str) -> Result<SigLine<'_>, LineFault> {
    let mut fields = line.splitn(4, ':');
    let (Some(algo), Some(hex), Some(size), Some(name)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(LineFault::FieldCount {
            expected: "4 (ALGO:HEX:SIZE:NAME)",
            found: line.split(':').count(),
        });
    };
    let algo =
        Algorithm::from_name(algo.trim()).ok_or_else(|| LineFault::Algorithm(excerpt(algo)))?;
    Ok(SigLine {
        digest: Digest::from_hex(algo, hex.trim())?,
        size: parse_size(size)?,
        name: parse_name(name)?,
    })
}

fn parse_clamav(line: &str) -> Result<Parsed<'_>, LineFault> {
    // Up to five fields, without allocating: this runs once per line of feeds
    // with millions of lines.
    let mut fields = [""; 5];
    let mut count = 0;
    for field in line.split(':') {
        if let Some(slot) = fields.get_mut(count) {
            *slot = field;
        }
        count += 1;
    }
    if !(3..=5).contains(&count) {
        return Err(LineFault::FieldCount {
            expected: "3 to 5 (HEX:SIZE:NAME[:MINFL[:MAXFL]])",
            found: count,
        });
    }
    let fields = &fields[..count];
    let hex = fields[0].trim();
    let algo = Algorithm::from_clamav_hex_len(hex.len()).ok_or_else(|| {
        match hex.chars().find(|c| !c.is_ascii_hexdigit()) {
            Some(c) => LineFault::Digest(HexError::NotHex(c)),
            None => LineFault::ClamHexLength(hex.len()),
        }
    })?;
    let sig = SigLine {
        digest: Digest::from_hex(algo, hex)?,
        size: parse_size(fields[1])?,
        name: parse_name(fields[2])?,
    };
    let min = fields
        .get(3)
        .map(|f| parse_flevel(f))
        .transpose()?
        .flatten();
    let max = fields
        .get(4)
        .map(|f| parse_flevel(f))
        .transpose()?
        .flatten();
    if sig.size.is_none() && !min.is_some_and(|m| m >= 73) {
        return Err(LineFault::WildcardWithoutFlevel);
    }
    if min.is_some_and(|m| m > ENGINE_FLEVEL) || max.is_some_and(|m| m < ENGINE_FLEVEL) {
        return Ok(Parsed::OutsideFlevel);
    }
    Ok(Parsed::Signature(sig))
}

fn parse_size(field: &str) -> Result<Option<u64>, LineFault> {
    let field = field.trim();
    if field == "*" {
        return Ok(None);
    }
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LineFault::Size(excerpt(field)));
    }
    field
        .parse::<u64>()
        .map(Some)
        .map_err(|_| LineFault::Size(excerpt(field)))
}

/// The most of a bad field a fault quotes.
const EXCERPT_CHARS: usize = 32;

/// A bad field as a fault quotes it: whole if short, else its start, marked
/// as cut, with its length (a hostile line can be megabytes long).
fn excerpt(field: &str) -> String {
    match field.char_indices().nth(EXCERPT_CHARS) {
        None => field.to_string(),
        Some((cut, _)) => format!("{}... ({} bytes)", &field[..cut], field.len()),
    }
}

fn parse_name(field: &str) -> Result<&str, LineFault> {
    let name = field.trim();
    if name.is_empty() {
        return Err(LineFault::EmptyName);
    }
    let control = if name.is_ascii() {
        name.bytes().any(|b| b.is_ascii_control())
    } else {
        name.chars().any(char::is_control)
    };
    if control {
        return Err(LineFault::NameControl);
    }
    Ok(name)
}

/// An empty MINFL/MAXFL field means "no bound", as in ClamAV.
fn parse_flevel(field: &str) -> Result<Option<u32>, LineFault> {
    let field = field.trim();
    if field.is_empty() {
        return Ok(None);
    }
    field
        .parse::<u32>()
        .map(Some)
        .map_err(|_| LineFault::Flevel(excerpt(field)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(format: Format, line: &str) -> SigLine<'_> {
        match parse_line(format, line.as_bytes()).unwrap() {
            Parsed::Signature(s) => s,
            other => panic!("expected a signature, got {other:?}"),
        }
    }

    #[test]
    fn native_line_with_size_and_wildcard() {
        let s = sig(
            Format::Vsig,
            "md5:44D88612FEA8A8F36DE82E1278ABB02F:68:Eicar",
        );
        assert_eq!(s.digest.algorithm(), Algorithm::Md5);
        assert_eq!(s.size, Some(68));
        assert_eq!(s.name, "Eicar");
        let s = sig(Format::Vsig, "BLAKE3:460c1ec9a3e1b5536927aac78cee9c39782626d30f0ae0917ce95dda77068e09:*:Name:with:colons\r");
        assert_eq!(s.size, None);
        assert_eq!(s.name, "Name:with:colons");
    }

    #[test]
    fn clamav_lines_pick_algorithm_by_length() {
        let s = sig(
            Format::ClamHash,
            "3395856ce81f2b7382dee72602f798b642f14140:68:Eicar.Sha1",
        );
        assert_eq!(s.digest.algorithm(), Algorithm::Sha1);
        let s = sig(
            Format::ClamHash,
            "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f:*:Eicar:73",
        );
        assert_eq!(s.digest.algorithm(), Algorithm::Sha256);
        assert_eq!(s.size, None);
    }

    #[test]
    fn flevel_window_is_honoured() {
        let line = b"44d88612fea8a8f36de82e1278abb02f:68:Eicar:9999";
        assert_eq!(
            parse_line(Format::ClamHash, line),
            Ok(Parsed::OutsideFlevel)
        );
        let line = b"44d88612fea8a8f36de82e1278abb02f:68:Eicar:1:20";
        assert_eq!(
            parse_line(Format::ClamHash, line),
            Ok(Parsed::OutsideFlevel)
        );
        let line = b"44d88612fea8a8f36de82e1278abb02f:68:Eicar:73:";
        assert!(matches!(
            parse_line(Format::ClamHash, line),
            Ok(Parsed::Signature(_))
        ));
    }

    #[test]
    fn comments_blanks_and_faults() {
        assert_eq!(parse_line(Format::Vsig, b"  # hi"), Ok(Parsed::Nothing));
        assert_eq!(parse_line(Format::Vsig, b"\r"), Ok(Parsed::Nothing));
        let fault = |f, l: &str| parse_line(f, l.as_bytes()).unwrap_err();
        assert!(matches!(
            fault(Format::Vsig, "md5:abc"),
            LineFault::FieldCount { .. }
        ));
        assert!(matches!(
            fault(Format::Vsig, "crc32:00:1:x"),
            LineFault::Algorithm(_)
        ));
        assert!(matches!(
            fault(Format::Vsig, "md5:44d88612fea8a8f36de82e1278abb02f:-1:x"),
            LineFault::Size(_)
        ));
        assert!(matches!(
            fault(Format::Vsig, "md5:44d88612fea8a8f36de82e1278abb02f:1:"),
            LineFault::EmptyName
        ));
        assert!(matches!(
            fault(Format::ClamHash, "abcd:1:x"),
            LineFault::ClamHexLength(4)
        ));
        assert!(matches!(
            fault(Format::ClamHash, "zz:1:x"),
            LineFault::Digest(HexError::NotHex('z'))
        ));
        assert!(matches!(
            fault(
                Format::ClamHash,
                "44d88612fea8a8f36de82e1278abb02f:68:x:seven"
            ),
            LineFault::Flevel(_)
        ));
        assert_eq!(
            fault(Format::ClamHash, "44d88612fea8a8f36de82e1278abb02f:*:x"),
            LineFault::WildcardWithoutFlevel
        );
        assert_eq!(
            parse_line(Format::Vsig, b"md5:\xff:1:x"),
            Err(LineFault::NotUtf8)
        );
    }

    #[test]
    fn faults_quote_a_short_excerpt_of_a_long_field() {
        let huge = "9".repeat(4_000_000);
        for line in [
            format!("44d88612fea8a8f36de82e1278abb02f:{huge}:x"),
            format!("md5:44d88612fea8a8f36de82e1278abb02f:{huge}:x"),
            format!("{huge}x:00:1:x"),
            format!("44d88612fea8a8f36de82e1278abb02f:1:x:{huge}x"),
        ] {
            let format = if line.starts_with("md5:") || line.contains("x:00") {
                Format::Vsig
            } else {
                Format::ClamHash
            };
            let fault = parse_line(format, line.as_bytes()).unwrap_err();
            let text = fault.to_string();
            assert!(text.len() < 120, "{}", &text[..200.min(text.len())]);
            assert!(text.contains("bytes)"), "{text}");
        }
        assert_eq!(excerpt("12x"), "12x");
    }

    #[test]
    fn common_lines_take_the_fast_path() {
        let sha = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";
        for (format, line) in [
            (Format::ClamHash, format!("{sha}:*:Feed.Family1:73\r")),
            (
                Format::ClamHash,
                "44d88612fea8a8f36de82e1278abb02f:68:Eicar".to_string(),
            ),
            (
                Format::ClamHash,
                "44d88612fea8a8f36de82e1278abb02f:68:Eicar:9999".to_string(),
            ),
            (Format::Vsig, format!("sha256:{sha}:*:Name:with:colons")),
        ] {
            assert!(parse_fast(format, line.as_bytes()).is_some(), "{line}");
        }
        assert!(parse_fast(
            Format::Vsig,
            b"md5:44d88612fea8a8f36de82e1278abb02f:68:Two words"
        )
        .is_none());
    }

    /// Lines assembled from fields that are sometimes right, sometimes a
    /// little wrong (blanks, case, bad digits, extra fields, non-ASCII).
    fn line() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let hex = prop_oneof![
            Just("44d88612fea8a8f36de82e1278abb02f".to_string()),
            Just("3395856CE81F2B7382DEE72602F798B642F14140".to_string()),
            Just("275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f".to_string()),
            Just("44d88612fea8a8f36de82e1278abb02g".to_string()),
            Just(" 44d88612fea8a8f36de82e1278abb02f".to_string()),
            "[0-9a-f]{0,66}",
        ];
        let algo = prop_oneof![
            Just("md5"),
            Just("SHA1"),
            Just("sha256"),
            Just("blake3"),
            Just("crc"),
            Just(" md5"),
        ];
        let size = prop_oneof![
            Just("*"),
            Just("68"),
            Just("0"),
            Just("+5"),
            Just(" 7"),
            Just(""),
            Just("-1"),
            Just("18446744073709551616"),
            Just("x"),
        ];
        let name = prop_oneof![
            Just("Eicar"),
            Just("A:B"),
            Just(" Pad "),
            Just(""),
            Just("Tab\tName"),
            Just("Caf\u{e9}"),
            Just("Del\u{7f}"),
            Just("C1\u{85}"),
        ];
        let flevel = prop_oneof![
            Just(""),
            Just("73"),
            Just("1"),
            Just("300"),
            Just("+80"),
            Just(" 90"),
            Just("x")
        ];
        (
            any::<bool>(),
            algo,
            hex,
            size,
            name,
            prop::collection::vec(flevel, 0..4),
            prop_oneof![Just(""), Just("\r"), Just(" "), Just("#")],
        )
            .prop_map(|(native, algo, hex, size, name, fl, end)| {
                let mut l = if native {
                    format!("{algo}:{hex}:{size}:{name}")
                } else {
                    format!("{hex}:{size}:{name}")
                };
                for f in fl {
                    l.push(':');
                    l.push_str(f);
                }
                if end == "#" {
                    format!("#{l}")
                } else {
                    l + end
                }
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// The fast path never disagrees with the general parser.
        #[test]
        fn fast_path_agrees_with_general_parser(l in line()) {
            for format in [Format::Vsig, Format::ClamHash] {
                if let Some(fast) = parse_fast(format, l.as_bytes()) {
                    proptest::prop_assert_eq!(Ok(fast), parse_general(format, l.as_bytes()), "{:?}", l);
                }
            }
        }
    }
}
