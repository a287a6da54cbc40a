//! Issuance end to end: applications made beforehand, then submitted concurrently.
//!
//! Preparation (untimed) does what `shuin apply` does before it submits: it fetches a
//! challenge, checks the terms' hash, makes a new P-256 key and its CSR, and CMS-signs the
//! `shuin-application/1` document with the card's key. One card may hold many
//! certificates (each application certifies a new key), so one testkit card serves all.
//! The timed phase only POSTs the prepared bodies and requires every answer to be 201.

use crate::latency::{ms_per_operation, per_second, percentile_ms};
use base64::Engine;
use sha2::{Digest, Sha256};
use shuin_keys::{KeySpec, Signer, SoftwareSigner};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// What to run.
pub(crate) struct Options {
    pub(crate) server: String,
    pub(crate) card_key: PathBuf,
    pub(crate) card_cert: PathBuf,
    pub(crate) name: String,
    pub(crate) birth_date: String,
    pub(crate) address: String,
    pub(crate) applications: usize,
    pub(crate) warmup: usize,
    pub(crate) clients: usize,
    pub(crate) server_pid: Option<u32>,
    /// How long to wait for a first issuance (`503` answers are retried until then).
    pub(crate) ready_within: Duration,
}

pub(crate) struct Card {
    pub(crate) certificate_der: Vec<u8>,
    pub(crate) key: SoftwareSigner,
}

pub(crate) fn agent() -> ureq::Agent {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

pub(crate) fn load_card(options: &Options) -> Result<Card, String> {
    let cert = std::fs::read(&options.card_cert)
        .map_err(|e| format!("{}: {e}", options.card_cert.display()))?;
    let certificate_der = match der::pem::decode_vec(&cert) {
        Ok((_, der)) => der,
        Err(_) => cert,
    };
    let pem = Zeroizing::new(
        std::fs::read_to_string(&options.card_key)
            .map_err(|e| format!("{}: {e}", options.card_key.display()))?,
    );
    let key = SoftwareSigner::from_pkcs8_pem(&pem)
        .map_err(|e| format!("{}: {e}", options.card_key.display()))?;
    Ok(Card {
        certificate_der,
        key,
    })
}

/// The terms' SHA-256, checked against what the server serves (as the client does).
pub(crate) fn terms_sha256(agent: &ureq::Agent, base: &str) -> Result<String, String> {
    let challenge = challenge(agent, base)?;
    let url = challenge["terms_url"]
        .as_str()
        .ok_or("challenge without terms_url")?;
    let mut response = agent.get(url).call().map_err(|e| e.to_string())?;
    let terms = response
        .body_mut()
        .read_to_vec()
        .map_err(|e| e.to_string())?;
    let hash = hex::encode(Sha256::digest(&terms));
    if challenge["terms_sha256"].as_str() != Some(hash.as_str()) {
        return Err(format!("the terms at {url} do not match the challenge"));
    }
    Ok(hash)
}

pub(crate) fn challenge(agent: &ureq::Agent, base: &str) -> Result<serde_json::Value, String> {
    let mut response = agent
        .post(format!("{base}/api/v1/challenges"))
        .send_empty()
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    if status != 201 {
        return Err(format!("challenge: {status} {body}"));
    }
    serde_json::from_str(&body).map_err(|e| e.to_string())
}

/// One application: a fresh nonce, a new key's CSR, signed by the card.
pub(crate) fn prepare_one(
    agent: &ureq::Agent,
    options: &Options,
    card: &Card,
    terms: &str,
) -> Result<Vec<u8>, String> {
    let base = options.server.trim_end_matches('/');
    let nonce = challenge(agent, base)?["nonce"]
        .as_str()
        .ok_or("challenge without nonce")?
        .to_owned();
    let (new_key, _pkcs8) = SoftwareSigner::generate(KeySpec::EcP256).map_err(|e| e.to_string())?;
    let csr = shuin_client::build_csr(&new_key).map_err(|e| e.to_string())?;
    let document = serde_json::json!({
        "format": shuin_core::application::APPLICATION_FORMAT,
        "kind": "new",
        "nonce": nonce,
        "terms_sha256": terms,
        "applicant": {
            "name": options.name,
            "birth_date": options.birth_date,
            "address": options.address,
        },
        "csr": base64::engine::general_purpose::STANDARD.encode(&csr),
    });
    let content = serde_json::to_vec(&document).map_err(|e| e.to_string())?;
    shuin_client::cms_sign::sign_attached(&content, &card.certificate_der, &|message: &[u8]| {
        card.key.sign(message)
    })
    .map_err(|e| e.to_string())
}

fn prepare(options: &Options, total: usize) -> Result<Vec<Vec<u8>>, String> {
    let card = load_card(options)?;
    let terms = terms_sha256(&agent(), options.server.trim_end_matches('/'))?;
    let workers = options.clients.clamp(1, 4);
    let next = AtomicUsize::new(0);
    let prepared = Mutex::new(Vec::with_capacity(total));
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| -> Result<(), String> {
                    let agent = agent();
                    while next.fetch_add(1, Ordering::Relaxed) < total {
                        let body = prepare_one(&agent, options, &card, &terms)?;
                        prepared
                            .lock()
                            .map_err(|_| "a preparing thread panicked")?
                            .push(body);
                    }
                    Ok(())
                })
            })
            .collect();
        handles.into_iter().try_for_each(|h| {
            h.join()
                .map_err(|_| "a preparing thread panicked".to_owned())?
        })
    })?;
    prepared
        .into_inner()
        .map_err(|_| "a preparing thread panicked".to_owned())
}

