//! The user's documents as the commands see them: the personal document,
//! the account documents it lists, and finding records by the names people
//! use.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context as _;
use automerge::{AutoCommit, ChangeHash};
use autosurgeon::{Hydrate, Reconcile};
use rapport_core::analysis::agenda::{self, Selection, Window};
use rapport_core::doc::{self, Collection, DocData, Parts, Problem, Record};
use rapport_core::model::{
    Account, AccountEntry, Activity, Opportunity, Owner, Partnership, Person, PlanItem,
    Relationship,
};
use rapport_core::resolve::{Candidate, resolve};
use rapport_core::{DocId, RecordId};
use rapport_store::fields::{self, EditError, Edited, FieldIndex};
use rapport_store::{
    ChunkKey, ChunkKind, EncodedFields, FsBackend, Listings, Loaded, Log, PeopleSection, PersonRow,
    Select, Store, StoreError, View, Views, Whole,
};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ctx::{Config, Ctx};
use crate::error::user_hint;

/// Adds records `ids` of `base` (`T`s) to `data`, where none of them is there
/// already and each decodes; `false` (and `records` as it may be) if not.
fn add_new<T: Record + DeserializeOwned>(
    base: &AutoCommit,
    data: &mut DocData,
    ids: &[RecordId],
) -> bool {
    let records = T::all_mut(data);
    if ids.iter().any(|id| records.contains_key(id)) {
        return false;
    }
    match doc::read_records(base, T::COLLECTION, ids) {
        Some(found) => {
            records.extend(found);
            true
        }
        None => false,
    }
}

/// `data` with the plain value a teammate put (`put`) in its record;
/// `false` if the view does not have the record or the value does not
/// decode there.
fn put_received(data: &mut DocData, put: &fields::ReceivedPut) -> bool {
    fn set<T: Record + Serialize + DeserializeOwned>(
        data: &mut DocData,
        put: &fields::ReceivedPut,
    ) -> bool {
        let Some(record) = T::all_mut(data).get_mut(&put.record) else {
            return false;
        };
        match doc::with_field(&*record, &put.key, &put.value) {
            Some(edited) => {
                *record = edited;
                true
            }
            None => false,
        }
    }
    match put.collection {
        Collection::People => set::<Person>(data, put),
        Collection::Relationships => set::<Relationship>(data, put),
        Collection::Opportunities => set::<Opportunity>(data, put),
        Collection::Plan => set::<PlanItem>(data, put),
        Collection::Partnerships => set::<Partnership>(data, put),
        // (`data` holds the activity if `receive_change` read it.)
        Collection::Activities => set::<Activity>(data, put),
        _ => false,
    }
}

/// Writes into `data` the one record a teammate's `change` edits, as
/// the field index places it ([`FieldIndex::receive_edit`]), and brings the
/// index up to date; `false` if it cannot.
fn edit_received(index: &mut FieldIndex, data: &mut DocData, change: &automerge::Change) -> bool {
    fn edit<T: Record + Reconcile + Hydrate + Serialize + DeserializeOwned>(
        index: &mut FieldIndex,
        data: &mut DocData,
        change: &automerge::Change,
        id: &RecordId,
    ) -> bool {
        let Some(record) = T::all_mut(data).get_mut(id) else {
            return false;
        };
        match index.receive_edit(change, T::COLLECTION, id, &*record) {
            Some(edited) => {
                *record = edited;
                true
            }
            None => false,
        }
    }
    let Some((collection, id)) = index.received_record(change) else {
        return false;
    };
    match collection {
        Collection::People => edit::<Person>(index, data, change, &id),
        Collection::Relationships => edit::<Relationship>(index, data, change, &id),
        Collection::Opportunities => edit::<Opportunity>(index, data, change, &id),
        Collection::Plan => edit::<PlanItem>(index, data, change, &id),
        Collection::Partnerships => edit::<Partnership>(index, data, change, &id),
        Collection::Activities => edit::<Activity>(index, data, change, &id),
        _ => false,
    }
}

/// Writes into `data` what a teammate's `change` (not an addition) does:
/// plain values put over fields of indexed records
/// ([`FieldIndex::received_puts`]), or an edit of one record
/// ([`edit_received`]), and brings the index up to date; `false` if it
/// cannot. `data` holds every part but the activity log (the view's,
/// `whole`): an activity the change writes is read from the log into it
/// first, and saved with the log rewritten
/// ([`Whole::replace_activities`]). One that this sync added (`added`) is
/// not in the view's log yet: its edit loads.
fn receive_change(
    index: &mut FieldIndex,
    whole: &Whole,
    data: &mut DocData,
    added: &[(RecordId, Activity)],
    change: &automerge::Change,
) -> bool {
    let hold = |data: &mut DocData, id: &RecordId| -> bool {
        if data.activities.contains_key(id) {
            return true;
        }
        if added.iter().any(|(a, _)| a == id) {
            return false;
        }
        match whole.activity(id) {
            Some(activity) => {
                data.activities.insert(id.clone(), activity);
                true
            }
            None => false,
        }
    };
    if let Some(puts) = index.received_puts(change) {
        let held = puts
            .iter()
            .filter(|put| put.collection == Collection::Activities)
            .all(|put| hold(data, &put.record));
        if !held || !puts.iter().all(|put| put_received(data, put)) {
            return false;
        }
        index.received(change);
        return true;
    }
    if let Some((Collection::Activities, id)) = index.received_record(change)
        && !hold(data, &id)
    {
        return false;
    }
    edit_received(index, data, change)
}

/// What a field index built from a loaded document takes in.
#[derive(Clone, Copy)]
enum Indexed {
    /// Every record but the activity log's (what most edits need), and
    /// those of the activity log the saved index of it no longer describes
    /// (`FieldIndex::build_keeping`).
    Records,
    /// The activity log too, at several times the cost: after an edit of
    /// an activity loaded the document.
    Activities,
}

/// A decoded document and its id.
pub struct Doc {
    pub id: DocId,
    pub data: DocData,
}

impl Doc {
    /// The account's name, or "personal".
    pub fn label(&self) -> String {
        self.data.title()
    }
}

/// What [`Workspace::append_on_genesis`] did: what `add` gave, the view as
/// it was, and the chunks the document has now.
struct Appended<T> {
    value: T,
    whole: Whole,
    chunks: Vec<ChunkKey>,
}

/// One document's people, to list: see [`Workspace::people_lists`].
pub enum PeopleList {
    /// Read in place from the document's view.
    View { id: DocId, section: PeopleSection },
    /// Decoded.
    Doc(Doc),
}

impl PeopleList {
    pub fn id(&self) -> DocId {
        match self {
            PeopleList::View { id, .. } => *id,
            PeopleList::Doc(doc) => doc.id,
        }
    }

    /// The account's name, or "personal".
    pub fn label(&self) -> String {
        match self {
            PeopleList::View { section, .. } => section.head.title(),
            PeopleList::Doc(doc) => doc.label(),
        }
    }

    /// The people and their ids: borrowed as the view's reading decoded
    /// them (in the order it stored them, see [`PeopleSection::rows`]),
    /// or made from the decoded people (by id).
    pub fn rows(&self) -> Cow<'_, [(&str, PersonRow<'_>)]> {
        match self {
            PeopleList::View { section, .. } => Cow::Borrowed(section.rows()),
            PeopleList::Doc(doc) => Cow::Owned(
                doc.data
                    .people
                    .iter()
                    .map(|(id, p)| (id.as_ref(), PersonRow::of(p)))
                    .collect(),
            ),
        }
    }
}

/// Which documents a command looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    One(DocId),
}

