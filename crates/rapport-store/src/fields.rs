//! Where each record's fields are in a document, so an edit of a record
//! can be written without loading the document.
//!
//! An automerge change that sets a map key must name the operations it
//! supersedes (its *preds*: the key's current values, several if
//! concurrent writes left a conflict), depend on changes that contain
//! them, and number its operations above every operation of the document.
//! An edit of a list or a text must also name the *element* it puts over,
//! deletes, or inserts after: the id of the operation that inserted it
//! (not its value's, which differs once a value was put over it; see
//! `vendor/automerge/PATCHED.md`). A [`FieldIndex`] keeps exactly that,
//! for every record of the indexed collections: the document's heads and
//! highest operation counter, each record's object id, the operation ids
//! of each of its fields, of the fields of its maps (an opportunity's
//! players, a partnership's commitments, `MAX_DEPTH` deep), and the
//! elements of its lists and texts (stored as runs: text typed at once is
//! one entry). It is built from a loaded document ([`FieldIndex::build`])
//! and saved beside its view, valid (like the view) only for the exact
//! chunks it was built from; every write that keeps the view valid keeps
//! it valid too.
//!
//! [`edit`] then runs an edit on a copy of the record in a scratch
//! document, takes the change autosurgeon made there (so values are
//! encoded, and lists and maps diffed, exactly as a loaded edit would),
//! and moves it onto the real document (`translate`): the record's real
//! object, its maps', lists' and texts' real objects and elements (the
//! copy's `i`-th element is the real `i`-th), the real preds, the real
//! heads as dependencies, and the operations renumbered above the
//! document's, objects the change makes (a new key player) included. What
//! it cannot move is [`Edited::Unsupported`], and the caller loads the
//! document instead: an object replaced by another value, a field holding
//! two objects at once, a list or map the record does not read one for one
//! (a null among strings, an entry it cannot read), a counter or a mark,
//! and a conflict the edit does not write over (a loaded edit settles
//! every conflict of the record's fields, maps and lists: see
//! `leaves_a_conflict`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::num::NonZeroU64;

use automerge::{ActorId, Change, ExpandedChange, legacy};
use automerge::{AutoCommit, Automerge, ChangeHash, ObjId, ROOT, ReadDoc, Value};
use autosurgeon::{Hydrate, Reconcile};
use rapport_core::RecordId;
use rapport_core::doc::Collection;
use rapport_core::model::Account;
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

/// Where the records kept at the document's root are (an account
/// document's `account`), after one map per collection of [`INDEXED`];
/// each under its key as id.
const ROOT_SLOT: usize = INDEXED.len();
const ROOT_RECORDS: [&str; 1] = ["account"];
const RECORD_MAPS: usize = INDEXED.len() + 1;

/// An operation id, its actor as an index into [`FieldIndex::actors`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct OpRef {
    counter: u64,
    actor: u32,
}

/// A field of a record: the operations that hold its current value.
/// Stored compactly (see [`slot_codec`]): most are one operation and a
/// scalar, and an index holds hundreds of thousands.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    /// Index into [`FieldIndex::keys`].
    key: u32,
    /// One, or more for a conflict.
    ops: Vec<OpRef>,
    /// Whether every current value is a scalar (not a list, text or map).
    scalar: bool,
    /// Whether the value is a text (one object).
    text: bool,
    /// For one scalar value, its type ([`scalar_kind`]); 0 otherwise. A
    /// loaded edit writes the field again in the type Rapport writes
    /// (an integer another client wrote as `Int` becomes `Uint`), so a
    /// record holding another type loads.
    kind: u8,
    /// What is inside the value, when the index follows it (boxed: most
    /// slots have nothing inside).
    nested: Option<Box<Nested>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Nested {
    /// For a list or a text (one object, no conflict): its elements, in
    /// order, so an edit can name the ones it puts over, deletes or
    /// inserts after. (None for a text whose elements are not one
    /// character each, or that has formatting marks.)
    Elems(Vec<Elem>),
    /// For a map (one object, no conflict, at most [`MAX_DEPTH`] maps
    /// below the record): its fields.
    Children(Vec<Slot>),
}

impl Slot {
    fn elems(&self) -> Option<&Vec<Elem>> {
        match self.nested.as_deref() {
            Some(Nested::Elems(elems)) => Some(elems),
            _ => None,
        }
    }

    fn elems_mut(&mut self) -> Option<&mut Vec<Elem>> {
        match self.nested.as_deref_mut() {
            Some(Nested::Elems(elems)) => Some(elems),
            _ => None,
        }
    }

    fn children(&self) -> Option<&Vec<Slot>> {
        match self.nested.as_deref() {
            Some(Nested::Children(children)) => Some(children),
            _ => None,
        }
    }

    fn children_mut(&mut self) -> Option<&mut Vec<Slot>> {
        match self.nested.as_deref_mut() {
            Some(Nested::Children(children)) => Some(children),
            _ => None,
        }
    }
}

/// A slot as a postcard tuple: its key, its operations, one byte of flags
/// (scalar, text, elements follow, fields follow; the scalar's type in the
/// high four bits), then the elements (as [`runs`]) or the fields, if any.
mod slot_codec {
    use serde::de::{self, Deserializer, SeqAccess, Visitor};
    use serde::ser::{SerializeTuple, Serializer};
    use serde::{Deserialize, Serialize};

