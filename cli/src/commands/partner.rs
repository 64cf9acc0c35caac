//! `rapport partner`: partnerships, with a person or an account. Shared
//! vision and goals, commitments from each side, risks, and a next review.

use clap::Subcommand;
use rapport_core::doc::{self, Collection, DocData, Parts};
use rapport_core::enums::{CommitmentStatus, Party};
use rapport_core::model::{Commitment, Partnership};
use rapport_core::resolve::{Candidate, resolve};
use rapport_core::values::validate_name;
use rapport_core::{Notes, RecordId};

use super::{apply, cell, day_edit, parse_day, parse_opt};
use crate::ctx::Ctx;
use crate::error::{user, user_hint};
use crate::render::archived_mark;
use crate::render::{Rec, person_name};
use crate::workspace::{Doc, Named, Workspace, find_person};

#[derive(Subcommand)]
#[command(defer = true)]
pub enum Cmd {
    /// Add a partnership with an account (or, with --person, with one person).
    #[command(
        after_help = "Example:\n  rapport partner add \"Acme co-delivery\" --account Acme --vision \"One logistics offer for mid-size retailers\" \\\n      --goal \"two joint clients in 2027\" --risk \"their sales team sees us as competition\" --next-review +90d"
    )]
    Add {
        name: String,
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        person: Option<String>,
        #[command(flatten)]
        fields: Fields,
    },
    /// List partnerships.
    #[command(after_help = "Example:\n  rapport partner list --json")]
    List {
        #[arg(long)]
        account: Option<String>,
        /// Include archived records.
        #[arg(long)]
        all: bool,
    },
    /// Show a partnership with its commitments.
    #[command(after_help = "Example:\n  rapport partner show co-delivery")]
    Show {
        partnership: String,
        #[arg(long)]
        account: Option<String>,
    },
    /// Change a partnership: --goal and --risk add to the lists.
    #[command(
        after_help = "Example:\n  rapport partner edit co-delivery --goal \"a joint case study\" --next-review 2027-03-01"
    )]
    Edit {
        partnership: String,
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        fields: Fields,
        /// Remove a goal (exact text, repeatable).
        #[arg(long)]
        remove_goal: Vec<String>,
        /// Remove a risk (exact text, repeatable).
        #[arg(long)]
        remove_risk: Vec<String>,
    },
    /// Archive a partnership; `--restore` undoes it, `--purge` deletes it.
    #[command(after_help = "Example:\n  rapport partner archive co-delivery")]
    Archive {
        partnership: String,
        #[arg(long)]
        account: Option<String>,
        /// Bring an archived record back.
        #[arg(long)]
        restore: bool,
        /// Delete for good instead of archiving.
        #[arg(long, conflicts_with = "restore")]
        purge: bool,
    },
    /// Commitments: who owes what, by when, kept or missed.
    #[command(subcommand)]
    Commitment(CommitmentCmd),
}

#[derive(Subcommand)]
#[command(defer = true)]
pub enum CommitmentCmd {
    /// Add a commitment.
    #[command(
        after_help = "Example:\n  rapport partner commitment add co-delivery \"Share the pipeline monthly\" --party us --due +30d"
    )]
    Add {
        partnership: String,
        what: String,
        #[arg(long)]
        account: Option<String>,
        /// Who owes it: us or them.
        #[arg(long, default_value = "us")]
        party: String,
        #[arg(long, allow_hyphen_values = true, value_name = "DATE")]
        due: Option<String>,
    },
    /// Mark a commitment kept, missed or open.
    #[command(
        after_help = "Example:\n  rapport partner commitment set co-delivery pipeline --status kept"
    )]
    Set {
        partnership: String,
        /// The commitment (words of it, or its id prefix).
        commitment: String,
        #[arg(long)]
        account: Option<String>,
        /// open, kept or missed.
        #[arg(long)]
        status: String,
    },
}

#[derive(clap::Args, Clone)]
pub struct Fields {
    /// The shared vision (replaces on edit).
    #[arg(long)]
    vision: Option<String>,
    /// A shared goal (repeatable).
    #[arg(long)]
    goal: Vec<String>,
    /// A risk (repeatable).
    #[arg(long)]
    risk: Vec<String>,
    #[arg(long, allow_hyphen_values = true, value_name = "DATE")]
    next_review: Option<String>,
    #[arg(long)]
    notes: Option<String>,
}

