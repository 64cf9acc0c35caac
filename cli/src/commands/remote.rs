//! `rapport remote add|list|remove`: the relays this user syncs with.

use crate::ctx::Ctx;
use crate::error::{user, user_hint};
use crate::remotes::{RemoteEntry, Remotes, SyncState, TOKEN_ENV};

#[derive(clap::Subcommand)]
#[command(defer = true)]
pub enum Cmd {
    /// Add a relay (or replace one of the same name) with your team and token.
    #[command(after_help = "Examples:\n  \
rapport remote add acme https://relay.example.com --team acme --token rpt_4HXS…\n  \
RAPPORT_TOKEN=rpt_4HXS… rapport remote add acme https://relay.example.com --team acme\n  \
rapport remote add mine https://relay.example.com --team sam-devices --token rpt_… --personal\n\n\
The token is stored in remotes.toml (readable by you only) and never printed.\n\
Without --token, RAPPORT_TOKEN must be set when you sync.")]
    Add {
        /// A short name for the remote, e.g. the team's name.
        name: String,
        /// The relay's address: https://… (or http://… for one on this machine).
        url: String,
        /// Your team on the relay.
        #[arg(long)]
        team: String,
        /// Your member token (from `rapport-relay member add`).
        #[arg(long)]
        token: Option<String>,
        /// A team of one for your own devices: only such a remote may hold
        /// your personal document.
        #[arg(long)]
        personal: bool,
    },
    /// List the remotes (tokens are never shown).
    #[command(after_help = "Example:\n  rapport remote list --json")]
    List,
    /// Forget a remote and its token (nothing on the relay changes).
    #[command(after_help = "Example:\n  rapport remote remove acme")]
    Remove { name: String },
}

pub fn run(ctx: &Ctx, cmd: Cmd) -> anyhow::Result<()> {
    match cmd {
        Cmd::Add {
            name,
            url,
            team,
            token,
            personal,
        } => add(ctx, name, url, team, token, personal),
        Cmd::List => list(ctx),
        Cmd::Remove { name } => remove(ctx, &name),
    }
}

fn valid_name(kind: &str, name: &str) -> anyhow::Result<String> {
    let name = name.trim();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(user(format!(
            "'{name}' is not a valid {kind}: use 1 to 64 letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(name.to_string())
}

fn add(
    ctx: &Ctx,
    name: String,
    url: String,
    team: String,
    token: Option<String>,
    personal: bool,
) -> anyhow::Result<()> {
    let name = valid_name("remote name", &name)?;
    let team = valid_name("team name", &team)?;
    rapport_sync::check_url(&url).map_err(|e| {
        user_hint(
            format!("'{url}' is not a relay URL: {e}"),
            "for example https://relay.example.com",
        )
    })?;
    let token = token
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty());
    if let Some(t) = &token
        && !t.chars().all(|c| c.is_ascii_graphic())
    {
        return Err(user(
            "the token has spaces or unprintable characters; copy it again",
        ));
    }
    let mut remotes = Remotes::load(&ctx.paths.remotes)?;
    let replaced = remotes
        .remote
        .insert(
            name.clone(),
            RemoteEntry {
                url: url.trim().trim_end_matches('/').to_string(),
                team: team.clone(),
                token: token.clone(),
                personal,
            },
        )
        .is_some();
    remotes.save(&ctx.paths.remotes)?;
    if ctx.out.json {
        return ctx.out.json(&serde_json::json!({
            "name": name, "url": url, "team": team, "personal": personal,
            "token": token_source(token.is_some()), "replaced": replaced,
        }));
    }
    ctx.out.done(format!(
        "{} remote '{name}' (team {team} at {url}).",
        if replaced { "Replaced" } else { "Added" }
    ))?;
    if token.is_none() {
        ctx.out
            .done(format!("No token stored: set {TOKEN_ENV} when you sync."))?;
    }
    ctx.out.done(
        "Next: `rapport share ACCOUNT` to share an account, or `rapport sync` to fetch the team's.",
    )
}

fn token_source(stored: bool) -> &'static str {
    if std::env::var_os(TOKEN_ENV).is_some_and(|v| !v.is_empty()) {
        "env"
    } else if stored {
        "stored"
    } else {
        "missing"
    }
}

fn list(ctx: &Ctx) -> anyhow::Result<()> {
    let remotes = Remotes::load(&ctx.paths.remotes)?;
    let state = SyncState::load(&ctx.paths.sync_state)?;
    let shared = |name: &str| state.remotes.get(name).map_or(0, |m| m.len());
    if ctx.out.json {
        let rows: Vec<_> = remotes
            .remote
            .iter()
            .map(|(name, e)| {
                serde_json::json!({
                    "name": name, "url": e.url, "team": e.team, "personal": e.personal,
                    "token": token_source(e.token.is_some()), "documents": shared(name),
                })
            })
            .collect();
        return ctx.out.json(&rows);
    }
    let rows = remotes
        .remote
        .iter()
        .map(|(name, e)| {
            vec![
                name.clone(),
                e.url.clone(),
                e.team.clone(),
                token_source(e.token.is_some()).to_string(),
                shared(name).to_string(),
                if e.personal {
                    "personal".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    ctx.out.table(
        &["name", "url", "team", "token", "synced docs", ""],
        rows,
        "No remotes. Add one: rapport remote add NAME URL --team TEAM --token TOKEN",
    )
}

fn remove(ctx: &Ctx, name: &str) -> anyhow::Result<()> {
    let mut remotes = Remotes::load(&ctx.paths.remotes)?;
    if remotes.remote.remove(name).is_none() {
        return Err(user(format!("no remote named '{name}'")));
    }
    remotes.save(&ctx.paths.remotes)?;
    let mut state = SyncState::load(&ctx.paths.sync_state)?;
    if state.remotes.remove(name).is_some() {
        state.save(&ctx.paths.sync_state)?;
    }
    if ctx.out.json {
        return ctx.out.json(&serde_json::json!({ "removed": name }));
    }
    ctx.out
        .done(format!("Removed remote '{name}'. Local data is unchanged."))
}
