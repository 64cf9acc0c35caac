//! After a document panics, find the change that did it and refuse it at
//! the door from then on.
//!
//! Some changes pass every standalone check (`validate.rs`) and still make
//! automerge panic when applied to the document (the fuzz campaign found
//! one: a change claiming an actor the document has never seen, with a
//! sequence number above 1). The panic restarts the team's repo from disk
//! (`repos.rs`); without more, the sender could send the same change again
//! and again. So each team repo keeps the last sync payloads it passed to
//! samod ([`Recent`]); after a panic, [`find`] replays them, in order, on a
//! copy of each document read from disk, under a panic guard. The payload
//! whose changes panic is the culprit: its change hashes go into the team's
//! [`Poisons`], and the transport closes any connection that sends one of
//! them again. Honest teammates' changes applied before it are only
//! replayed, never refused.

use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Mutex;

use automerge::ChangeHash;

use crate::validate::{DOCUMENT_CHUNK, split_chunks};

/// Payloads kept per team repo, and their total size.
const RECENT_ENTRIES: usize = 64;
const RECENT_BYTES: usize = 8 * 1024 * 1024;

/// One sync payload that reached samod.
#[derive(Clone)]
pub struct Entry {
    pub doc: String,
    pub member: String,
    pub data: Vec<u8>,
}

/// The last sync payloads that carried changes, oldest first.
#[derive(Default)]
pub struct Recent(Mutex<(VecDeque<Entry>, usize)>);

impl Recent {
    pub fn record(&self, doc: &str, member: &str, data: &[u8]) {
        if data.len() > RECENT_BYTES {
            return; // too big to keep; such a culprit goes unnamed
        }
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (entries, bytes) = &mut *guard;
        entries.push_back(Entry {
            doc: doc.strip_prefix("automerge:").unwrap_or(doc).to_string(),
            member: member.to_string(),
            data: data.to_vec(),
        });
        *bytes += data.len();
        while entries.len() > RECENT_ENTRIES || *bytes > RECENT_BYTES {
            match entries.pop_front() {
                Some(old) => *bytes -= old.data.len(),
                None => break,
            }
        }
    }

    pub fn take(&self) -> Vec<Entry> {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        guard.1 = 0;
        guard.0.drain(..).collect()
    }
}

/// Change hashes each team refuses.
#[derive(Default)]
pub struct Poisons(Mutex<HashMap<String, HashSet<ChangeHash>>>);

impl Poisons {
    pub fn add(&self, team: &str, hashes: impl IntoIterator<Item = ChangeHash>) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(team.to_string())
            .or_default()
            .extend(hashes);
    }

    /// The first of `hashes` the team refuses.
    pub fn hit(&self, team: &str, hashes: &[ChangeHash]) -> Option<ChangeHash> {
        let all = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let set = all.get(team)?;
        hashes.iter().find(|h| set.contains(h)).copied()
    }
}

/// The culprit of a panic: who sent it, to which document, and its changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub doc: String,
    pub member: String,
    pub changes: Vec<ChangeHash>,
}

/// A document as stored under `docs_dir` (automerge-repo's layout).
fn load_from_disk(docs_dir: &Path, doc: &str) -> Option<automerge::Automerge> {
    let split = doc.char_indices().nth(2)?.0;
    let dir = docs_dir.join(&doc[..split]).join(&doc[split..]);
    let mut loaded = automerge::Automerge::new();
    for kind in ["snapshot", "incremental"] {
        let Ok(entries) = std::fs::read_dir(dir.join(kind)) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(bytes) = std::fs::read(entry.path()) else {
                continue;
            };
            // What the relay could not load, it does not hold either.
            let _ = catch_unwind(AssertUnwindSafe(|| loaded.load_incremental(&bytes)));
        }
    }
    Some(loaded)
}

/// Applies one payload's chunks, one at a time; the change (or, for a
/// whole-document chunk, the changes) automerge panics on.
fn apply(doc: &mut automerge::Automerge, data: &[u8]) -> Option<Vec<ChangeHash>> {
    let message = automerge::sync::Message::decode(data).ok()?;
    for element in message.changes.iter() {
        for chunk in split_chunks(element).unwrap_or_default() {
            if chunk.get(8) == Some(&DOCUMENT_CHUNK) {
                if catch_unwind(AssertUnwindSafe(|| doc.load_incremental(chunk))).is_err() {
                    return Some(Vec::new());
                }
            } else if let Ok(change) = automerge::Change::from_bytes(chunk.to_vec()) {
                let hash = change.hash();
                if catch_unwind(AssertUnwindSafe(|| doc.apply_changes([change]))).is_err() {
                    return Some(vec![hash]);
                }
            }
        }
    }
    None
}

/// Replays `entries` (oldest first) on each document as stored, and names
/// the first change automerge panics on, and who sent it.
pub fn find(docs_dir: &Path, entries: &[Entry]) -> Option<Found> {
    let mut docs: HashMap<&str, Option<automerge::Automerge>> = HashMap::new();
    for entry in entries {
        let slot = docs
            .entry(entry.doc.as_str())
            .or_insert_with(|| load_from_disk(docs_dir, &entry.doc));
        let Some(doc) = slot.as_mut() else { continue };
        if let Some(changes) = apply(doc, &entry.data) {
            return Some(Found {
                doc: entry.doc.clone(),
                member: entry.member.clone(),
                changes,
            });
        }
    }
    None
}
