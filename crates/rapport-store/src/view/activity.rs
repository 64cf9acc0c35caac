//! An activity read in place from a view's bytes, so a read can test
//! whether it wants it (`person show`: does it involve the person? `log
//! list`: is it among the newest?) before paying for an owned copy.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

use rapport_core::doc::Contacts;
use rapport_core::enums::{ActivityKind, Direction};
use rapport_core::model::Activity;
use rapport_core::{Day, Notes, RecordId};

use super::reader::Reader;

/// An activity read in place: [`Activity`]'s fields, borrowed from a
/// view's bytes ([`read_pair`]) or from an owned activity
/// ([`ActivityRef::of`]). The conversion to [`Activity`] names every
/// field, so a new one does not compile until it is added here, and a
/// property test reads random logs both ways.
pub struct ActivityRef<'a> {
    date: Day,
    people: People<'a>,
    kind: ActivityKind,
    direction: Direction,
    by: &'a str,
    notes: &'a str,
    opportunity: Option<&'a str>,
    archived: bool,
}

/// An activity's people: the ids as a view stored them (each checked as
/// UTF-8 when read, but not split out: most activities are read only to
/// ask whether they involve someone), or an owned activity's.
#[derive(Clone, Copy)]
enum People<'a> {
    Stored { count: u64, bytes: &'a [u8] },
    Owned(&'a [RecordId]),
}

impl<'a> People<'a> {
    /// Reads the list, checking each id.
    fn read(r: &mut Reader<'a>) -> Option<People<'a>> {
        let count = r.varint()?;
        let bytes = r.rest();
        for _ in 0..count {
            r.str()?;
        }
        let bytes = &bytes[..bytes.len() - r.rest().len()];
        Some(People::Stored { count, bytes })
    }

    fn iter(self) -> PeopleIter<'a> {
        match self {
            People::Stored { count, bytes } => PeopleIter::Stored(Reader::new(bytes), count),
            People::Owned(ids) => PeopleIter::Owned(ids.iter()),
        }
    }

    fn contains(self, id: &str) -> bool {
        match self {
            People::Stored { count, bytes } => {
                let mut r = Reader::new(bytes);
                (0..count).any(|_| r.take() == Some(id.as_bytes()))
            }
            People::Owned(ids) => ids.iter().any(|p| p.as_str() == id),
        }
    }
}

enum PeopleIter<'a> {
    /// The ids not read yet, and how many.
    Stored(Reader<'a>, u64),
    Owned(std::slice::Iter<'a, RecordId>),
}

impl<'a> Iterator for PeopleIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        match self {
            PeopleIter::Stored(r, left) => {
                *left = left.checked_sub(1)?;
                // Each was read as text already ([`People::read`]).
                r.str()
            }
            PeopleIter::Owned(ids) => ids.next().map(RecordId::as_str),
        }
    }
}

impl<'a> ActivityRef<'a> {
    /// An owned activity seen as one read in place, for the reads that
    /// take a document some other way than from its view.
    pub fn of(a: &'a Activity) -> ActivityRef<'a> {
        ActivityRef {
            date: a.date,
            people: People::Owned(&a.people),
            kind: a.kind,
            direction: a.direction,
            by: &a.by,
            notes: a.notes.as_str(),
            opportunity: a.opportunity.as_ref().map(|o| o.as_ref()),
            archived: a.archived,
        }
    }

    pub fn date(&self) -> Day {
        self.date
    }

    pub fn notes(&self) -> &'a str {
        self.notes
    }

    pub fn archived(&self) -> bool {
        self.archived
    }

    pub fn involves(&self, person: &RecordId) -> bool {
        self.people.contains(person.as_ref())
    }

    /// Adds the activity to `contacts`, as [`Contacts::add`] would add
    /// its owned copy.
    pub(super) fn add_to(&self, contacts: &mut Contacts) {
        contacts.add_parts(self.by, self.people.iter(), self.date, self.archived);
    }
}

impl From<ActivityRef<'_>> for Activity {
    fn from(a: ActivityRef<'_>) -> Activity {
        let ActivityRef {
            date,
            people,
            kind,
            direction,
            by,
            notes,
            opportunity,
            archived,
        } = a;
        Activity {
            date,
            people: people
                .iter()
                .map(|p| RecordId::from(p.to_string()))
                .collect(),
            kind,
            direction,
            by: by.to_string(),
            notes: Notes::new(notes),
            opportunity: opportunity.map(|o| RecordId::from(o.to_string())),
            archived,
        }
    }
}

