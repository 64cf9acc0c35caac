//! The sync client against a real relay (in process, on 127.0.0.1:0).

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use automerge::{AutoCommit, ROOT, ReadDoc as _, transaction::Transactable as _};
use rapport_core::DocId;
use rapport_relay::{Config, teams::Registry};
use rapport_sync::{
    DocSync, Outcome, Probe, ProbeAnswer, Remote, SyncError, Timeouts, http, session,
};
use tokio::net::TcpListener;

struct Relay {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

async fn relay(dir: &Path) -> Relay {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let config = Config::for_dir(dir);
    let task = tokio::spawn(async move {
        rapport_relay::serve(config, listener, async move {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Relay {
        url,
        stop: Some(tx),
        task,
    }
}

impl Relay {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

struct Team {
    sam: Remote,
    jo: Remote,
    ro: Remote,
    eve: Remote,
}

/// Writes the teams before the relay starts (it reloads the file every
/// 0.5 s, so adding them later would race the first requests).
fn team(dir: &Path) -> [String; 4] {
    let (_, t) = Registry::update(dir, |r| {
        r.add_team("acme")?;
        r.add_team("beta")?;
        Ok([
            r.add_member("acme", "sam", false)?,
            r.add_member("acme", "jo", false)?,
            r.add_member("acme", "ro", true)?,
            r.add_member("beta", "eve", false)?,
        ])
    })
    .unwrap();
    t
}

fn remotes(url: &str, t: &[String; 4]) -> Team {
    let remote = |team: &str, token: &str| Remote {
        url: url.to_string(),
        team: team.into(),
        token: token.into(),
    };
    Team {
        sam: remote("acme", &t[0]),
        jo: remote("acme", &t[1]),
        ro: remote("acme", &t[2]),
        eve: remote("beta", &t[3]),
    }
}

fn quick() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        idle: Duration::from_secs(5),
        reconnects: 0,
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

fn doc_with(key: &str, value: &str) -> AutoCommit {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, key, value).unwrap();
    doc.commit();
    doc
}

async fn sync_one(
    remote: &Remote,
    peer: &str,
    id: DocId,
    doc: AutoCommit,
    local: bool,
) -> (AutoCommit, rapport_sync::DocReport) {
    let mut out = session::run(
        remote,
        peer,
        vec![DocSync { id, doc, local }],
        quick(),
        |_| {},
    )
    .await
    .unwrap();
    let (d, r) = out.remove(0);
    (d.doc, r)
}

fn get(doc: &AutoCommit, key: &str) -> Option<String> {
    doc.get(ROOT, key)
        .unwrap()
        .and_then(|(v, _)| v.into_string().ok())
}

/// A relay with the teams, and a document sam registered and synced;
/// returns sam's copy too.
async fn with_shared_doc(
    key: &str,
    value: &str,
) -> (tempfile::TempDir, Relay, Team, DocId, AutoCommit) {
    let dir = tempfile::tempdir().unwrap();
    let tokens = team(dir.path());
    let relay = relay(dir.path()).await;
    let t = remotes(&relay.url, &tokens);
    let id = DocId::random();
    let sam = t.sam.clone();
    assert!(blocking(move || http::register(&sam, &id)).await.unwrap());
    let (doc, r) = sync_one(&t.sam, "sam-1", id, doc_with(key, value), true).await;
    assert_eq!(r.outcome, Outcome::Synced, "{r:?}");
    assert_eq!(r.sent, 1, "{r:?}");
    (dir, relay, t, id, doc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_then_join_then_edit_both_ways() {
    let (_dir, relay, t, id, sam_doc) = with_shared_doc("by", "sam").await;

    // Jo discovers it through the list and fetches it.
    let jo = t.jo.clone();
    let listed = blocking(move || http::list(&jo)).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, id.to_url());
    let (mut jo_doc, r) = sync_one(&t.jo, "jo-1", id, AutoCommit::new(), false).await;
    assert_eq!(r.outcome, Outcome::Synced, "{r:?}");
    assert_eq!(r.received, 1);
    assert_eq!(get(&jo_doc, "by").as_deref(), Some("sam"));

    // Concurrent edits on both, then both sync: both see both.
    jo_doc.put(ROOT, "jo", "yes").unwrap();
    let mut sam_doc = sam_doc;
    sam_doc.put(ROOT, "sam", "yes").unwrap();
    let (jo_doc, r) = sync_one(&t.jo, "jo-1", id, jo_doc, true).await;
    assert_eq!((r.sent, r.received), (1, 0), "{r:?}");
    let (sam_doc, r) = sync_one(&t.sam, "sam-1", id, sam_doc, true).await;
    assert_eq!((r.sent, r.received), (1, 1), "{r:?}");
    let (mut jo_doc, r) = sync_one(&t.jo, "jo-1", id, jo_doc, true).await;
    assert_eq!((r.sent, r.received), (0, 1), "{r:?}");
    let mut sam_doc = sam_doc;
    assert_eq!(get(&jo_doc, "sam").as_deref(), Some("yes"));
    assert_eq!(get(&sam_doc, "jo").as_deref(), Some("yes"));
    assert_eq!(jo_doc.get_heads(), sam_doc.get_heads());
    relay.stop().await;
}

/// The changes `doc` has beyond `since`, as the store keeps them.
fn changes_since(doc: &mut AutoCommit, since: &[automerge::ChangeHash]) -> Vec<Vec<u8>> {
    doc.get_changes(since)
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect()
}

async fn ask(remote: &Remote, peer: &'static str, probe: Probe, timeouts: Timeouts) -> ProbeAnswer {
    let remote = remote.clone();
    let answer =
        blocking(move || rapport_sync::probe_blocking(&remote, peer, &[probe], timeouts)).await;
    answer.unwrap().remove(0)
}

/// Whether the relay's answer to `probe` is "equal".
async fn probe(remote: &Remote, peer: &'static str, probe: Probe, timeouts: Timeouts) -> bool {
    ask(remote, peer, probe, timeouts).await == ProbeAnswer::Equal
}

/// The hashes of the changes a probe received, and the heads they lead to.
fn received(answer: ProbeAnswer) -> (Vec<automerge::ChangeHash>, Vec<automerge::ChangeHash>) {
    match answer {
        ProbeAnswer::Received { changes, heads } => {
            (changes.iter().map(automerge::Change::hash).collect(), heads)
        }
        other => panic!("expected changes, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_syncs_documents_without_loading_them_when_only_we_changed() {
    let (_dir, relay, t, id, mut sam_doc) = with_shared_doc("by", "sam").await;
    let last = sam_doc.get_heads();
    let unchanged = |last: &[automerge::ChangeHash]| Probe::new(id, last.to_vec(), vec![]).unwrap();
    // Nothing changed on either side.
    assert!(probe(&t.sam, "sam-2", unchanged(&last), quick()).await);
    // Heads the relay does not have, without the changes: no.
    let mut edited = sam_doc.clone();
    edited.put(ROOT, "local", "edit").unwrap();
    let missing = unchanged(&edited.get_heads());
    assert!(!probe(&t.sam, "sam-3", missing, quick()).await);
    // Two local edits, sent with the probe: the relay takes them, and a
    // teammate gets them.
    sam_doc.put(ROOT, "one", "1").unwrap();
    sam_doc.commit();
    sam_doc.put(ROOT, "two", "2").unwrap();
    sam_doc.commit();
    let pushed = Probe::new(id, last.clone(), changes_since(&mut sam_doc, &last)).unwrap();
    assert_eq!(pushed.changes.len(), 2);
    assert!(probe(&t.sam, "sam-4", pushed, quick()).await);
    let (mut jo_doc, r) = sync_one(&t.jo, "jo-1", id, AutoCommit::new(), false).await;
    assert_eq!(r.outcome, Outcome::Synced, "{r:?}");
    assert_eq!(get(&jo_doc, "two").as_deref(), Some("2"));
    assert_eq!(jo_doc.get_heads(), sam_doc.get_heads());
    // A teammate's change reached the relay: sam's probe, with or without
    // a change of his own, brings it (and the heads it leads to), and
    // applies nothing; a full sync brings it too.
    let last = sam_doc.get_heads();
    jo_doc.put(ROOT, "jo", "yes").unwrap();
    let (mut jo_doc, r) = sync_one(&t.jo, "jo-1", id, jo_doc, true).await;
    assert_eq!(r.sent, 1, "{r:?}");
    let jo_change = jo_doc.get_last_local_change().unwrap().hash();
    let (hashes, heads) = received(ask(&t.sam, "sam-5", unchanged(&last), quick()).await);
    assert_eq!((hashes, heads), (vec![jo_change], vec![jo_change]));
    sam_doc.put(ROOT, "three", "3").unwrap();
    sam_doc.commit();
    let three = sam_doc.get_last_local_change().unwrap().hash();
    let pushed = Probe::new(id, last.clone(), changes_since(&mut sam_doc, &last)).unwrap();
    let (hashes, heads) = received(ask(&t.sam, "sam-6", pushed, quick()).await);
    let mut both = vec![jo_change, three];
    both.sort();
    assert_eq!((hashes, heads), (vec![jo_change], both));
    let (mut sam_doc, r) = sync_one(&t.sam, "sam-7", id, sam_doc, true).await;
    assert_eq!((&r.outcome, r.received), (&Outcome::Synced, 1), "{r:?}");
    assert_eq!(get(&sam_doc, "jo").as_deref(), Some("yes"));
    assert!(probe(&t.sam, "sam-8", unchanged(&sam_doc.get_heads()), quick()).await);
    // A read-only member with nothing to send is settled; a change of
    // theirs is not taken: no.
    let (mut ro_doc, _) = sync_one(&t.ro, "ro-1", id, AutoCommit::new(), false).await;
    let last = ro_doc.get_heads();
    assert!(probe(&t.ro, "ro-3", unchanged(&last), quick()).await);
    ro_doc.put(ROOT, "ro", "sneaky").unwrap();
    ro_doc.commit();
    let sneaky = Probe::new(id, last.clone(), changes_since(&mut ro_doc, &last)).unwrap();
    assert!(!probe(&t.ro, "ro-2", sneaky, quick()).await);
    // Another team's member learns nothing from a probe either (the relay
    // drops it: the probe gives up after its idle timeout).
    let short = Timeouts {
        idle: Duration::from_secs(1),
        ..quick()
    };
    assert!(!probe(&t.eve, "eve-1", unchanged(&sam_doc.get_heads()), short).await);
    let (jo_doc, _) = sync_one(&t.jo, "jo-2", id, AutoCommit::new(), false).await;
    assert_eq!(get(&jo_doc, "ro"), None);
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_members_receive_but_do_not_write() {
    let (_dir, relay, t, id, _) = with_shared_doc("by", "sam").await;

    let (mut ro_doc, r) = sync_one(&t.ro, "ro-1", id, AutoCommit::new(), false).await;
    assert_eq!(r.outcome, Outcome::Synced, "{r:?}");
    ro_doc.put(ROOT, "ro", "sneaky").unwrap();
    let (_, r) = sync_one(&t.ro, "ro-1", id, ro_doc, true).await;
    assert_eq!(r.outcome, Outcome::ReadOnly, "{r:?}");

    let (jo_doc, _) = sync_one(&t.jo, "jo-1", id, AutoCommit::new(), false).await;
    assert_eq!(get(&jo_doc, "ro"), None);
    assert_eq!(get(&jo_doc, "by").as_deref(), Some("sam"));
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_teams_and_bad_tokens_get_nothing() {
    let (_dir, relay, t, id, _) = with_shared_doc("secret", "x").await;

    // Another team's member asks for it: nothing arrives (the relay drops
    // the request, so the session runs into its idle timeout).
    let (eve_doc, r) = sync_one(&t.eve, "eve-1", id, AutoCommit::new(), false).await;
    assert_ne!(r.outcome, Outcome::Synced);
    assert_eq!(get(&eve_doc, "secret"), None);
    let eve = t.eve.clone();
    let err = blocking(move || http::register(&eve, &id))
        .await
        .unwrap_err();
    assert!(matches!(err, SyncError::Forbidden(_)), "{err}");

    // A wrong token: 401, both over HTTP and on the sync socket.
    let mut bad = t.sam.clone();
    bad.token = "rpt_nope".into();
    let bad2 = bad.clone();
    let err = blocking(move || http::list(&bad2)).await.unwrap_err();
    assert!(matches!(err, SyncError::Unauthorized), "{err}");
    let err = session::run(&bad, "x-1", vec![], quick(), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, SyncError::Unauthorized), "{err}");
    relay.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_documents_are_unavailable_and_a_dead_relay_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = team(dir.path());
    let relay = relay(dir.path()).await;
    let t = remotes(&relay.url, &tokens);
    let id = DocId::random();
    let sam = t.sam.clone();
    // Registered, but nobody has synced it yet.
    blocking(move || http::register(&sam, &id)).await.unwrap();
    let (_, r) = sync_one(&t.jo, "jo-1", id, AutoCommit::new(), false).await;
    assert_eq!(r.outcome, Outcome::Unavailable, "{r:?}");
    relay.stop().await;

    let err = session::run(&t.sam, "sam-1", vec![], quick(), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, SyncError::Unreachable { .. }), "{err}");
}

/// A document far bigger than the sync connection's buffers (16 KiB on
/// this side, 4 KiB on the relay's) goes up and comes back down whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_bigger_than_the_socket_buffers_syncs_both_ways() {
    // Not compressible to under the buffers: a different line each.
    let big: String = (0..20_000)
        .map(|i| format!("line {i:x} {}\n", i * 7919))
        .collect();
    assert!(big.len() > 300 * 1024);
    let (_dir, relay, t, id, sam_doc) = with_shared_doc("big", &big).await;
    let (mut jo_doc, r) = sync_one(&t.jo, "jo-1", id, AutoCommit::new(), false).await;
    assert_eq!(r.outcome, Outcome::Synced, "{r:?}");
    assert_eq!(get(&jo_doc, "big").as_deref(), Some(big.as_str()));
    let mut sam_doc = sam_doc;
    assert_eq!(jo_doc.get_heads(), sam_doc.get_heads());
    relay.stop().await;
}
