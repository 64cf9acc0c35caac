//! One samod repo per team: started when a member of the team connects,
//! stopped (every document written, then freed) once the team has had no
//! connection for `unload_idle_after`.
//!
//! Why per team: samod 0.16's hub re-examines every (connection, loaded
//! document) pair on every event it handles, so one repo for the whole
//! relay costs O(connections × documents) per message, and the relay slowed
//! to a few sessions per second at 50 clients (see docs/performance.md). A
//! document belongs to exactly one team and a member to exactly one team,
//! and the transport already drops messages about other teams' documents,
//! so a team's repo holds only its members' connections and its own
//! documents: the walk is bounded by the team's size, and teams run side by
//! side. Stopping an idle team's repo is also how idle documents leave
//! memory (samod has no API to unload one document).
//!
//! Every team's repo uses the same storage directory: documents never
//! belong to two teams, so no two repos ever hold the same document.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

use crate::Config;
use crate::RELAY_PEER_ID;
use crate::acl::Acl;
use crate::durable::{DurableStorage, Ledger, Writes};
use crate::error::RelayError;
use crate::metrics::{Metrics, Observer};
use crate::poison::{self, Poisons, Recent};

/// The document threads of the whole relay: one rayon pool that every
/// team's repo shares (`samod::ConcurrencyConfig::SharedThreadpool`, see
/// vendor/samod/PATCHED.md). A pool per team meant two threads per
/// connected team, each spinning before it slept, with its own memory
/// (issue #6). Twice as many threads as cores (4 to 32), so a few long
/// tasks (loading a big document) do not hold every thread. Round-robin
/// across documents, whatever their team: a document that used up its
/// batch of 64 tasks waits behind every document already queued
/// (`samod::SharedPool`).
fn document_threads() -> usize {
    std::thread::available_parallelism().map_or(4, |n| (2 * n.get()).clamp(4, 32))
}

/// How long `stop` may take before the relay gives up on a repo (a
/// document stalled by a panic never reports itself stopped).
pub const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// A running team repo.
#[derive(Clone)]
pub struct Running {
    pub repo: samod::Repo,
    pub acceptor: samod::AcceptorHandle,
    /// Which changes of the team's documents are on disk (see `durable.rs`).
    pub ledger: Arc<Ledger>,
    /// The last sync payloads passed to samod, to name the culprit of a
    /// panic (see `poison.rs`).
    pub recent: Arc<Recent>,
    /// Cancelled when this repo is stopped for a restart: the team's
    /// connections end, and their clients reconnect to the next one.
    pub cut: CancellationToken,
    /// Which start of the team's repo this is.
    generation: u64,
    /// The team's documents open now (counted by its observer).
    open: Arc<std::sync::atomic::AtomicU64>,
    tasks: TeamTasks,
}

