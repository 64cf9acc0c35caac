//! Loads each file named on the command line with the automerge this
//! binary is built against, and prints one line per file: the error, or
//! the heads, the number of changes, a digest of the document as JSON
//! (`AutoSerde`, keys in order) and of its saved bytes. Built twice, against
//! automerge 0.12.0 from crates.io (`upstream/`) and against the vendored,
//! patched copy (`patched/`); `run.sh` diffs the two outputs. See
//! `vendor/automerge/PATCHED.md`.

use automerge::Automerge;

fn main() {
    for path in std::env::args().skip(1) {
        let name = path.rsplit('/').next().unwrap_or(&path).to_string();
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) => {
                println!("{name} unreadable: {e}");
                continue;
            }
        };
        let line = std::panic::catch_unwind(|| describe(&bytes));
        match line {
            Ok(line) => println!("{name} {line}"),
            Err(_) => println!("{name} PANIC"),
        }
    }
}

fn describe(bytes: &[u8]) -> String {
    match Automerge::load(bytes) {
        Ok(doc) => {
            let json = serde_json::to_string(&automerge::AutoSerde::from(&doc))
                .unwrap_or_else(|e| format!("unserializable: {e}"));
            let saved = doc.save();
            format!(
                "ok heads={:?} changes={} json={}:{:016x} saved={}:{:016x}",
                doc.get_heads(),
                doc.get_changes(&[]).len(),
                json.len(),
                digest(json.as_bytes()),
                saved.len(),
                digest(&saved),
            )
        }
        Err(e) => format!("err {e}"),
    }
}

/// FNV-1a: a digest to compare, not a checksum to trust.
fn digest(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
