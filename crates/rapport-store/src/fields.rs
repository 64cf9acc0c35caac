//! Where each record's fields are in a document, so an edit of a record's
//! plain fields can be written without loading the document.
//!
//! An automerge change that sets a map key must name the operations it
//! supersedes (its *preds*: the key's current values, several if
//! concurrent writes left a conflict), depend on changes that contain
//! them, and number its operations above every operation of the document.
//! A [`FieldIndex`] keeps exactly that, for every record of the indexed
//! collections: the document's heads and highest operation counter, each
//! record's object id, and the operation ids of each of its fields. It is
//! built from a loaded document ([`FieldIndex::build`]) and saved beside
//! its view, valid (like the view) only for the exact chunks it was built
//! from; every write that keeps the view valid keeps it valid too.
//!
//! [`edit`] then runs an edit on a copy of the record in a scratch
//! document, takes the change autosurgeon made there (so values are
//! encoded exactly as a loaded edit would encode them), and moves it onto
//! the real document: the record's real object, the real preds, the real
//! heads as dependencies. Only changes of plain (scalar) fields move:
//! anything that touches a list, a text or a nested map is
//! [`Edited::Unsupported`], and the caller loads the document instead.

use std::collections::BTreeMap;
use std::num::NonZeroU64;

use automerge::{ActorId, Change, ExpandedChange};
use automerge::{AutoCommit, ChangeHash, ObjId, ROOT, ReadDoc, Value};
use autosurgeon::{Hydrate, Reconcile};
use rapport_core::RecordId;
use rapport_core::doc::Collection;
use serde::{Deserialize, Serialize};

/// The collections indexed: those whose records commands edit. The
/// activity log (most of a document's records) is not: its records are
/// added, rarely edited.
pub const INDEXED: [Collection; 7] = [
    Collection::People,
    Collection::Relationships,
    Collection::Opportunities,
    Collection::Plan,
    Collection::Partnerships,
    Collection::PrivateNotes,
    Collection::Accounts,
];

/// An operation id, its actor as an index into [`FieldIndex::actors`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct OpRef {
    counter: u64,
    actor: u32,
}

/// A field of a record: the operations that hold its current value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Slot {
    /// Index into [`FieldIndex::keys`].
    key: u32,
    /// One, or more for a conflict.
    ops: Vec<OpRef>,
    /// Whether every current value is a scalar (not a list, text or map).
    scalar: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RecordOps {
    obj: OpRef,
    fields: Vec<Slot>,
}

/// See the module documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldIndex {
    heads: Vec<ChangeHash>,
    max_op: u64,
    actors: Vec<ActorId>,
    keys: Vec<String>,
    /// One map per collection of [`INDEXED`], in that order.
    records: Vec<BTreeMap<RecordId, RecordOps>>,
}

/// What an index file holds before its records.
#[derive(Serialize, Deserialize)]
struct Header {
    /// The chunks the index is valid for (`kind/name`, sorted).
    chunks: Vec<String>,
    heads: Vec<ChangeHash>,
    max_op: u64,
    actors: Vec<ActorId>,
    keys: Vec<String>,
}

const MAGIC: &[u8; 4] = b"RPFI";
const VERSION: u32 = 1;
/// Magic, version, header length, CRC-32 of the header, CRC-32 of the
/// records.
const PREFIX: usize = 20;

/// The bytes of an index file: [`PREFIX`], the [`Header`], then one
/// postcard entry `(collection slot, id, record)` per record. Readers
/// fold the entries into maps, a later entry replacing an earlier one, so
/// records added to a document are appended without decoding the others
/// ([`append_to_file`]).
fn file_bytes(header: &Header, records: &[u8]) -> Option<Vec<u8>> {
    let head = postcard::to_stdvec(header).ok()?;
    let mut out = Vec::with_capacity(PREFIX + head.len() + records.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&u32::try_from(head.len()).ok()?.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&head).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(records).to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(records);
    Some(out)
}

