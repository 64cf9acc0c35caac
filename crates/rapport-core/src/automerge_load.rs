//! Property tests of the vendored automerge's load (see
//! `vendor/automerge/PATCHED.md`):
//! - its index of marks is built from the marked operations alone,
//!   spliced in as runs, instead of one entry per operation. Rapport
//!   writes no marks, but the relay and `rapport sync` load documents
//!   that web clients write, which may hold rich text. A document saved
//!   and loaded again must read as it did: the same text, the same marks,
//!   the same bytes when saved.
//! - it rebuilds each change (to hash it) as soon as the change's last
//!   operation is read, not all of them at the end. A document of many
//!   changes by several actors, with deletions and edits of old objects,
//!   must load with the same history: the same heads, changes and bytes.
//! - it holds each operation's count of successors and width in a byte
//!   (an increment's `u32::MAX` too), the rare larger ones in a map
//!   beside: an operation superseded 300 times, counters incremented 300
//!   and 255 times, and an element 300 characters wide must load as they
//!   were saved.

use automerge::marks::{ExpandMark, Mark};
use automerge::transaction::Transactable as _;
use automerge::{AutoCommit, ObjType, ROOT, ReadDoc as _};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Edit {
    /// Inserts `text` at a position (taken modulo the length).
    Insert(usize, String),
    /// Deletes up to `n` characters from a position.
    Delete(usize, usize),
    /// Marks a span with one of a few names, over one of a few values.
    Mark(usize, usize, usize, i64, usize),
    Unmark(usize, usize, usize, usize),
    /// A plain value elsewhere in the document, so the marked operations
    /// sit among others.
    Put(usize, i64),
    Commit,
}

const NAMES: [&str; 3] = ["bold", "link", "comment"];
const EXPANDS: [ExpandMark; 4] = [
    ExpandMark::Before,
    ExpandMark::After,
    ExpandMark::Both,
    ExpandMark::None,
];

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<usize>(), "[a-z ]{1,12}").prop_map(|(at, t)| Edit::Insert(at, t)),
        1 => (any::<usize>(), 1..6usize).prop_map(|(at, n)| Edit::Delete(at, n)),
        3 => (any::<usize>(), 0..8usize, 0..3usize, 0..3i64, 0..4usize)
            .prop_map(|(at, n, name, v, e)| Edit::Mark(at, n, name, v, e)),
        1 => (any::<usize>(), 0..8usize, 0..3usize, 0..4usize)
            .prop_map(|(at, n, name, e)| Edit::Unmark(at, n, name, e)),
        2 => (0..4usize, any::<i64>()).prop_map(|(k, v)| Edit::Put(k, v)),
        1 => Just(Edit::Commit),
    ]
}

fn apply(doc: &mut AutoCommit, text: &automerge::ObjId, edit: &Edit) {
    let len = doc.length(text);
    let at = |i: usize| if len == 0 { 0 } else { i % len };
    match edit {
        Edit::Insert(i, t) => {
            let at = if len == 0 { 0 } else { i % (len + 1) };
            doc.splice_text(text, at, 0, t).unwrap();
        }
        Edit::Delete(i, n) if len > 0 => {
            let at = at(*i);
            let n = (*n).min(len - at);
            doc.splice_text(text, at, n as isize, "").unwrap();
        }
        Edit::Mark(i, n, name, v, e) if len > 0 => {
            let start = at(*i);
            let end = (start + n).min(len);
            let mark = Mark::new(NAMES[*name].to_string(), *v, start, end);
            doc.mark(text, mark, EXPANDS[*e]).unwrap();
        }
        Edit::Unmark(i, n, name, e) if len > 0 => {
            let start = at(*i);
            let end = (start + n).min(len);
            doc.unmark(text, NAMES[*name], start, end, EXPANDS[*e])
                .unwrap();
        }
        Edit::Put(k, v) => {
            doc.put(ROOT, format!("k{k}"), *v).unwrap();
        }
        Edit::Commit => {
            doc.commit();
        }
        _ => {}
    }
}

proptest! {
    #[test]
    fn a_document_with_marks_loads_as_it_was_saved(
        edits in proptest::collection::vec(edit(), 0..60),
    ) {
        let mut doc = AutoCommit::new();
        doc.put(ROOT, "before", "a value made before the text").unwrap();
        let text = doc.put_object(ROOT, "text", ObjType::Text).unwrap();
        for edit in &edits {
            apply(&mut doc, &text, edit);
        }
        let bytes = doc.save();
        let mut loaded = AutoCommit::load(&bytes).unwrap();
        prop_assert_eq!(loaded.text(&text).unwrap(), doc.text(&text).unwrap());
        prop_assert_eq!(loaded.marks(&text).unwrap(), doc.marks(&text).unwrap());
        prop_assert_eq!(loaded.hydrate(ROOT, None).unwrap(), doc.hydrate(ROOT, None).unwrap());
        prop_assert_eq!(loaded.save(), bytes);
        // The marks the load indexed are those later edits find: the same
        // edit made on both copies leaves them equal.
        let mut again = doc.clone();
        for edit in [Edit::Insert(3, "xy".into()), Edit::Mark(1, 4, 0, 1, 2), Edit::Insert(2, "z".into())] {
            apply(&mut loaded, &text, &edit);
            apply(&mut again, &text, &edit);
        }
        prop_assert_eq!(loaded.marks(&text).unwrap(), again.marks(&text).unwrap());
    }
}

