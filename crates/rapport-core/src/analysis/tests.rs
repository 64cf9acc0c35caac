//! Unit tests of every gap rule, the agenda and the map, on small
//! hand-built accounts.

use crate::analysis::agenda::{Window, agenda, sorted};
use crate::analysis::gap::{Severity, account_gap, balance, opportunity_gap};
use crate::analysis::map;
use crate::doc::DocData;
use crate::enums::*;
use crate::model::*;
use crate::{Day, Notes, RecordId};

fn day(s: &str) -> Day {
    s.parse().unwrap()
}

const TODAY: &str = "2026-11-23";

/// A small account, built record by record.
struct Acct(DocData);

impl Acct {
    fn new(target: bool) -> Acct {
        let account = Account {
            name: "Acme".into(),
            domain: None,
            industry: None,
            target,
            icp_fit: None,
            icp_score: None,
            desired_level: Some(Level::TrustedAdvisor),
            notes: Notes::default(),
            archived: false,
            created: None,
        };
        Acct(DocData {
            schema: 1,
            account: Some(account),
            ..DocData::default()
        })
    }

    fn person(&mut self, name: &str, status: Option<PoliticalStatus>) -> RecordId {
        let id = RecordId::from(format!("p-{name}"));
        let mut p = Person::named(name);
        p.political_status = status;
        self.0.people.insert(id.clone(), p);
        id
    }

    fn rel(&mut self, member: &str, person: &RecordId, level: Level, pref: Preference) -> RecordId {
        let id = RecordId::from(format!("r-{member}-{person}"));
        let mut r = Relationship::new(member, person.clone());
        r.level = level;
        r.preference = pref;
        self.0.relationships.insert(id.clone(), r);
        id
    }

    fn desire(&mut self, rel: &RecordId, level: Level, reason: Option<&str>) {
        let r = self.0.relationships.get_mut(rel).unwrap();
        r.desired_level = Some(level);
        r.desired_reason = reason.map(String::from);
    }

    fn opp(
        &mut self,
        title: &str,
        players: &[(&RecordId, BuyingRole, Option<Preference>)],
    ) -> RecordId {
        let id = RecordId::from(format!("o-{title}"));
        let mut o = Opportunity::new(title, None);
        o.stage = "qualified".into();
        o.players = players
            .iter()
            .map(|(p, role, pref)| {
                (
                    (*p).clone(),
                    KeyPlayer {
                        role: *role,
                        preference: *pref,
                    },
                )
            })
            .collect();
        self.0.opportunities.insert(id.clone(), o);
        id
    }

    fn plan(&mut self, person: &RecordId, owner: &str, due: Option<&str>) {
        let item = PlanItem {
            person: person.clone(),
            action: format!("help {person}"),
            owner: owner.into(),
            due: due.map(day),
            status: PlanStatus::Planned,
            done_on: None,
            tests: Tests {
                time: true,
                learn: true,
                illustrate: true,
            },
            notes: Notes::default(),
            archived: false,
            created: None,
        };
        self.0.plan.insert(
            RecordId::from(format!("x-{person}-{}", self.0.plan.len())),
            item,
        );
    }

    fn log(&mut self, person: &RecordId, by: &str, date: &str, direction: Direction) {
        let a = Activity {
            date: day(date),
            people: vec![person.clone()],
            kind: ActivityKind::Call,
            direction,
            by: by.into(),
            notes: Notes::default(),
            opportunity: None,
            archived: false,
        };
        self.0
            .activities
            .insert(RecordId::from(format!("a{}", self.0.activities.len())), a);
    }

    fn codes(&self) -> Vec<&'static str> {
        account_gap(&self.0)
            .findings
            .iter()
            .map(|f| f.code)
            .collect()
    }
}

const KEY: Option<PoliticalStatus> = Some(PoliticalStatus::InnerCircle);

#[test]
fn an_account_with_no_key_players_has_no_player_findings() {
    let mut a = Acct::new(true);
    a.person("Outsider", Some(PoliticalStatus::Outside));
    let report = account_gap(&a.0);
    assert!(report.players.is_empty());
    assert!(report.findings.is_empty(), "{:?}", report.findings);
    assert_eq!(report.account_level.current, None);
    assert_eq!(report.account_level.gap, 3, "vendor to trusted advisor");
}

