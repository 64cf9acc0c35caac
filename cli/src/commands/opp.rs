//! `rapport opp`: opportunities. Dated, moving through stages, and always
//! ending (won, lost or dropped). Closing one never touches a relationship.

use clap::Subcommand;
use rapport_core::RecordId;
use rapport_core::doc::{self, Collection, DocData, Parts};
use rapport_core::enums::{BuyingRole, OpportunityKind, OpportunityStatus, Preference};
use rapport_core::model::{KeyPlayer, Opportunity};
use rapport_core::values::{validate_currency, validate_name, validate_range};

use super::{apply, cell, day_edit, parse_day, parse_opt, text_edit};
use crate::ctx::Ctx;
use crate::error::{user, user_hint};
use crate::render::archived_mark;
use crate::render::{Rec, person_name};
use crate::workspace::{Doc, Named, Workspace, find_person};

#[derive(Subcommand)]
#[command(defer = true)]
pub enum Cmd {
    /// Add an opportunity with an account (or, with --person, with one contact).
    #[command(
        after_help = "Example:\n  rapport opp add \"2027 logistics audit\" --account Acme --decision-date 2027-02-15 --value 40000 --currency EUR --probability 40\n  rapport opp add \"Guest post on their blog\" --person \"Rui Freelancer\" --kind guest-post"
    )]
    Add {
        title: String,
        #[arg(long)]
        account: Option<String>,
        /// The contact it is with (the opportunity lives in their document).
        #[arg(long)]
        person: Option<String>,
        #[command(flatten)]
        fields: Fields,
    },
    /// List opportunities (open ones unless --status says otherwise).
    #[command(after_help = "Example:\n  rapport opp list --status all --json")]
    List {
        #[arg(long)]
        account: Option<String>,
        /// open, won, lost, dropped, or all.
        #[arg(long, default_value = "open")]
        status: String,
        /// Include archived opportunities.
        #[arg(long)]
        all: bool,
    },
    /// Show an opportunity with its key players.
    #[command(after_help = "Example:\n  rapport opp show audit")]
    Show {
        opportunity: String,
        #[arg(long)]
        account: Option<String>,
    },
    /// Change an opportunity (an empty value clears a field).
    #[command(
        after_help = "Example:\n  rapport opp edit audit --stage proposed --next-step \"send the proposal\""
    )]
    Edit {
        opportunity: String,
        #[arg(long)]
        account: Option<String>,
        #[arg(long)]
        title: Option<String>,
        #[command(flatten)]
        fields: Fields,
        /// Reopen a closed opportunity (clears the close date and reason).
        #[arg(long)]
        reopen: bool,
    },
    /// Close an opportunity: won, lost or dropped.
    #[command(
        after_help = "Example:\n  rapport opp close audit --status won --reason \"scope matched their Q1 plan\""
    )]
    Close {
        opportunity: String,
        #[arg(long)]
        account: Option<String>,
        /// won, lost or dropped.
        #[arg(long)]
        status: String,
        #[arg(long)]
        reason: Option<String>,
        /// The close date (default: today).
        #[arg(long, allow_hyphen_values = true)]
        date: Option<String>,
    },
    /// Archive an opportunity; `--restore` undoes it, `--purge` deletes it.
    #[command(after_help = "Example:\n  rapport opp archive audit")]
    Archive {
        opportunity: String,
        #[arg(long)]
        account: Option<String>,
        /// Bring an archived record back.
        #[arg(long)]
        restore: bool,
        /// Delete for good instead of archiving.
        #[arg(long, conflicts_with = "restore")]
        purge: bool,
    },
    /// Key players: who has which buying role.
    #[command(subcommand)]
    Player(PlayerCmd),
}

#[derive(Subcommand)]
#[command(defer = true)]
pub enum PlayerCmd {
    /// Add a key player, or change their role.
    #[command(
        after_help = "Example:\n  rapport opp player add audit \"Ana Silva\" --role decision-maker --preference supporter"
    )]
    Add {
        opportunity: String,
        person: String,
        #[arg(long)]
        account: Option<String>,
        /// decision-maker, approver, evaluator, influencer, user, other.
        #[arg(long)]
        role: String,
        /// Their support on this opportunity: enemy, non-supporter, neutral, supporter, mentor.
        #[arg(long)]
        preference: Option<String>,
    },
    /// Remove a key player.
    #[command(after_help = "Example:\n  rapport opp player remove audit \"Ana Silva\"")]
    Remove {
        opportunity: String,
        person: String,
        #[arg(long)]
        account: Option<String>,
    },
}

