//! One sync session: connect to the relay, sync each document both ways with
//! a fresh automerge sync state, and stop when every document has settled.
//!
//! A document has *settled* when the relay has told us heads that we hold
//! entirely and that equal ours (both sides have each other's changes), or,
//! when the relay marks itself read-only for us, once we hold its heads.
//! Sync states are never reused across sessions, so a session that was cut
//! off (or a relay that lost data) cannot leave a stale state behind.

use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use automerge::sync::{self, SyncDoc as _};
use automerge::{AutoCommit, ChangeHash};
use futures_util::{SinkExt as _, StreamExt as _};
use rapport_core::DocId;
use serde::Serialize;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest as _};

use crate::{Remote, SyncError, wire};

/// How long to wait for the relay before giving up, and how often to
/// reconnect when a connection is lost mid-session.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Opening the connection and the handshake.
    pub connect: Duration,
    /// Silence from the relay while documents are still unsettled.
    pub idle: Duration,
    /// New connections after one is lost with documents still unsettled
    /// (a relay restarting a team, a proxy dropping the socket). Each
    /// starts fresh sync states for the documents not yet settled.
    pub reconnects: u32,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(15),
            idle: Duration::from_secs(30),
            reconnects: 2,
        }
    }
}

/// The pause before each reconnection (a relay restarting a team takes a
/// moment; the new connection then waits for it at the relay).
const RECONNECT_PAUSE: [Duration; 2] = [Duration::from_millis(250), Duration::from_secs(1)];

/// A document to sync. `local` is false for a document we only know the id
/// of (a teammate shared it): we ask the relay for it.
#[derive(Debug)]
pub struct DocSync {
    pub id: DocId,
    pub doc: AutoCommit,
    pub local: bool,
}

/// How a document's sync ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Both sides have each other's changes.
    Synced,
    /// We have the relay's changes, but it does not take ours (a read-only
    /// member).
    ReadOnly,
    /// The relay does not have the document, or will not share it.
    Unavailable,
    /// The connection ended first; what arrived is kept, the rest comes
    /// with the next sync.
    Interrupted,
    /// The relay sent something automerge rejected; nothing more was applied.
    Failed,
}

/// What happened to one document.
#[derive(Debug, Clone, Serialize)]
pub struct DocReport {
    pub id: String,
    pub outcome: Outcome,
    /// Changes we sent the relay.
    pub sent: usize,
    /// Changes we received and did not have.
    pub received: usize,
    /// The relay's heads when it last told us (hex change hashes).
    pub relay_heads: Option<Vec<String>>,
    /// Why, for `interrupted` and `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

struct Slot {
    sync: DocSync,
    state: sync::State,
    before: Vec<ChangeHash>,
    /// The relay's heads in its first message: what it had before we sent
    /// anything (our first message carries no changes).
    relay_start: Option<Vec<ChangeHash>>,
    outcome: Option<Outcome>,
    reason: Option<String>,
}

impl Slot {
    fn settle(&mut self, outcome: Outcome, reason: Option<String>) -> bool {
        if self.outcome.is_some() {
            return false;
        }
        self.outcome = Some(outcome);
        self.reason = reason;
        true
    }

    fn settled_now(&mut self) -> Option<Outcome> {
        let theirs = self.state.their_heads.clone()?;
        // Asked for a document the relay holds nothing of.
        if !self.sync.local && theirs.is_empty() {
            return Some(Outcome::Unavailable);
        }
        let doc = &mut self.sync.doc;
        // The change graph answers this; `get_change_by_hash` would rebuild
        // the change from the op set (milliseconds on a big document).
        if !doc.get_missing_deps(&theirs).is_empty() {
            return None;
        }
        let mut ours = doc.get_heads();
        let mut theirs = theirs;
        ours.sort();
        theirs.sort();
        if ours == theirs {
            Some(Outcome::Synced)
        } else if self.state.peer_read_only {
            Some(Outcome::ReadOnly)
        } else {
            None
        }
    }

