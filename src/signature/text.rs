//! Parsing text databases at scale. A database is read in 4 MiB blocks (never
//! whole, so a 1 GB feed costs two blocks of memory, not a copy of the file),
//! by a reader thread that fills the next block while this one parses the
//! last. Each block is cut at newlines into 64 KiB pieces that rayon parses in
//! parallel. A piece cuts each name into stem and number (`names`), looks
//! the stem up in the builder's table (shared, read-only) and keeps the
//! stems it lacks in a table of its own, borrowed from the block; a name the
//! builder knows exactly (one without a number) takes its id there and then.
//! The builder interns the rest afterwards, in file order, so ids are the
//! ones a serial reading would give. Line numbers stay exact across pieces and
//! blocks: every piece counts its newlines, and faults are numbered from the
//! running total.

use std::io::{self, Read};
use std::path::Path;
use std::sync::mpsc;

use rayon::prelude::*;

use super::db::{Budget, Faults, SigError, SigFault};
use super::limits::Capped;
use super::names::{split, NameInterner, NO_NUMBER};
use super::parse::{parse_line, Format, LineFault, Parsed};
use super::table::{CapacityFault, MAX_NAMES};
use super::{tag, PendingSet, SignatureSetBuilder};

/// Bytes read from a database at a time. A line must fit in one block.
pub(crate) const BLOCK: usize = 4 << 20;
/// Bytes per piece parsed by one task.
const PIECE: usize = 64 << 10;

/// What one piece of a database parsed to.
#[derive(Default)]
pub(crate) struct Chunk<'a> {
    /// Records; a name id below `first_new` is the builder's, from
    /// `first_new` on it is `first_new` + an index into `new_names`.
    pub records: PendingSet,
    pub first_new: u32,
    /// Names for the builder to intern, in file order (a name repeated on
    /// the next line once): a stem and a number. A stem below `known_stems`
    /// is the builder's, from `known_stems` on an index into `new_stems`.
    pub new_names: Vec<(u32, u32)>,
    pub known_stems: u32,
    /// Stems the builder did not know, as (head, tail), in order of first appearance.
    pub new_stems: Vec<(&'a str, &'a str)>,
    /// Faults, with the 0-based line number within the piece.
    pub errors: Vec<(usize, LineFault)>,
    /// Set if the piece has more new names than a set can hold; parsing
    /// stopped at that line.
    pub full: Option<CapacityFault>,
    /// Lines of the piece that ended with a newline.
    pub newlines: usize,
    pub outside_flevel: usize,
}

/// Parses a whole database from `reader` into `builder`; faults go to
/// `faults`, named `file:line`. Fails only if reading fails; stops early
/// (and sets `budget.stopped`) past the line limit.
pub(crate) fn load(
    builder: &mut SignatureSetBuilder,
    file: &Path,
    format: Format,
    mut reader: impl Read,
    budget: &mut Budget,
    faults: &mut Faults<'_>,
) -> io::Result<()> {
    let mut lines = Lines::new(builder, file, format, budget, faults);
    let mut buf: Vec<u8> = Vec::with_capacity(BLOCK);
    loop {
        buf.clear();
        let got = reader.by_ref().take(BLOCK as u64).read_to_end(&mut buf)?;
        lines.push(&buf);
        if lines.budget.stopped {
            return Ok(());
        }
        if got < BLOCK {
            lines.finish();
            return Ok(());
        }
    }
}

/// Like `load`, for a file: a second thread reads the next block while this
/// one parses the last, so that copying the file in overlaps parsing. A
/// file larger than the byte limit fails with `limits::TooLarge`.
pub(crate) fn load_file(
    builder: &mut SignatureSetBuilder,
    path: &Path,
    format: Format,
    budget: &mut Budget,
    faults: &mut Faults<'_>,
) -> io::Result<()> {
    let mut file = Capped::new(std::fs::File::open(path)?, budget.limits.max_db_bytes);
    // Blocks in flight: one being parsed, one read ahead; emptied ones go back.
    let (full_tx, full_rx) = mpsc::sync_channel::<io::Result<(Vec<u8>, bool)>>(1);
    let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("vigil-sigread".into())
            .spawn_scoped(scope, move || {
                let mut spare = 2;
                loop {
                    let mut buf = match empty_rx.try_recv() {
                        Ok(buf) => buf,
                        Err(_) if spare > 0 => {
                            spare -= 1;
                            Vec::with_capacity(BLOCK)
                        }
                        Err(_) => match empty_rx.recv() {
                            Ok(buf) => buf,
                            Err(_) => return,
                        },
                    };
                    buf.clear();
                    let read = file.by_ref().take(BLOCK as u64).read_to_end(&mut buf);
                    let last = !matches!(read, Ok(n) if n == BLOCK);
                    if full_tx.send(read.map(|_| (buf, last))).is_err() || last {
                        return;
                    }
                }
            })
            .expect("spawn signature reader thread");
        // Owned here, so that leaving this closure (even by a panic) closes
        // both channels and the reader thread ends instead of waiting.
        let (full_rx, empty_tx) = (full_rx, empty_tx);
        let mut lines = Lines::new(builder, path, format, budget, faults);
        for block in full_rx {
            let (buf, last) = block?;
            lines.push(&buf);
            if lines.budget.stopped {
                return Ok(());
            }
            if last {
                lines.finish();
                return Ok(());
            }
            // The reader may have stopped early; then the buffer is not needed.
            let _ = empty_tx.send(buf);
        }
        Ok(())
    })
}

