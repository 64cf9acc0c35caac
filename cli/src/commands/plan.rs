//! `rapport plan`: the relationship plan, give-first investments in people,
//! each judged by the three tests (time, learn, illustrate).

use clap::Subcommand;
use rapport_core::doc::{self, Collection, DocData, Parts};
use rapport_core::enums::{InvestmentTest, PlanStatus};
use rapport_core::model::{PlanItem, Tests};
use rapport_core::values::{validate_handle, validate_name};
use rapport_core::{Notes, RecordId};

use super::{apply, cell, day_edit, parse_day, parse_list};
use crate::ctx::Ctx;

use crate::render::archived_mark;
use crate::render::{Rec, person_name};
use crate::workspace::{Doc, Named, Workspace, find_person};

#[derive(Subcommand)]
#[command(defer = true)]
pub enum Cmd {
    /// Plan an investment: something you will do for a person, unpaid.
    #[command(
        after_help = "Example:\n  rapport plan add \"Ana Silva\" \"Introduce her to the logistics lead at Beta\" --due +2w --tests time,learn,illustrate"
    )]
    Add {
        person: String,
        /// What you will do for them.
        action: String,
        #[arg(long)]
        account: Option<String>,
        /// The team member who will do it (default: you).
        #[arg(long)]
        owner: Option<String>,
        #[arg(long, allow_hyphen_values = true, value_name = "DATE")]
        due: Option<String>,
        /// The tests it passes: time, learn, illustrate (comma-separated or repeated).
        #[arg(long)]
        tests: Vec<String>,
        #[arg(long)]
        notes: Option<String>,
    },
    /// List plan items and the tests each passes (planned ones unless --status says otherwise).
    #[command(after_help = "Example:\n  rapport plan list --account Acme --status all")]
    List {
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        person: Option<String>,
        #[arg(long)]
        owner: Option<String>,
        /// planned, done, dropped, or all.
        #[arg(long, default_value = "planned")]
        status: String,
        /// Include archived items.
        #[arg(long)]
        all: bool,
    },
    /// Show a plan item.
    #[command(after_help = "Example:\n  rapport plan show introduce")]
    Show {
        item: String,
        #[arg(long)]
        account: Option<String>,
    },
    /// Change a plan item (an empty value clears a field).
    #[command(
        after_help = "Example:\n  rapport plan edit introduce --due 2027-01-10 --tests time,learn"
    )]
    Edit {
        item: String,
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        action: Option<String>,
        #[arg(long)]
        owner: Option<String>,
        #[arg(long, allow_hyphen_values = true, value_name = "DATE")]
        due: Option<String>,
        /// Replaces the tests it passes.
        #[arg(long)]
        tests: Vec<String>,
        /// planned, done, dropped.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        notes: Option<String>,
    },
    /// Mark a plan item done.
    #[command(after_help = "Example:\n  rapport plan done introduce")]
    Done {
        item: String,
        #[arg(long)]
        account: Option<String>,
        /// When it was done (default: today).
        #[arg(long, allow_hyphen_values = true)]
        date: Option<String>,
    },
    /// Archive a plan item; `--restore` undoes it, `--purge` deletes it.
    #[command(after_help = "Example:\n  rapport plan archive introduce")]
    Archive {
        item: String,
        #[arg(long)]
        account: Option<String>,
        /// Bring an archived record back.
        #[arg(long)]
        restore: bool,
        /// Delete for good instead of archiving.
        #[arg(long, conflicts_with = "restore")]
        purge: bool,
    },
}

fn actions(data: &DocData) -> Vec<Named> {
    data.plan
        .iter()
        .map(|(id, p)| Named {
            id: id.clone(),
            name: p.action.clone(),
            email: None,
            archived: p.archived,
        })
        .collect()
}

fn find_item(
    ws: &Workspace,
    query: &str,
    account: Option<&str>,
) -> anyhow::Result<(Doc, RecordId)> {
    let parts = Parts {
        plan: true,
        people: true,
        ..Parts::NONE
    };
    ws.find_one(account, parts, "plan item", query, actions)
}

