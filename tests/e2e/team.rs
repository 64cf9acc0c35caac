//! Team sync end to end: a real `rapport-relay` on 127.0.0.1:0 and the real
//! `rapport` binary as three teammates with separate homes.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Home, rapport_bin};

/// `rapport-relay`, built beside `rapport` by `cargo nextest run --workspace`.
fn relay_bin() -> PathBuf {
    let bin = rapport_bin().with_file_name("rapport-relay");
    assert!(
        bin.exists(),
        "{} is missing: run the tests with --workspace so cargo builds the relay",
        bin.display()
    );
    bin
}

/// A relay process on a free port of 127.0.0.1.
pub struct Relay {
    pub url: String,
    child: Child,
}

impl Relay {
    pub fn start(dir: &Path) -> Relay {
        let mut child = Command::new(relay_bin())
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .env("RAPPORT_RELAY_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // tracing writes "relay listening addr=127.0.0.1:PORT" on stdout.
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("the relay exited before listening")
                .unwrap();
            if let Some(rest) = line.split("addr=").nth(1) {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        // Keep draining its output so it never blocks on a full pipe;
        // RAPPORT_TEST_RELAY_LOG=FILE keeps it, for debugging.
        let keep = std::env::var_os("RAPPORT_TEST_RELAY_LOG");
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
        Relay {
            url: format!("http://{addr}"),
            child,
        }
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `rapport-relay ARGS --data-dir DIR` (an admin command) and
/// returns its stdout.
fn relay_admin(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(relay_bin())
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Adds `handles` as members of team acme and returns their tokens.
pub(crate) fn members(dir: &Path, handles: &[&str]) -> Vec<String> {
    relay_admin(dir, &["team", "add", "acme"]);
    handles
        .iter()
        .map(|h| relay_admin(dir, &["member", "add", "acme", h]))
        .collect()
}

/// A relay on `dir` with team acme (sam, jo), and the two of them
/// connected to it. Returns the relay, the tokens, sam and jo.
fn sam_and_jo(dir: &Path) -> (Relay, Vec<String>, Home, Home) {
    let tokens = members(dir, &["sam", "jo"]);
    let relay = Relay::start(dir);
    let sam = teammate("Sam Lee", "sam", &relay, &tokens[0]);
    let jo = teammate("Jo Park", "jo", &relay, &tokens[1]);
    (relay, tokens, sam, jo)
}

/// A relay on `dir` with team acme (sam, jo); sam shares the account Hub
/// and jo has synced it. Returns the relay, the tokens, sam and jo.
fn sam_and_jo_sharing_hub(dir: &Path) -> (Relay, Vec<String>, Home, Home) {
    let (relay, tokens, sam, jo) = sam_and_jo(dir);
    sam.ok(&["account", "add", "Hub"]);
    sam.ok(&["share", "Hub"]);
    jo.ok(&["sync"]);
    (relay, tokens, sam, jo)
}

fn teammate(name: &str, handle: &str, relay: &Relay, token: &str) -> Home {
    let home = Home::new();
    home.ok(&["init", "--name", name, "--handle", handle]);
    connect(&home, relay, token);
    home
}

/// The remote `mine`: sam's team of one, for his own devices.
fn personal_remote(home: &Home, relay: &Relay, token: &str) {
    home.ok(&[
        "remote",
        "add",
        "mine",
        &relay.url,
        "--team",
        "sam-devices",
        "--token",
        token,
        "--personal",
    ]);
}

fn connect(home: &Home, relay: &Relay, token: &str) {
    home.ok(&[
        "remote", "add", "acme", &relay.url, "--team", "acme", "--token", token,
    ]);
}

/// Everything a teammate sees of the shared account, as JSON.
fn everything(home: &Home) -> Value {
    everything_with(home, &[])
}

/// [`everything`], with `extra` arguments to every read.
fn everything_with(home: &Home, extra: &[&str]) -> Value {
    let get = |args: &[&str]| home.ok(&[args, extra].concat()).json();
    serde_json::json!({
        "people": get(&["person", "list", "--account", "Hub", "--all", "--json"]),
        "rels": get(&["rel", "list", "--account", "Hub", "--json"]),
        "activity": get(&["log", "list", "--account", "Hub", "--all", "--json"]),
        "plan": get(&["plan", "list", "--account", "Hub", "--json"]),
        "ana": get(&["person", "show", "Ana Silva", "--json"]),
    })
}

/// The sorted names of the live people of Hub, as `home` lists them.
fn hub_people(home: &Home) -> Vec<String> {
    sorted_names(
        &home
            .ok(&["person", "list", "--account", "Hub", "--json"])
            .json(),
    )
}

/// The sorted `name`s of a JSON list of people.
fn sorted_names(people: &Value) -> Vec<String> {
    let mut n: Vec<String> = people
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    n.sort();
    n
}

fn three_teammates_converge(order: &[usize]) {
    let dir = tempfile::tempdir().unwrap();
    let tokens = members(dir.path(), &["sam", "jo", "kim"]);
    let relay = Relay::start(dir.path());
    let team = [
        teammate("Sam Lee", "sam", &relay, &tokens[0]),
        teammate("Jo Park", "jo", &relay, &tokens[1]),
        teammate("Kim Ito", "kim", &relay, &tokens[2]),
    ];
    let [sam, jo, kim] = &team;

    // Sam starts the account and shares it; the others join.
    sam.ok(&["account", "add", "Hub"]);
    sam.ok(&[
        "person",
        "add",
        "Ana Silva",
        "--account",
        "Hub",
        "--notes",
        "Met at the summit.",
    ]);
    let shared = sam.ok(&["share", "Hub", "--json"]).json();
    assert_eq!(shared["documents"][0]["outcome"], "synced");
    for t in [jo, kim] {
        let out = t.ok(&["sync", "--json"]).json();
        assert_eq!(out["documents"][0]["new"], true, "{out}");
        assert_eq!(
            t.ok(&["account", "list", "--json"]).json()[0]["name"],
            "Hub"
        );
    }

    // Offline, all three change things, some of them the same person.
    sam.ok(&["person", "add", "Sam Contact", "--account", "Hub"]);
    sam.ok(&["person", "edit", "Ana Silva", "--title", "CTO"]);
    sam.ok(&[
        "log",
        "add",
        "Ana Silva",
        "--kind",
        "meeting",
        "--notes",
        "Sam met Ana",
    ]);
    sam.ok(&[
        "person",
        "edit",
        "Ana Silva",
        "--notes",
        "Met at the summit. Likes sailing.",
    ]);
    jo.ok(&["person", "add", "Jo Contact", "--account", "Hub"]);
    jo.ok(&["person", "edit", "Ana Silva", "--email", "ana@hub.example"]);
    jo.ok(&["rel", "add", "Ana Silva", "--level", "credible-source"]);
    jo.ok(&[
        "person",
        "edit",
        "Ana Silva",
        "--notes",
        "Met at the summit. Two kids.",
    ]);
    kim.ok(&["person", "add", "Kim Contact", "--account", "Hub"]);
    kim.ok(&[
        "plan",
        "add",
        "Ana Silva",
        "Send the benchmark report",
        "--due",
        "2026-12-01",
        "--tests",
        "time,learn",
    ]);
    kim.ok(&[
        "log",
        "add",
        "Ana Silva",
        "--kind",
        "help-given",
        "--notes",
        "Kim helped",
    ]);

    // Sync in the given order, twice round, so every change reaches everyone.
    for (turn, &i) in order.iter().chain(order).enumerate() {
        let out = team[i].ok(&["sync", "--json"]).json();
        assert_eq!(out["complete"], true, "{out}");
        if turn == order.len() {
            // Nothing changed here since this teammate's last sync, but the
            // relay's copy did: the others' changes arrive, through the
            // field index or loaded (concurrent edits of one text may need
            // the load), and what shows is what a load shows.
            assert!(out["received"].as_u64().unwrap() > 0, "{out}");
            let warm = everything(&team[i]);
            std::fs::remove_dir_all(team[i].path().join("views")).unwrap();
            assert_eq!(warm, everything(&team[i]), "{out}");
        }
    }
    // Once more: nothing changed on either side, so each sync settles the
    // account with one message, without loading it.
    for t in &team {
        let out = t.ok(&["sync", "--json"]).json();
        assert_eq!(out["documents"][0]["outcome"], "synced", "{out}");
        assert_eq!(out["documents"][0]["loaded"], false, "{out}");
        assert_eq!((&out["sent"], &out["received"]), (&json!(0), &json!(0)));
    }

    let views: Vec<Value> = team.iter().map(everything).collect();
    assert_eq!(views[0], views[1], "sam and jo differ");
    assert_eq!(views[1], views[2], "jo and kim differ");
    let v = &views[0];
    assert_eq!(
        sorted_names(&v["people"]),
        ["Ana Silva", "Jo Contact", "Kim Contact", "Sam Contact"]
    );
    let ana = &v["ana"]["person"];
    assert_eq!(ana["title"], "CTO", "{ana}");
    assert_eq!(ana["email"], "ana@hub.example", "{ana}");
    let notes = ana["notes"].as_str().unwrap();
    assert!(
        notes.starts_with("Met at the summit.")
            && notes.contains("Likes sailing.")
            && notes.contains("Two kids."),
        "both note edits survive: {notes:?}"
    );
    assert_eq!(
        v["activity"].as_array().unwrap().len(),
        2,
        "{}",
        v["activity"]
    );
    assert_eq!(v["plan"].as_array().unwrap().len(), 1);
    assert_eq!(v["rels"].as_array().unwrap().len(), 1);
    // The relay-side view: nothing left to send anywhere.
    for t in &team {
        let status = t.ok(&["status", "--json"]).json();
        assert_eq!(status["documents"][0]["unsent"], 0, "{status}");
    }
    // Only sam edits: his sync sends the edits with that one message, still
    // without loading the account, and the others get them.
    // (With a valid view, `log add` builds its change on the document's
    // first change alone: a dependency that is not one of the last heads.)
    sam.ok(&["person", "add", "Late Addition", "--account", "Hub"]);
    sam.ok(&["person", "edit", "Late Addition", "--title", "VP"]);
    sam.ok(&["person", "list", "--account", "Hub"]);
    sam.ok(&["log", "add", "Late Addition", "--kind", "call"]);
    let out = sam.ok(&["sync", "--json"]).json();
    assert_eq!(out["documents"][0]["loaded"], false, "{out}");
    assert_eq!((&out["sent"], &out["received"]), (&json!(3), &json!(0)));
    for t in [jo, kim] {
        let out = t.ok(&["sync", "--json"]).json();
        assert_eq!(out["received"], 3, "{out}");
        let late = t.ok(&["person", "show", "Late Addition", "--json"]).json();
        assert_eq!(late["person"]["title"], "VP", "{late}");
    }
    assert_eq!(
        sam.ok(&["status", "--json"]).json()["documents"][0]["unsent"],
        0
    );
    let views: Vec<Value> = team.iter().map(everything).collect();
    assert_eq!(views[0], views[1], "sam and jo differ after the last sync");
    assert_eq!(views[1], views[2], "jo and kim differ after the last sync");
    // Both add: sam's change goes with his check, whose answer brings jo's
    // new person, written without loading the account.
    jo.ok(&["person", "add", "Jo Late", "--account", "Hub"]);
    jo.ok(&["sync"]);
    sam.ok(&["person", "add", "Sam Late", "--account", "Hub"]);
    let out = sam.ok(&["sync", "--json"]).json();
    assert_eq!(out["documents"][0]["loaded"], false, "{out}");
    assert_eq!((&out["sent"], &out["received"]), (&json!(1), &json!(1)));
    // Both edit: jo's edit of a person's title, then of a list (a tag),
    // comes through the field index, still without loading, and sam's
    // change counts as sent.
    let both_edit = |jos: &[&str], sams: &[&str]| {
        jo.ok(&[&["person", "edit", "Jo Late"][..], jos].concat());
        jo.ok(&["sync"]);
        sam.ok(&[&["person", "edit", "Sam Late"][..], sams].concat());
        let out = sam.ok(&["sync", "--json"]).json();
        assert_eq!(out["documents"][0]["loaded"], false, "{out}");
        assert_eq!((&out["sent"], &out["received"]), (&json!(1), &json!(1)));
    };
    both_edit(&["--title", "COO"], &["--title", "CFO"]);
    both_edit(&["--tag", "ops"], &["--title", "CFO2"]);
    for t in [jo, kim] {
        t.ok(&["sync"]);
    }
    // A text shortened: the characters deleted must stay hidden.
    sam.ok(&["person", "edit", "Ana Silva", "--notes", "Met."]);
    for t in [sam, jo, kim] {
        t.ok(&["sync"]);
    }
    let views: Vec<Value> = team.iter().map(everything).collect();
    assert_eq!(views[0], views[1], "sam and jo differ at the end");
    assert_eq!(views[1], views[2], "jo and kim differ at the end");
    assert_eq!(views[0]["ana"]["person"]["notes"], "Met.");
    // Each copy of Hub, cold (no views), read from its columns with the
    // changes saved after its snapshot merged in (from any size:
    // `--scan-from 0`; the teammates' changes that depend on a change
    // inside the snapshot are refused, and the copy loads), shows what
    // every copy showed.
    for t in &team {
        let _ = std::fs::remove_dir_all(t.path().join("views"));
        assert_eq!(everything_with(t, &["--scan-from", "0"]), views[0]);
    }
}

/// A teammate's new records (a person with tags and notes, two activities,
/// a relationship, a plan item, an opportunity) arrive without loading the
/// account: sam's sync succeeds with every chunk of his store unreadable
/// (nothing reads them: the records are decoded on the account's first
/// change, kept in the view), and what he then sees is what a fresh load
/// (views deleted) shows and what jo sees. The next sync settles with
/// nothing to do, and the next edit goes through the field index. A
/// teammate's edit of a record still loads.
#[test]
fn a_teammates_new_records_arrive_without_loading_the_account() {
    let dir = tempfile::tempdir().unwrap();
    let (_relay, _tokens, sam, jo) = sam_and_jo_sharing_hub(dir.path());
    sam.ok(&["person", "add", "Ana Silva", "--account", "Hub"]);
    sam.ok(&["sync"]);
    jo.ok(&["sync"]);
    jo.ok(&[
        "person",
        "add",
        "Bo Chen",
        "--account",
        "Hub",
        "--title",
        "CFO",
        "--tag",
        "board",
        "--notes",
        "Met at the fair, café 🎉",
    ]);
    jo.ok(&[
        "log",
        "add",
        "Ana Silva",
        "--kind",
        "meeting",
        "--notes",
        "Jo met Ana",
    ]);
    jo.ok(&[
        "log",
        "add",
        "Ana Silva",
        "--kind",
        "call",
        "--notes",
        "Jo called",
    ]);
    jo.ok(&["rel", "add", "Ana Silva", "--level", "credible-source"]);
    jo.ok(&[
        "plan",
        "add",
        "Ana Silva",
        "Send the benchmark",
        "--due",
        "2026-12-01",
    ]);
    jo.ok(&["opp", "add", "Renewal", "--account", "Hub"]);
    let out = jo.ok(&["sync", "--json"]).json();
    assert_eq!(out["sent"], 6, "{out}");

    sam.ok(&["person", "list"]);
    let garbled = sam.garble_chunks();
    let out = sam.ok(&["sync", "--json"]).json();
    let hub = &out["documents"][0];
    assert_eq!(
        (&hub["outcome"], &hub["loaded"], &hub["received"]),
        (&json!("synced"), &json!(false), &json!(6)),
        "{out}"
    );
    // What he sees before the chunks are readable again: the view.
    let people = sam
        .ok(&["person", "list", "--account", "Hub", "--json"])
        .json();
    assert_eq!(sorted_names(&people), ["Ana Silva", "Bo Chen"]);
    garbled.restore();
    let warm = everything(&sam);
    std::fs::remove_dir_all(sam.path().join("views")).unwrap();
    assert_eq!(warm, everything(&sam), "the view is what a load shows");
    assert_eq!(warm, everything(&jo), "sam sees what jo sees");
    let bo = sam.ok(&["person", "show", "Bo Chen", "--json"]).json();
    assert_eq!(bo["person"]["notes"], "Met at the fair, café 🎉", "{bo}");
    assert!(
        sam.ok(&["opp", "list", "--json"])
            .stdout
            .contains("Renewal"),
        "the opportunity arrived"
    );
    let check = sam.ok(&["doctor", "--json"]).json();
    assert_eq!(check["findings"], json!([]), "{check}");

    // Received again unloaded, then edited through the field index: the
    // index was kept up to date with the new records.
    jo.ok(&["person", "add", "Cy Diaz", "--account", "Hub"]);
    jo.ok(&["sync"]);
    let out = sam.ok(&["sync", "--json"]).json();
    assert_eq!(out["documents"][0]["loaded"], false, "{out}");
    sam.ok(&["person", "edit", "Cy Diaz", "--title", "VP"]);
    let out = sam.ok(&["sync", "--json"]).json();
    assert_eq!(
        (&out["sent"], &out["received"]),
        (&json!(1), &json!(0)),
        "{out}"
    );
    assert_eq!(out["documents"][0]["loaded"], false, "{out}");
    let out = jo.ok(&["sync", "--json"]).json();
    assert_eq!(out["received"], 1, "{out}");
    let cy = jo.ok(&["person", "show", "Cy Diaz", "--json"]).json();
    assert_eq!(cy["person"]["title"], "VP", "{cy}");

    // Plain edits of records that were there (a title, a relationship's
    // level): received through the field index, without a load, even
    // with every chunk unreadable; and then edited over here, unloaded,
    // superseding them without a conflict.
    jo.ok(&["person", "edit", "Ana Silva", "--title", "CTO"]);
    jo.ok(&["rel", "edit", "Ana Silva", "--level", "trusted-advisor"]);
    jo.ok(&["sync"]);
    sam.ok(&["person", "list"]);
    let garbled = sam.garble_chunks();
    let out = sam.ok(&["sync", "--json"]).json();
    assert_eq!(
        (&out["documents"][0]["loaded"], &out["received"]),
        (&json!(false), &json!(2)),
        "{out}"
    );
    sam.ok(&["person", "edit", "Ana Silva", "--email", "ana@hub.example"]);
    garbled.restore();
    let warm = everything(&sam);
    std::fs::remove_dir_all(sam.path().join("views")).unwrap();
    assert_eq!(warm, everything(&sam), "the view is what a load shows");
    assert_eq!(warm["ana"]["person"]["title"], "CTO", "{warm}");
    sam.ok(&["person", "edit", "Ana Silva", "--title", "CEO"]);
    sam.ok(&["sync"]);
    jo.ok(&["sync"]);
    let ana = jo.ok(&["person", "show", "Ana Silva", "--json"]).json();
    assert_eq!(ana["person"]["title"], "CEO", "{ana}");
    assert_eq!(everything(&sam), everything(&jo));
    assert_eq!(sam.ok(&["doctor", "--json"]).json()["findings"], json!([]));

    // Edits of a list and a text (a tag, the notes): received through
    // the field index too, with every chunk unreadable.
    jo.ok(&["person", "edit", "Ana Silva", "--tag", "board"]);
    jo.ok(&[
        "person",
        "edit",
        "Ana Silva",
        "--tag",
        "sponsor",
        "--notes",
        "met at the fair",
    ]);
    jo.ok(&["sync"]);
    let garbled = sam.garble_chunks();
    let out = sam.ok(&["sync", "--json"]).json();
    assert_eq!(
        (&out["documents"][0]["loaded"], &out["received"]),
        (&json!(false), &json!(2)),
        "{out}"
    );
    garbled.restore();
    let warm = everything(&sam);
    std::fs::remove_dir_all(sam.path().join("views")).unwrap();
    assert_eq!(warm, everything(&sam), "the view is what a load shows");
    assert_eq!(warm, everything(&jo));
    assert_eq!(
        warm["ana"]["person"]["tags"],
        json!(["board", "sponsor"]),
        "{warm}"
    );

    // Edits of activities, received through the field index too, with
    // every chunk unreadable: of two sam's index holds in its cold file
    // (his own `log edit`, which loaded, indexed the log), and of one
    // logged since (received unloaded: an entry of the index). A notes
    // text, plain fields, the archived flag. Then sam's own edits of them,
    // still with every chunk unreadable, go through the index the receive
    // wrote: a wrong entry there would name superseded values, and the
    // fresh load below would show a conflict's other value.
    let entry = |t: &Home, notes: &str| -> String {
        let listed = t.ok(&["log", "list", "--json", "--all"]).json();
        let found = listed
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["activity"]["notes"] == notes);
        found.unwrap_or_else(|| panic!("no {notes:?} in {listed}"))["activity"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (met, called) = (entry(&sam, "Jo met Ana"), entry(&sam, "Jo called"));
    sam.ok(&["log", "edit", &met, "--kind", "event"]);
    sam.ok(&["sync"]);
    jo.ok(&["sync"]);
    jo.ok(&[
        "log",
        "add",
        "Ana Silva",
        "--kind",
        "email",
        "--notes",
        "Jo wrote",
    ]);
    jo.ok(&["sync"]);
    let out = sam.ok(&["sync", "--json"]).json();
    assert_eq!(out["documents"][0]["loaded"], false, "{out}");
    let wrote = entry(&sam, "Jo wrote");
    jo.ok(&["log", "edit", &called, "--notes", "Jo called, café 🎉"]);
    jo.ok(&[
        "log",
        "edit",
        &met,
        "--date",
        "2026-11-02",
        "--direction",
        "give",
    ]);
    jo.ok(&["log", "archive", &wrote]);
    jo.ok(&["sync"]);
    let garbled = sam.garble_chunks();
    let out = sam.ok(&["sync", "--json"]).json();
    assert_eq!(
        (&out["documents"][0]["loaded"], &out["received"]),
        (&json!(false), &json!(3)),
        "{out}"
    );
    sam.ok(&["log", "edit", &met, "--date", "2026-11-03"]);
    sam.ok(&[
        "log",
        "edit",
        &called,
        "--notes",
        "Jo called, café 🎉 twice",
    ]);
    sam.ok(&["log", "archive", &wrote, "--restore"]);
    garbled.restore();
    let log = |t: &Home| t.ok(&["log", "list", "--json", "--all"]).stdout;
    let warm = (everything(&sam), log(&sam));
    std::fs::remove_dir_all(sam.path().join("views")).unwrap();
    assert_eq!(
        warm,
        (everything(&sam), log(&sam)),
        "the view is what a load shows"
    );
    assert!(warm.1.contains("Jo called, café 🎉 twice"), "{}", warm.1);
    assert!(warm.1.contains("2026-11-03"), "{}", warm.1);
    sam.ok(&["sync"]);
    jo.ok(&["sync"]);
    assert_eq!(warm, (everything(&jo), log(&jo)));
    assert_eq!(sam.ok(&["doctor", "--json"]).json()["findings"], json!([]));

    // An edit of several records at once (a merge, which moves the
    // duplicate's activity over): loaded.
    jo.ok(&["log", "add", "Bo Chen", "--kind", "call"]);
    jo.ok(&["person", "merge", "Ana Silva", "Bo Chen"]);
    jo.ok(&["sync"]);
    let out = sam.ok(&["sync", "--json"]).json();
    assert_eq!(
        (&out["documents"][0]["loaded"], &out["received"]),
        (&json!(true), &json!(2)),
        "{out}"
    );
    assert_eq!(everything(&sam), everything(&jo));
}

#[test]
fn three_teammates_converge_syncing_in_order() {
    three_teammates_converge(&[0, 1, 2]);
}

#[test]
fn three_teammates_converge_syncing_in_reverse() {
    three_teammates_converge(&[2, 1, 0]);
}

#[test]
fn status_counts_local_changes_and_sync_fails_cleanly_offline() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = members(dir.path(), &["sam"]);
    let mut relay = Relay::start(dir.path());
    let sam = teammate("Sam Lee", "sam", &relay, &tokens[0]);
    sam.ok(&["account", "add", "Hub"]);
    sam.ok(&["share", "Hub"]);
    sam.ok(&["person", "add", "Ana", "--account", "Hub"]);
    sam.ok(&["person", "add", "Bo", "--account", "Hub"]);
    let status = sam.ok(&["status", "--json"]).json();
    assert_eq!(status["documents"][0]["unsent"], 2, "{status}");

    relay.kill();
    let before = sam.chunk_files();
    let out = sam.fails(&["sync"], 1);
    assert!(
        out.stderr.contains("could not reach the relay"),
        "{}",
        out.stderr
    );
    assert_eq!(sam.chunk_files(), before, "an offline sync writes nothing");
    // Still 2 unsent, still readable.
    assert_eq!(
        sam.ok(&["status", "--json"]).json()["documents"][0]["unsent"],
        2
    );
    assert_eq!(
        sam.ok(&["person", "list", "--json"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn tokens_are_stored_privately_and_never_printed() {
    let home = Home::initialised();
    home.ok(&[
        "remote",
        "add",
        "acme",
        "https://relay.example.com",
        "--team",
        "acme",
        "--token",
        "rpt_secret",
    ]);
    let listed = home.ok(&["remote", "list"]);
    assert!(!listed.stdout.contains("rpt_secret"), "{}", listed.stdout);
    let listed = home.ok(&["remote", "list", "--json"]).json();
    assert_eq!(listed[0]["token"], "stored");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(home.path().join("remotes.toml"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Bad input is refused before anything is written.
    home.fails(
        &["remote", "add", "x", "relay.example.com", "--team", "acme"],
        1,
    );
    home.fails(
        &[
            "remote",
            "add",
            "bad name",
            "https://r.example.com",
            "--team",
            "acme",
        ],
        1,
    );
    // The personal document never goes to a team remote.
    let out = home.fails(&["share", "personal"], 1);
    assert!(
        out.stderr.contains("never shared with teammates"),
        "{}",
        out.stderr
    );
    home.ok(&["remote", "remove", "acme"]);
    assert_eq!(
        home.ok(&["remote", "list", "--json"]).json(),
        serde_json::json!([])
    );
}

#[test]
fn a_relay_killed_mid_sync_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut relay, tokens, sam, jo) = sam_and_jo_sharing_hub(dir.path());

    let mut expected = Vec::new();
    for round in 0..3 {
        // Work piles up offline on both sides ...
        for i in 0..15 {
            for (t, who) in [(&sam, "S"), (&jo, "J")] {
                let name = format!("{who}{round}-{i}");
                t.ok(&[
                    "person",
                    "add",
                    &name,
                    "--account",
                    "Hub",
                    "--notes",
                    &"x".repeat(200),
                ]);
                expected.push(name);
            }
        }
        // ... then the relay dies at a different moment of each sync.
        let child = sam
            .command(&["sync"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis([5, 40, 120][round]));
        relay.kill();
        let out = child.wait_with_output().unwrap();
        let code = out.status.code().unwrap();
        assert!(
            code == 0 || code == 1,
            "a cut sync is a clean failure, not a crash: {code} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Sam's own data is intact whatever happened.
        sam.ok(&["doctor"]);

        // The relay comes back on the same data directory (a new port).
        relay = Relay::start(dir.path());
        for t in [&sam, &jo] {
            connect(
                t,
                &relay,
                if std::ptr::eq(t, &sam) {
                    &tokens[0]
                } else {
                    &tokens[1]
                },
            );
        }
        for t in [&sam, &jo, &sam] {
            let out = t.ok(&["sync", "--json"]).json();
            assert_eq!(out["complete"], true, "{out}");
        }
        expected.sort();
        let want: Vec<String> = expected.clone();
        for t in [&sam, &jo] {
            assert_eq!(
                hub_people(t),
                want,
                "round {round}: everyone has everything"
            );
        }
    }
}

/// A TCP proxy that forwards to `target` and cuts every connection once
/// `budget` bytes have passed through it in total (both directions).
struct CuttingProxy {
    url: String,
    /// Set once the proxy has cut a connection short.
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl CuttingProxy {
    fn start(target: &str, budget: usize) -> CuttingProxy {
        CuttingProxy::with(target, budget, false)
    }

    /// Cuts only the first sync WebSocket, after `budget` bytes of it;
    /// every other connection (the HTTP calls, later WebSockets) passes
    /// whole.
    fn first_sync_only(target: &str, budget: usize) -> CuttingProxy {
        CuttingProxy::with(target, budget, true)
    }

    fn with(target: &str, budget: usize, first_sync_only: bool) -> CuttingProxy {
        use std::io::{Read as _, Write as _};
        use std::net::{Shutdown, TcpListener, TcpStream};
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let target = target.trim_start_matches("http://").to_string();
        let used = Arc::new(AtomicUsize::new(0));
        let cut_one = Arc::new(AtomicBool::new(false));
        let cut = Arc::new(AtomicBool::new(false));
        let did_cut = cut.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { return };
                let Ok(mut server) = TcpStream::connect(&target) else {
                    return;
                };
                let (budget, used) = if first_sync_only {
                    // The request line tells a sync WebSocket from the rest.
                    let mut first = [0u8; 512];
                    let n = client.read(&mut first).unwrap_or(0);
                    let sync = first[..n].starts_with(b"GET /v1/sync");
                    if server.write_all(&first[..n]).is_err() {
                        continue;
                    }
                    if sync && !cut_one.swap(true, Ordering::SeqCst) {
                        (budget, Arc::new(AtomicUsize::new(n)))
                    } else {
                        (usize::MAX, Arc::new(AtomicUsize::new(0)))
                    }
                } else {
                    (budget, used.clone())
                };
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let (used, did_cut) = (used.clone(), did_cut.clone());
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 512];
                        loop {
                            let n = match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            };
                            let before = used.fetch_add(n, Ordering::SeqCst);
                            let allowed = budget.saturating_sub(before).min(n);
                            if allowed < n {
                                did_cut.store(true, Ordering::SeqCst);
                            }
                            if to.write_all(&buf[..allowed]).is_err() || allowed < n {
                                break;
                            }
                        }
                        let _ = from.shutdown(Shutdown::Both);
                        let _ = to.shutdown(Shutdown::Both);
                    });
                }
            }
        });
        CuttingProxy { url, cut }
    }

    fn has_cut(&self) -> bool {
        self.cut.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[test]
fn a_connection_cut_at_any_point_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, tokens, sam, jo) = sam_and_jo_sharing_hub(dir.path());

    let mut expected = Vec::new();
    let mut cut = 0;
    for (round, budget) in [300, 900, 1600, 2500, 4000, 7000, 12000]
        .into_iter()
        .enumerate()
    {
        for (t, who) in [(&sam, "S"), (&jo, "J")] {
            for i in 0..4 {
                let name = format!("{who}{round}-{i}");
                t.ok(&[
                    "person",
                    "add",
                    &name,
                    "--account",
                    "Hub",
                    "--notes",
                    &"y".repeat(300),
                ]);
                expected.push(name);
            }
        }
        jo.ok(&["sync"]);
        // Sam's sync is cut after `budget` bytes: somewhere in the listing,
        // the handshake, or the middle of the exchange.
        let proxy = CuttingProxy::start(&relay.url, budget);
        sam.ok(&[
            "remote", "add", "acme", &proxy.url, "--team", "acme", "--token", &tokens[0],
        ]);
        let out = sam.run(&["sync"]);
        assert!(
            out.code == 0 || out.code == 1,
            "clean failure: {}",
            out.stderr
        );
        if out.code == 1 {
            cut += 1;
        }
        sam.ok(&["doctor"]);
        // The next sync, uncut, completes.
        connect(&sam, &relay, &tokens[0]);
        assert_eq!(sam.ok(&["sync", "--json"]).json()["complete"], true);
    }
    assert!(
        cut >= 4,
        "most budgets should cut the sync short ({cut} did)"
    );
    jo.ok(&["sync"]);
    expected.sort();
    for t in [&sam, &jo] {
        assert_eq!(hub_people(t), expected);
    }
}

/// A connection lost in the middle of a sync (a proxy dropping it, the
/// relay restarting a team) is not the end of the sync: the client
/// reconnects, starts fresh sync states for what is unsettled, and
/// completes.
#[test]
fn a_sync_cut_once_reconnects_and_completes() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, tokens, sam, jo) = sam_and_jo_sharing_hub(dir.path());
    let mut expected = Vec::new();
    for i in 0..6 {
        let name = format!("S{i}");
        sam.ok(&[
            "person",
            "add",
            &name,
            "--account",
            "Hub",
            "--notes",
            &"z".repeat(300),
        ]);
        expected.push(name);
    }
    // The first sync connection dies after 2 kB, inside the exchange.
    let proxy = CuttingProxy::first_sync_only(&relay.url, 2000);
    sam.ok(&[
        "remote", "add", "acme", &proxy.url, "--team", "acme", "--token", &tokens[0],
    ]);
    let out = sam.ok(&["sync", "--json"]).json();
    assert_eq!(out["complete"], true, "{out}");
    jo.ok(&["sync"]);
    expected.sort();
    assert_eq!(hub_people(&jo), expected);
}

/// A teammate with no local change checks the shared account without
/// loading it first (one message); when that check's connection is cut,
/// the account goes through the full sync instead, which completes.
#[test]
fn a_check_cut_short_falls_back_to_the_full_sync() {
    let dir = tempfile::tempdir().unwrap();
    let (relay, tokens, sam, jo) = sam_and_jo_sharing_hub(dir.path());
    sam.ok(&["sync"]);
    let mut expected = Vec::new();
    let mut fell_back = 0;
    for budget in [500, 600, 700, 800, 900, 1000, 1200, 1500] {
        let name = format!("J{budget}");
        jo.ok(&["person", "add", &name, "--account", "Hub"]);
        jo.ok(&["sync"]);
        expected.push(name);
        // Sam changed nothing since his last sync: his first connection is
        // the check, and it is cut after `budget` bytes.
        let proxy = CuttingProxy::first_sync_only(&relay.url, budget);
        sam.ok(&[
            "remote", "add", "acme", &proxy.url, "--team", "acme", "--token", &tokens[0],
        ]);
        let out = sam.run(&["sync", "--json"]);
        assert!(out.code == 0 || out.code == 1, "clean: {}", out.stderr);
        if out.code == 0 && proxy.has_cut() {
            fell_back += 1;
            let summary = out.json();
            assert_eq!(summary["complete"], true, "{summary}");
            assert_eq!(summary["documents"][0]["loaded"], true, "{summary}");
        }
        connect(&sam, &relay, &tokens[0]);
        assert_eq!(sam.ok(&["sync", "--json"]).json()["complete"], true);
    }
    assert!(fell_back >= 2, "cuts after the handshake: {fell_back}");
    expected.sort();
    let got: Vec<String> = hub_people(&sam)
        .into_iter()
        .filter(|n| n.starts_with('J'))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn duplicates_from_offline_adds_merge_and_conflicts_show_both_values() {
    let dir = tempfile::tempdir().unwrap();
    let (_relay, _tokens, sam, jo) = sam_and_jo(dir.path());
    sam.ok(&["account", "add", "Hub"]);
    sam.ok(&["person", "add", "Ana Silva", "--account", "Hub"]);
    sam.ok(&["share", "Hub"]);
    jo.ok(&["sync"]);

    // Both add Dee offline, each with a relationship and activity.
    sam.ok(&[
        "person",
        "add",
        "Dee Ross",
        "--account",
        "Hub",
        "--title",
        "COO",
    ]);
    sam.ok(&["rel", "add", "Dee Ross", "--level", "credible-source"]);
    jo.ok(&[
        "person",
        "add",
        "Dee Ross",
        "--account",
        "Hub",
        "--email",
        "dee@hub.example",
    ]);
    jo.ok(&[
        "log", "add", "Dee Ross", "--kind", "meeting", "--notes", "coffee",
    ]);
    // And both retitle Ana.
    sam.ok(&["person", "edit", "Ana Silva", "--title", "VP Engineering"]);
    jo.ok(&["person", "edit", "Ana Silva", "--title", "Head of Platform"]);
    for t in [&sam, &jo, &sam] {
        t.ok(&["sync"]);
    }

    // Same-field conflict: resolved the same way everywhere, loser visible.
    let c_sam = sam
        .ok(&["person", "show", "Ana Silva", "--conflicts", "--json"])
        .json();
    let c_jo = jo
        .ok(&["person", "show", "Ana Silva", "--conflicts", "--json"])
        .json();
    assert_eq!(c_sam["person"]["title"], c_jo["person"]["title"]);
    assert_eq!(c_sam["conflicts"], c_jo["conflicts"]);
    let conflict = &c_sam["conflicts"][0];
    assert_eq!(conflict["field"], "title", "{c_sam}");
    let mut both = vec![
        conflict["shown"].as_str().unwrap().to_string(),
        conflict["others"][0].as_str().unwrap().to_string(),
    ];
    both.sort();
    assert_eq!(both, ["Head of Platform", "VP Engineering"]);

    // Two Dees: merge jo's into sam's.
    let dees: Vec<Value> = sam
        .ok(&["person", "list", "--json"])
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["name"] == "Dee Ross")
        .cloned()
        .collect();
    assert_eq!(dees.len(), 2);
    let keep = dees.iter().find(|p| p["title"] == "COO").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let dup = dees.iter().find(|p| p["title"] != "COO").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // "Dee Ross" alone is ambiguous, so ids are needed.
    sam.fails(&["person", "merge", "Dee Ross", "Dee Ross"], 1);
    let merged = sam
        .ok(&["person", "merge", &keep[..8], &dup[..8], "--json"])
        .json();
    assert_eq!(merged["report"]["activities"], 1, "{merged}");
    for t in [&sam, &jo] {
        t.ok(&["sync"]);
    }
    for t in [&sam, &jo] {
        let people = t.ok(&["person", "list", "--json"]).json();
        let live: Vec<&Value> = people
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["name"] == "Dee Ross")
            .collect();
        assert_eq!(live.len(), 1, "one Dee after the merge");
        let dee = t.ok(&["person", "show", &keep[..8], "--json"]).json();
        assert_eq!(dee["person"]["email"], "dee@hub.example", "gap filled");
        assert_eq!(
            dee["activities"].as_array().unwrap().len(),
            1,
            "jo's coffee moved"
        );
        assert_eq!(
            dee["relationships"].as_array().unwrap().len(),
            1,
            "sam's rel stays"
        );
    }
    assert_eq!(everything(&sam), everything(&jo));
}

/// The JS automerge-repo packages of `tests/interop`, installed by `.ci/run`
/// (or here, when missing).
fn interop_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/interop");
    if !dir.join("node_modules/@automerge/automerge-repo").exists() {
        let status = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm (Node.js 20+) is needed for the interop test");
        assert!(status.success(), "npm install failed in {}", dir.display());
    }
    dir
}

