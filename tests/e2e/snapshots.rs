//! Snapshots (insta) of the human output and JSON of the demo workspace.
//! Random ids are masked; "today" is fixed, so relative demo dates are too.

use crate::harness::Home;

fn settings(home: &Home) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("snapshots");
    s.set_prepend_module_to_snapshot(false);
    // Document ids, and their 8-character prefixes shown in tables.
    let accounts = home.ok(&["account", "list", "--json"]).json();
    for a in accounts.as_array().unwrap() {
        let bs58 = a["doc"]
            .as_str()
            .unwrap()
            .trim_start_matches("automerge:")
            .to_string();
        s.add_filter(&regex::escape(&bs58), "[doc]");
        s.add_filter(&format!(r"\b{}\b", regex::escape(&bs58[..8])), "[doc8]");
    }
    s.add_filter(r"automerge:[1-9A-HJ-NP-Za-km-z]{20,40}", "automerge:[doc]");
    s.add_filter(r"\b[0-9a-f]{16}\b", "[id]");
    s.add_filter(r"\b[0-9a-f]{8}\b", "[id8]");
    s.add_filter(&regex::escape(&home.path().display().to_string()), "[home]");
    s
}

fn snap(home: &Home, name: &str, args: &[&str]) {
    let run = home.ok(args);
    let text = if run.stderr.is_empty() {
        run.stdout
    } else {
        format!("{}--- stderr ---\n{}", run.stdout, run.stderr)
    };
    settings(home)
        .bind(|| insta::assert_snapshot!(name, text, &format!("rapport {}", args.join(" "))));
}

/// Maps keyed by random record ids become arrays sorted by content, so the
/// snapshot does not depend on which ids were drawn.
fn stable(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let id_keyed = !map.is_empty()
                && map
                    .keys()
                    .all(|k| k.len() == 16 && k.chars().all(|c| c.is_ascii_hexdigit()));
            if id_keyed {
                let mut values: Vec<Value> = map.into_iter().map(|(_, v)| stable(v)).collect();
                values.sort_by_key(|v| v.to_string());
                Value::Array(values)
            } else {
                Value::Object(map.into_iter().map(|(k, v)| (k, stable(v))).collect())
            }
        }
        Value::Array(items) => Value::Array(items.into_iter().map(stable).collect()),
        other => other,
    }
}

fn snap_json(home: &Home, name: &str, args: &[&str]) {
    let json = stable(home.ok(args).json());
    settings(home).bind(|| insta::assert_json_snapshot!(name, json));
}

#[test]
fn demo_workspace_human_output() {
    let home = Home::demo();
    snap(&home, "account_list", &["account", "list"]);
    snap(
        &home,
        "account_show",
        &["account", "show", "Acme Logistics"],
    );
    snap(
        &home,
        "person_list_acme",
        &["person", "list", "--account", "Acme"],
    );
    snap(&home, "person_show", &["person", "show", "Ana Silva"]);
    snap(&home, "rel_list", &["rel", "list"]);
    snap(&home, "rel_show_only_asks", &["rel", "show", "Bruno Costa"]);
    snap(&home, "opp_list", &["opp", "list"]);
    snap(&home, "opp_show", &["opp", "show", "Hub network"]);
    snap(&home, "plan_list", &["plan", "list"]);
    snap(&home, "log_list", &["log", "list", "--limit", "6"]);
    snap(
        &home,
        "partner_show",
        &["partner", "show", "Beta co-delivery"],
    );
}

#[test]
fn demo_workspace_json_output() {
    let home = Home::demo();
    snap_json(&home, "account_list_json", &["account", "list", "--json"]);
    snap_json(
        &home,
        "person_show_json",
        &["person", "show", "Carla Mendes", "--json"],
    );
    snap_json(
        &home,
        "opp_show_json",
        &["opp", "show", "Warehouse data audit", "--json"],
    );
    snap_json(
        &home,
        "plan_list_json",
        &["plan", "list", "--account", "Beta", "--json"],
    );
}

#[test]
fn demo_gap_agenda_and_map() {
    let home = Home::demo();
    snap(&home, "gap_account", &["gap", "Acme Logistics"]);
    snap(&home, "gap_beta", &["gap", "Beta Retail"]);
    snap(&home, "gap_opportunity", &["gap", "--opp", "Hub network"]);
    snap(&home, "agenda", &["agenda"]);
    snap(
        &home,
        "agenda_team_14_days",
        &["agenda", "--days", "14", "--team"],
    );
    snap(
        &home,
        "map_dot",
        &["map", "Acme Logistics", "--format", "dot"],
    );
    snap(
        &home,
        "map_mermaid_opp",
        &["map", "Acme", "--opp", "Hub network", "--format", "mermaid"],
    );
    snap_json(&home, "gap_json", &["gap", "Beta Retail", "--json"]);
}

#[test]
fn gap_check_fails_on_high_findings() {
    let home = Home::demo();
    let run = home.fails(&["gap", "--check"], 1);
    assert!(
        run.stderr.contains("high-severity findings remain"),
        "{}",
        run.stderr
    );
    // Fix the one high finding of the opportunity with no mentor... and the
    // others: a clean account passes.
    let clean = Home::initialised();
    clean.ok(&["account", "add", "Calm Co", "--target"]);
    clean.ok(&[
        "person",
        "add",
        "Dee",
        "--account",
        "Calm",
        "--status",
        "inner-circle",
    ]);
    clean.ok(&[
        "rel",
        "add",
        "Dee",
        "--level",
        "problem-solver",
        "--preference",
        "mentor",
    ]);
    clean.ok(&["gap", "--check"]);
}
