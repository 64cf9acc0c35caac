//! The records of `DOMAIN.md`, as stored in automerge documents.
//!
//! Each record lives in a map keyed by its [`RecordId`]; the id is not repeated
//! inside the record. Every field but the record's name may be absent (a
//! client that does not know it yet) and then takes its default, so a
//! document written by an older or foreign client still loads.

use std::collections::BTreeMap;

use autosurgeon::{Hydrate, Reconcile};
use serde::{Deserialize, Serialize};

use crate::enums::*;
use crate::ids::RecordId;
use crate::values::{Day, Notes};

fn vendor() -> Level {
    Level::Vendor
}
fn neutral() -> Preference {
    Preference::Neutral
}
fn unknown() -> Coverage {
    Coverage::Unknown
}
fn project() -> OpportunityKind {
    OpportunityKind::Project
}
fn open() -> OpportunityStatus {
    OpportunityStatus::Open
}
fn planned() -> PlanStatus {
    PlanStatus::Planned
}
fn other_activity() -> ActivityKind {
    ActivityKind::Other
}
fn neutral_direction() -> Direction {
    Direction::Neutral
}
fn influencer() -> BuyingRole {
    BuyingRole::Influencer
}
fn open_commitment() -> CommitmentStatus {
    CommitmentStatus::Open
}
fn us() -> Party {
    Party::Us
}
fn first_stage() -> String {
    DEFAULT_STAGES[0].to_string()
}

/// The stages an opportunity moves through unless the user names others.
pub const DEFAULT_STAGES: &[&str] = &["identified", "qualified", "proposed", "negotiating"];

/// A customer organisation we target.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Account {
    #[autosurgeon(hydrate = "crate::values::hydrate_string")]
    pub name: String,
    #[serde(default)]
    #[autosurgeon(hydrate = "crate::values::hydrate_opt_string")]
    pub domain: Option<String>,
    #[serde(default)]
    #[autosurgeon(hydrate = "crate::values::hydrate_opt_string")]
    pub industry: Option<String>,
    /// A target account: we aim for at least Credible Source with every key
    /// player.
    #[serde(default)]
    #[autosurgeon(hydrate = "crate::values::hydrate_flag")]
    pub target: bool,
    /// How the account fits our Ideal Customer Profile, in words.
    #[serde(default)]
    #[autosurgeon(hydrate = "crate::values::hydrate_opt_string")]
    pub icp_fit: Option<String>,
    /// Ideal Customer Profile fit, 1 (poor) to 5 (ideal).
    #[autosurgeon(hydrate = "crate::values::hydrate_opt_int")]
    #[serde(default)]
    pub icp_score: Option<u8>,
    /// The account-level relationship we want.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub desired_level: Option<Level>,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub notes: Notes,
    #[serde(default)]
    #[autosurgeon(hydrate = "crate::values::hydrate_flag")]
    pub archived: bool,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub created: Option<Day>,
}

impl Account {
    /// An account with only a name: not a target, nothing else known.
    pub fn named(name: &str) -> Account {
        Account {
            name: name.to_string(),
            domain: None,
            industry: None,
            target: false,
            icp_fit: None,
            icp_score: None,
            desired_level: None,
            notes: Notes::default(),
            archived: false,
            created: None,
        }
    }
}

/// A contact: one of *them*.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Person {
    #[autosurgeon(hydrate = "crate::values::hydrate_string")]
    pub name: String,
    #[serde(default)]
    #[autosurgeon(hydrate = "crate::values::hydrate_opt_string")]
    pub email: Option<String>,
    #[serde(default)]
    #[autosurgeon(hydrate = "crate::values::hydrate_opt_string")]
    pub phone: Option<String>,
    #[serde(default)]
    #[autosurgeon(hydrate = "crate::values::hydrate_opt_string")]
    pub title: Option<String>,
    /// The org chart: whom this person reports to.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub reports_to: Option<RecordId>,
    /// People this person sways.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub influences: Vec<RecordId>,
    /// People this person opposes.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub opposes: Vec<RecordId>,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub orientation: Option<DecisionOrientation>,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub political_status: Option<PoliticalStatus>,
    /// What they are trying to achieve.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub goals: Notes,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub notes: Notes,
    #[serde(default)]
    #[autosurgeon(hydrate = "crate::values::hydrate_strings")]
    pub tags: Vec<String>,
    #[serde(default)]
    #[autosurgeon(hydrate = "crate::values::hydrate_flag")]
    pub archived: bool,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub created: Option<Day>,
    /// Set when this record was merged into another (`rapport person
    /// merge`); such a record is archived.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<RecordId>,
}