/// The header and the records' bytes of an index file, checked, if it is
/// of this version and valid for `chunks` (see [`file_bytes`]).
fn split_file<'a>(bytes: &'a [u8], chunks: &[String]) -> Option<(Header, &'a [u8])> {
    if bytes.get(..4)? != MAGIC || bytes.get(4..8)? != VERSION.to_le_bytes() {
        return None;
    }
    let word = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    let head_len = word(8)? as usize;
    let head = bytes.get(PREFIX..PREFIX + head_len)?;
    let records = bytes.get(PREFIX + head_len..)?;
    if crc32fast::hash(head) != word(12)? || crc32fast::hash(records) != word(16)? {
        return None;
    }
    let header: Header = match postcard::take_from_bytes(head) {
        Ok((header, [])) => header,
        _ => return None,
    };
    (header.chunks == chunks).then_some((header, records))
}

/// `records` as index-file entries.
fn encode_entries(records: &[BTreeMap<RecordId, RecordOps>]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for (slot, records) in records.iter().enumerate() {
        for (id, ops) in records {
            out = postcard::to_extend(&(slot as u8, id, ops), out).ok()?;
        }
    }
    Some(out)
}

impl FieldIndex {
    /// The index as a file's bytes, valid for `chunks` (`kind/name`,
    /// sorted).
    pub(crate) fn to_file(&self, chunks: Vec<String>) -> Option<Vec<u8>> {
        let header = Header {
            chunks,
            heads: self.heads.clone(),
            max_op: self.max_op,
            actors: self.actors.clone(),
            keys: self.keys.clone(),
        };
        file_bytes(&header, &encode_entries(&self.records)?)
    }

    /// The index in a file's bytes, if they are whole and valid for
    /// exactly `chunks`.
    pub(crate) fn from_file(bytes: &[u8], chunks: &[String]) -> Option<FieldIndex> {
        let (header, mut entries) = split_file(bytes, chunks)?;
        let mut records = vec![BTreeMap::new(); INDEXED.len()];
        while !entries.is_empty() {
            let ((slot, id, ops), rest): ((u8, RecordId, RecordOps), _) =
                postcard::take_from_bytes(entries).ok()?;
            records.get_mut(slot as usize)?.insert(id, ops);
            entries = rest;
        }
        Some(FieldIndex {
            heads: header.heads,
            max_op: header.max_op,
            actors: header.actors,
            keys: header.keys,
            records,
        })
    }
}

/// The bytes of an index file (valid for `before`) after `change` was
/// appended: a change built on the document's first change alone that
/// adds new records, which `base` (that first change and `change`)
/// holds. The file's records are not decoded: the new ones are appended
/// as entries. `None` if the file is not valid for `before`.
pub(crate) fn append_to_file(
    bytes: &[u8],
    before: &[String],
    after: Vec<String>,
    base: &AutoCommit,
    change: &Change,
) -> Option<Vec<u8>> {
    let (header, old) = split_file(bytes, before)?;
    let mut index = FieldIndex {
        heads: header.heads,
        max_op: header.max_op,
        actors: header.actors,
        keys: header.keys,
        records: vec![BTreeMap::new(); INDEXED.len()],
    };
    index.appended(base, change);
    let mut records = old.to_vec();
    records.extend(encode_entries(&index.records)?);
    let header = Header {
        chunks: after,
        heads: index.heads,
        max_op: index.max_op,
        actors: index.actors,
        keys: index.keys,
    };
    file_bytes(&header, &records)
}

/// What [`edit`] made of an edit.
pub enum Edited<T, V> {
    /// The change, written on the document's heads, and the record as it
    /// now is, with what the edit returned.
    Change {
        change: Box<Change>,
        record: T,
        value: V,
    },
    /// The edit changed nothing.
    Unchanged { record: T, value: V },
    /// The edit touches more than plain fields, or the index does not
    /// know the record: load the document instead.
    Unsupported,
}

/// An error of the edit itself, or of the scratch document.
pub enum EditError<E> {
    /// The edit's own error: nothing is written.
    Edit(E),
    /// The scratch copy could not be made: load the document instead.
    Scratch,
}

impl FieldIndex {
    /// Indexes `doc`.
    pub fn build(doc: &mut AutoCommit) -> FieldIndex {
        let heads = doc.get_heads();
        let max_op = doc
            .get_changes_meta(&[])
            .iter()
            .map(|c| c.max_op)
            .max()
            .unwrap_or(0);
        let mut index = FieldIndex {
            heads,
            max_op,
            actors: Vec::new(),
            keys: Vec::new(),
            records: vec![BTreeMap::new(); INDEXED.len()],
        };
        index.add_records(doc);
        index
    }

