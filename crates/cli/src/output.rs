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
use std::fmt::Display;

/// Prints `result` as JSON, or with `human` otherwise.
pub(crate) fn print(result: &Value, json: bool, human: impl FnOnce(&Value) -> String) {
    if json {
        println!("{result}");
    } else {
        println!("{}", human(result));
    }
}

/// Prints `as_json()` with `--json`, or `text()` for a person.
pub(crate) fn show<J: Display, T: Display>(
    json: bool,
    as_json: impl FnOnce() -> J,
    text: impl FnOnce() -> T,
) {
    if json {
        println!("{}", as_json());
    } else {
        println!("{}", text());
    }
}

/// Prints the answer to a console request of `action` as JSON, or as its text for a
/// person (`shuin_books::console::answers`).
pub(crate) fn print_answer(action: shuin_core::Action, result: &Value, json: bool) {
    match shuin_books::console::answers::answer_text(action, result) {
        Some(text) if !json => println!("{text}"),
        _ => println!("{result}"),
    }
}

/// Prints a failure of `what` (also as JSON with `--json`) and returns it as the error.
pub(crate) fn failed(json: bool, what: &str, error: impl std::fmt::Display) -> Error {
    if json {
        println!(
            "{}",
            serde_json::json!({"ok": false, "error": error.to_string()})
        );
    }
    msg(format!("{what} FAILED: {error}"))
}
