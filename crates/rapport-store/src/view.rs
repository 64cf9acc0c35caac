//! Materialized views: a document's decoded records, saved beside the
//! store so reads need not load automerge.
//!
//! A view is valid only for the exact set of chunks it was built from
//! (chunk names are content hashes, so listing them is enough to tell), and
//! is never written into the store itself. The documents stay the only
//! source of truth: deleting every view changes no output. A view that is
//! stale, damaged, or from another format version is ignored and rebuilt.
//!
//! One file per document, `<bs58 id>.view`: a fixed prefix, a header (the
//! chunks, then the length and CRC-32 of each section), and one postcard
//! section per collection, plus two derived ones: the last contact of each
//! member with each person (what the analyses need of the activity log) and
//! the document's agenda entries (the agenda before today's date is
//! known). A read takes only the sections it needs: `person list` the head
//! and the people, `agenda` the head and the entries, `gap` everything but
//! the activity log.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;

use rapport_core::analysis::agenda;
use rapport_core::doc::{Contacts, DocData, DocKind, Parts, Problem};
use rapport_core::model::{Account, AccountEntry, Activity, Owner, Person, PrivateNote};
use rapport_core::order;
use rapport_core::{DocId, RecordId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use yoke::{Yoke, Yokeable};

use crate::backend::ChunkKey;
use crate::fields::{ColdFile, FieldIndex, Files};

mod activity;
mod pack;
mod person;
mod reader;

use reader::Reader;

pub use activity::{ActivityRef, Select};
pub use person::PersonRow;
use person::StoredPerson;

const MAGIC: &[u8; 4] = b"RPVW";

/// Bump when the view format or the meaning of `DocData` changes. Version
/// 1 was one JSON file per document (`<id>.json`), removed when a view of
/// this version replaces it.
const VERSION: u32 = 2;

/// Magic, version, header length.
const PREFIX: usize = 12;

/// What the first read of a view takes: the header and, mostly, the head.
const FIRST_READ: u64 = 4096;

/// The sections of a view, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    /// Schema, kind, the account or owner, the account list, private notes
    /// and problems: every read needs them.
    Head,
    People,
    /// The agenda entries ([`agenda::entries`]).
    Agenda,
    Relationships,
    Opportunities,
    Plan,
    Partnerships,
    Contacts,
    Activities,
    /// The document's first change (it creates the collection maps), so a
    /// new record can be added without loading the document.
    Genesis,
}

const SECTIONS: [Section; 10] = [
    Section::Head,
    Section::People,
    Section::Agenda,
    Section::Relationships,
    Section::Opportunities,
    Section::Plan,
    Section::Partnerships,
    Section::Contacts,
    Section::Activities,
    Section::Genesis,
];

impl Section {
    /// Its place in [`SECTIONS`] (file order).
    fn index(self) -> usize {
        self as usize
    }