    use super::{Nested, OpRef, Slot, runs};

    const SCALAR: u8 = 1;
    const TEXT: u8 = 2;
    const ELEMS: u8 = 4;
    const CHILDREN: u8 = 8;

    impl Serialize for Slot {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut flags = self.kind << 4;
            if self.scalar {
                flags |= SCALAR;
            }
            if self.text {
                flags |= TEXT;
            }
            match self.nested.as_deref() {
                Some(Nested::Elems(_)) => flags |= ELEMS,
                Some(Nested::Children(_)) => flags |= CHILDREN,
                None => {}
            }
            let mut t = s.serialize_tuple(4)?;
            t.serialize_element(&self.key)?;
            t.serialize_element(&self.ops)?;
            t.serialize_element(&flags)?;
            match self.nested.as_deref() {
                Some(Nested::Elems(elems)) => t.serialize_element(&runs::Runs(elems))?,
                Some(Nested::Children(children)) => t.serialize_element(children)?,
                None => {}
            }
            t.end()
        }
    }

    impl<'de> Deserialize<'de> for Slot {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Slot, D::Error> {
            struct SlotVisitor;
            impl<'de> Visitor<'de> for SlotVisitor {
                type Value = Slot;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a slot")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Slot, A::Error> {
                    let missing = || de::Error::custom("a truncated slot");
                    let key: u32 = seq.next_element()?.ok_or_else(missing)?;
                    let ops: Vec<OpRef> = seq.next_element()?.ok_or_else(missing)?;
                    let flags: u8 = seq.next_element()?.ok_or_else(missing)?;
                    let nested = match (flags & ELEMS != 0, flags & CHILDREN != 0) {
                        (false, false) => None,
                        (true, false) => {
                            let elems: runs::Elems = seq.next_element()?.ok_or_else(missing)?;
                            Some(Box::new(Nested::Elems(elems.0)))
                        }
                        (false, true) => {
                            let children: Vec<Slot> = seq.next_element()?.ok_or_else(missing)?;
                            Some(Box::new(Nested::Children(children)))
                        }
                        (true, true) => return Err(de::Error::custom("a malformed slot")),
                    };
                    Ok(Slot {
                        key,
                        ops,
                        scalar: flags & SCALAR != 0,
                        text: flags & TEXT != 0,
                        kind: flags >> 4,
                        nested,
                    })
                }
            }
            d.deserialize_tuple(4, SlotVisitor)
        }
    }
}

/// An element of a list or text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Elem {
    /// The operation that inserted it: what changes name it by.
    id: OpRef,
    /// The operations holding its current value, when that is not `id`
    /// alone (a value was put over it, or concurrent puts conflict).
    values: Vec<OpRef>,
}

impl Elem {
    /// The operations an edit of this element supersedes.
    fn current(&self) -> Vec<OpRef> {
        if self.values.is_empty() {
            vec![self.id]
        } else {
            self.values.clone()
        }
    }
}

/// Elements stored as runs: text typed at once, or a list written at once,
/// is elements with consecutive counters of one actor, each holding its
/// own insertion, so a note of a thousand characters is one entry.
mod runs {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{Elem, OpRef};

    /// `len` elements from `id` on (counters `id.counter + i`), each
    /// holding its own insertion; or one element (`len` 1) with `values`.
    #[derive(Serialize, Deserialize)]
    struct Run {
        id: OpRef,
        len: u32,
        values: Vec<OpRef>,
    }

