//! The split deployment (issue 12), through the real binary: the CA pairs an RA node and
//! its own link (`shuin node pair`), the RA node is made from the CA's public files
//! (`shuin node init`), and while an applicant applies at the RA node, the CA, serving
//! with `--role ca`, owns no TCP listener: it dials the RA node, takes the order, issues,
//! and hands the certificate back. The holder then revokes at the RA node with their card,
//! and the CA revokes. Both sides' books record the orders, and both nodes' repositories
//! serve the CRLs and OCSP answers the CA's link hands them: the revocation shows there
//! within 5 s. A witness cosigns the RA node's book, which the RA node submits.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use crate::common::load::{try_apply_as, try_apply_at, Attempt};
use crate::common::operators::{key_path, make_key, ADMIN};
use crate::common::*;
use serde_json::Value;
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
    try_apply_at(front, card).unwrap()
}

/// The verifier key of the node book at `data` (its `key.adopted` entry).
fn book_verifier_key(data: &Path) -> String {
    let entries = json_answer(&["ledger", "show"], data);
    let mut entries = entries.as_array().unwrap().iter();
    let adopted = entries.rfind(|e| e["kind"] == "key.adopted").unwrap();
    adopted["payload"]["verifier_key"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn kinds(data: &Path) -> Vec<String> {
    let entries = json_answer(&["ledger", "show"], data);
    let kinds = entries.as_array().unwrap().iter();
    kinds
        .filter_map(|e| e["kind"].as_str())
        .map(str::to_owned)
        .collect()
}

/// A node's directory and ports (for a repository node, `front` is its repository
/// listener and `repository` is unused).
pub(crate) struct RaNode {
    pub(crate) data: PathBuf,
    front: u16,
    repository: u16,
    peer: u16,
}

/// Pairs `name` as a node of `role` and makes its directory with `shuin node init`:
/// `front` is the port of its first listener (applicants at an RA node, verifiers at a
/// repository node), `peer` the CA link's; `extra` are further `node init` arguments.
fn init_node(ca: &Instance, name: &str, role: &str, repository: u16, extra: &[String]) -> RaNode {
    let work = ca.work.path();
    let certificate = pair(ca, name, role, &["127.0.0.1"]);
    let node = RaNode {
        data: work.join(name),
        front: free_port(),
        repository,
        peer: free_port(),
    };
    let out = shuin()
        .args(["node", "init", "--role", role, "--from"])
        .arg(&ca.data)
        .arg("--data")
        .arg(&node.data)
        .args(["--name", name, "--certificate"])
        .arg(&certificate)
        .arg("--key")
        .arg(key_path(work, name))
        .args(["--listen", &format!("127.0.0.1:{}", node.front)])
        .args(["--peer-listen", &format!("127.0.0.1:{}", node.peer)])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "node init {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    node
}

/// A repository node `name` with a store of its own; `front` is its repository
/// listener's port (it has no front listener).
fn repo_node(ca: &Instance, name: &str) -> RaNode {
    init_node(ca, name, "repo", 0, &[])
}

/// An RA node `name` on `store_url` (joined when `join`), serving its own repository,
/// and when given, monitoring from the remote zone and LRAs' work from the secure zone
/// on `operators`' ports.
fn ra_node(
    ca: &Instance,
    name: &str,
    store_url: &str,
    join: bool,
    operators: Option<(u16, u16)>,
) -> RaNode {
    let repository = free_port();
    let mut extra = vec![
        "--repository-listen".to_owned(),
        format!("127.0.0.1:{repository}"),
        "--public-url".to_owned(),
        format!("http://127.0.0.1:{repository}"),
        "--store-url".to_owned(),
        store_url.to_owned(),
    ];
    if join {
        extra.push("--join".to_owned());
    }
    if let Some((monitor, operator)) = operators {
        extra.push("--monitor-listen".to_owned());
        extra.push(format!("127.0.0.1:{monitor}"));
        extra.push("--operator-listen".to_owned());
        extra.push(format!("127.0.0.1:{operator}"));
    }
    init_node(ca, name, "ra", repository, &extra)
}

/// A CA serving `--role ca` with two RA nodes on one store (PostgreSQL when the tests
/// run on it), each serving; the logs are under the CA's work directory.
pub(crate) struct Split {
    pub(crate) ca: Instance,
    pub(crate) first: RaNode,
    second: RaNode,
    /// Repository nodes: each one's port for verifiers, and its process.
    repositories: Vec<(u16, Server)>,
    ca_server: Server,
    ra_servers: [Server; 2],
    logs: [PathBuf; 3],
    /// A witness of the first RA node's book, and that book's verifier key.
    witness: Option<(crate::e2e_witness::WitnessProcess, String)>,
    /// The first RA node's witness of the CA's checkpoints: its verifier key.
    ca_witness: Option<String>,
    /// The port of the first RA node's monitoring listener (remote zone).
    monitor: u16,
    /// The port of the first RA node's operator listener (secure zone).
    pub(crate) operator: u16,
    _database: Option<common::store::TestDatabase>,
}

impl Split {
    /// The split deployment, with `repositories` repository nodes besides.
    pub(crate) fn start(card_ca: SimulatedJlisCa, repositories: usize) -> Split {
        Split::start_witnessed(card_ca, repositories, false)
    }

    /// The same, with a witness of the first RA node's book when `witnessed` (in the
    /// node's `[[ledger.witnesses]]`).
    fn start_witnessed(card_ca: SimulatedJlisCa, repositories: usize, witnessed: bool) -> Split {
        let mut ca = Instance::start(&[], card_ca);
        let work = ca.work.path().to_owned();
        // Two RA nodes on one store (made from the CA's public files), each with its ports.
        let ra_database = common::store::postgres_admin()
            .map(|admin| common::store::TestDatabase::create(&admin));
        let store_url = ra_database.as_ref().map_or_else(
            || format!("sqlite:{}", work.join("ra-1/shuin.db").display()),
            |d| d.url.clone(),
        );
        let (monitor, operator) = (free_port(), free_port());
        let first = ra_node(&ca, "ra-1", &store_url, false, Some((monitor, operator)));
        let second = ra_node(&ca, "ra-2", &store_url, true, None);
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
        let repo_nodes: Vec<(String, RaNode)> = (1..=repositories)
            .map(|n| {
                let name = format!("repo-{n}");
                let node = repo_node(&ca, &name);
                (name, node)
            })
            .collect();

        // The CA becomes the CA of a split deployment: its node certificate and its link.
        ca.stop();
        std::fs::create_dir_all(ca.data.join("node")).unwrap();
        std::fs::copy(&link_cert, ca.data.join("node/ca-link.pem")).unwrap();
        std::fs::copy(key_path(&work, "ca-link"), ca.data.join("node/ca-link.key")).unwrap();
        ca.append_config(&format!(
            "\n[node]\nrole = \"ca\"\nname = \"ca-link\"\ntls = {{ certificate = \"node/ca-link.pem\", key = \"node/ca-link.key\" }}\n\n[[node.links]]\nurl = \"https://127.0.0.1:{}\"\n\n[[node.links]]\nurl = \"https://127.0.0.1:{}\"\n",
            first.peer, second.peer
        ));
        for (_, node) in &repo_nodes {
            ca.append_config(&format!(
                "\n[[node.links]]\nurl = \"https://127.0.0.1:{}\"\nnode = \"repo\"\n",
                node.peer
            ));
        }
        let witness = witnessed.then(|| {
            let book_key = book_verifier_key(&first.data);
            let witness =
                crate::e2e_witness::WitnessProcess::init(&work, "witness.example/nodes", &book_key);
            let section = format!(
                "\n[[ledger.witnesses]]\nurl = \"{}\"\nkey = \"{}\"\n",
                witness.base,
                witness.key.verifier_key()
            );
            let config = first.data.join("shuin.toml");
            let mut text = std::fs::read_to_string(&config).unwrap();
            text.push_str(&section);
            std::fs::write(&config, text).unwrap();
            (witness, book_key)
        });
        // The first RA node witnesses the CA's checkpoints in turn: the CA dials its
        // witness like any other (the CA listens on no port).
        let ca_witness = witnessed.then(|| {
            let key = shuin()
                .args(["witness", "key", "--data"])
                .arg(first.data.join("witness"))
                .output()
                .unwrap();
            assert!(
                key.status.success(),
                "{}",
                String::from_utf8_lossy(&key.stderr)
            );
            let key = String::from_utf8(key.stdout).unwrap().trim().to_owned();
            ca.append_config(&format!(
                "\n[[ledger.witnesses]]\nurl = \"http://127.0.0.1:{}/witness\"\nkey = \"{key}\"\n",
                first.front
            ));
            key
        });
        let logs = ["ca.log", "ra.log", "ra-2.log"].map(|name| work.join(name));
        let ra_servers = [
            spawn(&["serve", "--role", "ra"], &first.data, logs[1].clone()),
            spawn(&["serve", "--role", "ra"], &second.data, logs[2].clone()),
        ];
        wait_for(&format!("{}/healthz", first.front_url()), &logs[1]);
        wait_for(&format!("{}/healthz", second.front_url()), &logs[2]);
        let repositories = repo_nodes
            .iter()
            .map(|(name, node)| {
                let log = work.join(format!("{name}.log"));
                let server = spawn(&["serve", "--role", "repo"], &node.data, log.clone());
                wait_for(&format!("http://127.0.0.1:{}/healthz", node.front), &log);
                (node.front, server)
            })
            .collect();
        let ca_server = spawn(&["serve", "--role", "ca"], &ca.data, logs[0].clone());
        Split {
            ca,
            first,
            second,
            repositories,
            ca_server,
            ra_servers,
            logs,
            witness,
            ca_witness,
            monitor,
            operator,
            _database: ra_database,
        }
    }

    /// The three processes' logs, for failure messages.
    pub(crate) fn logs(&self) -> String {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        format!(
            "CA: {}\nRA: {}\nRA 2: {}",
            read(&self.logs[0]),
            read(&self.logs[1]),
            read(&self.logs[2])
        )
    }
}

impl RaNode {
    pub(crate) fn front_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.front)
    }
}

