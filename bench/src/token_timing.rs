//! token-timing: does the relay's token check take longer the more of a
//! token matches? Times `Registry::authenticate` for a valid token and for
//! wrong tokens that share none, half, or all but the last character with
//! it, interleaved so drift hits every kind alike, and prints the median
//! and p99 of each and its difference from the no-match case.
//!
//! `cargo run --release -p rapport-bench --bin token-timing [-- --samples N --batch N --members N]`
//!
//! A table, not a test: wall time is never asserted (see docs/security.md).

use std::hint::black_box;
use std::time::Instant;

use anyhow::Result;
use clap::Parser;
use rapport_relay::teams::Registry;

#[derive(Parser)]
struct Args {
    /// Timed batches per kind of token.
    #[arg(long, default_value_t = 20_000)]
    samples: usize,
    /// Calls per timed batch (one call is shorter than the clock's grain).
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Members in the registry (every one is compared on every call).
    #[arg(long, default_value_t = 30)]
    members: usize,
}

/// The same length as `token`, with no character in the same place.
fn shares_none(token: &str) -> String {
    token
        .chars()
        .map(|c| if c == 'z' { 'y' } else { 'z' })
        .collect()
}

/// `token`'s first `keep` characters, then different ones.
fn shares_prefix(token: &str, keep: usize) -> String {
    let tail = shares_none(&token[keep..]);
    format!("{}{tail}", &token[..keep])
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() -> Result<()> {
    let args = Args::parse();
    let mut registry = Registry::default();
    let mut target = String::new();
    for team in 0..3 {
        let name = format!("team{team}");
        registry.add_team(&name)?;
        for m in 0..args.members.div_ceil(3) {
            let token = registry.add_member(&name, &format!("m{m}"), false)?;
            if team == 1 && m == 0 {
                target = token;
            }
        }
    }
    let n = target.len();
    let kinds: [(&str, String); 4] = [
        ("shares 0 characters", shares_none(&target)),
        ("shares half", shares_prefix(&target, n / 2)),
        ("shares all but the last", shares_prefix(&target, n - 1)),
        ("the valid token", target.clone()),
    ];
    for (what, token) in &kinds {
        let valid = registry.authenticate(token).is_some();
        assert_eq!(valid, *what == "the valid token", "{what}");
    }

    // Warm up, then interleave: one batch of each kind per round.
    for _ in 0..1000 {
        for (_, token) in &kinds {
            black_box(registry.authenticate(black_box(token)));
        }
    }
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(args.samples); kinds.len()];
    for _ in 0..args.samples {
        for (i, (_, token)) in kinds.iter().enumerate() {
            let start = Instant::now();
            for _ in 0..args.batch {
                black_box(registry.authenticate(black_box(token)));
            }
            times[i].push(start.elapsed().as_nanos() as f64 / args.batch as f64);
        }
    }

    println!(
        "Registry::authenticate, {} members, token of {n} characters, {} samples x {} calls per kind",
        registry
            .teams
            .values()
            .map(|t| t.members.len())
            .sum::<usize>(),
        args.samples,
        args.batch
    );
    println!(
        "{:<26} {:>11} {:>11} {:>18}",
        "token", "median ns", "p99 ns", "median vs 0 shared"
    );
    let mut base = None;
    for ((what, _), samples) in kinds.iter().zip(&mut times) {
        samples.sort_by(f64::total_cmp);
        let median = percentile(samples, 0.5);
        let base = *base.get_or_insert(median);
        println!(
            "{what:<26} {median:>11.0} {:>11.0} {:>+17.1}%",
            percentile(samples, 0.99),
            (median / base - 1.0) * 100.0
        );
    }
    Ok(())
}
