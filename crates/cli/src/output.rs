//! What the commands print and write: a JSON document with `--json`, or lines for a
//! person; failures as one line on stderr (and as JSON on stdout with `--json`); files
//! the user asked for, private ones owner-only.

use crate::failure::{msg, Error};
use std::path::PathBuf;

/// An instance to read (nothing is changed), and the choice of output.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Reading {
    /// The instance directory (made by `shuin init`), read directly; SHUIN_DATA when not
    /// given.
    #[arg(long, value_name = "DIR", env = "SHUIN_DATA")]
    pub(crate) data: PathBuf,
    /// Machine-readable output (JSON).
    #[arg(long)]
    pub(crate) json: bool,
}
use serde_json::Value;

/// `println!` that ends the process quietly when stdout's reader has gone (`shuin ... |
/// head`), as Unix tools do, instead of panicking; SIGPIPE stays ignored, so a peer that
/// goes away never kills a command or a server in the middle of its work.
macro_rules! say {
    () => {
        $crate::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}
pub(crate) use say;

/// Writes `text` to stdout; a closed pipe ends the process with status 141 (as a shell
/// reports a command killed by SIGPIPE), any other failure with status 74 (EX_IOERR).
pub(crate) fn write_stdout(text: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(text).and_then(|()| out.flush()) {
        let code = if e.kind() == std::io::ErrorKind::BrokenPipe {
            141
        } else {
            74
        };
        if code == 74 {
            eprintln!("shuin: writing the output failed: {e}");
        }
        std::process::exit(code);
    }
}
use std::fmt::Display;

/// Prints `result` as JSON, or with `human` otherwise.
pub(crate) fn print(result: &Value, json: bool, human: impl FnOnce(&Value) -> String) {
    if json {
        say!("{result}");
    } else {
        say!("{}", human(result));
    }
}

/// Prints `as_json()` with `--json`, or `text()` for a person.
pub(crate) fn show<J: Display, T: Display>(
    json: bool,
    as_json: impl FnOnce() -> J,
    text: impl FnOnce() -> T,
) {
    if json {
        say!("{}", as_json());
    } else {
        say!("{}", text());
    }
}

/// Prints the answer to a console request of `action` as JSON, or as its text for a
/// person (`shuin_books::console::answers`).
pub(crate) fn print_answer(action: shuin_core::Action, result: &Value, json: bool) {
    match shuin_books::console::answers::answer_text(action, result) {
        Some(text) if !json => say!("{text}"),
        _ => say!("{result}"),
    }
}

/// Prints a failure of `what` (also as JSON with `--json`) and returns it as the error.
pub(crate) fn failed(json: bool, what: &str, error: impl std::fmt::Display) -> Error {
    failure(json, what, None, &error)
}

/// As [`failed`], with the failure's stable reason code first (and in the JSON).
pub(crate) fn failed_with_code(
    json: bool,
    what: &str,
    code: &str,
    error: impl std::fmt::Display,
) -> Error {
    failure(json, what, Some(code), &error)
}

fn failure(json: bool, what: &str, code: Option<&str>, error: &dyn std::fmt::Display) -> Error {
    let error = error.to_string();
    if json {
        let mut answer = serde_json::json!({"ok": false, "error": error});
        if let Some(code) = code {
            answer["code"] = code.into();
        }
        say!("{answer}");
    }
    match code {
        // Some messages open with their code already.
        Some(code) if !error.starts_with(&format!("{code}:")) => {
            msg(format!("{what} FAILED: {code}: {error}"))
        }
        _ => msg(format!("{what} FAILED: {error}")),
    }
}