fn apply_fields(ctx: &Ctx, p: &mut Partnership, f: Fields) -> anyhow::Result<()> {
    if let Some(v) = &f.vision {
        p.vision.set(v);
    }
    for g in f.goal {
        p.goals.push(validate_name("goal", &g)?);
    }
    for r in f.risk {
        p.risks.push(validate_name("risk", &r)?);
    }
    apply(&mut p.next_review, day_edit(ctx, f.next_review.as_deref())?);
    if let Some(n) = &f.notes {
        p.notes.set(n);
    }
    Ok(())
}

fn named(data: &DocData) -> Vec<Named> {
    data.partnerships
        .iter()
        .map(|(id, p)| Named {
            id: id.clone(),
            name: p.name.clone(),
            email: None,
            archived: p.archived,
        })
        .collect()
}

fn find_partnership(
    ws: &Workspace,
    query: &str,
    account: Option<&str>,
) -> anyhow::Result<(Doc, RecordId)> {
    let parts = Parts {
        partnerships: true,
        people: true,
        ..Parts::NONE
    };
    ws.find_one(account, parts, "partnership", query, named)
}

fn partner_name(d: &Doc, p: &Partnership) -> String {
    p.person
        .as_ref()
        .map(|id| person_name(d, id))
        .unwrap_or_else(|| d.label())
}

