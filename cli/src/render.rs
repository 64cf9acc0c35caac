//! JSON shapes shared by list and show commands. Field names are stable and
//! documented in `docs/cli.md`: a record's stored fields (see
//! `docs/schema.md`) plus `id`, `doc` and `doc_name`.

use rapport_core::{DocId, RecordId};
use serde::Serialize;

use crate::workspace::Doc;

/// A record with where it lives.
#[derive(Serialize)]
pub struct Rec<'a, T: Serialize> {
    pub id: &'a RecordId,
    /// The document it lives in (`automerge:...`).
    pub doc: DocId,
    /// The account's name, or "personal".
    pub doc_name: String,
    #[serde(flatten)]
    pub record: &'a T,
}

impl<'a, T: Serialize> Rec<'a, T> {
    pub fn new(doc: &Doc, id: &'a RecordId, record: &'a T) -> Rec<'a, T> {
        Rec {
            id,
            doc: doc.id,
            doc_name: doc.label(),
            record,
        }
    }
}

/// A person's name by id, within one document ("?" when unknown).
pub fn person_name(doc: &Doc, id: &RecordId) -> String {
    doc.data
        .people
        .get(id)
        .map(|p| p.name.clone())
        .unwrap_or_else(|| format!("?{}", id.short()))
}

/// Marks archived rows in lists shown with `--all`.
pub fn archived_mark(archived: bool) -> &'static str {
    if archived { " [archived]" } else { "" }
}

/// Names of people, as a list (for JSON).
pub fn name_list(doc: &Doc, ids: &[RecordId]) -> Vec<String> {
    ids.iter().map(|id| person_name(doc, id)).collect()
}

/// Joins names for a table cell.
pub fn names(doc: &Doc, ids: &[RecordId]) -> String {
    ids.iter()
        .map(|id| person_name(doc, id))
        .collect::<Vec<_>>()
        .join(", ")
}
