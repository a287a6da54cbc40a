//! The split deployment (issue 12), through the real binary: the CA pairs an RA node and
//! its own link (`shuin node pair`), the RA node is made from the CA's public files
//! (`shuin node init`), and while an applicant applies at the RA node, the CA, serving
//! with `--role ca`, owns no TCP listener: it dials the RA node, takes the order, issues,
//! and hands the certificate back. The holder then revokes at the RA node with their card,
//! and the CA revokes. Both sides' books record the orders, and both nodes' repositories
//! serve the CRLs and OCSP answers the CA's link hands them: the revocation shows there
//! within 5 s.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine;
use common::operators::{key_path, make_key, ADMIN};
use common::*;
use serde_json::Value;
use shuin_keys::{KeySpec, SoftwareSigner};
use shuin_testkit::SimulatedJlisCa;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

/// A child killed on drop.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str], data: &Path, log: PathBuf) -> Server {
    let child = shuin()
        .args(args)
        .arg("--data")
        .arg(data)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    Server(child)
}

/// Pairs `name` as a node of `role` (a signed request of the first admin) and returns
/// its certificate's path; its key is `key_path(work, name)`.
fn pair(ca: &Instance, name: &str, role: &str, hosts: &[&str]) -> PathBuf {
    let work = ca.work.path();
    let csr = work.join(format!("{name}.csr"));
    std::fs::write(&csr, make_key(work, name)).unwrap();
    let cert = work.join(format!("{name}.pem"));
    let mut args = vec![
        "node",
        "pair",
        "--csr",
        csr.to_str().unwrap(),
        "--role",
        role,
    ];
    for host in hosts {
        args.extend(["--host", host]);
    }
    args.extend(["--cert-out", cert.to_str().unwrap()]);
    let answer = ca.as_operator_json(ADMIN, &args);
    assert_eq!(answer["name"], name, "{answer}");
    cert
}

/// The socket inodes of the TCP listeners `pid` owns.
fn tcp_listeners_of(pid: u32) -> Vec<String> {
    let mut listening = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.get(3) == Some(&"0A") {
                listening.push(format!("socket:[{}]", fields[9]));
            }
        }
    }
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap();
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .map(|target| target.to_string_lossy().into_owned())
        .filter(|target| listening.contains(target))
        .collect()
}

