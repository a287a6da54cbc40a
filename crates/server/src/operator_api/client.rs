//! The operator's side of the operator API: one mutual-TLS connection to an operator
//! listener (one session), on which the CLI asks for a nonce and sends the signed
//! request. The TLS client configuration (the server's trust anchor, the operator's
//! certificate and key) is the caller's; this module only speaks the protocol, and says
//! plainly what failed when TLS does.

use axum::body::Body;
use axum::http::{header, Method, Request as HttpRequest, StatusCode};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use serde::de::DeserializeOwned;
use shuin_books::console::{Answer, Outcome, Request};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How long connecting (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// How long one request may take (an approval issues a certificate).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);
/// The largest answer read.
const MAX_ANSWER: usize = 16 * 1024 * 1024;

/// Why the operator API could not be asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL is not `https://HOST[:PORT]`.
    #[error("--server {0:?}: give https://HOST[:PORT] of an operator listener")]
    Url(String),
    /// The server could not be reached.
    #[error("connecting to {address}: {source}")]
    Connect {
        /// Where.
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// TLS failed; the text says which side refused what.
    #[error("{0}")]
    Tls(String),
    /// Nothing came back in time.
    #[error("the server did not answer within {0:?}")]
    Timeout(Duration),
    /// HTTP failed below the answer.
    #[error("HTTP: {0}")]
    Http(String),
    /// The server answered something this client does not understand.
    #[error("unexpected answer ({status}): {body}")]
    Unexpected {
        /// The HTTP status.
        status: u16,
        /// The beginning of the body.
        body: String,
    },
}

impl ClientError {
    /// A stable reason code, printed before the message.
    pub fn code(&self) -> &'static str {
        match self {
            ClientError::Url(_) => "server_url_invalid",
            ClientError::Connect { .. } => "server_unreachable",
            ClientError::Tls(_) => "tls_refused",
            ClientError::Timeout(_) => "server_timeout",
            ClientError::Http(_) => "http_failed",
            ClientError::Unexpected { .. } => "unexpected_answer",
        }
    }
}

/// What TLS refused, read from an error and its sources.
fn explain_tls(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    let mut current = Some(error);
    while let Some(e) = current {
        let found = e.downcast_ref::<E>().or_else(|| {
            e.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<E>())
        });
        if let Some(tls) = found {
            return Some(match tls {
                E::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => "TLS: the server's certificate is not signed by the --server-ca given (unknown server CA)".into(),
                E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => "TLS: the server's certificate does not name the host of --server".into(),
                E::InvalidCertificate(other) => format!("TLS: the server's certificate is not acceptable: {other:?}"),
                E::AlertReceived(
                    alert @ (A::BadCertificate
                    | A::CertificateRevoked
                    | A::CertificateExpired
                    | A::CertificateUnknown
                    | A::CertificateRequired
                    | A::UnknownCA
                    | A::AccessDenied
                    | A::DecryptError),
                ) => format!("TLS: the server refused the client certificate (--operator-cert) with alert {alert:?}: it must be this instance's operator certificate for --operator-key, not revoked and not expired"),
                other => format!("TLS: {other}"),
            });
        }
        current = e.source();
    }
    None
}

fn tls_or(
    error: &(dyn std::error::Error + 'static),
    otherwise: impl FnOnce() -> ClientError,
) -> ClientError {
    explain_tls(error)
        .map(ClientError::Tls)
        .unwrap_or_else(otherwise)
}

/// `https://HOST[:PORT][/]` as (host, port).
fn parse_url(url: &str) -> Result<(String, u16), ClientError> {
    let bad = || ClientError::Url(url.to_owned());
    let authority = url
        .strip_prefix("https://")
        .ok_or_else(bad)?
        .trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') {
        return Err(bad());
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => {
            (host, port.parse::<u16>().map_err(|_| bad())?)
        }
        _ => (authority, 443),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host.to_owned(), port))
}

/// One connection to an operator listener: one session.
#[derive(Debug)]
pub struct Connection {
    sender: SendRequest<Body>,
    authority: String,
    driver: Option<JoinHandle<Result<(), hyper::Error>>>,
}

