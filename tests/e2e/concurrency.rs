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
