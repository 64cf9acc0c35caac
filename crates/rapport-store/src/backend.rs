//! Where chunks are kept: a directory in the automerge-repo storage layout,
//! or memory (for tests).
//!
//! A chunk's key is `[document id, "incremental" | "snapshot", name]`. On
//! disk that is `<root>/<first two characters of the id>/<rest of the
//! id>/<kind>/<name>`, the layout samod's `TokioFilesystemStorage` and the
//! JS `NodeFSStorageAdapter` use, so a relay can be pointed at the same
//! directory.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rapport_core::DocId;

use crate::listings::FolderStamp;
use crate::open_dir::OpenDir;

/// The two kinds of chunk in automerge-repo storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChunkKind {
    /// A whole document (`Automerge::save`), named by the hash of its heads.
    Snapshot,
    /// One change, named by its change hash.
    Incremental,
}

impl ChunkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChunkKind::Snapshot => "snapshot",
            ChunkKind::Incremental => "incremental",
        }
    }
}

/// A chunk's full key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChunkKey {
    pub doc: DocId,
    pub kind: ChunkKind,
    pub name: String,
}

/// A key-value store of chunks. Writes are atomic and durable: after `put`
/// returns, the chunk survives a crash whole, or was never there.
pub trait Backend: Send + Sync {
    /// Every document with at least one chunk.
    fn docs(&self) -> io::Result<Vec<DocId>>;
    /// The names of a document's chunks of one kind.
    fn list(&self, doc: &DocId, kind: ChunkKind) -> io::Result<Vec<String>>;
    /// The metadata of the folder of a document's chunks of one kind, for
    /// [`Listings`](crate::Listings); `None` where there is no such folder
    /// (or no folders at all: then every read lists).
    fn stamp(&self, _doc: &DocId, _kind: ChunkKind) -> io::Result<Option<FolderStamp>> {
        Ok(None)
    }
    /// A chunk's bytes; `None` if it does not exist (e.g. a compaction removed it).
    fn get(&self, key: &ChunkKey) -> io::Result<Option<Vec<u8>>>;
    /// A chunk's length in bytes, without reading it; `None` if it does
    /// not exist.
    fn len(&self, key: &ChunkKey) -> io::Result<Option<u64>> {
        Ok(self.get(key)?.map(|b| b.len() as u64))
    }
    fn put(&self, key: &ChunkKey, bytes: &[u8]) -> io::Result<()>;
    /// Removing a chunk that is not there is not an error.
    fn remove(&self, key: &ChunkKey) -> io::Result<()>;
    /// Moves a chunk out of the document (to a quarantine area), never
    /// deleting it. Returns where it went.
    fn quarantine(&self, key: &ChunkKey) -> io::Result<String>;
    /// How a chunk is named in messages: its path on disk.
    fn describe(&self, key: &ChunkKey) -> String;
}

/// Chunks in a directory, in the automerge-repo layout.
#[derive(Debug, Clone)]
pub struct FsBackend {
    /// The root (listings open each document's folders from its
    /// descriptor: every read lists two per document).
    root: OpenDir,
}

