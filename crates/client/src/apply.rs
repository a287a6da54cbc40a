//! The whole applicant flow against a shuin server.

use crate::{build_csr, ClientError};
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};
use shuin_keys::{KeySpec, Signer, SoftwareSigner};
use std::time::Duration;
use zeroize::Zeroizing;

/// Something that signs with the applicant's JPKI signing key.
pub trait CardSigner {
    /// DER of the JPKI signing certificate.
    fn certificate_der(&self) -> Result<Vec<u8>, ClientError>;
    /// Signs `message` with RSA PKCS#1 v1.5 and SHA-256.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, ClientError>;
}

/// A JPKI-like card held as files (development and tests; the testkit makes them).
#[derive(Debug)]
pub struct FileCard {
    certificate_der: Vec<u8>,
    key: SoftwareSigner,
}

impl FileCard {
    /// Loads `cert.pem` (or DER) and a PKCS#8 PEM key.
    pub fn load(
        cert_path: &std::path::Path,
        key_path: &std::path::Path,
    ) -> Result<Self, ClientError> {
        let key_error = |what: String| ClientError::Key(what);
        let cert_bytes = std::fs::read(cert_path)
            .map_err(|e| key_error(format!("{}: {e}", cert_path.display())))?;
        let certificate_der = match der::pem::decode_vec(&cert_bytes) {
            Ok((_, der)) => der,
            Err(_) => cert_bytes,
        };
        let key_pem = Zeroizing::new(
            std::fs::read_to_string(key_path)
                .map_err(|e| key_error(format!("{}: {e}", key_path.display())))?,
        );
        let key = SoftwareSigner::from_pkcs8_pem(&key_pem)
            .map_err(|e| key_error(format!("{}: {e}", key_path.display())))?;
        Ok(Self {
            certificate_der,
            key,
        })
    }
}

