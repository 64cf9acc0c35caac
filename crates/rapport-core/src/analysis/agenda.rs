//! What to do in the coming days, across all documents: keep-in-touch that
//! is overdue, plan items due, decisions near, high findings, partnership
//! commitments and reviews. Computed on demand from the data and today's
//! date: no scheduler.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::Day;
use crate::analysis::gap::{Finding, Severity, account_gap, opportunity_gap};
use crate::doc::DocData;
use crate::enums::{CommitmentStatus, Party, PlanStatus};

/// One line of the agenda.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgendaItem {
    /// `keep-in-touch`, `plan-due`, `decision-due`, `finding`,
    /// `commitment-due`, `review-due`.
    pub kind: &'static str,
    /// When it is due (none for findings).
    pub due: Option<Day>,
    pub overdue: bool,
    /// The account's name, or "personal".
    pub doc: String,
    /// The person or record it is about.
    pub subject: String,
    pub detail: String,
    /// The command to act on it.
    pub command: String,
}

/// Quotes an argument for a shell when it needs it.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@:/".contains(c))
    {
        s.to_string()
    } else {
        format!(
            "\"{}\"",
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('$', "\\$")
                .replace('`', "\\`")
        )
    }
}

/// Options of an agenda.
#[derive(Debug, Clone, Copy)]
pub struct Window<'a> {
    pub today: Day,
    /// Look this many days ahead.
    pub days: i64,
    /// Only this teammate's relationships and plan items; `None`: everyone's.
    pub member: Option<&'a str>,
}

/// When an entry falls due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Due {
    On(Day),
    /// Keep in touch with no contact and no creation date: due whenever
    /// the agenda is asked for.
    Today,
    /// A finding: always shown, after everything dated.
    Undated,
}

/// Which kind of entry; its text is the agenda item's `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EntryKind {
    KeepInTouch,
    PlanDue,
    DecisionDue,
    Finding,
    CommitmentDue,
    ReviewDue,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::KeepInTouch => "keep-in-touch",
            EntryKind::PlanDue => "plan-due",
            EntryKind::DecisionDue => "decision-due",
            EntryKind::Finding => "finding",
            EntryKind::CommitmentDue => "commitment-due",
            EntryKind::ReviewDue => "review-due",
        }
    }
}

/// Something a document may put on the agenda, before today's date and the
/// window are known: a document's entries depend on the document alone, so
/// they can be computed once per version of it (the materialized views keep
/// them) and [`select`]ed on each day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry<'a> {
    pub kind: EntryKind,
    pub due: Due,
    /// The teammate it belongs to (relationships and plan items); `None`:
    /// everyone's.
    #[serde(borrow)]
    pub member: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub subject: Cow<'a, str>,
    #[serde(borrow)]
    pub detail: Cow<'a, str>,
    #[serde(borrow)]
    pub command: Cow<'a, str>,
}

fn mine(window: &Window, handle: &str) -> bool {
    window.member.is_none_or(|m| m == handle)
}

/// The agenda over `docs`, most urgent first.
pub fn agenda(docs: &[&DocData], window: Window) -> Vec<AgendaItem> {
    let mut items = Vec::new();
    for data in docs {
        items.extend(select(&data.title(), &entries(data), window));
    }
    sort(&mut items);
    items
}

/// The items of one document's `entries` (its title is `doc`) that fall
/// in `window`, unsorted.
pub fn select(doc: &str, entries: &[Entry], window: Window) -> Vec<AgendaItem> {
    let horizon = window.today.add_days(window.days);
    entries
        .iter()
        .filter(|e| e.member.as_deref().is_none_or(|m| mine(&window, m)))
        .filter_map(|e| {
            let due = match e.due {
                Due::On(day) if day <= horizon => Some(day),
                Due::On(_) => return None,
                Due::Today => Some(window.today),
                Due::Undated => None,
            };
            Some(AgendaItem {
                kind: e.kind.as_str(),
                due,
                overdue: due.is_some_and(|d| d < window.today),
                doc: doc.to_string(),
                subject: e.subject.to_string(),
                detail: e.detail.to_string(),
                command: e.command.to_string(),
            })
        })
        .collect()
}