#[test]
fn an_ra_node_issues_through_the_cas_link_while_the_ca_listens_on_no_port() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let substitute = card(&jlis, |s| s.name_substitutes = Some("00100".into()));
    let card = card(&jlis, |_| {});
    let split = Split::start_witnessed(jlis, 2, true);
    let (ca, first, second) = (&split.ca, &split.first, &split.second);
    let work = ca.work.path().to_owned();
    let ra = first.data.clone();
    let ra_toml = std::fs::read_to_string(ra.join("shuin.toml")).unwrap();
    assert!(
        !ra_toml.contains("sealed_pin") && !ra.join("keys").exists(),
        "an RA node holds no key"
    );
    let wrong = shuin()
        .args(["serve", "--role", "ra", "--data"])
        .arg(&ca.data)
        .output()
        .unwrap();
    let refusal = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        refusal.contains("role_mismatch: --role ra:")
            && refusal.contains("is configured as role ca"),
        "{refusal}"
    );
    let front_url = first.front_url();
    let second_url = second.front_url();
    // Ready once the CA's link has taken orders from the node.
    let started = std::time::Instant::now();
    while get(&format!("{front_url}/readyz")).0 != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{}",
            split.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let logs = || split.logs();

    // Applications at either node are issued (503 until the CA's link has been seen).
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
        tcp_listeners_of(split.ca_server.0.id()),
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
    // Both RA nodes' repositories, and both repository nodes, answer OCSP for it with
    // the answer the CA pre-signed and its link handed over, checked against the issuing
    // CA.
    let mut ports = vec![first.repository, second.repository];
    ports.extend(split.repositories.iter().map(|(port, _)| *port));
    let repositories: Vec<String> = ports
        .iter()
        .map(|port| format!("http://127.0.0.1:{port}"))
        .collect();
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
    // Within 5 s every node's repository shows it: OCSP revoked, and a CRL signed by the
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

    // The holder's disclosure at the other RA node (one store) shows the revocation: the
    // node recorded it with the CA's answer.
    let revoked_copy = disclosed_certificate(&work, &second_url, &card, serial);
    assert_eq!(
        revoked_copy["revocation"]["reason"], "keyCompromise",
        "{revoked_copy}"
    );

    // Both RA nodes' books (one store) verify: checkpoints signed by the CA's audit key
    // over its links, and each node's last signed head kept in its directory.
    for node in [&split.first, &split.second] {
        books_verify_within(&node.data, Duration::from_secs(15), &logs);
    }
    // The RA node submitted its book's checkpoints to its witness, which cosigned them.
    if let Some((witness, book_key)) = &split.witness {
        let log = shuin_ledger::NoteKey::from_verifier_key(book_key).unwrap();
        let origin_hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(log.name()));
        let url = format!("{}/{origin_hash}/checkpoint", witness.base);
        within(
            Duration::from_secs(15),
            "the witness's cosignature of the node book",
            &|| {
                let (status, note) = get(&url);
                status == 200
                    && shuin_ledger::SignedNote::parse(&note)
                        .is_ok_and(|n| log.verify(&n).is_ok() && witness.key.verify(&n).is_ok())
            },
        );
        // Its stored notes, cosigned now, still verify.
        books_verify_within(&split.first.data, Duration::from_secs(15), &logs);
    }
    monitoring_from_outside(&split);
    // An application the automatic rule leaves to an LRA, who decides at the node.
    let (status, pending) = try_apply_as(&front_url, &substitute, "山田　次郎").unwrap();
    assert_eq!(status, 202, "{pending}");
    let pending = pending["application_id"].as_str().unwrap();
    crate::e2e_node_operators::lra_at_an_ra_node(&split, pending);
    // A revocation made at the CA's console reaches the nodes' stores too, from the
    // CA's OCSP answers: the holder's disclosure at a node shows it.
    let other_serial = other.1["serial"].as_str().unwrap();
    let revoked = split.ca.as_operator_json(
        "lra-at-node",
        &[
            "revoke",
            "--serial",
            other_serial,
            "--reason",
            "affiliationChanged",
        ],
    );
    assert_eq!(revoked["status"], "revoked", "{revoked}");
    within(
        Duration::from_secs(10),
        "the CA's revocation at the node",
        &|| {
            let copy = disclosed_certificate(&work, &front_url, &card, other_serial);
            copy["revocation"]["reason"] == "affiliationChanged"
        },
    );
    // The node's books verify with the LRA's requests, checked against the roster the
    // node recorded.
    books_verify_within(&split.first.data, Duration::from_secs(15), &logs);

    // The RA node cosigned the CA's checkpoints: an export of the CA's books verifies
    // with the node's witness key.
    if let Some(key) = &split.ca_witness {
        let (status, served) = get(&format!("{}/witness", split.first.front_url()));
        assert_eq!((status, served.trim()), (200, key.as_str()));
        let work = ca.work.path().to_owned();
        let attempt = std::cell::Cell::new(0);
        within(
            Duration::from_secs(20),
            "an RA node's cosignature of the CA's checkpoint",
            &|| {
                attempt.set(attempt.get() + 1);
                let out = work.join(format!("ca-export-{}", attempt.get()));
                export_entries(&ca.data, &out);
                shuin()
                    .args(["ledger", "verify", "--witness-key", key, "--export"])
                    .arg(&out)
                    .output()
                    .unwrap()
                    .status
                    .success()
            },
        );
        // The witness is on a public listener: one client's flood is answered 429.
        let limited = (0..100)
            .filter(|_| get(&format!("{}/witness", split.first.front_url())).0 == 429)
            .count();
        assert!(limited > 0, "no 429 in 100 requests at once");
    }
    drop(split.ca_server);
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
    assert!(ra_kinds.contains(&"key.adopted".to_owned()), "{ra_kinds:?}");
    assert!(
        ca_kinds.contains(&"node_book.signed".to_owned()),
        "{ca_kinds:?}"
    );
}

