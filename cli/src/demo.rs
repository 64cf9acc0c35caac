//! The embedded example workspace behind `rapport demo`: two accounts and a
//! handful of personal contacts, with dates relative to today so the
//! agenda always has something to show.
//!
//! Every value goes through the same parsers as the commands, so the demo
//! data is validated like user input.

use std::collections::BTreeMap;

use anyhow::Context as _;
use automerge::AutoCommit;
use rapport_core::doc::{self, Collection};
use rapport_core::enums::*;
use rapport_core::model::*;
use rapport_core::{Day, Notes, RecordId};
use serde::Deserialize;

pub const DATA: &str = include_str!("../demo/demo.json");

#[derive(Deserialize)]
pub struct Demo {
    pub owner: DemoOwner,
    pub accounts: Vec<DemoAccount>,
    pub personal: DemoBook,
    #[serde(default)]
    pub notes: Vec<DemoNote>,
}

#[derive(Deserialize)]
pub struct DemoOwner {
    pub name: String,
    pub handle: String,
    pub email: Option<String>,
}

#[derive(Deserialize)]
pub struct DemoNote {
    pub title: String,
    pub body: String,
}

#[derive(Deserialize)]
pub struct DemoAccount {
    pub name: String,
    pub domain: Option<String>,
    pub industry: Option<String>,
    #[serde(default)]
    pub target: bool,
    pub icp_fit: Option<String>,
    pub icp_score: Option<u8>,
    pub desired_level: Option<String>,
    pub notes: Option<String>,
    #[serde(flatten)]
    pub book: DemoBook,
}

#[derive(Deserialize, Default)]
pub struct DemoBook {
    #[serde(default)]
    people: Vec<DemoPerson>,
    #[serde(default)]
    relationships: Vec<DemoRel>,
    #[serde(default)]
    opportunities: Vec<DemoOpp>,
    #[serde(default)]
    plan: Vec<DemoPlan>,
    #[serde(default)]
    activities: Vec<DemoActivity>,
    #[serde(default)]
    partnerships: Vec<DemoPartnership>,
}

#[derive(Deserialize)]
struct DemoPerson {
    name: String,
    email: Option<String>,
    title: Option<String>,
    reports_to: Option<String>,
    status: Option<String>,
    orientation: Option<String>,
    #[serde(default)]
    influences: Vec<String>,
    #[serde(default)]
    opposes: Vec<String>,
    goals: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize)]
struct DemoRel {
    person: String,
    member: String,
    level: String,
    desired_level: Option<String>,
    preference: String,
    desired_preference: Option<String>,
    coverage: String,
    cadence_days: Option<u32>,
    reason: Option<String>,
}

#[derive(Deserialize)]
struct DemoPlayer {
    person: String,
    role: String,
    preference: Option<String>,
}

#[derive(Deserialize)]
struct DemoOpp {
    title: String,
    kind: String,
    person: Option<String>,
    stage: Option<String>,
    status: Option<String>,
    closed_on: Option<String>,
    close_reason: Option<String>,
    decision_date: Option<String>,
    value: Option<i64>,
    currency: Option<String>,
    probability: Option<u8>,
    next_step: Option<String>,
    #[serde(default)]
    players: Vec<DemoPlayer>,
}

#[derive(Deserialize)]
struct DemoPlan {
    person: String,
    action: String,
    owner: String,
    due: Option<String>,
    status: Option<String>,
    done_on: Option<String>,
    #[serde(default)]
    tests: Vec<String>,
}

#[derive(Deserialize)]
struct DemoActivity {
    date: String,
    people: Vec<String>,
    kind: String,
    direction: Option<String>,
    by: String,
    notes: String,
}

#[derive(Deserialize)]
struct DemoCommitment {
    party: String,
    what: String,
    due: Option<String>,
    status: String,
}