/// Everything `data` may put on an agenda, on any day, for anyone.
pub fn entries(data: &DocData) -> Vec<Entry<'static>> {
    let doc = data.title();
    let mut items = Vec::new();
    let name = |id| {
        data.people
            .get(id)
            .map(|p| p.name.clone())
            .unwrap_or_else(|| "?".into())
    };
    let entry =
        |kind, due, member: Option<&str>, subject: String, detail: String, command: String| Entry {
            kind,
            due,
            member: member.map(|m| Cow::Owned(m.to_string())),
            subject: Cow::Owned(subject),
            detail: Cow::Owned(detail),
            command: Cow::Owned(command),
        };
    for r in data.relationships.values().filter(|r| !r.archived) {
        let Some(cadence) = r.cadence_days else {
            continue;
        };
        if data.people.get(&r.person).is_none_or(|p| p.archived) {
            continue;
        }
        let last = data.last_contact(r);
        // With no contact yet, the clock starts when the relationship was added.
        let due = last
            .or(r.created)
            .map(|l| Due::On(l.add_days(i64::from(cadence))))
            .unwrap_or(Due::Today);
        let who = name(&r.person);
        items.push(entry(
            EntryKind::KeepInTouch,
            due,
            Some(&r.member),
            who.clone(),
            match last {
                Some(l) => format!("@{}: last contact {l}, every {cadence} days", r.member),
                None => format!("@{}: no contact logged yet, every {cadence} days", r.member),
            },
            format!("rapport log add {} --kind call", shell_quote(&who)),
        ));
    }
    for x in data
        .plan
        .values()
        .filter(|x| !x.archived && x.status == PlanStatus::Planned)
    {
        let Some(due) = x.due else {
            continue;
        };
        items.push(entry(
            EntryKind::PlanDue,
            Due::On(due),
            Some(&x.owner),
            name(&x.person),
            format!("@{}: {}", x.owner, x.action),
            format!("rapport plan done {}", shell_quote(&x.action)),
        ));
    }
    for o in data
        .opportunities
        .values()
        .filter(|o| o.is_open() && !o.archived)
    {
        let Some(due) = o.decision_date else {
            continue;
        };
        items.push(entry(
            EntryKind::DecisionDue,
            Due::On(due),
            None,
            o.title.clone(),
            format!("decision expected {due}, stage {}", o.stage),
            format!("rapport opp show {}", shell_quote(&o.title)),
        ));
    }
    for p in data.partnerships.values().filter(|p| !p.archived) {
        for c in p
            .commitments
            .values()
            .filter(|c| c.status == CommitmentStatus::Open)
        {
            let Some(due) = c.due else {
                continue;
            };
            let who = match c.party {
                Party::Us => "we owe",
                Party::Them => "they owe",
            };
            items.push(entry(
                EntryKind::CommitmentDue,
                Due::On(due),
                None,
                p.name.clone(),
                format!("{who}: {}", c.what),
                format!(
                    "rapport partner commitment set {} {} --status kept",
                    shell_quote(&p.name),
                    shell_quote(&c.what)
                ),
            ));
        }
        if let Some(due) = p.next_review {
            items.push(entry(
                EntryKind::ReviewDue,
                Due::On(due),
                None,
                p.name.clone(),
                "partnership review".into(),
                format!("rapport partner show {}", shell_quote(&p.name)),
            ));
        }
    }
    // High findings: the account's, or for the personal document, those
    // of its open opportunities.
    let findings: Vec<Finding> = match &data.account {
        Some(a) if !a.archived => account_gap(data).findings,
        Some(_) => Vec::new(),
        None => data
            .opportunities
            .iter()
            .filter(|(_, o)| o.is_open() && !o.archived)
            .filter_map(|(id, _)| opportunity_gap(data, id))
            .flat_map(|r| r.findings)
            .collect(),
    };
    for f in findings
        .into_iter()
        .filter(|f| f.severity == Severity::High)
    {
        let command = match (&data.account, &f.opportunity) {
            (None, Some(oid)) => {
                let title = data
                    .opportunities
                    .get(oid)
                    .map(|o| o.title.clone())
                    .unwrap_or_default();
                format!("rapport gap --opp {}", shell_quote(&title))
            }
            _ => format!("rapport gap {}", shell_quote(&doc)),
        };
        items.push(entry(
            EntryKind::Finding,
            Due::Undated,
            None,
            f.subject,
            format!("{} ({})", f.message, f.code),
            command,
        ));
    }
    items
}

/// Most urgent first.
pub fn sort(items: &mut [AgendaItem]) {
    items.sort_by(|a, b| {
        (
            a.due.is_none(),
            a.due,
            a.kind,
            &a.doc,
            &a.subject,
            &a.detail,
        )
            .cmp(&(
                b.due.is_none(),
                b.due,
                b.kind,
                &b.doc,
                &b.subject,
                &b.detail,
            ))
    });
}
