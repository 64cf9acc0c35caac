//! One module per command group, each an `Args`/`Cmd` type and a `run`.

pub mod account;
pub mod agenda;
pub mod completions;
pub mod demo;
pub mod doctor;
pub mod gap;
pub mod init;
pub mod log;
pub mod map;
pub mod note;
pub mod opp;
pub mod partner;
pub mod person;
pub mod plan;
pub mod rel;
pub mod remote;
pub mod sync;

use std::str::FromStr;

use rapport_core::Day;

use crate::cli::Command;
use crate::ctx::Ctx;

pub fn run(ctx: &Ctx, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Init(args) => init::run(ctx, args),
        Command::Account(cmd) => account::run(ctx, cmd),
        Command::Person(cmd) => person::run(ctx, cmd),
        Command::Rel(cmd) => rel::run(ctx, cmd),
        Command::Opp(cmd) => opp::run(ctx, cmd),
        Command::Plan(cmd) => plan::run(ctx, cmd),
        Command::Log(cmd) => log::run(ctx, cmd),
        Command::Partner(cmd) => partner::run(ctx, cmd),
        Command::Note(cmd) => note::run(ctx, cmd),
        Command::Gap(args) => gap::run(ctx, args),
        Command::Agenda(args) => agenda::run(ctx, args),
        Command::Map(args) => map::run(ctx, args),
        Command::Remote(cmd) => remote::run(ctx, cmd),
        Command::Share(args) => sync::share(ctx, args),
        Command::Sync(args) => sync::sync(ctx, args),
        Command::Status(args) => sync::status(ctx, args),
        Command::Demo(args) => demo::run(ctx, args),
        Command::Where => init::run_where(ctx),
        Command::Doctor(args) => doctor::run(ctx, args),
        Command::Completions(args) => completions::run(args),
    }
}

/// Archives a record (or restores it, or with `purge` deletes it) and
/// returns the verb for the confirmation: "Archived", "Restored", "Purged".
pub fn archive_record(
    ws: &crate::workspace::Workspace,
    doc: rapport_core::DocId,
    collection: rapport_core::doc::Collection,
    id: &rapport_core::RecordId,
    restore: bool,
    purge: bool,
) -> anyhow::Result<&'static str> {
    use rapport_core::doc::{Collection, Parts};
    use rapport_core::model::{
        Activity, Opportunity, Partnership, Person, PlanItem, PrivateNote, Relationship,
    };
    // The flag is a plain field: set through `Workspace::update`, which
    // writes it without loading the document when it can.
    macro_rules! flag {
        ($t:ty) => {
            ws.update(doc, id, Parts::NONE, |_, r: &mut $t| {
                r.archived = !restore;
                Ok(())
            })
            .map(drop)
        };
    }
    match collection {
        _ if purge => ws.edit(doc, |am| {
            Ok(rapport_core::doc::delete_record(am, collection, id)?)
        }),
        Collection::People => flag!(Person),
        Collection::Relationships => flag!(Relationship),
        Collection::Opportunities => flag!(Opportunity),
        Collection::Plan => flag!(PlanItem),
        Collection::Activities => flag!(Activity),
        Collection::Partnerships => flag!(Partnership),
        Collection::PrivateNotes => flag!(PrivateNote),
        Collection::Accounts => ws.edit(doc, |am| {
            Ok(rapport_core::doc::set_archived(
                am, collection, id, !restore,
            )?)
        }),
    }?;
    Ok(if purge {
        "Purged"
    } else if restore {
        "Restored"
    } else {
        "Archived"
    })
}

/// Parses an optional value with the domain's parser, so a bad value is a
/// user error naming the field and the allowed values.
pub fn parse_opt<T>(value: Option<&str>) -> anyhow::Result<Option<T>>
where
    T: FromStr<Err = rapport_core::Error>,
{
    Ok(value.map(str::parse).transpose()?)
}

/// Parses a list of values.
pub fn parse_list<T>(values: &[String]) -> anyhow::Result<Vec<T>>
where
    T: FromStr<Err = rapport_core::Error>,
{
    let mut out = Vec::new();
    for v in values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        out.push(v.parse()?);
    }
    Ok(out)
}

/// Parses a date (absolute or relative to today).
pub fn parse_day(ctx: &Ctx, value: Option<&str>) -> anyhow::Result<Option<Day>> {
    Ok(value
        .map(|v| Day::parse_relative(v, ctx.today))
        .transpose()?)
}

/// For edits of optional text: `Some("")` clears the field, `Some(x)` sets
/// it, `None` leaves it.
pub fn text_edit(value: Option<String>) -> Option<Option<String>> {
    value.map(|v| {
        let t = v.trim().to_string();
        (!t.is_empty()).then_some(t)
    })
}

/// For edits of optional parsed values: `Some("")` clears.
pub fn value_edit<T>(value: Option<&str>) -> anyhow::Result<Option<Option<T>>>
where
    T: FromStr<Err = rapport_core::Error>,
{
    match value {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(Some(None)),
        Some(v) => Ok(Some(Some(v.parse()?))),
    }
}

/// Like [`value_edit`] for dates.
pub fn day_edit(ctx: &Ctx, value: Option<&str>) -> anyhow::Result<Option<Option<Day>>> {
    match value {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(Some(None)),
        Some(v) => Ok(Some(Some(Day::parse_relative(v, ctx.today)?))),
    }
}

/// Applies an edit when one was given.
pub fn apply<T>(field: &mut T, edit: Option<T>) {
    if let Some(v) = edit {
        *field = v;
    }
}

/// Shows an optional value in a table cell.
pub fn cell<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map(|x| x.to_string()).unwrap_or_default()
}