/// Spawns samod's background tasks on the relay's tokio runtime and keeps
/// their abort handles. samod 0.16 never frees a stopped repo: its I/O loop
/// and tick loop hold each other's channels open and the I/O loop holds the
/// repo's state, and the state holds its acceptors, which hold the repo.
/// Closing the acceptor and aborting these tasks once the repo has stopped
/// frees the state (otherwise every unload would leak it).
#[derive(Clone)]
struct TeamTasks {
    rt: tokio::runtime::Handle,
    tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl samod::runtime::RuntimeHandle for TeamTasks {
    fn spawn(&self, f: std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'static>>) {
        let handle = self.rt.spawn(f).abort_handle();
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(handle);
    }

    fn sleep(
        &self,
        duration: Duration,
    ) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

impl TeamTasks {
    fn abort_all(&self) {
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            t.abort();
        }
    }
}

#[derive(Default)]
struct Slot {
    running: Option<Running>,
    connections: usize,
    /// Bumped by every connection, so an unload timer started before a
    /// reconnection leaves the repo alone.
    epoch: u64,
}

pub struct Repos {
    docs_dir: PathBuf,
    tmp_dir: PathBuf,
    fsync: bool,
    acl: Arc<Acl>,
    metrics: Arc<Metrics>,
    unload_idle_after: Duration,
    slots: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Slot>>>>,
    closed: AtomicBool,
    loaded: AtomicUsize,
    /// Every team's document writes, committed together.
    writes: Arc<Writes>,
    /// Where every team's documents run (see `document_threads`).
    pool: Arc<samod::SharedPool>,
    generations: AtomicU64,
    /// Changes each team refuses after they panicked a document.
    pub poisons: Arc<Poisons>,
}

/// How long a restart waits for the old repo to stop: a document stopped
/// by a panic never reports itself stopped, so this bounds how long the
/// team waits, not how long writes get (they are acknowledged only once
/// done, see `durable.rs`).
const RESTART_STOP_TIMEOUT: Duration = Duration::from_secs(2);

const PANICKED: &str = "a document panicked";

/// How long after a failed write the team's repo restarts.
const RESTART_AFTER_WRITE_FAILURE: Duration = Duration::from_secs(3);

/// A connection's hold on its team's repo. Dropping it lets the repo be
/// unloaded once the team has been idle long enough.
pub struct Lease {
    repos: Arc<Repos>,
    team: String,
    pub running: Running,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let (repos, team) = (self.repos.clone(), std::mem::take(&mut self.team));
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(repos.leave(team));
        }
    }
}

impl Repos {
    pub fn new(
        config: &Config,
        acl: Arc<Acl>,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Repos>, RelayError> {
        let escaped = metrics.clone();
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(document_threads())
            .thread_name(|i| format!("relay-doc-{i}"))
            // samod catches a document's panic and reports it to the
            // document's repo (`on_document_panic` in `start`), so this only
            // sees a panic outside any document's task: counted, logged,
            // and kept from aborting the relay.
            .panic_handler(move |_| {
                Metrics::inc(&escaped.document_panics);
                tracing::error!("a task on the document pool panicked outside any document");
            })
            .build()
            .map_err(|e| RelayError::Internal(format!("could not start the document pool: {e}")))?;
        Ok(Arc::new(Repos {
            docs_dir: config.data_dir.join("docs"),
            tmp_dir: config.data_dir.join("tmp"),
            fsync: config.fsync,
            unload_idle_after: config.unload_idle_after,
            acl,
            metrics,
            slots: Mutex::new(HashMap::new()),
            closed: false.into(),
            loaded: 0.into(),
            writes: Arc::new(Writes::new(&config.data_dir.join("tmp")).map_err(|e| {
                RelayError::Internal(format!(
                    "could not open the data directory's tmp folder: {e}"
                ))
            })?),
            pool: Arc::new(samod::SharedPool::new(pool)),
            generations: 0.into(),
            poisons: Arc::new(Poisons::load(config.data_dir.join("poisoned.json"))),
        }))
    }

    fn slot(&self, team: &str) -> Arc<tokio::sync::Mutex<Slot>> {
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(team.to_string())
            .or_default()
            .clone()
    }

    /// The team's repo for one more connection, started if it is not
    /// running. Waits while a previous repo of the team is being stopped,
    /// so a restarted repo always reads what the old one wrote.
    pub async fn enter(self: &Arc<Self>, team: &str) -> Result<Lease, RelayError> {
        let slot = self.slot(team);
        let mut s = slot.lock().await;
        if self.closed.load(Ordering::SeqCst) {
            return Err(RelayError::Internal("the relay is stopping".into()));
        }
        let running = match &s.running {
            Some(r) => r.clone(),
            None => {
                let r = self.clone().start(team).await?;
                s.running = Some(r.clone());
                r
            }
        };
        s.connections += 1;
        s.epoch += 1;
        Ok(Lease {
            repos: self.clone(),
            team: team.to_string(),
            running,
        })
    }

    /// The team's repo if it is running now (for work that only matters
    /// while members are connected).
    pub async fn running(&self, team: &str) -> Option<Running> {
        self.slot(team).lock().await.running.clone()
    }

    /// Teams whose repo is running.
    pub fn loaded_teams(&self) -> usize {
        self.loaded.load(Ordering::Relaxed)
    }

    async fn leave(self: Arc<Self>, team: String) {
        let slot = self.slot(&team);
        let epoch = {
            let mut s = slot.lock().await;
            s.connections = s.connections.saturating_sub(1);
            if s.connections > 0 {
                return;
            }
            s.epoch
        };
        tokio::time::sleep(self.unload_idle_after).await;
        let mut s = slot.lock().await;
        if s.connections == 0
            && s.epoch == epoch
            && let Some(running) = s.running.take()
        {
            self.stop(&team, running, STOP_TIMEOUT).await;
            tracing::info!(%team, "team idle: its documents were written and unloaded");
        }
    }

    /// Stops every team's repo (each writes its documents); no repo starts
    /// after this.
    pub async fn stop_all(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let slots: Vec<_> = self
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(t, s)| (t.clone(), s.clone()))
            .collect();
        let stops = slots.into_iter().map(|(team, slot)| async move {
            let mut s = slot.lock().await;
            if let Some(running) = s.running.take() {
                self.stop(&team, running, STOP_TIMEOUT).await;
            }
        });
        futures::future::join_all(stops).await;
    }

