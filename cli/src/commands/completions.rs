//! `rapport completions SHELL`.

use clap::CommandFactory;
use clap_complete::Shell;

#[derive(clap::Args)]
#[command(
    after_help = "Example:\n  rapport completions bash > ~/.local/share/bash-completion/completions/rapport\n  rapport completions zsh > ~/.zfunc/_rapport\n  rapport completions fish > ~/.config/fish/completions/rapport.fish"
)]
pub struct Args {
    /// bash, zsh, fish, elvish or powershell.
    shell: Shell,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let mut cmd = crate::cli::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "rapport", &mut std::io::stdout());
    Ok(())
}