#[derive(Debug, Clone)]
enum Step {
    /// A record (a map with a list) put under key `k`.
    Record(usize),
    /// A field of record `k` set.
    Field(usize, i64),
    /// An item pushed on record `k`'s list, or the first one deleted.
    Push(usize),
    Pop(usize),
    /// Record `k` deleted.
    Delete(usize),
    Commit,
    /// The other actor's copy merged in, and ours into it.
    Merge,
    /// The next steps on the other actor's copy (until the next switch).
    Switch,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..6usize).prop_map(Step::Record),
        3 => (0..6usize, any::<i64>()).prop_map(|(k, v)| Step::Field(k, v)),
        2 => (0..6usize).prop_map(Step::Push),
        1 => (0..6usize).prop_map(Step::Pop),
        1 => (0..6usize).prop_map(Step::Delete),
        3 => Just(Step::Commit),
        1 => Just(Step::Merge),
        1 => Just(Step::Switch),
    ]
}

fn record(doc: &AutoCommit, k: usize) -> Option<automerge::ObjId> {
    match doc.get(ROOT, format!("r{k}")).ok()? {
        Some((automerge::Value::Object(ObjType::Map), id)) => Some(id),
        _ => None,
    }
}

fn take(doc: &mut AutoCommit, step: &Step) {
    match step {
        Step::Record(k) => {
            let r = doc.put_object(ROOT, format!("r{k}"), ObjType::Map).unwrap();
            doc.put(&r, "name", format!("record {k}")).unwrap();
            doc.put_object(&r, "tags", ObjType::List).unwrap();
        }
        Step::Field(k, v) => {
            if let Some(r) = record(doc, *k) {
                doc.put(&r, "value", *v).unwrap();
            }
        }
        Step::Push(k) | Step::Pop(k) => {
            let Some(r) = record(doc, *k) else { return };
            let Ok(Some((automerge::Value::Object(ObjType::List), list))) = doc.get(&r, "tags")
            else {
                return;
            };
            let len = doc.length(&list);
            if matches!(step, Step::Push(_)) {
                doc.insert(&list, len, "tag").unwrap();
            } else if len > 0 {
                doc.delete(&list, 0).unwrap();
            }
        }
        Step::Delete(k) => {
            if record(doc, *k).is_some() {
                doc.delete(ROOT, format!("r{k}")).unwrap();
            }
        }
        Step::Commit => {
            doc.commit();
        }
        Step::Merge | Step::Switch => {}
    }
}

proptest! {
    #[test]
    fn a_history_of_several_actors_loads_as_it_was_saved(
        steps in proptest::collection::vec(step(), 0..80),
    ) {
        let mut ours = AutoCommit::new();
        ours.put(ROOT, "title", "a history").unwrap();
        ours.commit();
        let mut theirs = ours.fork();
        // One actor names an author: its changes carry it in their extra
        // bytes, which a load hashes with the rest.
        let author = automerge::Author::from(b"teammate".to_vec());
        theirs.set_author(Some(author.clone()));
        theirs.put(ROOT, "by", "a teammate").unwrap();
        theirs.commit();
        let mut on_theirs = false;
        for step in &steps {
            match step {
                Step::Merge => {
                    ours.merge(&mut theirs).unwrap();
                    theirs.merge(&mut ours).unwrap();
                }
                Step::Switch => on_theirs = !on_theirs,
                _ if on_theirs => take(&mut theirs, step),
                _ => take(&mut ours, step),
            }
        }
        ours.merge(&mut theirs).unwrap();
        let bytes = ours.save();
        let mut loaded = AutoCommit::load(&bytes).unwrap();
        prop_assert_eq!(loaded.get_heads(), ours.get_heads());
        let hashes = |doc: &mut AutoCommit| {
            doc.get_changes(&[]).iter().map(|c| c.hash()).collect::<Vec<_>>()
        };
        prop_assert_eq!(hashes(&mut loaded), hashes(&mut ours));
        prop_assert_eq!(loaded.hydrate(ROOT, None).unwrap(), ours.hydrate(ROOT, None).unwrap());
        prop_assert_eq!(loaded.save(), bytes);
        let their_actor = theirs.get_actor().clone();
        prop_assert_eq!(loaded.get_author_for_actor(&their_actor), Some(author));
        // Each change's bytes, as a load's change collector lays them
        // out for `get_changes`, parse back to the same change.
        for change in loaded.get_changes(&[]) {
            let parsed = automerge::Change::from_bytes(change.raw_bytes().to_vec()).unwrap();
            prop_assert_eq!(parsed.hash(), change.hash());
            prop_assert_eq!(parsed.decode(), change.decode());
        }
        // What the patched `max_op` and `first_root_change` give is what
        // the changes' metadata says, before and after the load.
        for doc in [&mut ours, &mut loaded] {
            let (max_op, root) = from_metadata(doc);
            prop_assert_eq!(doc.document().max_op(), max_op);
            prop_assert_eq!(doc.document().first_root_change(), root);
        }
    }
}

