//! Reading a saved document's records without loading it into automerge.
//!
//! Loading a document builds its whole op set, object index and change
//! graph: 125 MiB at its peak for 100k records, whose saved file is 3.7
//! MB. A read only needs the current value of each record. So a document
//! saved as one chunk is read here straight from its operation columns,
//! inflated as they are read ([`columns`]): the operations come object by
//! object, in the order automerge keeps them; each object's visible values
//! are gathered (a map's key takes the value of its greatest operation id
//! without successors, a list's or a text's elements come in order), and
//! a record is decoded, exactly as [`DocData::read`] decodes it, as soon
//! as its objects are all read.
//!
//! A document saved as a snapshot and then changes (a write appends
//! one) is read the same way, the changes' few operations merged into
//! the snapshot's as the loaded document would hold them
//! ([`read_chunks_with`], [`changes`]).
//!
//! What this reader does not handle, it does not guess at: counters,
//! marks, tables, an operation order it does not expect, more than one
//! document chunk, changes it cannot place, a root [`DocData::read`]
//! would refuse. [`read_saved`] then returns [`Unsupported`], and the
//! caller loads the document, which reads or reports it as always.

mod changes;
mod columns;

use std::collections::{BTreeMap, HashMap};

use automerge::{ObjType, ScalarValue};
use serde_json::Value as Json;

use crate::decode::scalar_to_json;
use crate::doc::{Collection, Contacts, DocData, DocKind, Parts, Problem, header_from};
use crate::ids::RecordId;
use crate::model::Activity;
use columns::{Action, Id, Key};

/// Why a saved document was not read here: the caller loads it instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub String);

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A personal document's own collections, which [`DocData::read`] reads
/// before the shared ones (and only in a personal document).
const PERSONAL: [Collection; 2] = [Collection::Accounts, Collection::PrivateNotes];

/// The place of `collection` in the order [`DocData::read`] reads them,
/// which orders the problems.
fn read_rank(collection: &str) -> Option<usize> {
    PERSONAL
        .iter()
        .chain(Collection::SHARED)
        .position(|c| c.key() == collection)
}

/// Every part of the document saved in `bytes` (one document chunk, as
/// `Automerge::save` writes it), equal to what [`DocData::read`] gives
/// for [`Parts::ALL`] once the document is loaded; or why it could not be
/// read this way.
pub fn read_saved(bytes: &[u8]) -> Result<DocData, Unsupported> {
    read_chunks(bytes, &[])
}

/// [`read_saved`] for a document saved as the document chunk `snapshot`
/// and then `changes` (its incremental chunks, in any order).
pub fn read_chunks(snapshot: &[u8], changes: &[automerge::Change]) -> Result<DocData, Unsupported> {
    let mut activities = BTreeMap::new();
    let mut data = read_chunks_with(snapshot, changes, |id, a| {
        activities.insert(id, a);
    })?;
    data.activities = activities;
    Ok(data)
}

/// The most changes [`read_chunks_with`] merges into a snapshot (their
/// order is found by comparing them pairwise): `rapport` compacts a
/// document at 64 chunks, and a document with many more loads.
pub const MOST_CHANGES: usize = 1024;

/// [`read_chunks`], but each activity that decodes is handed to `log`, in
/// no particular order, as soon as it is read, rather than kept: the data
/// returned holds no activity, only their contacts (and the problems of
/// those that do not decode). The activity log is most of a document, so
/// a caller that encodes each one as it comes holds far less. At most
/// [`MOST_CHANGES`] changes.
pub fn read_chunks_with(
    snapshot: &[u8],
    changes: &[automerge::Change],
    log: impl FnMut(RecordId, Activity),
) -> Result<DocData, Unsupported> {
    if changes.len() > MOST_CHANGES {
        return Err(Unsupported(format!("more than {MOST_CHANGES} changes")));
    }
    let ops = columns::document_ops(snapshot)?;
    if changes.is_empty() {
        read_ops(ops, log)
    } else {
        read_ops(changes::Merged::new(ops, changes)?, log)
    }
}

