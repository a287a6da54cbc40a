//! Monitoring (theme ❹: from outside the facility only monitoring is allowed):
//! `GET /metrics` in the Prometheus text exposition format (version 0.0.4), served on
//! operator listeners only, so a scraper shows an operator certificate (mutual TLS) like
//! any remote operator, and a listener of any zone may carry it.
//!
//! What it reports is read when asked: the seal state, the ledger's size and how much of
//! it the newest signed checkpoint covers, each published CRL's number and nextUpdate,
//! the HTTP answers of every listener by zone and status class since start, the issuer
//! key backend's signing pool (sessions, signatures in flight and waiting, errors), and
//! the process's open descriptors and resident memory (Linux `/proc`).

use crate::operator_api::OperatorConsole;
use crate::zones::ListenerZone;
use crate::AppState;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use shuin_core::signing_pool::SigningPoolSnapshot;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

/// The zones a listener serves, in the order of [`HttpCounters`].
const ZONES: [ListenerZone; 5] = [
    ListenerZone::AllInOne,
    ListenerZone::Front,
    ListenerZone::Repository,
    ListenerZone::Secure,
    ListenerZone::Remote,
];

/// The status classes counted (1xx is never answered by a handler).
const CLASSES: [&str; 4] = ["2xx", "3xx", "4xx", "5xx"];

/// HTTP answers since start, by listener zone and status class.
#[derive(Debug, Default)]
pub struct HttpCounters {
    counts: [[AtomicU64; CLASSES.len()]; ZONES.len()],
}

impl HttpCounters {
    /// Counts one answer of a listener of `zone`.
    pub fn count(&self, zone: ListenerZone, status: StatusCode) {
        let class = match status.as_u16() {
            200..=299 => 0,
            300..=399 => 1,
            400..=499 => 2,
            _ => 3,
        };
        if let Some(row) = ZONES.iter().position(|z| *z == zone) {
            self.counts[row][class].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn write(&self, out: &mut String) {
        out.push_str("# HELP shuin_http_responses_total HTTP answers since start, by listener zone and status class.\n# TYPE shuin_http_responses_total counter\n");
        for (zone, row) in ZONES.iter().zip(&self.counts) {
            for (class, count) in CLASSES.iter().zip(row) {
                let (zone, n) = (zone_label(*zone), count.load(Ordering::Relaxed));
                let _ = writeln!(
                    out,
                    "shuin_http_responses_total{{zone=\"{zone}\",class=\"{class}\"}} {n}"
                );
            }
        }
    }
}

fn zone_label(zone: ListenerZone) -> &'static str {
    match zone {
        ListenerZone::AllInOne => "all_in_one",
        ListenerZone::Front => "front",
        ListenerZone::Repository => "repository",
        ListenerZone::Secure => "secure",
        ListenerZone::Remote => "remote",
    }
}

/// The middleware that counts each answer of a listener of `zone` into `counters`.
pub async fn count_answers(
    State((counters, zone)): State<(Arc<HttpCounters>, ListenerZone)>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    counters.count(zone, response.status());
    response
}

/// Where `/metrics` learns whether the CA is sealed: the CA's own console, or, on an
/// RA node of a split deployment, what the CA's link last said.
#[derive(Clone)]
pub enum Sealing {
    /// The console of the process that holds the CA.
    Console(Arc<dyn OperatorConsole>),
    /// An RA node: the CA's link reports it with each take.
    Link,
}

impl Sealing {
    async fn sealed(&self, state: &AppState) -> Option<bool> {
        match self {
            Sealing::Console(console) => console.status().await["sealed"].as_bool(),
            // While the link is down nobody knows: the figure is left out.
            Sealing::Link => match state.ra.ca_readiness() {
                Ok(()) => Some(false),
                Err(shuin_ra::RaError::Rejected(r)) => {
                    (r.code == shuin_core::ReasonCode::CaSealed).then_some(true)
                }
                Err(_) => None,
            },
        }
    }
}

/// `GET /metrics`, and the monitoring page (`GET /monitoring`) with the same figures.
pub fn routes(state: AppState, sealing: Sealing) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .route("/monitoring", axum::routing::get(crate::pages::monitoring))
        .merge(crate::pages::stylesheet_route())
        .with_state((state, sealing))
}

