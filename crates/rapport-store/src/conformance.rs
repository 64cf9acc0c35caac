//! The conformance suite every backend must pass, run against the directory
//! backend and the in-memory one.

use std::collections::BTreeSet;

use automerge::AutoCommit;
use rapport_core::doc::{self, Collection, DocData, Parts};
use rapport_core::model::{Account, Person};
use rapport_core::{Notes, RecordId};

use crate::{Backend, ChunkKey, ChunkKind, Store, StoreError};

fn account(name: &str) -> Account {
    Account {
        name: name.into(),
        domain: None,
        industry: None,
        target: true,
        icp_fit: None,
        icp_score: Some(4),
        desired_level: None,
        notes: Notes::new("first notes"),
        archived: false,
        created: None,
    }
}

fn init(doc: &mut AutoCommit) -> Result<(), rapport_core::Error> {
    doc::init_account(doc, &account("Acme"))
}

fn add_person<B: Backend>(store: &Store<B>, id: &rapport_core::DocId, name: &str) -> RecordId {
    let mut loaded = store.load(id).unwrap();
    let rid = RecordId::random();
    doc::put_record(
        &mut loaded.doc,
        Collection::People,
        &rid,
        &Person::named(name),
    )
    .unwrap();
    assert_eq!(
        store.save(&mut loaded).unwrap(),
        1,
        "one change per command"
    );
    rid
}

fn names<B: Backend>(store: &Store<B>, id: &rapport_core::DocId) -> BTreeSet<String> {
    let loaded = store.load(id).unwrap();
    DocData::read(&loaded.doc, Parts::ALL)
        .unwrap()
        .people
        .values()
        .map(|p| p.name.clone())
        .collect()
}

pub fn round_trip<B: Backend>(make: &dyn Fn() -> B) {
    let store = Store::new(make());
    let created = store.create(init).unwrap();
    add_person(&store, &created.id, "Ana");
    let fresh = Store::new(make());
    let loaded = fresh.load(&created.id).unwrap();
    let data = DocData::read(&loaded.doc, Parts::ALL).unwrap();
    assert_eq!(data.account.unwrap().name, "Acme");
    assert_eq!(data.people.len(), 1);
    assert_eq!(fresh.docs().unwrap(), vec![created.id]);
    assert_eq!(loaded.chunks().len(), 2, "the creation and one edit");
    // A chunk's length, without reading it, is its bytes' length.
    for key in loaded.chunks() {
        let bytes = fresh.read_chunk(key).unwrap().unwrap();
        assert_eq!(fresh.chunk_len(key).unwrap(), Some(bytes.len() as u64));
    }
    let mut gone = loaded.chunks()[0].clone();
    gone.name = "not-there".into();
    assert_eq!(fresh.chunk_len(&gone).unwrap(), None);
}

pub fn missing_document<B: Backend>(make: &dyn Fn() -> B) {
    let store = Store::new(make());
    let err = store.load(&rapport_core::DocId::random()).err().unwrap();
    assert!(matches!(err, StoreError::NotFound(_)), "{err}");
}

pub fn concurrent_writers<B: Backend + 'static>(make: &(dyn Fn() -> B + Sync)) {
    // Compacting after 3 chunks makes the writers race compactions too.
    let id = Store::new(make()).create(init).unwrap().id;
    std::thread::scope(|s| {
        for i in 0..20 {
            s.spawn(move || {
                let store = Store::new(make()).with_compact_after(3);
                add_person(&store, &id, &format!("writer {i}"));
            });
        }
    });
    let got = names(&Store::new(make()), &id);
    let want: BTreeSet<String> = (0..20).map(|i| format!("writer {i}")).collect();
    assert_eq!(got, want, "every concurrent write landed");
}

