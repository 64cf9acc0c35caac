//! The sync client against a real relay (in process, on 127.0.0.1:0).

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use automerge::{AutoCommit, ROOT, ReadDoc as _, transaction::Transactable as _};
use rapport_core::DocId;
use rapport_relay::{Config, teams::Registry};
use rapport_sync::{DocSync, Outcome, Remote, SyncError, Timeouts, http, session};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_tells_unchanged_documents_without_loading_them() {
    let (_dir, relay, t, id, mut sam_doc) = with_shared_doc("by", "sam").await;
    let heads = sam_doc.get_heads();
    let probe = |remote: &Remote, peer: &'static str, heads: Vec<automerge::ChangeHash>| {
        let remote = remote.clone();
        blocking(move || rapport_sync::probe_blocking(&remote, peer, &[(id, heads)], quick()))
    };
    // Nothing changed on either side.
    assert_eq!(probe(&t.sam, "sam-2", heads.clone()).await.unwrap(), [true]);
    // Heads the relay does not have (a local edit the caller missed): no.
    let mut edited = sam_doc.clone();
    edited.put(ROOT, "local", "edit").unwrap();
    assert_eq!(
        probe(&t.sam, "sam-3", edited.get_heads()).await.unwrap(),
        [false]
    );
    // A teammate's change reached the relay: the old heads are no longer
    // the relay's, and a full sync brings the change.
    let (mut jo_doc, _) = sync_one(&t.jo, "jo-1", id, AutoCommit::new(), false).await;
    jo_doc.put(ROOT, "jo", "yes").unwrap();
    let (_, r) = sync_one(&t.jo, "jo-1", id, jo_doc, true).await;
    assert_eq!(r.sent, 1, "{r:?}");
    assert_eq!(
        probe(&t.sam, "sam-4", heads.clone()).await.unwrap(),
        [false]
    );
    let (mut sam_doc, r) = sync_one(&t.sam, "sam-5", id, sam_doc, true).await;
    assert_eq!((&r.outcome, r.received), (&Outcome::Synced, 1), "{r:?}");
    assert_eq!(
        probe(&t.sam, "sam-6", sam_doc.get_heads()).await.unwrap(),
        [true]
    );
    // Another team's member learns nothing from a probe either (the relay
    // drops it: the probe gives up after its idle timeout).
    let (eve, heads) = (t.eve.clone(), sam_doc.get_heads());
    let short = Timeouts {
        idle: Duration::from_secs(1),
        ..quick()
    };
    let answer =
        blocking(move || rapport_sync::probe_blocking(&eve, "eve-1", &[(id, heads)], short)).await;
    assert_eq!(answer.unwrap(), [false]);
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