    /// Stops generation `generation` of the team's repo after a panic in
    /// one of its documents (automerge on hostile or corrupt input): the
    /// team's connections are cut, and the next one starts a repo that
    /// reads every document from disk again. Nothing acknowledged is lost:
    /// acknowledgements wait for the disk.
    async fn restart(self: Arc<Self>, team: String, generation: u64, why: &'static str) {
        let slot = self.slot(&team);
        let mut s = slot.lock().await;
        if s.running.as_ref().map(|r| r.generation) != Some(generation) {
            // Already restarted: another document of the same start panicked
            // too, or a failed write restarted it. (A document that panicked
            // does not panic again: samod leaves its mailbox marked busy, so
            // later tasks only queue behind the dead one.)
            return;
        }
        if let Some(running) = s.running.take() {
            running.cut.cancel();
            let recent = running.recent.take();
            self.stop(&team, running, RESTART_STOP_TIMEOUT).await;
            Metrics::inc(&self.metrics.team_restarts);
            tracing::error!(%team, why, "the team's connections were cut and its documents will be read again from disk");
            // Name the change that panicked before anyone reconnects (they
            // wait on this slot), so sending it again is refused at the door.
            if why == PANICKED {
                self.refuse_culprit(&team, recent).await;
            }
        }
    }

    /// Replays `recent` on the team's documents as stored to name the
    /// change that panicked one of them, and refuses it from then on.
    async fn refuse_culprit(&self, team: &str, recent: Vec<poison::Entry>) {
        let docs_dir = self.docs_dir.clone();
        let found = tokio::task::spawn_blocking(move || poison::find(&docs_dir, &recent))
            .await
            .ok()
            .flatten();
        match found {
            Some(found) if !found.changes.is_empty() => {
                tracing::error!(%team, member = %found.member, doc = %found.doc, changes = ?found.changes, "found the change that panicked the document; it is refused from now on (consider removing the member)");
                Metrics::add(&self.metrics.poisoned_changes, found.changes.len() as u64);
                self.poisons.add(team, found.changes);
            }
            _ => tracing::warn!(%team, "could not tell which change panicked the document"),
        }
    }

