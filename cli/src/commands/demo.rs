//! stub
#[derive(clap::Args)]
pub struct Args {}
pub fn run(_: &crate::ctx::Ctx, _: Args) -> anyhow::Result<()> { Ok(()) }
