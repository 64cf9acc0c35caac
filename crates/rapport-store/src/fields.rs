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

/// The collections indexed. The activity log, most of a document's
/// records and rarely edited, is kept apart ([`ACTIVITIES`]).
pub const INDEXED: [Collection; 8] = [
    Collection::People,
    Collection::Relationships,
    Collection::Opportunities,
    Collection::Plan,
    Collection::Partnerships,
    Collection::PrivateNotes,
    Collection::Accounts,
    Collection::Activities,
];

/// The activity log's slot. Indexing every activity costs more than the
/// rest of the index together (a list and a text each, in most of the
/// records), so an index built from a loaded document holds them only
/// when an edit of an activity loaded it
/// ([`FieldIndex::build_with_activities`], [`Cold::Built`]); saved, they
/// go to a file of their own (the *cold* file: [`FieldIndex::to_files`])
/// that only an edit of an activity reads, so the index every other edit
/// reads (and rewrites) stays about the size of the other records. The
/// activities added or edited since, without a load, are in the index
/// itself, whose entries win (a few: 64 chunks in, a write loads the
/// document and compacts it, which builds the index afresh).
const ACTIVITIES: usize = INDEXED.len() - 1;
const _: () = assert!(matches!(INDEXED[ACTIVITIES], Collection::Activities));

/// Where the records kept at the document's root are (an account
/// document's `account`), after one map per collection of [`INDEXED`];
/// each under its key as id.
const ROOT_SLOT: usize = INDEXED.len();
const ROOT_RECORDS: [&str; 1] = ["account"];
const RECORD_MAPS: usize = INDEXED.len() + 1;

/// A slot's operations: one in the slot itself, as most are.
type Ops = smallvec::SmallVec<[OpRef; 1]>;

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
    /// One, or more for a conflict (held in the slot when one).
    ops: Ops,
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

#[derive(Debug, Clone)]
enum Nested {
    /// For a list or a text (one object, no conflict): its elements, in
    /// order, so an edit can name the ones it puts over, deletes or
    /// inserts after. (None for a text whose elements are not one
    /// character each, or that has formatting marks.) Held as runs, as
    /// the index's file holds them: the notes of 73k activities are 2.8
    /// million characters and about 150k runs.
    Runs(runs::Runs),
    /// The same, one entry per element: a list or text an edit changed
    /// ([`Slot::elems_mut`]).
    Elems(Vec<Elem>),
    /// For a map (one object, no conflict, at most [`MAX_DEPTH`] maps
    /// below the record): its fields.
    Children(Vec<Slot>),
}

/// Elements held as runs or one by one are equal if they are the same
/// elements.
impl PartialEq for Nested {
    fn eq(&self, other: &Nested) -> bool {
        match (self, other) {
            (Nested::Children(a), Nested::Children(b)) => a == b,
            (Nested::Children(_), _) | (_, Nested::Children(_)) => false,
            (Nested::Runs(a), Nested::Runs(b)) if a == b => true,
            // (Runs too long to expand, which only a damaged file holds,
            // equal nothing.)
            _ => match (self.elems(), other.elems()) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            },
        }
    }
}

impl Eq for Nested {}

impl Nested {
    /// The elements one by one; `None` if they are not elements, or are
    /// too many to hold (a damaged run).
    fn elems(&self) -> Option<std::borrow::Cow<'_, [Elem]>> {
        match self {
            Nested::Runs(runs) => runs.expand().map(std::borrow::Cow::Owned),
            Nested::Elems(elems) => Some(std::borrow::Cow::Borrowed(elems)),
            Nested::Children(_) => None,
        }
    }
}

