//! The relationship gap: per key player, where the team stands against
//! where it must be, and the findings that say what to do about it.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use crate::doc::DocData;
use crate::enums::{BuyingRole, Coverage, Level, PlanStatus, Preference};
use crate::model::{Opportunity, Person, Relationship};
use crate::{Day, RecordId};

/// How much a finding matters. High findings fail `rapport gap --check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    High,
    Medium,
    Low,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::High => "high",
            Severity::Medium => "medium",
            Severity::Low => "low",
        }
    }
}

/// One thing to fix, with a stable code for scripts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Stable, e.g. `no-mentor`, `decision-maker-not-supporter`.
    pub code: &'static str,
    pub severity: Severity,
    /// Who or what it is about (a person's or an opportunity's name).
    pub subject: String,
    pub person: Option<RecordId>,
    pub opportunity: Option<RecordId>,
    pub message: String,
    /// One line on what to do.
    pub suggestion: String,
}

/// One teammate's relationship with a player.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Held {
    pub member: String,
    pub level: Level,
    pub desired_level: Option<Level>,
    pub preference: Preference,
    pub coverage: Coverage,
}

/// Where the team stands with one player.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlayerGap {
    pub person: RecordId,
    pub name: String,
    pub title: Option<String>,
    pub key_player: bool,
    /// The buying role, when the report is for an opportunity.
    pub role: Option<BuyingRole>,
    /// The teammate holding the best level (ties: best preference, then handle).
    pub best: Option<Held>,
    /// Every teammate's relationship with this player.
    pub held: Vec<Held>,
    pub desired_level: Option<Level>,
    /// Steps from the best current level to the desired level (0 when met
    /// or no desire set; the current level counts as Vendor with no owner).
    pub level_gap: usize,
    /// The best preference any teammate records (or the player's preference
    /// on the opportunity).
    pub preference: Option<Preference>,
    /// The value used to measure: Neutral counts as Non-Supporter.
    pub preference_used: Option<Preference>,
    pub desired_preference: Option<Preference>,
    pub preference_gap: usize,
    pub coverage: Coverage,
    /// Why the desired level is the right one.
    pub reason: Option<String>,
    /// Open plan items aimed at this player.
    pub planned: usize,
}

impl PlayerGap {
    pub fn has_gap(&self) -> bool {
        self.level_gap > 0 || self.preference_gap > 0
    }
}

/// The account's own level: the best any teammate holds with a key player.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountLevel {
    pub current: Option<Level>,
    /// Who holds it, and with whom: ("sam", "Ana Silva").
    pub held_by: Vec<(String, String)>,
    pub desired: Option<Level>,
    pub gap: usize,
}

/// The team coverage matrix: teammates x players, each cell the current and
/// desired level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverageMatrix {
    pub members: Vec<String>,
    pub players: Vec<String>,
    /// `cells[m][p]`: member m's (level, desired level) with player p.
    pub cells: Vec<Vec<Option<Cell>>>,
}

/// One teammate's current and desired level with one player.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Cell {
    pub level: Level,
    pub desired: Option<Level>,
}

/// Everything `rapport gap` shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GapReport {
    pub account: String,
    pub target: bool,
    /// Set when the report is for one opportunity.
    pub opportunity: Option<String>,
    pub account_level: AccountLevel,
    pub players: Vec<PlayerGap>,
    pub coverage: CoverageMatrix,
    pub findings: Vec<Finding>,
}

impl GapReport {
    pub fn has_high(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::High)
    }
}

fn steps<T: Ord + Copy>(all: &[T], from: T, to: T) -> usize {
    let rank = |v: T| all.iter().position(|x| *x == v).unwrap_or(0);
    rank(to).saturating_sub(rank(from))
}

/// A document's active relationships and planned items, by person: found
/// once per report, not once per player (a report of 10k people and 10k
/// relationships was 100M comparisons).
struct ByPerson<'a> {
    /// In the order of the relationships' ids.
    relationships: HashMap<&'a RecordId, Vec<&'a Relationship>>,
    planned: HashMap<&'a RecordId, usize>,
}

