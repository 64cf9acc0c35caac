//! Merging two records of the same person, and showing the values
//! automerge kept aside when teammates changed the same field at once.
//!
//! Two teammates who add the same contact while offline end up with two
//! records (each under its own random id). [`merge_people`] folds one into
//! the other inside one account document: every reference moves to the
//! survivor, and the duplicate is archived with `merged_into` set (never
//! deleted, so a teammate's concurrent edit of it is not lost and can be
//! merged again). Each record is re-read and reconciled, so the merge is a
//! small change that syncs like any other edit.

use automerge::{AutoCommit, ObjType, ReadDoc as _, Value};
use serde::Serialize;

use crate::doc::{self, Collection, Problem, collection_obj};
use crate::model::{Activity, Opportunity, Partnership, Person, PlanItem, Relationship};
use crate::{Error, RecordId};

/// What a merge changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MergeReport {
    /// Fields of the survivor filled from the duplicate.
    pub fields_filled: Vec<String>,
    pub relationships_moved: usize,
    /// A teammate related to both records: the survivor's relationship is
    /// kept (gaps filled from the other), the other archived.
    pub relationships_combined: usize,
    pub activities: usize,
    pub plan_items: usize,
    pub opportunities: usize,
    pub roles_moved: usize,
    /// Opportunities where both records had a role: the survivor's is kept.
    pub roles_dropped: Vec<String>,
    pub partnerships: usize,
    /// Other people whose reports-to, influences or opposes pointed at the duplicate.
    pub links: usize,
}

fn need<T>(value: Option<T>, id: &RecordId) -> Result<T, Error> {
    value.ok_or_else(|| Error::NotFound {
        kind: "person".into(),
        query: id.to_string(),
    })
}

fn swap(list: &mut Vec<RecordId>, from: &RecordId, to: &RecordId) -> bool {
    if !list.contains(from) {
        return false;
    }
    let mut out: Vec<RecordId> = Vec::with_capacity(list.len());
    for id in list.drain(..) {
        let id = if &id == from { to.clone() } else { id };
        if !out.contains(&id) {
            out.push(id);
        }
    }
    *list = out;
    true
}

