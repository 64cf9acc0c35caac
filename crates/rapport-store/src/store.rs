//! Documents made of chunks: load, append one change, compact.
//!
//! Writers never modify a chunk: a command appends the change it made as a
//! new incremental chunk named by its hash, so any number of processes can
//! write the same document at once and every write lands. Compaction writes
//! a snapshot of what it loaded and only then removes the chunks it loaded;
//! chunks written meanwhile by others are untouched.

use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::{AutoCommit, Change, ChangeHash};
use rapport_core::DocId;
use sha2::{Digest, Sha256};

use crate::backend::{Backend, ChunkKey, ChunkKind};
use crate::error::StoreError;
use crate::listings::Listings;

/// Incremental chunks a document may gather before a write compacts it.
pub const DEFAULT_COMPACT_AFTER: usize = 64;

/// Received changes with more operations than this are stored as a
/// snapshot of the whole document (see [`Store::absorb`]).
pub const SNAPSHOT_OPS: u64 = 20_000;

/// How often a load retries when a concurrent compaction removed a chunk
/// between listing and reading it.
const LOAD_ATTEMPTS: usize = 8;

/// A document store over a [`Backend`].
#[derive(Debug, Clone)]
pub struct Store<B> {
    backend: B,
    compact_after: usize,
}

/// A loaded document, ready to be changed and saved.
pub struct Loaded {
    pub id: DocId,
    pub doc: AutoCommit,
    /// The heads as last loaded or saved: `save` writes what came after.
    heads: Vec<ChangeHash>,
    /// The chunks this copy was built from.
    chunks: Vec<ChunkKey>,
}

impl Loaded {
    /// The chunks this copy was built from.
    pub fn chunks(&self) -> &[ChunkKey] {
        &self.chunks
    }
}

/// What [`Store::absorb`] wrote.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Absorbed {
    /// Changes that were new to the store.
    pub changes: usize,
    /// The chunks written for them.
    pub written: Vec<ChunkKey>,
}

/// What a compaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compaction {
    pub chunks_before: usize,
    pub bytes: usize,
}

/// A chunk found unreadable by [`Store::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkProblem {
    pub key: ChunkKey,
    pub path: String,
    pub reason: String,
}

/// The bytes of a document's first change: the one with no dependencies.
/// Rapport creates every collection map in it, so a document made of this
/// change alone is enough to add a new record.
pub fn genesis(doc: &mut AutoCommit) -> Option<Vec<u8>> {
    // Found in the change graph, then that one change rebuilt:
    // `get_changes` would rebuild every change of the document from its
    // op set (seconds at 100k records) to keep one, and
    // `get_changes_meta` builds every change's metadata (44 MB for 100k
    // changes) to find it.
    let first = doc.document().first_root_change()?;
    doc.get_change_by_hash(&first)
        .map(|c| c.raw_bytes().to_vec())
}

/// The name of a snapshot: SHA-256 of its heads, in hex (as samod names them).
pub fn snapshot_name(heads: &[ChangeHash]) -> String {
    let mut hasher = Sha256::new();
    for h in heads {
        hasher.update(h.as_ref());
    }
    hex::encode(hasher.finalize())
}

impl<B: Backend> Store<B> {
    pub fn new(backend: B) -> Store<B> {
        Store {
            backend,
            compact_after: DEFAULT_COMPACT_AFTER,
        }
    }

    /// Compact a document once a write leaves more than `n` chunks.
    pub fn with_compact_after(mut self, n: usize) -> Store<B> {
        self.compact_after = n.max(1);
        self
    }

    /// Whether a document of `chunks` has gathered enough incremental
    /// chunks that its next write should load it, to compact it as
    /// [`save`](Self::save) does. Writes that do not load
    /// ([`append_changes`](Self::append_changes),
    /// [`put_change`](Self::put_change)) never compact, so their callers
    /// ask this first: a document's chunk count stays bounded however it
    /// is written.
    pub fn wants_compaction(&self, chunks: &[ChunkKey]) -> bool {
        chunks.len() >= self.compact_after
    }

    pub fn backend(&self) -> &B {
        &self.backend
    }

    fn io(&self, action: &'static str, key: &ChunkKey, source: std::io::Error) -> StoreError {
        StoreError::Io {
            action,
            path: self.backend.describe(key),
            source,
        }
    }

    /// Every document in the store.
    pub fn docs(&self) -> Result<Vec<DocId>, StoreError> {
        self.backend.docs().map_err(|source| StoreError::Io {
            action: "list",
            path: "the store".into(),
            source,
        })
    }

    /// The chunks a document is made of now (a cheap directory listing).
    pub fn list_chunks(&self, id: &DocId) -> Result<Vec<ChunkKey>, StoreError> {
        self.list_chunks_with(id, &Listings::none())
    }