    /// Elements, serialized as runs.
    pub(super) struct Runs<'a>(pub(super) &'a [Elem]);

    impl Serialize for Runs<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut runs: Vec<Run> = Vec::new();
            for e in self.0 {
                match runs.last_mut() {
                    Some(run)
                        if e.values.is_empty()
                            && run.values.is_empty()
                            && run.id.actor == e.id.actor
                            && run.id.counter + u64::from(run.len) == e.id.counter =>
                    {
                        run.len += 1;
                    }
                    _ => runs.push(Run {
                        id: e.id,
                        len: 1,
                        values: e.values.clone(),
                    }),
                }
            }
            runs.serialize(s)
        }
    }

    /// Elements, deserialized from runs.
    pub(super) struct Elems(pub(super) Vec<Elem>);

    impl<'de> Deserialize<'de> for Elems {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Elems, D::Error> {
            let runs = Vec::<Run>::deserialize(d)?;
            let mut elems = Vec::new();
            for run in runs {
                if run.len == 0 || (run.len > 1 && !run.values.is_empty()) {
                    return Err(serde::de::Error::custom("a malformed run of elements"));
                }
                for i in 0..u64::from(run.len) {
                    elems.push(Elem {
                        id: OpRef {
                            counter: run.id.counter + i,
                            actor: run.id.actor,
                        },
                        values: run.values.clone(),
                    });
                }
            }
            Ok(Elems(elems))
        }
    }
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
    /// One map per collection of [`INDEXED`], in that order, then the
    /// records at the root (`ROOT_RECORDS`).
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
/// 2: slots hold the elements of lists and texts; 3: and the fields of
/// maps; 4: and whether they hold a text; 5: the account record at the
/// root is indexed too; 6: slots hold their scalar's type; 7: slots in
/// their compact form (`slot_codec`). (postcard is not self-describing: a
/// file of another version must never be decoded as this one.)
const VERSION: u32 = 7;
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
        let mut records = vec![BTreeMap::new(); RECORD_MAPS];
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
    base: &Automerge,
    change: &Change,
) -> Option<Vec<u8>> {
    let (header, old) = split_file(bytes, before)?;
    let mut index = FieldIndex {
        heads: header.heads,
        max_op: header.max_op,
        actors: header.actors,
        keys: header.keys,
        records: vec![BTreeMap::new(); RECORD_MAPS],
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
        let doc = doc.document();
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
            records: vec![BTreeMap::new(); RECORD_MAPS],
        };
        index.add_records(doc, None);
        index
    }

    /// Indexes the records of `doc`'s indexed collections (replacing what
    /// was known of them): every one, or with `made_by`, only those whose
    /// object that change made.
    fn add_records(&mut self, doc: &Automerge, made_by: Option<&Change>) {
        let mut tables = Tables {
            actor_at: positions(&self.actors),
            key_at: positions(&self.keys),
            actors: &mut self.actors,
            keys: &mut self.keys,
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
                if let Some(change) = made_by {
                    let ObjId::Id(counter, actor, _) = &obj else {
                        continue;
                    };
                    let ops = change.start_op().get()..=change.max_op();
                    if actor != change.actor_id() || !ops.contains(counter) {
                        continue;
                    }
                }
                let Some(obj_ref) = tables.op_ref(&obj) else {
                    continue;
                };
                if !matches!(doc.object_type(&obj), Ok(automerge::ObjType::Map)) {
                    continue;
                }
                let fields = tables.fields(doc, &obj, 0);
                self.records[slot].insert(
                    RecordId::from(item.key.to_string()),
                    RecordOps {
                        obj: obj_ref,
                        fields,
                    },
                );
            }
        }
        // An appended change adds records to collections only.
        if made_by.is_some() {
            return;
        }
        for key in ROOT_RECORDS {
            // One map, not two in conflict.
            let values = doc.get_all(ROOT, key).unwrap_or_default();
            let [(Value::Object(automerge::ObjType::Map), obj)] = values.as_slice() else {
                continue;
            };
            let Some(obj_ref) = tables.op_ref(obj) else {
                continue;
            };
            let fields = tables.fields(doc, obj, 0);
            self.records[ROOT_SLOT].insert(
                RecordId::from(key.to_string()),
                RecordOps {
                    obj: obj_ref,
                    fields,
                },
            );
        }
    }

    /// The index after `change` (already written) was appended: a change
    /// built on the document's first change alone that adds new records,
    /// which `base` (that first change and `change`) holds.
    /// ([`append_to_file`] does this to a file without decoding it.)
    pub fn appended(&mut self, base: &Automerge, change: &Change) {
        self.heads.retain(|h| !change.deps().contains(h));
        self.heads.push(change.hash());
        self.heads.sort();
        self.max_op = self.max_op.max(change.max_op());
        // Only the records `change` made: records of the first change
        // may have been edited since, and `base` has them as they were.
        self.add_records(base, Some(change));
    }

    fn slot(&self, collection: Collection) -> Option<usize> {
        INDEXED.iter().position(|c| *c == collection)
    }

    fn opid(&self, op: OpRef) -> Option<automerge::legacy::OpId> {
        let actor = self.actors.get(op.actor as usize)?;
        Some(automerge::legacy::OpId::new(op.counter, actor))
    }
}

/// Whether `operations` (the edit, written on the real record `real`)
/// leave a conflict a loaded edit would settle. A loaded edit writes every
/// field of the record, of its maps and of its lists again; automerge
/// skips what is unchanged, but where concurrent writes left a conflict it
/// settles it on the winning value. (A text is edited by splices of what
/// changed only.) Such an edit is left to a load, so both ways leave the
/// same document.
fn leaves_a_conflict(index: &FieldIndex, real: &RecordOps, operations: &[legacy::Op]) -> bool {
    let mut written = HashSet::new();
    for op in operations.iter().filter(|op| !op.insert) {
        let legacy::ObjectId::Id(obj) = &op.obj else {
            continue;
        };
        match &op.key {
            legacy::Key::Map(k) => written.insert((obj.clone(), Some(k.to_string()))),
            legacy::Key::Seq(legacy::ElementId::Id(e)) => written.insert((e.clone(), None)),
            legacy::Key::Seq(legacy::ElementId::Head) => false,
        };
    }
    fn left(
        index: &FieldIndex,
        obj: OpRef,
        fields: &[Slot],
        written: &HashSet<(legacy::OpId, Option<String>)>,
    ) -> bool {
        let Some(obj) = index.opid(obj) else {
            return true;
        };
        fields.iter().any(|slot| {
            let key = index.keys[slot.key as usize].clone();
            if slot.ops.len() > 1 && !written.contains(&(obj.clone(), Some(key))) {
                return true;
            }
            let [own] = slot.ops.as_slice() else {
                return false;
            };
            if let Some(children) = slot.children()
                && left(index, *own, children, written)
            {
                return true;
            }
            let Some(elems) = slot.elems() else {
                return false;
            };
            !slot.text
                && elems.iter().filter(|e| e.values.len() > 1).any(|e| {
                    index
                        .opid(e.id)
                        .is_none_or(|id| !written.contains(&(id, None)))
                })
        })
    }
    left(index, real.obj, &real.fields, &written)
}

