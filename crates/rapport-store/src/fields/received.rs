//! A teammate's edit of one record, received and written without loading
//! the document: the reverse of [`edit`](super::edit).
//!
//! [`FieldIndex::received_record`] finds the one indexed record a received
//! change edits. [`FieldIndex::receive_edit`] then copies that record (as
//! the view has it) into a scratch document, mirrors it onto the real
//! record as `edit` does ([`Mirror`]: the copy's `i`-th element is the
//! real `i`-th), moves every operation of the change onto the copy, and
//! reads the record back from the copy: what a load would show, provided
//! the change does on the copy what it does on the real document. That
//! holds when every operation
//!
//! - puts, deletes or makes an object at a key of the record or of a map
//!   in it, naming as preds exactly the operations the index holds there
//!   (so it supersedes every value, conflicts included, and leaves one);
//! - puts over or deletes an element of a list or text, naming exactly
//!   the element's current operations;
//! - inserts into a list or text right after an element the index holds
//!   (or one the change inserted), where the next element the index
//!   holds, if any, is older than the insertion. Automerge places a new
//!   element after the one it names and after any newer siblings there; on
//!   the copy every element is older, so it lands right after. Elements
//!   deleted here (which the index does not hold) do not change where it
//!   shows: automerge stops at the first older element, deleted or not,
//!   and the next shown one is older;
//! - or writes into an object the change made itself.
//!
//! Anything else (a counter, a mark, a record the copy does not mirror
//! faithfully, an element the index does not hold, several records) is
//! `None`, and the caller loads the document.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU64;

use automerge::{ActorId, AutoCommit, Change, ExpandedChange, ROOT, ReadDoc, legacy};
use autosurgeon::Reconcile;
use rapport_core::RecordId;
use rapport_core::doc::Collection;
use serde::Serialize;

use super::{
    ACTIVITIES, ColdActivities, Elem, FieldIndex, INDEXED, Mirror, OpRef, RecordOps, Slot,
    legacy_id,
};

/// A list or text of the record during the change: its real elements and,
/// position for position, the copy's element ids and current values.
struct Seq {
    copy: legacy::OpId,
    text: bool,
    real: Vec<Elem>,
    copied: Vec<(legacy::OpId, Vec<legacy::OpId>)>,
}

impl FieldIndex {
    /// The activities of the cold file's bytes `cold`, decoded, if it is
    /// the file the index names, whole (see [`take_cold`](Self::take_cold)):
    /// what [`take_cold_for`](Self::take_cold_for) takes from, decoded
    /// once for all the changes a sync receives.
    pub fn cold_activities(&self, cold: &[u8]) -> Option<ColdActivities> {
        let entries = self.cold_entries(cold)?;
        let mut activities = Vec::with_capacity(entries.len());
        for (id, ops) in entries {
            let record = postcard::from_bytes::<RecordOps>(ops).ok()?;
            activities.push((RecordId::from(id.to_string()), record));
        }
        Some(ColdActivities(activities))
    }

    /// Adds from `cold` (the cold file the index names, decoded) the
    /// activities that hold the objects `change` (received) writes in and
    /// the index has not found, so [`received_puts`](Self::received_puts)
    /// and [`received_record`](Self::received_record) can place it; never
    /// over an activity the index holds (its own entry is newer). Returns
    /// whether it added any.
    pub fn take_cold_for(&mut self, cold: &ColdActivities, change: &Change) -> bool {
        let missing = self.unheld_targets(change);
        if missing.is_empty() {
            return false;
        }
        let mut taken = Vec::new();
        for (id, record) in &cold.0 {
            if self.has_activity(id) {
                continue;
            }
            let mut holds = missing.contains(&record.obj);
            objects_in(&record.fields, &mut |obj| holds |= missing.contains(&obj));
            if holds {
                taken.push((id.clone(), record.clone()));
            }
        }
        let any = !taken.is_empty();
        self.records[ACTIVITIES].extend(taken);
        any
    }

    /// Whether `change` (received) writes in objects it did not make that
    /// no record the index holds has: objects of an activity in the cold
    /// file, perhaps ([`take_cold_for`](Self::take_cold_for)).
    pub fn lacks_targets_of(&self, change: &Change) -> bool {
        !self.unheld_targets(change).is_empty()
    }

    /// The objects `change` writes in that it did not make and no record
    /// of the index holds (those of actors the index does not know left
    /// out: no record can hold them).
    fn unheld_targets(&self, change: &Change) -> HashSet<OpRef> {
        let expanded = change.decode();
        let start = change.start_op().get();
        let made = |id: &legacy::OpId| id.actor() == change.actor_id() && id.counter() >= start;
        let targets: Vec<OpRef> = expanded
            .operations
            .iter()
            .filter_map(|op| match &op.obj {
                legacy::ObjectId::Id(obj) if !made(obj) => self.op_ref(obj),
                _ => None,
            })
            .collect();
        let held = self.owners(&targets, true);
        targets
            .into_iter()
            .filter(|t| !held.contains_key(t))
            .collect()
    }

