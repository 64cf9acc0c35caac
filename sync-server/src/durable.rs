//! The relay tells a client nothing it could lose: a sync message goes out
//! only once every change it claims the relay holds is on disk.
//!
//! samod generates a document's sync replies and its storage writes in the
//! same step, then sends both off on their own; the reply can reach the
//! client before the write is done, and its file is written in place with
//! no fsync. A relay killed in that window would have told the client "I
//! have your changes" (its heads equal the client's) and then come back
//! without them, and a teammate fetching afterwards would miss them.
//!
//! So the relay stores documents through [`DurableStorage`] — the same
//! automerge-repo directory layout as samod's filesystem storage, but each
//! file written to a temporary name, made durable, renamed into place, and
//! the rename made durable (the writes waiting at once together: see
//! [`Writes`]) — which records in a per-team [`Ledger`] which changes
//! are on disk. The transport holds each outgoing `sync` message until
//! [`Ledger::wait`] says the heads it announces are durable.
//!
//! A change counts as durable when this run wrote its own file (an
//! incremental chunk) or a snapshot whose heads include it, *and* no write
//! the document issued before it is still running (writes of one batch are
//! issued in causal order, so this covers its ancestors), or when it is a
//! head of a snapshot found on disk (a snapshot holds every ancestor). An
//! incremental file found on disk proves nothing about its ancestors, so it
//! does not count; samod writes every change again after loading a
//! document, and those writes do. A write that fails marks the document
//! failed: its messages are never released, the client's session ends
//! unsynced, no chunk of it is deleted, and the team's repo restarts to
//! read what really is on disk.

use std::collections::{BTreeSet, HashMap};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use samod::storage::{Storage, StorageKey, TokioFilesystemStorage};

use crate::metrics::Metrics;

type Hash = [u8; 32];

/// What the ledger says about a set of heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Durable,
    Pending,
    /// A write of this document failed; it will not become durable in this
    /// run of the team's repo.
    Failed,
}

#[derive(Default)]
struct DocLedger {
    /// Each change known to be on disk, with the sequence number of the
    /// write that put it there (0: loaded from disk).
    durable: HashMap<Hash, u64>,
    in_flight: BTreeSet<u64>,
    failed: bool,
}

/// Which changes of a team's documents are on disk.
#[derive(Default)]
pub struct Ledger {
    docs: Mutex<HashMap<String, DocLedger>>,
    next_seq: AtomicU64,
    changed: tokio::sync::Notify,
}

fn bare(doc: &str) -> &str {
    doc.strip_prefix("automerge:").unwrap_or(doc)
}

impl Ledger {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, DocLedger>> {
        self.docs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn loaded(&self, doc: &str, hashes: impl IntoIterator<Item = Hash>) {
        let mut docs = self.lock();
        let entry = docs.entry(doc.to_string()).or_default();
        for h in hashes {
            entry.durable.entry(h).or_insert(0);
        }
        drop(docs);
        self.changed.notify_waiters();
    }

    fn begin(&self, doc: &str) -> u64 {
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed) + 1;
        self.lock()
            .entry(doc.to_string())
            .or_default()
            .in_flight
            .insert(seq);
        seq
    }

    fn finish(&self, doc: &str, seq: u64, written: Option<Vec<Hash>>) {
        let mut docs = self.lock();
        let entry = docs.entry(doc.to_string()).or_default();
        entry.in_flight.remove(&seq);
        match written {
            Some(hashes) => {
                for h in hashes {
                    entry.durable.entry(h).or_insert(seq);
                }
            }
            None => entry.failed = true,
        }
        drop(docs);
        self.changed.notify_waiters();
    }

    /// Whether a write of `doc` failed in this run of its team's repo.
    fn failed(&self, doc: &str) -> bool {
        self.lock().get(bare(doc)).is_some_and(|d| d.failed)
    }

    /// Whether every change in `heads` of `doc` is on disk.
    pub fn check(&self, doc: &str, heads: &[Hash]) -> Durability {
        if heads.is_empty() {
            return Durability::Durable;
        }
        let docs = self.lock();
        let Some(entry) = docs.get(bare(doc)) else {
            return Durability::Pending;
        };
        if entry.failed {
            return Durability::Failed;
        }
        let oldest_running = entry.in_flight.first().copied().unwrap_or(u64::MAX);
        let all = heads.iter().all(|h| {
            entry
                .durable
                .get(h)
                .is_some_and(|&seq| seq < oldest_running)
        });
        if all {
            Durability::Durable
        } else {
            Durability::Pending
        }
    }

