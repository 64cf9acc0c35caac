//! `rapport rel`: relationships, one per team member and contact. They are
//! never closed: only nurtured or neglected.

use clap::Subcommand;
use rapport_core::doc::{self, Collection, DocData, Parts};
use rapport_core::enums::{Coverage, Level, Preference};
use rapport_core::model::Relationship;
use rapport_core::values::{validate_handle, validate_range};
use rapport_core::{Day, RecordId};
use rapport_store::{ActivityRef, Select};

use super::{apply, cell, day_edit, text_edit, value_edit};
use crate::ctx::Ctx;
use crate::error::user_hint;
use crate::output::JsonEach;
use crate::render::{Rec, person_name};
use crate::workspace::{Doc, Workspace, find_person, find_person_in};

#[derive(Subcommand)]
#[command(defer = true)]
pub enum Cmd {
    /// Record your (or a teammate's) relationship with a person.
    #[command(
        after_help = "Example:\n  rapport rel add \"Ana Silva\" --level credible-source --desired-level trusted-advisor \\\n      --preference supporter --desired-preference mentor --coverage brief --cadence 30 \\\n      --reason \"she decides the 2027 roadmap\""
    )]
    Add {
        person: String,
        #[arg(long)]
        account: Option<String>,
        /// The team member's handle (default: you).
        #[arg(long)]
        member: Option<String>,
        #[command(flatten)]
        fields: Fields,
    },
    /// List relationships.
    #[command(after_help = "Example:\n  rapport rel list --account Acme --member sam")]
    List {
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        member: Option<String>,
        /// Include archived relationships.
        #[arg(long)]
        all: bool,
    },
    /// Show the relationships with a person, with the give/ask balance.
    #[command(
        after_help = "Example:\n  rapport rel show \"Ana Silva\"\n  rapport rel show \"Ana Silva\" --conflicts"
    )]
    Show {
        person: String,
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        member: Option<String>,
        /// Also show values teammates wrote to the same field at the same
        /// time (automerge keeps them; one is shown everywhere).
        #[arg(long)]
        conflicts: bool,
    },
    /// Change a relationship (an empty value clears a field).
    #[command(
        after_help = "Example:\n  rapport rel edit \"Ana Silva\" --level problem-solver --cadence 14"
    )]
    Edit {
        person: String,
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        member: Option<String>,
        #[command(flatten)]
        fields: Fields,
    },
    /// Archive a relationship; `--restore` undoes it, `--purge` deletes it.
    #[command(after_help = "Example:\n  rapport rel archive \"Ana Silva\"")]
    Archive {
        person: String,
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        member: Option<String>,
        /// Bring an archived record back.
        #[arg(long)]
        restore: bool,
        /// Delete for good instead of archiving.
        #[arg(long, conflicts_with = "restore")]
        purge: bool,
    },
}

#[derive(clap::Args, Clone)]
pub struct Fields {
    /// Current level: vendor, credible-source, problem-solver, trusted-advisor.
    #[arg(long)]
    level: Option<String>,
    /// The level you aim for.
    #[arg(long)]
    desired_level: Option<String>,
    /// Their support for us: enemy, non-supporter, neutral, supporter, mentor.
    #[arg(long)]
    preference: Option<String>,
    /// The support you aim for.
    #[arg(long)]
    desired_preference: Option<String>,
    /// unknown, none, brief, multiple, in-depth.
    #[arg(long)]
    coverage: Option<String>,
    /// Keep in touch every N days.
    #[arg(long, value_name = "DAYS")]
    cadence: Option<String>,
    /// Why the desired level is the right one.
    #[arg(long)]
    reason: Option<String>,
    /// Date of last contact, when not in the activity log.
    #[arg(long, allow_hyphen_values = true, value_name = "DATE")]
    last_contact: Option<String>,
    #[arg(long)]
    notes: Option<String>,
}

fn parse_cadence(v: Option<&str>) -> anyhow::Result<Option<Option<u32>>> {
    match v {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(Some(None)),
        Some(s) => {
            let n: i64 = s.trim().trim_end_matches('d').parse().map_err(|_| {
                rapport_core::Error::InvalidValue {
                    field: "cadence".into(),
                    value: s.into(),
                    allowed: "a number of days from 1 to 3650".into(),
                }
            })?;
            Ok(Some(Some(validate_range("cadence", n, 1, 3650)? as u32)))
        }
    }
}

