//! A soak (docs/reliability.md, "Soak"): mixed load against a running server for a
//! while, reported per period. The load:
//!
//! - two clients apply (a fresh challenge, key, CSR and card signature each), each at
//!   most ten applications a second;
//! - the holder revokes one issued certificate every half second;
//! - a client asks OCSP about a random issued certificate, every 10 ms;
//! - a client fetches the CRL every 200 ms, and the ledger checkpoint every second.
//!
//! Every period, a row gives the server's RSS and open file descriptors (from `/proc`),
//! each kind's count, p99 latency and errors. Any answer other than the expected one
//! (201, 200, an OCSP `good` or `revoked`) counts as an error, and the summary tallies
//! the errors by kind and cause.

use crate::issuance::{agent, load_card, prepare_one, terms_sha256, Card, Options};
use crate::latency::percentile_ms;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The kinds of request, in the report's column order.
const KINDS: [&str; 5] = ["apply", "revoke", "ocsp", "crl", "checkpoint"];

/// One period's observations, per kind.
#[derive(Default)]
struct Window {
    latencies: [Vec<Duration>; 5],
    errors: [usize; 5],
}

/// What the load shares.
struct Shared<'a> {
    options: &'a Options,
    base: String,
    card: Card,
    terms: String,
    issuer_der: Vec<u8>,
    issued: Mutex<Vec<String>>,
    window: Mutex<Window>,
    /// Errors by kind and cause, over the whole run.
    causes: Mutex<BTreeMap<String, usize>>,
    stop: AtomicBool,
}

impl Shared<'_> {
    fn record(&self, kind: usize, started: Instant, ok: bool) {
        let mut window = self
            .window
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(latencies) = window.latencies.get_mut(kind) {
            latencies.push(started.elapsed());
        }
        if !ok {
            if let Some(errors) = window.errors.get_mut(kind) {
                *errors += 1;
            }
        }
    }

    /// An error's cause, tallied for the summary.
    fn cause(&self, kind: usize, cause: &str) {
        let name = KINDS.get(kind).copied().unwrap_or("?");
        // Causes carry no serial or other varying detail beyond the first 100 bytes.
        let cause: String = cause.chars().take(100).collect();
        *self
            .causes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(format!("{name}: {cause}"))
            .or_default() += 1;
    }

    /// Runs `step` every `pause` until stopped.
    fn every(&self, pause: Duration, mut step: impl FnMut()) {
        while !self.stop.load(Ordering::SeqCst) {
            step();
            std::thread::sleep(pause);
        }
    }

    fn apply(&self, agent: &ureq::Agent) {
        let started = Instant::now();
        let answer = prepare_one(agent, self.options, &self.card, &self.terms).and_then(|body| {
            post(
                agent,
                &format!("{}/api/v1/applications", self.base),
                "application/pkcs7-mime",
                &body,
            )
        });
        let serial = match &answer {
            Ok((201, json)) => json["serial"].as_str().map(str::to_owned),
            _ => None,
        };
        self.record(0, started, serial.is_some());
        match &answer {
            Ok((status, _)) if serial.is_none() => self.cause(0, &format!("HTTP {status}")),
            Err(e) => self.cause(0, e),
            Ok(_) => {}
        }
        if let Some(serial) = serial {
            self.issued
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(serial);
        }
    }

    fn revoke(&self, agent: &ureq::Agent, next: &mut usize) {
        let serial = {
            let issued = self
                .issued
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            // One in ten issued certificates, the oldest first.
            let Some(serial) = issued.get(*next * 10).cloned() else {
                return;
            };
            serial
        };
        *next += 1;
        let started = Instant::now();
        let answer = self.revocation(agent, &serial);
        self.record(1, started, matches!(answer, Ok(200)));
        match answer {
            Ok(200) => {}
            Ok(status) => self.cause(1, &format!("HTTP {status}")),
            Err(e) => self.cause(1, &e),
        }
    }

    fn revocation(&self, agent: &ureq::Agent, serial: &str) -> Result<u16, String> {
        let challenge = crate::issuance::challenge(agent, &self.base)?;
        let body = serde_json::json!({"format": "shuin-revocation/1", "serial": serial,
            "reason": "keyCompromise", "nonce": challenge["nonce"]});
        let content = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let cms = shuin_client::cms_sign::sign_attached(
            &content,
            &self.card.certificate_der,
            &|message: &[u8]| shuin_keys::Signer::sign(&self.card.key, message),
        )
        .map_err(|e| e.to_string())?;
        let url = format!("{}/api/v1/revocations", self.base);
        post(agent, &url, "application/pkcs7-mime", &cms).map(|(status, _)| status)
    }

    fn ocsp(&self, pick: &mut u64) {
        let serial = {
            let issued = self
                .issued
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if issued.is_empty() {
                return;
            }
            *pick = pick.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let index = usize::try_from(*pick >> 33).unwrap_or(0) % issued.len();
            issued.get(index).cloned()
        };
        let Some(serial) = serial.and_then(|s| shuin_core::Serial::from_hex(&s)) else {
            return;
        };
        let started = Instant::now();
        let answer =
            shuin_client::ocsp_status(&format!("{}/ocsp", self.base), &self.issuer_der, &serial);
        let ok = matches!(
            answer,
            Ok(shuin_client::OcspAnswer::Good | shuin_client::OcspAnswer::Revoked(_))
        );
        self.record(2, started, ok);
        match answer {
            Ok(shuin_client::OcspAnswer::Unknown) => self.cause(2, "answered unknown"),
            Err(e) => self.cause(2, &e.to_string()),
            Ok(_) => {}
        }
    }

    fn fetch(&self, agent: &ureq::Agent, kind: usize, path: &str) {
        let started = Instant::now();
        let answer = agent
            .get(format!("{}{path}", self.base))
            .call()
            .map_err(|e| e.to_string())
            .and_then(|mut r| {
                let status = r.status().as_u16();
                r.body_mut()
                    .read_to_vec()
                    .map(|_| status)
                    .map_err(|e| e.to_string())
            });
        self.record(kind, started, matches!(answer, Ok(200)));
        match answer {
            Ok(200) => {}
            Ok(status) => self.cause(kind, &format!("HTTP {status}")),
            Err(e) => self.cause(kind, &e),
        }
    }
}

