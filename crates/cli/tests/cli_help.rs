//! The command line's own help for a newcomer: shell completions and man pages generated
//! from the definition, through the real binary (no instance needed).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use serde_json::Value;
use shuin_testkit::SimulatedJlisCa;

#[test]
fn completions_and_man_pages_come_from_the_binary() {
    for (shell, marker) in [
        ("bash", "_shuin()"),
        ("zsh", "#compdef shuin"),
        ("fish", "complete -c shuin"),
    ] {
        let out = shuin().args(["completions", shell]).output().unwrap();
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let script = String::from_utf8_lossy(&out.stdout);
        assert!(
            script.contains(marker),
            "{shell}: {}",
            &script[..script.len().min(200)]
        );
        assert!(
            script.contains("disclose"),
            "{shell} completes the subcommands"
        );
    }
    let refused = shuin().args(["completions", "tcsh"]).output().unwrap();
    assert!(!refused.status.success());

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    let done = shuin().args(["man", "--out"]).arg(&out).output().unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let page = std::fs::read_to_string(out.join("shuin.1")).unwrap();
    assert!(page.contains(".TH shuin"), "{page}");
    let disclose = std::fs::read_to_string(out.join("shuin-disclose.1")).unwrap();
    assert!(
        disclose.contains("\\-\\-card\\-key") || disclose.contains("card-key"),
        "{disclose}"
    );
    assert!(out.join("shuin-ledger-verify.1").exists());
}

/// The docs stand alone: none sends the reader to a file outside the repository.
#[test]
fn the_docs_cite_nothing_outside_the_repository() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for outside in ["DESIGN.md", "../shared", "STYLE.md", "DEPENDENCIES.md"] {
            assert!(
                !text.contains(outside),
                "{} cites {outside}",
                file.display()
            );
        }
    }
}

/// A running instance as a newcomer meets it: SHUIN_DATA, a plain log file, one server
/// per instance, and a wrong address refused at once with the fix.
#[test]
fn the_server_explains_itself() {
    let instance = Instance::start(&[], SimulatedJlisCa::generate(now()).unwrap());
    // Newcomer's path: SHUIN_DATA stands for --data, and the server's log, written to a
    // file, holds no colour codes.
    let status = shuin()
        .args(["status", "--json"])
        .env("SHUIN_DATA", &instance.data)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(status["business_termination"].is_null(), "{status}");
    let log = std::fs::read_to_string(instance.work.path().join("serve.log")).unwrap();
    assert!(log.contains("INFO"), "the log is there: {log}");
    assert!(
        !log.contains('\u{1b}'),
        "no ANSI escape codes in a log file"
    );
    // A second server on the same instance is refused, naming the first.
    let second = shuin()
        .args(["serve", "--data"])
        .arg(&instance.data)
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .output()
        .unwrap();
    assert!(!second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("another `shuin serve` is running"),
        "{stderr}"
    );
    // A wrong address is refused at once, with the fix, before any key or the store is
    // opened.
    let mut instance = instance;
    instance.stop();
    let wrong = shuin()
        .args(["serve", "--data"])
        .arg(&instance.data)
        .args(["--listen", "localhost"])
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(stderr.contains("give HOST:PORT"), "{stderr}");
    assert!(!stderr.contains("store opened"), "{stderr}");
}

#[test]
fn a_reader_that_goes_away_ends_the_command_quietly() {
    // A pipe whose reader is gone before the command writes (as `shuin policy | true`).
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = shuin()
        .arg("policy")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    // As a shell reports a command ended by SIGPIPE; SIGPIPE itself stays ignored.
    assert_eq!(out.status.code(), Some(141), "{:?}: {stderr}", out.status);
    assert!(stderr.is_empty(), "{stderr}");
}
