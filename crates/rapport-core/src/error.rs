use thiserror::Error;

/// What can go wrong in the domain. Variants are the cases a caller branches
/// on; everything else is [`Error::Other`].
#[derive(Debug, Error)]
pub enum Error {
    /// A value outside its vocabulary or format.
    #[error("invalid {field} '{value}': expected {allowed}")]
    InvalidValue {
        /// The field, as the user names it ("level", "email").
        field: String,
        /// What was given.
        value: String,
        /// What would have been accepted.
        allowed: String,
    },
    /// No record matches a reference.
    #[error("no {kind} matches '{query}'")]
    NotFound { kind: String, query: String },
    /// Several records match a reference.
    #[error("'{query}' could be any of {} {kind} records: {}", candidates.len(), candidates.join("; "))]
    Ambiguous {
        kind: String,
        query: String,
        /// "name <email> (id)" of each match.
        candidates: Vec<String>,
    },
    /// The document is not a Rapport document, or a required part is unreadable.
    #[error("the document is not readable: {0}")]
    Corrupt(String),
    /// The document was written by a newer Rapport.
    #[error(
        "the document has schema version {found}; this Rapport writes version {supported}: upgrade Rapport"
    )]
    NewerSchema { found: u64, supported: u64 },
    #[error(transparent)]
    Automerge(#[from] automerge::AutomergeError),
    #[error("{0}")]
    Other(String),
}