    /// Indexes every record of `doc`'s indexed collections (replacing what
    /// was known of them).
    fn add_records(&mut self, doc: &AutoCommit) {
        let mut actors = positions(&self.actors);
        let mut keys = positions(&self.keys);
        let mut op_ref = |id: &ObjId, actors_vec: &mut Vec<ActorId>| -> Option<OpRef> {
            let ObjId::Id(counter, actor, _) = id else {
                return None;
            };
            let next = actors_vec.len() as u32;
            let index = *actors.entry(actor.clone()).or_insert_with(|| {
                actors_vec.push(actor.clone());
                next
            });
            Some(OpRef {
                counter: *counter,
                actor: index,
            })
        };
        for (slot, collection) in INDEXED.iter().enumerate() {
            let Ok(Some((Value::Object(automerge::ObjType::Map), coll))) =
                doc.get(ROOT, collection.key())
            else {
                continue;
            };
            for item in doc.map_range(&coll, ..) {
                // A conflicted record (two objects under one id) is left
                // out: edits of it load the document.
                if item.conflict {
                    continue;
                }
                let obj = item.id();
                let Some(obj_ref) = op_ref(&obj, &mut self.actors) else {
                    continue;
                };
                if !matches!(doc.object_type(&obj), Ok(automerge::ObjType::Map)) {
                    continue;
                }
                let mut fields = Vec::new();
                for field in doc.map_range(&obj, ..) {
                    let next = self.keys.len() as u32;
                    let key = *keys.entry(field.key.to_string()).or_insert_with(|| {
                        self.keys.push(field.key.to_string());
                        next
                    });
                    // (op id, whether it holds a scalar) of each current value.
                    let values: Vec<(ObjId, bool)> = if field.conflict {
                        doc.get_all(&obj, field.key.as_ref())
                            .unwrap_or_default()
                            .into_iter()
                            .map(|(v, id)| (id, v.is_scalar()))
                            .collect()
                    } else {
                        let scalar = !matches!(field.value, automerge::ValueRef::Object(_));
                        vec![(field.id(), scalar)]
                    };
                    let scalar = values.iter().all(|(_, s)| *s);
                    let ops: Option<Vec<OpRef>> = values
                        .iter()
                        .map(|(id, _)| op_ref(id, &mut self.actors))
                        .collect();
                    let Some(ops) = ops else { continue };
                    fields.push(Slot { key, ops, scalar });
                }
                self.records[slot].insert(
                    RecordId::from(item.key.to_string()),
                    RecordOps {
                        obj: obj_ref,
                        fields,
                    },
                );
            }
        }
    }

    /// The index after `change` (already written) was appended: a change
    /// built on the document's first change alone that adds new records,
    /// which `base` (that first change and `change`) holds.
    /// ([`append_to_file`] does this to a file without decoding it.)
    pub fn appended(&mut self, base: &AutoCommit, change: &Change) {
        self.heads.retain(|h| !change.deps().contains(h));
        self.heads.push(change.hash());
        self.heads.sort();
        self.max_op = self.max_op.max(change.max_op());
        self.add_records(base);
    }

    fn slot(&self, collection: Collection) -> Option<usize> {
        INDEXED.iter().position(|c| *c == collection)
    }

    fn opid(&self, op: OpRef) -> Option<automerge::legacy::OpId> {
        let actor = self.actors.get(op.actor as usize)?;
        Some(automerge::legacy::OpId::new(op.counter, actor))
    }
}

/// Where each item of a table is.
fn positions<T: Ord + Clone>(table: &[T]) -> BTreeMap<T, u32> {
    table
        .iter()
        .enumerate()
        .map(|(i, item)| (item.clone(), i as u32))
        .collect()
}

