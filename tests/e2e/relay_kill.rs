//! Crash safety of the relay: `rapport-relay` killed with SIGKILL at seeded
//! random moments while several clients sync at once, then restarted on its
//! data directory. Whatever a session reported *synced* (the relay's heads
//! equalled the client's) must be served by the restarted relay to a client
//! that has nothing.
//!
//! Each round every client edits its own document and a document the whole
//! team writes, then all sync at once (each session with a fresh sync
//! state, as after any error), and the relay dies somewhere in that burst.
//!
//! Quick in CI (20 kills, about 3 s); the long run is
//! `RAPPORT_RELAY_KILL_RUNS=100 cargo nextest run --workspace relay_kill`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use automerge::{AutoCommit, ReadDoc as _, transaction::Transactable as _};
use rapport_core::DocId;
use rapport_sync::{DocSync, Outcome, Remote, Timeouts, http};

use crate::harness::Rng;
use crate::team::{Relay, members};

struct Client {
    peer: String,
    token: String,
    /// (id, this client's copy).
    docs: Vec<(DocId, AutoCommit)>,
}

fn remote(relay: &Relay, token: &str) -> Remote {
    Remote {
        url: relay.url.clone(),
        team: "acme".into(),
        token: token.into(),
    }
}

fn keys(doc: &AutoCommit) -> BTreeSet<String> {
    doc.keys(automerge::ROOT).collect()
}

fn quick() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        idle: Duration::from_secs(10),
        reconnects: 0,
    }
}

/// One session for `client`'s documents; keeps what arrived, and adds to
/// `acked` every key of each document the session reported synced.
fn sync(
    relay_url: &str,
    client: &mut Client,
    timeouts: Timeouts,
) -> (Vec<Outcome>, BTreeMap<DocId, BTreeSet<String>>) {
    let remote = Remote {
        url: relay_url.to_string(),
        team: "acme".into(),
        token: client.token.clone(),
    };
    let docs = client
        .docs
        .iter()
        .map(|(id, doc)| DocSync {
            id: *id,
            doc: doc.clone(),
            local: true,
        })
        .collect();
    let mut acked = BTreeMap::new();
    let Ok(results) = rapport_sync::run_blocking(&remote, &client.peer, docs, timeouts, |_| {})
    else {
        // The relay was already gone: nothing was sent, our copies stand.
        return (Vec::new(), acked);
    };
    let mut outcomes = Vec::new();
    for (synced, report) in results {
        if report.outcome == Outcome::Synced {
            acked.insert(synced.id, keys(&synced.doc));
        }
        outcomes.push(report.outcome);
        let slot = client
            .docs
            .iter_mut()
            .find(|(id, _)| *id == synced.id)
            .unwrap();
        slot.1 = synced.doc;
    }
    (outcomes, acked)
}

#[test]
fn a_relay_killed_during_a_burst_of_syncs_serves_everything_it_acknowledged() {
    let runs: u64 = std::env::var("RAPPORT_RELAY_KILL_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let handles = ["c0", "c1", "c2", "c3", "audit"];
    let tokens = members(dir.path(), &handles);
    let mut relay = Relay::start(dir.path());

    let shared = DocId::random();
    let mut clients: Vec<Client> = (0..4)
        .map(|i| Client {
            peer: format!("c{i}-laptop"),
            token: tokens[i].clone(),
            docs: vec![
                (DocId::random(), AutoCommit::new()),
                (shared, AutoCommit::new()),
            ],
        })
        .collect();
    for c in &clients {
        for (id, _) in &c.docs {
            http::register(&remote(&relay, &c.token), id).unwrap();
        }
    }

    let mut rng = Rng(0x7265_6c61_792d_6b69);
    // Every key some session was told the relay holds, per document.
    let mut acked: BTreeMap<DocId, BTreeSet<String>> = BTreeMap::new();
    let (mut synced, mut cut) = (0usize, 0usize);
    for round in 0..runs {
        // Every third round syncs with no new edit: replies then announce
        // heads the relay found on disk at its restart, not new changes.
        let edits = round % 3 != 2;
        for (i, c) in clients.iter_mut().enumerate().filter(|_| edits) {
            for (_, doc) in c.docs.iter_mut() {
                // A few hundred bytes per change, so writes take a moment.
                doc.put(automerge::ROOT, format!("r{round}-c{i}"), "x".repeat(300))
                    .unwrap();
                doc.commit();
            }
        }
        let url = relay.url.clone();
        let delay = Duration::from_millis(rng.below(120));
        let results = std::thread::scope(|s| {
            let sessions: Vec<_> = clients
                .iter_mut()
                .map(|c| {
                    let url = url.clone();
                    s.spawn(move || sync(&url, c, quick()))
                })
                .collect();
            std::thread::sleep(delay);
            relay.kill();
            sessions
                .into_iter()
                .map(|h| h.join().expect("a session must not panic"))
                .collect::<Vec<_>>()
        });
        for (outcomes, keys) in results {
            for o in outcomes {
                match o {
                    Outcome::Synced => synced += 1,
                    Outcome::Interrupted => cut += 1,
                    other => panic!("round {round}: unexpected outcome {other:?}"),
                }
            }
            for (id, k) in keys {
                acked.entry(id).or_default().extend(k);
            }
        }

        relay = Relay::start(dir.path());
        // A member with nothing fetches every document from the restarted
        // relay: everything acknowledged so far must be there.
        let mut audit = Client {
            peer: format!("audit-{round}"),
            token: tokens[4].clone(),
            docs: Vec::new(),
        };
        let remote = remote(&relay, &audit.token);
        let fetch = acked
            .keys()
            .map(|id| DocSync {
                id: *id,
                doc: AutoCommit::new(),
                local: false,
            })
            .collect();
        let fetched =
            rapport_sync::run_blocking(&remote, &audit.peer, fetch, Timeouts::default(), |_| {})
                .unwrap();
        for (doc, report) in fetched {
            assert_eq!(report.outcome, Outcome::Synced, "round {round}: {report:?}");
            let have = keys(&doc.doc);
            let missing: Vec<_> = acked[&doc.id].difference(&have).collect();
            assert!(
                missing.is_empty(),
                "round {round} (kill after {delay:?}): the relay acknowledged {missing:?} of {} and lost them",
                doc.id
            );
            audit.docs.push((doc.id, doc.doc));
        }
    }
    // The campaign exercised both sides: kills that cut sessions, and
    // sessions that completed between kills.
    assert!(
        synced > 0,
        "no session ever completed: {synced} synced, {cut} cut"
    );
    eprintln!("{runs} kills: {synced} documents synced, {cut} cut");
}
