//! `rapport-relay`: a small, self-hostable relay that lets teammates' copies
//! of shared documents converge. It speaks the automerge-repo sync protocol
//! (through samod), so the rapport CLI and JS automerge-repo clients can
//! use it, and it adds authentication and per-team access.
//!
//! It treats documents as opaque: it never links rapport-core. Storage is a
//! plain directory in the automerge-repo layout; teams and token hashes are
//! one JSON file beside it.
//!
//! `router(state)` is the axum app; `serve(config, listener, shutdown)` runs
//! it until `shutdown` resolves, then stops the repo, which flushes storage.

pub mod acl;
pub mod config;
pub mod error;
pub mod metrics;
pub mod routes;
pub mod storage;
pub mod teams;
mod transport;
pub mod validate;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use error::RelayError;
pub use routes::router;

use crate::acl::Acl;
use crate::metrics::{Metrics, Observer};

/// The relay's state, shared by every request.
pub struct AppState {
    pub config: Config,
    pub acl: Arc<Acl>,
    pub metrics: Arc<Metrics>,
    pub repo: samod::Repo,
    pub acceptor: samod::AcceptorHandle,
    /// Cancelled when the relay shuts down.
    pub shutdown: CancellationToken,
}

/// The peer id the relay uses in the sync handshake.
pub const RELAY_PEER_ID: &str = "rapport-relay";

impl AppState {
    /// Loads the registry and starts the samod repo on `data_dir/docs`.
    pub async fn start(config: Config) -> Result<Arc<AppState>, RelayError> {
        let acl = Acl::load(config.data_dir.clone())?;
        let metrics = Arc::new(Metrics::default());
        let docs_dir = config.data_dir.join("docs");
        std::fs::create_dir_all(&docs_dir).map_err(|e| {
            RelayError::Internal(format!("could not create {}: {e}", docs_dir.display()))
        })?;
        // A damaged chunk is moved aside before samod sees it, and counted.
        let report = storage::scan(&docs_dir, &config.data_dir.join("quarantine"))
            .map_err(|e| RelayError::Internal(format!("could not check the store: {e}")))?;
        metrics.corrupt_chunks.store(
            report.quarantined.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        tracing::info!(
            documents = report.documents,
            chunks = report.chunks,
            quarantined = report.quarantined.len(),
            "store checked"
        );
        // Each document runs on a worker pool rather than one shared task: a
        // panic inside automerge (a hostile or corrupt change can cause one)
        // then stops only the document it hit, is logged and counted, and
        // every other document keeps syncing.
        let panics = metrics.clone();
        let pool = rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("relay-doc-{i}"))
            .panic_handler(move |_| {
                Metrics::inc(&panics.document_panics);
                tracing::error!(
                    "a document's processing panicked; that document is stopped until restart"
                );
            })
            .build()
            .map_err(|e| RelayError::Internal(format!("could not start the document pool: {e}")))?;
        let repo = samod::Repo::build_tokio()
            .with_concurrency(samod::ConcurrencyConfig::Threadpool(pool))
            .with_storage(samod::storage::TokioFilesystemStorage::new(&docs_dir))
            .with_peer_id(samod::PeerId::from(RELAY_PEER_ID))
            .with_share_policy(acl.share_policy())
            .with_observer(Observer(metrics.clone()))
            .load()
            .await;
        // The URL is only a label in samod's logs.
        let url = samod::Url::parse("ws://rapport-relay/v1/sync")
            .map_err(|e| RelayError::Internal(e.to_string()))?;
        let acceptor = repo
            .make_acceptor(url)
            .map_err(|_| RelayError::Internal("the repo stopped".into()))?;
        Ok(Arc::new(AppState {
            config,
            acl,
            metrics,
            repo,
            acceptor,
            shutdown: CancellationToken::new(),
        }))
    }
}

/// Serves until `shutdown` resolves, then closes connections and stops the
/// repo, which writes every document to storage before returning.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RelayError> {
    let state = AppState::start(config).await?;
    let reload = tokio::spawn(reload_loop(state.clone()));
    let app = router(state.clone());
    let stop = state.shutdown.clone();
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            stop.cancel();
        })
        .await;
    state.shutdown.cancel();
    reload.abort();
    // A document stalled by a panic never reports itself stopped: do not
    // let it hang the shutdown.
    if tokio::time::timeout(Duration::from_secs(20), state.repo.stop())
        .await
        .is_err()
    {
        tracing::error!("the repo did not stop within 20 s (a stalled document?); exiting anyway");
    } else {
        tracing::info!("relay stopped; storage flushed");
    }
    result.map_err(|e| RelayError::Internal(format!("server error: {e}")))
}

/// Picks up `teams.json` changes made by the admin commands (new members,
/// revocations) while the relay runs.
async fn reload_loop(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        match state.acl.reload_if_changed() {
            Ok(true) => tracing::info!("teams.json changed: reloaded"),
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, "could not reload teams.json"),
        }
    }
}
