//! Teams, members and their tokens, and which team each document belongs
//! to: one JSON file in the data directory, written atomically (temporary
//! file, fsync, rename), so a crash leaves the old file or the new one.
//!
//! Only a SHA-256 hash of each token is stored. A token is shown once, when
//! the member is added.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::RelayError;

/// The prefix of every token, so a leaked one is recognisable.
pub const TOKEN_PREFIX: &str = "rpt_";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    #[serde(default)]
    pub teams: BTreeMap<String, Team>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Team {
    #[serde(default)]
    pub members: BTreeMap<String, Member>,
    /// Document ids (bs58check, no `automerge:` prefix) registered to the team.
    #[serde(default)]
    pub docs: BTreeMap<String, DocEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Hex SHA-256 of the token.
    pub token_sha256: String,
    #[serde(default)]
    pub read_only: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DocEntry {
    /// The handle of the member who registered it.
    pub registered_by: String,
}

/// The members' token hashes, decoded once per registry the relay loads:
/// every connection compares its token's hash with all of them, and
/// decoding each member's hex on every connection was 2-3% of the relay's
/// CPU at 500 members (`relay-load`).
#[derive(Debug, Default)]
pub struct Tokens(Vec<([u8; 32], Identity)>);

impl Tokens {
    /// The identity behind a token. Every member's hash is compared, in
    /// constant time, so the time taken says nothing about which member or
    /// how much of a token matched.
    pub fn authenticate(&self, token: &str) -> Option<Identity> {
        let presented = hash_token(token.trim());
        let mut found = None;
        for (stored, identity) in &self.0 {
            if bool::from(stored.ct_eq(&presented)) {
                found = Some(identity);
            }
        }
        found.cloned()
    }
}

/// Who a valid token belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    pub team: String,
    pub handle: String,
    pub read_only: bool,
    /// The hash of the token used, so a member removed and re-added with a
    /// new token (within one reload) still loses connections made with the
    /// old one.
    pub token_sha256: String,
}

fn hash_token(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn lock_error(e: std::io::Error) -> RelayError {
    RelayError::Internal(format!("could not lock the registry: {e}"))
}

fn lock_file(data_dir: &Path) -> Result<std::fs::File, RelayError> {
    std::fs::create_dir_all(data_dir).map_err(lock_error)?;
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data_dir.join("teams.lock"))
        .map_err(lock_error)
}

/// A new random token: `rpt_` and 32 random bytes in bs58.
pub fn new_token() -> Result<String, RelayError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| RelayError::Internal(format!("no randomness: {e}")))?;
    Ok(format!(
        "{TOKEN_PREFIX}{}",
        bs58::encode(bytes).into_string()
    ))
}

/// Team names and handles: 1-40 of a-z, 0-9, `-`, `_`, `.`.
pub fn validate_name(kind: &str, name: &str) -> Result<(), RelayError> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(RelayError::Invalid(format!(
            "invalid {kind} '{name}': use 1-40 of a-z, 0-9, '-', '_', '.'"
        )))
    }
}

impl Registry {
    pub fn path(data_dir: &Path) -> PathBuf {
        data_dir.join("teams.json")
    }