async fn metrics(State((state, sealing)): State<(AppState, Sealing)>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        exposition(&state, &sealing).await,
    )
        .into_response()
}

/// The `/metrics` text, read now; the monitoring page shows the same text.
pub(crate) async fn exposition(state: &AppState, sealing: &Sealing) -> String {
    let mut out = String::new();
    gauge(&mut out, "shuin_up", "1 while the server answers.", 1);
    if let Some(sealed) = sealing.sealed(state).await {
        let help = "1 while the CA is sealed (waiting for custodians' shares).";
        gauge(&mut out, "shuin_sealed", help, u64::from(sealed));
    }
    let help = "1 while applications can be issued (as /readyz): the CA unsealed and, on an RA node, its CA link taking orders; the business not terminated; a J-LIS CRL in use.";
    let ready = state.ra.readiness().await.is_ok();
    gauge(&mut out, "shuin_ready", help, u64::from(ready));
    ledger(state, &mut out).await;
    crls(state, &mut out);
    ocsp(state.ocsp.freshness(), &mut out);
    state.http.write(&mut out);
    unledgered_refusals(&state.ra.unledgered_refusals(), &mut out);
    queues(state, &mut out).await;
    orders(state, &mut out).await;
    jpki_crls(&state.ra.jpki_crls(), &mut out);
    signing_pools(&state.signing_pools.pools(), &mut out);
    process(&mut out);
    out
}

