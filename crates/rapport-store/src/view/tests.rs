use super::*;
use crate::ChunkKind;
use rapport_core::enums::{ActivityKind, Direction, PoliticalStatus};
use rapport_core::model::{Activity, Opportunity, Person, Relationship};
use rapport_core::{Day, Notes};

fn key(name: &str) -> ChunkKey {
    ChunkKey {
        doc: DocId::from_bytes([7; 16]),
        kind: ChunkKind::Incremental,
        name: name.into(),
    }
}

fn id() -> DocId {
    DocId::from_bytes([7; 16])
}

fn day(d: u32) -> Option<Day> {
    Day::ymd(2026, 11, d)
}

/// A document with a record in most collections, a merged person (the
/// field a format without names trips over) and a note on every record.
fn sample() -> DocData {
    let mut data = DocData {
        schema: 1,
        kind: Some(DocKind::Account),
        account: Some(Account {
            name: "Acme".into(),
            domain: Some("acme.example".into()),
            industry: None,
            target: true,
            icp_fit: None,
            icp_score: Some(4),
            desired_level: None,
            notes: Notes::new("big"),
            archived: false,
            created: day(1),
        }),
        ..DocData::default()
    };
    let ana = RecordId::from("ana".to_string());
    let old = RecordId::from("old".to_string());
    let mut p = Person::named("Ana");
    p.political_status = Some(PoliticalStatus::ALL[0]);
    p.notes = Notes::new("likes data");
    p.created = day(2);
    data.people.insert(ana.clone(), p);
    let mut merged = Person::named("Ana (old)");
    merged.archived = true;
    merged.merged_into = Some(ana.clone());
    data.people.insert(old, merged);
    let mut r = Relationship::new("sam", ana.clone());
    r.cadence_days = Some(30);
    data.relationships
        .insert(RecordId::from("rel".to_string()), r);
    data.opportunities.insert(
        RecordId::from("opp".to_string()),
        Opportunity::new("Pilot", day(3)),
    );
    for (i, d) in [(1, 5), (2, 9)] {
        data.activities.insert(
            RecordId::from(format!("act{i}")),
            Activity {
                date: day(d).unwrap(),
                people: vec![ana.clone()],
                kind: ActivityKind::ALL[0],
                direction: Direction::Give,
                by: "sam".into(),
                notes: Notes::new(&format!("call {i}")),
                opportunity: None,
                archived: false,
            },
        );
    }
    data.problems = vec![
        Problem {
            collection: "activities".into(),
            key: "bad".into(),
            error: "not a date".into(),
        },
        Problem {
            collection: "people".into(),
            key: "worse".into(),
            error: "no name".into(),
        },
    ];
    data
}

/// What `person show` reads of a view: every part, but of the log only
/// the activities that involve `person`.
fn read_about(
    views: &Views,
    id: &DocId,
    chunks: &[ChunkKey],
    person: &RecordId,
) -> Option<DocData> {
    let involves = |_: &str, a: &ActivityRef<'_>| a.involves(person);
    views.read_where(id, chunks, Parts::ALL, &Select::keeping(&involves))
}

fn json(data: &DocData) -> serde_json::Value {
    serde_json::to_value(data).unwrap()
}

#[test]
fn a_view_is_served_only_for_its_exact_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let views = Views::new(dir.path());
    views
        .write(&id(), &[key("a"), key("b")], &mut sample(), None)
        .unwrap();
    let read = |chunks: &[ChunkKey]| views.read(&id(), chunks, Parts::ALL);
    assert!(
        read(&[key("b"), key("a")]).is_some(),
        "order does not matter"
    );
    assert!(read(&[key("a")]).is_none(), "a chunk gone");
    assert!(
        read(&[key("a"), key("b"), key("c")]).is_none(),
        "a chunk added"
    );
    views.remove(&id());
    assert!(read(&[key("a"), key("b")]).is_none());
}

#[test]
fn a_view_gives_back_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let views = Views::new(dir.path());
    let mut data = sample();
    views
        .write(&id(), &[key("a")], &mut data, Some(b"first change"))
        .unwrap();
    let view = views.read_all(&id(), &[key("a")]).unwrap();
    let mut expected = data.clone();
    expected.retain(Parts::ALL);
    assert_eq!(json(&view.data), json(&expected));
    assert_eq!(view.genesis.as_deref(), Some(&b"first change"[..]));
    assert_eq!(
        view.data.people[&RecordId::from("old".to_string())].merged_into,
        Some(RecordId::from("ana".to_string()))
    );
    assert!(
        views
            .read_all(&id(), &[key("a")])
            .is_some_and(|v| v.data.contacts.is_some()),
        "contacts are derived on write"
    );
}