#[test]
fn a_js_client_reads_a_shared_account_and_adds_a_person_the_cli_lists() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = members(dir.path(), &["sam", "web"]);
    let relay = Relay::start(dir.path());
    let sam = teammate("Sam Lee", "sam", &relay, &tokens[0]);
    sam.ok(&["account", "add", "Hub"]);
    sam.ok(&[
        "person",
        "add",
        "Ana Silva",
        "--account",
        "Hub",
        "--title",
        "CTO",
    ]);
    sam.ok(&["person", "add", "Bo Jones", "--account", "Hub"]);
    sam.ok(&["share", "Hub"]);

    let ws_base = relay.url.replacen("http://", "ws://", 1);
    let out = Command::new("node")
        .args([
            "account.mjs",
            &ws_base,
            &relay.url,
            "acme",
            &tokens[1],
            "web-1",
            "Wen From Web",
        ])
        .current_dir(interop_dir())
        .output()
        .expect("node is needed for the interop test");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "node failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let account: Value = serde_json::from_str(
        stdout
            .lines()
            .find_map(|l| l.strip_prefix("ACCOUNT "))
            .expect("the JS client printed no account"),
    )
    .unwrap();
    assert_eq!(
        account,
        serde_json::json!({"name": "Hub", "people": ["Ana Silva", "Bo Jones"]})
    );

    sam.ok(&["sync"]);
    let wen = sam.ok(&["person", "show", "Wen From Web", "--json"]).json();
    assert_eq!(wen["person"]["title"], "Added from JS");
    assert_eq!(wen["person"]["tags"], serde_json::json!(["js"]));
    assert_eq!(wen["doc_name"], "Hub");
    // The record is fully editable (doctor checks every record reads the way
    // an edit reads it), and an edit syncs back.
    let doctor = sam.ok(&["doctor", "--json"]).json();
    assert_eq!(doctor["findings"], serde_json::json!([]), "{doctor}");
    sam.ok(&["person", "edit", "Wen From Web", "--title", "Designer"]);
    sam.ok(&["sync"]);
}

