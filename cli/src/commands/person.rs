//! `rapport person`: contacts, in an account document or the personal one.

use clap::Subcommand;
use rapport_core::RecordId;
use rapport_core::doc::{self, Collection, DocData, Parts};
use rapport_core::enums::{DecisionOrientation, Direction, PoliticalStatus};
use rapport_core::model::Person;
use rapport_core::order::cmp_lowercase;
use rapport_core::values::{validate_email, validate_name};
use rapport_store::{ActivityRef, PersonRow, Select};
use serde::Serialize;
use std::borrow::Cow;

use super::{apply, cell, text_edit, value_edit};
use crate::ctx::Ctx;
use crate::error::user;
use crate::render::{Rec, names, person_name};
use crate::workspace::{Doc, PeopleList, Workspace, find_person, find_person_in};

#[derive(Subcommand)]
#[command(defer = true)]
pub enum Cmd {
    /// Add a person to an account (or, without --account, to your personal contacts).
    #[command(
        after_help = "Example:\n  rapport person add \"Ana Silva\" --account Acme --email ana@acme.com --title CFO --status inner-circle --orientation financial\n  rapport person add \"Rui Freelancer\" --tag peer"
    )]
    Add {
        name: String,
        /// The account (name or id); omit for a personal contact.
        #[arg(long)]
        account: Option<String>,
        #[command(flatten)]
        fields: Fields,
    },
    /// List people.
    #[command(after_help = "Example:\n  rapport person list --account Acme --key-players")]
    List {
        #[arg(long)]
        account: Option<String>,
        /// Only people with this tag.
        #[arg(long)]
        tag: Option<String>,
        /// Only key players (inner circle or political structure).
        #[arg(long)]
        key_players: bool,
        /// Include archived people.
        #[arg(long)]
        all: bool,
    },
    /// Show a person: fields, relationships, plan, opportunities and recent activity.
    #[command(
        after_help = "Example:\n  rapport person show ana@acme.com\n  rapport person show \"Ana Silva\" --conflicts"
    )]
    Show {
        person: String,
        #[arg(long)]
        account: Option<String>,
        /// Also show values teammates wrote to the same field at the same
        /// time (automerge keeps them; one is shown everywhere).
        #[arg(long)]
        conflicts: bool,
    },
    /// Change a person's fields (an empty value clears a field).
    #[command(
        after_help = "Example:\n  rapport person edit \"Ana Silva\" --title CEO --reports-to \"\" --tag board"
    )]
    Edit {
        person: String,
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        fields: Fields,
        /// Remove a tag (repeatable).
        #[arg(long, value_name = "TAG")]
        remove_tag: Vec<String>,
        /// Remove an influence or conflict line to this person (repeatable).
        #[arg(long, value_name = "PERSON")]
        unlink: Vec<String>,
    },
    /// Merge a duplicate into the person to keep: relationships, activity,
    /// plan items and opportunity roles move over; the duplicate is archived.
    #[command(
        after_help = "Example:\n  rapport person merge \"Ana Silva\" 3f9a   # keep Ana Silva, fold record 3f9a… into her\n\n\
Two teammates who add the same contact offline get two records; merge them\n\
after a sync. The survivor's values win; its empty fields are filled from the\n\
duplicate, notes and tags are combined. The merge syncs like any edit."
    )]
    Merge {
        /// The person to keep.
        keep: String,
        /// The duplicate to fold into them (use the id prefix from `person list`).
        duplicate: String,
        #[arg(long)]
        account: Option<String>,
    },
    /// Archive a person (kept, hidden from lists); `--restore` undoes it.
    #[command(
        after_help = "Example:\n  rapport person archive \"Ana Silva\"\n  rapport person archive \"Ana Silva\" --purge   # delete with their relationships and plan items"
    )]
    Archive {
        person: String,
        #[arg(long)]
        account: Option<String>,
        /// Bring an archived record back.
        #[arg(long)]
        restore: bool,
        /// Delete for good, with their relationships and plan items.
        #[arg(long, conflicts_with = "restore")]
        purge: bool,
    },
}