    fn report(&mut self) -> DocReport {
        // Counted from change metadata (the change graph), never by
        // materialising changes, which costs seconds on a big document.
        let doc = &mut self.sync.doc;
        let received: HashSet<ChangeHash> = doc
            .get_changes_meta(&self.before)
            .iter()
            .map(|c| c.hash)
            .collect();
        // Sent: what we held before the session that the relay did not.
        let sent = match &self.relay_start {
            None => 0,
            Some(start) => {
                let known: Vec<ChangeHash> = start
                    .iter()
                    .copied()
                    .filter(|h| doc.get_missing_deps(&[*h]).is_empty())
                    .collect();
                doc.get_changes_meta(&known)
                    .iter()
                    .filter(|c| !received.contains(&c.hash))
                    .count()
            }
        };
        DocReport {
            id: self.sync.id.to_url(),
            outcome: self.outcome.clone().unwrap_or(Outcome::Interrupted),
            sent,
            received: received.len(),
            relay_heads: self
                .state
                .their_heads
                .as_ref()
                .map(|hs| hs.iter().map(ToString::to_string).collect()),
            reason: self.reason.clone(),
        }
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Buffers of the sync connection: tungstenite zero-fills its whole read
/// buffer (128 KiB by default) before every read, and the messages of a
/// sync are mostly a few hundred bytes: with 128 KiB, zeroing was 5% of
/// the CPU of `relay-load`'s clients. Bigger messages still pass (read in
/// several pieces), as on the relay's side (4 KiB there).
fn socket_config() -> tungstenite::protocol::WebSocketConfig {
    const BUFFER_BYTES: usize = 16 * 1024;
    tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(BUFFER_BYTES)
        .write_buffer_size(BUFFER_BYTES)
}

async fn connect(remote: &Remote, peer: &str, timeouts: Timeouts) -> Result<Ws, SyncError> {
    let url = remote.ws_url(peer);
    let unreachable = |reason: String| SyncError::Unreachable {
        url: remote.http_base(),
        reason,
    };
    let mut req = url
        .as_str()
        .into_client_request()
        .map_err(|e| unreachable(format!("bad relay URL: {e}")))?;
    let bearer = format!("Bearer {}", remote.token)
        .parse()
        .map_err(|_| SyncError::BadToken)?;
    req.headers_mut().insert("authorization", bearer);
    // No Nagle: a sync is many small messages each way, and a write held
    // for the relay's delayed ACK costs 40 ms a round trip.
    let connecting = tokio_tungstenite::connect_async_with_config(req, Some(socket_config()), true);
    match tokio::time::timeout(timeouts.connect, connecting).await {
        Err(_) => Err(unreachable(format!(
            "no answer within {}s",
            timeouts.connect.as_secs()
        ))),
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(tungstenite::Error::Http(resp))) => {
            let status = resp.status().as_u16();
            let body = resp
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).chars().take(200).collect())
                .unwrap_or_default();
            Err(match status {
                401 => SyncError::Unauthorized,
                403 => SyncError::Forbidden(format!("opening the sync connection: {body}")),
                _ => SyncError::Http {
                    what: "opening the sync connection".into(),
                    status,
                    body,
                },
            })
        }
        Ok(Err(e)) => Err(unreachable(e.to_string())),
    }
}

/// Why the connection ended after the handshake.
type Cut = String;

async fn next_frame(ws: &mut Ws, idle: Duration) -> Result<Vec<u8>, Cut> {
    loop {
        match tokio::time::timeout(idle, ws.next()).await {
            Err(_) => {
                return Err(format!(
                    "the relay stopped answering for {}s",
                    idle.as_secs()
                ));
            }
            Ok(None) | Ok(Some(Ok(Message::Close(_)))) => {
                return Err("the relay closed the connection".into());
            }
            Ok(Some(Err(e))) => return Err(format!("the connection failed: {e}")),
            Ok(Some(Ok(Message::Binary(b)))) => return Ok(b.to_vec()),
            Ok(Some(Ok(_))) => continue,
        }
    }
}

async fn send(ws: &mut Ws, frame: Vec<u8>) -> Result<(), Cut> {
    ws.send(Message::Binary(frame.into()))
        .await
        .map_err(|e| format!("the connection failed: {e}"))
}

/// Syncs `docs` with the relay and returns each with its report, in the
/// order given. An error means no connection was made (nothing changed);
/// once connected, problems are per-document outcomes, and each document
/// keeps every change that arrived.
pub async fn run(
    remote: &Remote,
    peer: &str,
    docs: Vec<DocSync>,
    timeouts: Timeouts,
    mut progress: impl FnMut(&DocReport),
) -> Result<Vec<(DocSync, DocReport)>, SyncError> {
    let mut ws = connect(remote, peer, timeouts).await?;
    let mut relay = handshake(&mut ws, peer, timeouts).await?;

    let mut slots: Vec<Slot> = docs
        .into_iter()
        .map(|mut d| Slot {
            before: d.doc.get_heads(),
            relay_start: None,
            sync: d,
            state: sync::State::new(),
            outcome: None,
            reason: None,
        })
        .collect();
    let index: HashMap<String, usize> = slots
        .iter()
        .enumerate()
        .map(|(i, s)| (s.sync.id.to_bs58(), i))
        .collect();

    let mut attempt = 0;
    loop {
        let result = exchange(
            &mut ws,
            peer,
            &relay,
            &mut slots,
            &index,
            timeouts,
            &mut progress,
        )
        .await;
        let Err(reason) = result else {
            // Say goodbye; the relay has everything already.
            let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
            break;
        };
        let again = match attempt < timeouts.reconnects {
            true => {
                let pause = RECONNECT_PAUSE[(attempt as usize).min(RECONNECT_PAUSE.len() - 1)];
                attempt += 1;
                tokio::time::sleep(pause).await;
                reconnect(remote, peer, timeouts).await
            }
            false => Err(reason.clone()),
        };
        match again {
            Ok((new_ws, new_relay)) => {
                ws = new_ws;
                relay = new_relay;
                // No sync state outlives a connection: the documents still
                // unsettled start again from what each side holds now.
                for slot in slots.iter_mut().filter(|s| s.outcome.is_none()) {
                    slot.state = sync::State::new();
                }
            }
            Err(_) => {
                for slot in &mut slots {
                    if slot.settle(Outcome::Interrupted, Some(reason.clone())) {
                        progress(&slot.report());
                    }
                }
                break;
            }
        }
    }
    Ok(slots
        .into_iter()
        .map(|mut s| {
            let report = s.report();
            (s.sync, report)
        })
        .collect())
}

