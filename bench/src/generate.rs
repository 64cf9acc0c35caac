//! Realistic workspaces of a given size, written straight through the
//! store (much faster than thousands of CLI calls). Interactions dominate:
//! about 10% people, 10% relationships, 5% plan items, 2% opportunities and
//! the rest activity.

use std::path::Path;

use anyhow::Context as _;
use automerge::AutoCommit;
use rapport_core::doc::{self, Collection};
use rapport_core::enums::*;
use rapport_core::model::*;
use rapport_core::{Day, DocId, Notes, RecordId};
use rapport_store::{FsBackend, Store};

pub const BIG_ACCOUNT: &str = "Bigco";

/// What a generated workspace holds.
pub struct Workspace {
    pub records: usize,
    /// A person in the big account, for `person show`.
    pub person: String,
    /// An activity of the big account (its id), for `log edit`; empty if
    /// it has none.
    pub activity: String,
}

/// What [`fill`] names of the records it wrote.
pub struct Filled {
    person: String,
    activity: Option<RecordId>,
}

/// How [`fill`] commits the records it writes.
#[derive(Clone, Copy, PartialEq)]
pub enum History {
    /// All at once, in the caller's one change (the bench: fast to write).
    OneChange,
    /// Each in a change of its own, as months of use write them
    /// (`examples/history_doc.rs`).
    ChangePerRecord,
}

fn day(i: usize) -> Day {
    Day::ymd(2026, 11, 23)
        .unwrap_or(Day(Default::default()))
        .add_days(-((i % 700) as i64))
}

/// Writes `records` records into `doc` (an account document).
pub fn fill(doc: &mut AutoCommit, records: usize, history: History) -> anyhow::Result<Filled> {
    // After each record.
    let end = |doc: &mut AutoCommit| {
        if history == History::ChangePerRecord {
            doc.commit();
        }
    };
    let people_n = (records / 10).max(1);
    let rels_n = records / 10;
    let plan_n = records / 20;
    let opps_n = records / 50;
    let acts_n = records.saturating_sub(people_n + rels_n + plan_n + opps_n);
    let mut people: Vec<RecordId> = Vec::with_capacity(people_n);
    for i in 0..people_n {
        let id = RecordId::random();
        let mut p = Person::named(&format!("Person {i:06}"));
        p.email = Some(format!("person{i}@bigco.example"));
        p.title = Some(["CFO", "COO", "Director", "Manager", "Analyst"][i % 5].into());
        p.political_status = Some(PoliticalStatus::ALL[i % 3]);
        p.orientation = Some(DecisionOrientation::ALL[i % 4]);
        if i > 0 {
            p.reports_to = Some(people[i / 2 % i].clone());
        }
        doc::put_record(doc, Collection::People, &id, &p)?;
        end(doc);
        people.push(id);
    }
    for i in 0..rels_n {
        let mut r = Relationship::new(["sam", "jo", "kim"][i % 3], people[i % people_n].clone());
        r.level = Level::ALL[i % 4];
        r.desired_level = Some(Level::ALL[(i + 1) % 4]);
        r.preference = Preference::ALL[i % 5];
        r.coverage = Coverage::ALL[i % 5];
        r.cadence_days = Some([14, 30, 90][i % 3]);
        r.desired_reason = Some("They shape the budget".into());
        doc::put_record(doc, Collection::Relationships, &RecordId::random(), &r)?;
        end(doc);
    }
    for i in 0..plan_n {
        let item = PlanItem {
            person: people[i % people_n].clone(),
            action: format!("Share a benchmark on topic {i}"),
            owner: "sam".into(),
            due: Some(day(i).add_days(30)),
            status: PlanStatus::ALL[i % 3],
            done_on: None,
            tests: Tests {
                time: true,
                learn: i % 2 == 0,
                illustrate: i % 3 == 0,
            },
            notes: Notes::default(),
            archived: false,
            created: Some(day(i)),
        };
        doc::put_record(doc, Collection::Plan, &RecordId::random(), &item)?;
        end(doc);
    }
    for i in 0..opps_n {
        let mut players = std::collections::BTreeMap::new();
        for k in 0..3 {
            players.insert(
                people[(i * 3 + k) % people_n].clone(),
                KeyPlayer {
                    role: BuyingRole::ALL[k],
                    preference: None,
                },
            );
        }
        let o = Opportunity {
            title: format!("Project {i}"),
            kind: OpportunityKind::Project,
            person: None,
            stage: "qualified".into(),
            status: OpportunityStatus::ALL[i % 4],
            closed_on: None,
            close_reason: None,
            decision_date: Some(day(i).add_days(60)),
            value: Some(10_000 + i as i64),
            currency: Some("EUR".into()),
            probability: Some(40),
            next_step: Some("Send the proposal".into()),
            notes: Notes::default(),
            players,
            archived: false,
            created: Some(day(i)),
        };
        doc::put_record(doc, Collection::Opportunities, &RecordId::random(), &o)?;
        end(doc);
    }
    let mut activity = None;
    for i in 0..acts_n {
        let kind = ActivityKind::ALL[i % ActivityKind::ALL.len()];
        let a = Activity {
            date: day(i),
            people: vec![people[i % people_n].clone()],
            kind,
            direction: kind.default_direction(),
            by: ["sam", "jo", "kim"][i % 3].into(),
            notes: Notes::new(&format!("Talked about their plans for quarter {}", i % 8)),
            opportunity: None,
            archived: false,
        };
        let id = RecordId::random();
        doc::put_record(doc, Collection::Activities, &id, &a)?;
        end(doc);
        // One in the middle of the log.
        if i == acts_n / 2 {
            activity = Some(id);
        }
    }
    Ok(Filled {
        person: format!("Person {:06}", 42 % people_n),
        activity,
    })
}

