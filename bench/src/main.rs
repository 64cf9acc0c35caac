//! `rapport-bench`: generates workspaces of 1k, 10k and 100k records and
//! times the real `rapport` binary on them, printing one table.
//!
//! Run: `cargo build --release -p rapport-cli -p rapport-bench && target/release/rapport-bench`

mod generate;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Times the rapport binary on generated workspaces")]
struct Args {
    /// Workspace sizes, in records.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
    sizes: Vec<usize>,
    /// Runs per command (the median is reported).
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// The rapport binary (default: beside this one).
    #[arg(long)]
    rapport: Option<PathBuf>,
    /// Accounts the records are spread over in the second workspace of
    /// each size (the `agenda` and `person list` rows).
    #[arg(long, default_value_t = 200)]
    accounts: usize,
    /// Only generate a workspace of the first size into this directory, and
    /// stop (one big account; spread over `--accounts` with `--spread`).
    #[arg(long, value_name = "DIR")]
    generate_only: Option<PathBuf>,
    /// With `--generate-only`: spread the records over `--accounts` accounts.
    #[arg(long, requires = "generate_only")]
    spread: bool,
    /// Internal: run a command and print its wall time and peak RSS.
    #[arg(long, hide = true, num_args = 1.., allow_hyphen_values = true)]
    measure: Option<Vec<String>>,
}

/// One timed run of a child process.
struct Sample {
    wall: Duration,
    max_rss_kib: u64,
}