    /// Waits until `heads` of `doc` are durable, at most `limit`.
    pub async fn wait(&self, doc: &str, heads: &[Hash], limit: Duration) -> Durability {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            match self.check(doc, heads) {
                Durability::Pending => {}
                done => return done,
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.check(doc, heads);
            }
        }
    }
}

/// samod storage in the automerge-repo layout (`<2 chars>/<rest of the
/// document id>/<kind>/<name>`, as samod's and the JS node-fs storage),
/// writing atomically and durably, and keeping a [`Ledger`].
///
/// One pointer: samod's I/O loop keeps a copy in each queued operation, and
/// thousands of writes can wait for a writer at once.
#[derive(Clone)]
pub struct DurableStorage(Arc<Shared>);

struct Shared {
    docs_dir: PathBuf,
    tmp_dir: PathBuf,
    fsync: bool,
    reads: TokioFilesystemStorage,
    ledger: Arc<Ledger>,
    metrics: Arc<Metrics>,
    /// The relay's writes: how many run at once, and their group commit.
    writes: Arc<Writes>,
    /// Called when a write fails (the team's repo restarts from disk).
    on_failure: Arc<dyn Fn() + Send + Sync>,
}

/// Document writes the relay runs at once, up to the point where their
/// temporary files are written: each holds a blocking thread meanwhile.
/// Then they wait for their commit holding no thread, and no descriptor
/// where `syncfs` is used. (With an fsync per file, on a fresh ext4 with a
/// journal, `relay-load --clients 500` did 327-340 sessions/s with 16 at
/// once and 386-398 with 64.)
pub const CONCURRENT_WRITES: usize = 64;

/// The relay's document writes: at most [`CONCURRENT_WRITES`] at once,
/// made durable together, a batch at a time (group commit):
///
/// 1. each chunk is written to a temporary file, not synced;
/// 2. one `syncfs` writes out every temporary file of the batch (and any
///    folder created for it);
/// 3. each is renamed into place;
/// 4. a second `syncfs` makes the renames durable;
/// 5. only then is each write done, and its changes count as durable.
///
/// A chunk's name never holds less than all its bytes, as with an fsync
/// of each file and of its folder; but a batch takes two file system
/// commits, not two per chunk (on a fresh ext4 with a journal,
/// `relay-load --clients 500` went from 410-500 to 740-940 sessions/s).
/// `syncfs` also writes out whatever else is waiting on that file system.
///
/// `syncfs` reports a write error of any file on the file system, once to
/// each descriptor open when it happened, not to the write whose file it
/// was: so it is called on one descriptor kept from the start, and an
/// error fails every write that began before it was seen (fsyncing each
/// file to find whose it was cost a fifth of the throughput). Where
/// `syncfs` might miss an error ([`syncfs_reports_errors`]) or does not
/// exist (not Linux), each file and each new name's folder is fsynced
/// instead, still in batches.
pub struct Writes {
    permits: Arc<tokio::sync::Semaphore>,
    /// A descriptor of the temporary files' folder, for `syncfs`; `None`
    /// where each file is fsynced instead.
    sync_fd: Option<std::fs::File>,
    /// Write errors `syncfs` has reported so far: a write that began
    /// before the last one fails.
    errors: AtomicU64,
    queue: Mutex<CommitQueue>,
}

#[derive(Default)]
struct CommitQueue {
    pending: Vec<Pending>,
    /// Whether a blocking task is committing batches (it stops once the
    /// queue is empty; the next write starts another).
    running: bool,
}

/// A chunk written to a temporary file, waiting to be committed.
struct Pending {
    tmp: tempfile::TempPath,
    /// The temporary file, open, where each file is fsynced.
    file: Option<std::fs::File>,
    path: PathBuf,
    /// [`Writes::errors`] when the write began.
    errors: u64,
    done: tokio::sync::oneshot::Sender<std::io::Result<()>>,
}

/// The task committing batches. Should it end any other way than by
/// finding the queue empty (a panic, or a runtime shutting down before it
/// ran), it fails what is waiting and lets the next write start another,
/// rather than leave every later write waiting.
struct Committer {
    /// `None` once the task ended by finding the queue empty.
    writes: Option<Arc<Writes>>,
}

