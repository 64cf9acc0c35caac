//! An activity read in place from a view's bytes, so `person show` can
//! test whether it involves the person before paying for an owned copy.

use rapport_core::doc::Contacts;
use rapport_core::enums::{ActivityKind, Direction};
use rapport_core::model::Activity;
use rapport_core::{Day, Notes, RecordId};
use serde::Deserialize;

/// [`Activity`]'s fields, in its order (postcard has no field names; the
/// conversion names every field, so a new one does not compile until it
/// is added here, and a view test checks the two read the same).
#[derive(Deserialize)]
pub(super) struct ActivityRef<'a> {
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

impl ActivityRef<'_> {
    pub(super) fn notes(&self) -> &str {
        self.notes
    }

    pub(super) fn involves(&self, person: &RecordId) -> bool {
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
