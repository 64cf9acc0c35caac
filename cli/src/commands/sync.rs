//! `rapport share`, `rapport sync` and `rapport status`: team sync through a
//! relay. The store stays the only writer of local files: the sync client
//! works on loaded copies, and what they received is appended afterwards.

use std::collections::{BTreeMap, HashMap, HashSet};

use automerge::{AutoCommit, ChangeHash};
use rapport_core::doc::{self, Collection, DocKind, Parts};
use rapport_core::model::AccountEntry;
use rapport_core::{DocId, RecordId};
use rapport_store::{ChunkKey, StoreError};
use rapport_sync::{DocSync, Outcome, Probe, ProbeAnswer, SyncError, Timeouts};
use serde::Serialize;

use crate::ctx::Ctx;
use crate::error::{user, user_hint};
use crate::output::plural;
use crate::remotes::{RemoteEntry, Remotes, SyncState, chunk_names};
use crate::workspace::Workspace;

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  rapport share Acme\n  rapport share Acme --remote acme\n  \
rapport share personal --remote mine   # only to a --personal remote (your own devices)\n\n\
Registers the account's document with your team on the relay, then syncs it.\n\
Teammates get it with their next `rapport sync`."
)]
pub struct ShareArgs {
    /// The account to share (name, id or id prefix).
    pub account: String,
    /// The remote to share with (needed when there are several).
    #[arg(long)]
    pub remote: Option<String>,
}

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  rapport sync\n  rapport sync Acme\n  rapport sync --remote acme --json\n\n\
Connects to the relay, fetches accounts teammates shared, sends your changes\n\
and receives theirs, waits until both sides have everything, and disconnects.\n\
Offline or relay down: nothing local changes and the exit code is 1."
)]
pub struct SyncArgs {
    /// Sync only this account (default: every document the team shares).
    pub account: Option<String>,
    /// The remote to sync with (needed when there are several).
    #[arg(long)]
    pub remote: Option<String>,
}

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  rapport status\n  rapport status --json\n\n\
Works offline: compares each shared document with what the relay had at the\n\
last sync."
)]
pub struct StatusArgs {
    /// Only this remote (default: all).
    #[arg(long)]
    pub remote: Option<String>,
}

