//! Writes an account document of the bench's records (`rapport-bench`'s
//! generator), each written by a change of its own, as months of `rapport
//! log add`, `person add` and the like write them (the bench writes each
//! document in one change), saved whole: to measure what loading a long
//! history costs (`load_memory`). Usage:
//! `cargo run --release -p rapport-bench --example history_doc -- RECORDS OUT_FILE`

use anyhow::Context as _;
use automerge::AutoCommit;
use rapport_core::doc;
use rapport_core::model::Account;

// The generator's own code, so the records are those of the bench.
#[path = "../src/generate.rs"]
#[allow(dead_code)]
mod generate;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: history_doc RECORDS OUT_FILE";
    let records: usize = args.next().context(usage)?.parse().context(usage)?;
    let out = args.next().context(usage)?;
    let mut d = AutoCommit::new();
    doc::init_account(&mut d, &Account::named(generate::BIG_ACCOUNT))?;
    d.commit();
    generate::fill(&mut d, records, generate::History::ChangePerRecord)?;
    let bytes = d.save();
    std::fs::write(&out, &bytes).with_context(|| format!("could not write {out}"))?;
    println!(
        "{records} records, one change each, {} bytes: {out}",
        bytes.len()
    );
    Ok(())
}
