//! What the package ships about the command line, generated from its one definition
//! ([`Cli`](super::Cli)): the man page (`gpuwarden man`, roff on stdout) and the shell
//! completions (`gpuwarden completions bash|zsh|fish|elvish|powershell`). Both subcommands are
//! hidden from `--help`: packaging/build-deb.sh runs them, people read their output.

use super::{Cli, EXIT_OK};
use anyhow::{Context, Result};
use clap::{Args, CommandFactory};
use std::io::Write;
use std::process::ExitCode;

#[derive(Clone, Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    #[arg(value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

/// Writes the completion script for `args.shell` on stdout.
pub fn completions(args: &CompletionsArgs) -> Result<ExitCode> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "gpuwarden", &mut out);
    std::io::stdout()
        .write_all(&out)
        .context("writing the completions")?;
    Ok(ExitCode::from(EXIT_OK))
}

/// Writes the man page, gpuwarden(1), on stdout.
pub fn man() -> Result<ExitCode> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .context("rendering the man page")?;
    std::io::stdout()
        .write_all(&out)
        .context("writing the man page")?;
    Ok(ExitCode::from(EXIT_OK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_man_page_names_every_visible_command_and_no_hidden_one() {
        let mut out = Vec::new();
        clap_mangen::Man::new(Cli::command())
            .render(&mut out)
            .unwrap();
        let page = String::from_utf8(out).unwrap();
        assert!(
            page.starts_with(".ie") || page.contains(".TH gpuwarden 1"),
            "{page}"
        );
        for sub in ["top", "watch", "check\\-config", "serve", "bench"] {
            assert!(page.contains(sub), "no {sub} in the man page");
        }
        assert!(
            !page.contains("completions"),
            "hidden commands stay out of the page"
        );
    }
}
