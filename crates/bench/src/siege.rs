//! Hostile load from outside (docs/reliability.md, "Hostile load"): what issue 14's
//! "Done when" asks of the public side, measured against a running server.
//!
//! 1. **Slow clients.** `connections` TCP connections are opened and held; half of them
//!    send half a request head and stop, half send nothing; each one the server closes
//!    (its header timeout) is opened again at once. While they are held, a probe every
//!    200 ms from a fresh connection asks `/healthz` and a pre-signed OCSP GET about a
//!    certificate issued beforehand; each must answer within one second, and the
//!    server's open descriptors are sampled. Then they are let go, and the probes run
//!    once more (recovery without a restart).
//! 2. **OCSP flood.** `serials` OCSP requests for random serials this CA never issued,
//!    from several keep-alive clients. Every answer must be `unauthorized`: an answer
//!    with no response bytes, which carries no signature, so nothing was signed for it.
//!
//! The server's RSS, descriptors and CPU time are read from `/proc` between phases.

use crate::issuance::{agent, load_card, prepare_one, terms_sha256, Options};
use crate::latency::percentile_ms;
use crate::server_process::facts;
use base64::Engine;
use der::{Decode, Encode};
use shuin_core::ocsp::IssuerHashes;
use shuin_core::Serial;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use x509_cert::Certificate;
use x509_ocsp::{OcspRequest, OcspResponse, OcspResponseStatus, Request, TbsRequest};

/// How hard to push.
pub(crate) struct Siege {
    pub(crate) connections: usize,
    pub(crate) hold: Duration,
    pub(crate) serials: usize,
    pub(crate) clients: usize,
    pub(crate) server_pid: u32,
}

/// What every phase needs: where the server is and the CA's hashes.
struct Target {
    base: String,
    address: String,
    issuer: Certificate,
    hashes: IssuerHashes,
}

pub(crate) fn run(options: &Options, siege: &Siege) -> Result<String, String> {
    // The held connections need descriptors of their own.
    rlimit::increase_nofile_limit(u64::MAX).map_err(|e| format!("raising RLIMIT_NOFILE: {e}"))?;
    let target = target(&options.server)?;
    let serial = issue_one(options, &target)?;
    let good_path = format!(
        "/ocsp/{}",
        base64::engine::general_purpose::STANDARD.encode(ocsp_request(&target.hashes, &serial)?)
    );
    probe(&target, &good_path).map_err(|e| format!("before the siege: {e}"))?;
    let before = facts(siege.server_pid);
    println!("server before: {before}");

    let slow = slow_clients(&target, &good_path, siege)?;
    println!("{slow}");
    let after_slow = facts(siege.server_pid);
    println!("server after the slow clients: {after_slow}");

    let flood = ocsp_flood(&target, siege)?;
    println!("{flood}");
    let after = facts(siege.server_pid);
    println!("server after the OCSP flood: {after}");
    let cpu = after.cpu_seconds - after_slow.cpu_seconds;
    Ok(format!(
        "siege: passed; the OCSP flood cost the server {cpu:.1} CPU seconds; rss_mib={}->{}, fds={}->{}",
        before.rss_kib / 1024,
        after.rss_kib / 1024,
        before.fds,
        after.fds
    ))
}

fn target(server: &str) -> Result<Target, String> {
    let base = server.trim_end_matches('/').to_owned();
    let address = base
        .strip_prefix("http://")
        .ok_or("--server must be an http:// URL")?
        .to_owned();
    let mut response = agent()
        .get(format!("{base}/repository/ca.crt"))
        .call()
        .map_err(|e| format!("the CA certificate: {e}"))?;
    let der = response
        .body_mut()
        .read_to_vec()
        .map_err(|e| e.to_string())?;
    let issuer = Certificate::from_der(&der).map_err(|e| format!("the CA certificate: {e}"))?;
    let hashes = IssuerHashes::new(&issuer).map_err(|e| e.to_string())?;
    Ok(Target {
        base,
        address,
        issuer,
        hashes,
    })
}