/// A view written with its activity log encoded aside, one activity at a
/// time in any order, is the same file as one written from the data.
#[test]
fn a_view_with_its_log_apart_is_the_view_of_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let views = Views::new(dir.path());
    let mut data = sample();
    // Over several of the log's segments, and one pair longer than one.
    for i in 0..2000 {
        let mut a = data.activities.values().next().unwrap().clone();
        a.notes = Notes::new(&format!(
            "more notes, number {i}, to fill the log's segments"
        ));
        data.activities
            .insert(RecordId::from(format!("z{i:04}")), a);
    }
    let mut long = data.activities.values().next().unwrap().clone();
    long.notes = Notes::new(&"long ".repeat(20_000));
    data.activities
        .insert(RecordId::from("m-long".to_string()), long);
    views.write(&id(), &[key("a")], &mut data, None).unwrap();
    let whole = std::fs::read(views.path(&id())).unwrap();

    let mut log = Log::default();
    for (id, a) in data.activities.iter().rev() {
        log.add(id.clone(), a).unwrap();
    }
    let mut apart = data.clone();
    apart.activities.clear();
    views
        .write_with_log(&id(), &[key("a")], &apart, &mut log)
        .unwrap();
    assert_eq!(std::fs::read(views.path(&id())).unwrap(), whole);
    // The log gives a person's activities as the view does.
    let ana = RecordId::from("ana".to_string());
    let about = read_about(&views, &id(), &[key("a")], &ana).unwrap();
    assert!(!about.activities.is_empty());
    let involves = |_: &str, a: &ActivityRef<'_>| a.involves(&ana);
    let from_log = log.select(&Select::keeping(&involves)).unwrap();
    assert_eq!(from_log, about.activities);

    // Without its contacts, or with activities in the data, it refuses.
    apart.contacts = None;
    assert!(
        views
            .write_with_log(&id(), &[key("a")], &apart, &mut Log::default())
            .is_err()
    );
}

#[test]
fn a_read_of_some_parts_equals_a_decode_of_those_parts() {
    let dir = tempfile::tempdir().unwrap();
    let views = Views::new(dir.path());
    let mut data = sample();
    views.write(&id(), &[key("a")], &mut data, None).unwrap();
    for parts in [Parts::NONE, Parts::PEOPLE, Parts::ANALYSIS, Parts::ALL] {
        let mut expected = data.clone();
        expected.retain(parts);
        let read = views.read(&id(), &[key("a")], parts).unwrap();
        assert_eq!(json(&read), json(&expected), "{parts:?}");
    }
    let people = views.read(&id(), &[key("a")], Parts::PEOPLE).unwrap();
    assert!(people.activities.is_empty() && people.relationships.is_empty());
    assert_eq!(people.problems.len(), 1, "only the people's problems");
    let read = views.read(&id(), &[key("a")], Parts::ANALYSIS).unwrap();
    let rel = read.relationships.values().next().unwrap();
    assert!(read.activities.is_empty());
    assert_eq!(read.last_contact(rel), day(9), "from the contacts alone");
}

#[test]
fn a_damaged_view_is_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let views = Views::new(dir.path());
    views
        .write(&id(), &[key("a")], &mut sample(), None)
        .unwrap();
    let path = views.path(&id());
    let good = std::fs::read(&path).unwrap();
    let damaged: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", good[..good.len() / 2].to_vec()),
        ("one byte short", good[..good.len() - 1].to_vec()),
        ("a byte added", [&good[..], b"x"].concat()),
        ("empty", Vec::new()),
        ("json", b"{ \"version\": 1 }".to_vec()),
        ("a flipped bit in the people", {
            let mut b = good.clone();
            let at = b.windows(3).position(|w| w == b"Ana").unwrap();
            b[at] ^= 1;
            b
        }),
        // Still an activity log that decodes: only its checksum tells,
        // which the log read in pieces checks at its end.
        ("a flipped bit in an activity's notes", {
            let mut b = good.clone();
            let at = b.windows(6).position(|w| w == b"call 1").unwrap();
            b[at] ^= 1;
            b
        }),
    ];
    let every = |_: &str, _: &ActivityRef<'_>| true;
    for (what, bytes) in damaged {
        std::fs::write(&path, &bytes).unwrap();
        assert!(
            views.read(&id(), &[key("a")], Parts::PEOPLE).is_none() || what.contains("activity"),
            "{what}"
        );
        assert!(views.read_all(&id(), &[key("a")]).is_none(), "{what}");
        assert!(
            views
                .read_where(&id(), &[key("a")], Parts::ALL, &Select::keeping(&every))
                .is_none(),
            "{what}"
        );
    }
}

#[test]
fn a_version_1_view_is_ignored_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let views = Views::new(dir.path());
    let legacy = views.legacy_path(&id());
    std::fs::write(&legacy, b"{\"version\":1,\"chunks\":[\"incremental/a\"]}").unwrap();
    assert!(views.read(&id(), &[key("a")], Parts::ALL).is_none());
    views
        .write(&id(), &[key("a")], &mut sample(), None)
        .unwrap();
    assert!(!legacy.exists());
    assert!(views.read(&id(), &[key("a")], Parts::ALL).is_some());
}

