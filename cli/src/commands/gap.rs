//! `rapport gap`: per key player, where the team stands against where it
//! must be, and what to do about it. `--check` makes it a linter.

use rapport_core::analysis::gap::{GapReport, PlayerGap, Severity, account_gap, opportunity_gap};
use rapport_core::doc::Parts;

use super::cell;
use crate::commands::opp::find_opp;
use crate::ctx::Ctx;
use crate::error::user;
use crate::workspace::{Doc, Workspace};

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  rapport gap \"Acme Logistics\"\n  rapport gap --opp \"Hub network\"\n  rapport gap --check            # every account; exit 1 if a high finding remains\n  rapport gap Acme --json | jq '.[0].findings[].code'"
)]
pub struct Args {
    /// The account (default: every account).
    account: Option<String>,
    /// Analyse one opportunity's key players instead.
    #[arg(long, value_name = "OPPORTUNITY")]
    opp: Option<String>,
    /// Exit with status 1 when any high-severity finding remains.
    #[arg(long)]
    check: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let ws = Workspace::open(ctx)?;
    let reports: Vec<GapReport> = match &args.opp {
        Some(q) => {
            let (d, id) = find_opp(&ws, q, args.account.as_deref(), Parts::ANALYSIS)?;
            opportunity_gap(&d.data, &id).into_iter().collect()
        }
        None => {
            let account = args
                .account
                .as_deref()
                .map(|a| ws.resolve_account(a))
                .transpose()?;
            let mut reports = Vec::new();
            if account.is_none() {
                // Opportunities with personal contacts have key players too.
                let personal = ws.read(ws.personal, Parts::ANALYSIS)?;
                for (oid, o) in &personal.data.opportunities {
                    if o.is_open() && !o.archived {
                        reports.extend(opportunity_gap(&personal.data, oid));
                    }
                }
            }
            // Every account's report is made where its document is read (on
            // a few threads for valid views), and its data dropped then.
            let named = account.is_some();
            let each = |d: Doc| match &d.data.account {
                Some(a) if !a.archived || named => Some(Ok(account_gap(&d.data))),
                Some(_) => None,
                None => Some(Err(())),
            };
            let found = match account {
                Some(id) => vec![each(ws.read(id, Parts::ANALYSIS)?)],
                None => ws.map_accounts(Parts::ANALYSIS, each)?,
            };
            for report in found.into_iter().flatten() {
                match report {
                    Ok(report) => reports.push(report),
                    Err(()) => {
                        return Err(user(
                            "the personal document has no account to analyse; name an account",
                        ));
                    }
                }
            }
            reports
        }
    };
    // With --check the exit status must hold even when the reader of the
    // output went away (`rapport gap --check | head`).
    let printed = print_all(ctx, &reports);
    let high: usize = reports
        .iter()
        .map(|r| {
            r.findings
                .iter()
                .filter(|f| f.severity == Severity::High)
                .count()
        })
        .sum();
    if args.check && high > 0 {
        return Err(user(format!(
            "{high} high-severity finding{} remain",
            if high == 1 { "" } else { "s" }
        )));
    }
    printed
}

fn print_all(ctx: &Ctx, reports: &[GapReport]) -> anyhow::Result<()> {
    if ctx.out.json {
        return ctx.out.json(reports);
    }
    for (i, r) in reports.iter().enumerate() {
        if i > 0 {
            ctx.out.line("")?;
        }
        print_report(ctx, r)?;
    }
    if reports.is_empty() {
        ctx.out
            .line("No accounts to analyse: add one with `rapport account add NAME`.")?;
    }
    Ok(())
}

fn pref_cell(p: &PlayerGap) -> String {
    match (p.preference, p.preference_used) {
        (Some(rec), Some(used)) if rec != used => format!("{rec} (as {used})"),
        (Some(rec), _) => rec.to_string(),
        _ => "-".into(),
    }
}

/// Who holds the account's level, as the report prints them: the first
/// [`HOLDERS_SHOWN`], then how many more (an account of thousands of key
/// players held at one level printed a line of 60 KB; `--json` has them
/// all).
fn holders(held_by: &[(String, String)]) -> String {
    let mut shown: Vec<String> = held_by
        .iter()
        .take(HOLDERS_SHOWN)
        .map(|(m, p)| format!("@{m} with {p}"))
        .collect();
    if held_by.len() > HOLDERS_SHOWN {
        shown.push(format!("and {} more", held_by.len() - HOLDERS_SHOWN));
    }
    shown.join(", ")
}

