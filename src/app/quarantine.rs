//! `vigil quarantine list|show|restore|delete|repair`: runs one command on a
//! vault and prints its result on stdout (errors are returned for `main` to
//! print). Exit status 0 on success, 2 on an error or, for `repair`, when
//! something was left for a person to look at.

use std::io::{self, Write};

use serde_json::{json, Value};

use std::path::PathBuf;

use super::ConfigError;
use crate::app::Error;
use crate::cli::args::{QuarantineArgs, QuarantineCommand};
use crate::error::ExitStatus;
use crate::quarantine::{
    EntryId, LeftoverKind, Listing, Outcome, Quarantine, Record, RestoreOptions, DATA, DEFAULT_DIR,
};
use crate::report::escape_path;
use crate::report::json::JsonPath;

/// A `vigil quarantine` command, checked.
#[derive(Debug, Clone)]
pub struct QuarantineConfig {
    /// The vault.
    pub dir: PathBuf,
    pub action: QuarantineAction,
}

#[derive(Debug, Clone)]
pub enum QuarantineAction {
    List {
        json: bool,
    },
    Show {
        id: EntryId,
        json: bool,
    },
    Restore {
        id: EntryId,
        options: RestoreOptions,
    },
    Delete {
        id: EntryId,
    },
    Repair,
}

impl QuarantineConfig {
    pub fn from_args(args: QuarantineArgs) -> Result<Self, ConfigError> {
        let action = match args.command {
            QuarantineCommand::List { json } => QuarantineAction::List { json },
            QuarantineCommand::Show { id, json } => QuarantineAction::Show {
                id: EntryId::parse(&id)?,
                json,
            },
            QuarantineCommand::Restore {
                id,
                to,
                force,
                keep_setuid,
            } => QuarantineAction::Restore {
                id: EntryId::parse(&id)?,
                options: RestoreOptions {
                    to,
                    force,
                    keep_setuid,
                },
            },
            QuarantineCommand::Delete { id } => QuarantineAction::Delete {
                id: EntryId::parse(&id)?,
            },
            QuarantineCommand::Repair => QuarantineAction::Repair,
        };
        Ok(QuarantineConfig {
            dir: args.dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DIR)),
            action,
        })
    }
}

/// Runs one `vigil quarantine` command.
pub fn run(config: &QuarantineConfig) -> Result<ExitStatus, Error> {
    // Nothing was quarantined yet: the list is empty.
    if matches!(config.action, QuarantineAction::List { .. })
        && std::fs::symlink_metadata(&config.dir)
            .is_err_and(|e| e.kind() == io::ErrorKind::NotFound)
    {
        return Ok(ExitStatus::Clean);
    }
    let q = Quarantine::open_existing(&config.dir)?;
    let mut text = Vec::new();
    let status = execute(&q, &config.action, &mut text)?;
    let mut out = io::stdout().lock();
    match out.write_all(&text).and_then(|()| out.flush()) {
        Ok(()) => Ok(status),
        // A closed pipe (`| head`) ends quietly.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(status),
        Err(e) => Err(Error::Output(e)),
    }
}

fn execute(
    q: &Quarantine,
    action: &QuarantineAction,
    out: &mut Vec<u8>,
) -> Result<ExitStatus, Error> {
    // Writing to a Vec cannot fail.
    let mut line = |s: String| {
        out.extend_from_slice(s.as_bytes());
        out.push(b'\n');
    };
    match action {
        QuarantineAction::List { json } => {
            let listing = q.list()?;
            if *json {
                list_json(q, &listing).into_iter().for_each(&mut line);
            } else {
                list_text(&listing).into_iter().for_each(&mut line);
            }
        }
        QuarantineAction::Show { id, json } => {
            let (record, pending) = q.show(id)?;
            if *json {
                line(serde_json::to_string(&entry_json(q, &record, pending)).expect("serializes"));
            } else {
                show_text(q, &record, pending)
                    .into_iter()
                    .for_each(&mut line);
            }
        }
        QuarantineAction::Restore { id, options } => {
            let done = q.restore(id, options)?;
            let dropped = if done.set_id_dropped {
                " (set-user-ID/set-group-ID bits removed; --keep-setuid keeps them)"
            } else {
                ""
            };
            line(format!(
                "{id}: restored to '{}'{dropped}",
                escape_path(&done.path)
            ));
        }
        QuarantineAction::Delete { id } => {
            q.delete(id)?;
            line(format!("{id}: deleted"));
        }
        QuarantineAction::Repair => {
            let done = q.repair()?;
            let mut kept = false;
            for r in &done {
                let what = match &r.outcome {
                    Outcome::Finished(s) | Outcome::RolledBack(s) | Outcome::Removed(s) => {
                        s.to_string()
                    }
                    Outcome::Kept(reason) => {
                        kept = true;
                        format!("left as it is: {reason}")
                    }
                };
                line(format!("{}: {what}", r.name));
            }
            if done.is_empty() {
                line("nothing to repair".into());
            }
            if kept {
                return Ok(ExitStatus::Error);
            }
        }
    }
    Ok(ExitStatus::Clean)
}