pub fn corrupt_chunk<B: Backend>(make: &dyn Fn() -> B) {
    let store = Store::new(make());
    let id = store.create(init).unwrap().id;
    add_person(&store, &id, "Ana");
    let bad = ChunkKey {
        doc: id,
        kind: ChunkKind::Incremental,
        name: "ff".repeat(32),
    };
    store
        .backend()
        .put(&bad, b"\x85\x6f\x4a\x83 this is not automerge")
        .unwrap();
    let err = store.load(&id).err().unwrap();
    match &err {
        StoreError::Corrupt { path, .. } => assert!(path.contains(&"ff".repeat(32)), "{err}"),
        other => panic!("expected corruption, got {other}"),
    }
    let problems = store.check(&id).unwrap();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].key, bad);
    store.quarantine(&bad).unwrap();
    assert_eq!(
        names(&store, &id),
        BTreeSet::from(["Ana".to_string()]),
        "the rest loads after repair"
    );
}

pub fn empty_chunk<B: Backend>(make: &dyn Fn() -> B) {
    let store = Store::new(make());
    let id = store.create(init).unwrap().id;
    let empty = ChunkKey {
        doc: id,
        kind: ChunkKind::Snapshot,
        name: "00".repeat(32),
    };
    store.backend().put(&empty, b"").unwrap();
    let err = store.load(&id).err().unwrap();
    assert!(err.to_string().contains("0 bytes"), "{err}");
    assert!(
        err.to_string().contains(&"00".repeat(32)),
        "names the file: {err}"
    );
}

pub fn compaction<B: Backend>(make: &dyn Fn() -> B) {
    let store = Store::new(make()).with_compact_after(1000);
    let id = store.create(init).unwrap().id;
    for i in 0..10 {
        add_person(&store, &id, &format!("p{i}"));
    }
    let before = names(&store, &id);
    let report = store.compact(&id).unwrap();
    assert_eq!(report.chunks_before, 11);
    assert_eq!(
        store.backend().list(&id, ChunkKind::Incremental).unwrap(),
        Vec::<String>::new()
    );
    let snapshots = store.backend().list(&id, ChunkKind::Snapshot).unwrap();
    let mut loaded = store.load(&id).unwrap();
    assert_eq!(
        snapshots,
        vec![crate::snapshot_name(&loaded.doc.get_heads())]
    );
    assert_eq!(names(&store, &id), before);
    // Writes after a compaction append to it.
    add_person(&store, &id, "after");
    assert_eq!(names(&store, &id).len(), 11);
    // Automatic compaction keeps the chunk count bounded.
    let auto = Store::new(make()).with_compact_after(4);
    for i in 0..10 {
        add_person(&auto, &id, &format!("auto {i}"));
    }
    assert!(auto.load(&id).unwrap().chunks().len() <= 5);
    assert_eq!(names(&auto, &id).len(), 21);
}

pub fn independent_documents<B: Backend>(make: &dyn Fn() -> B) {
    let store = Store::new(make());
    let a = store.create(init).unwrap().id;
    let b = store.create(init).unwrap().id;
    add_person(&store, &a, "only in a");
    assert!(names(&store, &b).is_empty());
    store.purge(&a).unwrap();
    assert!(matches!(store.load(&a), Err(StoreError::NotFound(_))));
    assert_eq!(store.docs().unwrap(), vec![b]);
}

/// What a sync brings in is stored: a few changes as chunks, a whole new
/// document as one snapshot, and a document with both loads as the union.
pub fn absorb<B: Backend>(make: &dyn Fn() -> B) {
    let theirs = Store::new(make()).with_compact_after(4);
    let created = theirs.create(init).unwrap();
    for i in 0..6 {
        add_person(&theirs, &created.id, &format!("P{i}"));
    }
    // A second store (another machine) receives the whole document.
    let ours = Store::new(make()).with_compact_after(4);
    let other_id = rapport_core::DocId::random();
    let mut fetched = theirs.load(&created.id).unwrap().doc.fork();
    let first = ours.absorb(&other_id, &mut fetched, &[]).unwrap();
    assert_eq!(first.changes, 7);
    assert_eq!(
        ours.list_chunks(&other_id).unwrap(),
        first.written,
        "one snapshot, and absorb says which"
    );
    assert_eq!(names(&ours, &other_id).len(), 6);
    // Then one more change arrives: one incremental chunk beside it.
    let before = fetched.get_heads();
    doc::put_record(
        &mut fetched,
        Collection::People,
        &RecordId::random(),
        &Person::named("Q"),
    )
    .unwrap();
    let second = ours.absorb(&other_id, &mut fetched, &before).unwrap();
    assert_eq!(second.changes, 1);
    let mut both = [first.written, second.written].concat();
    both.sort();
    let mut listed = ours.list_chunks(&other_id).unwrap();
    listed.sort();
    assert_eq!(listed, both);
    // Nothing new: nothing written.
    let now = fetched.get_heads();
    assert_eq!(
        ours.absorb(&other_id, &mut fetched, &now).unwrap(),
        crate::Absorbed::default()
    );
    assert!(names(&ours, &other_id).contains("Q"));
}