pub struct Workspace<'a> {
    pub ctx: &'a Ctx,
    pub store: Store<FsBackend>,
    views: Views,
    /// Chunk folders' listings remembered by earlier reads, kept beside
    /// the views: a read takes a folder's while its metadata is unchanged.
    listings: Listings,
    pub personal: DocId,
    pub me: Owner,
    /// The account documents listed in the personal document.
    pub accounts: Vec<(DocId, AccountEntry)>,
    /// Documents loaded by this command, so a write after a read (resolve a
    /// name, then change the record) loads each document once. Every
    /// document this command edited stays; of those loaded only to be
    /// read, only the biggest does ([`keep_read`](Self::keep_read)).
    loaded: RefCell<HashMap<DocId, Loaded>>,
    /// The document in `loaded` that was loaded only to be read, with its
    /// size in operations.
    spare: Cell<Option<(DocId, u64)>>,
    /// The last document this command scanned
    /// ([`scan_to_view`](Self::scan_to_view)), for a read of it that
    /// follows: `person show` and `log list --person` find the person
    /// among every document's people, then read that document about them
    /// ([`read_about`](Self::read_about)).
    scanned: RefCell<Option<Scanned>>,
    /// Whether a scan keeps the document for a read about a person
    /// ([`keeping_scanned`](Self::keeping_scanned));
    /// any other read would only hold it (20 MB at 100k records) beside
    /// its own work.
    keep_scanned: Cell<bool>,
}

/// A document scanned: its records but the activities (with their
/// contacts), and its activity log encoded, for exactly `chunks`.
struct Scanned {
    id: DocId,
    chunks: Vec<ChunkKey>,
    data: DocData,
    log: Log,
}

impl Scanned {
    /// `parts`, but of the activity log only what `select` keeps: what
    /// [`Views::read_where`] gives.
    fn read_where(self, parts: Parts, select: &Select<'_>) -> Option<DocData> {
        let mut data = self.data;
        data.activities = self.log.select(select)?;
        data.retain(parts);
        Some(data)
    }
}

/// Threads reading views at most: the reads are short system calls and
/// decoding, so more than a few only contend.
const MAX_READ_THREADS: usize = 4;

/// Documents below which one thread reads them all (a thread costs more
/// than a few reads); from there, their views are read from the pack.
const PARALLEL_FROM: usize = 8;

/// A read writes the views' pack anew once one in this many of the
/// documents it read (and at least 4) have a view newer than their entry
/// in it, or none there; fewer are read from their views' files.
const STALE_BEFORE_REPACK: usize = 16;

/// A document saved as one chunk of at least this many bytes, and without
/// a valid view, is read from its columns ([`rapport_core::scan`]) instead
/// of loaded: a load holds about 35 times the chunk's size at its peak
/// (125 MiB for the 3.7 MB of 100k records), the scan little more than
/// the records it decodes. Below it, the load is cheap, and it also
/// writes what the scan cannot: the field index and the first change,
/// with which the next edit need not load. (A scanned document's next
/// edit loads it once, and writes them.)
pub const SCAN_FROM: u64 = 1 << 20;

pub fn open_store(ctx: &Ctx) -> Store<FsBackend> {
    Store::new(FsBackend::new(&ctx.paths.store))
}

impl<'a> Workspace<'a> {
    /// Opens the user's workspace; an uninitialised home is a user error.
    pub fn open(ctx: &'a Ctx) -> anyhow::Result<Workspace<'a>> {
        let config = Config::load(&ctx.paths.config)?;
        let Some(personal) = config.personal_doc()? else {
            return Err(user_hint(
                format!("no Rapport data at {}", ctx.paths.store.display()),
                "run `rapport init --name \"Your Name\" --handle you` (or `rapport demo` to try it)",
            ));
        };
        let mut ws = Workspace {
            ctx,
            store: open_store(ctx),
            views: Views::new(&ctx.paths.views),
            listings: Listings::open(ctx.paths.views.join("listings")),
            personal,
            me: Owner {
                name: String::new(),
                handle: String::new(),
                email: None,
            },
            accounts: Vec::new(),
            loaded: RefCell::new(HashMap::new()),
            spare: Cell::new(None),
            scanned: RefCell::new(None),
            keep_scanned: Cell::new(false),
        };
        let data = ws
            .read(personal, Parts::NONE)
            .context("could not load the personal document")?
            .data;
        ws.me = data
            .owner
            .clone()
            .context("the personal document has no owner")?;
        let mut accounts = Vec::new();
        for (key, entry) in data.accounts {
            if let Ok(id) = key.as_str().parse::<DocId>() {
                accounts.push((id, entry));
            }
        }
        // Each name lowercased once, not at every comparison (0.14 ms of
        // every command over 200 accounts).
        accounts.sort_by_cached_key(|a| a.1.name.to_lowercase());
        ws.accounts = accounts;
        Ok(ws)
    }

    /// Decodes one document: from this command's own copy when it has one
    /// (so it sees its own edits), else from a view valid for the
    /// document's current chunks, else by loading automerge (and saving a
    /// view for next time). Whichever way, the data holds exactly `parts`
    /// (see [`DocData::retain`]).
    pub fn read(&self, id: DocId, parts: Parts) -> anyhow::Result<Doc> {
        self.read_selected(id, parts, None)
    }

    /// [`read`](Self::read), with `select`: of the activity log only the
    /// activities it keeps (from a view or a scan, read in place; from a
    /// load, dropped after).
    fn read_selected(
        &self,
        id: DocId,
        parts: Parts,
        select: Option<&Select<'_>>,
    ) -> anyhow::Result<Doc> {
        let cached = self.loaded.borrow_mut().remove(&id);
        let data = match cached {
            Some(loaded) => {
                let mut data = DocData::read(&loaded.doc, parts);
                self.loaded.borrow_mut().insert(id, loaded);
                if let (Ok(data), Some(select)) = (&mut data, select) {
                    select.retain(&mut data.activities);
                }
                data
            }
            None => self.read_stored(id, parts, select)?,
        };
        let data = data.with_context(|| format!("could not read document {id}"))?;
        self.warn_problems(&data);
        Ok(Doc { id, data })
    }

    fn warn_problems(&self, data: &DocData) {
        for warning in problem_warnings(data) {
            self.ctx.out.warn(warning);
        }
    }

    /// `f` applied to the valid views of `ids` (with each document's
    /// current chunks), on a few threads: with many small documents the
    /// time goes to per-document system calls, which run in parallel.
    /// `None` where a document has no valid view (or this command holds
    /// its own copy, or listing its chunks failed): the caller takes the
    /// ordinary path for it, which reports any error.
    fn through_views<T: Send>(
        &self,
        ids: &[DocId],
        f: impl Fn(&Views, &DocId, &[ChunkKey]) -> Option<T> + Sync,
    ) -> Vec<Option<T>> {
        let loaded = self.loaded.borrow();
        let wanted: Vec<bool> = ids.iter().map(|id| !loaded.contains_key(id)).collect();
        drop(loaded);
        // Many documents: their views are read from the pack when it
        // holds them for their chunks (one file instead of one each).
        let many = ids.len() >= PARALLEL_FROM;
        let packed;
        let views = if many {
            packed = self.views.with_pack();
            &packed
        } else {
            &self.views
        };
        let (store, listings) = (&self.store, &self.listings);
        let one = |i: usize| -> (Option<Vec<ChunkKey>>, Option<T>) {
            if !wanted[i] {
                return (None, None);
            }
            let Ok(chunks) = store.list_chunks_with(&ids[i], listings) else {
                return (None, None);
            };
            let value = f(views, &ids[i], &chunks);
            (Some(chunks), value)
        };
        let threads = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(MAX_READ_THREADS);
        if threads < 2 || !many {
            let (chunks, results): (Vec<_>, Vec<_>) = (0..ids.len()).map(one).unzip();
            self.remember_listings();
            if many {
                self.repack(views, ids, &chunks);
            }
            return results;
        }
        // Documents are handed out one at a time, so a big one does not
        // hold up a thread's share of small ones.
        let next = AtomicUsize::new(0);
        let work = || {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= ids.len() {
                    return done;
                }
                done.push((i, one(i)));
            }
        };
        let mut results: Vec<Option<T>> = (0..ids.len()).map(|_| None).collect();
        let mut chunks: Vec<Option<Vec<ChunkKey>>> = vec![None; ids.len()];
        std::thread::scope(|scope| {
            let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
            let mut all = work();
            for helper in helpers {
                // A panic in a helper is a bug; its documents take the
                // ordinary path rather than failing the command.
                all.extend(helper.join().unwrap_or_default());
            }
            for (i, (listed, value)) in all {
                chunks[i] = listed;
                results[i] = value;
            }
        });
        self.remember_listings();
        self.repack(views, ids, &chunks);
        results
    }