/// `elems` after `op` (an operation on their sequence, `new` its id);
/// `None` if it names an element they do not hold.
fn apply_to_elems(
    elems: &mut Vec<Elem>,
    op: &legacy::Op,
    new: OpRef,
    to_ref: &impl Fn(&legacy::OpId) -> Option<OpRef>,
) -> Option<()> {
    let legacy::Key::Seq(key) = &op.key else {
        return None;
    };
    let at = |e: &legacy::OpId| {
        let e = to_ref(e)?;
        elems.iter().position(|x| x.id == e)
    };
    let elem = Elem {
        id: new,
        values: Vec::new(),
    };
    match (key, op.insert, &op.action) {
        // Right after the element it names: its id is above every other
        // operation's, so it comes before any sibling inserted there.
        (legacy::ElementId::Head, true, _) => elems.insert(0, elem),
        (legacy::ElementId::Id(e), true, _) => {
            let p = at(e)?;
            elems.insert(p + 1, elem);
        }
        (legacy::ElementId::Id(e), false, legacy::OpType::Delete) => {
            let p = at(e)?;
            elems.remove(p);
        }
        (legacy::ElementId::Id(e), false, legacy::OpType::Put(_)) => {
            let p = at(e)?;
            elems[p].values = vec![new];
        }
        _ => return None,
    }
    Some(())
}

/// The elements of the list or text `obj` ([`Automerge::seq_elements`]),
/// if it is one; of a text, only if each element is one character, as
/// automerge writes text (a text from elsewhere could hold longer ones,
/// and an edit made on a copy would then not line up with it).
fn sequence(doc: &Automerge, obj: &ObjId) -> Option<Vec<(ObjId, Vec<ObjId>)>> {
    let typ = doc.object_type(obj).ok()?;
    // Most lists and texts of a record are empty: spare them the walk.
    if doc.length(obj) == 0 {
        return matches!(typ, automerge::ObjType::List | automerge::ObjType::Text).then(Vec::new);
    }
    let elems = doc.seq_elements(obj).ok()?;
    match typ {
        // Of scalars only: a loaded edit puts a string over a text item
        // (another client's way of writing one) even where it is unchanged.
        automerge::ObjType::List => doc
            .list_range(obj, ..)
            .all(|item| !matches!(item.value, automerge::ValueRef::Object(_)))
            .then_some(elems),
        automerge::ObjType::Text => {
            // Formatting marks (another client's rich text) change where
            // an insertion goes: automerge names the mark, not the
            // character, next to a mark that does not expand.
            if !doc.marks(obj).ok()?.is_empty() {
                return None;
            }
            let chars = doc.text(obj).ok()?.chars().count();
            (chars == elems.len()).then_some(elems)
        }
        _ => None,
    }
}

/// The type of a scalar, as a slot records it (never 0).
fn scalar_kind(value: &automerge::ScalarValue) -> u8 {
    use automerge::ScalarValue as S;
    match value {
        S::Bytes(_) => 1,
        S::Str(_) => 2,
        S::Int(_) => 3,
        S::Uint(_) => 4,
        S::F64(_) => 5,
        S::Counter(_) => 6,
        S::Timestamp(_) => 7,
        S::Boolean(_) => 8,
        S::Unknown { .. } => 9,
        S::Null => 10,
    }
}

/// How deep nested maps are indexed (a record's map of maps, such as an
/// opportunity's players, is 1).
const MAX_DEPTH: usize = 3;

/// The index's actor and key tables, as [`FieldIndex::add_records`] adds
/// to them.
struct Tables<'a> {
    actors: &'a mut Vec<ActorId>,
    actor_at: BTreeMap<ActorId, u32>,
    keys: &'a mut Vec<String>,
    key_at: BTreeMap<String, u32>,
}