/// One change chunk, as an incremental chunk holds it, parsed, its
/// checksum checked as automerge's load checks it (parsing alone does
/// not); or why not.
pub fn change_chunk(bytes: Vec<u8>) -> Result<automerge::Change, Unsupported> {
    let checksum: Option<[u8; 4]> = bytes.get(4..8).and_then(|c| c.try_into().ok());
    let change = automerge::Change::from_bytes(bytes)
        .map_err(|e| Unsupported(format!("a change chunk: {e}")))?;
    if checksum.as_ref().map(|c| &c[..]) != Some(&change.hash().as_ref()[..4]) {
        return Err(Unsupported(
            "a change chunk's checksum does not match".into(),
        ));
    }
    Ok(change)
}

/// Where [`read_ops`] takes operations from: one document chunk's, or
/// with changes merged in.
trait OpSource {
    fn next_op(&mut self) -> Result<Option<columns::Op<'_>>, Unsupported>;
}

impl OpSource for columns::Ops<'_> {
    fn next_op(&mut self) -> Result<Option<columns::Op<'_>>, Unsupported> {
        columns::Ops::next_op(self)
    }
}

impl OpSource for changes::Merged<'_> {
    fn next_op(&mut self) -> Result<Option<columns::Op<'_>>, Unsupported> {
        changes::Merged::next_op(self)
    }
}

fn read_ops(
    mut ops: impl OpSource,
    log: impl FnMut(RecordId, Activity),
) -> Result<DocData, Unsupported> {
    let mut reader = Reader {
        log: Box::new(log),
        contacts: Contacts::default(),
        wanted: BTreeMap::new(),
        parts: HashMap::new(),
        pending: Vec::new(),
        free: Vec::new(),
        root: None,
        kind: None,
        data: DocData::default(),
    };
    let mut current: Option<(Id, Building)> = None;
    while let Some(op) = ops.next_op()? {
        if current.as_ref().is_none_or(|(obj, _)| *obj != op.obj) {
            if let Some((obj, building)) = current.take() {
                if obj > op.obj {
                    return Err(Unsupported("objects out of order".into()));
                }
                reader.finish(obj, building)?;
            }
            reader.empty_below(Some(op.obj))?;
            current = Some((op.obj, reader.start(op.obj)));
        }
        if let Some((_, building)) = &mut current
            && let Some((collection, key, val)) = building.add(&op)?
        {
            reader.start_record(Dest::Collection(collection, key.into()), val)?;
        }
    }
    if let Some((obj, building)) = current {
        reader.finish(obj, building)?;
    }
    reader.empty_below(None)?;
    reader.into_data()
}

/// A value as an object holds it: a scalar, or another object.
enum Val {
    Scalar(ScalarValue),
    Obj(Id, ObjType),
}

impl Val {
    fn of(op: &columns::Op<'_>) -> Result<Option<Val>, Unsupported> {
        // Visible: a value or an object, not superseded (as automerge's
        // `Op::visible`; an increment or a delete never is).
        if op.successors > 0 {
            return Ok(None);
        }
        Ok(Some(match op.action {
            Action::Set => match op.value {
                ScalarValue::Counter(_) => return Err(Unsupported("a counter".into())),
                ref v => Val::Scalar(v.clone()),
            },
            Action::MakeMap => Val::Obj(op.id, ObjType::Map),
            Action::MakeList => Val::Obj(op.id, ObjType::List),
            Action::MakeText => Val::Obj(op.id, ObjType::Text),
            Action::Delete => return Ok(None),
            Action::Increment => return Err(Unsupported("a counter".into())),
            Action::MakeTable => return Err(Unsupported("a table".into())),
            Action::Mark => return Err(Unsupported("a mark".into())),
        }))
    }
}

/// The winner so far among a key's or an element's operations.
type Best = Option<(Id, Val)>;

fn keep_greater(best: &mut Best, id: Id, val: Option<Val>) {
    if let Some(val) = val
        && best.as_ref().is_none_or(|(b, _)| id > *b)
    {
        *best = Some((id, val));
    }
}