    /// Writes the views' pack anew after a read of `ids` through `views`
    /// (with the chunks it listed), if there is none, or if one in
    /// [`STALE_BEFORE_REPACK`] of them (at least 4) have a view file newer
    /// than their entry there, or none there ([`Views::repack`]); the pack
    /// keeps its entries of the workspace's other documents. Failing to is
    /// no error: the pack is a cache.
    ///
    /// Fewer stale documents are read from their files (a few system calls
    /// each), so a read after each edit does not rewrite the pack.
    fn repack(&self, views: &Views, ids: &[DocId], chunks: &[Option<Vec<ChunkKey>>]) {
        let enough = (ids.len() / STALE_BEFORE_REPACK).max(4);
        // Fewer misses than that cannot make enough newer entries.
        if views.pack_missed().is_some_and(|missed| missed < enough) {
            return;
        }
        let docs: Vec<(DocId, Option<&[ChunkKey]>)> = ids
            .iter()
            .zip(chunks)
            .map(|(id, c)| (*id, c.as_deref()))
            .collect();
        let workspace =
            |id: &DocId| *id == self.personal || self.accounts.iter().any(|a| a.0 == *id);
        views.repack(&docs, workspace, enough).ok();
    }

    /// Saves the listings this command may remember; failing to is no
    /// error (they are a cache: the next read lists again).
    fn remember_listings(&self) {
        self.listings.save().ok();
    }

    fn read_stored(
        &self,
        id: DocId,
        parts: Parts,
        select: Option<&Select<'_>>,
    ) -> anyhow::Result<Result<DocData, rapport_core::Error>> {
        let chunks = self.store.list_chunks_with(&id, &self.listings)?;
        self.remember_listings();
        if let Some(data) = self.read_view(id, &chunks, parts, select) {
            return Ok(Ok(data));
        }
        if let Some(data) = self.scan_to_view(id, &chunks, parts, select) {
            return Ok(Ok(data));
        }
        let mut loaded = self.store.load(&id)?;
        let chunks = loaded.chunks().to_vec();
        let mut data = self.save_views(id, &mut loaded.doc, &chunks, Indexed::Records);
        self.keep_read(id, loaded);
        if let Ok(data) = &mut data {
            data.retain(parts);
            if let Some(select) = select {
                select.retain(&mut data.activities);
            }
        }
        Ok(data)
    }

    /// `parts` of `id` from its view, if valid for exactly `chunks`; with
    /// `select`, of its log only the activities it keeps.
    fn read_view(
        &self,
        id: DocId,
        chunks: &[ChunkKey],
        parts: Parts,
        select: Option<&Select<'_>>,
    ) -> Option<DocData> {
        match select {
            Some(select) => self.views.read_where(&id, chunks, parts, select),
            None => self.views.read(&id, chunks, parts),
        }
    }

    /// `parts` of the document `id`, whose chunks are `chunks`, when they
    /// are one snapshot of at least [`Ctx::scan_from`] bytes and the
    /// changes saved since: read from its columns, the changes merged in
    /// ([`rapport_core::scan`]), its activities encoded as
    /// they come, and saved as its view. The activity log is most of a
    /// big document, so it is never held decoded: if `parts` has the log,
    /// the data is read back from the view saved (after every record
    /// scanned is dropped; with `select`, only the activities it keeps);
    /// else, when asked
    /// ([`keeping_scanned`](Self::keeping_scanned)), the document scanned
    /// is kept for the read about a person that follows ([`Scanned`]).
    /// `None` if it is not read this
    /// way (the scan refuses it, or the view cannot be saved): the caller
    /// loads it, which reads or reports it.
    fn scan_to_view(
        &self,
        id: DocId,
        chunks: &[ChunkKey],
        parts: Parts,
        select: Option<&Select<'_>>,
    ) -> Option<DocData> {
        let (snapshots, incrementals): (Vec<&ChunkKey>, Vec<&ChunkKey>) =
            chunks.iter().partition(|c| c.kind == ChunkKind::Snapshot);
        let [snapshot] = snapshots[..] else {
            return None;
        };
        // Its size first: a smaller one is loaded, which reads it. (And
        // one with more changes than the scan merges.)
        if self.store.chunk_len(snapshot).ok()?? < self.ctx.scan_from
            || incrementals.len() > rapport_core::scan::MOST_CHANGES
        {
            return None;
        }
        // The changes saved since (one per chunk, as every writer here
        // saves them), merged into the snapshot as the scan reads it.
        let changes = incrementals
            .iter()
            .map(|c| {
                let bytes = self.store.read_chunk(c).ok()??;
                rapport_core::scan::change_chunk(bytes).ok()
            })
            .collect::<Option<Vec<_>>>()?;
        let bytes = self.store.read_chunk(snapshot).ok()??;
        // One scanned document kept at a time.
        self.scanned.borrow_mut().take();
        let mut log = Log::default();
        let mut unwritten = false;
        let data = rapport_core::scan::read_chunks_with(&bytes, &changes, |id, activity| {
            unwritten |= log.add(id, &activity).is_err();
        })
        .ok()?;
        drop((bytes, changes));
        if unwritten {
            return None;
        }
        if let Err(e) = self.views.write_with_log(&id, chunks, &data, &mut log) {
            self.saved(id, Err(e));
            return None;
        }
        if parts.activities {
            drop((data, log));
            return self.read_view(id, chunks, parts, select);
        }
        if !self.keep_scanned.get() {
            let mut data = data;
            data.retain(parts);
            return Some(data);
        }
        let read = data.copy_parts(parts);
        *self.scanned.borrow_mut() = Some(Scanned {
            id,
            chunks: chunks.to_vec(),
            data,
            log,
        });
        Some(read)
    }

    /// The document this command scanned, if it is `id` with exactly
    /// `chunks`.
    fn take_scanned(&self, id: DocId, chunks: &[ChunkKey]) -> Option<Scanned> {
        let mut scanned = self.scanned.borrow_mut();
        if scanned
            .as_ref()
            .is_some_and(|s| s.id == id && s.chunks == chunks)
        {
            scanned.take()
        } else {
            None
        }
    }

    /// `parts` of `id`, of its activity log only what `select` keeps, as
    /// [`read_scope_where`](Self::read_scope_where) reads each document,
    /// after [`people_lists_to_read_about`](Self::people_lists_to_read_about)
    /// found a person in it (`person show`, `log list --person`): when it
    /// scanned the document, its log is read in place from what it
    /// scanned, not from the view written. Its problems are reported
    /// (those that read reported already are not printed again:
    /// [`Output::warn`](crate::output::Output::warn)).
    pub fn read_about(&self, id: DocId, parts: Parts, select: &Select<'_>) -> anyhow::Result<Doc> {
        let from_view = if self.loaded.borrow().contains_key(&id) {
            None
        } else {
            let chunks = self.store.list_chunks_with(&id, &self.listings)?;
            self.remember_listings();
            let scanned = || self.take_scanned(id, &chunks)?.read_where(parts, select);
            scanned()
                .or_else(|| self.views.read_where(&id, &chunks, parts, select))
                .or_else(|| {
                    self.keeping_scanned(|| self.scan_to_view(id, &chunks, Parts::NONE, None))?;
                    scanned()
                })
        };
        let Some(data) = from_view else {
            return self.read_selected(id, parts, Some(select));
        };
        self.warn_problems(&data);
        Ok(Doc { id, data })
    }