/// What the timed phase saw.
struct Submitted {
    latencies: Vec<Duration>,
    failures: Vec<String>,
    elapsed: Duration,
}

fn submit(server: &str, bodies: &[Vec<u8>], clients: usize) -> Submitted {
    let url = format!("{}/api/v1/applications", server.trim_end_matches('/'));
    let next = AtomicUsize::new(0);
    let latencies = Mutex::new(Vec::with_capacity(bodies.len()));
    let failures = Mutex::new(Vec::new());
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..clients.max(1) {
            scope.spawn(|| {
                let agent = agent();
                let mut mine = Vec::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(index) else { break };
                    let sent = Instant::now();
                    let outcome = agent
                        .post(&url)
                        .header("Content-Type", "application/pkcs7-mime")
                        .send(&body[..])
                        .map_err(|e| e.to_string())
                        .and_then(|mut response| {
                            let status = response.status().as_u16();
                            let text = response
                                .body_mut()
                                .read_to_string()
                                .map_err(|e| e.to_string())?;
                            if status == 201 {
                                Ok(())
                            } else {
                                Err(format!("{status} {text}"))
                            }
                        });
                    match outcome {
                        Ok(()) => mine.push(sent.elapsed()),
                        Err(e) => {
                            if let Ok(mut failures) = failures.lock() {
                                failures.push(e);
                            }
                        }
                    }
                }
                if let Ok(mut all) = latencies.lock() {
                    all.extend(mine);
                }
            });
        }
    });
    Submitted {
        latencies: latencies.into_inner().unwrap_or_default(),
        failures: failures.into_inner().unwrap_or_default(),
        elapsed: start.elapsed(),
    }
}

/// Submits one application at a time until one is issued, retrying `503` answers for
/// up to `options.ready_within` (nothing to wait for when it is zero).
fn wait_until_ready(options: &Options) -> Result<(), String> {
    if options.ready_within.is_zero() {
        return Ok(());
    }
    let deadline = Instant::now() + options.ready_within;
    loop {
        let body = prepare(options, 1)?;
        let tried = submit(&options.server, &body, 1);
        match tried.failures.first() {
            None => return Ok(()),
            Some(e) if e.starts_with("503") && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Some(e) => return Err(format!("the server did not become ready: {e}")),
        }
    }
}

/// Prepares, warms up, then times the submissions.
pub(crate) fn run(options: &Options) -> Result<String, String> {
    wait_until_ready(options)?;
    let started = Instant::now();
    let bodies = prepare(options, options.warmup + options.applications)?;
    let prepare_seconds = started.elapsed().as_secs_f64();
    let (warmup, timed) = bodies.split_at(options.warmup.min(bodies.len()));
    let warm = submit(&options.server, warmup, options.clients);
    if let Some(first) = warm.failures.first() {
        return Err(format!("warm-up application refused: {first}"));
    }
    let server = options.server_pid.map(|pid| pid.to_string());
    let cpu = || {
        (
            server.as_deref().and_then(crate::cpu::cpu_seconds),
            crate::cpu::cpu_seconds("self"),
        )
    };
    let before = cpu();
    let mut done = submit(&options.server, timed, options.clients);
    let after = cpu();
    if let Some(first) = done.failures.first() {
        return Err(format!(
            "{} of {} applications refused; first: {first}",
            done.failures.len(),
            timed.len()
        ));
    }
    let rate = per_second(done.latencies.len(), done.elapsed);
    let p50 = percentile_ms(&mut done.latencies, 50);
    let p99 = percentile_ms(&mut done.latencies, 99);
    let count = done.latencies.len();
    let per_application = |start: Option<f64>, end: Option<f64>| {
        ms_per_operation(start.zip(end).map(|(start, end)| end - start), count)
    };
    Ok(format!(
        "issuance: applications={} clients={} seconds={:.3} per_second={rate:.1} p50_ms={p50:.2} p99_ms={p99:.2} server_cpu_ms_per_application={} client_cpu_ms_per_application={} prepare_seconds={prepare_seconds:.1}",
        done.latencies.len(),
        options.clients,
        done.elapsed.as_secs_f64(),
        per_application(before.0, after.0),
        per_application(before.1, after.1),
    ))
}
