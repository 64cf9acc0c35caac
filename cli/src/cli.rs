//! The command line: global flags and the noun-verb command tree.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::commands;
use crate::ctx::{Ctx, Paths};
use crate::output::Output;

#[derive(Parser)]
#[command(
    name = "rapport",
    version,
    about = "Rapport: a local-first relationship planner",
    long_about = "Rapport keeps relationships (long-lived, on a ladder of levels) apart from \
opportunities (dated, always closing), plans give-first investments in the people who matter, \
and shows the gap between where each relationship stands and where it must be.\n\n\
Everything is stored on this machine in automerge documents; nothing needs a server.",
    after_help = "Examples:\n  rapport init --name \"Sam Lee\" --handle sam\n  rapport account add \"Acme Corp\" --target\n  rapport person add \"Ana Silva\" --account Acme --email ana@acme.com --status inner-circle\n  rapport rel add \"Ana Silva\" --level credible-source --desired-level trusted-advisor\n  rapport log add \"Ana Silva\" --kind intro --notes \"Introduced her to Bo\"\n  rapport demo   # try it on an example data set"
)]
pub struct Cli {
    /// Keep all data and config under this directory (default: the platform's data dir).
    #[arg(long, global = true, env = "RAPPORT_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print nothing on success.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Pretend today is this date (YYYY-MM-DD); for tests and demos.
    #[arg(long, global = true, env = "RAPPORT_TODAY", hide = true)]
    pub today: Option<String>,
    /// A document saved as one chunk of at least this many bytes is read
    /// from its columns when it has no valid view, not loaded; for tests.
    #[arg(long, global = true, env = "RAPPORT_SCAN_FROM", hide = true, value_name = "BYTES",
          default_value_t = crate::workspace::SCAN_FROM)]
    pub scan_from: u64,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Create your personal document: who you are to your teammates.
    Init(commands::init::Args),
    /// Accounts: the organisations you target.
    #[command(subcommand)]
    Account(commands::account::Cmd),
    /// People: your contacts, in an account or personal.
    #[command(subcommand)]
    Person(commands::person::Cmd),
    /// Relationships: how a team member and a contact are connected.
    #[command(subcommand)]
    Rel(commands::rel::Cmd),
    /// Opportunities: what we want someone to say yes to.
    #[command(subcommand)]
    Opp(commands::opp::Cmd),
    /// The relationship plan: give-first investments in people.
    #[command(subcommand)]
    Plan(commands::plan::Cmd),
    /// The activity log: what happened, and whether we gave or asked.
    #[command(subcommand)]
    Log(commands::log::Cmd),
    /// Partnerships: shared goals, commitments and risks.
    #[command(subcommand)]
    Partner(commands::partner::Cmd),
    /// Private notes, kept in your personal document only.
    #[command(subcommand)]
    Note(commands::note::Cmd),
    /// The relationship gap of an account or opportunity, with findings.
    Gap(commands::gap::Args),
    /// What to do in the coming days, across all accounts.
    Agenda(commands::agenda::Args),
    /// Draw an account's relationship map (SVG, DOT or Mermaid).
    Map(commands::map::Args),
    /// Relays to sync with: add, list, remove.
    #[command(subcommand)]
    Remote(commands::remote::Cmd),
    /// Share an account with your team through a relay.
    Share(commands::sync::ShareArgs),
    /// Sync shared accounts with the relay, both ways, once.
    Sync(commands::sync::SyncArgs),
    /// Which shared documents have changes the relay has not seen (offline).
    Status(commands::sync::StatusArgs),
    /// Load an example workspace (two accounts, ~15 people) to try Rapport.
    Demo(commands::demo::Args),
    /// Print where data and config live.
    #[command(after_help = "Example:\n  rapport where --json")]
    Where,
    /// Check every document; `--repair` moves damaged files aside.
    Doctor(commands::doctor::Args),
    /// Print shell completions.
    Completions(commands::completions::Args),
}

pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let paths = Paths::resolve(cli.home.as_deref())?;
    let today = match &cli.today {
        Some(s) => s.parse()?,
        None => rapport_core::Day(chrono::Local::now().date_naive()),
    };
    let ctx = Ctx {
        paths,
        out: Output::new(cli.json, cli.quiet),
        today,
        scan_from: cli.scan_from,
    };
    commands::run(&ctx, cli.command)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every command a user can run shows an example in `--help`.
    #[test]
    fn every_command_has_an_example() {
        fn walk(cmd: &clap::Command, path: String, missing: &mut Vec<String>) {
            let subs: Vec<_> = cmd
                .get_subcommands()
                .filter(|s| s.get_name() != "help")
                .collect();
            if subs.is_empty() {
                let help = cmd
                    .get_after_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                if !help.contains("Example") {
                    missing.push(path);
                }
                return;
            }
            for s in subs {
                walk(s, format!("{path} {}", s.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        // Subcommands are made when first used (`defer`): built all here.
        let mut cli = Cli::command();
        cli.build();
        assert!(
            cli.get_subcommands()
                .map(|s| s.get_subcommands().count())
                .sum::<usize>()
                > 30,
            "the tree is built"
        );
        walk(&cli, "rapport".into(), &mut missing);
        assert!(
            missing.is_empty(),
            "commands without an example: {missing:?}"
        );
    }

    #[test]
    fn the_command_tree_is_well_formed() {
        Cli::command().debug_assert();
    }
}
