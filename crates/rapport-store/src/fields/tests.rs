//! Tests of the field index: edits written through it against the same
//! edits made by autosurgeon on the loaded document, value for value.

use std::collections::BTreeMap;

use automerge::transaction::Transactable as _;
use automerge::{AutoCommit, ROOT, ReadDoc};
use rapport_core::RecordId;
use rapport_core::doc::{self, Collection, DocData, Parts};
use rapport_core::enums::{BuyingRole, Preference};
use rapport_core::model::{Account, KeyPlayer, Opportunity, Person};
use rapport_core::values::Notes;

use super::{ACTIVITIES, ColdFile, EditError, Edited, FieldIndex, edit};

impl FieldIndex {
    /// The index file's bytes, of an index that has no cold file to
    /// write (built without the activity log, or read from a file).
    fn to_file(&self, chunks: Vec<String>) -> Option<Vec<u8>> {
        let files = self.to_files(chunks)?;
        assert!(!matches!(files.cold, ColdFile::Write(_)));
        Some(files.index)
    }
}

/// An account document with one person, saved as the CLI saves it.
/// A slot's operations (a `SmallVec` since session 19, a `Vec` before)
/// encode as the `Vec` did, so index files written before read the same.
#[test]
fn a_slots_operations_encode_as_a_list_of_them_did() {
    for n in 0..4u32 {
        let ops: Vec<super::OpRef> = (0..n)
            .map(|i| super::OpRef {
                counter: 1 + u64::from(i) * 300,
                actor: i,
            })
            .collect();
        let held = super::Ops::from_slice(&ops);
        let bytes = postcard::to_allocvec(&held).unwrap();
        assert_eq!(bytes, postcard::to_allocvec(&ops).unwrap());
        let read: super::Ops = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(read.as_slice(), ops.as_slice());
    }
}

fn account(person: &Person) -> (AutoCommit, RecordId) {
    let mut d = AutoCommit::new();
    let account = Account::named("Acme");
    doc::init_account(&mut d, &account).unwrap();
    d.commit();
    let id = RecordId::random();
    doc::put_record(&mut d, Collection::People, &id, person).unwrap();
    d.commit();
    (d, id)
}

/// An account document holding Ada with these tags and notes.
fn ada_with(tags: &[&str], notes: &str) -> (AutoCommit, RecordId) {
    let mut p = Person::named("Ada");
    p.tags = tags.iter().map(|t| t.to_string()).collect();
    p.notes = Notes::new(notes);
    account(&p)
}

/// The object of person `id` in `d`.
fn person_obj(d: &AutoCommit, id: &RecordId) -> automerge::ObjId {
    let (_, people) = d.get(ROOT, "people").unwrap().unwrap();
    let (_, obj) = d.get(&people, id.as_str()).unwrap().unwrap();
    obj
}

fn person(d: &AutoCommit, id: &RecordId) -> Person {
    doc::read_record(d, Collection::People, id)
        .unwrap()
        .unwrap()
}

/// Person `id`, decoded as a load decodes it (serde, stricter than
/// autosurgeon); what the view of a received change is compared with.
fn read_person(d: &AutoCommit, id: &RecordId) -> Person {
    loaded_person(d, id).unwrap()
}

/// Person `id` as a load reads it; `None` if a load drops it as a problem.
fn loaded_person(d: &AutoCommit, id: &RecordId) -> Option<Person> {
    let mut read = doc::read_records(d, Collection::People, std::slice::from_ref(id))?;
    Some(read.pop()?.1)
}

/// The edit made the loaded way: autosurgeon on the real document.
fn loaded_edit(d: &mut AutoCommit, id: &RecordId, f: impl FnOnce(&mut Person)) {
    let mut p = person(d, id);
    f(&mut p);
    doc::put_record(d, Collection::People, id, &p).unwrap();
    d.commit();
}

/// The edit made through the index, applied to `d`.
fn indexed_edit(
    index: &mut FieldIndex,
    d: &mut AutoCommit,
    id: &RecordId,
    f: impl FnOnce(&mut Person),
) -> &'static str {
    let old = person(d, id);
    let edited = edit(index, Collection::People, id, &old, |p: &mut Person| {
        f(p);
        Ok::<_, ()>(())
    });
    match edited {
        Ok(Edited::Change { change, record, .. }) => {
            // As the store writes it and a load reads it back.
            let stored = automerge::Change::from_bytes(change.raw_bytes().to_vec()).unwrap();
            assert_eq!(stored.hash(), change.hash());
            d.apply_changes([stored]).unwrap();
            assert_eq!(person(d, id), record);
            "change"
        }
        Ok(Edited::Unchanged { .. }) => "unchanged",
        Ok(Edited::Unsupported) => "unsupported",
        Err(EditError::Edit(())) | Err(EditError::Scratch) => "error",
    }
}

/// The values of a person's fields, every conflicting value included.
fn all_values(d: &AutoCommit, id: &RecordId) -> Vec<(String, Vec<String>)> {
    let obj = person_obj(d, id);
    d.keys(&obj)
        .map(|k| {
            let values = d
                .get_all(&obj, k.as_str())
                .unwrap()
                .into_iter()
                .map(|(v, _)| format!("{v:?}"))
                .collect();
            (k, values)
        })
        .collect()
}

/// A field spelled out: its key, value operations, whether scalar or
/// text, its scalar's type, its elements (id, value operations) and its
/// fields, the same way, by key.
fn slot_text(index: &FieldIndex, s: &super::Slot) -> String {
    let op = |o: &super::OpRef| format!("{}", index.opid(*o).unwrap());
    let mut ops: Vec<String> = s.ops.iter().map(op).collect();
    ops.sort();
    let elems = s.elems().map(|elems| {
        elems
            .iter()
            .map(|e| {
                let mut values: Vec<String> = e.current().iter().map(op).collect();
                values.sort();
                (op(&e.id), values)
            })
            .collect::<Vec<_>>()
    });
    let children = s.children().map(|children| {
        let mut all: Vec<String> = children.iter().map(|c| slot_text(index, c)).collect();
        all.sort();
        all
    });
    format!(
        "{} ops={ops:?} scalar={} text={} kind={} elems={elems:?} fields={children:?}",
        index.keys[s.key as usize], s.scalar, s.text, s.kind
    )
}

type Resolved = (
    Vec<automerge::ChangeHash>,
    u64,
    Vec<BTreeMap<RecordId, (String, Vec<String>)>>,
);

/// The index with actors and keys spelled out, to compare indexes
/// built in different orders.
fn resolved(index: &FieldIndex) -> Resolved {
    let op = |o: &super::OpRef| format!("{}", index.opid(*o).unwrap());
    let mut heads = index.heads.clone();
    heads.sort();
    let records = index
        .records
        .iter()
        .map(|records| {
            records
                .iter()
                .map(|(id, r)| {
                    let mut fields: Vec<String> =
                        r.fields.iter().map(|s| slot_text(index, s)).collect();
                    fields.sort();
                    (id.clone(), (op(&r.obj), fields))
                })
                .collect()
        })
        .collect();
    (heads, index.max_op, records)
}

#[test]
fn plain_field_edits_equal_loaded_edits() {
    let mut p = Person::named("Ada");
    p.title = Some("CTO".into());
    p.notes = Notes::new("met at the fair");
    let (base, id) = account(&p);
    type Edit = Box<dyn Fn(&mut Person)>;
    let edits: Vec<Edit> = vec![
        Box::new(|p| p.title = Some("CEO".into())),
        Box::new(|p| p.title = None),
        Box::new(|p| p.email = Some("ada@acme.test".into())),
        Box::new(|p| {
            p.name = "Ada L.".into();
            p.archived = true;
        }),
    ];
    for f in edits {
        let mut slow = base.clone();
        loaded_edit(&mut slow, &id, &f);
        let mut fast = base.clone();
        let mut index = FieldIndex::build(&mut fast);
        assert_eq!(indexed_edit(&mut index, &mut fast, &id, &f), "change");
        assert_eq!(person(&fast, &id), person(&slow, &id));
        assert_eq!(all_values(&fast, &id), all_values(&slow, &id));
        // The change is a valid one: the document saves and loads.
        let reloaded = AutoCommit::load(&fast.save()).unwrap();
        assert_eq!(person(&reloaded, &id), person(&slow, &id));
        // And the index kept up: a second edit over the first.
        let mut slow2 = slow.clone();
        loaded_edit(&mut slow2, &id, |p| p.phone = Some("1".into()));
        loaded_edit(&mut slow2, &id, |p| p.title = Some("Chair".into()));
        assert_eq!(
            indexed_edit(&mut index, &mut fast, &id, |p| p.phone = Some("1".into())),
            "change"
        );
        assert_eq!(
            indexed_edit(&mut index, &mut fast, &id, |p| p.title =
                Some("Chair".into())),
            "change"
        );
        assert_eq!(all_values(&fast, &id), all_values(&slow2, &id));
        assert_eq!(resolved(&index), resolved(&FieldIndex::build(&mut fast)));
    }
}

#[test]
fn an_edit_supersedes_every_conflicting_value() {
    let (base, id) = account(&Person::named("Ada"));
    let mut a = base.clone();
    let mut b = base.clone();
    b.set_actor(automerge::ActorId::random());
    loaded_edit(&mut a, &id, |p| p.title = Some("CTO".into()));
    loaded_edit(&mut b, &id, |p| p.title = Some("CEO".into()));
    a.merge(&mut b).unwrap();
    let mut slow = a.clone();
    loaded_edit(&mut slow, &id, |p| p.title = Some("Chair".into()));
    let mut fast = a.clone();
    let mut index = FieldIndex::build(&mut fast);
    let f = |p: &mut Person| p.title = Some("Chair".into());
    assert_eq!(indexed_edit(&mut index, &mut fast, &id, f), "change");
    assert_eq!(all_values(&fast, &id), all_values(&slow, &id));
    let title = all_values(&fast, &id)
        .into_iter()
        .find(|(k, _)| k == "title")
        .unwrap();
    assert_eq!(title.1.len(), 1, "the conflict is resolved: {title:?}");
    let reloaded = AutoCommit::load(&fast.save()).unwrap();
    assert_eq!(all_values(&reloaded, &id), all_values(&slow, &id));
}

#[test]
fn a_concurrent_edit_of_another_field_survives() {
    let (base, id) = account(&Person::named("Ada"));
    let mut teammate = base.clone();
    teammate.set_actor(automerge::ActorId::random());
    loaded_edit(&mut teammate, &id, |p| {
        p.email = Some("ada@acme.test".into())
    });
    let mut fast = base.clone();
    let mut index = FieldIndex::build(&mut fast);
    let f = |p: &mut Person| p.title = Some("CTO".into());
    assert_eq!(indexed_edit(&mut index, &mut fast, &id, f), "change");
    fast.merge(&mut teammate).unwrap();
    let p = person(&fast, &id);
    assert_eq!(p.title.as_deref(), Some("CTO"));
    assert_eq!(p.email.as_deref(), Some("ada@acme.test"));
}

