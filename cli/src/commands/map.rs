//! `rapport map`: the relationship map of an account, as SVG, DOT or Mermaid.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context as _;
use rapport_core::analysis::map::{build, to_dot, to_mermaid, to_svg};
use rapport_core::doc::Parts;

use crate::commands::opp::find_opp;
use crate::ctx::Ctx;
use crate::error::user_hint;
use crate::workspace::Workspace;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Svg,
    Dot,
    Mermaid,
}

#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  rapport map \"Acme Logistics\" -o acme.svg\n  rapport map Acme --opp \"Hub network\" --format dot | dot -Tpng > hub.png\n  rapport map Acme --format mermaid"
)]
pub struct Args {
    account: String,
    /// Mark buying roles and preferences on this opportunity.
    #[arg(long, value_name = "OPPORTUNITY")]
    opp: Option<String>,
    #[arg(long, value_enum, default_value = "svg")]
    format: Format,
    /// Write to this file instead of standard output (`-`: standard output).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

pub fn run(ctx: &Ctx, args: Args) -> anyhow::Result<()> {
    let ws = Workspace::open(ctx)?;
    let id = ws.resolve_account(&args.account)?;
    let (doc, opp) = match &args.opp {
        Some(q) => {
            let (d, oid) = find_opp(&ws, q, Some(&args.account), Parts::ANALYSIS)?;
            (d, Some(oid))
        }
        None => (ws.read(id, Parts::ANALYSIS)?, None),
    };
    if doc.data.account.is_none() {
        return Err(user_hint(
            "the personal document has no org chart",
            "name an account",
        ));
    }
    let map = build(&doc.data, opp.as_ref());
    let text = if ctx.out.json {
        serde_json::to_string_pretty(&map)? + "\n"
    } else {
        match args.format {
            Format::Svg => to_svg(&map),
            Format::Dot => to_dot(&map),
            Format::Mermaid => to_mermaid(&map),
        }
    };
    match args.output.as_deref().filter(|p| p.as_os_str() != "-") {
        Some(path) => {
            write_file(path, &text)?;
            ctx.out.done(format!(
                "Wrote the map of {} ({} people) to {}.",
                map.title,
                map.nodes.len(),
                path.display()
            ))
        }
        None => ctx.out.line(text.trim_end()),
    }
}

/// Writes atomically, readable by others like any file you save (0644
/// where permissions apply; the temporary file starts private).
fn write_file(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("could not write in {}", dir.display()))?;
    tmp.write_all(text.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.persist(path)
        .with_context(|| format!("could not write {}", path.display()))?;
    Ok(())
}