    fn wanted(self, parts: Parts) -> bool {
        match self {
            Section::Head => true,
            Section::People => parts.people,
            Section::Agenda => false,
            Section::Relationships => parts.relationships,
            Section::Opportunities => parts.opportunities,
            Section::Plan => parts.plan,
            Section::Partnerships => parts.partnerships,
            Section::Contacts => parts.contacts,
            Section::Activities => parts.activities,
            Section::Genesis => false,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    /// `kind/name` of every chunk the view was built from, sorted.
    chunks: Vec<String>,
    /// Byte length and CRC-32 of each section, in file order.
    sections: [(u32, u32); SECTIONS.len()],
}

#[derive(Serialize, Deserialize)]
struct Head {
    schema: u64,
    kind: Option<DocKind>,
    account: Option<Account>,
    owner: Option<Owner>,
    accounts: BTreeMap<RecordId, AccountEntry>,
    private_notes: BTreeMap<RecordId, PrivateNote>,
    problems: Vec<Problem>,
}

/// A valid view of every part of a document.
pub struct View {
    pub data: DocData,
    pub genesis: Option<Vec<u8>>,
}

/// A document's head and its people, read in place from the view's
/// bytes: see [`Views::read_people`].
pub struct PeopleSection {
    pub head: DocData,
    /// The rows, decoded once (on the thread that read the view), with the
    /// bytes they borrow from.
    rows: Yoke<Rows<'static>, Vec<u8>>,
}

/// The people of a section, with their ids.
#[derive(Yokeable)]
struct Rows<'a>(Vec<(&'a str, PersonRow<'a>)>);

impl PeopleSection {
    /// The people and their ids, borrowed from the view's bytes, in the
    /// order the view stored them: `person list`'s
    /// ([`order::person_listing`]) since views stored them so, by id
    /// before. Callers sort them (a sort finds them in order).
    pub fn rows(&self) -> &[(&str, PersonRow<'_>)] {
        &self.rows.get().0
    }
}

/// A valid view read whole: see [`Views::read_whole`].
pub struct Whole {
    prefix: Prefix,
    schema: u64,
}

impl Whole {
    /// The document's schema version.
    pub fn schema(&self) -> u64 {
        self.schema
    }

    /// The document's first change, if the view has it.
    pub fn genesis(&self) -> Option<&[u8]> {
        self.prefix
            .section(Section::Genesis)
            .filter(|g| !g.is_empty())
    }

    /// Every part, decoded, and the first change.
    pub fn into_view(self) -> Option<View> {
        let genesis = self.prefix.section(Section::Genesis)?;
        Some(View {
            genesis: (!genesis.is_empty()).then(|| genesis.to_vec()),
            data: self.prefix.data(Parts::ALL, None)?,
        })
    }

    /// Saves the view with one activity added, for `chunks` (those it was
    /// read for and the change that added the activity), without decoding
    /// the activity log: see [`add_records`](Self::add_records). `None`
    /// (nothing written) if the view does not decode: it is then stale for
    /// `chunks`, and the next read rebuilds it.
    pub fn add_activity(
        self,
        views: &Views,
        id: &DocId,
        chunks: &[ChunkKey],
        record: &RecordId,
        activity: &Activity,
    ) -> Option<std::io::Result<()>> {
        let data = self.without_activities()?;
        self.add_records(
            views,
            id,
            chunks,
            data,
            &[(record.clone(), activity.clone())],
        )
    }

    /// Saves the view for `chunks` with `data` (every part but the
    /// activity log, as [`without_activities`](Self::without_activities)
    /// gives it, with any new records of other collections added) and
    /// `activities` added to the log, without decoding the log: they are
    /// appended to its section's bytes (readers collect a collection's
    /// pairs into a map, so their order does not matter; the caller makes
    /// sure their ids are new, see [`holds_activity`](Self::holds_activity)),
    /// the last contacts are updated with them, and the agenda entries are
    /// computed again from the other parts. The result reads the same as
    /// [`Views::write`] of the whole data would. `None` (nothing written)
    /// if the view does not decode.
    pub fn add_records(
        self,
        views: &Views,
        id: &DocId,
        chunks: &[ChunkKey],
        mut data: DocData,
        activities: &[(RecordId, Activity)],
    ) -> Option<std::io::Result<()>> {
        let mut contacts = data.contacts.take()?;
        for (_, activity) in activities {
            contacts.add(activity);
        }
        data.contacts = Some(contacts);
        let log = self.prefix.section(Section::Activities)?;
        let (count, pairs): (u64, &[u8]) = postcard::take_from_bytes(log).ok()?;
        let count = count.checked_add(activities.len() as u64)?;
        let write = || {
            let mut log = encode(&count)?;
            log.extend_from_slice(pairs);
            for pair in activities {
                log.extend(encode(&(&pair.0, &pair.1))?);
            }
            self.write_over(views, id, chunks, &data, Some(log))
        };
        Some(write())
    }

    /// Saves the view for `chunks` with the activities of `changed`
    /// replacing those of the log under the same ids, `added` (new ids)
    /// appended to it, and `data` (every part but the log, as
    /// [`without_activities`](Self::without_activities) gives it) for the
    /// rest: after edits of activities. The other activities are read in
    /// place and their bytes copied, none decoded to an owned copy; the
    /// last contacts are derived afresh from them. `None` (nothing
    /// written) if the view does not decode or its log does not hold each
    /// of `changed` once.
    pub fn replace_activities(
        &self,
        views: &Views,
        id: &DocId,
        chunks: &[ChunkKey],
        mut data: DocData,
        changed: &BTreeMap<RecordId, Activity>,
        added: &[(RecordId, Activity)],
    ) -> Option<std::io::Result<()>> {
        let log = self.prefix.section(Section::Activities)?;
        let (count, _): (u64, &[u8]) = postcard::take_from_bytes(log).ok()?;
        let mut out = Vec::with_capacity(log.len() + 64);
        out.extend(encode(&count.checked_add(added.len() as u64)?).ok()?);
        let mut contacts = Contacts::default();
        let mut found = 0;
        activity::read_log(log, |key, a, bytes| {
            if changed.contains_key(key) {
                found += 1;
                return;
            }
            a.add_to(&mut contacts);
            out.extend_from_slice(bytes);
        })?;
        if found != changed.len() {
            return None;
        }
        for pair in changed.iter().chain(added.iter().map(|(k, v)| (k, v))) {
            contacts.add(pair.1);
            out.extend(encode(&pair).ok()?);
        }
        data.contacts = Some(contacts);
        Some(self.write_over(views, id, chunks, &data, Some(out)))
    }

    /// Activity `record` of the log, read in place (`None`: the view does
    /// not decode, or the log does not hold it exactly once).
    pub fn activity(&self, record: &RecordId) -> Option<Activity> {
        let found = self
            .prefix
            .activities_where(&Select::keeping(&|id, _| id == record.as_str()))?;
        match <[_; 1]>::try_from(found) {
            Ok([(_, activity)]) => Some(activity),
            Err(_) => None,
        }
    }

    /// Whether the activity log holds one of `ids` (`None`: it does not
    /// decode). Each activity is read in place, none decoded.
    pub fn holds_activity(&self, ids: &[RecordId]) -> Option<bool> {
        let found = self.prefix.activities_where(&Select::keeping(&|id, _| {
            ids.iter().any(|i| i.as_str() == id)
        }))?;
        Some(!found.is_empty())
    }

    /// Every part but the activity log, decoded: what an edit of other
    /// records needs, to save with [`write_edited`](Self::write_edited).
    pub fn without_activities(&self) -> Option<DocData> {
        self.prefix.data(
            Parts {
                activities: false,
                ..Parts::ALL
            },
            None,
        )
    }

    /// Saves the view for `chunks` with every part but the activity log
    /// (and the last contacts, derived from it) taken from `data`: after
    /// an edit of records other than activities. The agenda entries are
    /// computed again. `data` must hold every other part.
    pub fn write_edited(
        &self,
        views: &Views,
        id: &DocId,
        chunks: &[ChunkKey],
        data: &DocData,
    ) -> std::io::Result<()> {
        self.write_over(views, id, chunks, data, None)
    }

    /// Saves the view with the sections from `data`, but the activity log
    /// (`activities`, or as it was), the last contacts (from `data` when
    /// the log changed) and the first change as they were.
    fn write_over(
        &self,
        views: &Views,
        id: &DocId,
        chunks: &[ChunkKey],
        data: &DocData,
        activities: Option<Vec<u8>>,
    ) -> std::io::Result<()> {
        let damaged = || std::io::Error::other("the view changed while it was read");
        let mut sections: Vec<std::borrow::Cow<'_, [u8]>> = Vec::with_capacity(SECTIONS.len());
        let mut activities = activities;
        for section in SECTIONS {
            sections.push(match section {
                Section::Activities => match activities.take() {
                    Some(bytes) => bytes.into(),
                    None => self.prefix.section(section).ok_or_else(damaged)?.into(),
                },
                Section::Genesis => self.prefix.section(section).ok_or_else(damaged)?.into(),
                Section::Contacts if data.contacts.is_none() => {
                    self.prefix.section(section).ok_or_else(damaged)?.into()
                }
                // `data` has only the problems of the parts it was read
                // with (see `DocData::retain`); the view keeps them all.
                Section::Head => {
                    let Head { problems, .. } =
                        self.prefix.decode(Section::Head).ok_or_else(damaged)?;
                    encode_head(data, problems)?.into()
                }
                _ => encode_section(section, data)?.into(),
            });
        }
        views.write_sections(id, chunks, &sections)
    }
}

/// A directory of views, one file per document, and their [`pack`].
#[derive(Debug, Clone)]
pub struct Views {
    dir: PathBuf,
    /// The pack, when opened for a read of many documents
    /// ([`with_pack`](Self::with_pack)): a view is read from it first.
    pack: Option<std::sync::Arc<pack::Pack>>,
}

/// A [`FieldIndex`] encoded for the chunks it was built from
/// ([`Views::encode_fields`]), to be written.
pub struct EncodedFields(Files);

fn fingerprint(chunks: &[ChunkKey]) -> Vec<String> {
    let mut names: Vec<String> = chunks
        .iter()
        .map(|k| format!("{}/{}", k.kind.as_str(), k.name))
        .collect();
    names.sort();
    names
}

/// Decodes one whole section; trailing bytes are damage.
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    decode_borrowed(bytes)
}

/// Decodes one whole section, borrowing its text.
fn decode_borrowed<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Option<T> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Some(value),
        _ => None,
    }
}

