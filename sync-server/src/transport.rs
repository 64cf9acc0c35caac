//! The WebSocket transport handed to samod: binary frames in and out, a
//! ping every 25 s (samod sends none, and idle proxies drop silent
//! connections), a kill switch to cut a revoked member off, and a gate
//! that drops messages about documents the member's team does not hold.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures::{SinkExt as _, StreamExt as _, TryStreamExt as _};
use samod::Transport;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::acl::Acl;
use crate::durable::{Durability, Ledger, sync_message_heads};
use crate::metrics::Metrics;
use crate::poison::{Poisons, Recent};
use crate::teams::Identity;

const PING_EVERY: Duration = Duration::from_secs(25);
/// A peer that does not take a frame within this long is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);
/// Messages queued for one peer before it counts as not reading.
const OUTBOX: usize = 1024;

/// The fields of an automerge-repo message the relay looks at. Decoding
/// into this (everything else is skipped, not kept) checks the CBOR is
/// well-formed without building a tree of it.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    #[serde(rename = "documentId", default)]
    document_id: Option<String>,
    /// The automerge sync message of `sync` and `request`.
    #[serde(default)]
    data: Option<ciborium::Value>,
}

/// Sync payloads up to this size are checked on the async worker; larger
/// ones on the blocking pool.
const CHECK_INLINE_BYTES: usize = 64 * 1024;

/// What the relay does with one incoming frame.
enum Gate {
    Pass,
    /// A sync message for one of the team's documents: its automerge
    /// payload is checked first (see `validate.rs`).
    Check {
        doc: String,
        data: Vec<u8>,
    },
    /// About a document the member's team does not hold: never reaches
    /// samod (which would load it into memory).
    Drop,
}

fn gate(bytes: &[u8], acl: &Acl, identity: &Identity) -> Result<Gate, String> {
    let envelope: Envelope =
        ciborium::from_reader(bytes).map_err(|e| format!("malformed message: {e}"))?;
    let Some(doc) = envelope.document_id else {
        return Ok(Gate::Pass);
    };
    let bare = doc.strip_prefix("automerge:").unwrap_or(&doc);
    let registry = acl.registry();
    if registry.holds(&identity.team, bare) {
        match (envelope.kind.as_str(), envelope.data) {
            ("sync" | "request", Some(ciborium::Value::Bytes(data))) => Ok(Gate::Check {
                doc: bare.to_string(),
                data,
            }),
            _ => Ok(Gate::Pass),
        }
    } else {
        tracing::debug!(kind = %envelope.kind, %doc, "dropped a message about a document the team does not hold");
        Ok(Gate::Drop)
    }
}

/// What a connection's transport needs of its team's repo.
pub struct TeamGates {
    /// Outgoing sync messages wait until their heads are on disk.
    pub ledger: Arc<Ledger>,
    /// Incoming payloads that reached samod, to name a panic's culprit.
    pub recent: Arc<Recent>,
    /// Changes the team refuses.
    pub poisons: Arc<Poisons>,
}

/// The document and heads an outgoing `sync` message announces.
fn announced(bytes: &[u8]) -> Option<(String, Vec<[u8; 32]>)> {
    let envelope: Envelope = ciborium::from_reader(bytes).ok()?;
    if envelope.kind != "sync" {
        return None;
    }
    let Some(ciborium::Value::Bytes(data)) = envelope.data else {
        return None;
    };
    Some((envelope.document_id?, sync_message_heads(&data)?))
}

