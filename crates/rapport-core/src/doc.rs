//! The layout of Rapport's two kinds of automerge document, and typed reads
//! and writes of their records (see `docs/schema.md`).
//!
//! Root of every document:
//! `schema` (uint), `kind` ("account" | "personal"), then one map per
//! collection, keyed by record id. An account document also has `account`;
//! a personal document has `owner`, `accounts` and `private_notes`.

use std::collections::BTreeMap;

use automerge::{ObjId, ObjType, ROOT, Value};
use autosurgeon::{Doc, Hydrate, ReadDoc, Reconcile};

use crate::Error;
use crate::ids::RecordId;
use crate::model::*;
use crate::values::Day;

/// The schema version this build writes. Documents of a newer version are
/// read best-effort and never written.
pub const SCHEMA_VERSION: u64 = 1;

/// Which kind of document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DocKind {
    /// One per account: the unit a team shares.
    Account,
    /// One per user: identity, personal contacts, private notes.
    Personal,
}

impl DocKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Account => "account",
            DocKind::Personal => "personal",
        }
    }
}

/// A map of records at the root of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Collection {
    People,
    Relationships,
    Opportunities,
    Plan,
    Activities,
    Partnerships,
    /// Personal documents only.
    PrivateNotes,
    /// Personal documents only: the user's account documents, keyed by
    /// bs58check document id.
    Accounts,
}

impl Collection {
    /// Collections present in every document.
    pub const SHARED: &'static [Collection] = &[
        Collection::People,
        Collection::Relationships,
        Collection::Opportunities,
        Collection::Plan,
        Collection::Activities,
        Collection::Partnerships,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Collection::People => "people",
            Collection::Relationships => "relationships",
            Collection::Opportunities => "opportunities",
            Collection::Plan => "plan",
            Collection::Activities => "activities",
            Collection::Partnerships => "partnerships",
            Collection::PrivateNotes => "private_notes",
            Collection::Accounts => "accounts",
        }
    }

    /// What one record of the collection is called, for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Collection::People => "person",
            Collection::Relationships => "relationship",
            Collection::Opportunities => "opportunity",
            Collection::Plan => "plan item",
            Collection::Activities => "activity",
            Collection::Partnerships => "partnership",
            Collection::PrivateNotes => "note",
            Collection::Accounts => "account",
        }
    }
}

/// A record that could not be read (written by a foreign or buggy client).
/// It is skipped, reported by `rapport doctor`, and never overwritten.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    pub collection: String,
    pub key: String,
    pub error: String,
}

/// Which parts of a document to decode; reading fewer is faster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    pub people: bool,
    pub relationships: bool,
    pub opportunities: bool,
    pub plan: bool,
    pub activities: bool,
    pub partnerships: bool,
    /// The last contact of each member with each person
    /// ([`DocData::contacts`]): what [`DocData::last_contact`] needs of the
    /// activity log, without the log.
    pub contacts: bool,
}

impl Parts {
    pub const ALL: Parts = Parts {
        people: true,
        relationships: true,
        opportunities: true,
        plan: true,
        activities: true,
        partnerships: true,
        contacts: true,
    };
    pub const NONE: Parts = Parts {
        people: false,
        relationships: false,
        opportunities: false,
        plan: false,
        activities: false,
        partnerships: false,
        contacts: false,
    };
    pub const PEOPLE: Parts = Parts {
        people: true,
        ..Parts::NONE
    };
    /// Every part but the activity log itself, whose last contacts come
    /// from [`contacts`](Self::contacts): what the gap report, the agenda
    /// and the map read.
    pub const ANALYSIS: Parts = Parts {
        activities: false,
        ..Parts::ALL
    };

    /// Whether the records of `collection` are among these parts (the
    /// account and owner records, the account list and private notes
    /// always are).
    pub fn has(&self, collection: Collection) -> bool {
        match collection {
            Collection::People => self.people,
            Collection::Relationships => self.relationships,
            Collection::Opportunities => self.opportunities,
            Collection::Plan => self.plan,
            Collection::Activities => self.activities,
            Collection::Partnerships => self.partnerships,
            Collection::PrivateNotes | Collection::Accounts => true,
        }
    }
}

/// The newest date of the (not archived) activity each member logged with
/// each person, by member handle, then person.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Contacts(BTreeMap<String, BTreeMap<RecordId, Day>>);

impl Contacts {
    /// Indexes an activity log.
    pub fn of(activities: &BTreeMap<RecordId, Activity>) -> Contacts {
        let mut contacts = Contacts::default();
        for a in activities.values() {
            contacts.add(a);
        }
        contacts
    }