/// What waits: applications for an LRA, notices for sending; a queue that cannot be
/// read is left out (and logged).
async fn queues(state: &AppState, out: &mut String) {
    match state.ra.queue_depths().await {
        Ok(depths) => {
            let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
            let help = "Applications waiting for an LRA's review.";
            gauge(out, "shuin_review_queue", help, count(depths.review));
            if let Some(notices) = depths.notices {
                let help = "Notices to holders not sent yet (counted up to 1000).";
                gauge(out, "shuin_notices_waiting", help, count(notices));
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: the queues are unreadable"),
    }
}

/// An RA node's order queue: waiting, and held by a CA link; left out when it cannot
/// be read (logged).
async fn orders(state: &AppState, out: &mut String) {
    let Some(report) = &state.orders else {
        return;
    };
    match report.depth().await {
        Ok((queued, claimed)) => {
            out.push_str("# HELP shuin_orders Orders in an RA node's queue: waiting for the CA's link (queued), and taken by it, not answered yet (claimed).\n# TYPE shuin_orders gauge\n");
            let _ = writeln!(out, "shuin_orders{{state=\"queued\"}} {queued}");
            let _ = writeln!(out, "shuin_orders{{state=\"claimed\"}} {claimed}");
        }
        Err(e) => tracing::warn!(error = %e, "metrics: the order queue is unreadable"),
    }
}

fn gauge(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
    );
}

/// The ledger's size and the newest checkpoint's; a store that does not answer is left
/// out (and logged), so the scrape shows the gap instead of a stale number.
async fn ledger(state: &AppState, out: &mut String) {
    match state.ledger.ledger_size().await {
        Ok(size) => gauge(out, "shuin_ledger_entries", "Entries in the books.", size),
        Err(e) => tracing::warn!(error = %e, "metrics: the ledger size is unreadable"),
    }
    match state.ledger.latest_checkpoint().await {
        Ok(Some(checkpoint)) => {
            let help = "Entries covered by the newest signed checkpoint.";
            gauge(out, "shuin_ledger_checkpoint_size", help, checkpoint.size);
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "metrics: the checkpoint is unreadable"),
    }
}

/// Each published CRL's number and nextUpdate (seconds since the epoch).
fn crls(state: &AppState, out: &mut String) {
    let repository = &state.repository;
    let mut published: Vec<(String, shuin_repo::PublishedCrl)> = Vec::new();
    published.extend(repository.ca_crl().map(|crl| ("ca".to_owned(), crl)));
    published.extend(repository.root_crl().map(|crl| ("root".to_owned(), crl)));
    published.extend(repository.other_crls());
    out.push_str("# HELP shuin_crl_next_update_seconds nextUpdate of each published CRL (seconds since the epoch).\n# TYPE shuin_crl_next_update_seconds gauge\n");
    for (name, crl) in &published {
        let next = crl
            .next_update
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let _ = writeln!(
            out,
            "shuin_crl_next_update_seconds{{crl=\"{name}\"}} {next}"
        );
    }
    out.push_str("# HELP shuin_crl_number The number of each published CRL.\n# TYPE shuin_crl_number gauge\n");
    for (name, crl) in &published {
        let _ = writeln!(out, "shuin_crl_number{{crl=\"{name}\"}} {}", crl.number);
    }
    let now = state
        .clock
        .now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    gauge(
        out,
        "shuin_time_seconds",
        "The server's clock (seconds since the epoch).",
        now,
    );
}

/// The pre-signed OCSP answers: how many there are and wait, and the earliest
/// nextUpdate among them; nothing while the responder answers nothing (sealed).
fn ocsp(freshness: Option<shuin_core::ocsp::OcspFreshness>, out: &mut String) {
    let Some(freshness) = freshness else {
        return;
    };
    out.push_str("# HELP shuin_ocsp_answers Certificates with a pre-signed OCSP answer (signed), and without one yet (waiting, answered tryLater).\n# TYPE shuin_ocsp_answers gauge\n");
    let _ = writeln!(
        out,
        "shuin_ocsp_answers{{state=\"signed\"}} {}",
        freshness.signed
    );
    let _ = writeln!(
        out,
        "shuin_ocsp_answers{{state=\"waiting\"}} {}",
        freshness.waiting
    );
    if let Some(next) = freshness.earliest_next_update {
        let help = "The earliest nextUpdate among the pre-signed OCSP answers (seconds since the epoch); past it, some answer is stale.";
        let seconds = next.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        gauge(
            out,
            "shuin_ocsp_next_update_earliest_seconds",
            help,
            seconds,
        );
    }
}

/// A dated family of the J-LIS CRLs: name, help, and the date of a CRL.
type JpkiCrlFamily = (
    &'static str,
    &'static str,
    fn(&shuin_ra::JpkiCrlFacts) -> Option<std::time::SystemTime>,
);

/// The J-LIS CRLs in use: how many (0: applications are refused), and each one's
/// thisUpdate and nextUpdate, by the first 16 hex digits of its trust anchor's SHA-256.
fn jpki_crls(crls: &[shuin_ra::JpkiCrlFacts], out: &mut String) {
    let count = u64::try_from(crls.len()).unwrap_or(u64::MAX);
    let help = "J-LIS CRLs in use (0: every application is refused, jpki_revocation_unavailable).";
    gauge(out, "shuin_jpki_crls", help, count);
    let seconds =
        |t: std::time::SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let families: [JpkiCrlFamily; 2] = [
        ("shuin_jpki_crl_this_update_seconds", "thisUpdate of each J-LIS CRL in use (seconds since the epoch).", |c| Some(c.this_update)),
        ("shuin_jpki_crl_next_update_seconds", "nextUpdate of each J-LIS CRL in use (seconds since the epoch); a CRL past it refuses applications.", |c| c.next_update),
    ];
    for (name, help, time) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for crl in crls {
            let anchor: String = crl.anchor_sha256.chars().take(16).collect();
            if let Some(at) = time(crl) {
                let _ = writeln!(
                    out,
                    "{name}{{anchor=\"{}\"}} {}",
                    label_value(&anchor),
                    seconds(at)
                );
            }
        }
    }
}

/// Refusals of requests signed by unknown keys: counted here and logged, never
/// ledgered one by one (docs/revocation.md). The revocation route's code is always shown.
fn unledgered_refusals(counts: &[(&'static str, u64)], out: &mut String) {
    out.push_str("# HELP shuin_refusals_unledgered_total Refused requests signed by unknown keys, counted and logged but not ledgered, since start, by reason code.\n# TYPE shuin_refusals_unledgered_total counter\n");
    let always = shuin_core::ReasonCode::RevocationNotAuthorized.as_str();
    if !counts.iter().any(|(reason, _)| *reason == always) {
        let _ = writeln!(
            out,
            "shuin_refusals_unledgered_total{{reason=\"{always}\"}} 0"
        );
    }
    for (reason, n) in counts {
        let _ = writeln!(
            out,
            "shuin_refusals_unledgered_total{{reason=\"{reason}\"}} {n}"
        );
    }
}

/// A metric family of the signing pools: name, type, help, and its figure.
type PoolFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&SigningPoolSnapshot) -> u64,
);

