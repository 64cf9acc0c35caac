//! The HTTP API: health, metrics, document registration and listing, and
//! the sync WebSocket.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use samod::{DocumentId, PeerId};
use tokio_util::sync::CancellationToken;

use crate::AppState;
use crate::error::RelayError;
use crate::metrics::Metrics;
use crate::teams::Identity;
use crate::transport::{TeamGates, relay_transport};

pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .route("/v1/teams/{team}/docs", get(list_docs))
        .route("/v1/teams/{team}/docs/{doc}", put(register_doc))
        .route("/v1/sync", get(sync))
        .with_state(state)
}

/// The token from `Authorization: Bearer ...`, or `?token=` (browsers
/// cannot set headers on a WebSocket).
fn token<'a>(headers: &'a HeaderMap, query: &'a HashMap<String, String>) -> Option<&'a str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split_once(' ')
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, t)| t.trim())
        })
        .or_else(|| query.get("token").map(String::as_str))
}

fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    query: &HashMap<String, String>,
) -> Result<Identity, RelayError> {
    match token(headers, query).and_then(|t| state.acl.authenticate(t)) {
        Some(identity) => Ok(identity),
        None => {
            Metrics::inc(&state.metrics.auth_failures);
            Err(RelayError::Unauthorized)
        }
    }
}

