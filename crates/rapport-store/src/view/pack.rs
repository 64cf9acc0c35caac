//! The views' pack: copies of many documents' views in one file, so a read
//! of every document opens, reads and closes one file instead of one per
//! document (git's pack beside its loose objects).
//!
//! An entry is a copy of one document's view as its file holds it: the
//! view's header (the chunks it was built from, each section's length and
//! CRC-32) and the bytes of its sections but the activity log and the first
//! change (which only edits, `person show` and `log` read; they stay in the
//! view's file). An entry is served only as the file would be: for exactly the
//! chunks of its header, each section's checksum verified. So whatever the
//! pack holds (an entry older than the document, one for a document no
//! longer in the workspace, two commands writing it at once), a read gets
//! either a view valid for the document's current chunks or nothing, and
//! then reads the view's file (and, failing that, loads the document).
//!
//! The file, `pack` beside the views: a prefix (magic, the pack's format
//! version, the views' format version, the length and CRC-32 of the index),
//! the index (postcard: each document's id and view header), then each
//! entry's packed sections, in index order. An entry holds them in
//! [`ORDER`], the head between the people and the agenda entries, so
//! `person list` (the head and the people) and `agenda` (the head and the
//! entries) each read one span of the file per document: one `pread`, where
//! a view's file takes an open, a `statx`, two `pread`s and a close.
//!
//! A read over many documents writes the pack anew
//! ([`Views::repack`](super::Views::repack)) when there is none, or when
//! enough of its documents (the caller says how many: the CLI, one in
//! sixteen and at least four) have a valid view file that the pack lacks
//! or holds for other chunks; until then those few are read from their
//! files. A document stale in its view file too is packed by the read
//! after the one that rebuilt its view.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write as _;
use std::os::unix::fs::FileExt as _;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use rapport_core::DocId;

use super::{Header, Prefix, SECTIONS, Section, VERSION, decode, encode};

const MAGIC: &[u8; 4] = b"RPPK";

/// Bump when the pack's own layout changes (the views' format has its own
/// version, also checked).
const PACK_VERSION: u32 = 1;

/// Magic, pack version, view version, index length, index CRC-32.
const PREFIX: usize = 20;

/// The sections the pack holds, in the order an entry holds them: every
/// one but the activity log and the first change, which only edits,
/// `person show` and `log` read and which are most of a view's bytes.
const ORDER: [Section; 8] = [
    Section::People,
    Section::Head,
    Section::Agenda,
    Section::Relationships,
    Section::Opportunities,
    Section::Plan,
    Section::Partnerships,
    Section::Contacts,
];

/// Whether the pack holds `section`.
pub(super) fn packed(section: Section) -> bool {
    ORDER.contains(&section)
}

/// One document's view in the pack.
struct Entry {
    id: DocId,
    header: Header,
    /// Where its first section starts in the file.
    start: u64,
}

impl Entry {
    /// Where each packed section is, from the entry's start, in
    /// [`ORDER`].
    fn spans(&self) -> impl Iterator<Item = (Section, std::ops::Range<u64>)> + '_ {
        let mut at = 0;
        ORDER.iter().map(move |s| {
            let from = at;
            at += u64::from(self.header.sections[s.index()].0);
            (*s, from..at)
        })
    }

    /// The length of all its sections.
    fn len(&self) -> u64 {
        self.spans().last().map_or(0, |(_, r)| r.end)
    }
}

/// An open pack, its index read and checked (the sections are read as
/// reads need them).
pub(super) struct Pack {
    file: File,
    entries: Vec<Entry>,
    by_id: HashMap<DocId, usize>,
    /// How many documents reads found missing, held for other chunks, or
    /// damaged.
    missed: AtomicUsize,
    /// The documents whose entry a read found damaged.
    damaged: Mutex<Vec<DocId>>,
}

impl std::fmt::Debug for Pack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pack")
            .field("entries", &self.entries.len())
            .field("missed", &self.missed)
            .finish_non_exhaustive()
    }
}

/// Where a new pack's entry comes from.
enum Source {
    /// The old pack's entry of that index.
    Old(usize),
    /// The view's file, read as far as the packed sections, each checked.
    File(Box<Prefix>),
}