#[test]
fn the_agenda_entries_are_those_of_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let views = Views::new(dir.path());
    let mut data = sample();
    views.write(&id(), &[key("a")], &mut data, None).unwrap();
    let expected = agenda::entries(&data);
    assert!(!expected.is_empty());
    let (title, same, problems) = views
        .read_agenda(&id(), &[key("a")], |head, entries| {
            let problems: Vec<String> = head.problems.iter().map(|p| p.key.clone()).collect();
            (head.title(), entries == expected.as_slice(), problems)
        })
        .unwrap();
    assert_eq!(title, "Acme");
    assert!(same);
    // The problems a read of the analysis parts reports (the people's,
    // not the activity log's), as the agenda's path without a view does.
    assert_eq!(problems, ["worse"]);
}

#[test]
fn a_read_about_a_person_keeps_only_their_activities() {
    let dir = tempfile::tempdir().unwrap();
    let views = Views::new(dir.path());
    let mut data = sample();
    let bo = RecordId::from("bo".to_string());
    data.people.insert(bo.clone(), Person::named("Bo"));
    let mut theirs = data.activities.values().next().unwrap().clone();
    theirs.people = vec![bo.clone()];
    data.activities
        .insert(RecordId::from("act3".to_string()), theirs);
    // Every field set, read in place before it is kept.
    data.activities.insert(
        RecordId::from("act4".to_string()),
        Activity {
            date: day(12).unwrap(),
            people: vec![bo.clone(), RecordId::from("ana".to_string())],
            kind: ActivityKind::ALL[2],
            direction: Direction::Ask,
            by: "jo".into(),
            notes: Notes::new("lunch \"à deux\"\nthen a call"),
            opportunity: Some(RecordId::from("opp".to_string())),
            archived: true,
        },
    );
    views.write(&id(), &[key("a")], &mut data, None).unwrap();
    let ana = RecordId::from("ana".to_string());
    for person in [&ana, &bo, &RecordId::from("nobody".to_string())] {
        let mut expected = data.clone();
        expected.retain(Parts::ALL);
        expected.activities.retain(|_, a| a.people.contains(person));
        let read = read_about(&views, &id(), &[key("a")], person).unwrap();
        assert_eq!(json(&read), json(&expected), "{person}");
        // The last contacts are still those of the whole log.
        assert_eq!(read.contacts, data.contacts);
    }
    assert_eq!(
        read_about(&views, &id(), &[key("a")], &ana)
            .unwrap()
            .activities
            .len(),
        3
    );
    assert!(
        read_about(&views, &id(), &[key("b")], &ana).is_none(),
        "stale"
    );
    let path = views.path(&id());
    let good = std::fs::read(&path).unwrap();
    let mut damaged = good.clone();
    let at = damaged.windows(6).position(|w| w == b"call 1").unwrap();
    damaged[at] ^= 1;
    std::fs::write(&path, &damaged).unwrap();
    assert!(
        read_about(&views, &id(), &[key("a")], &ana).is_none(),
        "damaged"
    );
}

