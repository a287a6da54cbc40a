//! The crash harness (issue 14; docs/reliability.md, "Crash harness"). The server is
//! killed with SIGKILL at random moments while applications, holders' revocations and
//! CRL and OCSP fetches flow, and started again, `SHUIN_CRASH_KILLS` times (3 by default,
//! as CI runs it on SQLite and again on PostgreSQL; `tests/crash/run 20` runs 20 on
//! both). `SHUIN_CRASH_SEED` repeats a run's timing. After the last restart:
//!
//! - every `201` answer's application is issued with that serial, and the books hold its
//!   acceptance and its certificate;
//! - every application the books accepted ends issued, or rejected with a reason code;
//! - every revocation answered `revoked`, and every one the books accepted, is on the CRL
//!   and answered revoked by OCSP;
//! - no serial is issued twice, and no application;
//! - `shuin ledger verify` passes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::load::{signed_application, submit_application, try_apply_at, try_revoke_at};
use crate::common::*;
use serde_json::Value;
use shuin_testkit::SimulatedJlisCa;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long after the last restart everything must have settled: an interrupted
/// issuance resumes once its approval is a minute old (`shuin_ra::RESUME_AFTER`), an
/// accepted revocation without its row is applied after two
/// (`shuin_ca::reconcile::RECONCILE_AFTER`), and reconciliation runs every ten seconds.
const SETTLED_WITHIN: Duration = Duration::from_secs(200);

/// What the clients were answered, over every round.
#[derive(Default)]
struct Answered {
    /// Application id → serial, for each `201`.
    issued: BTreeMap<String, String>,
    /// Serials answered `revoked`.
    revoked: BTreeSet<String>,
    /// Serials a revocation was sent for (whatever the answer).
    revocation_sent: BTreeSet<String>,
}

/// A small deterministic generator for the kill moments (xorshift64*).
struct Moments(u64);

impl Moments {
    fn next_millis(&mut self, from: u64, to: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        from + self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % (to - from)
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Applications from two clients, revocations of issued certificates by their holder,
/// and CRL and OCSP fetches, until `stop`.
fn load(
    front: &str,
    card: &shuin_testkit::TestCard,
    answered: &Mutex<Answered>,
    stop: &AtomicBool,
) {
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    if let Ok((201, answer)) = try_apply_at(front, card) {
                        let id = answer["application_id"].as_str().unwrap().to_owned();
                        let serial = answer["serial"].as_str().unwrap().to_lowercase();
                        let mut answered = answered.lock().unwrap();
                        let earlier = answered.issued.insert(id, serial);
                        assert!(earlier.is_none(), "an application answered 201 twice");
                    }
                }
            });
        }
        scope.spawn(|| {
            while !stop.load(Ordering::SeqCst) {
                let next = {
                    let mut answered = answered.lock().unwrap();
                    let next = answered
                        .issued
                        .values()
                        .find(|s| !answered.revocation_sent.contains(*s))
                        .cloned();
                    if let Some(serial) = &next {
                        answered.revocation_sent.insert(serial.clone());
                    }
                    next
                };
                let Some(serial) = next else {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                };
                if let Ok((200, answer)) = try_revoke_at(front, card, &serial) {
                    assert_eq!(answer["status"], "revoked", "{answer}");
                    answered.lock().unwrap().revoked.insert(serial);
                }
            }
        });
        scope.spawn(|| {
            while !stop.load(Ordering::SeqCst) {
                let _ = get(&format!("{front}/repository/ca.crl"));
                let _ = get(&format!("{front}/healthz"));
                std::thread::sleep(Duration::from_millis(20));
            }
        });
    });
}

/// The application book's entries (the server may be running).
fn application_book(instance: &Instance) -> Vec<Value> {
    let entries = json_answer(&["ledger", "show", "--book", "application"], &instance.data);
    entries.as_array().unwrap().clone()
}

fn subject<'a>(entry: &'a Value, prefix: &str) -> Option<&'a str> {
    let subjects = entry["subjects"].as_array()?;
    subjects
        .iter()
        .filter_map(Value::as_str)
        .find_map(|s| s.strip_prefix(prefix))
}

/// Applications the books accepted, and those that ended (issued, or rejected).
fn accepted_and_ended(entries: &[Value]) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut accepted, mut ended) = (BTreeSet::new(), BTreeSet::new());
    for entry in entries {
        let Some(id) = subject(entry, "application:") else {
            continue;
        };
        match entry["kind"].as_str() {
            Some("application.accepted" | "application.approved") => {
                accepted.insert(id.to_owned());
            }
            Some("certificate.issued") => {
                ended.insert(id.to_owned());
            }
            Some("application.rejected") => {
                assert!(
                    entry["payload"]["reason"].is_string() || entry["payload"]["code"].is_string(),
                    "a rejection without a reason: {entry}"
                );
                ended.insert(id.to_owned());
            }
            _ => {}
        }
    }
    (accepted, ended)
}

