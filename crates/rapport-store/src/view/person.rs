//! A person as a view stores it. `Person`'s own serde leaves out an absent
//! `merged_into` (so `--json` output stays as it was), which a format
//! without field names cannot follow: here every field is always written.
//! Both conversions name every field, so a new field on `Person` does not
//! compile until it is added here too.

use rapport_core::enums::{DecisionOrientation, PoliticalStatus};
use rapport_core::model::Person;
use rapport_core::{Day, Notes, RecordId};

use serde::{Deserialize, Serialize};

use super::reader::Reader;

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

/// What a listing shows of a person, read in place from a view's bytes
/// ([`read_rows`]): the text is borrowed and the fields not shown are
/// read past, so nothing is allocated but the (usually empty) tags.
#[derive(Debug, Clone, yoke::Yokeable)]
pub struct PersonRow<'a> {
    pub name: &'a str,
    pub email: Option<&'a str>,
    pub title: Option<&'a str>,
    pub political_status: Option<PoliticalStatus>,
    pub tags: Vec<&'a str>,
    pub archived: bool,
}

impl<'a> PersonRow<'a> {
    /// The same row, borrowed from a decoded person.
    pub fn of(p: &'a Person) -> PersonRow<'a> {
        PersonRow {
            name: &p.name,
            email: p.email.as_deref(),
            title: p.title.as_deref(),
            political_status: p.political_status,
            tags: p.tags.iter().map(String::as_str).collect(),
            archived: p.archived,
        }
    }

    /// See [`Person::is_key_player`].
    pub fn is_key_player(&self) -> bool {
        self.political_status
            .is_some_and(PoliticalStatus::is_key_player)
    }
}

/// The people of a view's people section, each with its id: what
/// postcard wrote for `Vec<(RecordId, StoredPerson)>`, read by hand.
/// Through serde this took about 110 ns a person, a fifth of a `person
/// list` over 10k people; it is the same format, field by field in
/// [`StoredPerson`]'s order (a property test reads random people both
/// ways; a field added to `StoredPerson` and not here fails it). `None`
/// if the bytes are not exactly such a list.
pub(super) fn read_rows(bytes: &[u8]) -> Option<Vec<(&str, PersonRow<'_>)>> {
    let mut r = Reader::new(bytes);
    let count = r.varint()?;
    // A person takes 16 bytes at least: a count no section can hold is
    // not allocated for.
    let mut rows = Vec::with_capacity(usize::try_from(count).ok()?.min(bytes.len() / 16));
    for _ in 0..count {
        let id = r.str()?;
        let name = r.str()?;
        let email = r.option(Reader::str)?;
        r.option(Reader::skip)?; // phone
        let title = r.option(Reader::str)?;
        r.option(Reader::skip)?; // reports_to
        r.skip_list()?; // influences
        r.skip_list()?; // opposes
        r.option(|r| {
            r.spelling::<DecisionOrientation>(DecisionOrientation::ALL, DecisionOrientation::as_str)
        })?;
        let political_status =
            r.option(|r| r.spelling(PoliticalStatus::ALL, PoliticalStatus::as_str))?;
        r.skip()?; // goals
        r.skip()?; // notes
        let tags = r.list(Reader::str)?;
        let archived = r.bool()?;
        r.option(Reader::varint)?; // created (a day's number)
        r.option(Reader::skip)?; // merged_into
        rows.push((
            id,
            PersonRow {
                name,
                email,
                title,
                political_status,
                tags,
                archived,
            },
        ));
    }
    r.is_empty().then_some(rows)
}
