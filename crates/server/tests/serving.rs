//! The limits of `shuin_server::serving` against real sockets: the connection cap
//! closes extra connections at once, idle and half-sent heads are dropped after the
//! header timeout, a trickled body times out, and the server answers again afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::routing::{get, post};
use axum::Router;
use shuin_server::serving::{serve, Limits, Transport};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn limits() -> Limits {
    Limits {
        max_connections: 8,
        header_read_timeout: Duration::from_millis(400),
        body_read_timeout: Duration::from_millis(400),
        max_header_bytes: 16 * 1024,
        handshake_timeout: Duration::from_millis(400),
        shutdown_grace: Duration::from_secs(1),
    }
}

async fn start() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/echo",
            post(|body: axum::body::Bytes| async move { body.len().to_string() }),
        );
    tokio::spawn(serve(
        listener,
        router,
        limits(),
        Transport::Plain,
        std::future::pending(),
    ));
    address
}

/// One request on a new connection; the status line, or `None` if the server closed it.
async fn status(address: SocketAddr, request: &[u8]) -> Option<String> {
    let mut stream = TcpStream::connect(address).await.ok()?;
    stream.write_all(request).await.ok()?;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buffer = [0u8; 1024];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    answer.extend_from_slice(&buffer[..n]);
                    if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    })
    .await;
    read.ok()?;
    let text = String::from_utf8_lossy(&answer).to_string();
    text.lines()
        .next()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
}

const HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// Whether the server has closed `stream` (a read returns end of file or an error).
async fn closed(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_secs(3), stream.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn past_the_cap_connections_are_closed_at_once_and_idle_ones_time_out() {
    let address = start().await;
    assert_eq!(
        status(address, HEALTH).await.as_deref(),
        Some("HTTP/1.1 200 OK")
    );
    // Fill every slot with idle connections (and one that sent half a head).
    let mut idle = Vec::new();
    for _ in 0..7 {
        idle.push(TcpStream::connect(address).await.unwrap());
    }
    let mut half = TcpStream::connect(address).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost:")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The next connection is closed without an answer, not left waiting.
    assert_eq!(status(address, HEALTH).await, None);
    // After the header timeout the idle and half-sent ones are gone, and it answers.
    assert!(closed(&mut half).await, "a half-sent head must time out");
    for stream in &mut idle {
        assert!(closed(stream).await, "an idle connection must time out");
    }
    assert_eq!(
        status(address, HEALTH).await.as_deref(),
        Some("HTTP/1.1 200 OK")
    );
}

#[tokio::test]
async fn a_trickled_body_times_out() {
    let address = start().await;
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
        .await
        .unwrap();
    let mut answer = vec![0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]).to_string();
    // The body extractor answers the timed-out read as a bad request, naming the timeout.
    assert!(
        text.starts_with("HTTP/1.1 400") && text.contains("timeout"),
        "{text}"
    );
    // A whole body is read as usual.
    let whole =
        b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 3\r\n\r\nabc";
    assert_eq!(
        status(address, whole).await.as_deref(),
        Some("HTTP/1.1 200 OK")
    );
}

#[tokio::test]
async fn an_oversized_head_is_refused() {
    let address = start().await;
    let mut request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    request.extend(std::iter::repeat_n(b'a', 64 * 1024));
    request.extend_from_slice(b"\r\n\r\n");
    let answer = status(address, &request).await;
    assert_ne!(answer.as_deref(), Some("HTTP/1.1 200 OK"), "{answer:?}");
}
