//! Reading the events of a fanotify group that reports directory file
//! handles and names (`FAN_REPORT_DFID_NAME`). nix reads only each event's
//! fixed header, so the records after it are read here, from the bytes
//! `read(2)` returned: every length is checked against what is left, and a
//! record that is short, unknown or inconsistent is skipped, never trusted.
//!
//! The layout (fanotify(7)): each event is a `fanotify_event_metadata`
//! followed by info records; each record starts with a
//! `fanotify_event_info_header` (type, pad, length). A directory-and-name
//! record holds the filesystem id, a `file_handle` (length, type, bytes) and
//! the entry's name, NUL-terminated and padded.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

/// `sizeof(struct fanotify_event_metadata)`.
const METADATA_LEN: usize = std::mem::size_of::<libc::fanotify_event_metadata>();
/// `sizeof(struct fanotify_event_info_header)`.
const INFO_HEADER_LEN: usize = 4;
/// The filesystem id after the record header.
const FSID_LEN: usize = 8;
/// `handle_bytes` and `handle_type` before the handle's bytes.
const HANDLE_HEADER_LEN: usize = 8;
/// The most bytes a file handle holds (`MAX_HANDLE_SZ`).
pub(super) const MAX_HANDLE_LEN: usize = libc::MAX_HANDLE_SZ as usize;

/// One event, as far as it could be read.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Event {
    pub mask: u64,
    pub pid: i32,
    /// The directory the event happened in and the entry's name; `None` for
    /// an event with no readable directory-and-name record (an overflow has
    /// none).
    pub entry: Option<Entry>,
}

/// A name in a directory named by its file handle.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Entry {
    /// The filesystem id, as `statfs` reports it (`f_fsid`).
    pub fsid: [i32; 2],
    pub handle: Handle,
    pub name: OsString,
}

/// A file handle, ready for `open_by_handle_at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Handle {
    pub handle_type: i32,
    pub bytes: Vec<u8>,
}

/// Reads the events in `buf` (what one `read` returned). Stops at the first
/// event whose header is short or inconsistent: its length cannot be
/// trusted to find the next one.
pub(super) fn parse(buf: &[u8]) -> Vec<Event> {
    let mut events = Vec::new();
    let mut rest = buf;
    while rest.len() >= METADATA_LEN {
        let event_len = u32_at(rest, 0) as usize;
        let version = rest[4];
        let metadata_len = u16::from_ne_bytes([rest[6], rest[7]]) as usize;
        if event_len < METADATA_LEN
            || event_len > rest.len()
            || metadata_len < METADATA_LEN
            || metadata_len > event_len
        {
            tracing::debug!(
                event_len,
                metadata_len,
                "fanotify watcher: malformed event; rest of the read skipped"
            );
            break;
        }
        if version != libc::FANOTIFY_METADATA_VERSION {
            tracing::debug!(
                version,
                "fanotify watcher: event of an unknown version skipped"
            );
            rest = &rest[event_len..];
            continue;
        }
        let mask = u64::from_ne_bytes(rest[8..16].try_into().expect("8 bytes"));
        let pid = i32::from_ne_bytes(rest[20..24].try_into().expect("4 bytes"));
        let entry = dir_entry(&rest[metadata_len..event_len]);
        events.push(Event { mask, pid, entry });
        rest = &rest[event_len..];
    }
    events
}

/// The first directory-and-name record among an event's info records.
fn dir_entry(mut records: &[u8]) -> Option<Entry> {
    while records.len() >= INFO_HEADER_LEN {
        let info_type = records[0];
        let len = u16::from_ne_bytes([records[2], records[3]]) as usize;
        if len < INFO_HEADER_LEN || len > records.len() {
            return None;
        }
        if info_type == libc::FAN_EVENT_INFO_TYPE_DFID_NAME {
            return dfid_name(&records[INFO_HEADER_LEN..len]);
        }
        records = &records[len..];
    }
    None
}