#[derive(clap::Args, Clone)]
pub struct Fields {
    #[arg(long)]
    email: Option<String>,
    #[arg(long)]
    phone: Option<String>,
    #[arg(long)]
    title: Option<String>,
    /// Whom they report to (a person in the same account): the org chart.
    #[arg(long, value_name = "PERSON")]
    reports_to: Option<String>,
    /// Someone they sway (repeatable).
    #[arg(long, value_name = "PERSON")]
    influences: Vec<String>,
    /// Someone they oppose (repeatable).
    #[arg(long, value_name = "PERSON")]
    opposes: Vec<String>,
    /// Decision orientation: financial, technical, business, relationship.
    #[arg(long)]
    orientation: Option<String>,
    /// Political status: inner-circle, political-structure, outside.
    #[arg(long)]
    status: Option<String>,
    /// A tag (repeatable).
    #[arg(long)]
    tag: Vec<String>,
    /// Their goals, in words.
    #[arg(long)]
    goals: Option<String>,
    /// Free-text notes (replaces existing notes on edit).
    #[arg(long)]
    notes: Option<String>,
}

pub fn run(ctx: &Ctx, cmd: Cmd) -> anyhow::Result<()> {
    let ws = Workspace::open(ctx)?;
    match cmd {
        Cmd::Add {
            name,
            account,
            fields,
        } => add(&ws, &name, account.as_deref(), fields),
        Cmd::List {
            account,
            tag,
            key_players,
            all,
        } => list(&ws, account.as_deref(), tag, key_players, all),
        Cmd::Show {
            person,
            account,
            conflicts,
        } => show(&ws, &person, account.as_deref(), conflicts),
        Cmd::Merge {
            keep,
            duplicate,
            account,
        } => merge(&ws, &keep, &duplicate, account.as_deref()),
        Cmd::Edit {
            person,
            account,
            name,
            fields,
            remove_tag,
            unlink,
        } => edit(
            &ws,
            &person,
            account.as_deref(),
            name,
            fields,
            remove_tag,
            unlink,
        ),
        Cmd::Archive {
            person,
            account,
            restore,
            purge,
        } => archive(&ws, &person, account.as_deref(), restore, purge),
    }
}

fn link(data: &DocData, query: &str) -> anyhow::Result<RecordId> {
    let doc = Doc {
        id: rapport_core::DocId::from_bytes([0; 16]),
        data: data.clone(),
    };
    Ok(find_person(std::slice::from_ref(&doc), query)?.1)
}

/// Applies the field flags to `p`, resolving people references within `data`.
fn apply_fields(p: &mut Person, f: Fields, data: &DocData) -> anyhow::Result<()> {
    if let Some(e) = f.email {
        p.email = if e.trim().is_empty() {
            None
        } else {
            Some(validate_email(&e)?)
        };
    }
    apply(&mut p.phone, text_edit(f.phone));
    apply(&mut p.title, text_edit(f.title));
    if let Some(r) = f.reports_to {
        p.reports_to = if r.trim().is_empty() {
            None
        } else {
            Some(link(data, &r)?)
        };
    }
    for q in &f.influences {
        let id = link(data, q)?;
        if !p.influences.contains(&id) {
            p.influences.push(id);
        }
    }
    for q in &f.opposes {
        let id = link(data, q)?;
        if !p.opposes.contains(&id) {
            p.opposes.push(id);
        }
    }
    apply(
        &mut p.orientation,
        value_edit::<DecisionOrientation>(f.orientation.as_deref())?,
    );
    apply(
        &mut p.political_status,
        value_edit::<PoliticalStatus>(f.status.as_deref())?,
    );
    for t in f
        .tag
        .iter()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        if !p.tags.iter().any(|x| x == t) {
            p.tags.push(t.to_string());
        }
    }
    if let Some(g) = &f.goals {
        p.goals.set(g);
    }
    if let Some(n) = &f.notes {
        p.notes.set(n);
    }
    Ok(())
}

