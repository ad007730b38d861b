//! Loading the set a command runs with: the databases it was told about, or
//! the built-in set when none was named (as clamscan with and without `-d`).
//! Shared by `vigil scan`, the daemon (at start and on every reload) and
//! `vigil bench`.

use std::path::PathBuf;

use super::{load_builtin, LoadError, LoadLimits, Loader, SignatureSet};

/// Loads `databases`, or the built-in set if there are none. Files in
/// folders that vigil does not read are logged and passed over.
pub fn load_signatures(
    databases: &[PathBuf],
    limits: LoadLimits,
) -> Result<SignatureSet, LoadError> {
    if databases.is_empty() {
        return Ok(load_builtin());
    }
    let loaded = Loader::new(limits).load(databases)?;
    for path in &loaded.ignored {
        tracing::warn!(path = %path.display(), "not a signature format vigil reads; ignored");
    }
    Ok(loaded.set)
}
