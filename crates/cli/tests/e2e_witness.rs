//! Witnesses, end to end through the real binary (issue 13 item 2): two `shuin witness`
//! processes cosign the checkpoints of a running instance; a forked head (another tree
//! of the same origin signed with the same audit key) is refused by both, and still by a
//! restarted one; an export's cosignatures verify with `--witness-key`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use crate::common::*;
use base64::Engine;
use serde_json::Value;
use shuin_keys::{KeyBackend, KeyRef, SoftwareBackend};
use shuin_ledger::export::ENTRIES_FILE;
use shuin_ledger::{Checkpoint, NoteKey, SignedNote, WitnessKey};
use shuin_testkit::SimulatedJlisCa;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

/// A `shuin witness serve` child, killed on drop.
pub(crate) struct WitnessProcess {
    data: PathBuf,
    pub(crate) base: String,
    pub(crate) key: WitnessKey,
    child: Option<Child>,
}

impl WitnessProcess {
    pub(crate) fn init(work: &Path, name: &str, log_key: &str) -> WitnessProcess {
        let data = work.join(name.replace('/', "_"));
        let out = shuin()
            .args(["witness", "init", "--json", "--data"])
            .arg(&data)
            .args(["--name", name, "--log-key", log_key])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let made: Value = serde_json::from_slice(&out.stdout).unwrap();
        let key = WitnessKey::from_verifier_key(made["verifier_key"].as_str().unwrap()).unwrap();
        let port = crate::common::free_port();
        let mut witness = WitnessProcess {
            data,
            base: format!("http://127.0.0.1:{port}"),
            key,
            child: None,
        };
        witness.start();
        witness
    }