fn member_of(state: &AppState, identity: &Identity, team: &str) -> Result<(), RelayError> {
    if identity.team == team {
        Ok(())
    } else {
        Metrics::inc(&state.metrics.forbidden);
        Err(RelayError::Forbidden)
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let (teams, docs) = {
        let r = state.acl.registry();
        (r.teams.len(), r.teams.values().map(|t| t.docs.len()).sum())
    };
    let loaded = state.metrics.documents_open.load(Ordering::Relaxed) as usize;
    (
        [("content-type", "text/plain; version=0.0.4")],
        state
            .metrics
            .render(loaded, state.repos.loaded_teams(), teams, docs),
    )
}

async fn list_docs(
    State(state): State<Arc<AppState>>,
    Path(team): Path<String>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, RelayError> {
    let identity = authenticate(&state, &headers, &query)?;
    member_of(&state, &identity, &team)?;
    let registry = state.acl.registry();
    let docs: Vec<_> = registry
        .teams
        .get(&team)
        .map(|t| {
            t.docs
                .iter()
                .map(|(id, e)| serde_json::json!({ "id": format!("automerge:{id}"), "registered_by": e.registered_by }))
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(serde_json::json!({ "team": team, "docs": docs })))
}

async fn register_doc(
    State(state): State<Arc<AppState>>,
    Path((team, doc)): Path<(String, String)>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, RelayError> {
    let identity = authenticate(&state, &headers, &query)?;
    member_of(&state, &identity, &team)?;
    if identity.read_only {
        Metrics::inc(&state.metrics.forbidden);
        return Err(RelayError::Forbidden);
    }
    let bare = doc.strip_prefix("automerge:").unwrap_or(&doc);
    let id: DocumentId = bare
        .parse()
        .map_err(|_| RelayError::Invalid("not a document id".into()))?;
    // Registering a document another team holds is refused (403, as every
    // refusal). Document ids are 128 random bits, so this tells only someone
    // who already knows an id that it is taken.
    let created = {
        // File lock, write and fsync: off the async workers.
        let (acl, who, doc) = (state.acl.clone(), identity.clone(), id.to_string());
        tokio::task::spawn_blocking(move || acl.register_doc(&who, &doc))
            .await
            .map_err(|e| RelayError::Internal(format!("registration task failed: {e}")))?
    }
    .inspect_err(|e| {
        if matches!(e, RelayError::Forbidden) {
            Metrics::inc(&state.metrics.forbidden);
        }
    })?;
    if created {
        Metrics::inc(&state.metrics.docs_registered);
        tracing::info!(doc = %id, team = %identity.team, by = %identity.handle, "document registered");
    }
    // Open the document now in the team's repo, if members are connected:
    // samod then asks them for it, so a client that created it before
    // registering (its first announcement was dropped at the door) still
    // syncs it. With no one connected there is no one to ask.
    let (repos, team, wanted) = (state.repos.clone(), identity.team.clone(), id.clone());
    tokio::spawn(async move {
        if let Some(running) = repos.running(&team).await {
            let _ = running.repo.find(wanted).await;
        }
    });
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(serde_json::json!({ "id": format!("automerge:{id}"), "team": identity.team })),
    )
        .into_response())
}

/// Read and write buffer of each sync WebSocket (bigger messages still
/// pass; they are assembled in a separate buffer). Sync messages of small
/// edits are a few hundred bytes; at 16 KiB the read buffers alone were
/// 8 MiB of the relay at 500 connections.
const SOCKET_BUFFER_BYTES: usize = 4 * 1024;

/// Peer ids are chosen by clients; keep them short and printable.
fn valid_peer(peer: &str) -> bool {
    !peer.is_empty() && peer.len() <= 128 && peer.chars().all(|c| c.is_ascii_graphic())
}

async fn sync(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Result<Response, RelayError> {
    let identity = authenticate(&state, &headers, &query)?;
    let Some(peer) = query.get("peer").filter(|p| valid_peer(p)).cloned() else {
        return Err(RelayError::Invalid(
            "the sync URL needs ?peer=<your repo's peer id>".into(),
        ));
    };
    let open = state
        .metrics
        .connections_open
        .fetch_add(1, Ordering::SeqCst);
    if open >= state.config.max_connections as u64 {
        state
            .metrics
            .connections_open
            .fetch_sub(1, Ordering::SeqCst);
        Metrics::inc(&state.metrics.connections_refused);
        return Ok((StatusCode::SERVICE_UNAVAILABLE, "too many connections").into_response());
    }
    let kill = match state
        .acl
        .bind(&peer, &identity, state.config.max_connections_per_member)
    {
        Ok(Some(k)) => k,
        Ok(None) => {
            state
                .metrics
                .connections_open
                .fetch_sub(1, Ordering::SeqCst);
            Metrics::inc(&state.metrics.connections_refused);
            return Ok((
                StatusCode::TOO_MANY_REQUESTS,
                "too many connections for this member",
            )
                .into_response());
        }
        Err(e) => {
            state
                .metrics
                .connections_open
                .fetch_sub(1, Ordering::SeqCst);
            Metrics::inc(&state.metrics.forbidden);
            return Err(e);
        }
    };
    Metrics::inc(&state.metrics.connections_total);
    let max = state.config.max_message_bytes;
    let response = upgrade
        .max_message_size(max)
        .max_frame_size(max)
        // Most sync messages are small; tungstenite's 128 KiB buffers per
        // connection were most of the relay's memory at 500 connections.
        .read_buffer_size(SOCKET_BUFFER_BYTES)
        .write_buffer_size(SOCKET_BUFFER_BYTES)
        .on_failed_upgrade({
            let state = state.clone();
            let peer = peer.clone();
            move |_| {
                state.acl.unbind(&peer);
                state.metrics.connections_open.fetch_sub(1, Ordering::SeqCst);
            }
        })
        .on_upgrade(move |socket| async move {
            // Revoking the member cancels `kill` and so every connection of
            // theirs; ending this one cancels only its own child token.
            let kill = kill.child_token();
            let done = CancellationToken::new();
            tracing::info!(%peer, team = %identity.team, handle = %identity.handle, "peer connected");
            // Boxed: starting a team's repo is a big future, and this one
            // lives as long as the connection (3.4 KB each inline).
            match Box::pin(state.repos.enter(&identity.team)).await {
                Ok(lease) => {
                    let transport = relay_transport(
                        socket,
                        kill.clone(),
                        done.clone(),
                        state.metrics.clone(),
                        state.acl.clone(),
                        identity.clone(),
                        TeamGates {
                            ledger: lease.running.ledger.clone(),
                            recent: lease.running.recent.clone(),
                            poisons: state.repos.poisons.clone(),
                        },
                    )
                    .with_expected_peer_id(PeerId::from(peer.as_str()));
                    match lease.running.acceptor.accept(transport) {
                        Ok(_connection) => {
                            tokio::select! {
                                _ = done.cancelled() => {}
                                _ = state.shutdown.cancelled() => {}
                                _ = lease.running.cut.cancelled() => {}
                            }
                        }
                        Err(_) => tracing::warn!("the team's repo is stopped; connection dropped"),
                    }
                }
                Err(e) => tracing::warn!(error = %e, "connection dropped"),
            }
            kill.cancel();
            state.acl.unbind(&peer);
            state.metrics.connections_open.fetch_sub(1, Ordering::SeqCst);
            tracing::info!(%peer, "peer disconnected");
        });
    Ok(response)
}
