//! `rapport log`: the activity log. Each entry is a give, an ask, or
//! neutral, so the give/ask balance per relationship can be shown.

use clap::Subcommand;
use rapport_core::doc::{self, Collection, DocData, Parts};
use rapport_core::enums::{ActivityKind, Direction};
use rapport_core::model::Activity;
use rapport_core::resolve::Query;
use rapport_core::{Notes, RecordId};
use rapport_store::{ActivityRef, Select};

use super::{apply, cell, parse_day, parse_opt};
use crate::commands::opp::find_opp;
use crate::commands::person::first_line;
use crate::ctx::Ctx;
use crate::error::{user, user_hint};
use crate::output::JsonEach;
use crate::render::archived_mark;
use crate::render::{Rec, name_list, names};
use crate::workspace::{Doc, Named, Workspace, find, find_person, find_person_in};

#[derive(Subcommand)]
#[command(defer = true)]
pub enum Cmd {
    /// Log what happened with one or more people (of the same account).
    #[command(
        after_help = "Example:\n  rapport log add \"Ana Silva\" --kind meeting --notes \"Walked through their 2027 plan\"\n  rapport log add ana bo --kind intro --date yesterday --notes \"Introduced Ana to Bo\"\n  rapport log add ana --kind ask --notes \"Asked for a reference\""
    )]
    Add {
        /// The people involved.
        #[arg(required = true)]
        people: Vec<String>,
        #[arg(long)]
        account: Option<String>,
        /// meeting, call, email, message, event, referral-given, introduction-made, help-given, ask-made, other.
        #[arg(long)]
        kind: String,
        /// give, ask or neutral (default: from the kind).
        #[arg(long)]
        direction: Option<String>,
        /// When it happened (default: today).
        #[arg(long, allow_hyphen_values = true)]
        date: Option<String>,
        #[arg(long)]
        notes: Option<String>,
        /// The opportunity it relates to.
        #[arg(long, value_name = "OPPORTUNITY")]
        opp: Option<String>,
    },
    /// List activity, newest first.
    #[command(after_help = "Example:\n  rapport log list --person \"Ana Silva\" --since -30d")]
    List {
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        person: Option<String>,
        /// Only entries on or after this date.
        #[arg(long, allow_hyphen_values = true)]
        since: Option<String>,
        /// At most this many entries.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Include archived entries.
        #[arg(long)]
        all: bool,
    },
    /// Show an entry (by id prefix or words of its notes).
    #[command(after_help = "Example:\n  rapport log show 3f2a")]
    Show {
        entry: String,
        #[arg(long)]
        account: Option<String>,
    },
    /// Change an entry.
    #[command(
        after_help = "Example:\n  rapport log edit 3f2a --direction give --notes \"Sent the benchmark report\""
    )]
    Edit {
        entry: String,
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        direction: Option<String>,
        #[arg(long, allow_hyphen_values = true)]
        date: Option<String>,
        #[arg(long)]
        notes: Option<String>,
    },
    /// Archive an entry; `--restore` undoes it, `--purge` deletes it.
    #[command(after_help = "Example:\n  rapport log archive 3f2a")]
    Archive {
        entry: String,
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

fn entries(data: &DocData) -> Vec<Named> {
    data.activities
        .iter()
        .map(|(id, a)| Named {
            id: id.clone(),
            name: entry_name(a.notes.as_str()),
            email: None,
            archived: a.archived,
        })
        .collect()
}

/// The name an entry is found by ([`entries`], and the filter of
/// [`find_entry`], which must agree): its notes' first line.
fn entry_name(notes: &str) -> String {
    first_line(notes)
}

fn find_entry(
    ws: &Workspace,
    query: &str,
    account: Option<&str>,
) -> anyhow::Result<(Doc, RecordId)> {
    let parts = Parts {
        activities: true,
        people: true,
        ..Parts::NONE
    };
    // Only the entries the query may match are read out of the logs:
    // resolving among them finds what resolving among all of them finds
    // (`Query::may_match`), with the names `entries` gives them.
    let prepared = Query::new(query);
    let may_match =
        |id: &str, a: &ActivityRef<'_>| prepared.may_match(id, None, &entry_name(a.notes()));
    let mut docs = ws.read_scope_where(ws.scope(account)?, parts, &Select::keeping(&may_match))?;
    let (i, id) = find(&docs, "activity", query, entries)?;
    Ok((docs.swap_remove(i), id))
}

pub fn run(ctx: &Ctx, cmd: Cmd) -> anyhow::Result<()> {
    let ws = Workspace::open(ctx)?;
    match cmd {
        Cmd::Add {
            people,
            account,
            kind,
            direction,
            date,
            notes,
            opp,
        } => {
            let kind: ActivityKind = kind.parse()?;
            let direction =
                parse_opt::<Direction>(direction.as_deref())?.unwrap_or(kind.default_direction());
            let date = parse_day(ctx, date.as_deref())?.unwrap_or(ctx.today);
            let docs = ws.read_scope(ws.scope(account.as_deref())?, Parts::PEOPLE)?;
            let mut found = Vec::new();
            for p in &people {
                found.push(find_person(&docs, p)?);
            }
            let di = found[0].0;
            if found.iter().any(|(i, _)| *i != di) {
                return Err(user_hint(
                    "the people of one entry must belong to the same account",
                    "log one entry per account",
                ));
            }
            let d = &docs[di];
            let opportunity = match opp {
                Some(q) => {
                    let (od, oid) = find_opp(&ws, &q, None, Parts::NONE)?;
                    if od.id != d.id {
                        return Err(user(format!(
                            "that opportunity belongs to {}, not {}",
                            od.label(),
                            d.label()
                        )));
                    }
                    Some(oid)
                }
                None => None,
            };
            let mut ids: Vec<RecordId> = found.into_iter().map(|(_, id)| id).collect();
            ids.dedup();
            let entry = Activity {
                date,
                people: ids,
                kind,
                direction,
                by: ws.me.handle.clone(),
                notes: Notes::new(notes.as_deref().unwrap_or("")),
                opportunity,
                archived: false,
            };
            let id = RecordId::random();
            ws.append_activity(
                d.id,
                |am| Ok(doc::put_record(am, Collection::Activities, &id, &entry)?),
                &id,
                &entry,
            )?;
            if ctx.out.json {
                return ctx.out.json(&Rec::new(d, &id, &entry));
            }
            ctx.out.done(format!(
                "Logged {} ({}) with {} on {} ({}).",
                entry.kind,
                entry.direction,
                names(d, &entry.people),
                entry.date,
                id.short()
            ))
        }
        Cmd::List {
            account,
            person,
            since,
            limit,
            all,
        } => {
            let since = parse_day(ctx, since.as_deref())?;
            let scope = ws.scope(account.as_deref())?;
            let parts = Parts {
                activities: true,
                people: true,
                ..Parts::NONE
            };
            let listed =
                |a: &ActivityRef<'_>| (all || !a.archived()) && since.is_none_or(|s| a.date() >= s);
            // Of each log, only its first `limit` entries listed are read
            // out (in place, from a view): the newest 50 of 73k decoded
            // all of them.
            let docs = match person {
                // A person's entries are in their document alone: find
                // them among everyone's names first, then read that log.
                Some(p) => {
                    let lists = ws.people_lists_to_read_about(scope)?;
                    let (i, pid) = find_person_in(&lists, &p)?;
                    let id = lists[i].id();
                    drop(lists);
                    let select = Select {
                        keep: &|_, a| listed(a) && a.involves(&pid),
                        first: Some(limit),
                    };
                    vec![ws.read_about(id, parts, &select)?]
                }
                None => {
                    let select = Select {
                        keep: &|_, a| listed(a),
                        first: Some(limit),
                    };
                    ws.read_scope_where(scope, parts, &select)?
                }
            };
            let mut rows = Vec::new();
            for d in &docs {
                for (id, a) in &d.data.activities {
                    rows.push((d, id, a));
                }
            }
            rows.sort_by(|(_, i, a), (_, j, b)| {
                Activity::log_order(
                    (a.date, a.notes.as_str(), i.as_str()),
                    (b.date, b.notes.as_str(), j.as_str()),
                )
            });
            rows.truncate(limit);
            // Each row is made as it is written (`--limit` may ask for
            // every entry of a log of 73k).
            if ctx.out.json {
                return ctx.out.json(&JsonEach(|| {
                    rows.iter().map(|(d, id, a)| serde_json::json!({ "activity": Rec::new(d, id, *a), "people_names": name_list(d, &a.people) }))
                }));
            }
            let row = |i: usize| {
                let (d, id, a) = rows[i];
                [
                    format!("{}{}", a.date, archived_mark(a.archived)),
                    names(d, &a.people),
                    d.label(),
                    a.kind.to_string(),
                    a.direction.to_string(),
                    format!("@{}", a.by),
                    first_line(a.notes.as_str()),
                    id.short().to_string(),
                ]
            };
            ctx.out.table_of(
                &[
                    "date",
                    "with",
                    "account",
                    "kind",
                    "direction",
                    "by",
                    "notes",
                    "id",
                ],
                rows.len(),
                row,
                "No activity logged: `rapport log add PERSON --kind KIND`.",
            )
        }
        Cmd::Show { entry, account } => {
            let (d, id) = find_entry(&ws, &entry, account.as_deref())?;
            let a = &d.data.activities[&id];
            if ctx.out.json {
                return ctx.out.json(&serde_json::json!({ "activity": Rec::new(&d, &id, a), "people_names": name_list(&d, &a.people) }));
            }
            ctx.out.fields(&[
                ("id", id.to_string()),
                ("date", a.date.to_string()),
                ("with", format!("{} ({})", names(&d, &a.people), d.label())),
                ("kind", a.kind.to_string()),
                ("direction", a.direction.to_string()),
                ("by", format!("@{}", a.by)),
                (
                    "opportunity",
                    a.opportunity
                        .as_ref()
                        .map(|o| o.short().to_string())
                        .unwrap_or_default(),
                ),
                ("notes", a.notes.as_str().to_string()),
            ])
        }
        Cmd::Edit {
            entry,
            account,
            kind,
            direction,
            date,
            notes,
        } => {
            let kind = parse_opt::<ActivityKind>(kind.as_deref())?;
            let direction = parse_opt::<Direction>(direction.as_deref())?;
            let date = parse_day(ctx, date.as_deref())?;
            let (d, id) = find_entry(&ws, &entry, account.as_deref())?;
            // Written through the field index where it can be, without
            // loading the document (`Workspace::update`).
            let (a, ()) = ws.update(d.id, &id, Parts::NONE, |_, a: &mut Activity| {
                apply(&mut a.kind, kind);
                apply(&mut a.direction, direction);
                apply(&mut a.date, date);
                if let Some(n) = &notes {
                    a.notes.set(n);
                }
                Ok(())
            })?;
            if ctx.out.json {
                return ctx.out.json(&Rec::new(&d, &id, &a));
            }
            ctx.out.done(format!(
                "Updated the {} of {} ({}).",
                a.kind,
                a.date,
                cell(&Some(id.short()))
            ))
        }
        Cmd::Archive {
            entry,
            account,
            restore,
            purge,
        } => {
            let (d, id) = find_entry(&ws, &entry, account.as_deref())?;
            let verb =
                super::archive_record(&ws, d.id, Collection::Activities, &id, restore, purge)?;
            ctx.out.done(format!("{verb} the entry {}.", id.short()))
        }
    }
}