    /// Every document in scope: the personal one first, then accounts by name.
    pub fn read_scope(&self, scope: Scope, parts: Parts) -> anyhow::Result<Vec<Doc>> {
        self.scope_each(scope, |ids| self.read_each(ids, parts))
    }

    /// Every document in scope, as [`read_scope`](Self::read_scope) gives
    /// them, but of each activity log only the activities `select` keeps:
    /// from a valid view (or a scan) they are read in place and the others
    /// never copied out (`log edit` in a log of 73k activities decoded all
    /// of them to find one, `log list` to show 50); from a document read
    /// otherwise, the others are dropped after.
    pub fn read_scope_where(
        &self,
        scope: Scope,
        parts: Parts,
        select: &Select<'_>,
    ) -> anyhow::Result<Vec<Doc>> {
        self.scope_each(scope, |ids| {
            self.map_each(ids, parts, Some(select), |doc| doc)
        })
    }

    /// [`people_lists`](Self::people_lists), before a
    /// [`read_about`](Self::read_about) of one of their documents: a big
    /// document scanned for its people (its view missing) is kept for it,
    /// which then reads its log in place instead of the view back.
    pub fn people_lists_to_read_about(&self, scope: Scope) -> anyhow::Result<Vec<PeopleList>> {
        self.keeping_scanned(|| self.people_lists(scope))
    }

    /// `f`, during which a document scanned is kept ([`Scanned`]).
    fn keeping_scanned<T>(&self, f: impl FnOnce() -> T) -> T {
        self.keep_scanned.set(true);
        let out = f();
        self.keep_scanned.set(false);
        out
    }

    /// The people of every document in scope, in [`read_scope`]'s order
    /// and with its warnings, to list them: read in place from a document's
    /// view when it is valid ([`Views::read_people`]: no record is decoded
    /// or allocated), else decoded as [`read`](Self::read) gives them.
    ///
    /// [`read_scope`]: Self::read_scope
    pub fn people_lists(&self, scope: Scope) -> anyhow::Result<Vec<PeopleList>> {
        self.scope_each(scope, |ids| {
            let views = self.through_views(&ids, |views, id, chunks| views.read_people(id, chunks));
            ids.into_iter()
                .zip(views)
                .map(move |(id, view)| match view {
                    Some(section) => {
                        self.warn_problems(&section.head);
                        Ok(PeopleList::View { id, section })
                    }
                    None => self.read(id, Parts::PEOPLE).map(PeopleList::Doc),
                })
        })
    }

    /// What `each` gives for each document in scope (the personal one
    /// first, then accounts by name), where an account listed but not on
    /// this machine is a warning when every document is in scope.
    fn scope_each<T, I: Iterator<Item = anyhow::Result<T>>>(
        &self,
        scope: Scope,
        each: impl FnOnce(Vec<DocId>) -> I,
    ) -> anyhow::Result<Vec<T>> {
        match scope {
            Scope::One(id) => each(vec![id]).collect(),
            Scope::All => {
                let mut reads = each(self.all_ids());
                let mut docs = Vec::with_capacity(self.accounts.len() + 1);
                docs.extend(reads.next().transpose()?);
                for ((_, entry), read) in self.accounts.iter().zip(reads) {
                    match read {
                        Ok(doc) => docs.push(doc),
                        // Listed by another device of this user, not synced
                        // to this one yet.
                        Err(e) if is_not_found(&e) => self.ctx.out.warn(format!(
                            "account {} is not on this machine yet; `rapport sync` fetches it if it is shared",
                            entry.name
                        )),
                        Err(e) => return Err(e),
                    }
                }
                Ok(docs)
            }
        }
    }

    /// Every account document, by name; one not on this machine is an
    /// error.
    pub fn read_accounts(&self, parts: Parts) -> anyhow::Result<Vec<Doc>> {
        let ids = self.accounts.iter().map(|(id, _)| *id).collect();
        self.read_each(ids, parts).collect()
    }

    /// [`read`](Self::read) of each of `ids`, in order, the valid views
    /// taken first on a few threads ([`through_views`](Self::through_views)).
    fn read_each(
        &self,
        ids: Vec<DocId>,
        parts: Parts,
    ) -> impl Iterator<Item = anyhow::Result<Doc>> {
        self.map_each(ids, parts, None, |doc| doc)
    }

    /// `f` of each of `ids` as [`read`](Self::read) gives it, in order: on
    /// the reading threads for the documents with a valid view (so each
    /// document's data is dropped as soon as `f` is done with it), then
    /// on this one for the others. Warnings come in document order. With
    /// `select`, of each activity log only the activities it keeps (see
    /// [`read_scope_where`](Self::read_scope_where)).
    fn map_each<T: Send>(
        &self,
        ids: Vec<DocId>,
        parts: Parts,
        select: Option<&Select<'_>>,
        f: impl Fn(Doc) -> T + Sync,
    ) -> impl Iterator<Item = anyhow::Result<T>> {
        let views = self.through_views(&ids, |views, id, chunks| {
            let data = match select {
                Some(select) => views.read_where(id, chunks, parts, select)?,
                None => views.read(id, chunks, parts)?,
            };
            let warnings = problem_warnings(&data);
            Some((warnings, f(Doc { id: *id, data })))
        });
        ids.into_iter()
            .zip(views)
            .map(move |(id, view)| match view {
                Some((warnings, value)) => {
                    for warning in warnings {
                        self.ctx.out.warn(warning);
                    }
                    Ok(value)
                }
                None => self.read_selected(id, parts, select).map(&f),
            })
    }

    /// `f` of every account document, by name, as
    /// [`read_accounts`](Self::read_accounts) reads them, each document's
    /// data dropped once `f` is done with it.
    pub fn map_accounts<T: Send>(
        &self,
        parts: Parts,
        f: impl Fn(Doc) -> T + Sync,
    ) -> anyhow::Result<Vec<T>> {
        let ids = self.accounts.iter().map(|(id, _)| *id).collect();
        self.map_each(ids, parts, None, f).collect()
    }

    /// The agenda over every document, each document's items apart (the
    /// personal document first, then the accounts by name), to be
    /// [`agenda::sorted`]. A document's entries come from its view when it
    /// is valid (no records decoded), else from a read of
    /// [`Parts::ANALYSIS`].
    pub fn agenda(&self, window: Window) -> anyhow::Result<Vec<Selection>> {
        let ids = self.all_ids();
        let mut views = self
            .through_views(&ids, |views, id, chunks| {
                let (head, selection) = views.select_agenda(id, chunks, &window)?;
                Some((problem_warnings(&head), selection))
            })
            .into_iter();
        let mut agenda_of = |id: DocId| match views.next().flatten() {
            Some((warnings, selection)) => {
                for warning in warnings {
                    self.ctx.out.warn(warning);
                }
                Ok(selection)
            }
            None => self.agenda_of(id, window),
        };
        let mut selections = vec![agenda_of(self.personal)?];
        for (id, entry) in &self.accounts {
            match agenda_of(*id) {
                Ok(selection) => selections.push(selection),
                Err(e) if is_not_found(&e) => self.ctx.out.warn(format!(
                    "account {} is not on this machine yet; `rapport sync` fetches it if it is shared",
                    entry.name
                )),
                Err(e) => return Err(e),
            }
        }
        Ok(selections)
    }

    /// The personal document, then the accounts by name.
    fn all_ids(&self) -> Vec<DocId> {
        std::iter::once(self.personal)
            .chain(self.accounts.iter().map(|(id, _)| *id))
            .collect()
    }