/// Monitoring staff read the first RA node's figures and status from the remote zone with
/// their operator certificate, and there is no entry without a certificate. The session
/// is in the node's books.
fn monitoring_from_outside(split: &Split) {
    let monitor = crate::e2e_node_operators::enrol_at_ca(split, "monitor-1", "monitor");
    let (cert, key) = (monitor.cert, monitor.key);
    let server_ca = split.ca.data.join("ca/operator-ca.pem");
    let url = |path: &str| format!("https://127.0.0.1:{}{path}", split.monitor);
    let curl = |path: &str, with_cert: bool| {
        let mut command = std::process::Command::new("curl");
        command
            .args(["-s", "-w", "\n%{http_code}", "--cacert"])
            .arg(&server_ca);
        if with_cert {
            command.arg("--cert").arg(&cert).arg("--key").arg(&key);
        }
        let out = command.arg(url(path)).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let metrics = curl("/metrics", true);
    assert!(metrics.ends_with("\n200"), "{metrics}");
    for line in [
        "\nshuin_up 1\n",
        "\nshuin_ready 1\n",
        "\nshuin_sealed 0\n",
        "\nshuin_orders{state=\"queued\"} ",
    ] {
        assert!(metrics.contains(line), "{line:?} missing from {metrics}");
    }
    assert!(curl("/monitoring", true).ends_with("\n200"));
    let api = curl("/operator/v1/status", true);
    assert!(
        api.ends_with("\n200"),
        "the node's status for monitoring: {api}"
    );
    let refused = curl("/metrics", false);
    assert!(!refused.ends_with("\n200"), "{refused}");
    let opened = json_answer(&["ledger", "show"], &split.first.data);
    assert!(
        opened
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "session.opened" && e["payload"]["operator"] == "monitor-1"),
        "the monitoring session in the node's books"
    );
}

