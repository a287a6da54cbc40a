//! The legacy flow, applicant side (`shuin enroll`): a new key, its CSR, and the
//! 利用者識別符号 received by post, sent to `POST /api/v1/enrollments`.

use crate::apply::{agent, refused, ApplyOutcome};
use crate::{build_csr, ClientError};
use base64::Engine;
use serde_json::Value;
use shuin_keys::{KeySpec, SoftwareSigner};
use zeroize::Zeroizing;

/// What to enroll.
pub struct EnrollRequest {
    /// Base URL of the server.
    pub server: String,
    /// The registration id printed with the code.
    pub registration_id: String,
    /// The code as received (hyphens and case do not matter).
    pub identification_code: Zeroizing<String>,
    /// The new key's type.
    pub key_spec: KeySpec,
    /// An e-mail address for the notices of issuance and revocation, if any.
    pub notice_email: Option<String>,
}

impl std::fmt::Debug for EnrollRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollRequest")
            .field("server", &self.server)
            .field("registration_id", &self.registration_id)
            .field("key_spec", &self.key_spec)
            .finish_non_exhaustive()
    }
}

/// Makes the key and the CSR, sends them with the code, returns the certificate (always
/// `ApplyOutcome::Issued`: an enrolment is decided at once), saved like an application's
/// (`OutcomeFiles`).
pub fn enroll(request: &EnrollRequest) -> Result<ApplyOutcome, ClientError> {
    let base = request.server.trim_end_matches('/');
    let (new_key, pkcs8) =
        SoftwareSigner::generate(request.key_spec).map_err(|e| ClientError::Key(e.to_string()))?;
    let key_pem = shuin_keys::pkcs8_pem(&pkcs8).map_err(|e| ClientError::Key(e.to_string()))?;
    let csr = build_csr(&new_key)?;
    let mut document = serde_json::json!({
        "registration_id": request.registration_id,
        "identification_code": request.identification_code.as_str(),
        "csr": base64::engine::general_purpose::STANDARD.encode(&csr),
    });
    if let Some(email) = &request.notice_email {
        document["email"] = serde_json::json!(email);
    }
    let body = Zeroizing::new(document.to_string());
    let mut response = agent()
        .post(format!("{base}/api/v1/enrollments"))
        .header("Content-Type", "application/json")
        .send(body.as_bytes())
        .map_err(|e| ClientError::Transport(e.to_string()))?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| ClientError::Transport(e.to_string()))?;
    if status != 201 {
        return Err(refused(status, &text));
    }
    let answer: Value =
        serde_json::from_str(&text).map_err(|e| ClientError::Transport(e.to_string()))?;
    let field = |name: &str| answer[name].as_str().unwrap_or_default().to_owned();
    Ok(ApplyOutcome::Issued {
        application_id: field("application_id"),
        serial: field("serial"),
        certificate_pem: field("certificate_pem"),
        chain_pem: field("chain_pem"),
        key_pem,
    })
}