    /// The one indexed record whose fields, or whose maps', lists' or
    /// texts' contents, every operation of `change` writes (besides
    /// objects the change makes); `None` if there is not exactly one.
    pub fn received_record(&self, change: &Change) -> Option<(Collection, RecordId)> {
        let expanded = change.decode();
        let start = change.start_op().get();
        let end = start.checked_add(expanded.operations.len() as u64)?;
        let made = |id: &legacy::OpId| {
            id.actor() == change.actor_id() && (start..end).contains(&id.counter())
        };
        // The objects the change writes in, other than its own.
        let mut targets = Vec::new();
        for op in &expanded.operations {
            let legacy::ObjectId::Id(obj) = &op.obj else {
                return None;
            };
            if !made(obj) {
                targets.push(self.op_ref(obj)?);
            }
        }
        let owners = self.owners(&targets, true);
        let mut found: Option<(usize, &RecordId)> = None;
        for target in &targets {
            let owner = *owners.get(target)?;
            match found {
                Some(f) if f != owner => return None,
                _ => found = Some(owner),
            }
        }
        let (slot, id) = found?;
        Some((INDEXED[slot], id.clone()))
    }

    /// Record `id` of `collection`, `old` as the view has it, after
    /// `change` (received: see the module documentation); `None` if the
    /// index cannot place every operation. On success the index includes
    /// the change.
    pub fn receive_edit<T>(
        &mut self,
        change: &Change,
        collection: Collection,
        id: &RecordId,
        old: &T,
    ) -> Option<T>
    where
        T: Reconcile + Serialize + serde::de::DeserializeOwned,
    {
        let slot = self.slot(collection)?;
        let real = self.records[slot].get(id)?.clone();
        let real_obj = self.opid(real.obj)?;
        // The copy, as `edit` makes it.
        let fresh: T = serde_json::to_value(old)
            .and_then(serde_json::from_value)
            .ok()?;
        let mut scratch = AutoCommit::new();
        autosurgeon::reconcile_prop(&mut scratch, ROOT, "r", &fresh).ok()?;
        scratch.commit();
        let (_, r) = scratch.get(ROOT, "r").ok()??;
        let mirror = Mirror::new(self, &mut scratch, &r, real_obj, &real.fields);
        if !mirror.faithful {
            return None;
        }
        // The mirrored maps and sequences, by their real objects.
        let maps: HashMap<legacy::OpId, (legacy::OpId, automerge::ObjId, &Vec<Slot>)> = mirror
            .maps
            .iter()
            .map(|(copy, m)| (m.real.clone(), (copy.clone(), m.copy.clone(), &m.fields)))
            .collect();
        let mut seqs: HashMap<legacy::OpId, Seq> = HashMap::new();
        for (copy, s) in &mirror.seqs {
            let mut copied = vec![None; s.elems.len()];
            for (e, &i) in &s.by_elem {
                copied[i] = Some((e.clone(), Vec::new()));
            }
            for (v, &i) in &s.by_value {
                copied[i].as_mut()?.1.push(v.clone());
            }
            seqs.insert(
                s.real.clone(),
                Seq {
                    copy: copy.clone(),
                    text: s.text,
                    real: s.elems.clone(),
                    copied: copied.into_iter().collect::<Option<_>>()?,
                },
            );
        }

        let expanded = change.decode();
        let start = change.start_op().get();
        // (A teammate's change could claim any start.)
        let end = start.checked_add(expanded.operations.len() as u64)?;
        // The change's actor, as the index will number it.
        let actor = self
            .actors
            .iter()
            .position(|a| a == change.actor_id())
            .unwrap_or(self.actors.len()) as u32;
        let made = |id: &legacy::OpId| {
            id.actor() == change.actor_id() && (start..end).contains(&id.counter())
        };
        let copy_start = scratch.document().max_op() + 1;
        let copy_actor = ActorId::random();
        // An operation of this change, as the copy numbers it.
        let renumber = |id: &legacy::OpId| -> Option<legacy::OpId> {
            made(id).then(|| legacy::OpId::new(copy_start + id.counter() - start, &copy_actor))
        };
        let to_ref = |id: &legacy::OpId| -> Option<OpRef> {
            if id.actor() == change.actor_id() {
                return Some(OpRef {
                    counter: id.counter(),
                    actor,
                });
            }
            self.op_ref(id)
        };
        let mut written: HashSet<(legacy::OpId, String)> = HashSet::new();
        // The objects this change makes, to their types.
        let mut made_types: HashMap<legacy::OpId, automerge::ObjType> = HashMap::new();
        let mut operations = Vec::with_capacity(expanded.operations.len());
        for (i, op) in expanded.operations.iter().enumerate() {
            if !matches!(
                op.action,
                legacy::OpType::Put(_) | legacy::OpType::Delete | legacy::OpType::Make(_)
            ) {
                return None;
            }
            let new = legacy::OpId::new(start + i as u64, change.actor_id());
            let legacy::ObjectId::Id(obj) = &op.obj else {
                return None;
            };
            if let legacy::OpType::Make(typ) = op.action {
                // (Rapport writes no table, and the index follows none.)
                if typ == automerge::ObjType::Table {
                    return None;
                }
                made_types.insert(new.clone(), typ);
            }
            let mut moved = op.clone();
            let pred: Vec<legacy::OpId> = op.pred.iter().cloned().collect();
            if let Some((copy, copy_obj, fields)) = maps.get(obj) {
                let legacy::Key::Map(key) = &op.key else {
                    return None;
                };
                if op.insert || !written.insert((obj.clone(), key.to_string())) {
                    return None;
                }
                let held = self
                    .keys
                    .iter()
                    .position(|k| k == key.as_str())
                    .and_then(|k| fields.iter().find(|s| s.key as usize == k));
                let current: Vec<legacy::OpId> = match held {
                    Some(s) => s.ops.iter().map(|o| self.opid(*o)).collect::<Option<_>>()?,
                    None => Vec::new(),
                };
                if !same(&current, &pred)
                    || (pred.is_empty() && op.action == legacy::OpType::Delete)
                {
                    return None;
                }
                moved.obj = legacy::ObjectId::Id(copy.clone());
                moved.pred = scratch
                    .get_all(copy_obj, key.as_str())
                    .ok()?
                    .iter()
                    .map(|(_, id)| legacy_id(id))
                    .collect::<Option<Vec<_>>>()?
                    .into();
            } else if let Some(seq) = seqs.get_mut(obj) {
                if matches!(op.action, legacy::OpType::Make(_)) {
                    return None;
                }
                let legacy::Key::Seq(key) = &op.key else {
                    return None;
                };
                let at = |e: &legacy::OpId| {
                    let e = to_ref(e)?;
                    seq.real.iter().position(|x| x.id == e)
                };
                if !fits(op, seq.text) {
                    return None;
                }
                moved.obj = legacy::ObjectId::Id(seq.copy.clone());
                if op.insert {
                    let p = match key {
                        legacy::ElementId::Head => None,
                        legacy::ElementId::Id(e) => Some(at(e)?),
                    };
                    if !pred.is_empty() {
                        return None;
                    }
                    let next = p.map_or(0, |p| p + 1);
                    if let Some(after) = seq.real.get(next)
                        && !self.older(after.id, &new, change.actor_id())
                    {
                        return None;
                    }
                    moved.key = legacy::Key::Seq(match p {
                        None => legacy::ElementId::Head,
                        Some(p) => legacy::ElementId::Id(seq.copied[p].0.clone()),
                    });
                    let copy_new = renumber(&new)?;
                    seq.real.insert(
                        next,
                        Elem {
                            id: to_ref(&new)?,
                            values: Vec::new(),
                        },
                    );
                    seq.copied.insert(next, (copy_new.clone(), vec![copy_new]));
                } else {
                    let legacy::ElementId::Id(e) = key else {
                        return None;
                    };
                    let p = at(e)?;
                    let current: Vec<legacy::OpId> = seq.real[p]
                        .current()
                        .into_iter()
                        .map(|o| match o.actor == actor {
                            true => Some(legacy::OpId::new(o.counter, change.actor_id())),
                            false => self.opid(o),
                        })
                        .collect::<Option<_>>()?;
                    if !same(&current, &pred) {
                        return None;
                    }
                    moved.key = legacy::Key::Seq(legacy::ElementId::Id(seq.copied[p].0.clone()));
                    moved.pred = seq.copied[p].1.clone().into();
                    if op.action == legacy::OpType::Delete {
                        seq.real.remove(p);
                        seq.copied.remove(p);
                    } else {
                        seq.real[p].values = vec![to_ref(&new)?];
                        seq.copied[p].1 = vec![renumber(&new)?];
                    }
                }
            } else if made(obj) {
                // An object this change made: everything in it is its own.
                // Its lists and texts hold what a held one may.
                match (made_types.get(obj)?, &op.key) {
                    (automerge::ObjType::Map, legacy::Key::Map(_)) if !op.insert => {}
                    (
                        typ @ (automerge::ObjType::List | automerge::ObjType::Text),
                        legacy::Key::Seq(_),
                    ) if fits(op, *typ == automerge::ObjType::Text) => {}
                    _ => return None,
                }
                moved.obj = legacy::ObjectId::Id(renumber(obj)?);
                if let legacy::Key::Seq(legacy::ElementId::Id(e)) = &op.key {
                    moved.key = legacy::Key::Seq(legacy::ElementId::Id(renumber(e)?));
                }
                moved.pred = pred
                    .iter()
                    .map(renumber)
                    .collect::<Option<Vec<_>>>()?
                    .into();
            } else {
                return None;
            }
            operations.push(moved);
        }

        let copied = ExpandedChange {
            operations,
            actor_id: copy_actor,
            hash: None,
            seq: 1,
            start_op: NonZeroU64::new(copy_start)?,
            time: 0,
            message: None,
            deps: scratch.get_heads(),
            extra_bytes: Vec::new(),
            author: None,
        };
        scratch.apply_changes([Change::from(copied)]).ok()?;
        // Decoded as a load decodes it (serde, stricter than autosurgeon).
        let record: T = rapport_core::doc::decode_record(&scratch, &r)?;

        // The index, as `received` and `applied` leave it.
        self.applied(slot, id, change.actor_id(), &expanded.operations, start);
        self.heads.retain(|h| !change.deps().contains(h));
        self.heads.push(change.hash());
        self.heads.sort();
        self.max_op = self.max_op.max(change.max_op());
        Some(record)
    }

