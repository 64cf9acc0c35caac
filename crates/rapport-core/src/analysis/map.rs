//! The relationship map of an account: an org chart (reports-to lines) with
//! each person coloured by the team's best current level, their preference,
//! buying role (for an opportunity) and gap, key players marked, and
//! influence and conflict lines drawn apart from reporting lines.
//!
//! Rendered as SVG (laid out here, no external program), Graphviz DOT, or
//! Mermaid.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use serde::Serialize;

use crate::RecordId;
use crate::analysis::gap::{PlayerGap, account_gap, opportunity_gap};
use crate::doc::DocData;
use crate::enums::{BuyingRole, Level, PoliticalStatus, Preference};
use crate::model::Relationship;

/// One person on the map.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    pub id: RecordId,
    pub name: String,
    pub title: Option<String>,
    pub key_player: bool,
    pub political_status: Option<PoliticalStatus>,
    /// The team's best level, and who holds it.
    pub level: Option<Level>,
    pub holder: Option<String>,
    pub desired_level: Option<Level>,
    pub level_gap: usize,
    pub preference: Option<Preference>,
    pub role: Option<BuyingRole>,
    pub reports_to: Option<RecordId>,
}

/// A line between two people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EdgeKind {
    ReportsTo,
    Influences,
    Opposes,
}

/// `from` reports to, influences, or opposes `to`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Edge {
    pub from: RecordId,
    pub to: RecordId,
    pub kind: EdgeKind,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelationshipMap {
    pub title: String,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

/// Builds the map of an account; with `opportunity`, marks buying roles and
/// uses the players' preference on it.
pub fn build(data: &DocData, opportunity: Option<&RecordId>) -> RelationshipMap {
    let mut title = data.title();
    let mut gaps: BTreeMap<RecordId, PlayerGap> = BTreeMap::new();
    let report = match opportunity {
        Some(oid) => opportunity_gap(data, oid),
        None => None,
    };
    if let Some(r) = &report {
        title = format!("{title}: {}", r.opportunity.clone().unwrap_or_default());
        gaps.extend(r.players.iter().map(|p| (p.person.clone(), p.clone())));
    }
    // Everyone else's gap as in the account view (not only key players).
    let account = account_gap(data);
    for p in account.players {
        gaps.entry(p.person.clone()).or_insert(p);
    }
    let active: BTreeSet<&RecordId> = data
        .people
        .iter()
        .filter(|(_, p)| !p.archived)
        .map(|(id, _)| id)
        .collect();
    // Each person's best relationship, found in one pass (a search of
    // every relationship per person took 0.5 s at 10k of each): the
    // greatest by level, then preference, then the first member by name;
    // the last of equals in id order, as `max_by` picks.
    let better = |a: &Relationship, b: &Relationship| {
        a.level
            .cmp(&b.level)
            .then(a.preference.cmp(&b.preference))
            .then(b.member.cmp(&a.member))
    };
    let mut best: HashMap<&RecordId, &Relationship> = HashMap::new();
    for r in data.relationships.values().filter(|r| !r.archived) {
        let held = best.entry(&r.person).or_insert(r);
        if better(r, held).is_ge() {
            *held = r;
        }
    }
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    for (id, p) in data.people.iter().filter(|(_, p)| !p.archived) {
        let gap = gaps.get(id);
        let best_rel = best.get(id).copied();
        let reports_to = p
            .reports_to
            .clone()
            .filter(|r| active.contains(r) && r != id);
        nodes.push(Node {
            id: id.clone(),
            name: p.name.clone(),
            title: p.title.clone(),
            key_player: p.is_key_player(),
            political_status: p.political_status,
            level: best_rel.map(|r| r.level),
            holder: best_rel.map(|r| r.member.clone()),
            desired_level: gap
                .and_then(|g| g.desired_level)
                .or_else(|| best_rel.and_then(|r| r.desired_level)),
            level_gap: gap.map(|g| g.level_gap).unwrap_or_else(|| {
                match (
                    best_rel.map(|r| r.level),
                    best_rel.and_then(|r| r.desired_level),
                ) {
                    (Some(l), Some(d)) => d.rank().saturating_sub(l.rank()),
                    _ => 0,
                }
            }),
            preference: gap
                .and_then(|g| g.preference)
                .or_else(|| best_rel.map(|r| r.preference)),
            role: gap.and_then(|g| g.role),
            reports_to: reports_to.clone(),
        });
        if let Some(boss) = reports_to {
            edges.push(Edge {
                from: id.clone(),
                to: boss,
                kind: EdgeKind::ReportsTo,
            });
        }
        for other in p.influences.iter().filter(|o| active.contains(o)) {
            edges.push(Edge {
                from: id.clone(),
                to: other.clone(),
                kind: EdgeKind::Influences,
            });
        }
        for other in p.opposes.iter().filter(|o| active.contains(o)) {
            edges.push(Edge {
                from: id.clone(),
                to: other.clone(),
                kind: EdgeKind::Opposes,
            });
        }
    }
    nodes.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    let rank: BTreeMap<&RecordId, usize> =
        nodes.iter().enumerate().map(|(i, n)| (&n.id, i)).collect();
    edges.sort_by_key(|e| (e.kind, rank.get(&e.from).copied(), rank.get(&e.to).copied()));
    RelationshipMap {
        title,
        nodes,
        edges,
    }
}

/// Fill colour by the team's best level: red for vendor up to green for
/// trusted advisor; grey when nobody has a relationship.
pub fn level_colour(level: Option<Level>) -> &'static str {
    match level {
        None => "#e9ecef",
        Some(Level::Vendor) => "#f8d7da",
        Some(Level::CredibleSource) => "#fff3cd",
        Some(Level::ProblemSolver) => "#cfe2ff",
        Some(Level::TrustedAdvisor) => "#d1e7dd",
    }
}