impl Person {
    pub fn named(name: &str) -> Person {
        Person {
            name: name.to_string(),
            email: None,
            phone: None,
            title: None,
            reports_to: None,
            influences: Vec::new(),
            opposes: Vec::new(),
            orientation: None,
            political_status: None,
            goals: Notes::default(),
            notes: Notes::default(),
            tags: Vec::new(),
            archived: false,
            created: None,
            merged_into: None,
        }
    }

    /// Inner circle or political structure.
    pub fn is_key_player(&self) -> bool {
        self.political_status
            .is_some_and(PoliticalStatus::is_key_player)
    }
}

/// How one of *us* (`member`, a handle) and one of *them* (`person`) are
/// connected. Never closed: only nurtured or neglected.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Relationship {
    /// The team member's handle.
    #[autosurgeon(hydrate = "crate::values::hydrate_string")]
    pub member: String,
    pub person: RecordId,
    #[autosurgeon(missing = "vendor")]
    #[serde(default = "vendor")]
    pub level: Level,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub desired_level: Option<Level>,
    #[autosurgeon(missing = "neutral")]
    #[serde(default = "neutral")]
    pub preference: Preference,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub desired_preference: Option<Preference>,
    #[autosurgeon(missing = "unknown")]
    #[serde(default = "unknown")]
    pub coverage: Coverage,
    /// Keep in touch every this many days.
    #[autosurgeon(hydrate = "crate::values::hydrate_opt_int")]
    #[serde(default)]
    pub cadence_days: Option<u32>,
    /// Why the desired level is the right one (higher levels cost more time).
    #[serde(default)]
    #[autosurgeon(hydrate = "crate::values::hydrate_opt_string")]
    pub desired_reason: Option<String>,
    /// Set by hand; the activity log gives a later date when it has one.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub last_contact: Option<Day>,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub notes: Notes,
    #[serde(default)]
    #[autosurgeon(hydrate = "crate::values::hydrate_flag")]
    pub archived: bool,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub created: Option<Day>,
}

impl Relationship {
    pub fn new(member: &str, person: RecordId) -> Relationship {
        Relationship {
            member: member.to_string(),
            person,
            level: Level::Vendor,
            desired_level: None,
            preference: Preference::Neutral,
            desired_preference: None,
            coverage: Coverage::Unknown,
            cadence_days: None,
            desired_reason: None,
            last_contact: None,
            notes: Notes::default(),
            archived: false,
            created: None,
        }
    }
}

/// A contact's part in one opportunity.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct KeyPlayer {
    #[autosurgeon(missing = "influencer")]
    #[serde(default = "influencer")]
    pub role: BuyingRole,
    /// Their support for us on this opportunity, when it differs from the
    /// relationship's.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub preference: Option<Preference>,
}

