//! Limits against the real server: a challenge flood from one address gets 429 with
//! Retry-After while another address is still served, and hundreds of idle connections
//! do not stop /healthz or the repository from answering at once.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use shuin_testkit::SimulatedJlisCa;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// One HTTP/1.1 request over a socket bound to `source`; the status code.
fn status_from(source: &str, base: &str, request: &str) -> u16 {
    let target: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let from: std::net::SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&from.into()).unwrap();
    socket.connect(&target.into()).unwrap();
    let mut stream: std::net::TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

const CHALLENGE: &str =
    "POST /api/v1/challenges HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

#[test]
fn a_flood_from_one_address_is_limited_and_others_are_served() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let mut instance = Instance::init_with(
        &[],
        jlis,
        &["--key-backend".into(), "software".into()],
        vec![],
    );
    // The default limit: 20 at once, then one every 2 seconds.
    instance.edit_config(LOOSE_LIMITS, "\n");
    instance.serve();
    let mut statuses = Vec::new();
    for _ in 0..30 {
        statuses.push(post(&instance.url("/api/v1/challenges"), "application/json", b"").0);
    }
    let created = statuses.iter().filter(|s| **s == 201).count();
    assert!((20..=22).contains(&created), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // Another address (127.0.0.2 on loopback) is still served.
    assert_eq!(status_from("127.0.0.2", &instance.base, CHALLENGE), 201);
    // GETs of the repository and health are not limited.
    assert_eq!(get(&instance.url("/healthz")).0, 200);
    assert_eq!(get(&instance.url("/repository/ca.crl")).0, 200);
}

#[test]
fn idle_connections_do_not_stop_health_and_repository() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let mut instance = Instance::start(&[], jlis);
    let target = instance.base.trim_start_matches("http://").to_owned();
    let mut idle = Vec::new();
    for i in 0..400 {
        let mut stream = std::net::TcpStream::connect(&target).unwrap();
        if i % 2 == 0 {
            // Half of them send half a request head and stop.
            stream.write_all(b"GET /healthz HTTP/1.1\r\nHost:").unwrap();
        }
        idle.push(stream);
    }
    let started = Instant::now();
    assert_eq!(get(&instance.url("/healthz")).0, 200);
    assert_eq!(get(&instance.url("/repository/ca.crt")).0, 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert!(instance.alive());
}