#[derive(Deserialize)]
struct DemoPartnership {
    name: String,
    person: Option<String>,
    vision: String,
    goals: Vec<String>,
    risks: Vec<String>,
    next_review: Option<String>,
    commitments: Vec<DemoCommitment>,
}

pub fn parse() -> anyhow::Result<Demo> {
    serde_json::from_str(DATA).context("the embedded demo data is malformed")
}

fn day(today: Day, s: &Option<String>) -> anyhow::Result<Option<Day>> {
    Ok(s.as_deref()
        .map(|s| Day::parse_relative(s, today))
        .transpose()?)
}

fn opt<T: std::str::FromStr<Err = rapport_core::Error>>(
    s: &Option<String>,
) -> anyhow::Result<Option<T>> {
    Ok(s.as_deref().map(str::parse).transpose()?)
}

/// Counts of what was written, for the summary.
#[derive(Default, Debug, Clone, Copy, serde::Serialize)]
pub struct Counts {
    pub people: usize,
    pub relationships: usize,
    pub opportunities: usize,
    pub plan: usize,
    pub activities: usize,
    pub partnerships: usize,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.people += o.people;
        self.relationships += o.relationships;
        self.opportunities += o.opportunities;
        self.plan += o.plan;
        self.activities += o.activities;
        self.partnerships += o.partnerships;
    }
}

impl DemoAccount {
    pub fn account(&self, today: Day) -> anyhow::Result<Account> {
        Ok(Account {
            name: self.name.clone(),
            domain: self.domain.clone(),
            industry: self.industry.clone(),
            target: self.target,
            icp_fit: self.icp_fit.clone(),
            icp_score: self.icp_score,
            desired_level: opt(&self.desired_level)?,
            notes: Notes::new(self.notes.as_deref().unwrap_or("")),
            archived: false,
            created: Some(today),
        })
    }
}