#[test]
fn a_person_row_reads_what_a_stored_person_holds() {
    let dir = tempfile::tempdir().unwrap();
    let views = Views::new(dir.path());
    let mut data = sample();
    // Every field set, so a row that read a field out of place would
    // misread the ones after it, or not reach the end of the section.
    let mut full = Person::named("Cy Ödön");
    full.email = Some("cy@acme.example".into());
    full.phone = Some("+1 555".into());
    full.title = Some("CTO".into());
    full.reports_to = Some(RecordId::from("ana".to_string()));
    full.influences = vec![
        RecordId::from("ana".to_string()),
        RecordId::from("old".to_string()),
    ];
    full.opposes = vec![RecordId::from("old".to_string())];
    full.orientation = Some(rapport_core::enums::DecisionOrientation::ALL[1]);
    full.political_status = Some(PoliticalStatus::ALL[2]);
    full.goals = Notes::new("grow\nfast");
    full.notes = Notes::new("met at the fair");
    full.tags = vec!["board".into(), "tech".into()];
    full.archived = true;
    full.created = day(4);
    full.merged_into = Some(RecordId::from("ana".to_string()));
    data.people.insert(RecordId::from("cy".to_string()), full);
    views.write(&id(), &[key("a")], &mut data, None).unwrap();

    let section = views.read_people(&id(), &[key("a")]).unwrap();
    assert_eq!(section.head.title(), "Acme");
    let problems: Vec<&str> = section
        .head
        .problems
        .iter()
        .map(|p| p.key.as_str())
        .collect();
    assert_eq!(
        problems,
        ["worse"],
        "the people's problems, as a read of the people gives"
    );
    let rows = section.rows();
    // In the order `person list` shows them: by name, then id.
    let mut from_data: Vec<(&str, PersonRow<'_>)> = data
        .people
        .iter()
        .map(|(id, p)| (id.as_ref(), PersonRow::of(p)))
        .collect();
    rapport_core::order::sort_people(&mut from_data, |(id, p)| (id, p.name));
    assert_ne!(
        data.people.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
        from_data.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        "the sample's ids are not in the order of its names"
    );
    let shown = |rows: &[(&str, PersonRow<'_>)]| -> Vec<String> {
        rows.iter()
            .map(|(id, p)| {
                format!(
                    "{id} {} {:?} {:?} {:?} {:?} {} {}",
                    p.name,
                    p.email,
                    p.title,
                    p.political_status,
                    p.tags,
                    p.archived,
                    p.is_key_player()
                )
            })
            .collect()
    };
    assert_eq!(shown(rows), shown(&from_data));
    assert_eq!(rows.len(), 3);
    assert!(views.read_people(&id(), &[key("b")]).is_none(), "stale");
    let path = views.path(&id());
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.windows(3).position(|w| w == b"CTO").unwrap();
    bytes[at] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    assert!(views.read_people(&id(), &[key("a")]).is_none(), "damaged");
}

#[test]
fn adding_an_activity_reads_as_writing_the_whole_data_would() {
    let dir = tempfile::tempdir().unwrap();
    let views = Views::new(dir.path());
    let ana = RecordId::from("ana".to_string());
    // (id, archived, activities already logged): an id that sorts last
    // (the bytes are then exactly those of a whole write), one that sorts
    // first, and a log going from 127 to 128 (the count's varint widens).
    for (record, archived, logged) in [("new", false, 2), ("000", true, 2), ("new", false, 127)] {
        let mut data = sample();
        let first = data.activities.values().next().unwrap().clone();
        for i in data.activities.len()..logged {
            data.activities
                .insert(RecordId::from(format!("more{i:03}")), first.clone());
        }
        assert_eq!(data.activities.len(), logged);
        views.write(&id(), &[key("a")], &mut data, None).unwrap();
        let activity = Activity {
            // Later than every logged contact, so the contacts and the
            // relationship's keep-in-touch entry change (unless archived).
            date: day(20).unwrap(),
            people: vec![ana.clone()],
            kind: ActivityKind::ALL[1],
            direction: Direction::Give,
            by: "sam".into(),
            notes: Notes::new("sent the deck"),
            opportunity: None,
            archived,
        };
        let record = RecordId::from(record.to_string());
        let now = [key("a"), key("b")];
        let case = format!("{record}, archived {archived}, {logged} logged");
        let whole = views.read_whole(&id(), &[key("a")]).unwrap();
        whole
            .add_activity(&views, &id(), &now, &record, &activity)
            .expect("the view decodes")
            .unwrap();
        assert!(
            views.read_all(&id(), &[key("a")]).is_none(),
            "{case}: stale for the old chunks"
        );

        let mut expected = data.clone();
        expected.activities.insert(record.clone(), activity.clone());
        expected.contacts = Some(Contacts::of(&expected.activities));
        let read = views.read_all(&id(), &now).unwrap();
        assert_eq!(json(&read.data), json(&expected), "{case}");
        assert_eq!(read.data.contacts, expected.contacts, "{case}");
        assert_eq!(
            read.data
                .last_contact(data.relationships.values().next().unwrap()),
            if archived { day(9) } else { day(20) },
            "{case}"
        );
        let entries = agenda::entries(&expected);
        let same = views
            .read_agenda(&id(), &now, |_, read| read == entries.as_slice())
            .unwrap();
        assert!(same, "{case}");
        let appended = std::fs::read(views.path(&id())).unwrap();
        views.write(&id(), &now, &mut expected, None).unwrap();
        let written = std::fs::read(views.path(&id())).unwrap();
        if record.as_ref() == "new" {
            assert_eq!(appended, written, "{case}");
        } else {
            assert_eq!(appended.len(), written.len(), "{case}");
            assert_ne!(appended, written, "{case}: the log is out of order");
        }
    }
}

#[test]
fn sections_know_their_place() {
    for (i, section) in SECTIONS.iter().enumerate() {
        assert_eq!(section.index(), i, "{section:?}");
    }
}

/// Three documents' views, written for chunk `a` each (the second one's
/// account renamed, so their views differ), and their ids.
fn three_views(views: &Views) -> Vec<(DocId, DocData)> {
    (1..=3u8)
        .map(|n| {
            let id = DocId::from_bytes([n; 16]);
            let mut data = sample();
            if let Some(account) = &mut data.account {
                account.name = format!("Account {n}");
            }
            views.write(&id, &[key("a")], &mut data, None).unwrap();
            data.retain(Parts::ALL);
            (id, data)
        })
        .collect()
}

/// The three documents of [`three_views`], each listed with chunk `a`, as
/// a read of them hands them to [`Views::repack`].
fn listed_at_a(docs: &[(DocId, DocData)]) -> Vec<(DocId, Option<&'static [ChunkKey]>)> {
    static A: std::sync::LazyLock<[ChunkKey; 1]> = std::sync::LazyLock::new(|| [key("a")]);
    docs.iter().map(|(id, _)| (*id, Some(&A[..]))).collect()
}

/// [`three_views`], packed: the views, the documents and the pack's path.
fn three_packed(dir: &std::path::Path) -> (Views, Vec<(DocId, DocData)>, std::path::PathBuf) {
    let views = Views::new(dir);
    let docs = three_views(&views);
    assert!(views.repack(&listed_at_a(&docs), |_| true, 1).unwrap());
    (views, docs, dir.join("pack"))
}

/// What a read of `id` through the pack alone gives: every part a packed
/// read takes, the people rows, and the agenda entries, as JSON.
fn packed_read(views: &Views, id: &DocId, chunks: &[ChunkKey]) -> Option<serde_json::Value> {
    let parts = Parts {
        activities: false,
        ..Parts::ALL
    };
    let data = views.read(id, chunks, parts)?;
    let people = views.read_people(id, chunks)?;
    let rows = format!("{:?}", people.rows());
    let agenda = views.read_agenda(id, chunks, |_, entries| {
        serde_json::to_value(entries).unwrap()
    })?;
    Some(serde_json::json!([json(&data), rows, agenda]))
}

fn remove_view_files(dir: &std::path::Path) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        if entry.path().extension() == Some("view".as_ref()) {
            std::fs::remove_file(entry.path()).unwrap();
        }
    }
}