/// One line per entry — id, time, size, signature, original path — then
/// one per leftover.
fn list_text(listing: &Listing) -> Vec<String> {
    let mut lines = Vec::new();
    for e in &listing.entries {
        let r = &e.record;
        let when: String = r.quarantined_at.chars().take(19).chain(['Z']).collect();
        lines.push(format!(
            "{}  {when}  {} B  {}  {}",
            e.id,
            r.size,
            r.signature,
            escape_path(&r.original_path())
        ));
    }
    for e in listing.entries.iter().filter(|e| e.pending_unlink) {
        lines.push(format!(
            "{}: unfinished move (the original may still be in place); run 'vigil quarantine repair'",
            e.id
        ));
    }
    for l in &listing.leftovers {
        let what = match &l.kind {
            LeftoverKind::Move => "interrupted move; run 'vigil quarantine repair'".to_string(),
            LeftoverKind::Restore => {
                "interrupted restore; run 'vigil quarantine repair'".to_string()
            }
            LeftoverKind::Delete => "interrupted delete; run 'vigil quarantine repair'".to_string(),
            LeftoverKind::Damaged(reason) => format!("damaged entry: {reason}"),
            LeftoverKind::Foreign(reason) => {
                format!("foreign entry, not the vault owner's ({reason}); left alone")
            }
            LeftoverKind::Unknown => "not made by vigil; left alone".to_string(),
        };
        lines.push(format!(
            "{}: {what}",
            escape_path(std::path::Path::new(&l.name))
        ));
    }
    lines
}

/// An entry as a JSON object: the record's fields, plus `type`, `content`
/// (where the content is) and `pending_unlink`.
fn entry_json(q: &Quarantine, record: &Record, pending: bool) -> Value {
    let mut v = serde_json::to_value(record).expect("records serialize");
    let content = JsonPath::new(&q.dir().join(&record.id).join(DATA));
    if let Value::Object(map) = &mut v {
        map.insert("type".into(), json!("entry"));
        map.insert("content".into(), json!(content.path));
        if let Some(bytes) = content.path_bytes {
            map.insert("content_bytes".into(), json!(bytes));
        }
        map.insert("pending_unlink".into(), json!(pending));
    }
    v
}

fn list_json(q: &Quarantine, listing: &Listing) -> Vec<String> {
    let mut lines = Vec::new();
    for e in &listing.entries {
        lines.push(entry_json(q, &e.record, e.pending_unlink).to_string());
    }
    for l in &listing.leftovers {
        let mut v = json!({
            "type": "leftover",
            "name": l.name,
            "id": l.id.as_ref().map(|id| id.as_str()),
            "state": l.kind.name(),
        });
        if let LeftoverKind::Damaged(reason) | LeftoverKind::Foreign(reason) = &l.kind {
            v["reason"] = json!(reason);
        }
        lines.push(v.to_string());
    }
    lines
}

fn show_text(q: &Quarantine, r: &Record, pending: bool) -> Vec<String> {
    let mut lines = vec![
        format!("id: {}", r.id),
        format!("path: {}", escape_path(&r.original_path())),
        format!("size: {}", r.size),
        format!("mode: {:04o}", r.mode),
        format!("owner: uid {}, gid {}", r.uid, r.gid),
        format!("modified: {}", r.mtime.to_rfc3339()),
        format!("accessed: {}", r.atime.to_rfc3339()),
        format!("signature: {}", r.signature),
    ];
    for (algo, hex) in &r.digests {
        lines.push(format!("{algo}: {hex}"));
    }
    lines.push(format!("quarantined: {}", r.quarantined_at));
    lines.push(format!("host: {}", r.host));
    lines.push(format!(
        "content: {}",
        escape_path(&q.dir().join(&r.id).join(DATA))
    ));
    lines.push(if pending {
        "state: unfinished move (the original may still be in place); run 'vigil quarantine repair'"
            .into()
    } else {
        "state: complete".into()
    });
    lines
}