    async fn start(self: Arc<Self>, team: &str) -> Result<Running, RelayError> {
        let generation = self.generations.fetch_add(1, Ordering::Relaxed) + 1;
        let (metrics, repos, rt) = (
            self.metrics.clone(),
            Arc::downgrade(&self),
            tokio::runtime::Handle::current(),
        );
        let name = team.to_string();
        // A panic samod-core did not catch itself (it rolls back a sync
        // message that panics, see vendor/samod-core/PATCHED.md) stalls the
        // document: the team's repo restarts.
        let on_document_panic: Arc<dyn Fn() + Send + Sync> = Arc::new(move || {
            Metrics::inc(&metrics.document_panics);
            tracing::error!(team = %name, "a document's processing panicked; restarting the team's repo");
            if let Some(repos) = repos.upgrade() {
                rt.spawn(repos.restart(name.clone(), generation, PANICKED));
            }
        });
        let ledger = Arc::new(Ledger::default());
        let open = Arc::new(std::sync::atomic::AtomicU64::new(0));
        // A failed write leaves samod believing a change is stored that is
        // not: replies about that document are held (see durable.rs), and
        // after a pause (the disk may be full: no tight loop) the team's
        // repo restarts and reads what really is on disk.
        let on_failure: Arc<dyn Fn() + Send + Sync> = {
            let (repos, rt, name) = (
                Arc::downgrade(&self),
                tokio::runtime::Handle::current(),
                team.to_string(),
            );
            Arc::new(move || {
                let (repos, name) = (repos.clone(), name.clone());
                rt.spawn(async move {
                    tokio::time::sleep(RESTART_AFTER_WRITE_FAILURE).await;
                    if let Some(repos) = repos.upgrade() {
                        repos
                            .restart(name, generation, "a document write failed")
                            .await;
                    }
                });
            })
        };
        let recent: Arc<Recent> = Arc::default();
        // A sync message that panicked while applied was rolled back by
        // (patched) samod-core, and only its connection closed: the team
        // carries on, and the change is named and refused.
        let on_panic: Arc<dyn Fn() + Send + Sync> = {
            let (repos, rt, name, recent) = (
                Arc::downgrade(&self),
                tokio::runtime::Handle::current(),
                team.to_string(),
                recent.clone(),
            );
            Arc::new(move || {
                let (repos, name, recent) = (repos.clone(), name.clone(), recent.clone());
                rt.spawn(async move {
                    if let Some(repos) = repos.upgrade() {
                        repos.refuse_culprit(&name, recent.snapshot()).await;
                    }
                });
            })
        };
        let tasks = TeamTasks {
            rt: tokio::runtime::Handle::current(),
            tasks: Arc::default(),
        };
        let repo = samod::Repo::builder(tasks.clone())
            .with_concurrency(samod::ConcurrencyConfig::SharedThreadpool {
                pool: self.pool.clone(),
                on_panic: on_document_panic,
            })
            .with_storage(DurableStorage::new(
                &self.docs_dir,
                &self.tmp_dir,
                self.fsync,
                ledger.clone(),
                self.metrics.clone(),
                self.writes.clone(),
                on_failure,
            ))
            .with_peer_id(samod::PeerId::from(RELAY_PEER_ID))
            // A member's connection joins only the documents the member
            // sends messages about (and any document being searched for),
            // not every loaded document of the team: per session, samod
            // then keeps sync states and share-policy decisions for the
            // documents synced, not for (team documents x connections).
            // The relay offers no loaded document unasked, as the
            // reference JS server (vendor/samod/PATCHED.md).
            .with_connect_on_demand(true)
            .with_share_policy(self.acl.share_policy())
            .with_observer(Observer {
                metrics: self.metrics.clone(),
                open: open.clone(),
                on_panic,
            })
            .load()
            .await;
        // The URL is only a label in samod's logs.
        let url = samod::Url::parse(&format!("ws://rapport-relay/v1/sync#{team}"))
            .map_err(|e| RelayError::Internal(e.to_string()))?;
        let acceptor = repo
            .make_acceptor(url)
            .map_err(|_| RelayError::Internal("the repo stopped".into()))?;
        tracing::info!(%team, "team loaded");
        self.loaded.fetch_add(1, Ordering::Relaxed);
        Ok(Running {
            repo,
            acceptor,
            ledger,
            recent,
            cut: CancellationToken::new(),
            generation,
            open,
            tasks,
        })
    }

