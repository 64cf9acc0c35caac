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
    // One write for the whole agenda: it can run to thousands of lines,
    // so each is written in place rather than formatted on its own.
    let mut text = out.bold(&format!(
        "Agenda for {} (next {} days)",
        ctx.today, args.days
    ));
    // The dimmed line is "<22 spaces> → command"; the styling around it
    // is whatever `dim` puts around any text.
    let dimmed = out.dim("\0");
    let (dim_start, arrow_end) = dimmed.split_once('\0').unwrap_or(("", ""));
    let arrow = format!("{dim_start}{:<22} → ", "");
    // Room for every line, so the text is not copied as it grows: the
    // fields, the styling, and the date, kind and separators (under 64).
    let fixed = 64 + arrow.len() + arrow_end.len();
    text.reserve(
        items
            .iter()
            .map(|i| fixed + i.doc.len() + i.subject.len() + i.detail.len() + i.command.len())
            .sum(),
    );
    for item in &items {
        text.push('\n');
        let start = text.len();
        // Writing to a String cannot fail.
        let _ = match item.due {
            Some(d) if item.overdue => write!(text, "{d} ({}d late)", d.days_until(ctx.today)),
            Some(d) if d == ctx.today => write!(text, "{d} (today)"),
            Some(d) => write!(text, "{d}"),
            None => write!(text, "now"),
        };
        pad(&mut text, start, 22);
        text.push(' ');
        let start = text.len();
        text.push_str(item.kind);
        pad(&mut text, start, 15);
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
    }
    out.line(text)
}

/// Pads what was written since `start` with spaces to `width` characters,
/// as `{:<width$}` does.
fn pad(text: &mut String, start: usize, width: usize) {
    let written = text[start..].chars().count();
    text.extend(std::iter::repeat_n(' ', width.saturating_sub(written)));
}
