//! The one-shot source: the paths given on the command line, then the lines of
//! `--file-list`, each becomes a request; `-` names standard input. Folders
//! are expanded by the pool, not here, so this source never becomes the
//! bottleneck on a big tree.

use std::ffi::OsStr;
use std::io::{self, BufRead};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::engine::request::{Admit, ScanRequest};

/// Where the roots come from.
pub struct Roots {
    /// Paths from the command line; `-` is standard input.
    pub paths: Vec<PathBuf>,
    /// An open `--file-list`: one path per line (a `\r\n` ending is accepted).
    pub file_list: Option<Box<dyn BufRead + Send>>,
}

/// Sends every root to the queue, waiting when it is full. Returns an error
/// reading the file list; stops quietly if the pool has gone.
pub fn feed(roots: Roots, queue: &dyn Admit) -> io::Result<()> {
    match feed_inner(roots, queue) {
        Ok(()) | Err(FeedError::Closed) => Ok(()),
        Err(FeedError::Io(e)) => Err(e),
    }
}

enum FeedError {
    Io(io::Error),
    /// Nothing more is taken.
    Closed,
}

fn feed_inner(roots: Roots, queue: &dyn Admit) -> Result<(), FeedError> {
    let send = |path| match queue.admit(request(path)) {
        true => Ok(()),
        false => Err(FeedError::Closed),
    };
    for path in roots.paths {
        send(path)?;
    }
    if let Some(mut list) = roots.file_list {
        let mut line = Vec::new();
        loop {
            line.clear();
            if list.read_until(b'\n', &mut line).map_err(FeedError::Io)? == 0 {
                break;
            }
            let mut bytes = line.strip_suffix(b"\n").unwrap_or(&line);
            bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
            if bytes.is_empty() {
                continue;
            }
            let path = PathBuf::from(OsStr::from_bytes(bytes));
            send(path)?;
        }
    }
    Ok(())
}

fn request(path: PathBuf) -> ScanRequest {
    if path.as_os_str() == "-" {
        ScanRequest::Stdin
    } else {
        ScanRequest::Path(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::queue;

    #[test]
    fn paths_then_file_list_lines() {
        let (tx, rx) = queue::bounded(16);
        let list: &[u8] = b"a\r\n\nb\xff\n-";
        feed(
            Roots {
                paths: vec!["x".into(), "-".into()],
                file_list: Some(Box::new(list)),
            },
            &tx,
        )
        .unwrap();
        drop(tx);
        let got: Vec<_> = std::iter::from_fn(|| rx.recv()).collect();
        assert_eq!(
            got,
            vec![
                ScanRequest::Path("x".into()),
                ScanRequest::Stdin,
                ScanRequest::Path("a".into()),
                ScanRequest::Path(PathBuf::from(OsStr::from_bytes(b"b\xff"))),
                ScanRequest::Stdin,
            ]
        );
    }
}
