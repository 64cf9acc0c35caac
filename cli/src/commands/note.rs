//! stub
#[derive(clap::Subcommand)]
pub enum Cmd { X }
pub fn run(_: &crate::ctx::Ctx, _: Cmd) -> anyhow::Result<()> { Ok(()) }