#[test]
fn operations_of_many_successors_and_wide_elements_load_as_they_were_saved() {
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "contested", "first").unwrap();
    doc.put(ROOT, "count", automerge::ScalarValue::counter(0))
        .unwrap();
    doc.put(ROOT, "limit", automerge::ScalarValue::counter(0))
        .unwrap();
    let text = doc.put_object(ROOT, "text", ObjType::Text).unwrap();
    doc.splice_text(&text, 0, 0, "ab").unwrap();
    doc.commit();
    // 300 actors each put over the same value (it gets 300 successors)
    // and increment the counter once.
    let mut forks: Vec<AutoCommit> = (0..300).map(|_| doc.fork()).collect();
    for (i, fork) in forks.iter_mut().enumerate() {
        fork.put(ROOT, "contested", i as i64).unwrap();
        fork.increment(ROOT, "count", 1).unwrap();
        fork.commit();
    }
    for fork in &mut forks {
        doc.merge(fork).unwrap();
    }
    // A counter with exactly 255 increments (the first value held aside).
    for _ in 0..255 {
        doc.increment(ROOT, "limit", 2).unwrap();
    }
    // A text element 300 characters wide, between narrow ones.
    doc.insert(&text, 1, "w".repeat(300)).unwrap();
    doc.commit();
    let bytes = doc.save();
    let mut loaded = AutoCommit::load(&bytes).unwrap();
    assert_eq!(
        loaded.get_all(ROOT, "contested").unwrap().len(),
        300,
        "every concurrent value is a conflict"
    );
    assert_eq!(
        loaded.get_all(ROOT, "contested").unwrap(),
        doc.get_all(ROOT, "contested").unwrap()
    );
    assert_eq!(
        loaded.get(ROOT, "count").unwrap().unwrap().0,
        automerge::Value::counter(300)
    );
    assert_eq!(
        loaded.get(ROOT, "limit").unwrap().unwrap().0,
        automerge::Value::counter(510)
    );
    assert_eq!(loaded.text(&text).unwrap(), doc.text(&text).unwrap());
    assert_eq!(loaded.length(&text), doc.length(&text));
    assert_eq!(loaded.length(&text), 302);
    // Positions after the wide element count its width.
    loaded.splice_text(&text, 301, 0, "c").unwrap();
    doc.splice_text(&text, 301, 0, "c").unwrap();
    assert_eq!(loaded.text(&text).unwrap(), doc.text(&text).unwrap());
    assert_eq!(
        loaded.hydrate(ROOT, None).unwrap(),
        doc.hydrate(ROOT, None).unwrap()
    );
    assert_eq!(AutoCommit::load(&bytes).unwrap().save(), bytes);
}

#[test]
fn the_first_root_change_and_max_op_are_those_the_metadata_lists() {
    let check = |doc: &mut AutoCommit| {
        let (max_op, root) = from_metadata(doc);
        assert_eq!(doc.document().max_op(), max_op);
        assert_eq!(doc.document().first_root_change(), root);
    };
    let mut empty = AutoCommit::new();
    check(&mut empty);
    assert_eq!(empty.document().first_root_change(), None);
    // Two documents begun apart, merged: two changes without
    // dependencies, one actor far ahead in operations.
    let mut a = AutoCommit::new();
    a.put(ROOT, "a", 1).unwrap();
    a.commit();
    let mut b = AutoCommit::new();
    let list = b.put_object(ROOT, "list", ObjType::List).unwrap();
    for i in 0..50 {
        b.insert(&list, i, i as i64).unwrap();
    }
    b.commit();
    a.merge(&mut b).unwrap();
    check(&mut a);
    b.merge(&mut a).unwrap();
    check(&mut b);
    let mut loaded = AutoCommit::load(&a.save()).unwrap();
    check(&mut loaded);
    assert_eq!(loaded.document().max_op(), 51);
}

/// The highest operation and the first change with no dependencies, as
/// the changes' metadata gives them: what the patched `max_op` and
/// `first_root_change` must give.
fn from_metadata(doc: &mut AutoCommit) -> (u64, Option<automerge::ChangeHash>) {
    let meta = doc.get_changes_meta(&[]);
    let max_op = meta.iter().map(|c| c.max_op).max().unwrap_or(0);
    let root = meta.iter().find(|c| c.deps.is_empty()).map(|c| c.hash);
    (max_op, root)
}
