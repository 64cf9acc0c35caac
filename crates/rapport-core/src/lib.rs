//! Rapport's domain: the records of `DOMAIN.md` (accounts, people,
//! relationships, opportunities, plan items, activities, partnerships), their
//! vocabularies, validation, and how they map onto automerge documents.
//!
//! This crate does no I/O: no files, no network, no terminal, and no clock
//! reads (today's date is passed in). It is meant to be reused by any client:
//! the CLI today, a web or mobile client later.

pub mod analysis;
mod decode;
pub mod doc;
pub mod enums;
mod error;
pub mod ids;
pub mod merge;
pub mod model;
pub mod order;
pub mod resolve;
pub mod scan;
pub mod values;

pub use error::Error;
pub use ids::{DocId, RecordId};
pub use values::{Day, Notes};

#[cfg(test)]
mod automerge_load;
#[cfg(test)]
mod convergence;
