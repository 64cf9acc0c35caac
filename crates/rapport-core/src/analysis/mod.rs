//! Answers to the five questions of relationship strategy (`DOMAIN.md`
//! section 4), as pure functions over decoded documents: the gap report
//! and its findings, the agenda, and the relationship map.
//!
//! Time is passed in; nothing here reads a clock or a file.

pub mod agenda;
pub mod gap;
pub mod map;

pub use gap::{Finding, GapReport, Severity};

#[cfg(test)]
mod tests;