fn add(ws: &Workspace, name: &str, account: Option<&str>, f: Fields) -> anyhow::Result<()> {
    let name = validate_name("name", name)?;
    let target = ws.target(account)?;
    let id = RecordId::random();
    // Names in the fields (--reports-to...) are resolved against the
    // people as read (from the view); the new person, under a fresh id, is
    // then appended without loading the document where the view allows.
    let read = ws.read(target, Parts::PEOPLE)?;
    let data = &read.data;
    let mut person = Person::named(&name);
    person.created = Some(ws.ctx.today);
    apply_fields(&mut person, f, data)?;
    if let Some(email) = &person.email
        && let Some((_, other)) = data
            .people
            .iter()
            .find(|(_, o)| o.email.as_ref() == Some(email) && !o.archived)
    {
        ws.ctx
            .out
            .warn(format!("{} also has the email {email}", other.name));
    }
    ws.append(
        target,
        |d| Ok(doc::put_record(d, Collection::People, &id, &person)?),
        |data, _| {
            data.people.insert(id.clone(), person.clone());
        },
    )?;
    let label = read.label();
    if ws.ctx.out.json {
        return ws.ctx.out.json(
            &serde_json::json!({ "id": id, "doc": target, "doc_name": label, "person": person }),
        );
    }
    ws.ctx.out.done(format!(
        "Added {} ({}) to {label}.",
        person.name,
        id.short()
    ))
}

#[derive(Serialize)]
struct ListedPerson<'a> {
    #[serde(flatten)]
    rec: Rec<'a, Person>,
    key_player: bool,
}

fn list(
    ws: &Workspace,
    account: Option<&str>,
    tag: Option<String>,
    key_players: bool,
    all: bool,
) -> anyhow::Result<()> {
    let scope = ws.scope(account)?;
    let shown = |p: &PersonRow<'_>| {
        (all || !p.archived)
            && (!key_players || p.is_key_player())
            && tag
                .as_ref()
                .is_none_or(|t| p.tags.iter().any(|x| x.eq_ignore_ascii_case(t)))
    };
    let out = &ws.ctx.out;
    if out.json {
        let docs = ws.read_scope(scope, Parts::PEOPLE)?;
        let labels: Vec<String> = docs.iter().map(Doc::label).collect();
        let mut rows: Vec<(usize, &RecordId, &Person)> = Vec::new();
        for (i, d) in docs.iter().enumerate() {
            rows.extend(
                d.data
                    .people
                    .iter()
                    .filter(|(_, p)| shown(&PersonRow::of(p)))
                    .map(|(id, p)| (i, id, p)),
            );
        }
        sort_rows(&mut rows, &labels, |p| &p.name);
        let json: Vec<ListedPerson> = rows
            .iter()
            .map(|(i, id, p)| ListedPerson {
                rec: Rec::new(&docs[*i], id, p),
                key_player: p.is_key_player(),
            })
            .collect();
        return out.json(&json);
    }
    // The table needs a few columns: they are read in place from the
    // views, not decoded into whole people.
    let lists = ws.people_lists(scope)?;
    let labels: Vec<String> = lists.iter().map(PeopleList::label).collect();
    let people: Vec<_> = lists.iter().map(PeopleList::rows).collect();
    let mut rows = Vec::with_capacity(people.iter().map(|p| p.len()).sum());
    for (i, list) in people.iter().enumerate() {
        rows.extend(
            list.iter()
                .filter(|(_, p)| shown(p))
                .map(|(id, p)| (i, *id, p)),
        );
    }
    sort_rows(&mut rows, &labels, |p| p.name);
    // Each row is made as it is written, not held: 10k at 100k records.
    let row = |r: usize| -> [Cow<str>; 6] {
        let (i, id, p) = rows[r];
        [
            if p.archived {
                Cow::Owned(format!("{} [archived]", p.name))
            } else {
                Cow::Borrowed(p.name)
            },
            Cow::Borrowed(p.title.unwrap_or_default()),
            Cow::Borrowed(labels[i].as_str()),
            Cow::Borrowed(p.political_status.map_or("", PoliticalStatus::as_str)),
            Cow::Borrowed(p.email.unwrap_or_default()),
            Cow::Borrowed(rapport_core::ids::short(id)),
        ]
    };
    out.table_of(
        &["name", "title", "account", "status", "email", "id"],
        rows.len(),
        row,
        "No people yet: add one with `rapport person add NAME`.",
    )
}