    /// The indexed records that hold `targets`, as record objects or (if
    /// `nested`) as maps, lists or texts in one, each to its collection's
    /// slot and id. One walk of the records, which stops once every target
    /// is found: a received change writes in few objects, and a map of
    /// every object would cost more than the walk (100k records).
    pub(super) fn owners(
        &self,
        targets: &[OpRef],
        nested: bool,
    ) -> HashMap<OpRef, (usize, &RecordId)> {
        let mut wanted: Vec<OpRef> = targets.to_vec();
        wanted.sort_by_key(|t| (t.counter, t.actor));
        wanted.dedup();
        let mut found = HashMap::with_capacity(wanted.len());
        'records: for (slot, records) in self.records.iter().enumerate().take(INDEXED.len()) {
            for (id, record) in records {
                if found.len() == wanted.len() {
                    break 'records;
                }
                if wanted.contains(&record.obj) {
                    found.insert(record.obj, (slot, id));
                }
                if nested {
                    objects_in(&record.fields, &mut |obj| {
                        if wanted.contains(&obj) {
                            found.insert(obj, (slot, id));
                        }
                    });
                }
            }
        }
        found
    }

    /// `id` as the index numbers it (its actor known).
    pub(super) fn op_ref(&self, id: &legacy::OpId) -> Option<OpRef> {
        let actor = self.actors.iter().position(|a| a == id.actor())?;
        Some(OpRef {
            counter: id.counter(),
            actor: actor as u32,
        })
    }

    /// Whether `elem` comes before the operation `new` (of `new_actor`) in
    /// automerge's order of operations: by counter, then by actor.
    fn older(&self, elem: OpRef, new: &legacy::OpId, new_actor: &ActorId) -> bool {
        let elem_actor = match self.actors.get(elem.actor as usize) {
            Some(a) => a,
            // An element this change inserted: its own actor.
            None => new_actor,
        };
        (elem.counter, elem_actor.to_bytes()) < (new.counter(), new_actor.to_bytes())
    }
}

/// Calls `f` with every object `fields` hold (one each: a conflict is
/// not followed), and those in their maps.
pub(super) fn objects_in(fields: &[Slot], f: &mut impl FnMut(OpRef)) {
    for slot in fields {
        let [own] = slot.ops.as_slice() else {
            continue;
        };
        if slot.nested.is_some() {
            f(*own);
        }
        if let Some(children) = slot.children() {
            objects_in(children, f);
        }
    }
}

fn same(a: &[legacy::OpId], b: &[legacy::OpId]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}

/// Whether `op`, on an element of a list or a text of a record, deletes
/// one or puts what a list (a string) or a text (one character) holds, as
/// Rapport and automerge write them: the index follows nothing else.
fn fits(op: &legacy::Op, text: bool) -> bool {
    match &op.action {
        legacy::OpType::Put(automerge::ScalarValue::Str(s)) => !text || s.chars().count() == 1,
        legacy::OpType::Delete => !op.insert,
        _ => false,
    }
}
