//! Operators at an RA node of the split deployment (issue 12): an LRA enrolled at the
//! CA's console approves and revokes on the RA node's operator listener (secure zone,
//! mutual TLS) with `shuin ... --server`. The node decides with the roster the CA's link
//! handed over, and records the requests in its own books; issuer-key actions are
//! refused by the zone, and the CA's own actions do not exist there.

use crate::common::operators::{certificate_path, key_path};
use crate::common::*;
use crate::e2e_split::Split;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// An operator enrolled at the CA: their certificate and key file.
pub(crate) struct Enrolled {
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

pub(crate) fn enrol_at_ca(split: &Split, name: &str, role: &str) -> Enrolled {
    split.ca.add_operator(name, role);
    let work = split.ca.work.path();
    Enrolled {
        cert: certificate_path(work, name),
        key: key_path(work, name),
    }
}

/// `shuin ARGS --json` as `operator` on the listener `url`, trusting the operator CA
/// (which certified the node).
fn at_node(url: &str, server_ca: &Path, operator: &Enrolled, args: &[&str]) -> Output {
    shuin()
        .args(args)
        .args(["--json", "--server", url, "--server-ca"])
        .arg(server_ca)
        .arg("--operator-cert")
        .arg(&operator.cert)
        .arg("--operator-key")
        .arg(format!("file:{}", operator.key.display()))
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The LRA's work at the first RA node, for an application `pending` there.
pub(crate) fn lra_at_an_ra_node(split: &Split, pending: &str) {
    let lra = enrol_at_ca(split, "lra-at-node", "lra");
    let server_ca = split.ca.data.join("ca/operator-ca.pem");
    let url = format!("https://127.0.0.1:{}", split.operator);
    let node = |operator: &Enrolled, args: &[&str]| at_node(&url, &server_ca, operator, args);

    // The node knows the LRA once the CA's link has handed over the roster (a take or
    // two); until then, it decides nothing.
    let started = Instant::now();
    let listed = loop {
        let out = node(&lra, &["review", "list"]);
        if out.status.success() {
            break out;
        }
        let refusal = stderr(&out);
        assert!(
            refusal.contains("roster_unavailable") || refusal.contains("operator_unknown"),
            "{refusal}\n{}",
            split.logs()
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the node never learnt of the LRA: {refusal}\n{}",
            split.logs()
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == pending),
        "{listed}"
    );

    // Approved at the node: the order goes to the CA over its link, which issues.
    let approved = node(&lra, &["review", "approve", "--id", pending]);
    assert!(
        approved.status.success(),
        "{}\n{}",
        stderr(&approved),
        split.logs()
    );
    let approved: Value = serde_json::from_slice(&approved.stdout).unwrap();
    assert_eq!(
        (&approved["status"], &approved["approver"]),
        (&Value::from("issued"), &Value::from("lra-at-node")),
        "{approved}"
    );
    let serial = approved["serial"].as_str().unwrap().to_owned();

    // Revoked at the node, through the CA.
    let revoked = node(
        &lra,
        &["revoke", "--serial", &serial, "--reason", "keyCompromise"],
    );
    assert!(
        revoked.status.success(),
        "{}\n{}",
        stderr(&revoked),
        split.logs()
    );
    let revoked: Value = serde_json::from_slice(&revoked.stdout).unwrap();
    assert_eq!(revoked["status"], "revoked", "{revoked}");

    // A 利用者識別符号 registration is made at the node, where applicants apply; the CA's
    // console refuses it in a split deployment.
    let identity = [
        "--name",
        NAME,
        "--birth-date",
        BIRTH,
        "--address",
        ADDRESS,
        "--gender",
        "1",
    ];
    let mut create = vec!["registration", "create"];
    create.extend(identity);
    let made = node(&lra, &create);
    assert!(made.status.success(), "{}", stderr(&made));
    let made: Value = serde_json::from_slice(&made.stdout).unwrap();
    assert!(made["registration_id"].is_string(), "{made}");
    let at_ca = split.ca.as_operator("lra-at-node", &create);
    assert!(!at_ca.status.success());
    assert!(
        stderr(&at_ca).contains("registration_at_ra_node"),
        "{}",
        stderr(&at_ca)
    );

    // No issuer-key action from the secure zone, and none of the CA's console's actions
    // at a node, whatever the role.
    let share = split.ca.work.path().join("not-a-share.txt");
    std::fs::write(&share, "not a share").unwrap();
    let unseal = node(&lra, &["unseal", "--share-file", share.to_str().unwrap()]);
    assert!(!unseal.status.success());
    assert!(
        stderr(&unseal).contains("zone_refused"),
        "{}",
        stderr(&unseal)
    );
    let crl = node(&lra, &["crl"]);
    assert!(!crl.status.success());
    let refusal = stderr(&crl);
    assert!(
        refusal.contains("action_not_at_node: crl_now is done at the CA's console"),
        "{refusal}"
    );

    // The requests are in the node's books, signed by the LRA; the CA's carried out the
    // orders.
    let entries = json_answer(&["ledger", "show"], &split.first.data);
    let requests: Vec<&Value> = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "operator.request" && e["actor"]["name"] == "lra-at-node")
        .collect();
    let actions: Vec<&str> = requests
        .iter()
        .filter_map(|e| e["payload"]["action"].as_str())
        .collect();
    for action in ["review_list", "review_approve", "revoke"] {
        assert!(
            actions.contains(&action),
            "{action} missing from {actions:?}"
        );
    }
    periodic_review_at_the_node(split, &url, &server_ca);
}

/// The responsible person reviews the automatic decisions at the node, where the
/// acceptances and their evidence are: every issuance the CA answered (both RA nodes
/// share one store) is re-checked against its acceptance and evidence, with no
/// exception; the sign-off goes into the node's books.
fn periodic_review_at_the_node(split: &Split, url: &str, server_ca: &Path) {
    let rp = enrol_at_ca(split, "rp-at-node", "responsible_person");
    let since = shuin_core::timefmt::rfc3339(now() - Duration::from_secs(3600));
    let args = ["automation", "review", "--since", &since, "--sign-off"];
    let started = Instant::now();
    let review = loop {
        let out = at_node(url, server_ca, &rp, &args);
        if out.status.success() {
            break out;
        }
        let refusal = stderr(&out);
        assert!(
            refusal.contains("operator_unknown") || refusal.contains("roster_unavailable"),
            "{refusal}\n{}",
            split.logs()
        );
        assert!(started.elapsed() < Duration::from_secs(20), "{refusal}");
        std::thread::sleep(Duration::from_millis(300));
    };
    let review: Value = serde_json::from_slice(&review.stdout).unwrap();
    let recheck = &review["recheck"];
    assert_eq!(recheck["lra_approved"], 1, "{recheck}");
    assert!(recheck["automatic"].as_u64().unwrap() >= 2, "{recheck}");
    assert_eq!(
        recheck["exceptions"].as_array().map(Vec::len),
        Some(0),
        "{recheck}"
    );
    assert!(review["signed_off"]["seq"].is_u64(), "{review}");
    // At the CA's console the review leaves what the RA nodes ordered to theirs.
    let at_ca = split.ca.as_operator_json("rp-at-node", &args[..4]);
    let at_ca = &at_ca["recheck"];
    assert_eq!(at_ca["issuances_checked"], 0, "{at_ca}");
    assert!(
        at_ca["ordered_by_ra_nodes"].as_u64().unwrap() >= 3,
        "{at_ca}"
    );
}