impl Tables<'_> {
    fn op_ref(&mut self, id: &ObjId) -> Option<OpRef> {
        let ObjId::Id(counter, actor, _) = id else {
            return None;
        };
        let next = self.actors.len() as u32;
        let actor = *self.actor_at.entry(actor.clone()).or_insert_with(|| {
            self.actors.push(actor.clone());
            next
        });
        Some(OpRef {
            counter: *counter,
            actor,
        })
    }

    fn key(&mut self, key: &str) -> u32 {
        let next = self.keys.len() as u32;
        *self.key_at.entry(key.to_string()).or_insert_with(|| {
            self.keys.push(key.to_string());
            next
        })
    }

    /// The slots of the map `obj`, `depth` maps below a record.
    fn fields(&mut self, doc: &Automerge, obj: &ObjId, depth: usize) -> Vec<Slot> {
        let mut fields = Vec::new();
        for field in doc.map_range(obj, ..) {
            let key = self.key(&field.key);
            // (op id, whether it holds a scalar) of each current value.
            let values: Vec<(ObjId, bool)> = if field.conflict {
                doc.get_all(obj, field.key.as_ref())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(v, id)| (id, v.is_scalar()))
                    .collect()
            } else {
                let scalar = !matches!(field.value, automerge::ValueRef::Object(_));
                vec![(field.id(), scalar)]
            };
            let scalar = values.iter().all(|(_, s)| *s);
            let ops: Option<Vec<OpRef>> = values.iter().map(|(id, _)| self.op_ref(id)).collect();
            let Some(ops) = ops else { continue };
            let kind = match (&values[..], field.value.clone().into_value()) {
                ([_], Value::Scalar(v)) => scalar_kind(&v),
                _ => 0,
            };
            let (mut nested, mut text) = (None, false);
            if let [(value, false)] = values.as_slice() {
                match doc.object_type(value) {
                    Ok(automerge::ObjType::Map) if depth < MAX_DEPTH => {
                        let children = self.fields(doc, value, depth + 1);
                        nested = Some(Box::new(Nested::Children(children)));
                    }
                    Ok(typ @ (automerge::ObjType::List | automerge::ObjType::Text)) => {
                        text = typ == automerge::ObjType::Text;
                        nested = self
                            .elements(doc, value)
                            .map(|elems| Box::new(Nested::Elems(elems)));
                    }
                    _ => {}
                }
            }
            fields.push(Slot {
                key,
                ops,
                scalar,
                text,
                kind,
                nested,
            });
        }
        fields
    }

    fn elements(&mut self, doc: &Automerge, seq: &ObjId) -> Option<Vec<Elem>> {
        sequence(doc, seq)?
            .into_iter()
            .map(|(id, values)| {
                let id = self.op_ref(&id)?;
                let values: Option<Vec<OpRef>> = values.iter().map(|v| self.op_ref(v)).collect();
                let mut values = values?;
                if values == [id] {
                    values.clear();
                }
                Some(Elem { id, values })
            })
            .collect()
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

/// A map of the record being edited (the record itself, or a map in
/// it), in the scratch copy and in the real document.
struct MapField {
    real: legacy::OpId,
    fields: Vec<Slot>,
}

/// A list or text of the record being edited, in the scratch copy and in
/// the real document: the copy's `i`-th element is the real `i`-th.
struct SeqField {
    real: legacy::OpId,
    elems: Vec<Elem>,
    /// The copy's element ids and value operations, to their positions.
    by_elem: HashMap<legacy::OpId, usize>,
    by_value: HashMap<legacy::OpId, usize>,
}

/// The maps, lists and texts of a record that the scratch copy mirrors,
/// under the copy's object ids.
struct Mirror {
    maps: HashMap<legacy::OpId, MapField>,
    seqs: HashMap<legacy::OpId, SeqField>,
    /// The copy's record object.
    record: Option<legacy::OpId>,
    /// Whether the copy holds the record as the real document does, key
    /// for key, object for object, element for element. A loaded edit
    /// writes every field again, so where the real record differs (a key
    /// missing or unknown to the record's type, a plain string where a
    /// text belongs, a null in a list) it rewrites more than the edit; only
    /// a load can do the same.
    faithful: bool,
}

fn legacy_id(id: &ObjId) -> Option<legacy::OpId> {
    match id {
        ObjId::Id(counter, actor, _) => Some(legacy::OpId::new(*counter, actor)),
        ObjId::Root => None,
    }
}

impl Mirror {
    /// Mirrors the record `copy` of the scratch document onto the real
    /// record `real` with `fields`.
    fn new(
        index: &FieldIndex,
        scratch: &mut AutoCommit,
        copy: &ObjId,
        real: legacy::OpId,
        fields: &[Slot],
    ) -> Mirror {
        let mut mirror = Mirror {
            maps: HashMap::new(),
            seqs: HashMap::new(),
            record: legacy_id(copy),
            faithful: true,
        };
        mirror.add_map(index, scratch, copy, real, fields);
        mirror
    }

    /// Adds the map `copy` of the scratch document, the real `real` with
    /// `fields`, and the maps, lists and texts in it.
    fn add_map(
        &mut self,
        index: &FieldIndex,
        scratch: &mut AutoCommit,
        copy: &ObjId,
        real: legacy::OpId,
        fields: &[Slot],
    ) {
        let Some(copy_id) = legacy_id(copy) else {
            self.faithful = false;
            return;
        };
        // Every key the copy has must be in the real map. A key only the
        // real record has (another client's) is left alone by a loaded
        // edit too; but in a map inside the record (a map of entries,
        // which a loaded edit makes equal to the record's) it would not be.
        let keys: HashSet<String> = scratch.keys(copy).collect();
        let real_keys: HashSet<String> = fields
            .iter()
            .map(|c| index.keys[c.key as usize].clone())
            .collect();
        let inside = self.record.as_ref() != Some(&copy_id);
        if !keys.is_subset(&real_keys) || (inside && keys != real_keys) {
            self.faithful = false;
            return;
        }
        for slot in fields {
            // A conflict: the edit must write over it (`leaves_a_conflict`).
            let [own] = slot.ops.as_slice() else {
                continue;
            };
            let key = index.keys[slot.key as usize].as_str();
            let Ok(Some((value, inner))) = scratch.get(copy, key) else {
                // Only the real record has it (see above).
                continue;
            };
            let Some(real_obj) = index.opid(*own) else {
                self.faithful = false;
                continue;
            };
            let typ = match value {
                Value::Scalar(v) => {
                    self.faithful &= slot.scalar && slot.kind == scalar_kind(&v);
                    continue;
                }
                Value::Object(typ) => typ,
            };
            match (slot.children(), slot.elems(), typ) {
                (Some(children), _, automerge::ObjType::Map) => {
                    self.add_map(index, scratch, &inner, real_obj, children);
                }
                (_, Some(elems), automerge::ObjType::List | automerge::ObjType::Text)
                    if slot.text == (typ == automerge::ObjType::Text) =>
                {
                    let Ok(copied) = scratch.document().seq_elements(&inner) else {
                        self.faithful = false;
                        continue;
                    };
                    let Some(inner_id) = legacy_id(&inner) else {
                        self.faithful = false;
                        continue;
                    };
                    if copied.len() != elems.len() {
                        self.faithful = false;
                        continue;
                    }
                    let mut by_elem = HashMap::new();
                    let mut by_value = HashMap::new();
                    for (i, (elem, values)) in copied.iter().enumerate() {
                        by_elem.extend(legacy_id(elem).map(|e| (e, i)));
                        by_value.extend(values.iter().filter_map(legacy_id).map(|v| (v, i)));
                    }
                    self.seqs.insert(
                        inner_id,
                        SeqField {
                            real: real_obj,
                            elems: elems.clone(),
                            by_elem,
                            by_value,
                        },
                    );
                }
                // A text the index does not follow (formatting marks):
                // an edit of it loads, and a loaded edit leaves it alone
                // otherwise (a text is written by splices of what changed).
                (_, None, automerge::ObjType::Text) if slot.text => {}
                // Another kind of object than the real one, or one the
                // index does not follow (a map too deep).
                _ => self.faithful = false,
            }
        }
        self.maps.insert(
            copy_id,
            MapField {
                real,
                fields: fields.to_vec(),
            },
        );
    }
}

/// Runs `f` on a copy of `old` (record `id` of `collection`) in a scratch
/// document and, if the index can place what it changed (see the module
/// documentation), returns the change that makes the same edit on the
/// document `index` describes. On success the index is updated to include
/// that change.
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
    edit_in(index, slot, id, old, f)
}

