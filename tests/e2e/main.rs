//! End-to-end tests: the real `rapport` binary against temporary homes.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used)]

mod basics;
mod concurrency;
mod corruption;
mod harness;
mod kill;
mod relay_kill;
mod snapshots;
mod team;
mod views;