/// One document's line in the sync summary.
#[derive(Serialize)]
struct DocLine {
    id: String,
    name: String,
    outcome: Outcome,
    sent: usize,
    received: usize,
    /// Fetched for the first time (a teammate shared it).
    new: bool,
    /// Whether the document was loaded. Not when the only difference since
    /// the last sync was this side's own new changes (or none): they went
    /// in one message, and the relay's answer settled it.
    loaded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

#[derive(Serialize)]
struct Summary {
    remote: String,
    team: String,
    documents: Vec<DocLine>,
    sent: usize,
    received: usize,
    complete: bool,
}

fn sync_error(err: SyncError, remote: &str, entry: &RemoteEntry) -> anyhow::Error {
    let hint = match &err {
        SyncError::Unreachable { .. } => "check the relay is running and the URL is right \
(`rapport remote list`); nothing local changed, so keep working and sync later"
            .to_string(),
        SyncError::Unauthorized => format!(
            "ask the relay's operator for a token, then `rapport remote add {remote} {} --team {} --token NEW`",
            entry.url, entry.team
        ),
        SyncError::Forbidden(_) => format!(
            "check the team name ({}) with the relay's operator; a read-only member cannot share, \
and an account belongs for good to the first team that shared it",
            entry.team
        ),
        _ => "try again; if it persists, the relay's log says more".to_string(),
    };
    user_hint(err.to_string(), hint)
}

pub fn share(ctx: &Ctx, args: ShareArgs) -> anyhow::Result<()> {
    let ws = Workspace::open(ctx)?;
    let remotes = Remotes::load(&ctx.paths.remotes)?;
    let (name, entry) = remotes.pick(args.remote.as_deref())?;
    let id = ws.resolve_account(&args.account)?;
    if id == ws.personal && !entry.personal {
        return Err(user_hint(
            format!(
                "'{name}' is a team remote: your personal document (private notes, personal contacts) is never shared with teammates"
            ),
            "to sync it to your own devices, add a team of one as a personal remote: `rapport remote add mine URL --team YOU --token T --personal`",
        ));
    }
    let remote = entry.credentials(&name)?;
    let created =
        rapport_sync::http::register(&remote, &id).map_err(|e| sync_error(e, &name, &entry))?;
    let label = label_of(&ws, id);
    if !ctx.out.json {
        ctx.out.done(if created {
            format!("Shared {label} with team {} on '{name}'.", entry.team)
        } else {
            format!("{label} was already shared with team {}.", entry.team)
        })?;
    }
    let summary = run_sync(ctx, &ws, &name, &entry, vec![id])?;
    report(ctx, &summary)
}

pub fn sync(ctx: &Ctx, args: SyncArgs) -> anyhow::Result<()> {
    let ws = Workspace::open(ctx)?;
    let remotes = Remotes::load(&ctx.paths.remotes)?;
    let (name, entry) = remotes.pick(args.remote.as_deref())?;
    let remote = entry.credentials(&name)?;
    let listed = rapport_sync::http::list(&remote).map_err(|e| sync_error(e, &name, &entry))?;
    let mut ids = Vec::new();
    for doc in &listed {
        match doc.id.parse::<DocId>() {
            Ok(id) => ids.push(id),
            Err(_) => ctx.out.warn(format!(
                "the relay listed '{}', which is not a document id; skipped",
                doc.id
            )),
        }
    }
    if let Some(account) = &args.account {
        let id = ws.resolve_account(account)?;
        if !ids.contains(&id) {
            return Err(user_hint(
                format!(
                    "{} is not shared with team {}",
                    label_of(&ws, id),
                    entry.team
                ),
                format!("share it first: `rapport share {account} --remote {name}`"),
            ));
        }
        ids = vec![id];
    }
    // Another user's personal document never belongs in this store, and ours
    // only syncs with a personal remote.
    if !entry.personal {
        ids.retain(|id| *id != ws.personal);
    }
    let summary = run_sync(ctx, &ws, &name, &entry, ids)?;
    report(ctx, &summary)
}

fn label_of(ws: &Workspace, id: DocId) -> String {
    if id == ws.personal {
        return "your personal document".into();
    }
    ws.accounts
        .iter()
        .find(|(a, _)| *a == id)
        .map(|(_, e)| e.name.clone())
        .unwrap_or_else(|| id.to_url())
}

/// The most change bytes one document sends without being loaded: far
/// below the relay's message limit (16 MiB by default), so one document's
/// message cannot cost the others their answer.
const PROBE_BYTES: usize = 1 << 20;

/// How to sync a document without loading it, if its last sync with
/// `remote` left both sides equal and its chunk files since are those it
/// had then plus new incremental ones (every local write adds one change
/// as one chunk; a compaction or a received snapshot replaces them): then
/// it holds the heads of that sync and the changes in the new chunks. With
/// the chunk names it was judged on.
fn probe_for(
    ws: &Workspace,
    state: &SyncState,
    remote: &str,
    id: DocId,
) -> anyhow::Result<Option<(Probe, Vec<String>)>> {
    let Some(s) = state.remotes.get(remote).and_then(|d| d.get(&id.to_url())) else {
        return Ok(None);
    };
    if s.relay_heads.is_empty() {
        return Ok(None);
    }
    let current = ws.store.list_chunks(&id)?;
    let names = chunk_names(&current);
    // The same test `status` counts unsent changes with.
    let Some(added) = s.added_since(&names) else {
        return Ok(None);
    };
    let added: HashSet<&String> = added.into_iter().collect();
    let mut changes = Vec::new();
    let mut bytes_in_all = 0;
    for (key, chunk) in current.iter().zip(&names) {
        if !added.contains(chunk) {
            continue;
        }
        match ws.store.read_chunk(key)? {
            Some(bytes) => {
                bytes_in_all += bytes.len();
                changes.push(bytes);
            }
            None => return Ok(None),
        }
        // Many changes (an import made offline) take the full sync: a
        // message near the relay's size limit would cost every document
        // probed on the same connection its answer.
        if bytes_in_all > PROBE_BYTES {
            return Ok(None);
        }
    }
    let Some(last) = s
        .relay_heads
        .iter()
        .map(|h| h.parse().ok())
        .collect::<Option<Vec<ChangeHash>>>()
    else {
        return Ok(None);
    };
    Ok(Probe::new(id, last, changes).ok().map(|p| (p, names)))
}

/// The chunk names to remember for a synced copy `doc`, made of exactly
/// `chunks`: none unless the sync left both sides equal (the relay's last
/// word is our heads), so that `status` and the next sync's check without
/// loading (see [`probe_for`]) only ever trust an equal state.
fn recorded_chunks(
    doc: &mut AutoCommit,
    r: &rapport_sync::DocReport,
    chunks: &[ChunkKey],
) -> Vec<String> {
    match &r.relay_heads {
        Some(heads) if r.outcome == Outcome::Synced && same_heads(doc, heads) => {
            chunk_names(chunks)
        }
        _ => Vec::new(),
    }
}

/// Whether `doc`'s heads are `relay` (hex hashes, in any order).
fn same_heads(doc: &mut AutoCommit, relay: &[String]) -> bool {
    let mut ours: Vec<String> = doc.get_heads().iter().map(ToString::to_string).collect();
    let mut theirs = relay.to_vec();
    ours.sort();
    theirs.sort();
    ours == theirs
}

/// Syncs `ids` with the relay, then writes what arrived. Documents that
/// changed only here (or nowhere) since the last sync send their new
/// changes in one message each and are never loaded, if the relay's answer
/// shows it had nothing new ([`rapport_sync::session::probe`]); the others
/// are loaded (or started empty, for a document new to this store) and
/// synced over one connection.
fn run_sync(
    ctx: &Ctx,
    ws: &Workspace,
    name: &str,
    entry: &RemoteEntry,
    ids: Vec<DocId>,
) -> anyhow::Result<Summary> {
    let remote = entry.credentials(name)?;
    let mut state = SyncState::load(&ctx.paths.sync_state)?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let order: HashMap<String, usize> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.to_url(), i))
        .collect();
    let mut lines = Vec::new();
    let mut probes = Vec::new();
    let mut compared = Vec::new();
    let mut pushed: HashMap<String, usize> = HashMap::new();
    let mut full = Vec::new();
    for id in ids {
        match probe_for(ws, &state, name, id)? {
            Some((probe, chunks)) => {
                probes.push(probe);
                compared.push(chunks);
            }
            None => full.push(id),
        }
    }
    if !probes.is_empty() {
        let peer = format!("{}-{}", ws.me.handle, RecordId::random());
        let answers = rapport_sync::probe_blocking(&remote, &peer, &probes, Timeouts::default())
            .map_err(|e| sync_error(e, name, entry))?;
        for ((probe, chunks), said) in probes.into_iter().zip(compared).zip(answers) {
            // The relay's heads, which are now ours too, and the chunks the
            // document is made of: those judged on before asking (one
            // listed now could hold an edit made meanwhile, which the relay
            // does not have), and what the relay sent (a teammate's
            // changes), written without loading the document where they
            // only add records.
            let (heads, received, chunks) = match said {
                ProbeAnswer::Equal => (probe.heads.clone(), 0, chunks),
                ProbeAnswer::Received { changes, heads } => {
                    let known: HashSet<ChangeHash> =
                        probe.last.iter().chain(&probe.heads).copied().collect();
                    let written = ws
                        .receive_unloaded(probe.id, &chunks, &known, &changes)
                        .unwrap_or_else(|e| {
                            // The full sync writes them again, or says why not.
                            ctx.out.warn(format!(
                                "could not write what the relay sent for {}: {e:#}; syncing it loaded",
                                label_of(ws, probe.id)
                            ));
                            None
                        });
                    match written {
                        Some(now) => (heads, changes.len(), chunk_names(&now)),
                        None => {
                            pushed.insert(probe.id.to_url(), probe.changes.len());
                            full.push(probe.id);
                            continue;
                        }
                    }
                }
                ProbeAnswer::Full => {
                    pushed.insert(probe.id.to_url(), probe.changes.len());
                    full.push(probe.id);
                    continue;
                }
            };
            let line = DocLine {
                id: probe.id.to_url(),
                name: label_of(ws, probe.id),
                outcome: Outcome::Synced,
                sent: probe.changes.len(),
                received,
                new: false,
                loaded: false,
                reason: None,
            };
            if ctx.out.shows_progress() {
                ctx.out.progress(format!(
                    "  {:<12} {}  (sent {}, received {})",
                    "synced", line.name, line.sent, line.received
                ));
            }
            let heads: Vec<String> = heads.iter().map(ToString::to_string).collect();
            state.remember(name, &line.id, &heads, &now, chunks);
            lines.push(line);
        }
    }
    if !full.is_empty() {
        // What the probes settled is kept even if the full sync fails.
        state.save(&ctx.paths.sync_state)?;
        let mut loaded = sync_loaded(ctx, ws, name, entry, full, &mut state, &now)?;
        // The relay may have taken the changes a probe carried (its answer
        // then only said it had news for us): the full sync found them
        // there and counts them as not sent. Synced means the relay has
        // them all, and they were ours alone before the probe.
        for line in &mut loaded {
            if line.outcome == Outcome::Synced
                && let Some(&n) = pushed.get(&line.id)
            {
                line.sent = line.sent.max(n);
            }
        }
        lines.extend(loaded);
    }
    state.save(&ctx.paths.sync_state)?;
    lines.sort_by_key(|l| order.get(&l.id).copied().unwrap_or(usize::MAX));
    let complete = lines.iter().all(|l| {
        matches!(
            l.outcome,
            Outcome::Synced | Outcome::ReadOnly | Outcome::Unavailable
        )
    });
    Ok(Summary {
        remote: name.to_string(),
        team: entry.team.clone(),
        sent: lines.iter().map(|l| l.sent).sum(),
        received: lines.iter().map(|l| l.received).sum(),
        documents: lines,
        complete,
    })
}