impl Committer {
    fn run(mut self) {
        if let Some(writes) = &self.writes {
            writes.run();
        }
        // Ended well (a panic in `run` leaves it for `drop`).
        self.writes = None;
    }
}

impl Drop for Committer {
    fn drop(&mut self) {
        let Some(writes) = self.writes.take() else {
            return;
        };
        let waiting = {
            let mut queue = writes.lock();
            queue.running = false;
            std::mem::take(&mut queue.pending)
        };
        for p in waiting {
            let _ = p.done.send(Err(std::io::Error::other(
                "the commit of document writes stopped",
            )));
        }
    }
}

/// Whether `syncfs` reports every write error for `dir`: on Linux 5.17
/// and later (5.8 made it report writeback errors, 5.17 the file system's
/// own, such as a failed journal commit), on a local file system that
/// records errors where `syncfs` looks (not overlayfs or FUSE, which keep
/// them on the file system below).
fn syncfs_reports_errors(dir: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        const LOCAL: [u64; 5] = [
            0xEF53,      // ext2, ext3, ext4
            0x5846_5342, // xfs
            0x9123_683E, // btrfs
            0xF2F5_2010, // f2fs
            0x0102_1994, // tmpfs
        ];
        let release = rustix::system::uname();
        let release = release.release().to_string_lossy();
        let mut parts = release.split(|c: char| !c.is_ascii_digit());
        let mut number = || parts.next().and_then(|p| p.parse::<u32>().ok());
        let recent = matches!(
            (number(), number()),
            (Some(major), Some(minor)) if (major, minor) >= (5, 17)
        );
        let local = std::fs::File::open(dir)
            .ok()
            .and_then(|d| rustix::fs::fstatfs(&d).ok())
            .and_then(|fs| u64::try_from(fs.f_type).ok())
            .is_some_and(|kind| LOCAL.contains(&kind));
        recent && local
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = dir;
        false
    }
}

impl Writes {
    /// Writes whose temporary files are in `tmp_dir` (created if missing).
    pub fn new(tmp_dir: &Path) -> std::io::Result<Writes> {
        std::fs::create_dir_all(tmp_dir)?;
        Writes::with_syncfs(tmp_dir, syncfs_reports_errors(tmp_dir))
    }

