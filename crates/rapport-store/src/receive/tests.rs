//! Tests of received additions: records replayed on the first change
//! alone read as they do on the whole document.

use automerge::transaction::Transactable as _;
use automerge::{AutoCommit, ROOT, ReadDoc as _};
use rapport_core::RecordId;
use rapport_core::doc::{self, Collection};
use rapport_core::enums::{ActivityKind, BuyingRole, Direction};
use rapport_core::model::{Account, Activity, KeyPlayer, Opportunity, Person, Relationship};
use rapport_core::values::{Day, Notes};

use super::{Added, rebase_additions};

/// An account document as the CLI starts one (its first change), and a
/// copy of it with a person added and edited since, as a user's copy.
fn documents() -> (Vec<u8>, AutoCommit, RecordId) {
    let mut d = AutoCommit::new();
    doc::init_account(&mut d, &Account::named("Acme")).unwrap();
    d.commit();
    let genesis = d.save();
    let ada = RecordId::random();
    doc::put_record(&mut d, Collection::People, &ada, &Person::named("Ada")).unwrap();
    d.commit();
    let mut p = Person::named("Ada");
    p.title = Some("CTO".into());
    doc::put_record(&mut d, Collection::People, &ada, &p).unwrap();
    d.commit();
    (genesis, d, ada)
}

fn activity(person: &RecordId, notes: &str) -> Activity {
    Activity {
        date: Day::ymd(2026, 12, 1).unwrap(),
        people: vec![person.clone()],
        kind: ActivityKind::ALL[1],
        direction: Direction::Give,
        by: "jo".into(),
        notes: Notes::new(notes),
        opportunity: None,
        archived: false,
    }
}

/// A teammate's copy: `edit` made on it, one commit per call, and the
/// changes it made.
fn teammate(
    d: &AutoCommit,
    edits: &[&dyn Fn(&mut AutoCommit)],
) -> (AutoCommit, Vec<automerge::Change>) {
    let mut theirs = d.clone().with_actor(automerge::ActorId::random());
    let since = theirs.get_heads();
    for edit in edits {
        edit(&mut theirs);
        theirs.commit();
    }
    let changes = theirs.get_changes(&since).into_iter().collect();
    (theirs, changes)
}

/// The changes replayed on the first change alone, and on the whole
/// document: the same records, value for value.
fn replayed_as_on_the_whole(
    genesis: &[u8],
    d: &AutoCommit,
    changes: &[automerge::Change],
) -> Option<Vec<Added>> {
    let mut base = AutoCommit::load(genesis).unwrap();
    let added = rebase_additions(&mut base, changes)?;
    let mut whole = d.clone();
    whole.apply_changes(changes.iter().cloned()).unwrap();
    for a in &added {
        let json = |doc: &AutoCommit| {
            match a.collection {
                Collection::People => serde_json::to_value(
                    doc::read_records::<_, Person>(doc, a.collection, std::slice::from_ref(&a.id))
                        .unwrap(),
                ),
                Collection::Activities => serde_json::to_value(
                    doc::read_records::<_, Activity>(
                        doc,
                        a.collection,
                        std::slice::from_ref(&a.id),
                    )
                    .unwrap(),
                ),
                Collection::Opportunities => serde_json::to_value(
                    doc::read_records::<_, Opportunity>(
                        doc,
                        a.collection,
                        std::slice::from_ref(&a.id),
                    )
                    .unwrap(),
                ),
                Collection::Relationships => serde_json::to_value(
                    doc::read_records::<_, Relationship>(
                        doc,
                        a.collection,
                        std::slice::from_ref(&a.id),
                    )
                    .unwrap(),
                ),
                other => panic!("not in these tests: {other:?}"),
            }
            .unwrap()
        };
        assert_eq!(json(&base), json(&whole), "{a:?}");
    }
    // Operation ids are the real ones: the field index reads them off.
    let ids = |doc: &AutoCommit| -> Vec<String> {
        added
            .iter()
            .map(|a| {
                let (_, coll) = doc.get(ROOT, a.collection.key()).unwrap().unwrap();
                let (_, obj) = doc.get(&coll, a.id.as_str()).unwrap().unwrap();
                obj.to_string()
            })
            .collect()
    };
    assert_eq!(ids(&base), ids(&whole));
    Some(added)
}