    /// One document's agenda when its view could not give it.
    fn agenda_of(&self, id: DocId, window: Window) -> anyhow::Result<Selection> {
        let doc = self.read(id, Parts::ANALYSIS)?;
        Ok(agenda::select(
            &doc.label(),
            &agenda::entries(&doc.data),
            window,
        ))
    }

    /// Finds one record in scope (`--account`, or everywhere) and returns
    /// its document, decoded with at least `parts`, and its id.
    pub fn find_one(
        &self,
        account: Option<&str>,
        parts: Parts,
        kind: &str,
        query: &str,
        named: impl Fn(&DocData) -> Vec<Named>,
    ) -> anyhow::Result<(Doc, RecordId)> {
        let mut docs = self.read_scope(self.scope(account)?, parts)?;
        let (i, id) = find(&docs, kind, query, named)?;
        Ok((docs.swap_remove(i), id))
    }

    /// `--account` given: that account (or `personal`); none: everything.
    pub fn scope(&self, account: Option<&str>) -> anyhow::Result<Scope> {
        match account {
            None => Ok(Scope::All),
            Some(q) => Ok(Scope::One(self.resolve_account(q)?)),
        }
    }

    /// Where a new record goes: the named account, or the personal document.
    pub fn target(&self, account: Option<&str>) -> anyhow::Result<DocId> {
        match account {
            None => Ok(self.personal),
            Some(q) => self.resolve_account(q),
        }
    }

    /// An account by name, document id or id prefix; `personal` names the
    /// personal document.
    pub fn resolve_account(&self, query: &str) -> anyhow::Result<DocId> {
        if query.eq_ignore_ascii_case("personal") {
            return Ok(self.personal);
        }
        let candidates: Vec<Candidate<DocId>> = self
            .accounts
            .iter()
            .map(|(id, entry)| Candidate {
                key: *id,
                id: id.to_bs58(),
                name: entry.name.clone(),
                email: None,
                context: None,
                archived: false,
            })
            .collect();
        let q = query.strip_prefix("automerge:").unwrap_or(query);
        Ok(resolve("account", q, &candidates)?)
    }

    /// Loads a document, lets `edit` change it, and appends the change. If
    /// `edit` fails nothing is written.
    pub fn edit<T>(
        &self,
        id: DocId,
        edit: impl FnOnce(&mut AutoCommit) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        self.edit_refreshing(id, edit, |doc, chunks, _| {
            self.refresh_view(id, doc, chunks)
        })
    }

    /// [`edit`](Self::edit), the view then brought up to date by `refresh`,
    /// given the document as now stored, its chunks and what `edit`
    /// returned.
    fn edit_refreshing<T>(
        &self,
        id: DocId,
        edit: impl FnOnce(&mut AutoCommit) -> anyhow::Result<T>,
        refresh: impl FnOnce(&mut AutoCommit, &[ChunkKey], &T),
    ) -> anyhow::Result<T> {
        let mut loaded = self.take(id)?;
        doc::check_writable(&loaded.doc)?;
        // On error nothing is saved, and the half-made edit is dropped with
        // this copy.
        let value = edit(&mut loaded.doc)?;
        self.store.save(&mut loaded)?;
        // The copy in hand is the document as now stored: its view, built
        // here, spares the next read loading it again.
        let chunks = loaded.chunks().to_vec();
        refresh(&mut loaded.doc, &chunks, &value);
        self.loaded.borrow_mut().insert(id, loaded);
        Ok(value)
    }

    /// Changes record `id` (a `T`) of document `doc`: `change` gets the
    /// document's records (at least `parts` of them) and the record, and
    /// edits the record. Returns the record as saved and what `change`
    /// returned. If `change` fails nothing is written.
    ///
    /// When the document's view and [`FieldIndex`] are valid and the
    /// index can place the edit (plain fields, tags, links and notes; not
    /// nested maps or an untouched conflict: see [`fields`]), the change is
    /// written without loading the document ([`fields::edit`]: at 100k
    /// records milliseconds instead of seconds), and the view is brought
    /// up to date from the one read. Otherwise the document is loaded, as
    /// by [`edit`](Self::edit); `change` may then run a second time, so it
    /// must do nothing but edit the record.
    pub fn update<T, V>(
        &self,
        doc: DocId,
        id: &RecordId,
        parts: Parts,
        change: impl Fn(&DocData, &mut T) -> anyhow::Result<V>,
    ) -> anyhow::Result<(T, V)>
    where
        T: Record + Hydrate + Reconcile + Serialize + DeserializeOwned + Clone,
    {
        if let Some(done) = self.update_unloaded(doc, id, parts, &change)? {
            return Ok(done);
        }
        let edit = |d: &mut AutoCommit| {
            let data = DocData::read(d, parts)?;
            let mut record: T = doc::read_record(d, T::COLLECTION, id)?.ok_or_else(|| {
                crate::error::user(format!(
                    "the {} was removed meanwhile",
                    T::COLLECTION.noun()
                ))
            })?;
            let value = change(&data, &mut record)?;
            doc::put_record(d, T::COLLECTION, id, &record)?;
            Ok((record, value))
        };
        if T::COLLECTION != Collection::Activities {
            return self.edit(doc, edit);
        }
        // Loaded for an activity: the index takes in the activity log, so
        // the next edit of one need not load
        // (`FieldIndex::build_with_activities`), and the view is the one
        // before with the activity replaced, as an unloaded edit writes it,
        // rather than every record decoded from the loaded document again
        // (a quarter of the time at 10k records).
        let before = match self.loaded.borrow().contains_key(&doc) {
            true => None,
            false => Some(self.store.list_chunks(&doc)?),
        };
        self.edit_refreshing(doc, edit, |d, chunks, (record, _)| {
            // Only if the document loaded was the one listed (another
            // program may have added or compacted chunks since) and this
            // edit added one chunk (no compaction): then the view before
            // describes it, but for the edit.
            let unchanged = |before: &Vec<ChunkKey>| {
                chunks.len() == before.len() + 1 && before.iter().all(|c| chunks.contains(c))
            };
            let written = before
                .filter(unchanged)
                .and_then(|before| self.views.read_whole(&doc, &before))
                .and_then(|whole| {
                    let data = whole.without_activities()?;
                    let mut edited = DocData::default();
                    T::all_mut(&mut edited).insert(id.clone(), record.clone());
                    whole.replace_activities(
                        &self.views,
                        &doc,
                        chunks,
                        data,
                        &edited.activities,
                        &[],
                    )
                });
            match written {
                Some(written) => {
                    self.saved(doc, written);
                    let fields = self.encode_fields(doc, d, chunks, Indexed::Activities);
                    self.save_fields(doc, fields);
                }
                None => self.refresh_view_indexing(doc, d, chunks, Indexed::Activities),
            }
        })
    }

    /// The unloaded way of [`update`](Self::update); `None` where it does
    /// not apply.
    fn update_unloaded<T, V>(
        &self,
        doc: DocId,
        id: &RecordId,
        parts: Parts,
        change: &impl Fn(&DocData, &mut T) -> anyhow::Result<V>,
    ) -> anyhow::Result<Option<(T, V)>>
    where
        T: Record + Hydrate + Reconcile + Serialize + DeserializeOwned + Clone,
    {
        // An edit that reads the activity log would decode it all anyway.
        if parts.activities {
            return Ok(None);
        }
        // An activity is read alone from the view's log, and the field
        // index looks for it in its cold file too.
        let activity = (T::COLLECTION == Collection::Activities).then_some(id);
        self.write_unloaded(
            doc,
            activity,
            |data| T::all(data).get(id).cloned(),
            |index, old, data| {
                fields::edit(index, T::COLLECTION, id, old, |record| change(data, record))
            },
            |data, record| {
                T::all_mut(data).insert(id.clone(), record);
            },
        )
    }

