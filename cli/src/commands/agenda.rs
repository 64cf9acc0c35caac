//! `rapport agenda`: what to do in the coming days, across all documents.

use std::fmt::Write as _;

use rapport_core::analysis::agenda::{self, Window};

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
    let selections = ws.agenda(window)?;
    let items = agenda::sorted(&selections);
    let out = &ctx.out;
    if out.json {
        return out.json(&items);
    }
    if items.is_empty() {
        return out.line(format!("Nothing due in the next {} days.", args.days));
    }
    // The agenda can run to thousands of lines: each is written in place
    // rather than formatted on its own, and written out in pieces.
    let mut chunked = out.chunked();
    chunked.text().push_str(&out.bold(&format!(
        "Agenda for {} (next {} days)",
        ctx.today, args.days
    )));
    // The dimmed line is "<22 spaces> → command"; the styling around it
    // is whatever `dim` puts around any text.
    let dimmed = out.dim("\0");
    let (dim_start, arrow_end) = dimmed.split_once('\0').unwrap_or(("", ""));
    let arrow = format!("{dim_start}{:<22} → ", "");
    for item in items.iter() {
        let text = chunked.text();
        text.push('\n');
        let start = text.len();
        // Writing to a String cannot fail.
        let _ = match item.due {
            Some(d) if item.overdue => write!(text, "{d} ({}d late)", d.days_until(ctx.today)),
            Some(d) if d == ctx.today => write!(text, "{d} (today)"),
            Some(d) => write!(text, "{d}"),
            None => write!(text, "now"),
        };
        pad(text, start, 22);
        text.push(' ');
        let start = text.len();
        text.push_str(item.kind);
        pad(text, start, 15);
        for part in [
            " ",
            item.doc,
            " · ",
            item.subject,
            ": ",
            item.detail,
            "\n",
            &arrow,
            item.command,
            arrow_end,
        ] {
            text.push_str(part);
        }
        chunked.line_done()?;
    }
    chunked.text().push('\n');
    Ok(chunked.finish()?)
}

/// Pads what was written since `start` with spaces to `width` characters,
/// as `{:<width$}` does.
fn pad(text: &mut String, start: usize, width: usize) {
    let written = text[start..].chars().count();
    text.extend(std::iter::repeat_n(' ', width.saturating_sub(written)));
}