    /// [`new`](Self::new), committing with `syncfs` or not (tests take
    /// both ways on any system).
    fn with_syncfs(tmp_dir: &Path, syncfs: bool) -> std::io::Result<Writes> {
        std::fs::create_dir_all(tmp_dir)?;
        let sync_fd = if syncfs {
            Some(std::fs::File::open(tmp_dir)?)
        } else {
            None
        };
        Ok(Writes {
            permits: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_WRITES)),
            sync_fd,
            errors: AtomicU64::new(0),
            queue: Mutex::default(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CommitQueue> {
        // Every change under the lock is a push, a take or a flag: a
        // poisoned queue is whole.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What to pass to [`commit`](Self::commit) for a write beginning now.
    fn begin(&self) -> u64 {
        self.errors.load(Ordering::SeqCst)
    }

    /// Renames `tmp` to `path` with the next batch, durably; returns once
    /// the rename is on disk. `began` is what [`begin`](Self::begin) gave
    /// before `tmp` was written.
    async fn commit(
        self: &Arc<Self>,
        tmp: tempfile::NamedTempFile,
        path: PathBuf,
        began: u64,
    ) -> std::io::Result<()> {
        let (done, committed) = tokio::sync::oneshot::channel();
        let (file, tmp) = tmp.into_parts();
        let file = self.sync_fd.is_none().then_some(file);
        let lead = {
            let mut queue = self.lock();
            queue.pending.push(Pending {
                tmp,
                file,
                path,
                errors: began,
                done,
            });
            !std::mem::replace(&mut queue.running, true)
        };
        if lead {
            let committer = Committer {
                writes: Some(self.clone()),
            };
            tokio::task::spawn_blocking(move || committer.run());
        }
        committed
            .await
            .unwrap_or_else(|_| Err(std::io::Error::other("the commit of a chunk was dropped")))
    }

    /// `syncfs` on the kept descriptor (nothing where files are fsynced
    /// one by one); an error counts against every write begun before it.
    fn sync_fs(&self) -> std::io::Result<()> {
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.sync_fd
            && let Err(e) = rustix::fs::syncfs(fd)
        {
            self.errors.fetch_add(1, Ordering::SeqCst);
            return Err(e.into());
        }
        #[cfg(not(target_os = "linux"))]
        let _ = &self.sync_fd;
        Ok(())
    }

    /// Whether a write that began at `began` is clear of every error
    /// `syncfs` has reported since.
    fn clear(&self, began: u64) -> std::io::Result<()> {
        if self.errors.load(Ordering::SeqCst) == began {
            Ok(())
        } else {
            Err(std::io::Error::other(
                "a write error on the data directory's file system (reported by syncfs)",
            ))
        }
    }

    /// Commits batches until none is waiting.
    fn run(&self) {
        let each_file = self.sync_fd.is_none();
        loop {
            let batch = {
                let mut queue = self.lock();
                if queue.pending.is_empty() {
                    queue.running = false;
                    return;
                }
                std::mem::take(&mut queue.pending)
            };
            let data = self.sync_fs();
            let renamed: Vec<_> = batch
                .into_iter()
                .map(|p| {
                    let result = match &data {
                        Ok(()) => {
                            let synced = match &p.file {
                                Some(file) => file.sync_data(),
                                None => self.clear(p.errors),
                            };
                            synced.and_then(|()| p.tmp.persist(&p.path).map_err(|e| e.error))
                        }
                        Err(e) => Err(copy_error(e)),
                    };
                    (p.done, p.path, p.errors, result)
                })
                .collect();
            let names = if each_file {
                // Only the renames that happened: a folder that is gone
                // fails its own write, not the batch.
                let folders: BTreeSet<&Path> = renamed
                    .iter()
                    .filter(|(.., result)| result.is_ok())
                    .filter_map(|(_, path, ..)| path.parent())
                    .collect();
                folders
                    .into_iter()
                    .try_for_each(|folder| std::fs::File::open(folder)?.sync_all())
            } else {
                self.sync_fs()
            };
            for (done, _, began, result) in renamed {
                let result = result
                    .and_then(|()| names.as_ref().map_err(copy_error).copied())
                    .and_then(|()| if each_file { Ok(()) } else { self.clear(began) });
                // The write may have been dropped (its repo stopping).
                let _ = done.send(result);
            }
        }
    }
}

fn copy_error(e: &std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), e.to_string())
}

impl DurableStorage {
    /// Storage on `docs_dir`; temporary files go to `tmp_dir` (on the same
    /// filesystem, outside the documents so no reader ever sees one).
    pub fn new(
        docs_dir: &Path,
        tmp_dir: &Path,
        fsync: bool,
        ledger: Arc<Ledger>,
        metrics: Arc<Metrics>,
        writes: Arc<Writes>,
        on_failure: Arc<dyn Fn() + Send + Sync>,
    ) -> DurableStorage {
        DurableStorage(Arc::new(Shared {
            docs_dir: docs_dir.to_path_buf(),
            tmp_dir: tmp_dir.to_path_buf(),
            fsync,
            reads: TokioFilesystemStorage::new(docs_dir),
            ledger,
            metrics,
            writes,
            on_failure,
        }))
    }

    fn path(&self, key: &StorageKey) -> PathBuf {
        key_path(&self.0.docs_dir, key)
    }
}

/// Where `key` lives under `docs_dir`, in automerge-repo's layout (the
/// first part split after two characters).
fn key_path(docs_dir: &Path, key: &StorageKey) -> PathBuf {
    let mut path = docs_dir.to_path_buf();
    for (i, part) in key.into_iter().enumerate() {
        if i == 0 {
            let split = part.char_indices().nth(2).map_or(part.len(), |(i, _)| i);
            path.push(&part[..split]);
            path.push(&part[split..]);
        } else {
            path.push(part);
        }
    }
    path
}

/// Writes samod's storage id (`storage-adapter-id`, a random UUID as samod
/// makes one) if the data directory has none. Each team's repo reads it
/// when it starts, and writes a new one when it is missing: two teams
/// starting at once on a fresh directory would each write their own, and
/// one repo would run under an id the directory does not hold.
pub fn ensure_storage_id(docs_dir: &Path, tmp_dir: &Path, fsync: bool) -> std::io::Result<()> {
    let path = key_path(docs_dir, &StorageKey::storage_id_path());
    if path.exists() {
        return Ok(());
    }
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(std::io::Error::other)?;
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let hex = hex::encode(b);
    let uuid = format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    );
    write_atomically(tmp_dir, &path, uuid.as_bytes(), fsync)
}

