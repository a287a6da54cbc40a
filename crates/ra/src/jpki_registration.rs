//! Registration by a JPKI-signed application without csr (docs/registration.md): the
//! identity is verified by the JPKI signature (every check of DESIGN.md section 3.4 up to
//! step 8), the registration is made automatically under the responsible person, and the
//! 利用者識別符号 goes back to the signer in the answer; the key follows with
//! `POST /api/v1/enrollments`.

use crate::application::ApplicationOutcome;
use crate::registration::{IdentificationCode, Registrar, RegistrationRequest, VerifiedIdentity};
use crate::{RaError, RaService, DEFAULT_CODE_LIFETIME};
use shuin_core::{ReasonCode, ReviewReason};
use shuin_jpki::SigningCertificate;
use shuin_ledger::Actor;
use std::time::SystemTime;

impl RaService {
    /// Registers the JPKI-verified identity of an application that carried no csr.
    pub(crate) async fn register_verified(
        &self,
        body: &[u8],
        evidence_sha256: &str,
        signer: &SigningCertificate,
        review_reasons: &[ReviewReason],
        _now: SystemTime,
    ) -> Result<ApplicationOutcome, RaError> {
        if !review_reasons.is_empty() {
            // Substitute characters, an unknown era or suspended automation need a person:
            // that path needs the key in the application (it waits for an LRA).
            return Err(RaError::reject(
                ReasonCode::MalformedRequest,
                format!(
                    "an application without csr is accepted only when it can be decided automatically (here: {}); send it with a csr",
                    review_reasons
                        .iter()
                        .map(|r| r.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let lifecycle = self.lifecycle()?;
        self.store.put_evidence(evidence_sha256, body).await?;
        let (responsible_person, _) = self.responsible_person().await?;
        let registrar = Registrar {
            store: lifecycle.store.as_ref(),
            key: &lifecycle.code_key,
            clock: self.clock.as_ref(),
            rng: self.rng.as_ref(),
        };
        let basic = &signer.basic;
        let created = registrar
            .create(RegistrationRequest {
                operator: Actor {
                    name: responsible_person,
                    role: "responsible_person".into(),
                    zone: "secure".into(),
                },
                jpki: Some(serde_json::json!({
                    "serial": signer.serial_hex,
                    "issuer": signer.issuer,
                    "fingerprint_sha256": signer.fingerprint_sha256,
                    "issuer_anchor_sha256": signer.issuer_anchor_sha256,
                    "not_after": shuin_core::timefmt::rfc3339(signer.not_after),
                    "test_card": signer.test_card,
                })),
                evidence: vec![format!("sha256:{evidence_sha256}")],
                identity: VerifiedIdentity {
                    name: basic.name.clone(),
                    birth_date: basic.birth.iso(),
                    address: basic.address.clone(),
                    gender: Some(basic.gender.clone()),
                },
                delivery: None,
                lifetime: DEFAULT_CODE_LIFETIME,
            })
            .await?;
        Ok(ApplicationOutcome::Registered {
            registration_id: created.registration_id,
            identification_code: IdentificationCode(created.identification_code),
            expires_at: created.expires_at,
        })
    }
}