/// Anything we want someone to say yes to. Dated, and always ends.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Opportunity {
    #[autosurgeon(hydrate = "crate::values::hydrate_string")]
    pub title: String,
    #[autosurgeon(missing = "project")]
    #[serde(default = "project")]
    pub kind: OpportunityKind,
    /// The contact it is with, when it is not with the account as a whole.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub person: Option<RecordId>,
    #[serde(default = "first_stage")]
    #[autosurgeon(hydrate = "crate::values::hydrate_string", missing = "first_stage")]
    pub stage: String,
    #[autosurgeon(missing = "open")]
    #[serde(default = "open")]
    pub status: OpportunityStatus,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub closed_on: Option<Day>,
    #[serde(default)]
    #[autosurgeon(hydrate = "crate::values::hydrate_opt_string")]
    pub close_reason: Option<String>,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub decision_date: Option<Day>,
    /// Whole units of `currency`.
    #[autosurgeon(hydrate = "crate::values::hydrate_opt_int")]
    #[serde(default)]
    pub value: Option<i64>,
    #[serde(default)]
    #[autosurgeon(hydrate = "crate::values::hydrate_opt_string")]
    pub currency: Option<String>,
    /// Percent, 0 to 100.
    #[autosurgeon(hydrate = "crate::values::hydrate_opt_int")]
    #[serde(default)]
    pub probability: Option<u8>,
    #[serde(default)]
    #[autosurgeon(hydrate = "crate::values::hydrate_opt_string")]
    pub next_step: Option<String>,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub notes: Notes,
    /// Keyed by person id: a contact has one role per opportunity.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub players: BTreeMap<RecordId, KeyPlayer>,
    #[serde(default)]
    #[autosurgeon(hydrate = "crate::values::hydrate_flag")]
    pub archived: bool,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub created: Option<Day>,
}

impl Opportunity {
    /// An open project at the first stage, with nothing else set.
    pub fn new(title: &str, created: Option<Day>) -> Opportunity {
        Opportunity {
            title: title.to_string(),
            kind: project(),
            person: None,
            stage: first_stage(),
            status: open(),
            closed_on: None,
            close_reason: None,
            decision_date: None,
            value: None,
            currency: None,
            probability: None,
            next_step: None,
            notes: Notes::default(),
            players: BTreeMap::new(),
            archived: false,
            created,
        }
    }

    pub fn is_open(&self) -> bool {
        self.status == OpportunityStatus::Open
    }
}

/// Which of the three tests an investment passes.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Reconcile, Hydrate, Serialize, Deserialize,
)]
pub struct Tests {
    #[serde(default)]
    #[autosurgeon(hydrate = "crate::values::hydrate_flag")]
    pub time: bool,
    #[serde(default)]
    #[autosurgeon(hydrate = "crate::values::hydrate_flag")]
    pub learn: bool,
    #[serde(default)]
    #[autosurgeon(hydrate = "crate::values::hydrate_flag")]
    pub illustrate: bool,
}

impl Tests {
    pub fn from_list(tests: &[InvestmentTest]) -> Tests {
        Tests {
            time: tests.contains(&InvestmentTest::Time),
            learn: tests.contains(&InvestmentTest::Learn),
            illustrate: tests.contains(&InvestmentTest::Illustrate),
        }
    }

    pub fn passed(&self) -> Vec<InvestmentTest> {
        self.flags()
            .into_iter()
            .filter(|(_, p)| *p)
            .map(|(t, _)| t)
            .collect()
    }

    pub fn missed(&self) -> Vec<InvestmentTest> {
        self.flags()
            .into_iter()
            .filter(|(_, p)| !*p)
            .map(|(t, _)| t)
            .collect()
    }

    fn flags(&self) -> [(InvestmentTest, bool); 3] {
        [
            (InvestmentTest::Time, self.time),
            (InvestmentTest::Learn, self.learn),
            (InvestmentTest::Illustrate, self.illustrate),
        ]
    }
}

/// An investment in a relationship: something we do *for* a contact, unpaid.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct PlanItem {
    pub person: RecordId,
    /// What we will do.
    #[autosurgeon(hydrate = "crate::values::hydrate_string")]
    pub action: String,
    /// The team member's handle.
    #[serde(default)]
    #[autosurgeon(
        hydrate = "crate::values::hydrate_string",
        missing = "Default::default"
    )]
    pub owner: String,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub due: Option<Day>,
    #[autosurgeon(missing = "planned")]
    #[serde(default = "planned")]
    pub status: PlanStatus,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub done_on: Option<Day>,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub tests: Tests,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub notes: Notes,
    #[serde(default)]
    #[autosurgeon(hydrate = "crate::values::hydrate_flag")]
    pub archived: bool,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub created: Option<Day>,
}

