//! Who may see what: the registry of teams, the peers bound to members on
//! connection, and samod's share policy built from both.
//!
//! A connection's peer id is bound to the member whose token opened it, and
//! samod is told to expect exactly that peer id, so a client cannot speak
//! as someone else. A peer sees a document only when the document is
//! registered to the peer's team; read-only members receive but their
//! changes are not applied.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use futures::StreamExt as _;
use samod::{DocumentId, PeerId, ShareConfig};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error::RelayError;
use crate::teams::{Identity, Registry, Tokens};

type FileStamp = (std::time::SystemTime, u64, u64);

fn stamp(path: &std::path::Path) -> Option<FileStamp> {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let inode = 0;
    Some((m.modified().ok()?, m.len(), inode))
}

/// A connected peer.
struct Bound {
    identity: Identity,
    connections: usize,
    /// Cancelled to cut the peer off (revocation).
    kill: CancellationToken,
}

pub struct Acl {
    data_dir: PathBuf,
    registry: RwLock<Registry>,
    /// The registry's token hashes, decoded (kept with it by `set_registry`).
    tokens: RwLock<Tokens>,
    /// (modified, length, inode) of `teams.json` when last loaded: every
    /// save is a rename, so the inode changes even within one mtime tick.
    loaded_at: Mutex<Option<FileStamp>>,
    peers: Mutex<HashMap<String, Bound>>,
    /// Bumped whenever a decision may have changed; share policies follow it.
    version: watch::Sender<u64>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Acl {
    pub fn load(data_dir: PathBuf) -> Result<Arc<Acl>, RelayError> {
        let registry = Registry::load(&data_dir)?;
        let loaded_at = stamp(&Registry::path(&data_dir));
        Ok(Arc::new(Acl {
            data_dir,
            tokens: RwLock::new(registry.tokens()),
            registry: RwLock::new(registry),
            loaded_at: Mutex::new(loaded_at),
            peers: Mutex::new(HashMap::new()),
            version: watch::channel(0).0,
        }))
    }

    pub fn registry(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Swaps in a registry just read or written, and its token hashes.
    fn set_registry(&self, registry: Registry) {
        let tokens = registry.tokens();
        *self.registry.write().unwrap_or_else(|p| p.into_inner()) = registry;
        *self.tokens.write().unwrap_or_else(|p| p.into_inner()) = tokens;
    }

    fn bump(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    /// Re-reads `teams.json` when it changed on disk (the admin commands
    /// write it), then cuts off peers whose membership is gone or changed.
    pub fn reload_if_changed(&self) -> Result<bool, RelayError> {
        let path = Registry::path(&self.data_dir);
        if *lock(&self.loaded_at) == stamp(&path) {
            return Ok(false);
        }
        // Load and swap under the registry's lock, so a write by the relay
        // itself (a registration) or by an admin command is never undone by
        // an older copy.
        Registry::read_locked(&self.data_dir, |fresh| {
            *lock(&self.loaded_at) = stamp(&path);
            self.set_registry(fresh);
        })?;
        self.revoke_stale();
        self.bump();
        Ok(true)
    }

    fn revoke_stale(&self) {
        let registry = self.registry();
        for (peer, bound) in lock(&self.peers).iter() {
            let still = registry
                .member(&bound.identity.team, &bound.identity.handle)
                .is_some_and(|m| {
                    m.read_only == bound.identity.read_only
                        && m.token_sha256 == bound.identity.token_sha256
                });
            if !still {
                tracing::info!(%peer, team = %bound.identity.team, handle = %bound.identity.handle, "membership changed: disconnecting");
                bound.kill.cancel();
            }
        }
    }

    pub fn authenticate(&self, token: &str) -> Option<Identity> {
        self.tokens
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .authenticate(token)
    }

    /// Binds a peer id to a member for one more connection. A peer id bound
    /// to someone else is refused.
    /// Binds `peer` to `identity` for one more connection. `None` when the
    /// member already holds `max_per_member` connections.
    pub fn bind(
        &self,
        peer: &str,
        identity: &Identity,
        max_per_member: usize,
    ) -> Result<Option<CancellationToken>, RelayError> {
        let mut peers = lock(&self.peers);
        let held: usize = peers
            .values()
            .filter(|b| b.identity.team == identity.team && b.identity.handle == identity.handle)
            .map(|b| b.connections)
            .sum();
        let bound = peers.entry(peer.to_string()).or_insert_with(|| Bound {
            identity: identity.clone(),
            connections: 0,
            kill: CancellationToken::new(),
        });
        if bound.identity != *identity {
            return Err(RelayError::Forbidden);
        }
        if held >= max_per_member {
            if bound.connections == 0 {
                peers.remove(peer);
            }
            return Ok(None);
        }
        if bound.kill.is_cancelled() {
            bound.kill = CancellationToken::new();
        }
        bound.connections += 1;
        // No policy needs re-running: samod asks about this peer only after
        // its handshake, which comes after this binding.
        Ok(Some(bound.kill.clone()))
    }

    pub fn unbind(&self, peer: &str) {
        let mut peers = lock(&self.peers);
        if let Some(b) = peers.get_mut(peer) {
            b.connections = b.connections.saturating_sub(1);
            if b.connections == 0 {
                peers.remove(peer);
            }
        }
    }

    /// The decision for one document and one peer, now.
    pub fn decide(&self, doc: &DocumentId, peer: &PeerId) -> ShareConfig {
        let identity = match lock(&self.peers).get(peer.as_str()) {
            Some(b) if !b.kill.is_cancelled() => b.identity.clone(),
            _ => return ShareConfig::none(),
        };
        let registry = self.registry();
        let Some(member) = registry
            .member(&identity.team, &identity.handle)
            .filter(|m| m.token_sha256 == identity.token_sha256)
        else {
            return ShareConfig::none();
        };
        let doc = doc.to_string();
        let Some(entry) = registry
            .teams
            .get(&identity.team)
            .and_then(|t| t.docs.get(&doc))
        else {
            return ShareConfig::none();
        };
        // Only the member who registered a document may be offered it
        // unasked. The team repos join a connection to a loaded document
        // only once its member sends a message about it (connections on
        // demand, repos.rs), so this matters only for connections joined
        // while the relay loaded or searched for the document: it asks only
        // the member who registered it (samod requests from a peer only
        // where it may write and is announced to), and once it has the
        // document sends it to that member, and to the others only if they
        // ask, as the reference JS server.
        let announce = entry.registered_by == identity.handle;
        if member.read_only {
            ShareConfig::read_only().with_announce(announce)
        } else {
            ShareConfig::read_write().with_announce(announce)
        }
    }

    /// Registers a document to the member's team (writes `teams.json`).
    pub fn register_doc(&self, identity: &Identity, doc: &str) -> Result<bool, RelayError> {
        // Already the team's: nothing to write (and no lock, no fsync).
        if self.registry().holds(&identity.team, doc) {
            return Ok(false);
        }
        let (_, created) = Registry::update_then(
            &self.data_dir,
            |r| r.register_doc(&identity.team, doc, &identity.handle),
            |saved| self.set_registry(saved.clone()),
        )?;
        // `loaded_at` is left as it was: the reload loop sees the new file and
        // reloads it (harmless), so nothing written meanwhile is skipped.
        self.bump();
        Ok(created)
    }

    /// samod's share policy: a stream of decisions per (document, peer)
    /// that yields again whenever the registry or the bindings change.
    pub fn share_policy(self: &Arc<Self>) -> impl samod::SharePolicy {
        let acl = Arc::downgrade(self);
        move |doc: DocumentId, peer: PeerId| {
            let acl = acl.clone();
            let rx = match acl.upgrade() {
                Some(a) => a.version.subscribe(),
                None => watch::channel(0).1,
            };
            tokio_stream::wrappers::WatchStream::new(rx).map(move |_| match acl.upgrade() {
                Some(a) => a.decide(&doc, &peer),
                None => ShareConfig::none(),
            })
        }
    }
}