/// [`edit`] of an account document's own record (`account` at the root),
/// `old` as its view has it.
pub fn edit_account<V, E>(
    index: &mut FieldIndex,
    old: &Account,
    f: impl FnOnce(&mut Account) -> Result<V, E>,
) -> Result<Edited<Account, V>, EditError<E>> {
    let id = RecordId::from(ROOT_RECORDS[0].to_string());
    edit_in(index, ROOT_SLOT, &id, old, f)
}

fn edit_in<T, V, E>(
    index: &mut FieldIndex,
    slot: usize,
    id: &RecordId,
    old: &T,
    f: impl FnOnce(&mut T) -> Result<V, E>,
) -> Result<Edited<T, V>, EditError<E>>
where
    T: Reconcile + Hydrate + Serialize + serde::de::DeserializeOwned,
{
    let Some(real) = index.records[slot].get(id).cloned() else {
        return Ok(Edited::Unsupported);
    };
    let Some(real_obj) = index.opid(real.obj) else {
        return Ok(Edited::Unsupported);
    };
    // A copy through serde: only the values, nothing hydrated from the
    // real document.
    let fresh: T = serde_json::to_value(old)
        .and_then(serde_json::from_value)
        .map_err(|_| EditError::Scratch)?;
    let mut scratch = AutoCommit::new();
    autosurgeon::reconcile_prop(&mut scratch, ROOT, "r", &fresh).map_err(|_| EditError::Scratch)?;
    scratch.commit();
    let before = scratch.get_heads();
    let Ok(Some((_, r))) = scratch.get(ROOT, "r") else {
        return Ok(Edited::Unsupported);
    };
    let Some(scratch_obj) = legacy_id(&r) else {
        return Ok(Edited::Unsupported);
    };
    let mirror = Mirror::new(index, &mut scratch, &r, real_obj.clone(), &real.fields);
    if !mirror.faithful {
        return Ok(Edited::Unsupported);
    }
    // Hydrated from the scratch copy, so text fields know their objects
    // there and reconcile as edits of them, not as new texts.
    let mut record: T =
        autosurgeon::hydrate_prop(&scratch, ROOT, "r").map_err(|_| EditError::Scratch)?;
    let value = f(&mut record).map_err(EditError::Edit)?;
    autosurgeon::reconcile_prop(&mut scratch, ROOT, "r", &record)
        .map_err(|_| EditError::Scratch)?;
    scratch.commit();
    if scratch.get_heads() == before {
        // A loaded edit would still settle any conflict: leave it to one.
        if leaves_a_conflict(index, &real, &[]) {
            return Ok(Edited::Unsupported);
        }
        return Ok(Edited::Unchanged { record, value });
    }
    let Some(made) = scratch.get_last_local_change() else {
        return Ok(Edited::Unsupported);
    };
    let mut expanded: ExpandedChange = made.decode();
    let made_start = expanded.start_op.get();
    let start_op = index.max_op + 1;
    let actor_id = ActorId::random();

    // The real slot for `key` of the mirrored map `obj`.
    let current = |obj: &legacy::OpId, key: &str| {
        let map = mirror.maps.get(obj)?;
        let k = index.keys.iter().position(|k| k == key)?;
        map.fields.iter().find(|s| s.key as usize == k)
    };
    // Deleting a field the real map does not have is nothing: such
    // operations are left out, and the others numbered on from `start_op`.
    let kept: Vec<bool> = expanded
        .operations
        .iter()
        .map(|op| {
            let void = match (&op.obj, &op.key, &op.action) {
                (legacy::ObjectId::Id(obj), legacy::Key::Map(key), legacy::OpType::Delete) => {
                    mirror.maps.contains_key(obj) && current(obj, key).is_none()
                }
                _ => false,
            };
            !void
        })
        .collect();
    let mut numbered = HashMap::new();
    for (i, _) in kept.iter().enumerate().filter(|(_, k)| **k) {
        let id = legacy::OpId::new(start_op + numbered.len() as u64, &actor_id);
        numbered.insert(made_start + i as u64, id);
    }
    // An operation of this change, under its real id.
    let renumber = |id: &legacy::OpId| -> Option<legacy::OpId> {
        if id.actor() != scratch_obj.actor() {
            return None;
        }
        numbered.get(&id.counter()).cloned()
    };

    let mut operations = Vec::with_capacity(numbered.len());
    for (op, keep) in std::mem::take(&mut expanded.operations)
        .into_iter()
        .zip(kept)
    {
        if !keep {
            continue;
        }
        let Some(op) = translate(index, &mirror, &current, &renumber, op) else {
            return Ok(Edited::Unsupported);
        };
        operations.push(op);
    }
    if leaves_a_conflict(index, &real, &operations) {
        return Ok(Edited::Unsupported);
    }
    if operations.is_empty() {
        return Ok(Edited::Unchanged { record, value });
    }
    let count = operations.len() as u64;
    expanded.operations = operations;
    expanded.actor_id = actor_id;
    expanded.seq = 1;
    expanded.start_op = NonZeroU64::new(start_op).expect("max_op + 1 is not zero");
    expanded.deps = index.heads.clone();
    expanded.hash = None;
    let change = Change::from(expanded.clone());
    index.applied(slot, id, &expanded.actor_id, &expanded.operations, start_op);
    index.heads = vec![change.hash()];
    index.max_op = start_op + count - 1;
    Ok(Edited::Change {
        change: Box::new(change),
        record,
        value,
    })
}