/// Folds person `dup` into person `keep` (both in `doc`).
pub fn merge_people(
    doc: &mut AutoCommit,
    keep: &RecordId,
    dup: &RecordId,
) -> Result<MergeReport, Error> {
    if keep == dup {
        return Err(Error::InvalidValue {
            field: "person".into(),
            value: keep.to_string(),
            allowed: "two different people".into(),
        });
    }
    let mut report = MergeReport::default();
    let mut survivor: Person = need(doc::read_record(doc, Collection::People, keep)?, keep)?;
    let mut gone: Person = need(doc::read_record(doc, Collection::People, dup)?, dup)?;

    // The survivor's values win; its gaps are filled from the duplicate.
    let mut fill = |name: &str, empty: bool, has: bool| {
        if empty && has {
            report.fields_filled.push(name.to_string());
            true
        } else {
            false
        }
    };
    if fill("email", survivor.email.is_none(), gone.email.is_some()) {
        survivor.email = gone.email.clone();
    }
    if fill("phone", survivor.phone.is_none(), gone.phone.is_some()) {
        survivor.phone = gone.phone.clone();
    }
    if fill("title", survivor.title.is_none(), gone.title.is_some()) {
        survivor.title = gone.title.clone();
    }
    if fill(
        "reports_to",
        survivor.reports_to.is_none(),
        gone.reports_to.as_ref().is_some_and(|r| r != keep),
    ) {
        survivor.reports_to = gone.reports_to.clone();
    }
    if fill(
        "orientation",
        survivor.orientation.is_none(),
        gone.orientation.is_some(),
    ) {
        survivor.orientation = gone.orientation;
    }
    if fill(
        "political_status",
        survivor.political_status.is_none(),
        gone.political_status.is_some(),
    ) {
        survivor.political_status = gone.political_status;
    }
    for (name, mine, theirs) in [
        ("goals", &mut survivor.goals, &gone.goals),
        ("notes", &mut survivor.notes, &gone.notes),
    ] {
        if !theirs.is_empty() && !mine.as_str().contains(theirs.as_str()) {
            mine.append(theirs.as_str());
            report.fields_filled.push(name.to_string());
        }
    }
    for tag in &gone.tags {
        if !survivor.tags.contains(tag) {
            survivor.tags.push(tag.clone());
        }
    }
    for (mine, theirs) in [
        (&mut survivor.influences, &gone.influences),
        (&mut survivor.opposes, &gone.opposes),
    ] {
        for id in theirs {
            if id != keep && id != dup && !mine.contains(id) {
                mine.push(id.clone());
            }
        }
    }
    survivor.archived = false;
    doc::put_record(doc, Collection::People, keep, &survivor)?;
    gone.archived = true;
    gone.merged_into = Some(keep.clone());
    doc::put_record(doc, Collection::People, dup, &gone)?;

    let mut problems: Vec<Problem> = Vec::new();

    // Relationships: one per teammate and person.
    let rels: std::collections::BTreeMap<RecordId, Relationship> =
        doc::read_collection(doc, Collection::Relationships, &mut problems);
    for (rid, rel) in &rels {
        if &rel.person != dup {
            continue;
        }
        let mut moved: Relationship =
            need(doc::read_record(doc, Collection::Relationships, rid)?, rid)?;
        let twin = rels
            .iter()
            .find(|(_, r)| &r.person == keep && r.member == rel.member && !r.archived);
        match twin {
            Some((tid, _)) if !rel.archived => {
                let mut kept: Relationship =
                    need(doc::read_record(doc, Collection::Relationships, tid)?, tid)?;
                kept.desired_level = kept.desired_level.or(moved.desired_level);
                kept.desired_preference = kept.desired_preference.or(moved.desired_preference);
                kept.cadence_days = kept.cadence_days.or(moved.cadence_days);
                kept.last_contact = kept.last_contact.max(moved.last_contact);
                if kept.desired_reason.is_none() {
                    kept.desired_reason = moved.desired_reason.clone();
                }
                if !moved.notes.is_empty() && !kept.notes.as_str().contains(moved.notes.as_str()) {
                    kept.notes.append(moved.notes.as_str());
                }
                doc::put_record(doc, Collection::Relationships, tid, &kept)?;
                moved.person = keep.clone();
                moved.archived = true;
                doc::put_record(doc, Collection::Relationships, rid, &moved)?;
                report.relationships_combined += 1;
            }
            _ => {
                moved.person = keep.clone();
                doc::put_record(doc, Collection::Relationships, rid, &moved)?;
                report.relationships_moved += 1;
            }
        }
    }

    let acts: std::collections::BTreeMap<RecordId, Activity> =
        doc::read_collection(doc, Collection::Activities, &mut problems);
    for (id, a) in &acts {
        if a.people.contains(dup) {
            let mut a: Activity = need(doc::read_record(doc, Collection::Activities, id)?, id)?;
            swap(&mut a.people, dup, keep);
            doc::put_record(doc, Collection::Activities, id, &a)?;
            report.activities += 1;
        }
    }

    let plan: std::collections::BTreeMap<RecordId, PlanItem> =
        doc::read_collection(doc, Collection::Plan, &mut problems);
    for (id, p) in &plan {
        if &p.person == dup {
            let mut p: PlanItem = need(doc::read_record(doc, Collection::Plan, id)?, id)?;
            p.person = keep.clone();
            doc::put_record(doc, Collection::Plan, id, &p)?;
            report.plan_items += 1;
        }
    }

    let opps: std::collections::BTreeMap<RecordId, Opportunity> =
        doc::read_collection(doc, Collection::Opportunities, &mut problems);
    for (id, o) in &opps {
        if o.person.as_ref() != Some(dup) && !o.players.contains_key(dup) {
            continue;
        }
        let mut o: Opportunity = need(doc::read_record(doc, Collection::Opportunities, id)?, id)?;
        if o.person.as_ref() == Some(dup) {
            o.person = Some(keep.clone());
        }
        if let Some(role) = o.players.remove(dup) {
            if o.players.contains_key(keep) {
                report.roles_dropped.push(o.title.clone());
            } else {
                o.players.insert(keep.clone(), role);
                report.roles_moved += 1;
            }
        }
        doc::put_record(doc, Collection::Opportunities, id, &o)?;
        report.opportunities += 1;
    }

    let partners: std::collections::BTreeMap<RecordId, Partnership> =
        doc::read_collection(doc, Collection::Partnerships, &mut problems);
    for (id, p) in &partners {
        if p.person.as_ref() == Some(dup) {
            let mut p: Partnership =
                need(doc::read_record(doc, Collection::Partnerships, id)?, id)?;
            p.person = Some(keep.clone());
            doc::put_record(doc, Collection::Partnerships, id, &p)?;
            report.partnerships += 1;
        }
    }

    let people: std::collections::BTreeMap<RecordId, Person> =
        doc::read_collection(doc, Collection::People, &mut problems);
    for (id, p) in &people {
        if id == dup
            || (p.reports_to.as_ref() != Some(dup)
                && !p.influences.contains(dup)
                && !p.opposes.contains(dup))
        {
            continue;
        }
        let mut p: Person = need(doc::read_record(doc, Collection::People, id)?, id)?;
        if p.reports_to.as_ref() == Some(dup) {
            p.reports_to = (id != keep).then(|| keep.clone());
        }
        swap(&mut p.influences, dup, keep);
        swap(&mut p.opposes, dup, keep);
        if id == keep {
            p.influences.retain(|x| x != keep);
            p.opposes.retain(|x| x != keep);
        }
        doc::put_record(doc, Collection::People, id, &p)?;
        report.links += 1;
    }
    Ok(report)
}

