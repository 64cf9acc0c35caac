//! `rapport agenda`: what to do in the coming days, across all documents.

use rapport_core::analysis::agenda::{Window, agenda};
use rapport_core::doc::{DocData, Parts};

use crate::ctx::Ctx;
use crate::workspace::{Scope, Workspace};

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  rapport agenda\n  rapport agenda --days 14 --team\n  rapport agenda --json | jq -r '.[].command'"
)]
pub struct Args {
    /// Look this many days ahead.
    #[arg(long, default_value_t = 7)]
    days: u32,
    /// Include teammates' relationships and plan items, not only yours.
    #[arg(long)]
    team: bool,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let ws = Workspace::open(ctx)?;
    let docs = ws.read_scope(Scope::All, Parts::ANALYSIS)?;
    let data: Vec<&DocData> = docs.iter().map(|d| &d.data).collect();
    let window = Window {
        today: ctx.today,
        days: i64::from(args.days),
        member: if args.team {
            None
        } else {
            Some(ws.me.handle.as_str())
        },
    };
    let items = agenda(&data, window);
    let out = &ctx.out;
    if out.json {
        return out.json(&items);
    }
    if items.is_empty() {
        return out.line(format!("Nothing due in the next {} days.", args.days));
    }
    out.line(out.bold(&format!(
        "Agenda for {} (next {} days)",
        ctx.today, args.days
    )))?;
    for item in &items {
        let when = match item.due {
            Some(d) if item.overdue => format!("{d} ({}d late)", d.days_until(ctx.today)),
            Some(d) if d == ctx.today => format!("{d} (today)"),
            Some(d) => d.to_string(),
            None => "now".to_string(),
        };
        out.line(format!(
            "{when:<22} {:<15} {} · {}: {}",
            item.kind, item.doc, item.subject, item.detail
        ))?;
        out.line(out.dim(&format!("{:<22} → {}", "", item.command)))?;
    }
    Ok(())
}
