//! Reads automerge files with `rapport_core::scan` and with a load, and
//! reports for each: read alike, refused (and why), or a difference or a
//! panic, which make it exit 1.
//!
//! Run: `cargo run --release -p rapport-bench --example scan_files -- FILE...`
//! (e.g. automerge's own fixtures and fuzz crashers,
//! `vendor/automerge/tests/fixtures/* vendor/automerge/tests/fuzz-crashers/*`,
//! and the snapshots of a workspace, `$RAPPORT_HOME/store/*/*/snapshot/*`).

use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::AutoCommit;
use rapport_core::doc::{DocData, Parts};

fn main() -> std::process::ExitCode {
    let (mut alike, mut refused, mut bad) = (0, 0, 0);
    for path in std::env::args().skip(1) {
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let scanned = catch_unwind(AssertUnwindSafe(|| rapport_core::scan::read_saved(&bytes)));
        let loaded = catch_unwind(AssertUnwindSafe(|| {
            let doc = AutoCommit::load(&bytes).ok()?;
            DocData::read(&doc, Parts::ALL).ok()
        }))
        .ok()
        .flatten();
        let json = |d: &DocData| serde_json::to_value(d).ok();
        match scanned {
            Err(_) => {
                bad += 1;
                println!("PANIC {path}");
            }
            Ok(Err(why)) => {
                refused += 1;
                println!("refused {path}: {why}");
            }
            Ok(Ok(data)) => match loaded {
                Some(l) if json(&l) == json(&data) => alike += 1,
                Some(_) => {
                    bad += 1;
                    println!("DIFFERS {path}");
                }
                None => {
                    bad += 1;
                    println!("READ, but the load refuses it: {path}");
                }
            },
        }
    }
    println!("{alike} read as loaded, {refused} refused, {bad} differ or panic");
    if bad > 0 {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