macro_rules! suite {
    ($name:ident, $setup:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[test]
            fn round_trip() {
                let (_guard, make) = $setup;
                super::round_trip(&make);
            }
            #[test]
            fn missing_document() {
                let (_guard, make) = $setup;
                super::missing_document(&make);
            }
            #[test]
            fn twenty_concurrent_writers() {
                let (_guard, make) = $setup;
                super::concurrent_writers(&make);
            }
            #[test]
            fn corrupt_chunk() {
                let (_guard, make) = $setup;
                super::corrupt_chunk(&make);
            }
            #[test]
            fn empty_chunk() {
                let (_guard, make) = $setup;
                super::empty_chunk(&make);
            }
            #[test]
            fn compaction() {
                let (_guard, make) = $setup;
                super::compaction(&make);
            }
            #[test]
            fn absorb() {
                let (_guard, make) = $setup;
                super::absorb(&make);
            }
            #[test]
            fn independent_documents() {
                let (_guard, make) = $setup;
                super::independent_documents(&make);
            }
        }
    };
}

suite!(on_disk, {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    (dir, move || crate::FsBackend::new(root.clone()))
});

suite!(in_memory, {
    let shared = crate::MemBackend::new();
    ((), move || shared.clone())
});

#[test]
fn on_disk_layout_matches_automerge_repo() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::new(crate::FsBackend::new(dir.path()));
    let mut created = store.create(init).unwrap();
    let bs58 = created.id.to_bs58();
    let change = created.doc.get_heads()[0].to_string();
    let path = dir
        .path()
        .join(&bs58[..2])
        .join(&bs58[2..])
        .join("incremental")
        .join(change);
    assert!(path.is_file(), "{} missing", path.display());
    let bytes = std::fs::read(path).unwrap();
    assert!(AutoCommit::load(&bytes).is_ok());
}

#[test]
fn a_chunk_folder_lists_its_files_only_all_of_them_sorted() {
    use crate::{Backend as _, ChunkKind};
    let dir = tempfile::tempdir().unwrap();
    let backend = crate::FsBackend::new(dir.path());
    let id = rapport_core::DocId::from_bytes([3; 16]);
    assert!(
        backend
            .list(&id, ChunkKind::Incremental)
            .unwrap()
            .is_empty()
    );
    let bs58 = id.to_bs58();
    let folder = dir
        .path()
        .join(&bs58[..2])
        .join(&bs58[2..])
        .join("incremental");
    std::fs::create_dir_all(folder.join("a-folder")).unwrap();
    // More names than one read of the folder returns.
    let mut expected: Vec<String> = (0..300).map(|i| format!("{:064x}", i * 7919)).collect();
    for name in &expected {
        std::fs::write(folder.join(name), b"x").unwrap();
    }
    std::fs::write(folder.join(".partial"), b"x").unwrap();
    std::os::unix::fs::symlink(folder.join(&expected[0]), folder.join("a-link")).unwrap();
    expected.sort();
    assert_eq!(backend.list(&id, ChunkKind::Incremental).unwrap(), expected);
    assert!(backend.list(&id, ChunkKind::Snapshot).unwrap().is_empty());
}
