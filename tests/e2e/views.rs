//! A seeded randomized test of the materialized views: random edits (adds
//! that take the append-without-loading path, edits that load and edits
//! through the field index, activities' included, archives),
//! and after every few steps the JSON a user sees must be the same whether
//! it came from the views or from a fresh automerge load (views deleted),
//! and a damaged view is never served.
//!
//! `RAPPORT_VIEW_SEEDS=50 cargo nextest run --workspace views::` for a long run.

use crate::harness::Home;

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

const PEOPLE: [&str; 4] = ["Ana Silva", "Bruno Costa", "Grace Okafor", "Hannah Weiss"];

fn step(home: &Home, rng: &mut Rng, i: usize, added: &mut Vec<String>) -> bool {
    let person = PEOPLE[rng.below(PEOPLE.len())];
    let args: Vec<String> = match rng.below(9) {
        0 => {
            let name = format!("Newcomer {i}");
            added.push(name.clone());
            vec!["person", "add", &name, "--account", "Acme Logistics"]
                .into_iter()
                .map(String::from)
                .collect()
        }
        1 => ["log", "add", person, "--kind", "call", "--notes"]
            .into_iter()
            .map(String::from)
            .chain([format!("call {i}")])
            .collect(),
        2 => ["plan", "add", person]
            .into_iter()
            .map(String::from)
            .chain([
                format!("Send them note {i}"),
                "--tests".into(),
                "time,learn".into(),
            ])
            .collect(),
        3 => ["person", "edit", person, "--title"]
            .into_iter()
            .map(String::from)
            .chain([format!("Title {i}")])
            .collect(),
        4 => ["person", "edit", person, "--notes"]
            .into_iter()
            .map(String::from)
            .chain([format!("Notes as of step {i}.")])
            .collect(),
        // An activity edited or archived: the first loads and indexes the
        // log, the next are written through the index (`Workspace::update`).
        choice @ (7 | 8) => {
            let listed = home.ok(&["log", "list", "--json", "--all", "--limit", "1000"]);
            let listed = listed.json();
            let entries = listed.as_array().unwrap();
            let entry = entries[rng.below(entries.len())]["activity"]["id"]
                .as_str()
                .unwrap()
                .to_string();
            let date = ["2026-10-01", "2026-11-20", "2026-12-24"][rng.below(3)];
            match (choice, rng.below(2)) {
                (7, 0) => vec![
                    "log".into(),
                    "edit".into(),
                    entry,
                    "--notes".into(),
                    format!("edited {i}"),
                ],
                (7, _) => vec![
                    "log".into(),
                    "edit".into(),
                    entry,
                    "--date".into(),
                    date.into(),
                ],
                (_, 0) => vec!["log".into(), "archive".into(), entry],
                (_, _) => vec!["log".into(), "archive".into(), entry, "--restore".into()],
            }
        }
        5 => match added.pop() {
            Some(name) => vec!["person".into(), "archive".into(), name],
            None => vec!["agenda".into()],
        },
        _ => ["log", "add", person, "--kind", "help-given", "--notes"]
            .into_iter()
            .map(String::from)
            .chain([format!("helped {i}")])
            .collect(),
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = home.run(&args);
    // Some random steps are refused (e.g. a name that became ambiguous):
    // that is fine as long as it is a clean user error.
    assert!(run.code == 0 || run.code == 1, "{args:?}: {}", run.stderr);
    run.code == 0
}

/// What the reads print; with `fresh`, each read starts with no views at
/// all, so every document is decoded from automerge (a read that rebuilt
/// the views would serve the next read from them).
fn outputs(home: &Home, fresh: bool) -> Vec<String> {
    outputs_with(home, fresh, &[])
}

/// [`outputs`], with `extra` arguments to every read.
fn outputs_with(home: &Home, fresh: bool, extra: &[&str]) -> Vec<String> {
    let reads: [&[&str]; 14] = [
        &["person", "list", "--all", "--json"],
        // One document in scope: a cold read scans it and then reads it
        // about the person from what it scanned.
        &[
            "person",
            "show",
            "Hannah Weiss",
            "--account",
            "Beta Retail",
            "--json",
        ],
        // The table is read in place from the views, not from decoded people.
        &["person", "list", "--all"],
        &["person", "list", "--key-players"],
        &["person", "show", "Ana Silva", "--json"],
        &["person", "show", "Grace Okafor", "--json"],
        &["log", "list", "--json", "--limit", "1000"],
        // The newest few of each log, read in place, then merged.
        &["log", "list", "--json", "--limit", "7", "--all"],
        &["log", "list", "--person", "Ana Silva", "--limit", "3"],
        &["plan", "list", "--json", "--status", "all"],
        &["rel", "list", "--json"],
        // The balance from the person's activities alone, read in place.
        &["rel", "show", "Ana Silva", "--json"],
        &["gap", "--json"],
        &["agenda", "--json", "--team", "--days", "60"],
    ];
    let views = home.path().join("views");
    reads
        .iter()
        .map(|c| {
            if fresh {
                let _ = std::fs::remove_dir_all(&views);
            }
            let args: Vec<&str> = c.iter().chain(extra).copied().collect();
            home.ok(&args).stdout
        })
        .collect()
}

#[test]
fn views_always_match_a_fresh_decode() {
    let seeds: u64 = std::env::var("RAPPORT_VIEW_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    for seed in 1..=seeds {
        let home = Home::demo();
        let views = home.path().join("views");
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut added = Vec::new();
        let mut done = 0;
        for i in 0..24 {
            done += usize::from(step(&home, &mut rng, i, &mut added));
            if i % 6 == 5 {
                let served = outputs(&home, false);
                let decoded = outputs(&home, true);
                assert_eq!(served, decoded, "seed {seed}, step {i}: a view differs");
                // Damage one view: it must be rebuilt, not served.
                let mut entries = std::fs::read_dir(&views).unwrap().flatten();
                if let Some(entry) = entries.find(|e| e.path().extension() == Some("view".as_ref()))
                {
                    let bytes = std::fs::read(entry.path()).unwrap();
                    std::fs::write(entry.path(), &bytes[..bytes.len() / 2]).unwrap();
                }
                assert_eq!(
                    outputs(&home, false),
                    decoded,
                    "seed {seed}, step {i}: a damaged view"
                );
                let when = format!("seed {seed}, step {i}");
                if i > 11 {
                    // Compacted at step 11, edited since: each document a
                    // snapshot and the changes saved after it.
                    scanned_with_changes_as_loaded(&home, &decoded, &when);
                }
                if i % 12 == 11 {
                    scanned_as_loaded(&home, &decoded, &when);
                }
            }
        }
        assert!(
            done >= 20,
            "seed {seed}: only {done} of 24 steps went through"
        );
    }
}

/// Each document compacted to one chunk, then every read made with no
/// views and every document read from its columns (`rapport_core::scan`,
/// from any size: `--scan-from 0`) prints what the reads that load
/// (`decoded`) printed; and the steps after go on from the views it wrote.
fn scanned_as_loaded(home: &Home, decoded: &[String], when: &str) {
    home.ok(&["doctor", "--compact"]);
    scanned_with_changes_as_loaded(home, decoded, when);
}

/// Every read made with no views and every document read from its
/// columns, its snapshot and the changes saved since merged
/// (`rapport_core::scan`, from any size: `--scan-from 0`), prints what
/// the reads that load (`decoded`) printed, and no document was loaded.
fn scanned_with_changes_as_loaded(home: &Home, decoded: &[String], when: &str) {
    let scanned = outputs_with(home, true, &["--scan-from", "0"]);
    assert_eq!(scanned, decoded, "{when}: a scan differs from a load");
    // The scan writes views but no field index (a load writes both): so
    // these views are the scan's.
    let written: Vec<_> = std::fs::read_dir(home.path().join("views"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(
        written
            .iter()
            .any(|p| p.extension() == Some("view".as_ref()))
    );
    assert!(
        !written
            .iter()
            .any(|p| p.extension() == Some("fields".as_ref())),
        "{when}: a document was loaded, not scanned: {written:?}"
    );
}

/// Reads remember the listings of chunk folders not changed for a few
/// seconds (see `rapport_store::Listings`) and take them while a folder is
/// unchanged. A change must still show in the next read, even one that left
/// this home's views as they were: the edit is made in a copy of the home,
/// and the copy's chunks are then mirrored into this one (as a relay or
/// another program writing the store would), so the remembered listing
/// alone stands between the stale view and the read. The last round also
/// compacts the copy, so chunks are removed as well as added.
#[test]
fn remembered_listings_never_hide_a_new_chunk() {
    let home = Home::demo();
    let other = Home::new();
    let mut rng = Rng(0x5eed_1157_1e55_0001);
    let mut added = Vec::new();
    for i in 0..3 {
        // Past the margin, so the next reads remember every folder.
        std::thread::sleep(std::time::Duration::from_millis(3_200));
        let before = outputs(&home, false);
        assert!(
            home.path().join("views/listings").exists(),
            "no listing was remembered"
        );
        let _ = std::fs::remove_dir_all(other.path().join("store"));
        copy_tree(&home.path().join("store"), &other.path().join("store"));
        copy_tree(
            &home.path().join("config.toml"),
            &other.path().join("config.toml"),
        );
        let stepped = (0..10).any(|_| step(&other, &mut rng, i, &mut added));
        assert!(stepped, "no step went through");
        let compact = i == 2;
        if compact {
            other.ok(&["doctor", "--compact"]);
        }
        let (brought, removed) = mirror_chunks(&other, &home);
        assert!(brought > 0, "round {i} wrote no chunk");
        assert_eq!(compact, removed > 0, "round {i}: chunks removed");
        let served = outputs(&home, false);
        let decoded = outputs(&home, true);
        assert_eq!(served, decoded, "round {i}: a read missed a changed chunk");
        assert_ne!(served, before, "round {i} changed nothing a read shows");
    }
}

/// Reads over eight documents or more take the views from one pack
/// (`rapport-store`'s `view/pack.rs`), written anew only once several
/// documents changed since. Whatever the pack holds, a read must equal a
/// fresh decode: after an edit of one document (stale in the pack, so
/// read from its view's file), of five (the pack written anew), of chunks
/// mirrored from a copy (the document's view as stale as its entry), with
/// the pack damaged, and with only the pack left of the views.
#[test]
fn the_pack_never_serves_a_stale_view() {
    let home = Home::demo();
    for n in 0..6 {
        let account = format!("Extra {n}");
        home.ok(&["account", "add", &account]);
        home.ok(&[
            "person",
            "add",
            &format!("Extra Person {n}"),
            "--account",
            &account,
        ]);
    }
    let pack = home.path().join("views/pack");
    let views = home.path().join("views");
    let other = Home::new();
    let mut rng = Rng(0x5eed_0000_9ac4_0001);
    let mut added = Vec::new();
    for round in [
        "one edit",
        "five edits",
        "mirrored chunks",
        "damaged",
        "only the pack",
    ] {
        outputs(&home, false);
        let before = std::fs::read(&pack).expect("a read over ten documents writes the pack");
        match round {
            "one edit" => {
                home.ok(&["person", "edit", "Extra Person 0", "--title", "Chief"])
                    .code
            }
            "five edits" => (1..6)
                .map(|n| {
                    let person = format!("Extra Person {n}");
                    home.ok(&["person", "edit", &person, "--title", "Chief"])
                        .code
                })
                .sum(),
            "mirrored chunks" => {
                let _ = std::fs::remove_dir_all(other.path().join("store"));
                copy_tree(&home.path().join("store"), &other.path().join("store"));
                copy_tree(
                    &home.path().join("config.toml"),
                    &other.path().join("config.toml"),
                );
                assert!((0..10).any(|i| step(&other, &mut rng, i, &mut added)));
                assert!(mirror_chunks(&other, &home).0 > 0);
                0
            }
            "damaged" => {
                let mut bytes = before.clone();
                let at = bytes.len() / 2;
                bytes[at] ^= 0x20;
                std::fs::write(&pack, bytes).unwrap();
                0
            }
            _ => {
                for entry in std::fs::read_dir(&views).unwrap().flatten() {
                    if entry.path().extension() == Some("view".as_ref()) {
                        std::fs::remove_file(entry.path()).unwrap();
                    }
                }
                0
            }
        };
        let served = outputs(&home, false);
        let after = std::fs::read(&pack).unwrap();
        match round {
            "one edit" => assert_eq!(after, before, "one stale document: the pack is kept"),
            "five edits" => assert_ne!(after, before, "five stale documents: written anew"),
            _ => {}
        }
        let decoded = outputs(&home, true);
        assert_eq!(
            served, decoded,
            "{round}: a read differs from a fresh decode"
        );
    }
}

/// Makes `to`'s chunk files those of `from`: copies the missing ones,
/// removes the extra ones. Returns how many of each.
fn mirror_chunks(from: &Home, to: &Home) -> (usize, usize) {
    let theirs = from.chunk_files();
    let mut brought = 0;
    for chunk in &theirs {
        let here = to.path().join(chunk.strip_prefix(from.path()).unwrap());
        if !here.exists() {
            std::fs::create_dir_all(here.parent().unwrap()).unwrap();
            std::fs::copy(chunk, &here).unwrap();
            brought += 1;
        }
    }
    let mut removed = 0;
    for chunk in to.chunk_files() {
        let there = from.path().join(chunk.strip_prefix(to.path()).unwrap());
        if !there.exists() {
            std::fs::remove_file(&chunk).unwrap();
            removed += 1;
        }
    }
    (brought, removed)
}

/// Copies a file, or a folder's files, over whatever `to` holds.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap().flatten() {
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap();
    }
}

/// People whose names match alike are listed in `person list`'s order
/// (by name, then id) when a name is ambiguous, whether they were read
/// from a view (which stores them in that order) or decoded (by id).
#[test]
fn ambiguous_names_list_alike_from_views_and_documents() {
    let home = Home::demo();
    for name in ["Zoe Park", "zoe park", "Zoe Park", "Aaron Zoe"] {
        home.ok(&["person", "add", name, "--account", "Acme Logistics"]);
    }
    let ask = ["person", "show", "zoe", "--account", "Acme Logistics"];
    let served = home.fails(&ask, 1).stderr;
    let _ = std::fs::remove_dir_all(home.path().join("views"));
    let decoded = home.fails(&ask, 1).stderr;
    assert_eq!(served, decoded);
    // A command that decodes the document to find the person lists them
    // alike.
    let edit = [
        "person",
        "edit",
        "zoe",
        "--account",
        "Acme Logistics",
        "--title",
        "CTO",
    ];
    assert_eq!(home.fails(&edit, 1).stderr, served);
    // "...: Aaron Zoe (e365…); Zoe Park (43f0…); zoe park (47dd…); ..."
    let listed: Vec<&str> = served
        .lines()
        .find_map(|l| l.split_once("person records: "))
        .map(|(_, names)| names.split("; ").collect())
        .unwrap_or_default();
    assert_eq!(listed.len(), 4, "{served}");
    assert!(listed[0].starts_with("Aaron Zoe"), "{served}");
    let ids = |name: &str| -> Vec<&str> {
        listed
            .iter()
            .filter(|l| l.to_lowercase().starts_with(name))
            .map(|l| l.rsplit('(').next().unwrap_or(""))
            .collect()
    };
    let same = ids("zoe park");
    assert!(same.windows(2).all(|w| w[0] < w[1]), "by id: {served}");
}