#[test]
fn teammates_additions_read_the_same_on_the_first_change_alone() {
    let (genesis, d, ada) = documents();
    let (bo, call, rel) = (RecordId::random(), RecordId::random(), RecordId::random());
    let add_bo = |t: &mut AutoCommit| {
        let mut p = Person::named("Bo");
        p.tags = vec!["cfo".into(), "board".into()];
        p.notes = Notes::new("met at the fair, café 🎉");
        doc::put_record(t, Collection::People, &bo, &p).unwrap();
    };
    let log_call = |t: &mut AutoCommit| {
        let a = activity(&ada, "called about the renewal");
        doc::put_record(t, Collection::Activities, &call, &a).unwrap();
    };
    let add_rel = |t: &mut AutoCommit| {
        doc::put_record(
            t,
            Collection::Relationships,
            &rel,
            &Relationship::new("jo", bo.clone()),
        )
        .unwrap();
    };
    // One change each, and two records in one change.
    let (_, changes) = teammate(&d, &[&add_bo, &log_call, &add_rel]);
    let added = replayed_as_on_the_whole(&genesis, &d, &changes).expect("additions");
    let ids: Vec<_> = added.iter().map(|a| (a.collection, a.id.clone())).collect();
    assert_eq!(
        ids,
        [
            (Collection::People, bo.clone()),
            (Collection::Activities, call.clone()),
            (Collection::Relationships, rel.clone())
        ]
    );
    let both = |t: &mut AutoCommit| {
        add_bo(t);
        log_call(t);
    };
    let (_, changes) = teammate(&d, &[&both]);
    assert_eq!(changes.len(), 1);
    assert_eq!(
        replayed_as_on_the_whole(&genesis, &d, &changes)
            .unwrap()
            .len(),
        2
    );
    // A change on top of a teammate's (its deps are not the first change).
    let (t, first) = teammate(&d, &[&add_bo]);
    let (_, second) = teammate(&t, &[&log_call]);
    let both: Vec<_> = first.into_iter().chain(second).collect();
    assert_eq!(
        replayed_as_on_the_whole(&genesis, &d, &both).unwrap().len(),
        2
    );
}

#[test]
fn anything_but_an_addition_is_left_to_a_load() {
    let (genesis, d, ada) = documents();
    let none = |edits: &[&dyn Fn(&mut AutoCommit)]| {
        let (_, changes) = teammate(&d, edits);
        let mut base = AutoCommit::load(&genesis).unwrap();
        rebase_additions(&mut base, &changes)
    };
    let people = |t: &AutoCommit| t.get(ROOT, "people").unwrap().unwrap().1;
    // An edit of an existing record (its op names the one it replaces).
    assert_eq!(
        none(&[&|t| {
            let mut p = Person::named("Ada");
            p.title = Some("CEO".into());
            doc::put_record(t, Collection::People, &ada, &p).unwrap();
        }]),
        None
    );
    // A record removed.
    assert_eq!(
        none(&[&|t| t.delete(people(t), ada.as_str()).unwrap()]),
        None
    );
    // A record put over without naming the one there (another client):
    // it would conflict, so it is not new.
    assert_eq!(
        none(&[&|t| {
            let people = people(t);
            t.put_object(&people, ada.as_str(), automerge::ObjType::Map)
                .unwrap();
        }]),
        None
    );
    // A plain value or a list under a record key, a key at the root.
    assert_eq!(none(&[&|t| t.put(people(t), "x", "plain").unwrap()]), None);
    assert_eq!(
        none(&[&|t| {
            t.put_object(people(t), "x", automerge::ObjType::List)
                .unwrap();
        }]),
        None
    );
    assert_eq!(none(&[&|t| t.put(ROOT, "schema", 99).unwrap()]), None);
    // A counter bumped inside a new record, a new record and then an edit
    // of it in the same change.
    assert_eq!(
        none(&[&|t| {
            let obj = t
                .put_object(people(t), "y", automerge::ObjType::Map)
                .unwrap();
            t.put(&obj, "n", automerge::ScalarValue::counter(1))
                .unwrap();
            t.increment(&obj, "n", 2).unwrap();
        }]),
        None
    );
    assert_eq!(
        none(&[&|t| {
            let obj = t
                .put_object(people(t), "z", automerge::ObjType::Map)
                .unwrap();
            t.put(&obj, "name", "Zed").unwrap();
            t.put(&obj, "name", "Zoe").unwrap();
        }]),
        None
    );
    // The same record added by two changes.
    let bo = RecordId::random();
    let add_bo = |t: &mut AutoCommit| {
        doc::put_record(t, Collection::People, &bo, &Person::named("Bo")).unwrap();
    };
    let (_, one) = teammate(&d, &[&add_bo]);
    let (_, other) = teammate(&d, &[&add_bo]);
    let mut base = AutoCommit::load(&genesis).unwrap();
    let twice: Vec<_> = one.into_iter().chain(other).collect();
    assert_eq!(rebase_additions(&mut base, &twice), None);
    // An addition, for contrast.
    assert!(none(&[&add_bo]).is_some());
}