/// By account name (as written, case counting, as before this sort was
/// split in two), then person name ignoring case; the same name in one
/// account keeps the order of the ids. Sorted by the account's place among
/// the names first (found once per document, not once per row), then each
/// account's people among themselves: far fewer name comparisons than one
/// sort of every row by both.
fn sort_rows<I, P>(rows: &mut [(usize, I, P)], labels: &[String], name: impl Fn(&P) -> &str) {
    let rank = name_order(labels);
    rows.sort_by_key(|(i, _, _)| rank[*i]);
    for account in rows.chunk_by_mut(|(i, _, _), (j, _, _)| rank[*i] == rank[*j]) {
        account.sort_by(|(_, _, p), (_, _, q)| cmp_lowercase(name(p), name(q)));
    }
}

fn show(
    ws: &Workspace,
    query: &str,
    account: Option<&str>,
    with_conflicts: bool,
) -> anyhow::Result<()> {
    // Find the person among everyone's names, then read the rest of that
    // one document, keeping only the activities that involve the person.
    let lists = ws.people_lists_to_read_about(ws.scope(account)?)?;
    let (i, id) = find_person_in(&lists, query)?;
    let involves = |_: &str, a: &ActivityRef<'_>| a.involves(&id);
    let d = &ws.read_about(lists[i].id(), Parts::ALL, &Select::keeping(&involves))?;
    drop(lists);
    let Some(p) = d.data.people.get(&id) else {
        anyhow::bail!("person {id} changed while being read; try again");
    };
    let conflicts = if with_conflicts {
        Some(ws.inspect(d.id, |am| {
            rapport_core::merge::conflicts(am, Collection::People, &id)
        })??)
    } else {
        None
    };
    let mut rels: Vec<_> = d
        .data
        .relationships
        .iter()
        .filter(|(_, r)| r.person == id && !r.archived)
        .collect();
    rels.sort_by_key(|(_, r)| r.member.clone());
    let mut plan: Vec<_> = d
        .data
        .plan
        .iter()
        .filter(|(_, x)| x.person == id && !x.archived)
        .collect();
    plan.sort_by_key(|(_, x)| (x.due.is_none(), x.due, x.action.clone()));
    let mut acts: Vec<_> = d
        .data
        .activities
        .iter()
        .filter(|(_, a)| a.people.contains(&id) && !a.archived)
        .collect();
    acts.sort_by(|a, b| {
        b.1.date
            .cmp(&a.1.date)
            .then_with(|| a.1.notes.as_str().cmp(b.1.notes.as_str()))
    });
    let mut opps: Vec<_> = d
        .data
        .opportunities
        .iter()
        .filter_map(|(oid, o)| o.players.get(&id).map(|kp| (oid, o, kp)))
        .collect();
    opps.sort_by_key(|(_, o, _)| o.title.clone());
    let gives = acts
        .iter()
        .filter(|(_, a)| a.direction == Direction::Give)
        .count();
    let asks = acts
        .iter()
        .filter(|(_, a)| a.direction == Direction::Ask)
        .count();
    let out = &ws.ctx.out;
    if out.json {
        let mut value = serde_json::json!({
            "id": id,
            "doc": d.id,
            "doc_name": d.label(),
            "person": p,
            "key_player": p.is_key_player(),
            "relationships": rels.iter().map(|(rid, r)| serde_json::json!({"rel": Rec::new(d, rid, *r), "last_contact_derived": d.data.last_contact(r), "overdue": crate::commands::rel::overdue(ws.ctx.today, &d.data, r)})).collect::<Vec<_>>(),
            "plan": plan.iter().map(|(pid, x)| serde_json::json!({"id": pid, "item": x})).collect::<Vec<_>>(),
            "opportunities": opps.iter().map(|(oid, o, kp)| serde_json::json!({"id": oid, "title": o.title, "status": o.status, "role": kp.role, "preference": kp.preference})).collect::<Vec<_>>(),
            "activities": acts.iter().map(|(aid, a)| serde_json::json!({"id": aid, "activity": a})).collect::<Vec<_>>(),
            "gives": gives,
            "asks": asks,
        });
        if let Some(c) = &conflicts {
            value["conflicts"] = serde_json::to_value(c)?;
        }
        return out.json(&value);
    }
    out.line(out.bold(&p.name))?;
    out.fields(&[
        ("id", id.to_string()),
        ("account", d.label()),
        ("title", cell(&p.title)),
        ("email", cell(&p.email)),
        ("phone", cell(&p.phone)),
        (
            "status",
            p.political_status
                .map(|s| {
                    format!(
                        "{s}{}",
                        if p.is_key_player() {
                            " (key player)"
                        } else {
                            ""
                        }
                    )
                })
                .unwrap_or_default(),
        ),
        ("orientation", cell(&p.orientation)),
        (
            "reports to",
            p.reports_to
                .as_ref()
                .map(|r| person_name(d, r))
                .unwrap_or_default(),
        ),
        ("influences", names(d, &p.influences)),
        ("opposes", names(d, &p.opposes)),
        ("tags", p.tags.join(", ")),
        ("goals", p.goals.as_str().to_string()),
        ("notes", p.notes.as_str().to_string()),
        ("give/ask", format!("{gives} given, {asks} asked")),
        (
            "merged into",
            p.merged_into
                .as_ref()
                .map(|m| format!("{} ({m})", person_name(d, m)))
                .unwrap_or_default(),
        ),
        (
            "archived",
            if p.archived {
                "yes".into()
            } else {
                String::new()
            },
        ),
    ])?;
    if let Some(conflicts) = &conflicts {
        out.heading("Conflicts")?;
        conflict_table(out, conflicts)?;
    }
    out.heading("Relationships")?;
    out.table(
        &[
            "member",
            "level",
            "desired",
            "preference",
            "desired pref",
            "coverage",
            "last contact",
        ],
        rels.iter()
            .map(|(_, r)| {
                vec![
                    format!("@{}", r.member),
                    r.level.to_string(),
                    cell(&r.desired_level),
                    r.preference.to_string(),
                    cell(&r.desired_preference),
                    r.coverage.to_string(),
                    cell(&d.data.last_contact(r)),
                ]
            })
            .collect(),
        "No relationship yet: `rapport rel add PERSON`.",
    )?;
    out.heading("Plan")?;
    out.table(
        &["action", "owner", "due", "status"],
        plan.iter()
            .map(|(_, x)| {
                vec![
                    x.action.clone(),
                    format!("@{}", x.owner),
                    cell(&x.due),
                    x.status.to_string(),
                ]
            })
            .collect(),
        "No investments planned.",
    )?;
    if !opps.is_empty() {
        out.heading("Opportunities")?;
        out.table(
            &["title", "status", "role", "preference"],
            opps.iter()
                .map(|(_, o, kp)| {
                    vec![
                        o.title.clone(),
                        o.status.to_string(),
                        kp.role.to_string(),
                        // On the opportunity, or else the best the team records.
                        kp.preference
                            .or_else(|| rels.iter().map(|(_, r)| r.preference).max())
                            .map(|p| p.to_string())
                            .unwrap_or_default(),
                    ]
                })
                .collect(),
            "",
        )?;
    }
    out.heading("Recent activity")?;
    out.table(
        &["date", "kind", "direction", "by", "notes"],
        acts.iter()
            .take(10)
            .map(|(_, a)| {
                vec![
                    a.date.to_string(),
                    a.kind.to_string(),
                    a.direction.to_string(),
                    format!("@{}", a.by),
                    first_line(a.notes.as_str()),
                ]
            })
            .collect(),
        "No activity logged.",
    )
}

