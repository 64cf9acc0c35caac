//! `relay-load`: relay throughput, side by side. N concurrent clients each
//! own M small documents; in every round each client edits its documents
//! and runs one sync session (connect, sync all M, wait until the server
//! has everything, disconnect). The same workload runs against
//! `rapport-relay` and against the reference JS server
//! (`tests/interop/server.mjs`: automerge-repo with NodeWSServerAdapter and
//! node-fs storage, as automerge-repo-sync-server sets it up).
//!
//! ```sh
//! cargo build --release -p rapport-relay -p rapport-bench
//! (cd tests/interop && npm install)
//! target/release/relay-load --clients 10,100,500 --docs 5 --rounds 3
//! ```
//!
//! Prints one table: sessions/s, p50/p99 session time (to convergence),
//! server CPU seconds and peak RSS for both servers, and their ratios.
//! With `--waves N` the workload runs N times and a second table shows, after
//! each wave, the server's memory once the clients left (and what
//! rapport-relay still holds after unloading idle teams).

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use automerge::{AutoCommit, ROOT, transaction::Transactable as _};
use clap::Parser;
use rapport_core::DocId;
use rapport_sync::{DocSync, Outcome, Remote, Timeouts, http, session};

#[derive(Parser)]
#[command(about = "Relay throughput: rapport-relay against the reference JS server")]
struct Args {
    /// Concurrent clients, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "10,100,500")]
    clients: Vec<usize>,
    /// Documents per client.
    #[arg(long, default_value_t = 5)]
    docs: usize,
    /// Sync sessions per client (each after a small edit of every document).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Clients per team on rapport-relay. The relay announces each team
    /// document to every connected teammate, so one team of hundreds is
    /// O(members x documents) messages (see docs/performance.md).
    #[arg(long, default_value_t = 10)]
    team_size: usize,
    /// Which servers: rapport, js, or both.
    #[arg(long, value_delimiter = ',', default_value = "rapport,js")]
    servers: Vec<String>,
    /// Times the whole workload runs, with the same clients and documents.
    /// After each wave the clients are gone: the table then shows the
    /// server's memory and (rapport) what it still holds, once idle teams
    /// have been unloaded. Memory that keeps growing wave after wave is a
    /// leak.
    #[arg(long, default_value_t = 1)]
    waves: usize,
    /// rapport-relay's --unload-idle-secs for the run.
    #[arg(long, default_value_t = 1)]
    unload_idle_secs: u64,
    /// The folder with server.mjs and its node_modules.
    #[arg(long, default_value = "tests/interop")]
    node_dir: PathBuf,
    /// The rapport-relay binary to run (default: the one beside this
    /// program), to compare two builds.
    #[arg(long)]
    relay_bin: Option<PathBuf>,
}

struct Server {
    child: Child,
    url: String,
    /// Member tokens (rapport only); the JS server takes anything.
    tokens: Vec<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads stdout lines until `find` returns something (the port).
fn wait_for(child: &mut Child, find: impl Fn(&str) -> Option<String>) -> anyhow::Result<String> {
    let stdout = child.stdout.take().context("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let found = loop {
        let line = lines
            .next()
            .context("the server exited before listening")??;
        if let Some(v) = find(&line) {
            break v;
        }
    };
    // Drain the rest so the server never blocks on a full pipe;
    // RELAY_LOAD_LOG=FILE keeps it.
    let keep = std::env::var_os("RELAY_LOAD_LOG");
    std::thread::spawn(move || {
        use std::io::Write as _;
        let mut file = keep.and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .ok()
        });
        for line in lines.map_while(Result::ok) {
            if let Some(f) = file.as_mut() {
                let _ = writeln!(f, "{line}");
            }
        }
    });
    Ok(found)
}

