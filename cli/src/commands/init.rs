//! `rapport init` and `rapport where`.

use anyhow::Context as _;
use rapport_core::doc;
use rapport_core::model::Owner;
use rapport_core::values::{validate_email, validate_handle, validate_name};

use crate::ctx::{Config, Ctx};
use crate::error::user_hint;
use crate::workspace::open_store;

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  rapport init --name \"Sam Lee\" --handle sam --email sam@example.com\n\n\
On a second machine, start from the personal document your first machine shared\n\
with a --personal remote (see docs/teams.md, \"Your own devices\"):\n  \
rapport remote add mine https://relay.example.com --team sam-devices --token rpt_… --personal\n  \
rapport init --from-remote mine"
)]
pub struct Args {
    /// Your name, as teammates see it.
    #[arg(long, required_unless_present = "from_remote")]
    pub name: Option<String>,
    /// Your short handle (a-z, 0-9, - _ .): it marks your relationships and activity.
    #[arg(long, required_unless_present = "from_remote")]
    pub handle: Option<String>,
    /// Fetch your personal document (and the accounts shared there) from
    /// this --personal remote instead of starting a new one.
    #[arg(long, value_name = "REMOTE", conflicts_with_all = ["name", "handle", "email"])]
    pub from_remote: Option<String>,
    /// Your email address.
    #[arg(long)]
    pub email: Option<String>,
}

/// Creates the personal document and records it in the config.
pub fn init(ctx: &Ctx, owner: &Owner) -> anyhow::Result<rapport_core::DocId> {
    let mut config = Config::load(&ctx.paths.config)?;
    if let Some(existing) = config.personal_doc()? {
        return Err(user_hint(
            format!("already initialised: personal document {existing}"),
            "use `rapport where` to see where the data is, or --home for another workspace",
        ));
    }
    let store = open_store(ctx);
    let created = store.create(|d| doc::init_personal(d, owner))?;
    config.personal_doc = Some(created.id.to_url());
    config
        .save(&ctx.paths.config)
        .context("could not record the personal document")?;
    Ok(created.id)
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    if let Some(remote) = &args.from_remote {
        return crate::commands::sync::join(ctx, remote);
    }
    let owner = Owner {
        name: validate_name("name", args.name.as_deref().unwrap_or_default())?,
        handle: validate_handle(args.handle.as_deref().unwrap_or_default())?,
        email: args.email.as_deref().map(validate_email).transpose()?,
    };
    let id = init(ctx, &owner)?;
    if ctx.out.json {
        return ctx
            .out
            .json(&serde_json::json!({ "personal_doc": id, "owner": owner }));
    }
    ctx.out.done(format!(
        "Initialised Rapport for {} (@{}).",
        owner.name, owner.handle
    ))?;
    ctx.out
        .done(format!("Data: {}", ctx.paths.store.display()))?;
    ctx.out
        .done("Next: `rapport account add NAME`, then `rapport person add NAME --account NAME`.")
}

pub fn run_where(ctx: &Ctx) -> anyhow::Result<()> {
    let config = Config::load(&ctx.paths.config)?;
    let personal = config.personal_doc()?;
    if ctx.out.json {
        return ctx.out.json(&serde_json::json!({
            "store": ctx.paths.store,
            "config": ctx.paths.config,
            "home": ctx.paths.home,
            "personal_doc": personal,
        }));
    }
    ctx.out.fields(&[
        ("store", ctx.paths.store.display().to_string()),
        ("config", ctx.paths.config.display().to_string()),
        (
            "personal document",
            personal
                .map(|p| p.to_string())
                .unwrap_or_else(|| "(not initialised)".into()),
        ),
    ])
}