/// The values of a person's lists and texts, each element with every
/// conflicting value.
fn seq_values(d: &AutoCommit, id: &RecordId) -> Vec<(String, Vec<Vec<String>>)> {
    let obj = person_obj(d, id);
    d.keys(&obj)
        .filter_map(|k| {
            let (automerge::Value::Object(_), seq) = d.get(&obj, k.as_str()).unwrap()? else {
                return None;
            };
            let elems = (0..d.length(&seq))
                .map(|i| {
                    d.get_all(&seq, i)
                        .unwrap()
                        .into_iter()
                        .map(|(v, _)| format!("{v:?}"))
                        .collect()
                })
                .collect();
            Some((k, elems))
        })
        .collect()
}

/// `f` made through the index on `base` and loaded on a copy of it:
/// the same record, the same values element by element (conflicts
/// included), a document that saves and loads, and an index equal to
/// one built afresh. Then a second edit over the first, through the
/// index kept up to date.
///
/// Returns false, comparing nothing, where the index leaves `f` to a
/// load.
fn same_as_loaded(
    base: &AutoCommit,
    id: &RecordId,
    f: &dyn Fn(&mut Person),
    g: &dyn Fn(&mut Person),
) -> bool {
    let mut slow = base.clone();
    loaded_edit(&mut slow, id, f);
    let mut fast = base.clone();
    let mut index = FieldIndex::build(&mut fast);
    let outcome = indexed_edit(&mut index, &mut fast, id, f);
    if outcome == "unsupported" {
        assert_eq!(fast.get_heads(), base.clone().get_heads());
        return false;
    }
    assert!(matches!(outcome, "change" | "unchanged"), "{outcome}");
    assert_eq!(person(&fast, id), person(&slow, id));
    assert_eq!(seq_values(&fast, id), seq_values(&slow, id));
    assert_eq!(all_values(&fast, id), all_values(&slow, id));
    let reloaded = AutoCommit::load(&fast.save()).unwrap();
    assert_eq!(person(&reloaded, id), person(&slow, id));
    assert_eq!(resolved(&index), resolved(&FieldIndex::build(&mut fast)));
    loaded_edit(&mut slow, id, g);
    let outcome = indexed_edit(&mut index, &mut fast, id, g);
    assert!(matches!(outcome, "change" | "unchanged"), "{outcome}");
    assert_eq!(seq_values(&fast, id), seq_values(&slow, id));
    assert_eq!(all_values(&fast, id), all_values(&slow, id));
    assert_eq!(resolved(&index), resolved(&FieldIndex::build(&mut fast)));
    true
}

type Edit = Box<dyn Fn(&mut Person)>;

fn list_and_text_edits() -> Vec<Edit> {
    vec![
        Box::new(|p| p.tags.push("cfo".into())),
        Box::new(|p| p.tags.insert(0, "first".into())),
        Box::new(|p| p.tags.insert(1, "middle".into())),
        Box::new(|p| {
            p.tags.remove(0);
        }),
        Box::new(|p| p.tags.clear()),
        Box::new(|p| p.tags.reverse()),
        Box::new(|p| p.tags = vec!["x".into(), "y".into(), "z".into()]),
        Box::new(|p| {
            p.influences
                .push(RecordId::from("0123456789abcdef".to_string()))
        }),
        Box::new(|p| p.notes.append("second paragraph")),
        Box::new(|p| p.notes.set("met at the spring fair")),
        Box::new(|p| p.notes.set("")),
        Box::new(|p| {
            p.notes.append("é ü 🎉");
            p.tags.push("both".into());
            p.title = Some("CFO".into());
        }),
    ]
}

#[test]
fn list_and_text_edits_equal_loaded_edits() {
    let (base, id) = ada_with(&["board", "sponsor"], "met at the fair");
    let then: Edit = Box::new(|p| {
        p.tags.push("later".into());
        p.notes.append("later");
    });
    for f in list_and_text_edits() {
        assert!(same_as_loaded(&base, &id, &f, &then));
    }
}

#[test]
fn elements_put_over_are_named_by_their_insertion() {
    let (mut base, id) = ada_with(&["board", "sponsor", "cfo"], "met at the fair");
    let obj = person_obj(&base, &id);
    // As another client writes `doc.tags[0] = ...`: values put over
    // elements, so their values' ids are no longer their own.
    for (field, at, value) in [("tags", 0, "chair"), ("tags", 2, "cto"), ("notes", 0, "M")] {
        let (_, seq) = base.get(&obj, field).unwrap().unwrap();
        base.put(&seq, at, value).unwrap();
    }
    base.commit();
    assert_eq!(person(&base, &id).tags, ["chair", "sponsor", "cto"]);
    let then: Edit = Box::new(|p| {
        p.tags.insert(p.tags.len().min(1), "after".into());
        p.notes.set("Met");
    });
    for f in list_and_text_edits() {
        assert!(same_as_loaded(&base, &id, &f, &then));
    }
}

#[test]
fn a_conflict_is_settled_as_a_loaded_edit_settles_it() {
    let (mut base, id) = ada_with(&["board", "sponsor", "cfo"], "");
    let obj = person_obj(&base, &id);
    let (_, tags) = base.get(&obj, "tags").unwrap().unwrap();
    // As another client writes `doc.tags[0] = ...`: a value put over
    // the element, so its value's id is no longer its own.
    base.put(&tags, 0, "chair").unwrap();
    base.commit();
    // And two teammates putting over the same element at once.
    let mut other = base.clone().with_actor(automerge::ActorId::random());
    base.put(&tags, 1, "exec").unwrap();
    base.commit();
    other.put(&tags, 1, "owner").unwrap();
    other.commit();
    base.merge(&mut other).unwrap();
    assert_eq!(base.get_all(&tags, 1).unwrap().len(), 2);
    // A loaded edit settles the element on the winning value whatever
    // it changes; through the index, only an edit that writes over
    // that element goes (it settles it too), and the rest load.
    let then: Edit = Box::new(|p| p.tags.insert(p.tags.len().min(1), "after".into()));
    let mut written = Vec::new();
    for (i, f) in list_and_text_edits().iter().enumerate() {
        if same_as_loaded(&base, &id, f, &then) {
            written.push(i);
        }
    }
    // Clearing, reversing, replacing all.
    assert_eq!(written, [4, 5, 6]);
    // The same for a field in conflict.
    let mut other = base.clone().with_actor(automerge::ActorId::random());
    loaded_edit(&mut base, &id, |p| p.title = Some("CTO".into()));
    loaded_edit(&mut other, &id, |p| p.title = Some("CEO".into()));
    base.merge(&mut other).unwrap();
    let set_title: Edit = Box::new(|p| p.title = Some("Chair".into()));
    let set_email: Edit = Box::new(|p| p.email = Some("ada@acme.test".into()));
    let clear: Edit = Box::new(|p| p.tags.clear());
    assert!(!same_as_loaded(&base, &id, &set_email, &then));
    assert!(!same_as_loaded(&base, &id, &clear, &then));
    let both: Edit = Box::new(|p| {
        p.title = Some("Chair".into());
        p.tags.clear();
    });
    assert!(same_as_loaded(&base, &id, &both, &set_title));
}

/// A step of [`random_list_and_text_edits_equal_loaded_edits`].
#[derive(Debug, Clone)]
enum Step {
    Push(String),
    Insert(usize, String),
    Remove(usize),
    Replace(usize, String),
    Clear,
    Append(String),
    SetNotes(String),
    Title(String),
    /// Another client's `doc.tags[i] = ...` (a put over an element),
    /// synced in: the index is then rebuilt, as after any load.
    PutOver(usize, String),
}

fn step() -> impl proptest::strategy::Strategy<Value = Step> {
    use proptest::prelude::*;
    let word = prop::sample::select(vec!["a", "b", "board", "é", "größer", "🎉", "x y"])
        .prop_map(str::to_string);
    prop_oneof![
        word.clone().prop_map(Step::Push),
        (0..4usize, word.clone()).prop_map(|(i, w)| Step::Insert(i, w)),
        (0..4usize).prop_map(Step::Remove),
        (0..4usize, word.clone()).prop_map(|(i, w)| Step::Replace(i, w)),
        Just(Step::Clear),
        word.clone().prop_map(Step::Append),
        prop::collection::vec(word.clone(), 0..3).prop_map(|w| Step::SetNotes(w.join(" "))),
        word.clone().prop_map(Step::Title),
        (0..4usize, word).prop_map(|(i, w)| Step::PutOver(i, w)),
    ]
}

fn edit_of(step: &Step) -> impl Fn(&mut Person) + '_ {
    move |p: &mut Person| match step {
        Step::Push(w) => p.tags.push(w.clone()),
        Step::Insert(i, w) => p.tags.insert((*i).min(p.tags.len()), w.clone()),
        Step::Remove(i) if *i < p.tags.len() => {
            p.tags.remove(*i);
        }
        Step::Replace(i, w) if *i < p.tags.len() => p.tags[*i] = w.clone(),
        Step::Clear => p.tags.clear(),
        Step::Append(w) => p.notes.append(w),
        Step::SetNotes(w) => p.notes.set(w),
        Step::Title(w) => p.title = Some(w.clone()),
        _ => {}
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Random edits of a person's tags, notes and title, each made
    /// through the index (or loaded, where it says so, as the CLI
    /// does) and, on a copy, loaded: the two documents hold the same
    /// values at every step, and the index kept up to date equals one
    /// built afresh.
    #[test]
    fn random_list_and_text_edits_equal_loaded_edits(
        tags in proptest::collection::vec("[a-c]", 0..4),
        steps in proptest::collection::vec(step(), 1..10),
    ) {
        let mut p = Person::named("Ada");
        p.tags = tags;
        p.notes = Notes::new("met at the fair");
        let (base, id) = account(&p);
        let mut slow = base.clone();
        let mut fast = base;
        let mut index = FieldIndex::build(&mut fast);
        for step in &steps {
            if let Step::PutOver(i, w) = step {
                for d in [&mut slow, &mut fast] {
                    let obj = person_obj(d, &id);
                    let (_, tags) = d.get(&obj, "tags").unwrap().unwrap();
                    if *i < d.length(&tags) {
                        d.put(&tags, *i, w.as_str()).unwrap();
                        d.commit();
                    }
                }
                index = FieldIndex::build(&mut fast);
                continue;
            }
            let f = edit_of(step);
            loaded_edit(&mut slow, &id, &f);
            if indexed_edit(&mut index, &mut fast, &id, &f) == "unsupported" {
                loaded_edit(&mut fast, &id, &f);
                index = FieldIndex::build(&mut fast);
            }
            proptest::prop_assert_eq!(person(&fast, &id), person(&slow, &id), "{:?}", step);
            proptest::prop_assert_eq!(seq_values(&fast, &id), seq_values(&slow, &id));
            proptest::prop_assert_eq!(all_values(&fast, &id), all_values(&slow, &id));
        }
        proptest::prop_assert_eq!(resolved(&index), resolved(&FieldIndex::build(&mut fast)));
        let reloaded = AutoCommit::load(&fast.save()).unwrap();
        proptest::prop_assert_eq!(person(&reloaded, &id), person(&slow, &id));
    }
}