fn wait_for(url: &str, log: &Path) {
    for _ in 0..200 {
        if get(url).0 == 200 {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "{url} did not come up: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

/// A signed application for `card` sent to the RA node at `front`.
fn apply_at(front: &str, card: &shuin_testkit::TestCard) -> (u16, Value) {
    let (status, text) = post(
        &format!("{front}/api/v1/challenges"),
        "application/json",
        b"",
    );
    assert_eq!(status, 201, "{text}");
    let challenge: Value = serde_json::from_str(&text).unwrap();
    let (key, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    let csr = shuin_client::build_csr(&key).unwrap();
    let document = serde_json::json!({
        "format": "shuin-application/1",
        "kind": "new",
        "nonce": challenge["nonce"],
        "terms_sha256": challenge["terms_sha256"],
        "applicant": {"name": NAME, "birth_date": BIRTH, "address": ADDRESS, "gender": "1"},
        "csr": base64::engine::general_purpose::STANDARD.encode(csr),
    });
    let cms = card
        .sign_application(document.to_string().as_bytes())
        .unwrap();
    let url = format!("{front}/api/v1/applications");
    let (status, text) = post(&url, "application/pkcs7-mime", &cms);
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn kinds(data: &Path) -> Vec<String> {
    let entries = json_answer(&["ledger", "show"], data);
    let kinds = entries.as_array().unwrap().iter();
    kinds
        .filter_map(|e| e["kind"].as_str())
        .map(str::to_owned)
        .collect()
}

/// An RA node's directory and ports.
struct RaNode {
    data: PathBuf,
    front: u16,
    repository: u16,
    peer: u16,
}

/// `shuin node init` of `name` from the CA's instance, on `store_url` (joined when
/// `join`).
fn ra_node(ca: &Instance, name: &str, store_url: &str, join: bool) -> RaNode {
    let work = ca.work.path();
    let certificate = pair(ca, name, "ra", &["127.0.0.1"]);
    let node = RaNode {
        data: work.join(name),
        front: free_port(),
        repository: free_port(),
        peer: free_port(),
    };
    let mut init = shuin();
    init.args(["node", "init", "--from"])
        .arg(&ca.data)
        .arg("--data")
        .arg(&node.data)
        .args(["--name", name, "--certificate"])
        .arg(&certificate)
        .arg("--key")
        .arg(key_path(work, name))
        .args(["--listen", &format!("127.0.0.1:{}", node.front)])
        .args([
            "--repository-listen",
            &format!("127.0.0.1:{}", node.repository),
        ])
        .args(["--peer-listen", &format!("127.0.0.1:{}", node.peer)])
        .args([
            "--public-url",
            &format!("http://127.0.0.1:{}", node.repository),
        ])
        .args(["--store-url", store_url]);
    if join {
        init.arg("--join");
    }
    let out = init.output().unwrap();
    assert!(
        out.status.success(),
        "node init {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    node
}

#[test]
fn an_ra_node_issues_through_the_cas_link_while_the_ca_listens_on_no_port() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let card = card(&jlis, |_| {});
    let mut ca = Instance::start(&[], jlis);
    let work = ca.work.path().to_owned();
    // Two RA nodes on one store (made from the CA's public files), each with its ports.
    let ra_database =
        common::store::postgres_admin().map(|admin| common::store::TestDatabase::create(&admin));
    let store_url = ra_database.as_ref().map_or_else(
        || format!("sqlite:{}", work.join("ra-1/shuin.db").display()),
        |d| d.url.clone(),
    );
    let first = ra_node(&ca, "ra-1", &store_url, false);
    let second = ra_node(&ca, "ra-2", &store_url, true);
    let link_cert = pair(&ca, "ca-link", "ca", &[]);
    let refused = ca.as_operator(
        ADMIN,
        &[
            "node",
            "pair",
            "--csr",
            work.join("ra-1.csr").to_str().unwrap(),
            "--role",
            "ra",
            "--host",
            "127.0.0.1",
            "--cert-out",
            work.join("again.pem").to_str().unwrap(),
        ],
    );
    assert!(!refused.status.success(), "a node name is paired once");
    let ra = first.data.clone();
    let ra_toml = std::fs::read_to_string(ra.join("shuin.toml")).unwrap();
    assert!(
        !ra_toml.contains("sealed_pin") && !ra.join("keys").exists(),
        "an RA node holds no key"
    );

    // The CA becomes the CA of a split deployment: its node certificate and its link.
    ca.stop();
    std::fs::create_dir_all(ca.data.join("node")).unwrap();
    std::fs::copy(&link_cert, ca.data.join("node/ca-link.pem")).unwrap();
    std::fs::copy(key_path(&work, "ca-link"), ca.data.join("node/ca-link.key")).unwrap();
    ca.append_config(&format!(
        "\n[node]\nrole = \"ca\"\nname = \"ca-link\"\ntls = {{ certificate = \"node/ca-link.pem\", key = \"node/ca-link.key\" }}\n\n[[node.links]]\nurl = \"https://127.0.0.1:{}\"\n\n[[node.links]]\nurl = \"https://127.0.0.1:{}\"\n",
        first.peer, second.peer
    ));
    let wrong = shuin()
        .args(["serve", "--role", "ra", "--data"])
        .arg(&ca.data)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("is configured as role ca"));

    let ra_log = work.join("ra.log");
    let _ra_server = spawn(&["serve", "--role", "ra"], &ra, ra_log.clone());
    let second_log = work.join("ra-2.log");
    let _second_server = spawn(&["serve", "--role", "ra"], &second.data, second_log.clone());
    let front_url = format!("http://127.0.0.1:{}", first.front);
    let second_url = format!("http://127.0.0.1:{}", second.front);
    wait_for(&format!("{front_url}/healthz"), &ra_log);
    wait_for(&format!("{second_url}/healthz"), &second_log);
    let ca_log = work.join("ca.log");
    let ca_server = spawn(&["serve", "--role", "ca"], &ca.data, ca_log.clone());

    // Applications at either node are issued (503 until the CA's link has been seen).
    let logs = || {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        format!(
            "CA: {}\nRA: {}\nRA 2: {}",
            read(&ca_log),
            read(&ra_log),
            read(&second_log)
        )
    };
    let issued_at = |url: &str| {
        let mut answer = (0, Value::Null);
        for _ in 0..100 {
            answer = apply_at(url, &card);
            if answer.0 != 503 {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert_eq!(answer.0, 201, "{url}: {}\n{}", answer.1, logs());
        answer
    };
    let answer = issued_at(&front_url);
    let other = issued_at(&second_url);
    assert_ne!(answer.1["serial"], other.1["serial"]);
    assert_eq!(
        tcp_listeners_of(ca_server.0.id()),
        Vec::<String>::new(),
        "the CA owns no TCP listener"
    );

    // The certificate chains to the CA's root, as openssl sees it.
    let cert = work.join("split-cert.pem");
    std::fs::write(&cert, answer.1["certificate_pem"].as_str().unwrap()).unwrap();
    let (root, issuing) = (ca.data.join("ca/root.pem"), ca.data.join("ca/issuing.pem"));
    if let Some(out) = external(
        "openssl",
        "SHUIN_REQUIRE_OPENSSL",
        &[
            "verify",
            "-CAfile",
            root.to_str().unwrap(),
            "-untrusted",
            issuing.to_str().unwrap(),
            cert.to_str().unwrap(),
        ],
    ) {
        assert!(
            out.status.success(),
            "openssl verify: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let terms_url = format!("http://127.0.0.1:{}/repository/terms", first.repository);
    let (status, terms) = get(&terms_url);
    assert_eq!(status, 200, "the RA node serves the terms: {terms}");
    // Both nodes' repositories answer OCSP for it with the answer the CA pre-signed and
    // its link handed over, checked against the issuing CA.
    let repositories =
        [first.repository, second.repository].map(|port| format!("http://127.0.0.1:{port}"));
    let issuing_der = get_bytes(&format!("{}/repository/ca.crt", repositories[0]));
    let serial_hex = answer.1["serial"].as_str().unwrap();
    let issued = shuin_core::Serial::from_hex(serial_hex).unwrap();
    let ocsp_says = |repository: &str| {
        shuin_client::ocsp_status(&format!("{repository}/ocsp"), &issuing_der, &issued)
    };
    let within = |limit: Duration, what: &str, done: &dyn Fn() -> bool| {
        let started = std::time::Instant::now();
        while !done() {
            assert!(started.elapsed() < limit, "{what}\n{}", logs());
            std::thread::sleep(Duration::from_millis(100));
        }
        started.elapsed()
    };
    for repository in &repositories {
        within(Duration::from_secs(10), "OCSP good at a node", &|| {
            ocsp_says(repository).is_ok_and(|a| a == shuin_client::OcspAnswer::Good)
        });
    }

    // The holder revokes at the RA node with their card; the CA revokes and lists it.
    let (status, text) = post(
        &format!("{front_url}/api/v1/challenges"),
        "application/json",
        b"",
    );
    assert_eq!(status, 201, "{text}");
    let challenge: Value = serde_json::from_str(&text).unwrap();
    let serial = answer.1["serial"].as_str().unwrap();
    let body = serde_json::json!({"format": "shuin-revocation/1", "serial": serial,
        "reason": "keyCompromise", "nonce": challenge["nonce"]});
    let cms = card.sign_application(body.to_string().as_bytes()).unwrap();
    let (status, text) = post(
        &format!("{front_url}/api/v1/revocations"),
        "application/pkcs7-mime",
        &cms,
    );
    assert_eq!(status, 200, "{text}");
    let revoked: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(revoked["status"], "revoked", "{revoked}");
    assert!(revoked["crl_number"].as_u64().unwrap() >= 2, "{revoked}");
    // Within 5 s both nodes' repositories show it: OCSP revoked, and a CRL signed by the
    // issuing CA that lists it.
    for repository in &repositories {
        within(Duration::from_secs(5), "the revocation at a node", &|| {
            let crl = shuin_client::crl_lists(
                &format!("{repository}/repository/ca.crl"),
                &issuing_der,
                &issued,
            );
            matches!(
                ocsp_says(repository),
                Ok(shuin_client::OcspAnswer::Revoked(_))
            ) && crl.is_ok_and(|(listed, _)| listed)
        });
    }

    drop(ca_server);
    let ra_kinds = kinds(&ra);
    assert!(
        ra_kinds.contains(&"order.queued".to_owned()),
        "{ra_kinds:?}"
    );
    assert!(
        ra_kinds.contains(&"orders.answered".to_owned()),
        "{ra_kinds:?}"
    );
    let ca_kinds = kinds(&ca.data);
    assert!(
        ca_kinds.contains(&"orders.received".to_owned()),
        "{ca_kinds:?}"
    );
    assert!(
        ca_kinds.contains(&"certificate.issued".to_owned()),
        "{ca_kinds:?}"
    );
    assert!(
        !ra_kinds.contains(&"certificate.signing".to_owned()),
        "the RA node signs nothing"
    );
}