fn node_lines(n: &Node) -> Vec<String> {
    let mut lines = vec![format!(
        "{}{}",
        if n.key_player { "★ " } else { "" },
        n.name
    )];
    if let Some(t) = &n.title {
        lines.push(t.clone());
    }
    lines.push(match (n.level, &n.holder) {
        (Some(l), Some(h)) => format!("now: {l} (@{h})"),
        _ => "now: no relationship".to_string(),
    });
    if let Some(d) = n.desired_level.filter(|_| n.level_gap > 0) {
        lines.push(format!("want: {d}"));
    }
    let mut last = Vec::new();
    if let Some(p) = n.preference {
        last.push(p.to_string());
    }
    if let Some(r) = n.role {
        last.push(r.to_string());
    }
    if n.level_gap > 0 {
        last.push(format!("gap {}", n.level_gap));
    }
    if !last.is_empty() {
        lines.push(last.join(" · "));
    }
    lines
}

/// Stable node names for DOT and Mermaid: `p1`, `p2`… in the map's order
/// (by name), so the text does not change with random record ids.
fn names(map: &RelationshipMap) -> BTreeMap<&RecordId, String> {
    map.nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (&n.id, format!("p{}", i + 1)))
        .collect()
}

/// Graphviz DOT.
pub fn to_dot(map: &RelationshipMap) -> String {
    let ids = names(map);
    let short = |id: &RecordId| ids.get(id).cloned().unwrap_or_default();
    let mut s = String::new();
    let _ = writeln!(s, "digraph relationship_map {{");
    let _ = writeln!(
        s,
        "  label=\"{}\"; labelloc=t; rankdir=TB;",
        dot_escape(&map.title)
    );
    let _ = writeln!(
        s,
        "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\"];"
    );
    for n in &map.nodes {
        let label = node_lines(n)
            .iter()
            .map(|l| dot_escape(l))
            .collect::<Vec<_>>()
            .join("\\n");
        let border = if n.key_player { ", penwidth=3" } else { "" };
        let _ = writeln!(
            s,
            "  {} [label=\"{label}\", fillcolor=\"{}\"{border}];",
            short(&n.id),
            level_colour(n.level)
        );
    }
    for e in &map.edges {
        let style = match e.kind {
            EdgeKind::ReportsTo => "[color=\"#6c757d\", arrowhead=none]",
            EdgeKind::Influences => {
                "[color=\"#198754\", style=dashed, constraint=false, label=\"influences\"]"
            }
            EdgeKind::Opposes => {
                "[color=\"#dc3545\", style=dotted, constraint=false, label=\"opposes\", arrowhead=tee]"
            }
        };
        // Reporting lines are drawn from the manager down to the report.
        let (a, b) = if e.kind == EdgeKind::ReportsTo {
            (&e.to, &e.from)
        } else {
            (&e.from, &e.to)
        };
        let _ = writeln!(s, "  {} -> {} {style};", short(a), short(b));
    }
    s.push_str("}\n");
    s
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Mermaid flowchart.
pub fn to_mermaid(map: &RelationshipMap) -> String {
    let ids = names(map);
    let short = |id: &RecordId| ids.get(id).cloned().unwrap_or_default();
    let mut s = String::from("flowchart TD\n");
    let _ = writeln!(s, "  %% {}", map.title.replace('\n', " "));
    for n in &map.nodes {
        let label = node_lines(n)
            .iter()
            .map(|l| mermaid_escape(l))
            .collect::<Vec<_>>()
            .join("<br/>");
        let _ = writeln!(s, "  {}[\"{label}\"]", short(&n.id));
    }
    for e in &map.edges {
        let arrow = match e.kind {
            EdgeKind::ReportsTo => "---",
            EdgeKind::Influences => "-. influences .->",
            EdgeKind::Opposes => "-. opposes .-x",
        };
        let (a, b) = if e.kind == EdgeKind::ReportsTo {
            (&e.to, &e.from)
        } else {
            (&e.from, &e.to)
        };
        let _ = writeln!(s, "  {} {arrow} {}", short(a), short(b));
    }
    for (class, level) in [
        ("none", None),
        ("vendor", Some(Level::Vendor)),
        ("credible", Some(Level::CredibleSource)),
        ("solver", Some(Level::ProblemSolver)),
        ("advisor", Some(Level::TrustedAdvisor)),
    ] {
        let _ = writeln!(
            s,
            "  classDef {class} fill:{},stroke:#495057",
            level_colour(level)
        );
        let members: Vec<String> = map
            .nodes
            .iter()
            .filter(|n| n.level == level)
            .map(|n| short(&n.id))
            .collect();
        if !members.is_empty() {
            let _ = writeln!(s, "  class {} {class}", members.join(","));
        }
    }
    let keys: Vec<String> = map
        .nodes
        .iter()
        .filter(|n| n.key_player)
        .map(|n| short(&n.id))
        .collect();
    if !keys.is_empty() {
        let _ = writeln!(s, "  classDef key stroke-width:3px");
        let _ = writeln!(s, "  class {} key", keys.join(","));
    }
    s
}

fn mermaid_escape(s: &str) -> String {
    s.replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
}

const BOX_W: f64 = 240.0;
const BOX_H: f64 = 94.0;
const GAP_X: f64 = 26.0;
const GAP_Y: f64 = 64.0;
const MARGIN: f64 = 30.0;
const TITLE_H: f64 = 40.0;

/// A tidy top-down layout: each subtree gets the width of its leaves,
/// parents sit centred over their children, separate trees side by side.
fn layout(map: &RelationshipMap) -> BTreeMap<RecordId, (f64, f64)> {
    let ids: BTreeSet<&RecordId> = map.nodes.iter().map(|n| &n.id).collect();
    let mut children: BTreeMap<&RecordId, Vec<&Node>> = BTreeMap::new();
    let mut roots = Vec::new();
    for n in &map.nodes {
        match n.reports_to.as_ref().filter(|b| ids.contains(b)) {
            Some(boss) => children.entry(boss).or_default().push(n),
            None => roots.push(n),
        }
    }
    // Cycles in reports-to (bad data) leave people unreachable from a root:
    // they become roots too.
    let mut reachable = BTreeSet::new();
    let mut stack: Vec<&RecordId> = roots.iter().map(|n| &n.id).collect();
    while let Some(id) = stack.pop() {
        if reachable.insert(id) {
            stack.extend(children.get(id).into_iter().flatten().map(|c| &c.id));
        }
    }
    for n in &map.nodes {
        if !reachable.contains(&n.id) {
            roots.push(n);
            reachable.insert(&n.id);
        }
    }
    // Key players first among siblings, then by name.
    let order = |v: &mut Vec<&Node>| {
        v.sort_by(|a, b| b.key_player.cmp(&a.key_player).then(a.name.cmp(&b.name)))
    };
    order(&mut roots);
    for v in children.values_mut() {
        order(v);
    }
    fn width<'a>(
        id: &'a RecordId,
        children: &BTreeMap<&'a RecordId, Vec<&'a Node>>,
        seen: &mut BTreeSet<&'a RecordId>,
    ) -> usize {
        if !seen.insert(id) {
            return 1;
        }
        let w = children
            .get(id)
            .map(|cs| cs.iter().map(|c| width(&c.id, children, seen)).sum())
            .unwrap_or(0);
        w.max(1)
    }
    fn place<'a>(
        id: &'a RecordId,
        left: f64,
        depth: usize,
        children: &BTreeMap<&'a RecordId, Vec<&'a Node>>,
        seen: &mut BTreeSet<&'a RecordId>,
        out: &mut BTreeMap<RecordId, (f64, f64)>,
    ) -> f64 {
        let y = MARGIN + TITLE_H + depth as f64 * (BOX_H + GAP_Y);
        if !seen.insert(id) {
            return left;
        }
        let mut x = left;
        let mut centres = Vec::new();
        for c in children.get(id).into_iter().flatten() {
            let w = width(&c.id, children, &mut BTreeSet::new()) as f64 * (BOX_W + GAP_X);
            place(&c.id, x, depth + 1, children, seen, out);
            centres.push(out.get(&c.id).map(|p| p.0).unwrap_or(x));
            x += w;
        }
        let cx = if centres.is_empty() {
            left
        } else {
            (centres[0] + centres[centres.len() - 1]) / 2.0
        };
        out.insert(id.clone(), (cx, y));
        cx
    }
    let mut out = BTreeMap::new();
    let mut left = MARGIN;
    let mut seen = BTreeSet::new();
    for r in roots {
        let w = width(&r.id, &children, &mut BTreeSet::new()) as f64 * (BOX_W + GAP_X);
        place(&r.id, left, 0, &children, &mut seen, &mut out);
        left += w;
    }
    out
}