/// One application, retried while the server answers 503 (still starting).
fn issue_one(options: &Options, target: &Target) -> Result<Serial, String> {
    let agent = agent();
    let card = load_card(options)?;
    let terms = terms_sha256(&agent, &target.base)?;
    let started = Instant::now();
    loop {
        let body = prepare_one(&agent, options, &card, &terms)?;
        let mut response = agent
            .post(format!("{}/api/v1/applications", target.base))
            .header("Content-Type", "application/pkcs7-mime")
            .send(&body[..])
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        if status == 201 {
            let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            return json["serial"]
                .as_str()
                .and_then(Serial::from_hex)
                .ok_or_else(|| format!("an answer without a serial: {text}"));
        }
        if status != 503 || started.elapsed() > options.ready_within {
            return Err(format!("the application was answered {status}: {text}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ocsp_request(hashes: &IssuerHashes, serial: &Serial) -> Result<Vec<u8>, String> {
    OcspRequest {
        tbs_request: TbsRequest {
            version: Default::default(),
            requestor_name: None,
            request_list: vec![Request {
                req_cert: hashes.cert_id(serial).map_err(|e| e.to_string())?,
                single_request_extensions: None,
            }],
            request_extensions: None,
        },
        optional_signature: None,
    }
    .to_der()
    .map_err(|e| e.to_string())
}

/// `/healthz` and the pre-signed OCSP answer, each from a fresh connection; the slower
/// of the two.
fn probe(target: &Target, good_path: &str) -> Result<Duration, String> {
    let started = Instant::now();
    let probe_agent = || -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(5)))
            .max_idle_connections(0)
            .build()
            .into()
    };
    let health = probe_agent()
        .get(format!("{}/healthz", target.base))
        .call()
        .map_err(|e| format!("/healthz: {e}"))?;
    if health.status() != 200 {
        return Err(format!("/healthz answered {}", health.status()));
    }
    let mut answer = probe_agent()
        .get(format!("{}{good_path}", target.base))
        .call()
        .map_err(|e| format!("OCSP GET: {e}"))?;
    let der = answer
        .body_mut()
        .read_to_vec()
        .map_err(|e| format!("OCSP GET: {e}"))?;
    let named = shuin_core::ocsp_check::check_answer(&der, &target.issuer, &target.hashes)
        .map_err(|e| format!("OCSP GET: {e}"))?;
    if !named
        .iter()
        .any(|(_, status)| matches!(status, x509_ocsp::CertStatus::Good(_)))
    {
        return Err("OCSP GET: the answer is not good".into());
    }
    Ok(started.elapsed())
}

/// Threads opening the slow connections (a connect waits for the handshake).
const OPENERS: usize = 16;

/// Opens one slow connection: half a request head on every other one, then nothing.
fn open_slow(address: &str, partial: bool) -> Option<TcpStream> {
    let mut stream = TcpStream::connect(address).ok()?;
    if partial {
        let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost:");
    }
    Some(stream)
}

/// `count` slow connections, opened from several threads.
fn open_many(address: &str, count: usize) -> Vec<TcpStream> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..OPENERS)
            .map(|opener| {
                scope.spawn(move || {
                    (opener..count)
                        .step_by(OPENERS)
                        .filter_map(|i| open_slow(address, i % 2 == 0))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// Keeps `held` at its size until `stop`: a connection the server closed (its header
/// timeout) is opened again at once, as an attacker would. Returns the reopenings.
fn keep_open(address: &str, held: &mut [TcpStream], stop: &AtomicBool) -> usize {
    let mut reopened = 0;
    while !stop.load(Ordering::SeqCst) {
        for (i, stream) in held.iter_mut().enumerate() {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            if closed_by_server(stream) {
                if let Some(again) = open_slow(address, i % 2 == 0) {
                    *stream = again;
                    reopened += 1;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reopened
}

fn slow_clients(target: &Target, good_path: &str, siege: &Siege) -> Result<String, String> {
    let opening = Instant::now();
    let mut held = open_many(&target.address, siege.connections);
    println!(
        "slow clients: {} of {} connections open in {:.1} s",
        held.len(),
        siege.connections,
        opening.elapsed().as_secs_f64()
    );
    let stop = AtomicBool::new(false);
    let mut probes = Vec::new();
    let mut server_fds = Vec::new();
    let (reopened, probed) = std::thread::scope(|scope| {
        let keeper = scope.spawn(|| keep_open(&target.address, &mut held, &stop));
        let holding = Instant::now();
        let mut probed = Ok(());
        while holding.elapsed() < siege.hold {
            server_fds.push(facts(siege.server_pid).fds);
            match probe(target, good_path) {
                Ok(took) => probes.push(took),
                Err(e) => {
                    probed = Err(format!(
                        "with the slow connections held, a probe failed: {e}"
                    ));
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        stop.store(true, Ordering::SeqCst);
        (keeper.join().unwrap_or(0), probed)
    });
    probed?;
    let count = held.len();
    drop(held);
    let recovery = probe(target, good_path).map_err(|e| format!("after the siege: {e}"))?;
    let slowest = probes.iter().max().copied().unwrap_or_default();
    if slowest > Duration::from_secs(1) {
        return Err(format!(
            "a probe took {} ms with the slow connections held",
            slowest.as_millis()
        ));
    }
    server_fds.sort_unstable();
    Ok(format!(
        "slow clients: {count} kept open for {} s ({reopened} reopened after the server closed \
         them); the server's descriptors meanwhile {}..{} (median {}); {} probes, p99 {:.1} ms, \
         slowest {:.1} ms; after release a probe took {:.1} ms",
        siege.hold.as_secs(),
        server_fds.first().copied().unwrap_or(0),
        server_fds.last().copied().unwrap_or(0),
        server_fds.get(server_fds.len() / 2).copied().unwrap_or(0),
        probes.len(),
        percentile_ms(&mut probes, 99),
        slowest.as_secs_f64() * 1000.0,
        recovery.as_secs_f64() * 1000.0
    ))
}

/// Whether the server has closed a held connection (end of stream, or reset).
fn closed_by_server(stream: &TcpStream) -> bool {
    if stream.set_nonblocking(true).is_err() {
        return true;
    }
    let mut byte = [0u8; 1];
    match (&*stream).read(&mut byte) {
        // End of stream, or an answer (a timeout's 408) the server gave up with.
        Ok(0 | 1) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    }
}

fn ocsp_flood(target: &Target, siege: &Siege) -> Result<String, String> {
    let clients = siege.clients.max(1);
    let each = siege.serials.div_ceil(clients);
    let started = Instant::now();
    let tallies: Vec<Result<Tally, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|client| scope.spawn(move || flood_client(target, client, each)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("a client panicked".into())))
            .collect()
    });
    let mut total = Tally::default();
    for tally in tallies {
        let tally = tally?;
        total.unauthorized += tally.unauthorized;
        total.other.extend(tally.other);
        total.latencies.extend(tally.latencies);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let asked = total.unauthorized + total.other.len();
    if let Some(first) = total.other.first() {
        return Err(format!(
            "OCSP flood: {} of {asked} answers were not unauthorized (first: {first})",
            total.other.len()
        ));
    }
    Ok(format!(
        "OCSP flood: {asked} random serials from {clients} clients in {elapsed:.1} s \
         ({:.0}/s, p99 {:.1} ms): all answered unauthorized, unsigned",
        f64::from(u32::try_from(asked).unwrap_or(u32::MAX)) / elapsed.max(1e-9),
        percentile_ms(&mut total.latencies, 99)
    ))
}

#[derive(Default)]
struct Tally {
    unauthorized: usize,
    other: Vec<String>,
    latencies: Vec<Duration>,
}

fn flood_client(target: &Target, client: usize, count: usize) -> Result<Tally, String> {
    let agent = agent();
    let mut state = 0x9E37_79B9_7F4A_7C15_u64 ^ u64::try_from(client).unwrap_or(0);
    let mut tally = Tally::default();
    let url = format!("{}/ocsp", target.base);
    for _ in 0..count {
        let serial = random_serial(&mut state)?;
        let request = ocsp_request(&target.hashes, &serial)?;
        let started = Instant::now();
        let mut response = agent
            .post(&url)
            .header("Content-Type", "application/ocsp-request")
            .send(&request[..])
            .map_err(|e| format!("OCSP POST: {e}"))?;
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_vec().unwrap_or_default();
        tally.latencies.push(started.elapsed());
        match OcspResponse::from_der(&body) {
            Ok(answer)
                if status == 200
                    && answer.response_status == OcspResponseStatus::Unauthorized
                    && answer.response_bytes.is_none() =>
            {
                tally.unauthorized += 1;
            }
            Ok(answer) => tally.other.push(format!(
                "HTTP {status}, {:?}, signed: {}",
                answer.response_status,
                answer.response_bytes.is_some()
            )),
            Err(e) => tally
                .other
                .push(format!("HTTP {status}, not an OCSP answer: {e}")),
        }
    }
    Ok(tally)
}

/// A positive 16-byte serial from a simple generator (test traffic, not secrets).
fn random_serial(state: &mut u64) -> Result<Serial, String> {
    let mut bytes = [0u8; 16];
    for chunk in bytes.chunks_mut(8) {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        chunk.copy_from_slice(&state.to_be_bytes());
    }
    // Positive, and no leading zero byte.
    bytes[0] = (bytes[0] & 0x7f).max(0x10);
    Serial::from_hex(&hex::encode(bytes)).ok_or_else(|| "a random serial was refused".into())
}
