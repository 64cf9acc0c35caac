//! `rapport-relay`: parse the command line, then serve or administer.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use rapport_relay::config::{Config, ServeArgs};
use rapport_relay::teams::Registry;

#[derive(Parser)]
#[command(
    name = "rapport-relay",
    version,
    about = "The self-hostable Rapport sync relay",
    after_help = "Examples:\n  rapport-relay team add acme --data-dir /var/lib/rapport-relay\n  rapport-relay member add acme sam --data-dir /var/lib/rapport-relay   # prints sam's token once\n  rapport-relay serve --data-dir /var/lib/rapport-relay --listen 127.0.0.1:8787"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct DataDir {
    /// The relay's data directory.
    #[arg(long, env = "RAPPORT_RELAY_DATA_DIR")]
    data_dir: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Run the relay.
    Serve(ServeArgs),
    /// Teams: add and list.
    #[command(subcommand)]
    Team(TeamCmd),
    /// Members of a team: add (prints a token once), remove (revokes at once), list.
    #[command(subcommand)]
    Member(MemberCmd),
}

#[derive(Subcommand)]
enum TeamCmd {
    /// Add a team.
    Add {
        name: String,
        #[command(flatten)]
        dir: DataDir,
    },
    /// List teams with their member and document counts.
    List {
        #[command(flatten)]
        dir: DataDir,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum MemberCmd {
    /// Add a member; prints their token (only a hash is kept).
    Add {
        team: String,
        handle: String,
        /// The member receives documents but cannot change them.
        #[arg(long)]
        read_only: bool,
        #[command(flatten)]
        dir: DataDir,
    },
    /// Remove a member; a running relay disconnects them within a second.
    Remove {
        team: String,
        handle: String,
        #[command(flatten)]
        dir: DataDir,
    },
    /// List a team's members.
    List {
        team: String,
        #[command(flatten)]
        dir: DataDir,
        #[arg(long)]
        json: bool,
    },
}

/// jemalloc rather than glibc's malloc: the relay allocates and frees
/// across many threads (connections, the document pool, the storage
/// tasks), where glibc's malloc took a fifth of its CPU. At 500 clients
/// (`relay-load`, tmpfs) 15-40% more sessions/s with jemalloc, and ~3% less
/// peak RSS with the single arena `.cargo/config.toml` builds it with.
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve(args),
        Command::Team(TeamCmd::Add { name, dir }) => {
            Registry::update(&dir.data_dir, |r| r.add_team(&name))?;
            println!("Added team {name}.");
            Ok(())
        }
        Command::Team(TeamCmd::List { dir, json }) => {
            let r = Registry::load(&dir.data_dir)?;
            if json {
                let teams: Vec<_> = r
                    .teams
                    .iter()
                    .map(|(n, t)| serde_json::json!({ "team": n, "members": t.members.len(), "docs": t.docs.len() }))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&teams)?);
            } else {
                for (n, t) in &r.teams {
                    println!(
                        "{n}\t{} members\t{} documents",
                        t.members.len(),
                        t.docs.len()
                    );
                }
            }
            Ok(())
        }
        Command::Member(MemberCmd::Add {
            team,
            handle,
            read_only,
            dir,
        }) => {
            let (_, token) =
                Registry::update(&dir.data_dir, |r| r.add_member(&team, &handle, read_only))?;
            eprintln!(
                "Added {handle} to {team}{}. Their token (shown once, keep it secret):",
                if read_only { " (read-only)" } else { "" }
            );
            println!("{token}");
            Ok(())
        }
        Command::Member(MemberCmd::Remove { team, handle, dir }) => {
            Registry::update(&dir.data_dir, |r| r.remove_member(&team, &handle))?;
            println!("Removed {handle} from {team}; their token no longer works.");
            Ok(())
        }
        Command::Member(MemberCmd::List { team, dir, json }) => {
            let r = Registry::load(&dir.data_dir)?;
            let t = r
                .teams
                .get(&team)
                .with_context(|| format!("no team named '{team}'"))?;
            if json {
                let members: Vec<_> = t
                    .members
                    .iter()
                    .map(|(h, m)| serde_json::json!({ "handle": h, "read_only": m.read_only }))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&members)?);
            } else {
                for (h, m) in &t.members {
                    println!("{h}{}", if m.read_only { "\tread-only" } else { "" });
                }
            }
            Ok(())
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RAPPORT_RELAY_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,samod=warn,samod_core=warn")
            }),
        )
        .init();
    let config = Config::resolve(&args)?;
    let open_files = rapport_relay::raise_open_file_limit();
    tracing::debug!(?open_files, "limit on open files");
    // Blocking threads (file reads and writes, large payload checks) are
    // capped well under tokio's default of 512: a burst of syncs would
    // otherwise start hundreds, each with its own stack and malloc arena.
    // Document writes take at most `CONCURRENT_WRITES` of them, each while
    // it writes its temporary file, and one more commits them in batches;
    // the rest are left for loads, deletes and payload checks.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(rapport_relay::durable::CONCURRENT_WRITES + 32)
        .build()
        .context("could not start the runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("could not listen on {}", config.listen))?;
        let addr = listener.local_addr()?;
        tracing::info!(%addr, data_dir = %config.data_dir.display(), "relay listening");
        rapport_relay::serve(config, listener, shutdown_signal()).await?;
        Ok(())
    })
}

/// SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