#[test]
fn a_concurrent_edit_of_the_same_list_merges() {
    let (base, id) = ada_with(&["board"], "met at the fair");
    let mut teammate = base.clone().with_actor(automerge::ActorId::random());
    loaded_edit(&mut teammate, &id, |p| {
        p.tags.push("sponsor".into());
        p.notes.set("met at the big fair");
    });
    let mut fast = base.clone();
    let mut index = FieldIndex::build(&mut fast);
    let f = |p: &mut Person| {
        p.tags.push("cfo".into());
        p.notes.append("likes golf");
    };
    assert_eq!(indexed_edit(&mut index, &mut fast, &id, f), "change");
    fast.merge(&mut teammate).unwrap();
    let p = person(&fast, &id);
    let mut tags = p.tags.clone();
    tags.sort();
    assert_eq!(tags, ["board", "cfo", "sponsor"]);
    assert_eq!(p.notes.as_str(), "met at the big fair\nlikes golf");
}

/// A record the real document holds otherwise than the record's type
/// writes it: a loaded edit rewrites it whole (dropping the null,
/// adding the missing key, turning the string into a text, deleting
/// the unknown key), so every edit of it loads, and the loaded edit
/// indeed changes more than the field edited.
#[test]
fn a_record_held_otherwise_than_written_is_left_to_a_load() {
    let (base, id) = ada_with(&["board"], "met at the fair");
    type Raw = Box<dyn Fn(&mut AutoCommit, &automerge::ObjId)>;
    let oddities: Vec<(&str, Raw)> = vec![
        (
            "a null in a list",
            Box::new(|d, obj| {
                let (_, tags) = d.get(obj, "tags").unwrap().unwrap();
                d.insert(&tags, 0, automerge::ScalarValue::Null).unwrap();
            }),
        ),
        (
            "a key missing",
            Box::new(|d, obj| d.delete(obj, "phone").unwrap()),
        ),
        (
            "a plain string for a text",
            Box::new(|d, obj| d.put(obj, "notes", "met at the fair").unwrap()),
        ),
        (
            "a null for a flag",
            Box::new(|d, obj| {
                d.put(obj, "archived", automerge::ScalarValue::Null)
                    .unwrap()
            }),
        ),
        (
            "a text item in a list",
            Box::new(|d, obj| {
                let (_, tags) = d.get(obj, "tags").unwrap().unwrap();
                let item = d.insert_object(&tags, 0, automerge::ObjType::Text).unwrap();
                d.splice_text(&item, 0, 0, "vip").unwrap();
            }),
        ),
    ];
    for (what, oddity) in oddities {
        let mut d = base.clone();
        let obj = person_obj(&d, &id);
        oddity(&mut d, &obj);
        d.commit();
        let mut slow = d.clone();
        loaded_edit(&mut slow, &id, |p| p.title = Some("CTO".into()));
        let mut title_only = d.clone();
        title_only.put(&obj, "title", "CTO").unwrap();
        title_only.commit();
        assert_ne!(
            dump(&slow, &obj),
            dump(&title_only, &obj),
            "{what}: the loaded edit rewrote only the title"
        );
        let mut index = FieldIndex::build(&mut d);
        for f in [
            &(|p: &mut Person| p.title = Some("CTO".into())) as &dyn Fn(&mut Person),
            &|p: &mut Person| p.tags.push("cfo".into()),
            &|p: &mut Person| p.notes.append("more"),
        ] {
            assert_eq!(
                indexed_edit(&mut index, &mut d, &id, f),
                "unsupported",
                "{what}"
            );
        }
    }
    // A text with a formatting mark (another client's rich text): where
    // an insertion goes next to a mark is automerge's to say, so an
    // edit of the text loads; other edits go through.
    let mut d = base.clone();
    let obj = person_obj(&d, &id);
    let (_, notes) = d.get(&obj, "notes").unwrap().unwrap();
    let mark = automerge::marks::Mark::new("bold".into(), true, 0, 3);
    d.mark(&notes, mark, automerge::marks::ExpandMark::None)
        .unwrap();
    d.commit();
    let mut index = FieldIndex::build(&mut d);
    assert_eq!(
        indexed_edit(&mut index, &mut d, &id, |p| p.notes.append("more")),
        "unsupported"
    );
    let f: Edit = Box::new(|p| p.title = Some("CTO".into()));
    let g: Edit = Box::new(|p| p.tags.push("cfo".into()));
    assert!(same_as_loaded(&d, &id, &f, &g));
    // A key the record's type does not know (another client's): a
    // loaded edit leaves it, and so does one through the index.
    let mut d = base.clone();
    let obj = person_obj(&d, &id);
    d.put(&obj, "nickname", "Addie").unwrap();
    d.commit();
    let f: Edit = Box::new(|p| {
        p.title = Some("CTO".into());
        p.tags.push("cfo".into());
    });
    let g: Edit = Box::new(|p| p.notes.append("more"));
    assert!(same_as_loaded(&d, &id, &f, &g));
    // Two lists under one key (a conflict): which one an edit meant is
    // for the loaded document to say.
    let mut a = base.clone();
    let mut b = base.clone().with_actor(automerge::ActorId::random());
    for (d, tag) in [(&mut a, "x"), (&mut b, "y")] {
        let obj = person_obj(d, &id);
        let list = d
            .put_object(&obj, "tags", automerge::ObjType::List)
            .unwrap();
        d.insert(&list, 0, tag).unwrap();
        d.commit();
    }
    a.merge(&mut b).unwrap();
    let mut index = FieldIndex::build(&mut a);
    assert_eq!(
        indexed_edit(&mut index, &mut a, &id, |p| p.tags.push("cfo".into())),
        "unsupported"
    );
}

/// Records in the document's first change (as `rapport demo` writes
/// them), edited through the index, then a record appended on that
/// first change: the index must keep the edited records as they are
/// now, not as the first change had them, or the next edit would
/// supersede the first change's values and leave the edit's own in
/// conflict.
#[test]
fn an_append_keeps_what_the_index_knows_of_the_first_change_records() {
    let mut d = AutoCommit::new();
    doc::init_account(&mut d, &Account::named("Acme")).unwrap();
    let id = RecordId::random();
    let mut p = Person::named("Ada");
    p.tags = vec!["board".into()];
    doc::put_record(&mut d, Collection::People, &id, &p).unwrap();
    d.commit();
    let mut index = FieldIndex::build(&mut d);
    let f = |p: &mut Person| {
        p.title = Some("A".into());
        p.tags = vec!["cfo".into()];
    };
    assert_eq!(indexed_edit(&mut index, &mut d, &id, f), "change");
    // As `Workspace::append` adds a record: on the first change alone.
    let first = d
        .get_changes(&[])
        .into_iter()
        .find(|c| c.deps().is_empty())
        .unwrap();
    let mut base = AutoCommit::load(first.raw_bytes()).unwrap();
    let since = base.get_heads();
    doc::put_record(
        &mut base,
        Collection::People,
        &RecordId::random(),
        &Person::named("Bo"),
    )
    .unwrap();
    base.commit();
    let change = base.get_changes(&since).pop().unwrap();
    let file = index.to_file(vec!["a".into()]).unwrap();
    d.apply_changes([change.clone()]).unwrap();
    index.appended(base.document(), &change);
    assert_eq!(resolved(&index), resolved(&FieldIndex::build(&mut d)));
    let appended = super::append_to_file(
        &file,
        &["a".into()],
        vec!["a".into(), "b".into()],
        base.document(),
        std::slice::from_ref(&change),
    )
    .unwrap();
    let mut from_file = FieldIndex::from_file(&appended, &["a".into(), "b".into()]).unwrap();
    assert_eq!(resolved(&from_file), resolved(&index));
    let g = |p: &mut Person| {
        p.title = Some("B".into());
        p.tags.push("exec".into());
    };
    assert_eq!(indexed_edit(&mut from_file, &mut d, &id, g), "change");
    let values = all_values(&d, &id);
    let title = values.iter().find(|(k, _)| k == "title").unwrap();
    assert_eq!(title.1.len(), 1, "no conflict: {title:?}");
    assert_eq!(person(&d, &id).tags, ["cfo", "exec"]);
}

#[test]
fn unknown_records_and_failed_edits_write_nothing() {
    let p = Person::named("Ada");
    let (base, id) = account(&p);
    let mut d = base.clone();
    let mut index = FieldIndex::build(&mut d);
    let heads = d.get_heads();
    assert_eq!(
        indexed_edit(&mut index, &mut d, &id, |p| p.name = "Ada".into()),
        "unchanged"
    );
    let other = RecordId::random();
    let edited = edit(
        &mut index,
        Collection::People,
        &other,
        &p,
        |_: &mut Person| Ok::<_, ()>(()),
    );
    assert!(matches!(edited, Ok(Edited::Unsupported)));
    // The edit's own error comes back, and nothing changed.
    let edited = edit(&mut index, Collection::People, &id, &p, |_: &mut Person| {
        Err::<(), _>("no")
    });
    assert!(matches!(edited, Err(EditError::Edit("no"))));
    assert_eq!(d.get_heads(), heads);
    assert_eq!(resolved(&index), resolved(&FieldIndex::build(&mut d)));
}

