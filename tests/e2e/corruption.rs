//! Damaged files are reported with their path, never read as empty data,
//! and `doctor --repair` moves them aside.

use crate::harness::Home;

#[test]
fn an_empty_chunk_is_reported_and_repaired() {
    let home = Home::initialised();
    home.ok(&["account", "add", "Acme"]);
    home.ok(&["person", "add", "Ana", "--account", "Acme"]);
    let doc = home.ok(&["account", "list", "--json"]).json()[0]["doc"]
        .as_str()
        .unwrap()
        .trim_start_matches("automerge:")
        .to_string();
    let dir = home
        .path()
        .join("store")
        .join(&doc[..2])
        .join(&doc[2..])
        .join("incremental");
    let bad = dir.join("0".repeat(64));
    std::fs::write(&bad, b"").unwrap();

    let run = home.fails(&["person", "list", "--account", "Acme"], 1);
    assert!(
        run.stderr.contains(&bad.display().to_string()),
        "names the file: {}",
        run.stderr
    );
    assert!(run.stderr.contains("0 bytes"), "{}", run.stderr);

    let check = home.fails(&["doctor"], 1);
    assert!(check.stdout.contains("0 bytes"), "{}", check.stdout);
    home.ok(&["doctor", "--repair"]);
    assert!(!bad.exists());
    let quarantined = home
        .path()
        .join("store/.quarantine")
        .join(&doc)
        .join("incremental")
        .join("0".repeat(64));
    assert!(quarantined.exists(), "moved aside, not deleted");
    let people = home.ok(&["person", "list", "--json"]).json();
    assert_eq!(people[0]["name"], "Ana", "the rest of the data is intact");
    home.ok(&["doctor"]);
}

#[test]
fn a_garbage_chunk_is_reported_not_loaded() {
    let home = Home::initialised();
    home.ok(&["account", "add", "Acme"]);
    let doc = home.ok(&["account", "list", "--json"]).json()[0]["doc"]
        .as_str()
        .unwrap()
        .trim_start_matches("automerge:")
        .to_string();
    let bad = home
        .path()
        .join("store")
        .join(&doc[..2])
        .join(&doc[2..])
        .join("incremental")
        .join("f".repeat(64));
    std::fs::write(&bad, b"\x85\x6f\x4a\x83garbage").unwrap();
    let run = home.fails(&["account", "show", "Acme"], 1);
    assert!(run.stderr.contains("is corrupt"), "{}", run.stderr);
    assert!(run.stderr.contains("doctor"), "{}", run.stderr);
}

#[test]
fn compaction_keeps_everything() {
    let home = Home::demo();
    let before = home.ok(&["person", "list", "--json"]).json();
    home.ok(&["doctor", "--compact"]);
    assert_eq!(home.ok(&["person", "list", "--json"]).json(), before);
}