    /// Indexes one more activity.
    pub fn add(&mut self, a: &Activity) {
        self.add_parts(
            &a.by,
            a.people.iter().map(RecordId::as_str),
            a.date,
            a.archived,
        );
    }

    /// Indexes one more activity, given as the parts that count: who
    /// logged it, with whom, when, and whether it is archived (for an
    /// activity read in place, without an owned copy).
    pub fn add_parts<'a>(
        &mut self,
        by: &str,
        people: impl IntoIterator<Item = &'a str>,
        date: Day,
        archived: bool,
    ) {
        if archived {
            return;
        }
        if !self.0.contains_key(by) {
            self.0.insert(by.to_string(), BTreeMap::new());
        }
        let Some(by) = self.0.get_mut(by) else {
            return;
        };
        for person in people {
            match by.get_mut(person) {
                Some(last) => *last = (*last).max(date),
                None => {
                    by.insert(RecordId::from(person.to_string()), date);
                }
            }
        }
    }

    /// The newest activity `member` logged with `person`.
    pub fn last(&self, member: &str, person: &RecordId) -> Option<Day> {
        self.0.get(member)?.get(person).copied()
    }
}

/// A decoded document.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct DocData {
    pub schema: u64,
    pub kind: Option<DocKind>,
    pub account: Option<Account>,
    pub owner: Option<Owner>,
    pub accounts: BTreeMap<RecordId, AccountEntry>,
    pub private_notes: BTreeMap<RecordId, PrivateNote>,
    pub people: BTreeMap<RecordId, Person>,
    pub relationships: BTreeMap<RecordId, Relationship>,
    pub opportunities: BTreeMap<RecordId, Opportunity>,
    pub plan: BTreeMap<RecordId, PlanItem>,
    pub activities: BTreeMap<RecordId, Activity>,
    pub partnerships: BTreeMap<RecordId, Partnership>,
    /// Derived from `activities` when [`Parts::contacts`] was asked for, so
    /// [`last_contact`](Self::last_contact) need not scan the log; `None`:
    /// scan `activities`.
    pub contacts: Option<Contacts>,
    pub problems: Vec<Problem>,
}

/// A kind of record kept in one collection of a document, as
/// [`DocData`] holds it.
pub trait Record: Sized {
    const COLLECTION: Collection;
    fn all(data: &DocData) -> &BTreeMap<RecordId, Self>;
    fn all_mut(data: &mut DocData) -> &mut BTreeMap<RecordId, Self>;
}

macro_rules! record {
    ($t:ty, $c:ident, $field:ident) => {
        impl Record for $t {
            const COLLECTION: Collection = Collection::$c;
            fn all(data: &DocData) -> &BTreeMap<RecordId, Self> {
                &data.$field
            }
            fn all_mut(data: &mut DocData) -> &mut BTreeMap<RecordId, Self> {
                &mut data.$field
            }
        }
    };
}

record!(Person, People, people);
record!(Relationship, Relationships, relationships);
record!(Opportunity, Opportunities, opportunities);
record!(PlanItem, Plan, plan);
record!(Activity, Activities, activities);
record!(Partnership, Partnerships, partnerships);
record!(PrivateNote, PrivateNotes, private_notes);
record!(AccountEntry, Accounts, accounts);

impl DocData {
    /// Decodes the header, the account or owner, and the chosen collections.
    pub fn read<D: ReadDoc + automerge::ReadDoc>(doc: &D, parts: Parts) -> Result<DocData, Error> {
        let header = read_header(doc)?;
        let mut data = DocData {
            schema: header.0,
            kind: Some(header.1),
            ..DocData::default()
        };
        let problems = &mut data.problems;
        match header.1 {
            DocKind::Account => {
                data.account = Some(
                    autosurgeon::hydrate_prop(doc, ROOT, "account")
                        .map_err(|e| Error::Corrupt(format!("the account record: {e}")))?,
                );
            }
            DocKind::Personal => {
                data.owner = Some(
                    autosurgeon::hydrate_prop(doc, ROOT, "owner")
                        .map_err(|e| Error::Corrupt(format!("the owner record: {e}")))?,
                );
                data.accounts = read_collection(doc, Collection::Accounts, problems);
                data.private_notes = read_collection(doc, Collection::PrivateNotes, problems);
            }
        }
        if parts.people {
            data.people = read_collection(doc, Collection::People, problems);
        }
        if parts.relationships {
            data.relationships = read_collection(doc, Collection::Relationships, problems);
        }
        if parts.opportunities {
            data.opportunities = read_collection(doc, Collection::Opportunities, problems);
        }
        if parts.plan {
            data.plan = read_collection(doc, Collection::Plan, problems);
        }
        if parts.activities || parts.contacts {
            data.activities = read_collection(doc, Collection::Activities, problems);
        }
        if parts.partnerships {
            data.partnerships = read_collection(doc, Collection::Partnerships, problems);
        }
        data.retain(parts);
        Ok(data)
    }