#[test]
fn the_personal_document_syncs_only_between_your_own_devices() {
    let dir = tempfile::tempdir().unwrap();
    let team_tokens = members(dir.path(), &["sam", "jo"]);
    relay_admin(dir.path(), &["team", "add", "sam-devices"]);
    let mine = relay_admin(dir.path(), &["member", "add", "sam-devices", "sam"]);
    let relay = Relay::start(dir.path());

    // Laptop: a team remote and a personal one.
    let laptop = teammate("Sam Lee", "sam", &relay, &team_tokens[0]);
    personal_remote(&laptop, &relay, &mine);
    laptop.ok(&[
        "note",
        "add",
        "Salary talk",
        "--body",
        "Private: ask for a raise",
    ]);
    laptop.ok(&["account", "add", "Hub"]);
    laptop.ok(&["share", "Hub", "--remote", "acme"]);
    laptop.ok(&["share", "personal", "--remote", "mine"]);
    let shared = laptop.ok(&["sync", "--remote", "acme", "--json"]).json();
    assert_eq!(
        shared["documents"].as_array().unwrap().len(),
        1,
        "only Hub goes to the team"
    );

    // A teammate sees Hub, never the personal document.
    let jo = teammate("Jo Park", "jo", &relay, &team_tokens[1]);
    let got = jo.ok(&["sync", "--json"]).json();
    assert_eq!(got["documents"].as_array().unwrap().len(), 1);
    assert_eq!(got["documents"][0]["name"], "Hub");
    assert_eq!(
        jo.ok(&["note", "list", "--json"]).json(),
        serde_json::json!([])
    );

    // Desktop: starts from the laptop's personal document.
    let desktop = Home::new();
    personal_remote(&desktop, &relay, &mine);
    let joined = desktop
        .ok(&["init", "--from-remote", "mine", "--json"])
        .json();
    assert_eq!(joined["owner"], "Sam Lee (@sam)", "{joined}");
    let notes = desktop.ok(&["note", "list", "--json"]).json();
    assert_eq!(notes[0]["title"], "Salary talk", "{notes}");
    // Hub is listed but not here yet: a warning, not an error, until synced.
    let out = desktop.ok(&["person", "list"]);
    assert!(
        out.stderr.contains("not on this machine yet"),
        "{}",
        out.stderr
    );
    connect(&desktop, &relay, &team_tokens[0]);
    desktop.ok(&["sync", "--remote", "acme"]);
    assert!(
        !desktop
            .ok(&["person", "list"])
            .stderr
            .contains("not on this machine")
    );

    // A note written on the desktop reaches the laptop.
    desktop.ok(&["note", "add", "From the desktop"]);
    desktop.ok(&["sync", "--remote", "mine"]);
    laptop.ok(&["sync", "--remote", "mine"]);
    let titles: Vec<String> = laptop
        .ok(&["note", "list", "--json"])
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["title"].as_str().unwrap().to_string())
        .collect();
    assert!(
        titles.contains(&"From the desktop".to_string()),
        "{titles:?}"
    );
    // Joining from a team remote is refused.
    let other = Home::new();
    connect(&other, &relay, &team_tokens[1]);
    other.fails(&["init", "--from-remote", "acme"], 1);
}

