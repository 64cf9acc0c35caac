//! Remembered listings of chunk folders, trusted while a folder's metadata
//! is unchanged: git's "racy clean" rule, applied to directories.
//!
//! A read over many documents lists two chunk folders per document, so that
//! a view is used only for the exact chunks it was built from; at 100k
//! records over 200 accounts that listing was a fifth of `agenda`. Every
//! change to a folder's entries (a chunk written, renamed in or removed)
//! sets the folder's ctime and mtime to the time of the change. So when a
//! folder was listed and its ctime was then already older than the listing
//! by more than the file system's clock granularity, any later change
//! gives it a different ctime: while its inode, size, mtime and ctime are
//! what they were at the listing, its entries are too, and one `statx`
//! stands for the open, reads and close of a listing.
//!
//! A folder changed less than [`MARGIN`] before the listing is not
//! remembered (a change in the same clock tick would leave its times
//! unchanged), nor is one whose times have no sub-second part (a coarse
//! file system, where a clock set back could give a later change the same
//! time), nor one whose stamp changed while it was listed. On Linux the
//! stamp is taken with `AT_STATX_FORCE_SYNC`, so a network file system
//! asks its server rather than its attribute cache. What is left is the
//! clock stepped back after a listing and a later change landing on the
//! very nanosecond of the remembered ctime, as with git's index, and on a
//! network file system a server clock more than the margin behind ours.
//!
//! The listings are one file beside the views (`listings`), a cache like
//! them: damaged or missing, it is ignored, and every folder is listed.
//! Each entry is a fact about one folder at one ctime, so two commands
//! saving at once lose at most each other's new entries, never make a
//! wrong one.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rapport_core::DocId;
use serde::{Deserialize, Serialize};

use crate::backend::ChunkKind;

/// How much older than the time of a listing a folder's last change must
/// be for the listing to be remembered: above any file system's timestamp
/// granularity (two seconds on FAT) and the kernel's coarse clock (a tick).
pub const MARGIN: Duration = Duration::from_secs(3);

const MAGIC: &[u8; 4] = b"RPLS";
/// Bump when the file's format changes.
const VERSION: u32 = 1;
/// Magic, version, CRC-32 of the rest.
const PREFIX: usize = 12;

/// A chunk folder's metadata, as `statx` gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderStamp {
    pub ino: u64,
    pub size: u64,
    /// Seconds and nanoseconds since the epoch.
    pub mtime: (i64, u32),
    pub ctime: (i64, u32),
}

#[derive(Serialize, Deserialize)]
struct Entry {
    doc: [u8; 16],
    kind: u8,
    stamp: FolderStamp,
    names: Vec<String>,
}

fn kind_byte(kind: ChunkKind) -> u8 {
    match kind {
        ChunkKind::Snapshot => 0,
        ChunkKind::Incremental => 1,
    }
}

fn kind_of(byte: u8) -> Option<ChunkKind> {
    match byte {
        0 => Some(ChunkKind::Snapshot),
        1 => Some(ChunkKind::Incremental),
        _ => None,
    }
}

type Key = (DocId, ChunkKind);

/// Listings by folder, each with the stamp it was listed at.
type Remembered = HashMap<Key, (FolderStamp, Vec<String>)>;

/// The listings read from the file, their names held in one string
/// (joined by `/`, which no file name holds) rather than a `String`
/// each: 400 folders' names, decoded into as many strings, were 0.15-0.2
/// ms of the start of every command. A folder's names become strings
/// when its listing is taken.
#[derive(Debug, Default)]
struct Known {
    names: String,
    folders: HashMap<Key, (FolderStamp, std::ops::Range<usize>)>,
}

impl Known {
    /// The folder's names, if it is remembered at `stamp`.
    fn get(&self, key: &Key, stamp: &FolderStamp) -> Option<Vec<String>> {
        let (known, range) = self.folders.get(key)?;
        if known != stamp {
            return None;
        }
        let names = &self.names[range.clone()];
        Some(if names.is_empty() {
            Vec::new()
        } else {
            names.split('/').map(String::from).collect()
        })
    }
}

/// The remembered listings of one command: those read from the file, and
/// those this command may add to it ([`save`](Self::save)).
#[derive(Debug)]
pub struct Listings {
    path: Option<PathBuf>,
    /// Folders whose ctime is before this may be remembered: the time the
    /// listings were opened (before any folder was looked at), less
    /// [`MARGIN`], in the form of a ctime.
    before: (i64, u32),
    known: Known,
    /// Listings this command may remember, and whether any is not saved.
    fresh: Mutex<(Remembered, bool)>,
}

