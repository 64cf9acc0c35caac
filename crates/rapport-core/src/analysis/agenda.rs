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

/// One line of the agenda, borrowing its text from the [`Selection`] it
/// was selected into.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AgendaItem<'a> {
    /// `keep-in-touch`, `plan-due`, `decision-due`, `finding`,
    /// `commitment-due`, `review-due`.
    pub kind: &'static str,
    /// When it is due (none for findings).
    pub due: Option<Day>,
    pub overdue: bool,
    /// The account's name, or "personal".
    pub doc: &'a str,
    /// The person or record it is about.
    pub subject: &'a str,
    pub detail: &'a str,
    /// The command to act on it.
    pub command: &'a str,
}

/// The items of one document that fall in a window, unsorted: what
/// [`select`] keeps of its entries. Their text is copied into one buffer,
/// not a string per field: an agenda over many accounts has thousands of
/// items, and [`sorted`] hands them out borrowed.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// The document's title.
    doc: String,
    /// Each item's subject, detail and command, back to back.
    text: String,
    items: Vec<Selected>,
}

#[derive(Debug, Clone, Copy)]
struct Selected {
    kind: EntryKind,
    due: Option<Day>,
    overdue: bool,
    /// Where the subject, the detail and the command end in `text`; each
    /// starts where the one before it ends (the subject where the item
    /// before it ends).
    ends: [usize; 3],
}

impl Selection {
    /// An empty selection of the document titled `doc`.
    pub fn new(doc: &str) -> Selection {
        Selection {
            doc: doc.to_string(),
            ..Selection::default()
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn push(&mut self, kind: EntryKind, due: Option<Day>, overdue: bool, fields: [&str; 3]) {
        let mut ends = [0; 3];
        for (end, field) in ends.iter_mut().zip(fields) {
            self.text.push_str(field);
            *end = self.text.len();
        }
        self.items.push(Selected {
            kind,
            due,
            overdue,
            ends,
        });
    }

    /// Where the `i`th item's text starts in `text`.
    fn start(&self, i: usize) -> usize {
        i.checked_sub(1)
            .map_or(0, |before| self.items[before].ends[2])
    }

    /// The `i`th item's subject and detail.
    fn subject_and_detail(&self, i: usize) -> (&str, &str) {
        let [subject, detail, _] = self.items[i].ends;
        (
            &self.text[self.start(i)..subject],
            &self.text[subject..detail],
        )
    }

    /// The `i`th item.
    fn item(&self, i: usize) -> AgendaItem<'_> {
        let s = self.items[i];
        let [subject, detail, command] = s.ends;
        AgendaItem {
            kind: s.kind.as_str(),
            due: s.due,
            overdue: s.overdue,
            doc: &self.doc,
            subject: &self.text[self.start(i)..subject],
            detail: &self.text[subject..detail],
            command: &self.text[detail..command],
        }
    }

    /// The items, in the order they were selected.
    pub fn items(&self) -> impl Iterator<Item = AgendaItem<'_>> {
        let mut start = 0;
        self.items.iter().map(move |s| {
            let [subject, detail, command] = s.ends;
            let item = AgendaItem {
                kind: s.kind.as_str(),
                due: s.due,
                overdue: s.overdue,
                doc: &self.doc,
                subject: &self.text[start..subject],
                detail: &self.text[subject..detail],
                command: &self.text[detail..command],
            };
            start = command;
            item
        })
    }
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

