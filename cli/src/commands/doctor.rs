//! `rapport doctor`: check every document; `--repair` quarantines damaged
//! chunk files (moves them aside, never deletes them).

use rapport_core::doc::{DocData, Parts};
use serde::Serialize;

use crate::ctx::{Config, Ctx};
use crate::output::plural;
use crate::workspace::open_store;

#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  rapport doctor\n  rapport doctor --repair\n  rapport doctor --compact"
)]
pub struct Args {
    /// Move damaged chunk files to the store's .quarantine directory.
    #[arg(long)]
    repair: bool,
    /// Compact every healthy document into one snapshot.
    #[arg(long)]
    compact: bool,
}

#[derive(Serialize)]
struct Finding {
    doc: rapport_core::DocId,
    path: String,
    problem: String,
    quarantined_to: Option<String>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let store = open_store(ctx);
    let config = Config::load(&ctx.paths.config)?;
    let mut findings = Vec::new();
    let docs = store.docs()?;
    for id in &docs {
        // A load reads and decodes every chunk: only a document that does
        // not load is checked chunk by chunk, to find the file to blame
        // (each chunk decoded alone took as long as the load, and doubled
        // the time of a healthy workspace's check).
        let loaded = match store.load(id) {
            Ok(loaded) => Ok(loaded),
            Err(error) => {
                for problem in store.check(id)? {
                    let quarantined_to = if args.repair {
                        Some(store.quarantine(&problem.key)?)
                    } else {
                        None
                    };
                    findings.push(Finding {
                        doc: *id,
                        path: problem.path,
                        problem: problem.reason,
                        quarantined_to,
                    });
                }
                if args.repair {
                    store.load(id)
                } else {
                    Err(error)
                }
            }
        };
        match loaded {
            Ok(loaded) => match DocData::read(&loaded.doc, Parts::ALL) {
                Ok(data) => {
                    let editable = rapport_core::doc::check_editable(&loaded.doc);
                    for p in data.problems.into_iter().chain(editable) {
                        findings.push(Finding {
                            doc: *id,
                            path: format!("{} {}", p.collection, p.key),
                            problem: format!("unreadable record: {}", p.error),
                            quarantined_to: None,
                        });
                    }
                    drop(loaded);
                    if args.compact {
                        store.compact(id)?;
                    }
                }
                Err(e) => findings.push(Finding {
                    doc: *id,
                    path: id.to_string(),
                    problem: e.to_string(),
                    quarantined_to: None,
                }),
            },
            Err(e) if !args.repair => {
                if findings.iter().all(|f| f.doc != *id) {
                    findings.push(Finding {
                        doc: *id,
                        path: id.to_string(),
                        problem: e.to_string(),
                        quarantined_to: None,
                    });
                }
            }
            Err(e) => findings.push(Finding {
                doc: *id,
                path: id.to_string(),
                problem: format!("still unreadable after repair: {e}"),
                quarantined_to: None,
            }),
        }
    }
    if let Some(personal) = config.personal_doc()?
        && !docs.contains(&personal)
    {
        findings.push(Finding {
            doc: personal,
            path: ctx.paths.config.display().to_string(),
            problem: "the personal document has no chunks in the store".into(),
            quarantined_to: None,
        });
    }
    let out = &ctx.out;
    if out.json {
        out.json(&serde_json::json!({ "documents": docs.len(), "findings": findings }))?;
    } else {
        for f in &findings {
            out.line(format!("{}: {}", f.path, f.problem))?;
            if let Some(q) = &f.quarantined_to {
                out.line(format!("  moved to {q}"))?;
            }
        }
        out.line(format!(
            "{} checked, {} found.",
            plural(docs.len(), "document"),
            plural(findings.len(), "problem")
        ))?;
        if !findings.is_empty() && !args.repair {
            out.line("Run `rapport doctor --repair` to move damaged files aside.")?;
        }
    }
    let unrepaired = findings.iter().any(|f| f.quarantined_to.is_none());
    if unrepaired {
        return Err(crate::error::user(format!(
            "{} found",
            plural(findings.len(), "problem")
        )));
    }
    Ok(())
}