impl Listings {
    /// No remembered listings, and none kept: every folder is listed.
    pub fn none() -> Listings {
        Listings {
            path: None,
            before: (i64::MIN, 0),
            known: Known::default(),
            fresh: Mutex::default(),
        }
    }

    /// The listings remembered in `path` (none if it is missing or
    /// damaged), to be used and added to from now on.
    pub fn open(path: impl Into<PathBuf>) -> Listings {
        Listings::open_at(path, SystemTime::now())
    }

    /// [`open`](Self::open) as if it were `now` (tests move the clock).
    pub fn open_at(path: impl Into<PathBuf>, now: SystemTime) -> Listings {
        let path = path.into();
        let known = std::fs::read(&path)
            .ok()
            .and_then(|bytes| decode_known(&bytes))
            .unwrap_or_default();
        let before = now
            .checked_sub(MARGIN)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or((i64::MIN, 0), |d| {
                (
                    i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                    d.subsec_nanos(),
                )
            });
        Listings {
            path: Some(path),
            before,
            known,
            fresh: Mutex::default(),
        }
    }

    fn fresh(&self) -> std::sync::MutexGuard<'_, (Remembered, bool)> {
        // Every change under the lock is one insert: a poisoned map is whole.
        self.fresh.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The names in a folder whose metadata is `stamp` now, if a listing
    /// of it at that stamp is remembered.
    pub fn get(&self, doc: &DocId, kind: ChunkKind, stamp: &FolderStamp) -> Option<Vec<String>> {
        let key = (*doc, kind);
        if let Some(names) = self.known.get(&key, stamp) {
            return Some(names);
        }
        let fresh = self.fresh();
        let (known, names) = fresh.0.get(&key)?;
        (known == stamp).then(|| names.clone())
    }

    /// Remembers that the folder had `names` when its metadata was `stamp`,
    /// read before it was listed, if its last change was long enough
    /// before the listing.
    pub fn offer(&self, doc: &DocId, kind: ChunkKind, stamp: FolderStamp, names: &[String]) {
        let recent = stamp.ctime >= self.before || stamp.mtime >= self.before;
        let coarse = stamp.ctime.1 == 0 || stamp.mtime.1 == 0;
        if self.path.is_none() || recent || coarse {
            return;
        }
        let mut fresh = self.fresh();
        fresh.0.insert((*doc, kind), (stamp, names.to_vec()));
        fresh.1 = true;
    }

    /// Whether these are [`none`](Self::none): then a folder is not even
    /// looked at before it is listed.
    pub fn is_off(&self) -> bool {
        self.path.is_none()
    }

    /// Adds this command's new listings to the file (atomically; the file
    /// is a cache, so it is not synced). Nothing to add, nothing written.
    pub fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        // Kept (for this command's later reads), but saved once.
        let fresh = {
            let mut fresh = self.fresh();
            if !std::mem::replace(&mut fresh.1, false) {
                return Ok(());
            }
            fresh.0.clone()
        };
        // Another command may have saved since this one opened the file.
        let mut all = std::fs::read(path)
            .ok()
            .and_then(|bytes| decode(&bytes))
            .unwrap_or_default();
        all.extend(fresh);
        write_atomically(path, &encode(&all)?)
    }
}

/// The body of a listings file, if its prefix is right.
fn body(bytes: &[u8]) -> Option<&[u8]> {
    let (prefix, body) = bytes.split_at_checked(PREFIX)?;
    if &prefix[..4] != MAGIC
        || prefix[4..8] != VERSION.to_le_bytes()
        || prefix[8..12] != crc32fast::hash(body).to_le_bytes()
    {
        return None;
    }
    Some(body)
}

/// An [`Entry`] with its names borrowed from the file's bytes.
#[derive(Deserialize)]
struct EntryRef<'a> {
    doc: [u8; 16],
    kind: u8,
    stamp: FolderStamp,
    #[serde(borrow)]
    names: Vec<&'a str>,
}

fn decode_known(bytes: &[u8]) -> Option<Known> {
    let entries: Vec<EntryRef> = match postcard::take_from_bytes(body(bytes)?) {
        Ok((entries, [])) => entries,
        _ => return None,
    };
    let mut known = Known {
        names: String::with_capacity(bytes.len()),
        folders: HashMap::with_capacity(entries.len()),
    };
    for e in entries {
        // A name with a `/` is no file's: the file is not ours.
        if e.names.iter().any(|n| n.contains('/')) {
            return None;
        }
        let start = known.names.len();
        for (i, name) in e.names.iter().enumerate() {
            if i > 0 {
                known.names.push('/');
            }
            known.names.push_str(name);
        }
        let key = (DocId::from_bytes(e.doc), kind_of(e.kind)?);
        known
            .folders
            .insert(key, (e.stamp, start..known.names.len()));
    }
    Some(known)
}