/// Builds the transport; `done` is cancelled when the connection is over.
/// Outgoing sync messages wait until `ledger` has the changes they announce
/// on disk (see `durable.rs`).
pub fn relay_transport(
    socket: WebSocket,
    kill: CancellationToken,
    done: CancellationToken,
    metrics: Arc<Metrics>,
    acl: Arc<Acl>,
    identity: Identity,
    team: TeamGates,
) -> Transport {
    let TeamGates {
        ledger,
        recent,
        poisons,
    } = team;
    let (mut tx, rx) = socket.split();
    // Bounded: a peer that stops reading fills it, the next send fails, and
    // samod closes the connection instead of queueing without end.
    let (out_tx, mut out_rx) = tokio::sync::mpsc::channel::<Message>(OUTBOX);
    let writer_kill = kill.clone();
    let writer_metrics = metrics.clone();
    tokio::spawn(async move {
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.tick().await;
        loop {
            let next = tokio::select! {
                _ = writer_kill.cancelled() => None,
                m = out_rx.recv() => m,
                _ = ping.tick() => Some(Message::Ping(Default::default())),
            };
            let Some(message) = next else { break };
            if let Message::Binary(bytes) = &message
                && let Some((doc, heads)) = announced(bytes)
            {
                let verdict = tokio::select! {
                    _ = writer_kill.cancelled() => break,
                    v = ledger.wait(&doc, &heads, SEND_TIMEOUT) => v,
                };
                if verdict != Durability::Durable {
                    Metrics::inc(&writer_metrics.unacknowledged_closes);
                    tracing::warn!(%doc, ?verdict, "the changes a reply announces are not on disk; closing the connection unacknowledged");
                    break;
                }
            }
            // Every write has a deadline, so a peer that stops reading
            // cannot hold its slot (or dodge a revocation) forever.
            match tokio::time::timeout(SEND_TIMEOUT, tx.send(message)).await {
                Ok(Ok(())) => {}
                _ => break,
            }
        }
        done.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(1), tx.send(Message::Close(None))).await;
    });
    let check_metrics = metrics.clone();
    let stream = rx
        .take_until(kill.cancelled_owned())
        .map_err(move |e| {
            let text = e.to_string();
            if text.contains("too long") || text.contains("Space limit") || text.contains("exceed")
            {
                Metrics::inc(&metrics.oversized_messages);
            }
            std::io::Error::other(text)
        })
        .try_filter_map(move |m| {
            let verdict = match &m {
                Message::Binary(b) => Some(gate(b, &acl, &identity)),
                _ => None,
            };
            let metrics = check_metrics.clone();
            let (recent, poisons) = (recent.clone(), poisons.clone());
            let (team, member) = (identity.team.clone(), identity.handle.clone());
            async move {
                match m {
                    Message::Binary(b) => match verdict {
                        Some(Ok(Gate::Pass)) => Ok(Some(b.to_vec())),
                        Some(Ok(Gate::Check { doc, data })) => {
                            let (checked, data) = if data.len() <= CHECK_INLINE_BYTES {
                                (crate::validate::checked_changes(&data), data)
                            } else {
                                tokio::task::spawn_blocking(move || {
                                    (crate::validate::checked_changes(&data), data)
                                })
                                .await
                                .unwrap_or_else(|_| {
                                    (
                                        Err(crate::validate::Rejected("the check failed".into())),
                                        Vec::new(),
                                    )
                                })
                            };
                            let checked = checked.and_then(|hashes| {
                                match poisons.hit(&team, &hashes) {
                                    Some(h) => Err(crate::validate::Rejected(format!(
                                        "change {h} panicked a document before; refused"
                                    ))),
                                    None => Ok(hashes),
                                }
                            });
                            match checked {
                                Ok(hashes) => {
                                    if !hashes.is_empty() {
                                        recent.record(&doc, &member, &data);
                                    }
                                    Ok(Some(b.to_vec()))
                                }
                                Err(crate::validate::Rejected(why)) => {
                                    Metrics::inc(&metrics.rejected_sync_messages);
                                    tracing::warn!(%why, %member, "refused a sync message; closing the connection");
                                    Err(std::io::Error::other(why))
                                }
                            }
                        }
                        Some(Ok(Gate::Drop)) => Ok(None),
                        Some(Err(e)) => Err(std::io::Error::other(e)),
                        None => Ok(None),
                    },
                    Message::Text(_) => Err(std::io::Error::other(
                        "text frames are not part of the protocol",
                    )),
                    Message::Ping(_) | Message::Pong(_) => Ok(None),
                    // The stream ends right after a close frame.
                    Message::Close(_) => Ok(None),
                }
            }
        });
    let sink = futures::sink::unfold(out_tx, |tx, bytes: Vec<u8>| async move {
        tx.try_send(Message::Binary(bytes.into()))
            .map_err(|_| std::io::Error::other("the peer is not reading (or gone)"))?;
        Ok::<_, std::io::Error>(tx)
    });
    Transport::new(Box::pin(stream), Box::pin(sink))
}