#[test]
fn no_opportunities_means_no_opportunity_findings() {
    let mut a = Acct::new(false);
    let p = a.person("Ana", KEY);
    a.rel("sam", &p, Level::ProblemSolver, Preference::Supporter);
    assert!(
        !a.codes()
            .iter()
            .any(|c| ["no-mentor", "no-non-supporter"].contains(c))
    );
}

#[test]
fn archived_people_are_left_out() {
    let mut a = Acct::new(true);
    let p = a.person("Gone", KEY);
    a.0.people.get_mut(&p).unwrap().archived = true;
    assert!(account_gap(&a.0).players.is_empty());
    assert!(a.codes().is_empty());
}

#[test]
fn the_best_level_on_the_team_counts_and_who_holds_it() {
    let mut a = Acct::new(false);
    let p = a.person("Ana", KEY);
    a.rel("sam", &p, Level::CredibleSource, Preference::Supporter);
    a.rel("jo", &p, Level::ProblemSolver, Preference::Neutral);
    let report = account_gap(&a.0);
    let best = report.players[0].best.as_ref().unwrap();
    assert_eq!(
        (best.member.as_str(), best.level),
        ("jo", Level::ProblemSolver)
    );
    assert_eq!(
        report.players[0].preference,
        Some(Preference::Supporter),
        "best preference on the team"
    );
    assert_eq!(report.account_level.current, Some(Level::ProblemSolver));
    assert_eq!(
        report.account_level.held_by,
        vec![("jo".to_string(), "Ana".to_string())]
    );
    assert_eq!(report.coverage.members, vec!["jo", "sam"]);
    assert_eq!(
        report.coverage.cells[1][0].unwrap().level,
        Level::CredibleSource
    );
}

#[test]
fn neutral_counts_as_non_supporter_for_the_gap() {
    let mut a = Acct::new(false);
    let p = a.person("Ana", KEY);
    let r = a.rel("sam", &p, Level::ProblemSolver, Preference::Neutral);
    a.0.relationships.get_mut(&r).unwrap().desired_preference = Some(Preference::Supporter);
    let gap = &account_gap(&a.0).players[0];
    assert_eq!(
        gap.preference,
        Some(Preference::Neutral),
        "the recorded value is shown"
    );
    assert_eq!(gap.preference_used, Some(Preference::NonSupporter));
    assert_eq!(gap.preference_gap, 2, "non-supporter to supporter");
}

#[test]
fn an_open_opportunity_needs_a_mentor() {
    let mut a = Acct::new(false);
    let p = a.person("Ana", KEY);
    a.rel("sam", &p, Level::ProblemSolver, Preference::Supporter);
    let o = a.opp("Deal", &[(&p, BuyingRole::Evaluator, None)]);
    assert!(a.codes().contains(&"no-mentor"));
    a.0.opportunities
        .get_mut(&o)
        .unwrap()
        .players
        .get_mut(&p)
        .unwrap()
        .preference = Some(Preference::Mentor);
    assert!(!a.codes().contains(&"no-mentor"));
    // A closed opportunity needs nothing.
    a.0.opportunities.get_mut(&o).unwrap().players.clear();
    a.0.opportunities.get_mut(&o).unwrap().status = OpportunityStatus::Won;
    assert!(!a.codes().contains(&"no-mentor"));
}

#[test]
fn decision_makers_and_approvers_need_supporter_or_better() {
    let mut a = Acct::new(false);
    let dm = a.person("Dee", KEY);
    let ap = a.person("Al", KEY);
    let mentor = a.person("Mo", KEY);
    a.rel("sam", &dm, Level::ProblemSolver, Preference::Neutral);
    a.rel("sam", &ap, Level::ProblemSolver, Preference::Supporter);
    a.rel("sam", &mentor, Level::ProblemSolver, Preference::Mentor);
    a.opp(
        "Deal",
        &[
            (&dm, BuyingRole::DecisionMaker, None),
            (&ap, BuyingRole::Approver, None),
            (&mentor, BuyingRole::Influencer, None),
        ],
    );
    let codes = a.codes();
    assert!(
        codes.contains(&"decision-maker-not-supporter"),
        "neutral is not enough: {codes:?}"
    );
    assert!(
        !codes.contains(&"approver-not-supporter"),
        "supporter is enough"
    );
    // An approver with no relationship at all is flagged too.
    let stranger = a.person("Stan", None);
    a.opp(
        "Other",
        &[
            (&stranger, BuyingRole::Approver, None),
            (&mentor, BuyingRole::User, None),
        ],
    );
    assert!(a.codes().contains(&"approver-not-supporter"));
}