/// Each of `names`' place in their sorted order; equal names share one.
fn name_order(names: &[String]) -> Vec<usize> {
    let mut sorted: Vec<usize> = (0..names.len()).collect();
    sorted.sort_by(|a, b| names[*a].cmp(&names[*b]));
    let mut place = vec![0; names.len()];
    for (n, pair) in sorted.windows(2).enumerate() {
        place[pair[1]] = if names[pair[0]] == names[pair[1]] {
            place[pair[0]]
        } else {
            n + 1
        };
    }
    place
}

pub fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or("");
    if line.chars().count() > 60 {
        format!("{}…", line.chars().take(59).collect::<String>())
    } else {
        line.to_string()
    }
}

fn edit(
    ws: &Workspace,
    query: &str,
    account: Option<&str>,
    name: Option<String>,
    f: Fields,
    remove_tag: Vec<String>,
    unlink: Vec<String>,
) -> anyhow::Result<()> {
    let docs = ws.read_scope(ws.scope(account)?, Parts::PEOPLE)?;
    let (i, id) = find_person(&docs, query)?;
    let new_name = name
        .as_deref()
        .map(|n| validate_name("name", n))
        .transpose()?;
    // Written without loading the document where its view and field index
    // are valid (tags, links and notes included).
    let (person, ()) = ws.update(docs[i].id, &id, Parts::PEOPLE, |data, p: &mut Person| {
        apply(&mut p.name, new_name.clone());
        apply_fields(p, f.clone(), data)?;
        p.tags
            .retain(|t| !remove_tag.iter().any(|r| r.eq_ignore_ascii_case(t)));
        for q in &unlink {
            let other = link(data, q)?;
            p.influences.retain(|x| x != &other);
            p.opposes.retain(|x| x != &other);
        }
        Ok(())
    })?;
    if ws.ctx.out.json {
        return ws
            .ctx
            .out
            .json(&serde_json::json!({ "id": id, "doc": docs[i].id, "doc_name": docs[i].label(), "person": person }));
    }
    ws.ctx.out.done(format!("Updated {}.", person.name))
}