#[test]
fn records_appended_on_the_first_change_are_indexed() {
    let (mut d, id) = account(&Person::named("Ada"));
    let mut index = FieldIndex::build(&mut d);
    // As `Workspace::append` adds a record: on the first change alone.
    let first = d
        .get_changes(&[])
        .into_iter()
        .find(|c| c.deps().is_empty())
        .unwrap()
        .raw_bytes()
        .to_vec();
    let mut base = AutoCommit::load(&first).unwrap();
    let since = base.get_heads();
    let new = RecordId::random();
    doc::put_record(&mut base, Collection::People, &new, &Person::named("Bo")).unwrap();
    base.commit();
    let change = base.get_changes(&since).pop().unwrap();
    let file = index.to_file(vec!["a".into()]).unwrap();
    d.apply_changes([change.clone()]).unwrap();
    index.appended(base.document(), &change);
    assert_eq!(resolved(&index), resolved(&FieldIndex::build(&mut d)));
    // The same, done to the file without decoding its records.
    let after = vec!["a".into(), "b".into()];
    let appended = super::append_to_file(
        &file,
        &["a".into()],
        after.clone(),
        base.document(),
        std::slice::from_ref(&change),
    );
    let from_file = FieldIndex::from_file(&appended.unwrap(), &after).unwrap();
    assert_eq!(resolved(&from_file), resolved(&index));
    assert!(
        super::append_to_file(
            &file,
            &after,
            after.clone(),
            base.document(),
            std::slice::from_ref(&change),
        )
        .is_none()
    );
    // Both people can now be edited through the index.
    for who in [&id, &new] {
        let f = |p: &mut Person| p.title = Some("CTO".into());
        assert_eq!(indexed_edit(&mut index, &mut d, who, f), "change");
        assert_eq!(person(&d, who).title.as_deref(), Some("CTO"));
    }
    assert_eq!(resolved(&index), resolved(&FieldIndex::build(&mut d)));
}

/// Every value under `obj`, conflicts included, as text: maps by key,
/// lists and texts by position.
fn dump(d: &AutoCommit, obj: &automerge::ObjId) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let values = |prop: automerge::Prop| {
        let mut all: Vec<String> = d
            .get_all(obj, prop)
            .unwrap()
            .into_iter()
            .map(|(v, id)| match v {
                automerge::Value::Object(_) => dump(d, &id),
                automerge::Value::Scalar(s) => format!("{s}"),
            })
            .collect();
        all.sort();
        all.join(" | ")
    };
    match d.object_type(obj).unwrap() {
        automerge::ObjType::Map | automerge::ObjType::Table => {
            for k in d.keys(obj) {
                let _ = write!(out, "{k}: [{}], ", values(k.as_str().into()));
            }
            format!("{{{out}}}")
        }
        _ => {
            for i in 0..d.length(obj) {
                let _ = write!(out, "[{}], ", values(i.into()));
            }
            format!("[{out}]")
        }
    }
}

fn opp_of(d: &AutoCommit, id: &RecordId) -> Opportunity {
    let mut read = doc::read_records(d, Collection::Opportunities, std::slice::from_ref(id));
    read.as_mut().and_then(Vec::pop).unwrap().1
}

fn opp_dump(d: &AutoCommit, id: &RecordId) -> String {
    let (_, opps) = d.get(ROOT, "opportunities").unwrap().unwrap();
    let (_, obj) = d.get(&opps, id.as_str()).unwrap().unwrap();
    dump(d, &obj)
}

fn loaded_opp_edit(d: &mut AutoCommit, id: &RecordId, f: &dyn Fn(&mut Opportunity)) {
    let mut o = opp_of(d, id);
    f(&mut o);
    doc::put_record(d, Collection::Opportunities, id, &o).unwrap();
    d.commit();
}

/// `f` through the index on `fast` (applied there) and loaded on
/// `slow`: whether the index wrote it, after checking the two agree.
fn opp_edits_agree(
    index: &mut FieldIndex,
    fast: &mut AutoCommit,
    slow: &mut AutoCommit,
    id: &RecordId,
    f: &dyn Fn(&mut Opportunity),
) -> bool {
    loaded_opp_edit(slow, id, f);
    let old = opp_of(fast, id);
    let edited = edit(index, Collection::Opportunities, id, &old, |o| {
        f(o);
        Ok::<_, ()>(())
    });
    let written = match edited {
        Ok(Edited::Change { change, record, .. }) => {
            let stored = automerge::Change::from_bytes(change.raw_bytes().to_vec()).unwrap();
            fast.apply_changes([stored]).unwrap();
            assert_eq!(opp_of(fast, id), record);
            true
        }
        Ok(Edited::Unchanged { .. }) => true,
        Ok(Edited::Unsupported) => {
            loaded_opp_edit(fast, id, f);
            *index = FieldIndex::build(fast);
            false
        }
        Err(_) => panic!("the edit failed"),
    };
    assert_eq!(opp_of(fast, id), opp_of(slow, id));
    assert_eq!(opp_dump(fast, id), opp_dump(slow, id));
    assert_eq!(resolved(index), resolved(&FieldIndex::build(fast)));
    let reloaded = AutoCommit::load(&fast.save()).unwrap();
    assert_eq!(opp_of(&reloaded, id), opp_of(slow, id));
    written
}

fn player(role: usize, preference: Option<Preference>) -> KeyPlayer {
    KeyPlayer {
        role: BuyingRole::ALL[role % BuyingRole::ALL.len()],
        preference,
    }
}

#[test]
fn key_players_are_added_changed_and_removed_through_the_index() {
    let (ada, bo) = (
        RecordId::from("ada".to_string()),
        RecordId::from("bo".to_string()),
    );
    let mut d = AutoCommit::new();
    doc::init_account(&mut d, &Account::named("Acme")).unwrap();
    d.commit();
    let id = RecordId::random();
    let mut o = Opportunity::new("Deal", None);
    o.players.insert(ada.clone(), player(0, None));
    doc::put_record(&mut d, Collection::Opportunities, &id, &o).unwrap();
    d.commit();
    let mut slow = d.clone();
    let mut fast = d;
    let mut index = FieldIndex::build(&mut fast);
    type OppEdit = Box<dyn Fn(&mut Opportunity)>;
    let edits: Vec<OppEdit> = vec![
        Box::new(|o| {
            o.players
                .insert(RecordId::from("bo".to_string()), player(1, None));
        }),
        Box::new(|o| {
            if let Some(p) = o.players.get_mut(&RecordId::from("ada".to_string())) {
                p.role = BuyingRole::ALL[2];
                p.preference = Some(Preference::Supporter);
            }
        }),
        Box::new(|o| {
            o.players.remove(&RecordId::from("ada".to_string()));
            o.title = "Big deal".into();
        }),
        Box::new(|o| {
            o.players.insert(
                RecordId::from("ada".to_string()),
                player(3, Some(Preference::Mentor)),
            );
        }),
        Box::new(|o| o.players.clear()),
    ];
    for f in &edits {
        assert!(opp_edits_agree(
            &mut index,
            &mut fast,
            &mut slow,
            &id,
            f.as_ref()
        ));
    }
    assert!(opp_of(&fast, &id).players.is_empty());

    // A conflict inside a player: an edit that writes over it goes
    // through the index, one that leaves it loads (a loaded edit
    // settles it).
    for f in &edits[..2] {
        assert!(opp_edits_agree(
            &mut index,
            &mut fast,
            &mut slow,
            &id,
            f.as_ref()
        ));
    }
    let mut other = slow.clone().with_actor(automerge::ActorId::random());
    let set_role = |role: usize| -> OppEdit {
        Box::new(move |o| {
            if let Some(p) = o.players.get_mut(&RecordId::from("bo".to_string())) {
                p.role = BuyingRole::ALL[role];
            }
        })
    };
    loaded_opp_edit(&mut slow, &id, set_role(3).as_ref());
    loaded_opp_edit(&mut other, &id, set_role(4).as_ref());
    slow.merge(&mut other).unwrap();
    let mut fast = slow.clone();
    let mut index = FieldIndex::build(&mut fast);
    assert!(opp_dump(&fast, &id).contains(" | "), "a conflict");
    let retitle: OppEdit = Box::new(|o| o.title = "Deal 2".into());
    assert!(!opp_edits_agree(
        &mut index,
        &mut fast,
        &mut slow,
        &id,
        retitle.as_ref()
    ));
    // The load settled it; make it again and write over it.
    let mut other = slow.clone().with_actor(automerge::ActorId::random());
    loaded_opp_edit(&mut slow, &id, set_role(3).as_ref());
    loaded_opp_edit(&mut other, &id, set_role(4).as_ref());
    slow.merge(&mut other).unwrap();
    let mut fast = slow.clone();
    let mut index = FieldIndex::build(&mut fast);
    assert!(opp_edits_agree(
        &mut index,
        &mut fast,
        &mut slow,
        &id,
        set_role(0).as_ref()
    ));
    let _ = bo;
}

/// An account document's own record, at the root, edited through the
/// index as `account edit` does, equals the loaded edit.
#[test]
fn the_account_record_is_edited_through_the_index() {
    let mut a = Account::named("Acme");
    a.notes = Notes::new("Prefers email");
    let mut d = AutoCommit::new();
    doc::init_account(&mut d, &a).unwrap();
    d.commit();
    let mut slow = d.clone();
    let mut fast = d;
    let mut index = FieldIndex::build(&mut fast);
    let account = |d: &AutoCommit| DocData::read(d, Parts::NONE).unwrap().account.unwrap();
    let root = |d: &AutoCommit| {
        let (_, obj) = d.get(ROOT, "account").unwrap().unwrap();
        dump(d, &obj)
    };
    type AccountEdit = Box<dyn Fn(&mut Account)>;
    let edits: Vec<AccountEdit> = vec![
        Box::new(|a| a.industry = Some("logistics".into())),
        Box::new(|a| {
            a.name = "Acme Corp".into();
            a.target = true;
            a.notes.append("café at nine 🎉");
        }),
        Box::new(|a| a.industry = None),
    ];
    for f in &edits {
        let old = account(&fast);
        let edited = super::edit_account(&mut index, &old, |a| {
            f(a);
            Ok::<_, ()>(())
        });
        let Ok(Edited::Change { change, record, .. }) = edited else {
            panic!("not written through the index");
        };
        fast.apply_changes([*change]).unwrap();
        assert_eq!(account(&fast), record);
        let mut a = account(&slow);
        f(&mut a);
        doc::put_account(&mut slow, &a).unwrap();
        slow.commit();
        assert_eq!(account(&fast), account(&slow));
        assert_eq!(root(&fast), root(&slow));
        assert_eq!(resolved(&index), resolved(&FieldIndex::build(&mut fast)));
    }
    // The root holds one record, the account.
    assert_eq!(index.records[super::ROOT_SLOT].len(), 1);
    // A score another client wrote as a signed integer: a loaded edit
    // writes it again as Rapport does (unsigned), so the edit loads.
    let (_, obj) = fast.get(ROOT, "account").unwrap().unwrap();
    fast.put(&obj, "icp_score", automerge::ScalarValue::Int(4))
        .unwrap();
    fast.commit();
    let mut index = FieldIndex::build(&mut fast);
    let old = account(&fast);
    assert_eq!(old.icp_score, Some(4));
    let edited = super::edit_account(&mut index, &old, |a| {
        a.domain = Some("acme.test".into());
        Ok::<_, ()>(())
    });
    assert!(matches!(edited, Ok(Edited::Unsupported)));
}