/// One commit of a teammate's, for the property test.
#[derive(Debug, Clone)]
enum Step {
    AddPerson {
        tags: Vec<String>,
        notes: String,
    },
    AddActivity {
        notes: String,
    },
    /// An opportunity with key players (a map of maps).
    AddOpportunity {
        players: usize,
    },
    /// An edit of the last person added (or Ada).
    EditLast {
        title: String,
    },
    RemoveAda,
    PlainValue,
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    let text = "[a-zé🎉 ]{0,12}";
    prop_oneof![
        3 => (proptest::collection::vec("[a-z]{1,5}", 0..3), text)
            .prop_map(|(tags, notes)| Step::AddPerson { tags, notes }),
        3 => text.prop_map(|notes| Step::AddActivity { notes }),
        2 => (0..3usize).prop_map(|players| Step::AddOpportunity { players }),
        1 => "[A-Z]{1,4}".prop_map(|title| Step::EditLast { title }),
        1 => Just(Step::RemoveAda),
        1 => Just(Step::PlainValue),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Random commits of a teammate's: they replay on the first change
    /// alone exactly when every one only adds records, and then every
    /// added record reads as on the whole document, with the same ids.
    #[test]
    fn random_teammate_changes_replay_exactly_when_they_only_add(
        steps in proptest::collection::vec(step(), 1..6),
        same_author in proptest::bool::ANY,
    ) {
        let (genesis, d, ada) = documents();
        // A teammate, or the document's author on another device.
        let mut theirs = if same_author {
            d.clone()
        } else {
            d.clone().with_actor(automerge::ActorId::random())
        };
        let since = theirs.get_heads();
        let mut last = ada.clone();
        for s in &steps {
            match s {
                Step::AddPerson { tags, notes } => {
                    let mut p = Person::named("Someone");
                    p.tags = tags.clone();
                    p.notes = Notes::new(notes);
                    last = RecordId::random();
                    doc::put_record(&mut theirs, Collection::People, &last, &p).unwrap();
                }
                Step::AddActivity { notes } => {
                    let a = activity(&ada, notes);
                    doc::put_record(&mut theirs, Collection::Activities, &RecordId::random(), &a)
                        .unwrap();
                }
                Step::AddOpportunity { players } => {
                    let mut o = Opportunity::new("Deal", None);
                    for _ in 0..*players {
                        o.players.insert(
                            RecordId::random(),
                            KeyPlayer { role: BuyingRole::ALL[1], preference: None },
                        );
                    }
                    doc::put_record(&mut theirs, Collection::Opportunities, &RecordId::random(), &o)
                        .unwrap();
                }
                Step::EditLast { title } => {
                    // (Nothing, if that was Ada and she was removed.)
                    if let Some(mut p) =
                        doc::read_record::<_, Person>(&theirs, Collection::People, &last).unwrap()
                    {
                        p.title = Some(title.clone());
                        doc::put_record(&mut theirs, Collection::People, &last, &p).unwrap();
                    }
                }
                Step::RemoveAda => {
                    let (_, people) = theirs.get(ROOT, "people").unwrap().unwrap();
                    theirs.delete(&people, ada.as_str()).unwrap();
                }
                Step::PlainValue => {
                    let (_, people) = theirs.get(ROOT, "people").unwrap().unwrap();
                    theirs.put(&people, RecordId::random().as_str(), "plain").unwrap();
                }
            }
            theirs.commit();
        }
        let changes = theirs.get_changes(&since);
        let only_adds = steps
            .iter()
            .all(|s| {
                matches!(
                    s,
                    Step::AddPerson { .. } | Step::AddActivity { .. } | Step::AddOpportunity { .. }
                )
            });
        let replayed = replayed_as_on_the_whole(&genesis, &d, &changes);
        proptest::prop_assert_eq!(replayed.is_some(), only_adds, "{:?}", steps);
        if let Some(added) = replayed {
            proptest::prop_assert_eq!(added.len(), steps.len());
        }
    }
}