/// A document to sync without loading it ([`probe`]): both sides held
/// exactly `last` at the last sync, and since then this side added only
/// `changes` (none, or each change as stored, one per chunk file).
#[derive(Debug, Clone)]
pub struct Probe {
    pub id: DocId,
    /// The heads both sides had at the last sync that left them equal.
    pub last: Vec<ChangeHash>,
    /// Changes made here since, as automerge stores a change.
    pub changes: Vec<automerge::Change>,
    /// Our heads now: `last` moved on by `changes`.
    pub heads: Vec<ChangeHash>,
}

impl Probe {
    /// `changes` are the bytes of the changes made here since the last
    /// sync (one change each). An error for bytes that are not one change,
    /// or a change given twice or already at `last`: such a document needs
    /// the full sync.
    pub fn new(id: DocId, last: Vec<ChangeHash>, changes: Vec<Vec<u8>>) -> Result<Probe, String> {
        let changes: Vec<automerge::Change> = changes
            .into_iter()
            .map(|bytes| automerge::Change::from_bytes(bytes).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        let new: HashSet<ChangeHash> = changes.iter().map(automerge::Change::hash).collect();
        if new.len() != changes.len() || last.iter().any(|h| new.contains(h)) {
            return Err("a change is there twice, or was there at the last sync".into());
        }
        // A change made here since the last sync depends on what the
        // document held when it was made: the last sync's heads, other new
        // changes, or an ancestor of those heads (a record added on the
        // document's first change alone, see `append_on_genesis`), which
        // supersedes none of them. So these are our heads. Were the caller
        // wrong about `last`, the relay's heads would differ from these and
        // the document would take the full sync.
        let known: HashSet<ChangeHash> = last.iter().copied().chain(new.iter().copied()).collect();
        let superseded: HashSet<ChangeHash> = changes
            .iter()
            .flat_map(|c| c.deps().iter().copied())
            .collect();
        let mut heads: Vec<ChangeHash> = known
            .into_iter()
            .filter(|h| !superseded.contains(h))
            .collect();
        heads.sort();
        Ok(Probe {
            id,
            last,
            changes: in_causal_order(changes),
            heads,
        })
    }
}

/// `changes` with each after those it depends on.
fn in_causal_order(mut changes: Vec<automerge::Change>) -> Vec<automerge::Change> {
    let mut ordered = Vec::with_capacity(changes.len());
    let mut placed: HashSet<ChangeHash> = HashSet::new();
    let pending: HashSet<ChangeHash> = changes.iter().map(automerge::Change::hash).collect();
    while !changes.is_empty() {
        let before = changes.len();
        let (ready, rest): (Vec<_>, Vec<_>) = changes.into_iter().partition(|c| {
            c.deps()
                .iter()
                .all(|d| placed.contains(d) || !pending.contains(d))
        });
        placed.extend(ready.iter().map(automerge::Change::hash));
        ordered.extend(ready);
        changes = rest;
        if changes.len() == before {
            // A cycle cannot happen (hashes cover their deps); keep the rest.
            ordered.append(&mut changes);
        }
    }
    ordered
}

/// What we tell the relay about a document we did not load: our heads,
/// that we hold everything they lead to (the `have`'s last sync), and our
/// changes since the last sync. Without changes this is exactly the
/// message automerge sends first from a sync state persisted at the last
/// sync, as a peer that does not take version 2 messages sends it (no
/// flags); with them, the same message from our new heads, plus the
/// changes (tests check both against automerge).
///
/// With changes, automerge would name the last sync's heads and list our
/// changes since in a bloom filter; the relay then withholds any change of
/// its own the filter takes for one of ours (about one in a hundred, a
/// false positive), to send at the next round, which a probe does not
/// have: the document would load for nothing. The relay applies the
/// changes of a message before it answers, so our new heads are on it by
/// then, and naming them needs no filter; a relay that could not apply
/// them (it lacks what they build on) answers with a reset, which takes
/// the full sync.
///
/// Version 1, because automerge answers a version 2 peer that lacks over
/// a third of a document's changes with the whole document in one chunk,
/// which this side could not take without loading its own copy; in
/// version 1 it sends the changes one by one ([`ProbeAnswer::Received`]).
/// The relay still marks its own messages (read-only, for one).
pub fn probe_message(probe: &Probe) -> Vec<u8> {
    let changes: Vec<Vec<u8>> = probe
        .changes
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect();
    sync::Message {
        heads: probe.heads.clone(),
        need: Vec::new(),
        have: vec![sync::Have {
            last_sync: probe.heads.clone(),
            bloom: sync::BloomFilter::from_hashes(std::iter::empty::<ChangeHash>()),
        }],
        changes: sync::ChunkList::from(changes),
        flags: None,
        version: sync::MessageVersion::V1,
    }
    .encode()
}

/// What the relay's answer to a [`probe`] says about one document.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeAnswer {
    /// The relay has our heads and nothing for us: both sides are equal.
    Equal,
    /// The relay took our changes and sent these (in causal order), and
    /// its heads are those we have once they are applied: with them, both
    /// sides are equal. Nothing was applied here; the caller checks that
    /// it holds every change they depend on before it writes them, or
    /// takes the full sync.
    Received {
        changes: Vec<automerge::Change>,
        /// The relay's heads (sorted): ours once `changes` are applied.
        heads: Vec<ChangeHash>,
    },
    /// Anything else: the document needs the full [`run`], loaded.
    Full,
}