    /// Changes the account record of account document `doc`, as
    /// [`update`](Self::update) changes a record: without loading the
    /// document where its view and field index allow. `change` may run
    /// twice.
    pub fn update_account<V>(
        &self,
        doc: DocId,
        change: impl Fn(&mut Account) -> anyhow::Result<V>,
    ) -> anyhow::Result<(Account, V)> {
        let done = self.write_unloaded(
            doc,
            None,
            |data| data.account.clone(),
            |index, old, _| fields::edit_account(index, old, &change),
            |data, account| data.account = Some(account),
        )?;
        if let Some(done) = done {
            return Ok(done);
        }
        self.edit(doc, |d| {
            let mut account = DocData::read(d, Parts::NONE)?.account.ok_or_else(|| {
                user_hint(
                    "that is the personal document, not an account",
                    "name an account",
                )
            })?;
            let value = change(&mut account)?;
            doc::put_account(d, &account)?;
            Ok((account, value))
        })
    }

    /// An edit of one record of `doc` written without loading it: the
    /// record as the view has it (`get`), the change made through the
    /// field index (`edit`), and the view brought up to date (`put`).
    /// With `activity`, the record is that activity: `get` and `put` see
    /// it alone in the data's log, and the view's log is rewritten with it
    /// ([`Whole::replace_activities`]). `None` where that cannot be done: no
    /// valid view or index, a copy held by this command (it may have edits
    /// not yet in the view), a compaction due, or an edit the index cannot
    /// place.
    fn write_unloaded<T: Clone, V>(
        &self,
        doc: DocId,
        activity: Option<&RecordId>,
        get: impl FnOnce(&DocData) -> Option<T>,
        edit: impl FnOnce(
            &mut FieldIndex,
            &T,
            &DocData,
        ) -> Result<Edited<T, V>, EditError<anyhow::Error>>,
        put: impl FnOnce(&mut DocData, T),
    ) -> anyhow::Result<Option<(T, V)>> {
        if self.loaded.borrow().contains_key(&doc) {
            return Ok(None);
        }
        let mut chunks = self.store.list_chunks(&doc)?;
        if self.store.wants_compaction(&chunks) {
            return Ok(None);
        }
        let index = match activity {
            Some(activity) => self.views.read_fields_with(&doc, &chunks, activity),
            None => self.views.read_fields(&doc, &chunks),
        };
        let Some(mut index) = index else {
            return Ok(None);
        };
        let Some(whole) = self.views.read_whole(&doc, &chunks) else {
            return Ok(None);
        };
        if whole.schema() > doc::SCHEMA_VERSION {
            return Err(rapport_core::Error::NewerSchema {
                found: whole.schema(),
                supported: doc::SCHEMA_VERSION,
            }
            .into());
        }
        let Some(mut data) = whole.without_activities() else {
            return Ok(None);
        };
        if let Some(activity) = activity {
            let Some(record) = whole.activity(activity) else {
                return Ok(None);
            };
            data.activities.insert(activity.clone(), record);
        }
        let Some(old) = get(&data) else {
            return Ok(None);
        };
        let (change, record, value) = match edit(&mut index, &old, &data) {
            Err(EditError::Edit(e)) => return Err(e),
            Err(EditError::Scratch) | Ok(Edited::Unsupported) => return Ok(None),
            Ok(Edited::Unchanged { record, value }) => return Ok(Some((record, value))),
            Ok(Edited::Change {
                change,
                record,
                value,
            }) => (change, record, value),
        };
        chunks.push(self.store.put_change(&doc, &change)?);
        put(&mut data, record.clone());
        match activity {
            Some(_) => {
                let edited = std::mem::take(&mut data.activities);
                let written =
                    whole.replace_activities(&self.views, &doc, &chunks, data, &edited, &[]);
                // A view that does not decode is left stale: the next
                // read rebuilds it.
                if let Some(written) = written {
                    self.saved(doc, written);
                }
            }
            None => self.saved(doc, whole.write_edited(&self.views, &doc, &chunks, &data)),
        }
        self.saved(doc, self.views.write_fields(&doc, &chunks, &index));
        Ok(Some((record, value)))
    }

    /// Adds new records to a document. With a valid view that holds the
    /// document's first change, the records are built on that change alone
    /// and appended, without loading the document (they are concurrent with
    /// everything else, which is harmless for records under fresh random
    /// ids), and the view is brought up to date with `record`. Otherwise
    /// this is an ordinary [`edit`](Self::edit).
    ///
    /// `add` must only create records under fresh random ids.
    pub fn append<T>(
        &self,
        id: DocId,
        add: impl FnOnce(&mut AutoCommit) -> anyhow::Result<T>,
        record: impl FnOnce(&mut DocData, &T),
    ) -> anyhow::Result<T> {
        let Appended {
            value,
            whole,
            chunks,
        } = match self.append_on_genesis(id, add)? {
            Ok(appended) => appended,
            Err(add) => return self.edit(id, add),
        };
        // A view that does not decode is left stale: the next read rebuilds it.
        if let Some(View { mut data, genesis }) = whole.into_view() {
            record(&mut data, &value);
            self.saved(
                id,
                self.views
                    .write(&id, &chunks, &mut data, genesis.as_deref()),
            );
        }
        Ok(value)
    }

    /// [`append`](Self::append) of one activity, `record` under the fresh
    /// id `id`: the view is brought up to date without decoding its
    /// activity log ([`Whole::add_activity`]).
    pub fn append_activity(
        &self,
        doc: DocId,
        add: impl FnOnce(&mut AutoCommit) -> anyhow::Result<()>,
        id: &RecordId,
        record: &Activity,
    ) -> anyhow::Result<()> {
        let Appended { whole, chunks, .. } = match self.append_on_genesis(doc, add)? {
            Ok(appended) => appended,
            Err(add) => return self.edit(doc, add),
        };
        // A view that does not decode is left stale: the next read rebuilds it.
        if let Some(written) = whole.add_activity(&self.views, &doc, &chunks, id, record) {
            self.saved(doc, written);
        }
        Ok(())
    }

    /// The shared part of the appends: with a valid view of `id` that holds
    /// the document's first change, `add` on that change alone, appended;
    /// returns what `add` gave, the view as it was, and the chunks the
    /// document has now. `Err(add)` where that cannot be done, for the
    /// caller to [`edit`](Self::edit) instead.
    fn append_on_genesis<T, F: FnOnce(&mut AutoCommit) -> anyhow::Result<T>>(
        &self,
        id: DocId,
        add: F,
    ) -> anyhow::Result<Result<Appended<T>, F>> {
        if self.loaded.borrow().contains_key(&id) {
            return Ok(Err(add));
        }
        let chunks = self.store.list_chunks(&id)?;
        if self.store.wants_compaction(&chunks) {
            return Ok(Err(add));
        }
        let Some(whole) = self.views.read_whole(&id, &chunks) else {
            return Ok(Err(add));
        };
        if whole.schema() > doc::SCHEMA_VERSION {
            return Err(rapport_core::Error::NewerSchema {
                found: whole.schema(),
                supported: doc::SCHEMA_VERSION,
            }
            .into());
        }
        // A document whose first change did not create the collection maps
        // (another client's) takes the ordinary path: creating a map here
        // would conflict with the one that exists.
        let Some(mut base) = whole
            .genesis()
            .and_then(|g| AutoCommit::load(g).ok())
            .filter(doc::has_collections)
        else {
            return Ok(Err(add));
        };
        let since = base.get_heads();
        let value = add(&mut base)?;
        let mut all = chunks.clone();
        all.extend(self.store.append_changes(&id, &mut base, &since)?);
        // The field index, valid for the chunks before, is brought up to
        // date with the new records (their ids are in `base`).
        if let Some(change) = base.get_last_local_change()
            && let Some(written) =
                self.views
                    .append_fields(&id, &chunks, &all, base.document(), &[change])
        {
            self.saved(id, written);
        }
        Ok(Ok(Appended {
            value,
            whole,
            chunks: all,
        }))
    }