pub fn run(ctx: &Ctx, cmd: Cmd) -> anyhow::Result<()> {
    let ws = Workspace::open(ctx)?;
    match cmd {
        Cmd::Add {
            name,
            account,
            person,
            fields,
        } => {
            let name = validate_name("name", &name)?;
            let (target, person_id) = match (account.as_deref(), person) {
                (_, Some(p)) => {
                    let mut docs = ws.read_scope(ws.scope(account.as_deref())?, Parts::PEOPLE)?;
                    let (i, pid) = find_person(&docs, &p)?;
                    (docs.swap_remove(i).id, Some(pid))
                }
                (Some(a), None) => (ws.resolve_account(a)?, None),
                (None, None) => {
                    return Err(user_hint(
                        "a partnership needs an --account or a --person",
                        "e.g. `rapport partner add NAME --account Acme`",
                    ));
                }
            };
            let mut p = Partnership {
                name,
                person: person_id,
                vision: Notes::default(),
                goals: Vec::new(),
                commitments: Default::default(),
                risks: Vec::new(),
                next_review: None,
                notes: Notes::default(),
                archived: false,
                created: Some(ctx.today),
            };
            apply_fields(ctx, &mut p, fields)?;
            let id = RecordId::random();
            ws.append(
                target,
                |am| Ok(doc::put_record(am, Collection::Partnerships, &id, &p)?),
                |data, _| {
                    data.partnerships.insert(id.clone(), p.clone());
                },
            )?;
            if ctx.out.json {
                return ctx
                    .out
                    .json(&serde_json::json!({ "id": id, "doc": target, "partnership": p }));
            }
            ctx.out
                .done(format!("Added partnership {} ({}).", p.name, id.short()))
        }
        Cmd::List { account, all } => {
            let docs = ws.read_scope(
                ws.scope(account.as_deref())?,
                Parts {
                    partnerships: true,
                    people: true,
                    ..Parts::NONE
                },
            )?;
            let mut rows: Vec<_> = docs
                .iter()
                .flat_map(|d| d.data.partnerships.iter().map(move |(id, p)| (d, id, p)))
                .filter(|(_, _, p)| all || !p.archived)
                .collect();
            rows.sort_by_cached_key(|(_, _, p)| p.name.to_lowercase());
            if ctx.out.json {
                return ctx.out.json(
                    &rows
                        .iter()
                        .map(|(d, id, p)| Rec::new(d, id, *p))
                        .collect::<Vec<_>>(),
                );
            }
            let table = rows
                .iter()
                .map(|(d, id, p)| {
                    let open = p
                        .commitments
                        .values()
                        .filter(|c| c.status == CommitmentStatus::Open)
                        .count();
                    vec![
                        format!("{}{}", p.name, archived_mark(p.archived)),
                        partner_name(d, p),
                        p.goals.len().to_string(),
                        open.to_string(),
                        cell(&p.next_review),
                        id.short().to_string(),
                    ]
                })
                .collect();
            ctx.out.table(
                &[
                    "name",
                    "partner",
                    "goals",
                    "open commitments",
                    "next review",
                    "id",
                ],
                table,
                "No partnerships: `rapport partner add NAME --account ACCOUNT`.",
            )
        }
        Cmd::Show {
            partnership,
            account,
        } => {
            let (d, id) = find_partnership(&ws, &partnership, account.as_deref())?;
            let p = &d.data.partnerships[&id];
            if ctx.out.json {
                return ctx.out.json(&Rec::new(&d, &id, p));
            }
            let out = &ctx.out;
            out.line(out.bold(&p.name))?;
            out.fields(&[
                ("id", id.to_string()),
                ("partner", partner_name(&d, p)),
                ("vision", p.vision.as_str().to_string()),
                (
                    "goals",
                    p.goals
                        .iter()
                        .map(|g| format!("- {g}"))
                        .collect::<Vec<_>>()
                        .join("\n"),
                ),
                (
                    "risks",
                    p.risks
                        .iter()
                        .map(|r| format!("- {r}"))
                        .collect::<Vec<_>>()
                        .join("\n"),
                ),
                ("next review", cell(&p.next_review)),
                ("notes", p.notes.as_str().to_string()),
            ])?;
            out.heading("Commitments")?;
            let mut cs: Vec<_> = p.commitments.iter().collect();
            cs.sort_by_key(|(_, c)| (c.due.is_none(), c.due, c.what.clone()));
            out.table(
                &["what", "owed by", "due", "status", "id"],
                cs.iter()
                    .map(|(cid, c)| {
                        vec![
                            c.what.clone(),
                            c.party.to_string(),
                            cell(&c.due),
                            c.status.to_string(),
                            cid.short().to_string(),
                        ]
                    })
                    .collect(),
                "No commitments: `rapport partner commitment add PARTNERSHIP WHAT`.",
            )
        }
        Cmd::Edit {
            partnership,
            account,
            name,
            fields,
            remove_goal,
            remove_risk,
        } => {
            let name = name
                .as_deref()
                .map(|n| validate_name("name", n))
                .transpose()?;
            update(&ws, &partnership, account.as_deref(), |p| {
                apply(&mut p.name, name.clone());
                apply_fields(ctx, p, fields.clone())?;
                p.goals.retain(|g| !remove_goal.contains(g));
                p.risks.retain(|r| !remove_risk.contains(r));
                Ok(format!("Updated {}.", p.name))
            })
        }
        Cmd::Archive {
            partnership,
            account,
            restore,
            purge,
        } => {
            let (d, id) = find_partnership(&ws, &partnership, account.as_deref())?;
            let verb =
                super::archive_record(&ws, d.id, Collection::Partnerships, &id, restore, purge)?;
            ctx.out
                .done(format!("{verb} {}.", d.data.partnerships[&id].name))
        }
        Cmd::Commitment(CommitmentCmd::Add {
            partnership,
            what,
            account,
            party,
            due,
        }) => {
            let what = validate_name("what", &what)?;
            let party = parse_opt::<Party>(Some(&party))?.unwrap_or(Party::Us);
            let due = parse_day(ctx, due.as_deref())?;
            update(&ws, &partnership, account.as_deref(), |p| {
                p.commitments.insert(
                    RecordId::random(),
                    Commitment {
                        party,
                        what: what.clone(),
                        due,
                        status: CommitmentStatus::Open,
                    },
                );
                Ok(format!("Added the commitment '{what}' to {}.", p.name))
            })
        }
        Cmd::Commitment(CommitmentCmd::Set {
            partnership,
            commitment,
            account,
            status,
        }) => {
            let status: CommitmentStatus = status.parse()?;
            update(&ws, &partnership, account.as_deref(), |p| {
                let candidates: Vec<Candidate<RecordId>> = p
                    .commitments
                    .iter()
                    .map(|(id, c)| Candidate {
                        key: id.clone(),
                        id: id.to_string(),
                        name: c.what.clone(),
                        email: None,
                        context: None,
                        archived: false,
                    })
                    .collect();
                let cid = resolve("commitment", &commitment, &candidates)?;
                let c = p
                    .commitments
                    .get_mut(&cid)
                    .ok_or_else(|| user("the commitment vanished"))?;
                c.status = status;
                Ok(format!("'{}' is {status}.", c.what))
            })
        }
    }
}

/// Changes one partnership; written without loading its document where
/// the field index allows ([`Workspace::update`]: `change` may run twice).
fn update(
    ws: &Workspace,
    query: &str,
    account: Option<&str>,
    change: impl Fn(&mut Partnership) -> anyhow::Result<String>,
) -> anyhow::Result<()> {
    let (d, id) = find_partnership(ws, query, account)?;
    let (p, message) = ws.update(d.id, &id, Parts::NONE, |_, p| change(p))?;
    if ws.ctx.out.json {
        return ws.ctx.out.json(&Rec::new(&d, &id, &p));
    }
    ws.ctx.out.done(message)
}