/// `op`, made on the scratch copy, as the same operation on the real
/// document; `None` if the index cannot place it.
fn translate<'a>(
    index: &FieldIndex,
    mirror: &'a Mirror,
    current: &impl Fn(&legacy::OpId, &str) -> Option<&'a Slot>,
    renumber: &impl Fn(&legacy::OpId) -> Option<legacy::OpId>,
    mut op: legacy::Op,
) -> Option<legacy::Op> {
    // Values and new objects are written; counters and marks need the
    // real document.
    if !matches!(
        op.action,
        legacy::OpType::Put(_) | legacy::OpType::Delete | legacy::OpType::Make(_)
    ) {
        return None;
    }
    let legacy::ObjectId::Id(obj) = &op.obj else {
        return None;
    };
    let obj = obj.clone();
    let preds: Vec<legacy::OpId> = if let Some(map) = mirror.maps.get(&obj) {
        // A field of the record or of a map in it.
        let legacy::Key::Map(key) = &op.key else {
            return None;
        };
        // A key this change already wrote: autosurgeon writes each once.
        if op.pred.iter().any(|p| renumber(p).is_some()) {
            return None;
        }
        let preds = match (current(&obj, key), &op.action) {
            // A delete supersedes whatever is there.
            (Some(slot), legacy::OpType::Delete) => slot.ops.clone(),
            // A list, text or map replaced: what a loaded edit does
            // there depends on the real object; load it.
            (Some(slot), _) if !slot.scalar => return None,
            (Some(slot), _) => slot.ops.clone(),
            (None, _) => Vec::new(),
        };
        op.obj = legacy::ObjectId::Id(map.real.clone());
        if op.insert {
            return None;
        }
        preds
            .into_iter()
            .map(|p| index.opid(p))
            .collect::<Option<Vec<_>>>()?
    } else if let Some(seq) = mirror.seqs.get(&obj) {
        // An element of a list or text the index knows.
        if matches!(op.action, legacy::OpType::Make(_)) {
            return None;
        }
        let real_elem = |e: &legacy::OpId| match seq.by_elem.get(e) {
            Some(&i) => index.opid(seq.elems[i].id),
            None => renumber(e),
        };
        op.key = match &op.key {
            legacy::Key::Seq(legacy::ElementId::Head) if op.insert => {
                legacy::Key::Seq(legacy::ElementId::Head)
            }
            legacy::Key::Seq(legacy::ElementId::Id(e)) => {
                legacy::Key::Seq(legacy::ElementId::Id(real_elem(e)?))
            }
            _ => return None,
        };
        op.obj = legacy::ObjectId::Id(seq.real.clone());
        let mut preds = Vec::new();
        for p in op.pred.iter() {
            match seq.by_value.get(p) {
                Some(&i) => {
                    for v in seq.elems[i].current() {
                        preds.push(index.opid(v)?);
                    }
                }
                None => preds.push(renumber(p)?),
            }
        }
        preds
    } else {
        // An object this change made (an entry added to a map of the
        // record): everything in it is this change's.
        op.obj = legacy::ObjectId::Id(renumber(&obj)?);
        if let legacy::Key::Seq(legacy::ElementId::Id(e)) = &op.key {
            op.key = legacy::Key::Seq(legacy::ElementId::Id(renumber(e)?));
        }
        op.pred.iter().map(renumber).collect::<Option<Vec<_>>>()?
    };
    // An insertion supersedes nothing.
    if op.insert && !preds.is_empty() {
        return None;
    }
    op.pred = preds.into();
    Some(op)
}

/// The slot whose value is the object `obj`, anywhere in `fields`.
fn slot_of(fields: &mut [Slot], obj: OpRef) -> Option<&mut Slot> {
    for slot in fields {
        if slot.ops == [obj] {
            return Some(slot);
        }
        if let Some(children) = slot.children_mut()
            && let Some(found) = slot_of(children, obj)
        {
            return Some(found);
        }
    }
    None
}