#[test]
fn a_pack_serves_a_view_only_for_its_exact_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let views = Views::new(dir.path());
    let docs = three_views(&views);
    let expected: Vec<_> = docs
        .iter()
        .map(|(id, _)| packed_read(&views, id, &[key("a")]).unwrap())
        .collect();
    assert_eq!(views.with_pack().pack_missed(), None, "no pack yet");
    assert!(views.repack(&listed_at_a(&docs), |_| true, 1).unwrap());
    // Only the pack can serve them now.
    remove_view_files(dir.path());
    let packed = views.with_pack();
    for ((id, _), expected) in docs.iter().zip(&expected) {
        assert_eq!(
            packed_read(&packed, id, &[key("a")]).as_ref(),
            Some(expected)
        );
    }
    assert_eq!(packed.pack_missed(), Some(0));
    assert!(
        packed
            .read(&docs[0].0, &[key("a"), key("b")], Parts::PEOPLE)
            .is_none()
    );
    assert!(
        packed
            .read(&docs[1].0, &[key("b")], Parts::PEOPLE)
            .is_none()
    );
    assert!(
        packed.read(&id(), &[key("a")], Parts::PEOPLE).is_none(),
        "not packed"
    );
    assert_eq!(packed.pack_missed(), Some(3));
    // The activity log is not packed: its file alone has it.
    assert!(packed.read(&docs[0].0, &[key("a")], Parts::ALL).is_none());
    assert!(
        views.read(&docs[0].0, &[key("a")], Parts::PEOPLE).is_none(),
        "no pack without with_pack"
    );
}

#[test]
fn a_damaged_pack_is_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let (views, docs, path) = three_packed(dir.path());
    let good = std::fs::read(&path).unwrap();
    let flipped = |at: usize| {
        let mut b = good.clone();
        b[at] ^= 1;
        b
    };
    let second = good.windows(9).position(|w| w == b"Account 2").unwrap();
    let damaged: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", good[..good.len() / 2].to_vec()),
        ("one byte short", good[..good.len() - 1].to_vec()),
        ("a byte added", [&good[..], b"x"].concat()),
        ("empty", Vec::new()),
        ("another version", flipped(4)),
        ("a flipped bit in the index", flipped(30)),
        ("a flipped bit in the second's head", flipped(second)),
    ];
    let files: Vec<_> = docs
        .iter()
        .map(|(id, _)| std::fs::read(views.path(id)).unwrap())
        .collect();
    for (what, bytes) in damaged {
        std::fs::write(&path, &bytes).unwrap();
        // With the files there, every read is right...
        let packed = views.with_pack();
        for (id, data) in &docs {
            let read = packed.read(id, &[key("a")], Parts::PEOPLE).unwrap();
            let mut expected = data.clone();
            expected.retain(Parts::PEOPLE);
            assert_eq!(json(&read), json(&expected), "{what}");
        }
        // ...and without them, the damaged part is not served.
        remove_view_files(dir.path());
        let packed = views.with_pack();
        let served = docs
            .iter()
            .filter(|(id, _)| packed.read(id, &[key("a")], Parts::PEOPLE).is_some())
            .count();
        let expected = if what.contains("second") { 2 } else { 0 };
        assert_eq!(served, expected, "{what}");
        if what.contains("second") {
            assert_eq!(packed.pack_missed(), Some(1), "the damage counts as a miss");
        }
        for ((id, _), bytes) in docs.iter().zip(&files) {
            std::fs::write(views.path(id), bytes).unwrap();
        }
    }
}

