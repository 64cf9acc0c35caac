//! `rapport note`: private notes. They live in the personal document only
//! and never reach teammates.

use clap::Subcommand;
use rapport_core::doc::{self, Collection, DocData, Parts};
use rapport_core::model::PrivateNote;
use rapport_core::values::validate_name;
use rapport_core::{Notes, RecordId};

use crate::ctx::Ctx;
use crate::render::Rec;
use crate::render::archived_mark;
use crate::workspace::{Named, Workspace, find};

#[derive(Subcommand)]
#[command(defer = true)]
pub enum Cmd {
    /// Write a private note.
    #[command(
        after_help = "Example:\n  rapport note add \"Acme politics\" --body \"Ana and Bo disagree on the 2027 budget\""
    )]
    Add {
        title: String,
        #[arg(long)]
        body: Option<String>,
    },
    /// List private notes.
    #[command(after_help = "Example:\n  rapport note list")]
    List {
        /// Include archived records.
        #[arg(long)]
        all: bool,
    },
    /// Show a private note.
    #[command(after_help = "Example:\n  rapport note show politics")]
    Show { note: String },
    /// Replace a note's body, or add a line with --append.
    #[command(
        after_help = "Example:\n  rapport note edit politics --append \"Bo is leaving in March\""
    )]
    Edit {
        note: String,
        #[arg(long)]
        title: Option<String>,
        #[arg(long)]
        body: Option<String>,
        #[arg(long)]
        append: Option<String>,
    },
    /// Archive a note; `--restore` undoes it, `--purge` deletes it.
    #[command(after_help = "Example:\n  rapport note archive politics")]
    Archive {
        note: String,
        /// Bring an archived record back.
        #[arg(long)]
        restore: bool,
        /// Delete for good instead of archiving.
        #[arg(long, conflicts_with = "restore")]
        purge: bool,
    },
}

fn titles(data: &DocData) -> Vec<Named> {
    data.private_notes
        .iter()
        .map(|(id, n)| Named {
            id: id.clone(),
            name: n.title.clone(),
            email: None,
            archived: n.archived,
        })
        .collect()
}

pub fn run(ctx: &Ctx, cmd: Cmd) -> anyhow::Result<()> {
    let ws = Workspace::open(ctx)?;
    let doc = ws.read(ws.personal, Parts::NONE)?;
    let docs = std::slice::from_ref(&doc);
    match cmd {
        Cmd::Add { title, body } => {
            let note = PrivateNote {
                title: validate_name("title", &title)?,
                body: Notes::new(body.as_deref().unwrap_or("")),
                archived: false,
                created: Some(ctx.today),
            };
            let id = RecordId::random();
            ws.append(
                ws.personal,
                |am| Ok(doc::put_record(am, Collection::PrivateNotes, &id, &note)?),
                |data, _| {
                    data.private_notes.insert(id.clone(), note.clone());
                },
            )?;
            if ctx.out.json {
                return ctx.out.json(&Rec::new(&doc, &id, &note));
            }
            ctx.out.done(format!(
                "Saved private note {} ({}).",
                note.title,
                id.short()
            ))
        }
        Cmd::List { all } => {
            let mut rows: Vec<_> = doc
                .data
                .private_notes
                .iter()
                .filter(|(_, n)| all || !n.archived)
                .collect();
            rows.sort_by_cached_key(|(_, n)| (n.created, n.title.to_lowercase()));
            if ctx.out.json {
                return ctx.out.json(
                    &rows
                        .iter()
                        .map(|(id, n)| Rec::new(&doc, id, *n))
                        .collect::<Vec<_>>(),
                );
            }
            let table = rows
                .iter()
                .map(|(id, n)| {
                    vec![
                        format!("{}{}", n.title, archived_mark(n.archived)),
                        super::cell(&n.created),
                        id.short().to_string(),
                    ]
                })
                .collect();
            ctx.out.table(
                &["title", "created", "id"],
                table,
                "No private notes: `rapport note add TITLE --body TEXT`.",
            )
        }
        Cmd::Show { note } => {
            let (_, id) = find(docs, "note", &note, titles)?;
            let n = &doc.data.private_notes[&id];
            if ctx.out.json {
                return ctx.out.json(&Rec::new(&doc, &id, n));
            }
            ctx.out.line(ctx.out.bold(&n.title))?;
            ctx.out.line(n.body.as_str())
        }
        Cmd::Edit {
            note,
            title,
            body,
            append,
        } => {
            let (_, id) = find(docs, "note", &note, titles)?;
            let title = title
                .as_deref()
                .map(|t| validate_name("title", t))
                .transpose()?;
            // Written without loading the personal document where the
            // field index allows.
            ws.update(ws.personal, &id, Parts::NONE, |_, n: &mut PrivateNote| {
                super::apply(&mut n.title, title.clone());
                if let Some(b) = &body {
                    n.body.set(b);
                }
                if let Some(a) = &append {
                    n.body.append(a);
                }
                Ok(())
            })?;
            ctx.out.done("Updated the note.")
        }
        Cmd::Archive {
            note,
            restore,
            purge,
        } => {
            let (_, id) = find(docs, "note", &note, titles)?;
            let verb = super::archive_record(
                &ws,
                ws.personal,
                Collection::PrivateNotes,
                &id,
                restore,
                purge,
            )?;
            ctx.out.done(format!(
                "{verb} the note {}.",
                doc.data.private_notes[&id].title
            ))
        }
    }
}