fn apply_fields(ctx: &Ctx, r: &mut Relationship, f: Fields) -> anyhow::Result<()> {
    if let Some(l) = f.level.as_deref() {
        r.level = l.parse::<Level>()?;
    }
    apply(
        &mut r.desired_level,
        value_edit::<Level>(f.desired_level.as_deref())?,
    );
    if let Some(p) = f.preference.as_deref() {
        r.preference = p.parse::<Preference>()?;
    }
    apply(
        &mut r.desired_preference,
        value_edit::<Preference>(f.desired_preference.as_deref())?,
    );
    if let Some(c) = f.coverage.as_deref() {
        r.coverage = c.parse::<Coverage>()?;
    }
    apply(&mut r.cadence_days, parse_cadence(f.cadence.as_deref())?);
    apply(&mut r.desired_reason, text_edit(f.reason));
    apply(
        &mut r.last_contact,
        day_edit(ctx, f.last_contact.as_deref())?,
    );
    if let Some(n) = &f.notes {
        r.notes.set(n);
    }
    Ok(())
}

fn member_or_me(ws: &Workspace, member: Option<&str>) -> anyhow::Result<String> {
    Ok(match member {
        Some(m) => validate_handle(m.trim_start_matches('@'))?,
        None => ws.me.handle.clone(),
    })
}

pub fn run(ctx: &Ctx, cmd: Cmd) -> anyhow::Result<()> {
    let ws = Workspace::open(ctx)?;
    match cmd {
        Cmd::Add {
            person,
            account,
            member,
            fields,
        } => add(&ws, &person, account.as_deref(), member.as_deref(), fields),
        Cmd::List {
            account,
            member,
            all,
        } => list(&ws, account.as_deref(), member.as_deref(), all),
        Cmd::Show {
            person,
            account,
            member,
            conflicts,
        } => show(
            &ws,
            &person,
            account.as_deref(),
            member.as_deref(),
            conflicts,
        ),
        Cmd::Edit {
            person,
            account,
            member,
            fields,
        } => edit(&ws, &person, account.as_deref(), member.as_deref(), fields),
        Cmd::Archive {
            person,
            account,
            member,
            restore,
            purge,
        } => archive(
            &ws,
            &person,
            account.as_deref(),
            member.as_deref(),
            restore,
            purge,
        ),
    }
}

fn add(
    ws: &Workspace,
    query: &str,
    account: Option<&str>,
    member: Option<&str>,
    f: Fields,
) -> anyhow::Result<()> {
    let member = member_or_me(ws, member)?;
    let docs = ws.read_scope(
        ws.scope(account)?,
        Parts {
            people: true,
            relationships: true,
            ..Parts::NONE
        },
    )?;
    let (i, person) = find_person(&docs, query)?;
    let d = &docs[i];
    if d.data.relationship_of(&member, &person).is_some() {
        return Err(user_hint(
            format!(
                "@{member} already has a relationship with {}",
                person_name(d, &person)
            ),
            "change it with `rapport rel edit`",
        ));
    }
    let mut r = Relationship::new(&member, person.clone());
    r.created = Some(ws.ctx.today);
    apply_fields(ws.ctx, &mut r, f)?;
    let id = RecordId::random();
    ws.append(
        d.id,
        |am| Ok(doc::put_record(am, Collection::Relationships, &id, &r)?),
        |data, _| {
            data.relationships.insert(id.clone(), r.clone());
        },
    )?;
    if ws.ctx.out.json {
        return ws.ctx.out.json(&Rec::new(d, &id, &r));
    }
    ws.ctx.out.done(format!(
        "Added @{member}'s relationship with {} ({}).",
        person_name(d, &person),
        r.level
    ))?;
    if r.desired_level.is_some_and(|dl| dl > r.level) && r.desired_reason.is_none() {
        ws.ctx
            .out
            .warn("no --reason for the desired level: why is that the right level?");
    }
    Ok(())
}

