//! Two nodes of one instance on one database (PostgreSQL with SHUIN_TEST_STORE=postgres,
//! else one SQLite file), each a `shuin serve` process of its own, take applications at
//! the same time: every certificate gets its own serial, and the books stay one chain
//! that verifies (DESIGN.md section 7; issue 12 item 5).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use shuin_testkit::SimulatedJlisCa;
use std::collections::HashSet;

/// Given names for distinct applicants.
const GIVEN: [&str; 12] = [
    "一郎", "二郎", "三郎", "四郎", "五郎", "六郎", "七郎", "八郎", "九郎", "十郎", "花子", "桜子",
];

#[test]
fn two_nodes_on_one_database_issue_distinct_serials_and_keep_one_chain() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let cards: Vec<(String, shuin_testkit::TestCard)> = GIVEN
        .iter()
        .map(|given| {
            let name = format!("山田　{given}");
            let card = card(&jlis, |spec| spec.name = name.clone());
            (name, card)
        })
        .collect();
    let mut a = Instance::start(&[], jlis);
    let mut b = a.another_node();
    b.serve();

    let answers: Vec<(u16, serde_json::Value)> = std::thread::scope(|scope| {
        let handles: Vec<_> = cards
            .iter()
            .enumerate()
            .map(|(i, (name, card))| {
                let node = if i % 2 == 0 { &a } else { &b };
                scope.spawn(move || node.apply(card, name, BIRTH, ADDRESS))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut serials = HashSet::new();
    for (status, answer) in &answers {
        assert_eq!(*status, 201, "{answer}");
        assert_eq!(answer["status"], "issued", "{answer}");
        let serial = answer["serial"].as_str().unwrap().to_owned();
        assert!(
            serials.insert(serial.clone()),
            "serial {serial} issued twice"
        );
    }
    assert_eq!(serials.len(), GIVEN.len());

    // Both nodes' books are one chain: with both stopped, it verifies from either
    // node, identically, and holds every issuance once.
    a.stop();
    b.stop();
    let verified = |node: &Instance| {
        let out = shuin()
            .args(["ledger", "verify", "--data"])
            .arg(&node.data)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(verified(&a), verified(&b));
    let show = shuin()
        .args(["ledger", "show", "--json", "--data"])
        .arg(&b.data)
        .output()
        .unwrap();
    let entries: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    let issued = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "certificate.issued")
        .count();
    assert_eq!(issued, GIVEN.len());
}
