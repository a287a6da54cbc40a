//! The PKCS#11 backend over the network, the way a network HSM's client library is
//! used: `p11-kit server` exports a SoftHSM2 token on a socket, and shuin loads
//! `p11-kit-client.so`. The instance issues; while the remote end is down an
//! application gets a retryable 503; after it restarts the instance issues again
//! (library restarted, sessions re-opened, the key found again and checked). Skipped with a note
//! when p11-kit or SoftHSM2 is absent, unless SHUIN_REQUIRE_SOFTHSM=1.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use crate::common::*;
use shuin_keys::softhsm::{module_for_tests, SoftHsmToken};
use shuin_testkit::SimulatedJlisCa;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const TOKEN: &str = "remote-ca";
const PIN: &str = "pin-remote-42";

fn client_module() -> Option<PathBuf> {
    let candidates = [
        "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so",
        "/usr/lib/aarch64-linux-gnu/pkcs11/p11-kit-client.so",
        "/usr/lib64/pkcs11/p11-kit-client.so",
        "/usr/lib/pkcs11/p11-kit-client.so",
    ];
    let found = candidates.iter().map(PathBuf::from).find(|p| p.exists());
    let p11_kit = Command::new("p11-kit").arg("--help").output().is_ok();
    match (found, p11_kit) {
        (Some(module), true) => Some(module),
        _ => {
            assert!(
                !std::env::var("SHUIN_REQUIRE_SOFTHSM").is_ok_and(|v| v == "1"),
                "p11-kit and p11-kit-client.so are required (apt-get install p11-kit p11-kit-modules)"
            );
            eprintln!("note: p11-kit or p11-kit-client.so not found; skipping");
            None
        }
    }
}

/// `p11-kit server` exporting the token on `socket`; killed on drop.
struct Remote {
    child: Child,
}

impl Remote {
    fn start(softhsm: &Path, conf: &Path, socket: &Path) -> Remote {
        let _ = std::fs::remove_file(socket);
        use std::os::unix::process::CommandExt;
        // Its own process group: the server forks a process per client connection, and
        // a restart must end those too.
        // Killed (with its group) on drop, also when it never listens.
        let remote = Remote {
            child: Command::new("p11-kit")
                .process_group(0)
                .args(["server", "-f", "-n"])
                .arg(socket)
                .arg("--provider")
                .arg(softhsm)
                .arg(format!("pkcs11:token={TOKEN}"))
                .env("SOFTHSM2_CONF", conf)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        };
        for _ in 0..100 {
            if socket.exists() {
                return remote;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("p11-kit server did not create {}", socket.display());
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

#[test]
fn an_instance_behind_p11_kit_server_issues_and_survives_the_remote_restarting() {
    let Some(softhsm) = module_for_tests().unwrap() else {
        return;
    };
    let Some(client) = client_module() else {
        return;
    };
    let hsm = tempfile::tempdir().unwrap();
    let token = SoftHsmToken::create(&softhsm, hsm.path(), TOKEN, PIN).unwrap();
    let socket = hsm.path().join("p11.sock");
    let remote = Remote::start(&softhsm, &token.conf, &socket);
    let pin_file = hsm.path().join("pin");
    shuin_keys::write_private_file(&pin_file, format!("{PIN}\n").as_bytes()).unwrap();
    // shuin sees only the client library and the socket address, never SoftHSM.
    let mut address = OsString::from("unix:path=");
    address.push(&socket);
    let env = vec![("P11_KIT_SERVER_ADDRESS".to_owned(), address)];
    let backend: Vec<OsString> = vec![
        "--key-backend".into(),
        "pkcs11".into(),
        "--pkcs11-module".into(),
        client.into(),
        "--pkcs11-token".into(),
        TOKEN.into(),
        "--pkcs11-pin-file".into(),
        pin_file.into(),
    ];
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let card = card(&jlis, |_| {});
    let mut instance = Instance::init_with(&[], jlis, &backend, env);
    instance.serve();
    let (status, answer) = instance.apply(&card, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 201, "{answer}");
    instance.verify_issued(&answer);

    // The remote end goes away: an application gets a clear, retryable 503, and
    // nothing is issued.
    drop(remote);
    let card = common::card(&instance.jlis, |s| s.name = "鈴木　花子".into());
    let (status, answer) = instance.apply(&card, "鈴木　花子", BIRTH, ADDRESS);
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["code"], "service_unavailable", "{answer}");

    // It comes back (a network HSM's appliance or its proxy restarted): the next
    // issuance starts the client library again, re-opens the sessions, logs in and
    // finds the key again.
    let _remote = Remote::start(&softhsm, &token.conf, &socket);
    let (status, answer) = instance.apply(&card, "鈴木　花子", BIRTH, ADDRESS);
    let log = std::fs::read_to_string(instance.work.path().join("serve.log")).unwrap();
    assert_eq!(status, 201, "{answer}\n{log}");
    instance.verify_issued(&answer);
}
