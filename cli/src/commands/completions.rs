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
    // Generated into memory first: clap_complete panics when a write to
    // stdout fails, and a closed pipe (`| head`) is not an error.
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "rapport", &mut buf);
    let mut out = std::io::stdout().lock();
    std::io::Write::write_all(&mut out, &buf)?;
    std::io::Write::flush(&mut out)?;
    Ok(())
}