#[test]
fn kill_9_at_random_moments_loses_nothing_and_repeats_nothing() {
    let kills = env_number("SHUIN_CRASH_KILLS", 3);
    let seed = env_number("SHUIN_CRASH_SEED", u64::from(std::process::id()) | 1);
    eprintln!("crash harness: {kills} kills, SHUIN_CRASH_SEED={seed}");
    let mut moments = Moments(seed);
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let card = card(&jlis, |_| {});
    let mut instance = Instance::start(&[], jlis);
    let front = instance.base.clone();
    let answered = Mutex::new(Answered::default());
    for round in 0..kills {
        if round > 0 {
            instance.serve();
        }
        let stop = AtomicBool::new(false);
        std::thread::scope(|scope| {
            scope.spawn(|| load(&front, &card, &answered, &stop));
            std::thread::sleep(Duration::from_millis(moments.next_millis(300, 2500)));
            instance.kill();
            stop.store(true, Ordering::SeqCst);
        });
    }
    instance.serve();
    let restarted = Instant::now();
    let answered = answered.into_inner().unwrap();
    let log =
        || std::fs::read_to_string(instance.work.path().join("serve.log")).unwrap_or_default();

    // Every accepted application ends, issued or rejected (an interrupted issuance is
    // resumed once its approval is a minute old: shuin_ra::RESUME_AFTER).
    let entries = loop {
        let entries = application_book(&instance);
        let (accepted, ended) = accepted_and_ended(&entries);
        let open: Vec<&String> = accepted.difference(&ended).collect();
        if open.is_empty() {
            break entries;
        }
        assert!(
            restarted.elapsed() < SETTLED_WITHIN,
            "accepted applications never ended: {open:?}\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(500));
    };

    // No serial and no application issued twice.
    let mut serials = BTreeSet::new();
    let mut applications = BTreeSet::new();
    for entry in entries.iter().filter(|e| e["kind"] == "certificate.issued") {
        let serial = subject(entry, "serial:").unwrap().to_lowercase();
        assert!(serials.insert(serial), "a serial issued twice: {entry}");
        let id = subject(entry, "application:").unwrap().to_owned();
        assert!(
            applications.insert(id),
            "an application issued twice: {entry}"
        );
    }
    // Every 201 answer is issued with its serial, in the books and through the API.
    let (accepted, _) = accepted_and_ended(&entries);
    for (id, serial) in &answered.issued {
        assert!(
            accepted.contains(id),
            "answered 201 but never accepted: {id}"
        );
        assert!(
            serials.contains(serial),
            "answered 201 but not issued: {serial}"
        );
        let (status, text) = get(&instance.url(&format!("/api/v1/applications/{id}")));
        let status_answer: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert_eq!(status, 200, "{text}");
        assert_eq!(status_answer["status"], "issued", "{status_answer}");
        assert_eq!(
            status_answer["serial"]
                .as_str()
                .map(str::to_lowercase)
                .as_deref(),
            Some(serial.as_str())
        );
    }

    // Every revocation answered or accepted is on the CRL and in OCSP.
    let revocations = json_answer(&["ledger", "show", "--book", "revocation"], &instance.data);
    let mut revoked: BTreeSet<String> = answered.revoked.clone();
    for entry in revocations.as_array().unwrap() {
        if entry["kind"] == "revocation.accepted" {
            revoked.insert(subject(entry, "serial:").unwrap().to_lowercase());
        }
    }
    let issuing_der = get_bytes(&instance.url("/repository/ca.crt"));
    for serial in &revoked {
        let parsed = shuin_core::Serial::from_hex(serial).unwrap();
        loop {
            let crl =
                shuin_client::crl_lists(&instance.url("/repository/ca.crl"), &issuing_der, &parsed);
            let ocsp = shuin_client::ocsp_status(&instance.url("/ocsp"), &issuing_der, &parsed);
            if crl.as_ref().is_ok_and(|(listed, _)| *listed)
                && matches!(ocsp, Ok(shuin_client::OcspAnswer::Revoked(_)))
            {
                break;
            }
            assert!(
                restarted.elapsed() < SETTLED_WITHIN,
                "{serial} accepted for revocation: CRL {crl:?}, OCSP {ocsp:?}\n{}",
                log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    eprintln!(
        "crash harness: {} answered 201, {} issued in all, {} revoked",
        answered.issued.len(),
        serials.len(),
        revoked.len()
    );
    assert!(
        !answered.issued.is_empty(),
        "nothing was issued between the kills"
    );

    // The books verify.
    instance.stop();
    assert_books_verify(&instance.data);
}

/// A tmpfs of `megabytes` at `dir` (root only); `None` where mounting is not allowed.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &std::path::Path, megabytes: u32) -> Option<SmallDisk> {
        std::fs::create_dir_all(dir).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m"), "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .ok()?;
        status.success().then(|| SmallDisk(dir.to_owned()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fills the file system of `dir` with `dir/filler` until writing fails.
fn fill(dir: &std::path::Path) {
    use std::io::Write;
    let mut file = std::fs::File::create(dir.join("filler")).unwrap();
    let block = vec![0u8; 64 * 1024];
    while file
        .write_all(&block)
        .and_then(|()| file.sync_all())
        .is_ok()
    {}
}

/// A full disk under a running SQLite instance: applications are refused with a
/// retryable error, nothing half-made is answered or kept, the server stays up, and
/// once space is back it issues again and its books verify.
#[test]
fn a_full_disk_fails_closed_and_recovers_when_space_is_back() {
    if std::env::var("SHUIN_TEST_STORE").as_deref() == Ok("postgres") {
        eprintln!("skipped: the full disk is the SQLite instance's own");
        return;
    }
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let card = card(&jlis, |_| {});
    let mut instance = Instance::start(&[], jlis);
    instance.stop();
    // The instance directory moves onto a small file system of its own.
    let small = instance.work.path().join("small");
    let Some(disk) = SmallDisk::mount(&small, 16) else {
        assert!(
            std::env::var("SHUIN_REQUIRE_TMPFS").is_err(),
            "SHUIN_REQUIRE_TMPFS is set but a tmpfs cannot be mounted here"
        );
        eprintln!("skipped: mounting a tmpfs is not allowed here (root only)");
        return;
    };
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg(instance.data.join("."))
        .arg(&small)
        .status()
        .unwrap();
    assert!(status.success());
    instance.data = small.clone();
    instance.serve();
    let front = instance.base.clone();
    let log =
        || std::fs::read_to_string(instance.work.path().join("serve.log")).unwrap_or_default();
    let (status, answer) = try_apply_at(&front, &card).unwrap();
    assert_eq!(status, 201, "{answer}");

    // Applications signed on challenges taken before the disk filled up reach the
    // application's own writes; fresh ones are refused at their challenge.
    let prepared: Vec<Vec<u8>> = (0..5)
        .map(|_| signed_application(&front, &card).unwrap().unwrap())
        .collect();
    fill(&small);
    let mut refused = 0;
    let attempts = prepared
        .iter()
        .map(|cms| submit_application(&front, cms))
        .chain((0..5).map(|_| try_apply_at(&front, &card)));
    for attempt in attempts {
        match attempt {
            Ok((201, answer)) => {
                // Space freed by SQLite's own pages: the answer must be whole.
                assert!(answer["certificate_pem"].is_string(), "{answer}");
            }
            Ok((503, answer)) => {
                assert_eq!(answer["code"], "service_unavailable", "{answer}");
                refused += 1;
            }
            Ok((status, answer)) => panic!("a full disk answered {status} {answer}\n{}", log()),
            Err(e) => panic!(
                "the server stopped answering on a full disk: {e}\n{}",
                log()
            ),
        }
    }
    assert!(refused > 0, "a full disk refused nothing\n{}", log());
    eprintln!("full disk: {refused} of 10 applications refused with 503");
    assert!(
        log().contains("database or disk is full"),
        "the log names the cause\n{}",
        log()
    );
    assert_eq!(get(&instance.url("/healthz")).0, 200, "{}", log());

    // Space is back: it issues again.
    std::fs::remove_file(small.join("filler")).unwrap();
    let started = Instant::now();
    loop {
        match try_apply_at(&front, &card) {
            Ok((201, _)) => break,
            other => assert!(
                started.elapsed() < Duration::from_secs(30),
                "no issuance once space was back: {other:?}\n{}",
                log()
            ),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    // Nothing accepted is left open (an application accepted before its write failed
    // is completed from the books).
    let settled = Instant::now();
    loop {
        let (accepted, ended) = accepted_and_ended(&application_book(&instance));
        if accepted.is_subset(&ended) {
            break;
        }
        assert!(
            settled.elapsed() < SETTLED_WITHIN,
            "accepted but never ended: {:?}\n{}",
            accepted.difference(&ended).collect::<Vec<_>>(),
            log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    instance.stop();
    assert_books_verify(&small);
    drop(instance);
    drop(disk);
}
