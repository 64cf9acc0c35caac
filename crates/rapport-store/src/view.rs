//! Materialized views: a document's decoded records, saved beside the
//! store so reads need not load automerge.
//!
//! A view is valid only for the exact set of chunks it was built from
//! (chunk names are content hashes, so listing them is enough to tell), and
//! is never written into the store itself. The documents stay the only
//! source of truth: deleting every view changes no output. A view that is
//! stale, unreadable, or from another format version is ignored and
//! rebuilt.

use std::io::Write as _;
use std::path::PathBuf;

use rapport_core::DocId;
use rapport_core::doc::DocData;
use serde::{Deserialize, Serialize};

use crate::backend::ChunkKey;

/// Bump when the view format or the meaning of `DocData` changes.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct ViewFile {
    version: u32,
    /// `kind/name` of every chunk the view was built from, sorted.
    chunks: Vec<String>,
    data: DocData,
    /// The document's first change (it creates the collection maps), so a
    /// new record can be added without loading the document.
    #[serde(default)]
    genesis: Option<Vec<u8>>,
}

/// A valid view.
pub struct View {
    pub data: DocData,
    pub genesis: Option<Vec<u8>>,
}

/// A directory of views, one file per document.
#[derive(Debug, Clone)]
pub struct Views {
    dir: PathBuf,
}

fn fingerprint(chunks: &[ChunkKey]) -> Vec<String> {
    let mut names: Vec<String> = chunks
        .iter()
        .map(|k| format!("{}/{}", k.kind.as_str(), k.name))
        .collect();
    names.sort();
    names
}

impl Views {
    pub fn new(dir: impl Into<PathBuf>) -> Views {
        Views { dir: dir.into() }
    }

    fn path(&self, id: &DocId) -> PathBuf {
        self.dir.join(format!("{}.json", id.to_bs58()))
    }

    /// The view of `id`, if one exists for exactly these chunks.
    pub fn read(&self, id: &DocId, chunks: &[ChunkKey]) -> Option<View> {
        let bytes = std::fs::read(self.path(id)).ok()?;
        let view: ViewFile = serde_json::from_slice(&bytes).ok()?;
        (view.version == VERSION && view.chunks == fingerprint(chunks)).then_some(View {
            data: view.data,
            genesis: view.genesis,
        })
    }

    /// Saves a view built from `chunks` (atomically; failures are only a
    /// lost cache, so they are returned for logging, not fatal).
    pub fn write(
        &self,
        id: &DocId,
        chunks: &[ChunkKey],
        data: &DocData,
        genesis: Option<&[u8]>,
    ) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let view = ViewFile {
            version: VERSION,
            chunks: fingerprint(chunks),
            data: data.clone(),
            genesis: genesis.map(<[u8]>::to_vec),
        };
        let bytes = serde_json::to_vec(&view).map_err(std::io::Error::other)?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)?;
        tmp.write_all(&bytes)?;
        tmp.persist(self.path(id)).map_err(|e| e.error)?;
        Ok(())
    }

    /// Forgets a document's view.
    pub fn remove(&self, id: &DocId) {
        let _ = std::fs::remove_file(self.path(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ChunkKind;

    fn key(name: &str) -> ChunkKey {
        ChunkKey {
            doc: DocId::from_bytes([7; 16]),
            kind: ChunkKind::Incremental,
            name: name.into(),
        }
    }

    #[test]
    fn a_view_is_served_only_for_its_exact_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let views = Views::new(dir.path());
        let id = DocId::from_bytes([7; 16]);
        let data = DocData {
            schema: 1,
            ..DocData::default()
        };
        views
            .write(&id, &[key("a"), key("b")], &data, None)
            .unwrap();
        assert!(
            views.read(&id, &[key("b"), key("a")]).is_some(),
            "order does not matter"
        );
        assert!(views.read(&id, &[key("a")]).is_none(), "a chunk gone");
        assert!(
            views.read(&id, &[key("a"), key("b"), key("c")]).is_none(),
            "a chunk added"
        );
        std::fs::write(views.path(&id), b"{ not json").unwrap();
        assert!(
            views.read(&id, &[key("a"), key("b")]).is_none(),
            "corrupt views are ignored"
        );
        views.remove(&id);
        assert!(views.read(&id, &[key("a"), key("b")]).is_none());
    }
}