    /// A copy of `parts` alone: what `self.clone()` then
    /// [`retain`](Self::retain) gives, without copying the other parts
    /// first.
    pub fn copy_parts(&self, parts: Parts) -> DocData {
        fn copy<T: Clone>(wanted: bool, records: &BTreeMap<RecordId, T>) -> BTreeMap<RecordId, T> {
            if wanted {
                records.clone()
            } else {
                BTreeMap::new()
            }
        }
        let mut out = DocData {
            schema: self.schema,
            kind: self.kind,
            account: self.account.clone(),
            owner: self.owner.clone(),
            accounts: self.accounts.clone(),
            private_notes: self.private_notes.clone(),
            people: copy(parts.people, &self.people),
            relationships: copy(parts.relationships, &self.relationships),
            opportunities: copy(parts.opportunities, &self.opportunities),
            plan: copy(parts.plan, &self.plan),
            // The contacts are derived from the whole log: copied, or
            // derived from it below when there are none.
            activities: copy(
                parts.activities || (parts.contacts && self.contacts.is_none()),
                &self.activities,
            ),
            partnerships: copy(parts.partnerships, &self.partnerships),
            contacts: if parts.contacts {
                self.contacts.clone()
            } else {
                None
            },
            problems: self.problems.clone(),
        };
        out.retain(parts);
        out
    }

    /// Keeps only `parts`: the other collections are emptied, the problems
    /// of their records dropped, and the contacts derived when asked for
    /// (from `activities`, so those must be here then). Every way of reading
    /// a document ends here, so all of them give the same data for the same
    /// parts.
    pub fn retain(&mut self, parts: Parts) {
        if parts.contacts {
            if self.contacts.is_none() {
                self.contacts = Some(Contacts::of(&self.activities));
            }
        } else {
            self.contacts = None;
        }
        fn keep<T>(wanted: bool, records: &mut BTreeMap<RecordId, T>) {
            if !wanted {
                records.clear();
            }
        }
        keep(parts.people, &mut self.people);
        keep(parts.relationships, &mut self.relationships);
        keep(parts.opportunities, &mut self.opportunities);
        keep(parts.plan, &mut self.plan);
        keep(parts.activities, &mut self.activities);
        keep(parts.partnerships, &mut self.partnerships);
        self.problems.retain(|p| {
            Collection::SHARED
                .iter()
                .find(|c| c.key() == p.collection)
                .is_none_or(|c| parts.has(*c))
        });
    }

    /// The display name of the document: the account's name, or "personal".
    pub fn title(&self) -> String {
        match (&self.account, &self.owner) {
            (Some(a), _) => a.name.clone(),
            _ => "personal".to_string(),
        }
    }

    /// The last contact between `member` and `person`: the later of the date
    /// set by hand and the newest activity `member` logged with `person`.
    pub fn last_contact(&self, rel: &Relationship) -> Option<Day> {
        let logged = match &self.contacts {
            Some(contacts) => contacts.last(&rel.member, &rel.person),
            None => self
                .activities
                .values()
                .filter(|a| !a.archived && a.by == rel.member && a.people.contains(&rel.person))
                .map(|a| a.date)
                .max(),
        };
        logged.max(rel.last_contact)
    }

    /// The relationship between `member` and `person`, if any (not archived).
    pub fn relationship_of(
        &self,
        member: &str,
        person: &RecordId,
    ) -> Option<(&RecordId, &Relationship)> {
        self.relationships
            .iter()
            .find(|(_, r)| !r.archived && r.member == member && &r.person == person)
    }
}

/// The schema version and kind at the root.
pub fn read_header<D: ReadDoc>(doc: &D) -> Result<(u64, DocKind), Error> {
    let scalar = |key: &str| match doc.get(&ROOT, key) {
        Ok(Some((Value::Scalar(s), _))) => Ok(Some(s.into_owned())),
        Ok(_) => Ok(None),
        Err(e) => Err(e),
    };
    header_from(scalar("schema")?.as_ref(), scalar("kind")?.as_ref())
}