impl Pack {
    /// The pack at `path`, if it is there, of these versions, and whole:
    /// its index's checksum matches and its length is exactly what the
    /// index says. (A section's damage is found when it is read.)
    pub(super) fn open(path: &Path) -> Option<Pack> {
        let file = File::open(path).ok()?;
        let len = file.metadata().ok()?.len();
        let mut fixed = [0; PREFIX];
        file.read_exact_at(&mut fixed, 0).ok()?;
        let word = |at: usize| {
            u32::from_le_bytes([fixed[at], fixed[at + 1], fixed[at + 2], fixed[at + 3]])
        };
        if &fixed[..4] != MAGIC || word(4) != PACK_VERSION || word(8) != VERSION {
            return None;
        }
        let index_len = word(12) as usize;
        if (PREFIX + index_len) as u64 > len {
            return None;
        }
        let mut index = vec![0; index_len];
        file.read_exact_at(&mut index, PREFIX as u64).ok()?;
        if crc32fast::hash(&index) != word(16) {
            return None;
        }
        let pairs: Vec<([u8; 16], Header)> = decode(&index)?;
        let mut entries = Vec::with_capacity(pairs.len());
        let mut by_id = HashMap::with_capacity(pairs.len());
        let mut at = (PREFIX + index_len) as u64;
        for (id, header) in pairs {
            let entry = Entry {
                id: DocId::from_bytes(id),
                header,
                start: at,
            };
            at = at.checked_add(entry.len())?;
            if by_id.insert(entry.id, entries.len()).is_some() {
                return None;
            }
            entries.push(entry);
        }
        (at == len).then(|| Pack {
            file,
            entries,
            by_id,
            missed: AtomicUsize::new(0),
            damaged: Mutex::default(),
        })
    }

    /// The entry of `id` if it was built from exactly `fingerprint` (and
    /// no read found it damaged).
    fn valid(&self, id: &DocId, fingerprint: &[String]) -> Option<usize> {
        let i = *self.by_id.get(id)?;
        let damaged = || self.damaged.lock().is_ok_and(|d| d.contains(id));
        (self.entries[i].header.chunks == fingerprint && !damaged()).then_some(i)
    }

    /// Entry `e` as far as the `wanted` sections, read with one `pread`
    /// of the span from the first to the last of them (the sections
    /// between are read too, and checked like the others when used).
    fn read(&self, e: usize, wanted: impl Fn(Section) -> bool) -> Option<Prefix> {
        let entry = &self.entries[e];
        let (mut from, mut to) = (u64::MAX, 0);
        for (s, range) in entry.spans() {
            if wanted(s) {
                from = from.min(range.start);
                to = to.max(range.end);
            }
        }
        let from = from.min(to);
        let mut bytes = vec![0; usize::try_from(to - from).ok()?];
        self.file
            .read_exact_at(&mut bytes, entry.start + from)
            .ok()?;
        let mut starts = [None; SECTIONS.len()];
        for (s, range) in entry.spans() {
            if range.start >= from && range.end <= to {
                starts[s.index()] = usize::try_from(range.start - from).ok();
            }
        }
        Some(Prefix {
            sections: entry.header.sections,
            bytes,
            starts,
            verified: [false; SECTIONS.len()],
            log: None,
        })
    }