fn archive(
    ws: &Workspace,
    query: &str,
    account: Option<&str>,
    restore: bool,
    purge: bool,
) -> anyhow::Result<()> {
    let docs = ws.read_scope(
        ws.scope(account)?,
        Parts {
            people: true,
            relationships: true,
            plan: true,
            ..Parts::NONE
        },
    )?;
    let (i, id) = find_person(&docs, query)?;
    let d = &docs[i];
    let name = person_name(d, &id);
    if !purge {
        let verb = super::archive_record(ws, d.id, Collection::People, &id, restore, false)?;
        return ws.ctx.out.done(format!("{verb} {name}."));
    }
    ws.edit(d.id, |am| {
        doc::delete_record(am, Collection::People, &id)?;
        for (rid, _) in d.data.relationships.iter().filter(|(_, r)| r.person == id) {
            doc::delete_record(am, Collection::Relationships, rid)?;
        }
        for (pid, _) in d.data.plan.iter().filter(|(_, x)| x.person == id) {
            doc::delete_record(am, Collection::Plan, pid)?;
        }
        Ok(())
    })?;
    let verb = "Purged";
    ws.ctx.out.done(format!("{verb} {name}."))
}

/// Values teammates wrote to the same field at once: the one everyone sees,
/// and the others automerge kept.
pub fn conflict_table(
    out: &crate::output::Output,
    conflicts: &[rapport_core::merge::Conflict],
) -> anyhow::Result<()> {
    out.table(
        &["field", "shown", "also written"],
        conflicts
            .iter()
            .map(|c| vec![c.field.clone(), c.shown.clone(), c.others.join(" | ")])
            .collect(),
        "No conflicting values.",
    )
}

