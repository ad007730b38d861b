//! Whether a database's signatures are ClamAV's official ones, and why.
//! The loader decides it per database file; the names say it (ClamAV's
//! formats get `.UNOFFICIAL` unless official) and `vigil sigs check` prints
//! it, one line per database.

use std::fmt;

/// The standing of one database's signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Provenance {
    /// Signed by ClamAV, and the signature checked: names are printed bare.
    Official(&'static str),
    /// Not signed by ClamAV (or the signature did not check): names from
    /// ClamAV's formats get `.UNOFFICIAL`, vigil's own are printed as
    /// written.
    Unofficial(String),
    /// A compiled index: each signature is as official as the database it
    /// was compiled from.
    Compiled,
}

impl Provenance {
    pub fn is_official(&self) -> bool {
        matches!(self, Provenance::Official(_))
    }
}

impl fmt::Display for Provenance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Provenance::Official(why) => write!(f, "official: {why}"),
            Provenance::Unofficial(why) => write!(f, "unofficial: {why}"),
            Provenance::Compiled => f.write_str(
                "compiled index: each signature is official as the database it came from was",
            ),
        }
    }
}