impl Connection {
    /// Connects to `url` (`https://HOST[:PORT]`) with `config`.
    pub async fn open(
        url: &str,
        config: Arc<rustls::ClientConfig>,
    ) -> Result<Connection, ClientError> {
        let (host, port) = parse_url(url)?;
        let name =
            ServerName::try_from(host.clone()).map_err(|_| ClientError::Url(url.to_owned()))?;
        let address = format!("{host}:{port}");
        let connect = async {
            let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
                .await
                .map_err(|source| ClientError::Connect {
                    address: address.clone(),
                    source,
                })?;
            tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| tls_or(&e, || ClientError::Tls(format!("TLS with {address}: {e}"))))
        };
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| ClientError::Timeout(CONNECT_TIMEOUT))??;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| tls_or(&e, || ClientError::Http(e.to_string())))?;
        Ok(Connection {
            sender,
            authority: address,
            driver: Some(tokio::spawn(connection)),
        })
    }

    /// A nonce for the next signed request.
    pub async fn nonce(&mut self) -> Result<Result<String, Outcome>, ClientError> {
        match self
            .exchange::<serde_json::Value>(Method::POST, "/operator/v1/nonce", Body::empty())
            .await?
        {
            Ok(Answer::Nonce { nonce }) => Ok(Ok(nonce)),
            Ok(other) => Err(unexpected_answer(&other)),
            Err(outcome) => Ok(Err(outcome)),
        }
    }

    /// Sends a signed request; returns what became of it.
    pub async fn request(&mut self, request: &Request) -> Result<Outcome, ClientError> {
        let body = serde_json::to_vec(request).map_err(|e| ClientError::Http(e.to_string()))?;
        match self
            .exchange::<serde_json::Value>(Method::POST, "/operator/v1/request", Body::from(body))
            .await?
        {
            Ok(Answer::Signed { outcome }) => Ok(outcome),
            Ok(other) => Err(unexpected_answer(&other)),
            Err(outcome) => Ok(outcome),
        }
    }

    /// The seal state of the server.
    pub async fn status<S: DeserializeOwned>(&mut self) -> Result<S, ClientError> {
        match self
            .exchange::<S>(Method::GET, "/operator/v1/status", Body::empty())
            .await?
        {
            Ok(Answer::Status(status)) => Ok(status),
            Ok(_) => Err(ClientError::Http("not a status".into())),
            Err(outcome) => Err(ClientError::Http(outcome.to_string())),
        }
    }

    /// Posts `body` as JSON to `path` and reads a 200 answer as `R`; any other answer is
    /// [`ClientError::Unexpected`] with the beginning of its body.
    pub async fn post_json<T: serde::Serialize, R: DeserializeOwned>(
        &mut self,
        path: &str,
        body: &T,
    ) -> Result<R, ClientError> {
        let body = serde_json::to_vec(body).map_err(|e| ClientError::Http(e.to_string()))?;
        let (status, body) = self.send(Method::POST, path, Body::from(body)).await?;
        if status != StatusCode::OK {
            return Err(unexpected(status, &body));
        }
        serde_json::from_slice(&body).map_err(|_| unexpected(status, &body))
    }

    /// One request and its answer: the answer document, or the outcome a problem
    /// document carries.
    async fn exchange<S: DeserializeOwned>(
        &mut self,
        method: Method,
        path: &str,
        body: Body,
    ) -> Result<Result<Answer<S>, Outcome>, ClientError> {
        let (status, body) = self.send(method, path, body).await?;
        if status == StatusCode::OK {
            return serde_json::from_slice(&body)
                .map(Ok)
                .map_err(|_| unexpected(status, &body));
        }
        problem_outcome(status, &body).map(Err)
    }

    /// Sends one request and reads its whole answer.
    async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Body,
    ) -> Result<(StatusCode, axum::body::Bytes), ClientError> {
        let request = HttpRequest::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, &self.authority)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .map_err(|e| ClientError::Http(e.to_string()))?;
        // The connection takes the next request once the previous answer is read.
        if let Err(e) = self.sender.ready().await {
            return Err(self.failure(e).await);
        }
        let sent = tokio::time::timeout(REQUEST_TIMEOUT, self.sender.send_request(request)).await;
        let response = match sent {
            Err(_) => return Err(ClientError::Timeout(REQUEST_TIMEOUT)),
            Ok(Ok(response)) => response,
            Ok(Err(e)) => return Err(self.failure(e).await),
        };
        let status = response.status();
        let body = axum::body::to_bytes(Body::new(response.into_body()), MAX_ANSWER)
            .await
            .map_err(|e| tls_or(&e, || ClientError::Http(e.to_string())))?;
        Ok((status, body))
    }

    /// Why a request failed: TLS errors (a client certificate refused after a TLS 1.3
    /// handshake shows on the first read) surface on the connection's task.
    async fn failure(&mut self, error: hyper::Error) -> ClientError {
        if let Some(text) = explain_tls(&error) {
            return ClientError::Tls(text);
        }
        if let Some(driver) = self.driver.take() {
            if let Ok(Err(e)) = driver.await {
                if let Some(text) = explain_tls(&e) {
                    return ClientError::Tls(text);
                }
            }
        }
        ClientError::Http(error.to_string())
    }
}

fn unexpected(status: StatusCode, body: &[u8]) -> ClientError {
    let text = String::from_utf8_lossy(body);
    ClientError::Unexpected {
        status: status.as_u16(),
        body: text.chars().take(300).collect(),
    }
}

fn unexpected_answer<S>(answer: &Answer<S>) -> ClientError {
    let what = match answer {
        Answer::Status(_) => "a status",
        Answer::Nonce { .. } => "a nonce",
        Answer::Signed { .. } => "an outcome",
        Answer::Error { .. } => "an error",
    };
    ClientError::Http(format!("the server answered with {what}"))
}

/// A problem document (RFC 9457) as the outcome it carries.
fn problem_outcome(status: StatusCode, body: &[u8]) -> Result<Outcome, ClientError> {
    #[derive(serde::Deserialize)]
    struct Problem {
        code: String,
        #[serde(default)]
        detail: String,
    }
    let problem: Problem = serde_json::from_slice(body).map_err(|_| unexpected(status, body))?;
    if status.is_server_error() {
        return Ok(Outcome::Failed {
            message: format!("{}: {}", problem.code, problem.detail),
        });
    }
    if problem.code == "not_found" {
        return Err(ClientError::Http(
            "the server has no operator API here: is --server an operator listener (client_auth = \"operator\")?".into(),
        ));
    }
    Ok(Outcome::refused(&problem.code, problem.detail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_an_https_listener() {
        assert_eq!(
            parse_url("https://127.0.0.1:9443").ok(),
            Some(("127.0.0.1".into(), 9443))
        );
        assert_eq!(
            parse_url("https://ops.example/").ok(),
            Some(("ops.example".into(), 443))
        );
        assert_eq!(
            parse_url("https://[::1]:8443").ok(),
            Some(("::1".into(), 8443))
        );
        for bad in ["http://x:1", "https://", "https://x:port", "https://x/path"] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