#[test]
fn a_key_player_in_a_target_account_below_credible_source() {
    let mut target = Acct::new(true);
    let p = target.person("Ana", KEY);
    target.rel("sam", &p, Level::Vendor, Preference::Supporter);
    assert!(target.codes().contains(&"below-credible-source"));
    let mut other = Acct::new(false);
    let q = other.person("Ana", KEY);
    other.rel("sam", &q, Level::Vendor, Preference::Supporter);
    assert!(
        !other.codes().contains(&"below-credible-source"),
        "only target accounts"
    );
}

#[test]
fn a_gap_of_two_levels_or_more_is_high() {
    let mut a = Acct::new(false);
    let p = a.person("Ana", KEY);
    let r = a.rel("sam", &p, Level::Vendor, Preference::Supporter);
    a.desire(&r, Level::CredibleSource, Some("enough"));
    assert!(!a.codes().contains(&"level-gap"), "one step");
    a.desire(&r, Level::ProblemSolver, Some("she decides"));
    let report = account_gap(&a.0);
    let f = report
        .findings
        .iter()
        .find(|f| f.code == "level-gap")
        .unwrap();
    assert_eq!(f.severity, Severity::High);
    assert_eq!(report.players[0].level_gap, 2);
}

#[test]
fn a_key_player_with_no_owner() {
    let mut a = Acct::new(false);
    a.person("Ana", KEY);
    assert!(a.codes().contains(&"no-owner"));
}

#[test]
fn an_enemy_on_an_open_opportunity() {
    let mut a = Acct::new(false);
    let e = a.person("Eve", None);
    a.rel("sam", &e, Level::Vendor, Preference::Enemy);
    a.opp("Deal", &[(&e, BuyingRole::Influencer, None)]);
    let codes = a.codes();
    assert!(codes.contains(&"enemy-on-opportunity"));
    assert!(
        !codes.contains(&"no-non-supporter"),
        "an enemy is an identified opponent"
    );
}

#[test]
fn a_desired_level_needs_a_reason() {
    let mut a = Acct::new(false);
    let p = a.person("Ana", KEY);
    let r = a.rel("sam", &p, Level::CredibleSource, Preference::Supporter);
    a.desire(&r, Level::ProblemSolver, None);
    assert!(a.codes().contains(&"no-reason"));
    a.desire(&r, Level::ProblemSolver, Some("she runs the budget"));
    assert!(!a.codes().contains(&"no-reason"));
}

#[test]
fn a_gap_needs_a_plan() {
    let mut a = Acct::new(false);
    let p = a.person("Ana", KEY);
    let r = a.rel("sam", &p, Level::CredibleSource, Preference::Supporter);
    a.desire(&r, Level::ProblemSolver, Some("why"));
    assert!(a.codes().contains(&"no-plan-for-gap"));
    a.plan(&p, "sam", None);
    assert!(!a.codes().contains(&"no-plan-for-gap"));
}

#[test]
fn single_threaded_when_one_teammate_holds_every_strong_relationship() {
    let mut a = Acct::new(false);
    let p = a.person("Ana", KEY);
    let q = a.person("Bo", KEY);
    a.rel("sam", &p, Level::ProblemSolver, Preference::Supporter);
    a.rel("sam", &q, Level::CredibleSource, Preference::Supporter);
    a.rel("jo", &q, Level::Vendor, Preference::Supporter);
    assert!(a.codes().contains(&"single-threaded"));
    a.rel("kim", &q, Level::CredibleSource, Preference::Supporter);
    assert!(!a.codes().contains(&"single-threaded"));
}