fn decode(bytes: &[u8]) -> Option<Remembered> {
    let entries: Vec<Entry> = match postcard::take_from_bytes(body(bytes)?) {
        Ok((entries, [])) => entries,
        _ => return None,
    };
    entries
        .into_iter()
        .map(|e| {
            let kind = kind_of(e.kind)?;
            Some(((DocId::from_bytes(e.doc), kind), (e.stamp, e.names)))
        })
        .collect()
}

fn encode(all: &Remembered) -> std::io::Result<Vec<u8>> {
    let entries: Vec<Entry> = all
        .iter()
        .map(|((doc, kind), (stamp, names))| Entry {
            doc: *doc.as_bytes(),
            kind: kind_byte(*kind),
            stamp: *stamp,
            names: names.clone(),
        })
        .collect();
    let body = postcard::to_stdvec(&entries).map_err(std::io::Error::other)?;
    let mut bytes = Vec::with_capacity(PREFIX + body.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    bytes.extend_from_slice(&body);
    Ok(bytes)
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.as_file_mut().write_all(bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::{Backend, ChunkKey, FsBackend, MemBackend, Store};

    fn key(doc: DocId, kind: ChunkKind, name: &str) -> ChunkKey {
        ChunkKey {
            doc,
            kind,
            name: name.into(),
        }
    }

    fn names(keys: &[ChunkKey]) -> Vec<String> {
        keys.iter()
            .map(|k| format!("{}/{}", k.kind.as_str(), k.name))
            .collect()
    }

    /// A store with one document of one incremental chunk, and where its
    /// listings are kept.
    fn store() -> (tempfile::TempDir, Store<FsBackend>, DocId, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(FsBackend::new(tmp.path().join("store")));
        let doc = DocId::random();
        let first = key(doc, ChunkKind::Incremental, "aa");
        store.backend().put(&first, b"one").unwrap();
        let path = tmp.path().join("views/listings");
        (tmp, store, doc, path)
    }

    /// The file read for lookups gives every folder's names as the file
    /// read whole (to add to it) does.
    #[test]
    fn names_read_for_lookups_are_those_saved() {
        let stamp = |n: u64| FolderStamp {
            ino: n,
            size: 4096,
            mtime: (1, 2),
            ctime: (3, 4),
        };
        let mut all = Remembered::new();
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        all.insert(
            (DocId::random(), ChunkKind::Snapshot),
            (stamp(1), names(&[])),
        );
        all.insert(
            (DocId::random(), ChunkKind::Incremental),
            (stamp(2), names(&["ab"])),
        );
        all.insert(
            (DocId::random(), ChunkKind::Snapshot),
            (stamp(3), names(&["c", "dd", "é e"])),
        );
        let bytes = encode(&all).unwrap();
        assert_eq!(decode(&bytes).unwrap(), all);
        let known = decode_known(&bytes).unwrap();
        assert_eq!(known.folders.len(), all.len());
        for (key, (stamp, names)) in &all {
            assert_eq!(known.get(key, stamp), Some(names.clone()));
            let other = FolderStamp { ino: 99, ..*stamp };
            assert_eq!(known.get(key, &other), None);
        }
        let mut bad = all.clone();
        bad.insert(
            (DocId::random(), ChunkKind::Snapshot),
            (stamp(4), names(&["a/b"])),
        );
        assert!(
            decode_known(&encode(&bad).unwrap()).is_none(),
            "not a file name"
        );
    }

    fn later() -> SystemTime {
        SystemTime::now() + MARGIN + Duration::from_secs(1)
    }

    /// Lists the document as a read past the margin does, and saves what
    /// it remembers.
    fn remember(store: &Store<FsBackend>, doc: &DocId, path: &Path) {
        let listings = Listings::open_at(path, later());
        store.list_chunks_with(doc, &listings).unwrap();
        listings.save().unwrap();
    }

    /// The stamp of the document's incremental folder now.
    fn stamp(store: &Store<FsBackend>, doc: &DocId) -> FolderStamp {
        store
            .backend()
            .stamp(doc, ChunkKind::Incremental)
            .unwrap()
            .unwrap()
    }

    #[test]
    fn a_folder_changed_within_the_margin_is_listed_every_time() {
        let (_tmp, store, doc, path) = store();
        let listings = Listings::open(&path);
        let listed = store.list_chunks_with(&doc, &listings).unwrap();
        assert_eq!(names(&listed), ["incremental/aa"]);
        listings.save().unwrap();
        assert!(!path.exists(), "a folder just written was remembered");
    }

    #[test]
    fn a_remembered_listing_stands_until_the_folder_changes() {
        let (_tmp, store, doc, path) = store();
        remember(&store, &doc, &path);
        assert!(path.exists());

        // What is remembered is what a read gets, without a listing: shown
        // by remembering a listing the folder never had.
        let stamp = stamp(&store, &doc);
        let planted = Listings::open_at(&path, later());
        planted.offer(&doc, ChunkKind::Incremental, stamp, &["zz".into()]);
        planted.save().unwrap();
        let listings = Listings::open_at(&path, later());
        let listed = store.list_chunks_with(&doc, &listings).unwrap();
        assert_eq!(names(&listed), ["incremental/zz"]);

        // A chunk written changes the folder's ctime: listed again, and
        // right (whatever the clock says).
        let second = key(doc, ChunkKind::Incremental, "bb");
        store.backend().put(&second, b"two").unwrap();
        let listed = store.list_chunks_with(&doc, &listings).unwrap();
        assert_eq!(names(&listed), ["incremental/aa", "incremental/bb"]);
        // And a chunk removed.
        store.backend().remove(&second).unwrap();
        let listings = Listings::open_at(&path, later());
        let listed = store.list_chunks_with(&doc, &listings).unwrap();
        assert_eq!(names(&listed), ["incremental/aa"]);
    }

    /// Saving keeps what it saved for the same command's later reads, and
    /// writes the file only when there is something new.
    #[test]
    fn a_saved_listing_is_still_used_and_saved_once() {
        let (_tmp, store, doc, path) = store();
        let listings = Listings::open_at(&path, later());
        store.list_chunks_with(&doc, &listings).unwrap();
        listings.save().unwrap();
        let stamp = stamp(&store, &doc);
        assert_eq!(
            listings.get(&doc, ChunkKind::Incremental, &stamp),
            Some(vec!["aa".into()])
        );
        std::fs::remove_file(&path).unwrap();
        listings.save().unwrap();
        assert!(!path.exists(), "saved again with nothing new");
    }

    #[test]
    fn a_folder_that_appears_later_is_listed() {
        let (_tmp, store, doc, path) = store();
        remember(&store, &doc, &path);
        let snapshot = key(doc, ChunkKind::Snapshot, "ss");
        store.backend().put(&snapshot, b"all").unwrap();
        let listings = Listings::open_at(&path, later());
        let listed = store.list_chunks_with(&doc, &listings).unwrap();
        assert_eq!(names(&listed), ["snapshot/ss", "incremental/aa"]);
    }

    #[test]
    fn a_damaged_file_is_ignored_and_replaced() {
        let (_tmp, store, doc, path) = store();
        remember(&store, &doc, &path);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&path, &bytes).unwrap();

        let stamp = stamp(&store, &doc);
        let listings = Listings::open_at(&path, later());
        assert_eq!(listings.get(&doc, ChunkKind::Incremental, &stamp), None);
        store.list_chunks_with(&doc, &listings).unwrap();
        listings.save().unwrap();
        let listings = Listings::open_at(&path, later());
        assert_eq!(
            listings.get(&doc, ChunkKind::Incremental, &stamp),
            Some(vec!["aa".into()])
        );
    }

    #[test]
    fn a_coarse_clock_is_not_trusted() {
        let (_tmp, _store, doc, path) = store();
        let listings = Listings::open_at(&path, later());
        let coarse = FolderStamp {
            ino: 1,
            size: 4096,
            mtime: (1_700_000_000, 0),
            ctime: (1_700_000_000, 0),
        };
        listings.offer(&doc, ChunkKind::Incremental, coarse, &["aa".into()]);
        assert_eq!(listings.get(&doc, ChunkKind::Incremental, &coarse), None);
        listings.save().unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn a_store_in_memory_has_no_stamps_and_is_listed() {
        let store = Store::new(MemBackend::new());
        let doc = DocId::random();
        store
            .backend()
            .put(&key(doc, ChunkKind::Incremental, "aa"), b"one")
            .unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let listings = Listings::open_at(tmp.path().join("listings"), later());
        let listed = store.list_chunks_with(&doc, &listings).unwrap();
        assert_eq!(names(&listed), ["incremental/aa"]);
        listings.save().unwrap();
        assert!(!tmp.path().join("listings").exists());
    }
}