/// The document a key belongs to, and the changes writing its bytes makes
/// durable.
fn changes_in(key: &StorageKey, data: &[u8]) -> Option<(String, Vec<Hash>)> {
    let parts: Vec<&str> = key.into_iter().map(String::as_str).collect();
    match parts.as_slice() {
        [doc, "incremental", hash] => {
            Some((doc.to_string(), parse_hex(hash).into_iter().collect()))
        }
        [doc, "snapshot", _] => Some((doc.to_string(), snapshot_heads(key, data))),
        _ => None,
    }
}

/// What a chunk found on disk proves is durable. A snapshot holds every
/// ancestor of its heads, so its heads count. An incremental file proves
/// nothing about its ancestors (a kill can leave a child's file without
/// its parent's), so it does not count: samod writes every change it
/// applies again after a load, and those writes count.
fn proven_by_loading(key: &StorageKey, data: &[u8]) -> Option<(String, Vec<Hash>)> {
    let is_snapshot = key
        .into_iter()
        .nth(1)
        .is_some_and(|kind| kind == "snapshot");
    changes_in(key, data).filter(|_| is_snapshot)
}

fn snapshot_heads(key: &StorageKey, data: &[u8]) -> Vec<Hash> {
    document_heads(data).unwrap_or_else(|| {
        // Its changes are then never acknowledged from this file; replies
        // wait for samod's own writes instead.
        tracing::warn!(%key, "could not read the heads of a snapshot");
        Vec::new()
    })
}