#[derive(clap::Args, Clone)]
pub struct Fields {
    /// project, partnership, introduction, interview, referral, guest-post, other.
    #[arg(long)]
    kind: Option<String>,
    /// Any stage name (default stages: identified, qualified, proposed, negotiating).
    #[arg(long)]
    stage: Option<String>,
    /// Expected decision date.
    #[arg(long, allow_hyphen_values = true, value_name = "DATE")]
    decision_date: Option<String>,
    /// Value in whole units of --currency.
    #[arg(long)]
    value: Option<String>,
    #[arg(long)]
    currency: Option<String>,
    /// Probability in percent, 0-100.
    #[arg(long)]
    probability: Option<String>,
    #[arg(long)]
    next_step: Option<String>,
    #[arg(long)]
    notes: Option<String>,
}

fn number(field: &str, v: Option<&str>, min: i64, max: i64) -> anyhow::Result<Option<Option<i64>>> {
    match v {
        None => Ok(None),
        Some(s) if s.trim().is_empty() => Ok(Some(None)),
        Some(s) => {
            let clean: String = s
                .trim()
                .trim_end_matches('%')
                .chars()
                .filter(|c| *c != '_' && *c != ',')
                .collect();
            let n: i64 = clean
                .parse()
                .map_err(|_| rapport_core::Error::InvalidValue {
                    field: field.into(),
                    value: s.into(),
                    allowed: format!("a whole number from {min} to {max}"),
                })?;
            Ok(Some(Some(validate_range(field, n, min, max)?)))
        }
    }
}

fn apply_fields(ctx: &Ctx, o: &mut Opportunity, f: Fields) -> anyhow::Result<()> {
    if let Some(k) = f.kind.as_deref() {
        o.kind = k.parse::<OpportunityKind>()?;
    }
    if let Some(s) = f.stage {
        o.stage = validate_name("stage", &s)?.to_lowercase();
    }
    apply(
        &mut o.decision_date,
        day_edit(ctx, f.decision_date.as_deref())?,
    );
    apply(
        &mut o.value,
        number("value", f.value.as_deref(), 0, i64::MAX / 2)?,
    );
    if let Some(c) = f.currency {
        o.currency = if c.trim().is_empty() {
            None
        } else {
            Some(validate_currency(&c)?)
        };
    }
    apply(
        &mut o.probability,
        number("probability", f.probability.as_deref(), 0, 100)?.map(|p| p.map(|v| v as u8)),
    );
    apply(&mut o.next_step, text_edit(f.next_step));
    if let Some(n) = &f.notes {
        o.notes.set(n);
    }
    Ok(())
}

fn titles(data: &DocData) -> Vec<Named> {
    data.opportunities
        .iter()
        .map(|(id, o)| Named {
            id: id.clone(),
            name: o.title.clone(),
            email: None,
            archived: o.archived,
        })
        .collect()
}

/// Finds an opportunity; returns its document and id.
pub fn find_opp(
    ws: &Workspace,
    query: &str,
    account: Option<&str>,
    parts: Parts,
) -> anyhow::Result<(Doc, RecordId)> {
    ws.find_one(
        account,
        Parts {
            opportunities: true,
            ..parts
        },
        "opportunity",
        query,
        titles,
    )
}

pub fn run(ctx: &Ctx, cmd: Cmd) -> anyhow::Result<()> {
    let ws = Workspace::open(ctx)?;
    match cmd {
        Cmd::Add {
            title,
            account,
            person,
            fields,
        } => add(&ws, &title, account.as_deref(), person.as_deref(), fields),
        Cmd::List {
            account,
            status,
            all,
        } => list(&ws, account.as_deref(), &status, all),
        Cmd::Show {
            opportunity,
            account,
        } => show(&ws, &opportunity, account.as_deref()),
        Cmd::Edit {
            opportunity,
            account,
            title,
            fields,
            reopen,
        } => {
            let title = title
                .as_deref()
                .map(|t| validate_name("title", t))
                .transpose()?;
            update(&ws, &opportunity, account.as_deref(), "Updated", |o| {
                apply(&mut o.title, title.clone());
                if reopen {
                    o.status = OpportunityStatus::Open;
                    o.closed_on = None;
                    o.close_reason = None;
                }
                apply_fields(ctx, o, fields.clone())
            })
        }
        Cmd::Close {
            opportunity,
            account,
            status,
            reason,
            date,
        } => {
            let status: OpportunityStatus = status.parse()?;
            if status == OpportunityStatus::Open {
                return Err(user(
                    "an opportunity closes as won, lost or dropped, not open",
                ));
            }
            let date = parse_day(ctx, date.as_deref())?.unwrap_or(ctx.today);
            update(&ws, &opportunity, account.as_deref(), "Closed", |o| {
                o.status = status;
                o.closed_on = Some(date);
                o.close_reason = text_edit(reason.clone()).flatten();
                Ok(())
            })
        }
        Cmd::Archive {
            opportunity,
            account,
            restore,
            purge,
        } => {
            let (d, id) = find_opp(&ws, &opportunity, account.as_deref(), Parts::NONE)?;
            let verb =
                super::archive_record(&ws, d.id, Collection::Opportunities, &id, restore, purge)?;
            ctx.out
                .done(format!("{verb} {}.", d.data.opportunities[&id].title))
        }
        Cmd::Player(PlayerCmd::Add {
            opportunity,
            person,
            account,
            role,
            preference,
        }) => {
            let role: BuyingRole = role.parse()?;
            let preference = parse_opt::<Preference>(preference.as_deref())?;
            player(
                &ws,
                &opportunity,
                &person,
                account.as_deref(),
                Some(KeyPlayer { role, preference }),
            )
        }
        Cmd::Player(PlayerCmd::Remove {
            opportunity,
            person,
            account,
        }) => player(&ws, &opportunity, &person, account.as_deref(), None),
    }
}

