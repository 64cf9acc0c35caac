//! The relay's two REST calls: register a document with the team, and list
//! the team's documents.

use std::time::Duration;

use rapport_core::DocId;
use serde::Deserialize;

use crate::{Remote, SyncError};

const HTTP_TIMEOUT: Duration = Duration::from_secs(20);

/// One document registered to the team.
#[derive(Debug, Clone, Deserialize)]
pub struct TeamDoc {
    pub id: String,
    #[serde(default)]
    pub registered_by: Option<String>,
}

#[derive(Deserialize)]
struct DocList {
    docs: Vec<TeamDoc>,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(HTTP_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into()
}

fn check(
    remote: &Remote,
    what: &str,
    resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<ureq::http::Response<ureq::Body>, SyncError> {
    let mut resp = resp.map_err(|e| SyncError::Unreachable {
        url: remote.http_base(),
        reason: e.to_string(),
    })?;
    let status = resp.status().as_u16();
    match status {
        200..=299 => Ok(resp),
        401 => Err(SyncError::Unauthorized),
        _ => {
            let body = resp
                .body_mut()
                .read_to_string()
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect::<String>();
            if status == 403 {
                Err(SyncError::Forbidden(format!("{what}: {body}")))
            } else {
                Err(SyncError::Http {
                    what: what.to_string(),
                    status,
                    body,
                })
            }
        }
    }
}

/// Registers `doc` to the remote's team (idempotent). Returns true when it
/// was new to the relay.
pub fn register(remote: &Remote, doc: &DocId) -> Result<bool, SyncError> {
    let url = format!(
        "{}/v1/teams/{}/docs/{}",
        remote.http_base(),
        remote.team,
        doc.to_url()
    );
    let resp = agent()
        .put(&url)
        .header("authorization", &format!("Bearer {}", remote.token))
        .send_empty();
    let resp = check(remote, "registering the document", resp)?;
    Ok(resp.status().as_u16() == 201)
}

/// The documents registered to the remote's team.
pub fn list(remote: &Remote) -> Result<Vec<TeamDoc>, SyncError> {
    let url = format!("{}/v1/teams/{}/docs", remote.http_base(), remote.team);
    let resp = agent()
        .get(&url)
        .header("authorization", &format!("Bearer {}", remote.token))
        .call();
    let mut resp = check(remote, "listing the team's documents", resp)?;
    let list: DocList = resp
        .body_mut()
        .read_json()
        .map_err(|e| SyncError::Protocol(format!("the document list is not valid JSON: {e}")))?;
    Ok(list.docs)
}
