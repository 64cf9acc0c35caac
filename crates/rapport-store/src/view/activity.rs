//! An activity read in place from a view's bytes, so a read can test
//! whether it wants it (`person show`: does it involve the person? `log
//! list`: is it among the newest?) before paying for an owned copy.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};

use rapport_core::doc::Contacts;
use rapport_core::enums::{ActivityKind, Direction};
use rapport_core::model::Activity;
use rapport_core::{Day, Notes, RecordId};
use serde::Deserialize;

/// An activity read in place: [`Activity`]'s fields, in its order
/// (postcard has no field names; the conversion names every field, so a
/// new one does not compile until it is added here, and a view test
/// checks the two read the same).
#[derive(Deserialize)]
pub struct ActivityRef<'a> {
    date: Day,
    #[serde(borrow)]
    people: Vec<&'a str>,
    kind: ActivityKind,
    direction: Direction,
    by: &'a str,
    notes: &'a str,
    #[serde(borrow)]
    opportunity: Option<&'a str>,
    archived: bool,
}

impl<'a> ActivityRef<'a> {
    /// An owned activity seen as one read in place, for the reads that
    /// take a document some other way than from its view.
    pub fn of(a: &'a Activity) -> ActivityRef<'a> {
        ActivityRef {
            date: a.date,
            people: a.people.iter().map(|p| p.as_ref()).collect(),
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
        self.people.contains(&person.as_ref())
    }

    /// Adds the activity to `contacts`, as [`Contacts::add`] would add
    /// its owned copy.
    pub(super) fn add_to(&self, contacts: &mut Contacts) {
        contacts.add_parts(
            self.by,
            self.people.iter().copied(),
            self.date,
            self.archived,
        );
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
                .into_iter()
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
