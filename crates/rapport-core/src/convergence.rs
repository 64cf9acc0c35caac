//! Property test: two copies of an account document take random
//! CLI-level edits offline, then merge. Both end equal, no record added on
//! either side is missing, and every note appended on either side survives.

use automerge::AutoCommit;
use proptest::prelude::*;

use crate::doc::{self, Collection, DocData, Parts};
use crate::enums::{ActivityKind, BuyingRole, Level};
use crate::model::*;
use crate::{Day, Notes, RecordId};

#[derive(Debug, Clone)]
enum Op {
    AddPerson(String),
    SetTitle(usize, String),
    AppendNote(usize, String),
    AddRelationship(usize, usize),
    SetLevel(usize, usize),
    Log(usize, usize),
    Archive(usize),
    AddOpportunity(String),
    AddPlayer(usize, usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    let word = "[a-z]{1,8}";
    prop_oneof![
        word.prop_map(Op::AddPerson),
        (any::<usize>(), word).prop_map(|(i, t)| Op::SetTitle(i, t)),
        (any::<usize>(), word).prop_map(|(i, t)| Op::AppendNote(i, t)),
        (any::<usize>(), 0..4usize).prop_map(|(i, l)| Op::AddRelationship(i, l)),
        (any::<usize>(), 0..4usize).prop_map(|(i, l)| Op::SetLevel(i, l)),
        (any::<usize>(), 0..10usize).prop_map(|(i, k)| Op::Log(i, k)),
        any::<usize>().prop_map(Op::Archive),
        word.prop_map(Op::AddOpportunity),
        (any::<usize>(), any::<usize>(), 0..6usize).prop_map(|(o, p, r)| Op::AddPlayer(o, p, r)),
    ]
}

fn pick<T: Clone>(items: &[T], i: usize) -> Option<T> {
    (!items.is_empty()).then(|| items[i % items.len()].clone())
}

/// What one side did that must survive the merge.
#[derive(Default)]
struct Expect {
    added: Vec<(Collection, RecordId)>,
    notes: Vec<(RecordId, String)>,
}

fn today() -> Day {
    Day::ymd(2026, 11, 23).unwrap()
}

fn apply(doc: &mut AutoCommit, op: &Op, side: &str, n: usize, expect: &mut Expect) {
    let data = DocData::read(doc, Parts::ALL).unwrap();
    let people: Vec<RecordId> = data.people.keys().cloned().collect();
    let rels: Vec<RecordId> = data.relationships.keys().cloned().collect();
    let opps: Vec<RecordId> = data.opportunities.keys().cloned().collect();
    match op {
        Op::AddPerson(name) => {
            let id = RecordId::random();
            doc::put_record(doc, Collection::People, &id, &Person::named(name)).unwrap();
            expect.added.push((Collection::People, id));
        }
        Op::SetTitle(i, title) => {
            if let Some(id) = pick(&people, *i) {
                let mut p: Person = doc::read_record(doc, Collection::People, &id)
                    .unwrap()
                    .unwrap();
                p.title = Some(title.clone());
                doc::put_record(doc, Collection::People, &id, &p).unwrap();
            }
        }
        Op::AppendNote(i, text) => {
            if let Some(id) = pick(&people, *i) {
                let mut p: Person = doc::read_record(doc, Collection::People, &id)
                    .unwrap()
                    .unwrap();
                // A token unique to this side and step, so we can look for it.
                let token = format!("{side}{n}-{text}");
                p.notes.append(&token);
                doc::put_record(doc, Collection::People, &id, &p).unwrap();
                expect.notes.push((id, token));
            }
        }
        Op::AddRelationship(i, level) => {
            if let Some(person) = pick(&people, *i) {
                let mut r = Relationship::new(side, person);
                r.level = Level::ALL[*level];
                let id = RecordId::random();
                doc::put_record(doc, Collection::Relationships, &id, &r).unwrap();
                expect.added.push((Collection::Relationships, id));
            }
        }
        Op::SetLevel(i, level) => {
            if let Some(id) = pick(&rels, *i) {
                let mut r: Relationship = doc::read_record(doc, Collection::Relationships, &id)
                    .unwrap()
                    .unwrap();
                r.level = Level::ALL[*level];
                doc::put_record(doc, Collection::Relationships, &id, &r).unwrap();
            }
        }
        Op::Log(i, kind) => {
            if let Some(person) = pick(&people, *i) {
                let kind = ActivityKind::ALL[*kind];
                let a = Activity {
                    date: today(),
                    people: vec![person],
                    kind,
                    direction: kind.default_direction(),
                    by: side.to_string(),
                    notes: Notes::new("logged"),
                    opportunity: None,
                    archived: false,
                };
                let id = RecordId::random();
                doc::put_record(doc, Collection::Activities, &id, &a).unwrap();
                expect.added.push((Collection::Activities, id));
            }
        }
        Op::Archive(i) => {
            if let Some(id) = pick(&people, *i) {
                doc::set_archived(doc, Collection::People, &id, true).unwrap();
            }
        }
        Op::AddOpportunity(title) => {
            let o = Opportunity::new(title, Some(today()));
            let id = RecordId::random();
            doc::put_record(doc, Collection::Opportunities, &id, &o).unwrap();
            expect.added.push((Collection::Opportunities, id));
        }
        Op::AddPlayer(o, p, role) => {
            if let (Some(oid), Some(pid)) = (pick(&opps, *o), pick(&people, *p)) {
                let mut opp: Opportunity = doc::read_record(doc, Collection::Opportunities, &oid)
                    .unwrap()
                    .unwrap();
                opp.players.insert(
                    pid,
                    KeyPlayer {
                        role: BuyingRole::ALL[*role],
                        preference: None,
                    },
                );
                doc::put_record(doc, Collection::Opportunities, &oid, &opp).unwrap();
            }
        }
    }
    // One change per command, as the CLI does.
    doc.commit();
}

fn base() -> AutoCommit {
    let mut doc = AutoCommit::new();
    let account = Account {
        target: true,
        ..Account::named("Acme")
    };
    doc::init_account(&mut doc, &account).unwrap();
    for name in ["ana", "bo"] {
        doc::put_record(
            &mut doc,
            Collection::People,
            &RecordId::random(),
            &Person::named(name),
        )
        .unwrap();
    }
    doc.commit();
    doc
}

fn has(data: &DocData, c: Collection, id: &RecordId) -> bool {
    match c {
        Collection::People => data.people.contains_key(id),
        Collection::Relationships => data.relationships.contains_key(id),
        Collection::Activities => data.activities.contains_key(id),
        Collection::Opportunities => data.opportunities.contains_key(id),
        _ => unreachable!(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn two_offline_copies_converge_without_loss(
        a_ops in prop::collection::vec(op(), 0..12),
        b_ops in prop::collection::vec(op(), 0..12),
        a_first in any::<bool>(),
    ) {
        let mut a = base();
        let mut b = a.fork();
        let mut expect = Expect::default();
        for (n, op) in a_ops.iter().enumerate() {
            apply(&mut a, op, "a", n, &mut expect);
        }
        for (n, op) in b_ops.iter().enumerate() {
            apply(&mut b, op, "b", n, &mut expect);
        }
        if a_first {
            a.merge(&mut b).unwrap();
            b.merge(&mut a).unwrap();
        } else {
            b.merge(&mut a).unwrap();
            a.merge(&mut b).unwrap();
        }
        prop_assert_eq!(a.get_heads(), b.get_heads());
        let da = DocData::read(&a, Parts::ALL).unwrap();
        let db = DocData::read(&b, Parts::ALL).unwrap();
        prop_assert_eq!(serde_json::to_value(&da).unwrap(), serde_json::to_value(&db).unwrap());
        prop_assert!(da.problems.is_empty(), "{:?}", da.problems);
        for (c, id) in &expect.added {
            prop_assert!(has(&da, *c, id), "{:?} {} lost", c, id);
        }
        for (person, token) in &expect.notes {
            prop_assert!(da.people[person].notes.as_str().contains(token.as_str()), "note '{}' lost", token);
        }
    }
}