fn list(
    ws: &Workspace,
    account: Option<&str>,
    member: Option<&str>,
    all: bool,
) -> anyhow::Result<()> {
    let member = member_filter(member)?;
    let docs = ws.read_scope(
        ws.scope(account)?,
        Parts {
            activities: false,
            ..REL_PARTS
        },
    )?;
    let mut rows = Vec::new();
    for d in &docs {
        for (id, r) in &d.data.relationships {
            if (!all && r.archived) || member.as_ref().is_some_and(|m| &r.member != m) {
                continue;
            }
            rows.push((d, id, r));
        }
    }
    rows.sort_by_cached_key(|(d, _, r)| {
        (
            d.label(),
            person_name(d, &r.person).to_lowercase(),
            r.member.clone(),
        )
    });
    let out = &ws.ctx.out;
    // Each row is made as it is written: 10k relationships at 100k
    // records.
    if out.json {
        return out.json(&JsonEach(|| {
            rows.iter().map(|(d, id, r)| {
                serde_json::json!({
                    "rel": Rec::new(d, id, *r),
                    "person_name": person_name(d, &r.person),
                    "last_contact_derived": d.data.last_contact(r),
                    "overdue": overdue(ws.ctx.today, &d.data, r),
                })
            })
        }));
    }
    let row = |i: usize| {
        let (d, _, r) = rows[i];
        [
            format!(
                "{}{}",
                person_name(d, &r.person),
                crate::render::archived_mark(r.archived)
            ),
            d.label(),
            format!("@{}", r.member),
            arrow(r.level.to_string(), r.desired_level.map(|l| l.to_string())),
            arrow(
                r.preference.to_string(),
                r.desired_preference.map(|p| p.to_string()),
            ),
            r.coverage.to_string(),
            r.cadence_days.map(|c| format!("{c}d")).unwrap_or_default(),
            cell(&d.data.last_contact(r)),
            if overdue(ws.ctx.today, &d.data, r) {
                "overdue".into()
            } else {
                String::new()
            },
        ]
    };
    out.table_of(
        &[
            "person",
            "account",
            "member",
            "level",
            "preference",
            "coverage",
            "cadence",
            "last contact",
            "",
        ],
        rows.len(),
        row,
        "No relationships yet: `rapport rel add PERSON`.",
    )
}

/// What `rel show` decodes: people, relationships, and activity (for the
/// give/ask balance) with its last contacts; `rel list` needs no activity.
const REL_PARTS: Parts = Parts {
    people: true,
    relationships: true,
    activities: true,
    contacts: true,
    ..Parts::NONE
};

/// An optional `--member` filter, `@` allowed.
fn member_filter(member: Option<&str>) -> anyhow::Result<Option<String>> {
    Ok(member
        .map(|m| validate_handle(m.trim_start_matches('@')))
        .transpose()?)
}

fn arrow(current: String, desired: Option<String>) -> String {
    match desired {
        Some(d) if d != current => format!("{current} → {d}"),
        _ => current,
    }
}

/// Last contact older than the cadence (or never, with a cadence set).
pub fn overdue(today: Day, data: &DocData, r: &Relationship) -> bool {
    // With no contact yet, the clock starts when the relationship was added.
    match (r.cadence_days, data.last_contact(r).or(r.created)) {
        (Some(c), Some(since)) => since.days_until(today) > i64::from(c),
        (Some(_), None) => true,
        _ => false,
    }
}

fn relationships_of<'a>(
    d: &'a Doc,
    person: &RecordId,
    member: Option<&str>,
) -> Vec<(&'a RecordId, &'a Relationship)> {
    d.data
        .relationships
        .iter()
        .filter(|(_, r)| &r.person == person && member.is_none_or(|m| r.member == m))
        .collect()
}