/// An object's operations as they are read.
enum Building {
    /// An object no record reaches (superseded, or outside every
    /// collection): its operations are read past.
    Skipped,
    Map(Vec<(String, Best)>),
    /// A collection: each key's record is started as soon as the key's
    /// operations are read, rather than its 100k keys held.
    Records(Collection, Option<(String, Best)>),
    Seq {
        text: bool,
        items: Vec<Val>,
        /// The element being read: its id, and its value so far.
        element: Option<(Id, Best)>,
    },
}

impl Building {
    /// Takes `op`; a collection's key whose operations are all read (they
    /// come together) is returned with its value.
    fn add(
        &mut self,
        op: &columns::Op<'_>,
    ) -> Result<Option<(Collection, String, Val)>, Unsupported> {
        match self {
            Building::Records(collection, current) => {
                let Key::Map(key) = op.key else {
                    return Err(Unsupported("an element key in a map".into()));
                };
                let val = Val::of(op)?;
                match current {
                    Some((last, best)) if last.as_str() == key => {
                        keep_greater(best, op.id, val);
                        return Ok(None);
                    }
                    Some((last, _)) if last.as_str() > key => {
                        return Err(Unsupported("map keys out of order".into()));
                    }
                    _ => {}
                }
                let mut best = None;
                keep_greater(&mut best, op.id, val);
                let done = current.replace((key.to_string(), best));
                return Ok(done.and_then(|(k, best)| Some((*collection, k, best?.1))));
            }
            Building::Skipped => {
                // Still refuse what this reader cannot read.
                Val::of(op)?;
            }
            Building::Map(entries) => {
                let Key::Map(key) = op.key else {
                    return Err(Unsupported("an element key in a map".into()));
                };
                if op.insert {
                    return Err(Unsupported("an insert in a map".into()));
                }
                let val = Val::of(op)?;
                match entries.last_mut() {
                    Some((last, best)) if last.as_str() == key => keep_greater(best, op.id, val),
                    Some((last, _)) if last.as_str() > key => {
                        return Err(Unsupported("map keys out of order".into()));
                    }
                    _ => {
                        let mut best = None;
                        keep_greater(&mut best, op.id, val);
                        entries.push((key.to_string(), best));
                    }
                }
            }
            Building::Seq { items, element, .. } => {
                let Key::Elem(target) = op.key else {
                    return Err(Unsupported("a map key in a sequence".into()));
                };
                let val = Val::of(op)?;
                if op.insert {
                    if let Some((_, Some((_, v)))) = element.take() {
                        items.push(v);
                    }
                    let mut best = None;
                    keep_greater(&mut best, op.id, val);
                    *element = Some((op.id, best));
                } else {
                    match element {
                        Some((id, best)) if target == Some(*id) => keep_greater(best, op.id, val),
                        _ => return Err(Unsupported("an element out of order".into())),
                    }
                }
            }
        }
        Ok(None)
    }
}

/// An object's visible content; other objects in it are holes, filled
/// once they are read.
enum Node {
    Scalar(ScalarValue),
    Map(Vec<(String, Node)>),
    List(Vec<Node>),
    Text(String),
    Hole(Id),
}

impl Node {
    fn empty(ty: ObjType) -> Node {
        match ty {
            ObjType::Map | ObjType::Table => Node::Map(Vec::new()),
            ObjType::List => Node::List(Vec::new()),
            ObjType::Text => Node::Text(String::new()),
        }
    }