/// A field where teammates wrote different values at the same time:
/// automerge shows `shown` everywhere and keeps `others`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub field: String,
    pub shown: String,
    pub others: Vec<String>,
}

/// The conflicting fields of one record (its top-level fields).
pub fn conflicts(
    doc: &AutoCommit,
    collection: Collection,
    id: &RecordId,
) -> Result<Vec<Conflict>, Error> {
    let Some(obj) = collection_obj(doc, collection) else {
        return Ok(Vec::new());
    };
    let Some((Value::Object(ObjType::Map), rec)) = doc.get(&obj, id.as_str())? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for key in doc.keys(&rec) {
        let all = doc.get_all(&rec, key.as_str())?;
        if all.len() < 2 {
            continue;
        }
        let Some((_, winner)) = doc.get(&rec, key.as_str())? else {
            continue;
        };
        let mut shown = String::new();
        let mut others = Vec::new();
        for (value, vid) in &all {
            let text = render(doc, value, vid);
            if *vid == winner {
                shown = text;
            } else {
                others.push(text);
            }
        }
        // The same value written twice (e.g. two clients filling in a new
        // field) is not a disagreement.
        others.retain(|o| *o != shown);
        others.dedup();
        if others.is_empty() {
            continue;
        }
        out.push(Conflict {
            field: key,
            shown,
            others,
        });
    }
    Ok(out)
}

fn render(doc: &AutoCommit, value: &Value<'_>, id: &automerge::ObjId) -> String {
    match value {
        Value::Scalar(s) => match s.as_ref() {
            automerge::ScalarValue::Str(s) => s.to_string(),
            automerge::ScalarValue::Null => "(none)".into(),
            other => other.to_string(),
        },
        Value::Object(ObjType::Text) => doc.text(id).unwrap_or_default(),
        Value::Object(ObjType::List) => {
            let items: Vec<String> = (0..doc.length(id))
                .filter_map(|i| doc.get(id, i).ok().flatten())
                .map(|(v, vid)| render(doc, &v, &vid))
                .collect();
            items.join(", ")
        }
        Value::Object(_) => "(a nested record)".into(),
    }
}