fn add(
    ws: &Workspace,
    title: &str,
    account: Option<&str>,
    person: Option<&str>,
    f: Fields,
) -> anyhow::Result<()> {
    let title = validate_name("title", title)?;
    let (target, person_id) = match (account, person) {
        (_, Some(p)) => {
            let mut docs = ws.read_scope(ws.scope(account)?, Parts::PEOPLE)?;
            let (i, pid) = find_person(&docs, p)?;
            (docs.swap_remove(i).id, Some(pid))
        }
        (Some(a), None) => (ws.resolve_account(a)?, None),
        (None, None) => {
            return Err(user_hint(
                "an opportunity needs an --account or a --person",
                "e.g. `rapport opp add TITLE --account Acme`",
            ));
        }
    };
    let mut o = Opportunity::new(&title, Some(ws.ctx.today));
    o.person = person_id;
    apply_fields(ws.ctx, &mut o, f)?;
    let id = RecordId::random();
    // A new record under a fresh id: appended without loading the
    // document where its view allows.
    ws.append(
        target,
        |am| Ok(doc::put_record(am, Collection::Opportunities, &id, &o)?),
        |data, _| {
            data.opportunities.insert(id.clone(), o.clone());
        },
    )?;
    let label = ws.read(target, Parts::NONE)?.label();
    if ws.ctx.out.json {
        return ws.ctx.out.json(
            &serde_json::json!({ "id": id, "doc": target, "doc_name": label, "opportunity": o }),
        );
    }
    ws.ctx.out.done(format!(
        "Added opportunity {} ({}) to {label}.",
        o.title,
        id.short()
    ))?;
    ws.ctx
        .out
        .done("Next: name its key players with `rapport opp player add OPP PERSON --role ROLE`.")
}

fn list(ws: &Workspace, account: Option<&str>, status: &str, all: bool) -> anyhow::Result<()> {
    let status = if status.eq_ignore_ascii_case("all") {
        None
    } else {
        Some(status.parse::<OpportunityStatus>()?)
    };
    let docs = ws.read_scope(
        ws.scope(account)?,
        Parts {
            opportunities: true,
            people: true,
            ..Parts::NONE
        },
    )?;
    let mut rows = Vec::new();
    for d in &docs {
        for (id, o) in &d.data.opportunities {
            if (!all && o.archived) || status.is_some_and(|s| s != o.status) {
                continue;
            }
            rows.push((d, id, o));
        }
    }
    rows.sort_by_cached_key(|(d, _, o)| {
        (
            o.decision_date.is_none(),
            o.decision_date,
            d.label(),
            o.title.clone(),
        )
    });
    let out = &ws.ctx.out;
    if out.json {
        return out.json(
            &rows
                .iter()
                .map(|(d, id, o)| Rec::new(d, id, *o))
                .collect::<Vec<_>>(),
        );
    }
    let table = rows
        .iter()
        .map(|(d, id, o)| {
            vec![
                format!("{}{}", o.title, archived_mark(o.archived)),
                o.person
                    .as_ref()
                    .map(|p| person_name(d, p))
                    .unwrap_or_else(|| d.label()),
                o.kind.to_string(),
                if o.is_open() {
                    o.stage.clone()
                } else {
                    o.status.to_string()
                },
                cell(&o.decision_date),
                o.value
                    .map(|v| {
                        format!("{v} {}", o.currency.clone().unwrap_or_default())
                            .trim()
                            .to_string()
                    })
                    .unwrap_or_default(),
                o.probability.map(|p| format!("{p}%")).unwrap_or_default(),
                o.players.len().to_string(),
                id.short().to_string(),
            ]
        })
        .collect();
    out.table(
        &[
            "title",
            "with",
            "kind",
            "stage/status",
            "decision",
            "value",
            "prob",
            "players",
            "id",
        ],
        table,
        "No opportunities match.",
    )
}