/// Cuts a stream of blocks into whole lines and parses them, region by
/// region, keeping the running line count. A line cut by a block boundary is
/// carried into the next block; a line longer than `BLOCK` is one fault.
/// Past the line limit, or once the set is full, it stops (`budget.stopped`).
struct Lines<'b, 'e, 'f> {
    builder: &'b mut SignatureSetBuilder,
    file: &'b Path,
    format: Format,
    budget: &'b mut Budget,
    faults: &'e mut Faults<'f>,
    /// Lines wholly parsed so far.
    lines_before: usize,
    /// The start of a line whose end is in a later block.
    carry: Vec<u8>,
    /// Discarding the rest of an over-long line.
    skipping: bool,
}

impl<'b, 'e, 'f> Lines<'b, 'e, 'f> {
    fn new(
        builder: &'b mut SignatureSetBuilder,
        file: &'b Path,
        format: Format,
        budget: &'b mut Budget,
        faults: &'e mut Faults<'f>,
    ) -> Self {
        Lines {
            builder,
            file,
            format,
            budget,
            faults,
            lines_before: 0,
            carry: Vec::new(),
            skipping: false,
        }
    }

    fn parse(&mut self, region: &[u8]) {
        if self.budget.stopped {
            return;
        }
        let (lines, full) = parse_region(
            self.builder,
            self.file,
            self.format,
            region,
            self.lines_before,
            self.faults,
        );
        self.lines_before += lines;
        self.count(lines as u64);
        self.budget.stopped |= full;
    }

    /// Counts lines against the limit.
    fn count(&mut self, lines: u64) {
        self.budget.lines = self.budget.lines.saturating_add(lines);
        let limit = self.budget.limits.max_db_lines;
        if self.budget.lines > limit && !self.budget.stopped {
            self.budget.stopped = true;
            self.faults.push(SigError {
                file: self.file.to_path_buf(),
                line: None,
                fault: SigFault::TooManyLines { limit },
            });
        }
    }

    fn parse_carry(&mut self) {
        let carry = std::mem::take(&mut self.carry);
        self.parse(&carry);
        self.carry = carry;
        self.carry.clear();
    }

    fn push(&mut self, block: &[u8]) {
        if self.budget.stopped {
            return;
        }
        let mut rest = block;
        if self.skipping {
            let Some(i) = memchr::memchr(b'\n', rest) else {
                return;
            };
            rest = &rest[i + 1..];
            self.lines_before += 1;
            self.skipping = false;
        }
        if !self.carry.is_empty() {
            let Some(i) = memchr::memchr(b'\n', rest) else {
                self.carry.extend_from_slice(rest);
                self.check_length();
                return;
            };
            self.carry.extend_from_slice(&rest[..=i]);
            rest = &rest[i + 1..];
            self.check_length();
            if !self.skipping {
                self.parse_carry();
            } else {
                // The over-long line ended within this block.
                self.skipping = false;
                self.lines_before += 1;
            }
        }
        match memchr::memrchr(b'\n', rest) {
            Some(i) => {
                self.parse(&rest[..=i]);
                self.carry.extend_from_slice(&rest[i + 1..]);
            }
            None => self.carry.extend_from_slice(rest),
        }
        self.check_length();
    }

    /// A line longer than a block is a fault, and the rest of it is skipped.
    fn check_length(&mut self) {
        if self.carry.len() > BLOCK {
            self.faults.push(SigError {
                file: self.file.to_path_buf(),
                line: Some(self.lines_before + 1),
                fault: SigFault::Line(LineFault::TooLong(BLOCK)),
            });
            self.carry = Vec::new();
            self.skipping = true;
        }
    }

    /// The last line, if it has no newline.
    fn finish(&mut self) {
        if !self.budget.stopped && !self.skipping && !self.carry.is_empty() {
            self.parse_carry();
            self.count(1);
        }
    }
}