    /// Writes `changes` (a teammate's, received by sync, in causal order)
    /// into document `id` without loading it, where they only add records
    /// (see [`rapport_store::receive`]): the changes are stored as they
    /// came, one chunk each, and the view and the field index brought up
    /// to date with the new records, decoded on the document's first
    /// change alone. `judged` are the chunk names the sync was asked on
    /// (the document must still have exactly those), `known` changes the
    /// document holds for sure (the heads of its last sync and ours):
    /// every change must depend only on those, on the first change, on
    /// changes of the document's incremental chunks or on each other, so
    /// nothing it needs is missing. Returns the document's chunks now, or
    /// `None` where that cannot be done: nothing was written, and the
    /// caller syncs the document loaded.
    pub fn receive_unloaded(
        &self,
        id: DocId,
        judged: &[String],
        known: &HashSet<ChangeHash>,
        changes: &[automerge::Change],
    ) -> anyhow::Result<Option<Vec<ChunkKey>>> {
        if self.loaded.borrow().contains_key(&id) {
            return Ok(None);
        }
        let chunks = self.store.list_chunks(&id)?;
        if crate::remotes::chunk_names(&chunks) != judged || self.store.wants_compaction(&chunks) {
            return Ok(None);
        }
        let Some(whole) = self.views.read_whole(&id, &chunks) else {
            return Ok(None);
        };
        if whole.schema() > doc::SCHEMA_VERSION {
            return Ok(None);
        }
        let Some(mut base) = whole
            .genesis()
            .and_then(|g| AutoCommit::load(g).ok())
            .filter(doc::has_collections)
        else {
            return Ok(None);
        };
        let mut held: HashSet<ChangeHash> = known.clone();
        held.extend(base.get_heads());
        held.extend(
            chunks
                .iter()
                .filter(|c| c.kind == rapport_store::ChunkKind::Incremental)
                .filter_map(|c| c.name.parse::<ChangeHash>().ok()),
        );
        for change in changes {
            // (One the document holds already would be no change to it.)
            if held.contains(&change.hash()) || !change.deps().iter().all(|d| held.contains(d)) {
                return Ok(None);
            }
            held.insert(change.hash());
        }
        let Some(mut data) = whole.without_activities() else {
            return Ok(None);
        };
        let mut activities: Vec<(RecordId, Activity)> = Vec::new();
        // The whole field index, read at the first change that edits.
        let mut index: Option<FieldIndex> = None;
        let mut cold: Option<Option<fields::ColdActivities>> = None;
        for (i, change) in changes.iter().enumerate() {
            let one = std::slice::from_ref(change);
            // (A change that is no addition leaves `base` as it was.)
            if let Some(added) = rapport_store::receive::rebase_additions(&mut base, one) {
                if !self.add_received(&whole, &base, &mut data, &mut activities, &added) {
                    return Ok(None);
                }
                if let Some(index) = &mut index {
                    index.appended(base.document(), change);
                }
                continue;
            }
            if index.is_none() {
                let Some(mut read) = self.views.read_fields(&id, &chunks) else {
                    return Ok(None);
                };
                for earlier in &changes[..i] {
                    read.appended(base.document(), earlier);
                }
                index = Some(read);
            }
            let Some(index) = &mut index else {
                return Ok(None);
            };
            // An edit of an activity the index keeps in its cold file
            // (read and decoded once, and only then).
            if index.lacks_targets_of(change) {
                let cold = cold.get_or_insert_with(|| {
                    let bytes = self.views.read_cold(&id)?;
                    index.cold_activities(&bytes)
                });
                if let Some(cold) = cold {
                    index.take_cold_for(cold, change);
                }
            }
            if !receive_change(index, &whole, &mut data, &activities, change) {
                return Ok(None);
            }
        }
        // The changes are the commit point; the view and the index are
        // caches, valid only for exactly these chunks.
        let mut now = chunks.clone();
        for change in changes {
            now.push(self.store.put_change(&id, change)?);
        }
        let written = match &index {
            Some(index) => Some(self.views.write_fields(&id, &now, index)),
            None => self
                .views
                .append_fields(&id, &chunks, &now, base.document(), changes),
        };
        if let Some(written) = written {
            self.saved(id, written);
        }
        // Activities edited: the log is rewritten; else only added to.
        let written = match std::mem::take(&mut data.activities) {
            edited if edited.is_empty() => {
                whole.add_records(&self.views, &id, &now, data, &activities)
            }
            edited => whole.replace_activities(&self.views, &id, &now, data, &edited, &activities),
        };
        if let Some(written) = written {
            self.saved(id, written);
        }
        Ok(Some(now))
    }

    /// Adds the records `added` by a received change, as `base` (the
    /// document's first change and the changes replayed on it) holds them,
    /// to `data` and `activities`; `false` if one is there already or
    /// does not decode.
    fn add_received(
        &self,
        whole: &Whole,
        base: &AutoCommit,
        data: &mut DocData,
        activities: &mut Vec<(RecordId, Activity)>,
        added: &[rapport_store::receive::Added],
    ) -> bool {
        Collection::SHARED.iter().all(|collection| {
            let ids: Vec<RecordId> = added
                .iter()
                .filter(|a| a.collection == *collection)
                .map(|a| a.id.clone())
                .collect();
            if ids.is_empty() {
                return true;
            }
            match collection {
                Collection::Activities => {
                    let new = ids
                        .iter()
                        .all(|id| !activities.iter().any(|(a, _)| a == id));
                    new && whole.holds_activity(&ids) == Some(false)
                        && doc::read_records(base, *collection, &ids)
                            .map(|records| activities.extend(records))
                            .is_some()
                }
                Collection::People => add_new::<Person>(base, data, &ids),
                Collection::Relationships => add_new::<Relationship>(base, data, &ids),
                Collection::Opportunities => add_new::<Opportunity>(base, data, &ids),
                Collection::Plan => add_new::<PlanItem>(base, data, &ids),
                Collection::Partnerships => add_new::<Partnership>(base, data, &ids),
                Collection::PrivateNotes | Collection::Accounts => false,
            }
        })
    }

    /// Warns when a view could not be saved (only a cache: the next read
    /// rebuilds it).
    fn saved(&self, id: DocId, result: std::io::Result<()>) {
        if let Err(e) = result {
            self.ctx
                .out
                .warn(format!("could not save a view of {id}: {e}"));
        }
    }

    /// Rebuilds the view of `id` from `doc`, whose chunks are exactly
    /// `chunks` (those it was loaded from and those a sync just wrote, not a
    /// fresh listing: another process may have added one meanwhile, which
    /// `doc` lacks), so the next read need not load automerge. Only a
    /// cache: a failure to write it is a warning.
    pub fn refresh_view(&self, id: DocId, doc: &mut AutoCommit, chunks: &[ChunkKey]) {
        self.refresh_view_indexing(id, doc, chunks, Indexed::Records);
    }

    /// [`refresh_view`](Self::refresh_view), the field index built as
    /// `indexed` says.
    fn refresh_view_indexing(
        &self,
        id: DocId,
        doc: &mut AutoCommit,
        chunks: &[ChunkKey],
        indexed: Indexed,
    ) {
        // (A document that does not read has no view: the next read
        // reports why.)
        let _ = self.save_views(id, doc, chunks, indexed);
    }