fn post(
    agent: &ureq::Agent,
    url: &str,
    content_type: &str,
    body: &[u8],
) -> Result<(u16, serde_json::Value), String> {
    let mut response = agent
        .post(url)
        .header("Content-Type", content_type)
        .send(body)
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    Ok((status, serde_json::from_str(&text).unwrap_or_default()))
}

/// The server's resident memory (KiB) and open file descriptors.
fn server_facts(pid: u32) -> (u64, usize) {
    let facts = crate::server_process::facts(pid);
    (facts.rss_kib, facts.fds)
}

/// One report row.
fn row(minute: f64, facts: (u64, usize), window: &Window) -> String {
    let mut row = format!("| {minute:.1} | {} | {} |", facts.0 / 1024, facts.1);
    for (latencies, errors) in window.latencies.iter().zip(window.errors) {
        let mut sorted = latencies.clone();
        let p99 = if sorted.is_empty() {
            "-".to_owned()
        } else {
            format!("{:.1}", percentile_ms(&mut sorted, 99))
        };
        row.push_str(&format!(" {} / {p99} / {errors} |", sorted.len()));
    }
    row
}

/// Runs the soak for `minutes`, printing a row every `period`; returns the summary.
pub(crate) fn run(
    options: &Options,
    minutes: f64,
    period: Duration,
    pid: u32,
) -> Result<String, String> {
    let base = options.server.trim_end_matches('/').to_owned();
    let agent0 = agent();
    let mut response = agent0
        .get(format!("{base}/repository/ca.crt"))
        .call()
        .map_err(|e| e.to_string())?;
    let issuer_der = response
        .body_mut()
        .read_to_vec()
        .map_err(|e| e.to_string())?;
    let shared = Shared {
        options,
        terms: terms_sha256(&agent0, &base)?,
        base,
        card: load_card(options)?,
        issuer_der,
        issued: Mutex::new(Vec::new()),
        window: Mutex::new(Window::default()),
        causes: Mutex::new(BTreeMap::new()),
        stop: AtomicBool::new(false),
    };
    let mut header = "| minute | RSS MiB | fds |".to_owned();
    for kind in KINDS {
        header.push_str(&format!(" {kind} n / p99 ms / errors |"));
    }
    println!("{header}\n|{}", "---|".repeat(3 + KINDS.len()));
    let (first, mut last, mut errors) = (server_facts(pid), (0, 0), 0);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                let agent = agent();
                shared.every(Duration::from_millis(100), || shared.apply(&agent));
            });
        }
        scope.spawn(|| {
            let (agent, mut next) = (agent(), 0);
            shared.every(Duration::from_millis(500), || {
                shared.revoke(&agent, &mut next)
            });
        });
        scope.spawn(|| {
            let mut pick = 0x9E37_79B9_7F4A_7C15;
            shared.every(Duration::from_millis(10), || shared.ocsp(&mut pick));
        });
        scope.spawn(|| {
            let (agent, mut ticks) = (agent(), 0u32);
            shared.every(Duration::from_millis(200), || {
                shared.fetch(&agent, 3, "/repository/ca.crl");
                ticks = ticks.wrapping_add(1);
                if ticks % 5 == 0 {
                    shared.fetch(&agent, 4, "/ledger/v1/checkpoint");
                }
            });
        });
        while started.elapsed().as_secs_f64() < minutes * 60.0 {
            std::thread::sleep(period);
            let window = std::mem::take(
                &mut *shared
                    .window
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            );
            last = server_facts(pid);
            errors += window.errors.iter().sum::<usize>();
            println!(
                "{}",
                row(started.elapsed().as_secs_f64() / 60.0, last, &window)
            );
        }
        shared.stop.store(true, Ordering::SeqCst);
    });
    let issued = shared.issued.lock().map_or(0, |i| i.len());
    let causes = shared
        .causes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for (cause, count) in causes.iter() {
        println!("errors: {count} x {cause}");
    }
    Ok(format!(
        "soak: {minutes} min, {issued} issued, errors={errors}, rss_mib={}->{}, fds={}->{}",
        first.0 / 1024,
        last.0 / 1024,
        first.1,
        last.1
    ))
}
