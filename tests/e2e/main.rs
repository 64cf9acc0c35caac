//! End-to-end tests: the real `rapport` binary against temporary homes.

mod basics;
mod concurrency;
mod corruption;
mod harness;
mod snapshots;
