//! A seeded randomized test: N replicas of one account document make random
//! edits and sync with a real relay in random order, then a final round of
//! syncs leaves every replica identical, holding every record anyone added
//! and every note paragraph anyone wrote.
//!
//! Quick by default (16 seeds, about 3 s); the long run is
//! `RAPPORT_SYNC_SEEDS=200 cargo nextest run -p rapport-sync replicas`.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use automerge::AutoCommit;
use rapport_core::doc::{self, Collection, DocData, Parts};
use rapport_core::enums::ActivityKind;
use rapport_core::model::{Account, Activity, Person};
use rapport_core::{Day, DocId, Notes, RecordId};
use rapport_relay::{Config, teams::Registry};
use rapport_sync::{DocSync, Outcome, Remote, Timeouts, http, session};
use tokio::net::TcpListener;

/// xorshift64*: a tiny deterministic generator, so a failing seed replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

struct Replica {
    remote: Remote,
    peer: String,
    doc: AutoCommit,
}

async fn sync(r: &mut Replica, id: DocId, local: bool) {
    let doc = std::mem::take(&mut r.doc);
    let mut out = session::run(
        &r.remote,
        &r.peer,
        vec![DocSync { id, doc, local }],
        Timeouts {
            connect: Duration::from_secs(10),
            idle: Duration::from_secs(10),
            reconnects: 0,
        },
        |_| {},
    )
    .await
    .unwrap();
    let (synced, report) = out.remove(0);
    assert_eq!(report.outcome, Outcome::Synced, "{report:?}");
    r.doc = synced.doc;
}

fn today() -> Day {
    Day::ymd(2026, 11, 23).unwrap()
}

#[derive(Default)]
struct Expect {
    people: Vec<RecordId>,
    activities: Vec<RecordId>,
    notes: Vec<(RecordId, String)>,
}

fn edit(doc: &mut AutoCommit, rng: &mut Rng, who: usize, step: usize, expect: &mut Expect) {
    let people: Vec<RecordId> = DocData::read(doc, Parts::PEOPLE)
        .unwrap()
        .people
        .keys()
        .cloned()
        .collect();
    match (rng.below(4), people.is_empty()) {
        (0, _) | (_, true) => {
            let id = RecordId::random();
            doc::put_record(
                doc,
                Collection::People,
                &id,
                &Person::named(&format!("p{who}-{step}")),
            )
            .unwrap();
            expect.people.push(id);
        }
        (1, false) => {
            let id = people[rng.below(people.len())].clone();
            let mut p: Person = doc::read_record(doc, Collection::People, &id)
                .unwrap()
                .unwrap();
            p.title = Some(format!("t{who}-{step}"));
            doc::put_record(doc, Collection::People, &id, &p).unwrap();
        }
        (2, false) => {
            let id = people[rng.below(people.len())].clone();
            let mut p: Person = doc::read_record(doc, Collection::People, &id)
                .unwrap()
                .unwrap();
            let token = format!("n{who}-{step}");
            p.notes.append(&token);
            doc::put_record(doc, Collection::People, &id, &p).unwrap();
            expect.notes.push((id, token));
        }
        _ => {
            let person = people[rng.below(people.len())].clone();
            let a = Activity {
                date: today(),
                people: vec![person],
                kind: ActivityKind::Meeting,
                direction: ActivityKind::Meeting.default_direction(),
                by: format!("m{who}"),
                notes: Notes::new("met"),
                opportunity: None,
                archived: false,
            };
            let id = RecordId::random();
            doc::put_record(doc, Collection::Activities, &id, &a).unwrap();
            expect.activities.push(id);
        }
    }
    doc.commit();
}

async fn run_seed(dir: &Path, seed: u64, replicas: usize, steps: usize) {
    let handles: Vec<String> = (0..replicas).map(|i| format!("m{i}")).collect();
    let (_, tokens) = Registry::update(dir, |r| {
        r.add_team("acme")?;
        handles
            .iter()
            .map(|h| r.add_member("acme", h, false))
            .collect::<Result<Vec<_>, _>>()
    })
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = Config::for_dir(dir);
    let relay = tokio::spawn(async move {
        rapport_relay::serve(config, listener, async move {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });

    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut team: Vec<Replica> = tokens
        .iter()
        .enumerate()
        .map(|(i, token)| Replica {
            remote: Remote {
                url: url.clone(),
                team: "acme".into(),
                token: token.clone(),
            },
            peer: format!("m{i}-{seed}"),
            doc: AutoCommit::new(),
        })
        .collect();
    // Replica 0 creates and shares the account; the others fetch it.
    let id = DocId::random();
    let account: Account = serde_json::from_value(serde_json::json!({"name": "Hub"})).unwrap();
    doc::init_account(&mut team[0].doc, &account).unwrap();
    team[0].doc.commit();
    let remote = team[0].remote.clone();
    tokio::task::spawn_blocking(move || http::register(&remote, &id))
        .await
        .unwrap()
        .unwrap();
    sync(&mut team[0], id, true).await;
    for r in team.iter_mut().skip(1) {
        sync(r, id, false).await;
    }

    let mut expect = Expect::default();
    for step in 0..steps {
        let who = rng.below(replicas);
        if rng.below(3) == 0 {
            sync(&mut team[who], id, true).await;
        } else {
            edit(&mut team[who].doc, &mut rng, who, step, &mut expect);
        }
    }
    // Two rounds: the first gathers everything on the relay, the second
    // hands it to everyone.
    for _ in 0..2 {
        for r in team.iter_mut() {
            sync(r, id, true).await;
        }
    }

    let heads: Vec<_> = team.iter_mut().map(|r| r.doc.get_heads()).collect();
    assert!(
        heads.windows(2).all(|w| w[0] == w[1]),
        "seed {seed}: heads differ"
    );
    let data: Vec<String> = team
        .iter()
        .map(|r| serde_json::to_string(&DocData::read(&r.doc, Parts::ALL).unwrap()).unwrap())
        .collect();
    assert!(
        data.windows(2).all(|w| w[0] == w[1]),
        "seed {seed}: contents differ"
    );
    let d = DocData::read(&team[0].doc, Parts::ALL).unwrap();
    for p in &expect.people {
        assert!(d.people.contains_key(p), "seed {seed}: person {p} lost");
    }
    for a in &expect.activities {
        assert!(
            d.activities.contains_key(a),
            "seed {seed}: activity {a} lost"
        );
    }
    for (p, token) in &expect.notes {
        assert!(
            d.people[p].notes.as_str().contains(token.as_str()),
            "seed {seed}: note {token} lost"
        );
    }
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(20), relay)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_syncing_in_random_order_converge() {
    let seeds: u64 = std::env::var("RAPPORT_SYNC_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);
    for seed in 1..=seeds {
        let dir = tempfile::tempdir().unwrap();
        run_seed(dir.path(), seed, 2 + (seed as usize % 3), 60).await;
    }
}