fn show(ws: &Workspace, query: &str, account: Option<&str>) -> anyhow::Result<()> {
    let (d, id) = find_opp(
        ws,
        query,
        account,
        Parts {
            people: true,
            relationships: true,
            ..Parts::NONE
        },
    )?;
    let o = &d.data.opportunities[&id];
    let out = &ws.ctx.out;
    if out.json {
        let players: Vec<_> = sorted_players(&d, o)
            .into_iter()
            .map(|(pid, kp)| serde_json::json!({ "person": pid, "person_name": person_name(&d, pid), "role": kp.role, "preference": kp.preference }))
            .collect();
        return out
            .json(&serde_json::json!({ "opportunity": Rec::new(&d, &id, o), "players": players }));
    }
    out.line(out.bold(&o.title))?;
    out.fields(&[
        ("id", id.to_string()),
        (
            "with",
            o.person
                .as_ref()
                .map(|p| person_name(&d, p))
                .unwrap_or_else(|| d.label()),
        ),
        ("kind", o.kind.to_string()),
        ("status", o.status.to_string()),
        ("stage", o.stage.clone()),
        ("decision date", cell(&o.decision_date)),
        (
            "value",
            o.value
                .map(|v| {
                    format!("{v} {}", o.currency.clone().unwrap_or_default())
                        .trim()
                        .to_string()
                })
                .unwrap_or_default(),
        ),
        (
            "probability",
            o.probability.map(|p| format!("{p}%")).unwrap_or_default(),
        ),
        ("next step", cell(&o.next_step)),
        (
            "closed",
            o.closed_on
                .map(|c| {
                    format!("{c} {}", o.close_reason.clone().unwrap_or_default())
                        .trim()
                        .to_string()
                })
                .unwrap_or_default(),
        ),
        ("notes", o.notes.as_str().to_string()),
    ])?;
    out.heading("Key players")?;
    let rows = sorted_players(&d, o)
        .into_iter()
        .map(|(pid, kp)| {
            let rel_pref = d
                .data
                .relationships
                .values()
                .filter(|r| &r.person == pid && !r.archived)
                .map(|r| r.preference)
                .max();
            vec![
                person_name(&d, pid),
                kp.role.to_string(),
                kp.preference
                    .or(rel_pref)
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    out.table(
        &["person", "role", "preference"],
        rows,
        "No key players yet: `rapport opp player add OPP PERSON --role ROLE`.",
    )
}

/// Key players by role (decision makers first), then name.
fn sorted_players<'a>(d: &Doc, o: &'a Opportunity) -> Vec<(&'a RecordId, &'a KeyPlayer)> {
    let mut players: Vec<_> = o.players.iter().collect();
    players.sort_by_key(|(pid, kp)| (kp.role, person_name(d, pid)));
    players
}

fn update(
    ws: &Workspace,
    query: &str,
    account: Option<&str>,
    verb: &str,
    change: impl Fn(&mut Opportunity) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let (d, id) = find_opp(ws, query, account, Parts::NONE)?;
    let (o, ()) = ws.update(d.id, &id, Parts::NONE, |_, o| change(o))?;
    if ws.ctx.out.json {
        return ws.ctx.out.json(&Rec::new(&d, &id, &o));
    }
    ws.ctx.out.done(format!("{verb} {}.", o.title))
}

fn player(
    ws: &Workspace,
    query: &str,
    person: &str,
    account: Option<&str>,
    kp: Option<KeyPlayer>,
) -> anyhow::Result<()> {
    let (d, id) = find_opp(ws, query, account, Parts::PEOPLE)?;
    let (_, pid) = find_person(std::slice::from_ref(&d), person).map_err(|e| {
        user_hint(
            format!("{e:#}"),
            format!("key players must be people of {}", d.label()),
        )
    })?;
    let name = person_name(&d, &pid);
    let title = d.data.opportunities[&id].title.clone();
    // Written without loading the document where its field index allows.
    ws.update(d.id, &id, Parts::NONE, |_, o: &mut Opportunity| {
        match &kp {
            Some(kp) => {
                o.players.insert(pid.clone(), kp.clone());
            }
            None => {
                if o.players.remove(&pid).is_none() {
                    return Err(user(format!("{name} is not a key player on {title}")));
                }
            }
        }
        Ok(())
    })?;
    match kp {
        Some(kp) => ws
            .ctx
            .out
            .done(format!("{name} is {} on {title}.", kp.role)),
        None => ws.ctx.out.done(format!("Removed {name} from {title}.")),
    }
}