/// Syncs documents without loading them, when the caller knows (from the
/// document's chunk files) that both sides held exactly `last` at the last
/// sync and this side added only `changes` since. One message per document
/// over one connection: our heads and our new changes. The relay's answer
/// per document ([`ProbeAnswer`]): our heads and no changes (equal), or
/// the changes we lack with the heads they lead to (received, for the
/// caller to write), or anything else (other heads, no answer within
/// [`PROBE_WAIT`], the relay read-only for us or not having the document,
/// a connection lost or a protocol error after the handshake): that
/// document needs a full [`run`] with the document loaded, which reports
/// any real problem (the changes sent here are then already on the relay,
/// or sent again). Nothing is applied on this side. An error means the
/// relay could not be reached at all, as for [`run`].
pub async fn probe(
    remote: &Remote,
    peer: &str,
    docs: &[Probe],
    timeouts: Timeouts,
) -> Result<Vec<ProbeAnswer>, SyncError> {
    let mut answers: Vec<Option<ProbeAnswer>> = vec![None; docs.len()];
    if docs.is_empty() {
        return Ok(Vec::new());
    }
    let mut ws = connect(remote, peer, timeouts).await?;
    let relay = handshake(&mut ws, peer, timeouts).await?;
    // Any trouble from here on only sends the unanswered documents to the
    // full sync.
    let _ = ask(&mut ws, peer, &relay, docs, timeouts, &mut answers).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    Ok(answers
        .into_iter()
        .map(|a| a.unwrap_or(ProbeAnswer::Full))
        .collect())
}

/// How long [`probe`] waits for answers: a relay loading a big document
/// takes seconds, and a document that misses it only takes the full path.
pub const PROBE_WAIT: Duration = Duration::from_secs(10);

/// What a relay's message about a probed document says; `None`: wait for
/// its next one.
fn answer(probe: &Probe, data: &[u8]) -> Option<ProbeAnswer> {
    let Ok(m) = sync::Message::decode(data) else {
        return Some(ProbeAnswer::Full);
    };
    // A relay read-only for us does not take our changes (but a read-only
    // member with none to send is as settled as anyone).
    let read_only = m
        .flags
        .is_some_and(|f| f.contains(sync::MessageFlags::READ_ONLY));
    if read_only && !probe.changes.is_empty() {
        return Some(ProbeAnswer::Full);
    }
    let mut theirs = m.heads;
    theirs.sort();
    if !m.changes.is_empty() {
        return Some(received(probe, m.changes.iter(), theirs));
    }
    if theirs == probe.heads {
        return Some(ProbeAnswer::Equal);
    }
    // The relay spoke before it heard us (it offers a document to the
    // member who registered it when they connect while it loads the
    // document): wait for its answer. Its
    // answer names the heads it shares with us (ours, which it has) as the
    // last sync of its `have`. A greeting names none, and offers a bloom
    // filter of all its changes; a reset (the relay lacks heads we say it
    // had: restored from a backup) names none and offers an empty filter,
    // and one that needs something from us is no greeting either.
    let greeting = m.need.is_empty()
        && m.have.iter().all(|h| h.last_sync.is_empty())
        && m.have.iter().any(|h| !h.bloom.to_bytes().is_empty());
    if greeting {
        return None;
    }
    Some(ProbeAnswer::Full)
}

/// The changes a relay sent in answer to `probe`, if they are whole
/// changes, new to us, and lead exactly to the relay's heads `theirs`
/// (sorted) from ours: automerge sends every change a peer lacks in one
/// message once it knows what the peer has, so anything short of that
/// (a bloom filter's false positive left one out) takes the full sync.
fn received<'a>(
    probe: &Probe,
    bytes: impl Iterator<Item = &'a [u8]>,
    theirs: Vec<ChangeHash>,
) -> ProbeAnswer {
    let Ok(changes) = bytes
        .map(|b| automerge::Change::from_bytes(b.to_vec()))
        .collect::<Result<Vec<_>, _>>()
    else {
        return ProbeAnswer::Full;
    };
    let new: HashSet<ChangeHash> = changes.iter().map(automerge::Change::hash).collect();
    let ours: HashSet<ChangeHash> = probe
        .heads
        .iter()
        .chain(&probe.last)
        .copied()
        .chain(probe.changes.iter().map(automerge::Change::hash))
        .collect();
    if new.len() != changes.len() || new.iter().any(|h| ours.contains(h)) {
        return ProbeAnswer::Full;
    }
    let superseded: HashSet<ChangeHash> = changes
        .iter()
        .flat_map(|c| c.deps().iter().copied())
        .collect();
    let mut heads: Vec<ChangeHash> = probe
        .heads
        .iter()
        .copied()
        .chain(new.iter().copied())
        .filter(|h| !superseded.contains(h))
        .collect();
    heads.sort();
    heads.dedup();
    if heads != theirs {
        return ProbeAnswer::Full;
    }
    ProbeAnswer::Received {
        changes: in_causal_order(changes),
        heads,
    }
}