/// The certificate `serial` as `card`'s holder obtains it with `shuin disclose` at the
/// RA node `front`.
fn disclosed_certificate(
    work: &Path,
    front: &str,
    card: &shuin_testkit::TestCard,
    serial: &str,
) -> Value {
    let card_dir = work.join("holder-card");
    if !card_dir.exists() {
        card.write_dir(&card_dir).unwrap();
    }
    let records = work.join("disclosed.json");
    let _ = std::fs::remove_file(&records);
    let disclosed = shuin()
        .args(["disclose", "--server", front, "--card-key"])
        .arg(card_dir.join("key.pem"))
        .arg("--card-cert")
        .arg(card_dir.join("cert.pem"))
        .arg("--out")
        .arg(&records)
        .output()
        .unwrap();
    assert!(
        disclosed.status.success(),
        "{}",
        String::from_utf8_lossy(&disclosed.stderr)
    );
    let records: Value = serde_json::from_slice(&std::fs::read(&records).unwrap()).unwrap();
    let applications = records["applications"].as_array().unwrap().iter();
    let certificates = applications.flat_map(|a| a["certificates"].as_array().unwrap().iter());
    certificates
        .clone()
        .find(|c| c["serial"] == serial)
        .cloned()
        .unwrap()
}

/// Waits until `shuin ledger verify` passes on the node at `data`.
fn books_verify_within(data: &Path, limit: Duration, logs: &dyn Fn() -> String) {
    let started = std::time::Instant::now();
    loop {
        let out = shuin()
            .args(["ledger", "verify", "--data"])
            .arg(data)
            .output()
            .unwrap();
        if out.status.success() {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "ledger verify {}: {}\n{}",
            data.display(),
            String::from_utf8_lossy(&out.stderr),
            logs()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The CA is killed (SIGKILL) and restarted while applications flow to both RA nodes,
/// then one RA node is: every answer is an issuance or a retryable refusal, no serial
/// and no application is issued twice, service resumes, and the books verify.
#[test]
fn killing_the_ca_or_an_ra_node_under_load_issues_nothing_twice() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let card = card(&jlis, |_| {});
    let mut split = Split::start(jlis, 0);
    let fronts = [split.first.front_url(), split.second.front_url()];
    let issued = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let outcomes = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for front in &fronts {
            let (card, issued, stop, outcomes) = (&card, &issued, &stop, &outcomes);
            scope.spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let outcome = try_apply_at(front, card);
                    if matches!(outcome, Ok((201, _))) {
                        issued.fetch_add(1, Ordering::SeqCst);
                    }
                    if outcome.is_err() {
                        std::thread::sleep(Duration::from_millis(100));
                    }
                    outcomes.lock().unwrap().push((front.clone(), outcome));
                }
            });
        }
        let until_issued = |split: &Split, count: usize| {
            let started = std::time::Instant::now();
            while issued.load(Ordering::SeqCst) < count {
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "{count} issuances not reached\n{}",
                    split.logs()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        };
        until_issued(&split, 4);
        // kill -9 of the CA mid-load, and a restart.
        split.ca_server.0.kill().unwrap();
        split.ca_server.0.wait().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        split.ca_server = spawn(
            &["serve", "--role", "ca"],
            &split.ca.data,
            split.logs[0].clone(),
        );
        let after_ca = issued.load(Ordering::SeqCst);
        until_issued(&split, after_ca + 4);
        // kill -9 of the first RA node mid-load, and a restart.
        split.ra_servers[0].0.kill().unwrap();
        split.ra_servers[0].0.wait().unwrap();
        std::thread::sleep(Duration::from_millis(500));
        split.ra_servers[0] = spawn(
            &["serve", "--role", "ra"],
            &split.first.data,
            split.logs[1].clone(),
        );
        wait_for(&format!("{}/healthz", fronts[0]), &split.logs[1]);
        let after_ra = issued.load(Ordering::SeqCst);
        until_issued(&split, after_ra + 4);
        stop.store(true, Ordering::SeqCst);
    });

    // Every answer was an issuance or a retryable refusal; a transport error only when
    // a process was killed.
    let outcomes = outcomes.into_inner().unwrap();
    let count = |f: &dyn Fn(&Attempt) -> bool| outcomes.iter().filter(|(_, o)| f(o)).count();
    eprintln!(
        "applications: {} issued, {} answered 503, {} not answered (a process killed)",
        count(&|o| matches!(o, Ok((201, _)))),
        count(&|o| matches!(o, Ok((503, _)))),
        count(&|o| o.is_err())
    );
    let mut serials = std::collections::BTreeSet::new();
    for (front, outcome) in &outcomes {
        match outcome {
            Ok((201, answer)) => {
                let serial = answer["serial"].as_str().unwrap().to_owned();
                assert!(serials.insert(serial), "a serial answered twice: {answer}");
            }
            // Retryable: the CA was away, or the order waits for it.
            Ok((503, _)) => {}
            Ok((status, answer)) => panic!("{front}: {status} {answer}\n{}", split.logs()),
            Err(_) => {}
        }
    }
    // The CA's books: no serial and no application issued twice.
    let books = json_answer(&["ledger", "show", "--book", "application"], &split.ca.data);
    let mut issued_serials = std::collections::BTreeSet::new();
    let mut applications = std::collections::BTreeSet::new();
    for entry in books.as_array().unwrap() {
        if entry["kind"] != "certificate.issued" {
            continue;
        }
        let subjects = entry["subjects"].as_array().unwrap();
        for subject in subjects.iter().filter_map(Value::as_str) {
            if subject.starts_with("serial:") {
                assert!(issued_serials.insert(subject.to_owned()), "{entry}");
            }
            if subject.starts_with("application:") {
                assert!(
                    applications.insert(subject.to_owned()),
                    "issued twice: {entry}"
                );
            }
        }
    }
    assert!(
        issued_serials.len() >= serials.len(),
        "{} < {}",
        issued_serials.len(),
        serials.len()
    );
    // The restarted RA node (holding no OCSP answer) and the restarted CA (a new epoch of
    // answers) meet again: the node's repository answers for a certificate issued before
    // both restarts, with a CRL of the issuing CA.
    let repository = format!("http://127.0.0.1:{}", split.first.repository);
    let issuing_der = get_bytes(&format!("{repository}/repository/ca.crt"));
    let first = shuin_core::Serial::from_hex(serials.iter().next().unwrap()).unwrap();
    let started = std::time::Instant::now();
    loop {
        let ocsp = shuin_client::ocsp_status(&format!("{repository}/ocsp"), &issuing_der, &first);
        let crl = shuin_client::crl_lists(
            &format!("{repository}/repository/ca.crl"),
            &issuing_der,
            &first,
        );
        if matches!(ocsp, Ok(shuin_client::OcspAnswer::Good)) && crl.is_ok() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{ocsp:?} {crl:?}\n{}",
            split.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The RA nodes' books verify (the restarted CA signs them again), then the CA's.
    for node in [&split.first, &split.second] {
        books_verify_within(&node.data, Duration::from_secs(15), &|| split.logs());
    }
    drop(split.ca_server);
    assert_books_verify(&split.ca.data);
}