/// Where the line from `from` (a box centre) towards `to` leaves the box.
fn border_point(from: (f64, f64), to: (f64, f64)) -> (f64, f64) {
    let (dx, dy) = (to.0 - from.0, to.1 - from.1);
    if dx.abs() < f64::EPSILON && dy.abs() < f64::EPSILON {
        return from;
    }
    let tx = if dx.abs() > f64::EPSILON {
        (BOX_W / 2.0) / dx.abs()
    } else {
        f64::INFINITY
    };
    let ty = if dy.abs() > f64::EPSILON {
        (BOX_H / 2.0) / dy.abs()
    } else {
        f64::INFINITY
    };
    let t = tx.min(ty);
    (from.0 + dx * t, from.1 + dy * t)
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A standalone SVG picture.
pub fn to_svg(map: &RelationshipMap) -> String {
    let pos = layout(map);
    let max_x = pos.values().map(|p| p.0).fold(MARGIN, f64::max) + BOX_W + MARGIN;
    let max_y = pos.values().map(|p| p.1).fold(MARGIN + TITLE_H, f64::max) + BOX_H + MARGIN;
    let legend_h = 70.0;
    let width = max_x.max(760.0);
    let height = max_y + legend_h;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="Helvetica, Arial, sans-serif">"#
    );
    s.push_str(r##"  <defs>
    <marker id="arrow-green" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#198754"/></marker>
    <marker id="tee-red" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto"><path d="M9,0 L9,10" stroke="#dc3545" stroke-width="3"/></marker>
  </defs>
"##);
    let _ = writeln!(
        s,
        r##"  <rect width="100%" height="100%" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        s,
        r##"  <text x="{MARGIN}" y="{:.0}" font-size="20" font-weight="bold" fill="#212529">{}</text>"##,
        MARGIN + 12.0,
        xml(&map.title)
    );
    // Reporting lines first, under the boxes: elbows from boss to report.
    for e in map.edges.iter().filter(|e| e.kind == EdgeKind::ReportsTo) {
        let (Some(a), Some(b)) = (pos.get(&e.to), pos.get(&e.from)) else {
            continue;
        };
        let (x1, y1) = (a.0 + BOX_W / 2.0, a.1 + BOX_H);
        let (x2, y2) = (b.0 + BOX_W / 2.0, b.1);
        let ym = y1 + (y2 - y1) / 2.0;
        let _ = writeln!(
            s,
            r##"  <path d="M{x1:.1},{y1:.1} V{ym:.1} H{x2:.1} V{y2:.1}" fill="none" stroke="#6c757d" stroke-width="1.5"/>"##
        );
    }
    // Influence and conflict lines, under the boxes: a gentle curve from
    // border to border, so only the ends and the open stretches show.
    for e in map.edges.iter().filter(|e| e.kind != EdgeKind::ReportsTo) {
        let (Some(a), Some(b)) = (pos.get(&e.from), pos.get(&e.to)) else {
            continue;
        };
        let ca = (a.0 + BOX_W / 2.0, a.1 + BOX_H / 2.0);
        let cb = (b.0 + BOX_W / 2.0, b.1 + BOX_H / 2.0);
        let (sx, sy) = border_point(ca, cb);
        let (ex, ey) = border_point(cb, ca);
        // Bend sideways: influence one way, conflict the other, so a pair of
        // people with both lines shows two curves.
        let (dx, dy) = (ex - sx, ey - sy);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        let bend = if e.kind == EdgeKind::Influences {
            28.0
        } else {
            -28.0
        };
        let (cx, cy) = (
            (sx + ex) / 2.0 - dy / len * bend,
            (sy + ey) / 2.0 + dx / len * bend,
        );
        let (colour, dash, marker) = match e.kind {
            EdgeKind::Influences => ("#198754", "7,4", "arrow-green"),
            _ => ("#dc3545", "2,4", "tee-red"),
        };
        let _ = writeln!(
            s,
            r##"  <path d="M{sx:.1},{sy:.1} Q{cx:.1},{cy:.1} {ex:.1},{ey:.1}" fill="none" stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}" marker-end="url(#{marker})"/>"##
        );
    }
    for n in &map.nodes {
        let Some(&(x, y)) = pos.get(&n.id) else {
            continue;
        };
        let stroke = if n.key_player { 3.0 } else { 1.0 };
        let _ = writeln!(
            s,
            r##"  <rect x="{x:.1}" y="{y:.1}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="{}" stroke="#343a40" stroke-width="{stroke}"/>"##,
            level_colour(n.level)
        );
        for (i, line) in node_lines(n).iter().enumerate() {
            let (size, weight) = if i == 0 { (14, "bold") } else { (11, "normal") };
            let clipped: String = if line.chars().count() > 37 {
                format!("{}…", line.chars().take(36).collect::<String>())
            } else {
                line.clone()
            };
            let _ = writeln!(
                s,
                r##"  <text x="{:.1}" y="{:.1}" font-size="{size}" font-weight="{weight}" fill="#212529">{}</text>"##,
                x + 10.0,
                y + 19.0 + i as f64 * 17.0,
                xml(&clipped)
            );
        }
        if n.level_gap >= 2 {
            let _ = writeln!(
                s,
                r##"  <circle cx="{:.1}" cy="{:.1}" r="11" fill="#dc3545"/><text x="{:.1}" y="{:.1}" font-size="11" font-weight="bold" fill="#fff" text-anchor="middle">+{}</text>"##,
                x + BOX_W - 4.0,
                y + 4.0,
                x + BOX_W - 4.0,
                y + 8.0,
                n.level_gap
            );
        }
    }
    // Legend.
    let ly = max_y + 10.0;
    let mut lx = MARGIN;
    for (label, level) in [
        ("no relationship", None),
        ("vendor", Some(Level::Vendor)),
        ("credible source", Some(Level::CredibleSource)),
        ("problem solver", Some(Level::ProblemSolver)),
        ("trusted advisor", Some(Level::TrustedAdvisor)),
    ] {
        let _ = writeln!(
            s,
            r##"  <rect x="{lx:.1}" y="{ly:.1}" width="16" height="16" rx="3" fill="{}" stroke="#343a40"/><text x="{:.1}" y="{:.1}" font-size="11" fill="#212529">{label}</text>"##,
            level_colour(level),
            lx + 22.0,
            ly + 12.5
        );
        lx += 135.0;
    }
    let ly2 = ly + 30.0;
    let _ = writeln!(
        s,
        r##"  <text x="{MARGIN}" y="{:.1}" font-size="11" fill="#212529">★ thick border: key player   —  grey lines: reports to   </text>"##,
        ly2 + 12.0
    );
    let _ = writeln!(
        s,
        r##"  <path d="M{:.1},{:.1} h40" stroke="#198754" stroke-width="2" stroke-dasharray="7,4" marker-end="url(#arrow-green)"/><text x="{:.1}" y="{:.1}" font-size="11" fill="#212529">influences</text>"##,
        MARGIN + 330.0,
        ly2 + 8.0,
        MARGIN + 378.0,
        ly2 + 12.0
    );
    let _ = writeln!(
        s,
        r##"  <path d="M{:.1},{:.1} h40" stroke="#dc3545" stroke-width="2" stroke-dasharray="2,4" marker-end="url(#tee-red)"/><text x="{:.1}" y="{:.1}" font-size="11" fill="#212529">opposes</text>"##,
        MARGIN + 460.0,
        ly2 + 8.0,
        MARGIN + 508.0,
        ly2 + 12.0
    );
    let _ = writeln!(
        s,
        r##"  <circle cx="{:.1}" cy="{:.1}" r="9" fill="#dc3545"/><text x="{:.1}" y="{:.1}" font-size="11" fill="#212529">+N: gap of N levels</text>"##,
        MARGIN + 580.0,
        ly2 + 8.0,
        MARGIN + 594.0,
        ly2 + 12.0
    );
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod best_relationship_tests {
    use super::*;
    use crate::model::Person;

    /// Each node's level and holder are those of the relationship a
    /// search of every relationship per person picks (`max_by` of level,
    /// preference, then the first member by name; the last of equals),
    /// over many ties.
    #[test]
    fn the_best_relationship_is_the_one_a_search_picks() {
        let mut data = DocData::default();
        let person = |i: u64| RecordId::from(format!("p{i:02}"));
        for i in 0..12 {
            data.people
                .insert(person(i), Person::named(&format!("P{i}")));
        }
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for i in 0..150 {
            let mut r = Relationship::new(["amy", "bo", "cy"][next(3) as usize], person(next(12)));
            r.level = Level::ALL[next(2) as usize];
            r.preference = Preference::ALL[next(2) as usize];
            r.archived = next(5) == 0;
            data.relationships
                .insert(RecordId::from(format!("r{i:03}")), r);
        }
        let map = build(&data, None);
        assert_eq!(map.nodes.len(), 12);
        for node in &map.nodes {
            let searched = data
                .relationships
                .values()
                .filter(|r| !r.archived && r.person == node.id)
                .max_by(|a, b| {
                    a.level
                        .cmp(&b.level)
                        .then(a.preference.cmp(&b.preference))
                        .then(b.member.cmp(&a.member))
                });
            assert_eq!(node.level, searched.map(|r| r.level), "{}", node.id);
            assert_eq!(
                node.holder,
                searched.map(|r| r.member.clone()),
                "{}",
                node.id
            );
        }
    }
}