impl FieldIndex {
    /// Brings record `id` of collection `slot` up to date with
    /// `operations`, numbered from `start_op` under `actor_id`, just
    /// written by [`edit`]. A record it cannot follow is dropped from the
    /// index: edits of it then load the document.
    fn applied(
        &mut self,
        slot: usize,
        id: &RecordId,
        actor_id: &ActorId,
        operations: &[legacy::Op],
        start_op: u64,
    ) {
        let actor = self.actors.len() as u32;
        self.actors.push(actor_id.clone());
        let actors = positions(&self.actors);
        let to_ref = |id: &legacy::OpId| -> Option<OpRef> {
            Some(OpRef {
                counter: id.counter(),
                actor: *actors.get(id.actor())?,
            })
        };
        let Some(mut record) = self.records[slot].remove(id) else {
            return;
        };
        for (i, op) in operations.iter().enumerate() {
            let new = OpRef {
                counter: start_op + i as u64,
                actor,
            };
            let Some(obj) = (match &op.obj {
                legacy::ObjectId::Id(o) => to_ref(o),
                legacy::ObjectId::Root => None,
            }) else {
                return;
            };
            let followed = match &op.key {
                legacy::Key::Map(key) => {
                    let fields = if obj == record.obj {
                        Some(&mut record.fields)
                    } else {
                        slot_of(&mut record.fields, obj).and_then(|s| s.children_mut())
                    };
                    let Some(fields) = fields else {
                        return;
                    };
                    let k = match self.keys.iter().position(|k| k == key.as_str()) {
                        Some(k) => k as u32,
                        None => {
                            self.keys.push(key.to_string());
                            (self.keys.len() - 1) as u32
                        }
                    };
                    fields.retain(|s| s.key != k);
                    let (scalar, text, kind, nested) = match &op.action {
                        legacy::OpType::Put(v) => (true, false, scalar_kind(v), None),
                        legacy::OpType::Make(automerge::ObjType::Map) => {
                            (false, false, 0, Some(Nested::Children(Vec::new())))
                        }
                        legacy::OpType::Make(typ) => (
                            false,
                            *typ == automerge::ObjType::Text,
                            0,
                            Some(Nested::Elems(Vec::new())),
                        ),
                        _ => {
                            continue;
                        }
                    };
                    fields.push(Slot {
                        key: k,
                        ops: vec![new],
                        scalar,
                        text,
                        kind,
                        nested: nested.map(Box::new),
                    });
                    Some(())
                }
                legacy::Key::Seq(_) => slot_of(&mut record.fields, obj)
                    .and_then(|s| s.elems_mut())
                    .and_then(|elems| apply_to_elems(elems, op, new, &to_ref)),
            };
            if followed.is_none() {
                return;
            }
        }
        self.records[slot].insert(id.clone(), record);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use automerge::transaction::Transactable as _;
    use automerge::{AutoCommit, ROOT, ReadDoc};
    use rapport_core::RecordId;
    use rapport_core::doc::{self, Collection, DocData, Parts};
    use rapport_core::enums::{BuyingRole, Preference};
    use rapport_core::model::{Account, KeyPlayer, Opportunity, Person};
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

    /// A field: its value operations, whether scalar, and its elements
    /// (id, value operations).
    type Field = (Vec<String>, bool, Option<Vec<(String, Vec<String>)>>);
    type Resolved = (
        Vec<automerge::ChangeHash>,
        u64,
        Vec<BTreeMap<RecordId, (String, BTreeMap<String, Field>)>>,
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
                                let elems = s.elems().map(|elems| {
                                    elems
                                        .iter()
                                        .map(|e| {
                                            let mut values: Vec<String> =
                                                e.current().iter().map(op).collect();
                                            values.sort();
                                            (op(&e.id), values)
                                        })
                                        .collect()
                                });
                                (index.keys[s.key as usize].clone(), (ops, s.scalar, elems))
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
        let mut p = Person::named("Ada");
        p.tags = vec!["board".into(), "sponsor".into()];
        p.notes = Notes::new("met at the fair");
        let (base, id) = account(&p);
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
        let mut p = Person::named("Ada");
        p.tags = vec!["board".into(), "sponsor".into(), "cfo".into()];
        p.notes = Notes::new("met at the fair");
        let (mut base, id) = account(&p);
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
        let mut p = Person::named("Ada");
        p.tags = vec!["board".into(), "sponsor".into(), "cfo".into()];
        let (mut base, id) = account(&p);
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
        let mut p = Person::named("Ada");
        p.tags = vec!["board".into()];
        p.notes = Notes::new("met at the fair");
        let (base, id) = account(&p);
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
        let mut p = Person::named("Ada");
        p.tags = vec!["board".into()];
        p.notes = Notes::new("met at the fair");
        let (base, id) = account(&p);
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
            &change,
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
            &change,
        );
        let from_file = FieldIndex::from_file(&appended.unwrap(), &after).unwrap();
        assert_eq!(resolved(&from_file), resolved(&index));
        assert!(
            super::append_to_file(&file, &after, after.clone(), base.document(), &change).is_none()
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
        doc::read_record(d, Collection::Opportunities, id)
            .unwrap()
            .unwrap()
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
