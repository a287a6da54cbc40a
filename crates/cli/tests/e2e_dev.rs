//! The development instance (`shuin serve --dev`) moved to another port: `serve --dev`
//! refuses the mismatch naming both URLs, an apply to a dead port names the URL it
//! tried, and an instance served away from its `public_url` makes the client say so.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::{free_port, get, shuin, ADDRESS, BIRTH, NAME};
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

fn serve_dev(cwd: &Path, listen: &str) -> Child {
    shuin()
        .current_dir(cwd)
        .args(["serve", "--dev", "--listen", listen])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve --dev")
}

/// The output of a `serve` that must stop by itself (a refusal); one still running after
/// a minute is killed and fails the test.
fn finish(mut child: Child) -> Output {
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("still serving: {:?}", child.wait_with_output());
}

fn wait_healthy(base: &str, child: &mut Child) {
    for _ in 0..600 {
        if get(&format!("{base}/healthz")).0 == 200 {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the server exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{base} did not come up");
}

fn stop(mut child: Child) {
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();
}

fn apply(cwd: &Path, base: &str, out: &str) -> Output {
    shuin()
        .current_dir(cwd)
        .args(["apply", "--server", base, "--dev-card", "yamada"])
        .args(["--name", NAME, "--birth-date", BIRTH, "--address", ADDRESS])
        .args(["--out", out])
        .output()
        .expect("run apply")
}

#[test]
fn a_dev_instance_moved_to_another_port_is_refused_with_both_urls() {
    let work = tempfile::tempdir().unwrap();
    let first = format!("127.0.0.1:{}", free_port());
    let mut server = serve_dev(work.path(), &first);
    wait_healthy(&format!("http://{first}"), &mut server);
    let issued = apply(work.path(), &format!("http://{first}"), "cert.pem");
    assert!(issued.status.success(), "{issued:?}");
    stop(server);

    // Another port: refused before anything is served, naming both URLs and the way out.
    let second = format!("127.0.0.1:{}", free_port());
    let refused = finish(serve_dev(work.path(), &second));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    for part in [
        format!("http://{first}"),
        format!("http://{second}"),
        format!("--listen {first}"),
        "remove shuin-dev".to_owned(),
    ] {
        assert!(stderr.contains(&part), "{part} not in: {stderr}");
    }

    // Nothing listens there: the client names the URL it tried.
    let dead = apply(work.path(), &format!("http://{second}"), "dead.pem");
    let stderr = String::from_utf8_lossy(&dead.stderr);
    assert!(!dead.status.success());
    assert!(
        stderr.contains(&format!("http://{second}/api/v1/challenges")),
        "{stderr}"
    );
    assert!(stderr.contains("is `shuin serve` running"), "{stderr}");

    // Served at the new port anyway (not in dev mode): the terms URL from the old
    // public_url is dead, and the client says the public_url is out of date.
    let mut moved = shuin()
        .current_dir(work.path())
        .args(["serve", "--data", "shuin-dev", "--listen", &second])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_healthy(&format!("http://{second}"), &mut moved);
    let stale = apply(work.path(), &format!("http://{second}"), "stale.pem");
    stop(moved);
    let stderr = String::from_utf8_lossy(&stale.stderr);
    assert!(!stale.status.success());
    for part in [
        format!("http://{first}/repository/terms"),
        format!("http://{second}"),
        "public_url is out of date".to_owned(),
    ] {
        assert!(stderr.contains(&part), "{part} not in: {stderr}");
    }
}

#[test]
fn an_address_it_cannot_listen_on_makes_no_dev_instance() {
    let work = tempfile::tempdir().unwrap();
    let out = finish(serve_dev(work.path(), "localhost"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("--listen localhost: give HOST:PORT"),
        "{stderr}"
    );
    assert!(
        !work.path().join("shuin-dev").exists(),
        "an instance was made"
    );
    // No dev instance, so no dev card: the flag is named, with where cards come from.
    let out = shuin()
        .current_dir(work.path())
        .args([
            "apply",
            "--server",
            "http://127.0.0.1:1",
            "--dev-card",
            "nobody",
        ])
        .args(["--name", NAME, "--birth-date", BIRTH, "--address", ADDRESS])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("--dev-card nobody: no card"), "{stderr}");
    assert!(stderr.contains("serve --dev"), "{stderr}");
}