impl DemoBook {
    /// Writes every record into `doc` (one document).
    pub fn write(&self, doc: &mut AutoCommit, today: Day) -> anyhow::Result<Counts> {
        let ids: BTreeMap<&str, RecordId> = self
            .people
            .iter()
            .map(|p| (p.name.as_str(), RecordId::random()))
            .collect();
        let id = |name: &str| -> anyhow::Result<RecordId> {
            ids.get(name)
                .cloned()
                .with_context(|| format!("demo data: no person named {name}"))
        };
        let ids_of = |names: &[String]| -> anyhow::Result<Vec<RecordId>> {
            names.iter().map(|n| id(n)).collect()
        };
        for p in &self.people {
            let mut person = Person::named(&p.name);
            person.email = p.email.clone();
            person.title = p.title.clone();
            person.reports_to = p.reports_to.as_deref().map(id).transpose()?;
            person.political_status = opt(&p.status)?;
            person.orientation = opt(&p.orientation)?;
            person.influences = ids_of(&p.influences)?;
            person.opposes = ids_of(&p.opposes)?;
            person.goals = Notes::new(p.goals.as_deref().unwrap_or(""));
            person.tags = p.tags.clone();
            person.created = Some(today);
            doc::put_record(doc, Collection::People, &id(&p.name)?, &person)?;
        }
        for r in &self.relationships {
            let mut rel = Relationship::new(&r.member, id(&r.person)?);
            rel.level = r.level.parse()?;
            rel.desired_level = opt(&r.desired_level)?;
            rel.preference = r.preference.parse()?;
            rel.desired_preference = opt(&r.desired_preference)?;
            rel.coverage = r.coverage.parse()?;
            rel.cadence_days = r.cadence_days;
            rel.desired_reason = r.reason.clone();
            rel.created = Some(today);
            doc::put_record(doc, Collection::Relationships, &RecordId::random(), &rel)?;
        }
        for o in &self.opportunities {
            let mut players = BTreeMap::new();
            for p in &o.players {
                players.insert(
                    id(&p.person)?,
                    KeyPlayer {
                        role: p.role.parse()?,
                        preference: opt(&p.preference)?,
                    },
                );
            }
            let opp = Opportunity {
                title: o.title.clone(),
                kind: o.kind.parse()?,
                person: o.person.as_deref().map(id).transpose()?,
                stage: o.stage.clone().unwrap_or_else(|| DEFAULT_STAGES[0].into()),
                status: opt(&o.status)?.unwrap_or(OpportunityStatus::Open),
                closed_on: day(today, &o.closed_on)?,
                close_reason: o.close_reason.clone(),
                decision_date: day(today, &o.decision_date)?,
                value: o.value,
                currency: o.currency.clone(),
                probability: o.probability,
                next_step: o.next_step.clone(),
                notes: Notes::default(),
                players,
                archived: false,
                created: Some(today),
            };
            doc::put_record(doc, Collection::Opportunities, &RecordId::random(), &opp)?;
        }
        for x in &self.plan {
            let tests: Vec<InvestmentTest> = x
                .tests
                .iter()
                .map(|t| t.parse())
                .collect::<Result<_, _>>()?;
            let item = PlanItem {
                person: id(&x.person)?,
                action: x.action.clone(),
                owner: x.owner.clone(),
                due: day(today, &x.due)?,
                status: opt(&x.status)?.unwrap_or(PlanStatus::Planned),
                done_on: day(today, &x.done_on)?,
                tests: Tests::from_list(&tests),
                notes: Notes::default(),
                archived: false,
                created: Some(today),
            };
            doc::put_record(doc, Collection::Plan, &RecordId::random(), &item)?;
        }
        for a in &self.activities {
            let kind: ActivityKind = a.kind.parse()?;
            let entry = Activity {
                date: Day::parse_relative(&a.date, today)?,
                people: ids_of(&a.people)?,
                kind,
                direction: opt(&a.direction)?.unwrap_or(kind.default_direction()),
                by: a.by.clone(),
                notes: Notes::new(&a.notes),
                opportunity: None,
                archived: false,
            };
            doc::put_record(doc, Collection::Activities, &RecordId::random(), &entry)?;
        }
        for p in &self.partnerships {
            let mut commitments = BTreeMap::new();
            for c in &p.commitments {
                commitments.insert(
                    RecordId::random(),
                    Commitment {
                        party: c.party.parse()?,
                        what: c.what.clone(),
                        due: day(today, &c.due)?,
                        status: c.status.parse()?,
                    },
                );
            }
            let partnership = Partnership {
                name: p.name.clone(),
                person: p.person.as_deref().map(id).transpose()?,
                vision: Notes::new(&p.vision),
                goals: p.goals.clone(),
                commitments,
                risks: p.risks.clone(),
                next_review: day(today, &p.next_review)?,
                notes: Notes::default(),
                archived: false,
                created: Some(today),
            };
            doc::put_record(
                doc,
                Collection::Partnerships,
                &RecordId::random(),
                &partnership,
            )?;
        }
        Ok(Counts {
            people: self.people.len(),
            relationships: self.relationships.len(),
            opportunities: self.opportunities.len(),
            plan: self.plan.len(),
            activities: self.activities.len(),
            partnerships: self.partnerships.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_data_parses_and_writes() {
        let demo = parse().unwrap();
        let today = Day::ymd(2026, 11, 23).unwrap();
        let mut total = Counts::default();
        for a in &demo.accounts {
            let mut d = AutoCommit::new();
            doc::init_account(&mut d, &a.account(today).unwrap()).unwrap();
            total += a.book.write(&mut d, today).unwrap();
        }
        let mut d = AutoCommit::new();
        total += demo.personal.write(&mut d, today).unwrap();
        assert_eq!(demo.accounts.len(), 2);
        assert!((13..=20).contains(&total.people), "{total:?}");
        assert!(total.opportunities >= 4 && total.plan >= 4 && total.activities >= 8);
    }
}