/// Loads each document (or starts an empty one for a document new to this
/// store), syncs them all over one connection, then writes what arrived
/// and records the outcome in `state`.
fn sync_loaded(
    ctx: &Ctx,
    ws: &Workspace,
    name: &str,
    entry: &RemoteEntry,
    ids: Vec<DocId>,
    state: &mut SyncState,
    now: &str,
) -> anyhow::Result<Vec<DocLine>> {
    let remote = entry.credentials(name)?;
    let mut inputs = Vec::with_capacity(ids.len());
    let mut before: HashMap<DocId, Vec<ChangeHash>> = HashMap::new();
    // The chunks each copy was loaded from: with what `absorb` writes, the
    // chunks of the synced copy (a listing afterwards could include another
    // process's edit, which the copy lacks).
    let mut loaded_from: HashMap<DocId, Vec<ChunkKey>> = HashMap::new();
    for id in ids {
        match ws.store.load(&id) {
            Ok(mut loaded) => {
                before.insert(id, loaded.doc.get_heads());
                loaded_from.insert(id, loaded.chunks().to_vec());
                inputs.push(DocSync {
                    id,
                    doc: loaded.doc,
                    local: true,
                });
            }
            Err(StoreError::NotFound(_)) => inputs.push(DocSync {
                id,
                doc: AutoCommit::new(),
                local: false,
            }),
            Err(e) => return Err(e.into()),
        }
    }
    let labels: HashMap<String, String> = inputs
        .iter()
        .map(|d| (d.id.to_url(), label_of(ws, d.id)))
        .collect();
    let peer = format!("{}-{}", ws.me.handle, RecordId::random());
    let out = &ctx.out;
    let results = rapport_sync::run_blocking(&remote, &peer, inputs, Timeouts::default(), |r| {
        if out.shows_progress() {
            let label = labels.get(&r.id).cloned().unwrap_or_else(|| r.id.clone());
            out.progress(format!(
                "  {:<12} {label}  (sent {}, received {})",
                outcome_word(&r.outcome),
                r.sent,
                r.received
            ));
        }
    })
    .map_err(|e| sync_error(e, name, entry))?;

    let mut lines = Vec::new();
    let mut new_accounts = Vec::new();
    for (mut synced, r) in results {
        let id = synced.id;
        let mut line = DocLine {
            id: r.id.clone(),
            name: labels.get(&r.id).cloned().unwrap_or_default(),
            outcome: r.outcome.clone(),
            sent: r.sent,
            received: r.received,
            new: false,
            loaded: true,
            reason: r.reason.clone(),
        };
        // A document automerge choked on is not written: the next sync
        // starts again from what is on disk.
        let write = r.outcome != Outcome::Failed && r.received > 0;
        if write && !synced.local {
            match doc::read_header(&synced.doc) {
                Ok((_, DocKind::Account)) => {
                    let data = doc::DocData::read(&synced.doc, Parts::NONE)?;
                    let account_name = data.title();
                    line.name = account_name.clone();
                    line.new = true;
                    new_accounts.push((id, account_name));
                }
                Ok((_, DocKind::Personal)) => {
                    ctx.out.warn(format!(
                        "{id} is someone's personal document (another device?); it was not added to your accounts"
                    ));
                }
                Err(e) => {
                    ctx.out
                        .warn(format!("{id} is not a Rapport document ({e}); not added"));
                    lines.push(line);
                    continue;
                }
            }
        }
        let mut chunks = loaded_from.remove(&id).unwrap_or_default();
        if write {
            let since = before.get(&id).cloned().unwrap_or_default();
            chunks.extend(ws.store.absorb(&id, &mut synced.doc, &since)?.written);
            // The copy in hand is the document as now stored: refresh its
            // view here rather than on the next read.
            ws.refresh_view(id, &mut synced.doc, &chunks);
        }
        if matches!(r.outcome, Outcome::Synced | Outcome::ReadOnly)
            && let Some(heads) = &r.relay_heads
        {
            let chunks = recorded_chunks(&mut synced.doc, &r, &chunks);
            state.remember(name, &r.id, heads, now, chunks);
        }
        lines.push(line);
    }
    // List newly fetched accounts in the personal document, so every
    // command sees them.
    new_accounts.retain(|(id, _)| !ws.accounts.iter().any(|(a, _)| a == id));
    if !new_accounts.is_empty() {
        ws.edit(ws.personal, |d| {
            for (id, name) in &new_accounts {
                let entry = AccountEntry {
                    name: name.clone(),
                    added: Some(ctx.today),
                };
                doc::put_record(
                    d,
                    Collection::Accounts,
                    &RecordId::from(id.to_bs58()),
                    &entry,
                )?;
            }
            Ok(())
        })?;
    }
    Ok(lines)
}