impl FsBackend {
    pub fn new(root: impl Into<PathBuf>) -> FsBackend {
        FsBackend {
            root: OpenDir::new(root.into()),
        }
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    fn doc_dir(&self, doc: &DocId) -> PathBuf {
        let id = doc.to_bs58();
        let (head, tail) = id.split_at(2);
        self.root.path().join(head).join(tail)
    }

    fn path(&self, key: &ChunkKey) -> PathBuf {
        self.doc_dir(&key.doc)
            .join(key.kind.as_str())
            .join(&key.name)
    }

    /// Temporary files live outside every document directory, so a crash
    /// mid-write never leaves a half chunk where a reader (or samod) looks.
    fn tmp_dir(&self) -> PathBuf {
        self.root.path().join(".tmp")
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    // Persists the rename itself. Directories cannot be opened for sync on
    // every platform; where they cannot, the rename is as durable as the OS
    // makes it.
    match fs::File::open(dir) {
        Ok(f) => f.sync_all().or(Ok(())),
        Err(_) => Ok(()),
    }
}

impl Backend for FsBackend {
    fn docs(&self) -> io::Result<Vec<DocId>> {
        let mut out = Vec::new();
        let entries = match fs::read_dir(self.root.path()) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(e),
        };
        for head in entries {
            let head = head?;
            let head_name = head.file_name().to_string_lossy().to_string();
            if head_name.starts_with('.') || !head.file_type()?.is_dir() {
                continue;
            }
            for tail in fs::read_dir(head.path())? {
                let tail = tail?;
                let name = format!("{head_name}{}", tail.file_name().to_string_lossy());
                if let Ok(id) = name.parse::<DocId>() {
                    let has_chunks = !self.list(&id, ChunkKind::Snapshot)?.is_empty()
                        || !self.list(&id, ChunkKind::Incremental)?.is_empty();
                    if has_chunks {
                        out.push(id);
                    }
                }
            }
        }
        out.sort();
        Ok(out)
    }

    fn list(&self, doc: &DocId, kind: ChunkKind) -> io::Result<Vec<String>> {
        use rustix::fs::{AtFlags, Dir, FileType, OFlags};
        // Every read lists its documents' chunk folders: rustix's `Dir` has
        // no `fstat` and no 32 KiB buffer per folder as libc's `opendir`
        // has. A folder of up to eight chunks (its first buffer) takes four
        // system calls (open, read, the read that finds the end, close);
        // a full one (64 incrementals before compaction) three reads more.
        let id = doc.to_bs58();
        let (head, tail) = id.split_at(2);
        let dir = format!("{head}/{tail}/{}", kind.as_str());
        let fd = match self.root.open(&dir, OFlags::RDONLY | OFlags::DIRECTORY) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut entries = Dir::new(fd)?;
        let mut names = Vec::new();
        while let Some(entry) = entries.read() {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name.starts_with(b".") {
                continue;
            }
            let file = match entry.file_type() {
                FileType::RegularFile => true,
                // A file system that does not say: ask it (not following links).
                FileType::Unknown => {
                    let stat = rustix::fs::statat(
                        entries.fd()?,
                        entry.file_name(),
                        AtFlags::SYMLINK_NOFOLLOW,
                    )?;
                    FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile
                }
                _ => false,
            };
            if file {
                names.push(String::from_utf8_lossy(name).into_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    fn stamp(&self, doc: &DocId, kind: ChunkKind) -> io::Result<Option<FolderStamp>> {
        thread_local! {
            /// The last document's folder: a read stamps both of its
            /// folders in turn, and encoding an id (bs58check, with its
            /// double SHA-256) cost 3% of a `person list` of 200 accounts.
            static LAST: std::cell::RefCell<Option<(DocId, String)>> =
                const { std::cell::RefCell::new(None) };
        }
        let folder = LAST.with_borrow_mut(|last| {
            let dir = match last {
                Some((id, dir)) if id == doc => dir,
                _ => {
                    let id = doc.to_bs58();
                    let (head, tail) = id.split_at(2);
                    &mut last.insert((*doc, format!("{head}/{tail}"))).1
                }
            };
            format!("{dir}/{}", kind.as_str())
        });
        #[cfg(target_os = "linux")]
        match self.root.statx(&folder) {
            Ok(x) => {
                use rustix::fs::{FileType, StatxFlags};
                let wanted = StatxFlags::TYPE | StatxFlags::INO | StatxFlags::SIZE;
                let times = StatxFlags::MTIME | StatxFlags::CTIME;
                let mask = StatxFlags::from_bits_retain(x.stx_mask);
                if !mask.contains(wanted | times)
                    || FileType::from_raw_mode(x.stx_mode.into()) != FileType::Directory
                {
                    return Ok(None);
                }
                return Ok(Some(FolderStamp {
                    ino: x.stx_ino,
                    size: x.stx_size,
                    mtime: (x.stx_mtime.tv_sec, x.stx_mtime.tv_nsec),
                    ctime: (x.stx_ctime.tv_sec, x.stx_ctime.tv_nsec),
                }));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            // Before Linux 4.11 (or in an old container): `stat` below.
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOSYS.raw_os_error()) => {}
            Err(e) => return Err(e),
        }
        let stat = match self.root.stat(&folder) {
            Ok(stat) => stat,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::Directory {
            return Ok(None);
        }
        // The fields' integer types differ between platforms.
        #[allow(clippy::useless_conversion)]
        Ok(Some(FolderStamp {
            ino: stat.st_ino.try_into().unwrap_or(0),
            size: stat.st_size.try_into().unwrap_or(0),
            mtime: (
                stat.st_mtime.try_into().unwrap_or(0),
                stat.st_mtime_nsec.try_into().unwrap_or(0),
            ),
            ctime: (
                stat.st_ctime.try_into().unwrap_or(0),
                stat.st_ctime_nsec.try_into().unwrap_or(0),
            ),
        }))
    }

    fn get(&self, key: &ChunkKey) -> io::Result<Option<Vec<u8>>> {
        match fs::read(self.path(key)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn len(&self, key: &ChunkKey) -> io::Result<Option<u64>> {
        match fs::metadata(self.path(key)) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn put(&self, key: &ChunkKey, bytes: &[u8]) -> io::Result<()> {
        let path = self.path(key);
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.root.path().to_path_buf());
        fs::create_dir_all(&dir)?;
        fs::create_dir_all(self.tmp_dir())?;
        let mut tmp = tempfile::NamedTempFile::new_in(self.tmp_dir())?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(&path).map_err(|e| e.error)?;
        sync_dir(&dir)
    }

    fn remove(&self, key: &ChunkKey) -> io::Result<()> {
        match fs::remove_file(self.path(key)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn quarantine(&self, key: &ChunkKey) -> io::Result<String> {
        let dir = self
            .root
            .path()
            .join(".quarantine")
            .join(key.doc.to_bs58())
            .join(key.kind.as_str());
        fs::create_dir_all(&dir)?;
        let target = dir.join(&key.name);
        fs::rename(self.path(key), &target)?;
        Ok(target.display().to_string())
    }

    fn describe(&self, key: &ChunkKey) -> String {
        self.path(key).display().to_string()
    }
}

/// Chunks in memory, shared between clones (as several processes share a
/// directory).
#[derive(Debug, Clone, Default)]
pub struct MemBackend {
    chunks: Arc<Mutex<BTreeMap<ChunkKey, Vec<u8>>>>,
    quarantined: Arc<Mutex<BTreeMap<ChunkKey, Vec<u8>>>>,
}

impl MemBackend {
    pub fn new() -> MemBackend {
        MemBackend::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<ChunkKey, Vec<u8>>> {
        // A panic while holding the lock cannot leave the map half-updated
        // (every operation is a single insert or remove), so a poisoned lock
        // is still consistent.
        self.chunks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Backend for MemBackend {
    fn docs(&self) -> io::Result<Vec<DocId>> {
        let mut docs: Vec<DocId> = self.lock().keys().map(|k| k.doc).collect();
        docs.dedup();
        Ok(docs)
    }

    fn list(&self, doc: &DocId, kind: ChunkKind) -> io::Result<Vec<String>> {
        Ok(self
            .lock()
            .keys()
            .filter(|k| &k.doc == doc && k.kind == kind)
            .map(|k| k.name.clone())
            .collect())
    }

    fn get(&self, key: &ChunkKey) -> io::Result<Option<Vec<u8>>> {
        Ok(self.lock().get(key).cloned())
    }

    fn put(&self, key: &ChunkKey, bytes: &[u8]) -> io::Result<()> {
        self.lock().insert(key.clone(), bytes.to_vec());
        Ok(())
    }

    fn remove(&self, key: &ChunkKey) -> io::Result<()> {
        self.lock().remove(key);
        Ok(())
    }

    fn quarantine(&self, key: &ChunkKey) -> io::Result<String> {
        let bytes = self.lock().remove(key).unwrap_or_default();
        self.quarantined
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone(), bytes);
        Ok(format!("quarantine:{}", self.describe(key)))
    }

    fn describe(&self, key: &ChunkKey) -> String {
        format!(
            "mem:{}/{}/{}",
            key.doc.to_bs58(),
            key.kind.as_str(),
            key.name
        )
    }
}