    /// [`list_chunks`](Self::list_chunks), taking a folder's remembered
    /// listing while its metadata is unchanged, and offering the listings
    /// it makes to be remembered (see [`Listings`]).
    pub fn list_chunks_with(
        &self,
        id: &DocId,
        listings: &Listings,
    ) -> Result<Vec<ChunkKey>, StoreError> {
        // Incrementals are listed before snapshots. A compaction writes its
        // snapshot before it removes the chunks it folded in, so whatever
        // it removed before the first listing is in a snapshot the second
        // listing sees, and what it removes after is missing at the read
        // (and `load` lists again). Listed the other way round, a
        // compaction between the two listings hid those changes from both:
        // the chunks then did not load together ("deps should already be
        // in the document"), or worse, loaded without them. Snapshots still
        // come first in the keys, as automerge wants a document chunk first.
        let mut keys = Vec::new();
        // A remembered listing is the folder's entries when it is looked
        // at (the stamp), so the order holds for it too. The stamp is taken
        // before the listing it may be remembered with.
        for kind in [ChunkKind::Incremental, ChunkKind::Snapshot] {
            let io = |source| StoreError::Io {
                action: "list",
                path: format!("{} {}", id.to_bs58(), kind.as_str()),
                source,
            };
            // A folder that cannot be looked at is listed (the listing
            // reports any real error).
            let stamp = || {
                if listings.is_off() {
                    None
                } else {
                    self.backend.stamp(id, kind).ok().flatten()
                }
            };
            let before = stamp();
            let remembered = before.and_then(|stamp| listings.get(id, kind, &stamp));
            let names = match remembered {
                Some(names) => names,
                None => {
                    let names = self.backend.list(id, kind).map_err(io)?;
                    // Remembered only if nothing changed while it was
                    // listed: else it would be remembered under a stamp
                    // the folder had without those names (harmless until
                    // a file system rolled back to a snapshot brought the
                    // stamp back).
                    if let Some(seen) = before
                        && stamp() == Some(seen)
                    {
                        listings.offer(id, kind, seen, &names);
                    }
                    names
                }
            };
            keys.extend(names.into_iter().map(|name| ChunkKey {
                doc: *id,
                kind,
                name,
            }));
        }
        keys.sort_by_key(|k| k.kind != ChunkKind::Snapshot);
        Ok(keys)
    }

    /// One chunk's bytes; `None` if it is gone (a compaction removed it).
    pub fn read_chunk(&self, key: &ChunkKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.backend.get(key).map_err(|e| self.io("read", key, e))
    }

    /// A chunk's length in bytes, without reading it.
    pub fn chunk_len(&self, key: &ChunkKey) -> Result<Option<u64>, StoreError> {
        self.backend.len(key).map_err(|e| self.io("read", key, e))
    }

    /// Starts a new document with `init`, which makes its first change.
    pub fn create(
        &self,
        init: impl FnOnce(&mut AutoCommit) -> Result<(), rapport_core::Error>,
    ) -> Result<Loaded, StoreError> {
        let id = DocId::random();
        let mut loaded = Loaded {
            id,
            doc: AutoCommit::new(),
            heads: Vec::new(),
            chunks: Vec::new(),
        };
        init(&mut loaded.doc)?;
        self.save(&mut loaded)?;
        Ok(loaded)
    }