/// Runs in a fresh wrapper process so the peak RSS of its only child is
/// that command's own.
fn measure_child(cmd: &[String]) -> anyhow::Result<()> {
    let start = Instant::now();
    let status = Command::new(&cmd[0])
        .args(&cmd[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()?;
    let wall = start.elapsed();
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    println!("{} {}", wall.as_micros(), usage.max_rss());
    Ok(())
}

fn sample(
    me: &PathBuf,
    home: &std::path::Path,
    rapport: &PathBuf,
    args: &[&str],
) -> anyhow::Result<Sample> {
    let out = Command::new(me)
        .arg("--measure")
        .arg(rapport)
        .args(args)
        .env("RAPPORT_HOME", home)
        .env("RAPPORT_TODAY", "2026-11-23")
        .output()?;
    if !out.status.success() {
        bail!(
            "rapport {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace();
    let micros: u64 = parts.next().context("no time")?.parse()?;
    let rss: u64 = parts.next().context("no rss")?.parse()?;
    Ok(Sample {
        wall: Duration::from_micros(micros),
        max_rss_kib: rss,
    })
}

struct Row {
    records: usize,
    command: String,
    median: Duration,
    max: Duration,
    rss_mib: f64,
    /// Reading every view file's bytes: what a read can at best approach.
    floor: Duration,
    view_bytes: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(cmd) = &args.measure {
        return measure_child(cmd);
    }
    if let Some(dir) = &args.generate_only {
        std::fs::create_dir_all(dir)?;
        let ws = if args.spread {
            generate::generate_spread(dir, args.sizes[0], args.accounts)?
        } else {
            generate::generate(dir, args.sizes[0], generate::History::OneChange)?
        };
        println!(
            "generated {} records in {}; try: RAPPORT_HOME={} rapport person show '{}'",
            ws.records,
            dir.display(),
            dir.display(),
            ws.person
        );
        return Ok(());
    }
    let me = std::env::current_exe()?;
    let rapport = args
        .rapport
        .clone()
        .unwrap_or_else(|| me.with_file_name("rapport"));
    if !rapport.exists() {
        bail!(
            "{} is missing: build it with `cargo build --release -p rapport-cli`",
            rapport.display()
        );
    }
    let mut rows = Vec::new();
    for &records in &args.sizes {
        let (big, ws) = generated("in one big account", |home| {
            generate::generate(home, records, generate::History::OneChange)
        })?;
        let commands: Vec<(String, Vec<String>)> = vec![
            (
                "person show (by name, all docs)".into(),
                vec!["person".into(), "show".into(), ws.person.clone()],
            ),
            (
                "person show --account".into(),
                vec![
                    "person".into(),
                    "show".into(),
                    ws.person.clone(),
                    "--account".into(),
                    generate::BIG_ACCOUNT.into(),
                ],
            ),
            // The newest 50 of the big account's log, read in place.
            (
                "log list (all docs)".into(),
                vec!["log".into(), "list".into()],
            ),
            (
                "log add (write, big account)".into(),
                vec![
                    "log".into(),
                    "add".into(),
                    ws.person.clone(),
                    "--account".into(),
                    generate::BIG_ACCOUNT.into(),
                    "--kind".into(),
                    "call".into(),
                    "--notes".into(),
                    "bench".into(),
                ],
            ),
            // Edits of an existing record, a plain field and then a list
            // and a text (through the field index, unloaded); the first
            // run of the next command (`account list`) is the read right
            // after them: its max shows whether they left a valid view.
            (
                "person edit (write, big account)".into(),
                vec![
                    "person".into(),
                    "edit".into(),
                    ws.person.clone(),
                    "--account".into(),
                    generate::BIG_ACCOUNT.into(),
                    "--title".into(),
                    "Bench {run}".into(),
                ],
            ),
            (
                "person edit --tag --notes (write, big account)".into(),
                vec![
                    "person".into(),
                    "edit".into(),
                    ws.person.clone(),
                    "--account".into(),
                    generate::BIG_ACCOUNT.into(),
                    "--tag".into(),
                    "bench-{run}".into(),
                    "--notes".into(),
                    "Bench {run}: café at nine".into(),
                ],
            ),
            // An edit of an activity: the first run loads the document
            // and indexes the activity log (the index is built without
            // it), the next are written through the index.
            (
                "log edit (write, big account; the first run loads)".into(),
                vec![
                    "log".into(),
                    "edit".into(),
                    ws.activity.clone(),
                    "--account".into(),
                    generate::BIG_ACCOUNT.into(),
                    "--notes".into(),
                    "Bench {run}: talked it over".into(),
                ],
            ),
            (
                "account list (first run: right after the edits)".into(),
                vec!["account".into(), "list".into()],
            ),
            // The big account is now a snapshot and the changes of the
            // edits above: read with no views (deleted before each run,
            // as a new view format would leave them), it is scanned with
            // the changes merged in, not loaded.
            (
                "person list --account (cold: views deleted after the edits)".into(),
                vec![
                    COLD.into(),
                    "person".into(),
                    "list".into(),
                    "--account".into(),
                    generate::BIG_ACCOUNT.into(),
                ],
            ),
        ];
        time_commands(
            &me,
            &rapport,
            big.path(),
            records,
            commands,
            args.runs,
            &mut rows,
        )?;
        drop(big);

        // The same records, each written by a change of its own, as
        // months of use write them: what loading a long history costs
        // (the first run loads; the next read the views it wrote).
        let (history, ws) = generated("in one big account, one change each,", |home| {
            generate::generate(home, records, generate::History::ChangePerRecord)
        })?;
        let commands: Vec<(String, Vec<String>)> = vec![(
            "person show (by name, all docs; one change per record)".into(),
            vec!["person".into(), "show".into(), ws.person.clone()],
        )];
        time_commands(
            &me,
            &rapport,
            history.path(),
            records,
            commands,
            args.runs,
            &mut rows,
        )?;
        drop(history);

        let n = args.accounts;
        let (spread, _) = generated(&format!("over {n} accounts"), |home| {
            generate::generate_spread(home, records, n)
        })?;
        let commands: Vec<(String, Vec<String>)> = vec![
            (format!("agenda ({n} accounts)"), vec!["agenda".into()]),
            (
                format!("person list ({n} accounts)"),
                vec!["person".into(), "list".into()],
            ),
        ];
        time_commands(
            &me,
            &rapport,
            spread.path(),
            records,
            commands,
            args.runs,
            &mut rows,
        )?;
    }
    println!("| records | command | median | max | peak RSS | read floor | ratio |");
    println!("|--------:|---------|-------:|----:|---------:|-----------:|------:|");
    for r in rows {
        println!(
            "| {} | {} | {:.1} ms | {:.1} ms | {:.1} MiB | {:.1} ms ({:.1} MiB) | {}x |",
            r.records,
            r.command,
            r.median.as_secs_f64() * 1000.0,
            r.max.as_secs_f64() * 1000.0,
            r.rss_mib,
            r.floor.as_secs_f64() * 1000.0,
            r.view_bytes as f64 / (1024.0 * 1024.0),
            ratio(r.median, r.floor),
        );
    }
    Ok(())
}

/// A command's first argument that makes every run of it cold: the
/// views are deleted before it.
const COLD: &str = "{cold}";

/// `median / floor`, with a decimal below 10x (the goals are 3x: "3x"
/// must not stand for 3.4x).
fn ratio(median: Duration, floor: Duration) -> String {
    let r = median.as_secs_f64() / floor.as_secs_f64().max(1e-9);
    // Below 9.95, as one decimal rounds it.
    if r < 9.95 {
        format!("{r:.1}")
    } else {
        format!("{r:.0}")
    }
}

/// Runs each command `runs` times in `home` and adds a row per command.
/// A workspace `generate` writes into a new temporary folder, its time
/// reported (`what` says where its records are).
fn generated(
    what: &str,
    generate: impl FnOnce(&std::path::Path) -> anyhow::Result<generate::Workspace>,
) -> anyhow::Result<(tempfile::TempDir, generate::Workspace)> {
    let home = tempfile::tempdir()?;
    let start = Instant::now();
    let ws = generate(home.path())?;
    eprintln!(
        "generated {} records {what} in {:.1?}",
        ws.records,
        start.elapsed()
    );
    Ok((home, ws))
}

fn time_commands(
    me: &PathBuf,
    rapport: &PathBuf,
    home: &std::path::Path,
    records: usize,
    commands: Vec<(String, Vec<String>)>,
    runs: usize,
    rows: &mut Vec<Row>,
) -> anyhow::Result<()> {
    for (label, cmd) in commands {
        let mut samples = Vec::new();
        // `{cold}` first: every run starts with the views deleted.
        let (cold, cmd) = match cmd.split_first() {
            Some((first, rest)) if first == COLD => (true, rest),
            _ => (false, &cmd[..]),
        };
        for run in 0..runs {
            // `{run}` in an argument becomes the run's number, so a write
            // that would repeat itself (the same title again) changes
            // something every time.
            let args: Vec<String> = cmd
                .iter()
                .map(|a| a.replace("{run}", &run.to_string()))
                .collect();
            if cold {
                match std::fs::remove_dir_all(home.join("views")) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                    _ => {}
                }
            }
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            samples.push(sample(me, home, rapport, &argv)?);
        }
        samples.sort_by_key(|s| s.wall);
        let (floor, view_bytes) = read_floor(&home.join("views"), runs)?;
        rows.push(Row {
            floor,
            view_bytes,
            records,
            command: label,
            median: samples[samples.len() / 2].wall,
            max: samples.last().map(|s| s.wall).unwrap_or_default(),
            rss_mib: samples.iter().map(|s| s.max_rss_kib).max().unwrap_or(0) as f64 / 1024.0,
        });
    }
    Ok(())
}

/// The floor a read command is measured against: reading the bytes of
/// every view file of the workspace (warm page cache), median of `runs`
/// and at least 31 (a read of 12 MiB takes 1-2 ms: with 7 runs, the
/// median moved from 1.3 to 1.9 ms between two runs of the bench an
/// hour apart, and every ratio with it).
/// Only the views (`.view`): the field indexes beside them (`.fields`)
/// are read by edits, never by reads, and would only inflate the floor.
fn read_floor(views: &std::path::Path, runs: usize) -> anyhow::Result<(Duration, u64)> {
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..runs.max(31) {
        let start = Instant::now();
        bytes = 0;
        for entry in std::fs::read_dir(views)? {
            let path = entry?.path();
            if path.extension().is_some_and(|e| e == "view") {
                bytes += std::fs::read(path)?.len() as u64;
            }
        }
        times.push(start.elapsed());
    }
    times.sort();
    Ok((times[times.len() / 2], bytes))
}
