//! A sink that prints nothing: `vigil bench` runs the real pipeline and only
//! wants its totals. It keeps the first error, so a bench over a corpus with
//! unreadable files can say which one.

use std::path::PathBuf;
use std::sync::Mutex;

use super::{Event, Sink, Summary};

/// Discards every event, remembering only the first error.
#[derive(Debug, Default)]
pub struct NullSink {
    first_error: Mutex<Option<(PathBuf, String)>>,
}

impl NullSink {
    pub fn new() -> Self {
        Self::default()
    }

    /// The first error reported, if any: the path and the reason.
    pub fn first_error(&self) -> Option<(PathBuf, String)> {
        self.first_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Sink for NullSink {
    fn event(&self, event: &Event<'_>) {
        if let Event::Error { path, reason, .. } = event {
            let mut first = self.first_error.lock().unwrap_or_else(|p| p.into_inner());
            first.get_or_insert_with(|| (path.to_path_buf(), reason.to_string()));
        }
    }

    fn summary(&self, _: &Summary) {}

    fn flush(&self) {}

    fn is_closed(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn keeps_only_the_first_error() {
        let sink = NullSink::new();
        sink.event(&Event::Clean {
            path: Path::new("a"),
        });
        assert_eq!(sink.first_error(), None);
        for (p, r) in [("b", "gone"), ("c", "denied")] {
            sink.event(&Event::Error {
                path: Path::new(p),
                reason: r,
                kind: crate::report::ErrorKind::Io,
            });
        }
        assert_eq!(
            sink.first_error(),
            Some((PathBuf::from("b"), "gone".into()))
        );
        assert!(!sink.is_closed());
    }
}
