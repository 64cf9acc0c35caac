//! Test support shared by the relay's test binaries.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{SinkExt as _, StreamExt as _, TryStreamExt as _};
use samod::{DialError, Transport};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

/// A samod dialer that sends the token as a bearer header.
pub struct AuthDialer {
    pub url: String,
    pub token: String,
}

impl samod::Dialer for AuthDialer {
    type Error = std::convert::Infallible;

    fn url(&self) -> samod::Url {
        samod::Url::parse(&self.url).unwrap()
    }

    fn connect(&self) -> BoxFuture<'static, Result<Transport, DialError<Self::Error>>> {
        let (url, token) = (self.url.clone(), self.token.clone());
        Box::pin(async move {
            let mut req = url
                .as_str()
                .into_client_request()
                .map_err(DialError::transient)?;
            req.headers_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
            let (ws, _) = tokio_tungstenite::connect_async(req)
                .await
                .map_err(DialError::transient)?;
            let (sink, stream) = ws.split();
            let stream = stream.try_filter_map(|m| async move {
                Ok(match m {
                    Message::Binary(b) => Some(b.to_vec()),
                    _ => None,
                })
            });
            let sink = sink.with(|b: Vec<u8>| async move {
                Ok::<_, tungstenite::Error>(Message::Binary(b.into()))
            });
            Ok(Transport::new(Box::pin(stream), Box::pin(sink)))
        })
    }
}

/// How long a relay may take to shut down (a debug build on a loaded
/// two-core machine).
const STOP_WAIT: Duration = Duration::from_secs(20);

/// The relay in process on a free port of 127.0.0.1, with its data
/// directory and a way to stop it.
pub struct Relay {
    pub addr: std::net::SocketAddr,
    pub dir: PathBuf,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Relay {
    /// A relay with the default configuration on `dir`.
    pub async fn start(dir: &Path) -> Relay {
        Relay::start_with(rapport_relay::Config::for_dir(dir)).await
    }

    pub async fn start_with(config: rapport_relay::Config) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let dir = config.data_dir.clone();
        let task = tokio::spawn(async move {
            rapport_relay::serve(config, listener, async move {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Relay {
            addr,
            dir,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Whether `serve` is still running (it returns only on shutdown or on
    /// a fatal error, and a panic inside it ends the task).
    pub fn alive(&self) -> bool {
        self.task.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Shuts down gracefully; the shutdown itself must not hang.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(STOP_WAIT, task)
                .await
                .expect("the relay shuts down in time")
                .expect("the relay's serve task ended without panicking");
        }
    }

    pub fn sync_url(&self, peer: &str) -> String {
        format!("ws://{}/v1/sync?peer={peer}", self.addr)
    }
}

/// A client repo (in memory) dialled to a relay.
pub struct Client {
    pub repo: samod::Repo,
    pub dialer: samod::DialerHandle<std::convert::Infallible>,
}

/// A client repo as `peer` with `token`, connected to `relay` (retrying
/// every 50–500 ms, at most `max_retries` times, or for ever with `None`).
pub async fn client_with(
    relay: &Relay,
    peer: &str,
    token: &str,
    max_retries: Option<u32>,
) -> Client {
    let repo = samod::Repo::build_tokio()
        .with_peer_id(samod::PeerId::from(peer))
        .load()
        .await;
    let backoff = samod::BackoffConfig {
        initial_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(500),
        max_retries,
    };
    let dialer = repo
        .dial(
            backoff,
            std::sync::Arc::new(AuthDialer {
                url: relay.sync_url(peer),
                token: token.to_string(),
            }),
        )
        .unwrap();
    tokio::time::timeout(STOP_WAIT, dialer.established())
        .await
        .expect("connects in time")
        .expect("connects");
    Client { repo, dialer }
}