/// One entry of the activity log: what happened.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Activity {
    pub date: Day,
    /// The contacts involved.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub people: Vec<RecordId>,
    #[autosurgeon(missing = "other_activity")]
    #[serde(default = "other_activity")]
    pub kind: ActivityKind,
    #[autosurgeon(missing = "neutral_direction")]
    #[serde(default = "neutral_direction")]
    pub direction: Direction,
    /// The team member's handle who logged it.
    #[serde(default)]
    #[autosurgeon(
        hydrate = "crate::values::hydrate_string",
        missing = "Default::default"
    )]
    pub by: String,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub notes: Notes,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub opportunity: Option<RecordId>,
    #[serde(default)]
    #[autosurgeon(hydrate = "crate::values::hydrate_flag")]
    pub archived: bool,
}

impl Activity {
    /// The order of an activity log, given each entry's date, notes and
    /// id: newest first, then by notes, then by id (ids are unique, so no
    /// two entries tie). `log list` shows a log in this order, and a read
    /// of a log's first entries (`rapport_store::Select`) keeps them
    /// by it.
    pub fn log_order(a: (Day, &str, &str), b: (Day, &str, &str)) -> std::cmp::Ordering {
        b.0.cmp(&a.0)
            .then_with(|| a.1.cmp(b.1))
            .then_with(|| a.2.cmp(b.2))
    }
}

/// Who owes what, by when, in a partnership.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Commitment {
    #[autosurgeon(missing = "us")]
    #[serde(default = "us")]
    pub party: Party,
    #[autosurgeon(hydrate = "crate::values::hydrate_string")]
    pub what: String,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub due: Option<Day>,
    #[autosurgeon(missing = "open_commitment")]
    #[serde(default = "open_commitment")]
    pub status: CommitmentStatus,
}

/// More than a relationship: shared vision, goals, commitments and risk.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Partnership {
    #[autosurgeon(hydrate = "crate::values::hydrate_string")]
    pub name: String,
    /// The partner, when a person; none means the document's account.
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub person: Option<RecordId>,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub vision: Notes,
    #[serde(default)]
    #[autosurgeon(hydrate = "crate::values::hydrate_strings")]
    pub goals: Vec<String>,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub commitments: BTreeMap<RecordId, Commitment>,
    #[serde(default)]
    #[autosurgeon(hydrate = "crate::values::hydrate_strings")]
    pub risks: Vec<String>,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub next_review: Option<Day>,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub notes: Notes,
    #[serde(default)]
    #[autosurgeon(hydrate = "crate::values::hydrate_flag")]
    pub archived: bool,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub created: Option<Day>,
}

/// The user of this copy: how teammates see them.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct Owner {
    #[autosurgeon(hydrate = "crate::values::hydrate_string")]
    pub name: String,
    #[autosurgeon(hydrate = "crate::values::hydrate_string")]
    pub handle: String,
    #[serde(default)]
    #[autosurgeon(hydrate = "crate::values::hydrate_opt_string")]
    pub email: Option<String>,
}

/// A note that never leaves the user's own devices.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct PrivateNote {
    #[autosurgeon(hydrate = "crate::values::hydrate_string")]
    pub title: String,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub body: Notes,
    #[serde(default)]
    #[autosurgeon(hydrate = "crate::values::hydrate_flag")]
    pub archived: bool,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub created: Option<Day>,
}

/// An entry in the personal document's list of account documents.
#[derive(Debug, Clone, PartialEq, Reconcile, Hydrate, Serialize, Deserialize)]
pub struct AccountEntry {
    #[autosurgeon(hydrate = "crate::values::hydrate_string")]
    pub name: String,
    #[autosurgeon(missing = "Default::default")]
    #[serde(default)]
    pub added: Option<Day>,
}