/// The schema version and kind from the root's `schema` and `kind`
/// values (`None`: missing, or an object).
pub(crate) fn header_from(
    schema: Option<&automerge::ScalarValue>,
    kind: Option<&automerge::ScalarValue>,
) -> Result<(u64, DocKind), Error> {
    let schema = match schema {
        Some(s) => match s {
            automerge::ScalarValue::Uint(u) => *u,
            automerge::ScalarValue::Int(i) if *i >= 0 => *i as u64,
            automerge::ScalarValue::F64(f) if *f >= 0.0 => *f as u64,
            other => return Err(Error::Corrupt(format!("schema is {other}, not a number"))),
        },
        None => return Err(Error::Corrupt("no schema version at the root".into())),
    };
    let kind = match kind {
        Some(s) => match s.as_str() {
            Some("account") => DocKind::Account,
            Some("personal") => DocKind::Personal,
            _ => return Err(Error::Corrupt(format!("unknown document kind {s}"))),
        },
        None => return Err(Error::Corrupt("no document kind at the root".into())),
    };
    Ok((schema, kind))
}

/// Whether every shared collection map exists (a document Rapport created
/// has them from its first change).
pub fn has_collections<D: ReadDoc>(doc: &D) -> bool {
    Collection::SHARED
        .iter()
        .all(|c| collection_obj(doc, *c).is_some())
}