    /// Reads every part of `doc` (whose chunks are exactly `chunks`) and
    /// saves it as the view of `id`, with its [`FieldIndex`], so the next
    /// read and the next edit of a plain field need not load automerge.
    /// Only caches: a failure to write them is a warning. A document
    /// that does not read gets neither.
    ///
    /// The index is built first and only its files are kept while the
    /// records are decoded: as built, it takes ten times its files (a cold
    /// read of 100k records held 40 MB of index beside 20 MB of records).
    /// So a document that does not decode (another client's writing) has
    /// its index built for nothing, on every read of it, as it is loaded
    /// on every read anyway.
    fn save_views(
        &self,
        id: DocId,
        doc: &mut AutoCommit,
        chunks: &[ChunkKey],
        indexed: Indexed,
    ) -> Result<DocData, rapport_core::Error> {
        let fields = self.encode_fields(id, doc, chunks, indexed);
        let mut data = DocData::read(doc, Parts::ALL)?;
        let genesis = rapport_store::genesis(doc);
        self.saved(
            id,
            self.views.write(&id, chunks, &mut data, genesis.as_deref()),
        );
        self.save_fields(id, fields);
        Ok(data)
    }

    /// Saves a field index [`encode_fields`](Self::encode_fields) gave.
    fn save_fields(&self, id: DocId, fields: std::io::Result<EncodedFields>) {
        self.saved(
            id,
            fields.and_then(|f| self.views.write_encoded_fields(&id, f)),
        );
    }

    /// `doc`'s [`FieldIndex`], built as `indexed` says and encoded (the
    /// index as built is dropped here: it takes ten times its files).
    fn encode_fields(
        &self,
        id: DocId,
        doc: &mut AutoCommit,
        chunks: &[ChunkKey],
        indexed: Indexed,
    ) -> std::io::Result<EncodedFields> {
        let index = match indexed {
            // The activity log's index, if one was saved, is kept.
            Indexed::Records => {
                FieldIndex::build_keeping(doc, self.views.read_cold(&id).as_deref())
            }
            Indexed::Activities => FieldIndex::build_with_activities(doc),
        };
        Views::encode_fields(chunks, &index)
    }

    /// Runs `f` on the full automerge document (loaded once per command),
    /// for what views do not keep, such as conflicting values.
    pub fn inspect<T>(&self, id: DocId, f: impl FnOnce(&AutoCommit) -> T) -> anyhow::Result<T> {
        let cached = self.loaded.borrow().contains_key(&id);
        let loaded = self.take(id)?;
        let value = f(&loaded.doc);
        if cached {
            self.loaded.borrow_mut().insert(id, loaded);
        } else {
            self.keep_read(id, loaded);
        }
        Ok(value)
    }

    /// Keeps `loaded`, just loaded to be read, if it is the biggest
    /// document this command has loaded only to read (dropping the one
    /// kept before), else drops it. A write after a read then loads at
    /// most one document again, and a small one, while a read of many
    /// documents without views holds one at a time: a cold `agenda` over
    /// 200 accounts of 100k records in all peaked at 72 MiB with every
    /// document kept, and at 18 MiB this way. Dropping a copy loses
    /// nothing: every edit is saved as it is made, with its view.
    fn keep_read(&self, id: DocId, loaded: Loaded) {
        let size = automerge::ReadDoc::stats(&loaded.doc).num_ops;
        let mut cache = self.loaded.borrow_mut();
        match self.spare.get() {
            Some((spare, biggest)) if spare != id && biggest >= size => drop(loaded),
            previous => {
                if let Some((spare, _)) = previous {
                    cache.remove(&spare);
                }
                cache.insert(id, loaded);
                self.spare.set(Some((id, size)));
            }
        }
    }

    /// The document from this command's cache, or loaded from the store.
    fn take(&self, id: DocId) -> anyhow::Result<Loaded> {
        if let Some(loaded) = self.loaded.borrow_mut().remove(&id) {
            return Ok(loaded);
        }
        // A document scanned is not held through a load (an edit after a
        // cold read scans the document, then loads it to edit).
        self.scanned.borrow_mut().take();
        Ok(self.store.load(&id)?)
    }
}

/// The record fields a reference can match.
pub struct Named {
    pub id: RecordId,
    pub name: String,
    pub email: Option<String>,
    pub archived: bool,
}

/// Finds one record among `docs` by `query`; `named` lists a document's
/// candidates. Returns the index of the document and the record id.
pub fn find(
    docs: &[Doc],
    kind: &str,
    query: &str,
    named: impl Fn(&DocData) -> Vec<Named>,
) -> anyhow::Result<(usize, RecordId)> {
    let multi = docs.len() > 1;
    resolve_in(
        kind,
        query,
        docs.iter()
            .map(|d| (multi.then(|| d.label()), named(&d.data))),
    )
}

/// Resolves `query` among groups of named records, one per document (with
/// its name as context when there are several); returns the group's index
/// and the record id.
fn resolve_in(
    kind: &str,
    query: &str,
    groups: impl Iterator<Item = (Option<String>, Vec<Named>)>,
) -> anyhow::Result<(usize, RecordId)> {
    let mut candidates = Vec::new();
    for (i, (context, names)) in groups.enumerate() {
        for n in names {
            candidates.push(Candidate {
                id: n.id.to_string(),
                key: (i, n.id),
                name: n.name,
                email: n.email,
                context: context.clone(),
                archived: n.archived,
            });
        }
    }
    Ok(resolve(kind, query, &candidates)?)
}

/// A document's people as candidates for a name, in the order `person
/// list` shows them (as [`find_person_in`] has them): ambiguous matches
/// are listed in it, whichever command asked.
pub fn people(data: &DocData) -> Vec<Named> {
    let mut people: Vec<_> = data.people.iter().collect();
    rapport_core::order::sort_people(&mut people, |(id, p)| (id.as_str(), &p.name));
    people
        .into_iter()
        .map(|(id, p)| Named {
            id: id.clone(),
            name: p.name.clone(),
            email: p.email.clone(),
            archived: p.archived,
        })
        .collect()
}

/// Finds a person in scope.
pub fn find_person(docs: &[Doc], query: &str) -> anyhow::Result<(usize, RecordId)> {
    find(docs, "person", query, people)
}

/// [`find_person`] among [`PeopleList`]s: the same candidates, in the
/// same order, read in place rather than from decoded people.
pub fn find_person_in(lists: &[PeopleList], query: &str) -> anyhow::Result<(usize, RecordId)> {
    let multi = lists.len() > 1;
    let prepared = rapport_core::resolve::Query::new(query);
    let mut groups = Vec::with_capacity(lists.len());
    for list in lists {
        // In the order `person list` shows them, whichever order the view
        // (or a view of an older version) stored them in: ambiguous
        // matches are listed in it.
        // Only those the query may match are made candidates (resolving
        // among them gives what resolving among all of them gives): 10k
        // people were copied out, five strings each, to find one.
        let rows = list.rows();
        let mut sorted: Vec<&(&str, PersonRow)> = rows
            .iter()
            .filter(|(id, p)| prepared.may_match(id, p.email, p.name))
            .collect();
        rapport_core::order::sort_people(&mut sorted, |(id, p)| (id, p.name));
        let names = sorted
            .into_iter()
            .map(|(id, p)| Named {
                id: RecordId::from(id.to_string()),
                name: p.name.to_string(),
                email: p.email.map(str::to_string),
                archived: p.archived,
            })
            .collect();
        groups.push((multi.then(|| list.label()), names));
    }
    resolve_in("person", query, groups.into_iter())
}

/// The warnings for the records of `data` that could not be read.
fn problem_warnings(data: &DocData) -> Vec<String> {
    let title = data.title();
    data.problems
        .iter()
        .map(|p| problem_warning(&title, p))
        .collect()
}

fn problem_warning(title: &str, p: &Problem) -> String {
    format!(
        "skipped unreadable {} record {} in {title}: {}",
        p.collection, p.key, p.error
    )
}

fn is_not_found(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<StoreError>(),
            Some(StoreError::NotFound(_))
        )
    })
}
