//! `rapport`: the local-first relationship planner. See `docs/cli.md`.

mod cli;
mod commands;
mod ctx;
mod demo;
mod error;
mod output;
mod remotes;
mod render;
mod workspace;

fn main() -> std::process::ExitCode {
    error::exit(cli::run())
}