fn outcome_word(o: &Outcome) -> &'static str {
    match o {
        Outcome::Synced => "synced",
        Outcome::ReadOnly => "read-only",
        Outcome::Unavailable => "unavailable",
        Outcome::Interrupted => "interrupted",
        Outcome::Failed => "failed",
    }
}

fn report(ctx: &Ctx, s: &Summary) -> anyhow::Result<()> {
    if ctx.out.json {
        ctx.out.json(s)?;
    } else {
        for l in s.documents.iter().filter(|l| l.new) {
            ctx.out.done(format!("New shared account: {}", l.name))?;
        }
        for l in &s.documents {
            match l.outcome {
                Outcome::ReadOnly if l.sent == 0 => ctx.out.warn(format!(
                    "{}: you are a read-only member; your local changes stay on this machine",
                    l.name
                )),
                Outcome::Unavailable => ctx.out.warn(format!(
                    "{}: the relay has no copy yet (the teammate who shared it has not synced)",
                    l.name
                )),
                Outcome::Interrupted | Outcome::Failed => ctx.out.warn(format!(
                    "{}: {} ({})",
                    l.name,
                    outcome_word(&l.outcome),
                    l.reason.as_deref().unwrap_or("no reason given")
                )),
                _ => {}
            }
        }
        ctx.out.done(format!(
            "Synced {} with team {} on '{}': sent {}, received {}.",
            plural(
                s.documents
                    .iter()
                    .filter(|l| matches!(l.outcome, Outcome::Synced | Outcome::ReadOnly))
                    .count(),
                "document"
            ),
            s.team,
            s.remote,
            plural(s.sent, "change"),
            plural(s.received, "change"),
        ))?;
    }
    if !s.complete {
        return Err(user_hint(
            "the sync did not complete",
            "run `rapport sync` again: what arrived is kept, and the rest follows",
        ));
    }
    Ok(())
}

