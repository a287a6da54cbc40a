//! `GET /api/v1/applications/{id}`: where an application stands, and its certificate
//! once issued (after an LRA approved it, for example).

use crate::apply::{agent, refused};
use crate::{ClientError, OutcomeFiles};
use der::{Decode, Encode};
use serde_json::Value;
use shuin_keys::Signer;
use std::path::Path;

/// Where an application stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplicationState {
    /// Issued: the certificate and its chain (PEM).
    Issued {
        /// Serial, hex.
        serial: String,
        /// The certificate.
        certificate_pem: String,
        /// The chain, issuing CA first.
        chain_pem: String,
    },
    /// Waiting for an LRA, with the reasons.
    PendingReview {
        /// Why it waits.
        reasons: Vec<String>,
    },
    /// Approved; the certificate is being issued.
    Approved,
    /// Refused after review.
    Rejected {
        /// The LRA's reason.
        reason: String,
    },
}

impl ApplicationState {
    /// The state's stable name, as the server says it.
    pub fn name(&self) -> &'static str {
        match self {
            ApplicationState::Issued { .. } => "issued",
            ApplicationState::PendingReview { .. } => "pending_review",
            ApplicationState::Approved => "approved",
            ApplicationState::Rejected { .. } => "rejected",
        }
    }
}

/// Asks the server at `server` about the application `id`.
pub fn application_state(server: &str, id: &str) -> Result<ApplicationState, ClientError> {
    // Application ids are hex (as `apply` prints them): anything else would change the
    // URL's path, so it is refused before any request.
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ClientError::Encoding(format!(
            "--application {id:?}: an application id is up to 64 hex digits, as `shuin apply` prints it"
        )));
    }
    let base = server.trim_end_matches('/');
    let url = format!("{base}/api/v1/applications/{id}");
    let mut response = agent()
        .get(&url)
        .call()
        .map_err(|e| crate::apply::unreachable(&url, &e))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .map_err(|e| ClientError::Transport(format!("{url}: {e}")))?;
    if status != 200 && status != 202 {
        return Err(refused(status, &body));
    }
    let answer: Value = serde_json::from_str(&body)
        .map_err(|e| ClientError::Transport(format!("{url}: not JSON: {e}")))?;
    state(&answer).ok_or_else(|| {
        ClientError::Transport(format!("{url}: an answer without a known status: {body}"))
    })
}

/// Writes an issued application's certificate and chain where `files` say, once the
/// certificate is shown to certify the private key in `files.key` (which must exist:
/// without it nothing would show the certificate is the applicant's). Files are written
/// whole (a temporary file renamed), and an existing different certificate is never
/// overwritten.
pub fn save_issued(
    files: &OutcomeFiles,
    certificate_pem: &str,
    chain_pem: &str,
) -> Result<(), ClientError> {
    check_certifies(certificate_pem, &files.key)?;
    for (path, pem) in [
        (&files.certificate, certificate_pem),
        (&files.chain, chain_pem),
    ] {
        match std::fs::read(path) {
            Ok(existing) if existing == pem.as_bytes() => continue,
            Ok(_) => {
                return Err(ClientError::File(format!(
                "{} exists and holds something else; refusing to overwrite it (give another --out)",
                path.display()
            )))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ClientError::File(format!("{}: {e}", path.display()))),
        }
        write_whole(path, pem.as_bytes())?;
    }
    Ok(())
}

fn check_certifies(certificate_pem: &str, key: &Path) -> Result<(), ClientError> {
    let pem = match std::fs::read_to_string(key) {
        Ok(pem) => zeroize::Zeroizing::new(pem),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ClientError::File(format!(
                "no private key at {} to check the certificate against; give --key, the --key-out you gave apply (or apply's --out with .key)",
                key.display()
            )))
        }
        Err(e) => return Err(ClientError::File(format!("{}: {e}", key.display()))),
    };
    let signer = shuin_keys::SoftwareSigner::from_pkcs8_pem(&pem)
        .map_err(|e| ClientError::Key(format!("{}: {e}", key.display())))?;
    let unusable = |e: &dyn std::fmt::Display| {
        ClientError::Transport(format!("the server's certificate is unusable: {e}"))
    };
    let der =
        shuin_core::x509::pem::der_labelled(certificate_pem.as_bytes().to_vec(), "CERTIFICATE")
            .map_err(|e| unusable(&e))?;
    let certificate = x509_cert::Certificate::from_der(&der).map_err(|e| unusable(&e))?;
    let spki = certificate
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .map_err(|e| unusable(&e))?;
    if spki != signer.public_key_der() {
        return Err(ClientError::Key(format!(
            "the certificate of this application does not certify the key in {}; nothing was written (the key of another application? give --key)",
            key.display()
        )));
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file beside it, renamed over it.
fn write_whole(path: &Path, bytes: &[u8]) -> Result<(), ClientError> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = std::path::PathBuf::from(partial);
    let failed = |e: std::io::Error| ClientError::File(format!("{}: {e}", path.display()));
    std::fs::write(&partial, bytes).map_err(failed)?;
    std::fs::rename(&partial, path).map_err(failed)
}

fn state(answer: &Value) -> Option<ApplicationState> {
    let text = |field: &str| answer[field].as_str().map(str::to_owned);
    Some(match answer["status"].as_str()? {
        "issued" => ApplicationState::Issued {
            serial: text("serial")?,
            certificate_pem: text("certificate_pem")?,
            chain_pem: text("chain_pem")?,
        },
        "pending_review" => ApplicationState::PendingReview {
            reasons: answer["review_reasons"]
                .as_array()
                .map(|reasons| {
                    reasons
                        .iter()
                        .filter_map(|r| r.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
        },
        "approved" => ApplicationState::Approved,
        "rejected" => ApplicationState::Rejected {
            reason: text("reason").unwrap_or_default(),
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_are_read_and_odd_ones_refused() {
        let issued =
            json!({"status": "issued", "serial": "0a", "certificate_pem": "C", "chain_pem": "CH"});
        assert_eq!(state(&issued).map(|s| s.name()), Some("issued"));
        let pending =
            json!({"status": "pending_review", "review_reasons": ["automation_suspended"]});
        assert_eq!(
            state(&pending),
            Some(ApplicationState::PendingReview {
                reasons: vec!["automation_suspended".into()]
            })
        );
        assert_eq!(
            state(&json!({"status": "approved"})),
            Some(ApplicationState::Approved)
        );
        assert_eq!(state(&json!({"status": "issued", "serial": "0a"})), None);
        assert_eq!(state(&json!({"status": "registered"})), None);
        assert_eq!(state(&json!([1, 2])), None);
    }
}
