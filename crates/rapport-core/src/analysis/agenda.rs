//! What to do in the coming days, across all documents: keep-in-touch that
//! is overdue, plan items due, decisions near, high findings, partnership
//! commitments and reviews. Computed on demand from the data and today's
//! date: no scheduler.

use serde::Serialize;

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

fn mine(window: &Window, handle: &str) -> bool {
    window.member.is_none_or(|m| m == handle)
}

/// The agenda over `docs`, most urgent first.
pub fn agenda(docs: &[&DocData], window: Window) -> Vec<AgendaItem> {
    let horizon = window.today.add_days(window.days);
    let mut items = Vec::new();
    for data in docs {
        let doc = data.title();
        let name = |id| {
            data.people
                .get(id)
                .map(|p| p.name.clone())
                .unwrap_or_else(|| "?".into())
        };
        for r in data
            .relationships
            .values()
            .filter(|r| !r.archived && mine(&window, &r.member))
        {
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
                .map(|l| l.add_days(i64::from(cadence)))
                .unwrap_or(window.today);
            if due <= horizon {
                let who = name(&r.person);
                items.push(AgendaItem {
                    kind: "keep-in-touch",
                    due: Some(due),
                    overdue: due < window.today,
                    doc: doc.clone(),
                    subject: who.clone(),
                    detail: match last {
                        Some(l) => format!("@{}: last contact {l}, every {cadence} days", r.member),
                        None => {
                            format!("@{}: no contact logged yet, every {cadence} days", r.member)
                        }
                    },
                    command: format!("rapport log add {} --kind call", shell_quote(&who)),
                });
            }
        }
        for x in data
            .plan
            .values()
            .filter(|x| !x.archived && x.status == PlanStatus::Planned && mine(&window, &x.owner))
        {
            let Some(due) = x.due.filter(|d| *d <= horizon) else {
                continue;
            };
            items.push(AgendaItem {
                kind: "plan-due",
                due: Some(due),
                overdue: due < window.today,
                doc: doc.clone(),
                subject: name(&x.person),
                detail: format!("@{}: {}", x.owner, x.action),
                command: format!("rapport plan done {}", shell_quote(&x.action)),
            });
        }
        for o in data
            .opportunities
            .values()
            .filter(|o| o.is_open() && !o.archived)
        {
            let Some(due) = o.decision_date.filter(|d| *d <= horizon) else {
                continue;
            };
            items.push(AgendaItem {
                kind: "decision-due",
                due: Some(due),
                overdue: due < window.today,
                doc: doc.clone(),
                subject: o.title.clone(),
                detail: format!("decision expected {due}, stage {}", o.stage),
                command: format!("rapport opp show {}", shell_quote(&o.title)),
            });
        }
        for p in data.partnerships.values().filter(|p| !p.archived) {
            for c in p
                .commitments
                .values()
                .filter(|c| c.status == CommitmentStatus::Open)
            {
                let Some(due) = c.due.filter(|d| *d <= horizon) else {
                    continue;
                };
                let who = match c.party {
                    Party::Us => "we owe",
                    Party::Them => "they owe",
                };
                items.push(AgendaItem {
                    kind: "commitment-due",
                    due: Some(due),
                    overdue: due < window.today,
                    doc: doc.clone(),
                    subject: p.name.clone(),
                    detail: format!("{who}: {}", c.what),
                    command: format!(
                        "rapport partner commitment set {} {} --status kept",
                        shell_quote(&p.name),
                        shell_quote(&c.what)
                    ),
                });
            }
            if let Some(due) = p.next_review.filter(|d| *d <= horizon) {
                items.push(AgendaItem {
                    kind: "review-due",
                    due: Some(due),
                    overdue: due < window.today,
                    doc: doc.clone(),
                    subject: p.name.clone(),
                    detail: "partnership review".into(),
                    command: format!("rapport partner show {}", shell_quote(&p.name)),
                });
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
            items.push(AgendaItem {
                kind: "finding",
                due: None,
                overdue: false,
                doc: doc.clone(),
                subject: f.subject,
                detail: format!("{} ({})", f.message, f.code),
                command,
            });
        }
    }
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
    items
}