fn tests_cell(t: &Tests) -> String {
    let mark = |b: bool, c: &str| if b { c.to_string() } else { "-".to_string() };
    format!(
        "{}{}{}",
        mark(t.time, "T"),
        mark(t.learn, "L"),
        mark(t.illustrate, "I")
    )
}

/// Nudges toward investments that pass all three tests.
pub fn warn_tests(ctx: &Ctx, t: &Tests) {
    let missed = t.missed();
    if t.passed().len() < 2 {
        let names: Vec<&str> = missed.iter().map(|m| m.as_str()).collect();
        ctx.out.warn(format!(
            "this investment passes {} of the three tests; it misses: {} (time: we invest our own time; learn: it teaches us about the client; illustrate: it shows we are useful beyond the current work)",
            3 - missed.len(),
            names.join(", ")
        ));
    }
}

pub fn run(ctx: &Ctx, cmd: Cmd) -> anyhow::Result<()> {
    let ws = Workspace::open(ctx)?;
    match cmd {
        Cmd::Add {
            person,
            action,
            account,
            owner,
            due,
            tests,
            notes,
        } => {
            let action = validate_name("action", &action)?;
            let owner = match owner {
                Some(o) => validate_handle(o.trim_start_matches('@'))?,
                None => ws.me.handle.clone(),
            };
            let tests = Tests::from_list(&parse_list::<InvestmentTest>(&tests)?);
            let due = parse_day(ctx, due.as_deref())?;
            let docs = ws.read_scope(ws.scope(account.as_deref())?, Parts::PEOPLE)?;
            let (i, pid) = find_person(&docs, &person)?;
            let d = &docs[i];
            let item = PlanItem {
                person: pid.clone(),
                action,
                owner,
                due,
                status: PlanStatus::Planned,
                done_on: None,
                tests,
                notes: Notes::new(notes.as_deref().unwrap_or("")),
                archived: false,
                created: Some(ctx.today),
            };
            let id = RecordId::random();
            ws.append(
                d.id,
                |am| Ok(doc::put_record(am, Collection::Plan, &id, &item)?),
                |data, _| {
                    data.plan.insert(id.clone(), item.clone());
                },
            )?;
            if ctx.out.json {
                return ctx.out.json(&Rec::new(d, &id, &item));
            }
            ctx.out.done(format!(
                "Planned for {}: {} ({}).",
                person_name(d, &pid),
                item.action,
                id.short()
            ))?;
            warn_tests(ctx, &item.tests);
            Ok(())
        }
        Cmd::List {
            account,
            person,
            owner,
            status,
            all,
        } => {
            let status = if status.eq_ignore_ascii_case("all") {
                None
            } else {
                Some(status.parse::<PlanStatus>()?)
            };
            let owner = owner
                .map(|o| validate_handle(o.trim_start_matches('@')))
                .transpose()?;
            let docs = ws.read_scope(
                ws.scope(account.as_deref())?,
                Parts {
                    plan: true,
                    people: true,
                    ..Parts::NONE
                },
            )?;
            let person = match person {
                Some(p) => Some(find_person(&docs, &p)?),
                None => None,
            };
            let mut rows = Vec::new();
            for (di, d) in docs.iter().enumerate() {
                for (id, x) in &d.data.plan {
                    let keep = (all || !x.archived)
                        && status.is_none_or(|s| s == x.status)
                        && owner.as_ref().is_none_or(|o| &x.owner == o)
                        && person
                            .as_ref()
                            .is_none_or(|(pi, pid)| *pi == di && &x.person == pid);
                    if keep {
                        rows.push((d, id, x));
                    }
                }
            }
            rows.sort_by_cached_key(|(d, _, x)| {
                (x.due.is_none(), x.due, d.label(), x.action.clone())
            });
            if ctx.out.json {
                let json: Vec<_> = rows
                    .iter()
                    .map(|(d, id, x)| serde_json::json!({ "item": Rec::new(d, id, *x), "person_name": person_name(d, &x.person), "tests_passed": x.tests.passed() }))
                    .collect();
                return ctx.out.json(&json);
            }
            let table = rows
                .iter()
                .map(|(d, id, x)| {
                    vec![
                        format!("{}{}", x.action, archived_mark(x.archived)),
                        person_name(d, &x.person),
                        format!("@{}", x.owner),
                        cell(&x.due),
                        x.status.to_string(),
                        tests_cell(&x.tests),
                        id.short().to_string(),
                    ]
                })
                .collect();
            ctx.out.table(
                &["action", "for", "owner", "due", "status", "tests", "id"],
                table,
                "No plan items match: `rapport plan add PERSON ACTION`.",
            )?;
            if !rows.is_empty() && !ctx.out.quiet {
                ctx.out
                    .line(ctx.out.dim("tests: T = time, L = learn, I = illustrate"))?;
            }
            Ok(())
        }
        Cmd::Show { item, account } => {
            let (d, id) = find_item(&ws, &item, account.as_deref())?;
            let x = &d.data.plan[&id];
            if ctx.out.json {
                return ctx.out.json(&serde_json::json!({ "item": Rec::new(&d, &id, x), "person_name": person_name(&d, &x.person), "tests_passed": x.tests.passed() }));
            }
            ctx.out.line(ctx.out.bold(&x.action))?;
            let passed: Vec<&str> = x.tests.passed().iter().map(|t| t.as_str()).collect();
            let missed: Vec<&str> = x.tests.missed().iter().map(|t| t.as_str()).collect();
            ctx.out.fields(&[
                ("id", id.to_string()),
                (
                    "for",
                    format!("{} ({})", person_name(&d, &x.person), d.label()),
                ),
                ("owner", format!("@{}", x.owner)),
                ("due", cell(&x.due)),
                (
                    "status",
                    format!(
                        "{}{}",
                        x.status,
                        x.done_on.map(|d| format!(" on {d}")).unwrap_or_default()
                    ),
                ),
                ("passes", passed.join(", ")),
                ("misses", missed.join(", ")),
                ("notes", x.notes.as_str().to_string()),
            ])
        }
        Cmd::Edit {
            item,
            account,
            action,
            owner,
            due,
            tests,
            status,
            notes,
        } => {
            let action = action
                .as_deref()
                .map(|a| validate_name("action", a))
                .transpose()?;
            let owner = owner
                .map(|o| validate_handle(o.trim_start_matches('@')))
                .transpose()?;
            let due = day_edit(ctx, due.as_deref())?;
            let tests = if tests.is_empty() {
                None
            } else {
                Some(Tests::from_list(&parse_list::<InvestmentTest>(&tests)?))
            };
            let status = status
                .as_deref()
                .map(str::parse::<PlanStatus>)
                .transpose()?;
            update(&ws, &item, account.as_deref(), "Updated", |x| {
                apply(&mut x.action, action.clone());
                apply(&mut x.owner, owner.clone());
                apply(&mut x.due, due);
                apply(&mut x.tests, tests);
                apply(&mut x.status, status);
                if let Some(n) = &notes {
                    x.notes.set(n);
                }
            })
        }
        Cmd::Done {
            item,
            account,
            date,
        } => {
            let date = parse_day(ctx, date.as_deref())?.unwrap_or(ctx.today);
            update(&ws, &item, account.as_deref(), "Done:", |x| {
                x.status = PlanStatus::Done;
                x.done_on = Some(date);
            })?;
            ctx.out
                .done("Log what happened too: `rapport log add PERSON --kind help-given`.")
        }
        Cmd::Archive {
            item,
            account,
            restore,
            purge,
        } => {
            let (d, id) = find_item(&ws, &item, account.as_deref())?;
            let verb = super::archive_record(&ws, d.id, Collection::Plan, &id, restore, purge)?;
            ctx.out.done(format!("{verb} {}.", d.data.plan[&id].action))
        }
    }
}

fn update(
    ws: &Workspace,
    query: &str,
    account: Option<&str>,
    verb: &str,
    change: impl Fn(&mut PlanItem),
) -> anyhow::Result<()> {
    let (d, id) = find_item(ws, query, account)?;
    let (x, ()) = ws.update(d.id, &id, Parts::NONE, |_, x| {
        change(x);
        Ok(())
    })?;
    if ws.ctx.out.json {
        return ws.ctx.out.json(&Rec::new(&d, &id, &x));
    }
    ws.ctx.out.done(format!("{verb} {}.", x.action))
}