#[cfg(test)]
mod tests {
    use automerge::AutoCommit;

    use super::*;
    use crate::doc::{DocData, Parts};
    use crate::enums::{ActivityKind, BuyingRole, Level};
    use crate::model::{Account, KeyPlayer};
    use crate::{Day, Notes};

    fn today() -> Day {
        Day::ymd(2026, 11, 23).unwrap()
    }

    fn put<T: autosurgeon::Reconcile>(doc: &mut AutoCommit, c: Collection, record: &T) -> RecordId {
        let id = RecordId::random();
        doc::put_record(doc, c, &id, record).unwrap();
        id
    }

    fn activity(people: Vec<RecordId>, by: &str) -> Activity {
        Activity {
            date: today(),
            people,
            kind: ActivityKind::Meeting,
            direction: ActivityKind::Meeting.default_direction(),
            by: by.into(),
            notes: Notes::new("met"),
            opportunity: None,
            archived: false,
        }
    }

    fn opportunity(players: &[(RecordId, BuyingRole)]) -> Opportunity {
        let mut o = Opportunity::new("Renewal", Some(today()));
        for (p, role) in players {
            o.players.insert(
                p.clone(),
                KeyPlayer {
                    role: *role,
                    preference: None,
                },
            );
        }
        o
    }

    /// An account with Ana twice (added by sam and by jo) and references to both.
    fn setup() -> (AutoCommit, RecordId, RecordId, RecordId) {
        let mut doc = AutoCommit::new();
        let account = Account::named("Hub");
        doc::init_account(&mut doc, &account).unwrap();
        let mut ana = Person::named("Ana Silva");
        ana.title = Some("CTO".into());
        ana.notes = Notes::new("Met at the summit.");
        let keep = put(&mut doc, Collection::People, &ana);
        let mut dup = Person::named("Ana Silva");
        dup.email = Some("ana@hub.example".into());
        dup.title = Some("Chief Technology Officer".into());
        dup.notes = Notes::new("Two kids.");
        dup.tags = vec!["board".into()];
        let dup = put(&mut doc, Collection::People, &dup);
        let mut bo = Person::named("Bo");
        bo.reports_to = Some(dup.clone());
        bo.influences = vec![keep.clone(), dup.clone()];
        let bo = put(&mut doc, Collection::People, &bo);
        // sam related to both records, jo to the duplicate only.
        let mut r = Relationship::new("sam", keep.clone());
        r.level = Level::CredibleSource;
        put(&mut doc, Collection::Relationships, &r);
        let mut r = Relationship::new("sam", dup.clone());
        r.cadence_days = Some(30);
        put(&mut doc, Collection::Relationships, &r);
        put(
            &mut doc,
            Collection::Relationships,
            &Relationship::new("jo", dup.clone()),
        );
        put(
            &mut doc,
            Collection::Activities,
            &activity(vec![dup.clone(), bo.clone()], "jo"),
        );
        put(
            &mut doc,
            Collection::Opportunities,
            &opportunity(&[
                (dup.clone(), BuyingRole::DecisionMaker),
                (bo.clone(), BuyingRole::User),
            ]),
        );
        doc.commit();
        (doc, keep, dup, bo)
    }

