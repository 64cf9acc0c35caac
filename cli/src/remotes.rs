//! The relays this user syncs with (`remotes.toml`, mode 0600, holding the
//! tokens) and what each relay had at the last sync (`sync.json`, so
//! `rapport status` answers offline).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::ctx::write_atomic;
use crate::error::user_hint;

/// The environment variable that may hold the token instead of `remotes.toml`.
pub const TOKEN_ENV: &str = "RAPPORT_TOKEN";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Remotes {
    #[serde(default)]
    pub remote: BTreeMap<String, RemoteEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoteEntry {
    pub url: String,
    pub team: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// A team of one, for this user's own devices: the only kind of remote
    /// the personal document may be shared with.
    #[serde(default)]
    pub personal: bool,
}

fn read_toml<T: Default + for<'de> Deserialize<'de>>(path: &Path) -> anyhow::Result<T> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            toml::from_str(&text).with_context(|| format!("could not parse {}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(e) => Err(e).with_context(|| format!("could not read {}", path.display())),
    }
}

impl Remotes {
    pub fn load(path: &Path) -> anyhow::Result<Remotes> {
        read_toml(path)
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = toml::to_string(self).context("could not encode the remotes")?;
        write_atomic(path, text.as_bytes())
    }

    /// The remote named `name`, or the only one there is.
    pub fn pick(&self, name: Option<&str>) -> anyhow::Result<(String, RemoteEntry)> {
        if let Some(name) = name {
            return self
                .remote
                .get(name)
                .map(|e| (name.to_string(), e.clone()))
                .ok_or_else(|| {
                    user_hint(
                        format!("no remote named '{name}'"),
                        format!("known remotes: {}", self.names()),
                    )
                });
        }
        let mut all = self.remote.iter();
        match (all.next(), all.next()) {
            (Some((n, e)), None) => Ok((n.clone(), e.clone())),
            (None, _) => Err(user_hint(
                "no remote to sync with",
                "add one: `rapport remote add NAME https://relay.example.com --team TEAM --token TOKEN`",
            )),
            _ => Err(user_hint(
                "there are several remotes; say which",
                format!("--remote one of: {}", self.names()),
            )),
        }
    }

    fn names(&self) -> String {
        if self.remote.is_empty() {
            return "(none)".into();
        }
        self.remote.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

impl RemoteEntry {
    /// Credentials for the sync client. `RAPPORT_TOKEN` wins over the
    /// stored token, so a token can live in a password manager instead.
    pub fn credentials(&self, name: &str) -> anyhow::Result<rapport_sync::Remote> {
        let token = std::env::var(TOKEN_ENV)
            .ok()
            .filter(|t| !t.trim().is_empty())
            .or_else(|| self.token.clone())
            .ok_or_else(|| {
                user_hint(
                    format!("remote '{name}' has no token"),
                    format!(
                        "set {TOKEN_ENV}, or store one: `rapport remote add {name} {} --team {} --token TOKEN`",
                        self.url, self.team
                    ),
                )
            })?;
        Ok(rapport_sync::Remote {
            url: self.url.clone(),
            team: self.team.clone(),
            token: token.trim().to_string(),
        })
    }
}

/// What one relay had of one document when we last synced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DocState {
    pub relay_heads: Vec<String>,
    pub synced_at: String,
    /// The document's chunk files right after a sync that left both sides
    /// equal (`incremental/<hash>`, `snapshot/<hash>`). Every local edit adds
    /// one incremental chunk, so comparing lists answers `status` without
    /// loading the document. Empty when unknown.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunks: Vec<String>,
}

impl DocState {
    /// Local changes since the sync, from the chunk lists alone: `None` when
    /// that cannot tell (a compaction since, or no list kept).
    pub fn unsent_from_chunks(&self, current: &[String]) -> Option<usize> {
        self.added_since(current).map(|added| added.len())
    }

    /// The chunks of `current` added since the sync, when that is all that
    /// changed: new incremental chunks, one per local change. `None` when
    /// that cannot tell (a compaction or a received snapshot since, or no
    /// list kept).
    pub fn added_since<'a>(&self, current: &'a [String]) -> Option<Vec<&'a String>> {
        if self.chunks.is_empty() {
            return None;
        }
        let before: std::collections::HashSet<&String> = self.chunks.iter().collect();
        let now: std::collections::HashSet<&String> = current.iter().collect();
        if !before.is_subset(&now) {
            return None;
        }
        let added: Vec<&'a String> = current.iter().filter(|c| !before.contains(c)).collect();
        added
            .iter()
            .all(|c| c.starts_with("incremental/"))
            .then_some(added)
    }
}

/// A document's chunk files as `kind/name`.
pub fn chunk_names(chunks: &[rapport_store::ChunkKey]) -> Vec<String> {
    chunks
        .iter()
        .map(|c| format!("{}/{}", c.kind.as_str(), c.name))
        .collect()
}

/// `sync.json`: remote name → document URL → state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SyncState {
    #[serde(default)]
    pub remotes: BTreeMap<String, BTreeMap<String, DocState>>,
}

impl SyncState {
    pub fn load(path: &Path) -> anyhow::Result<SyncState> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("could not parse {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(SyncState::default()),
            Err(e) => Err(e).with_context(|| format!("could not read {}", path.display())),
        }
    }

    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let bytes = serde_json::to_vec_pretty(self)?;
        write_atomic(path, &bytes)
    }

    /// Records what `remote` had of document `doc` after a sync.
    pub fn remember(
        &mut self,
        remote: &str,
        doc: &str,
        relay_heads: &[String],
        synced_at: &str,
        chunks: Vec<String>,
    ) {
        self.remotes.entry(remote.to_string()).or_default().insert(
            doc.to_string(),
            DocState {
                relay_heads: relay_heads.to_vec(),
                synced_at: synced_at.to_string(),
                chunks,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(chunks: &[&str]) -> DocState {
        DocState {
            relay_heads: vec![],
            synced_at: String::new(),
            chunks: chunks.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn names(chunks: &[&str]) -> Vec<String> {
        chunks.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn new_incremental_chunks_are_local_changes() {
        let s = state(&["snapshot/a", "incremental/b"]);
        assert_eq!(
            s.unsent_from_chunks(&names(&["snapshot/a", "incremental/b"])),
            Some(0)
        );
        assert_eq!(
            s.unsent_from_chunks(&names(&[
                "snapshot/a",
                "incremental/b",
                "incremental/c",
                "incremental/d"
            ])),
            Some(2)
        );
    }

    #[test]
    fn a_compaction_or_no_record_means_load_the_document() {
        let s = state(&["snapshot/a", "incremental/b"]);
        // Compacted: the old chunks are gone.
        assert_eq!(s.unsent_from_chunks(&names(&["snapshot/z"])), None);
        // A snapshot was added (a sync through another remote, say).
        assert_eq!(
            s.unsent_from_chunks(&names(&["snapshot/a", "incremental/b", "snapshot/y"])),
            None
        );
        assert_eq!(state(&[]).unsent_from_chunks(&names(&["snapshot/a"])), None);
    }
}
