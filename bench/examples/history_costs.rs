//! What automerge's history queries cost on a big document, to choose the
//! ones sync and `rapport status` use. Usage:
//! `cargo run --release -p rapport-bench --example history_costs -- CHUNK_FILE...`
//! (all chunk files of one document).

use std::time::Instant;

use anyhow::Context as _;
use automerge::{AutoCommit, ReadDoc as _};

fn main() -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    for path in std::env::args().skip(1) {
        bytes.extend(std::fs::read(&path).with_context(|| format!("could not read {path}"))?);
    }
    let t = Instant::now();
    let mut doc = AutoCommit::load(&bytes)?;
    println!("load                       {:?}", t.elapsed());
    let heads = doc.get_heads();
    let t = Instant::now();
    let _ = doc.get_missing_deps(&heads);
    println!("get_missing_deps(heads)    {:?}", t.elapsed());
    let t = Instant::now();
    let n = doc.stats().num_changes;
    println!("stats().num_changes        {:?}  ({n})", t.elapsed());
    let t = Instant::now();
    let _ = doc.get_change_by_hash(&heads[0]);
    println!("get_change_by_hash(head)   {:?}", t.elapsed());
    let t = Instant::now();
    let c = doc.get_changes(&heads).len();
    println!("get_changes(heads)         {:?}  ({c})", t.elapsed());
    let t = Instant::now();
    let c = doc.get_changes_meta(&heads).len();
    println!("get_changes_meta(heads)    {:?}  ({c})", t.elapsed());
    let t = Instant::now();
    let c = doc.get_changes_meta(&[]).len();
    println!("get_changes_meta([])       {:?}  ({c})", t.elapsed());
    let t = Instant::now();
    let c = doc.get_changes(&[]).len();
    println!("get_changes([])            {:?}  ({c})", t.elapsed());
    Ok(())
}