    /// The view of `id` as far as the `wanted` sections, if the pack holds
    /// it for exactly the chunks of `fingerprint`, as
    /// [`Views::prefix`](super::Views) reads a file. `None` too if a
    /// wanted section is not packed (not counted as a miss: the file has
    /// it).
    pub(super) fn prefix(
        &self,
        id: &DocId,
        fingerprint: &[String],
        wanted: &impl Fn(Section) -> bool,
    ) -> Option<Prefix> {
        // A document with no chunks (not on this machine) has no view to
        // pack: not a miss.
        if fingerprint.is_empty() || SECTIONS.iter().any(|s| wanted(*s) && !packed(*s)) {
            return None;
        }
        let Some(e) = self.valid(id, fingerprint) else {
            self.missed.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        // Checked here too, so that a damaged entry is read from the file
        // and replaced, not left to fail every read.
        let prefix = self.read(e, wanted).and_then(|p| p.checked(wanted));
        if prefix.is_none() {
            if let Ok(mut damaged) = self.damaged.lock() {
                damaged.push(*id);
            }
            self.missed.fetch_add(1, Ordering::Relaxed);
        }
        prefix
    }

    /// How many documents reads found missing, held for other chunks, or
    /// damaged.
    pub(super) fn missed(&self) -> usize {
        self.missed.load(Ordering::Relaxed)
    }
}

/// What a new pack is made of, as [`plan`] decides it.
pub(super) struct Plan {
    entries: Vec<(DocId, Vec<String>, Source)>,
}

/// Decides the entries of a new pack: for each of `docs` (with the chunks
/// a read just listed for it, `None` if it did not; a document named twice
/// counts once), the old entry if it is for those chunks, else the view's
/// file if it is valid for them (`file`, reading the packed sections; each
/// must check), else the old entry as it is if the read did not list the
/// document's chunks (it is checked against them when read); then the old
/// entries of documents not in `docs` that `keep` keeps. `None` if fewer
/// than `at_least` entries (one, without an old pack) would come from
/// views' files: the pack would hold too little that is newer, and is not
/// written.
pub(super) fn plan(
    old: Option<&Pack>,
    docs: &[(DocId, Option<Vec<String>>)],
    keep: impl Fn(&DocId) -> bool,
    at_least: usize,
    file: impl Fn(&DocId, &[String]) -> Option<Prefix>,
) -> Option<Plan> {
    let mut entries = Vec::with_capacity(docs.len());
    let mut fresh = 0;
    let mut planned = std::collections::HashSet::with_capacity(docs.len());
    for (id, fingerprint) in docs {
        if !planned.insert(*id) {
            continue;
        }
        let source = match fingerprint {
            None => old.and_then(|p| {
                let i = *p.by_id.get(id)?;
                Some((p.entries[i].header.chunks.clone(), Source::Old(i)))
            }),
            Some(fp) => match old.and_then(|p| p.valid(id, fp)) {
                Some(i) => Some((fp.clone(), Source::Old(i))),
                None => file(id, fp)
                    .and_then(|prefix| prefix.checked(packed))
                    .map(|prefix| {
                        fresh += 1;
                        (fp.clone(), Source::File(Box::new(prefix)))
                    }),
            },
        };
        if let Some((chunks, source)) = source {
            entries.push((*id, chunks, source));
        }
    }
    if fresh == 0 || (old.is_some() && fresh < at_least) {
        return None;
    }
    if let Some(old) = old {
        for (i, e) in old.entries.iter().enumerate() {
            if keep(&e.id) && !planned.contains(&e.id) {
                entries.push((e.id, e.header.chunks.clone(), Source::Old(i)));
            }
        }
    }
    Some(Plan { entries })
}

impl Plan {
    /// Writes the pack to `path`, atomically (a temporary file in `dir`,
    /// renamed over it; not synced: it is a cache, and a torn one is
    /// found by its length and checksums). An old entry that cannot be
    /// read is left out.
    pub(super) fn write(self, old: Option<&Pack>, dir: &Path, path: &Path) -> std::io::Result<()> {
        // Each entry's header and sections, gathered first so an entry
        // that cannot be read drops out rather than failing the pack.
        let mut kept = Vec::with_capacity(self.entries.len());
        for (id, chunks, source) in self.entries {
            let prefix = match source {
                Source::Old(e) => match old.and_then(|p| p.read(e, packed)) {
                    Some(prefix) => prefix,
                    None => continue,
                },
                Source::File(prefix) => *prefix,
            };
            let sections: Option<Vec<&[u8]>> = ORDER.iter().map(|s| prefix.section(*s)).collect();
            if sections.is_none() {
                continue;
            }
            let header = Header {
                chunks,
                sections: prefix.sections,
            };
            kept.push(((*id.as_bytes(), header), prefix));
        }
        let index: Vec<&([u8; 16], Header)> = kept.iter().map(|(h, _)| h).collect();
        let index = encode(&index)?;
        let index_len = u32::try_from(index.len()).map_err(std::io::Error::other)?;
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        {
            let mut out = std::io::BufWriter::new(tmp.as_file_mut());
            out.write_all(MAGIC)?;
            out.write_all(&PACK_VERSION.to_le_bytes())?;
            out.write_all(&VERSION.to_le_bytes())?;
            out.write_all(&index_len.to_le_bytes())?;
            out.write_all(&crc32fast::hash(&index).to_le_bytes())?;
            out.write_all(&index)?;
            for (_, prefix) in &kept {
                for s in ORDER {
                    let bytes = prefix
                        .section(s)
                        .ok_or_else(|| std::io::Error::other("a packed section changed"))?;
                    out.write_all(bytes)?;
                }
            }
            out.flush()?;
        }
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}
