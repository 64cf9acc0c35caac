//! Changes a teammate made, received by sync, made readable without
//! loading the document they go into.
//!
//! Most changes that arrive from a teammate add records: an activity
//! logged, a person, a relationship or a plan item added. Such a change
//! makes a map under a fresh key of one of the collections the document's
//! first change made, and fills it; it touches nothing that was there
//! before. Its records therefore read the same on the document's first
//! change alone as on the whole document, so [`rebase_additions`] replays
//! it there (as its author's own `append` built it), where the caller
//! decodes the new records for the view and the field index, while the
//! change itself is stored as it came.
//!
//! Anything else (an edit of an existing record, a delete, a counter, a
//! formatting mark, an operation that names another operation) is not an
//! addition: the caller then loads the document, as before.

use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::{ActorId, AutoCommit, Change, ObjType, ROOT, ReadDoc as _, Value, legacy};
use rapport_core::RecordId;
use rapport_core::doc::Collection;

/// A record a received change added.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Added {
    pub collection: Collection,
    pub id: RecordId,
}

/// Replays `changes` (in causal order, each one that only adds records,
/// see the module) on `base`, the document's first change alone, each
/// with the same actor and operation ids, depending on `base`'s heads
/// instead of its own deps. Returns the records they add; `None` (and
/// `base` in an unknown state) if one of them does anything else, or two
/// add the same record.
pub fn rebase_additions(base: &mut AutoCommit, changes: &[Change]) -> Option<Vec<Added>> {
    let collections: HashMap<automerge::ObjId, Collection> = Collection::SHARED
        .iter()
        .filter_map(|c| match base.get(ROOT, c.key()) {
            Ok(Some((Value::Object(ObjType::Map), obj))) => Some((obj, *c)),
            _ => None,
        })
        .collect();
    let mut seqs: HashMap<ActorId, u64> = HashMap::new();
    for meta in base.document().get_changes_meta(&[]) {
        let seq = seqs.entry(meta.actor.as_ref().clone()).or_default();
        *seq = (*seq).max(meta.seq);
    }
    let mut added = Vec::new();
    let mut seen = HashSet::new();
    for change in changes {
        let mut expanded = change.decode();
        for record in additions(&expanded, base, &collections)? {
            if !seen.insert(record.clone()) {
                return None;
            }
            added.push(record);
        }
        let seq = seqs.entry(expanded.actor_id.clone()).or_default();
        *seq += 1;
        expanded.seq = *seq;
        expanded.deps = base.get_heads();
        expanded.hash = None;
        let rebased = Change::from(expanded);
        let hash = rebased.hash();
        // automerge 0.12 panics on some changes its checks let through
        // (the relay's fuzzing found one); a panic here only means the
        // document is loaded instead.
        let applied = catch_unwind(AssertUnwindSafe(|| base.apply_changes([rebased])));
        if !matches!(applied, Ok(Ok(()))) || base.get_heads() != [hash] {
            return None;
        }
    }
    Some(added)
}

/// The records `change` adds, if it only adds records: every operation
/// names no other (no preds), puts or makes (or inserts) a value, and is
/// either the making of a map under a key of a collection map
/// (`collections`, as `base` has them) or made inside an object this
/// change made, at a key or after an element this change made.
fn additions(
    change: &automerge::ExpandedChange,
    base: &AutoCommit,
    collections: &HashMap<automerge::ObjId, Collection>,
) -> Option<Vec<Added>> {
    let actor = &change.actor_id;
    let start = change.start_op.get();
    let ours = |id: &legacy::OpId, before: u64| {
        id.actor() == actor && (start..before).contains(&id.counter())
    };
    let mut objects: HashSet<u64> = HashSet::new();
    let mut added = Vec::new();
    for (i, op) in change.operations.iter().enumerate() {
        let counter = start.checked_add(i as u64)?;
        if !op.pred.is_empty() {
            return None;
        }
        let made = match &op.action {
            legacy::OpType::Make(kind) => Some(*kind),
            legacy::OpType::Put(_) => None,
            _ => return None,
        };
        let legacy::ObjectId::Id(obj) = &op.obj else {
            return None;
        };
        if ours(obj, counter) && objects.contains(&obj.counter()) {
            match &op.key {
                legacy::Key::Map(_) if !op.insert => {}
                legacy::Key::Seq(legacy::ElementId::Head) if op.insert => {}
                legacy::Key::Seq(legacy::ElementId::Id(e)) if op.insert && ours(e, counter) => {}
                _ => return None,
            }
        } else {
            let obj = base.import(&obj.to_string()).ok()?.0;
            let collection = *collections.get(&obj)?;
            let legacy::Key::Map(key) = &op.key else {
                return None;
            };
            if op.insert || made != Some(ObjType::Map) {
                return None;
            }
            added.push(Added {
                collection,
                id: RecordId::from(key.to_string()),
            });
        }
        if made.is_some() {
            objects.insert(counter);
        }
    }
    // The first change's own record keys are not new.
    for record in &added {
        if base
            .get(
                collection_obj(collections, record.collection)?,
                record.id.as_str(),
            )
            .ok()?
            .is_some()
        {
            return None;
        }
    }
    Some(added)
}

fn collection_obj(
    collections: &HashMap<automerge::ObjId, Collection>,
    collection: Collection,
) -> Option<&automerge::ObjId> {
    collections
        .iter()
        .find(|(_, c)| **c == collection)
        .map(|(obj, _)| obj)
}

#[cfg(test)]
mod tests;
