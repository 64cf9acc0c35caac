//! What one small automerge document costs in memory, as the relay holds
//! thousands (one per client document in `relay-load`): N documents built
//! the way `relay-load` builds them (an owner, then three rounds of one
//! edit), each applied to a fresh `Automerge` as a relay receives them
//! (`apply`) or loaded from its saved bytes as a relay opens a stored
//! document (`load`), and the resident memory they add. Usage:
//! `cargo run --release -p rapport-bench --example doc_memory -- [N] [apply|load]`

use automerge::{AutoCommit, Automerge, ROOT, transaction::Transactable};

/// Resident memory, from `/proc/self/status`.
fn resident_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let field = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .ok_or_else(|| anyhow::anyhow!("no VmRSS in /proc/self/status"))?;
    Ok(field.trim().trim_end_matches("kB").trim().parse()?)
}

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args().nth(1).map_or(Ok(2500), |s| s.parse())?;
    let load = match std::env::args().nth(2).as_deref() {
        None | Some("apply") => false,
        Some("load") => true,
        Some(other) => anyhow::bail!("unknown way {other}: apply or load"),
    };
    let before = resident_kib()?;
    // Held boxed, as a relay holds each document behind its own pointer,
    // so the vector's growth is not counted.
    let mut docs: Vec<Box<Automerge>> = Vec::with_capacity(n);
    for i in 0..n {
        let mut client = AutoCommit::new();
        client.put(ROOT, "owner", format!("client {i} doc 0"))?;
        for round in 0..3 {
            client.put(ROOT, "round", round as i64)?;
            client.commit();
        }
        let doc = if load {
            Automerge::load(&client.save())?
        } else {
            let mut doc = Automerge::new();
            doc.apply_changes(client.get_changes(&[]))?;
            doc
        };
        docs.push(Box::new(doc));
    }
    let added = resident_kib()?.saturating_sub(before);
    let saved: usize = docs.iter().map(|d| d.save().len()).sum();
    println!(
        "{n} documents: {added} KiB resident, {} bytes each ({} of them the Automerge struct itself); {} bytes each saved",
        added * 1024 / n.max(1) as u64,
        std::mem::size_of::<Automerge>(),
        saved / n.max(1),
    );
    Ok(())
}