    fn start(&mut self) {
        let log = std::fs::File::create(self.data.join("serve.log")).unwrap();
        let child = shuin()
            .args(["witness", "serve", "--data"])
            .arg(&self.data)
            .args(["--listen", self.base.trim_start_matches("http://")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..200 {
            if get(&format!("{}/", self.base)).0 == 200 {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the witness did not come up");
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// POST /add-checkpoint: (status, body).
    fn add_checkpoint(&self, body: &str) -> (u16, String) {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut answer = agent
            .post(&format!("{}/add-checkpoint", self.base))
            .send(body.as_bytes())
            .unwrap();
        let status = answer.status().as_u16();
        (status, answer.body_mut().read_to_string().unwrap())
    }
}

impl Drop for WitnessProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The audit key's verifier key and its `soft:` file, from an export's facility entry.
fn audit_key_of(export: &Path) -> (String, String) {
    let entries = std::fs::read_to_string(export.join(ENTRIES_FILE)).unwrap();
    let entry: Value = entries
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|e| e["payload"]["purpose"] == "ledger_checkpoints")
        .unwrap();
    (
        entry["payload"]["verifier_key"]
            .as_str()
            .unwrap()
            .to_owned(),
        entry["payload"]["uri"].as_str().unwrap().to_owned(),
    )
}

fn export(instance: &Instance, out: &Path) {
    let done = shuin()
        .args(["ledger", "export", "--data"])
        .arg(&instance.data)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
}

/// Waits until the served checkpoint is cosigned by both witnesses; returns it.
fn cosigned_checkpoint(
    instance: &Instance,
    log: &NoteKey,
    witnesses: &[&WitnessProcess],
) -> String {
    for _ in 0..300 {
        let (status, body) = get(&instance.url("/ledger/v1/checkpoint"));
        if status == 200 {
            let note = SignedNote::parse(&body).unwrap();
            log.verify(&note).unwrap();
            if witnesses.iter().all(|w| w.key.verify(&note).is_ok()) {
                return body;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "the checkpoint was not cosigned: {}",
        std::fs::read_to_string(instance.work.path().join("serve.log")).unwrap_or_default()
    );
}

fn body(old: u64, proof: &[[u8; 32]], note: &str) -> String {
    let mut text = format!("old {old}\n");
    for hash in proof {
        text.push_str(&base64::engine::general_purpose::STANDARD.encode(hash));
        text.push('\n');
    }
    format!("{text}\n{note}")
}

#[test]
fn two_witnesses_cosign_a_running_instance_and_refuse_a_fork() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let card = card(&jlis, |_| {});
    let mut instance = Instance::start(&[], jlis);
    let work = instance.work.path().to_owned();

    // The log's verifier key comes from the facility book (an export shows it).
    instance.stop();
    let first = work.join("first-export");
    export(&instance, &first);
    let (log_vkey, audit_uri) = audit_key_of(&first);
    let log = NoteKey::from_verifier_key(&log_vkey).unwrap();

    // Two third parties run witnesses for this log.
    let mut one = WitnessProcess::init(&work, "witness.example/one", &log_vkey);
    let two = WitnessProcess::init(&work, "witness.example/two", &log_vkey);
    let witnesses = format!(
        "\n[[ledger.witnesses]]\nurl = \"{}\"\nkey = \"{}\"\n\n[[ledger.witnesses]]\nurl = \"{}\"\nkey = \"{}\"\n",
        one.base,
        one.key.verifier_key(),
        two.base,
        two.key.verifier_key()
    );
    instance.edit_config(
        "checkpoint_every_seconds = 60\n",
        "checkpoint_every_seconds = 1\nwitness_quorum = 2\n",
    );
    instance.append_config(&witnesses);
    instance.serve();

    // Traffic: the next checkpoints are cosigned by both.
    let (status, answer) = instance.apply(&card, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 201, "{answer}");
    let cosigned = cosigned_checkpoint(&instance, &log, &[&one, &two]);
    let head = Checkpoint::parse_body(&SignedNote::parse(&cosigned).unwrap().text).unwrap();
    let (status, answer) = instance.apply(&card, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 201, "{answer}");
    let later = loop {
        let note = cosigned_checkpoint(&instance, &log, &[&one, &two]);
        let checkpoint = Checkpoint::parse_body(&SignedNote::parse(&note).unwrap().text).unwrap();
        if checkpoint.size > head.size {
            break checkpoint;
        }
        std::thread::sleep(Duration::from_millis(200));
    };

    // A forked head: another tree of the same origin, signed with the real audit key
    // (as an insider holding it could), is refused by both witnesses.
    let key_dir = find_key_dir(&instance.data, &audit_uri);
    let signer = SoftwareBackend::new(key_dir)
        .signer(&KeyRef::parse(&audit_uri).unwrap())
        .unwrap();
    let sign = |size: u64, root: [u8; 32]| {
        Checkpoint {
            origin: later.origin.clone(),
            size,
            root,
        }
        .sign(&log, |m| signer.sign(m))
        .unwrap()
    };
    // The instance is stopped (its shutdown checkpoint went to the witnesses before its
    // store closed), so each witness's size stays put while it is probed: a request
    // from size 0 is answered 409 with that size.
    instance.stop();
    let probe = sign(1 << 40, [9; 32]);
    let size_of = |witness: &WitnessProcess| {
        let (status, text) = witness.add_checkpoint(&body(0, &[], &probe));
        assert_eq!(status, 409, "{text}");
        text.trim_end().parse::<u64>().unwrap()
    };
    let refuses_forks = |witness: &WitnessProcess| -> u64 {
        let size = size_of(witness);
        assert!(size >= later.size);
        let same_size = sign(size, [7; 32]);
        let (status, text) = witness.add_checkpoint(&body(size, &[], &same_size));
        assert_eq!(status, 422, "{text}");
        assert!(text.starts_with("consistency_proof_invalid\n"), "{text}");
        let longer = sign(size + 3, [8; 32]);
        let (status, text) = witness.add_checkpoint(&body(size, &[[1; 32], [2; 32]], &longer));
        assert_eq!(status, 422, "{text}");
        size
    };
    let size_one = refuses_forks(&one);
    refuses_forks(&two);

    // A restarted witness remembers what it cosigned, and keeps refusing.
    one.stop();
    one.start();
    assert_eq!(refuses_forks(&one), size_one);

    // The export carries the cosigned checkpoints; the witnesses' keys verify them.
    let exported = work.join("cosigned-export");
    export(&instance, &exported);
    let out = shuin()
        .args(["ledger", "verify", "--json", "--export"])
        .arg(&exported)
        .args(["--witness-key", &one.key.verifier_key()])
        .args(["--witness-key", &two.key.verifier_key()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["witnesses"]["quorum"], 2);
    assert!(report["witnesses"]["newest_final_size"].as_u64().unwrap() >= later.size);
    // The shutdown checkpoint, the export's last, was cosigned before the store closed.
    assert_eq!(
        report["witnesses"]["newest_final_size"], report["size"],
        "{report}"
    );
    // A witness that never cosigned: no checkpoint is final for it.
    let stranger = WitnessProcess::init(&work, "witness.example/stranger", &log_vkey);
    let out = shuin()
        .args(["ledger", "verify", "--export"])
        .arg(&exported)
        .args(["--witness-key", &stranger.key.verifier_key()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no checkpoint is final"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The directory under the instance in which the `soft:` audit key file lies.
fn find_key_dir(data: &Path, uri: &str) -> PathBuf {
    let relative = uri.trim_start_matches("soft:");
    let mut stack = vec![data.to_owned()];
    while let Some(dir) = stack.pop() {
        if dir.join(relative).is_file() {
            return dir;
        }
        for item in std::fs::read_dir(&dir).unwrap().flatten() {
            if item.file_type().unwrap().is_dir() {
                stack.push(item.path());
            }
        }
    }
    panic!("no key file for {uri} under {}", data.display());
}