/// The body of a directory-and-name record: fsid, file handle, name.
fn dfid_name(body: &[u8]) -> Option<Entry> {
    let fsid_bytes = body.get(..FSID_LEN)?;
    let fsid = [
        i32::from_ne_bytes(fsid_bytes[0..4].try_into().ok()?),
        i32::from_ne_bytes(fsid_bytes[4..8].try_into().ok()?),
    ];
    let handle = body.get(FSID_LEN..)?;
    let handle_header = handle.get(..HANDLE_HEADER_LEN)?;
    let handle_len = u32_at(handle_header, 0) as usize;
    let handle_type = i32::from_ne_bytes(handle_header[4..8].try_into().ok()?);
    if handle_len == 0 || handle_len > MAX_HANDLE_LEN {
        return None;
    }
    let handle_end = HANDLE_HEADER_LEN.checked_add(handle_len)?;
    let bytes = handle.get(HANDLE_HEADER_LEN..handle_end)?.to_vec();
    let name_and_pad = handle.get(handle_end..)?;
    let name = &name_and_pad[..name_and_pad.iter().position(|&b| b == 0)?];
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') {
        return None;
    }
    Some(Entry {
        fsid,
        handle: Handle { handle_type, bytes },
        name: OsString::from_vec(name.to_vec()),
    })
}