async fn ask(
    ws: &mut Ws,
    peer: &str,
    relay: &str,
    docs: &[Probe],
    timeouts: Timeouts,
    answers: &mut [Option<ProbeAnswer>],
) -> Result<(), Cut> {
    let index: HashMap<String, usize> = docs
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.to_bs58(), i))
        .collect();
    for probe in docs {
        let message = probe_message(probe);
        send(
            ws,
            wire::sync(peer, relay, &probe.id.to_bs58(), message, false),
        )
        .await?;
    }
    let mut pending = answers.iter().filter(|a| a.is_none()).count();
    while pending > 0 {
        let frame = next_frame(ws, timeouts.idle.min(PROBE_WAIT)).await?;
        let (doc, said) = match wire::decode(&frame)? {
            wire::Incoming::Sync { doc, data, request } => {
                let Some(&i) = index.get(&doc) else {
                    if request {
                        send(ws, wire::unavailable(peer, relay, &doc)).await?;
                    }
                    continue;
                };
                match answer(&docs[i], &data) {
                    Some(said) => (i, said),
                    None => continue,
                }
            }
            wire::Incoming::Unavailable { doc } => match index.get(&doc) {
                Some(&i) => (i, ProbeAnswer::Full),
                None => continue,
            },
            wire::Incoming::Error { message } => {
                return Err(format!("the relay said: {message}"));
            }
            wire::Incoming::Peer { .. } | wire::Incoming::Other => continue,
        };
        if answers[doc].is_none() {
            answers[doc] = Some(said);
            pending -= 1;
        }
    }
    Ok(())
}

async fn reconnect(remote: &Remote, peer: &str, timeouts: Timeouts) -> Result<(Ws, String), Cut> {
    let mut ws = connect(remote, peer, timeouts)
        .await
        .map_err(|e| e.to_string())?;
    let relay = handshake(&mut ws, peer, timeouts)
        .await
        .map_err(|e| e.to_string())?;
    Ok((ws, relay))
}

async fn handshake(ws: &mut Ws, peer: &str, timeouts: Timeouts) -> Result<String, SyncError> {
    let lost = |reason: Cut| SyncError::Protocol(format!("during the handshake: {reason}"));
    send(ws, wire::join(peer)).await.map_err(lost)?;
    loop {
        let frame = next_frame(ws, timeouts.connect).await.map_err(lost)?;
        match wire::decode(&frame).map_err(SyncError::Protocol)? {
            wire::Incoming::Peer { sender } => return Ok(sender),
            wire::Incoming::Error { message } => {
                return Err(SyncError::Protocol(format!("the relay said: {message}")));
            }
            _ => continue,
        }
    }
}

async fn exchange(
    ws: &mut Ws,
    peer: &str,
    relay: &str,
    slots: &mut [Slot],
    index: &HashMap<String, usize>,
    timeouts: Timeouts,
    progress: &mut impl FnMut(&DocReport),
) -> Result<(), Cut> {
    // Open every unsettled document at once: one round trip for all.
    for slot in slots.iter_mut().filter(|s| s.outcome.is_none()) {
        let request = !slot.sync.local;
        if let Some(msg) = slot.sync.doc.sync().generate_sync_message(&mut slot.state) {
            let frame = wire::sync(peer, relay, &slot.sync.id.to_bs58(), msg.encode(), request);
            send(ws, frame).await?;
        }
    }
    let mut pending = slots.iter().filter(|s| s.outcome.is_none()).count();
    while pending > 0 {
        let frame = next_frame(ws, timeouts.idle).await?;
        let incoming = wire::decode(&frame)?;
        let (doc, settled) = match incoming {
            wire::Incoming::Sync { doc, data, request } => {
                let Some(&i) = index.get(&doc) else {
                    // Not one of ours this session.
                    if request {
                        send(ws, wire::unavailable(peer, relay, &doc)).await?;
                    }
                    continue;
                };
                let slot = &mut slots[i];
                let settled = match receive(slot, &data) {
                    Err(reason) => Some((Outcome::Failed, Some(reason))),
                    Ok(()) => {
                        if let Some(msg) =
                            slot.sync.doc.sync().generate_sync_message(&mut slot.state)
                        {
                            send(ws, wire::sync(peer, relay, &doc, msg.encode(), false)).await?;
                        }
                        slot.settled_now().map(|o| (o, None))
                    }
                };
                (i, settled)
            }
            wire::Incoming::Unavailable { doc } => match index.get(&doc) {
                Some(&i) => (i, Some((Outcome::Unavailable, None))),
                None => continue,
            },
            wire::Incoming::Error { message } => {
                return Err(format!("the relay said: {message}"));
            }
            wire::Incoming::Peer { .. } | wire::Incoming::Other => continue,
        };
        if let Some((outcome, reason)) = settled
            && slots[doc].settle(outcome, reason)
        {
            pending -= 1;
            progress(&slots[doc].report());
        }
    }
    Ok(())
}