fn show(
    ws: &Workspace,
    query: &str,
    account: Option<&str>,
    member: Option<&str>,
    with_conflicts: bool,
) -> anyhow::Result<()> {
    let member = member_filter(member)?;
    // Find the person among everyone's names, then read that document,
    // keeping of its log only the activities that involve the person (the
    // balance's), as `person show` does.
    let lists = ws.people_lists_to_read_about(ws.scope(account)?)?;
    let (i, person) = find_person_in(&lists, query)?;
    let involves = |_: &str, a: &ActivityRef<'_>| a.involves(&person);
    let d = &ws.read_about(lists[i].id(), REL_PARTS, &Select::keeping(&involves))?;
    drop(lists);
    let mut rels: Vec<_> = relationships_of(d, &person, member.as_deref())
        .into_iter()
        .filter(|(_, r)| !r.archived)
        .collect();
    rels.sort_by_key(|(_, r)| r.member.clone());
    let rapport_core::analysis::gap::Balance {
        gives,
        asks,
        last_give,
        last_ask,
        only_asks,
    } = rapport_core::analysis::gap::balance(&d.data, &person);
    let mut conflicts = std::collections::BTreeMap::new();
    if with_conflicts {
        for (id, _) in &rels {
            let found = ws.inspect(d.id, |am| {
                rapport_core::merge::conflicts(am, Collection::Relationships, id)
            })??;
            conflicts.insert((*id).clone(), found);
        }
    }
    let out = &ws.ctx.out;
    if out.json {
        let mut value = serde_json::json!({
            "person": person,
            "person_name": person_name(d, &person),
            "doc": d.id,
            "doc_name": d.label(),
            "relationships": rels.iter().map(|(id, r)| serde_json::json!({
                "rel": Rec::new(d, id, *r),
                "last_contact_derived": d.data.last_contact(r),
                "overdue": overdue(ws.ctx.today, &d.data, r),
            })).collect::<Vec<_>>(),
            "balance": { "gives": gives, "asks": asks, "last_give": last_give, "last_ask": last_ask, "only_asks": only_asks },
        });
        if with_conflicts {
            value["conflicts"] = serde_json::to_value(&conflicts)?;
        }
        return out.json(&value);
    }
    out.line(format!(
        "{} ({})",
        out.bold(&person_name(d, &person)),
        d.label()
    ))?;
    for (id, r) in &rels {
        out.heading(&format!("@{}", r.member))?;
        out.fields(&[
            ("id", id.to_string()),
            (
                "level",
                arrow(r.level.to_string(), r.desired_level.map(|l| l.to_string())),
            ),
            (
                "preference",
                arrow(
                    r.preference.to_string(),
                    r.desired_preference.map(|p| p.to_string()),
                ),
            ),
            ("coverage", r.coverage.to_string()),
            ("why that level", cell(&r.desired_reason)),
            (
                "cadence",
                r.cadence_days
                    .map(|c| format!("every {c} days"))
                    .unwrap_or_default(),
            ),
            ("last contact", cell(&d.data.last_contact(r))),
            (
                "overdue",
                if overdue(ws.ctx.today, &d.data, r) {
                    "yes".into()
                } else {
                    String::new()
                },
            ),
            ("notes", r.notes.as_str().to_string()),
        ])?;
        if let Some(found) = conflicts.get(*id) {
            out.line(out.dim("conflicts:"))?;
            crate::commands::person::conflict_table(out, found)?;
        }
    }
    if rels.is_empty() {
        out.line(out.dim("No relationship recorded: `rapport rel add PERSON`."))?;
    }
    out.heading("Give/ask balance")?;
    out.fields(&[
        (
            "gives",
            format!(
                "{gives}{}",
                last_give
                    .map(|d| format!(" (last {d})"))
                    .unwrap_or_default()
            ),
        ),
        (
            "asks",
            format!(
                "{asks}{}",
                last_ask.map(|d| format!(" (last {d})")).unwrap_or_default()
            ),
        ),
    ])?;
    if only_asks {
        out.warn(format!(
            "we only ever ask {} for things: plan a give first (`rapport plan add`)",
            person_name(d, &person)
        ));
    }
    Ok(())
}

fn find_rel(
    ws: &Workspace,
    query: &str,
    account: Option<&str>,
    member: Option<&str>,
    all: bool,
) -> anyhow::Result<(Doc, RecordId)> {
    let member = member_or_me(ws, member)?;
    let mut docs = ws.read_scope(
        ws.scope(account)?,
        Parts {
            people: true,
            relationships: true,
            ..Parts::NONE
        },
    )?;
    let (i, person) = find_person(&docs, query)?;
    let d = docs.swap_remove(i);
    let found = relationships_of(&d, &person, Some(&member))
        .into_iter()
        .filter(|(_, r)| all || !r.archived)
        .map(|(id, _)| id.clone())
        .next();
    match found {
        Some(id) => Ok((d, id)),
        None => Err(user_hint(
            format!(
                "@{member} has no relationship with {}",
                person_name(&d, &person)
            ),
            "add one with `rapport rel add PERSON`",
        )),
    }
}

fn edit(
    ws: &Workspace,
    query: &str,
    account: Option<&str>,
    member: Option<&str>,
    f: Fields,
) -> anyhow::Result<()> {
    let (d, id) = find_rel(ws, query, account, member, false)?;
    let (r, ()) = ws.update(d.id, &id, Parts::NONE, |_, r| {
        apply_fields(ws.ctx, r, f.clone())
    })?;
    if ws.ctx.out.json {
        return ws.ctx.out.json(&Rec::new(&d, &id, &r));
    }
    ws.ctx.out.done(format!(
        "Updated @{}'s relationship with {}.",
        r.member,
        person_name(&d, &r.person)
    ))
}

fn archive(
    ws: &Workspace,
    query: &str,
    account: Option<&str>,
    member: Option<&str>,
    restore: bool,
    purge: bool,
) -> anyhow::Result<()> {
    let (d, id) = find_rel(ws, query, account, member, true)?;
    let verb = super::archive_record(ws, d.id, Collection::Relationships, &id, restore, purge)?;
    let r = &d.data.relationships[&id];
    ws.ctx.out.done(format!(
        "{verb} @{}'s relationship with {}.",
        r.member,
        person_name(&d, &r.person)
    ))
}