/// A teammate's new record whose change depends on a change this copy
/// holds only inside a snapshot (not a head, not the last sync's heads,
/// not an incremental chunk, not the first change) is not written
/// unloaded: this side cannot tell without loading that it has that
/// change, so the account is loaded, and the result is the same.
#[test]
fn a_new_record_on_a_change_this_side_cannot_vouch_for_loads() {
    let dir = tempfile::tempdir().unwrap();
    let (_relay, _tokens, sam, jo) = sam_and_jo(dir.path());
    sam.ok(&["account", "add", "Hub"]);
    // X: a change after the first; jo's first fetch stores it in a snapshot.
    sam.ok(&["account", "edit", "Hub", "--industry", "rope"]);
    sam.ok(&["share", "Hub"]);
    jo.ok(&["sync"]);
    // Y, on X: jo's heads and last sync move past X.
    jo.ok(&["account", "edit", "Hub", "--industry", "sails"]);
    jo.ok(&["sync"]);
    // Z, on X: a person added by sam with his views gone, so the document
    // is loaded and the change depends on his heads (X), not on the first
    // change.
    std::fs::remove_dir_all(sam.path().join("views")).unwrap();
    sam.ok(&["person", "add", "Zed Park", "--account", "Hub"]);
    sam.ok(&["sync"]);
    let out = jo.ok(&["sync", "--json"]).json();
    let hub = &out["documents"][0];
    assert_eq!(
        (&hub["outcome"], &hub["loaded"], &hub["received"]),
        (&json!("synced"), &json!(true), &json!(1)),
        "{out}"
    );
    assert_eq!(hub_people(&jo), ["Zed Park"]);
    sam.ok(&["sync"]);
    for args in [
        &["person", "list", "--account", "Hub", "--json"][..],
        &["account", "list", "--json"],
    ] {
        assert_eq!(sam.ok(args).json(), jo.ok(args).json(), "{args:?}");
    }
}