#[derive(Serialize)]
struct StatusLine {
    remote: String,
    id: String,
    name: String,
    /// Local changes the relay had not seen at the last sync.
    unsent: usize,
    last_sync: String,
}

pub fn status(ctx: &Ctx, args: StatusArgs) -> anyhow::Result<()> {
    let ws = Workspace::open(ctx)?;
    let remotes = Remotes::load(&ctx.paths.remotes)?;
    if let Some(r) = &args.remote
        && !remotes.remote.contains_key(r)
    {
        return Err(user(format!("no remote named '{r}'")));
    }
    let state = SyncState::load(&ctx.paths.sync_state)?;
    let mut lines = Vec::new();
    let mut shared = BTreeMap::new();
    for (remote, docs) in &state.remotes {
        if args.remote.as_ref().is_some_and(|r| r != remote) || !remotes.remote.contains_key(remote)
        {
            continue;
        }
        for (url, s) in docs {
            let Ok(id) = url.parse::<DocId>() else {
                continue;
            };
            shared.insert(id, ());
            let current = chunk_names(&ws.store.list_chunks(&id)?);
            let unsent = match s.unsent_from_chunks(&current) {
                Some(n) => n,
                None => {
                    let mut loaded = ws.store.load(&id)?;
                    let relay: Vec<ChangeHash> = s
                        .relay_heads
                        .iter()
                        .filter_map(|h| h.parse().ok())
                        .filter(|h| loaded.doc.get_missing_deps(&[*h]).is_empty())
                        .collect();
                    loaded.doc.get_changes_meta(&relay).len()
                }
            };
            lines.push(StatusLine {
                remote: remote.clone(),
                id: url.clone(),
                name: label_of(&ws, id),
                unsent,
                last_sync: s.synced_at.clone(),
            });
        }
    }
    let unshared: Vec<String> = ws
        .accounts
        .iter()
        .filter(|(id, _)| !shared.contains_key(id))
        .map(|(_, e)| e.name.clone())
        .collect();
    if ctx.out.json {
        return ctx.out.json(&serde_json::json!({
            "documents": lines, "not_shared": unshared,
        }));
    }
    let rows = lines
        .iter()
        .map(|l| {
            vec![
                l.name.clone(),
                l.remote.clone(),
                if l.unsent == 0 {
                    "up to date".into()
                } else {
                    format!("{} not on the relay", plural(l.unsent, "change"))
                },
                l.last_sync.clone(),
            ]
        })
        .collect();
    ctx.out.table(
        &["document", "remote", "local changes", "last sync"],
        rows,
        "Nothing synced yet. Share an account: rapport share ACCOUNT",
    )?;
    if !unshared.is_empty() {
        ctx.out
            .line(ctx.out.dim(&format!("Not shared: {}", unshared.join(", "))))?;
    }
    Ok(())
}

