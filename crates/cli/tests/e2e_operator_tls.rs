//! Operator listeners (issue 12, "Zones hold"): mutual TLS with operator certificates,
//! the operator API, and sessions in the books, through the real binary.
//!
//! - An LRA on the `secure` listener approves a review and revokes, with
//!   `shuin ... --server https://...`, but cannot unseal there (`zone_refused`).
//! - An operator holding every role on the `remote` listener reads status, health and
//!   `/metrics`, and is refused every state change and every issuer-key action; each
//!   refusal is counted into their session's record.
//! - Clients without an operator certificate fail the handshake; a wrong server CA is
//!   named as such.
//! - Every session's opening and closing is in the facility book, and the books verify.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::operators::{key_path, make_key};
use crate::common::tls::{listener_certificates, openssl};
use crate::common::*;
use serde_json::Value;
use shuin_testkit::SimulatedJlisCa;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const LRA: &str = "審査 一郎";
const EVERYONE: &str = "全権 花子";
const ROLES: [&str; 6] = [
    "ca_admin",
    "key_custodian",
    "lra",
    "responsible_person",
    "auditor",
    "monitor",
];

fn port() -> u16 {
    crate::common::free_port()
}

/// An operator's files: key, certificate.
struct Operator {
    key: PathBuf,
    cert: PathBuf,
}

/// Enrols `name` with `roles` (the first admin, on the local console), writing their
/// certificate with `--cert-out`.
fn enrol(instance: &Instance, name: &str, roles: &[&str]) -> Operator {
    let work = instance.work.path();
    let csr = work.join(format!("{}.csr", hex::encode(name.as_bytes())));
    std::fs::write(&csr, make_key(work, name)).unwrap();
    let cert = work.join(format!("{}.cert.pem", hex::encode(name.as_bytes())));
    instance.as_operator_json(
        ADMIN,
        &[
            "operator",
            "add",
            "--csr",
            csr.to_str().unwrap(),
            "--role",
            roles[0],
            "--cert-out",
            cert.to_str().unwrap(),
        ],
    );
    for role in &roles[1..] {
        instance.as_operator_json(
            ADMIN,
            &["operator", "grant", "--name", name, "--role", role],
        );
    }
    Operator {
        key: key_path(work, name),
        cert,
    }
}

/// `shuin ARGS --server URL` as `operator`.
fn remote(url: &str, server_ca: &Path, operator: &Operator, args: &[&str]) -> Output {
    shuin()
        .args(args)
        .args(["--server", url, "--server-ca"])
        .arg(server_ca)
        .arg("--operator-cert")
        .arg(&operator.cert)
        .arg("--operator-key")
        .arg(format!("file:{}", operator.key.display()))
        .output()
        .unwrap()
}