/// Parses whole lines in parallel; returns the number of newlines in
/// `region`, and whether the set is full (then some lines were not added).
fn parse_region(
    builder: &mut SignatureSetBuilder,
    file: &Path,
    format: Format,
    region: &[u8],
    lines_before: usize,
    faults: &mut Faults<'_>,
) -> (usize, bool) {
    let pieces = split_pieces(region, PIECE);
    let mut chunks: Vec<Chunk<'_>> = if pieces.len() == 1 {
        vec![parse_piece(format, pieces[0], &builder.names)]
    } else {
        let known = &builder.names;
        pieces
            .par_iter()
            .map(|p| parse_piece(format, p, known))
            .collect()
    };
    let mut base = lines_before;
    let mut full = None;
    for c in &mut chunks {
        full = full.or(c.full);
        for (i, fault) in c.errors.drain(..) {
            faults.push(SigError {
                file: file.to_path_buf(),
                line: Some(base + i + 1),
                fault: SigFault::Line(fault),
            });
        }
        base += c.newlines;
    }
    let full = full.map_or_else(|| builder.add_chunks(&mut chunks).err(), Some);
    if let Some(fault) = full {
        faults.push(SigError {
            file: file.to_path_buf(),
            line: None,
            fault: SigFault::Capacity(fault),
        });
    }
    (base - lines_before, full.is_some())
}

/// Cuts `region` into pieces of about `size` bytes that end at a newline
/// (or at the end of the region).
fn split_pieces(region: &[u8], size: usize) -> Vec<&[u8]> {
    let mut pieces = Vec::with_capacity(region.len() / size + 1);
    let mut start = 0;
    while start < region.len() {
        let mut end = (start + size).min(region.len());
        if end < region.len() {
            end = memchr::memchr(b'\n', &region[end..]).map_or(region.len(), |i| end + i + 1);
        }
        pieces.push(&region[start..end]);
        start = end;
    }
    pieces
}