/// Starts rapport-relay with `clients` members in teams of `team_size`
/// (`t0`, `t1`, …); tokens in client order.
fn start_rapport(
    dir: &Path,
    clients: usize,
    team_size: usize,
    unload_idle_secs: u64,
    relay_bin: Option<&Path>,
) -> anyhow::Result<Server> {
    let (_, tokens) = rapport_relay::teams::Registry::update(dir, |r| {
        for t in 0..clients.div_ceil(team_size.max(1)) {
            r.add_team(&format!("t{t}"))?;
        }
        (0..clients)
            .map(|i| r.add_member(&team_of(i, team_size), &format!("m{i}"), false))
            .collect::<Result<Vec<_>, _>>()
    })?;
    let bin = match relay_bin {
        Some(bin) => bin.to_path_buf(),
        None => std::env::current_exe()?.with_file_name("rapport-relay"),
    };
    if !bin.exists() {
        bail!(
            "{} is missing: cargo build --release -p rapport-relay",
            bin.display()
        );
    }
    let mut child = Command::new(bin)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--max-connections",
            "4096",
            "--unload-idle-secs",
            &unload_idle_secs.to_string(),
            "--data-dir",
        ])
        .arg(dir)
        .env("RAPPORT_RELAY_LOG", "warn,rapport_relay=info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let addr = wait_for(&mut child, |l| {
        l.split("addr=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .map(str::to_string)
    })?;
    Ok(Server {
        child,
        url: format!("http://{addr}"),
        tokens,
    })
}

fn team_of(client: usize, team_size: usize) -> String {
    format!("t{}", client / team_size.max(1))
}

fn start_js(dir: &Path, node_dir: &Path) -> anyhow::Result<Server> {
    if !node_dir
        .join("node_modules/@automerge/automerge-repo-storage-nodefs")
        .exists()
    {
        bail!("run `npm install` in {} first", node_dir.display());
    }
    let mut child = Command::new("node")
        .arg("server.mjs")
        .arg(dir)
        .current_dir(node_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("node (20+) is needed for the JS server")?;
    let port = wait_for(&mut child, |l| {
        l.strip_prefix("LISTENING ").map(str::to_string)
    })?;
    Ok(Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
        tokens: Vec::new(),
    })
}

/// Resident memory now (KiB), from /proc.
fn rss_now(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    Ok(status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

/// Two gauges from rapport-relay's /metrics: documents and teams loaded.
fn loaded(url: &str) -> anyhow::Result<(u64, u64)> {
    use std::io::{Read as _, Write as _};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr)?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n"
    )?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let gauge = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
            .with_context(|| format!("no {name} in /metrics"))
    };
    Ok((
        gauge("rapport_relay_documents_loaded")?,
        gauge("rapport_relay_teams_loaded")?,
    ))
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// CPU seconds (user + system) and peak RSS (KiB) of a process, from /proc.
fn usage(pid: u32) -> anyhow::Result<(f64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_name = stat.rsplit_once(')').context("odd /proc stat")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime) are 11 and 12 after the name.
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)?.unwrap_or(100) as f64;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok((ticks as f64 / hz, hwm))
}

struct Row {
    server: String,
    clients: usize,
    sessions: usize,
    wall: Duration,
    p50: Duration,
    p99: Duration,
    cpu: f64,
    /// CPU seconds the load generator itself (the clients) used.
    client_cpu: f64,
    rss_mib: f64,
    /// After each wave, once idle: RSS (MiB), and (rapport) documents and
    /// teams still loaded.
    after: Vec<(f64, Option<(u64, u64)>)>,
}

