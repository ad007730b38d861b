//! Mail and the text encodings that carry files: MIME messages (parts in
//! base64 or quoted-printable, decoded by `mail-parser`), mbox files of
//! several messages, uuencode and BinHex 4.0 (decoded here: each is a short
//! table). A message is parsed whole, so it is held in memory within the
//! per-item bound.

use std::io::{self, Cursor};

use mail_parser::{MessageParser, MimeHeaders as _, PartType};

use super::{Flow, Format, Input, Level, Unpacker};

/// Headers one of which a message's first line must be.
const HEADERS: &[&[u8]] = &[
    b"from:",
    b"to:",
    b"subject:",
    b"received:",
    b"return-path:",
    b"date:",
    b"message-id:",
    b"mime-version:",
    b"content-type:",
    b"delivered-to:",
    b"reply-to:",
    b"x-",
];

const BINHEX_TAG: &[u8] = b"(This file must be converted with BinHex";

/// Recognises mail, mbox, uuencode and BinHex from a file's first bytes.
pub(super) fn sniff(head: &[u8]) -> Option<Format> {
    let line_end = memchr::memchr(b'\n', head).unwrap_or(head.len());
    let first = &head[..line_end];
    if head.starts_with(b"From ") && has_header(&head[line_end..]) {
        return Some(Format::Mbox);
    }
    if is_header(first) && has_header(&head[line_end..]) {
        return Some(Format::Mail);
    }
    if uu_begin(first).is_some() {
        return Some(Format::Uuencode);
    }
    let trimmed = head.trim_ascii_start();
    if trimmed.starts_with(BINHEX_TAG) {
        return Some(Format::BinHex);
    }
    None
}

fn is_header(line: &[u8]) -> bool {
    let lower = line.get(..14).unwrap_or(line).to_ascii_lowercase();
    HEADERS.iter().any(|h| lower.starts_with(h)) && memchr::memchr(b':', line).is_some()
}

/// True if one of the next lines is a header too.
fn has_header(rest: &[u8]) -> bool {
    rest.split(|&b| b == b'\n').skip(1).take(4).any(is_header)
}

/// The name on a uuencode `begin MODE NAME` line.
fn uu_begin(line: &[u8]) -> Option<&[u8]> {
    let rest = line.strip_prefix(b"begin ")?;
    let space = memchr::memchr(b' ', rest)?;
    let (mode, name) = (&rest[..space], &rest[space + 1..]);
    if !(3..=4).contains(&mode.len()) || !mode.iter().all(|b| (b'0'..=b'7').contains(b)) {
        return None;
    }
    Some(name.trim_ascii())
}

pub(super) fn unpack(
    u: &mut Unpacker<'_>,
    format: Format,
    input: Input<'_>,
    level: &Level,
) -> io::Result<()> {
    let Some(held) = u.whole(input)? else {
        return Ok(());
    };
    match format {
        Format::Mbox => {
            for message in mail_parser::mailbox::mbox::MessageIterator::new(Cursor::new(&held[..]))
            {
                let Ok(message) = message else { break };
                if message_parts(u, message.contents(), level)? == Flow::Stop {
                    break;
                }
            }
            Ok(())
        }
        Format::Mail => message_parts(u, &held, level).map(drop),
        Format::Uuencode => uudecode(u, &held, level),
        Format::BinHex => binhex(u, &held, level),
        _ => Ok(()),
    }
}

/// Passes each part of one message on as a member.
fn message_parts(u: &mut Unpacker<'_>, raw: &[u8], level: &Level) -> io::Result<Flow> {
    let Some(message) = MessageParser::default().parse(raw) else {
        return Ok(Flow::Continue);
    };
    for (i, part) in message.parts.iter().enumerate() {
        let name = part
            .attachment_name()
            .map(|n| n.as_bytes().to_vec())
            .unwrap_or_else(|| format!("part{i}").into_bytes());
        let body: &[u8] = match &part.body {
            PartType::Text(t) | PartType::Html(t) => t.as_bytes(),
            PartType::Binary(b) | PartType::InlineBinary(b) => b,
            PartType::Message(m) => &m.raw_message,
            PartType::Multipart(_) => continue,
        };
        let size = body.len() as u64;
        if u.member(level, &name, Some(size), &mut Cursor::new(body))? == Flow::Stop {
            return Ok(Flow::Stop);
        }
    }
    Ok(Flow::Continue)
}