const HOLDERS_SHOWN: usize = 5;

fn print_report(ctx: &Ctx, r: &GapReport) -> anyhow::Result<()> {
    let out = &ctx.out;
    let heading = match &r.opportunity {
        Some(o) => format!("{} — {o}", r.account),
        None => format!(
            "{}{}",
            r.account,
            if r.target { " (target account)" } else { "" }
        ),
    };
    out.line(out.bold(&heading))?;
    let al = &r.account_level;
    out.fields(&[
        (
            "account level",
            al.current
                .map(|l| format!("{l} ({})", holders(&al.held_by)))
                .unwrap_or_else(|| "none: nobody holds a relationship with a key player".into()),
        ),
        ("desired", cell(&al.desired)),
        (
            "gap",
            if al.desired.is_some() {
                format!("{} level{}", al.gap, if al.gap == 1 { "" } else { "s" })
            } else {
                String::new()
            },
        ),
    ])?;
    out.heading(if r.opportunity.is_some() {
        "Key players on the opportunity"
    } else {
        "Key players"
    })?;
    let with_role = r.opportunity.is_some();
    let rows = r
        .players
        .iter()
        .map(|p| {
            let mut row = vec![p.name.clone()];
            if with_role {
                row.push(cell(&p.role));
            }
            row.extend([
                p.best
                    .as_ref()
                    .map(|b| format!("{} (@{})", b.level, b.member))
                    .unwrap_or_else(|| "none".into()),
                cell(&p.desired_level),
                if p.level_gap > 0 {
                    format!("+{}", p.level_gap)
                } else {
                    "0".into()
                },
                pref_cell(p),
                cell(&p.desired_preference),
                if p.preference_gap > 0 {
                    format!("+{}", p.preference_gap)
                } else {
                    "0".into()
                },
                p.coverage.to_string(),
                p.planned.to_string(),
                p.reason.clone().unwrap_or_default(),
            ]);
            row
        })
        .collect();
    let mut headers = vec!["player"];
    if with_role {
        headers.push("role");
    }
    headers.extend([
        "best level",
        "desired",
        "gap",
        "preference",
        "desired pref",
        "gap",
        "coverage",
        "planned",
        "why that level",
    ]);
    out.table(
        &headers,
        rows,
        "No key players: mark them with `rapport person edit NAME --status inner-circle`.",
    )?;
    if !r.coverage.members.is_empty() {
        out.heading("Team coverage (current/desired level)")?;
        let mut headers = vec!["member"];
        headers.extend(r.coverage.players.iter().map(String::as_str));
        let rows = r
            .coverage
            .members
            .iter()
            .zip(&r.coverage.cells)
            .map(|(m, cells)| {
                let mut row = vec![format!("@{m}")];
                row.extend(cells.iter().map(|c| match c {
                    Some(c) => match c.desired {
                        Some(d) if d != c.level => format!("{}/{d}", c.level),
                        _ => c.level.to_string(),
                    },
                    None => "-".into(),
                }));
                row
            })
            .collect();
        out.table(&headers, rows, "")?;
    }
    out.heading(&format!("Findings ({})", r.findings.len()))?;
    if r.findings.is_empty() {
        return out.line(out.dim("None: the map is complete and every gap is planned for."));
    }
    for f in &r.findings {
        let sev = match f.severity {
            Severity::High if out.color => "\x1b[31mhigh\x1b[0m    ".to_string(),
            s => format!("{:<8}", s.as_str()),
        };
        out.line(format!("{sev}{:<30} {}", f.code, f.message))?;
        out.line(format!("        {:<30} → {}", "", f.suggestion))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holders_printed_stop_after_a_few() {
        let held = |n: usize| -> Vec<(String, String)> {
            (0..n).map(|i| ("sam".into(), format!("P{i}"))).collect()
        };
        assert_eq!(holders(&held(0)), "");
        assert_eq!(holders(&held(2)), "@sam with P0, @sam with P1");
        assert_eq!(
            holders(&held(5)),
            "@sam with P0, @sam with P1, @sam with P2, @sam with P3, @sam with P4"
        );
        assert_eq!(
            holders(&held(2500)),
            "@sam with P0, @sam with P1, @sam with P2, @sam with P3, @sam with P4, and 2495 more"
        );
    }
}