impl<'a> ByPerson<'a> {
    fn of(data: &'a DocData) -> ByPerson<'a> {
        let mut relationships: HashMap<&RecordId, Vec<&Relationship>> = HashMap::new();
        for r in data.relationships.values().filter(|r| !r.archived) {
            relationships.entry(&r.person).or_default().push(r);
        }
        let mut planned: HashMap<&RecordId, usize> = HashMap::new();
        for p in data
            .plan
            .values()
            .filter(|p| !p.archived && p.status == PlanStatus::Planned)
        {
            *planned.entry(&p.person).or_default() += 1;
        }
        ByPerson {
            relationships,
            planned,
        }
    }

    fn relationships(&self, person: &RecordId) -> &[&'a Relationship] {
        self.relationships.get(person).map_or(&[], Vec::as_slice)
    }
}

/// Builds the gap of one player. `opp_preference` overrides the teammates'
/// recorded preference (a player's support on one opportunity).
fn player_gap(
    by_person: &ByPerson,
    id: &RecordId,
    person: &Person,
    role: Option<BuyingRole>,
    opp_preference: Option<Preference>,
) -> PlayerGap {
    let rels = by_person.relationships(id);
    let mut held: Vec<Held> = rels
        .iter()
        .map(|r| Held {
            member: r.member.clone(),
            level: r.level,
            desired_level: r.desired_level,
            preference: r.preference,
            coverage: r.coverage,
        })
        .collect();
    held.sort_by(|a, b| {
        b.level
            .cmp(&a.level)
            .then(b.preference.cmp(&a.preference))
            .then(a.member.cmp(&b.member))
    });
    let best = held.first().cloned();
    let desired_level = rels.iter().filter_map(|r| r.desired_level).max();
    let desired_preference = rels.iter().filter_map(|r| r.desired_preference).max();
    let current_level = best.as_ref().map(|b| b.level).unwrap_or(Level::Vendor);
    let level_gap = desired_level
        .map(|d| steps(Level::ALL, current_level, d))
        .unwrap_or(0);
    let preference = opp_preference.or_else(|| rels.iter().map(|r| r.preference).max());
    let preference_used = preference.map(Preference::for_gap);
    let preference_gap = match (preference_used, desired_preference) {
        (Some(p), Some(d)) => steps(Preference::ALL, p, d),
        (None, Some(d)) => steps(Preference::ALL, Preference::NonSupporter, d),
        _ => 0,
    };
    let reason = rels
        .iter()
        .filter(|r| r.desired_level == desired_level)
        .find_map(|r| r.desired_reason.clone());
    let planned = by_person.planned.get(id).copied().unwrap_or(0);
    PlayerGap {
        person: id.clone(),
        name: person.name.clone(),
        title: person.title.clone(),
        key_player: person.is_key_player(),
        role,
        coverage: held
            .iter()
            .map(|h| h.coverage)
            .max()
            .unwrap_or(Coverage::Unknown),
        best,
        held,
        desired_level,
        level_gap,
        preference,
        preference_used,
        desired_preference,
        preference_gap,
        reason,
        planned,
    }
}

fn finding(
    code: &'static str,
    severity: Severity,
    subject: &str,
    person: Option<&RecordId>,
    opportunity: Option<&RecordId>,
    message: String,
    suggestion: &str,
) -> Finding {
    Finding {
        code,
        severity,
        subject: subject.to_string(),
        person: person.cloned(),
        opportunity: opportunity.cloned(),
        message,
        suggestion: suggestion.to_string(),
    }
}

/// The order findings are listed in, within a severity: what matters most first.
const ORDER: &[&str] = &[
    "no-mentor",
    "decision-maker-not-supporter",
    "approver-not-supporter",
    "enemy-on-opportunity",
    "level-gap",
    "below-credible-source",
    "no-owner",
    "single-threaded",
    "no-plan-for-gap",
    "no-non-supporter",
    "no-reason",
];

fn sort_findings(findings: &mut [Finding]) {
    let rank = |code: &str| ORDER.iter().position(|c| *c == code).unwrap_or(ORDER.len());
    findings.sort_by(|a, b| {
        a.severity
            .cmp(&b.severity)
            .then(rank(a.code).cmp(&rank(b.code)))
            .then(a.subject.cmp(&b.subject))
    });
}

/// Findings about one open opportunity's key players.
fn opportunity_findings(
    data: &DocData,
    by_person: &ByPerson,
    oid: &RecordId,
    opp: &Opportunity,
    out: &mut Vec<Finding>,
) {
    if !opp.is_open() || opp.archived {
        return;
    }
    let mut has_mentor = false;
    let mut has_opponent = false;
    for (pid, kp) in &opp.players {
        let Some(person) = data.people.get(pid).filter(|p| !p.archived) else {
            continue;
        };
        let gap = player_gap(by_person, pid, person, Some(kp.role), kp.preference);
        let pref = gap.preference;
        has_mentor |= pref == Some(Preference::Mentor);
        // Neutral counts as non-supporter here too: assume the worst.
        has_opponent |= matches!(
            gap.preference_used,
            Some(Preference::NonSupporter | Preference::Enemy)
        );
        let used = gap.preference_used.unwrap_or(Preference::NonSupporter);
        if matches!(kp.role, BuyingRole::DecisionMaker | BuyingRole::Approver)
            && used < Preference::Supporter
        {
            let (code, role) = match kp.role {
                BuyingRole::DecisionMaker => ("decision-maker-not-supporter", "decision maker"),
                _ => ("approver-not-supporter", "approver"),
            };
            let shown = pref
                .map(|p| p.to_string())
                .unwrap_or_else(|| "unknown".into());
            out.push(finding(
                code,
                Severity::High,
                &person.name,
                Some(pid),
                Some(oid),
                format!(
                    "{} is the {role} on '{}' and is {shown} (needs supporter or better)",
                    person.name, opp.title
                ),
                "plan an investment that serves their goals before asking for the decision",
            ));
        }
        if pref == Some(Preference::Enemy) {
            out.push(finding(
                "enemy-on-opportunity",
                Severity::High,
                &person.name,
                Some(pid),
                Some(oid),
                format!("{} is an enemy on '{}'", person.name, opp.title),
                "find out what they lose if we win, and who can neutralise or convert them",
            ));
        }
    }
    if !has_mentor {
        out.push(finding(
            "no-mentor",
            Severity::High,
            &opp.title,
            None,
            Some(oid),
            format!(
                "'{}' has no mentor: nobody sells on our behalf, so it is at risk",
                opp.title
            ),
            "find a supporter close to the decision and invest in making them a mentor",
        ));
    }
    if !has_opponent && !opp.players.is_empty() {
        out.push(finding(
            "no-non-supporter",
            Severity::Low,
            &opp.title,
            None,
            Some(oid),
            format!(
                "'{}' lists no non-supporter: a map with only friends is usually incomplete",
                opp.title
            ),
            "ask your mentor who would prefer another option, and add them as a key player",
        ));
    }
}

/// Findings about one player's gap.
fn player_findings(target: bool, gap: &PlayerGap, out: &mut Vec<Finding>) {
    let id = Some(&gap.person);
    if gap.best.is_none() {
        out.push(finding(
            "no-owner",
            Severity::Medium,
            &gap.name,
            id,
            None,
            format!(
                "{} is a key player and nobody on the team has a relationship with them",
                gap.name
            ),
            "choose an owner and record it with `rapport rel add`",
        ));
    }
    let current = gap.best.as_ref().map(|b| b.level).unwrap_or(Level::Vendor);
    if target && gap.key_player && current < Level::CredibleSource {
        out.push(finding(
            "below-credible-source",
            Severity::Medium,
            &gap.name,
            id,
            None,
            match &gap.best {
                Some(_) => format!(
                    "{} is a key player in a target account and we are only {current}",
                    gap.name
                ),
                None => format!(
                    "{} is a key player in a target account and we have no relationship",
                    gap.name
                ),
            },
            "aim for at least credible source: share something useful they did not ask for",
        ));
    }
    if gap.level_gap >= 2 {
        out.push(finding(
            "level-gap",
            Severity::High,
            &gap.name,
            id,
            None,
            format!(
                "{}: {current} now, {} wanted: a gap of {} levels",
                gap.name,
                gap.desired_level.map(|l| l.to_string()).unwrap_or_default(),
                gap.level_gap
            ),
            "plan investments that pass all three tests, starting with the largest gaps",
        ));
    }
    if gap.has_gap() && gap.planned == 0 {
        out.push(finding(
            "no-plan-for-gap",
            Severity::Medium,
            &gap.name,
            id,
            None,
            format!("{} has a gap and no investment planned", gap.name),
            "add one with `rapport plan add PERSON ACTION --tests time,learn,illustrate`",
        ));
    }
    if gap.desired_level.is_some_and(|d| d > current) && gap.reason.is_none() {
        out.push(finding(
            "no-reason",
            Severity::Low,
            &gap.name,
            id,
            None,
            format!("{}: no reason given for the desired level", gap.name),
            "why is that the right level? higher levels cost more time to sustain (`rapport rel edit --reason`)",
        ));
    }
}

fn coverage_matrix(players: &[PlayerGap]) -> CoverageMatrix {
    let members: BTreeSet<String> = players
        .iter()
        .flat_map(|p| p.held.iter().map(|h| h.member.clone()))
        .collect();
    let members: Vec<String> = members.into_iter().collect();
    let cells = members
        .iter()
        .map(|m| {
            players
                .iter()
                .map(|p| {
                    p.held.iter().find(|h| &h.member == m).map(|h| Cell {
                        level: h.level,
                        desired: h.desired_level,
                    })
                })
                .collect()
        })
        .collect();
    CoverageMatrix {
        members,
        players: players.iter().map(|p| p.name.clone()).collect(),
        cells,
    }
}

/// The best level held: over the key players for an account, over every
/// player for an opportunity (`all_players`).
fn account_level(data: &DocData, players: &[PlayerGap], all_players: bool) -> AccountLevel {
    let counts = |p: &&PlayerGap| all_players || p.key_player;
    let current = players
        .iter()
        .filter(counts)
        .filter_map(|p| p.best.as_ref().map(|b| b.level))
        .max();
    let mut held_by = Vec::new();
    if let Some(level) = current {
        for p in players.iter().filter(counts) {
            for h in p.held.iter().filter(|h| h.level == level) {
                held_by.push((h.member.clone(), p.name.clone()));
            }
        }
    }
    let desired = data.account.as_ref().and_then(|a| a.desired_level);
    let gap = desired
        .map(|d| steps(Level::ALL, current.unwrap_or(Level::Vendor), d))
        .unwrap_or(0);
    AccountLevel {
        current,
        held_by,
        desired,
        gap,
    }
}

fn sort_players(players: &mut [PlayerGap]) {
    players.sort_by(|a, b| {
        (b.level_gap + b.preference_gap)
            .cmp(&(a.level_gap + a.preference_gap))
            .then(a.role.cmp(&b.role))
            .then(a.name.cmp(&b.name))
    });
}

/// The gap report of a whole account: its key players and its open
/// opportunities.
pub fn account_gap(data: &DocData) -> GapReport {
    let target = data.account.as_ref().is_some_and(|a| a.target);
    let by_person = ByPerson::of(data);
    let mut players: Vec<PlayerGap> = data
        .people
        .iter()
        .filter(|(_, p)| !p.archived && p.is_key_player())
        .map(|(id, p)| player_gap(&by_person, id, p, None, None))
        .collect();
    sort_players(&mut players);
    let mut findings = Vec::new();
    for (oid, opp) in &data.opportunities {
        opportunity_findings(data, &by_person, oid, opp, &mut findings);
    }
    for gap in &players {
        player_findings(target, gap, &mut findings);
    }
    let strong: BTreeSet<&str> = players
        .iter()
        .flat_map(|p| p.held.iter())
        .filter(|h| h.level >= Level::CredibleSource)
        .map(|h| h.member.as_str())
        .collect();
    if strong.len() == 1 && !players.is_empty() {
        let only = strong.iter().next().copied().unwrap_or_default();
        findings.push(finding(
            "single-threaded",
            Severity::Medium,
            &data.title(),
            None,
            None,
            format!(
                "only @{only} holds credible source or better with the key players of {}",
                data.title()
            ),
            "bring a second teammate into the relationships that matter most",
        ));
    }
    sort_findings(&mut findings);
    let coverage = coverage_matrix(&players);
    GapReport {
        account: data.title(),
        target,
        opportunity: None,
        account_level: account_level(data, &players, false),
        players,
        coverage,
        findings,
    }
}

/// The gap report of one opportunity: its key players, whatever their
/// political status.
pub fn opportunity_gap(data: &DocData, oid: &RecordId) -> Option<GapReport> {
    let opp = data.opportunities.get(oid)?;
    let target = data.account.as_ref().is_some_and(|a| a.target);
    let by_person = ByPerson::of(data);
    let mut players: Vec<PlayerGap> = opp
        .players
        .iter()
        .filter_map(|(pid, kp)| {
            let person = data.people.get(pid).filter(|p| !p.archived)?;
            Some(player_gap(
                &by_person,
                pid,
                person,
                Some(kp.role),
                kp.preference,
            ))
        })
        .collect();
    sort_players(&mut players);
    let mut findings = Vec::new();
    opportunity_findings(data, &by_person, oid, opp, &mut findings);
    for gap in &players {
        player_findings(target, gap, &mut findings);
    }
    sort_findings(&mut findings);
    let coverage = coverage_matrix(&players);
    Some(GapReport {
        account: data.title(),
        target,
        opportunity: Some(opp.title.clone()),
        account_level: account_level(data, &players, true),
        players,
        coverage,
        findings,
    })
}

/// The give/ask balance of the activity with one person.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Balance {
    pub gives: usize,
    pub asks: usize,
    pub last_give: Option<Day>,
    pub last_ask: Option<Day>,
    /// We ask and never give: a warning.
    pub only_asks: bool,
}

pub fn balance(data: &DocData, person: &RecordId) -> Balance {
    use crate::enums::Direction;
    let mut b = Balance::default();
    for a in data
        .activities
        .values()
        .filter(|a| !a.archived && a.people.contains(person))
    {
        match a.direction {
            Direction::Give => {
                b.gives += 1;
                b.last_give = b.last_give.max(Some(a.date));
            }
            Direction::Ask => {
                b.asks += 1;
                b.last_ask = b.last_ask.max(Some(a.date));
            }
            Direction::Neutral => {}
        }
    }
    b.only_asks = b.asks > 0 && b.gives == 0;
    b
}
