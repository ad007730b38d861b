//! The daemon's logs: tracing on stderr, as text or JSON lines, at a level
//! that SIGHUP can change. The level is `log_level` from the configuration,
//! else `VIGIL_LOG`, else `info`. Under systemd (stderr is the journal, as
//! `JOURNAL_STREAM` says) they go to the journal instead, each tracing field
//! a journal field of its own (`PATH`, `SIGNATURES`, ...).

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, reload, EnvFilter, Registry};

use super::config::LogFormat;

/// Changes the log level of the running daemon.
pub struct LogControl {
    handle: reload::Handle<EnvFilter, Registry>,
}

fn filter(level: Option<&str>) -> EnvFilter {
    level
        .and_then(|l| EnvFilter::try_new(l).ok())
        .or_else(|| EnvFilter::try_from_env("VIGIL_LOG").ok())
        .unwrap_or_else(|| EnvFilter::new("info"))
}

/// Installs the global subscriber.
pub fn init(format: LogFormat, level: Option<&str>) -> LogControl {
    let (layer, handle) = reload::Layer::new(filter(level));
    let ansi = std::io::stderr().is_terminal();
    let registry = tracing_subscriber::registry().with(layer);
    let journal = crate::report::journal::is_journal_stream(std::io::stderr())
        .then(tracing_journald::layer)
        .and_then(|j| {
            j.inspect_err(|e| eprintln!("vigil: cannot log to the journal, only to stderr: {e}"))
                .ok()
        });
    let installed = match (journal, format) {
        (Some(journal), _) => registry
            .with(
                journal
                    .with_field_prefix(None)
                    .with_syslog_identifier("vigil".into())
                    .with_priority_mappings(syslog_priorities()),
            )
            .try_init(),
        (None, format) => match format {
            LogFormat::Text => registry
                .with(
                    fmt::layer()
                        .with_writer(std::io::stderr)
                        .with_ansi(ansi)
                        .with_target(false),
                )
                .try_init(),
            LogFormat::Json => registry
                .with(
                    fmt::layer()
                        .json()
                        .with_writer(std::io::stderr)
                        .with_current_span(false)
                        .with_span_list(false),
                )
                .try_init(),
        },
    };
    if installed.is_err() {
        eprintln!("vigil: a log subscriber was already installed");
    }
    LogControl { handle }
}

/// syslog's meanings: info is 6, debug and trace 7 (tracing-journald's
/// default moves each one up).
fn syslog_priorities() -> tracing_journald::PriorityMappings {
    use tracing_journald::Priority;
    tracing_journald::PriorityMappings {
        info: Priority::Informational,
        debug: Priority::Debug,
        trace: Priority::Debug,
        ..tracing_journald::PriorityMappings::new()
    }
}

impl LogControl {
    pub fn set_level(&self, level: Option<&str>) {
        if let Err(e) = self.handle.reload(filter(level)) {
            tracing::warn!("cannot change the log level: {e}");
        }
    }
}