/// One `(id, activity)` pair of a log section, read by hand from the
/// front of `r`: what postcard wrote for `(RecordId, Activity)`, field by
/// field in [`Activity`]'s order, nothing allocated. Through serde each
/// activity's people were a new `Vec`, and every text a UTF-8 check, the
/// kind's and direction's spellings included. `None` if the bytes are not
/// such a pair (see [`Reader::ran_out`] for bytes that end too soon).
pub(super) fn read_pair<'a>(r: &mut Reader<'a>) -> Option<(&'a str, ActivityRef<'a>)> {
    let id = r.str()?;
    // A struct expression evaluates its fields in the order written:
    // postcard's, [`Activity`]'s.
    let activity = ActivityRef {
        date: Day::from_days(r.i32()?)?,
        people: People::read(r)?,
        kind: r.spelling(ActivityKind::ALL, ActivityKind::as_str)?,
        direction: r.spelling(Direction::ALL, Direction::as_str)?,
        by: r.str()?,
        notes: r.str()?,
        opportunity: r.option(Reader::str)?,
        archived: r.bool()?,
    };
    Some((id, activity))
}

/// Each pair of a log section held whole (its count, then the pairs),
/// given to `each` with the pair's bytes; `None` if the section is not
/// exactly such a log.
pub(super) fn read_log<'a>(
    bytes: &'a [u8],
    mut each: impl FnMut(&'a str, ActivityRef<'a>, &'a [u8]),
) -> Option<()> {
    let mut r = Reader::new(bytes);
    let count = r.varint()?;
    for _ in 0..count {
        let start = r.rest();
        let (id, activity) = read_pair(&mut r)?;
        each(id, activity, &start[..start.len() - r.rest().len()]);
    }
    r.is_empty().then_some(())
}

/// Which activities of a log a read keeps: those `keep` keeps (given each
/// one's id and the activity read in place) and, with `first`, only the
/// first that many of them in the log's order ([`Activity::log_order`]).
/// From a view, the others are never copied out.
pub struct Select<'k> {
    pub keep: &'k (dyn Fn(&str, &ActivityRef<'_>) -> bool + Sync + 'k),
    pub first: Option<usize>,
}

impl<'k> Select<'k> {
    /// Every activity `keep` keeps.
    pub fn keeping(keep: &'k (dyn Fn(&str, &ActivityRef<'_>) -> bool + Sync + 'k)) -> Select<'k> {
        Select { keep, first: None }
    }

    /// The same selection of an owned log, for a document read some
    /// other way than from its view.
    pub fn retain(&self, activities: &mut BTreeMap<RecordId, Activity>) {
        activities.retain(|id, a| (self.keep)(id.as_str(), &ActivityRef::of(a)));
        let Some(first) = self.first else { return };
        if activities.len() <= first {
            return;
        }
        let mut order: Vec<(&RecordId, &Activity)> = activities.iter().collect();
        order.sort_unstable_by(|(i, a), (j, b)| {
            Activity::log_order(
                (a.date, a.notes.as_str(), i.as_str()),
                (b.date, b.notes.as_str(), j.as_str()),
            )
        });
        let dropped: Vec<RecordId> = order[first..].iter().map(|(id, _)| (*id).clone()).collect();
        for id in dropped {
            activities.remove(&id);
        }
    }

    /// A choice of activities read in place, one at a time, that keeps
    /// what this selection keeps, each copied out as it is kept (so the
    /// bytes it was read from may go: a log read in pieces).
    pub(super) fn chooser(&self) -> Chooser {
        Chooser {
            first: self.first,
            kept: Vec::new(),
            heap: BinaryHeap::new(),
        }
    }
}

/// The activities a [`Select`] keeps so far: all of them, or, with
/// `first`, the first ones in the log's order (a heap whose top is the
/// last of them, replaced when a better one comes: only those are ever
/// copied out).
pub(super) struct Chooser {
    first: Option<usize>,
    kept: Vec<(RecordId, Activity)>,
    heap: BinaryHeap<Ranked>,
}

impl Chooser {
    /// Offers an activity the selection's `keep` kept.
    pub(super) fn offer(&mut self, id: &str, activity: ActivityRef<'_>) {
        let owned = |id: &str, a: ActivityRef<'_>| (RecordId::from(id.to_string()), a.into());
        let Some(first) = self.first else {
            self.kept.push(owned(id, activity));
            return;
        };
        if self.heap.len() < first {
            self.heap.push(Ranked(owned(id, activity)));
        } else if self.heap.peek().is_some_and(|last| {
            Activity::log_order((activity.date, activity.notes, id), last.key()).is_lt()
        }) {
            self.heap.pop();
            self.heap.push(Ranked(owned(id, activity)));
        }
    }

    /// What was kept (in the log's order when `first` was given).
    pub(super) fn into_kept(self) -> Vec<(RecordId, Activity)> {
        match self.first {
            None => self.kept,
            Some(_) => self
                .heap
                .into_sorted_vec()
                .into_iter()
                .map(|Ranked(pair)| pair)
                .collect(),
        }
    }
}

/// An activity and its id, ordered as the log is ([`Activity::log_order`]).
struct Ranked((RecordId, Activity));

impl Ranked {
    fn key(&self) -> (Day, &str, &str) {
        let (id, a) = &self.0;
        (a.date, a.notes.as_str(), id.as_str())
    }
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        Activity::log_order(self.key(), other.key())
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked {}