    async fn stop(&self, team: &str, running: Running, limit: Duration) {
        // The repo keeps its acceptor, which holds the repo: closing it
        // breaks that cycle so the repo's state can be freed.
        running.acceptor.close();
        if tokio::time::timeout(limit, running.repo.stop())
            .await
            .is_err()
        {
            tracing::error!(%team, ?limit, "the team's repo did not stop in time (a stalled document?); dropped");
        }
        running.tasks.abort_all();
        // A document stopped by a panic, or dropped by the timeout, never
        // reported itself closed: take what is left of the team's count off
        // the relay's gauge.
        let left = running.open.swap(0, Ordering::Relaxed);
        let _ =
            self.metrics
                .documents_open
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                    Some(v.saturating_sub(left))
                });
        self.loaded.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable as _;

    /// Panics on the document thread when a document of its repo closes.
    struct PanicsOnClose;

    impl samod::RepoObserver for PanicsOnClose {
        fn observe(&self, event: &samod::RepoEvent) {
            if matches!(event, samod::RepoEvent::DocumentClosed { .. }) {
                panic!("a document task panics (on purpose)");
            }
        }
    }

    async fn repo_counting_panics(
        pool: &Arc<samod::SharedPool>,
        panics: &Arc<AtomicUsize>,
        panicky: bool,
    ) -> samod::Repo {
        let panics = panics.clone();
        let builder = samod::Repo::build_tokio().with_concurrency(
            samod::ConcurrencyConfig::SharedThreadpool {
                pool: pool.clone(),
                on_panic: Arc::new(move || {
                    panics.fetch_add(1, Ordering::SeqCst);
                }),
            },
        );
        if panicky {
            builder.with_observer(PanicsOnClose).load().await
        } else {
            builder.load().await
        }
    }

    /// The relay's teams share one document pool, so a document's panic
    /// must reach its own team (which restarts) and leave the pool and the
    /// other teams' documents working (vendor/samod/PATCHED.md).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_documents_panic_on_the_shared_pool_reaches_only_its_own_repo() {
        let escaped = Arc::new(AtomicUsize::new(0));
        let pool = {
            let escaped = escaped.clone();
            Arc::new(samod::SharedPool::new(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .panic_handler(move |_| {
                        escaped.fetch_add(1, Ordering::SeqCst);
                    })
                    .build()
                    .unwrap(),
            ))
        };
        let (a_panics, b_panics) = (Arc::default(), Arc::default());
        let a = repo_counting_panics(&pool, &a_panics, true).await;
        let b = repo_counting_panics(&pool, &b_panics, false).await;
        let _doc_a = a.create(automerge::Automerge::new()).await.unwrap();
        let doc_b = b.create(automerge::Automerge::new()).await.unwrap();

        // Stopping closes the document, whose observer panics on the pool:
        // that document never reports itself stopped.
        let stopped = tokio::time::timeout(Duration::from_secs(1), a.stop()).await;
        assert!(stopped.is_err(), "the panicked document never stops");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while a_panics.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(a_panics.load(Ordering::SeqCst), 1, "reported to its repo");
        assert_eq!(b_panics.load(Ordering::SeqCst), 0, "and to no other");
        assert_eq!(escaped.load(Ordering::SeqCst), 0, "rayon never saw it");

        // The pool's one thread carries on with the other repo's documents.
        let put = tokio::time::timeout(
            Duration::from_secs(5),
            doc_b.with_document_async(|d| {
                let mut tx = d.transaction();
                tx.put(automerge::ROOT, "still", "working").unwrap();
                tx.commit();
            }),
        )
        .await;
        assert!(matches!(put, Ok(Ok(()))), "{put:?}");
        tokio::time::timeout(Duration::from_secs(5), b.stop())
            .await
            .expect("the other repo stops");
    }

    /// One team's busy document must not starve another team's documents
    /// on the shared pool: once it has used up a batch of 64 tasks it waits
    /// behind the documents already queued (`samod::SharedPool`). Rayon
    /// alone would run it again first (a job spawned from a worker goes on
    /// that worker's own queue, which it serves before outside jobs), and
    /// the other document's task would wait for all 2,000.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_busy_document_does_not_starve_another_repos_documents() {
        let pool = Arc::new(samod::SharedPool::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap(),
        ));
        let unused = Arc::default();
        let a = repo_counting_panics(&pool, &unused, false).await;
        let b = repo_counting_panics(&pool, &unused, false).await;
        let busy = a.create(automerge::Automerge::new()).await.unwrap();
        let other = b.create(automerge::Automerge::new()).await.unwrap();

        const FLOOD: usize = 2_000;
        let done = Arc::new(AtomicUsize::new(0));
        // The busy document's first task holds the pool's one thread until
        // every task below is queued.
        let (open, gate) = std::sync::mpsc::channel::<()>();
        let mut gate = Some(gate);
        let mut flood = Vec::new();
        for _ in 0..FLOOD {
            let done = done.clone();
            let gate = gate.take();
            let mut task = Box::pin(busy.with_document_async(move |_| {
                if let Some(gate) = gate {
                    let _ = gate.recv();
                }
                done.fetch_add(1, Ordering::SeqCst);
            }));
            // The first poll queues the task.
            assert!(futures::poll!(task.as_mut()).is_pending());
            flood.push(task);
        }
        let seen = done.clone();
        let mut other_task =
            Box::pin(other.with_document_async(move |_| seen.load(Ordering::SeqCst)));
        assert!(futures::poll!(other_task.as_mut()).is_pending());
        open.send(()).unwrap();
        let before = other_task.await.unwrap();
        assert!(
            before <= 64,
            "the other repo's task waited for {before} of the busy document's {FLOOD} tasks (one batch is 64)"
        );
        futures::future::join_all(flood).await;
        a.stop().await;
        b.stop().await;
    }
}