    /// As [`crate::decode::to_json`] gives the hydrated value.
    fn into_json(self, parts: &mut HashMap<Id, Node>) -> Result<Json, Unsupported> {
        Ok(match self {
            Node::Scalar(s) => scalar_to_json(&s),
            Node::Map(entries) => Json::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| Ok((k, v.into_json(parts)?)))
                    .collect::<Result<_, Unsupported>>()?,
            ),
            Node::List(items) => Json::Array(
                items
                    .into_iter()
                    .map(|v| v.into_json(parts))
                    .collect::<Result<_, Unsupported>>()?,
            ),
            Node::Text(s) => Json::String(s),
            Node::Hole(id) => take(parts, id)?.into_json(parts)?,
        })
    }

    /// Writes this value at `place` in `obj` of `doc`, its holes filled.
    fn write(
        self,
        doc: &mut automerge::AutoCommit,
        obj: &automerge::ObjId,
        place: Place<'_>,
        parts: &mut HashMap<Id, Node>,
    ) -> Result<(), automerge::AutomergeError> {
        use automerge::transaction::Transactable;
        let made = |doc: &mut automerge::AutoCommit, ty| match place {
            Place::Key(k) => doc.put_object(obj, k, ty),
            Place::Index(i) => doc.insert_object(obj, i, ty),
        };
        match self {
            Node::Scalar(s) => match place {
                Place::Key(k) => doc.put(obj, k, s),
                Place::Index(i) => doc.insert(obj, i, s),
            },
            Node::Map(entries) => {
                let map = made(doc, ObjType::Map)?;
                for (k, v) in entries {
                    v.write(doc, &map, Place::Key(&k), parts)?;
                }
                Ok(())
            }
            Node::List(items) => {
                let list = made(doc, ObjType::List)?;
                for (i, v) in items.into_iter().enumerate() {
                    v.write(doc, &list, Place::Index(i), parts)?;
                }
                Ok(())
            }
            Node::Text(s) => {
                let text = made(doc, ObjType::Text)?;
                doc.splice_text(&text, 0, 0, &s)
            }
            Node::Hole(id) => match parts.remove(&id) {
                Some(node) => node.write(doc, obj, place, parts),
                None => Err(automerge::AutomergeError::Fail),
            },
        }
    }
}

#[derive(Clone, Copy)]
enum Place<'a> {
    Key(&'a str),
    Index(usize),
}

fn take(parts: &mut HashMap<Id, Node>, id: Id) -> Result<Node, Unsupported> {
    parts
        .remove(&id)
        .ok_or_else(|| Unsupported("an object read twice".into()))
}

/// What an object is read for.
enum Owner {
    Collection(Collection),
    /// A record's own object, not read yet: where the record goes.
    Record(Dest),
    /// Part of a record being read: the place of its [`Pending`].
    Part(usize),
}

/// Where a record goes once read.
enum Dest {
    /// The account or owner record at the root.
    Root(&'static str),
    Collection(Collection, Box<str>),
}

/// A record whose objects are not all read yet.
struct Pending {
    dest: Dest,
    root: Id,
    /// Its objects known and not yet read.
    outstanding: usize,
}

struct Reader<'l> {
    /// Where each activity goes, and the contacts of those that went.
    log: Box<dyn FnMut(RecordId, Activity) + 'l>,
    contacts: Contacts,
    /// The objects to read, by id; any other is read past.
    wanted: BTreeMap<Id, (ObjType, Owner)>,
    /// The objects read of records not yet complete.
    parts: HashMap<Id, Node>,
    pending: Vec<Option<Pending>>,
    /// Free places in `pending`.
    free: Vec<usize>,
    root: Option<Vec<(String, Val)>>,
    kind: Option<DocKind>,
    data: DocData,
}

