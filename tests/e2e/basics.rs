//! Everyday commands, errors and exit codes.

use crate::harness::Home;

#[test]
fn an_uninitialised_home_is_a_user_error_with_a_hint() {
    let home = Home::new();
    let run = home.fails(&["person", "list"], 1);
    assert!(
        run.stderr.contains("error: no Rapport data"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hint: run `rapport init"),
        "{}",
        run.stderr
    );
}

#[test]
fn init_twice_is_refused_and_where_reports_paths() {
    let home = Home::initialised();
    let run = home.fails(&["init", "--name", "X", "--handle", "x"], 1);
    assert!(run.stderr.contains("already initialised"), "{}", run.stderr);
    let json = home.ok(&["where", "--json"]).json();
    assert_eq!(
        json["store"],
        home.path().join("store").display().to_string()
    );
    assert!(
        json["personal_doc"]
            .as_str()
            .unwrap()
            .starts_with("automerge:")
    );
}

#[test]
fn records_round_trip_through_add_show_and_json() {
    let home = Home::initialised();
    home.ok(&[
        "account",
        "add",
        "Acme Corp",
        "--target",
        "--icp-score",
        "4",
        "--desired-level",
        "trusted advisor",
    ]);
    home.ok(&[
        "person",
        "add",
        "Ana Silva",
        "--account",
        "acme",
        "--email",
        "Ana@Acme.com",
        "--title",
        "CFO",
        "--status",
        "inner-circle",
        "--orientation",
        "financial",
        "--tag",
        "exec,board",
        "--notes",
        "Met at the summit",
    ]);
    home.ok(&[
        "person",
        "add",
        "Bo Chen",
        "--account",
        "acme",
        "--reports-to",
        "ana@acme.com",
        "--influences",
        "Ana Silva",
    ]);
    let ana = home
        .ok(&["person", "show", "ana@acme.com", "--json"])
        .json();
    let p = &ana["person"];
    assert_eq!(p["email"], "ana@acme.com");
    assert_eq!(p["political_status"], "inner-circle");
    assert_eq!(p["orientation"], "financial");
    assert_eq!(p["tags"], serde_json::json!(["exec", "board"]));
    assert_eq!(p["notes"], "Met at the summit");
    assert_eq!(ana["key_player"], true);
    let bo = home.ok(&["person", "show", "Bo Chen", "--json"]).json();
    assert_eq!(bo["person"]["reports_to"], ana["id"]);
    assert_eq!(bo["person"]["influences"], serde_json::json!([ana["id"]]));
    let accounts = home.ok(&["account", "list", "--json"]).json();
    assert_eq!(accounts[0]["name"], "Acme Corp");
    assert_eq!(accounts[0]["desired_level"], "trusted-advisor");
    assert_eq!(accounts[0]["key_player_count"], 1);
}

#[test]
fn a_bad_value_names_the_field_and_allowed_values_exits_1_and_writes_nothing() {
    let home = Home::initialised();
    home.ok(&["account", "add", "Acme"]);
    home.ok(&["person", "add", "Ana", "--account", "Acme"]);
    let before = home.chunk_files();
    for (args, field) in [
        (
            vec!["rel", "add", "Ana", "--level", "friend"],
            "invalid level 'friend': expected vendor, credible-source, problem-solver, trusted-advisor",
        ),
        (
            vec!["rel", "add", "Ana", "--preference", "fan"],
            "invalid preference 'fan'",
        ),
        (
            vec![
                "person",
                "add",
                "Bo",
                "--account",
                "Acme",
                "--email",
                "bo-at-acme",
            ],
            "invalid email",
        ),
        (
            vec!["account", "add", "Beta", "--icp-score", "9"],
            "invalid icp score '9': expected a whole number from 1 to 5",
        ),
        (
            vec!["log", "add", "Ana", "--kind", "lunch"],
            "invalid kind 'lunch'",
        ),
        (
            vec![
                "opp",
                "add",
                "Deal",
                "--account",
                "Acme",
                "--decision-date",
                "next week",
            ],
            "invalid date 'next week'",
        ),
        (
            vec!["plan", "add", "Ana", "Do a thing", "--tests", "time,speed"],
            "invalid test 'speed'",
        ),
    ] {
        let run = home.fails(&args, 1);
        assert_eq!(
            run.stderr.lines().count(),
            1,
            "one line for {args:?}: {}",
            run.stderr
        );
        assert!(run.stderr.contains(field), "{args:?}: {}", run.stderr);
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
    assert_eq!(home.chunk_files(), before, "nothing was written");
}

#[test]
fn usage_errors_exit_2() {
    let home = Home::initialised();
    home.fails(&["person", "add"], 2);
    home.fails(&["frobnicate"], 2);
    home.fails(&["rel", "add", "x", "--no-such-flag"], 2);
}

#[test]
fn references_by_name_email_and_id_prefix_and_ambiguity() {
    let home = Home::initialised();
    home.ok(&["account", "add", "Acme"]);
    home.ok(&[
        "person",
        "add",
        "Ana Silva",
        "--account",
        "Acme",
        "--email",
        "ana@acme.com",
    ]);
    home.ok(&["person", "add", "Ana Costa", "--account", "Acme"]);
    let run = home.fails(&["person", "show", "ana"], 1);
    assert!(
        run.stderr.contains("Ana Silva <ana@acme.com>") && run.stderr.contains("Ana Costa"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);
    let id = home.ok(&["person", "show", "ana costa", "--json"]).json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let by_prefix = home.ok(&["person", "show", &id[..6], "--json"]).json();
    assert_eq!(by_prefix["person"]["name"], "Ana Costa");
    let by_email = home
        .ok(&["person", "show", "ANA@acme.com", "--json"])
        .json();
    assert_eq!(by_email["person"]["name"], "Ana Silva");
    home.fails(&["person", "show", "Zed"], 1);
}

#[test]
fn archive_hides_restore_returns_purge_deletes() {
    let home = Home::initialised();
    home.ok(&["account", "add", "Acme"]);
    home.ok(&["person", "add", "Ana", "--account", "Acme"]);
    home.ok(&["rel", "add", "Ana", "--level", "credible-source"]);
    home.ok(&["person", "archive", "Ana"]);
    assert_eq!(
        home.ok(&["person", "list", "--json"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let all = home.ok(&["person", "list", "--all", "--json"]).json();
    assert_eq!(all[0]["archived"], true);
    home.ok(&["person", "archive", "Ana", "--restore"]);
    assert_eq!(
        home.ok(&["person", "list", "--json"]).json()[0]["archived"],
        false
    );
    home.ok(&["person", "archive", "Ana", "--purge"]);
    assert_eq!(
        home.ok(&["person", "list", "--all", "--json"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        home.ok(&["rel", "list", "--all", "--json"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        0,
        "relationships go with a purged person"
    );
}

#[test]
fn closing_an_opportunity_never_touches_relationships() {
    let home = Home::initialised();
    home.ok(&["account", "add", "Acme"]);
    home.ok(&["person", "add", "Ana", "--account", "Acme"]);
    home.ok(&[
        "rel",
        "add",
        "Ana",
        "--level",
        "problem-solver",
        "--preference",
        "mentor",
    ]);
    home.ok(&[
        "opp",
        "add",
        "Audit",
        "--account",
        "Acme",
        "--decision-date",
        "+30d",
        "--value",
        "40,000",
        "--currency",
        "eur",
        "--probability",
        "40%",
    ]);
    home.ok(&["opp", "player", "add", "Audit", "Ana", "--role", "dm"]);
    let rel_before = home.ok(&["rel", "list", "--json"]).json();
    home.ok(&[
        "opp",
        "close",
        "Audit",
        "--status",
        "lost",
        "--reason",
        "budget moved",
    ]);
    let opp = home.ok(&["opp", "show", "Audit", "--json"]).json();
    assert_eq!(opp["opportunity"]["status"], "lost");
    assert_eq!(opp["opportunity"]["closed_on"], "2026-11-23");
    assert_eq!(opp["opportunity"]["value"], 40000);
    assert_eq!(opp["opportunity"]["currency"], "EUR");
    assert_eq!(opp["players"][0]["role"], "decision-maker");
    assert_eq!(home.ok(&["rel", "list", "--json"]).json(), rel_before);
    assert_eq!(
        home.ok(&["opp", "list", "--json"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        0,
        "open only by default"
    );
    home.ok(&["opp", "player", "remove", "Audit", "Ana"]);
    home.fails(&["opp", "player", "remove", "Audit", "Ana"], 1);
    home.fails(&["opp", "close", "Audit", "--status", "open"], 1);
}

#[test]
fn plan_items_record_the_three_tests_and_warn_below_two() {
    let home = Home::initialised();
    home.ok(&["person", "add", "Rui"]);
    let weak = home.ok(&[
        "plan",
        "add",
        "Rui",
        "Send an article",
        "--tests",
        "illustrate",
    ]);
    assert!(
        weak.stderr
            .contains("passes 1 of the three tests; it misses: time, learn"),
        "{}",
        weak.stderr
    );
    let strong = home.ok(&[
        "plan",
        "add",
        "Rui",
        "Review his draft",
        "--tests",
        "time",
        "--tests",
        "learn,illustrate",
    ]);
    assert!(strong.stderr.is_empty(), "{}", strong.stderr);
    let list = home.ok(&["plan", "list"]).stdout;
    assert!(list.contains("--I") && list.contains("TLI"), "{list}");
    home.ok(&["plan", "done", "Review"]);
    let done = home
        .ok(&["plan", "list", "--status", "done", "--json"])
        .json();
    assert_eq!(done[0]["item"]["done_on"], "2026-11-23");
    assert_eq!(
        done[0]["tests_passed"],
        serde_json::json!(["time", "learn", "illustrate"])
    );
}

#[test]
fn the_activity_log_derives_last_contact_and_the_give_ask_balance() {
    let home = Home::initialised();
    home.ok(&["person", "add", "Lena"]);
    home.ok(&[
        "rel",
        "add",
        "Lena",
        "--cadence",
        "30",
        "--last-contact",
        "2026-01-01",
    ]);
    assert_eq!(
        home.ok(&["rel", "list", "--json"]).json()[0]["overdue"],
        true
    );
    home.ok(&[
        "log",
        "add",
        "Lena",
        "--kind",
        "ask",
        "--date",
        "-3d",
        "--notes",
        "Asked for an intro",
    ]);
    let rel = home.ok(&["rel", "show", "Lena", "--json"]).json();
    assert_eq!(
        rel["relationships"][0]["last_contact_derived"],
        "2026-11-20"
    );
    assert_eq!(rel["relationships"][0]["overdue"], false);
    assert_eq!(rel["balance"]["only_asks"], true);
    let human = home.ok(&["rel", "show", "Lena"]);
    assert!(
        human.stderr.contains("we only ever ask Lena"),
        "{}",
        human.stderr
    );
    home.ok(&["log", "add", "Lena", "--kind", "help-given"]);
    let rel = home.ok(&["rel", "show", "Lena", "--json"]).json();
    assert_eq!(rel["balance"]["gives"], 1);
    assert_eq!(rel["balance"]["only_asks"], false);
}

#[test]
fn partnerships_track_commitments() {
    let home = Home::initialised();
    home.ok(&["account", "add", "Beta"]);
    home.ok(&[
        "partner",
        "add",
        "Co-delivery",
        "--account",
        "Beta",
        "--goal",
        "Two joint clients",
        "--risk",
        "Channel conflict",
        "--next-review",
        "+90d",
    ]);
    home.ok(&[
        "partner",
        "commitment",
        "add",
        "Co-delivery",
        "Share the pipeline",
        "--party",
        "them",
        "--due",
        "+7d",
    ]);
    home.ok(&[
        "partner",
        "commitment",
        "set",
        "Co-delivery",
        "pipeline",
        "--status",
        "kept",
    ]);
    let p = home
        .ok(&["partner", "show", "Co-delivery", "--json"])
        .json();
    let c = p["commitments"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    assert_eq!(c["party"], "them");
    assert_eq!(c["status"], "kept");
    assert_eq!(p["goals"], serde_json::json!(["Two joint clients"]));
    assert_eq!(p["next_review"], "2027-02-21");
}

#[test]
fn private_notes_stay_in_the_personal_document() {
    let home = Home::initialised();
    home.ok(&["account", "add", "Acme"]);
    home.ok(&["note", "add", "Politics", "--body", "Bo and Ana disagree"]);
    home.ok(&["note", "edit", "Politics", "--append", "Bo leaves in March"]);
    let note = home.ok(&["note", "show", "Politics", "--json"]).json();
    assert_eq!(note["body"], "Bo and Ana disagree\nBo leaves in March");
    assert_eq!(note["doc_name"], "personal");
}

#[test]
fn completions_for_every_supported_shell() {
    let home = Home::new();
    for shell in ["bash", "zsh", "fish"] {
        let run = home.ok(&["completions", shell]);
        assert!(
            run.stdout.contains("rapport") && run.stdout.len() > 1000,
            "{shell}"
        );
    }
    home.fails(&["completions", "tcsh"], 2);
}

#[test]
fn help_shows_examples() {
    let home = Home::new();
    let run = home.ok(&["rel", "add", "--help"]);
    assert!(run.stdout.contains("Example:"), "{}", run.stdout);
}

/// A write refreshes the view of the document it changed, so the next read
/// is served from views and loads nothing: no view is rebuilt (each is
/// written whole under a new name, so a rebuilt one has a new inode).
#[test]
fn a_write_leaves_the_views_valid() {
    use std::os::unix::fs::MetadataExt as _;
    let home = Home::demo();
    let views = home.path().join("views");
    let inodes = || -> Vec<(String, u64)> {
        let mut all: Vec<(String, u64)> = std::fs::read_dir(&views)
            .unwrap()
            .flatten()
            .map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                (name, e.metadata().unwrap().ino())
            })
            .collect();
        all.sort();
        all
    };
    home.ok(&["person", "list", "--all"]);
    let name = home.ok(&["person", "list", "--json"]).json()[0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    for write in [
        vec!["person", "edit", name.as_str(), "--title", "Chief Listener"],
        vec![
            "person",
            "add",
            "Newcomer Nine",
            "--account",
            "Acme Logistics",
        ],
    ] {
        home.ok(&write);
        let before = inodes();
        let listed = home.ok(&["person", "list", "--all"]).stdout;
        assert_eq!(inodes(), before, "after {write:?}, a read rebuilt a view");
        assert!(
            listed.contains("Chief Listener"),
            "the read shows the write: {listed}"
        );
    }
}

/// A window of billions of days is far away, not a crash (adding it to
/// today overflowed chrono's dates and panicked; a cadence that large,
/// which another client may write, goes through the same addition:
/// `values::tests::far_days_saturate_instead_of_overflowing`).
#[test]
fn far_windows_are_no_crash() {
    let home = Home::demo();
    let all = home
        .ok(&["agenda", "--days", "4294967295", "--json"])
        .json();
    let week = home.ok(&["agenda", "--json"]).json();
    assert!(all.as_array().unwrap().len() > week.as_array().unwrap().len());
    for date in ["+-999999999999d", "+999999999999999999m"] {
        home.fails(
            &["log", "add", "Ana Silva", "--kind", "call", "--date", date],
            1,
        );
    }
}

#[test]
fn views_are_only_a_cache() {
    let home = Home::demo();
    let commands: [&[&str]; 4] = [
        &["person", "list", "--json"],
        &["gap", "--json"],
        &["agenda", "--json", "--team"],
        &["log", "list", "--json", "--limit", "100"],
    ];
    let outputs =
        |home: &Home| -> Vec<String> { commands.iter().map(|c| home.ok(c).stdout).collect() };
    let first = outputs(&home);
    let views = home.path().join("views");
    assert!(
        std::fs::read_dir(&views).unwrap().count() >= 3,
        "reads saved views"
    );
    assert_eq!(outputs(&home), first, "served from views");
    std::fs::remove_dir_all(&views).unwrap();
    assert_eq!(
        outputs(&home),
        first,
        "deleting every view changes no output"
    );
    for entry in std::fs::read_dir(&views).unwrap() {
        std::fs::write(entry.unwrap().path(), b"{ garbage").unwrap();
    }
    assert_eq!(
        outputs(&home),
        first,
        "corrupt views are rebuilt, never served"
    );
    // A write makes the view stale; the next read sees the write.
    home.ok(&["person", "add", "Newcomer", "--account", "Acme"]);
    let people = home.ok(&["person", "list", "--json"]).stdout;
    assert!(people.contains("Newcomer"));
}

/// An edit of one record (`person edit`, its tags and notes included,
/// `partner edit`, `note edit`, `opp player`, `partner commitment`, `rel
/// edit`, `opp close`, `plan done`, archiving, `account edit`) and a new
/// record (`person add`, `opp add`, `note add`) are written without
/// loading the document (`Workspace::update`): it succeeds even with every
/// chunk's bytes unreadable (the views and the field index name the
/// chunks, and nothing reads them), while a `log edit` of an older
/// activity, which loads (the index was built without the activity log),
/// fails. With the bytes back, a fresh load (views deleted) shows the
/// edits, with no conflict, and the store checks clean. A `log add` before
/// keeps the field index valid, so the edits after it are unloaded too,
/// and its activity is in the index: its `log edit` is unloaded.
#[test]
fn edits_of_plain_fields_load_nothing() {
    let home = Home::demo();
    let person = home.ok(&["person", "list", "--json"]).json()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    home.ok(&["log", "add", &person, "--kind", "call", "--notes", "hello"]);
    let entries = home.ok(&["log", "list", "--json"]).json();
    let entry_id = |at: usize| entries[at]["activity"]["id"].as_str().unwrap().to_string();
    let (hello, older) = (entry_id(0), entry_id(1));
    let first = |args: &[&str], path: &str| -> String {
        let listed = home.ok(args).json();
        listed[0]
            .pointer(path)
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    };
    let rel = first(&["rel", "list", "--json"], "/rel/id");
    let rel_person = first(&["rel", "list", "--json"], "/rel/person");
    let opp = first(&["opp", "list", "--json"], "/id");
    let item = first(&["plan", "list", "--json"], "/item/id");
    let other = home.ok(&["person", "list", "--json"]).json()[1]["id"]
        .as_str()
        .unwrap()
        .to_string();
    home.ok(&["person", "list", "--all"]);
    let garbled = home.garble_chunks();
    home.ok(&["person", "edit", &person, "--title", "Chief Listener"]);
    home.ok(&[
        "person",
        "edit",
        &person,
        "--email",
        "listener@acme.example",
    ]);
    // A list and a text (the elements they name are in the index).
    home.ok(&[
        "person",
        "edit",
        &person,
        "--tag",
        "board",
        "--notes",
        "Prefers mornings; café at 9 🎉",
    ]);
    // A partnership's lists, in another account, and a private note, in
    // the personal document.
    home.ok(&[
        "partner",
        "edit",
        "Beta co-delivery",
        "--goal",
        "A third joint client",
        "--remove-goal",
        "A joint case study",
    ]);
    home.ok(&[
        "note",
        "edit",
        "Acme politics",
        "--append",
        "Carla: mornings.",
    ]);
    // Nested maps: a key player added, one changed, a commitment added.
    let players = home.ok(&["opp", "list", "--json"]).json()[0]["players"].clone();
    let (player, _) = players.as_object().unwrap().iter().next().unwrap();
    home.ok(&["opp", "player", "add", &opp, &person, "--role", "evaluator"]);
    home.ok(&["opp", "player", "add", &opp, player, "--role", "approver"]);
    home.ok(&[
        "partner",
        "commitment",
        "add",
        "Beta co-delivery",
        "Send the draft",
    ]);
    // New records, appended on the document's first change.
    let account = home.ok(&["account", "list", "--json"]).json()[0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    home.ok(&["person", "add", "Newcomer Two", "--account", &account]);
    home.ok(&["opp", "add", "Garbled deal", "--account", &account]);
    home.ok(&["note", "add", "Garbled note", "--body", "written blind"]);
    // The other commands that edit one record's plain fields.
    home.ok(&["rel", "edit", &rel_person, "--level", "trusted-advisor"]);
    home.ok(&["opp", "close", &opp, "--status", "won"]);
    home.ok(&["plan", "done", &item]);
    home.ok(&["person", "archive", &other]);
    // The account's own record.
    home.ok(&["account", "edit", &account, "--industry", "rope-making"]);
    // The activity logged after the index was built is in it.
    home.ok(&["log", "edit", &hello, "--notes", "rewritten blind"]);
    // The control: this edit loads the document (the index was built
    // without the older activities), and cannot.
    let control = home.run(&["log", "edit", &older, "--notes", "rewritten blind"]);
    assert_ne!(control.code, 0, "{}", control.stdout);
    let written: Vec<_> = home
        .chunk_files()
        .into_iter()
        .filter(|c| !garbled.files.contains(c))
        .collect();
    assert_eq!(
        written.len(),
        17,
        "one new chunk per unloaded edit: {written:?}"
    );
    garbled.restore();
    let shown = home.ok(&["person", "show", &person, "--json"]).json();
    assert_eq!(shown["person"]["title"], "Chief Listener", "{shown}");
    assert!(
        shown["person"]["tags"].to_string().contains("board"),
        "{shown}"
    );
    assert_eq!(
        shown["person"]["notes"], "Prefers mornings; café at 9 🎉",
        "{shown}"
    );
    std::fs::remove_dir_all(home.path().join("views")).unwrap();
    let fresh = home
        .ok(&["person", "show", &person, "--json", "--conflicts"])
        .json();
    assert_eq!(fresh["person"]["title"], "Chief Listener", "{fresh}");
    assert_eq!(fresh["person"]["email"], "listener@acme.example", "{fresh}");
    assert_eq!(fresh["conflicts"], serde_json::json!([]), "{fresh}");
    let find = |args: &[&str], path: &str, id: &str| -> serde_json::Value {
        let listed = home.ok(args).json();
        let found = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r.pointer(path).unwrap() == id);
        found
            .unwrap_or_else(|| panic!("{id} not in {listed}"))
            .clone()
    };
    let rel_now = find(&["rel", "list", "--json"], "/rel/id", &rel);
    assert_eq!(rel_now["rel"]["level"], "trusted-advisor", "{rel_now}");
    let opp_now = find(&["opp", "list", "--status", "won", "--json"], "/id", &opp);
    assert_eq!(opp_now["status"], "won", "{opp_now}");
    let item_now = find(
        &["plan", "list", "--status", "done", "--json"],
        "/item/id",
        &item,
    );
    assert_eq!(item_now["item"]["status"], "done", "{item_now}");
    let archived = home.ok(&["person", "show", &other, "--json"]).json();
    assert_eq!(archived["person"]["archived"], true, "{archived}");
    let hello_now = find(&["log", "list", "--json"], "/activity/id", &hello);
    assert_eq!(
        hello_now["activity"]["notes"], "rewritten blind",
        "{hello_now}"
    );
    assert!(
        home.ok(&["doctor"]).stdout.contains("0 problems"),
        "the store checks clean"
    );
    assert_eq!(fresh["person"]["notes"], "Prefers mornings; café at 9 🎉");
    let partner = home
        .ok(&["partner", "show", "Beta co-delivery", "--json"])
        .json();
    let goals = partner
        .pointer("/goals")
        .or(partner.pointer("/partnership/goals"));
    assert_eq!(
        goals,
        Some(&serde_json::json!([
            "Two joint clients in 2027",
            "A third joint client"
        ])),
        "{partner}"
    );
    let players =
        find(&["opp", "list", "--status", "won", "--json"], "/id", &opp)["players"].clone();
    assert_eq!(players[&person]["role"], "evaluator", "{players}");
    assert_eq!(players[player]["role"], "approver", "{players}");
    assert!(partner.to_string().contains("Send the draft"), "{partner}");
    let people = home.ok(&["person", "list", "--json"]).stdout;
    assert!(people.contains("Newcomer Two"));
    assert!(
        home.ok(&["opp", "list", "--json"])
            .stdout
            .contains("Garbled deal")
    );
    let note = home.ok(&["note", "show", "Acme politics", "--json"]).json();
    let body = note.pointer("/note/body").or(note.pointer("/body"));
    assert!(
        body.and_then(|b| b.as_str())
            .is_some_and(|b| b.ends_with("demos.\nCarla: mornings.")),
        "{note}"
    );
    let accounts = home.ok(&["account", "list", "--json"]).json();
    assert_eq!(accounts[0]["industry"], "rope-making", "{accounts}");
    let older_now = find(&["log", "list", "--json"], "/activity/id", &older);
    assert_ne!(
        older_now["activity"]["notes"], "rewritten blind",
        "the loading edit failed"
    );
    // The edit now loads, and goes through.
    home.ok(&["log", "edit", &older, "--notes", "rewritten blind"]);
}

/// An edit of an activity that loads the document indexes the activity
/// log (in a file of its own, `<doc>.activity-fields`), so the next edits
/// of any activity (`log edit`, `log archive`) are written without loading
/// it: they succeed with every chunk's bytes unreadable. With the bytes
/// back, the log a fresh load reads (views deleted) is the one the views
/// served, last contacts included, and the store checks clean. A write
/// that loads for another reason keeps that index
/// (`FieldIndex::build_keeping`: the activities changed since indexed
/// afresh); once the views are deleted, the next `log edit` of an older
/// activity loads again.
#[test]
fn edits_of_activities_load_once() {
    let home = Home::demo();
    let entries = home.ok(&["log", "list", "--json"]).json();
    let entries = entries.as_array().unwrap();
    // Four activities of one account document.
    let doc = &entries[0]["activity"]["doc"];
    let ids: Vec<String> = entries
        .iter()
        .filter(|e| e["activity"]["doc"] == *doc)
        .map(|e| e["activity"]["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.len() >= 4, "{entries:?}");
    // Loads (the index holds no activity yet), and indexes the log.
    home.ok(&["log", "edit", &ids[0], "--kind", "email"]);
    let garbled = home.garble_chunks();
    home.ok(&[
        "log",
        "edit",
        &ids[1],
        "--notes",
        "Rewritten blind, café 🎉",
        "--date",
        "2026-11-20",
        "--kind",
        "meeting",
        "--direction",
        "give",
    ]);
    home.ok(&["log", "archive", &ids[2]]);
    // Edited twice: the second time from the index's own entry.
    home.ok(&["log", "edit", &ids[1], "--notes", "Rewritten twice"]);
    let written = home
        .chunk_files()
        .into_iter()
        .filter(|c| !garbled.files.contains(c))
        .count();
    assert_eq!(written, 3, "one new chunk per unloaded edit");
    garbled.restore();
    // A write that loads the document for another reason (archiving the
    // account, and back) keeps the index of the log: the next edit of an
    // older activity is still written blind.
    let account = entries[0]["activity"]["doc_name"].as_str().unwrap();
    home.ok(&["account", "archive", account]);
    home.ok(&["account", "archive", account, "--restore"]);
    let garbled = home.garble_chunks();
    home.ok(&["log", "edit", &ids[3], "--notes", "After a load"]);
    // (One the blind edits changed, indexed afresh by the load.)
    home.ok(&["log", "edit", &ids[1], "--notes", "Rewritten thrice"]);
    garbled.restore();
    let reads: [&[&str]; 4] = [
        &["log", "list", "--json", "--all"],
        &["person", "list", "--all", "--json"],
        &["gap", "--json"],
        &["agenda", "--json", "--team", "--days", "60"],
    ];
    let served: Vec<String> = reads.iter().map(|r| home.ok(r).stdout).collect();
    std::fs::remove_dir_all(home.path().join("views")).unwrap();
    let fresh: Vec<String> = reads.iter().map(|r| home.ok(r).stdout).collect();
    assert_eq!(served, fresh);
    let edited = entries_by_id(&home.ok(&["log", "list", "--json", "--all"]).json());
    let one = &edited[&ids[1]];
    assert_eq!(one["notes"], "Rewritten thrice", "{one}");
    assert_eq!(one["date"], "2026-11-20", "{one}");
    assert_eq!(one["kind"], "meeting", "{one}");
    assert_eq!(one["direction"], "give", "{one}");
    assert_eq!(edited[&ids[2]]["archived"], true);
    assert_eq!(edited[&ids[0]]["kind"], "email");
    assert_eq!(edited[&ids[3]]["notes"], "After a load");
    assert!(home.ok(&["doctor"]).stdout.contains("0 problems"));
    // The views were rebuilt by a read: without the activity log.
    let garbled = home.garble_chunks();
    let control = home.run(&["log", "edit", &ids[3], "--notes", "blind"]);
    assert_ne!(control.code, 0, "{}", control.stdout);
    garbled.restore();
}

/// The activities of `log list --json`, by id.
fn entries_by_id(
    listed: &serde_json::Value,
) -> std::collections::HashMap<String, serde_json::Value> {
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let a = e["activity"].clone();
            (a["id"].as_str().unwrap().to_string(), a)
        })
        .collect()
}

/// Writes that do not load the document (appends, plain-field edits) never
/// compact it, so once it has gathered `DEFAULT_COMPACT_AFTER` (64)
/// chunks the next write loads it and compacts: however a document is
/// written, its chunk count stays bounded, and reads list and check a
/// bounded number of chunks.
#[test]
fn unloaded_writes_leave_compaction_to_the_next_loaded_one() {
    let home = Home::demo();
    let person = home.ok(&["person", "list", "--json"]).json()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    home.ok(&["person", "list", "--all"]);
    let most = |home: &Home| -> usize {
        let mut per_doc = std::collections::BTreeMap::<String, usize>::new();
        for c in home.chunk_files() {
            let doc = c
                .parent()
                .unwrap()
                .parent()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            *per_doc.entry(doc).or_default() += 1;
        }
        per_doc.into_values().max().unwrap()
    };
    let mut highest = 0;
    for i in 0..80 {
        if i % 2 == 0 {
            home.ok(&[
                "log",
                "add",
                &person,
                "--kind",
                "call",
                "--notes",
                &format!("call {i}"),
            ]);
        } else {
            home.ok(&["person", "edit", &person, "--title", &format!("Title {i}")]);
        }
        highest = highest.max(most(&home));
    }
    assert!(highest > 60, "the writes did gather chunks: {highest}");
    assert!(highest <= 65, "a document kept {highest} chunks");
    assert!(most(&home) < 60, "and was compacted");
    let shown = home.ok(&["person", "show", &person, "--json"]).json();
    assert_eq!(shown["person"]["title"], "Title 79", "{shown}");
    assert!(shown.to_string().contains("call 78"), "{shown}");
}

/// Notes with accents and emoji edit as written: a replacement after
/// "café" and an appended line after "é" land where they should (they
/// used to fail with "index 5 is out of bounds", or panic: positions were
/// counted in bytes and automerge counts characters), both unloaded and,
/// with the views deleted, loaded.
#[test]
fn notes_in_any_script_edit_as_written() {
    let home = Home::demo();
    let person = home.ok(&["person", "list", "--json"]).json()[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let notes = |home: &Home| {
        home.ok(&["person", "show", &person, "--json"]).json()["person"]["notes"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for fresh in [false, true] {
        for text in ["café", "café au lait 🎉", "🎉 café", "größer"] {
            if fresh {
                std::fs::remove_dir_all(home.path().join("views")).unwrap();
            }
            home.ok(&["person", "edit", &person, "--notes", text]);
            assert_eq!(notes(&home), text);
        }
    }
    home.ok(&["note", "add", "Résumé", "--body", "é"]);
    home.ok(&["note", "edit", "Résumé", "--append", "über 🎉"]);
    home.ok(&["note", "edit", "Résumé", "--append", "next"]);
    let shown = home.ok(&["note", "show", "Résumé", "--json"]).json();
    assert_eq!(
        shown.pointer("/note/body").or(shown.pointer("/body")),
        Some(&serde_json::json!("é\nüber 🎉\nnext")),
        "{shown}"
    );
}

/// Edits, then records added, then edits again, all without a load, on
/// the demo (whose records are in each document's first change): the
/// second edit supersedes the first, with no conflict (an append used to
/// put the first change's records back into the field index as they were
/// then, so the second edit superseded the original value and left the
/// first edit's in conflict).
#[test]
fn edits_around_appends_supersede_each_other() {
    let home = Home::demo();
    let listed = home.ok(&["person", "list", "--json"]).json();
    let person = listed[0]["id"].as_str().unwrap().to_string();
    let account = listed[0]["doc_name"].as_str().unwrap().to_string();
    home.ok(&["person", "edit", &person, "--title", "A"]);
    home.ok(&["person", "add", "Bo", "--account", &account]);
    home.ok(&["log", "add", &person, "--kind", "call", "--notes", "hi"]);
    home.ok(&["person", "edit", &person, "--title", "B"]);
    for fresh in [false, true] {
        if fresh {
            std::fs::remove_dir_all(home.path().join("views")).unwrap();
        }
        let shown = home
            .ok(&["person", "show", &person, "--json", "--conflicts"])
            .json();
        assert_eq!(shown["person"]["title"], "B", "{shown}");
        assert_eq!(shown["conflicts"], serde_json::json!([]), "{shown}");
    }
}

/// A record that does not decode is skipped with one warning, however
/// many times a command reads its document: `person show`, `log list
/// --person` and `rel show` find the person among everyone's people
/// (which warns about the document's unreadable records), then read the
/// person's document again for the rest.
#[test]
fn an_unreadable_record_is_warned_about_once() {
    use automerge::{ROOT, ReadDoc, transaction::Transactable};
    let home = Home::demo();
    let config = std::fs::read_to_string(home.path().join("config.toml")).unwrap();
    let id: rapport_core::DocId = config
        .lines()
        .find_map(|l| l.strip_prefix("personal_doc = "))
        .unwrap()
        .trim_matches('"')
        .parse()
        .unwrap();
    // A private note the personal document holds as a plain number.
    let store = rapport_store::Store::new(rapport_store::FsBackend::new(home.path().join("store")));
    let mut loaded = store.load(&id).unwrap();
    let (_, notes) = loaded.doc.get(ROOT, "private_notes").unwrap().unwrap();
    loaded.doc.put(&notes, "garbled", 3).unwrap();
    store.save(&mut loaded).unwrap();
    // Lena is a personal contact: her document is the personal one.
    for args in [
        &["person", "show", "Lena Vogel"][..],
        &["log", "list", "--person", "Lena Vogel"],
        &["rel", "show", "Lena Vogel"],
        &["person", "list"],
    ] {
        let run = home.ok(args);
        assert_eq!(
            run.stderr
                .matches("skipped unreadable private_notes record garbled")
                .count(),
            1,
            "{args:?}: {}",
            run.stderr
        );
    }
}
