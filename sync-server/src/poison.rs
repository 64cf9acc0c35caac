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

    /// A copy of the payloads kept, which stay.
    pub fn snapshot(&self) -> Vec<Entry> {
        let guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        guard.0.iter().cloned().collect()
    }
}

/// Change hashes each team refuses, kept in `poisoned.json` in the data
/// directory (written atomically) so a relay restart does not forget them.
#[derive(Default)]
pub struct Poisons {
    teams: Mutex<HashMap<String, HashSet<ChangeHash>>>,
    file: Option<std::path::PathBuf>,
}

impl Poisons {
    /// The refused changes saved in `file`, if any; a file that cannot be
    /// read is logged and ignored (the relay then starts with none).
    pub fn load(file: std::path::PathBuf) -> Poisons {
        let mut teams: HashMap<String, HashSet<ChangeHash>> = HashMap::new();
        match std::fs::read(&file) {
            Ok(bytes) => match serde_json::from_slice::<HashMap<String, Vec<String>>>(&bytes) {
                Ok(saved) => {
                    for (team, hashes) in saved {
                        teams
                            .entry(team)
                            .or_default()
                            .extend(hashes.iter().filter_map(|h| h.parse::<ChangeHash>().ok()));
                    }
                }
                Err(e) => {
                    tracing::error!(file = %file.display(), error = %e, "could not read the refused changes; starting with none")
                }
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::error!(file = %file.display(), error = %e, "could not read the refused changes; starting with none")
            }
        }
        Poisons {
            teams: Mutex::new(teams),
            file: Some(file),
        }
    }

    pub fn add(&self, team: &str, hashes: impl IntoIterator<Item = ChangeHash>) {
        let mut teams = self.teams.lock().unwrap_or_else(|p| p.into_inner());
        teams.entry(team.to_string()).or_default().extend(hashes);
        let Some(file) = &self.file else { return };
        let saved: HashMap<&String, Vec<String>> = teams
            .iter()
            .map(|(t, hs)| (t, hs.iter().map(ToString::to_string).collect()))
            .collect();
        let write = || -> std::io::Result<()> {
            let dir = file.parent().unwrap_or(Path::new("."));
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            serde_json::to_writer_pretty(&mut tmp, &saved).map_err(std::io::Error::other)?;
            tmp.as_file().sync_all()?;
            tmp.persist(file).map_err(|e| e.error)?;
            Ok(())
        };
        if let Err(e) = write() {
            tracing::error!(file = %file.display(), error = %e, "could not save the refused changes; they are refused until the relay restarts");
        }
    }

    /// The first of `hashes` the team refuses.
    pub fn hit(&self, team: &str, hashes: &[ChangeHash]) -> Option<ChangeHash> {
        let all = self.teams.lock().unwrap_or_else(|p| p.into_inner());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refused_changes_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("poisoned.json");
        let h: ChangeHash = "aa".repeat(32).parse().unwrap();
        let other: ChangeHash = "bb".repeat(32).parse().unwrap();
        let poisons = Poisons::load(file.clone());
        assert_eq!(poisons.hit("acme", &[h]), None);
        poisons.add("acme", [h]);
        let again = Poisons::load(file.clone());
        assert_eq!(again.hit("acme", &[other, h]), Some(h));
        assert_eq!(again.hit("beta", &[h]), None, "per team");
        std::fs::write(&file, b"{ not json").unwrap();
        assert_eq!(
            Poisons::load(file).hit("acme", &[h]),
            None,
            "a bad file is ignored"
        );
    }

    #[test]
    fn recent_keeps_the_newest_payloads_within_its_bounds() {
        let recent = Recent::default();
        for i in 0..(RECENT_ENTRIES + 10) {
            recent.record("automerge:doc", "sam", &[i as u8; 4]);
        }
        let kept = recent.take();
        assert_eq!(kept.len(), RECENT_ENTRIES);
        assert_eq!(
            kept.last().unwrap().data,
            vec![(RECENT_ENTRIES + 9) as u8; 4]
        );
        assert_eq!(kept[0].doc, "doc", "ids are kept bare");
        assert!(recent.take().is_empty(), "taken");
    }
}