#[track_caller]
fn done(
    instance: &Instance,
    url: &str,
    server_ca: &Path,
    operator: &Operator,
    args: &[&str],
) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let out = remote(url, server_ca, operator, &args);
    assert!(
        out.status.success(),
        "shuin {args:?} --server {url}: {}\nserver log: {}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(instance.work.path().join("serve.log")).unwrap_or_default()
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[track_caller]
fn refused(url: &str, server_ca: &Path, operator: &Operator, args: &[&str], expected: &str) {
    let out = remote(url, server_ca, operator, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "shuin {args:?} --server {url} should fail"
    );
    assert!(
        stderr.contains(expected),
        "shuin {args:?}: expected {expected:?}: {stderr}"
    );
}

/// `curl` with the listener CA and, if given, an operator's certificate; the HTTP
/// status, or `None` when the connection failed.
fn curl(url: &str, server_ca: &Path, operator: Option<&Operator>) -> Option<u16> {
    curl_body(url, server_ca, operator).0
}

/// `curl` as above, with the body of the answer.
fn curl_body(url: &str, server_ca: &Path, operator: Option<&Operator>) -> (Option<u16>, String) {
    let body = tempfile::NamedTempFile::new().expect("body file");
    let mut command = Command::new("curl");
    command
        .args(["-s", "-w", "%{http_code}", "-o"])
        .arg(body.path())
        .arg("--cacert")
        .arg(server_ca);
    if let Some(operator) = operator {
        command
            .arg("--cert")
            .arg(&operator.cert)
            .arg("--key")
            .arg(&operator.key);
    }
    let out = command.arg(url).output().expect("curl");
    let text = std::fs::read_to_string(body.path()).unwrap_or_default();
    if !out.status.success() {
        return (None, text);
    }
    (
        String::from_utf8_lossy(&out.stdout).trim().parse().ok(),
        text,
    )
}

fn entries(data: &Path) -> Vec<Value> {
    let out = shuin()
        .args(["ledger", "show", "--json", "--data"])
        .arg(data)
        .output()
        .unwrap();
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn operators_work_over_mutual_tls_within_their_zone() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let substitute = card(&jlis, |s| s.name_substitutes = Some("00100".into()));
    let valid = card(&jlis, |_| {});
    let mut instance = Instance::init_with(
        &[],
        jlis,
        &["--key-backend".into(), "software".into()],
        vec![],
    );
    let server_ca = listener_certificates(&instance.data, "IP:127.0.0.1");
    let (secure, remote_port) = (port(), port());
    let tls = "tls = { certificate = \"tls/cert.pem\", key = \"tls/key.pem\" }";
    instance.append_config(&format!(
        "\n[[server.listeners]]\nlisten = \"127.0.0.1:{secure}\"\nzone = \"secure\"\nclient_auth = \"operator\"\n{tls}\n\
         \n[[server.listeners]]\nlisten = \"127.0.0.1:{remote_port}\"\nzone = \"remote\"\nclient_auth = \"operator\"\n{tls}\n"
    ));
    instance.serve();
    let secure = format!("https://127.0.0.1:{secure}");
    let remote_url = format!("https://127.0.0.1:{remote_port}");
    let lra = enrol(&instance, LRA, &["lra"]);
    let everyone = enrol(&instance, EVERYONE, &ROLES);

    // The operator CRL is issued by the upkeep at start; the listeners take connections
    // once they have it.
    let started = Instant::now();
    while curl(&format!("{secure}/healthz"), &server_ca, Some(&lra)) != Some(200) {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the secure listener never accepted the LRA"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Secure zone: the LRA approves a review and revokes.
    let (status, answer) = instance.apply(&substitute, "山田　次郎", BIRTH, ADDRESS);
    assert_eq!(status, 202, "{answer}");
    let id = answer["application_id"].as_str().unwrap().to_owned();
    let approved = done(
        &instance,
        &secure,
        &server_ca,
        &lra,
        &["review", "approve", "--id", &id],
    );
    assert_eq!(approved["status"], "issued", "{approved}");
    assert_eq!(approved["approver"], LRA);
    let serial = approved["serial"].as_str().unwrap().to_owned();
    let revoked = done(
        &instance,
        &secure,
        &server_ca,
        &lra,
        &["revoke", "--serial", &serial, "--reason", "keyCompromise"],
    );
    assert_eq!(revoked["status"], "revoked", "{revoked}");
    // ...but never unseals there: issuer-key actions are the local console's alone.
    let share = instance.work.path().join("share.txt");
    std::fs::write(&share, "not a share").unwrap();
    refused(
        &secure,
        &server_ca,
        &lra,
        &["unseal", "--share-file", share.to_str().unwrap()],
        "zone_refused: unseal is not allowed from the secure zone",
    );

    // Remote zone: every role, yet only monitoring.
    let whoami = remote(&remote_url, &server_ca, &everyone, &["operator", "whoami"]);
    assert!(
        whoami.status.success(),
        "{}",
        String::from_utf8_lossy(&whoami.stderr)
    );
    let whoami: Value = serde_json::from_slice(&whoami.stdout).unwrap();
    assert_eq!(whoami["operator"], EVERYONE, "{whoami}");
    assert_eq!(
        curl(
            &format!("{remote_url}/healthz"),
            &server_ca,
            Some(&everyone)
        ),
        Some(200)
    );
    // Monitoring from outside: /metrics in the Prometheus text format, on operator
    // listeners only; the plain all-in-one listener has no such route.
    let (status, metrics) = curl_body(
        &format!("{remote_url}/metrics"),
        &server_ca,
        Some(&everyone),
    );
    assert_eq!(status, Some(200), "{metrics}");
    for line in [
        "\nshuin_up 1\n",
        "\nshuin_ledger_entries ",
        "\nshuin_ledger_checkpoint_size ",
        "\nshuin_crl_next_update_seconds{crl=\"ca\"} ",
        "\nshuin_crl_number{crl=\"operator-ca\"} ",
        "\nshuin_http_responses_total{zone=\"remote\",class=\"2xx\"} ",
        "\nshuin_process_open_fds ",
        "\nshuin_jpki_crls 1\n",
        "\nshuin_review_queue 0\n",
        "\nshuin_notices_waiting 0\n",
        "\nshuin_jpki_crl_next_update_seconds{anchor=\"",
        "\nshuin_ocsp_answers{state=\"signed\"} ",
        "\nshuin_ocsp_next_update_earliest_seconds ",
    ] {
        assert!(metrics.contains(line), "{line:?} missing from:\n{metrics}");
    }
    assert_eq!(
        curl(&format!("{remote_url}/metrics"), &server_ca, None),
        None
    );
    let (plain, _) = get(&format!("{}/metrics", instance.base));
    assert_eq!(plain, 404, "the all-in-one listener serves no /metrics");
    // The monitoring page: the same families, named in the page's language (Japanese
    // by default), on operator listeners only.
    let (status, page) = curl_body(
        &format!("{remote_url}/monitoring"),
        &server_ca,
        Some(&everyone),
    );
    assert_eq!(status, Some(200), "{page}");
    assert!(
        page.contains("<html lang=\"ja\">") && page.contains("帳簿のエントリ数"),
        "{page}"
    );
    for family in metrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")) {
        let name = family.split(' ').next().unwrap();
        assert!(
            page.contains(&format!("<code>{name}</code>")),
            "{name} missing from the page"
        );
    }
    // The CRL number on the page is the one /metrics reports (the upkeep may issue a
    // new CRL between two reads: then both are read again).
    let ca_crl_number = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("shuin_crl_number{crl=\"ca\"} "))
            .map(str::to_owned)
    };
    let mut reads = (metrics.clone(), page.clone());
    for _ in 0..10 {
        let number = ca_crl_number(&reads.0).unwrap();
        let cell = format!("<td><code>crl=&#34;ca&#34;</code></td><td>{number}</td>");
        if reads.1.contains(&cell) {
            break;
        }
        let again = |path: &str| {
            let url = format!("{remote_url}{path}");
            curl_body(&url, &server_ca, Some(&everyone)).1
        };
        reads = (again("/metrics"), again("/monitoring"));
    }
    let number = ca_crl_number(&reads.0).unwrap();
    assert!(
        reads.1.contains(&format!(
            "<td><code>crl=&#34;ca&#34;</code></td><td>{number}</td>"
        )),
        "{}",
        reads.1
    );
    let (plain, _) = get(&format!("{}/monitoring", instance.base));
    assert_eq!(plain, 404, "the all-in-one listener has no monitoring page");
    // Neither the repository nor the applicant pages exist on the remote listener.
    for path in ["/repository/ca.crt", "/", "/status", "/repository"] {
        let url = format!("{remote_url}{path}");
        assert_eq!(curl(&url, &server_ca, Some(&everyone)), Some(404), "{path}");
    }
    let (status, issued) = instance.apply(&valid, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 201, "{issued}");
    let other = issued["serial"].as_str().unwrap();
    let state_changes: [&[&str]; 6] = [
        &["revoke", "--serial", other, "--reason", "keyCompromise"],
        &["review", "approve", "--id", &id],
        &["automation", "suspend", "--reason", "from outside"],
        &["crl"],
        &["crl", "--root"],
        &["unseal", "--share-file", share.to_str().unwrap()],
    ];
    for args in state_changes {
        refused(&remote_url, &server_ca, &everyone, args, "zone_refused");
    }
    let remote_refusals = state_changes.len();
    // A request signed with another key than the connection's certificate is refused
    // too: the session is bound to the person.
    let mixed = shuin()
        .args(["operator", "whoami", "--server", &remote_url, "--server-ca"])
        .arg(&server_ca)
        .arg("--operator-cert")
        .arg(&everyone.cert)
        .arg("--operator-key")
        .arg(format!("file:{}", lra.key.display()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&mixed.stderr);
    assert!(
        !mixed.status.success() && stderr.contains("is not the certificate of --operator-key"),
        "{stderr}"
    );

    // No operator certificate, a self-made one, or a wrong server CA.
    assert_eq!(curl(&format!("{secure}/healthz"), &server_ca, None), None);
    let stranger_key = instance.work.path().join("stranger.key");
    assert!(shuin()
        .args(["operator", "key", "--out"])
        .arg(&stranger_key)
        .status()
        .unwrap()
        .success());
    let stranger = Operator {
        cert: instance.work.path().join("stranger.pem"),
        key: stranger_key,
    };
    openssl(
        instance.work.path(),
        &[
            "req",
            "-x509",
            "-key",
            stranger.key.to_str().unwrap(),
            "-out",
            stranger.cert.to_str().unwrap(),
            "-subj",
            &format!("/CN={LRA}"),
            "-days",
            "1",
        ],
    );
    refused(
        &secure,
        &server_ca,
        &stranger,
        &["operator", "whoami"],
        "the server refused the client certificate",
    );
    assert_eq!(
        curl(&format!("{secure}/healthz"), &server_ca, Some(&stranger)),
        None
    );
    let wrong_ca = instance.data.join("ca/operator-ca.pem");
    refused(
        &secure,
        &wrong_ca,
        &lra,
        &["operator", "whoami"],
        "tls_refused: ",
    );

    // The LRA's certificate is revoked: the next CRL shuts them out at the handshake.
    instance.as_operator_json(ADMIN, &["operator", "revoke", "--name", LRA]);
    let started = Instant::now();
    while curl(&format!("{secure}/healthz"), &server_ca, Some(&lra)).is_some() {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the revoked LRA still gets in"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    refused(
        &secure,
        &server_ca,
        &lra,
        &["operator", "whoami"],
        "the server refused the client certificate",
    );

    // Sessions: one opening and one closing per connection, in the facility book, with
    // the refusals counted into the remote sessions' records.
    let started = Instant::now();
    let (opened, closed) = loop {
        let all = entries(&instance.data);
        let of = |kind: &str| -> Vec<Value> {
            all.iter().filter(|e| e["kind"] == kind).cloned().collect()
        };
        let (opened, closed) = (of("session.opened"), of("session.closed"));
        if opened.len() == closed.len() || started.elapsed() > Duration::from_secs(10) {
            break (opened, closed);
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        opened.len(),
        closed.len(),
        "every session is closed: {opened:?} {closed:?}"
    );
    for entry in opened.iter().chain(&closed) {
        assert_eq!(entry["book"], "facility", "{entry}");
    }
    let lra_opened = opened
        .iter()
        .find(|e| e["payload"]["operator"] == LRA)
        .unwrap();
    assert_eq!(lra_opened["payload"]["zone"], "secure");
    assert_eq!(
        lra_opened["payload"]["certificate_sha256"]
            .as_str()
            .unwrap()
            .len(),
        64
    );
    assert!(lra_opened["payload"]["peer"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    let remote_closed: Vec<&Value> = closed
        .iter()
        .filter(|e| e["payload"]["operator"] == EVERYONE && e["payload"]["zone"] == "remote")
        .collect();
    let refusals: u64 = remote_closed
        .iter()
        .map(|e| e["payload"]["refusals"].as_u64().unwrap())
        .sum();
    let zone_refusals: u64 = remote_closed
        .iter()
        .filter_map(|e| e["payload"]["refusal_codes"]["zone_refused"].as_u64())
        .sum();
    assert_eq!(
        refusals,
        u64::try_from(remote_refusals).unwrap(),
        "{remote_closed:?}"
    );
    assert_eq!(zone_refusals, refusals);
    let actions: u64 = remote_closed
        .iter()
        .map(|e| e["payload"]["actions"].as_u64().unwrap())
        .sum();
    assert_eq!(actions, 1, "whoami only");
    let lra_actions: u64 = closed
        .iter()
        .filter(|e| e["payload"]["operator"] == LRA)
        .map(|e| e["payload"]["actions"].as_u64().unwrap())
        .sum();
    assert_eq!(lra_actions, 2, "approve and revoke");
    for entry in &closed {
        let opening = entry["payload"]["session"].as_u64().unwrap();
        assert!(
            opened.iter().any(|o| o["seq"].as_u64() == Some(opening)),
            "{entry}"
        );
    }

    let verify = shuin()
        .args(["ledger", "verify", "--data"])
        .arg(&instance.data)
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}