fn u32_at(buf: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(buf[at..at + 4].try_into().expect("4 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One event as the kernel lays it out: metadata, then `records`.
    fn event(mask: u64, pid: i32, records: &[u8]) -> Vec<u8> {
        let len = METADATA_LEN + records.len();
        let mut b = Vec::new();
        b.extend_from_slice(&(len as u32).to_ne_bytes());
        b.push(libc::FANOTIFY_METADATA_VERSION);
        b.push(0);
        b.extend_from_slice(&(METADATA_LEN as u16).to_ne_bytes());
        b.extend_from_slice(&mask.to_ne_bytes());
        b.extend_from_slice(&libc::FAN_NOFD.to_ne_bytes());
        b.extend_from_slice(&pid.to_ne_bytes());
        b.extend_from_slice(records);
        b
    }

    /// A directory-and-name record, padded to 4 bytes.
    fn dfid_record(fsid: [i32; 2], handle: &[u8], name: &[u8]) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&fsid[0].to_ne_bytes());
        body.extend_from_slice(&fsid[1].to_ne_bytes());
        body.extend_from_slice(&(handle.len() as u32).to_ne_bytes());
        body.extend_from_slice(&1i32.to_ne_bytes());
        body.extend_from_slice(handle);
        body.extend_from_slice(name);
        body.push(0);
        while (INFO_HEADER_LEN + body.len()) % 4 != 0 {
            body.push(0);
        }
        let mut r = vec![libc::FAN_EVENT_INFO_TYPE_DFID_NAME, 0];
        r.extend_from_slice(&((INFO_HEADER_LEN + body.len()) as u16).to_ne_bytes());
        r.extend_from_slice(&body);
        r
    }

    fn entry(fsid: [i32; 2], handle: &[u8], name: &str) -> Option<Entry> {
        Some(Entry {
            fsid,
            handle: Handle {
                handle_type: 1,
                bytes: handle.to_vec(),
            },
            name: name.into(),
        })
    }

    #[test]
    fn events_with_a_directory_and_a_name_are_read_in_order() {
        let mut buf = event(
            libc::FAN_MOVED_TO,
            7,
            &dfid_record([1, 2], &[9; 8], b"x.com"),
        );
        buf.extend(event(
            libc::FAN_CREATE | libc::FAN_ONDIR,
            8,
            &dfid_record([3, 4], &[5; 12], b"sub"),
        ));
        let events = parse(&buf);
        assert_eq!(
            events,
            [
                Event {
                    mask: libc::FAN_MOVED_TO,
                    pid: 7,
                    entry: entry([1, 2], &[9; 8], "x.com"),
                },
                Event {
                    mask: libc::FAN_CREATE | libc::FAN_ONDIR,
                    pid: 8,
                    entry: entry([3, 4], &[5; 12], "sub"),
                },
            ]
        );
    }

    #[test]
    fn an_overflow_has_no_entry_and_other_records_are_passed_over() {
        let mut other = vec![libc::FAN_EVENT_INFO_TYPE_PIDFD, 0];
        other.extend_from_slice(&8u16.to_ne_bytes());
        other.extend_from_slice(&[0; 4]);
        let mut records = other.clone();
        records.extend(dfid_record([1, 2], &[9; 8], "a b".as_bytes()));
        let mut buf = event(libc::FAN_Q_OVERFLOW, 0, &[]);
        buf.extend(event(libc::FAN_MOVED_TO, 7, &records));
        buf.extend(event(libc::FAN_CREATE, 7, &other));
        let events = parse(&buf);
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].entry, None);
        assert_eq!(events[1].entry, entry([1, 2], &[9; 8], "a b"));
        assert_eq!(events[2].entry, None);
    }

    #[test]
    fn a_short_or_inconsistent_record_is_skipped_without_a_panic() {
        let good = dfid_record([1, 2], &[9; 8], b"x");
        let name_at = INFO_HEADER_LEN + FSID_LEN + HANDLE_HEADER_LEN + 8;
        // Every truncation of the record before the name's NUL, with the
        // record's length saying so.
        for cut in 0..=name_at + 1 {
            let mut rec = good[..cut].to_vec();
            if cut >= 4 {
                rec[2..4].copy_from_slice(&(cut as u16).to_ne_bytes());
            }
            let events = parse(&event(libc::FAN_MOVED_TO, 1, &rec));
            assert_eq!(events.len(), 1, "cut at {cut}");
            assert_eq!(events[0].entry, None, "cut at {cut}");
        }
        // A record longer than its event.
        let mut long = good.clone();
        long[2..4].copy_from_slice(&500u16.to_ne_bytes());
        assert_eq!(parse(&event(libc::FAN_MOVED_TO, 1, &long))[0].entry, None);
        // A handle longer than any handle, or longer than the record.
        for handle_len in [0u32, 129, 4000, u32::MAX] {
            let mut bad = good.clone();
            bad[12..16].copy_from_slice(&handle_len.to_ne_bytes());
            assert_eq!(parse(&event(libc::FAN_MOVED_TO, 1, &bad))[0].entry, None);
        }
        // Names that are not one entry of a directory.
        for name in [&b""[..], b".", b"..", b"a/b"] {
            let rec = dfid_record([1, 2], &[9; 8], name);
            assert_eq!(parse(&event(libc::FAN_MOVED_TO, 1, &rec))[0].entry, None);
        }
        // A name without its NUL.
        let mut no_nul = good.clone();
        for b in &mut no_nul[name_at..] {
            *b = b'x';
        }
        assert_eq!(parse(&event(libc::FAN_MOVED_TO, 1, &no_nul))[0].entry, None);
    }

    #[test]
    fn a_malformed_event_header_ends_the_read_without_a_panic() {
        let good = event(libc::FAN_MOVED_TO, 7, &dfid_record([1, 2], &[9; 8], b"x"));
        for cut in 0..good.len() {
            assert!(parse(&good[..cut]).is_empty(), "cut at {cut}");
        }
        for bad_len in [0u32, 10, 1000, u32::MAX] {
            let mut bad = good.clone();
            bad[0..4].copy_from_slice(&bad_len.to_ne_bytes());
            bad.extend(good.iter());
            assert!(parse(&bad).is_empty(), "event_len {bad_len}");
        }
        let mut bad_meta = good.clone();
        bad_meta[6..8].copy_from_slice(&2u16.to_ne_bytes());
        assert!(parse(&bad_meta).is_empty());
        // An unknown version is skipped by its length; the next is read.
        let mut old = good.clone();
        old[4] = 2;
        old.extend(good.iter());
        assert_eq!(parse(&old).len(), 1);
    }
}
