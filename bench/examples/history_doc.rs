//! Writes an account document whose records were each written by a
//! change of their own, as months of `rapport log add` and `person add`
//! write them (`rapport-bench`'s generator writes each document in one
//! change), saved whole: to measure what loading a long history costs
//! (`load_memory`). Usage:
//! `cargo run --release -p rapport-bench --example history_doc -- RECORDS OUT_FILE`
//! (a tenth of the records people, the rest activities).

use anyhow::Context as _;
use automerge::AutoCommit;
use rapport_core::doc::{self, Collection};
use rapport_core::enums::ActivityKind;
use rapport_core::model::{Account, Activity, Person};
use rapport_core::{Day, Notes, RecordId};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: history_doc RECORDS OUT_FILE";
    let records: usize = args.next().context(usage)?.parse().context(usage)?;
    let out = args.next().context(usage)?;
    let mut d = AutoCommit::new();
    let account = Account {
        name: "Bigco".into(),
        domain: None,
        industry: None,
        target: true,
        icp_fit: None,
        icp_score: None,
        desired_level: None,
        notes: Notes::default(),
        archived: false,
        created: None,
    };
    doc::init_account(&mut d, &account)?;
    d.commit();
    let people_n = (records / 10).max(1);
    let mut people = Vec::with_capacity(people_n);
    let start = Day::ymd(2026, 1, 1).context("a day")?;
    for i in 0..people_n {
        let mut p = Person::named(&format!("Person {i:06}"));
        p.email = Some(format!("person{i}@bigco.example"));
        p.title = Some("Director".into());
        let id = RecordId::random();
        doc::put_record(&mut d, Collection::People, &id, &p)?;
        d.commit();
        people.push(id);
    }
    for i in 0..records.saturating_sub(people_n) {
        let kind = ActivityKind::ALL[i % ActivityKind::ALL.len()];
        let a = Activity {
            date: start.add_days((i % 300) as i64),
            people: vec![people[i % people_n].clone()],
            kind,
            direction: kind.default_direction(),
            by: ["sam", "jo", "kim"][i % 3].into(),
            notes: Notes::new(&format!("Talked about their plans for quarter {}", i % 8)),
            opportunity: None,
            archived: false,
        };
        doc::put_record(&mut d, Collection::Activities, &RecordId::random(), &a)?;
        d.commit();
    }
    let bytes = d.save();
    std::fs::write(&out, &bytes).with_context(|| format!("could not write {out}"))?;
    println!(
        "{records} records, one change each, {} bytes: {out}",
        bytes.len()
    );
    Ok(())
}