    pub fn load(data_dir: &Path) -> Result<Registry, RelayError> {
        let path = Registry::path(data_dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| RelayError::Internal(format!("{} is not valid: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Registry::default()),
            Err(e) => Err(RelayError::Internal(format!(
                "could not read {}: {e}",
                path.display()
            ))),
        }
    }

    /// Writes atomically.
    pub fn save(&self, data_dir: &Path) -> Result<(), RelayError> {
        let io =
            |e: std::io::Error| RelayError::Internal(format!("could not write the registry: {e}"));
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let bytes =
            serde_json::to_vec_pretty(self).map_err(|e| RelayError::Internal(e.to_string()))?;
        let mut tmp = tempfile::NamedTempFile::new_in(data_dir).map_err(io)?;
        tmp.write_all(&bytes).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(Registry::path(data_dir))
            .map_err(|e| io(e.error))?;
        if let Ok(dir) = std::fs::File::open(data_dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    }

    /// Loads, changes and saves the registry under a lock file, so the
    /// relay and the admin commands never lose each other's writes.
    pub fn update<T>(
        data_dir: &Path,
        change: impl FnOnce(&mut Registry) -> Result<T, RelayError>,
    ) -> Result<(Registry, T), RelayError> {
        Registry::update_then(data_dir, change, |_| ())
    }

    /// Like [`update`](Self::update), and runs `after` on the saved registry
    /// while the lock is still held: the relay swaps its copy there, so an
    /// admin write that lands right after is never undone.
    pub fn update_then<T>(
        data_dir: &Path,
        change: impl FnOnce(&mut Registry) -> Result<T, RelayError>,
        after: impl FnOnce(&Registry),
    ) -> Result<(Registry, T), RelayError> {
        let file = lock_file(data_dir)?;
        let mut lock = fd_lock::RwLock::new(file);
        let _guard = lock.write().map_err(lock_error)?;
        let mut registry = Registry::load(data_dir)?;
        let value = change(&mut registry)?;
        registry.save(data_dir)?;
        after(&registry);
        Ok((registry, value))
    }

    /// Runs `read` on the registry as it is on disk, under the shared lock,
    /// so no writer is half-way through.
    pub fn read_locked<T>(
        data_dir: &Path,
        read: impl FnOnce(Registry) -> T,
    ) -> Result<T, RelayError> {
        let file = lock_file(data_dir)?;
        let lock = fd_lock::RwLock::new(file);
        let _guard = lock.read().map_err(lock_error)?;
        Ok(read(Registry::load(data_dir)?))
    }

    /// Whether (team, handle) is still a member, and read-only.
    pub fn member(&self, team: &str, handle: &str) -> Option<&Member> {
        self.teams.get(team).and_then(|t| t.members.get(handle))
    }

    pub fn add_team(&mut self, name: &str) -> Result<(), RelayError> {
        validate_name("team name", name)?;
        if self.teams.contains_key(name) {
            return Err(RelayError::Invalid(format!("team '{name}' exists already")));
        }
        self.teams.insert(name.to_string(), Team::default());
        Ok(())
    }

    fn team_mut(&mut self, team: &str) -> Result<&mut Team, RelayError> {
        self.teams
            .get_mut(team)
            .ok_or_else(|| RelayError::Invalid(format!("no team named '{team}'")))
    }

    /// Adds a member and returns their token (shown once, never stored).
    pub fn add_member(
        &mut self,
        team: &str,
        handle: &str,
        read_only: bool,
    ) -> Result<String, RelayError> {
        validate_name("handle", handle)?;
        let t = self.team_mut(team)?;
        if t.members.contains_key(handle) {
            return Err(RelayError::Invalid(format!(
                "'{handle}' is already a member of '{team}'"
            )));
        }
        let token = new_token()?;
        t.members.insert(
            handle.to_string(),
            Member {
                token_sha256: hex::encode(hash_token(&token)),
                read_only,
            },
        );
        Ok(token)
    }

    pub fn remove_member(&mut self, team: &str, handle: &str) -> Result<(), RelayError> {
        let t = self.team_mut(team)?;
        t.members
            .remove(handle)
            .map(|_| ())
            .ok_or_else(|| RelayError::Invalid(format!("'{handle}' is not a member of '{team}'")))
    }

    /// The identity behind a token. Every member's hash is compared, in
    /// constant time, so the time taken says nothing about which member or
    /// how much of a token matched.
    pub fn authenticate(&self, token: &str) -> Option<Identity> {
        self.tokens().authenticate(token)
    }

    /// Every member's token hash, decoded, for [`Tokens::authenticate`].
    /// A hash that is not 64 hex digits is left out (no token matches it).
    pub fn tokens(&self) -> Tokens {
        let mut tokens = Vec::new();
        for (team, t) in &self.teams {
            for (handle, m) in &t.members {
                let mut stored = [0u8; 32];
                if hex::decode_to_slice(&m.token_sha256, &mut stored).is_err() {
                    continue;
                }
                let identity = Identity {
                    team: team.clone(),
                    handle: handle.clone(),
                    read_only: m.read_only,
                    token_sha256: m.token_sha256.clone(),
                };
                tokens.push((stored, identity));
            }
        }
        Tokens(tokens)
    }

    /// Whether `doc` is registered to `team`: what every frame asks, with
    /// one lookup. `register_doc` refuses a document another team holds,
    /// so this is `team_of(doc) == Some(team)`; a `teams.json` edited by
    /// hand to list one document under two teams gives it to both, as the
    /// share policy (`acl.rs`) already did.
    pub fn holds(&self, team: &str, doc: &str) -> bool {
        self.teams
            .get(team)
            .is_some_and(|t| t.docs.contains_key(doc))
    }

    /// The team a document belongs to.
    pub fn team_of(&self, doc: &str) -> Option<&str> {
        self.teams
            .iter()
            .find(|(_, t)| t.docs.contains_key(doc))
            .map(|(name, _)| name.as_str())
    }

    /// Registers a document to a team. Registering it again to the same
    /// team is fine; to another team is refused.
    pub fn register_doc(&mut self, team: &str, doc: &str, by: &str) -> Result<bool, RelayError> {
        match self.team_of(doc) {
            Some(owner) if owner == team => return Ok(false),
            Some(_) => return Err(RelayError::Forbidden),
            None => {}
        }
        self.team_mut(team)?.docs.insert(
            doc.to_string(),
            DocEntry {
                registered_by: by.to_string(),
            },
        );
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_authenticate_their_member_only() {
        let mut r = Registry::default();
        r.add_team("acme").unwrap();
        r.add_team("beta").unwrap();
        let sam = r.add_member("acme", "sam", false).unwrap();
        let jo = r.add_member("beta", "jo", true).unwrap();
        assert!(sam.starts_with(TOKEN_PREFIX));
        let id = r.authenticate(&sam).unwrap();
        assert_eq!(
            (id.team.as_str(), id.handle.as_str(), id.read_only),
            ("acme", "sam", false)
        );
        assert!(r.authenticate(&jo).unwrap().read_only);
        assert!(r.authenticate("rpt_nope").is_none());
        assert!(r.authenticate("").is_none());
        let mut truncated = sam.clone();
        truncated.pop();
        assert!(r.authenticate(&truncated).is_none());
        r.remove_member("acme", "sam").unwrap();
        assert!(r.authenticate(&sam).is_none(), "revoked");
    }

    #[test]
    fn only_hashes_are_stored() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = Registry::default();
        r.add_team("acme").unwrap();
        let token = r.add_member("acme", "sam", false).unwrap();
        r.save(dir.path()).unwrap();
        let text = std::fs::read_to_string(Registry::path(dir.path())).unwrap();
        assert!(!text.contains(&token));
        assert_eq!(Registry::load(dir.path()).unwrap(), r);
    }

    #[test]
    fn a_document_belongs_to_one_team() {
        let mut r = Registry::default();
        r.add_team("acme").unwrap();
        r.add_team("beta").unwrap();
        assert!(r.register_doc("acme", "doc1", "sam").unwrap());
        assert!(
            !r.register_doc("acme", "doc1", "sam").unwrap(),
            "idempotent"
        );
        assert!(matches!(
            r.register_doc("beta", "doc1", "jo"),
            Err(RelayError::Forbidden)
        ));
        assert_eq!(r.team_of("doc1"), Some("acme"));
        assert!(r.holds("acme", "doc1"));
        assert!(!r.holds("beta", "doc1"));
        assert!(!r.holds("nobody", "doc1"));
        assert!(!r.holds("acme", "doc2"));
    }

    #[test]
    fn names_are_validated() {
        let mut r = Registry::default();
        assert!(r.add_team("Bad Name").is_err());
        r.add_team("ok").unwrap();
        assert!(r.add_team("ok").is_err());
        assert!(r.add_member("ok", "", false).is_err());
        assert!(r.add_member("missing", "sam", false).is_err());
    }
}
