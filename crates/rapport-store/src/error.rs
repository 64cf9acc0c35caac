use rapport_core::DocId;
use thiserror::Error;

/// What can go wrong reading or writing documents.
#[derive(Debug, Error)]
pub enum StoreError {
    /// No chunk of this document exists.
    #[error("document {0} does not exist in this store")]
    NotFound(DocId),
    /// A chunk is empty or does not decode; `path` names it.
    #[error("{path} is corrupt: {reason} (run `rapport doctor`)")]
    Corrupt { path: String, reason: String },
    /// Other processes kept compacting while this one read.
    #[error("document {0} kept changing while being read; try again")]
    Busy(DocId),
    #[error("could not {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Core(#[from] rapport_core::Error),
}
