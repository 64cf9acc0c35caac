//! The client side of sync: a one-shot automerge-repo client of
//! `rapport-relay`.
//!
//! - [`http`]: register a document with the team, list the team's documents.
//! - [`session`]: sync a set of documents both ways over one WebSocket and
//!   stop when each has settled.
//! - [`wire`]: the automerge-repo protocol messages.
//!
//! No I/O on the local store happens here: the caller hands in automerge
//! documents and writes back what changed.

pub mod http;
pub mod session;
pub mod wire;

pub use session::{DocReport, DocSync, Outcome, Probe, ProbeAnswer, Timeouts};

/// A relay and the member's credentials for one team.
#[derive(Debug, Clone)]
pub struct Remote {
    /// `https://relay.example.com` (or `http://`, `ws://`, `wss://`).
    pub url: String,
    pub team: String,
    pub token: String,
}

impl Remote {
    /// The base URL for HTTP calls, without a trailing slash.
    pub fn http_base(&self) -> String {
        let url = self.url.trim().trim_end_matches('/');
        if let Some(rest) = url.strip_prefix("ws://") {
            format!("http://{rest}")
        } else if let Some(rest) = url.strip_prefix("wss://") {
            format!("https://{rest}")
        } else {
            url.to_string()
        }
    }

    /// The sync WebSocket URL for `peer`.
    pub fn ws_url(&self, peer: &str) -> String {
        let base = self.http_base();
        let base = if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            base
        };
        format!("{base}/v1/sync?peer={peer}")
    }
}

/// Checks a relay URL as a user typed it.
pub fn check_url(url: &str) -> Result<(), String> {
    let url = url.trim();
    let rest = ["http://", "https://", "ws://", "wss://"]
        .iter()
        .find_map(|p| url.strip_prefix(p))
        .ok_or("the URL must start with https:// (or http:// for a relay on this machine)")?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err("the URL has no host".into());
    }
    if rest.contains(['?', '#', ' ']) {
        return Err("the URL must not have a query, fragment or spaces".into());
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("could not reach the relay at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the relay refused the token (401): it is wrong, or the member was removed")]
    Unauthorized,
    #[error("the token contains characters that cannot be sent in a header")]
    BadToken,
    #[error("the relay refused (403) {0}")]
    Forbidden(String),
    #[error("the relay answered {status} when {what}: {body}")]
    Http {
        what: String,
        status: u16,
        body: String,
    },
    #[error("the relay broke the protocol: {0}")]
    Protocol(String),
}

/// Runs a session on a private single-threaded runtime, for callers that
/// are not async (the CLI).
pub fn run_blocking(
    remote: &Remote,
    peer: &str,
    docs: Vec<DocSync>,
    timeouts: Timeouts,
    progress: impl FnMut(&DocReport),
) -> Result<Vec<(DocSync, DocReport)>, SyncError> {
    block_on(remote, session::run(remote, peer, docs, timeouts, progress))
}

/// [`session::probe`] on a private single-threaded runtime.
pub fn probe_blocking(
    remote: &Remote,
    peer: &str,
    docs: &[session::Probe],
    timeouts: Timeouts,
) -> Result<Vec<session::ProbeAnswer>, SyncError> {
    block_on(remote, session::probe(remote, peer, docs, timeouts))
}

/// Runs `task` on a private single-threaded runtime.
fn block_on<T>(
    remote: &Remote,
    task: impl std::future::Future<Output = Result<T, SyncError>>,
) -> Result<T, SyncError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SyncError::Unreachable {
            url: remote.http_base(),
            reason: format!("could not start the network runtime: {e}"),
        })?;
    rt.block_on(task)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(url: &str) -> Remote {
        Remote {
            url: url.into(),
            team: "acme".into(),
            token: "t".into(),
        }
    }

    #[test]
    fn urls_map_between_http_and_ws() {
        assert_eq!(
            remote("https://r.example.com/").ws_url("p"),
            "wss://r.example.com/v1/sync?peer=p"
        );
        assert_eq!(
            remote("ws://127.0.0.1:9/").http_base(),
            "http://127.0.0.1:9"
        );
        assert_eq!(
            remote("http://127.0.0.1:9").ws_url("p"),
            "ws://127.0.0.1:9/v1/sync?peer=p"
        );
    }

    #[test]
    fn bad_urls_are_refused() {
        assert!(check_url("relay.example.com").is_err());
        assert!(check_url("https://").is_err());
        assert!(check_url("https://r.example.com?x=1").is_err());
        assert!(check_url("https://r.example.com").is_ok());
    }
}
