//! Peak memory of the phases of a cold read (a document loaded with
//! automerge, then decoded), one phase per process since the peak only
//! grows. Usage:
//! `cargo run --release -p rapport-bench --example load_memory -- STORE/xx/yyyy/snapshot/HASH [load|people|all]`

use anyhow::Context as _;
use automerge::{Automerge, ReadDoc};
use rapport_core::doc::{DocData, Parts};

/// Peak and current resident memory, from `/proc/self/status`.
fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or("?")
            .to_string()
    };
    format!(
        "peak {:>12}  resident {:>12}",
        field("VmHWM:"),
        field("VmRSS:")
    )
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .context("usage: load_memory CHUNK_FILE [load|people|all]")?;
    let phase = args.next().unwrap_or_else(|| "load".into());
    let bytes = std::fs::read(&path).with_context(|| format!("could not read {path}"))?;
    println!("bytes read            {}", memory());
    let doc = Automerge::load(&bytes)?;
    drop(bytes);
    let stats = doc.stats();
    println!(
        "automerge load        {}  ({} changes, {} ops)",
        memory(),
        stats.num_changes,
        stats.num_ops
    );
    let parts = match phase.as_str() {
        "load" => return Ok(()),
        "people" => Parts::PEOPLE,
        "all" => Parts::ALL,
        other => anyhow::bail!("unknown phase {other}: load, people or all"),
    };
    let data = DocData::read(&doc, parts)?;
    println!(
        "DocData::read ({phase:<6}) {}  ({} people, {} activities)",
        memory(),
        data.people.len(),
        data.activities.len()
    );
    Ok(())
}
