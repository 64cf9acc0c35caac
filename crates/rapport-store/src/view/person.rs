//! A person as a view stores it. `Person`'s own serde leaves out an absent
//! `merged_into` (so `--json` output stays as it was), which a format
//! without field names cannot follow: here every field is always written.
//! Both conversions name every field, so a new field on `Person` does not
//! compile until it is added here too.

use rapport_core::enums::{DecisionOrientation, PoliticalStatus};
use rapport_core::model::Person;
use rapport_core::{Day, Notes, RecordId};
use std::marker::PhantomData;

use serde::de::Deserializer;
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

/// What a listing shows of a person, read in place from a view's bytes:
/// the text is borrowed and the fields not shown are read past, so
/// nothing is allocated but the (usually empty) lists. The fields are
/// [`StoredPerson`]'s, in its order (postcard has no field names; a test
/// checks the two read the same).
#[derive(Debug, Clone, Deserialize, yoke::Yokeable)]
#[expect(
    dead_code,
    reason = "the fields a listing does not show are only read past"
)]
pub struct PersonRow<'a> {
    pub name: &'a str,
    #[serde(borrow)]
    pub email: Option<&'a str>,
    phone: Option<SkipText>,
    #[serde(borrow)]
    pub title: Option<&'a str>,
    reports_to: Option<SkipText>,
    influences: SkipTexts,
    opposes: SkipTexts,
    orientation: Skip<Option<DecisionOrientation>>,
    pub political_status: Option<PoliticalStatus>,
    goals: SkipText,
    notes: SkipText,
    #[serde(borrow)]
    pub tags: Vec<&'a str>,
    pub archived: bool,
    created: Skip<Option<Day>>,
    merged_into: Option<SkipText>,
}

impl<'a> PersonRow<'a> {
    /// The same row, borrowed from a decoded person.
    pub fn of(p: &'a Person) -> PersonRow<'a> {
        PersonRow {
            name: &p.name,
            email: p.email.as_deref(),
            phone: None,
            title: p.title.as_deref(),
            reports_to: None,
            influences: SkipTexts,
            opposes: SkipTexts,
            orientation: Skip(PhantomData),
            political_status: p.political_status,
            goals: SkipText,
            notes: SkipText,
            tags: p.tags.iter().map(String::as_str).collect(),
            archived: p.archived,
            created: Skip(PhantomData),
            merged_into: None,
        }
    }

    /// See [`Person::is_key_player`].
    pub fn is_key_player(&self) -> bool {
        self.political_status
            .is_some_and(PoliticalStatus::is_key_player)
    }
}

/// A field read past: decoded (postcard cannot skip bytes it has not
/// read) and dropped.
struct Skip<T>(PhantomData<T>);

impl<T> Clone for Skip<T> {
    fn clone(&self) -> Self {
        Skip(PhantomData)
    }
}

impl<T> std::fmt::Debug for Skip<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("_")
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Skip<T> {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        T::deserialize(de).map(|_| Skip(PhantomData))
    }
}

/// A text (or an id) read past: its bytes are taken as they are, neither
/// checked as UTF-8 nor copied (postcard writes a text as its bytes).
#[derive(Debug, Clone, Copy)]
struct SkipText;

impl<'de> Deserialize<'de> for SkipText {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        <&'de [u8]>::deserialize(de).map(|_| SkipText)
    }
}

/// A list of texts (or ids) read past, without collecting them.
#[derive(Debug, Clone, Copy)]
struct SkipTexts;

impl<'de> Deserialize<'de> for SkipTexts {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct Each;
        impl<'de> serde::de::Visitor<'de> for Each {
            type Value = SkipTexts;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of texts")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<SkipTexts, A::Error> {
                while seq.next_element::<SkipText>()?.is_some() {}
                Ok(SkipTexts)
            }
        }
        de.deserialize_seq(Each)
    }
}