#[test]
fn an_index_file_is_read_only_whole_and_for_its_chunks() {
    let (mut d, _) = account(&Person::named("Ada"));
    let index = FieldIndex::build(&mut d);
    let chunks = vec!["incremental/x".to_string(), "snapshot/y".to_string()];
    let file = index.to_file(chunks.clone()).unwrap();
    // (Read back, it names no cold file, as built it had none.)
    let read = FieldIndex::from_file(&file, &chunks).unwrap();
    assert_eq!(
        (read.records, read.actors, read.keys),
        (index.records, index.actors, index.keys)
    );
    assert_eq!(FieldIndex::from_file(&file, &chunks[..1]), None);
    for at in 0..file.len() {
        let mut damaged = file.clone();
        damaged[at] ^= 0x01;
        assert_eq!(FieldIndex::from_file(&damaged, &chunks), None, "byte {at}");
    }
    for len in 0..file.len() {
        assert_eq!(
            FieldIndex::from_file(&file[..len], &chunks),
            None,
            "{len} bytes"
        );
    }
}

/// A step of [`random_key_player_edits_equal_loaded_edits`].
#[derive(Debug, Clone)]
enum OppStep {
    Add(usize, usize, Option<usize>),
    Remove(usize),
    Role(usize, usize),
    Title(String),
    Notes(String),
    Value(Option<i64>),
}

fn opp_step() -> impl proptest::strategy::Strategy<Value = OppStep> {
    use proptest::prelude::*;
    let who = 0..4usize;
    let role = 0..6usize;
    let pref = proptest::option::of(0..5usize);
    let word =
        prop::sample::select(vec!["Deal", "Big deal", "é", "🎉 deal"]).prop_map(str::to_string);
    prop_oneof![
        (who.clone(), role.clone(), pref).prop_map(|(w, r, p)| OppStep::Add(w, r, p)),
        who.clone().prop_map(OppStep::Remove),
        (who, role).prop_map(|(w, r)| OppStep::Role(w, r)),
        word.clone().prop_map(OppStep::Title),
        word.prop_map(OppStep::Notes),
        proptest::option::of(0..1_000_000i64).prop_map(OppStep::Value),
    ]
}

fn player_id(i: usize) -> RecordId {
    RecordId::from(format!("p{i}"))
}

const PREFERENCES: [Preference; 5] = [
    Preference::Enemy,
    Preference::NonSupporter,
    Preference::Neutral,
    Preference::Supporter,
    Preference::Mentor,
];

fn opp_edit_of(step: &OppStep) -> impl Fn(&mut Opportunity) + '_ {
    move |o: &mut Opportunity| match step {
        OppStep::Add(w, r, p) => {
            o.players
                .insert(player_id(*w), player(*r, p.map(|p| PREFERENCES[p])));
        }
        OppStep::Remove(w) => {
            o.players.remove(&player_id(*w));
        }
        OppStep::Role(w, r) => {
            if let Some(p) = o.players.get_mut(&player_id(*w)) {
                p.role = BuyingRole::ALL[*r % BuyingRole::ALL.len()];
            }
        }
        OppStep::Title(t) => o.title = t.clone(),
        OppStep::Notes(n) => o.notes.set(n),
        OppStep::Value(v) => o.value = *v,
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    /// Random edits of an opportunity's key players (a map of maps), title,
    /// notes and value, on a document where teammates may have left
    /// conflicts (in a player's role, in the title) before: each made
    /// through the index (or loaded where it says so) and loaded on a
    /// copy, with the same values, conflicts included, at every step, and
    /// the index kept up to date equal to one rebuilt.
    #[test]
    fn random_key_player_edits_equal_loaded_edits(
        start in proptest::collection::vec((0..4usize, 0..6usize), 0..4),
        conflict_role in proptest::option::of(0..4usize),
        conflict_title in proptest::bool::ANY,
        steps in proptest::collection::vec(opp_step(), 1..10),
    ) {
        let mut d = AutoCommit::new();
        doc::init_account(&mut d, &Account::named("Acme")).unwrap();
        d.commit();
        let id = RecordId::random();
        let mut o = Opportunity::new("Deal", None);
        for (w, r) in &start {
            o.players.insert(player_id(*w), player(*r, None));
        }
        doc::put_record(&mut d, Collection::Opportunities, &id, &o).unwrap();
        d.commit();
        // Teammates' concurrent edits, merged: conflicts both copies share.
        let mut a = d.clone().with_actor(automerge::ActorId::random());
        let mut b = d.clone().with_actor(automerge::ActorId::random());
        for (doc, role, title) in [(&mut a, 1, "Deal A"), (&mut b, 2, "Deal B")] {
            let f = |o: &mut Opportunity| {
                if let Some(w) = conflict_role
                    && let Some(p) = o.players.get_mut(&player_id(w))
                {
                    p.role = BuyingRole::ALL[role];
                }
                if conflict_title {
                    o.title = title.into();
                }
            };
            loaded_opp_edit(doc, &id, &f);
        }
        d.merge(&mut a).unwrap();
        d.merge(&mut b).unwrap();
        let mut slow = d.clone();
        let mut fast = d;
        let mut index = FieldIndex::build(&mut fast);
        for step in &steps {
            let f = opp_edit_of(step);
            loaded_opp_edit(&mut slow, &id, &f);
            let old = opp_of(&fast, &id);
            let edited = edit(&mut index, Collection::Opportunities, &id, &old, |o| {
                f(o);
                Ok::<_, ()>(())
            });
            match edited {
                Ok(Edited::Change { change, .. }) => {
                    let stored = automerge::Change::from_bytes(change.raw_bytes().to_vec()).unwrap();
                    fast.apply_changes([stored]).unwrap();
                }
                Ok(Edited::Unchanged { .. }) => {}
                Ok(Edited::Unsupported) => {
                    loaded_opp_edit(&mut fast, &id, &f);
                    index = FieldIndex::build(&mut fast);
                }
                Err(_) => panic!("the edit failed"),
            }
            proptest::prop_assert_eq!(opp_dump(&fast, &id), opp_dump(&slow, &id), "{:?}", step);
            proptest::prop_assert_eq!(opp_of(&fast, &id), opp_of(&slow, &id));
            proptest::prop_assert_eq!(resolved(&index), resolved(&FieldIndex::build(&mut fast)));
        }
        let reloaded = AutoCommit::load(&fast.save()).unwrap();
        proptest::prop_assert_eq!(opp_of(&reloaded, &id), opp_of(&slow, &id));
    }
}

/// A teammate's additions, received by sync and replayed on the first
/// change alone (`receive::rebase_additions`), keep the index as a
/// rebuild after applying them to the whole document would have it: the
/// records' operations are the real ones, the heads the real changes'.
#[test]
fn received_additions_keep_the_index() {
    let mut d = AutoCommit::new();
    doc::init_account(&mut d, &Account::named("Acme")).unwrap();
    d.commit();
    let genesis = d.save();
    let ada = RecordId::random();
    doc::put_record(&mut d, Collection::People, &ada, &Person::named("Ada")).unwrap();
    d.commit();
    let mut index = FieldIndex::build(&mut d);
    let mut theirs = d.clone().with_actor(automerge::ActorId::random());
    let since = theirs.get_heads();
    let mut bo = Person::named("Bo");
    bo.tags = vec!["cfo".into()];
    bo.notes = Notes::new("met at the fair");
    doc::put_record(&mut theirs, Collection::People, &RecordId::random(), &bo).unwrap();
    theirs.commit();
    let mut deal = Opportunity::new("Deal", None);
    deal.players
        .insert(ada.clone(), player(1, Some(Preference::ALL[0])));
    doc::put_record(
        &mut theirs,
        Collection::Opportunities,
        &RecordId::random(),
        &deal,
    )
    .unwrap();
    theirs.commit();
    let changes = theirs.get_changes(&since);
    assert_eq!(changes.len(), 2);
    let mut base = AutoCommit::load(&genesis).unwrap();
    crate::receive::rebase_additions(&mut base, &changes).unwrap();
    let file = index.to_file(vec!["a".into()]).unwrap();
    for change in &changes {
        index.appended(base.document(), change);
    }
    // The same, done to the file in one go without decoding its records.
    let after: Vec<String> = vec!["a".into(), "b".into(), "c".into()];
    let appended = super::append_to_file(
        &file,
        &["a".into()],
        after.clone(),
        base.document(),
        &changes,
    )
    .unwrap();
    let from_file = FieldIndex::from_file(&appended, &after).unwrap();
    d.apply_changes(changes).unwrap();
    let rebuilt = resolved(&FieldIndex::build(&mut d));
    assert_eq!(resolved(&index), rebuilt);
    assert_eq!(resolved(&from_file), rebuilt);
}