fn encode<T: Serialize>(value: &T) -> std::io::Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(std::io::Error::other)
}

fn encode_head(data: &DocData, problems: Vec<Problem>) -> std::io::Result<Vec<u8>> {
    encode(&Head::of(data, problems))
}

impl Head {
    /// The head of a view of `data`, with `problems`.
    fn of(data: &DocData, problems: Vec<Problem>) -> Head {
        Head {
            schema: data.schema,
            kind: data.kind,
            account: data.account.clone(),
            owner: data.owner.clone(),
            accounts: data.accounts.clone(),
            private_notes: data.private_notes.clone(),
            problems,
        }
    }
}

/// The bytes of `section` of a view of `data` (the first change is not
/// in `data`: empty).
fn encode_section(section: Section, data: &DocData) -> std::io::Result<Vec<u8>> {
    match SectionValue::of(section, data, None)? {
        SectionValue::Raw(bytes) => Ok(bytes.to_vec()),
        // Made once here, where the bytes are held anyway (an edit's
        // rewrite of the sections).
        SectionValue::Agenda(data) => encode(&agenda::entries(data)),
        value => encode(&value),
    }
}

/// What a section of a view of `data` holds, before it is encoded.
enum SectionValue<'a> {
    /// Bytes as they are (the first change).
    Raw(&'a [u8]),
    Head(Box<Head>),
    /// Made when encoded, each time (it is encoded twice: measured, then
    /// written), never held beside the rest; the agenda entries one at a
    /// time: those of 100k records are 10 MB.
    People(&'a DocData),
    Agenda(&'a DocData),
    Relationships(&'a BTreeMap<RecordId, rapport_core::model::Relationship>),
    Opportunities(&'a BTreeMap<RecordId, rapport_core::model::Opportunity>),
    Plan(&'a BTreeMap<RecordId, rapport_core::model::PlanItem>),
    Partnerships(&'a BTreeMap<RecordId, rapport_core::model::Partnership>),
    Contacts(&'a Option<Contacts>),
    Activities(&'a BTreeMap<RecordId, Activity>),
    /// The activity log, its activities encoded as they came.
    Log(&'a Log),
}

impl<'a> SectionValue<'a> {
    fn of(
        section: Section,
        data: &'a DocData,
        genesis: Option<&'a [u8]>,
    ) -> std::io::Result<SectionValue<'a>> {
        Ok(match section {
            Section::Head => SectionValue::Head(Box::new(Head::of(data, data.problems.clone()))),
            Section::People => SectionValue::People(data),
            Section::Agenda => SectionValue::Agenda(data),
            Section::Relationships => SectionValue::Relationships(&data.relationships),
            Section::Opportunities => SectionValue::Opportunities(&data.opportunities),
            Section::Plan => SectionValue::Plan(&data.plan),
            Section::Partnerships => SectionValue::Partnerships(&data.partnerships),
            Section::Contacts => SectionValue::Contacts(&data.contacts),
            Section::Activities => SectionValue::Activities(&data.activities),
            Section::Genesis => SectionValue::Raw(genesis.unwrap_or_default()),
        })
    }

    /// Its encoded length and CRC-32, without holding its bytes.
    fn measure(&self) -> std::io::Result<(u32, u32)> {
        let (len, crc) = match self {
            SectionValue::Raw(bytes) => (bytes.len(), crc32fast::hash(bytes)),
            SectionValue::Log(log) => {
                let mut crc = crc32fast::Hasher::new();
                let mut len = 0;
                log.each_part(|part| {
                    crc.update(part);
                    len += part.len();
                    Ok(())
                })?;
                (len, crc.finalize())
            }
            value => postcard::serialize_with_flavor(value, Measure::default())
                .map_err(std::io::Error::other)?,
        };
        Ok((u32::try_from(len).map_err(std::io::Error::other)?, crc))
    }

    fn write_to(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        match self {
            SectionValue::Raw(bytes) => out.write_all(bytes),
            SectionValue::Log(log) => log.each_part(|part| out.write_all(part)),
            value => postcard::to_io(value, out)
                .map(drop)
                .map_err(std::io::Error::other),
        }
    }
}

impl Serialize for SectionValue<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            SectionValue::Raw(bytes) => s.serialize_bytes(bytes),
            // Written in parts (`write_to`), never serialized whole.
            SectionValue::Log(_) => Err(serde::ser::Error::custom("a log is written in parts")),
            SectionValue::Head(v) => v.serialize(s),
            SectionValue::People(data) => {
                // In the order `person list` shows them (a sort then finds
                // them in order); readers do not rely on it.
                let mut people: Vec<(&RecordId, &Person)> = data.people.iter().collect();
                order::sort_people(&mut people, |(id, p)| (id.as_str(), &p.name));
                let people: Vec<(&RecordId, StoredPerson)> = people
                    .into_iter()
                    .map(|(k, p)| (k, p.clone().into()))
                    .collect();
                people.serialize(s)
            }
            SectionValue::Agenda(data) => {
                // As the entries' vector is written, but each entry made,
                // written and dropped in turn (after a pass to count them).
                use serde::ser::SerializeSeq as _;
                let mut count = 0;
                agenda::each_entry(data, |_| count += 1);
                let mut seq = s.serialize_seq(Some(count))?;
                let mut failed = None;
                agenda::each_entry(data, |e| {
                    if failed.is_none() {
                        failed = seq.serialize_element(&e).err();
                    }
                });
                match failed {
                    Some(e) => Err(e),
                    None => seq.end(),
                }
            }
            SectionValue::Relationships(v) => v.serialize(s),
            SectionValue::Opportunities(v) => v.serialize(s),
            SectionValue::Plan(v) => v.serialize(s),
            SectionValue::Partnerships(v) => v.serialize(s),
            SectionValue::Contacts(v) => v.serialize(s),
            SectionValue::Activities(v) => v.serialize(s),
        }
    }
}

/// An activity log encoded one activity at a time, in any order, and
/// written as a view's log section: what `encode(&activities)` gives
/// for the same activities in a map. Each is a few dozen bytes here,
/// against a few hundred as an [`Activity`] (a cold read of 73k
/// activities held 22 MB of them).
#[derive(Default)]
pub struct Log {
    /// The encoded (id, activity) pairs, in segments of [`Log::SEGMENT`]
    /// bytes (or one pair, if longer): one growing vector held up to
    /// twice its bytes, and left the freed halves behind.
    segments: Vec<Vec<u8>>,
    /// Each activity's id, and its pair's segment, start and end.
    index: Vec<(RecordId, u32, u32, u32)>,
    pair: Vec<u8>,
}

impl Log {
    const SEGMENT: usize = 64 * 1024;

    pub fn add(&mut self, id: RecordId, activity: &Activity) -> std::io::Result<()> {
        let mut pair = std::mem::take(&mut self.pair);
        pair.clear();
        let pair = postcard::to_extend(&(&id, activity), pair).map_err(std::io::Error::other)?;
        let room = self.segments.last().map_or(0, |s| s.capacity() - s.len());
        if room < pair.len() {
            self.segments
                .push(Vec::with_capacity(pair.len().max(Self::SEGMENT)));
        }
        let segment = self.segments.len() - 1;
        let bytes = &mut self.segments[segment];
        let start = bytes.len();
        bytes.extend_from_slice(&pair);
        let number = |n: usize| u32::try_from(n).map_err(std::io::Error::other);
        self.index
            .push((id, number(segment)?, number(start)?, number(bytes.len())?));
        self.pair = pair;
        Ok(())
    }

    /// The activities `select` keeps, each read in place first (as
    /// [`Views::read_where`] reads a view's log); `None` if one does not
    /// decode.
    pub fn select(&self, select: &Select<'_>) -> Option<BTreeMap<RecordId, Activity>> {
        let mut chooser = select.chooser();
        for (_, segment, start, end) in &self.index {
            let pair = self
                .segments
                .get(*segment as usize)?
                .get(*start as usize..*end as usize)?;
            let mut r = Reader::new(pair);
            let (id, activity) = activity::read_pair(&mut r)?;
            if !r.is_empty() {
                return None;
            }
            if (select.keep)(id, &activity) {
                chooser.offer(id, activity);
            }
        }
        Some(chooser.into_kept().into_iter().collect())
    }

    /// Sorted by id, as a map of them is, once all are in.
    fn sort(&mut self) {
        self.index.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    }

    /// The section's bytes, in order: its count, then each pair.
    fn each_part(&self, mut f: impl FnMut(&[u8]) -> std::io::Result<()>) -> std::io::Result<()> {
        f(&encode(&(self.index.len() as u64))?)?;
        for (_, segment, start, end) in &self.index {
            f(&self.segments[*segment as usize][*start as usize..*end as usize])?;
        }
        Ok(())
    }
}

/// A postcard flavor that counts the bytes and takes their CRC-32,
/// keeping none (a few KiB at a time, for the hasher).
#[derive(Default)]
struct Measure {
    len: usize,
    crc: crc32fast::Hasher,
    buf: Vec<u8>,
}

impl Measure {
    const BUF: usize = 4096;

    fn flush(&mut self) {
        self.crc.update(&self.buf);
        self.len += self.buf.len();
        self.buf.clear();
    }
}

impl postcard::ser_flavors::Flavor for Measure {
    type Output = (usize, u32);

    fn try_push(&mut self, b: u8) -> postcard::Result<()> {
        if self.buf.len() == Self::BUF {
            self.flush();
        }
        self.buf.push(b);
        Ok(())
    }

    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        if self.buf.len() + bytes.len() > Self::BUF {
            self.flush();
            self.crc.update(bytes);
            self.len += bytes.len();
        } else {
            self.buf.extend_from_slice(bytes);
        }
        Ok(())
    }

    fn finalize(mut self) -> postcard::Result<(usize, u32)> {
        self.flush();
        Ok((self.len, self.crc.finalize()))
    }
}

/// An agenda entry ([`agenda::Entry`]) read in place, its text not yet checked to
/// be UTF-8 (postcard writes a string as its bytes).
#[derive(Deserialize)]
struct EntryRef<'a> {
    kind: agenda::EntryKind,
    due: agenda::Due,
    #[serde(borrow)]
    member: Option<&'a [u8]>,
    subject: &'a [u8],
    detail: &'a [u8],
    command: &'a [u8],
}

/// A view read as far as the sections a read needs: from its file, or
/// from the views' [`pack`].
struct Prefix {
    /// Byte length and CRC-32 of each section, as the view's header has
    /// them.
    sections: [(u32, u32); SECTIONS.len()],
    bytes: Vec<u8>,
    /// Where each section starts in [`bytes`](Self::bytes), for those that
    /// may be there (`None`: not read).
    starts: [Option<usize>; SECTIONS.len()],
    /// The sections whose checksum was verified already (the bytes never
    /// change once read): [`Prefix::checked`].
    verified: [bool; SECTIONS.len()],
    /// The view's file, when its activity log was left there to be read
    /// in pieces ([`Views::read_where`]); `starts` then has the log's
    /// place in the file.
    log: Option<File>,
}

impl Prefix {
    /// Where `section` is in [`bytes`](Self::bytes), if they are that
    /// long. A section a read of the file skipped is there as zeros: only
    /// its checksum ([`section`](Self::section)) keeps it from being used.
    fn range(&self, section: Section) -> Option<std::ops::Range<usize>> {
        let i = section.index();
        let from = self.starts[i]?;
        let to = from + self.sections[i].0 as usize;
        (to <= self.bytes.len()).then_some(from..to)
    }

    /// The bytes of `section`, its checksum verified; `None` if it was not
    /// read or is damaged.
    fn section(&self, section: Section) -> Option<&[u8]> {
        let i = section.index();
        let bytes = &self.bytes[self.range(section)?];
        (self.verified[i] || crc32fast::hash(bytes) == self.sections[i].1).then_some(bytes)
    }

    /// The prefix if each of the `wanted` sections is there and its
    /// checksum matches, remembered so that using them does not check
    /// them again.
    fn checked(mut self, wanted: impl Fn(Section) -> bool) -> Option<Prefix> {
        for section in SECTIONS.into_iter().filter(|s| wanted(*s)) {
            self.section(section)?;
            self.verified[section.index()] = true;
        }
        Some(self)
    }

    fn decode<T: DeserializeOwned>(&self, section: Section) -> Option<T> {
        decode(self.section(section)?)
    }

    /// A collection, decoded as the sorted list of pairs postcard writes a
    /// map as (the same bytes), so the map is built in bulk rather than by
    /// one insertion per record.
    fn records<V: DeserializeOwned>(&self, section: Section) -> Option<BTreeMap<RecordId, V>> {
        let pairs: Vec<(RecordId, V)> = self.decode(section)?;
        Some(pairs.into_iter().collect())
    }

    /// The activities of the log that `select` keeps, each read in place.
    fn activities_where(&self, select: &Select<'_>) -> Option<Vec<(RecordId, Activity)>> {
        if let Some(file) = &self.log {
            let i = Section::Activities.index();
            let (len, crc) = self.sections[i];
            return read_log_in_pieces(file, self.starts[i]?, len as usize, crc, select);
        }
        let bytes = self.section(Section::Activities)?;
        let mut chooser = select.chooser();
        activity::read_log(bytes, |id, activity, _| {
            if (select.keep)(id, &activity) {
                chooser.offer(id, activity);
            }
        })?;
        Some(chooser.into_kept())
    }

    /// Decodes the head alone, with the problems of `parts` (see
    /// [`DocData::retain`]) and no records.
    fn head(&self, parts: Parts) -> Option<DocData> {
        let head: Head = self.decode(Section::Head)?;
        let mut data = DocData {
            schema: head.schema,
            kind: head.kind,
            account: head.account,
            owner: head.owner,
            accounts: head.accounts,
            private_notes: head.private_notes,
            problems: head.problems,
            ..DocData::default()
        };
        data.retain(Parts {
            contacts: false,
            ..parts
        });
        Some(data)
    }

    /// Decodes the head and the sections of `parts`; with `select`, only
    /// the activities it keeps (each read in place first).
    fn data(&self, parts: Parts, select: Option<&Select<'_>>) -> Option<DocData> {
        let mut data = self.head(parts)?;
        if parts.people {
            let people: Vec<(RecordId, StoredPerson)> = self.decode(Section::People)?;
            data.people = people.into_iter().map(|(k, p)| (k, p.into())).collect();
        }
        if parts.relationships {
            data.relationships = self.records(Section::Relationships)?;
        }
        if parts.opportunities {
            data.opportunities = self.records(Section::Opportunities)?;
        }
        if parts.plan {
            data.plan = self.records(Section::Plan)?;
        }
        if parts.partnerships {
            data.partnerships = self.records(Section::Partnerships)?;
        }
        if parts.contacts {
            // Written as `Some` always: `None` is damage.
            data.contacts = Some(self.decode::<Option<Contacts>>(Section::Contacts)??);
        }
        if parts.activities {
            data.activities = match select {
                Some(select) => self.activities_where(select)?.into_iter().collect(),
                None => self.records(Section::Activities)?,
            };
        }
        data.retain(parts);
        Some(data)
    }
}

/// A view's prefix ([`Views::prefix`]) read from its open `file`, for the
/// chunks of `fingerprint`.
fn prefix_of_file(
    file: &File,
    fingerprint: &[String],
    wanted: impl Fn(Section) -> bool,
) -> Option<Prefix> {
    // Positioned reads of exact lengths: no seeks, and no reads past
    // the end to find it (the length is known).
    let len = usize::try_from(file.metadata().ok()?.len()).ok()?;
    let mut bytes = Vec::new();
    read_range(file, &mut bytes, 0..len.min(FIRST_READ as usize))?;
    let fixed = bytes.get(..PREFIX)?;
    if &fixed[..4] != MAGIC || fixed[4..8] != VERSION.to_le_bytes() {
        return None;
    }
    let header_len = u32::from_le_bytes(fixed[8..12].try_into().ok()?) as usize;
    let start = PREFIX + header_len;
    let have = bytes.len();
    if start > have {
        read_range(file, &mut bytes, have..start.min(len))?;
    }
    let header: Header = decode(bytes.get(PREFIX..start)?)?;
    let total: usize = header.sections.iter().map(|(len, _)| *len as usize).sum();
    // A truncated or extended file is damaged, whichever sections this
    // read needs.
    if start + total != len || header.chunks != fingerprint {
        return None;
    }
    // Read what is wanted and not read yet, skipping what is not;
    // wanted sections next to each other are read at once.
    let mut from = start;
    let mut pending: Option<std::ops::Range<usize>> = None;
    for (section, (len, _)) in SECTIONS.iter().zip(header.sections) {
        let to = from + len as usize;
        if wanted(*section) && to > bytes.len() {
            let from = from.max(bytes.len());
            pending = match pending {
                Some(p) if p.end == from => Some(p.start..to),
                Some(p) => {
                    read_range(file, &mut bytes, p)?;
                    Some(from..to)
                }
                None => Some(from..to),
            };
        }
        from = to;
    }
    if let Some(p) = pending {
        read_range(file, &mut bytes, p)?;
    }
    let mut starts = [None; SECTIONS.len()];
    let mut at = start;
    for (slot, (len, _)) in starts.iter_mut().zip(header.sections) {
        *slot = Some(at);
        at += len as usize;
    }
    Some(Prefix {
        sections: header.sections,
        bytes,
        starts,
        verified: [false; SECTIONS.len()],
        log: None,
    })
}

/// The bytes of a log read at a time by [`read_log_in_pieces`] (an
/// activity longer than this is read whole, the buffer growing to hold it).
/// Small in tests, so that their logs take many pieces, and some of their
/// activities more than one.
const LOG_PIECE: usize = if cfg!(test) { 700 } else { 256 * 1024 };

/// The activities of the log section that starts at `at` in `file`, `len`
/// bytes long with CRC-32 `crc`, that `select` keeps: read [`LOG_PIECE`]
/// bytes at a time, each activity read in place and copied out only if
/// kept, so the log is never held whole. `None` if the section does not
/// decode, is longer or shorter than its activities, or fails its
/// checksum (checked as the pieces are read; nothing is returned before
/// the end).
fn read_log_in_pieces(
    file: &File,
    at: usize,
    len: usize,
    crc: u32,
    select: &Select<'_>,
) -> Option<Vec<(RecordId, Activity)>> {
    use std::os::unix::fs::FileExt as _;
    let mut hasher = crc32fast::Hasher::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut read = 0;
    // Appends the next `want` bytes of the section after the `read`
    // already read (fewer at its end).
    let mut more = |buf: &mut Vec<u8>, read: &mut usize, want: usize| -> Option<()> {
        let n = want.min(len - *read);
        let old = buf.len();
        buf.resize(old + n, 0);
        file.read_exact_at(&mut buf[old..], (at + *read) as u64)
            .ok()?;
        hasher.update(&buf[old..]);
        *read += n;
        Some(())
    };
    more(&mut buf, &mut read, LOG_PIECE)?;
    let (count, rest) = postcard::take_from_bytes::<u64>(&buf).ok()?;
    let mut pos = buf.len() - rest.len();
    let mut chooser = select.chooser();
    for _ in 0..count {
        loop {
            let mut r = Reader::new(&buf[pos..]);
            match activity::read_pair(&mut r) {
                Some((id, activity)) => {
                    let end = buf.len() - r.rest().len();
                    if (select.keep)(id, &activity) {
                        chooser.offer(id, activity);
                    }
                    pos = end;
                    break;
                }
                // Cut by the piece's end: the rest of the piece moves to
                // the front, and the next piece comes after it.
                None if r.ran_out() && read < len => {
                    buf.drain(..pos);
                    pos = 0;
                    more(&mut buf, &mut read, LOG_PIECE)?;
                }
                None => return None,
            }
        }
    }
    (pos == buf.len() && read == len && hasher.finalize() == crc).then(|| chooser.into_kept())
}

/// Reads `range` of `file` into the same range of `bytes`, which grows to
/// hold it (what it skips is left zeroed, never read).
fn read_range(file: &File, bytes: &mut Vec<u8>, range: std::ops::Range<usize>) -> Option<()> {
    use std::os::unix::fs::FileExt as _;
    if bytes.len() < range.end {
        bytes.resize(range.end, 0);
    }
    file.read_exact_at(&mut bytes[range.clone()], range.start as u64)
        .ok()
}

impl Views {
    pub fn new(dir: impl Into<PathBuf>) -> Views {
        Views {
            dir: dir.into(),
            pack: None,
        }
    }

    fn pack_path(&self) -> PathBuf {
        self.dir.join("pack")
    }

    /// These views with their pack open, for a read of many documents:
    /// each view is then read from the pack when it holds it for the
    /// document's chunks, else from its file. Without a pack (none yet,
    /// damaged, another version) they read files only.
    pub fn with_pack(&self) -> Views {
        Views {
            dir: self.dir.clone(),
            pack: pack::Pack::open(&self.pack_path()).map(std::sync::Arc::new),
        }
    }

    /// How many documents reads through these views found missing from
    /// the pack, held in it for other chunks, or damaged there (they were
    /// read from their files); `None` if there is no pack.
    pub fn pack_missed(&self) -> Option<usize> {
        self.pack.as_ref().map(|p| p.missed())
    }

    /// Writes the pack anew after a read of `docs` (each with the chunks
    /// the read listed for it; `None` if it did not list them), when at
    /// least `at_least` of them (one, if there is no pack) have a view file
    /// valid for their chunks that the pack lacks or holds for other
    /// chunks. It then holds, for each of `docs`, the pack's entry if it
    /// is for those chunks, else the file's view (else, for a document
    /// whose chunks were not listed, its old entry as it is: checked
    /// against its chunks when read, as every entry is), and the pack's
    /// other entries that `keep` keeps (the documents of the workspace the
    /// read did not cover). `Ok(false)`: too little newer to hold, nothing
    /// written. Only a cache: callers may ignore a failure.
    pub fn repack(
        &self,
        docs: &[(DocId, Option<&[ChunkKey]>)],
        keep: impl Fn(&DocId) -> bool,
        at_least: usize,
    ) -> std::io::Result<bool> {
        let docs: Vec<(DocId, Option<Vec<String>>)> = docs
            .iter()
            .map(|(id, chunks)| (*id, chunks.map(fingerprint)))
            .collect();
        let old = self.pack.as_deref();
        let plan = pack::plan(old, &docs, keep, at_least, |id, fingerprint| {
            self.file_prefix(id, fingerprint, pack::packed)
        });
        match plan {
            Some(plan) => {
                plan.write(old, &self.dir, &self.pack_path())?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn path(&self, id: &DocId) -> PathBuf {
        self.dir.join(format!("{}.view", id.to_bs58()))
    }

    /// Where version 1 kept its JSON view.
    fn legacy_path(&self, id: &DocId) -> PathBuf {
        self.dir.join(format!("{}.json", id.to_bs58()))
    }

    /// Reads the view of `id` as far as the `wanted` sections go, if the
    /// view is of this version, built for exactly these chunks, and whole:
    /// from the pack when it holds it so, else from its file.
    fn prefix(
        &self,
        id: &DocId,
        chunks: &[ChunkKey],
        wanted: impl Fn(Section) -> bool,
    ) -> Option<Prefix> {
        let fingerprint = fingerprint(chunks);
        if let Some(prefix) = self
            .pack
            .as_ref()
            .and_then(|p| p.prefix(id, &fingerprint, &wanted))
        {
            return Some(prefix);
        }
        self.file_prefix(id, &fingerprint, wanted)
    }

    /// [`prefix`](Self::prefix) from the view's file, for the chunks of
    /// `fingerprint`.
    fn file_prefix(
        &self,
        id: &DocId,
        fingerprint: &[String],
        wanted: impl Fn(Section) -> bool,
    ) -> Option<Prefix> {
        let file = File::open(self.path(id)).ok()?;
        prefix_of_file(&file, fingerprint, wanted)
    }

    /// The records of `parts` of `id` (see [`DocData::retain`]), if its
    /// view is valid for exactly these chunks.
    pub fn read(&self, id: &DocId, chunks: &[ChunkKey], parts: Parts) -> Option<DocData> {
        let prefix = self.prefix(id, chunks, |s| s.wanted(parts))?;
        prefix.data(parts, None)
    }

    /// The records of `parts` of `id`, as [`read`](Self::read) gives
    /// them, but of the activity log only the activities that `select`
    /// keeps, each read in place (the others are never copied out), if
    /// its view is valid for exactly these chunks.
    pub fn read_where(
        &self,
        id: &DocId,
        chunks: &[ChunkKey],
        parts: Parts,
        select: &Select<'_>,
    ) -> Option<DocData> {
        if !parts.activities {
            return self
                .prefix(id, chunks, |s| s.wanted(parts))?
                .data(parts, None);
        }
        // The log (most of a big view: 12 MB of 73k activities) is read
        // from the file in pieces, never held whole; the pack does not
        // hold it, so the rest comes from the file too.
        let wanted = |s: Section| s.wanted(parts) && s != Section::Activities;
        // The same open file for both, so the log is that view's even if
        // another command replaces the file meanwhile.
        let file = File::open(self.path(id)).ok()?;
        let mut prefix = prefix_of_file(&file, &fingerprint(chunks), wanted)?;
        prefix.log = Some(file);
        prefix.data(parts, Some(select))
    }

    /// Every agenda entry of `id`, handed to `f` with the document's head
    /// (its title and problems, as a read of [`Parts::ANALYSIS`] gives
    /// them), if its view is valid for exactly these chunks: what
    /// [`select_agenda`](Self::select_agenda) is checked against.
    #[cfg(test)]
    pub fn read_agenda<T>(
        &self,
        id: &DocId,
        chunks: &[ChunkKey],
        f: impl FnOnce(&DocData, &[agenda::Entry<'_>]) -> T,
    ) -> Option<T> {
        let prefix = self.prefix(id, chunks, |s| matches!(s, Section::Head | Section::Agenda))?;
        let head = prefix.head(Parts::ANALYSIS)?;
        let entries: Vec<agenda::Entry<'_>> = decode_borrowed(prefix.section(Section::Agenda)?)?;
        Some(f(&head, &entries))
    }

    /// The items of `id`'s agenda entries that fall in `window`, with the
    /// document's head (as [`read_agenda`](Self::read_agenda) gives it),
    /// if its view is valid for exactly these chunks: as
    /// [`agenda::select`] of every entry gives them, but each entry read
    /// in place, and its text checked to be UTF-8 only if it is selected.
    pub fn select_agenda(
        &self,
        id: &DocId,
        chunks: &[ChunkKey],
        window: &agenda::Window<'_>,
    ) -> Option<(DocData, agenda::Selection)> {
        let prefix = self.prefix(id, chunks, |s| matches!(s, Section::Head | Section::Agenda))?;
        let head = prefix.head(Parts::ANALYSIS)?;
        let bytes = prefix.section(Section::Agenda)?;
        let (count, mut rest): (u64, &[u8]) = postcard::take_from_bytes(bytes).ok()?;
        let picker = agenda::Picker::new(*window);
        // Picked first, so the selection is allocated once, to size (this
        // list is freed and its memory reused for the next document).
        let mut picked = Vec::with_capacity(usize::try_from(count).ok()?.min(bytes.len()));
        for _ in 0..count {
            let (entry, after): (EntryRef<'_>, &[u8]) = postcard::take_from_bytes(rest).ok()?;
            rest = after;
            if let Some(day) = picker.day(entry.due, entry.member) {
                picked.push((
                    entry.kind,
                    day,
                    [entry.subject, entry.detail, entry.command],
                ));
            }
        }
        if !rest.is_empty() {
            return None;
        }
        let mut selection = agenda::Selection::new(&head.title());
        let text = picked.iter().flat_map(|p| p.2).map(<[u8]>::len).sum();
        selection.reserve(picked.len(), text);
        let text = |bytes| std::str::from_utf8(bytes).ok();
        for (kind, day, [subject, detail, command]) in picked {
            selection.add(
                window,
                kind,
                day,
                [text(subject)?, text(detail)?, text(command)?],
            );
        }
        Some((head, selection))
    }

    /// The head and the people of `id`, to list them borrowed from the
    /// view's bytes ([`PeopleSection::rows`]), if its view is valid for
    /// exactly these chunks and its people decode.
    pub fn read_people(&self, id: &DocId, chunks: &[ChunkKey]) -> Option<PeopleSection> {
        let prefix = self.prefix(id, chunks, |s| matches!(s, Section::Head | Section::People))?;
        let head = prefix.head(Parts::PEOPLE)?;
        // Its checksum checked, then decoded once, here (on a reading
        // thread), borrowing the bytes it is handed out with.
        prefix.section(Section::People)?;
        let range = prefix.range(Section::People)?;
        let rows = Yoke::try_attach_to_cart(prefix.bytes, |bytes: &[u8]| {
            person::read_rows(bytes.get(range).ok_or(())?)
                .map(Rows)
                .ok_or(())
        })
        .ok()?;
        Some(PeopleSection { head, rows })
    }

    /// The view of `id` read whole, if it is valid for exactly these
    /// chunks: to update it after a write that adds a record
    /// ([`Whole::add_activity`]) or to decode it ([`Whole::into_view`]).
    pub fn read_whole(&self, id: &DocId, chunks: &[ChunkKey]) -> Option<Whole> {
        let prefix = self.prefix(id, chunks, |_| true)?;
        let head = prefix.head(Parts::NONE)?;
        Some(Whole {
            prefix,
            schema: head.schema,
        })
    }

    /// Every part of `id` and its first change, if its view is valid for
    /// exactly these chunks.
    pub fn read_all(&self, id: &DocId, chunks: &[ChunkKey]) -> Option<View> {
        self.read_whole(id, chunks)?.into_view()
    }

    /// Saves a view built from `chunks` (atomically; failures are only a
    /// lost cache, so they are returned for logging, not fatal). `data`
    /// must hold every part; its contacts are first derived afresh from its
    /// activities (a caller may have added some).
    pub fn write(
        &self,
        id: &DocId,
        chunks: &[ChunkKey],
        data: &mut DocData,
        genesis: Option<&[u8]>,
    ) -> std::io::Result<()> {
        data.contacts = Some(Contacts::of(&data.activities));
        self.write_values(id, chunks, data, genesis, None)
    }

    /// Saves the view of a document read with its activity log encoded
    /// aside (`log`, every activity that decodes; `data` holds none, but
    /// their contacts), for `chunks`. No first change.
    pub fn write_with_log(
        &self,
        id: &DocId,
        chunks: &[ChunkKey],
        data: &DocData,
        log: &mut Log,
    ) -> std::io::Result<()> {
        if data.contacts.is_none() || !data.activities.is_empty() {
            return Err(std::io::Error::other(
                "a log apart needs its contacts alone",
            ));
        }
        log.sort();
        self.write_values(id, chunks, data, None, Some(log))
    }

    fn write_values(
        &self,
        id: &DocId,
        chunks: &[ChunkKey],
        data: &DocData,
        genesis: Option<&[u8]>,
        log: Option<&Log>,
    ) -> std::io::Result<()> {
        // Each section is encoded twice, measured then written, rather
        // than held as bytes: a view of 100k records is 12 MB, which
        // growing vectors held as 16 MB beside the records.
        let values = SECTIONS
            .iter()
            .map(|s| match (s, log) {
                (Section::Activities, Some(log)) => Ok(SectionValue::Log(log)),
                _ => SectionValue::of(*s, data, genesis),
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        let mut lengths = [(0, 0); SECTIONS.len()];
        for (slot, value) in lengths.iter_mut().zip(&values) {
            *slot = value.measure()?;
        }
        self.write_view(id, chunks, lengths, |out| {
            values.iter().try_for_each(|v| v.write_to(out))
        })
    }

    /// Writes a view of `sections` (in file order) built from `chunks`,
    /// atomically.
    fn write_sections(
        &self,
        id: &DocId,
        chunks: &[ChunkKey],
        sections: &[impl AsRef<[u8]>],
    ) -> std::io::Result<()> {
        let mut lengths = [(0, 0); SECTIONS.len()];
        for (slot, bytes) in lengths.iter_mut().zip(sections) {
            let bytes = bytes.as_ref();
            let len = u32::try_from(bytes.len()).map_err(std::io::Error::other)?;
            *slot = (len, crc32fast::hash(bytes));
        }
        self.write_view(id, chunks, lengths, |out| {
            sections.iter().try_for_each(|b| out.write_all(b.as_ref()))
        })
    }

    /// Writes a view built from `chunks` whose sections have `lengths`
    /// (length and CRC-32 each, in file order), `body` writing them,
    /// atomically.
    fn write_view(
        &self,
        id: &DocId,
        chunks: &[ChunkKey],
        lengths: [(u32, u32); SECTIONS.len()],
        body: impl FnOnce(&mut std::io::BufWriter<&mut File>) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let header = encode(&Header {
            chunks: fingerprint(chunks),
            sections: lengths,
        })?;
        let header_len = u32::try_from(header.len()).map_err(std::io::Error::other)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        {
            let mut out = std::io::BufWriter::new(tmp.as_file_mut());
            out.write_all(MAGIC)?;
            out.write_all(&VERSION.to_le_bytes())?;
            out.write_all(&header_len.to_le_bytes())?;
            out.write_all(&header)?;
            body(&mut out)?;
            out.flush()?;
        }
        tmp.persist(self.path(id)).map_err(|e| e.error)?;
        let _ = std::fs::remove_file(self.legacy_path(id));
        Ok(())
    }

    fn fields_path(&self, id: &DocId) -> PathBuf {
        self.dir.join(format!("{}.fields", id.to_bs58()))
    }

    /// The activities of the field index (see `fields::ACTIVITIES`).
    fn cold_path(&self, id: &DocId) -> PathBuf {
        self.dir.join(format!("{}.activity-fields", id.to_bs58()))
    }

    /// The bytes of `id`'s cold file, the activities of its field index
    /// ([`FieldIndex::take_cold_for`] checks they are the ones it names).
    pub fn read_cold(&self, id: &DocId) -> Option<Vec<u8>> {
        std::fs::read(self.cold_path(id)).ok()
    }

    /// The [`FieldIndex`] of `id`, as [`read_fields`](Self::read_fields)
    /// reads it, holding activity `activity` too when its cold file has
    /// it ([`FieldIndex::has_activity`] tells).
    pub fn read_fields_with(
        &self,
        id: &DocId,
        chunks: &[ChunkKey],
        activity: &RecordId,
    ) -> Option<FieldIndex> {
        let mut index = self.read_fields(id, chunks)?;
        if !index.has_activity(activity)
            && let Some(cold) = self.read_cold(id)
        {
            index.take_cold(&cold, activity);
        }
        Some(index)
    }

    /// The [`FieldIndex`] of `id`, if it was saved for exactly these
    /// chunks and is whole.
    pub fn read_fields(&self, id: &DocId, chunks: &[ChunkKey]) -> Option<FieldIndex> {
        let bytes = std::fs::read(self.fields_path(id)).ok()?;
        FieldIndex::from_file(&bytes, &fingerprint(chunks))
    }

    /// Saves the [`FieldIndex`] of `id` for `chunks`, atomically (only a
    /// cache, like the view).
    pub fn write_fields(
        &self,
        id: &DocId,
        chunks: &[ChunkKey],
        index: &FieldIndex,
    ) -> std::io::Result<()> {
        self.write_encoded_fields(id, Views::encode_fields(chunks, index)?)
    }

    /// The files of `index`, saved for `chunks`, as
    /// [`write_encoded_fields`](Self::write_encoded_fields) writes them:
    /// a tenth of the index in memory, so a caller can drop the index
    /// before it decodes the document's records.
    pub fn encode_fields(
        chunks: &[ChunkKey],
        index: &FieldIndex,
    ) -> std::io::Result<EncodedFields> {
        index
            .to_files(fingerprint(chunks))
            .map(EncodedFields)
            .ok_or_else(|| std::io::Error::other("the field index does not encode"))
    }

    /// Saves the field index of `id` that
    /// [`encode_fields`](Self::encode_fields) encoded, atomically.
    pub fn write_encoded_fields(
        &self,
        id: &DocId,
        EncodedFields(files): EncodedFields,
    ) -> std::io::Result<()> {
        // The cold file first: the index names it, and an index naming a
        // cold file that is not there reads as having only its own
        // activities.
        match files.cold {
            ColdFile::Write(cold) => self.write_file(&self.cold_path(id), &cold)?,
            ColdFile::Keep => {}
            ColdFile::Remove => match std::fs::remove_file(self.cold_path(id)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            },
        }
        self.write_file(&self.fields_path(id), &files.index)
    }

    /// Brings the [`FieldIndex`] of `id`, saved for `before`, up to date
    /// with `changes`, which only add records and which `base` holds with
    /// the same operation ids (the document's first change and `changes`,
    /// built or replayed on it), for `after`; see
    /// [`FieldIndex::appended`]. One read and one write of the file,
    /// however many changes. Nothing is written (`None`) if no index was
    /// valid for `before`.
    pub fn append_fields(
        &self,
        id: &DocId,
        before: &[ChunkKey],
        after: &[ChunkKey],
        base: &automerge::Automerge,
        changes: &[automerge::Change],
    ) -> Option<std::io::Result<()>> {
        let path = self.fields_path(id);
        let bytes = std::fs::read(&path).ok()?;
        let bytes = crate::fields::append_to_file(
            &bytes,
            &fingerprint(before),
            fingerprint(after),
            base,
            changes,
        )?;
        Some(self.write_file(&path, &bytes))
    }

    /// Writes `bytes` to `path` in the views' folder, atomically.
    fn write_file(&self, path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.as_file_mut().write_all(bytes)?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }

    /// Forgets a document's view.
    pub fn remove(&self, id: &DocId) {
        let _ = std::fs::remove_file(self.fields_path(id));
        let _ = std::fs::remove_file(self.cold_path(id));
        let _ = std::fs::remove_file(self.path(id));
        let _ = std::fs::remove_file(self.legacy_path(id));
    }
}

#[cfg(test)]
mod tests;