#[test]
fn a_map_with_only_friends_is_incomplete() {
    let mut a = Acct::new(false);
    let p = a.person("Ana", KEY);
    a.rel("sam", &p, Level::ProblemSolver, Preference::Mentor);
    let o = a.opp("Deal", &[(&p, BuyingRole::DecisionMaker, None)]);
    assert!(a.codes().contains(&"no-non-supporter"));
    let n = a.person("Ned", None);
    a.0.opportunities.get_mut(&o).unwrap().players.insert(
        n,
        KeyPlayer {
            role: BuyingRole::User,
            preference: Some(Preference::NonSupporter),
        },
    );
    assert!(!a.codes().contains(&"no-non-supporter"));
}

#[test]
fn findings_are_ordered_by_severity_then_importance() {
    let mut a = Acct::new(true);
    let p = a.person("Ana", KEY);
    let r = a.rel("sam", &p, Level::Vendor, Preference::Neutral);
    a.desire(&r, Level::ProblemSolver, None);
    a.opp("Deal", &[(&p, BuyingRole::DecisionMaker, None)]);
    let report = account_gap(&a.0);
    let sev: Vec<Severity> = report.findings.iter().map(|f| f.severity).collect();
    let mut sorted = sev.clone();
    sorted.sort();
    assert_eq!(sev, sorted);
    assert_eq!(report.findings[0].code, "no-mentor");
    assert!(report.has_high());
}

#[test]
fn an_opportunity_report_covers_its_players_whatever_their_status() {
    let mut a = Acct::new(false);
    let user = a.person("Uma", Some(PoliticalStatus::Outside));
    a.rel("sam", &user, Level::CredibleSource, Preference::Mentor);
    let o = a.opp("Deal", &[(&user, BuyingRole::User, None)]);
    let report = opportunity_gap(&a.0, &o).unwrap();
    assert_eq!(report.players.len(), 1);
    assert_eq!(report.players[0].role, Some(BuyingRole::User));
    assert!(opportunity_gap(&a.0, &RecordId::from("nope".to_string())).is_none());
}

#[test]
fn give_ask_balance_warns_when_we_only_ask() {
    let mut a = Acct::new(false);
    let p = a.person("Ana", None);
    a.log(&p, "sam", "2026-10-01", Direction::Ask);
    a.log(&p, "sam", "2026-10-05", Direction::Neutral);
    let b = balance(&a.0, &p);
    assert_eq!((b.gives, b.asks, b.only_asks), (0, 1, true));
    a.log(&p, "jo", "2026-10-09", Direction::Give);
    let b = balance(&a.0, &p);
    assert_eq!(
        (b.gives, b.last_give, b.only_asks),
        (1, Some(day("2026-10-09")), false)
    );
}

fn window(member: Option<&str>) -> Window<'_> {
    Window {
        today: day(TODAY),
        days: 7,
        member,
    }
}

#[test]
fn agenda_keep_in_touch_resets_with_any_logged_activity() {
    let mut a = Acct::new(false);
    let p = a.person("Ana", None);
    let r = a.rel("sam", &p, Level::CredibleSource, Preference::Supporter);
    a.0.relationships.get_mut(&r).unwrap().cadence_days = Some(30);
    a.log(&p, "sam", "2026-10-01", Direction::Neutral);
    let selections = agenda(&[&a.0], window(Some("sam")));
    let items: Vec<_> = sorted(&selections).iter().collect();
    let kit = items.iter().find(|i| i.kind == "keep-in-touch").unwrap();
    assert!(kit.overdue);
    assert_eq!(kit.due, Some(day("2026-10-31")));
    assert!(kit.command.contains("rapport log add Ana"));
    a.log(&p, "sam", "2026-11-20", Direction::Give);
    assert!(
        !sorted(&agenda(&[&a.0], window(Some("sam"))))
            .iter()
            .any(|i| i.kind == "keep-in-touch")
    );
    // Another teammate's log does not reset sam's clock.
    let mut b = Acct::new(false);
    let q = b.person("Bo", None);
    let r = b.rel("sam", &q, Level::CredibleSource, Preference::Supporter);
    b.0.relationships.get_mut(&r).unwrap().cadence_days = Some(30);
    b.0.relationships.get_mut(&r).unwrap().created = Some(day("2026-09-01"));
    b.log(&q, "jo", "2026-11-20", Direction::Give);
    assert!(
        sorted(&agenda(&[&b.0], window(Some("sam"))))
            .iter()
            .any(|i| i.kind == "keep-in-touch")
    );
}