impl CardSigner for FileCard {
    fn certificate_der(&self) -> Result<Vec<u8>, ClientError> {
        Ok(self.certificate_der.clone())
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, ClientError> {
        self.key
            .sign(message)
            .map_err(|e| ClientError::Key(e.to_string()))
    }
}

/// What to apply for.
#[derive(Debug, Clone)]
pub struct ApplyRequest {
    /// Base URL of the server, e.g. `http://127.0.0.1:8080`.
    pub server: String,
    /// Name as on the card.
    pub name: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// Address as on the card.
    pub address: String,
    /// `1`, `2` or `3`.
    pub gender: Option<String>,
    /// The new key's type.
    pub key_spec: KeySpec,
    /// Where the holder's notices (issuance, revocation) are mailed, if anywhere.
    pub notice_email: Option<String>,
}

/// The result.
#[derive(Debug)]
pub enum ApplyOutcome {
    /// Issued.
    Issued {
        /// Application id.
        application_id: String,
        /// Serial (hex).
        serial: String,
        /// PEM certificate.
        certificate_pem: String,
        /// PEM chain.
        chain_pem: String,
        /// PKCS#8 PEM of the new key.
        key_pem: Zeroizing<String>,
    },
    /// Waiting for an LRA.
    PendingReview {
        /// Application id.
        application_id: String,
        /// Review reasons.
        reasons: Vec<String>,
        /// PKCS#8 PEM of the new key (keep it for when the certificate is issued).
        key_pem: Zeroizing<String>,
    },
}

pub(crate) fn agent() -> ureq::Agent {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// A request to `url` that got no answer: the URL, the cause, and where to look.
pub(crate) fn unreachable(url: &str, e: &ureq::Error) -> ClientError {
    let hint = match e {
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            "; nothing listens there: is `shuin serve` running, and is --server its address?"
        }
        ureq::Error::HostNotFound => "; the host name does not resolve: check --server",
        ureq::Error::Timeout(_) => "; no answer in time: the server or the network is slow or down",
        _ => "",
    };
    transport(format!("{url}: {e}{hint}"))
}

fn transport(e: impl std::fmt::Display) -> ClientError {
    ClientError::Transport(e.to_string())
}

/// The terms URL comes from the server's `public_url`, not from `--server`: when the
/// two differ, the server was probably moved without changing its `public_url`.
fn unreachable_terms(base: &str, terms_url: &str, e: impl std::fmt::Display) -> ClientError {
    let hint = if terms_url.starts_with(&format!("{base}/")) {
        String::new()
    } else {
        format!(
            "; the server at {base} named this URL from its public_url, which differs from \
             --server: if the server moved, its public_url is out of date"
        )
    };
    transport(format!("fetching the terms at {terms_url}: {e}{hint}"))
}

pub(crate) fn refused(status: u16, body: &str) -> ClientError {
    let problem: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    ClientError::Refused {
        status,
        code: problem["code"].as_str().unwrap_or("unknown").to_owned(),
        detail: problem["detail"].as_str().unwrap_or(body).to_owned(),
    }
}

/// A fresh challenge from `POST {base}/api/v1/challenges` (its nonce, terms hash and
/// terms URL); a transport error names the URL.
pub(crate) fn challenge(agent: &ureq::Agent, base: &str) -> Result<Value, ClientError> {
    let url = format!("{base}/api/v1/challenges");
    let mut response = agent
        .post(&url)
        .send_empty()
        .map_err(|e| unreachable(&url, &e))?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().map_err(transport)?;
    if status != 201 {
        return Err(refused(status, &body));
    }
    serde_json::from_str(&body).map_err(transport)
}

/// `document` as JSON in a CMS SignedData signed with the card's JPKI signing key.
pub(crate) fn sign_with_card(
    card: &dyn CardSigner,
    document: &Value,
) -> Result<Vec<u8>, ClientError> {
    let content = serde_json::to_vec(document).map_err(|e| ClientError::Encoding(e.to_string()))?;
    let certificate = card.certificate_der()?;
    crate::cms_sign::sign_attached(&content, &certificate, &|message: &[u8]| card.sign(message))
        .map_err(|e| ClientError::Encoding(e.to_string()))
}

/// Posts a CMS SignedData to `url` and returns the JSON answer of a `200`; any other
/// status is the server's refusal.
pub(crate) fn post_signed(
    agent: &ureq::Agent,
    url: &str,
    cms: &[u8],
) -> Result<Value, ClientError> {
    let mut response = agent
        .post(url)
        .header("Content-Type", "application/pkcs7-mime")
        .send(cms)
        .map_err(|e| unreachable(url, &e))?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().map_err(transport)?;
    if status != 200 {
        return Err(refused(status, &body));
    }
    serde_json::from_str(&body).map_err(transport)
}

/// Runs the whole flow: new key, CSR, challenge, terms, signed application, submission.
pub fn apply(request: &ApplyRequest, card: &dyn CardSigner) -> Result<ApplyOutcome, ClientError> {
    let agent = agent();
    let base = request.server.trim_end_matches('/');
    let (new_key, pkcs8) =
        SoftwareSigner::generate(request.key_spec).map_err(|e| ClientError::Key(e.to_string()))?;
    let key_pem = shuin_keys::pkcs8_pem(&pkcs8).map_err(|e| ClientError::Key(e.to_string()))?;
    let csr = build_csr(&new_key)?;

    let challenge = challenge(&agent, base)?;
    let nonce = challenge["nonce"]
        .as_str()
        .ok_or_else(|| transport("challenge without nonce"))?;
    let terms_sha256 = challenge["terms_sha256"]
        .as_str()
        .ok_or_else(|| transport("challenge without terms_sha256"))?;
    let terms_url = challenge["terms_url"]
        .as_str()
        .ok_or_else(|| transport("challenge without terms_url"))?;

    // Consent binds to the terms actually fetched and shown, not to a hash taken on trust.
    let mut terms_response = agent
        .get(terms_url)
        .call()
        .map_err(|e| unreachable_terms(base, terms_url, e))?;
    let terms = terms_response
        .body_mut()
        .read_to_vec()
        .map_err(|e| unreachable_terms(base, terms_url, e))?;
    if hex::encode(Sha256::digest(&terms)) != terms_sha256 {
        return Err(ClientError::TermsChanged {
            url: terms_url.to_owned(),
        });
    }

    let mut applicant = serde_json::json!({
        "name": request.name,
        "birth_date": request.birth_date,
        "address": request.address,
    });
    if let Some(gender) = &request.gender {
        applicant["gender"] = Value::String(gender.clone());
    }
    let mut document = serde_json::json!({
        "format": shuin_core::application::APPLICATION_FORMAT,
        "kind": "new",
        "nonce": nonce,
        "terms_sha256": terms_sha256,
        "applicant": applicant,
        "csr": base64::engine::general_purpose::STANDARD.encode(&csr),
    });
    if let Some(email) = &request.notice_email {
        document["email"] = Value::String(email.clone());
    }
    let cms = sign_with_card(card, &document)?;

    let url = format!("{base}/api/v1/applications");
    let mut response = agent
        .post(&url)
        .header("Content-Type", "application/pkcs7-mime")
        .send(&cms[..])
        .map_err(|e| unreachable(&url, &e))?;
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().map_err(transport)?;
    let answer: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    match status {
        201 => Ok(ApplyOutcome::Issued {
            application_id: answer["application_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            serial: answer["serial"].as_str().unwrap_or_default().to_owned(),
            certificate_pem: answer["certificate_pem"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            chain_pem: answer["chain_pem"].as_str().unwrap_or_default().to_owned(),
            key_pem,
        }),
        202 => Ok(ApplyOutcome::PendingReview {
            application_id: answer["application_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            reasons: answer["review_reasons"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            key_pem,
        }),
        _ => Err(refused(status, &body)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_terms_url_names_both_urls_when_they_differ() {
        let moved = unreachable_terms(
            "http://127.0.0.1:9090",
            "http://127.0.0.1:8080/repository/terms",
            "connection refused",
        )
        .to_string();
        assert!(
            moved.contains("http://127.0.0.1:8080/repository/terms"),
            "{moved}"
        );
        assert!(moved.contains("http://127.0.0.1:9090"), "{moved}");
        assert!(moved.contains("its public_url is out of date"), "{moved}");
        let same = unreachable_terms(
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/repository/terms",
            "connection refused",
        )
        .to_string();
        assert!(!same.contains("public_url"), "{same}");
    }
}
