//! `shuin completions SHELL` and `shuin man --out DIR`: shell completions and man pages
//! generated from the command-line definition itself, so they never drift from it.

use crate::failure::{Context, Result};
use clap::CommandFactory;
use std::path::Path;

/// Prints the completion script for `shell` on stdout (a reader that stops early, such
/// as `head`, is not an error).
pub(crate) fn completions<C: CommandFactory>(shell: clap_complete::Shell) -> Result<()> {
    let mut command = C::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "shuin", &mut script);
    match std::io::Write::write_all(&mut std::io::stdout(), &script) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("stdout"),
        _ => Ok(()),
    }
}

/// Writes `shuin.1` and one page per subcommand (`shuin-ledger-verify.1`, ...) into
/// `out` (made if missing); returns how many pages.
pub(crate) fn man_pages<C: CommandFactory>(out: &Path) -> Result<usize> {
    std::fs::create_dir_all(out).context(format!("--out {}", out.display()))?;
    let command = C::command();
    let mut written = 0;
    write_pages(&command, "shuin", out, &mut written)?;
    Ok(written)
}

fn write_pages(command: &clap::Command, name: &str, out: &Path, written: &mut usize) -> Result<()> {
    let page = command.clone().name(name.to_owned());
    let mut bytes = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut bytes)
        .context(format!("rendering the page of {name}"))?;
    let path = out.join(format!("{name}.1"));
    std::fs::write(&path, bytes).context(path.display())?;
    *written += 1;
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let sub_name = format!("{name}-{}", sub.get_name());
        write_pages(sub, &sub_name, out, written)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every argument of every command, by path, that has no help text.
    fn undescribed(command: &clap::Command, path: &str, out: &mut Vec<String>) {
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                out.push(format!("{path} {id}"));
            }
        }
        for sub in command.get_subcommands() {
            undescribed(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_flag_is_described() {
        let mut out = Vec::new();
        undescribed(&crate::Cli::command(), "shuin", &mut out);
        assert!(out.is_empty(), "{} undescribed: {out:#?}", out.len());
    }
}
