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
//! it until `shutdown` resolves, then stops every team's repo, which
//! flushes storage.

pub mod acl;
pub mod config;
pub mod durable;
pub mod error;
pub mod metrics;
pub mod poison;
pub mod repos;
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
use crate::metrics::Metrics;
use crate::repos::Repos;

/// The relay's state, shared by every request.
pub struct AppState {
    pub config: Config,
    pub acl: Arc<Acl>,
    pub metrics: Arc<Metrics>,
    /// One samod repo per team with members connected (see `repos.rs`).
    pub repos: Arc<Repos>,
    /// Cancelled when the relay shuts down.
    pub shutdown: CancellationToken,
}

/// The peer id the relay uses in the sync handshake.
pub const RELAY_PEER_ID: &str = "rapport-relay";

impl AppState {
    /// Loads the registry and checks the store in `data_dir/docs`; team repos
    /// start when their members connect.
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
        // Temporary files of interrupted writes (never renamed into place).
        let _ = std::fs::remove_dir_all(config.data_dir.join("tmp"));
        durable::ensure_storage_id(&docs_dir, &config.data_dir.join("tmp"), config.fsync)
            .map_err(|e| RelayError::Internal(format!("could not write the storage id: {e}")))?;
        let repos = Repos::new(&config, acl.clone(), metrics.clone())?;
        Ok(Arc::new(AppState {
            config,
            acl,
            metrics,
            repos,
            shutdown: CancellationToken::new(),
        }))
    }
}

/// `listener`, with every accepted connection's TCP_NODELAY set. Sync is
/// many small messages each way: with Nagle's algorithm a write waits for
/// the peer's delayed ACK (40 ms on Linux), which made a five-document
/// session take ~45 ms instead of ~3 ms (`relay-load --clients 1`).
pub fn no_delay(
    listener: TcpListener,
) -> impl axum::serve::Listener<Io = tokio::net::TcpStream, Addr = std::net::SocketAddr> {
    axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!("could not set TCP_NODELAY: {e}");
        }
    })
}

/// Raises this process's soft limit on open files to its hard limit, and
/// returns the limit now in force (`None`: unlimited). Each connection
/// takes a descriptor and each document write one or two (its temporary
/// file, and a folder it creates or fsyncs), so the usual soft limit of 1024
/// is below what `max_connections` (1024) and the writers need at once; a
/// write that fails for want of one restarts its team.
///
/// Where the hard limit is unlimited (macOS), or above what the kernel lets
/// one process have, the soft limit is raised to `OPEN_MAX` (10240) instead.
pub fn raise_open_file_limit() -> Option<u64> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    /// macOS's `OPEN_MAX`, the most it accepts when the hard limit is higher.
    const OPEN_MAX: u64 = 10240;
    let limit = getrlimit(Resource::Nofile);
    if let Some(current) = limit.current {
        let wanted = limit.maximum.unwrap_or(OPEN_MAX);
        for target in [wanted, wanted.min(OPEN_MAX)] {
            if target <= current {
                break;
            }
            let raised = Rlimit {
                current: Some(target),
                maximum: limit.maximum,
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => break,
                Err(e) => {
                    tracing::debug!("could not raise the limit on open files to {target}: {e}")
                }
            }
        }
    }
    getrlimit(Resource::Nofile).current
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
    let result = axum::serve(no_delay(listener), app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            stop.cancel();
        })
        .await;
    state.shutdown.cancel();
    reload.abort();
    // Each team's repo writes its documents; one stalled by a panic is
    // given up on after `repos::STOP_TIMEOUT` rather than hang the shutdown.
    state.repos.stop_all().await;
    tracing::info!("relay stopped; storage flushed");
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

#[cfg(test)]
mod tests {
    use axum::serve::Listener as _;

    #[tokio::test]
    async fn accepted_connections_send_small_messages_at_once() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut listener = super::no_delay(listener);
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await;
        assert!(accepted.nodelay().unwrap(), "Nagle's algorithm is still on");
    }

    /// Lowers the soft limit for a moment (nextest runs each test in its
    /// own process; under `cargo test` other threads share the limit).
    #[test]
    fn the_open_file_limit_is_raised() {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let before = getrlimit(Resource::Nofile);
        let lowered = Rlimit {
            current: Some(256),
            maximum: before.maximum,
        };
        setrlimit(Resource::Nofile, lowered).unwrap();
        let raised = super::raise_open_file_limit().unwrap();
        assert_eq!(getrlimit(Resource::Nofile).current, Some(raised));
        match before.maximum {
            // Linux: the hard limit, which is always finite there.
            Some(maximum) if cfg!(target_os = "linux") => assert_eq!(raised, maximum),
            _ => assert!(raised > 256, "still {raised}"),
        }
    }
}