impl Reader<'_> {
    fn start(&mut self, obj: Id) -> Building {
        let ty = if obj == Id::ROOT {
            if self.root.is_some() {
                return Building::Skipped;
            }
            Some(ObjType::Map)
        } else {
            self.wanted.get(&obj).map(|(ty, _)| *ty)
        };
        if let Some((_, Owner::Collection(c))) = self.wanted.get(&obj) {
            return Building::Records(*c, None);
        }
        match ty {
            None => Building::Skipped,
            Some(ObjType::Map | ObjType::Table) => Building::Map(Vec::new()),
            Some(ty) => Building::Seq {
                text: ty == ObjType::Text,
                items: Vec::new(),
                element: None,
            },
        }
    }

    /// Every wanted object below `obj` (`None`: every one left) has no
    /// operations: it is empty.
    fn empty_below(&mut self, obj: Option<Id>) -> Result<(), Unsupported> {
        if obj.is_none_or(|o| o > Id::ROOT) && self.root.is_none() {
            return Err(Unsupported("a document without a root".into()));
        }
        while let Some(entry) = self.wanted.first_entry() {
            if obj.is_some_and(|o| *entry.key() >= o) {
                break;
            }
            let ty = entry.get().0;
            let id = *entry.key();
            let slot = self.claim(id)?;
            self.read(id, slot, Node::empty(ty))?;
        }
        Ok(())
    }

    fn finish(&mut self, obj: Id, building: Building) -> Result<(), Unsupported> {
        let values = match building {
            Building::Skipped => return Ok(()),
            Building::Records(collection, last) => {
                self.claim(obj)?;
                if let Some((key, Some((_, val)))) = last {
                    self.start_record(Dest::Collection(collection, key.into()), val)?;
                }
                return Ok(());
            }
            Building::Map(entries) => entries
                .into_iter()
                .filter_map(|(k, best)| best.map(|(_, v)| (k, v)))
                .collect::<Vec<_>>(),
            Building::Seq {
                text,
                mut items,
                element,
            } => {
                if let Some((_, Some((_, v)))) = element {
                    items.push(v);
                }
                if text {
                    let mut s = String::new();
                    for item in items {
                        match item {
                            Val::Scalar(ScalarValue::Str(c)) => s.push_str(&c),
                            _ => return Err(Unsupported("a text element not a string".into())),
                        }
                    }
                    let slot = self.claim(obj)?;
                    return self.read(obj, slot, Node::Text(s));
                }
                let slot = self.claim(obj)?;
                let mut list = Vec::with_capacity(items.len());
                for item in items {
                    list.push(self.node(item, slot)?);
                }
                return self.read(obj, slot, Node::List(list));
            }
        };
        if obj == Id::ROOT {
            return self.read_root(values);
        }
        let slot = self.claim(obj)?;
        let mut map = Vec::with_capacity(values.len());
        for (key, val) in values {
            map.push((key, self.node(val, slot)?));
        }
        self.read(obj, slot, Node::Map(map))
    }

    /// Takes `obj` from the wanted: the place of its record among the
    /// pending (a record's own object starts its record there), `None`
    /// for a collection.
    fn claim(&mut self, obj: Id) -> Result<Option<usize>, Unsupported> {
        let (_, owner) = self
            .wanted
            .remove(&obj)
            .ok_or_else(|| Unsupported("an object read twice".into()))?;
        Ok(match owner {
            Owner::Collection(_) => None,
            Owner::Part(i) => Some(i),
            Owner::Record(dest) => {
                let pending = Pending {
                    dest,
                    root: obj,
                    outstanding: 1,
                };
                Some(match self.free.pop() {
                    Some(i) => {
                        self.pending[i] = Some(pending);
                        i
                    }
                    None => {
                        self.pending.push(Some(pending));
                        self.pending.len() - 1
                    }
                })
            }
        })
    }

    /// A value of an object of `owner`: another object becomes a hole,
    /// and is wanted.
    fn node(&mut self, val: Val, slot: Option<usize>) -> Result<Node, Unsupported> {
        Ok(match val {
            Val::Scalar(s) => Node::Scalar(s),
            Val::Obj(id, ty) => {
                let Some(i) = slot else {
                    return Err(Unsupported("an object in a collection's place".into()));
                };
                if let Some(p) = self.pending.get_mut(i).and_then(Option::as_mut) {
                    p.outstanding += 1;
                }
                self.want(id, ty, Owner::Part(i))?;
                Node::Hole(id)
            }
        })
    }

    fn want(&mut self, id: Id, ty: ObjType, owner: Owner) -> Result<(), Unsupported> {
        if self.wanted.insert(id, (ty, owner)).is_some() {
            return Err(Unsupported("an object made twice".into()));
        }
        Ok(())
    }

    fn read_root(&mut self, values: Vec<(String, Val)>) -> Result<(), Unsupported> {
        let scalar = |key: &str| {
            values.iter().find_map(|(k, v)| match v {
                Val::Scalar(s) if k == key => Some(s),
                _ => None,
            })
        };
        let (schema, kind) = header_from(scalar("schema"), scalar("kind"))
            .map_err(|e| Unsupported(format!("the root: {e}")))?;
        self.data.schema = schema;
        self.data.kind = Some(kind);
        self.kind = Some(kind);
        let record = match kind {
            DocKind::Account => "account",
            DocKind::Personal => "owner",
        };
        let read = |c: &Collection| kind == DocKind::Personal || !PERSONAL.contains(c);
        let mut has_record = false;
        for (key, val) in &values {
            if let Val::Obj(id, ty) = val {
                if key == record {
                    if *ty != ObjType::Map {
                        return Err(Unsupported(format!("the {record} record is no map")));
                    }
                    has_record = true;
                    self.start_record(Dest::Root(record), Val::Obj(*id, *ty))?;
                } else if *ty == ObjType::Map
                    && let Some(c) = PERSONAL
                        .iter()
                        .chain(Collection::SHARED)
                        .find(|c| c.key() == key && read(c))
                {
                    self.want(*id, *ty, Owner::Collection(*c))?;
                }
            }
        }
        if !has_record {
            return Err(Unsupported(format!("no {record} record")));
        }
        self.root = Some(values);
        Ok(())
    }

    fn start_record(&mut self, dest: Dest, val: Val) -> Result<(), Unsupported> {
        match val {
            Val::Scalar(s) => self.decode(dest, Node::Scalar(s)),
            Val::Obj(id, ty) => self.want(id, ty, Owner::Record(dest)),
        }
    }

    /// `obj`, of the record pending at `slot`, is read as `node`.
    fn read(&mut self, obj: Id, slot: Option<usize>, node: Node) -> Result<(), Unsupported> {
        let Some(i) = slot else {
            // An empty collection.
            return Ok(());
        };
        self.parts.insert(obj, node);
        let Some(pending) = self.pending.get_mut(i).and_then(Option::as_mut) else {
            return Err(Unsupported("an object of no record".into()));
        };
        pending.outstanding -= 1;
        if pending.outstanding > 0 {
            return Ok(());
        }
        let Some(done) = self.pending[i].take() else {
            return Ok(());
        };
        self.free.push(i);
        let node = take(&mut self.parts, done.root)?;
        self.decode(done.dest, node)
    }

    /// Decodes a whole record as [`DocData::read`] does.
    fn decode(&mut self, dest: Dest, node: Node) -> Result<(), Unsupported> {
        match dest {
            Dest::Root(key) => {
                // Through autosurgeon, as `DocData::read`: on a document
                // of this record alone, which reads as the whole one did.
                let mut doc = automerge::AutoCommit::new();
                node.write(&mut doc, &automerge::ROOT, Place::Key(key), &mut self.parts)
                    .map_err(|e| Unsupported(format!("the {key} record: {e}")))?;
                let unreadable =
                    |e: autosurgeon::HydrateError| Unsupported(format!("the {key} record: {e}"));
                match key {
                    "account" => {
                        self.data.account = Some(
                            autosurgeon::hydrate_prop(&doc, automerge::ROOT, key)
                                .map_err(unreadable)?,
                        )
                    }
                    _ => {
                        self.data.owner = Some(
                            autosurgeon::hydrate_prop(&doc, automerge::ROOT, key)
                                .map_err(unreadable)?,
                        )
                    }
                }
                Ok(())
            }
            Dest::Collection(Collection::Activities, key) => {
                let json = node.into_json(&mut self.parts)?;
                let mut one = BTreeMap::new();
                crate::doc::decode_item(
                    &mut one,
                    &mut self.data.problems,
                    Collection::Activities,
                    key.into_string(),
                    json,
                );
                for (id, a) in one {
                    self.contacts.add(&a);
                    (self.log)(id, a);
                }
                Ok(())
            }
            Dest::Collection(c, key) => {
                let json = node.into_json(&mut self.parts)?;
                crate::doc::decode_into(&mut self.data, c, key.into_string(), json);
                Ok(())
            }
        }
    }

    fn into_data(mut self) -> Result<DocData, Unsupported> {
        if self.kind.is_none() {
            return Err(Unsupported("a document without a root".into()));
        }
        if self.pending.iter().any(Option::is_some) || !self.parts.is_empty() {
            return Err(Unsupported("a record left unread".into()));
        }
        let rank = |p: &Problem| read_rank(&p.collection);
        self.data
            .problems
            .sort_by(|a, b| rank(a).cmp(&rank(b)).then_with(|| a.key.cmp(&b.key)));
        self.data.contacts = Some(self.contacts);
        self.data.retain(Parts::ALL);
        Ok(self.data)
    }
}

#[cfg(test)]
mod tests;