/// Refuses to write a document a newer Rapport wrote.
pub fn check_writable<D: ReadDoc>(doc: &D) -> Result<DocKind, Error> {
    let (schema, kind) = read_header(doc)?;
    if schema > SCHEMA_VERSION {
        return Err(Error::NewerSchema {
            found: schema,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(kind)
}

pub(crate) fn collection_obj<D: ReadDoc>(doc: &D, collection: Collection) -> Option<ObjId> {
    match doc.get(&ROOT, collection.key()) {
        Ok(Some((Value::Object(ObjType::Map), id))) => Some(id),
        _ => None,
    }
}

/// Every record of a collection; records that fail to decode go to
/// `problems` (in the order of their keys).
///
/// Decodes each record through one `hydrate` and serde, several times
/// faster than autosurgeon's field-by-field reads. One record is hydrated
/// at a time: a hydrated value holds each text as a tree of characters,
/// and hydrating a collection of 73k activities at once took 280 MiB (the
/// peak of a read that loads a 100k-record document, above the loaded
/// document itself). Records decoded this way are for reading: edits
/// re-read their record with [`read_record`].
pub fn read_collection<D, T>(
    doc: &D,
    collection: Collection,
    problems: &mut Vec<Problem>,
) -> BTreeMap<RecordId, T>
where
    D: ReadDoc + automerge::ReadDoc,
    T: serde::de::DeserializeOwned,
{
    let mut out = BTreeMap::new();
    let Some(obj) = collection_obj(doc, collection) else {
        return out;
    };
    for item in automerge::ReadDoc::map_range(doc, &obj, ..) {
        let value = match item.value {
            automerge::ValueRef::Scalar(s) => automerge::hydrate::Value::Scalar(s.into()),
            automerge::ValueRef::Object(_) => {
                match automerge::ReadDoc::hydrate(doc, item.id(), None) {
                    Ok(value) => value,
                    Err(e) => {
                        problems.push(Problem {
                            collection: collection.key().to_string(),
                            key: item.key.into_owned(),
                            error: e.to_string(),
                        });
                        continue;
                    }
                }
            }
        };
        let json = crate::decode::to_json(&value);
        decode_item(&mut out, problems, collection, item.key.into_owned(), json);
    }
    out
}

/// Decodes the record `key` of `collection`, as JSON, into `out`, or
/// notes in `problems` why it does not decode.
pub(crate) fn decode_item<T: serde::de::DeserializeOwned>(
    out: &mut BTreeMap<RecordId, T>,
    problems: &mut Vec<Problem>,
    collection: Collection,
    key: String,
    json: serde_json::Value,
) {
    match serde_json::from_value::<T>(json) {
        Ok(record) => {
            out.insert(RecordId::from(key), record);
        }
        Err(e) => problems.push(Problem {
            collection: collection.key().to_string(),
            key,
            error: e.to_string(),
        }),
    }
}

/// [`decode_item`] into the collection of `data` it belongs to.
pub(crate) fn decode_into(
    data: &mut DocData,
    collection: Collection,
    key: String,
    json: serde_json::Value,
) {
    let problems = &mut data.problems;
    match collection {
        Collection::People => decode_item(&mut data.people, problems, collection, key, json),
        Collection::Relationships => {
            decode_item(&mut data.relationships, problems, collection, key, json)
        }
        Collection::Opportunities => {
            decode_item(&mut data.opportunities, problems, collection, key, json)
        }
        Collection::Plan => decode_item(&mut data.plan, problems, collection, key, json),
        Collection::Activities => {
            decode_item(&mut data.activities, problems, collection, key, json)
        }
        Collection::Partnerships => {
            decode_item(&mut data.partnerships, problems, collection, key, json)
        }
        Collection::PrivateNotes => {
            decode_item(&mut data.private_notes, problems, collection, key, json)
        }
        Collection::Accounts => decode_item(&mut data.accounts, problems, collection, key, json),
    }
}

/// Records `ids` of `collection`, decoded as [`read_collection`] decodes
/// them; `None` if one of them is not there as exactly one map (missing,
/// in conflict, a plain value) or does not decode.
pub fn read_records<D, T>(
    doc: &D,
    collection: Collection,
    ids: &[RecordId],
) -> Option<Vec<(RecordId, T)>>
where
    D: automerge::ReadDoc,
    T: serde::de::DeserializeOwned,
{
    let obj = match doc.get(&ROOT, collection.key()) {
        Ok(Some((Value::Object(ObjType::Map), id))) => id,
        _ => return None,
    };
    ids.iter()
        .map(|id| {
            let values = doc.get_all(&obj, id.as_str()).ok()?;
            let [(Value::Object(ObjType::Map), record)] = values.as_slice() else {
                return None;
            };
            Some((id.clone(), decode_record(doc, record)?))
        })
        .collect()
}

/// The record at `obj`, decoded as [`read_collection`] decodes a record
/// (through serde, stricter than autosurgeon: a null among strings, or for
/// a flag, is an error); `None` if it does not decode.
pub fn decode_record<D, T>(doc: &D, obj: &automerge::ObjId) -> Option<T>
where
    D: automerge::ReadDoc,
    T: serde::de::DeserializeOwned,
{
    let value = doc.hydrate(obj, None).ok()?;
    serde_json::from_value::<T>(crate::decode::to_json(&value)).ok()
}

/// `record` with its field `key` set to the plain value `value`, decoded
/// as [`read_collection`] decodes a record whose field holds it (the
/// other fields as they are); `None` if that does not decode. (A key
/// that is no field of `T` changes nothing, as on a read.)
pub fn with_field<T>(record: &T, key: &str, value: &automerge::ScalarValue) -> Option<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let serde_json::Value::Object(mut fields) = serde_json::to_value(record).ok()? else {
        return None;
    };
    let value = automerge::hydrate::Value::Scalar(value.clone());
    fields.insert(key.to_string(), crate::decode::to_json(&value));
    serde_json::from_value(serde_json::Value::Object(fields)).ok()
}

/// Records that display but could not be edited: every record of every
/// collection is hydrated as an edit would (for `rapport doctor`).
pub fn check_editable<D: ReadDoc + automerge::ReadDoc>(doc: &D) -> Vec<Problem> {
    fn each<D: ReadDoc, T: Hydrate>(doc: &D, c: Collection, out: &mut Vec<Problem>) {
        let Some(obj) = collection_obj(doc, c) else {
            return;
        };
        // A record that is a map is hydrated from its object as listed, as
        // `hydrate_prop` hydrates it once it has found it by its key (a
        // search of the collection's map for each record); any other value
        // through `hydrate_prop` itself.
        let records: Vec<(String, Option<ObjId>)> = doc
            .map_range(&obj, ..)
            .map(|i| {
                let map = matches!(
                    i.value,
                    automerge::ValueRef::Object(ObjType::Map | ObjType::Table)
                );
                (i.key.to_string(), map.then(|| i.id()))
            })
            .collect();
        for (key, map) in records {
            let hydrated = match &map {
                Some(id) => T::hydrate_map(doc, id),
                None => autosurgeon::hydrate_prop::<_, T, _, _>(doc, &obj, key.as_str()),
            };
            if let Err(e) = hydrated {
                out.push(Problem {
                    collection: c.key().to_string(),
                    key,
                    error: format!("cannot be edited: {e}"),
                });
            }
        }
    }
    let mut out = Vec::new();
    each::<_, Person>(doc, Collection::People, &mut out);
    each::<_, Relationship>(doc, Collection::Relationships, &mut out);
    each::<_, Opportunity>(doc, Collection::Opportunities, &mut out);
    each::<_, PlanItem>(doc, Collection::Plan, &mut out);
    each::<_, Activity>(doc, Collection::Activities, &mut out);
    each::<_, Partnership>(doc, Collection::Partnerships, &mut out);
    each::<_, PrivateNote>(doc, Collection::PrivateNotes, &mut out);
    each::<_, AccountEntry>(doc, Collection::Accounts, &mut out);
    out
}

/// One record, if present and readable.
pub fn read_record<D: ReadDoc, T: Hydrate>(
    doc: &D,
    collection: Collection,
    id: &RecordId,
) -> Result<Option<T>, Error> {
    let Some(obj) = collection_obj(doc, collection) else {
        return Ok(None);
    };
    if doc.get(&obj, id.as_str())?.is_none() {
        return Ok(None);
    }
    autosurgeon::hydrate_prop(doc, &obj, id.as_str())
        .map(Some)
        .map_err(|e| Error::Corrupt(format!("{} {id}: {e}", collection.key())))
}

/// Writes a record. Only the fields that differ from what is stored produce
/// changes, so a teammate's concurrent edit of another field survives.
pub fn put_record<D: Doc, T: Reconcile>(
    doc: &mut D,
    collection: Collection,
    id: &RecordId,
    record: &T,
) -> Result<(), Error> {
    let obj = match collection_obj(doc, collection) {
        Some(obj) => obj,
        None => doc.put_object(ROOT, collection.key(), ObjType::Map)?,
    };
    autosurgeon::reconcile_prop(doc, &obj, id.as_str(), record)
        .map_err(|e| Error::Other(format!("could not write {} {id}: {e}", collection.key())))
}

/// Removes a record for good (`--purge`). Archiving is the default.
pub fn delete_record<D: Doc>(
    doc: &mut D,
    collection: Collection,
    id: &RecordId,
) -> Result<(), Error> {
    if let Some(obj) = collection_obj(doc, collection) {
        doc.delete(&obj, id.as_str())?;
    }
    Ok(())
}

fn init_root<D: Doc>(doc: &mut D, kind: DocKind) -> Result<(), Error> {
    doc.put(ROOT, "schema", SCHEMA_VERSION)?;
    doc.put(ROOT, "kind", kind.as_str())?;
    // Every collection map is created here, in the document's first change:
    // two clients creating the same map concurrently would conflict and one
    // map's records would be hidden.
    for c in Collection::SHARED {
        doc.put_object(ROOT, c.key(), ObjType::Map)?;
    }
    Ok(())
}

/// Fills a new, empty document as an account document.
pub fn init_account<D: Doc>(doc: &mut D, account: &Account) -> Result<(), Error> {
    init_root(doc, DocKind::Account)?;
    autosurgeon::reconcile_prop(doc, ROOT, "account", account)
        .map_err(|e| Error::Other(format!("could not write the account: {e}")))
}

/// Fills a new, empty document as a personal document.
pub fn init_personal<D: Doc>(doc: &mut D, owner: &Owner) -> Result<(), Error> {
    init_root(doc, DocKind::Personal)?;
    doc.put_object(ROOT, Collection::PrivateNotes.key(), ObjType::Map)?;
    doc.put_object(ROOT, Collection::Accounts.key(), ObjType::Map)?;
    autosurgeon::reconcile_prop(doc, ROOT, "owner", owner)
        .map_err(|e| Error::Other(format!("could not write the owner: {e}")))
}

/// Writes the account record of an account document.
pub fn put_account<D: Doc>(doc: &mut D, account: &Account) -> Result<(), Error> {
    autosurgeon::reconcile_prop(doc, ROOT, "account", account)
        .map_err(|e| Error::Other(format!("could not write the account: {e}")))
}

/// Writes the owner record of a personal document.
pub fn put_owner<D: Doc>(doc: &mut D, owner: &Owner) -> Result<(), Error> {
    autosurgeon::reconcile_prop(doc, ROOT, "owner", owner)
        .map_err(|e| Error::Other(format!("could not write the owner: {e}")))
}

/// Sets a record's `archived` flag without touching its other fields.
pub fn set_archived<D: Doc>(
    doc: &mut D,
    collection: Collection,
    id: &RecordId,
    archived: bool,
) -> Result<(), Error> {
    let obj = collection_obj(doc, collection).ok_or_else(|| Error::NotFound {
        kind: collection.key().into(),
        query: id.to_string(),
    })?;
    match doc.get(&obj, id.as_str())? {
        Some((Value::Object(ObjType::Map), rec)) => {
            doc.put(&rec, "archived", archived)?;
            Ok(())
        }
        _ => Err(Error::NotFound {
            kind: collection.key().into(),
            query: id.to_string(),
        }),
    }
}

/// A new personal document of Sam's, for tests.
#[cfg(test)]
pub(crate) fn sams_personal_document() -> automerge::AutoCommit {
    let mut doc = automerge::AutoCommit::new();
    init_personal(
        &mut doc,
        &Owner {
            name: "Sam".into(),
            handle: "sam".into(),
            email: None,
        },
    )
    .unwrap();
    doc
}

#[cfg(test)]
mod tests {
    use automerge::{AutoCommit, ObjType, ROOT, transaction::Transactable};

    use super::*;

    /// Sam's personal document and its people map.
    fn sams_people() -> (AutoCommit, ObjId) {
        let doc = sams_personal_document();
        let (_, people) = automerge::ReadDoc::get(&doc, &ROOT, "people")
            .unwrap()
            .unwrap();
        (doc, people)
    }

    /// A record written by another client with numbers as plain ints and
    /// floats, and with most fields absent, still reads, for display and for
    /// editing.
    #[test]
    fn foreign_numbers_and_missing_fields_read() {
        let mut doc = AutoCommit::new();
        let account = Account::named("Acme");
        init_account(&mut doc, &account).unwrap();
        let (_, rels) = automerge::ReadDoc::get(&doc, &ROOT, "relationships")
            .unwrap()
            .unwrap();
        let rel = Transactable::put_object(&mut doc, &rels, "abc", ObjType::Map).unwrap();
        Transactable::put(&mut doc, &rel, "member", "jo").unwrap();
        Transactable::put(&mut doc, &rel, "person", "p1").unwrap();
        Transactable::put(&mut doc, &rel, "cadence_days", 30i64).unwrap();
        let (_, opps) = automerge::ReadDoc::get(&doc, &ROOT, "opportunities")
            .unwrap()
            .unwrap();
        let opp = Transactable::put_object(&mut doc, &opps, "o1", ObjType::Map).unwrap();
        Transactable::put(&mut doc, &opp, "title", "Deal").unwrap();
        Transactable::put(&mut doc, &opp, "probability", 40.0f64).unwrap();
        Transactable::put(&mut doc, &opp, "value", 1000u64).unwrap();

        let data = DocData::read(&doc, Parts::ALL).unwrap();
        assert!(data.problems.is_empty(), "{:?}", data.problems);
        let r = &data.relationships[&RecordId::from("abc".to_string())];
        assert_eq!(r.cadence_days, Some(30));
        assert_eq!(
            r.level,
            crate::enums::Level::Vendor,
            "absent level defaults to vendor"
        );
        let r2: Relationship = read_record(
            &doc,
            Collection::Relationships,
            &RecordId::from("abc".to_string()),
        )
        .unwrap()
        .unwrap();
        assert_eq!(r2.cadence_days, Some(30));
        let o: Opportunity = read_record(
            &doc,
            Collection::Opportunities,
            &RecordId::from("o1".to_string()),
        )
        .unwrap()
        .unwrap();
        assert_eq!((o.probability, o.value), (Some(40), Some(1000)));
        assert_eq!(o.status, crate::enums::OpportunityStatus::Open);
    }

    /// `check_editable` names each record an edit could not hydrate,
    /// whether it is a map with a field of another type or no map at all,
    /// and only those.
    #[test]
    fn records_an_edit_cannot_hydrate_are_named() {
        let (mut doc, people) = sams_people();
        let good = Transactable::put_object(&mut doc, &people, "good", ObjType::Map).unwrap();
        Transactable::put(&mut doc, &good, "name", "Ana").unwrap();
        let bad = Transactable::put_object(&mut doc, &people, "bad", ObjType::Map).unwrap();
        Transactable::put(&mut doc, &bad, "name", "Bo").unwrap();
        Transactable::put(&mut doc, &bad, "influences", 7).unwrap();
        Transactable::put(&mut doc, &people, "scalar", "not a record").unwrap();
        let named: Vec<String> = check_editable(&doc)
            .into_iter()
            .map(|p| format!("{} {}", p.collection, p.key))
            .collect();
        assert_eq!(named, ["people bad", "people scalar"], "{named:?}");
    }

    /// What automerge 3's JS API writes by default: strings as text, notes
    /// maybe as plain strings or null. Such records read and can be edited.
    #[test]
    fn text_for_strings_and_strings_for_text_are_editable() {
        let (mut doc, people) = sams_people();
        let p = Transactable::put_object(&mut doc, &people, "js1", ObjType::Map).unwrap();
        let name = Transactable::put_object(&mut doc, &p, "name", ObjType::Text).unwrap();
        Transactable::splice_text(&mut doc, &name, 0, 0, "Ana").unwrap();
        let orientation =
            Transactable::put_object(&mut doc, &p, "orientation", ObjType::Text).unwrap();
        Transactable::splice_text(&mut doc, &orientation, 0, 0, "technical").unwrap();
        Transactable::put(&mut doc, &p, "notes", "plain string notes").unwrap();
        Transactable::put(&mut doc, &p, "goals", automerge::ScalarValue::Null).unwrap();
        Transactable::put(&mut doc, &p, "archived", automerge::ScalarValue::Null).unwrap();
        let tags = Transactable::put_object(&mut doc, &p, "tags", ObjType::List).unwrap();
        let tag = Transactable::insert_object(&mut doc, &tags, 0, ObjType::Text).unwrap();
        Transactable::splice_text(&mut doc, &tag, 0, 0, "exec").unwrap();

        assert!(
            check_editable(&doc).is_empty(),
            "{:?}",
            check_editable(&doc)
        );
        let id = RecordId::from("js1".to_string());
        let mut person: Person = read_record(&doc, Collection::People, &id).unwrap().unwrap();
        assert_eq!(person.name, "Ana");
        assert_eq!(
            person.orientation,
            Some(crate::enums::DecisionOrientation::Technical)
        );
        assert_eq!(person.notes.as_str(), "plain string notes");
        assert_eq!(person.tags, vec!["exec".to_string()]);
        assert!(!person.archived);
        person.phone = Some("123".into());
        person.notes.set("now text");
        put_record(&mut doc, Collection::People, &id, &person).unwrap();
        let back = DocData::read(&doc, Parts::ALL).unwrap();
        assert_eq!(back.people[&id].phone.as_deref(), Some("123"));
        assert_eq!(back.people[&id].notes.as_str(), "now text");
    }

    #[test]
    fn unreadable_records_are_reported_not_fatal() {
        let (mut doc, people) = sams_people();
        let bad = Transactable::put_object(&mut doc, &people, "bad", ObjType::Map).unwrap();
        Transactable::put(&mut doc, &bad, "name", 42i64).unwrap();
        put_record(
            &mut doc,
            Collection::People,
            &RecordId::from("good".to_string()),
            &Person::named("Ana"),
        )
        .unwrap();
        let data = DocData::read(&doc, Parts::ALL).unwrap();
        assert_eq!(data.people.len(), 1);
        assert_eq!(data.problems.len(), 1);
        assert_eq!(data.problems[0].key, "bad");
    }

    #[test]
    fn archiving_sets_only_the_flag() {
        let mut doc = sams_personal_document();
        let id = RecordId::random();
        let mut p = Person::named("Ana");
        p.title = Some("CFO".into());
        put_record(&mut doc, Collection::People, &id, &p).unwrap();
        let mut other = doc.fork();
        set_archived(&mut doc, Collection::People, &id, true).unwrap();
        // A teammate's concurrent edit of another field survives archiving.
        p.title = Some("CEO".into());
        put_record(&mut other, Collection::People, &id, &p).unwrap();
        doc.merge(&mut other).unwrap();
        let back: Person = read_record(&doc, Collection::People, &id).unwrap().unwrap();
        assert!(back.archived);
        assert_eq!(back.title.as_deref(), Some("CEO"));
        set_archived(&mut doc, Collection::People, &id, false).unwrap();
        assert!(
            !read_record::<_, Person>(&doc, Collection::People, &id)
                .unwrap()
                .unwrap()
                .archived
        );
        assert!(
            set_archived(
                &mut doc,
                Collection::People,
                &RecordId::from("nope".to_string()),
                true
            )
            .is_err()
        );
    }

    #[test]
    fn newer_schemas_are_not_written() {
        let mut doc = sams_personal_document();
        Transactable::put(&mut doc, ROOT, "schema", SCHEMA_VERSION + 1).unwrap();
        assert!(matches!(
            check_writable(&doc),
            Err(Error::NewerSchema { .. })
        ));
        assert!(DocData::read(&doc, Parts::ALL).is_ok(), "still readable");
    }
}