/// A teammate's plain edits, received by sync: the index says which
/// values they put (only where they supersede every value the field
/// holds), the record with those values set reads as on the whole
/// document, and the index kept up to date equals a rebuilt one.
#[test]
fn received_plain_edits_are_placed_only_where_they_supersede_the_field() {
    let mut p = Person::named("Ada");
    p.title = Some("CTO".into());
    let (mut d, id) = account(&p);
    // A conflict on the title, which both sides see.
    let mut a = d.clone().with_actor(automerge::ActorId::random());
    let mut b = d.clone().with_actor(automerge::ActorId::random());
    loaded_edit(&mut a, &id, |p| p.title = Some("CEO".into()));
    loaded_edit(&mut b, &id, |p| p.title = Some("CFO".into()));
    d.merge(&mut a).unwrap();
    d.merge(&mut b).unwrap();
    assert_eq!(d.get_all(person_obj(&d, &id), "title").unwrap().len(), 2);
    let mut index = FieldIndex::build(&mut d);
    // What a teammate who saw both sends, one change at a time: a plain
    // edit of the title (settling the conflict), a field set for the
    // first time, a plain edit over a field written once.
    let mut theirs = d.clone().with_actor(automerge::ActorId::random());
    let mut edits: Vec<Edit> = vec![
        Box::new(|p| p.title = Some("Chair".into())),
        Box::new(|p| p.email = Some("ada@acme.example".into())),
        Box::new(|p| p.title = Some("Chair of the board".into())),
    ];
    for f in edits.drain(..) {
        let since = theirs.get_heads();
        loaded_edit(&mut theirs, &id, f);
        let change = theirs.get_changes(&since).pop().unwrap();
        let puts = index.received_puts(&change).expect("plain puts");
        let mut mine = person(&d, &id);
        for put in &puts {
            assert_eq!((put.collection, &put.record), (Collection::People, &id));
            mine = doc::with_field(&mine, &put.key, &put.value).unwrap();
        }
        index.received(&change);
        d.apply_changes([change]).unwrap();
        let whole: Person = doc::read_records(&d, Collection::People, std::slice::from_ref(&id))
            .unwrap()
            .pop()
            .unwrap()
            .1;
        assert_eq!(mine, whole);
        assert_eq!(resolved(&index), resolved(&FieldIndex::build(&mut d)));
    }
    // Two puts at one field in one change, the second not naming the
    // first (no automerge writes that; another client might): both stay,
    // in conflict, so it is not placed.
    let mut t = d.clone().with_actor(automerge::ActorId::random());
    let since = t.get_heads();
    loaded_edit(&mut t, &id, |p| p.title = Some("Twice".into()));
    let once = t.get_changes(&since).pop().unwrap();
    let mut twice = once.decode();
    let mut second = twice.operations[0].clone();
    second.action = automerge::legacy::OpType::Put("Again".into());
    twice.operations.push(second);
    twice.hash = None;
    let twice = automerge::Change::from(twice);
    assert!(index.received_puts(&once).is_some());
    assert!(index.received_puts(&twice).is_none());
    let mut both = d.clone();
    both.apply_changes([twice]).unwrap();
    assert_eq!(
        both.get_all(person_obj(&both, &id), "title").unwrap().len(),
        2
    );
    // Not plain puts that supersede the field: a list edited, a title put
    // by someone who saw only one side of a new conflict, a record added.
    let refused = |d: &AutoCommit, index: &FieldIndex, f: &dyn Fn(&mut AutoCommit)| {
        let mut t = d.clone().with_actor(automerge::ActorId::random());
        let since = t.get_heads();
        f(&mut t);
        t.commit();
        let change = t.get_changes(&since).pop().unwrap();
        index.received_puts(&change).is_none()
    };
    assert!(refused(&d, &index, &|t| loaded_edit(t, &id, |p| p
        .tags
        .push("board".into()))));
    let mut other = d.clone().with_actor(automerge::ActorId::random());
    loaded_edit(&mut other, &id, |p| p.title = Some("Other".into()));
    let seen_one = d.clone();
    d.merge(&mut other).unwrap();
    let index = FieldIndex::build(&mut d);
    assert!(refused(&seen_one, &index, &|t| loaded_edit(t, &id, |p| {
        p.title = Some("Late".into())
    })));
    assert!(refused(&d, &index, &|t| {
        doc::put_record(
            t,
            Collection::People,
            &RecordId::random(),
            &Person::named("Bo"),
        )
        .unwrap();
    }));
}

/// What the index makes of a teammate's `change` to person `id`, read
/// from `view` (the person as this side's view has it): the person after
/// it, or `None` (the caller loads).
fn received_person(
    index: &mut FieldIndex,
    change: &automerge::Change,
    id: &RecordId,
    view: &Person,
) -> Option<Person> {
    let (collection, record) = index.received_record(change)?;
    assert_eq!((collection, &record), (Collection::People, id));
    index.receive_edit(change, collection, id, view)
}

/// A teammate's edits of lists, texts and fields, received one change at a
/// time with nothing new here: each is placed, reads as the document does
/// once it is applied, and leaves the index as a rebuilt one.
#[test]
fn received_list_and_text_edits_read_as_a_load_does() {
    let (mut d, id) = ada_with(&["board", "sponsor"], "met at the fair");
    let mut index = FieldIndex::build(&mut d);
    let mut theirs = d.clone().with_actor(automerge::ActorId::random());
    for (i, f) in list_and_text_edits().iter().enumerate() {
        let since = theirs.get_heads();
        loaded_edit(&mut theirs, &id, f);
        let Some(change) = theirs.get_changes(&since).pop() else {
            continue;
        };
        let view = read_person(&d, &id);
        let got = received_person(&mut index, &change, &id, &view);
        d.apply_changes([change]).unwrap();
        assert_eq!(got.as_ref(), Some(&read_person(&d, &id)), "edit {i}");
        assert_eq!(
            resolved(&index),
            resolved(&FieldIndex::build(&mut d)),
            "edit {i}"
        );
    }
    // A map's fields too: an opportunity's key players.
    let ada = RecordId::from("ada".to_string());
    let mut o = Opportunity::new("Deal", None);
    o.players.insert(ada.clone(), player(0, None));
    let opp = RecordId::random();
    doc::put_record(&mut d, Collection::Opportunities, &opp, &o).unwrap();
    d.commit();
    let mut index = FieldIndex::build(&mut d);
    let mut theirs = d.clone().with_actor(automerge::ActorId::random());
    type OppEdit = Box<dyn Fn(&mut Opportunity)>;
    let edits: Vec<OppEdit> = vec![
        Box::new(|o| {
            if let Some(p) = o.players.get_mut(&RecordId::from("ada".to_string())) {
                p.role = BuyingRole::ALL[2];
                p.preference = Some(Preference::Supporter);
            }
        }),
        Box::new(|o| {
            o.players
                .insert(RecordId::from("bo".to_string()), player(1, None));
        }),
        Box::new(|o| {
            o.players.remove(&RecordId::from("ada".to_string()));
            o.title = "Big deal".into();
        }),
    ];
    for (i, f) in edits.iter().enumerate() {
        let since = theirs.get_heads();
        loaded_opp_edit(&mut theirs, &opp, f.as_ref());
        let change = theirs.get_changes(&since).pop().unwrap();
        let view = opp_of(&d, &opp);
        let (collection, record) = index.received_record(&change).unwrap();
        assert_eq!((collection, &record), (Collection::Opportunities, &opp));
        let got = index.receive_edit(&change, collection, &opp, &view);
        d.apply_changes([change]).unwrap();
        assert_eq!(got, Some(opp_of(&d, &opp)), "opportunity edit {i}");
        assert_eq!(resolved(&index), resolved(&FieldIndex::build(&mut d)));
    }
}

/// What the index cannot place is refused: a change to two records, a
/// counter, and what another client could write that Rapport does not
/// (these would read otherwise than a load reads them, or leave an index
/// that no longer lines up with the document).
#[test]
fn received_edits_the_index_cannot_place_are_refused() {
    let (mut d, id) = ada_with(&["board"], "met at the fair");
    let bo = RecordId::random();
    doc::put_record(&mut d, Collection::People, &bo, &Person::named("Bo")).unwrap();
    d.commit();
    let index = FieldIndex::build(&mut d);
    let mut t = d.clone().with_actor(automerge::ActorId::random());
    let since = t.get_heads();
    let mut ada = read_person(&t, &id);
    ada.tags.push("two".into());
    doc::put_record(&mut t, Collection::People, &id, &ada).unwrap();
    let mut b = read_person(&t, &bo);
    b.tags.push("records".into());
    doc::put_record(&mut t, Collection::People, &bo, &b).unwrap();
    t.commit();
    let two = t.get_changes(&since).pop().unwrap();
    assert_eq!(index.received_record(&two), None);
    // A counter put in the person's map, then incremented.
    let mut t = d.clone().with_actor(automerge::ActorId::random());
    t.put(
        person_obj(&t, &id),
        "visits",
        automerge::ScalarValue::counter(1),
    )
    .unwrap();
    t.commit();
    let index = FieldIndex::build(&mut t);
    let since = t.get_heads();
    t.increment(person_obj(&t, &id), "visits", 1).unwrap();
    t.commit();
    let inc = t.get_changes(&since).pop().unwrap();
    let mut copy = index.clone();
    assert_eq!(
        received_person(&mut copy, &inc, &id, &read_person(&t, &id)),
        None
    );
    assert_eq!(copy, index, "a refused change leaves the index");

    // Another client's writing, one change each.
    let index = FieldIndex::build(&mut d);
    let view = read_person(&d, &id);
    let theirs = |f: &dyn Fn(&mut AutoCommit, &automerge::ObjId)| {
        let mut t = d.clone().with_actor(automerge::ActorId::random());
        let since = t.get_heads();
        let obj = person_obj(&t, &id);
        f(&mut t, &obj);
        t.commit();
        let change = t.get_changes(&since).pop().unwrap();
        (t, change)
    };
    let field =
        |t: &AutoCommit, obj: &automerge::ObjId, key: &str| t.get(obj, key).unwrap().unwrap().1;
    // A null among the tags; then a flag put to null beside a tag, which
    // autosurgeon would read as `false` where a load drops the person.
    let null_tag = theirs(&|t, obj| {
        let tags = field(t, obj, "tags");
        t.insert(&tags, 0, automerge::ScalarValue::Null).unwrap();
    });
    let null_flag = theirs(&|t, obj| {
        t.put(obj, "archived", automerge::ScalarValue::Null)
            .unwrap();
        let tags = field(t, obj, "tags");
        t.insert(&tags, 0, "new").unwrap();
    });
    assert_eq!(loaded_person(&null_flag.0, &id), None, "a load drops it");
    // Text elements of other than one character.
    let long_char = theirs(&|t, obj| {
        let notes = field(t, obj, "notes");
        t.put(&notes, 0, "MET").unwrap();
    });
    // A table (automerge's, which Rapport never writes and the index
    // does not follow).
    let table = theirs(&|t, obj| {
        t.put_object(obj, "extra", automerge::ObjType::Table)
            .unwrap();
    });
    let cases = [
        ("a null tag", null_tag.1),
        ("a null flag", null_flag.1),
        ("a long character", long_char.1),
        ("a table", table.1),
    ];
    for (what, change) in cases {
        let mut copy = index.clone();
        assert_eq!(
            received_person(&mut copy, &change, &id, &view),
            None,
            "{what}"
        );
        assert_eq!(copy, index, "{what}");
    }
    // An insertion that deletes (automerge shows no element for it).
    let (_, tag) = theirs(&|t, obj| {
        let tags = field(t, obj, "tags");
        t.insert(&tags, 0, "new").unwrap();
    });
    let mut odd = tag.decode();
    assert!(odd.operations[0].insert);
    odd.operations[0].action = automerge::legacy::OpType::Delete;
    let odd = automerge::Change::from(odd);
    let mut copy = index.clone();
    assert_eq!(received_person(&mut copy, &odd, &id, &view), None);
    assert_eq!(copy, index);
}

/// A step of [`received_edits_with_concurrent_ones_here_read_as_a_load_does`]:
/// an edit made here (then the index is rebuilt, as after a load), one
/// made by the teammate and received, or the teammate syncing what was
/// made here.
#[derive(Debug, Clone)]
enum Side {
    Mine(Step),
    Theirs(Step),
    TheySync,
}

