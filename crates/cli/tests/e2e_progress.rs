//! Long jobs show progress on a terminal and nothing extra in a pipe: `shuin ledger
//! export` and `ledger verify --export` run once under a pseudo-terminal (`script`, from
//! util-linux) and once with their output piped.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use crate::common::*;
use shuin_testkit::SimulatedJlisCa;
use std::path::Path;
use std::process::Command;

/// Runs `shuin ARGS` on a pseudo-terminal; everything it wrote to the terminal.
fn on_terminal(args: &[&str]) -> Option<String> {
    let mut command = vec![env!("CARGO_BIN_EXE_shuin").to_owned()];
    command.extend(args.iter().map(|a| format!("'{a}'")));
    let out = external(
        "script",
        "SHUIN_REQUIRE_SCRIPT",
        &["-qec", &command.join(" "), "/dev/null"],
    )?;
    assert!(out.status.success(), "{out:?}");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn piped(args: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_shuin"))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn export_and_verify_draw_progress_on_a_terminal_only() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let mut instance = Instance::start(&[], jlis);
    instance.stop();
    let data = path(&instance.data).to_owned();
    let work = instance.work.path().to_owned();
    let (drawn, quiet) = (work.join("drawn"), work.join("quiet"));

    if let Some(terminal) =
        on_terminal(&["ledger", "export", "--data", &data, "--out", path(&drawn)])
    {
        for phase in [
            "writing entries",
            "verifying entries",
            "re-checking operator requests",
        ] {
            assert!(terminal.contains(phase), "{phase} not drawn: {terminal}");
        }
        assert!(terminal.contains("exported "), "{terminal}");
        let verified = on_terminal(&["ledger", "verify", "--export", path(&drawn)]).unwrap();
        assert!(verified.contains("verifying entries"), "{verified}");
    }

    let (stdout, stderr) = piped(&["ledger", "export", "--data", &data, "--out", path(&quiet)]);
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.starts_with("exported "), "{stdout}");
    for text in [&stdout, &stderr] {
        assert!(
            !text.contains('\u{1b}'),
            "an escape code in a pipe: {text:?}"
        );
        assert!(!text.contains("writing entries"), "{text}");
    }
    let (stdout, stderr) = piped(&["ledger", "verify", "--export", path(&quiet)]);
    assert!(
        !stderr.contains("verifying entries") && !stderr.contains('\u{1b}'),
        "{stderr}"
    );
    assert!(!stdout.contains('\u{1b}'), "{stdout}");

    // An operator's signed request waits for the server with a spinner on a terminal.
    instance.serve();
    let key = common::operators::key_uri(&work, ADMIN);
    let purge = [
        "retention",
        "purge",
        "--data",
        &data,
        "--operator-key",
        key.to_str().unwrap(),
    ];
    if let Some(terminal) = on_terminal(&purge) {
        assert!(
            terminal.contains("the server is doing retention_purge"),
            "{terminal}"
        );
    }
    let (stdout, stderr) = piped(&purge);
    assert!(stdout.starts_with("purged "), "{stdout}");
    assert!(
        !stderr.contains("the server is doing") && !stderr.contains('\u{1b}'),
        "{stderr}"
    );
    instance.stop();
}
