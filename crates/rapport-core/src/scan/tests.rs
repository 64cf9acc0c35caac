//! The scan against the load: for documents made by Rapport's writes,
//! raw edits of other clients, and concurrent copies merged, every part
//! [`read_saved`] gives is what [`DocData::read`] gives on the loaded
//! document; what it does not handle, it refuses.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc};
use proptest::prelude::*;

use super::*;
use crate::doc::{self, put_record};
use crate::ids::RecordId;
use crate::model::{Account, Activity, Person};
use crate::values::{Day, Notes};

/// What the load reads of `bytes`, as JSON.
fn loaded(bytes: &[u8]) -> Json {
    let doc = AutoCommit::load(bytes).expect("loads");
    serde_json::to_value(DocData::read(&doc, Parts::ALL).expect("reads")).unwrap()
}

fn scanned(bytes: &[u8]) -> Result<Json, Unsupported> {
    read_saved(bytes).map(|d| serde_json::to_value(d).unwrap())
}

fn account_doc() -> AutoCommit {
    let mut doc = AutoCommit::new();
    doc::init_account(&mut doc, &Account::named("Acme")).unwrap();
    doc
}

fn person_id(k: usize) -> RecordId {
    RecordId::from(format!("p{k:02}"))
}

fn record_obj(doc: &AutoCommit, c: Collection, id: &RecordId) -> Option<automerge::ObjId> {
    let coll = match doc.get(ROOT, c.key()).ok()?? {
        (automerge::Value::Object(ObjType::Map), o) => o,
        _ => return None,
    };
    match doc.get(&coll, id.as_str()).ok()?? {
        (automerge::Value::Object(ObjType::Map), o) => Some(o),
        _ => None,
    }
}

#[derive(Debug, Clone)]
enum Step {
    /// A person added (or written over) through Rapport's writes.
    Person(usize, String),
    /// A person's notes rewritten (a text edit).
    Notes(usize, String),
    /// A person's tags: one inserted at a place, or one deleted.
    Tag(usize, usize, Option<String>),
    /// An activity with people, through Rapport's writes.
    Activity(usize, Vec<usize>),
    /// A field of a person set raw, as another client could: a title, a
    /// number where a string goes, a null, a nested map.
    Raw(usize, u8),
    /// A person's tag written over in place.
    Overwrite(usize, usize),
    /// A person deleted, or its key made a plain value.
    Delete(usize),
    Scalar(usize),
    /// The account renamed.
    Account(String),
    Commit,
    Merge,
    Switch,
}

fn step() -> impl Strategy<Value = Step> {
    let name = "[A-Za-z ]{0,8}";
    prop_oneof![
        4 => (0..6usize, name).prop_map(|(k, n)| Step::Person(k, n)),
        3 => (0..6usize, "\\PC{0,12}").prop_map(|(k, n)| Step::Notes(k, n)),
        3 => (0..6usize, 0..4usize, proptest::option::of("[a-z]{1,5}"))
            .prop_map(|(k, i, t)| Step::Tag(k, i, t)),
        2 => (0..6usize, proptest::collection::vec(0..6usize, 0..3))
            .prop_map(|(k, p)| Step::Activity(k, p)),
        2 => (0..6usize, any::<u8>()).prop_map(|(k, v)| Step::Raw(k, v)),
        1 => (0..6usize, 0..4usize).prop_map(|(k, i)| Step::Overwrite(k, i)),
        1 => (0..6usize).prop_map(Step::Delete),
        1 => (0..6usize).prop_map(Step::Scalar),
        1 => name.prop_map(Step::Account),
        3 => Just(Step::Commit),
        1 => Just(Step::Merge),
        1 => Just(Step::Switch),
    ]
}