#[test]
fn a_repack_takes_changed_views_from_their_files_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (views, docs, path) = three_packed(dir.path());
    let a = [key("a")];
    let first = std::fs::read(&path).unwrap();
    // Nothing newer in the files: not written again.
    let listed = listed_at_a(&docs);
    assert!(!views.with_pack().repack(&listed, |_| true, 1).unwrap());
    // The second document changed (chunks a and b), its view file with it.
    let ab = [key("a"), key("b")];
    let mut changed = docs[1].1.clone();
    changed.people.clear();
    views.write(&docs[1].0, &ab, &mut changed, None).unwrap();
    let packed = views.with_pack();
    let read = packed.read(&docs[1].0, &ab, Parts::PEOPLE).unwrap();
    assert!(
        read.people.is_empty(),
        "the stale entry is not served: the file is"
    );
    assert_eq!(packed.pack_missed(), Some(1));
    // A repack of the second alone keeps the third (kept) and drops the
    // first (not kept).
    let third = docs[2].0;
    assert!(
        packed
            .repack(&[(docs[1].0, Some(&ab[..]))], |id| *id == third, 1)
            .unwrap()
    );
    assert_ne!(std::fs::read(&path).unwrap(), first);
    remove_view_files(dir.path());
    let packed = views.with_pack();
    let read = packed.read(&docs[1].0, &ab, Parts::PEOPLE).unwrap();
    assert!(read.people.is_empty());
    assert!(
        packed.read(&docs[1].0, &a, Parts::PEOPLE).is_none(),
        "the old entry is gone"
    );
    assert!(packed.read(&third, &a, Parts::PEOPLE).is_some());
    assert!(packed.read(&docs[0].0, &a, Parts::PEOPLE).is_none());
    // A document missing with no valid file adds nothing: not written.
    let before = std::fs::read(&path).unwrap();
    assert!(!packed.repack(&[(id(), Some(&a[..]))], |_| true, 1).unwrap());
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn a_selection_read_in_place_is_that_of_every_entry() {
    let dir = tempfile::tempdir().unwrap();
    let views = Views::new(dir.path());
    let mut data = sample();
    views.write(&id(), &[key("a")], &mut data, None).unwrap();
    let entries = agenda::entries(&data);
    let members: Vec<Option<&str>> = std::iter::once(None)
        .chain(entries.iter().filter_map(|e| e.member.as_deref().map(Some)))
        .chain([Some("nobody")])
        .collect();
    let mut selected = 0;
    for today in [day(1), day(10), day(28)] {
        for days in [0, 7, 400] {
            for member in &members {
                let window = agenda::Window {
                    today: today.unwrap(),
                    days,
                    member: *member,
                };
                let expected = agenda::select("Acme", &entries, window);
                let (head, read) = views.select_agenda(&id(), &[key("a")], &window).unwrap();
                assert_eq!(head.title(), "Acme");
                let items: Vec<_> = read.items().collect();
                assert_eq!(items, expected.items().collect::<Vec<_>>(), "{window:?}");
                selected += items.len();
            }
        }
    }
    assert!(selected > 0, "some windows select something");
    assert!(
        views
            .select_agenda(
                &id(),
                &[key("b")],
                &agenda::Window {
                    today: day(1).unwrap(),
                    days: 7,
                    member: None,
                }
            )
            .is_none(),
        "other chunks"
    );
}

#[test]
fn a_pack_is_written_again_only_for_enough_newer_views() {
    let dir = tempfile::tempdir().unwrap();
    let views = Views::new(dir.path());
    let docs = three_views(&views);
    let a = [key("a")];
    // A document named twice counts once: the pack still opens.
    let mut listed = listed_at_a(&docs);
    listed.push(listed[0]);
    assert!(views.repack(&listed, |_| true, 1).unwrap());
    let packed = views.with_pack();
    assert_eq!(packed.pack_missed(), Some(0), "the pack opens");
    // A document with no chunks (not on this machine) is no miss.
    assert!(packed.read(&id(), &[], Parts::PEOPLE).is_none());
    assert_eq!(packed.pack_missed(), Some(0));
    // Two documents changed: written again only if two are enough.
    let ab = [key("a"), key("b")];
    for (id, data) in &docs[..2] {
        views.write(id, &ab, &mut data.clone(), None).unwrap();
    }
    let changed: Vec<(DocId, Option<&[ChunkKey]>)> = vec![
        (docs[0].0, Some(&ab[..])),
        (docs[1].0, Some(&ab[..])),
        (docs[2].0, Some(&a[..])),
    ];
    let path = dir.path().join("pack");
    let before = std::fs::read(&path).unwrap();
    assert!(!packed.repack(&changed, |_| true, 3).unwrap());
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert!(packed.repack(&changed, |_| true, 2).unwrap());
    remove_view_files(dir.path());
    let packed = views.with_pack();
    for (id, chunks) in &changed {
        assert!(packed.read(id, chunks.unwrap(), Parts::PEOPLE).is_some());
    }
}