fn merge(ws: &Workspace, keep: &str, duplicate: &str, account: Option<&str>) -> anyhow::Result<()> {
    let docs = ws.read_scope(ws.scope(account)?, Parts::PEOPLE)?;
    let (ki, keep_id) = find_person(&docs, keep)?;
    let (di, dup_id) = find_person(&docs, duplicate)?;
    if ki != di {
        return Err(user(format!(
            "{} is in {} and {} in {}: only people of the same account can be merged",
            person_name(&docs[ki], &keep_id),
            docs[ki].label(),
            person_name(&docs[di], &dup_id),
            docs[di].label()
        )));
    }
    if keep_id == dup_id {
        return Err(user(
            "both names point at the same record: nothing to merge",
        ));
    }
    let d = &docs[ki];
    let (keep_name, dup_name) = (person_name(d, &keep_id), person_name(d, &dup_id));
    let report = ws.edit(d.id, |am| {
        Ok(rapport_core::merge::merge_people(am, &keep_id, &dup_id)?)
    })?;
    let out = &ws.ctx.out;
    if out.json {
        return out.json(&serde_json::json!({
            "kept": keep_id, "merged": dup_id, "doc": d.id, "report": report,
        }));
    }
    out.done(format!(
        "Merged {dup_name} ({}) into {keep_name} ({}).",
        dup_id.short(),
        keep_id.short()
    ))?;
    let moved = [
        (report.relationships_moved, "relationship"),
        (report.activities, "activity"),
        (report.plan_items, "plan item"),
        (report.roles_moved, "opportunity role"),
        (report.partnerships, "partnership"),
        (report.links, "org-chart link"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, noun)| crate::output::plural(*n, noun))
    .collect::<Vec<_>>();
    if !moved.is_empty() {
        out.done(format!("Moved: {}.", moved.join(", ")))?;
    }
    if !report.fields_filled.is_empty() {
        out.done(format!(
            "Filled from the duplicate: {}.",
            report.fields_filled.join(", ")
        ))?;
    }
    if report.relationships_combined > 0 {
        out.done(format!(
            "Combined {} (a teammate related to both records).",
            crate::output::plural(report.relationships_combined, "relationship")
        ))?;
    }
    for title in &report.roles_dropped {
        out.warn(format!(
            "{title}: both records had a role; {keep_name}'s was kept"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::sort_rows;

    /// The grouped sort orders rows as one stable sort by (the account's
    /// place among the names, the lowercased name) does, with accounts of
    /// the same name, names equal but for case, and non-ASCII names.
    #[test]
    fn rows_sort_as_one_stable_sort_by_account_then_name() {
        let labels: Vec<String> = ["Zeta", "acme", "Acme", "acme", "Ölfirma"]
            .map(String::from)
            .to_vec();
        let names = [
            "bo",
            "Ana",
            "ana",
            "Émile",
            "zoë",
            "Bo",
            "ΟΔΟΣ",
            "οδοσ",
            "al",
            "AL",
            "Åsa",
            "Person 0001",
            "person 0001",
            "PERSON 0002",
            "Person 000",
            "Person 0001a",
            "Person 0001B",
            "Person_0001",
        ];
        // Rows in document order, then id order, as the lists give them.
        let mut rows: Vec<(usize, usize, &str)> = Vec::new();
        let mut id = 0;
        for doc in 0..labels.len() {
            for (k, name) in names.iter().enumerate() {
                if (k + doc) % 3 != 0 {
                    rows.push((doc, id, name));
                    id += 1;
                }
            }
        }
        let rank = super::name_order(&labels);
        let mut expected = rows.clone();
        expected.sort_by_cached_key(|(doc, _, name)| (rank[*doc], name.to_lowercase()));
        sort_rows(&mut rows, &labels, |name| name);
        assert_eq!(rows, expected);
    }
}