/// The issuer key backends' signing pools (none while sealed).
fn signing_pools(pools: &[SigningPoolSnapshot], out: &mut String) {
    if pools.is_empty() {
        return;
    }
    let families: [PoolFamily; 5] = [
        ("shuin_key_sessions", "gauge", "Sessions the key backend's signing pool holds.", |p| p.sessions),
        ("shuin_key_signatures_in_flight", "gauge", "Operations (nearly all signatures) running on a session now.", |p| p.in_flight),
        ("shuin_key_signatures_waiting", "gauge", "Signatures waiting for a free session now (the signing queue).", |p| p.waiting),
        ("shuin_key_signatures_total", "counter", "Operations (nearly all signatures) started on the key backend's sessions since start, failed ones included.", |p| p.signatures),
        ("shuin_key_signature_errors_total", "counter", "Operations on the key backend's sessions that failed since start, refusals of a full signing queue included.", |p| p.errors),
    ];
    for (name, kind, help, value) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for pool in pools {
            let _ = writeln!(
                out,
                "{name}{{key_backend=\"{}\",pool=\"{}\"}} {}",
                label_value(&pool.key_backend),
                label_value(&pool.pool),
                value(pool)
            );
        }
    }
}

/// A label value as the text format wants it: backslash, quote and newline escaped.
fn label_value(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Open descriptors and resident memory, where `/proc` tells them.
fn process(out: &mut String) {
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        let help = "Open file descriptors of the process.";
        let count = u64::try_from(fds.count()).unwrap_or(u64::MAX);
        gauge(out, "shuin_process_open_fds", help, count);
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        });
    if let Some(kib) = rss_kib {
        let help = "Resident memory of the process.";
        gauge(out, "shuin_process_resident_memory_bytes", help, kib * 1024);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_counted_by_zone_and_class() {
        let counters = HttpCounters::default();
        counters.count(ListenerZone::Remote, StatusCode::OK);
        counters.count(ListenerZone::Remote, StatusCode::NOT_FOUND);
        counters.count(ListenerZone::Remote, StatusCode::NOT_FOUND);
        counters.count(ListenerZone::Front, StatusCode::SERVICE_UNAVAILABLE);
        let mut out = String::new();
        counters.write(&mut out);
        assert!(out.contains("shuin_http_responses_total{zone=\"remote\",class=\"2xx\"} 1\n"));
        assert!(out.contains("shuin_http_responses_total{zone=\"remote\",class=\"4xx\"} 2\n"));
        assert!(out.contains("shuin_http_responses_total{zone=\"front\",class=\"5xx\"} 1\n"));
        assert!(out.contains("shuin_http_responses_total{zone=\"secure\",class=\"2xx\"} 0\n"));
        assert!(out.starts_with("# HELP shuin_http_responses_total "));
    }

    #[test]
    fn unledgered_refusals_are_shown_by_reason() {
        let mut out = String::new();
        unledgered_refusals(&[], &mut out);
        assert!(out.contains(
            "\nshuin_refusals_unledgered_total{reason=\"revocation_not_authorized\"} 0\n"
        ));
        let tally = shuin_books::organisation::UnledgeredRefusals::default();
        for _ in 0..3 {
            tally.count("revocation_not_authorized");
        }
        let mut out = String::new();
        unledgered_refusals(&tally.counts(), &mut out);
        assert!(out.contains(
            "\nshuin_refusals_unledgered_total{reason=\"revocation_not_authorized\"} 3\n"
        ));
        assert_eq!(out.matches("revocation_not_authorized").count(), 1);
    }

    #[test]
    fn ocsp_answers_are_counted_and_the_earliest_next_update_shown() {
        let mut out = String::new();
        ocsp(None, &mut out);
        assert!(out.is_empty(), "a sealed responder answers nothing: {out}");
        let mut freshness = shuin_core::ocsp::OcspFreshness::default();
        let at = |secs| UNIX_EPOCH + std::time::Duration::from_secs(secs);
        for next in [Some(at(1_800_003_600)), None, Some(at(1_800_000_600))] {
            freshness.count(next);
        }
        ocsp(Some(freshness), &mut out);
        for line in [
            "\nshuin_ocsp_answers{state=\"signed\"} 2\n",
            "\nshuin_ocsp_answers{state=\"waiting\"} 1\n",
            "\nshuin_ocsp_next_update_earliest_seconds 1800000600\n",
        ] {
            assert!(out.contains(line), "{line:?} missing from\n{out}");
        }
    }

    #[test]
    fn jpki_crls_are_counted_and_dated_by_anchor() {
        let mut out = String::new();
        jpki_crls(&[], &mut out);
        assert!(out.contains("\nshuin_jpki_crls 0\n"), "{out}");
        let at = |secs| UNIX_EPOCH + std::time::Duration::from_secs(secs);
        let crl = shuin_ra::JpkiCrlFacts {
            anchor_sha256: "ab".repeat(32),
            this_update: at(1_800_000_000),
            next_update: Some(at(1_800_086_400)),
            revoked: 3,
        };
        let undated = shuin_ra::JpkiCrlFacts {
            next_update: None,
            ..crl.clone()
        };
        let mut out = String::new();
        jpki_crls(&[crl, undated], &mut out);
        for line in [
            "\nshuin_jpki_crls 2\n",
            "\nshuin_jpki_crl_this_update_seconds{anchor=\"abababababababab\"} 1800000000\n",
            "\nshuin_jpki_crl_next_update_seconds{anchor=\"abababababababab\"} 1800086400\n",
        ] {
            assert!(out.contains(line), "{line:?} missing from\n{out}");
        }
        assert_eq!(
            out.matches("shuin_jpki_crl_next_update_seconds{").count(),
            1,
            "{out}"
        );
    }

    #[test]
    fn signing_pools_are_shown_by_backend_and_pool() {
        let mut out = String::new();
        signing_pools(&[], &mut out);
        assert!(out.is_empty());
        let figures = shuin_core::signing_pool::SigningPoolFigures::default();
        figures.set_sessions(16);
        figures.work_started();
        figures.wait_started();
        figures.count_error();
        let pools = [
            figures.snapshot("pkcs11", "shuin-ca"),
            SigningPoolSnapshot {
                pool: "odd \"label\"\\".into(),
                ..figures.snapshot("pkcs11", "")
            },
        ];
        signing_pools(&pools, &mut out);
        for line in [
            "# TYPE shuin_key_sessions gauge\n",
            "\nshuin_key_sessions{key_backend=\"pkcs11\",pool=\"shuin-ca\"} 16\n",
            "\nshuin_key_signatures_in_flight{key_backend=\"pkcs11\",pool=\"shuin-ca\"} 1\n",
            "\nshuin_key_signatures_waiting{key_backend=\"pkcs11\",pool=\"shuin-ca\"} 1\n",
            "# TYPE shuin_key_signature_errors_total counter\n",
            "\nshuin_key_signature_errors_total{key_backend=\"pkcs11\",pool=\"shuin-ca\"} 1\n",
            "# TYPE shuin_key_signatures_total counter\n",
            "\nshuin_key_signatures_total{key_backend=\"pkcs11\",pool=\"shuin-ca\"} 1\n",
            "\nshuin_key_sessions{key_backend=\"pkcs11\",pool=\"odd \\\"label\\\"\\\\\"} 16\n",
        ] {
            assert!(out.contains(line), "{line:?} missing from\n{out}");
        }
    }

    #[test]
    fn the_process_is_described_where_proc_tells() {
        let mut out = String::new();
        process(&mut out);
        if std::path::Path::new("/proc/self/status").exists() {
            assert!(out.contains("\nshuin_process_open_fds "), "{out}");
            assert!(
                out.contains("\nshuin_process_resident_memory_bytes "),
                "{out}"
            );
        }
    }
}