fn side() -> impl proptest::strategy::Strategy<Value = Side> {
    use proptest::prelude::*;
    prop_oneof![
        step().prop_map(Side::Mine),
        step().prop_map(Side::Theirs),
        step().prop_map(Side::Theirs),
        Just(Side::TheySync),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Random edits of a person's tags, notes and title by a teammate,
    /// received while edits are made here too: what the index places
    /// reads as the document does once the change is applied, and the
    /// index kept up to date equals one built afresh; what it does not
    /// place leaves the index unchanged.
    #[test]
    fn received_edits_with_concurrent_ones_here_read_as_a_load_does(
        tags in proptest::collection::vec("[a-c]", 0..4),
        steps in proptest::collection::vec(side(), 1..12),
    ) {
        let mut p = Person::named("Ada");
        p.tags = tags;
        p.notes = Notes::new("met at the fair");
        let (mut mine, id) = account(&p);
        let mut theirs = mine.clone().with_actor(automerge::ActorId::random());
        let mut index = FieldIndex::build(&mut mine);
        for side in &steps {
            match side {
                Side::Mine(step) => {
                    if let Step::PutOver(..) = step {
                        continue;
                    }
                    loaded_edit(&mut mine, &id, edit_of(step));
                    index = FieldIndex::build(&mut mine);
                }
                Side::TheySync => {
                    theirs.merge(&mut mine).unwrap();
                }
                Side::Theirs(step) => {
                    let since = theirs.get_heads();
                    if let Step::PutOver(i, w) = step {
                        let obj = person_obj(&theirs, &id);
                        let (_, tags) = theirs.get(&obj, "tags").unwrap().unwrap();
                        if *i < theirs.length(&tags) {
                            theirs.put(&tags, *i, w.as_str()).unwrap();
                            theirs.commit();
                        }
                    } else {
                        loaded_edit(&mut theirs, &id, edit_of(step));
                    }
                    let Some(change) = theirs.get_changes(&since).pop() else {
                        continue;
                    };
                    let view = read_person(&mine, &id);
                    let before = index.clone();
                    let got = received_person(&mut index, &change, &id, &view);
                    mine.apply_changes([change]).unwrap();
                    match got {
                        Some(got) => {
                            proptest::prop_assert_eq!(&got, &read_person(&mine, &id), "{:?}", side);
                            proptest::prop_assert_eq!(
                                resolved(&index),
                                resolved(&FieldIndex::build(&mut mine))
                            );
                        }
                        None => {
                            proptest::prop_assert_eq!(&index, &before);
                            index = FieldIndex::build(&mut mine);
                        }
                    }
                }
            }
        }
    }
}

/// An account document with Ada and three activities with her, the
/// activities' ids.
fn ada_with_activities() -> (AutoCommit, Vec<RecordId>) {
    use rapport_core::enums::{ActivityKind, Direction};
    use rapport_core::model::Activity;
    let (mut d, ada) = account(&Person::named("Ada"));
    let ids: Vec<RecordId> = (0..3).map(|_| RecordId::random()).collect();
    for (i, id) in ids.iter().enumerate() {
        let a = Activity {
            date: rapport_core::Day::ymd(2026, 11, 1 + i as u32).unwrap(),
            people: vec![ada.clone()],
            kind: ActivityKind::Meeting,
            direction: Direction::Neutral,
            by: "kim".into(),
            notes: Notes::new(&format!("Met about plan {i}")),
            opportunity: None,
            archived: false,
        };
        doc::put_record(&mut d, Collection::Activities, id, &a).unwrap();
        d.commit();
    }
    (d, ids)
}

fn activity(d: &AutoCommit, id: &RecordId) -> rapport_core::model::Activity {
    doc::read_record(d, Collection::Activities, id)
        .unwrap()
        .unwrap()
}

/// `index` saved for `chunks`: the index file's bytes and the cold file's
/// (it must write one: built with the activity log).
fn saved_with_cold(index: &FieldIndex, chunks: &[String]) -> (Vec<u8>, Vec<u8>) {
    let files = index.to_files(chunks.to_vec()).unwrap();
    let ColdFile::Write(cold) = files.cold else {
        panic!("an index built with the activity log writes its cold file");
    };
    (files.index, cold)
}

/// What the index knows of activity `id`, resolved.
fn activity_entry(index: &FieldIndex, id: &RecordId) -> Option<(String, Vec<String>)> {
    resolved(index).2[ACTIVITIES].get(id).cloned()
}

#[test]
fn activity_edits_from_the_cold_file_equal_loaded_edits() {
    use rapport_core::enums::{ActivityKind, Direction};
    let (mut d, ids) = ada_with_activities();
    // Built plainly, the index has no activity, and saves no cold file.
    let plain = FieldIndex::build(&mut d);
    assert!(ids.iter().all(|id| !plain.has_activity(id)));
    assert!(matches!(
        plain.to_files(vec!["a".into()]).unwrap().cold,
        ColdFile::Remove
    ));
    let built = FieldIndex::build_with_activities(&mut d);
    assert!(ids.iter().all(|id| built.has_activity(id)));
    let chunks = vec!["a".to_string()];
    let (saved, cold) = saved_with_cold(&built, &chunks);
    let mut index = FieldIndex::from_file(&saved, &chunks).unwrap();
    assert!(!index.has_activity(&ids[1]));
    assert!(index.take_cold(&cold, &ids[1]));
    assert_eq!(
        activity_entry(&index, &ids[1]),
        activity_entry(&built, &ids[1])
    );
    let old = activity(&d, &ids[1]);
    let edited = edit(&mut index, Collection::Activities, &ids[1], &old, |a| {
        a.notes.set("Met about plan 1, and lunch");
        a.kind = ActivityKind::Call;
        a.direction = Direction::Give;
        a.date = rapport_core::Day::ymd(2026, 10, 30).unwrap();
        a.archived = true;
        Ok::<_, ()>(())
    });
    let Ok(Edited::Change { change, record, .. }) = edited else {
        panic!("the index places an edit of an activity it holds");
    };
    let stored = automerge::Change::from_bytes(change.raw_bytes().to_vec()).unwrap();
    d.apply_changes([stored]).unwrap();
    assert_eq!(activity(&d, &ids[1]), record);
    assert_eq!(record.notes.as_str(), "Met about plan 1, and lunch");
    // The edited activity's entry is the index's own now (saved with it),
    // and is what a fresh build finds.
    let rebuilt = FieldIndex::build_with_activities(&mut d);
    assert_eq!(
        activity_entry(&index, &ids[1]),
        activity_entry(&rebuilt, &ids[1])
    );
    let saved = index.to_file(vec!["b".into()]).unwrap();
    let mut again = FieldIndex::from_file(&saved, &["b".into()]).unwrap();
    assert!(again.has_activity(&ids[1]));
    assert_eq!(
        activity_entry(&again, &ids[1]),
        activity_entry(&rebuilt, &ids[1])
    );
    // The others still come from the cold file, which the index still
    // names.
    assert!(again.take_cold(&cold, &ids[2]));
    assert_eq!(
        activity_entry(&again, &ids[2]),
        activity_entry(&rebuilt, &ids[2])
    );
    // An activity added since is an entry of the index file, which keeps
    // naming the cold file.
    let genesis = d.get_changes(&[]).into_iter().next().unwrap().clone();
    let mut base = AutoCommit::load(genesis.raw_bytes()).unwrap();
    let since = base.get_heads();
    let new = RecordId::random();
    doc::put_record(
        &mut base,
        Collection::Activities,
        &new,
        &activity(&d, &ids[0]),
    )
    .unwrap();
    base.commit();
    let change = base.get_changes(&since).pop().unwrap();
    let appended = super::append_to_file(
        &saved,
        &["b".into()],
        vec!["b".into(), "c".into()],
        base.document(),
        &[change],
    )
    .unwrap();
    let mut appended = FieldIndex::from_file(&appended, &["b".into(), "c".into()]).unwrap();
    assert!(appended.has_activity(&new) && appended.has_activity(&ids[1]));
    assert!(appended.take_cold(&cold, &ids[0]));
}

/// An activity taken from the cold file that an edit then leaves in a
/// state the index cannot follow is dropped, and not found again in the
/// cold file as it was before the edit.
#[test]
fn an_activity_the_index_drops_is_not_taken_from_the_cold_file_again() {
    use automerge::legacy;
    let (mut d, ids) = ada_with_activities();
    let chunks = vec!["a".to_string()];
    let (saved, cold) = saved_with_cold(&FieldIndex::build_with_activities(&mut d), &chunks);
    let mut index = FieldIndex::from_file(&saved, &chunks).unwrap();
    assert!(index.take_cold(&cold, &ids[1]));
    // An operation at the root: not within the record, so not followed.
    let op = legacy::Op {
        action: legacy::OpType::Put(automerge::ScalarValue::Str("x".into())),
        obj: legacy::ObjectId::Root,
        key: legacy::Key::Map("x".into()),
        pred: Vec::new().into(),
        insert: false,
    };
    let actor = automerge::ActorId::random();
    index.applied(super::ACTIVITIES, &ids[1], &actor, &[op], index.max_op + 1);
    assert!(!index.has_activity(&ids[1]));
    assert!(!index.take_cold(&cold, &ids[1]));
    assert!(!index.take_cold(&cold, &ids[2]));
}

#[test]
fn a_cold_file_is_read_only_whole_and_for_the_index_that_names_it() {
    let (mut d, ids) = ada_with_activities();
    let chunks = vec!["a".to_string()];
    let (saved, cold) = saved_with_cold(&FieldIndex::build_with_activities(&mut d), &chunks);
    let read = || FieldIndex::from_file(&saved, &chunks).unwrap();
    assert!(read().take_cold(&cold, &ids[0]));
    // Not an index file, nor the other way round.
    assert_eq!(FieldIndex::from_file(&cold, &chunks), None);
    assert!(!read().take_cold(&saved, &ids[0]));
    // Damaged or cut short anywhere.
    for at in 0..cold.len() {
        let mut damaged = cold.clone();
        damaged[at] ^= 0x01;
        assert!(!read().take_cold(&damaged, &ids[0]), "byte {at}");
    }
    for len in 0..cold.len() {
        assert!(!read().take_cold(&cold[..len], &ids[0]), "{len} bytes");
    }
    // Saved with another build: the index names the chunks of its own.
    let (_, other_cold) =
        saved_with_cold(&FieldIndex::build_with_activities(&mut d), &["b".into()]);
    assert!(!read().take_cold(&other_cold, &ids[0]));
    // An index built without the activity log names none.
    let plain = FieldIndex::build(&mut d).to_file(chunks.clone()).unwrap();
    let mut plain = FieldIndex::from_file(&plain, &chunks).unwrap();
    assert!(!plain.take_cold(&cold, &ids[0]));
    // An index whose table of actors does not start with the cold file's.
    let mut index = read();
    index.actors.insert(0, automerge::ActorId::random());
    assert!(!index.take_cold(&cold, &ids[0]));
    // An activity the file does not have.
    assert!(!read().take_cold(&cold, &RecordId::random()));
}

/// A teammate's edit of an activity the index keeps in its cold file: the
/// index lacks what the change writes in until it takes that activity
/// (and only it) from the cold file, and then reads it as a load does.
#[test]
fn received_edits_of_cold_activities_read_as_a_load_does() {
    use rapport_core::enums::ActivityKind;
    let (mut d, ids) = ada_with_activities();
    let chunks = vec!["a".to_string()];
    let (saved, cold) = saved_with_cold(&FieldIndex::build_with_activities(&mut d), &chunks);
    let mut theirs = d.clone().with_actor(automerge::ActorId::random());
    let mut a = activity(&theirs, &ids[1]);
    a.notes.set("Met about plan 1, café 🎉");
    a.kind = ActivityKind::Call;
    doc::put_record(&mut theirs, Collection::Activities, &ids[1], &a).unwrap();
    theirs.commit();
    let change = theirs.get_last_local_change().unwrap().clone();
    let mut index = FieldIndex::from_file(&saved, &chunks).unwrap();
    assert!(index.lacks_targets_of(&change));
    assert_eq!(index.received_record(&change), None);
    // Not from a cold file the index does not name.
    assert!(FieldIndex::build(&mut d).cold_activities(&cold).is_none());
    let cold = index.cold_activities(&cold).unwrap();
    // Never over an activity the index holds: its entry is the newer.
    let mut holding = FieldIndex::from_file(&saved, &chunks).unwrap();
    let mut newer = activity_ops(&cold, &ids[1]);
    newer.obj.counter += 1_000_000;
    holding.records[super::ACTIVITIES].insert(ids[1].clone(), newer.clone());
    assert!(!holding.take_cold_for(&cold, &change));
    assert_eq!(holding.records[super::ACTIVITIES][&ids[1]], newer);
    assert!(index.take_cold_for(&cold, &change));
    assert!(!index.lacks_targets_of(&change));
    assert!(index.has_activity(&ids[1]));
    assert!(!index.has_activity(&ids[0]) && !index.has_activity(&ids[2]));
    let (collection, id) = index.received_record(&change).unwrap();
    assert_eq!((collection, &id), (Collection::Activities, &ids[1]));
    let old = activity(&d, &ids[1]);
    let received = index
        .receive_edit(&change, Collection::Activities, &id, &old)
        .unwrap();
    d.apply_changes([change]).unwrap();
    let loaded = doc::read_records(&d, Collection::Activities, std::slice::from_ref(&id))
        .unwrap()
        .pop()
        .unwrap()
        .1;
    assert_eq!(received, loaded);
    assert_eq!(received.notes.as_str(), "Met about plan 1, café 🎉");
    // The index followed it: its entry is what a fresh build finds.
    assert_eq!(
        activity_entry(&index, &id),
        activity_entry(&FieldIndex::build_with_activities(&mut d), &id)
    );
}

/// Activity `id`'s entry in a decoded cold file.
fn activity_ops(cold: &super::ColdActivities, id: &RecordId) -> super::RecordOps {
    cold.0.iter().find(|(a, _)| a == id).unwrap().1.clone()
}

/// A load keeps what the cold file an earlier index saved holds: the
/// activities the changes since write in, add or remove are indexed
/// afresh, the rest taken as they are, and the cold file written again
/// holds every activity as a fresh build of the whole log has it (and no
/// removed one), so the next load can keep it again. Where an activity
/// is left in conflict, or the cold file is of other heads, it is not
/// kept.
#[test]
fn a_load_keeps_the_cold_file_and_indexes_what_changed_since() {
    use rapport_core::enums::ActivityKind;
    let (mut d, mut ids) = ada_with_activities();
    for _ in 0..2 {
        let id = RecordId::random();
        let a = activity(&d, &ids[0]);
        doc::put_record(&mut d, Collection::Activities, &id, &a).unwrap();
        d.commit();
        ids.push(id);
    }
    let (_, cold) = saved_with_cold(&FieldIndex::build_with_activities(&mut d), &["a".into()]);
    // Since: a kind edited here, notes edited by a teammate, one removed,
    // one added, a person edited; ids[3] and ids[4] untouched.
    let mut a = activity(&d, &ids[0]);
    a.kind = ActivityKind::Call;
    doc::put_record(&mut d, Collection::Activities, &ids[0], &a).unwrap();
    d.commit();
    let mut theirs = d.clone().with_actor(automerge::ActorId::random());
    let mut b = activity(&theirs, &ids[1]);
    b.notes.set("Met about plan 1, café 🎉");
    doc::put_record(&mut theirs, Collection::Activities, &ids[1], &b).unwrap();
    theirs.commit();
    d.merge(&mut theirs).unwrap();
    doc::delete_record(&mut d, Collection::Activities, &ids[2]).unwrap();
    let added = RecordId::random();
    doc::put_record(&mut d, Collection::Activities, &added, &a).unwrap();
    let ada = a.people[0].clone();
    let mut p = person(&d, &ada);
    p.title = Some("CEO".into());
    doc::put_record(&mut d, Collection::People, &ada, &p).unwrap();
    d.commit();

    let kept = FieldIndex::build_keeping(&mut d, Some(&cold));
    let chunks = vec!["b".to_string()];
    let (saved, cold) = saved_with_cold(&kept, &chunks);
    let mut index = FieldIndex::from_file(&saved, &chunks).unwrap();
    let fresh = FieldIndex::build_with_activities(&mut d);
    for id in [&ids[0], &ids[1], &ids[3], &ids[4], &added] {
        assert!(!index.has_activity(id));
        assert!(index.take_cold(&cold, id));
        assert_eq!(
            activity_entry(&index, id),
            activity_entry(&fresh, id),
            "{id}"
        );
    }
    assert!(!index.take_cold(&cold, &ids[2]), "removed");
    // Kept again, after another change: a teammate's edit of the people
    // of one taken as it was.
    let mut theirs = d.clone().with_actor(automerge::ActorId::random());
    let mut c = activity(&theirs, &ids[4]);
    c.people.push(RecordId::random());
    doc::put_record(&mut theirs, Collection::Activities, &ids[4], &c).unwrap();
    theirs.commit();
    d.merge(&mut theirs).unwrap();
    let chunks_c = vec!["c".to_string()];
    let again = FieldIndex::build_keeping(&mut d, Some(&cold));
    let (saved_c, cold_c) = saved_with_cold(&again, &chunks_c);
    let mut index = FieldIndex::from_file(&saved_c, &chunks_c).unwrap();
    let fresh = FieldIndex::build_with_activities(&mut d);
    for id in [&ids[0], &ids[1], &ids[3], &ids[4], &added] {
        assert!(index.take_cold(&cold_c, id));
        assert_eq!(
            activity_entry(&index, id),
            activity_entry(&fresh, id),
            "{id}"
        );
    }
    // The rest of the index is what a plain build makes.
    let plain = FieldIndex::build(&mut d);
    assert_eq!(
        resolved(&kept).2[..ACTIVITIES],
        resolved(&plain).2[..ACTIVITIES]
    );
    assert_eq!(
        resolved(&kept).2[ACTIVITIES + 1..],
        resolved(&plain).2[ACTIVITIES + 1..]
    );

    // Of other heads: not kept (and removed when the index is saved).
    let (mut other, _) = ada_with_activities();
    let files = FieldIndex::build_keeping(&mut other, Some(&cold))
        .to_files(chunks.clone())
        .unwrap();
    assert!(matches!(files.cold, ColdFile::Remove));

    // An activity left in conflict (two records under its id): not kept.
    let (_, cold) = saved_with_cold(&FieldIndex::build_with_activities(&mut d), &["c".into()]);
    let mut theirs = d.clone().with_actor(automerge::ActorId::random());
    for side in [&mut d, &mut theirs] {
        let (_, log) = side.get(ROOT, "activities").unwrap().unwrap();
        side.put_object(&log, ids[3].as_str(), automerge::ObjType::Map)
            .unwrap();
        side.commit();
    }
    d.merge(&mut theirs).unwrap();
    let (_, log) = d.get(ROOT, "activities").unwrap().unwrap();
    assert_eq!(d.get_all(&log, ids[3].as_str()).unwrap().len(), 2);
    let files = FieldIndex::build_keeping(&mut d, Some(&cold))
        .to_files(chunks)
        .unwrap();
    assert!(matches!(files.cold, ColdFile::Remove));
}

/// Random elements: runs of consecutive counters of a few actors, some
/// holding values put over them.
fn elems() -> impl proptest::strategy::Strategy<Value = Vec<super::Elem>> {
    use proptest::prelude::*;
    let op = (0..40u64, 0..3u32).prop_map(|(counter, actor)| super::OpRef { counter, actor });
    let elem = (op.clone(), 1..5usize, proptest::collection::vec(op, 0..3));
    proptest::collection::vec(elem, 0..12).prop_map(|parts| {
        let mut out = Vec::new();
        for (start, len, values) in parts {
            for i in 0..len as u64 {
                out.push(super::Elem {
                    id: super::OpRef {
                        counter: start.counter + i,
                        actor: start.actor,
                    },
                    // Only the first of a part holds other values.
                    values: if i == 0 { values.clone() } else { Vec::new() },
                });
            }
        }
        out
    })
}

proptest::proptest! {
    /// Elements held as runs (as the index holds them in memory and on
    /// disk) are the same elements: expanded back, written and read
    /// back, and compared with the same elements held one by one.
    #[test]
    fn elements_held_as_runs_are_the_same_elements(elems in elems()) {
        let runs: super::runs::Runs = elems.iter().cloned().collect();
        proptest::prop_assert_eq!(runs.expand().unwrap(), elems.clone());
        let bytes = postcard::to_allocvec(&runs).unwrap();
        let back: super::runs::Runs = postcard::from_bytes(&bytes).unwrap();
        proptest::prop_assert_eq!(back.expand().unwrap(), elems.clone());
        let held = super::Nested::Runs(runs);
        proptest::prop_assert!(held == super::Nested::Elems(elems.clone()));
        let mut other = elems.clone();
        other.push(super::Elem { id: super::OpRef { counter: 99, actor: 0 }, values: Vec::new() });
        proptest::prop_assert!(held != super::Nested::Elems(other));
    }
}
