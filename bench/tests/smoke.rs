//! Short runs of the benchmarks, so CI notices when one breaks. The full
//! runs (minutes, release builds) are documented in docs/performance.md.
//!
//! Both benchmarks run the binaries beside themselves: `rapport` and
//! `rapport-relay` from the same target directory, which `cargo nextest run
//! --workspace` (the README's test command) builds.

use std::path::{Path, PathBuf};
use std::process::Command;

/// `name` beside the benchmark binaries, or a message saying how to build it.
fn beside(bench: &str, name: &str) -> PathBuf {
    let dir = Path::new(bench).parent().expect("a binary's folder");
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: build it first (cargo nextest run --workspace does, or cargo build -p {})",
        path.display(),
        if name == "rapport" {
            "rapport-cli"
        } else {
            name
        }
    );
    path
}

/// The cells of the table row whose first cells are `prefix`.
fn row<'a>(stdout: &'a str, prefix: &[&str]) -> Vec<&'a str> {
    stdout
        .lines()
        .map(|l| l.split('|').map(str::trim).skip(1).collect::<Vec<_>>())
        .find(|cells| cells.starts_with(prefix))
        .unwrap_or_else(|| panic!("no row {prefix:?} in:\n{stdout}"))
}

/// Runs `bench` with `args`; its standard output, once it succeeded.
fn run(bench: &str, args: &[&str]) -> String {
    let out = Command::new(bench)
        .args(args)
        .output()
        .expect("the bench binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn relay_load_syncs_every_session_against_the_relay() {
    let bench = env!("CARGO_BIN_EXE_relay-load");
    beside(bench, "rapport-relay");
    let stdout = run(
        bench,
        &[
            "--clients",
            "12",
            "--docs",
            "2",
            "--rounds",
            "2",
            "--team-size",
            "4",
            "--servers",
            "rapport",
        ],
    );
    // Each client ran its two sessions to convergence.
    let cells = row(&stdout, &["rapport", "12"]);
    assert_eq!(cells[2], "24", "sessions: {cells:?}");
}

#[test]
fn rapport_bench_times_every_command_on_a_small_workspace() {
    let bench = env!("CARGO_BIN_EXE_rapport-bench");
    beside(bench, "rapport");
    let stdout = run(bench, &["--sizes", "300", "--runs", "2", "--accounts", "5"]);
    for command in [
        "agenda (5 accounts)",
        "person list (5 accounts)",
        "person list --account (cold: views deleted after the edits)",
    ] {
        let cells = row(&stdout, &["300", command]);
        assert!(cells[2].ends_with(" ms"), "median: {cells:?}");
        assert!(cells[4].ends_with(" MiB"), "peak RSS: {cells:?}");
    }
}
