//! Rapport's local document store: automerge documents kept as chunks in
//! the automerge-repo storage layout (the one samod and the JS node-fs
//! adapter use), written crash-safely (temporary file, fsync, rename), and
//! compacted without ever removing a chunk another writer just added.
//!
//! It knows nothing of records: that is `rapport-core`. It has a directory
//! backend and an in-memory one; both pass the same conformance suite.

mod backend;
#[cfg(test)]
mod conformance;
mod error;
pub mod fields;
mod listings;
mod open_dir;
pub mod receive;
mod store;
mod view;

pub use backend::{Backend, ChunkKey, ChunkKind, FsBackend, MemBackend};
pub use error::StoreError;
pub use listings::{FolderStamp, Listings};
pub use store::{
    Absorbed, ChunkProblem, Compaction, DEFAULT_COMPACT_AFTER, Loaded, Store, genesis,
    snapshot_name,
};
pub use view::{
    ActivityRef, EncodedFields, Log, PeopleSection, PersonRow, Select, View, Views, Whole,
};