/// Parses every line of a piece. Stems are looked up in `known` (shared,
/// read-only); only stems it lacks go into the piece's own table.
fn parse_piece<'a>(format: Format, piece: &'a [u8], known: &NameInterner) -> Chunk<'a> {
    let first_new = known.len() as u32;
    let known_stems = known.stem_count() as u32;
    let mut chunk = Chunk {
        first_new,
        known_stems,
        ..Chunk::default()
    };
    let mut stems: hashbrown::HashMap<(&str, &str), u32> = hashbrown::HashMap::new();
    // Feeds often repeat one name on consecutive lines.
    let mut last: Option<(&str, u32)> = None;
    let allow = format.is_allow();
    let mut rest = piece;
    let mut line_no = 0;
    while !rest.is_empty() {
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => {
                chunk.newlines += 1;
                (&rest[..i], &rest[i + 1..])
            }
            None => (rest, &rest[rest.len()..]),
        };
        match parse_line(format, line) {
            Ok(Parsed::Nothing) => {}
            Ok(Parsed::OutsideFlevel) => chunk.outside_flevel += 1,
            Ok(Parsed::Signature(sig)) => {
                let id = match last {
                    Some((name, id)) if name == sig.name => id,
                    _ => {
                        let (head, number, tail) = split(sig.name);
                        let stem = known.find_stem(head, tail);
                        let bare = stem
                            .filter(|_| number == NO_NUMBER)
                            .and_then(|s| known.bare_name(s));
                        let id = match bare {
                            Some(id) => id,
                            None if first_new as usize + chunk.new_names.len() < MAX_NAMES => {
                                let stem = stem.unwrap_or_else(|| {
                                    let next = known_stems + chunk.new_stems.len() as u32;
                                    *stems.entry((head, tail)).or_insert_with(|| {
                                        chunk.new_stems.push((head, tail));
                                        next
                                    })
                                });
                                chunk.new_names.push((stem, number));
                                first_new + chunk.new_names.len() as u32 - 1
                            }
                            None => {
                                chunk.full = Some(CapacityFault::NameCount);
                                break;
                            }
                        };
                        last = Some((sig.name, id));
                        id
                    }
                };
                chunk
                    .records
                    .push(&sig.digest, sig.size, tag(id, allow, Some(format)));
            }
            Err(fault) => chunk.errors.push((line_no, fault)),
        }
        line_no += 1;
        rest = next;
    }
    chunk
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads `bytes` as the database `file`: the built set and the faults.
    fn load_bytes(
        file: &str,
        format: Format,
        bytes: &[u8],
    ) -> (crate::signature::SignatureSet, Vec<SigError>) {
        let mut builder = SignatureSetBuilder::new();
        let mut faults = Faults::new(usize::MAX, None);
        let mut budget = Budget::new(Default::default());
        load(
            &mut builder,
            Path::new(file),
            format,
            bytes,
            &mut budget,
            &mut faults,
        )
        .unwrap();
        (builder.build(), faults.into_kept())
    }

    #[test]
    fn pieces_end_at_newlines_and_cover_everything() {
        let text = b"aaaa\nbb\ncccccc\nd";
        for size in 1..text.len() + 2 {
            let pieces = split_pieces(text, size);
            assert_eq!(pieces.concat(), text.to_vec(), "size {size}");
            for p in &pieces[..pieces.len() - 1] {
                assert_eq!(p.last(), Some(&b'\n'));
            }
        }
        assert!(split_pieces(b"", 4).is_empty());
    }

    /// The parallel path numbers lines exactly as a serial reading would.
    #[test]
    fn line_numbers_are_exact_across_pieces_and_blocks() {
        let good = "44d88612fea8a8f36de82e1278abb02f:68:Eicar\n";
        let mut text = String::new();
        let mut bad_lines = Vec::new();
        // Enough lines to span many pieces and more than one block.
        let n = BLOCK / good.len() + 5000;
        for i in 1..=n {
            if i % 9973 == 0 || i == n {
                text.push_str("bad line\n");
                bad_lines.push(i);
            } else {
                text.push_str(good);
            }
        }
        let (set, errors) = load_bytes("x.hdb", Format::ClamHash, text.as_bytes());
        let got: Vec<usize> = errors.iter().map(|e| e.line.unwrap()).collect();
        assert_eq!(got, bad_lines);
        assert_eq!(set.stats().detections[0], 1);
    }

    #[test]
    fn an_overlong_line_is_one_fault_and_reading_goes_on() {
        let mut text = vec![b'x'; BLOCK + 10];
        text.extend_from_slice(b"\n44d88612fea8a8f36de82e1278abb02f:68:Eicar\nbad");
        let (set, errors) = load_bytes("x.hdb", Format::ClamHash, &text[..]);
        let lines: Vec<_> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![Some(1), Some(3)]);
        assert!(matches!(
            errors[0].fault,
            SigFault::Line(LineFault::TooLong(_))
        ));
        assert_eq!(set.stats().total_detections(), 1);
    }

    /// The parallel loader builds the very set that adding the lines one by
    /// one (the serial path) builds: same records, same name ids.
    #[test]
    fn parallel_and_serial_loading_agree() {
        use crate::hash::{hash_bytes, AlgoSet, Algorithm, MultiHasher};
        let mut text = String::new();
        let mut samples = Vec::new();
        // A few MB: many pieces, names that repeat and names that do not.
        for i in 0..60_000u32 {
            let data = i.to_le_bytes();
            let algo = Algorithm::ALL[(i % 4) as usize];
            let hex = hash_bytes(algo, &data).to_hex();
            let size = if i % 3 == 0 {
                "*".to_string()
            } else {
                "4".to_string()
            };
            let name = if i % 5 == 0 {
                format!("Unique.{i}")
            } else if i % 5 == 1 {
                format!("Win.Trojan.Agent-{}-{}", 1_000_000 + i % 3001, i % 2)
            } else {
                format!("Family.{}", i % 97)
            };
            text.push_str(&format!("{algo}:{hex}:{size}:{name}\n"));
            if i % 7 == 0 {
                // The same digest again under another name.
                text.push_str(&format!("{algo}:{hex}:{size}:Again.{}\n", i % 13));
            }
            if i % 50 == 0 {
                samples.push(data);
            }
        }
        let (parallel, errors) = load_bytes("p.vsig", Format::Vsig, text.as_bytes());
        assert!(errors.is_empty());
        let mut serial = SignatureSetBuilder::new();
        for line in text.lines() {
            if let Ok(Parsed::Signature(sig)) = parse_line(Format::Vsig, line.as_bytes()) {
                serial.add(&sig, false).unwrap();
            }
        }
        let serial = serial.build();
        assert_eq!(parallel.stats(), serial.stats());
        for id in 0..serial.names.len() as u32 {
            assert_eq!(parallel.names.get(id), serial.names.get(id));
            assert_eq!(parallel.names.parts(id), serial.names.parts(id));
        }
        assert_eq!(parallel.sha256.any.as_bytes(), serial.sha256.any.as_bytes());
        assert_eq!(parallel.md5.sized.as_bytes(), serial.md5.sized.as_bytes());
        for data in samples {
            let mut h = MultiHasher::new(AlgoSet::all());
            h.update(&data);
            let d = h.finish();
            assert_eq!(parallel.lookup(&d, 4), serial.lookup(&d, 4));
            assert_ne!(parallel.lookup(&d, 4), crate::signature::Lookup::Clean);
        }
    }
}