/// Writes a workspace of `records` records into `home`: one big account
/// with almost all of them, two small accounts and a personal document,
/// each account's records committed as `history` says.
pub fn generate(home: &Path, records: usize, history: History) -> anyhow::Result<Workspace> {
    let small = 50.min(records / 10);
    let sizes = vec![
        (BIG_ACCOUNT.to_string(), records.saturating_sub(2 * small)),
        ("Smallco A".into(), small),
        ("Smallco B".into(), small),
    ];
    write(home, records, sizes, history)
}

/// Writes a workspace of `records` records spread evenly over `accounts`
/// accounts (named `Account 000`, ...), and a personal document.
pub fn generate_spread(home: &Path, records: usize, accounts: usize) -> anyhow::Result<Workspace> {
    let accounts = accounts.max(1);
    let sizes = (0..accounts)
        .map(|i| {
            let size = records / accounts + usize::from(i < records % accounts);
            (format!("Account {i:03}"), size)
        })
        .collect();
    write(home, records, sizes, History::OneChange)
}

/// Writes one account document per `(name, records)` and a personal
/// document listing them; the person named is from the first account.
fn write(
    home: &Path,
    records: usize,
    sizes: Vec<(String, usize)>,
    history: History,
) -> anyhow::Result<Workspace> {
    let store = Store::new(FsBackend::new(home.join("store")));
    let owner = Owner {
        name: "Sam Lee".into(),
        handle: "sam".into(),
        email: None,
    };
    let mut personal = store.create(|d| doc::init_personal(d, &owner))?;
    let mut accounts: Vec<(DocId, String)> = Vec::new();
    let mut person = String::new();
    let mut activity = String::new();
    for (i, (name, size)) in sizes.into_iter().enumerate() {
        let account = Account {
            name: name.clone(),
            domain: None,
            industry: Some("logistics".into()),
            target: true,
            icp_fit: None,
            icp_score: Some(4),
            desired_level: Some(Level::TrustedAdvisor),
            notes: Notes::default(),
            archived: false,
            created: None,
        };
        let mut loaded = store.create(|d| doc::init_account(d, &account))?;
        let filled = fill(&mut loaded.doc, size, history)
            .with_context(|| format!("could not fill {name}"))?;
        if i == 0 {
            person = filled.person;
            activity = filled.activity.map(|a| a.to_string()).unwrap_or_default();
        }
        store.save(&mut loaded)?;
        store.compact(&loaded.id)?;
        accounts.push((loaded.id, name));
    }
    for (id, name) in &accounts {
        let entry = AccountEntry {
            name: name.clone(),
            added: None,
        };
        doc::put_record(
            &mut personal.doc,
            Collection::Accounts,
            &RecordId::from(id.to_bs58()),
            &entry,
        )?;
    }
    store.save(&mut personal)?;
    std::fs::write(
        home.join("config.toml"),
        format!("personal_doc = \"{}\"\n", personal.id.to_url()),
    )?;
    Ok(Workspace {
        records,
        person,
        activity,
    })
}
