//! `rapport agenda`: what to do in the coming days, across all documents.

use rapport_core::analysis::agenda::Window;

use crate::ctx::Ctx;
use crate::workspace::Workspace;

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
    let window = Window {
        today: ctx.today,
        days: i64::from(args.days),
        member: if args.team {
            None
        } else {
            Some(ws.me.handle.as_str())
        },
    };
    let items = ws.agenda(window)?;
    let out = &ctx.out;
    if out.json {
        return out.json(&items);
    }
    if items.is_empty() {
        return out.line(format!("Nothing due in the next {} days.", args.days));
    }
    // One write for the whole agenda: it can run to thousands of lines.
    let mut text = out.bold(&format!(
        "Agenda for {} (next {} days)",
        ctx.today, args.days
    ));
    for item in &items {
        let when = match item.due {
            Some(d) if item.overdue => format!("{d} ({}d late)", d.days_until(ctx.today)),
            Some(d) if d == ctx.today => format!("{d} (today)"),
            Some(d) => d.to_string(),
            None => "now".to_string(),
        };
        text.push_str(&format!(
            "\n{when:<22} {:<15} {} · {}: {}\n",
            item.kind, item.doc, item.subject, item.detail
        ));
        text.push_str(&out.dim(&format!("{:<22} → {}", "", item.command)));
    }
    out.line(text)
}