/// Decodes every `begin` ... `end` block as a member.
fn uudecode(u: &mut Unpacker<'_>, text: &[u8], level: &Level) -> io::Result<()> {
    let mut lines = text.split(|&b| b == b'\n');
    while let Some(line) = lines.next() {
        let Some(name) = uu_begin(line.trim_ascii_end()) else {
            continue;
        };
        let name = name.to_vec();
        let mut out = Vec::new();
        for line in lines.by_ref() {
            let line = line.trim_ascii_end();
            if line == b"end" {
                break;
            }
            uu_line(line, &mut out);
            if out.len() as u64 > u.item_memory() {
                return Ok(());
            }
        }
        let size = out.len() as u64;
        if u.member(level, &name, Some(size), &mut Cursor::new(&out))? == Flow::Stop {
            break;
        }
    }
    Ok(())
}

fn uu_line(line: &[u8], out: &mut Vec<u8>) {
    let Some((&len, rest)) = line.split_first() else {
        return;
    };
    let len = usize::from(len.wrapping_sub(b' ') & 0x3f);
    let start = out.len();
    for quad in rest.chunks(4) {
        let v = |i: usize| u32::from(quad.get(i).map_or(0, |c| c.wrapping_sub(b' ') & 0x3f));
        let n = (v(0) << 18) | (v(1) << 12) | (v(2) << 6) | v(3);
        out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
    }
    out.truncate(start + len.min(out.len() - start));
}

const BINHEX_ALPHABET: &[u8; 64] =
    b"!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";

/// Decodes a BinHex 4.0 file: its data fork and resource fork are members.
fn binhex(u: &mut Unpacker<'_>, text: &[u8], level: &Level) -> io::Result<()> {
    let Some(tag) = memchr::memmem::find(text, BINHEX_TAG) else {
        return Ok(());
    };
    let after = &text[tag..];
    let Some(open) = memchr::memchr(b':', &after[BINHEX_TAG.len()..]) else {
        return Ok(());
    };
    let body = &after[BINHEX_TAG.len() + open + 1..];
    let mut value = [0xffu8; 256];
    for (i, &c) in BINHEX_ALPHABET.iter().enumerate() {
        value[usize::from(c)] = i as u8;
    }
    // Six bits a character, to the closing colon.
    let mut packed = Vec::with_capacity(body.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in body {
        if c == b':' {
            break;
        }
        let v = value[usize::from(c)];
        if v == 0xff {
            continue;
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            packed.push((acc >> bits) as u8);
        }
    }
    // Run-length: 0x90 n repeats the previous byte n-1 more times.
    let mut data: Vec<u8> = Vec::with_capacity(packed.len());
    let mut i = 0;
    while i < packed.len() {
        let b = packed[i];
        if b == 0x90 && i + 1 < packed.len() {
            let n = packed[i + 1];
            i += 2;
            if n == 0 {
                data.push(0x90);
            } else if let Some(&last) = data.last() {
                if data.len() as u64 + u64::from(n) > u.item_memory() {
                    return Ok(());
                }
                data.resize(data.len() + usize::from(n) - 1, last);
            }
        } else {
            data.push(b);
            i += 1;
        }
    }
    drop(packed);
    let Some(&name_len) = data.first() else {
        return Ok(());
    };
    let name_end = 1 + usize::from(name_len);
    let Some(name) = data.get(1..name_end) else {
        return Ok(());
    };
    // NUL, type (4), creator (4), flags (2), data length, resource length.
    let at = name_end + 1 + 4 + 4 + 2;
    let Some(lens) = data.get(at..at + 8) else {
        return Ok(());
    };
    let data_len = u32::from_be_bytes([lens[0], lens[1], lens[2], lens[3]]) as usize;
    let rsrc_len = u32::from_be_bytes([lens[4], lens[5], lens[6], lens[7]]) as usize;
    let fork = at + 8 + 2;
    let name = name.to_vec();
    let data_fork = data.get(fork..fork.saturating_add(data_len)).unwrap_or(&[]);
    let flow = u.member(
        level,
        &name,
        Some(data_fork.len() as u64),
        &mut Cursor::new(data_fork),
    )?;
    let rsrc_at = fork.saturating_add(data_len).saturating_add(2);
    if flow == Flow::Continue && rsrc_len > 0 {
        let rsrc = data
            .get(rsrc_at..rsrc_at.saturating_add(rsrc_len))
            .unwrap_or(&[]);
        u.member(
            level,
            &name,
            Some(rsrc.len() as u64),
            &mut Cursor::new(rsrc),
        )?;
    }
    Ok(())
}
