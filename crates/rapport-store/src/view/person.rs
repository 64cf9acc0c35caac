//! A person as a view stores it. `Person`'s own serde leaves out an absent
//! `merged_into` (so `--json` output stays as it was), which a format
//! without field names cannot follow: here every field is always written.
//! Both conversions name every field, so a new field on `Person` does not
//! compile until it is added here too.

use rapport_core::enums::{DecisionOrientation, PoliticalStatus};
use rapport_core::model::Person;
use rapport_core::{Day, Notes, RecordId};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub(super) struct StoredPerson {
    name: String,
    email: Option<String>,
    phone: Option<String>,
    title: Option<String>,
    reports_to: Option<RecordId>,
    influences: Vec<RecordId>,
    opposes: Vec<RecordId>,
    orientation: Option<DecisionOrientation>,
    political_status: Option<PoliticalStatus>,
    goals: Notes,
    notes: Notes,
    tags: Vec<String>,
    archived: bool,
    created: Option<Day>,
    merged_into: Option<RecordId>,
}

impl From<Person> for StoredPerson {
    fn from(p: Person) -> StoredPerson {
        let Person {
            name,
            email,
            phone,
            title,
            reports_to,
            influences,
            opposes,
            orientation,
            political_status,
            goals,
            notes,
            tags,
            archived,
            created,
            merged_into,
        } = p;
        StoredPerson {
            name,
            email,
            phone,
            title,
            reports_to,
            influences,
            opposes,
            orientation,
            political_status,
            goals,
            notes,
            tags,
            archived,
            created,
            merged_into,
        }
    }
}

impl From<StoredPerson> for Person {
    fn from(p: StoredPerson) -> Person {
        let StoredPerson {
            name,
            email,
            phone,
            title,
            reports_to,
            influences,
            opposes,
            orientation,
            political_status,
            goals,
            notes,
            tags,
            archived,
            created,
            merged_into,
        } = p;
        Person {
            name,
            email,
            phone,
            title,
            reports_to,
            influences,
            opposes,
            orientation,
            political_status,
            goals,
            notes,
            tags,
            archived,
            created,
            merged_into,
        }
    }
}