/// Applies one sync message. automerge can panic on hostile input, so the
/// panic is caught and the document reported as failed.
fn receive(slot: &mut Slot, data: &[u8]) -> Result<(), String> {
    if slot.outcome == Some(Outcome::Failed) {
        return Err("an earlier message failed".into());
    }
    let msg = sync::Message::decode(data).map_err(|e| format!("not a sync message: {e}"))?;
    let doc = &mut slot.sync.doc;
    let state = &mut slot.state;
    match catch_unwind(AssertUnwindSafe(|| {
        doc.sync().receive_sync_message(state, msg)
    })) {
        Ok(Ok(())) => {
            if slot.relay_start.is_none() {
                slot.relay_start = slot.state.their_heads.clone();
            }
            Ok(())
        }
        Ok(Err(e)) => Err(format!("automerge rejected a sync message: {e}")),
        Err(_) => Err("automerge panicked on a sync message".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edited(doc: &mut AutoCommit, key: &str) {
        use automerge::transaction::Transactable as _;
        doc.put(automerge::ROOT, key, "v").unwrap();
        doc.commit();
    }

    /// The first message automerge sends for `doc` from a sync state
    /// persisted when both sides had `shared`.
    fn automerge_first(doc: &mut AutoCommit, shared: &[ChangeHash]) -> sync::Message {
        let mut persisted = sync::State::new();
        persisted.shared_heads = shared.to_vec();
        let state = &mut sync::State::decode(&persisted.encode()).unwrap();
        doc.sync().generate_sync_message(state).unwrap()
    }

    /// `m` as a peer that does not take version 2 messages sends it.
    fn as_version_1(mut m: sync::Message) -> sync::Message {
        assert!(m.flags.is_some(), "automerge 0.12 sends flags");
        m.flags = None;
        m.version = sync::MessageVersion::V1;
        m
    }

    /// The relay's side of a probe, played by automerge: a document that
    /// was at `last` with us and has `theirs` since, answering `probe`.
    /// (With nothing more to say after its greeting, the greeting.)
    fn relay_answer(relay: &mut AutoCommit, probe: &Probe) -> sync::Message {
        let mut state = sync::State::new();
        let greeting = relay.sync().generate_sync_message(&mut state).unwrap();
        // A greeting settles a document whose heads are ours, and is waited
        // past otherwise.
        let mut heads = relay.get_heads();
        heads.sort();
        let settled = (heads == probe.heads).then_some(ProbeAnswer::Equal);
        let greeting = greeting.encode();
        assert_eq!(answer(probe, &greeting), settled, "the greeting");
        let ours = sync::Message::decode(&probe_message(probe)).unwrap();
        relay.sync().receive_sync_message(&mut state, ours).unwrap();
        relay
            .sync()
            .generate_sync_message(&mut state)
            .unwrap_or_else(|| sync::Message::decode(&greeting).unwrap())
    }

    #[test]
    fn the_relays_answer_settles_brings_changes_or_asks_for_the_full_sync() {
        let mut relay = AutoCommit::new();
        edited(&mut relay, "a");
        let last = relay.get_heads();
        let mut ours = relay.fork();
        // Nothing new on either side: equal.
        let probe = Probe::new(DocId::random(), last.clone(), Vec::new()).unwrap();
        let reply = relay_answer(&mut relay.clone(), &probe).encode();
        assert_eq!(answer(&probe, &reply), Some(ProbeAnswer::Equal));
        // Two changes on the relay, one of ours: the relay's two come, and
        // lead to its heads (ours among them).
        edited(&mut relay, "b");
        edited(&mut relay, "c");
        edited(&mut ours, "d");
        let mine = ours.get_last_local_change().unwrap();
        let probe = Probe::new(
            DocId::random(),
            last.clone(),
            vec![mine.raw_bytes().to_vec()],
        )
        .unwrap();
        let reply = relay_answer(&mut relay.clone(), &probe).encode();
        let again = || sync::Message::decode(&reply).unwrap();
        let Some(ProbeAnswer::Received { changes, heads }) = answer(&probe, &reply) else {
            panic!("changes expected");
        };
        let theirs: Vec<ChangeHash> = relay.get_changes(&last).iter().map(|c| c.hash()).collect();
        assert_eq!(changes.iter().map(|c| c.hash()).collect::<Vec<_>>(), theirs);
        relay.apply_changes([mine]).unwrap();
        let mut all = relay.get_heads();
        all.sort();
        assert_eq!(heads, all);
        // The same answer short of its first change (a bloom filter's
        // false positive would do that): the heads still match, so the
        // answer brings the second alone, and it is the caller's check
        // that it holds every dependency (`Workspace::receive_unloaded`)
        // that sends the document to the full sync. Short of the last
        // change, the heads do not match: the full sync.
        let only = |c: &automerge::Change| {
            let mut m = again();
            m.changes = sync::ChunkList::from(vec![c.raw_bytes().to_vec()]);
            answer(&probe, &m.encode())
        };
        let Some(ProbeAnswer::Received {
            changes: second, ..
        }) = only(&changes[1])
        else {
            panic!("the second change, for the caller to check");
        };
        assert_eq!(second[0].deps(), [changes[0].hash()]);
        assert_eq!(only(&changes[0]), Some(ProbeAnswer::Full));
        // A relay read-only for us does not take our change: full sync.
        let mut read_only = again();
        let mut flags = sync::MessageFlags::new();
        flags.set(sync::MessageFlags::READ_ONLY);
        read_only.flags = Some(flags);
        assert_eq!(answer(&probe, &read_only.encode()), Some(ProbeAnswer::Full));
        // A relay that lost what we last had (restored from a backup)
        // answers with a reset: the full sync at once, not a wait.
        let reset = sync::Message {
            heads: relay.get_heads(),
            need: Vec::new(),
            have: vec![sync::Have::default()],
            changes: sync::ChunkList::empty(),
            flags: again().flags,
            version: sync::MessageVersion::V1,
        };
        assert_eq!(answer(&probe, &reset.encode()), Some(ProbeAnswer::Full));
        assert_eq!(answer(&probe, b"garbage"), Some(ProbeAnswer::Full));
    }

    #[test]
    fn the_probe_is_what_automerge_sends_from_a_persisted_state() {
        let mut doc = AutoCommit::new();
        edited(&mut doc, "a");
        edited(&mut doc, "b");
        let heads = doc.get_heads();
        let probe = Probe::new(DocId::random(), heads.clone(), Vec::new()).unwrap();
        assert_eq!(probe.heads, heads);
        let theirs = automerge_first(&mut doc, &heads);
        assert_eq!(probe_message(&probe), as_version_1(theirs).encode());
        // And not what it sends without that state (a bloom of every change).
        let fresh = doc
            .sync()
            .generate_sync_message(&mut sync::State::new())
            .unwrap();
        assert_ne!(probe_message(&probe), fresh.encode());
    }

    #[test]
    fn with_local_changes_the_probe_is_automerges_message_plus_the_changes() {
        let mut doc = AutoCommit::new();
        edited(&mut doc, "a");
        let last = doc.get_heads();
        // Two changes in a row, and one made concurrently on a fork.
        let mut fork = doc.fork();
        edited(&mut doc, "b");
        edited(&mut doc, "c");
        edited(&mut fork, "d");
        doc.merge(&mut fork).unwrap();
        let new: Vec<automerge::Change> = doc.get_changes(&last);
        assert_eq!(new.len(), 3);
        // Stored one per chunk, in no particular order.
        let mut bytes: Vec<Vec<u8>> = new.iter().map(|c| c.raw_bytes().to_vec()).collect();
        bytes.reverse();
        let probe = Probe::new(DocId::random(), last.clone(), bytes).unwrap();
        let mut ours = doc.get_heads();
        ours.sort();
        assert_eq!(probe.heads, ours, "two heads: c and d");
        let sent = sync::Message::decode(&probe_message(&probe)).unwrap();
        // Automerge's message from a state persisted at our new heads (its
        // own, from the last sync, lists the changes in a bloom filter).
        let theirs = as_version_1(automerge_first(&mut doc, &ours));
        assert_ne!(
            sent.have,
            as_version_1(automerge_first(&mut doc, &last)).have
        );
        assert_eq!(
            (&sent.heads, &sent.need, &sent.flags, &sent.version),
            (&theirs.heads, &theirs.need, &theirs.flags, &theirs.version)
        );
        assert_eq!(sent.have.len(), 1);
        assert_eq!(sent.have[0].last_sync, theirs.have[0].last_sync);
        assert_eq!(
            sent.have[0].bloom.to_bytes(),
            theirs.have[0].bloom.to_bytes()
        );
        // The changes, each after what it depends on: a peer at `last`
        // applies them one by one and has our document.
        let mut at_last = doc.fork_at(&last).unwrap();
        for change in sent.changes.iter() {
            at_last.load_incremental(change).unwrap();
            assert!(at_last.get_missing_deps(&[]).is_empty(), "in causal order");
        }
        let mut at_last_heads = at_last.get_heads();
        at_last_heads.sort();
        assert_eq!(at_last_heads, ours);
    }

    #[test]
    fn a_relay_change_a_bloom_filter_would_hide_comes_with_the_answer() {
        let mut relay = AutoCommit::new();
        edited(&mut relay, "a");
        let last = relay.get_heads();
        let mut ours = relay.fork();
        edited(&mut ours, "mine");
        let mine = ours.get_last_local_change().unwrap();
        // A change on the relay that a bloom filter of our change takes
        // for ours (a false positive: about one in a hundred).
        let bloom = sync::BloomFilter::from_hashes([mine.hash()].iter());
        let (relay, theirs) = (0..100_000)
            .map(|n| {
                let mut fork = relay.fork();
                edited(&mut fork, &format!("k{n}"));
                let hash = fork.get_last_local_change().unwrap().hash();
                (fork, hash)
            })
            .find(|(_, hash)| bloom.contains_hash(hash))
            .expect("a false positive within 100k tries");
        let relay_answers = |ours: sync::Message| {
            let mut relay = relay.clone();
            let mut state = sync::State::new();
            relay.sync().generate_sync_message(&mut state);
            relay.sync().receive_sync_message(&mut state, ours).unwrap();
            relay.sync().generate_sync_message(&mut state).unwrap()
        };
        // Automerge's own message (the last sync's heads, our change in
        // the filter) leaves that change for a next round.
        let mut automerges = as_version_1(automerge_first(&mut ours, &last));
        automerges.changes = sync::ChunkList::from(vec![mine.raw_bytes().to_vec()]);
        let reply = relay_answers(automerges);
        assert!(reply.changes.is_empty(), "the change is held back");
        // The probe brings it.
        let probe = Probe::new(DocId::random(), last, vec![mine.raw_bytes().to_vec()]).unwrap();
        let reply = relay_answers(sync::Message::decode(&probe_message(&probe)).unwrap());
        let Some(ProbeAnswer::Received { changes, .. }) = answer(&probe, &reply.encode()) else {
            panic!("the relay's change expected");
        };
        assert_eq!(
            changes.iter().map(|c| c.hash()).collect::<Vec<_>>(),
            [theirs]
        );
    }

    #[test]
    fn a_relay_that_cannot_take_our_changes_answers_with_a_reset() {
        // Our change builds on one the relay lacks (it was restored from a
        // backup): it cannot apply it, nor find our heads.
        let mut doc = AutoCommit::new();
        edited(&mut doc, "a");
        let mut relay = doc.fork();
        edited(&mut doc, "b");
        let last = doc.get_heads();
        edited(&mut doc, "c");
        let c = doc.get_last_local_change().unwrap();
        let probe = Probe::new(DocId::random(), last, vec![c.raw_bytes().to_vec()]).unwrap();
        let reply = relay_answer(&mut relay, &probe);
        assert_eq!(reply.have, [sync::Have::default()], "{reply:?}");
        assert_eq!(answer(&probe, &reply.encode()), Some(ProbeAnswer::Full));
    }

    #[test]
    fn a_change_on_an_ancestor_of_the_last_heads_is_a_new_head_beside_them() {
        // As `append_on_genesis` writes a record: on the first change only.
        let mut doc = AutoCommit::new();
        edited(&mut doc, "a");
        let genesis = doc.get_heads();
        let mut on_genesis = doc.fork();
        edited(&mut doc, "b");
        let last = doc.get_heads();
        edited(&mut on_genesis, "c");
        let c = on_genesis.get_changes(&genesis)[0].raw_bytes().to_vec();
        let probe = Probe::new(DocId::random(), last.clone(), vec![c]).unwrap();
        doc.merge(&mut on_genesis).unwrap();
        let mut ours = doc.get_heads();
        ours.sort();
        assert_eq!(probe.heads, ours);
        assert_eq!(probe.heads.len(), 2);
    }

    #[test]
    fn what_is_not_one_new_change_needs_the_full_sync() {
        let mut doc = AutoCommit::new();
        edited(&mut doc, "a");
        let before = doc.get_heads();
        edited(&mut doc, "b");
        let last = doc.get_heads();
        let b = doc.get_changes(&before)[0].raw_bytes().to_vec();
        let id = DocId::random();
        assert!(Probe::new(id, last.clone(), vec![b"not a change".to_vec()]).is_err());
        assert!(
            Probe::new(id, last.clone(), vec![b.clone()]).is_err(),
            "already at last"
        );
        assert!(Probe::new(id, before, vec![b.clone(), b]).is_err(), "twice");
        // Two changes in one chunk (a whole document saved): not one change.
        assert!(Probe::new(id, Vec::new(), vec![doc.save()]).is_err());
    }

    #[tokio::test]
    async fn the_client_sends_small_messages_at_once() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio_tungstenite::accept_async(tcp).await.unwrap()
        });
        let remote = Remote {
            url: format!("http://{addr}"),
            team: "t".into(),
            token: "token".into(),
        };
        let timeouts = Timeouts {
            connect: Duration::from_secs(10),
            idle: Duration::from_secs(10),
            reconnects: 0,
        };
        let ws = connect(&remote, "peer", timeouts).await.unwrap();
        let tokio_tungstenite::MaybeTlsStream::Plain(tcp) = ws.get_ref() else {
            panic!("a plain http:// URL gave a TLS stream");
        };
        assert!(tcp.nodelay().unwrap(), "Nagle's algorithm is still on");
        server.await.unwrap();
    }
}