/// Runs `f` on a copy of `old` (record `id` of `collection`) in a scratch
/// document and, if it changed only plain fields, returns the change that
/// makes the same edit on the document `index` describes. On success the
/// index is updated to include that change.
pub fn edit<T, V, E>(
    index: &mut FieldIndex,
    collection: Collection,
    id: &RecordId,
    old: &T,
    f: impl FnOnce(&mut T) -> Result<V, E>,
) -> Result<Edited<T, V>, EditError<E>>
where
    T: Reconcile + Hydrate + Serialize + serde::de::DeserializeOwned,
{
    let Some(slot) = index.slot(collection) else {
        return Ok(Edited::Unsupported);
    };
    let Some(real) = index.records[slot].get(id).cloned() else {
        return Ok(Edited::Unsupported);
    };
    // A copy with every text fresh: a text hydrated from another document
    // would refuse (or, inside a new map, panic) to reconcile here.
    let fresh: T = serde_json::to_value(old)
        .and_then(serde_json::from_value)
        .map_err(|_| EditError::Scratch)?;
    let mut scratch = AutoCommit::new();
    autosurgeon::reconcile_prop(&mut scratch, ROOT, "r", &fresh).map_err(|_| EditError::Scratch)?;
    scratch.commit();
    let before = scratch.get_heads();
    // Hydrated from the scratch copy, so text fields know their objects
    // there and reconcile as edits of them, not as new texts.
    let mut record: T =
        autosurgeon::hydrate_prop(&scratch, ROOT, "r").map_err(|_| EditError::Scratch)?;
    let value = f(&mut record).map_err(EditError::Edit)?;
    autosurgeon::reconcile_prop(&mut scratch, ROOT, "r", &record)
        .map_err(|_| EditError::Scratch)?;
    scratch.commit();
    if scratch.get_heads() == before {
        return Ok(Edited::Unchanged { record, value });
    }
    let Some(made) = scratch.get_last_local_change() else {
        return Ok(Edited::Unsupported);
    };
    let Ok(Some((_, ObjId::Id(counter, actor, _)))) = scratch.get(ROOT, "r") else {
        return Ok(Edited::Unsupported);
    };
    let scratch_obj = automerge::legacy::OpId::new(counter, &actor);
    let Some(real_obj) = index.opid(real.obj) else {
        return Ok(Edited::Unsupported);
    };
    let mut expanded: ExpandedChange = made.decode();
    let mut operations = Vec::with_capacity(expanded.operations.len());
    for mut op in std::mem::take(&mut expanded.operations) {
        let plain = !op.insert
            && op.obj == automerge::legacy::ObjectId::Id(scratch_obj.clone())
            && matches!(
                op.action,
                automerge::legacy::OpType::Put(_) | automerge::legacy::OpType::Delete
            );
        let automerge::legacy::Key::Map(key) = &op.key else {
            return Ok(Edited::Unsupported);
        };
        if !plain {
            return Ok(Edited::Unsupported);
        }
        let current = index
            .keys
            .iter()
            .position(|k| k == key.as_str())
            .and_then(|k| real.fields.iter().find(|s| s.key as usize == k));
        let preds: Vec<automerge::legacy::OpId> = match current {
            // A list, text or map replaced by a scalar: what a loaded edit
            // does there depends on the real object; load it.
            Some(slot) if !slot.scalar => return Ok(Edited::Unsupported),
            Some(slot) => match slot.ops.iter().map(|op| index.opid(*op)).collect() {
                Some(preds) => preds,
                None => return Ok(Edited::Unsupported),
            },
            None => Vec::new(),
        };
        // Deleting what the real record does not have is nothing.
        if preds.is_empty() && op.action == automerge::legacy::OpType::Delete {
            continue;
        }
        op.obj = automerge::legacy::ObjectId::Id(real_obj.clone());
        op.pred = preds.into();
        operations.push(op);
    }
    if operations.is_empty() {
        return Ok(Edited::Unchanged { record, value });
    }
    let count = operations.len() as u64;
    let start_op = index.max_op + 1;
    expanded.operations = operations;
    expanded.actor_id = ActorId::random();
    expanded.seq = 1;
    expanded.start_op = NonZeroU64::new(start_op).expect("max_op + 1 is not zero");
    expanded.deps = index.heads.clone();
    expanded.hash = None;
    let change = Change::from(expanded.clone());
    // The index after the change: its operations now hold their fields.
    let actor = index.actors.len() as u32;
    index.actors.push(expanded.actor_id.clone());
    let real_record = index.records[slot].get_mut(id).expect("looked up above");
    for (i, op) in expanded.operations.iter().enumerate() {
        let automerge::legacy::Key::Map(key) = &op.key else {
            continue;
        };
        let k = match index.keys.iter().position(|k| k == key.as_str()) {
            Some(k) => k as u32,
            None => {
                index.keys.push(key.to_string());
                (index.keys.len() - 1) as u32
            }
        };
        real_record.fields.retain(|s| s.key != k);
        if matches!(op.action, automerge::legacy::OpType::Put(_)) {
            real_record.fields.push(Slot {
                key: k,
                ops: vec![OpRef {
                    counter: start_op + i as u64,
                    actor,
                }],
                scalar: true,
            });
        }
    }
    index.heads = vec![change.hash()];
    index.max_op = start_op + count - 1;
    Ok(Edited::Change {
        change: Box::new(change),
        record,
        value,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use automerge::{AutoCommit, ROOT, ReadDoc};
    use rapport_core::RecordId;
    use rapport_core::doc::{self, Collection};
    use rapport_core::model::{Account, Person};
    use rapport_core::values::Notes;

    use super::{EditError, Edited, FieldIndex, edit};

    /// An account document with one person, saved as the CLI saves it.
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

    fn person(d: &AutoCommit, id: &RecordId) -> Person {
        doc::read_record(d, Collection::People, id)
            .unwrap()
            .unwrap()
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
        let (_, people) = d.get(ROOT, "people").unwrap().unwrap();
        let (_, obj) = d.get(&people, id.as_str()).unwrap().unwrap();
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

    type Resolved = (
        Vec<automerge::ChangeHash>,
        u64,
        Vec<BTreeMap<RecordId, (String, BTreeMap<String, (Vec<String>, bool)>)>>,
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
                        let fields = r
                            .fields
                            .iter()
                            .map(|s| {
                                let mut ops: Vec<String> = s.ops.iter().map(op).collect();
                                ops.sort();
                                (index.keys[s.key as usize].clone(), (ops, s.scalar))
                            })
                            .collect();
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

    #[test]
    fn lists_texts_and_unknown_records_are_left_to_a_load() {
        let mut p = Person::named("Ada");
        p.tags = vec!["board".into()];
        let (base, id) = account(&p);
        let mut d = base.clone();
        let mut index = FieldIndex::build(&mut d);
        let heads = d.get_heads();
        assert_eq!(
            indexed_edit(&mut index, &mut d, &id, |p| p.tags.push("cfo".into())),
            "unsupported"
        );
        assert_eq!(
            indexed_edit(&mut index, &mut d, &id, |p| p.notes.append("new")),
            "unsupported"
        );
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
        index.appended(&base, &change);
        assert_eq!(resolved(&index), resolved(&FieldIndex::build(&mut d)));
        // The same, done to the file without decoding its records.
        let after = vec!["a".into(), "b".into()];
        let appended = super::append_to_file(&file, &["a".into()], after.clone(), &base, &change);
        let from_file = FieldIndex::from_file(&appended.unwrap(), &after).unwrap();
        assert_eq!(resolved(&from_file), resolved(&index));
        assert!(super::append_to_file(&file, &after, after.clone(), &base, &change).is_none());
        // Both people can now be edited through the index.
        for who in [&id, &new] {
            let f = |p: &mut Person| p.title = Some("CTO".into());
            assert_eq!(indexed_edit(&mut index, &mut d, who, f), "change");
            assert_eq!(person(&d, who).title.as_deref(), Some("CTO"));
        }
        assert_eq!(resolved(&index), resolved(&FieldIndex::build(&mut d)));
    }

    #[test]
    fn an_index_file_is_read_only_whole_and_for_its_chunks() {
        let (mut d, _) = account(&Person::named("Ada"));
        let index = FieldIndex::build(&mut d);
        let chunks = vec!["incremental/x".to_string(), "snapshot/y".to_string()];
        let file = index.to_file(chunks.clone()).unwrap();
        assert_eq!(FieldIndex::from_file(&file, &chunks), Some(index));
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
}
