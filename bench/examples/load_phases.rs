//! Where the time of reading one document goes: automerge load, hydrate,
//! our two decoders, and the field index an edit needs (with and without
//! the activity log); and what the relay's panic guard pays to copy it
//! (vendor/samod-core/PATCHED.md). Usage:
//! `cargo run --release -p rapport-bench --example load_phases -- STORE/xx/yyyy/snapshot/HASH`

use std::time::Instant;

use anyhow::Context as _;
use automerge::Automerge;
use rapport_core::doc::{DocData, Parts};

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .context("usage: load_phases CHUNK_FILE")?;
    let bytes = std::fs::read(&path).with_context(|| format!("could not read {path}"))?;
    let t = Instant::now();
    let doc = Automerge::load(&bytes)?;
    println!("automerge load          {:?}", t.elapsed());
    let t = Instant::now();
    let copy = doc.clone();
    println!("clone (relay's guard)   {:?}", t.elapsed());
    drop(copy);
    let t = Instant::now();
    let _unverified = Automerge::load_unverified_heads(&bytes)?;
    println!("load, unverified heads  {:?}", t.elapsed());
    let t = Instant::now();
    let _tree = doc.hydrate(None);
    println!("hydrate everything      {:?}", t.elapsed());
    let t = Instant::now();
    let data = DocData::read(&doc, Parts::ALL)?;
    println!(
        "DocData::read (all)     {:?}  ({} activities)",
        t.elapsed(),
        data.activities.len()
    );
    let t = Instant::now();
    let _ = DocData::read(&doc, Parts::PEOPLE)?;
    println!("DocData::read (people)  {:?}", t.elapsed());
    let mut doc = automerge::AutoCommit::load(&bytes)?;
    let t = Instant::now();
    let _index = rapport_store::fields::FieldIndex::build(&mut doc);
    println!("FieldIndex::build       {:?}", t.elapsed());
    let t = Instant::now();
    let _index = rapport_store::fields::FieldIndex::build_with_activities(&mut doc);
    println!("  with the activity log {:?}", t.elapsed());
    Ok(())
}