/// `rapport init --from-remote NAME`: a second machine starts from the
/// personal document (and the accounts) the first machine shared with a
/// `--personal` remote.
pub fn join(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    let mut config = crate::ctx::Config::load(&ctx.paths.config)?;
    if let Some(existing) = config.personal_doc()? {
        return Err(user_hint(
            format!("already initialised: personal document {existing}"),
            "use another --home for a fresh workspace",
        ));
    }
    let remotes = Remotes::load(&ctx.paths.remotes)?;
    let (name, entry) = remotes.pick(Some(name))?;
    if !entry.personal {
        return Err(user_hint(
            format!(
                "'{name}' is a team remote; a personal document only comes from a --personal one"
            ),
            format!(
                "add your devices' remote: `rapport remote add NAME URL --team YOUR-DEVICES --token T --personal`; \
for team accounts, `rapport init --name … --handle …` then `rapport sync --remote {name}`"
            ),
        ));
    }
    let remote = entry.credentials(&name)?;
    let listed = rapport_sync::http::list(&remote).map_err(|e| sync_error(e, &name, &entry))?;
    let inputs: Vec<DocSync> = listed
        .iter()
        .filter_map(|d| d.id.parse::<DocId>().ok())
        .map(|id| DocSync {
            id,
            doc: AutoCommit::new(),
            local: false,
        })
        .collect();
    let peer = format!("join-{}", RecordId::random());
    let results = rapport_sync::run_blocking(&remote, &peer, inputs, Timeouts::default(), |_| {})
        .map_err(|e| sync_error(e, &name, &entry))?;

    let store = crate::workspace::open_store(ctx);
    let mut personal = Vec::new();
    let mut fetched = Vec::new();
    for (mut synced, r) in results {
        if r.outcome != Outcome::Synced || r.received == 0 {
            continue;
        }
        match doc::read_header(&synced.doc) {
            Ok((_, DocKind::Personal)) => {
                let owner = doc::DocData::read(&synced.doc, Parts::NONE)?
                    .owner
                    .map(|o| format!("{} (@{})", o.name, o.handle))
                    .unwrap_or_default();
                personal.push((synced, r, owner));
            }
            Ok((_, DocKind::Account)) => {
                let title = doc::DocData::read(&synced.doc, Parts::NONE)?.title();
                let written = store.absorb(&synced.id, &mut synced.doc, &[])?.written;
                let chunks = recorded_chunks(&mut synced.doc, &r, &written);
                fetched.push((r, title, chunks));
            }
            Err(_) => {}
        }
    }
    let (mut mine, report, owner) = match personal.len() {
        1 => personal.remove(0),
        0 => {
            return Err(user_hint(
                format!("remote '{name}' holds no personal document"),
                format!("on your first machine: `rapport share personal --remote {name}`"),
            ));
        }
        _ => {
            let who: Vec<String> = personal.iter().map(|(_, _, o)| o.clone()).collect();
            return Err(user(format!(
                "remote '{name}' holds {} personal documents ({}); keep one device's per personal team",
                personal.len(),
                who.join(", ")
            )));
        }
    };
    let written = store.absorb(&mine.id, &mut mine.doc, &[])?.written;
    let mine_chunks = recorded_chunks(&mut mine.doc, &report, &written);
    config.personal_doc = Some(mine.id.to_url());
    config.save(&ctx.paths.config)?;

    let mut state = SyncState::load(&ctx.paths.sync_state)?;
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let recorded = std::iter::once((&report, mine_chunks))
        .chain(fetched.iter().map(|(r, _, c)| (r, c.clone())));
    for (r, chunks) in recorded {
        if let Some(heads) = &r.relay_heads {
            state.remember(&name, &r.id, heads, &now, chunks);
        }
    }
    state.save(&ctx.paths.sync_state)?;
    if ctx.out.json {
        return ctx.out.json(&serde_json::json!({
            "personal_doc": mine.id,
            "owner": owner,
            "accounts": fetched.iter().map(|(_, t, _)| t).collect::<Vec<_>>(),
        }));
    }
    ctx.out.done(format!(
        "Joined as {owner} from '{name}': your personal document and {}.",
        plural(fetched.len(), "account")
    ))?;
    ctx.out.done(
        "Next: add your team remotes (`rapport remote add …`) and `rapport sync` to fetch the team's accounts.",
    )
}