impl Slot {
    fn elems(&self) -> Option<std::borrow::Cow<'_, [Elem]>> {
        self.nested.as_deref()?.elems()
    }

    /// The elements one by one, to change them (runs are expanded once,
    /// in place).
    fn elems_mut(&mut self) -> Option<&mut Vec<Elem>> {
        let nested = self.nested.as_deref_mut()?;
        if let Nested::Runs(runs) = nested {
            *nested = Nested::Elems(runs.expand()?);
        }
        match nested {
            Nested::Elems(elems) => Some(elems),
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

    use super::{Nested, Ops, Slot, runs};

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
                Some(Nested::Runs(_) | Nested::Elems(_)) => flags |= ELEMS,
                Some(Nested::Children(_)) => flags |= CHILDREN,
                None => {}
            }
            let mut t = s.serialize_tuple(4)?;
            t.serialize_element(&self.key)?;
            t.serialize_element(&self.ops)?;
            t.serialize_element(&flags)?;
            match self.nested.as_deref() {
                Some(Nested::Runs(runs)) => t.serialize_element(runs)?,
                Some(Nested::Elems(elems)) => {
                    t.serialize_element(&elems.iter().cloned().collect::<runs::Runs>())?
                }
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
                    let ops: Ops = seq.next_element()?.ok_or_else(missing)?;
                    let flags: u8 = seq.next_element()?.ok_or_else(missing)?;
                    let nested = match (flags & ELEMS != 0, flags & CHILDREN != 0) {
                        (false, false) => None,
                        (true, false) => {
                            let runs: runs::Runs = seq.next_element()?.ok_or_else(missing)?;
                            Some(Box::new(Nested::Runs(runs)))
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
    use serde::{Deserialize, Deserializer, Serialize};

    use super::{Elem, OpRef};

    /// `len` elements from `id` on (counters `id.counter + i`), each
    /// holding its own insertion; or one element (`len` 1) with `values`.
    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    struct Run {
        id: OpRef,
        len: u32,
        values: Vec<OpRef>,
    }

    /// Elements as runs, each as long as it can be (made by
    /// [`FromIterator`]); read from a file as they are there.
    #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
    pub(super) struct Runs(Vec<Run>);

    impl Runs {
        /// Leaves no room for more, once built: runs are held as long as
        /// the index is, and most notes are one run, for which `push`
        /// made room for four (21 MB of the index of a 73k-activity log).
        pub(super) fn shrink_to_fit(&mut self) {
            self.0.shrink_to_fit();
        }

        /// Appends `e`, to the last run if it continues it.
        pub(super) fn push(&mut self, e: Elem) {
            match self.0.last_mut() {
                Some(run)
                    if e.values.is_empty()
                        && run.values.is_empty()
                        && run.id.actor == e.id.actor
                        && run.len < u32::MAX
                        && run.id.counter + u64::from(run.len) == e.id.counter =>
                {
                    run.len += 1;
                }
                _ => self.0.push(Run {
                    id: e.id,
                    len: 1,
                    values: e.values,
                }),
            }
        }

        /// The elements one by one; `None` if they are too many to hold
        /// (only a damaged file says so).
        pub(super) fn expand(&self) -> Option<Vec<Elem>> {
            let total = self.0.iter().map(|r| u64::from(r.len)).sum::<u64>();
            let mut elems = Vec::new();
            elems.try_reserve_exact(usize::try_from(total).ok()?).ok()?;
            for run in &self.0 {
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
            Some(elems)
        }
    }

    impl FromIterator<Elem> for Runs {
        fn from_iter<I: IntoIterator<Item = Elem>>(elems: I) -> Runs {
            let mut runs = Runs::default();
            for e in elems {
                runs.push(e);
            }
            runs
        }
    }

    impl<'de> Deserialize<'de> for Runs {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Runs, D::Error> {
            let runs = Vec::<Run>::deserialize(d)?;
            if runs.iter().any(|run| {
                run.len == 0
                    || (run.len > 1 && !run.values.is_empty())
                    || run.id.counter.checked_add(u64::from(run.len)).is_none()
            }) {
                return Err(serde::de::Error::custom("a malformed run of elements"));
            }
            Ok(Runs(runs))
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
    cold: Cold,
}

/// Where an index's activities are (see [`ACTIVITIES`]).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cold {
    /// The index was built from a loaded document: with every activity in
    /// `records`, or (`false`) with none but those added since, and no
    /// cold file.
    Built { activities: bool },
    /// In `records`, those added or edited since the index was built;
    /// the others in the cold file saved for these chunks (the chunks
    /// the index was built for), if it was saved; with `None`, nowhere
    /// (the index was built without them).
    Saved(Option<Vec<String>>),
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
    /// The chunks of the cold file that holds the activities the entries
    /// lack ([`Cold::Saved`]); in a cold file, its own chunks.
    cold: Option<Vec<String>>,
}

const MAGIC: &[u8; 4] = b"RPFI";
/// A cold file's (its entries are not an index file's).
const COLD_MAGIC: &[u8; 4] = b"RPFC";
/// 2: slots hold the elements of lists and texts; 3: and the fields of
/// maps; 4: and whether they hold a text; 5: the account record at the
/// root is indexed too; 6: slots hold their scalar's type; 7: slots in
/// their compact form (`slot_codec`); 8: activities are indexed, in a
/// cold file of their own. (postcard is not self-describing: a file of
/// another version must never be decoded as this one.)
const VERSION: u32 = 8;
/// Magic, version, header length, CRC-32 of the header, CRC-32 of the
/// records.
const PREFIX: usize = 20;

/// The bytes of an index file: [`PREFIX`], the [`Header`], then one
/// postcard entry `(collection slot, id, record)` per record. Readers
/// fold the entries into maps, a later entry replacing an earlier one, so
/// records added to a document are appended without decoding the others
/// ([`append_to_file`]).
fn file_bytes(magic: &[u8; 4], header: &Header, records: &[u8]) -> Option<Vec<u8>> {
    let head = postcard::to_stdvec(header).ok()?;
    let mut out = Vec::with_capacity(PREFIX + head.len() + records.len());
    out.extend_from_slice(magic);
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
fn split_file<'a>(
    magic: &[u8; 4],
    bytes: &'a [u8],
    chunks: &[String],
) -> Option<(Header, &'a [u8])> {
    let (header, records) = split_any_file(magic, bytes)?;
    (header.chunks == chunks).then_some((header, records))
}

/// [`split_file`] for whatever chunks the file was saved for.
fn split_any_file<'a>(magic: &[u8; 4], bytes: &'a [u8]) -> Option<(Header, &'a [u8])> {
    if bytes.get(..4)? != magic || bytes.get(4..8)? != VERSION.to_le_bytes() {
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
    Some((header, records))
}

/// `records` as index-file entries, but the activities with `hot_only`
/// set: those go to the cold file.
fn encode_entries(records: &[BTreeMap<RecordId, RecordOps>], hot_only: bool) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for (slot, records) in records.iter().enumerate() {
        if hot_only && slot == ACTIVITIES {
            continue;
        }
        for (id, ops) in records {
            out = postcard::to_extend(&(slot as u8, id, ops), out).ok()?;
        }
    }
    Some(out)
}

/// The activities as cold-file entries: `(id, record)`, the record as its
/// own postcard bytes, so a reader looking for one skips the others
/// without decoding them ([`FieldIndex::take_cold`]).
fn encode_cold(activities: &BTreeMap<RecordId, RecordOps>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for (id, ops) in activities {
        let ops = postcard::to_stdvec(ops).ok()?;
        out = postcard::to_extend(&(id, ops.as_slice()), out).ok()?;
    }
    Some(out)
}

/// The activities of a cold file, decoded
/// ([`FieldIndex::cold_activities`]).
pub struct ColdActivities(Vec<(RecordId, RecordOps)>);

/// An index saved: its file's bytes, and what becomes of the cold file.
pub(crate) struct Files {
    pub(crate) index: Vec<u8>,
    pub(crate) cold: ColdFile,
}

pub(crate) enum ColdFile {
    /// The index holds every activity: these bytes.
    Write(Vec<u8>),
    /// The one the index names, if any, as it is.
    Keep,
    /// None: the index names none (built without its activities).
    Remove,
}

impl FieldIndex {
    /// The index as files' bytes, valid for `chunks` (`kind/name`,
    /// sorted): see [`Files`]. The cold file is to be written first: the
    /// index names it.
    pub(crate) fn to_files(&self, chunks: Vec<String>) -> Option<Files> {
        let header = |cold| Header {
            chunks: chunks.clone(),
            heads: self.heads.clone(),
            max_op: self.max_op,
            actors: self.actors.clone(),
            keys: self.keys.clone(),
            cold,
        };
        let built = self.cold == Cold::Built { activities: true };
        let cold = match &self.cold {
            Cold::Built { activities: true } => Some(chunks.clone()),
            Cold::Built { activities: false } => None,
            Cold::Saved(at) => at.clone(),
        };
        let index = file_bytes(MAGIC, &header(cold), &encode_entries(&self.records, built)?)?;
        let cold = match &self.cold {
            Cold::Built { activities: true } => ColdFile::Write(file_bytes(
                COLD_MAGIC,
                &header(Some(chunks.clone())),
                &encode_cold(&self.records[ACTIVITIES])?,
            )?),
            Cold::Built { activities: false } => ColdFile::Remove,
            // (One the index does not name is left: it is never read.)
            Cold::Saved(_) => ColdFile::Keep,
        };
        Some(Files { index, cold })
    }

    /// The index in a file's bytes, if they are whole and valid for
    /// exactly `chunks`. Its activities are those added or edited since
    /// it was built; [`take_cold`](Self::take_cold) adds one of the
    /// others.
    pub(crate) fn from_file(bytes: &[u8], chunks: &[String]) -> Option<FieldIndex> {
        let (header, mut entries) = split_file(MAGIC, bytes, chunks)?;
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
            cold: Cold::Saved(header.cold),
        })
    }

    /// Whether the index holds activity `id`.
    pub fn has_activity(&self, id: &RecordId) -> bool {
        self.records[ACTIVITIES].contains_key(id)
    }

    /// Adds activity `id` from the cold file's bytes `cold`, if the index
    /// lacks it and the file is the one it names, whole
    /// ([`cold_entries`](Self::cold_entries)). Returns whether the index
    /// holds the activity now.
    pub(crate) fn take_cold(&mut self, cold: &[u8], id: &RecordId) -> bool {
        if self.has_activity(id) {
            return true;
        }
        let Some(entries) = self.cold_entries(cold) else {
            return false;
        };
        let Some((_, ops)) = entries.into_iter().find(|(key, _)| *key == id.as_str()) else {
            return false;
        };
        let Ok(ops) = postcard::from_bytes::<RecordOps>(ops) else {
            return false;
        };
        self.records[ACTIVITIES].insert(id.clone(), ops);
        true
    }

    /// The entries of the cold file's bytes `cold` (each activity's id and
    /// its record's bytes, undecoded), if it is the file the index names,
    /// whole, with the index's tables of actors and keys as they were when
    /// both were saved (the index's only grow).
    fn cold_entries<'a>(&self, cold: &'a [u8]) -> Option<Vec<(&'a str, &'a [u8])>> {
        let Cold::Saved(Some(at)) = &self.cold else {
            return None;
        };
        let (header, bytes) = split_file(COLD_MAGIC, cold, at)?;
        if !self.actors.starts_with(&header.actors) || !self.keys.starts_with(&header.keys) {
            return None;
        }
        cold_file_entries(bytes)
    }
}

/// A cold file's entries ([`encode_cold`]): each activity's id and its
/// record's bytes, undecoded.
fn cold_file_entries(mut bytes: &[u8]) -> Option<Vec<(&str, &[u8])>> {
    let mut entries = Vec::new();
    while !bytes.is_empty() {
        let (entry, rest) = postcard::take_from_bytes::<(&str, &[u8])>(bytes).ok()?;
        entries.push(entry);
        bytes = rest;
    }
    Some(entries)
}

/// The bytes of an index file (valid for `before`) after `changes` were
/// appended: changes that only add new records, which `base` holds with
/// the same operation ids (the document's first change and `changes`,
/// built or replayed on it). The file's records are not decoded: the new
/// ones are appended as entries. `None` if the file is not valid for
/// `before`.
pub(crate) fn append_to_file(
    bytes: &[u8],
    before: &[String],
    after: Vec<String>,
    base: &Automerge,
    changes: &[Change],
) -> Option<Vec<u8>> {
    let (header, old) = split_file(MAGIC, bytes, before)?;
    let mut index = FieldIndex {
        heads: header.heads,
        max_op: header.max_op,
        actors: header.actors,
        keys: header.keys,
        records: vec![BTreeMap::new(); RECORD_MAPS],
        cold: Cold::Saved(header.cold),
    };
    for change in changes {
        index.appended(base, change);
    }
    let mut records = old.to_vec();
    records.extend(encode_entries(&index.records, false)?);
    let Cold::Saved(cold) = index.cold else {
        return None;
    };
    let header = Header {
        chunks: after,
        heads: index.heads,
        max_op: index.max_op,
        actors: index.actors,
        keys: index.keys,
        cold,
    };
    file_bytes(MAGIC, &header, &records)
}

/// A plain value a teammate's change puts at `key` of a record
/// ([`FieldIndex::received_puts`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedPut {
    pub collection: Collection,
    pub record: RecordId,
    pub key: String,
    pub value: automerge::ScalarValue,
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
    /// Indexes `doc`, but its activities.
    pub fn build(doc: &mut AutoCommit) -> FieldIndex {
        FieldIndex::build_from(doc.document(), false)
    }

    /// Indexes `doc`, as [`build`](Self::build), and its activities too
    /// where the cold file whose bytes are `cold` (one an earlier index of
    /// the document saved) allows: when it was saved at heads `doc` holds,
    /// its entries are taken as they are, but those of the activities that
    /// the changes since write in, add or remove, which are indexed afresh
    /// from `doc` (the index's tables start as the cold file's), and the
    /// index holds every activity ([`Cold::Built`]): saved, it writes the
    /// cold file again, at `doc`'s heads. So the activity log is indexed
    /// in full once, not at every load. Where it cannot (other heads, an
    /// activity in conflict), as `build`.
    pub fn build_keeping(doc: &mut AutoCommit, cold: Option<&[u8]>) -> FieldIndex {
        let doc = doc.document();
        cold.and_then(|cold| FieldIndex::keep_cold(doc, cold))
            .unwrap_or_else(|| FieldIndex::build_from(doc, false))
    }

    /// [`build_keeping`](Self::build_keeping) with a cold file, if it can
    /// be kept.
    fn keep_cold(doc: &Automerge, cold: &[u8]) -> Option<FieldIndex> {
        let (header, entries) = split_any_file(COLD_MAGIC, cold)?;
        header.cold.as_ref().filter(|at| **at == header.chunks)?;
        if !header
            .heads
            .iter()
            .all(|h| doc.get_change_meta_by_hash(h).is_some())
        {
            return None;
        }
        let Ok(Some((Value::Object(automerge::ObjType::Map), log))) =
            doc.get(ROOT, Collection::Activities.key())
        else {
            return None;
        };
        let log = legacy_id(&log)?;
        let mut index = FieldIndex::empty(doc, false);
        index.actors = header.actors;
        index.keys = header.keys;
        // Every record but the activities.
        index.add_records(doc, None);
        // What the changes since write in: activities by their key in the
        // log, the rest by object (only those of the cold file's actors can
        // be an activity's there).
        let mut touched: HashSet<String> = HashSet::new();
        let mut targets: HashSet<OpRef> = HashSet::new();
        for change in doc.get_changes(&header.heads) {
            for op in change.decode().operations {
                match (&op.obj, &op.key) {
                    (legacy::ObjectId::Root, legacy::Key::Map(k))
                        if k.as_str() == Collection::Activities.key() =>
                    {
                        return None;
                    }
                    (legacy::ObjectId::Id(obj), legacy::Key::Map(k)) if *obj == log => {
                        touched.insert(k.to_string());
                    }
                    (legacy::ObjectId::Id(obj), _) if *obj == log => return None,
                    (legacy::ObjectId::Id(obj), _) => targets.extend(index.op_ref(obj)),
                    (legacy::ObjectId::Root, _) => {}
                }
            }
        }
        for (id, ops) in cold_file_entries(entries)? {
            let record = postcard::from_bytes::<RecordOps>(ops).ok()?;
            let mut hit = targets.contains(&record.obj);
            received::objects_in(&record.fields, &mut |obj| hit |= targets.contains(&obj));
            if hit || touched.contains(id) {
                touched.insert(id.to_string());
            } else {
                index.records[ACTIVITIES].insert(RecordId::from(id.to_string()), record);
            }
        }
        index.add_activities(doc, &touched)?;
        index.cold = Cold::Built { activities: true };
        Some(index)
    }

    /// Indexes activities `ids` of `doc` (those it still has); `None` if
    /// one is in conflict or not a map (the caller then builds without the
    /// activity log).
    fn add_activities(&mut self, doc: &Automerge, ids: &HashSet<String>) -> Option<()> {
        let Ok(Some((_, log))) = doc.get(ROOT, Collection::Activities.key()) else {
            return None;
        };
        let mut tables = Tables {
            actor_at: positions(&self.actors),
            key_at: positions(&self.keys),
            actors: &mut self.actors,
            keys: &mut self.keys,
        };
        for id in ids {
            let values = doc.get_all(&log, id.as_str()).ok()?;
            let obj = match values.as_slice() {
                [] => continue,
                [(Value::Object(automerge::ObjType::Map), obj)] => obj,
                _ => return None,
            };
            let record = tables.record(doc, obj)?;
            self.records[ACTIVITIES].insert(RecordId::from(id.clone()), record);
        }
        Some(())
    }

    /// Indexes `doc`, its activities too (see [`ACTIVITIES`]).
    pub fn build_with_activities(doc: &mut AutoCommit) -> FieldIndex {
        FieldIndex::build_from(doc.document(), true)
    }

    fn build_from(doc: &Automerge, activities: bool) -> FieldIndex {
        let mut index = FieldIndex::empty(doc, activities);
        index.add_records(doc, None);
        index
    }

    /// An index of `doc`'s heads and highest operation, with no record.
    fn empty(doc: &Automerge, activities: bool) -> FieldIndex {
        FieldIndex {
            heads: doc.get_heads(),
            max_op: doc.max_op(),
            actors: Vec::new(),
            keys: Vec::new(),
            records: vec![BTreeMap::new(); RECORD_MAPS],
            cold: Cold::Built { activities },
        }
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
            // (Appended records are indexed whatever their collection.)
            if slot == ACTIVITIES
                && made_by.is_none()
                && self.cold != (Cold::Built { activities: true })
            {
                continue;
            }
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
                if !matches!(doc.object_type(&obj), Ok(automerge::ObjType::Map)) {
                    continue;
                }
                let Some(record) = tables.record(doc, &obj) else {
                    continue;
                };
                self.records[slot].insert(RecordId::from(item.key.to_string()), record);
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
            let Some(record) = tables.record(doc, obj) else {
                continue;
            };
            self.records[ROOT_SLOT].insert(RecordId::from(key.to_string()), record);
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

    /// The plain values `change` (received from a teammate) puts, if that
    /// is all it does: every operation puts a scalar at a key of an
    /// indexed record's own map (not inside one of its lists, texts or
    /// maps), naming as preds exactly the operations the index holds for
    /// that field (so it supersedes every value there, conflicts
    /// included, and leaves none: what automerge makes of it is that one
    /// value), over a field that holds plain values or none. `None` for
    /// anything else.
    pub fn received_puts(&self, change: &Change) -> Option<Vec<ReceivedPut>> {
        let expanded = change.decode();
        let mut targets = Vec::new();
        for op in &expanded.operations {
            let legacy::ObjectId::Id(obj) = &op.obj else {
                return None;
            };
            targets.push(self.op_ref(obj)?);
        }
        let objects = self.owners(&targets, false);
        let mut puts = Vec::with_capacity(expanded.operations.len());
        // A second put at one field that does not name the first leaves
        // both (automerge makes its own changes name it, so this is only
        // another client's).
        let mut written = HashSet::new();
        for op in &expanded.operations {
            let (legacy::ObjectId::Id(obj), legacy::Key::Map(key), legacy::OpType::Put(value)) =
                (&op.obj, &op.key, &op.action)
            else {
                return None;
            };
            if op.insert || !written.insert((obj.clone(), key.to_string())) {
                return None;
            }
            let &(slot, id) = objects.get(&self.op_ref(obj)?)?;
            let record = self.records[slot].get(id)?;
            let held: Option<&Slot> = self
                .keys
                .iter()
                .position(|k| k == key.as_str())
                .and_then(|k| record.fields.iter().find(|s| s.key as usize == k));
            let mut current: Vec<legacy::OpId> = match held {
                Some(s) if !s.scalar || s.nested.is_some() => return None,
                Some(s) => s.ops.iter().map(|o| self.opid(*o)).collect::<Option<_>>()?,
                None => Vec::new(),
            };
            let mut pred: Vec<legacy::OpId> = op.pred.iter().cloned().collect();
            current.sort();
            pred.sort();
            if current != pred {
                return None;
            }
            puts.push(ReceivedPut {
                collection: INDEXED[slot],
                record: id.clone(),
                key: key.to_string(),
                value: value.clone(),
            });
        }
        Some(puts)
    }

    /// The index after `change`, whose puts [`received_puts`]
    /// (Self::received_puts) accepted, was written.
    pub fn received(&mut self, change: &Change) {
        let actor = match self.actors.iter().position(|a| a == change.actor_id()) {
            Some(at) => at as u32,
            None => {
                self.actors.push(change.actor_id().clone());
                (self.actors.len() - 1) as u32
            }
        };
        let expanded = change.decode();
        let start = change.start_op().get();
        for (i, op) in expanded.operations.iter().enumerate() {
            let (legacy::ObjectId::Id(obj), legacy::Key::Map(key), legacy::OpType::Put(value)) =
                (&op.obj, &op.key, &op.action)
            else {
                continue;
            };
            let k = match self.keys.iter().position(|k| k == key.as_str()) {
                Some(k) => k as u32,
                None => {
                    self.keys.push(key.to_string());
                    (self.keys.len() - 1) as u32
                }
            };
            let opid = |o: OpRef| {
                let actor = self.actors.get(o.actor as usize)?;
                Some(legacy::OpId::new(o.counter, actor))
            };
            let Some(record) = self
                .records
                .iter_mut()
                .flat_map(|r| r.values_mut())
                .find(|r| opid(r.obj).as_ref() == Some(obj))
            else {
                continue;
            };
            record.fields.retain(|s| s.key != k);
            record.fields.push(Slot {
                key: k,
                ops: smallvec::smallvec![OpRef {
                    counter: start + i as u64,
                    actor,
                }],
                scalar: true,
                text: false,
                kind: scalar_kind(value),
                nested: None,
            });
        }
        self.heads.retain(|h| !change.deps().contains(h));
        self.heads.push(change.hash());
        self.heads.sort();
        self.max_op = self.max_op.max(change.max_op());
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
            if slot.text {
                return false;
            }
            let Some(elems) = slot.elems() else {
                return false;
            };
            elems.iter().filter(|e| e.values.len() > 1).any(|e| {
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

/// [`scalar_kind`] of a value read in place (no copy of its text).
fn scalar_ref_kind(value: &automerge::ScalarValueRef<'_>) -> u8 {
    use automerge::ScalarValueRef as S;
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
    /// The entry of the record whose map is `obj`.
    fn record(&mut self, doc: &Automerge, obj: &ObjId) -> Option<RecordOps> {
        Some(RecordOps {
            obj: self.op_ref(obj)?,
            fields: self.fields(doc, obj, 0),
        })
    }

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
            let ops: Option<Ops> = values.iter().map(|(id, _)| self.op_ref(id)).collect();
            let Some(ops) = ops else { continue };
            let kind = match (&values[..], &field.value) {
                ([_], automerge::ValueRef::Scalar(v)) => scalar_ref_kind(v),
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
                            .map(|runs| Box::new(Nested::Runs(runs)));
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
        // Held as long as the index is: no room for more (pushes leave up
        // to half of it spare).
        fields.shrink_to_fit();
        fields
    }

    /// The elements of the list or text `seq`, as runs: the index of a
    /// log of 73k activities' notes holds 2.8 million characters, which
    /// one by one took 110 MB, and as runs about 150k entries.
    fn elements(&mut self, doc: &Automerge, seq: &ObjId) -> Option<runs::Runs> {
        let mut runs = runs::Runs::default();
        for (id, values) in sequence(doc, seq)? {
            let own = matches!(values.as_slice(), [value] if *value == id);
            let id = self.op_ref(&id)?;
            // Almost every element holds its own insertion: no list is
            // allocated for it.
            let values = if own {
                Vec::new()
            } else {
                values
                    .iter()
                    .map(|v| self.op_ref(v))
                    .collect::<Option<_>>()?
            };
            runs.push(Elem { id, values });
        }
        runs.shrink_to_fit();
        Some(runs)
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
    /// The copy's object.
    copy: ObjId,
    real: legacy::OpId,
    fields: Vec<Slot>,
}

/// A list or text of the record being edited, in the scratch copy and in
/// the real document: the copy's `i`-th element is the real `i`-th.
struct SeqField {
    real: legacy::OpId,
    /// A text (of one-character elements), not a list (of strings).
    text: bool,
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
                            text: slot.text,
                            elems: elems.into_owned(),
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
                copy: copy.clone(),
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
            (Some(slot), legacy::OpType::Delete) => slot.ops.to_vec(),
            // A list, text or map replaced: what a loaded edit does
            // there depends on the real object; load it.
            (Some(slot), _) if !slot.scalar => return None,
            (Some(slot), _) => slot.ops.to_vec(),
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
        if slot.ops.as_slice() == [obj] {
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
    /// index: edits of it then load the document. (An activity dropped
    /// would be found again in the cold file, as it was before the edit:
    /// the index then names no cold file.)
    fn applied(
        &mut self,
        slot: usize,
        id: &RecordId,
        actor_id: &ActorId,
        operations: &[legacy::Op],
        start_op: u64,
    ) {
        let actor = match self.actors.iter().position(|a| a == actor_id) {
            Some(at) => at as u32,
            None => {
                self.actors.push(actor_id.clone());
                (self.actors.len() - 1) as u32
            }
        };
        let actors = positions(&self.actors);
        let to_ref = |id: &legacy::OpId| -> Option<OpRef> {
            Some(OpRef {
                counter: id.counter(),
                actor: *actors.get(id.actor())?,
            })
        };
        // Until the record is followed to the end.
        let cold = match (slot, &self.cold) {
            (ACTIVITIES, Cold::Saved(Some(_))) => {
                Some(std::mem::replace(&mut self.cold, Cold::Saved(None)))
            }
            _ => None,
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
                        ops: smallvec::smallvec![new],
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
        if let Some(cold) = cold {
            self.cold = cold;
        }
    }
}

mod received;
#[cfg(test)]
mod tests;