fn take(doc: &mut AutoCommit, step: &Step) {
    let people = Collection::People;
    match step {
        Step::Person(k, name) => {
            let mut p = Person::named(name);
            p.tags = vec!["a".into(), "b".into()];
            put_record(doc, people, &person_id(*k), &p).unwrap();
        }
        Step::Notes(k, notes) => {
            if let Ok(Some(mut p)) = doc::read_record::<_, Person>(doc, people, &person_id(*k)) {
                p.notes = Notes::new(notes);
                put_record(doc, people, &person_id(*k), &p).unwrap();
            }
        }
        Step::Tag(k, i, tag) => {
            if let Ok(Some(mut p)) = doc::read_record::<_, Person>(doc, people, &person_id(*k)) {
                let i = (*i).min(p.tags.len());
                match tag {
                    Some(t) => p.tags.insert(i, t.clone()),
                    None if i < p.tags.len() => {
                        p.tags.remove(i);
                    }
                    None => {}
                }
                put_record(doc, people, &person_id(*k), &p).unwrap();
            }
        }
        Step::Activity(k, with) => {
            let a = Activity {
                date: Day::ymd(2026, 11, 1 + *k as u32).unwrap(),
                people: with.iter().map(|p| person_id(*p)).collect(),
                kind: crate::enums::ActivityKind::Call,
                direction: crate::enums::Direction::Give,
                by: "sam".into(),
                notes: Notes::new(&format!("activity {k}")),
                opportunity: None,
                archived: false,
            };
            put_record(
                doc,
                Collection::Activities,
                &RecordId::from(format!("a{k}")),
                &a,
            )
            .unwrap();
        }
        Step::Raw(k, v) => {
            if let Some(r) = record_obj(doc, people, &person_id(*k)) {
                match v % 5 {
                    0 => doc.put(&r, "title", format!("title {v}")).unwrap(),
                    1 => doc.put(&r, "title", i64::from(*v)).unwrap(),
                    2 => doc.put(&r, "title", automerge::ScalarValue::Null).unwrap(),
                    3 => {
                        let m = doc.put_object(&r, "extra", ObjType::Map).unwrap();
                        doc.put(&m, "x", f64::from(*v) / 4.0).unwrap();
                        let t = doc.put_object(&m, "t", ObjType::Text).unwrap();
                        doc.splice_text(&t, 0, 0, "nested").unwrap();
                    }
                    _ => doc.put(&r, "archived", v % 2 == 0).unwrap(),
                }
            }
        }
        Step::Overwrite(k, i) => {
            if let Some(r) = record_obj(doc, people, &person_id(*k))
                && let Ok(Some((automerge::Value::Object(ObjType::List), tags))) =
                    doc.get(&r, "tags")
                && *i < doc.length(&tags)
            {
                doc.put(&tags, *i, format!("over {i}")).unwrap();
            }
        }
        Step::Delete(k) => {
            doc::delete_record(doc, people, &person_id(*k)).unwrap();
        }
        Step::Scalar(k) => {
            if let Ok(Some((_, coll))) = doc.get(ROOT, people.key()) {
                doc.put(&coll, person_id(*k).as_str(), "not a record")
                    .unwrap();
            }
        }
        Step::Account(name) => {
            doc::put_account(doc, &Account::named(name)).unwrap();
        }
        Step::Commit => {
            doc.commit();
        }
        Step::Merge | Step::Switch => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Two copies edited apart and merged now and then: at the end, and
    /// at every merge, the scan reads what the load reads.
    #[test]
    fn a_scan_reads_what_a_load_reads(steps in proptest::collection::vec(step(), 0..50)) {
        let mut ours = account_doc();
        let mut theirs = ours.fork();
        let mut on_theirs = false;
        for step in &steps {
            match step {
                Step::Merge => {
                    ours.merge(&mut theirs).unwrap();
                    theirs.merge(&mut ours).unwrap();
                    let bytes = ours.save();
                    prop_assert_eq!(scanned(&bytes), Ok(loaded(&bytes)));
                }
                Step::Switch => on_theirs = !on_theirs,
                step if on_theirs => take(&mut theirs, step),
                step => take(&mut ours, step),
            }
        }
        ours.merge(&mut theirs).unwrap();
        let bytes = ours.save();
        prop_assert_eq!(scanned(&bytes), Ok(loaded(&bytes)));
    }
}

/// The `k`th of many people: notes of a few lengths, two tags.
fn numbered(k: usize) -> Person {
    let mut p = Person::named(&format!("Person {k:04}"));
    p.notes = Notes::new(&"notes of some length ".repeat(k % 5));
    p.tags = vec![format!("t{}", k % 7), "x".into()];
    p
}

/// Columns over a few hundred bytes are saved deflated: a document of many
/// records reads the same through them.
#[test]
fn a_big_document_with_deflated_columns_reads_as_loaded() {
    let mut doc = account_doc();
    for k in 0..400 {
        put_record(&mut doc, Collection::People, &person_id(k), &numbered(k)).unwrap();
        if k % 50 == 0 {
            doc.commit();
        }
    }
    let bytes = doc.save();
    let scanned = scanned(&bytes).expect("scans");
    assert_eq!(scanned, loaded(&bytes));
    assert_eq!(scanned["people"].as_object().unwrap().len(), 400);
}

#[test]
fn a_personal_document_reads_as_loaded() {
    let mut doc = doc::sams_personal_document();
    let accounts = match doc.get(ROOT, "accounts").unwrap() {
        Some((_, o)) => o,
        None => unreachable!(),
    };
    // A record that does not decode is a problem, in key order.
    let r = doc.put_object(&accounts, "zz", ObjType::Text).unwrap();
    doc.splice_text(&r, 0, 0, "an account?").unwrap();
    doc.put(&accounts, "aa", 3).unwrap();
    let bytes = doc.save();
    let read = scanned(&bytes).expect("scans");
    assert_eq!(read, loaded(&bytes));
    assert_eq!(
        read["problems"].as_array().unwrap().len(),
        2,
        "{}",
        read["problems"]
    );
}

#[test]
fn what_the_scan_does_not_read_it_refuses() {
    let refused = |bytes: &[u8], why: &str| match read_saved(bytes) {
        Err(Unsupported(reason)) => assert!(reason.contains(why), "{reason}"),
        Ok(_) => panic!("read, though {why}"),
    };
    let mut doc = account_doc();
    put_record(
        &mut doc,
        Collection::People,
        &person_id(1),
        &Person::named("Ana"),
    )
    .unwrap();
    let saved = doc.save();
    scanned(&saved).expect("scans");

    // A counter, anywhere.
    let mut counted = doc.clone();
    counted
        .put(ROOT, "visits", automerge::ScalarValue::counter(1))
        .unwrap();
    counted.increment(ROOT, "visits", 2).unwrap();
    refused(&counted.save(), "counter");

    // A mark in a text.
    let mut marked = doc.clone();
    let r = record_obj(&marked, Collection::People, &person_id(1)).unwrap();
    let t = marked.put_object(&r, "bio", ObjType::Text).unwrap();
    marked.splice_text(&t, 0, 0, "hello").unwrap();
    marked
        .mark(
            &t,
            automerge::marks::Mark::new("bold".into(), true, 0, 3),
            automerge::marks::ExpandMark::After,
        )
        .unwrap();
    refused(&marked.save(), "mark");

    // A change after the document (a second chunk).
    let mut more = doc.clone();
    more.put(ROOT, "x", 1).unwrap();
    let mut two = saved.clone();
    two.extend(more.save_incremental());
    refused(&two, "more than one chunk");

    // A changed byte, and a cut.
    let mut flipped = saved.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    refused(&flipped, "checksum");
    refused(&saved[..saved.len() - 1], "cut short");

    // A root the read would refuse: the load reports it.
    let mut rootless = AutoCommit::new();
    rootless.put(ROOT, "schema", 1).unwrap();
    refused(&rootless.save(), "the root");
}

/// [`DocData::copy_parts`] gives what a clone of every part, then
/// `retain`, gives; with or without the contacts derived.
#[test]
fn a_copy_of_some_parts_is_a_clone_that_retains_them() {
    let mut doc = account_doc();
    for k in 0..6 {
        take(&mut doc, &Step::Person(k, format!("P{k}")));
        take(&mut doc, &Step::Activity(k, vec![k, (k + 1) % 6]));
    }
    take(&mut doc, &Step::Scalar(7));
    let full = read_saved(&doc.save()).unwrap();
    let mut underived = full.clone();
    underived.contacts = None;
    for data in [&full, &underived] {
        for parts in [Parts::ALL, Parts::NONE, Parts::PEOPLE, Parts::ANALYSIS] {
            let mut expected = data.clone();
            expected.retain(parts);
            assert_eq!(
                serde_json::to_value(data.copy_parts(parts)).unwrap(),
                serde_json::to_value(expected).unwrap(),
            );
        }
    }
}

/// What [`read_chunks`] reads of `snapshot` and `changes`, as JSON.
fn scanned_with(snapshot: &[u8], changes: &[automerge::Change]) -> Result<Json, Unsupported> {
    read_chunks(snapshot, changes).map(|d| serde_json::to_value(d).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A document saved, then edited (on two copies merged now and then):
    /// the snapshot and the changes since read as the whole document
    /// loads, whatever order the changes come in. They may be refused
    /// only when a teammate's changes were merged in after the snapshot
    /// (one may depend on a change inside the snapshot, which the reader
    /// cannot see); a single copy's own edits are always read.
    #[test]
    fn a_snapshot_and_its_changes_read_as_loaded(
        before in proptest::collection::vec(step(), 0..30),
        after in proptest::collection::vec(step(), 1..30),
        appends in proptest::collection::vec(step(), 0..3),
        reversed in any::<bool>(),
        again in any::<bool>(),
    ) {
        let mut ours = account_doc();
        ours.commit();
        let mut theirs = ours.fork();
        let mut on_theirs = false;
        let mut run = |steps: &[Step], ours: &mut AutoCommit, theirs: &mut AutoCommit| {
            let mut merged = false;
            for step in steps {
                match step {
                    Step::Merge => {
                        ours.merge(theirs).unwrap();
                        theirs.merge(ours).unwrap();
                        merged = true;
                    }
                    Step::Switch => on_theirs = !on_theirs,
                    step if on_theirs => take(theirs, step),
                    step => take(ours, step),
                }
            }
            merged
        };
        run(&before, &mut ours, &mut theirs);
        let snapshot = ours.save();
        let heads = ours.get_heads();
        let merged = run(&after, &mut ours, &mut theirs);
        for step in &appends {
            append_on_first_change(&mut ours, step);
        }
        let mut changes: Vec<automerge::Change> =
            ours.get_changes(&heads);
        if reversed {
            changes.reverse();
        }
        if again && let Some(first) = changes.first().cloned() {
            // A chunk saved twice, and the snapshot's own last change.
            changes.push(first);
            changes.extend(heads.iter().filter_map(|h| ours.get_change_by_hash(h)));
        }
        let whole = ours.save();
        match scanned_with(&snapshot, &changes) {
            Ok(read) => prop_assert_eq!(read, loaded(&whole)),
            Err(why) => prop_assert!(merged, "refused: {}", why),
        }
    }
}

/// `step` taken as `rapport` appends records: on the document's first
/// change alone, by a new actor, the change then applied to `doc` (it
/// depends on that first change only).
fn append_on_first_change(doc: &mut AutoCommit, step: &Step) {
    let first = doc
        .get_changes(&[])
        .into_iter()
        .find(|c| c.deps().is_empty())
        .unwrap();
    let mut base = AutoCommit::load(first.raw_bytes()).unwrap();
    base.set_actor(automerge::ActorId::random());
    take(&mut base, step);
    base.commit();
    if let Some(change) = base.get_last_local_change() {
        doc.apply_changes([change]).unwrap();
    }
}

/// A big document saved, then a write of each kind by two actors (one
/// new to the snapshot): a person added, one's notes (a text) and tags (a
/// list) edited, one deleted, an activity logged, a conflict: read as
/// loaded, without refusal.
#[test]
fn a_big_document_and_its_edits_read_as_loaded() {
    let mut doc = account_doc();
    for k in 0..300 {
        put_record(&mut doc, Collection::People, &person_id(k), &numbered(k)).unwrap();
        take(&mut doc, &Step::Activity(k % 9, vec![k % 6]));
    }
    let snapshot = doc.save();
    let heads = doc.get_heads();
    let mut other = doc.fork();
    other.set_actor(automerge::ActorId::from([0u8; 16]));
    for (copy, k) in [(&mut doc, 3), (&mut other, 4)] {
        take(copy, &Step::Person(300 + k, "New".into()));
        take(copy, &Step::Notes(k, format!("rewritten {k}")));
        take(copy, &Step::Tag(k, 1, Some("inserted".into())));
        take(copy, &Step::Tag(k + 10, 0, None));
        take(copy, &Step::Overwrite(k + 20, 1));
        take(copy, &Step::Raw(k + 30, 3));
        take(copy, &Step::Delete(k + 40));
        take(copy, &Step::Activity(k, vec![1, 2]));
        // Both copies write the same fields: a conflict.
        take(copy, &Step::Raw(50, k as u8 * 5));
        take(copy, &Step::Tag(51, 0, Some(format!("c{k}"))));
        copy.commit();
    }
    doc.merge(&mut other).unwrap();
    let changes: Vec<automerge::Change> = doc.get_changes(&heads);
    assert!(changes.len() >= 2);
    let read = scanned_with(&snapshot, &changes).expect("reads");
    assert_eq!(read, loaded(&doc.save()));
    assert_eq!(read["people"].as_object().unwrap().len(), 300 - 2 + 2);
}

#[test]
fn changes_the_scan_cannot_place_it_refuses() {
    let refused = |changes: &[automerge::Change], snapshot: &[u8], why: &str| match read_chunks(
        snapshot, changes,
    ) {
        Err(Unsupported(reason)) => assert!(reason.contains(why), "{reason}"),
        Ok(_) => panic!("read, though {why}"),
    };
    let mut doc = account_doc();
    doc.commit();
    take(&mut doc, &Step::Person(1, "Ana".into()));
    let snapshot = doc.save();
    let heads = doc.get_heads();
    let since = |doc: &mut AutoCommit| -> Vec<automerge::Change> { doc.get_changes(&heads) };

    // A change whose dependency is missing (a chunk not there yet).
    let mut gap = doc.clone();
    take(&mut gap, &Step::Person(2, "Bo".into()));
    gap.commit();
    take(&mut gap, &Step::Person(3, "Cy".into()));
    let mut changes = since(&mut gap);
    changes.remove(0);
    refused(&changes, &snapshot, "depends on a change");

    // The document's first change, saved again.
    let first = doc.get_changes(&[]).into_iter().next().unwrap();
    refused(&[first], &snapshot, "hold already");

    // A counter.
    let mut counted = doc.clone();
    counted
        .put(ROOT, "visits", automerge::ScalarValue::counter(1))
        .unwrap();
    refused(&since(&mut counted), &snapshot, "counter");

    // A change on a snapshot it does not follow: its pred is not there.
    let mut elsewhere = account_doc();
    take(&mut elsewhere, &Step::Person(1, "Ana".into()));
    let other_snapshot = elsewhere.save();
    let mut renamed = doc.clone();
    take(&mut renamed, &Step::Person(1, "Ann".into()));
    let mut changes = since(&mut renamed);
    let mut other_heads = elsewhere.get_heads();
    // (Its deps rewritten to the other snapshot's heads.)
    let mut expanded = changes.remove(0).decode();
    expanded.deps = std::mem::take(&mut other_heads);
    expanded.hash = None;
    refused(
        &[automerge::Change::from(expanded)],
        &other_snapshot,
        "not there",
    );

    // Two changes an actor numbered alike (the load refuses them).
    let actor = automerge::ActorId::from([7u8; 16]);
    let mut one = doc.fork();
    one.set_actor(actor.clone());
    take(&mut one, &Step::Person(2, "Bo".into()));
    let mut two = doc.fork();
    two.set_actor(actor);
    take(&mut two, &Step::Person(3, "Cy".into()));
    let mut both = since(&mut one);
    both.extend(since(&mut two));
    refused(&both, &snapshot, "sequence number");

    // The actor's previous change is the snapshot's head, yet its next
    // names another dependency, which is missing.
    let mut next = doc.clone();
    take(&mut next, &Step::Person(4, "Di".into()));
    let mut expanded = since(&mut next).remove(0).decode();
    assert_eq!(expanded.deps, heads);
    expanded.deps = vec![automerge::ChangeHash([9; 32])];
    expanded.hash = None;
    refused(&[automerge::Change::from(expanded)], &snapshot, "not found");
}

/// An incremental chunk is checked as the load checks it: parsing alone
/// does not compare its checksum.
#[test]
fn a_change_chunk_with_a_wrong_checksum_is_refused() {
    let mut doc = account_doc();
    let bytes = doc.save_incremental();
    assert!(change_chunk(bytes.clone()).is_ok());
    // The checksum changed, or a byte the checksum covers (a letter of
    // the account's name).
    let mut flipped = bytes.clone();
    flipped[4] ^= 1;
    let mut renamed = bytes.clone();
    let at = bytes.windows(4).position(|w| w == b"Acme").unwrap();
    renamed[at] = b'B';
    for damaged in [flipped, renamed] {
        match change_chunk(damaged) {
            Err(Unsupported(reason)) => assert!(reason.contains("checksum"), "{reason}"),
            Ok(_) => panic!("a damaged chunk read"),
        }
    }
    assert!(change_chunk(bytes[..bytes.len() - 1].to_vec()).is_err());
}

/// A record appended on the document's first change depends on that
/// change alone, which the snapshot holds but does not name: it is
/// rebuilt from its operations to be recognised, the values it wrote
/// over and the ones it deleted included (a change's own preds and
/// deletes), so the append is read as loaded. Rebuilt wrong, the append
/// is refused.
#[test]
fn an_append_on_a_first_change_that_overwrites_and_deletes_reads_as_loaded() {
    let mut doc = account_doc();
    doc.put(ROOT, "scratch", 1).unwrap();
    doc.put(ROOT, "scratch", 2).unwrap();
    doc.put(ROOT, "gone", "x").unwrap();
    doc.delete(ROOT, "gone").unwrap();
    let memo = doc.put_object(ROOT, "memo", ObjType::Text).unwrap();
    doc.splice_text(&memo, 0, 0, "hello there").unwrap();
    doc.splice_text(&memo, 1, 3, "").unwrap();
    let list = doc.put_object(ROOT, "list", ObjType::List).unwrap();
    doc.insert(&list, 0, "a").unwrap();
    doc.insert(&list, 1, "b").unwrap();
    doc.put(&list, 0, "c").unwrap();
    doc.delete(&list, 1).unwrap();
    doc.commit();
    take(&mut doc, &Step::Person(1, "Ana".into()));
    let snapshot = doc.save();
    let heads = doc.get_heads();
    append_on_first_change(&mut doc, &Step::Person(2, "Bo".into()));
    append_on_first_change(&mut doc, &Step::Activity(3, vec![1, 2]));
    let changes = doc.get_changes(&heads);
    assert_eq!(changes.len(), 2);
    assert!(
        changes
            .iter()
            .all(|c| c.deps().len() == 1 && !heads.contains(&c.deps()[0]))
    );
    let read = scanned_with(&snapshot, &changes).expect("reads");
    assert_eq!(read, loaded(&doc.save()));
    assert_eq!(read["people"].as_object().unwrap().len(), 2);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Damaged saved bytes, their checksum made to match (so the damage
    /// reaches the columns): the scan reads them or refuses them, with
    /// the changes after them or without, and never panics.
    #[test]
    fn damaged_columns_are_refused_not_a_panic(
        at in any::<proptest::sample::Index>(),
        xor in 1..=255u8,
        with_changes in any::<bool>(),
    ) {
        use sha2::{Digest, Sha256};
        let mut doc = account_doc();
        doc.commit();
        for k in 0..4 {
            take(&mut doc, &Step::Person(k, format!("P{k}")));
            take(&mut doc, &Step::Activity(k, vec![k]));
            take(&mut doc, &Step::Tag(k, 1, Some("t".into())));
        }
        let mut snapshot = doc.save();
        let heads = doc.get_heads();
        take(&mut doc, &Step::Notes(1, "later".into()));
        take(&mut doc, &Step::Tag(2, 0, None));
        append_on_first_change(&mut doc, &Step::Person(5, "E".into()));
        let changes = if with_changes { doc.get_changes(&heads) } else { Vec::new() };
        // Past the magic and checksum: the chunk's type, length, body.
        let i = 8 + at.index(snapshot.len() - 8);
        snapshot[i] ^= xor;
        let hash = Sha256::digest(&snapshot[8..]);
        snapshot[4..8].copy_from_slice(&hash[..4]);
        let read = std::panic::catch_unwind(|| read_chunks(&snapshot, &changes).is_ok());
        prop_assert!(read.is_ok(), "a panic at byte {} ^ {}", i, xor);
    }
}

/// More changes than the scan merges are refused (the caller loads).
#[test]
fn more_changes_than_the_scan_merges_are_refused() {
    let mut doc = account_doc();
    let snapshot = doc.save();
    let heads = doc.get_heads();
    for k in 0..=MOST_CHANGES {
        doc.put(ROOT, "n", k as i64).unwrap();
        doc.commit();
    }
    let changes = doc.get_changes(&heads);
    assert_eq!(changes.len(), MOST_CHANGES + 1);
    match read_chunks(&snapshot, &changes) {
        Err(Unsupported(reason)) => assert!(reason.contains("more than"), "{reason}"),
        Ok(_) => panic!("read {} changes", changes.len()),
    }
    scanned_with(&snapshot, &changes[..MOST_CHANGES]).expect("reads as many as it merges");
}