    #[test]
    fn references_move_to_the_survivor() {
        let (mut doc, keep, dup, bo) = setup();
        let report = merge_people(&mut doc, &keep, &dup).unwrap();
        assert_eq!(report.relationships_moved, 1);
        assert_eq!(report.relationships_combined, 1);
        assert_eq!(
            (report.activities, report.opportunities, report.roles_moved),
            (1, 1, 1)
        );
        assert_eq!(report.links, 1);

        let data = DocData::read(&doc, Parts::ALL).unwrap();
        let ana = &data.people[&keep];
        assert_eq!(
            ana.title.as_deref(),
            Some("CTO"),
            "the survivor's value wins"
        );
        assert_eq!(
            ana.email.as_deref(),
            Some("ana@hub.example"),
            "gaps are filled"
        );
        assert_eq!(ana.notes.as_str(), "Met at the summit.\nTwo kids.");
        assert_eq!(ana.tags, ["board"]);
        let gone = &data.people[&dup];
        assert!(gone.archived);
        assert_eq!(gone.merged_into.as_ref(), Some(&keep));
        assert_eq!(data.people[&bo].reports_to.as_ref(), Some(&keep));
        assert_eq!(data.people[&bo].influences, std::slice::from_ref(&keep));
        let live: Vec<&Relationship> = data
            .relationships
            .values()
            .filter(|r| !r.archived)
            .collect();
        assert!(live.iter().all(|r| r.person == keep));
        assert_eq!(live.len(), 2, "one per teammate");
        let sam = live.iter().find(|r| r.member == "sam").unwrap();
        assert_eq!(
            (sam.level, sam.cadence_days),
            (Level::CredibleSource, Some(30))
        );
        assert!(data.activities.values().all(|a| a.people.contains(&keep)));
        let opp = data.opportunities.values().next().unwrap();
        assert_eq!(opp.players[&keep].role, BuyingRole::DecisionMaker);
        assert!(!opp.players.contains_key(&dup));
    }

    #[test]
    fn a_merge_syncs_with_concurrent_edits_and_can_be_repeated() {
        let (mut sam, keep, dup, _) = setup();
        let mut jo = sam.fork();
        merge_people(&mut sam, &keep, &dup).unwrap();
        // Meanwhile jo, who has not seen the merge, logs with the duplicate.
        let late = put(
            &mut jo,
            Collection::Activities,
            &activity(vec![dup.clone()], "jo"),
        );
        sam.merge(&mut jo).unwrap();
        jo.merge(&mut sam).unwrap();
        assert_eq!(sam.get_heads(), jo.get_heads());
        let data = DocData::read(&sam, Parts::ALL).unwrap();
        assert_eq!(
            data.activities[&late].people,
            std::slice::from_ref(&dup),
            "jo's edit survives"
        );
        // Merging again picks up what arrived late.
        let again = merge_people(&mut sam, &keep, &dup).unwrap();
        assert_eq!(again.activities, 1);
        let data = DocData::read(&sam, Parts::ALL).unwrap();
        assert_eq!(data.activities[&late].people, [keep]);
    }

    #[test]
    fn concurrent_writes_of_one_field_show_as_a_conflict() {
        let (mut sam, keep, _, _) = setup();
        let mut jo = sam.fork();
        for (doc, title) in [(&mut sam, "VP Engineering"), (&mut jo, "Head of Platform")] {
            let mut p: Person = doc::read_record(doc, Collection::People, &keep)
                .unwrap()
                .unwrap();
            p.title = Some(title.into());
            doc::put_record(doc, Collection::People, &keep, &p).unwrap();
        }
        sam.merge(&mut jo).unwrap();
        jo.merge(&mut sam).unwrap();
        let on_sam = conflicts(&sam, Collection::People, &keep).unwrap();
        assert_eq!(on_sam, conflicts(&jo, Collection::People, &keep).unwrap());
        assert_eq!(on_sam.len(), 1, "{on_sam:?}");
        let c = &on_sam[0];
        assert_eq!(c.field, "title");
        let mut both = vec![c.shown.clone(), c.others[0].clone()];
        both.sort();
        assert_eq!(both, ["Head of Platform", "VP Engineering"]);
        let shown = DocData::read(&sam, Parts::ALL).unwrap().people[&keep]
            .title
            .clone();
        assert_eq!(shown.as_deref(), Some(c.shown.as_str()));
    }

    #[test]
    fn merging_a_person_into_itself_is_refused() {
        let (mut doc, keep, _, _) = setup();
        assert!(merge_people(&mut doc, &keep, &keep).is_err());
    }
}
