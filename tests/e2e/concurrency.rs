//! Several `rapport` processes writing at once: every write lands.

use std::process::Stdio;

use crate::harness::Home;

#[test]
fn twenty_concurrent_writers_all_land() {
    let home = Home::initialised();
    home.ok(&["account", "add", "Acme"]);
    let children: Vec<_> = (0..20)
        .map(|i| {
            home.command(&["person", "add", &format!("Writer {i}"), "--account", "Acme"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let people = home.ok(&["person", "list", "--json"]).json();
    let mut names: Vec<String> = people
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    let mut want: Vec<String> = (0..20).map(|i| format!("Writer {i}")).collect();
    want.sort();
    assert_eq!(names, want);
}

#[test]
fn appends_without_loading_match_a_full_decode_and_survive_concurrency() {
    let home = Home::demo();
    home.ok(&["log", "list"]); // builds the views
    let children: Vec<_> = (0..10)
        .map(|i| {
            home.command(&[
                "log",
                "add",
                "Ana Silva",
                "--kind",
                "call",
                "--notes",
                &format!("call {i}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    home.ok(&[
        "plan",
        "add",
        "Grace Okafor",
        "Send her our hub benchmark",
        "--tests",
        "time,learn,illustrate",
    ]);
    home.ok(&[
        "rel",
        "add",
        "Grace Okafor",
        "--level",
        "vendor",
        "--desired-level",
        "credible-source",
        "--reason",
        "CEO",
    ]);
    let commands: [&[&str]; 4] = [
        &["log", "list", "--json", "--limit", "200"],
        &["plan", "list", "--json", "--status", "all"],
        &["rel", "list", "--json"],
        &["gap", "--json"],
    ];
    let with_views: Vec<String> = commands.iter().map(|c| home.ok(c).stdout).collect();
    std::fs::remove_dir_all(home.path().join("views")).unwrap();
    let decoded: Vec<String> = commands.iter().map(|c| home.ok(c).stdout).collect();
    assert_eq!(
        with_views, decoded,
        "appended records read the same from views and from automerge"
    );
    for i in 0..10 {
        assert!(decoded[0].contains(&format!("call {i}")), "call {i} landed");
    }
    assert!(decoded[1].contains("Send her our hub benchmark"));
}