    /// Loads a document from all its chunks. A missing, empty or undecodable
    /// chunk is an error naming it; nothing is ever loaded as an empty
    /// document by mistake.
    pub fn load(&self, id: &DocId) -> Result<Loaded, StoreError> {
        'attempt: for _ in 0..LOAD_ATTEMPTS {
            let keys = self.list_chunks(id)?;
            if keys.is_empty() {
                return Err(StoreError::NotFound(*id));
            }
            let mut blobs = Vec::with_capacity(keys.len());
            for key in &keys {
                match self.backend.get(key).map_err(|e| self.io("read", key, e))? {
                    Some(bytes) => blobs.push(bytes),
                    // Removed by a concurrent compaction: its snapshot is
                    // there now, so list again.
                    None => continue 'attempt,
                }
            }
            // A folder of many snapshots is listed in several reads, and a
            // compaction between them (adding one behind the read, removing
            // one ahead) could hide both: if the snapshots changed while
            // this load read, list again (see `list_chunks`).
            let snapshots = |keys: &[ChunkKey]| -> Vec<String> {
                keys.iter()
                    .filter(|k| k.kind == ChunkKind::Snapshot)
                    .map(|k| k.name.clone())
                    .collect()
            };
            let mut now = self
                .backend
                .list(id, ChunkKind::Snapshot)
                .map_err(|source| StoreError::Io {
                    action: "list",
                    path: format!("{} {}", id.to_bs58(), ChunkKind::Snapshot.as_str()),
                    source,
                })?;
            let mut listed = snapshots(&keys);
            now.sort();
            listed.sort();
            if now != listed {
                continue 'attempt;
            }
            let mut doc = self.decode(&keys, &blobs)?;
            let heads = doc.get_heads();
            return Ok(Loaded {
                id: *id,
                doc,
                heads,
                chunks: keys,
            });
        }
        Err(StoreError::Busy(*id))
    }

    fn decode(&self, keys: &[ChunkKey], blobs: &[Vec<u8>]) -> Result<AutoCommit, StoreError> {
        for (key, bytes) in keys.iter().zip(blobs) {
            if bytes.is_empty() {
                return Err(StoreError::Corrupt {
                    path: self.backend.describe(key),
                    reason: "the file is empty (0 bytes)".into(),
                });
            }
        }
        // Fast path: one load of every chunk, concatenated.
        let all: Vec<u8> = blobs.concat();
        let fast_error = match catch_unwind(|| AutoCommit::load(&all)) {
            Ok(Ok(doc)) => return Ok(doc),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "automerge panicked while decoding it".to_string(),
        };
        // Slow path, only on failure: find the chunk to blame.
        if let Some(problem) = self.check_blobs(keys, blobs).into_iter().next() {
            return Err(StoreError::Corrupt {
                path: problem.path,
                reason: problem.reason,
            });
        }
        Err(StoreError::Corrupt {
            path: keys
                .first()
                .map(|k| self.backend.describe(k))
                .unwrap_or_default(),
            reason: format!("the document's chunks do not load together: {fast_error}"),
        })
    }

    fn check_blobs(&self, keys: &[ChunkKey], blobs: &[Vec<u8>]) -> Vec<ChunkProblem> {
        let mut problems = Vec::new();
        for (key, bytes) in keys.iter().zip(blobs) {
            let reason = if bytes.is_empty() {
                Some("the file is empty (0 bytes)".to_string())
            } else {
                let mut scratch = AutoCommit::new();
                match catch_unwind(AssertUnwindSafe(|| scratch.load_incremental(bytes))) {
                    Ok(Ok(_)) => None,
                    Ok(Err(e)) => Some(format!("not an automerge chunk: {e}")),
                    Err(_) => Some("automerge panicked while decoding it".to_string()),
                }
            };
            if let Some(reason) = reason {
                problems.push(ChunkProblem {
                    key: key.clone(),
                    path: self.backend.describe(key),
                    reason,
                });
            }
        }
        problems
    }

    /// Every unreadable chunk of a document (for `rapport doctor`).
    pub fn check(&self, id: &DocId) -> Result<Vec<ChunkProblem>, StoreError> {
        let keys = self.list_chunks(id)?;
        let mut blobs = Vec::with_capacity(keys.len());
        let mut present = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(bytes) = self
                .backend
                .get(&key)
                .map_err(|e| self.io("read", &key, e))?
            {
                present.push(key);
                blobs.push(bytes);
            }
        }
        Ok(self.check_blobs(&present, &blobs))
    }

    /// Moves an unreadable chunk aside (never deletes it). Returns where it went.
    pub fn quarantine(&self, key: &ChunkKey) -> Result<String, StoreError> {
        self.backend
            .quarantine(key)
            .map_err(|e| self.io("quarantine", key, e))
    }

    /// Commits pending edits and appends each new change as one incremental
    /// chunk. Returns how many changes were written. Compacts when the
    /// document has gathered too many chunks.
    pub fn save(&self, loaded: &mut Loaded) -> Result<usize, StoreError> {
        loaded.doc.commit();
        let changes = loaded.doc.get_changes(&loaded.heads);
        for change in &changes {
            let key = self.put_change(&loaded.id, change)?;
            loaded.chunks.push(key);
        }
        loaded.heads = loaded.doc.get_heads();
        if loaded.chunks.len() > self.compact_after {
            self.compact_loaded(loaded)?;
        }
        Ok(changes.len())
    }

    /// Appends the changes `doc` holds after `since` as incremental chunks
    /// of document `id`, without loading it: for a new record built on the
    /// document's first change alone (see [`genesis`]). Returns the new chunks.
    pub fn append_changes(
        &self,
        id: &DocId,
        doc: &mut AutoCommit,
        since: &[ChangeHash],
    ) -> Result<Vec<ChunkKey>, StoreError> {
        doc.commit();
        doc.get_changes(since)
            .iter()
            .map(|change| self.put_change(id, change))
            .collect()
    }

    /// Appends one change to document `id` as an incremental chunk named
    /// by its hash, without loading the document: for a change built
    /// elsewhere ([`crate::fields::edit`]). Returns the new chunk.
    pub fn put_change(&self, id: &DocId, change: &Change) -> Result<ChunkKey, StoreError> {
        let key = ChunkKey {
            doc: *id,
            kind: ChunkKind::Incremental,
            name: change.hash().to_string(),
        };
        self.backend
            .put(&key, change.raw_bytes())
            .map_err(|e| self.io("write", &key, e))?;
        Ok(key)
    }

    /// Writes what a sync brought into `doc` since `since` (the heads it
    /// had before; empty for a document new to this store). A few changes
    /// become incremental chunks; many (a whole document fetched for the
    /// first time) become one snapshot of the full document, added beside
    /// the chunks already there (nothing is removed, so a concurrent writer
    /// loses nothing; the next compaction tidies up). Returns how many
    /// changes were new, and the chunks written: with the chunks `doc` was
    /// loaded from, exactly the chunks of `doc` as it is now (whatever
    /// another process wrote meanwhile).
    pub fn absorb(
        &self,
        id: &DocId,
        doc: &mut AutoCommit,
        since: &[ChangeHash],
    ) -> Result<Absorbed, StoreError> {
        doc.commit();
        // Decide from metadata (cheap): materialising changes costs far more.
        let meta = doc.get_changes_meta(since);
        let count = meta.len();
        let ops: u64 = meta
            .iter()
            .map(|m| m.max_op.saturating_sub(m.start_op) + 1)
            .sum();
        drop(meta);
        if count == 0 {
            return Ok(Absorbed::default());
        }
        // A document new here, or a big batch, is stored compressed and
        // columnar: loading one snapshot is much faster than replaying
        // large change chunks.
        if since.is_empty() || count > self.compact_after || ops > SNAPSHOT_OPS {
            let key = ChunkKey {
                doc: *id,
                kind: ChunkKind::Snapshot,
                name: snapshot_name(&doc.get_heads()),
            };
            self.backend
                .put(&key, &doc.save())
                .map_err(|e| self.io("write", &key, e))?;
            return Ok(Absorbed {
                changes: count,
                written: vec![key],
            });
        }
        let written = self.append_changes(id, doc, since)?;
        Ok(Absorbed {
            changes: count,
            written,
        })
    }

    /// Replaces a document's chunks with one snapshot.
    pub fn compact(&self, id: &DocId) -> Result<Compaction, StoreError> {
        let mut loaded = self.load(id)?;
        self.compact_loaded(&mut loaded)
    }

    fn compact_loaded(&self, loaded: &mut Loaded) -> Result<Compaction, StoreError> {
        let bytes = loaded.doc.save();
        let heads = loaded.doc.get_heads();
        let key = ChunkKey {
            doc: loaded.id,
            kind: ChunkKind::Snapshot,
            name: snapshot_name(&heads),
        };
        // Check the snapshot reads back to the same state before anything is
        // removed.
        let verified = catch_unwind(|| AutoCommit::load(&bytes))
            .ok()
            .and_then(Result::ok)
            .map(|mut d| d.get_heads() == heads)
            .unwrap_or(false);
        if !verified {
            return Err(StoreError::Corrupt {
                path: self.backend.describe(&key),
                reason: "the compacted snapshot did not read back identically; nothing was removed"
                    .into(),
            });
        }
        self.backend
            .put(&key, &bytes)
            .map_err(|e| self.io("write", &key, e))?;
        let before = loaded.chunks.len();
        for old in loaded.chunks.drain(..) {
            if old != key {
                self.backend
                    .remove(&old)
                    .map_err(|e| self.io("remove", &old, e))?;
            }
        }
        loaded.chunks.push(key);
        Ok(Compaction {
            chunks_before: before,
            bytes: bytes.len(),
        })
    }

    /// Removes a whole document for good (`--purge` of an account).
    pub fn purge(&self, id: &DocId) -> Result<(), StoreError> {
        for key in self.list_chunks(id)? {
            self.backend
                .remove(&key)
                .map_err(|e| self.io("remove", &key, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable as _;

    use super::*;

    #[test]
    fn genesis_is_the_first_change_as_stored() {
        let mut doc = AutoCommit::new();
        doc.put(automerge::ROOT, "first", "yes").unwrap();
        doc.commit();
        let first = doc.get_changes(&[])[0].raw_bytes().to_vec();
        let mut other = doc.fork();
        for i in 0..5 {
            doc.put(automerge::ROOT, "n", i).unwrap();
            doc.commit();
        }
        other.put(automerge::ROOT, "other", "side").unwrap();
        other.commit();
        doc.merge(&mut other).unwrap();
        // Loaded from a save, as the store loads it.
        let mut loaded = AutoCommit::load(&doc.save()).unwrap();
        assert_eq!(genesis(&mut loaded), Some(first.clone()));
        assert_eq!(
            automerge::Change::from_bytes(first).unwrap().deps(),
            &[] as &[ChangeHash]
        );
        assert_eq!(genesis(&mut AutoCommit::new()), None);
    }
}