    /// Where the kind sorts among the others: the order of their names
    /// ([`as_str`](Self::as_str)), which is how the agenda orders items due
    /// on the same day, without comparing the names.
    fn rank(self) -> u8 {
        match self {
            EntryKind::CommitmentDue => 0,
            EntryKind::DecisionDue => 1,
            EntryKind::Finding => 2,
            EntryKind::KeepInTouch => 3,
            EntryKind::PlanDue => 4,
            EntryKind::ReviewDue => 5,
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

/// Whether an entry for `member` (`None`: everyone's) is for the window's
/// teammate. Compared as bytes, so a reader may ask before it checks the
/// entry's text is UTF-8.
fn mine(window: &Window, member: Option<&[u8]>) -> bool {
    match (window.member, member) {
        (Some(m), Some(handle)) => m.as_bytes() == handle,
        _ => true,
    }
}

/// What a [`Window`] selects, its last day computed once.
#[derive(Debug, Clone, Copy)]
pub struct Picker<'a> {
    pub window: Window<'a>,
    horizon: Day,
}

impl<'a> Picker<'a> {
    pub fn new(window: Window<'a>) -> Picker<'a> {
        Picker {
            window,
            horizon: window.today.add_days(window.days),
        }
    }

    /// Whether an entry due `due` for `member` falls in the window: `None`
    /// if not, else the day it is listed under (`None`: undated).
    pub fn day(&self, due: Due, member: Option<&[u8]>) -> Option<Option<Day>> {
        if !mine(&self.window, member) {
            return None;
        }
        match due {
            Due::On(day) if day <= self.horizon => Some(Some(day)),
            Due::On(_) => None,
            Due::Today => Some(Some(self.window.today)),
            Due::Undated => Some(None),
        }
    }
}

impl Selection {
    /// Room for `items` more items with `text` more bytes of text, so the
    /// selection is allocated once.
    pub fn reserve(&mut self, items: usize, text: usize) {
        self.items.reserve_exact(items);
        self.text.reserve_exact(text);
    }

    /// Adds an entry that falls in `window` on `day` (as [`Picker::day`]
    /// gives it), with its subject, detail and command.
    pub fn add(&mut self, window: &Window, kind: EntryKind, day: Option<Day>, fields: [&str; 3]) {
        self.push(kind, day, day.is_some_and(|d| d < window.today), fields);
    }
}

/// Each of `docs`' items that fall in `window`, one [`Selection`] per
/// document (to be [`sorted`]).
pub fn agenda(docs: &[&DocData], window: Window) -> Vec<Selection> {
    docs.iter()
        .map(|data| select(&data.title(), &entries(data), window))
        .collect()
}

/// The items of one document's `entries` (its title is `doc`) that fall
/// in `window`, unsorted.
pub fn select(doc: &str, entries: &[Entry], window: Window) -> Selection {
    let picker = Picker::new(window);
    let due = |e: &Entry| picker.day(e.due, e.member.as_deref().map(str::as_bytes));
    // Counted first, so the selection is allocated once: grown as it
    // filled, its copies were a fifth of `agenda`'s page faults.
    let (mut items, mut text) = (0, 0);
    for e in entries.iter().filter(|e| due(e).is_some()) {
        items += 1;
        text += e.subject.len() + e.detail.len() + e.command.len();
    }
    let mut selection = Selection::new(doc);
    selection.reserve(items, text);
    for e in entries {
        if let Some(day) = due(e) {
            selection.add(&window, e.kind, day, [&e.subject, &e.detail, &e.command]);
        }
    }
    selection
}

/// Everything `data` may put on an agenda, on any day, for anyone.
pub fn entries(data: &DocData) -> Vec<Entry<'static>> {
    let mut items = Vec::new();
    each_entry(data, |e| items.push(e));
    items
}

/// [`entries`], each handed to `f` in turn rather than collected (those
/// of 100k records are 10 MB).
pub fn each_entry(data: &DocData, mut emit: impl FnMut(Entry<'static>)) {
    let doc = data.title();
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
        emit(entry(
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
        emit(entry(
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
        emit(entry(
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
            emit(entry(
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
            emit(entry(
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
        emit(entry(
            EntryKind::Finding,
            Due::Undated,
            None,
            f.subject,
            format!("{} ({})", f.message, f.code),
            command,
        ));
    }
}

/// An item's place by (undated, day, kind, document's rank), as one
/// number: compared at once, not field by field.
fn sort_key(selected: &Selected, rank: u32) -> u128 {
    use chrono::Datelike as _;
    // Days from the common era's start, shifted to be unsigned: in order.
    let day = selected.due.map_or(0, |d| {
        (i64::from(d.0.num_days_from_ce()) - i64::from(i32::MIN)) as u128
    });
    (u128::from(selected.due.is_none()) << 72)
        | (day << 40)
        | (u128::from(selected.kind.rank()) << 32)
        | u128::from(rank)
}

/// Every item of `selections`, most urgent first: dated before undated,
/// then by day, kind, document title, subject and detail (each compared
/// as text). Items that compare equal keep their order.
pub fn sorted(selections: &[Selection]) -> Sorted<'_> {
    // Documents are ranked by title once, so items compare a number where
    // they would compare titles, in the same order.
    let mut by_title: Vec<usize> = (0..selections.len()).collect();
    by_title.sort_by(|&a, &b| selections[a].doc.cmp(&selections[b].doc));
    let mut rank = vec![0u32; selections.len()];
    for pair in by_title.windows(2) {
        let (before, this) = (pair[0], pair[1]);
        let next = selections[before].doc != selections[this].doc;
        rank[this] = rank[before] + u32::from(next);
    }
    // Small keys are sorted, naming the items, which are made as they are
    // handed out: sorting the items themselves (with a stable sort's
    // scratch copy) was a quarter of `agenda`'s page faults at 100k
    // records, and making them all first (4.4k, 440 KB) a tenth. The
    // items' positions break ties, so the order is the stable one.
    let total = selections.iter().map(Selection::len).sum();
    let mut keyed = Vec::with_capacity(total);
    for (s, (selection, &rank)) in selections.iter().zip(&rank).enumerate() {
        for (i, selected) in selection.items.iter().enumerate() {
            keyed.push((sort_key(selected, rank), s, i));
        }
    }
    let text = |s: usize, i: usize| selections[s].subject_and_detail(i);
    keyed.sort_unstable_by(|(a, s, i), (b, t, j)| {
        a.cmp(b)
            .then_with(|| text(*s, *i).cmp(&text(*t, *j)))
            .then_with(|| (s, i).cmp(&(t, j)))
    });
    Sorted { selections, keyed }
}

/// The items of some selections in the agenda's order ([`sorted`]),
/// made as they are handed out. Serialized as the list of items.
#[derive(Debug)]
pub struct Sorted<'a> {
    selections: &'a [Selection],
    /// Each item's sort key, selection and place in it, in order.
    keyed: Vec<(u128, usize, usize)>,
}

impl<'a> Sorted<'a> {
    pub fn len(&self) -> usize {
        self.keyed.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keyed.is_empty()
    }

    /// The items, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = AgendaItem<'a>> + '_ {
        self.keyed
            .iter()
            .map(|&(_, s, i)| self.selections[s].item(i))
    }
}

impl Serialize for Sorted<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const KINDS: [EntryKind; 6] = [
        EntryKind::KeepInTouch,
        EntryKind::PlanDue,
        EntryKind::DecisionDue,
        EntryKind::Finding,
        EntryKind::CommitmentDue,
        EntryKind::ReviewDue,
    ];

    #[test]
    fn kinds_rank_as_their_names_sort() {
        let mut by_name = KINDS;
        by_name.sort_by_key(|k| k.as_str());
        let mut by_rank = KINDS;
        by_rank.sort_by_key(|k| k.rank());
        assert_eq!(by_name, by_rank);
    }

    /// Titles, subjects and details from a few letters of both cases, so
    /// that equal titles and case-folded orders come up.
    fn text() -> impl Strategy<Value = String> {
        "[aAbB]{0,3}"
    }

    /// Mostly days near today (so items tie on the day), sometimes any day
    /// a date can be (the first and the last ones included).
    fn entry() -> impl Strategy<Value = (usize, Option<i64>, String, String)> {
        let offset = prop_oneof![4 => 0i64..6, 1 => any::<i64>()];
        (0..KINDS.len(), proptest::option::of(offset), text(), text())
    }

    proptest! {
        /// `sorted` ranks titles and kinds instead of comparing their text,
        /// and gives the order the plain comparison of every field gives
        /// (a stable sort of the items in document order).
        #[test]
        fn sorted_orders_as_comparing_every_field(
            docs in proptest::collection::vec(
                (text(), proptest::collection::vec(entry(), 0..40)),
                0..6,
            )
        ) {
            let today = Day(chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap());
            let selections: Vec<Selection> = docs
                .iter()
                .enumerate()
                .map(|(d, (title, items))| {
                    let mut selection = Selection::new(title);
                    for (i, (kind, due, subject, detail)) in items.iter().enumerate() {
                        let due = due.map(|d| today.add_days(d.saturating_sub(3)));
                        let overdue = due.is_some_and(|d| d < today);
                        // Items alike in all else differ here, so the
                        // order of ties shows.
                        let command = format!("cmd {d} {i}");
                        selection.push(KINDS[*kind], due, overdue, [subject, detail, &command]);
                    }
                    selection
                })
                .collect();
            let mut expected: Vec<AgendaItem> =
                selections.iter().flat_map(Selection::items).collect();
            expected.sort_by(|a, b| {
                (a.due.is_none(), a.due, a.kind, a.doc, a.subject, a.detail)
                    .cmp(&(b.due.is_none(), b.due, b.kind, b.doc, b.subject, b.detail))
            });
            prop_assert_eq!(sorted(&selections).iter().collect::<Vec<_>>(), expected);
        }
    }
}
