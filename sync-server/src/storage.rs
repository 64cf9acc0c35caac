//! A check of the document store when the relay starts: every chunk is
//! decoded on its own (panics included, contained); an unreadable chunk is
//! logged, counted, and moved to `<data_dir>/quarantine/` (never deleted),
//! so samod does not load a damaged document and a client that has those
//! changes sends them again.
//!
//! The layout is automerge-repo's: `docs/<2 chars>/<rest of id>/<kind>/<name>`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// What the check found.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ScanReport {
    pub documents: usize,
    pub chunks: usize,
    /// Where each unreadable chunk was moved, and why.
    pub quarantined: Vec<(PathBuf, String)>,
}

fn chunk_problem(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() {
        return Some("the file is empty (0 bytes)".into());
    }
    let mut doc = automerge::Automerge::new();
    match catch_unwind(AssertUnwindSafe(|| doc.load_incremental(bytes))) {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(format!("not an automerge chunk: {e}")),
        Err(_) => Some("automerge panicked while decoding it".into()),
    }
}

fn dirs(path: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default()
}

/// Checks every chunk under `docs_dir`; moves unreadable ones under
/// `quarantine_dir`, keeping their relative path.
pub fn scan(docs_dir: &Path, quarantine_dir: &Path) -> std::io::Result<ScanReport> {
    let mut report = ScanReport::default();
    for head in dirs(docs_dir) {
        for doc in dirs(&head) {
            report.documents += 1;
            for kind in ["snapshot", "incremental"] {
                let Ok(entries) = std::fs::read_dir(doc.join(kind)) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let path = entry.path();
                    if !path.is_file() {
                        continue;
                    }
                    report.chunks += 1;
                    let Some(reason) = std::fs::read(&path)
                        .map_or_else(|e| Some(e.to_string()), |b| chunk_problem(&b))
                    else {
                        continue;
                    };
                    let relative = path.strip_prefix(docs_dir).unwrap_or(&path);
                    let target = quarantine_dir.join(relative);
                    if let Some(parent) = target.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    std::fs::rename(&path, &target)?;
                    tracing::error!(chunk = %path.display(), moved_to = %target.display(), %reason, "unreadable chunk quarantined");
                    report.quarantined.push((target, reason));
                }
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_chunks_are_moved_aside_and_good_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let docs = dir.path().join("docs");
        let inc = docs.join("ab").join("cdef").join("incremental");
        std::fs::create_dir_all(&inc).unwrap();
        let mut doc = automerge::AutoCommit::new();
        automerge::transaction::Transactable::put(&mut doc, automerge::ROOT, "k", "v").unwrap();
        std::fs::write(inc.join("good"), doc.save()).unwrap();
        std::fs::write(inc.join("empty"), b"").unwrap();
        std::fs::write(inc.join("garbage"), b"\x85\x6f\x4a\x83 nope").unwrap();
        let report = scan(&docs, &dir.path().join("quarantine")).unwrap();
        assert_eq!(
            (report.documents, report.chunks, report.quarantined.len()),
            (1, 3, 2)
        );
        assert!(inc.join("good").exists());
        assert!(!inc.join("empty").exists() && !inc.join("garbage").exists());
        assert!(
            dir.path()
                .join("quarantine/ab/cdef/incremental/garbage")
                .exists(),
            "moved, not deleted"
        );
    }
}