/// Crash safety of the unloaded receive: sam's sync, receiving jo's
/// activities without loading the account, is killed with SIGKILL at
/// seeded random moments. After each kill the store checks clean and what
/// sam sees through his views is what a fresh load shows (a view or field
/// index left behind by a kill is never served); in the end an unkilled
/// sync brings every activity. `RAPPORT_KILL_RUNS` sets the number of
/// kills (default 30).
#[test]
fn a_sync_killed_while_receiving_unloaded_loses_nothing_and_serves_no_stale_view() {
    let runs: u64 = std::env::var("RAPPORT_KILL_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .map_or(30, |n: u64| n / 10)
        .max(1);
    let dir = tempfile::tempdir().unwrap();
    let (_relay, _tokens, sam, jo) = sam_and_jo_sharing_hub(dir.path());
    sam.ok(&["person", "add", "Ana Silva", "--account", "Hub"]);
    sam.ok(&["sync"]);
    jo.ok(&["sync"]);
    let log = |home: &Home| -> Value {
        home.ok(&[
            "log",
            "list",
            "--account",
            "Hub",
            "--json",
            "--limit",
            "100000",
        ])
        .json()
    };
    let mut rng = crate::harness::Rng(0x7265_6376_2d6b_696c);
    let mut sent = Vec::new();
    // Kills land within a window that starts at twice the time of an
    // unkilled sync and adapts to how busy the machine is: wider after a
    // kill, narrower after a sync that ended, so about half end first.
    let mut window = {
        jo.ok(&[
            "log",
            "add",
            "Ana Silva",
            "--kind",
            "call",
            "--notes",
            "timed",
        ]);
        jo.ok(&["sync"]);
        sent.push("timed".to_string());
        let start = std::time::Instant::now();
        let out = sam.ok(&["sync", "--json"]).json();
        assert_eq!(out["documents"][0]["loaded"], false, "{out}");
        2 * u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
    };
    let (mut killed, mut unloaded) = (0, 0);
    for i in 0..runs {
        let note = format!("jo {i}");
        jo.ok(&[
            "log",
            "add",
            "Ana Silva",
            "--kind",
            "call",
            "--notes",
            &note,
        ]);
        jo.ok(&["sync"]);
        sent.push(note);
        sam.ok(&["person", "list"]);
        let mut child = sam
            .command(&["sync", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_micros(rng.below(window)));
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        if out.status.success() {
            let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
            if summary["documents"][0]["loaded"] == false {
                unloaded += 1;
            }
            window -= window / 4;
        } else {
            killed += 1;
            window += window / 4;
        }
        let doctor = sam.run(&["doctor"]);
        assert_eq!(
            doctor.code, 0,
            "after run {i}: {}{}",
            doctor.stdout, doctor.stderr
        );
        let warm = log(&sam);
        std::fs::remove_dir_all(sam.path().join("views")).unwrap();
        assert_eq!(
            warm,
            log(&sam),
            "after run {i}: the view served is what a load shows"
        );
    }
    let out = sam.ok(&["sync", "--json"]).json();
    assert_eq!(out["complete"], true, "{out}");
    let notes = log(&sam).to_string();
    for note in &sent {
        assert!(notes.contains(note), "{note} was logged by jo, then lost");
    }
    eprintln!("{runs} syncs: {killed} killed, {unloaded} received unloaded to the end");
    assert!(
        killed > 0 && unloaded > 0,
        "{killed} killed, {unloaded} received unloaded"
    );
}

/// Random edits by two teammates of the same people (titles, tags, notes,
/// activity logged, edited and archived), with syncs between: after each of sam's syncs,
/// received unloaded or loaded, what he sees is what a fresh load shows
/// (views deleted), and at the end both see the same. `RAPPORT_TEAM_SEEDS`
/// sets the number of seeds (default 2).
#[test]
fn random_edits_by_two_teammates_read_as_a_load_does() {
    let seeds: u64 = std::env::var("RAPPORT_TEAM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    for seed in 1..=seeds {
        let dir = tempfile::tempdir().unwrap();
        let (_relay, _tokens, sam, jo) = sam_and_jo_sharing_hub(dir.path());
        sam.ok(&["person", "add", "Ana Silva", "--account", "Hub"]);
        sam.ok(&["person", "add", "Bo Chen", "--account", "Hub"]);
        sam.ok(&["sync"]);
        jo.ok(&["sync"]);
        let mut rng = crate::harness::Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let (mut unloaded, mut syncs) = (0, 0);
        for i in 0..30 {
            let who = if rng.below(3) == 0 { &sam } else { &jo };
            let person = ["Ana Silva", "Bo Chen"][rng.below(2) as usize];
            let word = ["board", "sponsor", "cfo", "golf"][rng.below(4) as usize];
            let note = format!("note {i} {word}");
            // An activity to edit (or none yet: then a `log add`).
            let listed = who.ok(&["log", "list", "--account", "Hub", "--all", "--json"]);
            let listed = listed.json();
            let listed = listed.as_array().unwrap();
            let entry = match listed.len() {
                0 => None,
                n => listed[rng.below(n as u64) as usize]["activity"]["id"].as_str(),
            };
            let date = ["2026-10-01", "2026-11-20"][rng.below(2) as usize];
            let args: Vec<&str> = match (rng.below(8), entry) {
                (0, _) => vec!["person", "edit", person, "--title", word],
                (1, _) => vec!["person", "edit", person, "--tag", word],
                (2, _) => vec!["person", "edit", person, "--remove-tag", word],
                (3, _) => vec!["person", "edit", person, "--notes", &note],
                (6, Some(entry)) => vec!["log", "edit", entry, "--notes", &note, "--date", date],
                (7, Some(entry)) if rng.below(2) == 0 => vec!["log", "archive", entry],
                (7, Some(entry)) => vec!["log", "archive", entry, "--restore"],
                (4 | 6 | 7, _) => vec!["log", "add", person, "--kind", "call", "--notes", &note],
                _ => vec!["person", "edit", person, "--tag", word, "--title", word],
            };
            who.ok(&args);
            if rng.below(2) == 0 {
                jo.ok(&["sync"]);
            }
            if rng.below(3) == 0 {
                let out = sam.ok(&["sync", "--json"]).json();
                syncs += 1;
                if out["documents"][0]["loaded"] == false && out["received"] != 0 {
                    unloaded += 1;
                }
                let warm = everything(&sam);
                std::fs::remove_dir_all(sam.path().join("views")).unwrap();
                assert_eq!(warm, everything(&sam), "seed {seed}, step {i}: {out}");
            }
        }
        for home in [&sam, &jo, &sam] {
            home.ok(&["sync"]);
        }
        assert_eq!(everything(&sam), everything(&jo), "seed {seed}");
        eprintln!("seed {seed}: {syncs} syncs of sam's, {unloaded} received unloaded");
    }
}