fn parse_hex(s: &str) -> Option<Hash> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn uleb(bytes: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn hashes(bytes: &[u8], at: &mut usize) -> Option<Vec<Hash>> {
    let n = uleb(bytes, at)? as usize;
    let end = at.checked_add(n.checked_mul(32)?)?;
    let list = bytes.get(*at..end)?;
    *at = end;
    Some(
        list.chunks_exact(32)
            .map(|c| c.try_into().unwrap_or([0; 32]))
            .collect(),
    )
}

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// The heads recorded in an automerge document chunk (`doc.save()`): they
/// sit in its uncompressed prefix, after the header and the actor list.
pub fn document_heads(bytes: &[u8]) -> Option<Vec<Hash>> {
    if bytes.get(..4)? != MAGIC || *bytes.get(8)? != 0 {
        return None;
    }
    let mut at = 9;
    uleb(bytes, &mut at)?; // chunk length
    let actors = uleb(bytes, &mut at)?;
    for _ in 0..actors {
        let len = uleb(bytes, &mut at)? as usize;
        at = at.checked_add(len)?;
    }
    hashes(bytes, &mut at)
}

/// The heads an automerge sync message announces (its sender's heads):
/// the first field after the message type byte.
pub fn sync_message_heads(bytes: &[u8]) -> Option<Vec<Hash>> {
    if !matches!(bytes.first(), Some(0x42 | 0x43)) {
        return None;
    }
    hashes(bytes, &mut 1)
}

/// Creates `dir` and any missing parents; with `fsync`, fsyncs the parent
/// of each directory it created, so a new document's directories survive a
/// power cut along with its first file.
fn create_dirs(dir: &Path, fsync: bool) -> std::io::Result<()> {
    let mut missing = Vec::new();
    let mut at = dir;
    while !at.is_dir() {
        missing.push(at);
        at = at
            .parent()
            .ok_or_else(|| std::io::Error::other("no existing parent directory"))?;
    }
    for created in missing.iter().rev() {
        match std::fs::create_dir(created) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
        if fsync && let Some(parent) = created.parent() {
            std::fs::File::open(parent)?.sync_all()?;
        }
    }
    Ok(())
}

/// Writes `data` to a temporary file in `tmp_dir`, not synced, for
/// [`Writes::commit`] to sync and rename to `path`, whose folder it
/// creates.
fn write_temporary(
    tmp_dir: &Path,
    path: &Path,
    data: &[u8],
    each_file: bool,
) -> std::io::Result<tempfile::NamedTempFile> {
    let parent = path
        .parent()
        .ok_or_else(|| std::io::Error::other("a key with no directory"))?;
    // `syncfs` covers the folders; without it, each is fsynced.
    create_dirs(parent, each_file)?;
    std::fs::create_dir_all(tmp_dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(tmp_dir)?;
    tmp.write_all(data)?;
    Ok(tmp)
}

/// Writes `data` to `path` on its own, not in a batch: through a
/// temporary file, with `fsync` synced before and after the rename.
fn write_atomically(tmp_dir: &Path, path: &Path, data: &[u8], fsync: bool) -> std::io::Result<()> {
    let tmp = write_temporary(tmp_dir, path, data, fsync)?;
    let parent = path
        .parent()
        .ok_or_else(|| std::io::Error::other("a key with no directory"))?;
    if fsync {
        tmp.as_file().sync_all()?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    if fsync {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

// samod's I/O loop holds each storage operation as one task, sized for the
// biggest of the four futures; the reads and the delete are boxed so that
// the write is the biggest, and a task takes 784 bytes (1,984 with the
// reads inline, 1,320 while `DurableStorage` was its fields rather than a
// pointer). Writes are what pile up: thousands wait for a writer at once
// under load (`relay-load` at 500 clients held 3,500 of them at its peak).
impl Storage for DurableStorage {
    fn load(&self, key: StorageKey) -> impl Future<Output = Option<Vec<u8>>> + Send {
        let (reads, ledger) = (self.0.reads.clone(), self.0.ledger.clone());
        Box::pin(async move {
            let data = reads.load(key.clone()).await?;
            if let Some((doc, hashes)) = proven_by_loading(&key, &data) {
                ledger.loaded(&doc, hashes);
            }
            Some(data)
        })
    }

    fn load_range(
        &self,
        prefix: StorageKey,
    ) -> impl Future<Output = HashMap<StorageKey, Vec<u8>>> + Send {
        let (reads, ledger) = (self.0.reads.clone(), self.0.ledger.clone());
        Box::pin(async move {
            let found = reads.load_range(prefix).await;
            for (key, data) in &found {
                if let Some((doc, hashes)) = proven_by_loading(key, data) {
                    ledger.loaded(&doc, hashes);
                }
            }
            found
        })
    }

    fn put(&self, key: StorageKey, data: Vec<u8>) -> impl Future<Output = ()> + Send {
        // Registered when samod's I/O loop creates this write, which it does
        // in the order the document issued its writes (causal order within
        // a batch): its queue is FIFO and a new future is polled first in
        // push order. The ledger relies on that order, which holds for the
        // pinned samod =0.16.0; re-check it (io_loop.rs) on an upgrade.
        let change = changes_in(&key, &data);
        let seq = change.as_ref().map(|(doc, _)| self.0.ledger.begin(doc));
        let path = self.path(&key);
        let path_for_log = path.clone();
        let shared = self.0.clone();
        async move {
            let permit = shared.writes.permits.clone().acquire_owned().await;
            // Released once the temporary file is written; where each file
            // is fsynced, its open file waits for the commit, so the permit
            // does too (at most `CONCURRENT_WRITES` files open).
            let (in_write, through_commit) = if shared.writes.sync_fd.is_some() {
                (Some(permit), None)
            } else {
                (None, Some(permit))
            };
            let began = shared.writes.begin();
            let written = tokio::task::spawn_blocking({
                let shared = shared.clone();
                move || {
                    let _permit = in_write;
                    if shared.fsync {
                        let each_file = shared.writes.sync_fd.is_none();
                        write_temporary(&shared.tmp_dir, &path, &data, each_file)
                            .map(|tmp| Some((tmp, path.clone())))
                            .map_err(|e| (path, e))
                    } else {
                        write_atomically(&shared.tmp_dir, &path, &data, false)
                            .map(|()| None)
                            .map_err(|e| (path, e))
                    }
                }
            })
            .await;
            let written = match written {
                Ok(Ok(Some((tmp, path)))) => Ok(shared
                    .writes
                    .commit(tmp, path.clone(), began)
                    .await
                    .map_err(|e| (path, e))),
                other => other.map(|r| r.map(|_| ())),
            };
            drop(through_commit);
            let ok = match written {
                Ok(Ok(())) => true,
                Ok(Err((path, e))) => {
                    tracing::error!(path = %path.display(), error = %e, "could not write a document chunk; its changes are not acknowledged, and the team's documents will be read again from disk");
                    false
                }
                Err(e) => {
                    tracing::error!(path = %path_for_log.display(), error = %e, "a storage write task failed");
                    false
                }
            };
            if let (Some((doc, hashes)), Some(seq)) = (change, seq) {
                shared.ledger.finish(&doc, seq, ok.then_some(hashes));
            }
            if !ok {
                Metrics::inc(&shared.metrics.storage_errors);
                (shared.on_failure)();
            }
        }
    }

    fn delete(&self, key: StorageKey) -> impl Future<Output = ()> + Send {
        let path = self.path(&key);
        // samod deletes the chunks a compaction replaces once the snapshot's
        // write has returned, whether or not it succeeded. After a failed
        // write of the document, keep everything.
        let keep = (&key)
            .into_iter()
            .next()
            .is_some_and(|doc| self.0.ledger.failed(doc));
        Box::pin(async move {
            if keep {
                tracing::warn!(path = %path.display(), "kept a superseded chunk: a write of its document failed");
                return;
            }
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "could not delete a superseded chunk")
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::{AutoCommit, ReadDoc as _, transaction::Transactable as _};

    fn doc_with(n: usize) -> AutoCommit {
        let mut doc = AutoCommit::new();
        for i in 0..n {
            doc.put(automerge::ROOT, format!("k{i}"), i as i64).unwrap();
            doc.commit();
        }
        doc
    }

    /// Writes committed at once all land, whole, each in its place, and
    /// one that cannot be renamed fails alone; the committing task stops
    /// when nothing waits, and the next write starts another.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn writes_committed_together_each_land_or_fail_alone() {
        let here = tempfile::tempdir().unwrap();
        for syncfs in [syncfs_reports_errors(here.path()), false] {
            writes_land_or_fail_alone(syncfs).await;
        }
    }

    async fn writes_land_or_fail_alone(syncfs: bool) {
        let dir = tempfile::tempdir().unwrap();
        let (docs, tmp) = (dir.path().join("docs"), dir.path().join("tmp"));
        let writes = Arc::new(Writes::with_syncfs(&tmp, syncfs).unwrap());
        let chunk = |i: usize| docs.join(format!("ab/cd{}/incremental/{i:064x}", i % 3));
        let spoiled = 17;
        let mut running = Vec::new();
        for i in 0..40 {
            let path = if i == spoiled {
                docs.join("ab/spoiled/incremental/x")
            } else {
                chunk(i)
            };
            let (writes, tmp) = (writes.clone(), tmp.clone());
            running.push(tokio::spawn(async move {
                let data = vec![i as u8; 1000 + i];
                let began = writes.begin();
                let staged = {
                    let path = path.clone();
                    tokio::task::spawn_blocking(move || {
                        let staged = write_temporary(&tmp, &path, &data, !syncfs).unwrap();
                        if i == spoiled {
                            // Its folder is gone before the rename.
                            let folder = path.parent().unwrap();
                            std::fs::rename(folder, folder.with_extension("moved")).unwrap();
                        }
                        staged
                    })
                    .await
                    .unwrap()
                };
                writes.commit(staged, path, began).await
            }));
        }
        for (i, r) in running.into_iter().enumerate() {
            let r = r.await.unwrap();
            if i == spoiled {
                assert!(r.is_err(), "renamed into a folder that is gone");
            } else {
                r.unwrap();
                assert_eq!(std::fs::read(chunk(i)).unwrap(), vec![i as u8; 1000 + i]);
            }
        }
        assert_eq!(
            std::fs::read_dir(&tmp).unwrap().count(),
            0,
            "no temporary file left"
        );
        let staged = write_temporary(&tmp, &chunk(99), b"later", !syncfs).unwrap();
        let later = writes.commit(staged, chunk(99), writes.begin());
        tokio::time::timeout(Duration::from_secs(10), later)
            .await
            .expect("a later write was committed")
            .unwrap();
        assert_eq!(std::fs::read(chunk(99)).unwrap(), b"later");
    }

    /// An error `syncfs` reports may be any file's: every write that began
    /// before it fails, even one committed in a later batch, and its chunk
    /// is not put in place; a write begun after it does not fail.
    #[tokio::test]
    async fn a_write_begun_before_a_reported_error_fails() {
        let dir = tempfile::tempdir().unwrap();
        let (docs, tmp) = (dir.path().join("docs"), dir.path().join("tmp"));
        let writes = Arc::new(Writes::with_syncfs(&tmp, true).unwrap());
        let (a, b) = (
            docs.join("ab/cd/incremental/a"),
            docs.join("ab/cd/incremental/b"),
        );
        let began = writes.begin();
        let staged = write_temporary(&tmp, &a, b"a", false).unwrap();
        // As `sync_fs` counts an error another batch's `syncfs` reported.
        writes.errors.fetch_add(1, Ordering::SeqCst);
        assert!(writes.commit(staged, a.clone(), began).await.is_err());
        assert!(!a.exists(), "not renamed into place");
        let staged = write_temporary(&tmp, &b, b"b", false).unwrap();
        writes
            .commit(staged, b.clone(), writes.begin())
            .await
            .unwrap();
        assert_eq!(std::fs::read(&b).unwrap(), b"b");
    }

    #[test]
    fn the_storage_id_is_written_once_as_samod_would() {
        let dir = tempfile::tempdir().unwrap();
        let (docs, tmp) = (dir.path().join("docs"), dir.path().join("tmp"));
        ensure_storage_id(&docs, &tmp, true).unwrap();
        let path = docs.join("st/orage-adapter-id");
        let id = std::fs::read_to_string(&path).unwrap();
        let parts: Vec<&str> = id.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12],
            "{id}"
        );
        assert!(parts[2].starts_with('4'), "version 4: {id}");
        assert!("89ab".contains(&parts[3][..1]), "RFC 4122 variant: {id}");
        ensure_storage_id(&docs, &tmp, true).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), id, "kept");
        let other = tempfile::tempdir().unwrap();
        ensure_storage_id(other.path(), &tmp, false).unwrap();
        assert_ne!(
            std::fs::read_to_string(other.path().join("st/orage-adapter-id")).unwrap(),
            id,
            "random"
        );
    }

    #[test]
    fn heads_are_read_from_documents_and_sync_messages() {
        let mut doc = doc_with(3);
        let heads: Vec<Hash> = doc.get_heads().iter().map(|h| h.0).collect();
        assert_eq!(document_heads(&doc.save()), Some(heads.clone()));
        let mut state = automerge::sync::State::new();
        let msg = automerge::sync::SyncDoc::generate_sync_message(doc.document(), &mut state)
            .unwrap()
            .encode();
        assert_eq!(sync_message_heads(&msg), Some(heads));
        assert_eq!(document_heads(b"nonsense"), None);
        assert_eq!(sync_message_heads(&[0x42, 0x05]), None, "truncated");
        assert!(doc.get(automerge::ROOT, "k0").unwrap().is_some());
    }

    #[test]
    fn a_change_is_durable_only_once_it_and_everything_issued_before_it_are_written() {
        let ledger = Ledger::default();
        let (a, b) = ([1; 32], [2; 32]);
        assert_eq!(ledger.check("d", &[]), Durability::Durable);
        assert_eq!(ledger.check("d", &[a]), Durability::Pending);
        let first = ledger.begin("d");
        let second = ledger.begin("d");
        ledger.finish("d", second, Some(vec![b]));
        assert_eq!(
            ledger.check("d", &[b]),
            Durability::Pending,
            "an earlier write (an ancestor) is still running"
        );
        ledger.finish("d", first, Some(vec![a]));
        assert_eq!(ledger.check("automerge:d", &[a, b]), Durability::Durable);
        let third = ledger.begin("d");
        assert_eq!(
            ledger.check("d", &[b]),
            Durability::Durable,
            "later writes do not matter"
        );
        ledger.finish("d", third, None);
        assert_eq!(ledger.check("d", &[b]), Durability::Failed);
        ledger.loaded("e", [a]);
        assert_eq!(ledger.check("e", &[a]), Durability::Durable);
    }

    #[test]
    fn only_snapshots_found_on_disk_prove_changes_durable() {
        let mut doc = doc_with(2);
        let heads: Vec<Hash> = doc.get_heads().iter().map(|h| h.0).collect();
        let id = "2NbwGjoeVvChUKUGkY7uLyTvAoJz";
        let snapshot = StorageKey::from_parts([id, "snapshot", "abc"]).unwrap();
        assert_eq!(
            proven_by_loading(&snapshot, &doc.save()),
            Some((id.to_string(), heads.clone()))
        );
        // A child's file without its parent's (a kill between the two
        // renames) must not let a reply announce the child.
        let hex: String = heads[0].iter().map(|b| format!("{b:02x}")).collect();
        let incremental = StorageKey::from_parts([id, "incremental", hex.as_str()]).unwrap();
        assert_eq!(proven_by_loading(&incremental, b"whatever"), None);
        assert_eq!(
            changes_in(&incremental, b"whatever"),
            Some((id.to_string(), heads[..1].to_vec())),
            "writing it does"
        );
    }
}