mod person_rows {
    use super::super::person::{StoredPerson, read_rows};
    use super::*;
    use proptest::prelude::*;
    use rapport_core::enums::DecisionOrientation;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof!["[a-z ]{0,12}", "\\PC{0,6}", Just(String::new())]
    }

    fn person() -> impl Strategy<Value = Person> {
        let ids = || proptest::collection::vec("[0-9a-f]{1,16}", 0..3);
        (
            (
                text(),
                proptest::option::of(text()),
                proptest::option::of(text()),
            ),
            (
                proptest::option::of(text()),
                proptest::option::of("[0-9a-f]{16}"),
                ids(),
                ids(),
            ),
            (
                proptest::option::of(proptest::sample::select(DecisionOrientation::ALL)),
                proptest::option::of(proptest::sample::select(PoliticalStatus::ALL)),
            ),
            (
                text(),
                text(),
                proptest::collection::vec(text(), 0..4),
                any::<bool>(),
            ),
            (
                proptest::option::of(-1_000_000i32..4_000_000),
                proptest::option::of("[0-9a-f]{16}"),
            ),
        )
            .prop_map(|(a, b, c, d, e)| {
                let mut p = Person::named(&a.0);
                (p.email, p.phone) = (a.1, a.2);
                p.title = b.0;
                p.reports_to = b.1.map(RecordId::from);
                p.influences = b.2.into_iter().map(RecordId::from).collect();
                p.opposes = b.3.into_iter().map(RecordId::from).collect();
                (p.orientation, p.political_status) = c;
                p.goals = Notes::new(&d.0);
                p.notes = Notes::new(&d.1);
                (p.tags, p.archived) = (d.2, d.3);
                p.created =
                    e.0.and_then(|n| Day::ymd(2026, 1, 1).map(|d| d.add_days(i64::from(n))));
                p.merged_into = e.1.map(RecordId::from);
                p
            })
    }

    fn shown(rows: &[(&str, PersonRow<'_>)]) -> Vec<String> {
        rows.iter().map(|(id, p)| format!("{id} {p:?}")).collect()
    }

    proptest! {
        /// The hand reader reads what postcard wrote for the stored
        /// people, and nothing that is cut short.
        #[test]
        fn rows_read_as_written(people in proptest::collection::vec(person(), 0..6)) {
            let stored: Vec<(RecordId, StoredPerson)> = people
                .iter()
                .enumerate()
                .map(|(i, p)| (RecordId::from(format!("id{i}")), p.clone().into()))
                .collect();
            let bytes = postcard::to_stdvec(&stored).unwrap();
            let ids: Vec<String> = (0..people.len()).map(|i| format!("id{i}")).collect();
            let expected: Vec<(&str, PersonRow<'_>)> = ids
                .iter()
                .zip(&people)
                .map(|(id, p)| (id.as_str(), PersonRow::of(p)))
                .collect();
            let read = read_rows(&bytes).expect("reads");
            prop_assert_eq!(shown(&read), shown(&expected));
            for cut in 0..bytes.len() {
                prop_assert!(read_rows(&bytes[..cut]).is_none(), "cut at {}", cut);
            }
            let mut longer = bytes.clone();
            longer.push(0);
            prop_assert!(read_rows(&longer).is_none(), "a byte too many");
        }
    }
}

mod log_selection {
    use super::*;
    use proptest::prelude::*;

    /// A log with few dates and notes, so that entries tie on both.
    fn log() -> impl Strategy<Value = BTreeMap<RecordId, Activity>> {
        let entry = (1u32..4, "[ab]{0,2}", any::<bool>(), 0usize..3);
        proptest::collection::btree_map("[0-9a-f]{1,4}", entry, 0..24).prop_map(|entries| {
            entries
                .into_iter()
                .map(|(id, (d, notes, archived, with))| {
                    let activity = Activity {
                        date: day(d).unwrap(),
                        people: (0..with).map(|p| RecordId::from(format!("p{p}"))).collect(),
                        kind: ActivityKind::ALL[0],
                        direction: Direction::Give,
                        by: "jo".into(),
                        notes: Notes::new(&notes),
                        opportunity: None,
                        archived,
                    };
                    (RecordId::from(id), activity)
                })
                .collect()
        })
    }

    fn ids(log: &BTreeMap<RecordId, Activity>) -> Vec<&str> {
        log.keys().map(RecordId::as_str).collect()
    }

    proptest! {
        /// The first entries of a log a view reads in place, and those an
        /// owned log keeps, are the first of its entries kept, newest
        /// first, then by notes, then by id.
        #[test]
        fn the_first_entries_kept_are_those_of_the_sorted_log(
            log in log(),
            first in proptest::option::of(0usize..8),
            all in any::<bool>(),
        ) {
            let p1 = RecordId::from("p1".to_string());
            let keep = |_: &str, a: &ActivityRef<'_>| {
                (all || !a.archived()) && (first.is_none() || !a.involves(&p1))
            };
            let select = Select { keep: &keep, first };

            let mut sorted: Vec<(&RecordId, &Activity)> = log
                .iter()
                .filter(|(_, a)| (all || !a.archived) && (first.is_none() || !a.people.contains(&p1)))
                .collect();
            sorted.sort_by_key(|(id, a)| (std::cmp::Reverse(a.date), a.notes.as_str().to_string(), (*id).clone()));
            sorted.truncate(first.unwrap_or(usize::MAX));
            let expected: BTreeMap<RecordId, Activity> =
                sorted.into_iter().map(|(id, a)| (id.clone(), a.clone())).collect();

            let mut owned = log.clone();
            select.retain(&mut owned);
            prop_assert_eq!(ids(&owned), ids(&expected));

            let dir = tempfile::tempdir().unwrap();
            let views = Views::new(dir.path());
            let mut data = DocData { schema: 1, activities: log.clone(), ..DocData::default() };
            views.write(&id(), &[key("a")], &mut data, None).unwrap();
            let parts = Parts { activities: true, ..Parts::NONE };
            let read = views.read_where(&id(), &[key("a")], parts, &select).unwrap();
            prop_assert_eq!(&read.activities, &expected);

            // A log encoded aside (a document scanned) selects the same.
            let mut encoded = Log::default();
            for (id, a) in log.iter().rev() {
                encoded.add(id.clone(), a).unwrap();
            }
            prop_assert_eq!(&encoded.select(&select).unwrap(), &expected);
        }
    }
}

mod activity_pairs {
    use super::super::activity::{read_log, read_pair};
    use super::super::reader::Reader;
    use super::*;
    use proptest::prelude::*;

    fn text() -> impl Strategy<Value = String> {
        prop_oneof!["[a-z ]{0,12}", "\\PC{0,6}", Just(String::new())]
    }

    fn activity() -> impl Strategy<Value = Activity> {
        (
            (
                // Days far before and after now: the zigzag number's
                // every length.
                -800_000i64..3_000_000,
                proptest::collection::vec(prop_oneof!["[0-9a-f]{1,16}", text()], 0..4),
                proptest::sample::select(ActivityKind::ALL),
                proptest::sample::select(Direction::ALL),
            ),
            (
                text(),
                text(),
                proptest::option::of("[0-9a-f]{16}"),
                any::<bool>(),
            ),
        )
            .prop_map(|(a, b)| Activity {
                date: Day::ymd(1, 1, 1).unwrap().add_days(a.0),
                people: a.1.into_iter().map(RecordId::from).collect(),
                kind: a.2,
                direction: a.3,
                by: b.0,
                notes: Notes::new(&b.1),
                opportunity: b.2.map(RecordId::from),
                archived: b.3,
            })
    }

    /// Whether reading the pairs of a log cut short fails for want of
    /// bytes.
    fn runs_out(bytes: &[u8]) -> bool {
        let mut r = Reader::new(bytes);
        let Some(count) = r.varint() else {
            return r.ran_out();
        };
        for _ in 0..count {
            if read_pair(&mut r).is_none() {
                return r.ran_out();
            }
        }
        false
    }

    proptest! {
        /// The hand reader reads what postcard wrote for a log, and
        /// nothing cut short or with a byte too many.
        #[test]
        fn a_log_reads_as_written(
            log in proptest::collection::btree_map("[0-9a-z]{1,8}", activity(), 0..6),
            person in "[0-9a-f]{1,16}",
        ) {
            let bytes = postcard::to_stdvec(&log).unwrap();
            let mut read = Vec::new();
            let mut contacts = Contacts::default();
            let person = RecordId::from(person);
            read_log(&bytes, |id, a, pair| {
                a.add_to(&mut contacts);
                let involves = a.involves(&person);
                let owned: Activity = a.into();
                assert_eq!(involves, owned.people.contains(&person));
                // Each pair's bytes are what postcard writes for it.
                assert_eq!(pair, postcard::to_stdvec(&(id, &owned)).unwrap());
                read.push((RecordId::from(id.to_string()), owned));
            }).expect("reads");
            let expected: Vec<(RecordId, Activity)> =
                log.clone().into_iter().map(|(k, v)| (RecordId::from(k), v)).collect();
            prop_assert_eq!(&read, &expected);
            let mut owned_contacts = Contacts::default();
            for a in log.values() {
                owned_contacts.add(a);
            }
            prop_assert_eq!(contacts, owned_contacts);
            for cut in 0..bytes.len() {
                prop_assert!(read_log(&bytes[..cut], |_, _, _| {}).is_none(), "cut at {}", cut);
                // ... and says it ran out (a log read in pieces then reads
                // more, where damage would end the read).
                prop_assert!(runs_out(&bytes[..cut]), "cut at {}", cut);
            }
            let mut longer = bytes.clone();
            longer.push(0);
            prop_assert!(read_log(&longer, |_, _, _| {}).is_none(), "a byte too many");
        }

        /// A log with any one byte changed reads by hand exactly when
        /// postcard reads it whole (an over-long number, a bool or option
        /// of 2, bad UTF-8 in an id, an alias of a kind...), and as it
        /// reads it; and never panics.
        #[test]
        fn a_changed_byte_reads_as_serde_reads_it(
            log in proptest::collection::btree_map("[0-9a-z]{1,8}", activity(), 1..4),
        ) {
            let bytes = postcard::to_stdvec(&log).unwrap();
            for at in 0..bytes.len() {
                for value in [0x00, 0x01, 0x02, 0x0f, 0x10, 0x7f, 0x80, 0xc3, 0xff, bytes[at] ^ 1] {
                    let mut changed = bytes.clone();
                    changed[at] = value;
                    let mut hand = Vec::new();
                    let read = read_log(&changed, |id, a, _| {
                        hand.push((RecordId::from(id.to_string()), Activity::from(a)));
                    });
                    let serde = match postcard::take_from_bytes::<Vec<(RecordId, Activity)>>(&changed) {
                        Ok((pairs, [])) => Some(pairs),
                        _ => None,
                    };
                    prop_assert_eq!(read.is_some(), serde.is_some(), "byte {} set to {}", at, value);
                    if let Some(pairs) = serde {
                        prop_assert_eq!(&hand, &pairs);
                    }
                }
            }
        }
    }
}