/// Patched samod's connections on demand (vendor/samod-core/PATCHED.md),
/// which the team repos turn on, seen from the repo that serves.
#[cfg(test)]
mod on_demand {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::time::Duration;

    /// A repo that serves, connecting on demand as the team repos do.
    async fn server() -> samod::Repo {
        samod::Repo::build_tokio()
            .with_connect_on_demand(true)
            .load()
            .await
    }

    async fn stop(repo: samod::Repo) {
        tokio::time::timeout(Duration::from_secs(10), repo.stop())
            .await
            .expect("the repo stops");
    }

    async fn eventually(what: &str, check: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(std::time::Instant::now() < deadline, "never: {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A client repo connected to `server` over an in-memory channel.
    async fn client_of(server: &samod::Repo) -> samod::Repo {
        let client = samod::Repo::build_tokio().load().await;
        let acceptor = server
            .make_acceptor("channel://server".parse().unwrap())
            .unwrap();
        let dialer = samod::transport::channel::ChannelDialer::new(acceptor);
        let dialed = client
            .dial(samod::BackoffConfig::default(), Arc::new(dialer))
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), dialed.established())
            .await
            .unwrap()
            .unwrap();
        client
    }

    /// A document loaded from storage for one peer's message joins that
    /// peer's connection, not every connection of the repo (each joined
    /// connection costs the document a sync state and a share-policy
    /// decision: 12-16 MiB of the relay at `relay-load`'s 500 clients).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_document_loaded_for_one_peer_joins_only_that_peer() {
        let storage = samod::storage::InMemoryStorage::new();
        let doc_id = {
            let first = samod::Repo::build_tokio()
                .with_storage(storage.clone())
                .load()
                .await;
            let mut doc = automerge::Automerge::new();
            doc.transact(|tx| {
                use automerge::transaction::Transactable as _;
                tx.put(automerge::ROOT, "k", "v")
            })
            .unwrap();
            let handle = first.create(doc).await.unwrap();
            let id = handle.document_id().clone();
            stop(first).await;
            id
        };
        let server = samod::Repo::build_tokio()
            .with_storage(storage)
            .with_connect_on_demand(true)
            .load()
            .await;
        let asking = client_of(&server).await;
        let silent = client_of(&server).await;