async fn client_rounds(
    remote: Remote,
    peer: String,
    mut docs: Vec<(DocId, AutoCommit)>,
    rounds: usize,
) -> anyhow::Result<(Vec<Duration>, Vec<(DocId, AutoCommit)>)> {
    let timeouts = Timeouts {
        connect: Duration::from_secs(60),
        idle: Duration::from_secs(60),
        reconnects: 0,
    };
    let mut times = Vec::with_capacity(rounds);
    for round in 0..rounds {
        for (_, doc) in docs.iter_mut() {
            doc.put(ROOT, "round", round as i64)?;
            doc.commit();
        }
        let batch = docs
            .drain(..)
            .map(|(id, doc)| DocSync {
                id,
                doc,
                local: true,
            })
            .collect();
        let start = Instant::now();
        let out = session::run(&remote, &peer, batch, timeouts, |_| {}).await?;
        times.push(start.elapsed());
        for (d, report) in out {
            if report.outcome != Outcome::Synced {
                bail!(
                    "{peer}: {} ended {:?} ({:?})",
                    report.id,
                    report.outcome,
                    report.reason
                );
            }
            docs.push((d.id, d.doc));
        }
    }
    Ok((times, docs))
}

fn run(server_kind: &str, clients: usize, args: &Args) -> anyhow::Result<Row> {
    let dir = tempfile::tempdir()?;
    let server = match server_kind {
        "rapport" => start_rapport(
            dir.path(),
            clients,
            args.team_size,
            args.unload_idle_secs,
            args.relay_bin.as_deref(),
        )?,
        "js" => start_js(dir.path(), &args.node_dir)?,
        other => bail!("unknown server {other}: use rapport or js"),
    };
    let remotes: Vec<Remote> = (0..clients)
        .map(|i| Remote {
            url: server.url.clone(),
            team: team_of(i, args.team_size),
            token: server
                .tokens
                .get(i)
                .cloned()
                .unwrap_or_else(|| "none".into()),
        })
        .collect();
    // Setup, not measured: documents, registered with the team (rapport).
    let mut work = Vec::new();
    for (i, remote) in remotes.iter().enumerate() {
        let mut docs = Vec::new();
        for d in 0..args.docs {
            let id = DocId::random();
            let mut doc = AutoCommit::new();
            doc.put(ROOT, "owner", format!("client {i} doc {d}"))?;
            doc.commit();
            if server_kind == "rapport" {
                http::register(remote, &id)?;
            }
            docs.push((id, doc));
        }
        work.push((
            remote.clone(),
            format!("m{i}-{}", rapport_core::RecordId::random()),
            docs,
        ));
    }
    let pid = server.child.id();
    let (cpu_before, _) = usage(pid)?;
    let (client_before, _) = usage(std::process::id())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut times: Vec<Duration> = Vec::new();
    let mut wall = Duration::ZERO;
    let mut after = Vec::new();
    for _ in 0..args.waves.max(1) {
        let start = Instant::now();
        let (wave_times, back) = rt.block_on(async {
            let tasks: Vec<_> = work
                .drain(..)
                .map(|(remote, peer, docs)| {
                    let again = (remote.clone(), peer.clone());
                    (
                        again,
                        tokio::spawn(client_rounds(remote, peer, docs, args.rounds)),
                    )
                })
                .collect();
            let mut all = Vec::new();
            let mut back = Vec::new();
            for ((remote, peer), t) in tasks {
                let (t, docs) = t.await??;
                all.extend(t);
                back.push((remote, peer, docs));
            }
            Ok::<_, anyhow::Error>((all, back))
        })?;
        wall += start.elapsed();
        times.extend(wave_times);
        work = back;
        // The clients are gone; give idle teams time to unload.
        std::thread::sleep(Duration::from_millis(args.unload_idle_secs * 1000 + 1500));
        let held = match server_kind {
            "rapport" => Some(loaded(&server.url)?),
            _ => None,
        };
        after.push((rss_now(pid)? as f64 / 1024.0, held));
    }
    let (cpu_after, hwm) = usage(pid)?;
    let (client_after, _) = usage(std::process::id())?;
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize];
    Ok(Row {
        server: server_kind.to_string(),
        clients,
        sessions: times.len(),
        wall,
        p50: pct(0.5),
        p99: pct(0.99),
        cpu: cpu_after - cpu_before,
        client_cpu: client_after - client_before,
        rss_mib: hwm as f64 / 1024.0,
        after,
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut rows = Vec::new();
    for &clients in &args.clients {
        for server in &args.servers {
            eprintln!(
                "{server}: {clients} clients x {} docs x {} rounds",
                args.docs, args.rounds
            );
            rows.push(run(server, clients, &args)?);
        }
    }
    println!(
        "{} documents per client, {} sync sessions per client, rapport-relay teams of {}",
        args.docs, args.rounds, args.team_size
    );
    println!();
    println!(
        "| server | clients | sessions | wall | sessions/s | p50 | p99 | server CPU | server CPU / session | clients' CPU / session | server peak RSS |"
    );
    println!(
        "|--------|--------:|---------:|-----:|-----------:|----:|----:|-----------:|---------------------:|----------------------:|----------------:|"
    );
    for r in &rows {
        println!(
            "| {} | {} | {} | {:.2} s | {:.0} | {:.1} ms | {:.1} ms | {:.2} s | {:.1} ms | {:.1} ms | {:.1} MiB |",
            r.server,
            r.clients,
            r.sessions,
            r.wall.as_secs_f64(),
            r.sessions as f64 / r.wall.as_secs_f64(),
            r.p50.as_secs_f64() * 1000.0,
            r.p99.as_secs_f64() * 1000.0,
            r.cpu,
            r.cpu * 1000.0 / r.sessions as f64,
            r.client_cpu * 1000.0 / r.sessions as f64,
            r.rss_mib
        );
    }
    let find = |s: &str, c: usize| rows.iter().find(|r| r.server == s && r.clients == c);
    let mut ratios = Vec::new();
    for &c in &args.clients {
        if let (Some(r), Some(j)) = (find("rapport", c), find("js", c)) {
            let rate = |x: &Row| x.sessions as f64 / x.wall.as_secs_f64();
            let per_session = |x: &Row| x.cpu / x.sessions as f64;
            let client = |x: &Row| x.client_cpu / x.sessions as f64;
            // Clients and server share the machine: even a relay that took
            // no CPU would run at most `cores / clients' CPU per session`.
            let ceiling = match client(r) {
                c if c > 0.0 => format!("{:.0}x", cores() as f64 / c / rate(j)),
                _ => "-".to_string(),
            };
            ratios.push(format!(
                "| {c} | {:.1}x | {:.1}x | {ceiling} | {:.2}x |",
                rate(r) / rate(j),
                per_session(j) / per_session(r),
                r.rss_mib / j.rss_mib
            ));
        }
    }
    if args.waves > 1 {
        println!();
        println!(
            "After each wave, clients gone and idle teams unloaded: RSS (MiB), and documents / teams rapport-relay still holds"
        );
        println!();
        println!(
            "| server | clients | {} |",
            (1..=args.waves)
                .map(|w| format!("wave {w}"))
                .collect::<Vec<_>>()
                .join(" | ")
        );
        println!("|--------|--------:|{}", "------:|".repeat(args.waves));
        for r in &rows {
            let cells: Vec<String> = r
                .after
                .iter()
                .map(|(rss, held)| match held {
                    Some((docs, teams)) => format!("{rss:.1} MiB, {docs} docs / {teams} teams"),
                    None => format!("{rss:.1} MiB"),
                })
                .collect();
            println!("| {} | {} | {} |", r.server, r.clients, cells.join(" | "));
        }
    }
    if !ratios.is_empty() {
        println!();
        println!(
            "| clients | sessions/s, rapport / JS | server CPU per session, JS / rapport | most that first ratio could be here (a relay taking no CPU) | peak RSS, rapport / JS |"
        );
        println!(
            "|--------:|-------------------------:|------------------------------------:|------------------------------------------------------------:|-----------------------:|"
        );
        for line in ratios {
            println!("{line}");
        }
    }
    Ok(())
}
