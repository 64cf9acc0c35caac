//! Crash safety of the local store: `rapport` killed with SIGKILL at seeded
//! random moments while it writes (appends of people and of activities,
//! which update the view without decoding the log; edits; and the
//! compactions they trigger every 64 chunks). Every command that reported success must still
//! be there, and the store must open cleanly.
//!
//! Quick in CI (300 kill points, about 5 s); the long run is
//! `RAPPORT_KILL_RUNS=1000 cargo nextest run --workspace kill::`.

use std::process::Stdio;
use std::time::Duration;

use crate::harness::{Home, Rng};

fn names(home: &Home) -> Vec<String> {
    home.ok(&["person", "list", "--account", "Acme", "--json"])
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

/// The notes of every activity logged in Acme, read through the views
/// (and so checking them too).
fn logged(home: &Home) -> Vec<String> {
    home.ok(&[
        "log",
        "list",
        "--account",
        "Acme",
        "--json",
        "--limit",
        "100000",
    ])
    .json()
    .as_array()
    .unwrap()
    .iter()
    .map(|a| a["activity"]["notes"].as_str().unwrap().to_string())
    .collect()
}

#[test]
fn writes_killed_at_random_moments_lose_nothing_that_was_reported_done() {
    let runs: u64 = std::env::var("RAPPORT_KILL_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let home = Home::initialised();
    home.ok(&["account", "add", "Acme"]);
    home.ok(&["person", "add", "Ana", "--account", "Acme"]);
    let mut rng = Rng(0x6b69_6c6c_2d6d_6521);
    let (mut done, mut logs) = (Vec::new(), Vec::new());
    let (mut killed, mut finished) = (0, 0);
    for i in 0..runs {
        let name = format!("K{i}");
        // An add of a person or of an activity (the append paths when a
        // view is valid), or an edit of Ana that loads the document and
        // may compact it.
        let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<String>>();
        let args: Vec<String> = match rng.below(3) {
            0 => {
                let mut a = words(&["person", "edit", "Ana", "--title"]);
                a.push(format!("T{i}"));
                a
            }
            1 => words(&[
                "log",
                "add",
                "Ana",
                "--account",
                "Acme",
                "--kind",
                "call",
                "--notes",
                &name,
            ]),
            _ => words(&["person", "add", &name, "--account", "Acme"]),
        };
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = home
            .command(&argv)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(rng.below(25_000)));
        let _ = child.kill();
        let status = child.wait().unwrap();
        if status.success() {
            finished += 1;
            match (argv[0], argv[1]) {
                ("person", "add") => done.push(name),
                ("log", "add") => logs.push(name),
                _ => {}
            }
        } else {
            killed += 1;
        }
        if i % 20 == 19 || i + 1 == runs {
            // The store opens cleanly: nothing to repair, every reported
            // add is there.
            let doctor = home.run(&["doctor"]);
            assert_eq!(
                doctor.code, 0,
                "after {i} runs: {}{}",
                doctor.stdout, doctor.stderr
            );
            let now = names(&home);
            for n in &done {
                assert!(now.contains(n), "{n} was reported added, then lost");
            }
            let now = logged(&home);
            for n in &logs {
                assert!(
                    now.contains(n),
                    "activity {n} was reported logged, then lost"
                );
            }
        }
    }
    // The seeds must actually kill some writes and let others finish.
    assert!(
        killed >= runs / 10,
        "only {killed} of {runs} runs were killed"
    );
    assert!(
        finished >= runs / 10,
        "only {finished} of {runs} runs finished"
    );
    assert!(!logs.is_empty(), "no activity was logged to the end");
}