        let found = tokio::time::timeout(Duration::from_secs(10), asking.find(doc_id.clone()))
            .await
            .unwrap()
            .unwrap();
        assert!(
            found.is_some(),
            "the asking client gets the stored document"
        );
        let on_server = server.find(doc_id).await.unwrap().unwrap();
        eventually("the document has the asking client as a peer", || {
            on_server.peers().0.len() == 1
        })
        .await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(
            on_server.peers().0.len(),
            1,
            "the silent client's connection never joined the document"
        );
        stop(asking).await;
        stop(silent).await;
        stop(server).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_connection_joins_the_documents_its_peer_uses_and_leaves_them_when_it_closes() {
        let server = server().await;
        let used = server.create(automerge::Automerge::new()).await.unwrap();
        let unused = server.create(automerge::Automerge::new()).await.unwrap();

        let client = client_of(&server).await;
        let found = tokio::time::timeout(
            Duration::from_secs(10),
            client.find(used.document_id().clone()),
        )
        .await
        .unwrap()
        .unwrap();
        assert!(found.is_some(), "the client finds the document it asks for");

        eventually("the used document has the client as a peer", || {
            used.peers().0.len() == 1
        })
        .await;
        assert!(
            unused.peers().0.is_empty(),
            "a document the client never mentioned has no peer"
        );

        // Only the document the connection joined hears that it closed,
        // and it does.
        stop(client).await;
        eventually("the closed connection leaves the used document", || {
            used.peers().0.is_empty()
        })
        .await;
        stop(server).await;
    }

    fn frame(fields: &[(&str, ciborium::Value)]) -> Result<Vec<u8>, std::io::Error> {
        let text = |s: &str| ciborium::Value::Text(s.to_string());
        let map = fields.iter().map(|(k, v)| (text(k), v.clone())).collect();
        let mut out = Vec::new();
        ciborium::into_writer(&ciborium::Value::Map(map), &mut out).unwrap();
        Ok(out)
    }

    /// A connection the hub closes itself (here on the peer's `leave`; also
    /// on a protocol error or a document's `Disconnect`) is reported to the
    /// documents it joined, as one whose transport ends.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_peer_that_leaves_leaves_the_documents_it_joined() {
        use futures::StreamExt as _;
        let text = |s: &str| ciborium::Value::Text(s.to_string());
        let server = server().await;
        let used = server.create(automerge::Automerge::new()).await.unwrap();
        let acceptor = server
            .make_acceptor("channel://server".parse().unwrap())
            .unwrap();
        let (to_server, from_client) = futures::channel::mpsc::unbounded();
        let (to_client, mut from_server) = futures::channel::mpsc::unbounded::<Vec<u8>>();
        acceptor
            .accept(samod::Transport::new(from_client, to_client))
            .unwrap();

        to_server
            .unbounded_send(frame(&[
                ("type", text("join")),
                ("senderId", text("raw")),
                (
                    "supportedProtocolVersions",
                    ciborium::Value::Array(vec![text("1")]),
                ),
            ]))
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), from_server.next())
            .await
            .unwrap()
            .expect("the server answers the join");
        let request = automerge::sync::SyncDoc::generate_sync_message(
            &automerge::Automerge::new(),
            &mut automerge::sync::State::new(),
        )
        .unwrap()
        .encode();
        to_server
            .unbounded_send(frame(&[
                ("type", text("request")),
                ("documentId", text(&used.document_id().to_string())),
                ("senderId", text("raw")),
                ("targetId", text(server.peer_id().as_str())),
                ("data", ciborium::Value::Bytes(request)),
            ]))
            .unwrap();
        eventually("the document has the raw peer", || {
            used.peers().0.len() == 1
        })
        .await;

        to_server
            .unbounded_send(frame(&[("type", text("leave")), ("senderId", text("raw"))]))
            .unwrap();
        eventually("the peer that left leaves the document", || {
            used.peers().0.is_empty()
        })
        .await;
        stop(server).await;
    }
}