#[test]
fn agenda_lists_plans_decisions_commitments_reviews_and_high_findings() {
    let mut a = Acct::new(false);
    let p = a.person("Ana", KEY);
    a.rel("sam", &p, Level::ProblemSolver, Preference::Supporter);
    a.plan(&p, "sam", Some("2026-11-25"));
    a.plan(&p, "jo", Some("2026-11-20"));
    a.plan(&p, "sam", Some("2027-03-01"));
    let o = a.opp("Deal", &[(&p, BuyingRole::DecisionMaker, None)]);
    a.0.opportunities.get_mut(&o).unwrap().decision_date = Some(day("2026-11-20"));
    let mut commitments = std::collections::BTreeMap::new();
    commitments.insert(
        RecordId::from("c1".to_string()),
        Commitment {
            party: Party::Them,
            what: "intro".into(),
            due: Some(day("2026-11-24")),
            status: CommitmentStatus::Open,
        },
    );
    commitments.insert(
        RecordId::from("c2".to_string()),
        Commitment {
            party: Party::Us,
            what: "done".into(),
            due: Some(day("2026-11-24")),
            status: CommitmentStatus::Kept,
        },
    );
    a.0.partnerships.insert(
        RecordId::from("pa".to_string()),
        Partnership {
            name: "Co".into(),
            person: None,
            vision: Notes::default(),
            goals: vec![],
            commitments,
            risks: vec![],
            next_review: Some(day("2026-11-30")),
            notes: Notes::default(),
            archived: false,
            created: None,
        },
    );
    let selections = agenda(&[&a.0], window(Some("sam")));
    let items: Vec<_> = sorted(&selections).iter().collect();
    let kinds: Vec<&str> = items.iter().map(|i| i.kind).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "plan-due").count(),
        1,
        "only sam's, only within 7 days: {kinds:?}"
    );
    assert!(kinds.contains(&"decision-due"));
    assert_eq!(
        kinds.iter().filter(|k| **k == "commitment-due").count(),
        1,
        "kept ones are done"
    );
    assert!(kinds.contains(&"review-due"));
    assert!(kinds.contains(&"finding"), "no mentor is high");
    assert_eq!(
        items.last().unwrap().kind,
        "finding",
        "undated findings come last"
    );
    assert!(items[0].overdue, "overdue first");
    let team = agenda(&[&a.0], window(None));
    let team = sorted(&team);
    assert_eq!(team.iter().filter(|i| i.kind == "plan-due").count(), 2);
}

#[test]
fn the_map_draws_lines_apart_and_survives_a_reporting_cycle() {
    let mut a = Acct::new(false);
    let boss = a.person("Boss", KEY);
    let x = a.person("X", None);
    let y = a.person("Y", None);
    a.0.people.get_mut(&x).unwrap().reports_to = Some(boss.clone());
    a.0.people.get_mut(&x).unwrap().influences = vec![boss.clone()];
    a.0.people.get_mut(&y).unwrap().opposes = vec![x.clone()];
    // A cycle: boss reports to y, y to boss.
    a.0.people.get_mut(&boss).unwrap().reports_to = Some(y.clone());
    a.0.people.get_mut(&y).unwrap().reports_to = Some(boss.clone());
    let m = map::build(&a.0, None);
    assert_eq!(m.nodes.len(), 3);
    let kinds: Vec<map::EdgeKind> = m.edges.iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&map::EdgeKind::Influences) && kinds.contains(&map::EdgeKind::Opposes));
    let svg = map::to_svg(&m);
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(
        svg.matches("<rect x=").count(),
        3 + 5,
        "three people and five legend swatches"
    );
    let dot = map::to_dot(&m);
    assert!(dot.contains("style=dashed") && dot.contains("style=dotted"));
    assert!(map::to_mermaid(&m).contains("-. opposes .-x"));
}

#[test]
fn the_map_escapes_names() {
    let mut a = Acct::new(false);
    a.person("A <b> & \"c\"", KEY);
    let m = map::build(&a.0, None);
    let svg = map::to_svg(&m);
    assert!(svg.contains("A &lt;b&gt; &amp; &quot;c&quot;"));
    assert!(map::to_dot(&m).contains("A <b> & \\\"c\\\""));
}
