//! `rapport demo`: load the embedded example workspace.

use rapport_core::doc::{self, Collection};
use rapport_core::model::{AccountEntry, Owner, PrivateNote};
use rapport_core::{Notes, RecordId};

use crate::ctx::{Config, Ctx};
use crate::demo::{self, Counts};
use crate::error::user_hint;
use crate::output::plural;
use crate::workspace::Workspace;

#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  RAPPORT_HOME=$(mktemp -d) rapport demo\n  rapport demo --home /tmp/rapport-demo"
)]
pub struct Args {}

pub fn run(ctx: &Ctx, _args: Args) -> anyhow::Result<()> {
    let data = demo::parse()?;
    let today = ctx.today;
    let fresh = Config::load(&ctx.paths.config)?.personal_doc()?.is_none();
    if fresh {
        let owner = Owner {
            name: data.owner.name.clone(),
            handle: data.owner.handle.clone(),
            email: data.owner.email.clone(),
        };
        crate::commands::init::init(ctx, &owner)?;
    }
    let ws = Workspace::open(ctx)?;
    let existing: Vec<&str> = data
        .accounts
        .iter()
        .filter(|a| {
            ws.accounts
                .iter()
                .any(|(_, e)| e.name.eq_ignore_ascii_case(&a.name))
        })
        .map(|a| a.name.as_str())
        .collect();
    if existing.len() == data.accounts.len() {
        // Running the demo again shows the tour instead of failing.
        if ctx.out.json {
            return ctx.out.json(&serde_json::json!({ "already_loaded": true }));
        }
        ctx.out.done(format!(
            "The demo is already loaded in {}.",
            ctx.paths.store.display()
        ))?;
        return tour(ctx);
    }
    // A workspace that was only initialised (no accounts, no contacts yet)
    // can take the demo; one with data of its own cannot.
    let empty = ws.accounts.is_empty()
        && ws
            .read(ws.personal, rapport_core::doc::Parts::PEOPLE)?
            .data
            .people
            .is_empty();
    if !fresh && !empty {
        return Err(user_hint(
            format!(
                "{} already holds your own data; the demo would mix with it",
                ctx.paths.store.display()
            ),
            "run it in a fresh place: `rapport --home /tmp/rapport-demo demo`",
        ));
    }
    let mut counts = Counts::default();
    let mut accounts = Vec::new();
    for a in &data.accounts {
        let account = a.account(today)?;
        let mut written = Counts::default();
        let created = ws.store.create(|d| {
            doc::init_account(d, &account)?;
            written = a
                .book
                .write(d, today)
                .map_err(|e| rapport_core::Error::Other(format!("{e:#}")))?;
            Ok(())
        })?;
        counts += written;
        accounts.push((created.id, account));
    }
    let mut personal_counts = Counts::default();
    ws.edit(ws.personal, |d| {
        for (id, account) in &accounts {
            let entry = AccountEntry {
                name: account.name.clone(),
                added: Some(today),
            };
            doc::put_record(
                d,
                Collection::Accounts,
                &RecordId::from(id.to_bs58()),
                &entry,
            )?;
        }
        for n in &data.notes {
            let note = PrivateNote {
                title: n.title.clone(),
                body: Notes::new(&n.body),
                archived: false,
                created: Some(today),
            };
            doc::put_record(d, Collection::PrivateNotes, &RecordId::random(), &note)?;
        }
        personal_counts = data.personal.write(d, today)?;
        Ok(())
    })?;
    counts += personal_counts;
    let out = &ctx.out;
    if out.json {
        return out.json(&serde_json::json!({ "accounts": accounts.iter().map(|(id, a)| serde_json::json!({"doc": id, "name": a.name})).collect::<Vec<_>>(), "counts": counts }));
    }
    out.done(format!(
        "Loaded the demo into {}: {}, {}, {}, {}, {}, {}, {}.",
        ctx.paths.store.display(),
        plural(accounts.len(), "account"),
        plural(counts.people, "person"),
        plural(counts.relationships, "relationship"),
        plural(counts.opportunities, "opportunity"),
        plural(counts.plan, "plan item"),
        plural(counts.activities, "activity"),
        plural(counts.partnerships, "partnership"),
    ))?;
    tour(ctx)
}

fn tour(ctx: &Ctx) -> anyhow::Result<()> {
    let out = &ctx.out;
    out.done("")?;
    let from_env = std::env::var_os("RAPPORT_HOME").map(std::path::PathBuf::from);
    if let Some(home) = ctx
        .paths
        .home
        .as_ref()
        .filter(|h| from_env.as_ref() != Some(*h))
    {
        out.done(format!(
            "First point rapport at it:\n  export RAPPORT_HOME={}",
            home.display()
        ))?;
        out.done("")?;
    }
    out.done("Then try:")?;
    for line in [
        "rapport agenda                      # what to do this week",
        "rapport gap \"Acme Logistics\"        # where we stand vs where we must be",
        "rapport gap --opp \"Hub network\"     # the buying roles of one opportunity",
        "rapport map Acme -o acme.svg        # the relationship map as a picture",
        "rapport person show \"Ana Silva\"",
        "rapport plan list",
        "rapport rel show \"Bruno Costa\"      # we only ever ask him for things",
    ] {
        out.done(format!("  {line}"))?;
    }
    Ok(())
}
